//! HTTP framing against a real glommio connection loop, driven with raw bytes over loopback.
//!
//! Each test starts its own executor thread with a listener on 127.0.0.1:0 and an echo handler;
//! the port is handed back over a channel once bound (no fixed port, no sleep).
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use lineshard::http::{
    serve_connection, Handler, HttpLimits, Method, Request, RequestHead, Response,
};

/// Echoes method, path, query and body; `/reject*` is refused by `check_head`.
struct Echo;

impl Handler for Echo {
    type Checked = ();

    fn check_head(&self, head: &RequestHead) -> Result<(), Response> {
        if head.path.starts_with("/reject") {
            return Err(Response::error(404, "database not found: \"nope\""));
        }
        Ok(())
    }

    async fn handle(&self, req: &mut Request, _checked: ()) -> Response {
        let mut body = format!(
            "{:?} {} {} ",
            req.head.method, req.head.path, req.head.query
        )
        .into_bytes();
        body.extend_from_slice(&req.body);
        if req.head.method == Method::Delete {
            return Response::no_content();
        }
        Response::json(200, body).with_header("Content-Type", "text/plain".into())
    }
}

fn start(limits: HttpLimits) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ex = glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .expect("executor");
        ex.run(async move {
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let (handler, limits) = (Rc::new(Echo), Rc::new(limits));
            let drain = Rc::new(lineshard::http::Drain::default());
            while let Ok(stream) = listener.accept().await {
                let conn = serve_connection(stream, handler.clone(), limits.clone(), drain.clone());
                glommio::spawn_local(conn).detach();
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server started")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

#[derive(Debug)]
struct Resp {
    status_line: String,
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one response; `buf` keeps bytes that belong to the next one.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> Resp {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf);
    };
    let text = String::from_utf8(buf[..end].to_vec()).expect("ascii head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    buf.drain(..end);
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().expect("length"));
    let len = if head_request { 0 } else { len };
    while buf.len() < len {
        fill(s, buf);
    }
    let body = buf.drain(..len).collect();
    Resp {
        status_line,
        status,
        headers,
        body,
    }
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).expect("read");
    assert!(
        n > 0,
        "connection closed early; have {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

/// True when the server closed the connection (EOF or reset) within the read timeout,
/// false when it sent more bytes or kept the connection open past the timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 64];
    match s.read(&mut chunk) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

fn roundtrip(addr: SocketAddr, raw: &[u8]) -> (Resp, TcpStream) {
    let mut s = connect(addr);
    s.write_all(raw).expect("write");
    let resp = read_response(&mut s, &mut Vec::new(), false);
    (resp, s)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("write");
    enc.finish().expect("finish")
}

#[test]
fn keep_alive_and_common_headers() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    let mut buf = Vec::new();
    for i in 0..3 {
        let req =
            format!("POST /write?db=x&n={i} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
        s.write_all(req.as_bytes()).expect("write");
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert_eq!(r.body, format!("Post /write db=x&n={i} hello").into_bytes());
        assert_eq!(r.headers["x-influxdb-version"], "1.8.10");
        assert_eq!(r.headers["x-influxdb-build"], "OSS");
        assert_eq!(r.headers["content-type"], "text/plain");
        assert!(r.headers["date"].ends_with(" GMT"));
        assert_eq!(r.headers["request-id"].len(), 36);
        assert_eq!(r.headers["request-id"], r.headers["x-request-id"]);
        assert!(!r.headers.contains_key("connection"));
    }
}

#[test]
fn no_content_and_request_id_echo() {
    let addr = start(HttpLimits::default());
    let (r, _s) = roundtrip(addr, b"DELETE /x HTTP/1.1\r\nX-Request-Id: abc-123\r\n\r\n");
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        (
            r.headers["request-id"].as_str(),
            r.headers["x-request-id"].as_str()
        ),
        ("abc-123", "abc-123")
    );
    assert!(!r.headers.contains_key("content-length"));
    let (r, _s) = roundtrip(addr, b"DELETE /x HTTP/1.1\r\nRequest-Id: r-9\r\n\r\n");
    assert_eq!(r.headers["x-request-id"], "r-9");
}

#[test]
fn pipelined_requests_answered_in_order() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    s.write_all(
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzPOST /c HTTP/1.1\r\n\
          Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    )
    .expect("write");
    let mut buf = Vec::new();
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|_| read_response(&mut s, &mut buf, false).body)
        .collect();
    assert_eq!(
        bodies,
        [
            b"Get /a  ".to_vec(),
            b"Post /b  xyz".to_vec(),
            b"Post /c  hi".to_vec()
        ]
    );
    // Still open afterwards.
    s.write_all(b"GET /d HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"Get /d  ");
}

#[test]
fn bodies_of_one_connection_never_mix() {
    // A connection reuses its body buffer: a shorter body after a longer one must not carry the
    // longer one's tail, and a longer one must be read whole (some bytes already buffered with
    // the head, the rest read later).
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    let mut buf = Vec::new();
    for (k, len) in [300usize, 10, 0, 70_000, 5, 2_000_000, 1, 70_000]
        .into_iter()
        .enumerate()
    {
        let body: Vec<u8> = (0..len).map(|i| b'a' + ((i * 7 + k) % 26) as u8).collect();
        let mut req = format!("POST /b{k} HTTP/1.1\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        req.extend_from_slice(&body);
        s.write_all(&req).expect("write");
        let got = read_response(&mut s, &mut buf, false).body;
        let mut want = format!("Post /b{k}  ").into_bytes();
        want.extend_from_slice(&body);
        assert!(got == want, "body {k} of {len} bytes");
    }
}

#[test]
fn http10_closes_unless_keep_alive() {
    let addr = start(HttpLimits::default());
    let (r, mut s) = roundtrip(addr, b"GET /ping HTTP/1.0\r\n\r\n");
    assert_eq!(r.status_line, "HTTP/1.0 200 OK");
    assert!(closed(&mut s));
    let mut s = connect(addr);
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(b"GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("write");
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!(r.headers["connection"], "keep-alive");
    }
}

#[test]
fn connection_close_is_honoured() {
    let addr = start(HttpLimits::default());
    let (r, mut s) = roundtrip(addr, b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["connection"], "close");
    assert!(closed(&mut s));
}

#[test]
fn head_request_gets_length_without_body() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    let mut buf = Vec::new();
    s.write_all(b"HEAD /ping HTTP/1.1\r\n\r\nGET /ping HTTP/1.1\r\n\r\n")
        .expect("write");
    let head = read_response(&mut s, &mut buf, true);
    assert_eq!(head.headers["content-length"], "12");
    let get = read_response(&mut s, &mut buf, false);
    assert_eq!(get.body, b"Get /ping  ");
    assert!(buf.is_empty());
}

#[test]
fn chunked_body_in_pieces() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    for piece in [
        &b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r"[..],
        b"\nhel",
        b"lo\r\n6;x=y\r\n wo",
        b"rld\r\n0\r\nT: 1\r\n\r\n",
    ] {
        s.write_all(piece).expect("write");
        s.flush().expect("flush");
        std::thread::yield_now();
    }
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.body, b"Post /w  hello world");
}

