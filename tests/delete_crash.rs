//! Deletes under load and `kill -9`: a real server with a 1 MiB memtable bound (seals all the
//! time), a writer, a `DELETE` of one series' past sent at a random moment, and a kill -9 at
//! another. After every restart: nothing an acknowledged delete covers is readable (in sealed
//! files, in files sealed after it, in replayed WALs), every other acknowledged point is, and no
//! row is corrupt.

mod common;

use common::{read_response, Server};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LINES: u64 = 5_000;
const SERIES: u64 = 37;

/// Point `seq`: series `s<seq % 37>`, time `seq` (s), value `seq * 3`.
fn body(first: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for seq in first..first + LINES {
        writeln!(b, "m,s=s{} v={}i {}", seq % SERIES, seq * 3, seq).unwrap();
    }
    b
}

/// Writes consecutive requests until the server goes away or `stop` is set. `acked_upto` is
/// the seq after the last acknowledged request (requests are acknowledged in order).
fn writer(
    addr: SocketAddr,
    mut next: u64,
    stop: Arc<AtomicBool>,
    acked_upto: Arc<AtomicU64>,
) -> (Vec<u64>, u64) {
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (acked, next);
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let b = body(next);
        let head = format!(
            "POST /write?db=db&precision=s HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            b.len()
        );
        if s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(&b))
            .is_err()
        {
            break;
        }
        match read_response(&mut s, false) {
            Ok(r) if r.status == 204 => {
                acked.push(next);
                acked_upto.store(next + LINES, Ordering::SeqCst);
            }
            Ok(r) => panic!("write answered {}: {}", r.status, r.text()),
            Err(_) => break,
        }
        next += LINES;
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

/// An acknowledged delete: series `s<series>`, times before `before` (s).
#[derive(Clone, Copy)]
struct Deleted {
    series: u64,
    before: u64,
}

fn covered(deletes: &[Deleted], seq: u64) -> bool {
    deletes
        .iter()
        .any(|d| seq % SERIES == d.series && seq < d.before)
}

/// Every stored row (time -> value), checked for corruption.
fn stored(s: &Server, next: u64) -> HashMap<u64, i64> {
    let mut out = HashMap::new();
    let window = 200_000u64;
    for from in (0..next).step_by(window as usize) {
        let q = format!(
            "SELECT v FROM m WHERE time >= {from}s AND time < {}s",
            from + window
        );
        let target = format!("/query?db=db&epoch=s&q={}", common::urlencode(&q));
        let r = s.request("GET", &target, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for row in v["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let t = row[0].as_u64().unwrap();
            let val = row[1].as_i64().unwrap_or(-1);
            assert_eq!(val, t as i64 * 3, "corrupt row at time {t}: {row}");
            assert!(out.insert(t, val).is_none(), "time {t} read twice");
        }
    }
    out
}

#[test]
fn deletes_hold_under_load_and_kill_9() {
    let rounds: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("delete crash test: {rounds} rounds, seed {seed}");
    let mut rng = Rng(seed);
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let conf_path = conf.path().to_str().unwrap().to_string();
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked_all: Vec<u64> = Vec::new();
    let mut deletes: Vec<Deleted> = Vec::new();
    let mut next: u64 = 1;
    let mut deletes_sent = 0;
    for round in 0..rounds {
        let cores = if round % 3 == 2 { "1" } else { "2" };
        let mut s = Server::start_in(dir, &["--cores", cores, "--config", &conf_path]);
        let r = s.request("POST", "/query?q=CREATE+DATABASE+db", &[], b"");
        assert_eq!(r.status, 200);
        // What earlier rounds left must hold after this restart.
        let got = stored(&s, next);
        for t in got.keys() {
            assert!(
                !covered(&deletes, *t),
                "round {round}: deleted time {t} is back"
            );
        }
        for first in &acked_all {
            for seq in *first..*first + LINES {
                assert!(
                    covered(&deletes, seq) || got.contains_key(&seq),
                    "round {round}: acknowledged time {seq} is missing"
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acked_upto = Arc::new(AtomicU64::new(next));
        let (addr, stop2, upto2, start) = (s.addr, stop.clone(), acked_upto.clone(), next);
        let w = std::thread::spawn(move || writer(addr, start, stop2, upto2));
        std::thread::sleep(Duration::from_millis(200 + rng.below(1000)));
        // Everything before `before` was acknowledged: the delete covers no write in flight.
        let d = Deleted {
            series: rng.below(SERIES),
            before: acked_upto.load(Ordering::SeqCst),
        };
        let q = format!(
            "DELETE FROM m WHERE s = 's{}' AND time < {}s",
            d.series, d.before
        );
        let target = format!("/query?db=db&q={}", common::urlencode(&q));
        let kill_early = rng.below(4) == 0;
        if !kill_early {
            let r = s.request("POST", &target, &[], b"");
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(
                r.text().trim_end(),
                "{\"results\":[{\"statement_id\":0}]}",
                "{q}"
            );
            deletes.push(d);
            deletes_sent += 1;
            std::thread::sleep(Duration::from_millis(rng.below(800)));
        }
        s.kill(); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        let (acked, end) = w.join().unwrap();
        acked_all.extend(acked);
        next = end + LINES * 10;
        dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    }
    assert!(deletes_sent > 0, "no delete was sent in {rounds} rounds");
    let s = Server::start_in(dir, &["--cores", "2", "--config", &conf_path]);
    let got = stored(&s, next);
    let mut deleted_points = 0;
    for first in &acked_all {
        for seq in *first..*first + LINES {
            if covered(&deletes, seq) {
                deleted_points += 1;
                assert!(!got.contains_key(&seq), "deleted time {seq} is back");
            } else {
                assert!(got.contains_key(&seq), "acknowledged time {seq} is missing");
            }
        }
    }
    eprintln!(
        "delete crash test: {} acknowledged points, {deleted_points} deleted, {} stored",
        acked_all.len() as u64 * LINES,
        got.len()
    );
    assert!(
        deleted_points > 0,
        "the deletes covered no acknowledged point"
    );
    let mut segments = 0;
    let mut tombstones = 0;
    for p in std::fs::read_dir(s.dir.path().join("partitions"))
        .unwrap()
        .flatten()
    {
        segments += std::fs::read_dir(p.path().join("segments")).map_or(0, |d| d.count());
        tombstones += usize::from(p.path().join("tombstones").exists());
    }
    eprintln!("delete crash test: {segments} segment files, {tombstones} tombstone files");
    assert!(
        segments > 0,
        "nothing was sealed: the test misses its point"
    );
}
