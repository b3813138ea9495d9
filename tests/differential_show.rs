//! The SHOW statements against lineshard and the real influxd 1.6.7: the same data written to
//! both (two databases, two retention policies, several measurements, sparse tags, escaped
//! names; enough data that lineshard seals segments, then more series in its memtables; many
//! connections, so series land on both cores), then the same statements, answers compared as
//! JSON. Also: the answers after a clean restart and after kill -9, and SHOW QUERIES.

mod common;

use common::influxd::start_influxd;
use common::{urlencode, Server};
use std::net::SocketAddr;

const SETUP: &[&str] = &[
    "CREATE DATABASE db",
    "CREATE DATABASE db2",
    "CREATE RETENTION POLICY rp2 ON db DURATION 0s REPLICATION 1",
];

/// (target, body) writes; each on its own connection.
fn writes() -> Vec<(String, String)> {
    let mut out = vec![
        (
            "/write?db=db".to_string(),
            "cpu,host=a,region=x v=1 1\ncpu,host=b v=2 2\ncpu,region=y v=3 3\n\
             mem,host=a f=1i,s=\"x\" 3\nm\\ 1,k\\=y=v\\,1,t\\ x=a\\ b v=1 4\nnotags v=1 5\n\
             we\\,ird,ta\\ g=x\\=y b=true 6\n"
                .to_string(),
        ),
        (
            "/write?db=db&rp=rp2".to_string(),
            "cpu,host=c,zone=q v=1 1\nrponly,k=v v=1 1\n".to_string(),
        ),
        ("/write?db=db2".to_string(), "other,k=v v=1 1\n".to_string()),
    ];
    // Enough points that lineshard (1 MiB memtables) seals segment files on both cores.
    for chunk in 0..12 {
        let mut body = String::new();
        for i in chunk * 5000..(chunk + 1) * 5000 {
            body += &format!(
                "fill,s=s{},g=g{} v={i}i,w=0.5 {}\n",
                i % 300,
                i % 7,
                1000 + i
            );
        }
        out.push(("/write?db=db".to_string(), body));
    }
    // Then series that stay in the memtables, some of known measurements.
    let mut body = String::new();
    for i in 0..40 {
        body += &format!("cpu,host=h{i},region=r{} v={i} 100\n", i % 3);
        body += &format!("disk,dev=d{i} used={i}i 100\n");
    }
    out.push(("/write?db=db".to_string(), body));
    out.push((
        "/write?db=db&rp=rp2".to_string(),
        "cpu,host=a,region=x v=9 9\nmem,host=z g=2 9\n".to_string(),
    ));
    // Points in later shard groups (1.x's 7-day groups start on Mondays: 1970-01-05, -12...),
    // for SHOW SERIES with a time range. (A series in two shard groups is left out: 1.6.7's
    // exact cardinalities count it once per group.)
    out.push((
        "/write?db=db".to_string(),
        "cpu,host=monday v=1 345600000000000\ncpu,host=late,region=x v=2 950400000000000\n\
         wk,k=v v=1 1296000000000000\n"
            .to_string(),
    ));
    out
}

