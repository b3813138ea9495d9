//! Durable storage end to end: restarts, another core count, sealing to segments, drops on disk.

mod common;

use common::Server;

fn rows(s: &Server, db: &str, q: &str) -> Vec<Vec<serde_json::Value>> {
    let target = format!("/query?db={db}&epoch=ns&q={}", common::urlencode(q));
    let r = s.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["results"][0]["error"].is_null(), "{v}");
    v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.as_array().cloned().unwrap())
        .collect()
}

/// `n` points over 40 series: `m,s=s<i % 40> v=<i>i,f=<i>.5 <i>`.
fn body(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| format!("m,s=s{} v={i}i,f={i}.5 {i}\n", i % 40))
        .collect()
}

fn restart(s: Server, args: &[&str]) -> Server {
    let mut s = s;
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    s.kill();
    Server::start_in(dir, args)
}

#[test]
fn restart_with_another_core_count_keeps_everything() {
    let s = Server::start(&["--cores", "2"]);
    s.create_db("db");
    assert_eq!(s.write("db", &body(0, 2000)).status, 204);
    let before = rows(&s, "db", "SELECT * FROM m");
    assert_eq!(before.len(), 2000);
    let s = restart(s, &["--cores", "1"]);
    assert_eq!(rows(&s, "db", "SELECT * FROM m"), before);
    // Field types come back too: a conflicting write is still refused after the restart.
    let r = s.write("db", "m,s=s1 v=1.5 99999");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("field type conflict"), "{}", r.error());
    assert_eq!(s.write("db", &body(2000, 1000)).status, 204);
    let s = restart(s, &["--cores", "3"]);
    assert_eq!(rows(&s, "db", "SELECT * FROM m").len(), 3000);
}

