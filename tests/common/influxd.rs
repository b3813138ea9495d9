//! A real influxd 1.6.7 (Debian's `influxdb`) on ephemeral loopback ports, for differential tests.
#![allow(dead_code)]

use super::HttpResponse;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Influxd {
    child: Child,
    pub addr: SocketAddr,
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
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_influxd() -> Influxd {
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

pub fn raw(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(&[head.as_bytes(), body].concat()).unwrap();
    super::read_response(&mut s, false)
        .unwrap_or_else(|e| panic!("{method} {target} to {addr}: {e}"))
}
