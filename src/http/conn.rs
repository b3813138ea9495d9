//! The connection loop: the only part of `http/` that touches glommio.
//!
//! One task per connection, requests answered strictly in order. Reads go into one buffer whose
//! unconsumed tail is the start of the next (pipelined) request; responses of pipelined requests are
//! batched and flushed before the loop waits for more input.
//!
//! Bodies that were not read (an early rejection) are drained when small (≤ 256 KiB, Go's
//! `maxPostHandlerReadBytes`) so the connection survives; otherwise the connection closes after a short
//! lingering read, so the client gets the answer rather than a reset.
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt, StreamExt};
use glommio::net::TcpStream;
use glommio::GlommioError;

use super::body::{BodyError, ChunkedDecoder};
use super::gzip::gunzip_bounded;
use super::head::{parse_head, HeadStatus, Method, RequestHead};
use super::response::{
    current_date, encode_body_piece, encode_response, new_request_id, BodyStream, EncodeCtx,
    Response, CHUNKED_BODY_END,
};
use super::timeline::{Step, Timeline};
use super::{Drain, Exchange, Handler, HttpLimits, Request, DRAIN_IDLE_GRACE};

/// Bytes asked of the socket per read while reading heads and chunked bodies.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Read size while a connection waits for its next request with nothing buffered, and while
/// it completes a head that came in part: a slow client (one byte a read) must not make the
/// read buffer grow by 64 KiB a byte.
const IDLE_READ_BYTES: usize = 4 * 1024;
/// Largest single read straight into a Content-Length body.
const BODY_READ_BYTES_MAX: usize = 4 << 20;
/// Preallocation cap when the body limit is 0 (unlimited): grow past it only as bytes arrive.
const BODY_PREALLOC_BYTES_MAX: usize = 64 << 20;
/// Body buffers kept for later bodies, per core (all its connections): at most this many bytes
/// of capacity, so idle connections hold none and memory does not grow with their number.
const BODY_POOL_BYTES_MAX: usize = 32 << 20;
/// An unread body up to this size is read and dropped to keep the connection (Go's value).
const DRAIN_BYTES_MAX: u64 = 256 * 1024;
/// Pending pipelined responses are flushed past this size.
const WRITE_BUFFER_BYTES_MAX: usize = 64 * 1024;
/// How long a closing connection keeps reading (and dropping) what the client still sends.
const LINGER_TIMEOUT: Duration = Duration::from_secs(1);
const LINGER_BYTES_MAX: usize = 4 << 20;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Why reading stopped: the connection is over, nothing more to answer.
#[derive(Debug)]
enum Gone {
    Eof,
    TimedOut,
    Io,
}

/// What to do with the connection after one request.
enum Next {
    KeepAlive,
    /// Close after flushing; the client may still be sending, so linger.
    Close,
    /// The peer is gone or timed out: drop without answering.
    Drop,
}

/// Serves one accepted connection until the client closes it, a timeout fires or a request asks to close.
pub async fn serve_connection<H: Handler>(
    stream: TcpStream,
    handler: Rc<H>,
    limits: Rc<HttpLimits>,
    drain: Rc<Drain>,
) {
    // Small responses must not wait for Nagle; failure only costs latency.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let mut conn = Conn {
        peer,
        stream,
        handler,
        limits,
        drain,
        rbuf: Vec::new(),
        rpos: 0,
        rend: 0,
        wbuf: Vec::new(),
    };
    conn.run().await;
}

