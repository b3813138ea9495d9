//! The same requests against lineshard and the real influxd (Debian's `influxdb`, 1.6.7):
//! status, error text and read-back must agree.
//!
//! Known, deliberate differences (lineshard follows 1.8+ where 1.6.7 differs):
//! - lineshard appends ` (line N)` to each parse error; it is stripped before comparing.
//! - 1.6.7 accepts any `precision` silently (as ns); 1.8 answers 400. Not compared here.
//! - 1.6.7 has no `/api/v2/write` and no `/health`. Not compared here.

mod common;

use common::{HttpResponse, Server};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Influxd {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_influxd() -> Influxd {
    let dir = tempfile::tempdir().unwrap();
    let (http, rpc) = (free_port(), free_port());
    let d = dir.path().display();
    let conf = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [monitor]\n  store-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n\
         [continuous_queries]\n  enabled = false\n"
    );
    let conf_path = dir.path().join("influxdb.conf");
    std::fs::File::create(&conf_path)
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let child = Command::new("influxd")
        .arg("-config")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("influxd (Debian package influxdb; scripts/install-test-deps.sh installs it)");
    let addr: SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(addr).is_ok() && raw(addr, "GET", "/ping", b"").status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "influxd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Influxd {
        child,
        addr,
        _dir: dir,
    }
}

fn raw(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(&[head.as_bytes(), body].concat()).unwrap();
    common::read_response(&mut s, false).unwrap()
}

/// Status and, for errors, the error text without lineshard's line numbers.
fn outcome(r: &HttpResponse) -> (u16, String) {
    if r.status == 204 {
        return (204, String::new());
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let text = match v.get("error").and_then(|e| e.as_str()) {
        Some(e) => strip_line_numbers(e),
        None => v.to_string(),
    };
    (r.status, text)
}

fn strip_line_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(" (line ") {
        let tail = &rest[at + 7..];
        match tail.find(')') {
            Some(end) if tail[..end].chars().all(|c| c.is_ascii_digit()) => {
                out.push_str(&rest[..at]);
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(&rest[..at + 7]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn q(s: &str) -> String {
    format!("/query?epoch=ns&q={}", common::urlencode(s))
}

#[test]
fn lineshard_answers_like_influxd() {
    let influxd = start_influxd();
    let lineshard = Server::start(&["--cores", "2"]);
    let cases: Vec<(&str, String, &[u8])> = vec![
        ("POST", "/write".into(), b"m v=1 1"),
        ("POST", "/write?db=nope".into(), b"m v=1 1"),
        ("POST", q("CREATE DATABASE db"), b""),
        ("POST", q("CREATE DATABASE db"), b""),
        ("POST", "/write?db=db".into(), b""),
        ("POST", "/write?db=db".into(), b"cpu,host=a,region=eu usage=1.5,n=3i,ok=true,s=\"x y\" 1000000000\ncpu,region=eu,host=b usage=2 1000000000\n"),
        ("POST", "/write?db=db".into(), b"cpu,host=a usage=7 2000000000\ncpu,host=a usage= 3000000000\n"),
        // Lines repeating the previous line's shape (the write path's schema memo), with a
        // type conflict in the middle of a run, a bool run, and an escaped key repeated.
        ("POST", "/write?db=db".into(), b"shp,h=a x=1i,y=2.5 1\nshp,h=b x=2i,y=3.5 1\nshp,h=a x=3i,y=4 2\nshp,h=b x=4i,y=5i 2\nshp,h=a x=5i,y=6 3\nshp,h=a x=6i,b=true 4\nshp,h=b x=7i,b=false 5\nshp,h=d e\\ k=1i 6\nshp,h=d e\\ k=2i 7\n"),
        ("GET", q("SELECT * FROM shp").replace("/query?", "/query?db=db&"), b""),
        ("POST", "/write?db=db".into(), b"bad\nalso bad here\n"),
        ("POST", "/write?db=db".into(), b"cpu,host=c usage=1i 4000000000\n"),
        ("POST", "/write?db=db&rp=nope".into(), b"cpu v=1 1"),
        ("POST", "/write?db=db".into(), b"cpu,time=x usage=1 1\n"),
        ("POST", "/write?db=db".into(), b"cpu,a=1,a=2 usage=1 1\n"),
        ("POST", "/write?db=db".into(), b"cpu usage=9223372036854775808i 1\n"),
        ("POST", "/write?db=db".into(), b"cpu usage=1 1\r\n"),
        ("POST", "/write?db=db&precision=s".into(), b"esc\\ m,t\\,k=v\\=x f\\ k=\"q\\\"s\" 5\n"),
        ("GET", q("SHOW DATABASES"), b""),
        ("GET", q("SELECT * FROM cpu").replace("/query?", "/query?db=db&"), b""),
        ("GET", q("SELECT usage FROM cpu WHERE time >= 1500000000").replace("/query?", "/query?db=db&"), b""),
        ("GET", q("SELECT * FROM \"esc m\"").replace("/query?", "/query?db=db&"), b""),
        ("POST", q("DROP DATABASE db"), b""),
        ("GET", q("SHOW DATABASES"), b""),
    ];
    let mut diffs = Vec::new();
    for (method, target, body) in &cases {
        let a = outcome(&raw(influxd.addr, method, target, body));
        let b = outcome(&raw(lineshard.addr, method, target, body));
        if a != b {
            diffs.push(format!(
                "{method} {target} {:?}\n  influxd:   {a:?}\n  lineshard: {b:?}",
                String::from_utf8_lossy(body)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}

#[test]
fn python_client_library_writes_and_reads() {
    // python3-influxdb from Debian: a real client library, unchanged.
    let s = Server::start(&["--cores", "2"]);
    let script = format!(
        r#"
from influxdb import InfluxDBClient
c = InfluxDBClient(host='127.0.0.1', port={port}, database='py')
c.create_database('py')
assert {{'name': 'py'}} in c.get_list_database(), c.get_list_database()
pts = [{{"measurement": "cpu", "tags": {{"host": "h%d" % i}}, "time": 1000 + i, "fields": {{"v": float(i), "n": i}}}} for i in range(50)]
assert c.write_points(pts, time_precision='s')
rs = list(c.query('SELECT * FROM cpu', epoch='s').get_points())
assert len(rs) == 50, rs
assert rs[0]['time'] == 1000 and rs[0]['host'] == 'h0' and rs[0]['n'] == 0, rs[0]
try:
    c.write_points([{{"measurement": "cpu", "tags": {{"host": "h1"}}, "fields": {{"v": "text"}}}}])
    raise SystemExit("a type conflict was accepted")
except Exception as e:
    assert 'field type conflict' in str(e), e
print("ok")
"#,
        port = s.addr.port()
    );
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn influx_cli_creates_inserts_and_selects() {
    let s = Server::start(&["--cores", "1"]);
    let port = s.addr.port().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("influx")
            .args(["-host", "127.0.0.1", "-port", &port])
            .args(args)
            .output()
            .expect("influx CLI (Debian package influxdb-client)");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["-execute", "CREATE DATABASE cli"]);
    run(&[
        "-database",
        "cli",
        "-execute",
        "INSERT weather,city=paris temp=21.5 1700000000000000000",
    ]);
    let out = run(&[
        "-database",
        "cli",
        "-format",
        "csv",
        "-precision",
        "rfc3339",
        "-execute",
        "SELECT * FROM weather",
    ]);
    assert!(
        out.contains("weather,2023-11-14T22:13:20Z,paris,21.5"),
        "{out}"
    );
}
