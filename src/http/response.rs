//! Responses: what a handler returns, and the bytes every answer carries on the wire.
//!
//! Every response gets `Content-Type: application/json` (unless the handler set one), `X-Influxdb-Version`,
//! `X-Influxdb-Build`, `Request-Id` + `X-Request-Id`, `Date`, `Content-Length` (not on 1xx/204, which
//! RFC 9110 8.6 forbids and Go omits) and, for errors other than 401, `X-Influxdb-Error`
//! (1.6.7 services/httpd/handler.go:1303-1326, 1519-1548).
use futures_lite::Stream;
use std::cell::Cell;
use std::fmt::Write as _;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The InfluxDB version we answer as: clients branch on it (1.8 enables /api/v2/write in some).
pub const INFLUXDB_VERSION: &str = "1.8.10";
/// `X-Influxdb-Error` is truncated to this many bytes, as in InfluxDB.
const ERROR_HEADER_BYTES_MAX: usize = 1024;

/// A handler's answer. The connection adds the common headers when encoding it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Extra headers, canonical case (`WWW-Authenticate`, `Content-Type`...).
    pub headers: Vec<(&'static str, String)>,
    /// The error text; becomes `X-Influxdb-Error` unless the status is 401.
    pub error: Option<String>,
    /// A body produced while it is sent (after `body`): each item is written and flushed as
    /// one chunk of `Transfer-Encoding: chunked` (HTTP/1.0: raw, then the connection closes).
    pub stream: Option<BodyStream>,
}

/// The pieces of a streamed body, in order; the stream ends with the body. Dropping it (the
/// client went away) tells the producer to stop.
pub struct BodyStream(pub Pin<Box<dyn Stream<Item = Vec<u8>>>>);

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

impl Response {
    /// 204, no body: a successful write or ping.
    pub fn no_content() -> Self {
        Response::json(204, Vec::new())
    }