thread_local! {
    /// Buffers of finished bodies; their bytes up to `len()` are initialized (zeroed or read),
    /// so a body read into one only zeroes what grows past it.
    static BODY_POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A kept body buffer (the largest), or an empty one.
fn take_body_buffer() -> Vec<u8> {
    BODY_POOL.with(|p| {
        let mut p = p.borrow_mut();
        let best = (0..p.len()).max_by_key(|&i| p[i].len());
        best.map(|i| p.swap_remove(i)).unwrap_or_default()
    })
}

/// Keeps a finished body's buffer for a later body if the pool has room for it. The most
/// recently given buffer of the largest size is taken first, so a handler that gives its
/// buffer back as soon as it has read it (the write path, before it waits for the WAL) lets
/// the next body land in memory that is still in the core's caches.
pub fn recycle_body_buffer(buf: Vec<u8>) {
    if buf.capacity() == 0 {
        return;
    }
    BODY_POOL.with(|p| {
        let mut p = p.borrow_mut();
        let held: usize = p.iter().map(Vec::capacity).sum();
        if held + buf.capacity() <= BODY_POOL_BYTES_MAX {
            p.push(buf);
        }
    });
}

struct Conn<H> {
    stream: TcpStream,
    /// The client's address (access log).
    peer: Option<std::net::SocketAddr>,
    handler: Rc<H>,
    limits: Rc<HttpLimits>,
    /// Set when the core shuts down: answers close the connection, idle waits are short.
    drain: Rc<Drain>,
    /// Bytes read are `rbuf[..rend]`, of which `rbuf[rpos..rend]` are not consumed yet. The
    /// bytes past `rend` are initialized room (stale bytes or zeros) that the next read fills,
    /// so a connection zeroes its read room once, not at every read.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// Encoded responses not yet written.
    wbuf: Vec<u8>,
}

/// Per-request facts kept after the head moves into the handler.
#[derive(Clone)]
struct Meta {
    request_id: String,
    head_request: bool,
    minor_version: u8,
    keep_alive: bool,
    /// When the head had been read.
    started: Instant,
}

impl Meta {
    fn of(head: &RequestHead) -> Meta {
        Meta {
            request_id: request_id(head),
            head_request: head.method == Method::Head,
            minor_version: head.minor_version,
            keep_alive: head.keep_alive,
            started: Instant::now(),
        }
    }
}

impl<H: Handler> Conn<H> {
    async fn run(&mut self) {
        loop {
            match self.serve_one().await {
                Next::KeepAlive => {}
                Next::Close => {
                    self.linger_close().await;
                    return;
                }
                Next::Drop => return,
            }
        }
    }

    async fn serve_one(&mut self) -> Next {
        let head = match self.read_head().await {
            Ok(Ok(head)) => head,
            Ok(Err(resp)) => {
                let meta = Meta {
                    request_id: new_request_id(),
                    head_request: false,
                    minor_version: 1,
                    keep_alive: false,
                    started: Instant::now(),
                };
                return self.answer(None, &resp, &meta).await;
            }
            Err(_) => return Next::Drop,
        };
        let mut timeline = Timeline::start();
        let mut meta = Meta::of(&head);
        let checked = match self.handler.check_head(&head) {
            Ok(checked) => checked,
            Err(resp) => return self.reject_unread(&head, resp, &mut meta).await,
        };
        let max = self.limits.body_bytes_max as u64;
        if max != 0 && head.content_length.is_some_and(|len| len > max) {
            let resp = Response::error(413, &BodyError::TooLarge.to_string());
            return self.reject_unread(&head, resp, &mut meta).await;
        }
        if head.expect_continue && head.has_body() && self.unread() == 0 {
            self.wbuf.extend_from_slice(CONTINUE);
            if self.flush().await.is_err() {
                return Next::Drop;
            }
        }
        let body = match self.read_body(&head).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                // The body was not read to its end: the framing is lost, close.
                meta.keep_alive = false;
                let resp = Response::error(e.status(), &e.to_string());
                return self.answer(Some(&head), &resp, &meta).await;
            }
            Err(_) => return Next::Drop,
        };
        let body = if head.gzip {
            // Inflated into a kept body buffer; the compressed body's buffer is kept in turn.
            let inflated = gunzip_bounded(&body, self.limits.body_bytes_max, take_body_buffer());
            recycle_body_buffer(body);
            match inflated {
                Ok(plain) => plain,
                Err(e) => {
                    let resp = Response::error(e.status(), &e.to_string());
                    return self.answer(Some(&head), &resp, &meta).await;
                }
            }
        } else {
            body
        };
        timeline.stamp(Step::Body);
        let mut req = Request {
            head,
            body,
            timeline,
        };
        let resp = if self.unread() == 0 && self.handler.stops_on_hangup(&req.head) {
            // The handler is polled first: an answer ready with the hang-up is still given.
            let handler = self.handler.clone();
            let answer = async { Some(handler.handle(&mut req, checked).await) };
            let hangup = async {
                hangup(&self.stream).await;
                None
            };
            match futures_lite::future::or(answer, hangup).await {
                Some(resp) => resp,
                None => return Next::Drop,
            }
        } else {
            self.handler.handle(&mut req, checked).await
        };
        recycle_body_buffer(req.body);
        if self.drain.is_draining() {
            // Shutting down: this answer is the connection's last.
            meta.keep_alive = false;
        }
        if resp.stream.is_some() {
            return self.answer_streamed(&req.head, resp, meta).await;
        }
        let next = self.answer(Some(&req.head), &resp, &meta).await;
        // After the answer's write (unless more pipelined requests wait, which flush later).
        req.timeline.finish();
        next
    }

    /// Sends a head and then the body as its stream produces it, each piece one chunk; pieces
    /// already waiting are written together, and the socket is written whenever the stream
    /// has nothing ready (so a client sees each piece as soon as it exists). A failed write
    /// drops the stream, which stops its producer.
    async fn answer_streamed(
        &mut self,
        head: &RequestHead,
        mut resp: Response,
        mut meta: Meta,
    ) -> Next {
        let mut sent = 0u64;
        let next = self.send_streamed(&mut resp, &mut meta, &mut sent).await;
        self.report(Some(head), resp.status, None, sent, &meta);
        next
    }

    async fn send_streamed(
        &mut self,
        resp: &mut Response,
        meta: &mut Meta,
        sent: &mut u64,
    ) -> Next {
        // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
        let chunked = meta.minor_version >= 1;
        if !chunked {
            meta.keep_alive = false;
        }
        let date = current_date();
        let ctx = EncodeCtx {
            request_id: &meta.request_id,
            date: &date,
            head_request: meta.head_request,
            minor_version: meta.minor_version,
            keep_alive: meta.keep_alive,
        };
        encode_response(resp, &ctx, &mut self.wbuf);
        let Some(BodyStream(mut stream)) = resp.stream.take() else {
            return Next::Close;
        };
        if meta.head_request {
            drop(stream);
        } else {
            if self.flush().await.is_err() {
                return Next::Drop;
            }
            let mut next = stream.next().await;
            while let Some(piece) = next {
                *sent += piece.len() as u64;
                encode_body_piece(&piece, chunked, &mut self.wbuf);
                next = match future::poll_once(stream.next()).await {
                    Some(ready) if self.wbuf.len() <= WRITE_BUFFER_BYTES_MAX => ready,
                    ready => {
                        if self.flush().await.is_err() {
                            return Next::Drop;
                        }
                        match ready {
                            Some(ready) => ready,
                            None => stream.next().await,
                        }
                    }
                };
            }
            if chunked {
                self.wbuf.extend_from_slice(CHUNKED_BODY_END);
            }
        }
        if !meta.keep_alive {
            return Next::Close;
        }
        if self.flush().await.is_err() {
            return Next::Drop;
        }
        Next::KeepAlive
    }

    /// An answer sent before the body was read: drain a small body to keep the connection, else close.
    async fn reject_unread(&mut self, head: &RequestHead, resp: Response, meta: &mut Meta) -> Next {
        if head.has_body() {
            let buffered = self.unread() as u64;
            let small = head
                .content_length
                .is_some_and(|len| len <= DRAIN_BYTES_MAX);
            // Without a 100 Continue the client may never send the body: it cannot be drained.
            let waiting_for_continue = head.expect_continue && buffered == 0;
            if small && !waiting_for_continue && meta.keep_alive {
                if self
                    .discard(head.content_length.unwrap_or(0))
                    .await
                    .is_err()
                {
                    return Next::Drop;
                }
            } else {
                meta.keep_alive = false;
            }
        }
        self.answer(Some(head), &resp, meta).await
    }

    /// Sends `resp` ([`Self::send`]) and tells the handler it was answered.
    async fn answer(&mut self, head: Option<&RequestHead>, resp: &Response, meta: &Meta) -> Next {
        let next = self.send(resp, meta).await;
        let body = if meta.head_request {
            0
        } else {
            resp.body.len() as u64
        };
        self.report(head, resp.status, resp.error.as_deref(), body, meta);
        next
    }

    fn report(
        &self,
        head: Option<&RequestHead>,
        status: u16,
        error: Option<&str>,
        body_bytes: u64,
        meta: &Meta,
    ) {
        self.handler.answered(&Exchange {
            head,
            status,
            error,
            body_bytes,
            started: meta.started,
            request_id: &meta.request_id,
            peer: self.peer,
        });
    }

    /// Encodes `resp`; flushes unless more pipelined requests are already buffered.
    async fn send(&mut self, resp: &Response, meta: &Meta) -> Next {
        let date = current_date();
        let ctx = EncodeCtx {
            request_id: &meta.request_id,
            date: &date,
            head_request: meta.head_request,
            minor_version: meta.minor_version,
            keep_alive: meta.keep_alive,
        };
        encode_response(resp, &ctx, &mut self.wbuf);
        if !meta.keep_alive {
            return Next::Close;
        }
        if (self.unread() == 0 || self.wbuf.len() > WRITE_BUFFER_BYTES_MAX)
            && self.flush().await.is_err()
        {
            return Next::Drop;
        }
        Next::KeepAlive
    }

    /// Reads one head. `Ok(Err(resp))` is a malformed head to answer before closing.
    async fn read_head(&mut self) -> Result<Result<RequestHead, Response>, Gone> {
        let limits = Rc::clone(&self.limits);
        let mut deadline = (self.unread() > 0).then(|| Instant::now() + limits.header_read_timeout);
        let mut scanned = 0; // bytes of the unread part already searched for the blank line
        loop {
            let pending = &self.rbuf[self.rpos..self.rend];
            if may_hold_head(pending, scanned) || pending.len() > limits.header_bytes_max {
                match parse_head(pending, &limits) {
                    Ok(HeadStatus::Complete(head, used)) => {
                        self.rpos += used;
                        return Ok(Ok(head));
                    }
                    Ok(HeadStatus::Partial) => {}
                    Err(e) => return Ok(Err(Response::error(e.status(), &e.to_string()))),
                }
            }
            scanned = pending.len();
            let wait = match deadline {
                None => limits.idle_timeout,
                Some(at) => at.saturating_duration_since(Instant::now()),
            };
            if self.unread() == 0 {
                if !self.wait_idle(wait).await? {
                    continue;
                }
            } else {
                self.fill(wait, IDLE_READ_BYTES).await?;
            }
            deadline.get_or_insert_with(|| Instant::now() + limits.header_read_timeout);
        }
    }

    /// Reads the body the head announces. `Ok(Err(_))`: a framing or size error to answer.
    async fn read_body(&mut self, head: &RequestHead) -> Result<Result<Vec<u8>, BodyError>, Gone> {
        if head.chunked {
            return self.read_chunked().await;
        }
        let Some(len) = head.content_length.filter(|&len| len > 0) else {
            return Ok(Ok(Vec::new()));
        };
        let Ok(len) = usize::try_from(len) else {
            return Ok(Err(BodyError::TooLarge));
        };
        self.read_exact_body(len).await.map(Ok)
    }

    async fn read_exact_body(&mut self, len: usize) -> Result<Vec<u8>, Gone> {
        // A finished body's buffer is reused: its bytes are initialized already, so only room
        // beyond it is zeroed (zeroing every 1.7 MB body cost ~2.5% of a core). Every byte of
        // `body[..len]` is overwritten below before the body is used.
        let mut body = take_body_buffer();
        if body.capacity() == 0 {
            body.reserve(len.min(BODY_PREALLOC_BYTES_MAX));
        }
        body.truncate(len);
        let take = self.unread().min(len);
        if body.len() < take {
            body.resize(take, 0);
        }
        body[..take].copy_from_slice(&self.rbuf[self.rpos..self.rpos + take]);
        self.rpos += take;
        let mut filled = take;
        while filled < len {
            // Room is zeroed once, up to BODY_READ_BYTES_MAX at a time (a client announcing a
            // large body must send it before the server commits memory to it); reads fill it.
            if body.len() == filled {
                let want = (len - filled).min(BODY_READ_BYTES_MAX);
                body.resize(filled + want, 0);
            }
            filled += read_with_timeout(
                &mut self.stream,
                &mut body[filled..],
                self.limits.idle_timeout,
            )
            .await?;
        }
        body.truncate(filled);
        Ok(body)
    }

    async fn read_chunked(&mut self) -> Result<Result<Vec<u8>, BodyError>, Gone> {
        let mut decoder =
            ChunkedDecoder::new(self.limits.body_bytes_max, self.limits.header_bytes_max);
        let mut body = Vec::new();
        loop {
            match decoder.feed(&self.rbuf[self.rpos..self.rend], &mut body) {
                Ok(used) => self.rpos += used,
                Err(e) => return Ok(Err(e)),
            }
            if decoder.is_done() {
                return Ok(Ok(body));
            }
            self.fill(self.limits.idle_timeout, READ_CHUNK_BYTES)
                .await?;
        }
    }

    /// Reads and drops `len` body bytes (from the buffer first).
    async fn discard(&mut self, len: u64) -> Result<(), Gone> {
        let mut left = len;
        loop {
            let take = (self.unread() as u64).min(left);
            self.rpos += take as usize;
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.fill(self.limits.idle_timeout, READ_CHUNK_BYTES)
                .await?;
        }
    }

    fn unread(&self) -> usize {
        self.rend - self.rpos
    }

    /// Flushes pending responses, then reads more bytes into the buffer (at least one, or `Gone`).
    async fn fill(&mut self, wait: Duration, room: usize) -> Result<usize, Gone> {
        self.flush().await?;
        if self.rpos > 0 {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        let old = self.rend;
        if self.rbuf.len() < old + room {
            self.rbuf.resize(old + room, 0);
        }
        // A read whose future is dropped before it ends (the drain's race in `wait_idle`)
        // leaves `rend` where it was: the room is never taken for received bytes.
        let n = read_with_timeout(&mut self.stream, &mut self.rbuf[old..old + room], wait).await?;
        self.rend = old + n;
        Ok(n)
    }

    /// Waits for the next request with nothing buffered, at most `wait`; once the core drains, at
    /// most [`DRAIN_IDLE_GRACE`] (a request already on its way is answered, then the connection
    /// closes). `Ok(false)`: the drain began during the wait; wait again, shorter.
    async fn wait_idle(&mut self, wait: Duration) -> Result<bool, Gone> {
        if self.drain.is_draining() {
            self.fill_idle(wait.min(DRAIN_IDLE_GRACE)).await?;
            return Ok(true);
        }
        // Pending answers go out before the race: a write cut short by it would be sent again.
        self.flush().await?;
        let drain = Rc::clone(&self.drain);
        // A read that loses the race took nothing (glommio reads a socket on readiness), and
        // leaves the read buffer empty (`rend` moves only once a read returned).
        let read = async { Some(self.fill_idle(wait).await) };
        let drained = async {
            drain.started().await;
            None
        };
        match future::or(read, drained).await {
            Some(filled) => filled.map(|_| true),
            None => Ok(false),
        }
    }

    /// [`Self::fill`] for a connection waiting for its next request with nothing buffered: it
    /// gives back a large read buffer and waits with a small read, so that idle connections
    /// (10,000 of them, say) hold [`IDLE_READ_BYTES`] each, not 64 KiB of ours plus 64 KiB of
    /// the reactor's receive buffer.
    async fn fill_idle(&mut self, wait: Duration) -> Result<usize, Gone> {
        self.flush().await?;
        self.rpos = 0;
        self.rend = 0;
        if self.rbuf.capacity() > IDLE_READ_BYTES {
            self.rbuf = Vec::new();
        }
        if self.rbuf.len() < IDLE_READ_BYTES {
            self.rbuf.resize(IDLE_READ_BYTES, 0);
        }
        let room = &mut self.rbuf[..IDLE_READ_BYTES];
        self.rend = read_with_timeout(&mut self.stream, room, wait).await?;
        Ok(self.rend)
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let (stream, wbuf) = (&mut self.stream, &self.wbuf);
        let written = glommio::timer::timeout(self.limits.idle_timeout, async {
            stream.write_all(wbuf).await.map_err(GlommioError::from)
        })
        .await;
        self.wbuf.clear();
        written.map_err(gone)
    }

    /// Sends what is pending, half-closes, and reads (dropping) for a bounded time, so that unread
    /// request bytes do not turn our close into a reset that destroys the response in flight.
    async fn linger_close(&mut self) {
        if self.flush().await.is_err() {
            return;
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write).await;
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut dropped = 0;
        let mut scratch = vec![0u8; READ_CHUNK_BYTES];
        while dropped < LINGER_BYTES_MAX {
            let wait = deadline.saturating_duration_since(Instant::now());
            match read_with_timeout(&mut self.stream, &mut scratch, wait).await {
                Ok(n) => dropped += n,
                Err(_) => return,
            }
        }
    }
}