const QUERIES: &[(&str, &str)] = &[
    ("db", "SHOW MEASUREMENTS"),
    ("db", "SHOW measurements"),
    ("db", "SHOW MEASUREMENTS LIMIT 100"),
    ("db", "SHOW MEASUREMENTS LIMIT 2 OFFSET 1"),
    ("db", "SHOW MEASUREMENTS OFFSET 3"),
    ("", "SHOW MEASUREMENTS ON db2"),
    (
        "",
        "SHOW MEASUREMENTS ON \"db\" WITH MEASUREMENT =~ /m/ LIMIT 100",
    ),
    (
        "db",
        "SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)CP/ LIMIT 100",
    ),
    ("db", "SHOW MEASUREMENTS WITH MEASUREMENT = cpu"),
    ("db", "SHOW MEASUREMENTS WITH MEASUREMENT = \"m 1\""),
    ("db", "SHOW MEASUREMENTS WITH MEASUREMENT = nosuch"),
    ("db", "SHOW MEASUREMENTS WHERE host = 'a'"),
    (
        "db",
        "SHOW MEASUREMENTS WHERE host =~ /^(a|z)$/ OR region = 'y'",
    ),
    ("db", "SHOW MEASUREMENTS WHERE \"ta g\" = 'x=y'"),
    ("db", "SHOW TAG KEYS"),
    ("db", "SHOW TAG KEYS FROM \"cpu\""),
    ("db", "SHOW TAG KEYS FROM \"rp2\".\"cpu\""),
    ("db", "SHOW TAG KEYS FROM cpu, mem"),
    ("db", "SHOW TAG KEYS FROM /^[cm]/"),
    ("", "SHOW TAG KEYS ON \"db\" FROM \"m 1\""),
    ("db", "SHOW TAG KEYS WHERE host = 'a'"),
    ("db", "SHOW TAG KEYS LIMIT 1"),
    ("db", "SHOW TAG KEYS LIMIT 1 OFFSET 1"),
    ("db", "SHOW TAG KEYS SLIMIT 2"),
    ("db", "SHOW TAG KEYS SLIMIT 2 SOFFSET 1"),
    ("db", "SHOW TAG VALUES WITH KEY = host"),
    ("db", "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\""),
    (
        "db",
        "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\" WHERE \"region\" =~ /^(r1|x)$/",
    ),
    (
        "db",
        "SHOW TAG VALUES FROM \"rp2\".\"cpu\" WITH KEY IN (\"host\", \"region\")",
    ),
    ("db", "SHOW TAG VALUES WITH KEY =~ /./"),
    (
        "db",
        "SHOW TAG VALUES WITH KEY !~ /^(s|g|host|region|dev)$/",
    ),
    ("db", "SHOW TAG VALUES WITH KEY != host"),
    (
        "",
        "SHOW TAG VALUES ON \"db\" FROM \"fill\" WITH KEY = \"g\"",
    ),
    (
        "db",
        "SHOW TAG VALUES FROM fill WITH KEY = s LIMIT 5 OFFSET 10",
    ),
    ("db", "SHOW TAG VALUES WITH KEY = host WHERE region != 'x'"),
    ("db", "SHOW TAG VALUES WITH KEY = host WHERE region = ''"),
    ("db", "SHOW TAG VALUES WITH KEY = nokey"),
    ("db", "SHOW FIELD KEYS"),
    ("db", "SHOW FIELD KEYS FROM \"cpu\""),
    ("db", "SHOW FIELD KEYS FROM \"rp2\".\"mem\""),
    ("", "SHOW FIELD KEYS ON db FROM mem"),
    ("db", "SHOW FIELD KEYS FROM /d/"),
    ("db", "SHOW SERIES FROM \"cpu\""),
    ("", "SHOW SERIES ON \"db\" FROM \"cpu\""),
    ("db", "SHOW SERIES WHERE host = 'a'"),
    (
        "db",
        "SHOW SERIES FROM cpu WHERE host =~ /^h1/ AND region <> 'r1' LIMIT 3 OFFSET 1",
    ),
    ("db", "SHOW SERIES FROM /^(m|we|notags)/"),
    ("db", "SHOW SERIES LIMIT 10 OFFSET 300"),
    ("db", "SHOW SERIES CARDINALITY"),
    ("db", "SHOW SERIES EXACT CARDINALITY"),
    ("db", "SHOW SERIES EXACT CARDINALITY FROM cpu"),
    ("db", "SHOW MEASUREMENT CARDINALITY"),
    ("db", "SHOW MEASUREMENT EXACT CARDINALITY"),
    ("db", "SHOW TAG KEY CARDINALITY"),
    ("db", "SHOW TAG KEY EXACT CARDINALITY FROM cpu"),
    ("db", "SHOW TAG VALUES CARDINALITY WITH KEY = host"),
    ("db", "SHOW TAG VALUES EXACT CARDINALITY WITH KEY = host"),
    ("db", "SHOW FIELD KEY CARDINALITY"),
    ("db", "SHOW FIELD KEY EXACT CARDINALITY"),
    ("db2", "SHOW MEASUREMENTS; SHOW TAG KEYS; SHOW SERIES"),
    ("", "SHOW MEASUREMENTS"),
    ("", "SHOW MEASUREMENTS ON nodb"),
    ("db", "SHOW TAG VALUES"),
    ("db", "SHOW TAG VALUES WITH KEY"),
    ("db", "SHOW SERIES EXACT"),
    ("db", "SHOW MEASUREMENTS WITH MEASUREMENT > x"),
    ("db", "SHOW MEASUREMENTS WITH MEASUREMENT =~ cpu"),
    ("", "SHOW MEASUREMENTS WHERE time > 0"),
    ("db", "SHOW MEASUREMENTS WHERE host =~ /a/ AND time > 0"),
    ("db", "SHOW SERIES WHERE time > 0"),
    ("db", "SHOW SERIES WHERE time >= '1970-01-05T00:00:00Z'"),
    (
        "db",
        "SHOW SERIES WHERE time > '1970-01-04T23:59:59Z' AND time < '1970-01-05T00:00:01Z'",
    ),
    (
        "db",
        "SHOW SERIES FROM cpu WHERE time > '1970-01-10T00:00:00Z' AND region = 'x'",
    ),
    (
        "db",
        "SHOW SERIES WHERE time < '1970-01-04T12:00:00Z' LIMIT 5 OFFSET 2",
    ),
    (
        "db",
        "SHOW SERIES FROM /^(wk|cpu)$/ WHERE time > '1970-01-12T00:00:00Z'",
    ),
    ("db", "SHOW SERIES FROM rp2.cpu WHERE time < 1h"),
    ("db", "SHOW SERIES WHERE time > now() - 1h"),
    ("db", "SHOW TAG KEYS WHERE time > 0"),
    ("db", "SHOW TAG KEYS ORDER BY time DESC"),
    ("db", "SHOW SERIES WHERE v > 0"),
    ("", "SHOW MEASUREMENTS WHERE v > 0"),
    ("db", "SHOW TAG VALUES WITH KEY = host WHERE host > 'a'"),
    ("db", "SHOW SERIES WHERE host"),
    ("db", "SHOW SERIES WHERE 'a' = host"),
    ("db", "SHOW SERIES WHERE host::tag = 'a'"),
    ("db", "SHOW SERIES WHERE _name = 'cpu'"),
    ("db", "SHOW SERIES WHERE \"_name\" =~ /^c/ AND host != 'a'"),
    ("db", "SHOW MEASUREMENTS WHERE _name = 'cpu'"),
    ("db", "SHOW TAG KEYS WHERE _name = 'mem'"),
    ("db", "SHOW TAG KEYS FROM nosuch"),
    ("db", "SHOW FIELD KEYS LIMIT 1 OFFSET 1"),
    ("db", "SHOW TAG VALUES WITH KEY = host LIMIT 1"),
    ("db", "SHOW SERIES EXACT FROM cpu"),
    ("db", "SHOW SERIES CARDINALITY WHERE host = 'a'"),
    ("db", "SHOW SERIES CARDINALITY FROM cpu"),
    ("db", "SHOW MEASUREMENT CARDINALITY WHERE host = 'a'"),
    ("db", "SHOW SERIES CARDINALITY WHERE time > now() - 1h"),
    ("db", "SHOW MEASUREMENT CARDINALITY WHERE time > 0"),
    ("db", "SHOW TAG KEY CARDINALITY WHERE time > 0"),
    ("db", "SHOW FIELD KEY CARDINALITY WHERE time > 0"),
    (
        "db",
        "SHOW TAG VALUES CARDINALITY WITH KEY = host WHERE region = 'x'",
    ),
    ("", "SHOW SERIES CARDINALITY ON nodb"),
    ("", "SHOW MEASUREMENT CARDINALITY ON nodb"),
    ("", "SHOW TAG KEYS ON nodb"),
    ("", "SHOW SERIES ON nodb"),
    ("", "SHOW FIELD KEYS ON nodb"),
    ("", "SHOW TAG KEYS"),
    ("db", "SHOW RETENTION POLICIES on \"db\""),
    ("db", "SHOW DATABASES"),
];