    /// A JSON body the handler already rendered.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            body,
            headers: Vec::new(),
            error: None,
            stream: None,
        }
    }

    /// A 200 whose body is written as `stream` yields it.
    pub fn streamed(content_type: &str, stream: BodyStream) -> Self {
        Response {
            stream: Some(stream),
            ..Response::json(200, Vec::new())
        }
        .with_header("Content-Type", content_type.to_string())
    }

    /// `{"error":"msg"}\n` with Go's JSON escaping, plus `X-Influxdb-Error: msg` (unless 401).
    pub fn error(status: u16, msg: &str) -> Self {
        let mut body = Vec::with_capacity(msg.len() + 14);
        body.extend_from_slice(b"{\"error\":");
        json_string(msg, &mut body);
        body.extend_from_slice(b"}\n");
        Response {
            status,
            body,
            headers: Vec::new(),
            error: Some(msg.to_string()),
            stream: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Writes `s` as a JSON string the way Go's `encoding/json` does: `<`, `>`, `&`, U+2028 and U+2029
/// escaped too, so error bodies match InfluxDB byte for byte.
pub(crate) fn json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Per-request facts the encoder needs besides the response itself.
#[derive(Debug, Clone, Copy)]
pub struct EncodeCtx<'a> {
    pub request_id: &'a str,
    /// IMF-fixdate, e.g. `Wed, 25 Nov 2026 11:26:47 GMT`.
    pub date: &'a str,
    /// A HEAD request: headers as for GET, no body.
    pub head_request: bool,
    /// The request's minor version: the status line answers in kind.
    pub minor_version: u8,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
}

/// Appends the whole response (status line, headers, body) to `out`.
pub fn encode_response(resp: &Response, ctx: &EncodeCtx<'_>, out: &mut Vec<u8>) {
    let version = if ctx.minor_version == 0 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    // Pieces pushed one by one rather than through `write!`: this runs for every answer.
    out.extend_from_slice(version.as_bytes());
    out.push(b' ');
    push_decimal(out, u64::from(resp.status));
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    if !resp.has_header("Content-Type") {
        header(out, "Content-Type", b"application/json");
    }
    for (name, value) in &resp.headers {
        header(out, name, value.as_bytes());
    }
    header(out, "Date", ctx.date.as_bytes());
    header(out, "Request-Id", ctx.request_id.as_bytes());
    header(out, "X-Influxdb-Build", b"OSS");
    header(out, "X-Influxdb-Version", INFLUXDB_VERSION.as_bytes());
    if let Some(error) = resp.error.as_deref().filter(|_| resp.status != 401) {
        let cut = error.len().min(ERROR_HEADER_BYTES_MAX);
        header(out, "X-Influxdb-Error", &error.as_bytes()[..cut]);
    }
    header(out, "X-Request-Id", ctx.request_id.as_bytes());
    if ctx.minor_version == 0 && ctx.keep_alive {
        header(out, "Connection", b"keep-alive");
    } else if ctx.minor_version >= 1 && !ctx.keep_alive {
        header(out, "Connection", b"close");
    }
    if resp.stream.is_some() {
        // The length is not known: chunked on HTTP/1.1; on 1.0 the close ends the body.
        if ctx.minor_version >= 1 {
            header(out, "Transfer-Encoding", b"chunked");
        }
    } else if !(resp.status < 200 || resp.status == 204 || resp.status == 304) {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, resp.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !ctx.head_request {
        encode_body_piece(
            &resp.body,
            resp.stream.is_some() && ctx.minor_version >= 1,
            out,
        );
    }
}

/// Appends a piece of a body: as is, or as one chunk of a chunked body (nothing if empty, which
/// would end the body).
pub fn encode_body_piece(piece: &[u8], chunked: bool, out: &mut Vec<u8>) {
    if !chunked {
        out.extend_from_slice(piece);
    } else if !piece.is_empty() {
        let _ = write!(Bytes(out), "{:x}\r\n", piece.len());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of a chunked body (no trailers).
pub const CHUNKED_BODY_END: &[u8] = b"0\r\n\r\n";

/// One header line; CR and LF in values become spaces, as Go's header writer does.
fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let at = out.len();
    out.extend_from_slice(value);
    if memchr::memchr2(b'\r', b'\n', value).is_some() {
        for b in &mut out[at..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends the `width` low hex digits of `n`, lowercase, zero-padded.
fn push_hex(out: &mut String, n: u64, width: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..width).rev() {
        out.push(char::from(HEX[(n >> (4 * i)) as usize & 0xf]));
    }
}

/// `fmt::Write` over a byte vector, for numbers in the status line and Content-Length.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats seconds since the Unix epoch as the Common Log Format's time, in UTC
/// (`02/Jan/2006:15:04:05 +0000`), as access logs write it.
pub fn clf_date(unix_secs: u64) -> String {
    let (days, secs) = (unix_secs / 86_400, unix_secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 5.6.7).
pub(crate) fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31); Howard Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The current `Date` header value, recomputed at most once per second per thread (shared,
/// not copied, by the answers of that second).
pub(crate) fn current_date() -> Rc<str> {
    thread_local! {
        static CACHE: Cell<u64> = const { Cell::new(u64::MAX) };
        static TEXT: std::cell::RefCell<Rc<str>> = std::cell::RefCell::new(Rc::from(""));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if CACHE.with(Cell::get) != now {
        CACHE.with(|c| c.set(now));
        TEXT.with(|t| *t.borrow_mut() = Rc::from(http_date(now)));
    }
    TEXT.with(|t| Rc::clone(&t.borrow()))
}

/// A fresh request id shaped like a version-1 (time-based) UUID, as InfluxDB's `uuid.TimeUUID()`:
/// 60-bit timestamp in 100 ns units since 1582-10-15, variant 10, and a node id unique per thread
/// (process id + thread number), so cores never collide. Timestamps are strictly increasing per thread.
pub fn new_request_id() -> String {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NODE: u64 = {
            let thread = THREADS.fetch_add(1, Ordering::Relaxed);
            // Multicast bit set: a random-style node id, never a real MAC (RFC 4122 4.5).
            (u64::from(std::process::id()) << 16 ^ thread) & 0xffff_ffff_ffff | 0x0100_0000_0000
        };
        static LAST: Cell<u64> = const { Cell::new(0) };
    }
    const GREGORIAN_OFFSET_100NS: u64 = 0x01b2_1dd2_1381_4000;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_nanos() / 100) as u64);
    let ticks = LAST.with(|last| {
        let t = (now + GREGORIAN_OFFSET_100NS).max(last.get() + 1);
        last.set(t);
        t
    });
    let node = NODE.with(|n| *n);
    let clock_seq = (node >> 32 ^ node) as u16 & 0x3fff | 0x8000;
    // "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", without the formatting machinery (every request
    // that names no id of its own gets one).
    let mut id = String::with_capacity(36);
    push_hex(&mut id, ticks & 0xffff_ffff, 8);
    id.push('-');
    push_hex(&mut id, ticks >> 32 & 0xffff, 4);
    id.push('-');
    push_hex(&mut id, ticks >> 48 & 0x0fff | 0x1000, 4);
    id.push('-');
    push_hex(&mut id, u64::from(clock_seq), 4);
    id.push('-');
    push_hex(&mut id, node, 12);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_pieces_read_as_the_formatter_writes_them() {
        for n in [0u64, 1, 9, 10, 204, 65_535, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        for (n, width) in [
            (0u64, 4),
            (0xabc, 4),
            (0xdead_beef, 8),
            (0x0123_4567_89ab, 12),
        ] {
            let mut out = String::new();
            push_hex(&mut out, n, width);
            assert_eq!(out, format!("{n:0w$x}", w = width as usize));
        }
    }

    fn encode(resp: &Response, head_request: bool, minor_version: u8, keep_alive: bool) -> String {
        let ctx = EncodeCtx {
            request_id: "rid",
            date: "Wed, 25 Nov 2026 11:26:47 GMT",
            head_request,
            minor_version,
            keep_alive,
        };
        let mut out = Vec::new();
        encode_response(resp, &ctx, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn no_content_has_common_headers_and_no_length() {
        assert_eq!(
            encode(&Response::no_content(), false, 1, true),
            "HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\n\
             Date: Wed, 25 Nov 2026 11:26:47 GMT\r\nRequest-Id: rid\r\nX-Influxdb-Build: OSS\r\n\
             X-Influxdb-Version: 1.8.10\r\nX-Request-Id: rid\r\n\r\n"
        );
    }

    #[test]
    fn error_body_header_and_close() {
        let text = encode(
            &Response::error(404, "database not found: \"db\""),
            false,
            1,
            false,
        );
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
             Date: Wed, 25 Nov 2026 11:26:47 GMT\r\nRequest-Id: rid\r\nX-Influxdb-Build: OSS\r\n\
             X-Influxdb-Version: 1.8.10\r\nX-Influxdb-Error: database not found: \"db\"\r\n\
             X-Request-Id: rid\r\nConnection: close\r\nContent-Length: 39\r\n\r\n\
             {\"error\":\"database not found: \\\"db\\\"\"}\n"
        );
    }

    #[test]
    fn unauthorized_has_no_error_header() {
        let resp = Response::error(401, "authorization failed")
            .with_header("WWW-Authenticate", "Basic realm=\"InfluxDB\"".into());
        let text = encode(&resp, false, 1, true);
        assert!(!text.contains("X-Influxdb-Error"), "{text}");
        assert!(
            text.contains("\r\nWWW-Authenticate: Basic realm=\"InfluxDB\"\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("{\"error\":\"authorization failed\"}\n"),
            "{text}"
        );
    }

    #[test]
    fn error_header_truncated_and_single_line() {
        let msg = format!(
            "unable to parse 'a': x\nunable to parse 'b': y{}",
            "z".repeat(2000)
        );
        let text = encode(&Response::error(400, &msg), false, 1, true);
        let line = text
            .lines()
            .find(|l| l.starts_with("X-Influxdb-Error: "))
            .expect("header present");
        assert_eq!(line.len(), "X-Influxdb-Error: ".len() + 1024);
        assert!(
            line.contains("x unable to parse 'b'"),
            "newline became a space"
        );
        assert!(
            text.contains("\"unable to parse 'a': x\\nunable"),
            "body keeps \\n escaped"
        );
    }

    #[test]
    fn head_request_has_length_but_no_body() {
        let resp = Response::json(200, b"{\"a\":1}\n".to_vec());
        let text = encode(&resp, true, 1, true);
        assert!(text.ends_with("Content-Length: 8\r\n\r\n"), "{text}");
        assert!(encode(&resp, false, 1, true).ends_with("\r\n\r\n{\"a\":1}\n"));
    }

    #[test]
    fn http10_answers_in_kind() {
        let ka = encode(&Response::no_content(), false, 0, true);
        assert!(
            ka.starts_with("HTTP/1.0 204 No Content\r\n")
                && ka.contains("Connection: keep-alive\r\n")
        );
        let close = encode(&Response::no_content(), false, 0, false);
        assert!(!close.contains("Connection:"), "{close}");
    }

    #[test]
    fn handler_content_type_wins() {
        let resp =
            Response::json(200, b"x".to_vec()).with_header("Content-Type", "text/plain".into());
        let text = encode(&resp, false, 1, true);
        assert!(
            text.contains("Content-Type: text/plain\r\n") && !text.contains("application/json")
        );
    }

    #[test]
    fn json_escaping_matches_go() {
        let mut out = Vec::new();
        json_string("a\"b\\c\n\t<>&\u{1}\u{2028}é", &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "\"a\\\"b\\\\c\\n\\t\\u003c\\u003e\\u0026\\u0001\\u2028é\""
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_795_519_607), "Tue, 24 Nov 2026 11:26:47 GMT");
        assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(clf_date(1_795_519_607), "24/Nov/2026:11:26:47 +0000");
        assert_eq!(clf_date(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn request_ids_are_v1_shaped_and_unique() {
        let ids: Vec<String> = (0..1000).map(|_| new_request_id()).collect();
        for id in &ids {
            let parts: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(parts[2].starts_with('1'), "version 1: {id}");
            assert!(
                matches!(parts[3].as_bytes()[0], b'8'..=b'b'),
                "variant 10: {id}"
            );
            assert!(id
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
