//! The same requests against lineshard and the real influxd (Debian's `influxdb`, 1.6.7):
//! status, error text and read-back must agree.
//!
//! Known, deliberate differences (lineshard follows 1.8+ where 1.6.7 differs):
//! - lineshard appends ` (line N)` to each parse error; it is stripped before comparing.
//! - 1.6.7 accepts any `precision` silently (as ns); 1.8 answers 400. Not compared here.
//! - 1.6.7 has no `/api/v2/write` and no `/health`. Not compared here.

mod common;

use common::oracle::{raw, seed, start_influxd, Lcg};
use common::{HttpResponse, Server};
use std::net::SocketAddr;
use std::process::Command;

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
        // Order of checks (1.x serveWrite): database, body parse (every line bad), consistency
        // level, retention policy, points.
        ("POST", "/write?db=db&rp=nope".into(), b"bad"),
        ("POST", "/write?db=db&rp=nope".into(), b"bad\ncpu v=1 1"),
        ("POST", "/write?db=db&rp=nope".into(), b""),
        ("POST", "/write?db=db&rp=nope".into(), b"cpu,time=1 v=1 1"),
        ("POST", "/write?db=nope&rp=nope".into(), b"bad"),
        ("POST", "/write?db=db&rp=nope&consistency=x".into(), b"bad"),
        ("POST", "/write?db=db&rp=nope&consistency=x".into(), b"cpu v=1 1"),
        ("POST", "/write?db=db&consistency=x".into(), b"bad\nworse"),
        ("POST", "/write?db=db&consistency=x".into(), b"cpu v=1 1"),
        ("POST", "/write?db=db&consistency=x".into(), b""),
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

/// The same request to both servers; a description of the difference in status or error text.
fn differ(
    influxd: SocketAddr,
    lineshard: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
) -> Option<String> {
    let a = outcome(&raw(influxd, method, target, body));
    let b = outcome(&raw(lineshard, method, target, body));
    (a != b).then(|| {
        format!(
            "{method} {target} {:?}\n  influxd:   {a:?}\n  lineshard: {b:?}",
            String::from_utf8_lossy(body)
        )
    })
}

/// The same GET to both servers; a description of the difference in the whole answer body.
fn differ_body(influxd: SocketAddr, lineshard: SocketAddr, target: &str) -> Option<String> {
    // influxd ends its JSON with a newline (Go's json.Encoder); lineshard does not.
    let body = |addr| {
        let r = raw(addr, "GET", target, b"");
        String::from_utf8_lossy(&r.body).trim_end().to_string()
    };
    let (a, b) = (body(influxd), body(lineshard));
    (a != b).then(|| format!("GET {target}\n  influxd:   {a}\n  lineshard: {b}"))
}

/// A row's non-null (column, value) pairs, as JSON texts.
type Row = Vec<(String, String)>;

/// The values of a one-statement query answer: per series, per row, the non-null (column,
/// value) pairs.
fn stored_values(body: &[u8]) -> Vec<(String, Vec<Row>)> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let series = v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    series
        .iter()
        .map(|s| {
            let columns = s["columns"].as_array().cloned().unwrap_or_default();
            let rows = s["values"].as_array().cloned().unwrap_or_default();
            let rows = rows
                .iter()
                .map(|r| {
                    let cells = r.as_array().cloned().unwrap_or_default();
                    columns
                        .iter()
                        .zip(cells)
                        .filter(|(_, c)| !c.is_null())
                        .map(|(k, c)| (k.to_string(), c.to_string()))
                        .collect()
                })
                .collect();
            (s["name"].to_string(), rows)
        })
        .collect()
}