/// Grafana's editor queries as it sends them: GET with `epoch=ms`.
const GRAFANA_GET: &[&str] = &[
    "SHOW measurements",
    "SHOW MEASUREMENTS LIMIT 100",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)cp/ LIMIT 100",
    "SHOW TAG KEYS FROM \"cpu\"",
    "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\" WHERE \"region\" =~ /^(r1|r2)$/",
    "SHOW FIELD KEYS FROM \"cpu\"",
    "SHOW RETENTION POLICIES on \"db\"",
];

fn grafana(addr: SocketAddr) -> Vec<serde_json::Value> {
    GRAFANA_GET
        .iter()
        .map(|q| {
            let target = format!("/query?db=db&epoch=ms&q={}", urlencode(q));
            let r = req(addr, "GET", &target, b"");
            assert_eq!(r.status, 200, "{q}: {}", r.text());
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect()
}

/// Drops run on both servers after the first comparison; the answers must still agree.
/// (DROP RETENTION POLICY is checked on lineshard alone: 1.6.7 keeps a dropped retention
/// policy's series in its database index, where 1.x documents that the drop deletes them.)
const DROPS: &[&str] = &["DROP DATABASE db2"];

/// One request on a fresh connection to either server.
fn req(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> common::HttpResponse {
    common::influxd::raw(addr, method, target, &[], body)
}

fn post(addr: SocketAddr, db: &str, q: &str) -> serde_json::Value {
    let target = format!("/query?db={db}&q={}", urlencode(q));
    let r = req(addr, "POST", &target, b"");
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| serde_json::json!({"status": r.status, "body": r.text()}))
}

fn answers(addr: SocketAddr) -> Vec<serde_json::Value> {
    QUERIES.iter().map(|(db, q)| post(addr, db, q)).collect()
}

fn load(addr: SocketAddr) {
    for q in SETUP {
        let r = req(addr, "POST", &format!("/query?q={}", urlencode(q)), b"");
        assert_eq!(r.status, 200, "{q}: {}", r.text());
    }
    for (target, body) in writes() {
        let r = req(addr, "POST", &target, body.as_bytes());
        assert_eq!(r.status, 204, "{target}: {}", r.text());
    }
}

fn start_lineshard(data: tempfile::TempDir, conf: &std::path::Path) -> Server {
    let conf = conf.to_str().unwrap().to_string();
    Server::start_in(data, &["--cores", "2", "--config", &conf])
}

fn segment_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                n += 1;
            }
        }
    }
    n
}

