//! Request heads: httparse plus the framing rules of RFC 9112 that Go's net/http applies
//! (Content-Length vs chunked, keep-alive by version, `Expect`), and query-string decoding.
//!
//! Pure: takes the bytes read so far, returns Complete / Partial / an error with its status.
use std::fmt;

use super::HttpLimits;

/// Request method; anything unknown is kept for a 405 with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        // Methods are case-sensitive (RFC 9110 9.1), as in Go.
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        }
    }
}

/// A parsed request head with its framing already decided.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// Raw (not percent-decoded) path, without the query.
    pub path: String,
    /// Raw query, without the '?'.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names lowercased, values as sent, in order ([`RequestHead::headers`]).
    fields: HeaderFields,
    /// `None` when absent or when the body is chunked (chunked wins, as in Go).
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub expect_continue: bool,
    /// `Content-Encoding` is exactly `gzip` (case-sensitive, first value), as InfluxDB 1.x checks.
    pub gzip: bool,
    pub keep_alive: bool,
}

/// A head's header fields in one buffer: each field is its lowercased name, then its value,
/// `ends` holding where each name and each value ends. Two allocations a head, whatever the
/// number of fields, instead of two a field (the head outlives the read buffer it came from,
/// which reads of the body reuse).
#[derive(Debug, Clone, Default)]
struct HeaderFields {
    bytes: Vec<u8>,
    /// (end of the name, end of the value) in `bytes`, in the order of the request.
    ends: Vec<(usize, usize)>,
}

impl HeaderFields {
    fn of(parsed: &[httparse::Header<'_>]) -> HeaderFields {
        let len = parsed.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut fields = HeaderFields {
            bytes: Vec::with_capacity(len),
            ends: Vec::with_capacity(parsed.len()),
        };
        for h in parsed {
            let name_at = fields.bytes.len();
            fields.bytes.extend_from_slice(h.name.as_bytes());
            fields.bytes[name_at..].make_ascii_lowercase();
            let name_end = fields.bytes.len();
            fields.bytes.extend_from_slice(h.value);
            fields.ends.push((name_end, fields.bytes.len()));
        }
        fields
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, value_end)| value_end));
        starts
            .zip(&self.ends)
            .map(|(start, &(name_end, value_end))| {
                (
                    &self.bytes[start..name_end],
                    &self.bytes[name_end..value_end],
                )
            })
    }
}

impl RequestHead {
    /// Header names (lowercased) and values as sent, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter()
    }

    /// The first value of a header, by lowercased name.
    pub fn header(&self, lower_name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|&(name, _)| name == lower_name.as_bytes())
            .map(|(_, value)| value)
    }

    /// All values of a header, by lowercased name, in order.
    fn header_values<'a>(&'a self, lower_name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |&(name, _)| name == lower_name.as_bytes())
            .map(|(_, value)| value)
    }

    /// The first occurrence of `key` in the query, percent- and '+'-decoded.
    /// `parse_query_string(..).find(key)` without decoding the pairs it passes over: only the
    /// value found is allocated (a write request asks for several parameters).
    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query
            .as_bytes()
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                let (k, v) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &pair[pair.len()..]),
                };
                if !decodes_to(k, key.as_bytes()) {
                    return None;
                }
                // A pair whose value does not decode is skipped, as parse_query_string skips it.
                percent_decode(v)
            })
    }

    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.chunked || self.content_length.unwrap_or(0) > 0
    }
}

/// Why a head was refused. `Display` is the text of the `{"error":...}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// httparse refused the bytes (bad token, bad version, bad header byte...).
    Malformed(&'static str),
    /// The head is longer than `header_bytes_max`.
    TooLarge,
    /// More than `header_count_max` header fields.
    TooManyHeaders,
    /// Content-Length is not a number, or several disagree.
    BadContentLength,
    /// A Transfer-Encoding other than chunked.
    UnsupportedTransferEncoding,
    /// An `Expect` other than `100-continue`.
    ExpectationFailed,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Malformed(_) | HeadError::BadContentLength => 400,
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UnsupportedTransferEncoding => 501,
            HeadError::ExpectationFailed => 417,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Malformed(why) => write!(f, "malformed HTTP request: {why}"),
            HeadError::TooLarge => f.write_str("Request Header Fields Too Large"),
            HeadError::TooManyHeaders => {
                f.write_str("Request Header Fields Too Large: too many headers")
            }
            HeadError::BadContentLength => f.write_str("bad Content-Length"),
            HeadError::UnsupportedTransferEncoding => f.write_str("unsupported transfer encoding"),
            HeadError::ExpectationFailed => f.write_str("Expectation Failed"),
        }
    }
}

