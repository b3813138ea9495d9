//! DELETE, DROP SERIES and DROP MEASUREMENT against the real influxd (1.6.7): the same data and
//! statements to both, then the statements' answers and every measurement's read-back must
//! agree. lineshard runs with 2 cores and the smallest memtable bound, so the data spans sealed
//! segment files and memtables (the test checks that files were sealed). Then, lineshard alone:
//! deletes stay deleted after kill -9 and restarts, and a dropped series frees its room under
//! `max-series-per-database`.
//!
//! Known, deliberate difference: 1.x prefixes `fields not supported in WHERE clause during
//! deletion` with the shard it met first (`shard 3: `); lineshard has no shards. The prefix is
//! stripped before comparing.

mod common;

use common::influxd::{raw, start_influxd};
use common::{urlencode, HttpResponse, Server};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const MEASUREMENTS: [&str; 3] = ["cpu", "mem", "disk"];
const RPS: [&str; 2] = ["autogen", "two"];
const HOSTS: usize = 16;

/// `n` points per series from `from` on, in (db, rp): cpu and mem with `host` and `region`,
/// disk with `host` only. Times are unique per measurement (the row order of `SELECT *` over
/// several series is by time).
fn body(from: usize, n: usize) -> String {
    let mut out = String::new();
    for i in from..from + n {
        for h in 0..HOSTS {
            let t = 1_600_000_000_000_000_000i64 + (i * 100 + h) as i64 * 1_000_000_000;
            let region = if h % 2 == 0 { "eu" } else { "us" };
            out.push_str(&format!(
                "cpu,host=h{h},region={region} usage={i}.25,n={i}i,ok=true {t}\n\
                 mem,host=h{h},region={region} free={}i {t}\n\
                 disk,host=h{h} used={i}.5,path=\"/d{h}\" {t}\n",
                i * 7
            ));
        }
    }
    out
}

/// Both servers: the same requests, one connection each.
struct Pair {
    influxd: SocketAddr,
    lineshard: Server,
}

fn q(stmt: &str) -> String {
    format!("/query?db=db&epoch=ns&q={}", urlencode(stmt))
}

fn json(r: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)))
}