fn compare(want: &[serde_json::Value], got: &[serde_json::Value], when: &str) {
    let mut bad = Vec::new();
    for (((db, q), w), g) in QUERIES.iter().zip(want).zip(got) {
        // 1.6.7 loses the error of the second of several statements on a missing database
        // (it answers `not executed` in its place): not compared once db2 is dropped.
        if w != g && !(when != "live" && *db == "db2") {
            let cut = |v: &serde_json::Value| v.to_string().chars().take(600).collect::<String>();
            bad.push(format!(
                "[{when}] db={db} {q}\n  influxd:   {}\n  lineshard: {}",
                cut(w),
                cut(g)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} answers differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn show_statements_answer_like_influxd_and_survive_restarts() {
    let influxd = start_influxd();
    load(influxd.addr);
    let want = answers(influxd.addr);

    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("lineshard.toml");
    std::fs::write(&conf, "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let s = start_lineshard(tempfile::tempdir().unwrap(), &conf);
    load(s.addr);
    assert!(
        segment_files(s.dir.path()) > 0,
        "the data must span sealed segments"
    );
    compare(&want, &answers(s.addr), "live");
    assert_eq!(grafana(influxd.addr), grafana(s.addr));

    for q in DROPS {
        for addr in [influxd.addr, s.addr] {
            let r = req(addr, "POST", &format!("/query?q={}", urlencode(q)), b"");
            assert_eq!(r.status, 200, "{q}: {}", r.text());
        }
    }
    let want = answers(influxd.addr);
    compare(&want, &answers(s.addr), "after drops");

    // A clean restart: the index is rebuilt from segments and the replayed WAL.
    let mut s = s;
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    unsafe_term(&mut s);
    let s = start_lineshard(dir, &conf);
    compare(&want, &answers(s.addr), "after restart");

    // kill -9.
    let mut s = s;
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s = start_lineshard(dir, &conf);
    compare(&want, &answers(s.addr), "after kill -9");

    // DROP RETENTION POLICY forgets its series, also after a restart.
    let r = req(
        s.addr,
        "POST",
        "/query?q=DROP+RETENTION+POLICY+rp2+ON+db",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let check = |s: &Server| {
        let series = post(s.addr, "db", "SHOW SERIES").to_string();
        assert!(series.contains("cpu,host=a,region=x"), "{series}");
        for gone in ["rponly", "zone", "host=z"] {
            assert!(!series.contains(gone), "{gone} in {series}");
        }
        let m = post(s.addr, "db", "SHOW MEASUREMENTS").to_string();
        assert!(m.contains("\"cpu\"") && !m.contains("rponly"), "{m}");
        let v = post(s.addr, "db", "SHOW TAG VALUES WITH KEY = zone");
        assert_eq!(v, serde_json::json!({"results":[{"statement_id":0}]}));
    };
    check(&s);
    let mut s = s;
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s = start_lineshard(dir, &conf);
    check(&s);
}

/// Stops the server with SIGTERM and waits for it (a clean shutdown).
fn unsafe_term(s: &mut Server) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status();
    let _ = s.child.wait();
}

#[test]
fn show_queries_lists_itself() {
    let s = Server::start(&["--cores", "2"]);
    let influxd = start_influxd();
    for addr in [influxd.addr, s.addr] {
        let v = post(addr, "db", "SHOW QUERIES");
        let series = &v["results"][0]["series"][0];
        assert_eq!(
            series["columns"],
            serde_json::json!(["qid", "query", "database", "duration", "status"]),
            "{v}"
        );
        let rows = series["values"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{v}");
        assert_eq!(rows[0][1], "SHOW QUERIES");
        assert_eq!(rows[0][2], "db");
        assert_eq!(rows[0][4], "running");
        assert!(rows[0][0].as_u64().is_some_and(|q| q > 0));
        assert!(rows[0][3].as_str().is_some_and(|d| d.ends_with('s')));
    }
}
