//! A minimal blocking HTTP/1.1 client: keep-alive, Content-Length or chunked responses.
//!
//! One connection per thread and no pipelining, so a response is read completely before the next
//! request is written and latency is measured per request without head-of-line effects.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Largest response body accepted (a `/query` window answer).
pub const RESPONSE_BYTES_MAX: usize = 512 << 20;
const HEAD_BYTES_MAX: usize = 64 << 10;

#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    BadResponse(String),
    Closed,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "transport: {e}"),
            ClientError::BadResponse(m) => write!(f, "bad response: {m}"),
            ClientError::Closed => f.write_str("transport: connection closed by server"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// `http://host:port[/base]` split into the authority and the base path (without trailing `/`).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if auth.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let auth = if auth.contains(':') && !auth.ends_with(']') {
        auth.to_string()
    } else {
        format!("{auth}:80")
    };
    Ok((auth, path.to_string()))
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server asked to close the connection after this response.
    pub close: bool,
}

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read from the server.
    received: u64,
    /// A whole response was read.
    answered: bool,
}

impl Conn {
    pub fn connect(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            stream,
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            received: 0,
            answered: false,
        })
    }

    /// Bytes read from the server on this connection.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the server answered a request on this connection.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Writes `head` then `body` with vectored writes (the body is never copied).
    pub fn send(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let total = head.len() + body.len();
        let mut done = 0;
        while done < total {
            let n = if done < head.len() {
                self.stream
                    .write_vectored(&[IoSlice::new(&head[done..]), IoSlice::new(body)])?
            } else {
                self.stream.write(&body[done - head.len()..])?
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        Ok(())
    }

    /// One request/response round trip.
    pub fn request(&mut self, head: &[u8], body: &[u8]) -> Result<Response, ClientError> {
        self.send(head, body)?;
        self.read_response()
    }

    fn fill(&mut self) -> Result<(), ClientError> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grow = self.buf.len();
                self.buf.resize(self.buf.len() + grow, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.end += n;
        self.received += n as u64;
        Ok(())
    }

    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let (status, len, close, head_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    let (len, close) = framing(resp.headers, status)?;
                    break (status, len, close, n);
                }
                Ok(httparse::Status::Partial) if self.end - self.start < HEAD_BYTES_MAX => {
                    self.fill()?
                }
                Ok(httparse::Status::Partial) => {
                    return Err(ClientError::BadResponse("head too large".into()))
                }
                Err(e) => return Err(ClientError::BadResponse(e.to_string())),
            }
        };
        self.start += head_len;
        let body = match len {
            BodyLen::Fixed(n) => self.take(n)?,
            BodyLen::Chunked => self.dechunk()?,
            BodyLen::UntilClose => self.until_close()?,
        };
        self.answered = true;
        Ok(Response {
            status,
            body,
            close: close || matches!(len, BodyLen::UntilClose),
        })
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, ClientError> {
        if n > RESPONSE_BYTES_MAX {
            return Err(ClientError::BadResponse(format!(
                "body of {n} bytes is too large"
            )));
        }
        while self.end - self.start < n {
            self.fill()?;
        }
        let out = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        Ok(out)
    }

    fn line(&mut self) -> Result<String, ClientError> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let s = String::from_utf8_lossy(&self.buf[self.start..self.start + i]).into_owned();
                self.start += i + 2;
                return Ok(s);
            }
            if self.end - self.start > HEAD_BYTES_MAX {
                return Err(ClientError::BadResponse("chunk line too long".into()));
            }
            self.fill()?;
        }
    }

    fn dechunk(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            let hex = line.split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(hex, 16)
                .map_err(|_| ClientError::BadResponse(format!("chunk size {hex:?}")))?;
            if n == 0 {
                while !self.line()?.is_empty() {}
                return Ok(out);
            }
            if out.len() + n > RESPONSE_BYTES_MAX {
                return Err(ClientError::BadResponse("chunked body too large".into()));
            }
            out.extend_from_slice(&self.take(n)?);
            self.line()?;
        }
    }

    fn until_close(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            match self.fill() {
                Ok(()) if self.end - self.start <= RESPONSE_BYTES_MAX => {}
                Ok(()) => return Err(ClientError::BadResponse("body too large".into())),
                Err(ClientError::Closed) => break,
                Err(e) => return Err(e),
            }
        }
        let out = self.buf[self.start..self.end].to_vec();
        self.start = self.end;
        Ok(out)
    }
}

#[derive(Debug, PartialEq)]
enum BodyLen {
    Fixed(usize),
    Chunked,
    UntilClose,
}

fn framing(headers: &[httparse::Header<'_>], status: u16) -> Result<(BodyLen, bool), ClientError> {
    let mut len = None;
    let mut chunked = false;
    let mut close = false;
    for h in headers {
        let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
        if h.name.eq_ignore_ascii_case("content-length") {
            len = Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| ClientError::BadResponse(format!("content-length {v:?}")))?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.contains("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = v.contains("close");
        }
    }
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        BodyLen::Fixed(0)
    } else if chunked {
        BodyLen::Chunked
    } else if let Some(n) = len {
        BodyLen::Fixed(n)
    } else {
        BodyLen::UntilClose
    };
    Ok((body, close))
}

/// A GET or POST head with `Content-Length` (and optional extra header lines ending in `\r\n`).
pub fn head(method: &str, path: &str, host: &str, content_len: usize, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lineshard-load\r\nContent-Length: {content_len}\r\n{extra}\r\n")
        .into_bytes()
}

/// One request on a fresh connection (setup and verify queries).
pub fn oneshot(addr: &str, head: &[u8], body: &[u8]) -> Result<Response, ClientError> {
    Conn::connect(addr)?.request(head, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            parse_url("http://127.0.0.1:8086").unwrap(),
            ("127.0.0.1:8086".into(), "".into())
        );
        assert_eq!(
            parse_url("http://localhost/x/").unwrap(),
            ("localhost:80".into(), "/x".into())
        );
        assert!(parse_url("https://a:1").is_err());
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(pct("SELECT * FROM \"m\""), "SELECT%20%2A%20FROM%20%22m%22");
    }

    #[test]
    fn framing_rules() {
        let h = [httparse::Header {
            name: "Content-Length",
            value: b"12",
        }];
        assert_eq!(framing(&h, 200).unwrap().0, BodyLen::Fixed(12));
        assert_eq!(framing(&h, 204).unwrap().0, BodyLen::Fixed(0));
        let c = [httparse::Header {
            name: "Transfer-Encoding",
            value: b"chunked",
        }];
        assert_eq!(framing(&c, 200).unwrap().0, BodyLen::Chunked);
        assert_eq!(framing(&[], 200).unwrap().0, BodyLen::UntilClose);
    }

    #[test]
    fn chunked_response_over_loopback() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap();
        });
        let r = oneshot(&addr, &head("GET", "/q", &addr, 0, ""), b"").unwrap();
        t.join().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
    }
}
