//! Crash consistency: a real server under real load, `kill -9` at random moments, restart, and
//! every acknowledged point must be readable, with nothing unacknowledged that is corrupt.
//!
//! CI-sized (`CRASH_KILLS`, default 20 kills); `scripts/crash-test.sh` runs the long version.

mod common;

use common::{read_response, Server};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LINES_PER_REQUEST: u64 = 200;

/// Point `seq`: series `s<seq % 37>`, time `seq` (s), value `seq * 3`: a read-back row whose value is
/// not 3 × its time is corrupt.
fn body(first: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for seq in first..first + LINES_PER_REQUEST {
        writeln!(
            b,
            "m,s=s{} v={}i,note=\"x{}\" {}",
            seq % 37,
            seq * 3,
            seq,
            seq
        )
        .unwrap();
    }
    b
}

/// Writes consecutive requests until the server goes away or `stop` is set; returns the first
/// seq of every acknowledged request.
fn writer(addr: SocketAddr, mut next: u64, stop: Arc<AtomicBool>) -> (Vec<u64>, u64) {
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    'outer: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            break;
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        for _ in 0..50 {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            let b = body(next);
            let head = format!("POST /write?db=crash&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", b.len());
            if s.write_all(head.as_bytes())
                .and_then(|_| s.write_all(&b))
                .is_err()
            {
                break 'outer;
            }
            match read_response(&mut s, false) {
                Ok(r) if r.status == 204 => acked.push(next),
                Ok(r) => panic!("write answered {}: {}", r.status, r.text()),
                Err(_) => break 'outer,
            }
            next += LINES_PER_REQUEST;
        }
    }
    (acked, next)
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_point() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test: {kills} kills, seed {seed}");
    let mut rng = Rng(seed);
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked_all: Vec<u64> = Vec::new();
    // Each round writes a fresh range of seqs, so a point can only come from its own request.
    let mut next: u64 = 1;
    for round in 0..kills {
        let cores = if round % 3 == 2 { "1" } else { "2" };
        let mut s = Server::start_in(dir, &["--cores", cores]);
        let r = s.request("POST", "/query?q=CREATE+DATABASE+crash", &[], b"");
        assert_eq!(r.status, 200);
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, stop2, start) = (s.addr, stop.clone(), next);
        let w = std::thread::spawn(move || writer(addr, start, stop2));
        std::thread::sleep(Duration::from_millis(20 + rng.below(300)));
        s.kill(); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        let (acked, end) = w.join().unwrap();
        acked_all.extend(acked);
        next = end + LINES_PER_REQUEST * 10;
        dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    }
    assert!(
        !acked_all.is_empty(),
        "no write was acknowledged in {kills} rounds"
    );
    let s = Server::start_in(dir, &["--cores", "2"]);
    let target = format!(
        "/query?db=crash&epoch=s&q={}",
        common::urlencode("SELECT v, note FROM m")
    );
    let r = s.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let mut stored: HashMap<u64, i64> = HashMap::new();
    if let Some(values) = v["results"][0]["series"][0]["values"].as_array() {
        for row in values {
            let t = row[0].as_u64().unwrap();
            let val = row[1].as_i64().unwrap_or(-1);
            let note = row[2].as_str().unwrap_or("");
            assert_eq!(val, t as i64 * 3, "corrupt row at time {t}: {row}");
            assert_eq!(note, format!("x{t}"), "corrupt row at time {t}: {row}");
            stored.insert(t, val);
        }
    }
    let mut missing = 0;
    for first in &acked_all {
        for seq in *first..*first + LINES_PER_REQUEST {
            if !stored.contains_key(&seq) {
                missing += 1;
            }
        }
    }
    let acked_points = acked_all.len() as u64 * LINES_PER_REQUEST;
    eprintln!(
        "crash test: {acked_points} acknowledged points, {} stored, {missing} missing",
        stored.len()
    );
    assert_eq!(
        missing, 0,
        "{missing} of {acked_points} acknowledged points are missing after {kills} kill -9"
    );
}
