//! A real `lineshard` process on an ephemeral loopback port with a temp data dir.
#![allow(dead_code)]

pub mod influxd;
pub mod oracle;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub addr: SocketAddr,
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server (`--bind 127.0.0.1:0`) and waits for its readiness line and `/ping`.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lineshard"))
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lineshard");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "lineshard exited before it listened");
            if let Some(rest) = line.strip_prefix("lineshard listening on ") {
                let a = rest.split_whitespace().next().expect("address");
                break a.parse::<SocketAddr>().expect("socket address");
            }
            assert!(Instant::now() < deadline, "no readiness line");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let server = Server { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.request("GET", "/ping", &[], b"").status != 204 {
            assert!(Instant::now() < deadline, "/ping never answered 204");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        s
    }

    /// One request on a fresh connection (`Connection: close`).
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut s = self.connect();
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        s.write_all(&bytes).expect("write");
        read_response(&mut s, method == "HEAD").expect("response")
    }

    pub fn write(&self, db: &str, body: &str) -> HttpResponse {
        self.request("POST", &format!("/write?db={db}"), &[], body.as_bytes())
    }

    pub fn query(&self, q: &str) -> serde_json::Value {
        let target = format!("/query?epoch=ns&q={}", urlencode(q));
        let r = self.request("POST", &target, &[], b"");
        assert_eq!(r.status, 200, "query {q}: {}", r.text());
        serde_json::from_slice(&r.body).expect("json")
    }

    /// `CREATE DATABASE db`, which must succeed.
    pub fn create_db(&self, db: &str) {
        let r = self.request("POST", &format!("/query?q=CREATE+DATABASE+{db}"), &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn error(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("json error body");
        v["error"].as_str().expect("error key").to_string()
    }
}

/// Reads one response (Content-Length framed or to EOF) from a stream.
pub fn read_response(s: &mut impl Read, head_only: bool) -> std::io::Result<HttpResponse> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "eof in head",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    if status == 100 {
        return Ok(HttpResponse {
            status,
            headers,
            body,
        });
    }
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if !head_only && status != 204 && status != 304 && chunked {
        body = read_chunked(s)?;
    } else if !head_only && status != 204 && status != 304 {
        match len {
            Some(n) => {
                body.resize(n, 0);
                s.read_exact(&mut body)?;
            }
            None => {
                s.read_to_end(&mut body)?;
            }
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn read_line(s: &mut impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "eof in chunk",
            ));
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_chunked(s: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(s)?;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            while !read_line(s)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        s.read_exact(&mut body[start..])?;
        read_line(s)?;
    }
}

/// Rows in the Parquet files under `out` (from their footers).
pub fn exported_rows(out: &std::path::Path) -> i64 {
    use parquet::file::reader::FileReader;
    let mut n = 0;
    let mut dirs = vec![out.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                let f = std::fs::File::open(&path).expect("open a Parquet file");
                let r =
                    parquet::file::reader::SerializedFileReader::new(f).expect("Parquet footer");
                n += r.metadata().file_metadata().num_rows();
            }
        }
    }
    n
}

/// Waits (at most 90 s) until exactly `rows` rows are exported under `out`; fails otherwise.
pub fn wait_exported_rows(out: &std::path::Path, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n = exported_rows(out);
        if n == rows {
            return;
        }
        assert!(n < rows, "{n} rows exported, more than the {rows} stored");
        assert!(
            Instant::now() < deadline,
            "only {n} of {rows} rows exported after 90 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