/// Bodies that mix field type conflicts (against stored types, inside the body, several fields
/// a point) with valid points, each sent on a new connection so they land on both cores of
/// lineshard, whichever core knows the types: every answer and the data read back must be
/// influxd's. A valid point dropped with a conflicting one is the data loss this holds.
///
/// influxd 1.6.7 is not consistent once a body conflicts with a type fixed earlier in the same
/// body: it then counts only the points refused for stored types in `dropped=N` (it drops the
/// others all the same), and it fails the whole write (`field type conflict`, nothing stored)
/// when a field is first used after such a conflict, or when two measurements have one. So such
/// conflicts stay within one measurement, a second measurement (another schema owner) only
/// carries valid points, the count is compared with the points influxd really dropped, and a
/// body influxd fails whole is left out (lineshard must still answer it as a partial write).
#[test]
fn type_conflicts_spread_over_cores_answer_like_influxd() {
    let influxd = start_influxd();
    let lineshard = Server::start(&["--cores", "2"]);
    let seed = seed();
    let mut rng = Lcg(seed);
    let values = ["1.5", "2i", "\"s\"", "true"];
    let fields = ["v", "w", "u"];
    let mut diffs = Vec::new();
    let mut in_body_conflicts = 0;
    let mut skipped = Vec::new();
    diffs.extend(differ(
        influxd.addr,
        lineshard.addr,
        "POST",
        &q("CREATE DATABASE tc"),
        b"",
    ));
    for trial in 0..150 {
        // The stored type of v.
        let m = format!("m{trial}");
        let first = rng.below(4) as usize;
        let target = "/write?db=tc";
        diffs.extend(differ(
            influxd.addr,
            lineshard.addr,
            "POST",
            target,
            format!("{m} v={} 1", values[first]).as_bytes(),
        ));
        // Types as 1.8 fixes them, to tell which bodies conflict with a type of their own.
        let mut types = vec![("v", first)];
        let mut fixed_in_body = Vec::new();
        let mut dropped = 0;
        let mut in_body = false;
        let mut whole_failure = false;
        let mut body = String::new();
        for line in 0..2 + rng.below(5) {
            if rng.below(4) == 0 {
                body.push_str(&format!("n{trial},t=y x=1.5,y=2i {}\n", line + 2));
                continue;
            }
            let mut used: Vec<(&str, usize)> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let f = fields[rng.below(3) as usize];
                if !used.iter().any(|u| u.0 == f) {
                    used.push((f, rng.below(4) as usize));
                }
            }
            // As influxd: a conflict with a type stored before the body drops the point and
            // fixes nothing; otherwise its fields are taken in order, a new one is fixed, one
            // fixed earlier in the body with another type drops the point.
            let stored_conflict = used.iter().any(|(f, ty)| {
                types
                    .iter()
                    .any(|(g, t)| g == f && t != ty && !fixed_in_body.contains(g))
            });
            if stored_conflict {
                dropped += 1;
            } else {
                for &(f, ty) in &used {
                    match types.iter().find(|(g, _)| *g == f) {
                        None => {
                            // influxd fails the whole write when a field is first used after
                            // a conflict within the body.
                            whole_failure |= in_body;
                            types.push((f, ty));
                            fixed_in_body.push(f);
                        }
                        Some(&(_, t)) if t != ty => {
                            dropped += 1;
                            in_body = true;
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
            let kv: Vec<String> = used
                .iter()
                .map(|(f, ty)| format!("{f}={}", values[*ty]))
                .collect();
            body.push_str(&format!("{m},t=x {} {}\n", kv.join(","), line + 2));
        }
        if std::env::var("LINESHARD_TEST_TRACE").is_ok() {
            eprintln!("{m}: {body:?}");
        }
        if !in_body {
            diffs.extend(differ(
                influxd.addr,
                lineshard.addr,
                "POST",
                target,
                body.as_bytes(),
            ));
            continue;
        }
        if whole_failure {
            // No answer or data of influxd's to compare with: leave the trial out.
            skipped.push(trial);
            let _ = raw(influxd.addr, "POST", target, body.as_bytes());
            let b = outcome(&raw(lineshard.addr, "POST", target, body.as_bytes()));
            if b.0 != 400 || !b.1.starts_with("partial write: field type conflict: ") {
                diffs.push(format!("POST {target} {body:?}\n  lineshard: {b:?}"));
            }
            continue;
        }
        in_body_conflicts += 1;
        let a = outcome(&raw(influxd.addr, "POST", target, body.as_bytes()));
        let b = outcome(&raw(lineshard.addr, "POST", target, body.as_bytes()));
        let reason = |t: &str| t.rsplit_once(" dropped=").map(|(r, _)| r.to_string());
        let expected = reason(&a.1).map(|r| format!("{r} dropped={dropped}"));
        if a.0 != b.0 || expected.as_deref() != Some(&b.1[..]) {
            diffs.push(format!(
                "POST {target} {body:?}\n  influxd:   {a:?} ({dropped} dropped)\n  lineshard: {b:?}"
            ));
        }
    }
    // One measurement a query: influxd drops the values of a field whose type differs between
    // measurements of one query. Columns with no value are left out: influxd registers the
    // series (so their tag keys) and some fields of points it then drops.
    for trial in (0..150).filter(|t| !skipped.contains(t)) {
        for m in [format!("m{trial}"), format!("n{trial}")] {
            let target = q(&format!("SELECT * FROM {m}")).replace("/query?", "/query?db=tc&");
            let rows = |addr| stored_values(&raw(addr, "GET", &target, b"").body);
            let (a, b) = (rows(influxd.addr), rows(lineshard.addr));
            if a != b {
                diffs.push(format!(
                    "GET {target}\n  influxd:   {a:?}\n  lineshard: {b:?}"
                ));
            }
        }
    }
    eprintln!(
        "seed {seed}: {in_body_conflicts} bodies conflict within, {} left out",
        skipped.len()
    );
    assert!(
        diffs.is_empty(),
        "seed {seed}: {} differences ({in_body_conflicts} bodies conflict within, {} left out):\n{}",
        diffs.len(),
        skipped.len(),
        diffs.join("\n")
    );
}

/// Names written with line-protocol escapes (the inputs of 1.x's `TestParsePointUnescape` and
/// mixes of `\\`, `\=`, `\,`, `\"` and `=`) are stored and read back as influxd reads them,
/// and the lines 1.x refuses get its errors.
#[test]
fn escaped_names_read_back_like_influxd() {
    let influxd = start_influxd();
    let lineshard = Server::start(&["--cores", "2"]);
    let lines: &[&str] = &[
        r#"foo\,bar value=1i 1"#,
        r#"a1\,main,regions=east value=1.0 2"#,
        r#"a2\ load,region=east value=1.0 3"#,
        r#"a3\=load,region=east value=1.0 4"#,
        r#"a4=load,region=east value=1.0 5"#,
        r#"c1,region\,zone=east value=1.0 6"#,
        r#"c2,region\ zone=east value=1.0 7"#,
        r#"c3,reg\\=ion=east value=1.0 8"#,
        r#"c4,\ =east value=1.0 9"#,
        r#"c5,regions=east\,west value=1.0 10"#,
        r#"c6,regions=\\ east value=1.0 11"#,
        r#"c7,regions=eas\\ t value=1.0 12"#,
        r#"c8,regions=east\\  value=1.0 13"#,
        r#"c9,regions=east\ west value=1.0 14"#,
        r#"c10,regions=east value\,ms=1.0 15"#,
        r#"c11,regions=east value\ ms=1.0 16"#,
        r#"c12,regions=eas\t value=1.0 17"#,
        r#"c13,regions=\\,\,\=east value=1.0 18"#,
        r#"c14 \a=1i 19"#,
        r#"a5=load2,equals\=foo=tag\=value value=1i 20"#,
        r#"c15,k\\\\=v\\\\ f=1 21"#,
        r#"c16 f\=x=1 22"#,
        r#"c17,a=b\\=c f=1 23"#,
        r#"c18 f\\=1 24"#,
        r#"c19 f\"q=1 25"#,
        r#"a6\"q f=1 26"#,
        r#"a7\\ f=1 27"#,
        r#"c20,t\\=x\\=y f=1 28"#,
        r#"c21,t=\\ f=1 29"#,
        r#"c22,t=a\\,u=b f=1 30"#,
        r#"c23 f\\\=x=1 31"#,
        r#"c24,x=1\\ f\\ g=1 32"#,
        r#"c25 s="a\\b\"c\d" 33"#,
        r#"a8\,\=\ \"\\ f=1 34"#,
        r#"c26,k=v\ f=1 35"#,
        r#"c29 a=1,f\\=2 36"#,
    ];
    let mut diffs = Vec::new();
    let mut send = |method: &str, target: &str, body: &[u8]| {
        diffs.extend(differ(influxd.addr, lineshard.addr, method, target, body));
    };
    send("POST", &q("CREATE DATABASE esc"), b"");
    for line in lines {
        send("POST", "/write?db=esc", line.as_bytes());
    }
    // All of them in one body too, into another database.
    send("POST", &q("CREATE DATABASE esc2"), b"");
    send("POST", "/write?db=esc2", lines.join("\n").as_bytes());
    for m in ["/.*/", r#""a3=load""#, r#""a6\"q""#, r#""foo,bar""#] {
        for db in ["esc", "esc2"] {
            let target =
                q(&format!("SELECT * FROM {m}")).replace("/query?", &format!("/query?db={db}&"));
            diffs.extend(differ_body(influxd.addr, lineshard.addr, &target));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Field-selective SELECTs over data spread over sealed, compacted segment files and memtables
/// (1 MiB memtables, compaction of every two files): the pruned reads (only the selected
/// fields' blocks, series and time pruned) answer as influxd does, sparse fields included.
#[test]
fn selective_reads_over_segments_answer_like_influxd() {
    let influxd = start_influxd();
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        conf.path(),
        "[data]\nmemtable-max-bytes = 1048576\ncompact-min-files = 2\n",
    )
    .unwrap();
    let lineshard = Server::start(&["--cores", "2", "--config", conf.path().to_str().unwrap()]);
    for addr in [influxd.addr, lineshard.addr] {
        assert_eq!(raw(addr, "POST", &q("CREATE DATABASE db"), b"").status, 200);
    }
    // 144,000 points of 24 series in two measurements; fields present on some points only.
    for k in 0..12u64 {
        let mut body = String::new();
        for i in k * 12_000..(k + 1) * 12_000 {
            let m = if i % 5 == 0 { "disk" } else { "cpu" };
            body.push_str(&format!("{m},host=h{},dc=d{} a={i}i", i % 12, i % 2));
            if i % 3 == 0 {
                body.push_str(&format!(",b={}.25", i % 1000));
            }
            if i % 7 == 0 {
                body.push_str(&format!(",s=\"v{}\"", i % 10));
            }
            if i % 4 == 1 {
                body.push_str(&format!(",ok={}", i % 8 == 1));
            }
            body.push_str(&format!(" {}\n", i * 1_000_000_000));
        }
        for addr in [influxd.addr, lineshard.addr] {
            let r = raw(addr, "POST", "/write?db=db", body.as_bytes());
            assert_eq!(r.status, 204, "{}", r.text());
        }
    }
    // Rewrites of early points (now in segment files): the newest value must be read.
    let over =
        b"cpu,host=h1,dc=d1 a=-1i,b=-1.5 1000000000\ncpu,host=h3,dc=d1 s=\"new\" 3000000000\n";
    for addr in [influxd.addr, lineshard.addr] {
        assert_eq!(raw(addr, "POST", "/write?db=db", over).status, 204);
    }
    let queries = [
        // (Answers stay below 10,000 rows, where influxd starts marking series `partial`.)
        "SELECT b FROM cpu WHERE time < 20000s",
        "SELECT s FROM cpu WHERE time < 5000s",
        "SELECT a, s FROM cpu WHERE host = 'h3' AND time < 60000s",
        "SELECT ok, host FROM cpu WHERE time >= 20000s AND time < 21000s",
        "SELECT host FROM cpu WHERE time < 100s",
        "SELECT b, dc FROM disk WHERE dc = 'd0' AND time >= 140000s",
        "SELECT b FROM /cpu|disk/ WHERE host = 'h0' AND time < 1000s",
        "SELECT a FROM cpu WHERE host = 'h1' ORDER BY time DESC LIMIT 5",
        "SELECT s FROM disk",
        "SELECT nope FROM cpu",
    ];
    let mut diffs = Vec::new();
    for stmt in queries {
        let target = q(stmt).replace("/query?", "/query?db=db&");
        diffs.extend(differ_body(influxd.addr, lineshard.addr, &target));
    }
    let segs = std::fs::read_dir(lineshard.dir.path().join("partitions"))
        .unwrap()
        .flatten()
        .flat_map(|p| {
            std::fs::read_dir(p.path().join("segments"))
                .unwrap()
                .flatten()
        })
        .count();
    assert!(segs > 0, "no segment file: the test misses its point");
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