impl std::error::Error for HeadError {}

/// Outcome of [`parse_head`]: incomplete data is not invalid.
#[derive(Debug)]
pub enum HeadStatus {
    /// The head and how many bytes of `buf` it took.
    Complete(RequestHead, usize),
    /// Needs more bytes.
    Partial,
}

/// Header slots for httparse kept on the stack: the default `max-header-count`.
const HEADER_SLOTS_ON_STACK: usize = crate::limits::HEADER_COUNT_MAX_DEFAULT;

/// Parses a request head at the start of `buf`.
pub fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<HeadStatus, HeadError> {
    // httparse fills a caller's array of slots: on the stack up to the default limit, so a
    // head costs no allocation for them.
    let mut stack = [httparse::EMPTY_HEADER; HEADER_SLOTS_ON_STACK];
    let mut heap = Vec::new();
    let count = limits.header_count_max.max(1);
    let slots = if count <= HEADER_SLOTS_ON_STACK {
        &mut stack[..count]
    } else {
        heap.resize(count, httparse::EMPTY_HEADER);
        &mut heap[..]
    };
    let mut req = httparse::Request::new(slots);
    let consumed = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.header_bytes_max => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(HeadStatus::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(error_text(e))),
    };
    if consumed > limits.header_bytes_max {
        return Err(HeadError::TooLarge);
    }
    let method = Method::from_token(req.method.unwrap_or(""));
    let target = req.path.unwrap_or("/");
    let minor_version = req.version.unwrap_or(1);
    let fields = HeaderFields::of(req.headers);
    let head = frame(method, target, minor_version, fields)?;
    Ok(HeadStatus::Complete(head, consumed))
}

fn error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid new line",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

/// Decides framing and connection semantics from the raw head.
fn frame(
    method: Method,
    target: &str,
    minor_version: u8,
    fields: HeaderFields,
) -> Result<RequestHead, HeadError> {
    let (path, query) = split_target(target);
    let mut head = RequestHead {
        method,
        path,
        query,
        minor_version,
        fields,
        content_length: None,
        chunked: false,
        expect_continue: false,
        gzip: false,
        keep_alive: minor_version >= 1,
    };
    head.chunked = transfer_chunked(head.header_values("transfer-encoding"))?;
    if !head.chunked {
        head.content_length = content_length(head.header_values("content-length"))?;
    } else if head.header("content-length").is_some() {
        // Both framings: chunked wins (RFC 9112 6.3), but never reuse a connection a proxy may
        // have framed differently (request smuggling).
        head.keep_alive = false;
    }
    if let Some(connection) = head.header("connection") {
        if has_token(connection, b"close") {
            head.keep_alive = false;
        } else if minor_version == 0 && has_token(connection, b"keep-alive") {
            head.keep_alive = true;
        }
    }
    if let Some(expect) = head.header("expect") {
        // Go answers 417 to any other expectation, and ignores Expect on HTTP/1.0.
        if minor_version >= 1 && expect.eq_ignore_ascii_case(b"100-continue") {
            head.expect_continue = true;
        } else if minor_version >= 1 {
            return Err(HeadError::ExpectationFailed);
        }
    }
    head.gzip = head.header("content-encoding") == Some(b"gzip".as_slice());
    Ok(head)
}

/// Splits a request target into raw path and raw query; absolute-form targets lose scheme and host.
fn split_target(target: &str) -> (String, String) {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if let Some(after) = rest.strip_prefix(scheme) {
            rest = after.find('/').map_or("/", |i| &after[i..]);
        }
    }
    match rest.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (rest.to_string(), String::new()),
    }
}

fn transfer_chunked<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<bool, HeadError> {
    let mut chunked = false;
    for value in values {
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked = true;
            } else if !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity") {
                return Err(HeadError::UnsupportedTransferEncoding);
            }
        }
    }
    Ok(chunked)
}

fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, HeadError> {
    let mut length = None;
    for value in values {
        let parsed = parse_decimal(value.trim_ascii()).ok_or(HeadError::BadContentLength)?;
        if length.is_some_and(|l| l != parsed) {
            return Err(HeadError::BadContentLength);
        }
        length = Some(parsed);
    }
    Ok(length)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
    })
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Decodes `a=1&b=x+y&c=%2F` into pairs, in order, as Go's `url.ParseQuery` does:
/// '+' is a space, a pair with a bad percent escape is skipped, a key without '=' has an empty value.
/// Only '&' separates pairs (Go >= 1.17; a raw ';' stays in the value).
pub fn parse_query_string(q: &[u8]) -> Vec<(String, String)> {
    q.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            Some((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(raw: &[u8]) -> Option<String> {
    let out: Vec<u8> = decoded(raw).collect::<Option<_>>()?;
    // Valid UTF-8 (nearly always) becomes the String without a copy.
    Some(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Whether `raw` percent-decodes (valid escapes only) to exactly `want`.
fn decodes_to(raw: &[u8], want: &[u8]) -> bool {
    let mut bytes = decoded(raw);
    want.iter().all(|&w| bytes.next() == Some(Some(w))) && bytes.next().is_none()
}

/// The bytes `raw` percent-decodes to (`+` is a space); `None` at an invalid escape.
fn decoded(raw: &[u8]) -> impl Iterator<Item = Option<u8>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let &b = raw.get(i)?;
        i += 1;
        Some(match b {
            b'+' => Some(b' '),
            b'%' => {
                let escaped = raw
                    .get(i..i + 2)
                    .and_then(|h| Some(hex_value(h[0])? << 4 | hex_value(h[1])?));
                i += 2;
                escaped
            }
            _ => Some(b),
        })
    })
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<HeadStatus, HeadError> {
        parse_head(raw.as_bytes(), &HttpLimits::default())
    }

    fn complete(raw: &str) -> RequestHead {
        match parse(raw) {
            Ok(HeadStatus::Complete(head, n)) => {
                assert_eq!(n, raw.len(), "whole input is the head");
                head
            }
            other => panic!("expected a complete head for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn simple_post_with_query() {
        let h = complete(
            "POST /write?db=mydb&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n",
        );
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.path, "/write");
        assert_eq!(h.query, "db=mydb&precision=s");
        assert_eq!(h.content_length, Some(12));
        assert!(h.keep_alive && !h.chunked && !h.gzip && !h.expect_continue);
        assert_eq!(h.query_param("db").as_deref(), Some("mydb"));
        assert_eq!(h.query_param("rp"), None);
        assert_eq!(h.header("host"), Some(b"x".as_slice()));
    }

    #[test]
    fn framing_table() {
        // (raw head, chunked, content_length, keep_alive, expect_continue, gzip)
        type Case = (&'static str, bool, Option<u64>, bool, bool, bool);
        let cases: &[Case] = &[
            ("GET / HTTP/1.0\r\n\r\n", false, None, false, false, false),
            (
                "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                false,
                None,
                true,
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                false,
                None,
                false,
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n",
                false,
                None,
                false,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
                None,
                true,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\n",
                true,
                None,
                false,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
                false,
                Some(5),
                true,
                true,
                false,
            ),
            (
                "POST / HTTP/1.0\r\nExpect: whatever\r\n\r\n",
                false,
                None,
                false,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n",
                false,
                None,
                true,
                false,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Encoding: GZIP\r\n\r\n",
                false,
                None,
                true,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Encoding: x-gzip\r\n\r\n",
                false,
                None,
                true,
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
                false,
                Some(7),
                true,
                false,
                false,
            ),
        ];
        for &(raw, chunked, cl, ka, expect, gzip) in cases {
            let h = complete(raw);
            assert_eq!(
                (
                    h.chunked,
                    h.content_length,
                    h.keep_alive,
                    h.expect_continue,
                    h.gzip
                ),
                (chunked, cl, ka, expect, gzip),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, u16)] = &[
            ("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417),
            ("GET / HTTP/2.0\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
            ("G\0T / HTTP/1.1\r\n\r\n", 400),
        ];
        for &(raw, status) in cases {
            match parse(raw) {
                Err(e) => assert_eq!(e.status(), status, "{raw:?}: {e}"),
                Ok(other) => panic!("{raw:?} should fail, got {other:?}"),
            }
        }
    }

    #[test]
    fn partial_until_blank_line() {
        let raw = "GET /ping HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..raw.len() {
            assert!(
                matches!(parse(&raw[..cut]), Ok(HeadStatus::Partial)),
                "cut at {cut}"
            );
        }
        assert_eq!(complete(raw).path, "/ping");
    }

    #[test]
    fn pipelined_head_reports_its_own_length() {
        let raw = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        match parse(raw) {
            Ok(HeadStatus::Complete(h, n)) => {
                assert_eq!(h.path, "/a");
                assert_eq!(n, 19);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_limits() {
        let limits = HttpLimits {
            header_bytes_max: 64,
            header_count_max: 3,
            ..HttpLimits::default()
        };
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100));
        assert_eq!(
            parse_head(long.as_bytes(), &limits).err(),
            Some(HeadError::TooLarge)
        );
        let long_done = format!("{long}\r\n");
        assert_eq!(
            parse_head(long_done.as_bytes(), &limits).err(),
            Some(HeadError::TooLarge)
        );
        let many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(
            parse_head(many.as_bytes(), &limits).err(),
            Some(HeadError::TooManyHeaders)
        );
        let three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert!(matches!(
            parse_head(three.as_bytes(), &limits),
            Ok(HeadStatus::Complete(..))
        ));
    }

    #[test]
    fn absolute_form_target() {
        let h = complete("GET http://host:8086/query?q=x HTTP/1.1\r\n\r\n");
        assert_eq!((h.path.as_str(), h.query.as_str()), ("/query", "q=x"));
    }

    #[test]
    fn query_string_decoding() {
        let pairs = parse_query_string(
            b"q=SELECT+*+FROM+%22m%22&db=a%2Fb&empty=&flag&bad=%zz&x=1;2&db=second",
        );
        let expect: Vec<(String, String)> = [
            ("q", "SELECT * FROM \"m\""),
            ("db", "a/b"),
            ("empty", ""),
            ("flag", ""),
            ("x", "1;2"),
            ("db", "second"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expect);
        assert!(parse_query_string(b"").is_empty());
        assert!(parse_query_string(b"a=%").is_empty());
        assert!(parse_query_string(b"a=%4").is_empty());
        assert_eq!(
            parse_query_string(b"%C3%A9=%E2%82%AC"),
            vec![("é".to_string(), "€".to_string())]
        );
    }

    #[test]
    fn query_param_first_occurrence() {
        let h = complete("GET /query?db=one&db=two&q=SHOW%20DATABASES HTTP/1.1\r\n\r\n");
        assert_eq!(h.query_param("db").as_deref(), Some("one"));
        assert_eq!(h.query_param("q").as_deref(), Some("SHOW DATABASES"));
    }

    #[test]
    fn other_method_is_kept() {
        assert_eq!(
            complete("BREW / HTTP/1.1\r\n\r\n").method,
            Method::Other("BREW".into())
        );
        assert_eq!(
            complete("get / HTTP/1.1\r\n\r\n").method,
            Method::Other("get".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn query_param_finds_what_parse_query_string_finds(q in "[dbp%=&+0-9A-Fa-f]{0,40}") {
            let h = RequestHead { query: q.clone(), ..complete("GET / HTTP/1.1\r\n\r\n") };
            for key in ["db", "p", "d b", ""] {
                let want = parse_query_string(q.as_bytes()).into_iter().find(|(k, _)| k == key).map(|(_, v)| v);
                proptest::prop_assert_eq!(h.query_param(key), want, "key {:?} in {:?}", key, q);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let limits = HttpLimits { header_bytes_max: 256, header_count_max: 4, ..HttpLimits::default() };
            let _ = parse_head(&bytes, &limits);
            let _ = parse_query_string(&bytes);
        }

        #[test]
        fn mutated_heads_never_panic(
            at in 0usize..80,
            byte in proptest::num::u8::ANY,
            cut in 0usize..90,
        ) {
            let mut raw = b"POST /write?db=a%20b&q=x+y HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n".to_vec();
            if let Some(b) = raw.get_mut(at) {
                *b = byte;
            }
            raw.truncate(cut);
            let _ = parse_head(&raw, &HttpLimits::default());
        }
    }
}
