//! Parquet export end to end: a real server exports to a real directory, and DuckDB and pyarrow
//! (PyPI; `scripts/install-test-deps.sh`) read the files back. What they read must equal what
//! was written and what `/query` answers: every field type, sparse tags and fields, escaped
//! names, several databases and retention policies, a field added later, negative and
//! nanosecond timestamps; the schema must have the types the export promises.

mod common;

use common::Server;
use serde_json::Value;
use std::path::Path;

/// Starts a server exporting to `<tmp>/out` with `extra` TOML appended to the `[export]`
/// section (and unsigned fields accepted).
pub fn exporting(extra: &str) -> (Server, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("out");
    let cfg = tmp.path().join("lineshard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\naccept-unsigned = true\n[export]\npath = {:?}\nmax-age = \"1s\"\nnode = \"node-a\"\n{extra}\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap(), "--cores", "2"]);
    (s, tmp)
}

fn wait_rows(out: &Path, rows: i64) {
    common::wait_exported_rows(out, rows)
}

/// The summary of `root` by tests/export/summary.py (DuckDB and pyarrow).
pub fn summary(root: &str, env: &[(&str, &str)]) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/export/summary.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .arg(root)
        .envs(env.iter().copied())
        .output()
        .expect("python3 (scripts/install-test-deps.sh installs duckdb and pyarrow)");
    assert!(
        out.status.success(),
        "summary.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary json")
}

fn group<'a>(s: &'a [Value], db: &str, rp: &str, m: &str) -> &'a Value {
    s.iter()
        .find(|g| g["db"] == db && g["rp"] == rp && g["measurement"] == m)
        .unwrap_or_else(|| panic!("no export of {db}.{rp}.{m} in {s:?}"))
}

/// `SELECT count, sum, min, max` of `field` through `/query`, as f64s (`None` when absent).
fn query_agg(s: &Server, db: &str, rp: &str, m: &str, field: &str) -> [Option<f64>; 4] {
    let q = format!(
        r#"SELECT count("{field}"), sum("{field}"), min("{field}"), max("{field}") FROM "{db}"."{rp}"."{}""#,
        m.replace('"', "\\\"")
    );
    let v = s.query(&q);
    let row = &v["results"][0]["series"][0]["values"][0];
    [1, 2, 3, 4].map(|i| row[i].as_f64())
}

fn check_field(
    summary: &[Value],
    s: &Server,
    at: (&str, &str, &str),
    field: &str,
    col: &str,
    want: [f64; 4],
) {
    let (db, rp, m) = at;
    let f = &group(summary, db, rp, m)["fields"][col];
    let got = [&f["count"], &f["sum"], &f["min"], &f["max"]].map(|v| v.as_f64());
    assert_eq!(got, want.map(Some), "DuckDB over {db}.{rp}.{m}.{col}");
    assert_eq!(
        query_agg(s, db, rp, m, field),
        want.map(Some),
        "/query over {db}.{rp}.{m}.{field}"
    );
}