#[test]
fn sealed_segments_are_read_back_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lineshard.toml");
    std::fs::write(&conf, "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let s = Server::start_in(data, &["--cores", "2", "--config", &conf_s]);
    s.create_db("db");
    // ~6 MB of points: several seals per partition.
    for k in 0..30u64 {
        assert_eq!(s.write("db", &body(k * 5000, 5000)).status, 204);
    }
    // Overwrite a point that is sealed by now: the later write wins across segment and memtable.
    assert_eq!(s.write("db", "m,s=s0 v=-1i 0").status, 204);
    let check = |s: &Server| {
        let all = rows(s, "db", "SELECT * FROM m");
        assert_eq!(all.len(), 150_000);
        assert_eq!(
            all[0],
            serde_json::json!([0, 0.5, "s0", -1])
                .as_array()
                .unwrap()
                .clone()
        );
        let some = rows(
            s,
            "db",
            "SELECT v FROM m WHERE s = 's7' AND time >= 100000 AND time < 100400",
        );
        assert_eq!(some.len(), 10);
    };
    // Wait (bounded) for the background seals to finish, then check segment files exist.
    let seg_dir = s.dir.path().join("partitions");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let count_segments = || {
        walk(&seg_dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .count()
    };
    while count_segments() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no segment was sealed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(&s);
    let s = restart(s, &["--cores", "2", "--config", &conf_s]);
    check(&s);
    // DROP DATABASE takes the segment files too.
    let r = s.request("POST", "/query?q=DROP+DATABASE+db", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        walk(&s.dir.path().join("partitions"))
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .count(),
        0
    );
    let s = restart(s, &["--cores", "2", "--config", &conf_s]);
    s.create_db("db");
    assert!(rows(&s, "db", "SELECT * FROM m").is_empty());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn fsync_never_still_stores_and_reads() {
    let s = Server::start(&["--cores", "1", "--fsync", "never"]);
    s.create_db("db");
    assert_eq!(s.write("db", &body(0, 100)).status, 204);
    assert_eq!(rows(&s, "db", "SELECT * FROM m").len(), 100);
}

#[test]
fn series_and_tag_value_limits_are_partial_writes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("limits.toml");
    std::fs::write(
        &conf,
        "[data]\nmax-series-per-database = 3\nmax-values-per-tag = 0\n",
    )
    .unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let s = Server::start(&["--cores", "1", "--config", &conf_s]);
    s.create_db("db");
    let r = s.write(
        "db",
        "m,h=a v=1 1\nm,h=b v=1 1\nm,h=c v=1 1\nm,h=d v=1 1\nm,h=a v=2 2\nm,h=e v=1 1\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "partial write: max-series-per-database limit exceeded: (3) dropped=2"
    );
    assert_eq!(rows(&s, "db", "SELECT * FROM m").len(), 4);
    // The count survives a restart: stored series are counted again at start-up.
    // Refused points were never logged: the WAL replay brings back the 4 stored ones only.
    let s = restart(s, &["--cores", "1", "--config", &conf_s]);
    assert_eq!(rows(&s, "db", "SELECT * FROM m").len(), 4);
    let r = s.write("db", "m,h=z v=1 1\nm,h=b v=3 3\n");
    assert_eq!(
        r.error(),
        "partial write: max-series-per-database limit exceeded: (3) dropped=1"
    );
    // A body whose every point is refused (nothing to log or wait for).
    let r = s.write("db", "m,h=y v=1 1\nm,h=y v=2 2\n");
    assert_eq!(
        r.error(),
        "partial write: max-series-per-database limit exceeded: (3) dropped=2"
    );
    assert_eq!(rows(&s, "db", "SELECT * FROM m").len(), 5);
    // Another database has its own budget; dropping a database frees its series.
    s.create_db("other");
    assert_eq!(s.write("other", "m,h=x v=1 1").status, 204);
    assert_eq!(
        s.request("POST", "/query?q=DROP+DATABASE+db", &[], b"")
            .status,
        200
    );
    s.create_db("db");
    assert_eq!(
        s.write("db", "m,h=p v=1 1\nm,h=q v=1 1\nm,h=r v=1 1")
            .status,
        204
    );

    let conf2 = dir.path().join("values.toml");
    std::fs::write(
        &conf2,
        "[data]\nmax-series-per-database = 0\nmax-values-per-tag = 2\n",
    )
    .unwrap();
    let s = Server::start(&["--cores", "1", "--config", conf2.to_str().unwrap()]);
    s.create_db("db");
    let r = s.write(
        "db",
        "cpu,host=a v=1 1\ncpu,host=b v=1 1\ncpu,host=c v=1 1\ncpu,host=a,x=1 v=1 1\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "partial write: max-values-per-tag limit exceeded (2/2): measurement=\"cpu\" tag=\"host\" value=\"c\" dropped=1"
    );
}

/// Small segment files are compacted in the background into one file per partition, and every
/// point reads back once with its newest value, before and after a restart; a field-selective
/// query answers the same from the compacted file.
#[test]
fn small_segment_files_are_compacted_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lineshard.toml");
    std::fs::write(
        &conf,
        "[data]\nmemtable-max-bytes = 1048576\ncompact-min-files = 2\ncompact-small-file-bytes = 1073741824\n",
    )
    .unwrap();
    let conf_s = conf.to_str().unwrap().to_string();
    let s = Server::start_in(
        tempfile::tempdir().unwrap(),
        &["--cores", "2", "--config", &conf_s],
    );
    s.create_db("db");
    for k in 0..30u64 {
        assert_eq!(s.write("db", &body(k * 5000, 5000)).status, 204);
        if k == 10 {
            // Overwrites of points sealed by now: the newest value must survive compaction.
            assert_eq!(s.write("db", "m,s=s0 v=-1i 0\nm,s=s1 f=-2.5 1").status, 204);
        }
    }
    let check = |s: &Server| {
        let all = rows(s, "db", "SELECT * FROM m");
        assert_eq!(all.len(), 150_000);
        let times: std::collections::BTreeSet<u64> =
            all.iter().map(|r| r[0].as_u64().unwrap()).collect();
        assert_eq!(times.len(), 150_000, "a time read twice");
        assert_eq!(
            all[0],
            serde_json::json!([0, 0.5, "s0", -1])
                .as_array()
                .unwrap()
                .clone()
        );
        assert_eq!(
            all[1],
            serde_json::json!([1, -2.5, "s1", 1])
                .as_array()
                .unwrap()
                .clone()
        );
        let some = rows(
            s,
            "db",
            "SELECT f FROM m WHERE s = 's7' AND time >= 100000 AND time < 100400",
        );
        assert_eq!(some.len(), 10);
        assert_eq!(
            some[0],
            serde_json::json!([100007, 100007.5])
                .as_array()
                .unwrap()
                .clone()
        );
    };
    // Wait (bounded) until the seals and compactions are done: one file per partition.
    let parts = s.dir.path().join("partitions");
    let settled = |parts: &std::path::Path| {
        let files = walk(parts);
        let segs: Vec<_> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
        let tmp = files
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".seg.tmp"));
        let compacted = segs
            .iter()
            .all(|p| p.file_name().unwrap().to_string_lossy().contains('-'));
        !tmp && segs.len() == 2 && compacted
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !settled(&parts) {
        assert!(
            std::time::Instant::now() < deadline,
            "segment files were not compacted: {:?}",
            walk(&parts)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check(&s);
    let s = restart(s, &["--cores", "2", "--config", &conf_s]);
    check(&s);
    assert!(settled(&s.dir.path().join("partitions")));
}