/// One read, bounded in time. EOF is `Gone::Eof`, never `Ok(0)`.
/// Completes when the peer has closed the connection (or it failed); never when it sends more
/// (a pipelined request waits in the socket, untouched: `peek` leaves it there).
async fn hangup(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending::<()>().await,
    }
}

async fn read_with_timeout(
    stream: &mut TcpStream,
    dst: &mut [u8],
    wait: Duration,
) -> Result<usize, Gone> {
    if wait.is_zero() {
        return Err(Gone::TimedOut);
    }
    let read = glommio::timer::timeout(wait, async {
        stream.read(dst).await.map_err(GlommioError::from)
    })
    .await;
    match read {
        Ok(0) => Err(Gone::Eof),
        Ok(n) => Ok(n),
        Err(e) => Err(gone(e)),
    }
}

fn gone(e: GlommioError<()>) -> Gone {
    match e {
        GlommioError::TimedOut(_) => Gone::TimedOut,
        _ => Gone::Io,
    }
}

/// Whether `pending` may hold a complete head: it contains an empty line. Only the bytes after
/// `scanned` (and the 3 before, for a terminator split across reads) are searched again.
fn may_hold_head(pending: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3);
    let Some(tail) = pending.get(from..) else {
        return false;
    };
    memchr::memmem::find(tail, b"\n\r\n").is_some() || memchr::memmem::find(tail, b"\n\n").is_some()
}