/// Every string and boolean field column of every exported measurement holds the (time, value)
/// pairs `/query` answers for that field.
fn check_values(summary: &[Value], s: &Server) {
    let mut checked = 0;
    for g in summary {
        let [db, rp, m] = ["db", "rp", "measurement"].map(|k| g[k].as_str().unwrap());
        for (col, f) in g["fields"].as_object().unwrap() {
            let Some(exported) = f["values"].as_array() else {
                continue;
            };
            let field = g["columns"][col]["name"].as_str().unwrap();
            let q = format!(
                r#"SELECT "{field}"::field FROM "{db}"."{rp}"."{}""#,
                m.replace('"', "\\\"")
            );
            let v = s.query(&q);
            let mut answered: Vec<Value> = v["results"][0]["series"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["values"].as_array().unwrap().clone())
                .collect();
            answered.sort_by_key(|r| r.to_string());
            let mut exported = exported.clone();
            exported.sort_by_key(|r| r.to_string());
            assert_eq!(exported, answered, "{db}.{rp}.{m}.{col} against {q}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "string and boolean fields checked: {checked}");
}

#[test]
fn exported_parquet_holds_what_was_written() {
    let (s, tmp) = exporting("");
    let out = tmp.path().join("out");
    for q in [
        "CREATE DATABASE db1",
        "CREATE DATABASE db2",
        "CREATE RETENTION POLICY two ON db1 DURATION INF REPLICATION 1",
    ] {
        let r = s.request(
            "POST",
            &format!("/query?q={}", common::urlencode(q)),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{q}: {}", r.text());
    }
    let w = |target: &str, body: &str| {
        let r = s.request("POST", target, &[], body.as_bytes());
        assert_eq!(r.status, 204, "{body}: {}", r.text());
    };
    let ns = 1_700_000_000_123_456_789i64;
    w(
        "/write?db=db1",
        &format!(
            "cpu,host=a,region=eu usage=1.5,count=3i,big=18446744073709551615u,note=\"hi\",ok=true {ns}\n\
             cpu,host=b usage=2.5 {}\n\
             cpu,host=a,region=eu usage=-0.5,count=-7i,ok=false {}\n\
             we\\ ird\\,m,tag\\ k=v\\=1,host=c x=1,host=\"field-host\" {ns}\n\
             neg,host=a v=1i -1000000001\n\
             neg,host=a v=2i {ns}\n",
            ns + 1,
            ns + 2
        ),
    );
    w(
        "/write?db=db1&rp=two",
        &format!("cpu,host=z usage=9 {ns}\n"),
    );
    w(
        "/write?db=db2",
        &format!("disk,host=a used=5i,free=7u {ns}\n"),
    );
    wait_rows(&out, 8);
    // A field added later: in a later file, read beside the earlier ones.
    w(
        "/write?db=db1",
        &format!("cpu,host=a,region=eu usage=4.5,extra=11i {}\n", ns + 3),
    );
    wait_rows(&out, 9);

    let sum = summary(out.to_str().unwrap(), &[]);
    let cpu = ("db1", "autogen", "cpu");
    check_field(&sum, &s, cpu, "usage", "usage", [4.0, 8.0, -0.5, 4.5]);
    check_field(&sum, &s, cpu, "count", "count", [2.0, -4.0, -7.0, 3.0]);
    check_field(&sum, &s, cpu, "extra", "extra", [1.0, 11.0, 11.0, 11.0]);
    let big = 18446744073709551615u64 as f64;
    check_field(&sum, &s, cpu, "big", "big", [1.0, big, big, big]);
    check_field(
        &sum,
        &s,
        ("db1", "two", "cpu"),
        "usage",
        "usage",
        [1.0, 9.0, 9.0, 9.0],
    );
    check_field(
        &sum,
        &s,
        ("db2", "autogen", "disk"),
        "used",
        "used",
        [1.0, 5.0, 5.0, 5.0],
    );
    check_field(
        &sum,
        &s,
        ("db2", "autogen", "disk"),
        "free",
        "free",
        [1.0, 7.0, 7.0, 7.0],
    );
    check_field(
        &sum,
        &s,
        ("db1", "autogen", "neg"),
        "v",
        "v",
        [2.0, 3.0, 1.0, 2.0],
    );
    check_field(
        &sum,
        &s,
        ("db1", "autogen", "we ird,m"),
        "x",
        "x",
        [1.0, 1.0, 1.0, 1.0],
    );

    let g = group(&sum, "db1", "autogen", "cpu");
    assert_eq!(g["rows"], 4);
    assert_eq!(g["fields"]["note"]["count"], 1);
    assert_eq!(g["fields"]["ok"]["count"], 2);
    // String and boolean fields: every (time, value) as `/query` answers it.
    check_values(&sum, &s);
    assert_eq!(
        g["fields"]["ok"]["values"],
        serde_json::json!([[ns, true], [ns + 2, false]])
    );
    // A tag a series lacks reads as null.
    assert_eq!(
        g["series"],
        serde_json::json!([
            {"host": "a", "region": "eu", "rows": 3},
            {"host": "b", "region": null, "rows": 1},
        ])
    );
    // What the files' metadata says: zstd and statistics everywhere, dictionaries for tags,
    // delta encoding for time and integers, byte-stream-split for floats.
    for (col, c) in g["chunks"].as_object().unwrap() {
        assert_eq!(c["compression"], serde_json::json!(["ZSTD"]), "{col}: {c}");
        assert_eq!(c["statistics"], true, "{col}: {c}");
        let enc = |e: &str| c["encodings"].as_array().unwrap().iter().any(|x| x == e);
        match col.as_str() {
            "host" | "region" => {
                assert!(
                    c["dictionary"] == true && enc("RLE_DICTIONARY"),
                    "{col}: {c}"
                )
            }
            "time" | "count" | "extra" | "big" => {
                assert!(
                    c["dictionary"] == false && enc("DELTA_BINARY_PACKED"),
                    "{col}: {c}"
                )
            }
            "usage" => assert!(enc("BYTE_STREAM_SPLIT"), "{col}: {c}"),
            _ => {}
        }
    }
    assert_eq!(g["chunks"].as_object().unwrap().len(), 9, "{}", g["chunks"]);
    // DuckDB's own reader over the directories (hive partitioning) counts the same rows.
    for g in &sum {
        let duck = &g["duckdb_reader"];
        assert_eq!(duck["rows"], g["rows"], "{g}");
        assert_eq!(duck["duplicates"], 0, "{g}");
    }
    assert_eq!(
        group(&sum, "db1", "autogen", "neg")["duckdb_reader"]["dates"],
        serde_json::json!(["1969-12-31", "2023-11-14"])
    );
    let types = [
        (
            "host",
            "dictionary<values=string, indices=int32, ordered=0>",
            "iox::column_type::tag",
        ),
        (
            "region",
            "dictionary<values=string, indices=int32, ordered=0>",
            "iox::column_type::tag",
        ),
        (
            "time",
            "timestamp[ns, tz=UTC]",
            "iox::column_type::timestamp",
        ),
        ("usage", "double", "iox::column_type::field::float"),
        ("count", "int64", "iox::column_type::field::integer"),
        ("big", "uint64", "iox::column_type::field::uinteger"),
        ("note", "string", "iox::column_type::field::string"),
        ("ok", "bool", "iox::column_type::field::boolean"),
    ];
    for (col, ty, role) in types {
        let c = &g["columns"][col];
        assert_eq!(c["type"], ty, "{col}: {c}");
        assert_eq!(c["role"], role, "{col}: {c}");
        assert_eq!(c["nullable"], col != "time", "{col}: {c}");
    }
    assert_eq!(g["duplicates"], 0);
    // Sorted by the tags (host, region), then time.
    for file in g["sorting"].as_array().unwrap() {
        let idx: Vec<i64> = file
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[0].as_i64().unwrap())
            .collect();
        assert_eq!(idx, [0, 1, 2], "{file}");
    }
    assert_eq!(g["time_min"], ns);
    assert_eq!(g["time_max"], ns + 3);

    // Negative and nanosecond times, each in its own UTC day.
    let neg = group(&sum, "db1", "autogen", "neg");
    assert_eq!(neg["time_min"], -1_000_000_001i64);
    assert_eq!(neg["time_max"], ns);
    assert_eq!(neg["files"], 2);
    assert!(out.join("db1/autogen/neg/date=1969-12-31").is_dir());
    assert!(out.join("db1/autogen/neg/date=2023-11-14").is_dir());

    // Escaped names: percent-encoded directory; a tag and a field both named `host`.
    assert!(out.join("db1/autogen/we%20ird%2Cm").is_dir());
    let weird = group(&sum, "db1", "autogen", "we ird,m");
    assert_eq!(
        weird["columns"]["host"]["role"],
        "iox::column_type::field::string"
    );
    assert_eq!(
        weird["columns"]["host_tag"]["role"],
        "iox::column_type::tag"
    );
    assert_eq!(weird["columns"]["host_tag"]["name"], "host");
    assert_eq!(weird["columns"]["tag k"]["role"], "iox::column_type::tag");

    // File names: <node>-<partition>-<sequence>.parquet.
    let day = out.join("db2/autogen/disk/date=2023-11-14");
    let names: Vec<String> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("node-a-") && names[0].ends_with(".parquet"),
        "{names:?}"
    );

    let h = s.request("GET", "/health", &[], b"");
    let h: Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(h["checks"][0]["name"], "export");
    assert_eq!(h["checks"][0]["status"], "pass");
}

#[test]
fn time_unit_us_writes_microseconds() {
    let (s, tmp) = exporting("time-unit = \"us\"");
    let out = tmp.path().join("out");
    s.create_db("db");
    let r = s.write(
        "db",
        "m,t=1 v=1 1700000000123456789\nm,t=1 v=2 -1500\nm,t=1 v=3 1700000000123456001\n",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    wait_rows(&out, 3);
    let sum = summary(out.to_str().unwrap(), &[]);
    let g = group(&sum, "db", "autogen", "m");
    assert_eq!(g["columns"]["time"]["type"], "timestamp[us, tz=UTC]");
    assert_eq!(g["time_min"], -2, "floor of -1.5 µs");
    assert_eq!(g["time_max"], 1_700_000_000_123_456i64);
    // Two points of a series within one microsecond: two rows with the same time.
    assert_eq!(g["rows"], 3);
    assert_eq!(g["duplicates"], 1);
}

#[test]
fn restart_exports_nothing_twice() {
    let (mut s, tmp) = exporting("");
    let out = tmp.path().join("out");
    s.create_db("db");
    for k in 0..3 {
        let r = s.write("db", &format!("m,t={k} v={k} {k}000000000\n"));
        assert_eq!(r.status, 204, "{}", r.text());
        wait_rows(&out, k + 1);
    }
    // Restart on the same data dir and export directory: the same rows, nothing again.
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let cfg = tmp.path().join("lineshard.toml");
    let s = Server::start_in(dir, &["--config", cfg.to_str().unwrap(), "--cores", "2"]);
    let r = s.write("db", "m,t=9 v=9 9000000000\n");
    assert_eq!(r.status, 204, "{}", r.text());
    wait_rows(&out, 4);
    let sum = summary(out.to_str().unwrap(), &[]);
    let g = group(&sum, "db", "autogen", "m");
    assert_eq!(g["rows"], 4);
    assert_eq!(g["duplicates"], 0);
    assert_eq!(g["fields"]["v"]["sum"], 12.0);
}

/// `/health`'s export check, polled until `status` (bounded).
fn wait_health(s: &Server, status: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let h = s.request("GET", "/health", &[], b"");
        let v: Value = serde_json::from_slice(&h.body).unwrap();
        if v["checks"][0]["status"] == status {
            assert_eq!(h.status, 200);
            assert_eq!(v["status"], "pass", "writes and queries still work: {v}");
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/health never said {status}: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_failing_export_keeps_the_data_and_says_so() {
    let (s, tmp) = exporting("");
    let out = tmp.path().join("out");
    // The export directory becomes a file: every put fails.
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&out, b"not a directory").unwrap();
    s.create_db("db");
    let r = s.write("db", "m,t=a v=1 1000000000\nm,t=b v=2 2000000000\n");
    assert_eq!(r.status, 204, "{}", r.text());
    let v = wait_health(&s, "warn");
    let msg = v["checks"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("export failing, 1 segment files kept until exported"),
        "{msg}"
    );
    assert!(
        !msg.contains(tmp.path().to_str().unwrap()),
        "a server path in /health: {msg}"
    );
    // The data is still served, and exported once the directory is back.
    let q = s.query("SELECT count(v) FROM db..m");
    assert_eq!(q["results"][0]["series"][0]["values"][0][1], 2);
    std::fs::remove_file(&out).unwrap();
    std::fs::create_dir(&out).unwrap();
    wait_rows(&out, 2);
    wait_health(&s, "pass");
}

/// Stops the server with SIGTERM (a graceful shutdown seals the memtable) and returns its
/// data dir.
fn terminate(mut s: Server) -> tempfile::TempDir {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap())
}

/// The names in partition 0's segment directory.
fn segment_names(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("partitions/0/segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

#[test]
fn files_compacted_while_export_was_off_are_exported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let off = tmp.path().join("off.toml");
    let on = tmp.path().join("on.toml");
    let data = "[data]\ncompact-min-files = 2\n";
    std::fs::write(&off, data).unwrap();
    std::fs::write(
        &on,
        format!(
            "{data}[export]\npath = {:?}\nmax-age = \"1s\"\nnode = \"node-a\"\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let args = |cfg: &Path| -> Vec<String> {
        ["--config", cfg.to_str().unwrap(), "--cores", "1"]
            .map(String::from)
            .to_vec()
    };
    let start = |dir: tempfile::TempDir, cfg: &Path| {
        let a = args(cfg);
        Server::start_in(dir, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // Export off: two seals (each graceful stop seals), compacted into one file at the next
    // start, then a third seal that stays a file of its own.
    let mut dir = tempfile::tempdir().unwrap();
    for k in 1..=3 {
        let s = start(dir, &off);
        if k == 1 {
            s.create_db("db");
        }
        if k == 3 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !segment_names(s.dir.path()).iter().any(|n| n.contains('-')) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no compaction: {:?}",
                    segment_names(s.dir.path())
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let r = s.write("db", &format!("m,t={k} v={k}i {k}000000000\n"));
        assert_eq!(r.status, 204, "{}", r.text());
        dir = terminate(s);
    }
    let names = segment_names(dir.path());
    assert_eq!(
        names.len(),
        2,
        "one compacted file and one sealed after: {names:?}"
    );
    assert!(names[0].contains('-'), "{names:?}");
    let first: u64 = names[0]
        .trim_end_matches(".seg")
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();

    // Export on: both files are exported, each row once; the compacted file's Parquet file is
    // named after its oldest input.
    let s = start(dir, &on);
    wait_rows(&out, 3);
    let sum = summary(out.to_str().unwrap(), &[]);
    let g = group(&sum, "db", "autogen", "m");
    assert_eq!(g["rows"], 3);
    assert_eq!(g["duplicates"], 0);
    assert_eq!(g["fields"]["v"]["sum"], 6.0);
    assert_eq!(g["files"], 2);
    assert!(
        out.join(format!(
            "db/autogen/m/date=1970-01-01/node-a-0-{first}.parquet"
        ))
        .is_file(),
        "{:?}",
        std::fs::read_dir(out.join("db/autogen/m/date=1970-01-01"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    // Restarted, it exports nothing again.
    let dir = terminate(s);
    let s = start(dir, &on);
    let r = s.write("db", "m,t=4 v=4i 4000000000\n");
    assert_eq!(r.status, 204, "{}", r.text());
    wait_rows(&out, 4);
    let g = &summary(out.to_str().unwrap(), &[])[0];
    assert_eq!(
        (g["rows"].clone(), g["duplicates"].clone()),
        (4.into(), 0.into())
    );
}