/// The answer with 1.x's `shard N: ` prefix taken out of error texts.
fn normalized(v: serde_json::Value) -> serde_json::Value {
    let text = v.to_string();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("shard ") {
        let tail = &rest[at + 6..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && tail[digits..].starts_with(": ") {
            out.push_str(&rest[..at]);
            rest = &tail[digits + 2..];
        } else {
            out.push_str(&rest[..at + 6]);
            rest = tail;
        }
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap()
}

impl Pair {
    fn both(&self, method: &str, target: &str, body: &[u8]) -> (HttpResponse, HttpResponse) {
        let a = raw(self.influxd, method, target, &[], body);
        let b = raw(self.lineshard.addr, method, target, &[], body);
        (a, b)
    }

    /// The same statement to both: same status and same answer.
    fn same(&self, method: &str, stmt: &str) {
        let (a, b) = self.both(method, &q(stmt), b"");
        assert_eq!(
            a.status,
            b.status,
            "{method} {stmt}: {} / {}",
            a.text(),
            b.text()
        );
        assert_eq!(
            normalized(json(&a)),
            normalized(json(&b)),
            "{method} {stmt}: influxd / lineshard"
        );
    }

    /// The same write to both: same status and error text.
    fn same_write(&self, body: &str) {
        let (a, b) = self.both("POST", "/write?db=db", body.as_bytes());
        assert_eq!(a.status, b.status, "{body}: {} / {}", a.text(), b.text());
        if a.status != 204 {
            assert_eq!(a.error(), b.error(), "{body}");
        }
    }

    fn write(&self, rp: &str, body: &str) {
        let target = format!("/write?db=db&rp={rp}");
        let (a, b) = self.both("POST", &target, body.as_bytes());
        assert_eq!(
            (a.status, b.status),
            (204, 204),
            "{} / {}",
            a.text(),
            b.text()
        );
    }

    /// Every measurement of every retention policy reads back the same, and so do each
    /// series' newest and oldest rows (a scan that reads only a series' edge must apply the
    /// deletes first).
    fn same_data(&self, after: &str) {
        for rp in RPS {
            for m in MEASUREMENTS {
                for edge in ["ORDER BY time DESC LIMIT 1", "LIMIT 2"] {
                    let stmt = format!("SELECT * FROM \"{rp}\".\"{m}\" GROUP BY * {edge}");
                    let (a, b) = self.both("GET", &q(&stmt), b"");
                    assert_eq!(
                        without_partial(json(&a)),
                        without_partial(json(&b)),
                        "after {after}: {stmt}"
                    );
                }
                let stmt = format!("SELECT * FROM \"{rp}\".\"{m}\"");
                let (a, b) = self.both("GET", &q(&stmt), b"");
                assert_eq!((a.status, b.status), (200, 200), "{stmt}");
                let (a, b) = (without_partial(json(&a)), without_partial(json(&b)));
                if a != b {
                    let rows = |v: &serde_json::Value| {
                        v["results"][0]["series"][0]["values"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                    };
                    let (ra, rb) = (rows(&a), rows(&b));
                    let at = ra.iter().zip(&rb).position(|(x, y)| x != y);
                    let show = |r: &[serde_json::Value]| at.and_then(|i| r.get(i)).cloned();
                    panic!(
                        "after {after}: {stmt}: influxd has {} rows, lineshard {}; first \
                         difference at row {at:?}: {:?} / {:?}; columns {} / {}",
                        ra.len(),
                        rb.len(),
                        show(&ra),
                        show(&rb),
                        a["results"][0]["series"][0]["columns"],
                        b["results"][0]["series"][0]["columns"],
                    );
                }
            }
        }
    }
}

/// The answer without `"partial"` on its series: influxd 1.6.7 marks a series of more than
/// 10,000 rows partial even when the answer is not chunked (the read path's business, not the
/// deletes').
fn without_partial(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(series) = v["results"][0]["series"].as_array_mut() {
        for s in series {
            if let Some(o) = s.as_object_mut() {
                o.remove("partial");
            }
        }
    }
    v
}

fn segment_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for p in std::fs::read_dir(dir.join("partitions"))
        .into_iter()
        .flatten()
        .flatten()
    {
        n += std::fs::read_dir(p.path().join("segments"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .count();
    }
    n
}

fn small_memtable() -> tempfile::NamedTempFile {
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    conf
}

/// Waits (bounded) until the data dir holds at least `n` segment files.
fn wait_for_segments(s: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while segment_files(s.dir.path()) < n {
        assert!(Instant::now() < deadline, "no segment file was sealed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deletes_answer_and_read_back_like_influxd() {
    let influxd = start_influxd();
    let conf = small_memtable();
    let lineshard = Server::start(&["--cores", "2", "--config", conf.path().to_str().unwrap()]);
    let pair = Pair {
        influxd: influxd.addr,
        lineshard,
    };
    pair.same("POST", "CREATE DATABASE db");
    pair.same(
        "POST",
        "CREATE RETENTION POLICY two ON db DURATION INF REPLICATION 1",
    );
    // Enough for several seals per partition, then some that stays in the memtables.
    for k in 0..14 {
        for rp in RPS {
            pair.write(rp, &body(k * 120, 120));
        }
    }
    wait_for_segments(&pair.lineshard, 2);
    for rp in RPS {
        pair.write(rp, &body(1680, 20));
    }
    pair.same_data("the writes");
    let statements = [
        "DELETE FROM cpu WHERE host = 'h1'",
        "DELETE FROM cpu WHERE time >= '2020-09-13T12:30:00Z' AND time < '2020-09-13T14:00:00Z'",
        "DELETE FROM cpu WHERE time >= '2020-09-14T18:00:00Z' AND time <= '2020-09-14T22:00:00Z'",
        "DELETE FROM /^m/ WHERE region = 'us' AND time < '2020-09-13T13:00:00Z'",
        "DELETE WHERE host =~ /^h1[0-2]$/ OR (region <> 'eu' AND host != 'h3')",
        "DELETE FROM disk WHERE time > '2020-09-13T13:20:00Z' AND host = 'h2'",
        "DROP SERIES FROM disk WHERE host = 'h4'",
        "DROP SERIES WHERE host = 'h6' AND region = 'eu'",
        "DROP SERIES FROM cpu, mem WHERE host = 'h8'",
        "DELETE FROM nosuch",
        "DROP MEASUREMENT mem",
        "DROP MEASUREMENT nosuch",
    ];
    for stmt in statements {
        pair.same("POST", stmt);
        pair.same_data(stmt);
    }
    // Refused forms, and statements refused when they run.
    for stmt in [
        "DELETE",
        "DELETE FROM",
        "DELETE WHERE",
        "DROP SERIES",
        "DROP MEASUREMENT",
        "DELETE FROM two.cpu WHERE host = 'h0'",
        "DROP SERIES FROM db..cpu",
        "DELETE FROM cpu WHERE host = 'h0' LIMIT 1",
        "DROP SERIES FROM cpu WHERE time > 0",
        "DROP SERIES WHERE host = 'h0' AND time > 0",
        "DELETE FROM cpu WHERE usage = 1",
        "DELETE FROM cpu WHERE host = 1",
        "DELETE FROM cpu WHERE n::field = 'x'",
    ] {
        pair.same("POST", stmt);
    }
    pair.same_data("the refused statements");
    for stmt in ["DELETE FROM cpu", "DROP MEASUREMENT cpu"] {
        let target = format!("/query?q={}", urlencode(stmt));
        let (a, b) = pair.both("POST", &target, b"");
        assert_eq!(
            normalized(json(&a)),
            normalized(json(&b)),
            "{stmt} without db"
        );
    }
    // By GET: DELETE runs without a word, DROP SERIES / MEASUREMENT with 1.x's warning.
    pair.same("GET", "DELETE FROM cpu WHERE host = 'h9'");
    pair.same(
        "GET",
        "DROP SERIES FROM disk WHERE host = 'h10' OR (host = 'h11')",
    );
    pair.same("GET", "DROP MEASUREMENT \"no such\"");
    pair.same_data("the GET statements");
    // A dropped series written again is new data.
    let again = "cpu,host=h1,region=us usage=99.5,n=1i,ok=false 1600000000000000000\n\
                 mem,host=h3,region=us free=5i 1600000000000000001\n\
                 disk,host=h4 used=1.5,path=\"/x\" 1600000000000000002\n";
    pair.write("autogen", again);
    pair.write("two", again);
    pair.same_data("writing dropped series again");
    pair.same("POST", "DELETE WHERE time < '2020-09-13T13:00:00Z'");
    // DROP MEASUREMENT forgets its field types; DROP SERIES and DELETE keep them.
    pair.same_write("tm,a=b v=1 10");
    pair.same("POST", "DROP MEASUREMENT tm");
    pair.same_write("tm,a=b v=\"str\" 11");
    pair.same("POST", "DROP SERIES FROM tm");
    pair.same_write("tm,a=b v=true 12");
    pair.same("POST", "DELETE FROM tm");
    pair.same_write("tm,a=b v=5i 13");
    pair.same_write("tm,a=b v=\"again\" 14");
    pair.same_data("the last delete");
}

/// Rows of a read-back (every measurement, both retention policies).
fn all_rows(s: &Server) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for rp in RPS {
        for m in MEASUREMENTS {
            let stmt = format!("SELECT * FROM \"{rp}\".\"{m}\"");
            let r = s.request("GET", &q(&stmt), &[], b"");
            assert_eq!(r.status, 200, "{}", r.text());
            out.push(json(&r)["results"][0].clone());
        }
    }
    out
}

fn post(s: &Server, stmt: &str) -> serde_json::Value {
    let r = s.request("POST", &q(stmt), &[], b"");
    assert_eq!(r.status, 200, "{stmt}: {}", r.text());
    json(&r)["results"][0].clone()
}

fn restart(s: Server, args: &[&str]) -> Server {
    let mut s = s;
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    s.kill(); // SIGKILL: nothing is flushed on the way out
    Server::start_in(dir, args)
}

fn rows_of(v: &serde_json::Value) -> usize {
    v["series"][0]["values"].as_array().map_or(0, Vec::len)
}

#[test]
fn deletes_survive_kill_9_and_restarts() {
    let conf = small_memtable();
    let args = ["--cores", "2", "--config", conf.path().to_str().unwrap()];
    let s = Server::start(&args);
    s.create_db("db");
    assert_eq!(
        post(
            &s,
            "CREATE RETENTION POLICY two ON db DURATION INF REPLICATION 1"
        )["error"],
        serde_json::Value::Null
    );
    for k in 0..14 {
        for rp in RPS {
            let r = s.request(
                "POST",
                &format!("/write?db=db&rp={rp}"),
                &[],
                body(k * 120, 120).as_bytes(),
            );
            assert_eq!(r.status, 204, "{}", r.text());
        }
    }
    wait_for_segments(&s, 2);
    assert_eq!(s.write("db", &body(1680, 20)).status, 204);
    assert_eq!(s.write("db", "tm,a=b v=1 1").status, 204);
    let full = all_rows(&s);
    for stmt in [
        "DROP MEASUREMENT tm",
        "DELETE FROM cpu WHERE host = 'h1'",
        "DELETE WHERE region = 'us' AND time < '2020-09-13T13:00:00Z'",
        "DROP SERIES FROM disk WHERE host = 'h4'",
        "DROP MEASUREMENT mem",
    ] {
        assert_eq!(
            post(&s, stmt),
            serde_json::json!({"statement_id": 0}),
            "{stmt}"
        );
    }
    let deleted = all_rows(&s);
    assert_ne!(deleted, full);
    assert_eq!(rows_of(&deleted[1]), 0, "mem is dropped");
    assert!(rows_of(&deleted[0]) < rows_of(&full[0]));
    assert!(rows_of(&deleted[2]) > 0);
    // kill -9 right after the answers, then again after a quiet restart.
    let s = restart(s, &args);
    assert_eq!(all_rows(&s), deleted, "after kill -9");
    let s = restart(s, &args);
    assert_eq!(all_rows(&s), deleted, "after a second restart");
    // The dropped measurement's field types stay forgotten.
    let r = s.write("db", "tm,a=b v=\"text\" 2");
    assert_eq!(r.status, 204, "{}", r.text());
    // More writes seal over the deleted data; the deletes still hold and the new data stays.
    let again = "cpu,host=h1,region=eu usage=1.5,n=1i,ok=true 1700000000000000000\n\
                 mem,host=h0,region=eu free=1i 1700000000000000000\n";
    assert_eq!(s.write("db", again).status, 204);
    for k in 0..6 {
        assert_eq!(s.write("db", &body(2000 + k * 120, 120)).status, 204);
    }
    let later = all_rows(&s);
    let s = restart(s, &args);
    assert_eq!(all_rows(&s), later, "after writes, seals and kill -9");
    // The deleted points stay deleted under later seals; the points written after the
    // deletes (the same series, the dropped measurement) are there.
    let count = |stmt: &str| rows_of(&post(&s, stmt));
    let before = "time < 1600200000000000000";
    assert_eq!(
        count(&format!("SELECT * FROM cpu WHERE host = 'h1' AND {before}")),
        0
    );
    assert_eq!(count(&format!("SELECT * FROM mem WHERE {before}")), 0);
    assert_eq!(
        count(&format!(
            "SELECT * FROM disk WHERE host = 'h4' AND {before}"
        )),
        0
    );
    assert_eq!(
        count(&format!(
            "SELECT * FROM disk WHERE host = 'h5' AND {before}"
        )),
        1700
    );
    let new = "time >= 1700000000000000000";
    assert_eq!(
        count(&format!("SELECT * FROM cpu WHERE host = 'h1' AND {new}")),
        1
    );
    assert_eq!(count(&format!("SELECT * FROM mem WHERE {new}")), 1);
}

#[test]
fn a_dropped_series_frees_its_room_under_the_series_limit() {
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[data]\nmax-series-per-database = 3\n").unwrap();
    let args = ["--cores", "1", "--config", conf.path().to_str().unwrap()];
    let s = Server::start(&args);
    s.create_db("db");
    assert_eq!(
        s.write("db", "m,h=a v=1 1\nm,h=b v=1 1\nm,h=c v=1 1")
            .status,
        204
    );
    let r = s.write("db", "m,h=d v=1 1");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().contains("max-series-per-database limit exceeded"),
        "{}",
        r.error()
    );
    assert_eq!(
        post(&s, "DROP SERIES FROM m WHERE h = 'a'"),
        serde_json::json!({"statement_id": 0})
    );
    assert_eq!(s.write("db", "m,h=d v=1 1").status, 204);
    let r = s.write("db", "m,h=e v=1 1");
    assert_eq!(r.status, 400, "{}", r.text());
    // After a restart the dropped series is still not counted, the new one is.
    let s = restart(s, &args);
    let r = s.write("db", "m,h=e v=1 1");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        post(&s, "DROP MEASUREMENT m"),
        serde_json::json!({"statement_id": 0})
    );
    assert_eq!(
        s.write("db", "m,h=x v=1 1\nm,h=y v=1 1\nm,h=z v=1 1")
            .status,
        204
    );
}
