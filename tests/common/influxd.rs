//! The real influxd (Debian's `influxdb`, 1.6.7) on ephemeral loopback ports with a temp dir:
//! the oracle of the differential tests.
#![allow(dead_code)]

use super::{read_response, HttpResponse};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Influxd {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn start_influxd() -> Influxd {
    start_influxd_with("")
}

/// influxd with extra lines in its `[http]` section (`auth-enabled = true`...). Its two ports
/// are free when chosen but may be taken before influxd binds them (other tests start servers
/// at the same time): an influxd that exits at start is started again on other ports.
pub fn start_influxd_with(http_extra: &str) -> Influxd {
    for _ in 0..4 {
        if let Some(influxd) = try_start_influxd(http_extra) {
            return influxd;
        }
    }
    panic!("influxd did not start");
}

fn try_start_influxd(http_extra: &str) -> Option<Influxd> {
    let dir = tempfile::tempdir().expect("temp dir");
    // Both held at once, so that they differ.
    let (http, rpc) = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        (
            a.local_addr().expect("addr").port(),
            b.local_addr().expect("addr").port(),
        )
    };
    let d = dir.path().display();
    let conf = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [monitor]\n  store-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{http}\"\n  log-enabled = false\n{http_extra}\n\
         [continuous_queries]\n  enabled = false\n"
    );
    let conf_path = dir.path().join("influxdb.conf");
    std::fs::File::create(&conf_path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .expect("write influxdb.conf");
    let child = Command::new("influxd")
        .arg("-config")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("influxd (Debian package influxdb; scripts/install-test-deps.sh installs it)");
    let addr: SocketAddr = format!("127.0.0.1:{http}").parse().expect("addr");
    let mut influxd = Influxd {
        addr,
        child,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(addr).is_ok() && raw(addr, "GET", "/ping", &[], b"").status == 204 {
            return Some(influxd);
        }
        if Instant::now() >= deadline || matches!(influxd.child.try_wait(), Ok(Some(_))) {
            // Dropping it stops it (if it still runs) and removes its directory.
            let _ = influxd.child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request on a fresh connection (`Connection: close`), any server.
pub fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(&[head.as_bytes(), body].concat())
        .expect("write");
    read_response(&mut s, false).unwrap_or_else(|e| panic!("{method} {target} to {addr}: {e}"))
}
