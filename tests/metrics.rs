//! `/metrics` and the logs, against real server processes: the scrape is parsed by the Python
//! `prometheus_client` text parser, its write counts are held to what the bundled generator
//! (`lineshard-load`) had acknowledged, and the logs are read from the server's stderr.

mod common;

use common::{urlencode, HttpResponse, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The generator: LINESHARD_LOAD_BIN, else `lineshard-load` beside the server binary (the test
/// command builds the whole workspace first).
fn loader_bin() -> PathBuf {
    let bin = std::env::var_os("LINESHARD_LOAD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_BIN_EXE_lineshard")).with_file_name("lineshard-load")
        });
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// Runs the generator against `s` (TSBS cpu rows, `hosts` series, `rows` rows in batches of
/// 1000 over `connections` connections) and returns its JSON report.
fn generate(s: &Server, db: &str, hosts: u32, rows: u32, connections: u32) -> Value {
    let report = s.dir.path().join(format!("load-{db}.json"));
    let out = Command::new(loader_bin())
        .args([
            "--url",
            &format!("http://{}", s.addr),
            "--db",
            db,
            "--create-db",
        ])
        .args(["--hosts", &hosts.to_string(), "--rows", &rows.to_string()])
        .args([
            "--batch-size",
            "1000",
            "--connections",
            &connections.to_string(),
        ])
        .args(["--duration", "60", "--quiet", "--json"])
        .arg(&report)
        .output()
        .expect("run lineshard-load");
    assert!(
        out.status.success(),
        "lineshard-load failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report JSON")
}

