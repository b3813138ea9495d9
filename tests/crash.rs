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
fn body(first: u64, lines: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for seq in first..first + lines {
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

/// Writes consecutive requests (seqs below `end`), `per_conn` on each connection, until the
/// server goes away or `stop` is set; returns the first seq of every acknowledged request.
fn writer(
    addr: SocketAddr,
    mut next: u64,
    end: u64,
    lines: u64,
    per_conn: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<u64>, u64) {
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    'outer: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            break;
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        for _ in 0..per_conn {
            if stop.load(Ordering::Relaxed) || next + lines > end {
                break 'outer;
            }
            let b = body(next, lines);
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
            next += lines;
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

/// How a crash run loads the server.
struct Load {
    /// Lines per request.
    lines: u64,
    /// Extra server arguments besides `--cores`.
    args: Vec<String>,
    /// Longest run before a kill, in ms.
    run_ms_max: u64,
    /// Concurrent writers, each on its own range of seqs.
    writers: u64,
    /// Requests per connection (1: a new connection for every request).
    per_conn: usize,
}

/// Seqs a writer may use in one round.
const WRITER_SEQS: u64 = 200_000;

/// `kills` rounds of: start the server on the same data dir (2 or 1 cores), write consecutive
/// requests, kill -9 at a random moment. Then every acknowledged point must be readable and no
/// stored row corrupt. Calls `after_kill` with the data dir after every kill. Returns the
/// server left running, the first seq of every acknowledged request, and the rows stored.
fn crash_rounds(
    kills: usize,
    load: &Load,
    mut after_kill: impl FnMut(&std::path::Path),
) -> (Server, Vec<u64>, usize) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!(
        "crash test: {kills} kills, {} lines a request, seed {seed}",
        load.lines
    );
    let mut rng = Rng(seed);
    let mut dir = tempfile::tempdir().unwrap();
    let mut acked_all: Vec<u64> = Vec::new();
    // Each round writes a fresh range of seqs, so a point can only come from its own request.
    let mut next: u64 = 1;
    let args = |cores| {
        let mut args = vec!["--cores", cores];
        args.extend(load.args.iter().map(String::as_str));
        args
    };
    for round in 0..kills {
        let cores = if round % 3 == 2 { "1" } else { "2" };
        let mut s = Server::start_in(dir, &args(cores));
        let r = s.request("POST", "/query?q=CREATE+DATABASE+crash", &[], b"");
        assert_eq!(r.status, 200);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..load.writers)
            .map(|w| {
                let (addr, stop2, lines, per_conn) =
                    (s.addr, stop.clone(), load.lines, load.per_conn);
                let start = next + w * WRITER_SEQS;
                let end = start + WRITER_SEQS;
                std::thread::spawn(move || writer(addr, start, end, lines, per_conn, stop2))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.below(load.run_ms_max)));
        s.kill(); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        let mut last = next;
        for w in writers {
            let (acked, end) = w.join().unwrap();
            acked_all.extend(acked);
            last = last.max(end);
        }
        after_kill(s.dir.path());
        next = last.max(next + load.writers * WRITER_SEQS) + load.lines * 10;
        dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    }
    assert!(
        !acked_all.is_empty(),
        "no write was acknowledged in {kills} rounds"
    );
    let s = Server::start_in(dir, &args("2"));
    // Read back in windows of time (= seq), so no answer grows with the number of kills.
    let mut stored: HashMap<u64, i64> = HashMap::new();
    let window = (load.writers * WRITER_SEQS).max(250_000);
    for from in (0..next).step_by(window as usize) {
        let q = format!(
            "SELECT v, note FROM m WHERE time >= {from}s AND time < {}s",
            from + window
        );
        let target = format!("/query?db=crash&epoch=s&q={}", common::urlencode(&q));
        let r = s.request("GET", &target, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        if let Some(values) = v["results"][0]["series"][0]["values"].as_array() {
            for row in values {
                let t = row[0].as_u64().unwrap();
                let val = row[1].as_i64().unwrap_or(-1);
                let note = row[2].as_str().unwrap_or("");
                assert_eq!(val, t as i64 * 3, "corrupt row at time {t}: {row}");
                assert_eq!(note, format!("x{t}"), "corrupt row at time {t}: {row}");
                assert!(stored.insert(t, val).is_none(), "time {t} read twice");
            }
        }
    }
    let mut missing = 0;
    for first in &acked_all {
        for seq in *first..*first + load.lines {
            if !stored.contains_key(&seq) {
                missing += 1;
            }
        }
    }
    let acked_points = acked_all.len() as u64 * load.lines;
    eprintln!(
        "crash test: {acked_points} acknowledged points, {} stored, {missing} missing",
        stored.len()
    );
    assert_eq!(
        missing, 0,
        "{missing} of {acked_points} acknowledged points are missing after {kills} kill -9"
    );
    (s, acked_all, stored.len())
}

fn kills() -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_point() {
    let load = Load {
        lines: LINES_PER_REQUEST,
        args: Vec::new(),
        run_ms_max: 300,
        writers: 1,
        per_conn: 50,
    };
    crash_rounds(kills(), &load, |_| {});
}

#[test]
fn kill_9_under_many_small_requests_on_new_connections() {
    // 16 writers, 5 lines a request and a new connection for every request, on 2 cores (1 every
    // third round): requests meet in the WAL's group commit and on both cores' partitions, many
    // while a sync is in flight. A 204 means the request's fdatasync completed: none may be lost.
    let load = Load {
        lines: 5,
        args: Vec::new(),
        run_ms_max: 400,
        writers: 16,
        per_conn: 1,
    };
    crash_rounds(kills(), &load, |_| {});
}

#[test]
fn kill_9_with_export_exports_every_acknowledged_point_once() {
    // Export on, 1 MiB memtables (a seal, and an export, every few requests), max-age 1s: kills
    // land in seals, in Parquet writes and renames, and between a seal and its WAL's truncation.
    // After the last restart DuckDB must read every acknowledged point, each (series, time)
    // once, and exactly the rows the server stores.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let conf = tmp.path().join("lineshard.toml");
    std::fs::write(
        &conf,
        format!(
            "[data]\nmemtable-max-bytes = 1048576\n[export]\npath = {:?}\nmax-age = \"1s\"\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let load = Load {
        lines: 5_000,
        args: vec!["--config".into(), conf.to_str().unwrap().into()],
        run_ms_max: 1500,
        writers: 1,
        per_conn: 50,
    };
    let (_server, acked, stored) = crash_rounds(kills(), &load, |_| {});
    common::wait_exported_rows(&out, stored as i64);
    let acked_file = tmp.path().join("acked.json");
    std::fs::write(&acked_file, serde_json::to_vec(&acked).unwrap()).unwrap();
    let check = r#"
import duckdb, json, sys
out, acked, lines = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
rows = duckdb.connect().execute(
    f"select s, epoch(time)::bigint, v from read_parquet('{out}/**/*.parquet')").fetchall()
keys = set((s, t) for s, t, _ in rows)
times = set(t for _, t, _ in rows)
corrupt = sum(1 for _, t, v in rows if v != 3 * t)
missing = sum(1 for a in acked for t in range(a, a + lines) if t not in times)
print(json.dumps({"rows": len(rows), "distinct": len(keys), "corrupt": corrupt, "missing": missing}))
"#;
    let r = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            check,
            out.to_str().unwrap(),
            acked_file.to_str().unwrap(),
        ])
        .arg(load.lines.to_string())
        .output()
        .expect("python3 with duckdb (scripts/install-test-deps.sh)");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    eprintln!(
        "crash test with export: {v} ({} acknowledged points)",
        acked.len() as u64 * load.lines
    );
    assert_eq!(
        v["rows"], stored,
        "DuckDB rows against rows the server stores"
    );
    assert_eq!(v["distinct"], v["rows"], "a (series, time) exported twice");
    assert_eq!(
        v["missing"], 0,
        "acknowledged points missing from the export"
    );
    assert_eq!(v["corrupt"], 0);
}

#[test]
fn kill_9_while_sealing_onto_recycled_wal_segments() {
    // A 1 MiB memtable bound and ~1 MB requests: seals all the time, each deleting WAL segments
    // of a MiB or more, which become the spare that the next rotation writes over (old records
    // after the new header). Kills land in appends to such files, in seals and in rotations.
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let load = Load {
        lines: 5_000,
        args: vec!["--config".into(), conf.path().to_str().unwrap().into()],
        run_ms_max: 800,
        writers: 1,
        per_conn: 50,
    };
    let mut spares = 0;
    crash_rounds(kills(), &load, |dir| {
        for p in std::fs::read_dir(dir.join("partitions"))
            .into_iter()
            .flatten()
            .flatten()
        {
            spares += usize::from(p.path().join("wal").join("spare.tmp").exists());
        }
    });
    eprintln!("crash test: a spare WAL segment was on disk at {spares} kills");
    assert!(
        spares > 0,
        "no WAL segment was ever recycled: the test misses its point"
    );
}

#[test]
fn kill_9_while_compacting() {
    // 1 MiB memtables seal all the time and every file is small, so a compaction of two or more
    // files follows nearly every seal: kills land in merges, temp-file writes, renames and the
    // deletion of inputs. Nothing acknowledged may be lost, nothing read twice.
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        conf.path(),
        "[data]\nmemtable-max-bytes = 1048576\ncompact-min-files = 2\ncompact-small-file-bytes = 1073741824\n",
    )
    .unwrap();
    let load = Load {
        lines: 5_000,
        args: vec!["--config".into(), conf.path().to_str().unwrap().into()],
        run_ms_max: 1500,
        writers: 1,
        per_conn: 50,
    };
    let (mut compacted, mut leftovers) = (0, 0);
    crash_rounds(kills(), &load, |dir| {
        for p in std::fs::read_dir(dir.join("partitions"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in std::fs::read_dir(p.path().join("segments"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                compacted += usize::from(name.contains('-') && name.ends_with(".seg"));
                leftovers += usize::from(name.contains('-') && name.ends_with(".tmp"));
            }
        }
    });
    eprintln!(
        "crash test: {compacted} compacted files and {leftovers} compaction temp files seen at kills"
    );
    assert!(
        compacted > 0,
        "no compaction ever ran: the test misses its point"
    );
}