#[test]
fn bad_chunk_size_is_400_and_close() {
    let addr = start(HttpLimits::default());
    let (r, mut s) = roundtrip(
        addr,
        b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.headers["x-influxdb-error"], "malformed chunked encoding");
    assert!(closed(&mut s));
}

#[test]
fn expect_continue_before_body() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    s.write_all(b"POST /w HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    while buf.len() < cont.len() {
        fill(&mut s, &mut buf);
    }
    assert_eq!(&buf[..cont.len()], cont);
    buf.drain(..cont.len());
    s.write_all(b"body").expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!((r.status, r.body), (200, b"Post /w  body".to_vec()));
}

#[test]
fn expect_continue_not_sent_when_rejected() {
    let addr = start(HttpLimits::default());
    let (r, mut s) = roundtrip(
        addr,
        b"POST /reject HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    assert_eq!(
        r.status, 404,
        "the final answer comes first, no 100: {}",
        r.status_line
    );
    assert_eq!(
        r.body,
        b"{\"error\":\"database not found: \\\"nope\\\"\"}\n"
    );
    assert_eq!(
        r.headers["x-influxdb-error"],
        "database not found: \"nope\""
    );
    assert!(closed(&mut s));
}

#[test]
fn expect_continue_not_sent_when_body_already_there() {
    let addr = start(HttpLimits::default());
    let (r, _s) = roundtrip(
        addr,
        b"POST /w HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(r.status, 200, "{}", r.status_line);
    assert_eq!(r.body, b"Post /w  ok");
}

#[test]
fn early_reject_drains_small_body_and_keeps_connection() {
    let addr = start(HttpLimits::default());
    let mut s = connect(addr);
    let mut buf = Vec::new();
    s.write_all(b"POST /reject HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /a HTTP/1.1\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).status, 404);
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"Get /a  ");
}

#[test]
fn gzip_body_is_inflated() {
    let addr = start(HttpLimits::default());
    let gz = gzip(b"cpu value=1\n");
    let mut req = format!(
        "POST /w HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    req.extend_from_slice(&gz);
    let (r, _s) = roundtrip(addr, &req);
    assert_eq!(r.body, b"Post /w  cpu value=1\n");
}

#[test]
fn gzip_errors_are_400_with_go_text() {
    let addr = start(HttpLimits::default());
    let (r, mut s) = roundtrip(
        addr,
        b"POST /w HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body, b"{\"error\":\"gzip: invalid header\"}\n");
    let gz = gzip(&b"cpu value=1\n".repeat(100));
    let cut = &gz[..gz.len() / 2];
    let mut req = format!(
        "POST /w HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        cut.len()
    )
    .into_bytes();
    req.extend_from_slice(cut);
    s.write_all(&req).expect("write");
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(
        (r.status, r.headers["x-influxdb-error"].as_str()),
        (400, "unexpected EOF")
    );
}

fn small_body_limits() -> HttpLimits {
    HttpLimits {
        body_bytes_max: 1000,
        ..HttpLimits::default()
    }
}

#[test]
fn too_large_by_content_length() {
    let addr = start(small_body_limits());
    let (r, mut s) = roundtrip(
        addr,
        b"POST /w HTTP/1.1\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.body, b"{\"error\":\"Request Entity Too Large\"}\n");
    assert!(closed(&mut s));
    // Exactly at the limit is fine.
    let mut req = b"POST /w HTTP/1.1\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'a', 1000));
    assert_eq!(roundtrip(addr, &req).0.status, 200);
}

#[test]
fn too_large_when_streamed_or_inflated() {
    let addr = start(small_body_limits());
    let mut chunked = b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"190\r\n");
        chunked.extend(std::iter::repeat_n(b'x', 400));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (r, mut s) = roundtrip(addr, &chunked);
    assert_eq!(
        (r.status, r.headers["x-influxdb-error"].as_str()),
        (413, "Request Entity Too Large")
    );
    assert!(closed(&mut s));

    // 100 KB of zeros gzips to ~100 bytes: under the limit on the wire, over it inflated.
    let bomb = gzip(&vec![0u8; 100_000]);
    assert!(bomb.len() < 1000);
    let mut req = format!(
        "POST /w HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    req.extend_from_slice(&bomb);
    let (r, _s) = roundtrip(addr, &req);
    assert_eq!(
        (r.status, r.headers["x-influxdb-error"].as_str()),
        (413, "Request Entity Too Large")
    );
}

#[test]
fn malformed_and_oversized_heads() {
    let addr = start(HttpLimits {
        header_bytes_max: 1024,
        header_count_max: 8,
        ..HttpLimits::default()
    });
    let (r, mut s) = roundtrip(addr, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(closed(&mut s));
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
    assert_eq!(roundtrip(addr, big.as_bytes()).0.status, 431);
    let many: String = (0..9).map(|i| format!("H{i}: v\r\n")).collect();
    assert_eq!(
        roundtrip(addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes())
            .0
            .status,
        431
    );
    assert_eq!(
        roundtrip(addr, b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .0
            .status,
        400
    );
}

#[test]
fn slow_head_is_closed_by_the_header_timeout() {
    // Idle timeout far beyond the client's 5 s read timeout: only the header timeout can close.
    let addr = start(HttpLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(60),
        ..HttpLimits::default()
    });
    let mut s = connect(addr);
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: a\r\n")
        .expect("write");
    assert!(closed(&mut s));
    // Control: a connection that completes its head in time is not closed.
    let (r, mut s) = roundtrip(addr, b"GET /ping HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 200);
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    assert!(!closed(&mut s));
}

#[test]
fn idle_connection_is_closed_by_the_idle_timeout() {
    let addr = start(HttpLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_millis(200),
        ..HttpLimits::default()
    });
    let (r, mut s) = roundtrip(addr, b"GET /ping HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(closed(&mut s));
}

#[test]
fn large_bodies_arrive_whole() {
    let addr = start(HttpLimits::default());
    let data: Vec<u8> = (0..6_000_000u32)
        .map(|i| b"cpu value=1 \n"[(i % 13) as usize])
        .collect();
    let mut s = connect(addr);
    let mut buf = Vec::new();
    // Content-Length, several socket reads and more than one direct body read.
    let mut req =
        format!("POST /w HTTP/1.1\r\nContent-Length: {}\r\n\r\n", data.len()).into_bytes();
    req.extend_from_slice(&data);
    s.write_all(&req).expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.body.len(), "Post /w  ".len() + data.len());
    assert!(r.body.ends_with(&data));
    // Gzip inside chunked framing, on the same connection.
    let gz = gzip(&data);
    let mut req =
        b"POST /w HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
            .to_vec();
    for piece in gz.chunks(7777) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 200);
    assert!(r.body.ends_with(&data));
}