/// Echo the client's `X-Request-Id`, else its `Request-Id`, else a new v1-shaped UUID (as InfluxDB).
fn request_id(head: &RequestHead) -> String {
    ["x-request-id", "request-id"]
        .iter()
        .filter_map(|name| head.header(name))
        .find(|v| !v.is_empty())
        .map_or_else(new_request_id, |v| String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_pool_is_bounded_and_hands_out_its_largest_buffer() {
        // Each test runs on its own thread: the pool starts empty.
        assert!(take_body_buffer().capacity() == 0);
        let mb = 1 << 20;
        for k in 1..=10usize {
            recycle_body_buffer(vec![k as u8; k * mb]);
        }
        let held: usize = BODY_POOL.with(|p| p.borrow().iter().map(Vec::capacity).sum());
        assert!(held <= BODY_POOL_BYTES_MAX, "{held}");
        assert!(
            held >= BODY_POOL_BYTES_MAX - 10 * mb,
            "kept what fits: {held}"
        );
        let largest = take_body_buffer();
        let rest_max = BODY_POOL.with(|p| p.borrow().iter().map(Vec::len).max().unwrap_or(0));
        assert!(largest.len() >= rest_max);
        assert!(largest.iter().all(|&b| b as usize == largest.len() / mb));
    }
}
