//! HTTP/1.1 framing: the connection loop and nothing above it.
//!
//! Owner: the http stage of the data path (see DESIGN.md). Endpoints, routing and auth live in `api/`;
//! this module turns bytes on a socket into [`Request`]s and [`Response`]s back into bytes.
//!
//! | file          | role                                                           | runtime? |
//! |---------------|----------------------------------------------------------------|----------|
//! | `head.rs`     | request head on httparse, framing headers, query strings       | pure     |
//! | `body.rs`     | chunked decoding (push, byte-at-a-time safe)                   | pure     |
//! | `gzip.rs`     | bounded gunzip of a whole body (libdeflate, flate2 for errors) | pure     |
//! | `response.rs` | [`Response`], the headers every answer carries, encoding       | pure     |
//! | `conn.rs`     | [`serve_connection`]: keep-alive, pipelining, timeouts, 100-continue, streamed bodies | glommio |
//! | `accept.rs`   | [`accept_loop`]: a task per connection, the connection limit    | glommio |
//! | `drain.rs`    | [`Drain`]: a core's graceful shutdown of its listener and connections | glommio |
//! | `timeline.rs` | per-request step stamps, kept per core for `GET /debug/requests` | pure     |
//!
//! Invariants:
//! - No input byte sequence panics; a malformed request gets a 400 (or 413/417/431/501) and the
//!   connection closes.
//! - No body is ever held above `body_bytes_max` (+1 byte to detect the overflow), before or after gunzip:
//!   InfluxDB 1.x bounds only the compressed bytes (influxdata/influxdb#13100); we bound both.
//! - `100 Continue` goes out only after [`Handler::check_head`] accepted the head and only if none of the
//!   body has arrived yet.
use std::time::Duration;

mod accept;
mod body;
mod conn;
mod drain;
mod gzip;
mod head;
mod response;
pub mod timeline;

pub use accept::accept_loop;
pub use body::{BodyError, ChunkedDecoder};
pub use conn::{recycle_body_buffer, serve_connection};
pub use drain::{Drain, DRAIN_IDLE_GRACE};
pub use gzip::gunzip_bounded;
pub use head::{parse_head, parse_query_string, HeadError, HeadStatus, Method, RequestHead};
pub use response::{clf_date, encode_response, new_request_id, BodyStream, EncodeCtx, Response};

/// Every bound the HTTP layer enforces. Units last in the names.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body, before and after gunzip; 0 = unlimited (InfluxDB's `max-body-size`).
    pub body_bytes_max: usize,
    /// Largest request head (request line + headers), in bytes.
    pub header_bytes_max: usize,
    /// Most header fields in one request head.
    pub header_count_max: usize,
    /// Time from the first byte of a request to the end of its head (slow-loris bound).
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request; also bounds each read of a body.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            body_bytes_max: 25_000_000,
            header_bytes_max: 64 * 1024,
            header_count_max: 100,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// A complete request: its head and its body, de-chunked and gunzipped, bounded by `body_bytes_max`.
#[derive(Debug)]
pub struct Request {
    pub head: RequestHead,
    pub body: Vec<u8>,
    /// When each step of this request happened (inert unless `[http] request-timeline` > 0).
    pub timeline: timeline::Timeline,
}

/// What the api layer plugs into a connection.
///
/// Handlers are per-core and `Rc`-based, so the futures are deliberately not `Send`.
#[allow(async_fn_in_trait)] // not Send by design: one executor per core, nothing crosses threads
pub trait Handler {
    /// What [`Handler::check_head`] hands on to [`Handler::handle`] for the same request.
    type Checked;

    /// Called once the head is parsed, before the body is read and before `100 Continue` is sent.
    /// `Err(resp)` rejects early (404 db, 405, 401...): the connection answers `resp` and, as the body
    /// was not read, drains a small body or closes.
    /// `Ok` carries what the check learned (a write's parsed parameters) on to `handle`, so that
    /// it is not worked out twice.
    fn check_head(&self, head: &RequestHead) -> Result<Self::Checked, Response>;

    /// Answers a complete request. The handler may take the body out of `req` and give its
    /// buffer back early with [`recycle_body_buffer`] once it is done reading it.
    async fn handle(&self, req: &mut Request, checked: Self::Checked) -> Response;

    /// Whether the connection stops this request's handler when the client hangs up before the
    /// answer (a query that nobody will read). The connection then watches the socket while the
    /// handler runs.
    fn stops_on_hangup(&self, _head: &RequestHead) -> bool {
        false
    }
    /// Told of every answered request, once its answer is written (or the connection failed
    /// while writing it): the handler's metrics and access log. Must not block.
    fn answered(&self, _exchange: &Exchange<'_>) {}
}

/// One answered request as the connection saw it.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// `None` when the head did not parse.
    pub head: Option<&'a RequestHead>,
    pub status: u16,
    /// The error text of an error answer.
    pub error: Option<&'a str>,
    /// Body bytes sent (0 for HEAD).
    pub body_bytes: u64,
    /// When the head had been read.
    pub started: std::time::Instant,
    pub request_id: &'a str,
    /// The client's address, when the socket knows it.
    pub peer: Option<std::net::SocketAddr>,
}