/// One sample of a scrape as the Python parser read it.
#[derive(Debug)]
struct Sample {
    /// The family's name (a counter's without `_total`) and type.
    family: String,
    ty: String,
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// `text` parsed by `prometheus_client.parser.text_string_to_metric_families`.
fn parse_scrape(text: &str) -> Vec<Sample> {
    const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/install-test-deps.sh installs prometheus-client)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to python");
    }
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser output");
    v.into_iter()
        .map(|s| Sample {
            family: s["family"].as_str().unwrap_or_default().to_string(),
            ty: s["type"].as_str().unwrap_or_default().to_string(),
            name: s["name"].as_str().unwrap_or_default().to_string(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap_or_default(),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The value of the sample `name` with exactly these labels, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn scrape_with(s: &Server, headers: &[(&str, &str)]) -> HttpResponse {
    s.request("GET", "/metrics", headers, b"")
}

fn scrape(s: &Server) -> Vec<Sample> {
    let r = scrape_with(s, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    parse_scrape(&r.text())
}

/// A server with a config file holding `toml`, its stderr read line by line into a channel.
fn start_with_config(toml: &str, cores: &str) -> (Server, mpsc::Receiver<String>) {
    start_in(tempfile::tempdir().expect("temp dir"), toml, cores, None)
}

/// [`start_with_config`] in `dir` (data in `dir/data`), with `RUST_LOG` set to `rust_log` or
/// unset.
fn start_in(
    dir: tempfile::TempDir,
    toml: &str,
    cores: &str,
    rust_log: Option<&str>,
) -> (Server, mpsc::Receiver<String>) {
    let config = dir.path().join("lineshard.toml");
    std::fs::write(&config, toml).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lineshard"));
    cmd.args(["--bind", "127.0.0.1:0", "--cores", cores, "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let mut child = cmd.spawn().expect("spawn lineshard");
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let addr = loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "lineshard exited before it listened");
        if let Some(rest) = line.strip_prefix("lineshard listening on ") {
            let a = rest.split_whitespace().next().expect("address");
            break a.parse().expect("socket address");
        }
    };
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (Server { addr, child, dir }, lines)
}

#[test]
fn points_written_equal_the_rows_the_generator_had_acknowledged() {
    let s = Server::start(&["--cores", "2"]);
    let report = generate(&s, "load", 300, 24_000, 4);
    let acked = report["rows_acked"].as_f64().expect("rows_acked");
    assert_eq!(acked, 24_000.0, "{report}");
    let r = scrape_with(&s, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let samples = parse_scrape(&r.text());
    assert_eq!(
        value(
            &samples,
            "lineshard_points_written_total",
            &[("db", "load")]
        ),
        Some(acked),
        "{samples:#?}"
    );
    // Every batch of 1000 rows was one request answered 204.
    assert_eq!(
        value(
            &samples,
            "lineshard_http_requests_total",
            &[("endpoint", "/write"), ("status", "204")]
        ),
        Some(acked / 1000.0)
    );
    assert_eq!(
        value(
            &samples,
            "lineshard_http_request_duration_seconds_count",
            &[("endpoint", "/write")]
        ),
        Some(acked / 1000.0)
    );
    assert_eq!(
        value(&samples, "lineshard_series", &[("db", "load")]),
        Some(300.0)
    );
    let fsyncs = value(&samples, "lineshard_wal_fsync_duration_seconds_count", &[]);
    assert!(fsyncs.is_some_and(|n| n >= 1.0), "{fsyncs:?}");
    assert!(value(&samples, "lineshard_wal_bytes_total", &[]).is_some_and(|b| b > 0.0));
    for core in ["0", "1"] {
        assert!(value(&samples, "lineshard_connections", &[("core", core)]).is_some());
        assert!(value(&samples, "lineshard_memtable_bytes", &[("core", core)]).is_some());
    }
    let memtables: f64 = samples
        .iter()
        .filter(|s| s.name == "lineshard_memtable_bytes")
        .map(|s| s.value)
        .sum();
    assert!(memtables > 0.0);
    // The families the issue names, each typed (an untyped family means the parser could not
    // tie its samples to their TYPE line).
    let typed: HashMap<&str, &str> = samples
        .iter()
        .map(|s| (s.family.as_str(), s.ty.as_str()))
        .collect();
    for (family, ty) in [
        ("lineshard_points_written", "counter"),
        ("lineshard_http_requests", "counter"),
        ("lineshard_http_request_duration_seconds", "histogram"),
        ("lineshard_wal_fsync_duration_seconds", "histogram"),
        ("lineshard_wal_bytes", "counter"),
        ("lineshard_memtable_bytes", "gauge"),
        ("lineshard_seals", "counter"),
        ("lineshard_segment_files", "gauge"),
        ("lineshard_segment_bytes", "gauge"),
        ("lineshard_series", "gauge"),
        ("lineshard_connections", "gauge"),
        ("lineshard_queries", "counter"),
        ("lineshard_query_duration_seconds", "histogram"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(typed.get(family), Some(&ty), "{family} in {typed:?}");
    }
    assert!(samples.iter().all(|s| s.ty != "untyped"), "{samples:#?}");
    assert!(value(&samples, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 0.0));
    // A query statement is counted once it answered (the generator's CREATE DATABASE was one).
    let ok = |samples: &[Sample]| value(samples, "lineshard_queries_total", &[("status", "ok")]);
    let before = ok(&samples).unwrap_or(0.0);
    s.query("SELECT count(usage_user) FROM load..cpu");
    let samples = scrape(&s);
    assert_eq!(ok(&samples), Some(before + 1.0));
    assert_eq!(
        value(&samples, "lineshard_query_duration_seconds_count", &[]),
        Some(before + 1.0)
    );
}

#[test]
fn rejected_lines_are_counted_by_reason() {
    let (s, _log) = start_with_config("[http]\nmax-tags-per-line = 2\n", "2");
    let q = |q: &str| {
        let r = s.request("POST", &format!("/query?q={}", urlencode(q)), &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    };
    q("CREATE DATABASE db");
    q("CREATE DATABASE short WITH DURATION 1h");
    assert_eq!(s.write("db", "m v=1 1").status, 204);
    let body = "m v=1 2\n\
                this is not line protocol\n\
                m v=\"text\" 3\n\
                m,a=1,b=2,c=3 v=1 4\n\
                m,time=1 v=1 5\n\
                m v=2 6\n";
    let r = s.write("db", body);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.write("short", "m v=1 1\n");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.write("db", "nothing parses here\n");
    assert_eq!(r.status, 400, "{}", r.text());
    let samples = scrape(&s);
    let rejected = |db: &str, reason: &str| {
        value(
            &samples,
            "lineshard_lines_rejected_total",
            &[("db", db), ("reason", reason)],
        )
    };
    assert_eq!(rejected("db", "parse"), Some(2.0), "{samples:#?}");
    assert_eq!(rejected("db", "type_conflict"), Some(1.0));
    assert_eq!(rejected("db", "limit"), Some(1.0));
    assert_eq!(rejected("db", "invalid"), Some(1.0));
    assert_eq!(rejected("short", "retention"), Some(1.0));
    assert_eq!(
        value(&samples, "lineshard_points_written_total", &[("db", "db")]),
        Some(3.0),
        "m v=1 1, and the two good lines of the partial write"
    );
    assert_eq!(
        value(
            &samples,
            "lineshard_http_requests_total",
            &[("endpoint", "/write"), ("status", "400")]
        ),
        Some(3.0)
    );
}

#[test]
fn metrics_need_an_admin_under_auth_unless_metrics_auth_is_off() {
    let s = Server::start(&["--cores", "1", "--auth-enabled"]);
    let q = |creds: &str, q: &str| {
        s.request(
            "POST",
            &format!("/query?{creds}q={}", urlencode(q)),
            &[],
            b"",
        )
    };
    let r = q(
        "",
        "CREATE USER root WITH PASSWORD 'rootpw' WITH ALL PRIVILEGES",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = q("u=root&p=rootpw&", "CREATE USER bob WITH PASSWORD 'bobpw'");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = scrape_with(&s, &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.error(), "unable to parse authentication credentials");
    let r = s.request("GET", "/metrics?u=root&p=wrong", &[], b"");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.error(), "authorization failed");
    let r = s.request("GET", "/metrics?u=bob&p=bobpw", &[], b"");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error(), "error authorizing admin access");
    // root:rootpw in Basic auth.
    let r = scrape_with(&s, &[("Authorization", "Basic cm9vdDpyb290cHc=")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!parse_scrape(&r.text()).is_empty());

    let (open, _log) =
        start_with_config("[http]\nauth-enabled = true\nmetrics-auth = false\n", "1");
    let r = scrape_with(&open, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Only /metrics is left open.
    let r = open.request(
        "POST",
        &format!(
            "/query?q={}",
            urlencode("CREATE USER root WITH PASSWORD 'rootpw' WITH ALL PRIVILEGES")
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = open.request("GET", "/query?q=SHOW+DATABASES", &[], b"");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(scrape_with(&open, &[]).status, 200);
}

/// Collects the lines the server wrote to stderr until `done` holds for the lines so far (or
/// the bound on waiting passes, which the caller's assertions then report).
fn lines_until(
    log: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(seen) {
        let wait = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(wait) {
            Ok(line) => seen.push(line),
            Err(_) => return,
        }
    }
}

fn has_message(lines: &[String], message: &str) -> bool {
    message_lines(lines, message).next().is_some()
}

/// The JSON lines whose message starts with `message`.
fn message_lines<'a>(lines: &'a [String], message: &'a str) -> impl Iterator<Item = Value> + 'a {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(move |v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        })
}

const STOPPED: &str = "lineshard stopped: every core drained, synced and sealed";

#[test]
fn json_logs_say_start_and_seal_and_the_access_log_is_off_by_default() {
    let (s, log) = start_with_config(
        "[logging]\nformat = \"json\"\n[data]\nmemtable-max-bytes = 1048576\n",
        "1",
    );
    // Enough TSBS rows to pass a 1 MiB memtable a few times.
    let report = generate(&s, "logs", 100, 40_000, 2);
    assert_eq!(report["rows_acked"].as_f64(), Some(40_000.0), "{report}");
    assert_eq!(s.request("GET", "/ping", &[], b"").status, 204);
    let mut seen = Vec::new();
    lines_until(&log, &mut seen, |l| {
        has_message(l, "lineshard started") && has_message(l, "memtable sealed")
    });
    assert!(has_message(&seen, "lineshard started"), "{seen:#?}");
    assert!(has_message(&seen, "memtable sealed"), "{seen:#?}");
    for line in &seen {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        assert_ne!(
            v["target"], "access",
            "the access log is off by default: {line}"
        );
    }
    let samples = scrape(&s);
    let seals = value(&samples, "lineshard_seals_total", &[]).unwrap_or(0.0);
    assert!(seals >= 1.0, "{seals}");
    assert!(value(&samples, "lineshard_segment_files", &[]).is_some_and(|n| n >= 1.0));
}

#[test]
fn the_access_log_writes_one_line_per_request_when_enabled() {
    let (s, log) = start_with_config(
        "[http]\nlog-enabled = true\n[logging]\nformat = \"json\"\n",
        "1",
    );
    let r = s.request(
        "GET",
        "/ping?p=secret",
        &[("User-Agent", "metrics-test"), ("X-Request-Id", "req-42")],
        b"",
    );
    assert_eq!(r.status, 204);
    let mut seen = Vec::new();
    let is_access =
        |l: &String| serde_json::from_str::<Value>(l).is_ok_and(|v| v["target"] == "access");
    lines_until(&log, &mut seen, |l| l.iter().any(is_access));
    let line = seen
        .iter()
        .find(|l| is_access(l))
        .expect("an access log line");
    let v: Value = serde_json::from_str(line).expect("json");
    let text = v["message"].as_str().expect("message");
    assert!(text.starts_with("127.0.0.1 - - ["), "{text}");
    assert!(
        text.contains("] \"GET /ping?p=[REDACTED] HTTP/1.1\" 204 0 \"-\" \"metrics-test\" req-42 "),
        "{text}"
    );
    assert!(!line.contains("secret"), "{line}");
}

/// SIGTERM: a line when the shutdown begins, the drain's seal of what the memtable held (a
/// seal like any other), and the stop line; exit status 0.
#[test]
fn json_logs_say_shutdown_the_drains_seal_and_stop() {
    let (mut s, log) = start_with_config("[logging]\nformat = \"json\"\n", "1");
    s.create_db("d");
    let lines: String = (0..100).map(|i| format!("m v={i}i {}\n", i + 1)).collect();
    assert_eq!(s.write("d", &lines).status, 204);
    let mut seen = Vec::new();
    lines_until(&log, &mut seen, |l| has_message(l, "lineshard started"));
    assert!(!has_message(&seen, "memtable sealed"), "{seen:#?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    lines_until(&log, &mut seen, |l| has_message(l, STOPPED));
    assert_eq!(s.child.wait().expect("wait").code(), Some(0), "{seen:#?}");
    let begins = seen.iter().position(|l| l.contains("shutting down"));
    let sealed = seen.iter().position(|l| l.contains("memtable sealed"));
    let stopped = seen.iter().position(|l| l.contains(STOPPED));
    assert!(
        begins.is_some() && begins < sealed && sealed < stopped,
        "{seen:#?}"
    );
    let seal = message_lines(&seen, "memtable sealed").next().unwrap();
    assert_eq!(seal["partition"], 0, "{seal}");
}

/// After a kill -9, the restart says how many WAL records it replayed, and how many points.
#[test]
fn json_logs_say_what_wal_recovery_replayed_after_a_kill() {
    let toml = "[logging]\nformat = \"json\"\n";
    let (mut s, _log) = start_with_config(toml, "1");
    s.create_db("d");
    for k in 0..3 {
        let lines: String = (0..10)
            .map(|i| format!("m v={i}i {}\n", k * 10 + i + 1))
            .collect();
        assert_eq!(s.write("d", &lines).status, 204);
    }
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let (_s, log) = start_in(dir, toml, "1", None);
    let mut seen = Vec::new();
    lines_until(&log, &mut seen, |l| {
        has_message(l, "WAL replayed") && has_message(l, "lineshard started")
    });
    let replayed: Vec<Value> = message_lines(&seen, "WAL replayed").collect();
    assert_eq!(replayed.len(), 1, "{seen:#?}");
    assert!(
        replayed[0]["records"].as_u64().is_some_and(|n| n >= 1),
        "{}",
        replayed[0]
    );
    assert_eq!(replayed[0]["points"], 30, "{}", replayed[0]);
    assert!(has_message(&seen, "lineshard started"), "{seen:#?}");
}

/// `RUST_LOG` wins over `[logging] level`, both ways: `warn` hides the info lines of a server
/// configured at `info` (its client-error line, a warning, still shows), and `info` shows them
/// on a server configured at `warn`.
#[test]
fn rust_log_overrides_the_configured_level() {
    let (s, log) = start_in(
        tempfile::tempdir().unwrap(),
        "[logging]\nformat = \"json\"\nlevel = \"info\"\n",
        "1",
        Some("warn"),
    );
    assert_eq!(s.write("nosuchdb", "m v=1i 1\n").status, 404);
    let mut seen = Vec::new();
    lines_until(&log, &mut seen, |l| {
        has_message(l, "client errors since the last such line")
    });
    assert!(
        has_message(&seen, "client errors since the last such line"),
        "{seen:#?}"
    );
    for line in &seen {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"] == "WARN" || v["level"] == "ERROR",
            "RUST_LOG=warn shows {line}"
        );
    }
    drop(s);

    let (_s, log) = start_in(
        tempfile::tempdir().unwrap(),
        "[logging]\nformat = \"json\"\nlevel = \"warn\"\n",
        "1",
        Some("info"),
    );
    let mut seen = Vec::new();
    lines_until(&log, &mut seen, |l| has_message(l, "lineshard started"));
    assert!(has_message(&seen, "lineshard started"), "{seen:#?}");
}

/// A burst of client errors that ends is logged within about a second, without waiting for
/// another error: the first error has a line at once, the next ones (inside that second) a
/// line with their count once the second has passed.
#[test]
fn the_end_of_a_client_error_burst_is_logged_without_another_error() {
    let (s, log) = start_with_config("[logging]\nformat = \"json\"\n", "1");
    for _ in 0..3 {
        assert_eq!(s.write("nosuchdb", "m v=1i 1\n").status, 404);
    }
    let mut seen = Vec::new();
    let burst = "client errors since the last such line";
    let counted = |l: &[String]| -> u64 {
        message_lines(l, burst)
            .map(|v| v["client_errors"].as_u64().unwrap_or(0))
            .sum()
    };
    lines_until(&log, &mut seen, |l| counted(l) >= 3);
    assert_eq!(counted(&seen), 3, "{seen:#?}");
    let last = message_lines(&seen, burst).last().unwrap();
    assert_eq!(last["last_status"], 404, "{last}");
    assert_eq!(last["last_endpoint"], "/write", "{last}");
}
