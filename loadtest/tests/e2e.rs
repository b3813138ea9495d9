//! End-to-end runs of the `lineshard-load` binary against real servers on ephemeral ports.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const LOADER: &str = env!("CARGO_BIN_EXE_lineshard-load");

/// A child process killed on drop, with the address it printed once it was listening.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits for its readiness line `<prefix><addr>` on stdout (no sleeps, no fixed port).
fn start(mut cmd: Command, prefix: &str) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                // The address is the first word after the prefix (lineshard adds "(N cores, ...)").
                if let Some(a) = line
                    .strip_prefix(prefix)
                    .and_then(|a| a.split_whitespace().next())
                {
                    break a.to_string();
                }
            }
            _ => {
                let _ = child.kill();
                panic!("server exited before printing {prefix:?}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// A finished process's stdout then stderr.
fn output_text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn loader(args: &[&str]) -> (bool, String) {
    let out = Command::new(LOADER)
        .args(args)
        .output()
        .expect("run lineshard-load");
    let text = output_text(&out);
    (out.status.success(), text)
}

#[test]
fn discard_server_run_writes_a_json_report_and_verify_catches_missing_rows() {
    let mut cmd = Command::new(LOADER);
    cmd.args([
        "discard-server",
        "--bind",
        "127.0.0.1:0",
        "--lifetime-s",
        "60",
    ]);
    let server = start(cmd, "discard-server listening on ");
    let url = format!("http://{}", server.addr);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let svg = dir.path().join("r.svg");
    let (ok, text) = loader(&[
        "--url",
        &url,
        "--rows",
        "23000",
        "--batch-size",
        "1000",
        "--connections",
        "2",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["rows_sent"], 23000);
    assert_eq!(v["rows_acked"], 23000);
    assert_eq!(v["status_counts"]["204"], 23);
    assert!(v["rows_per_sec"].as_f64().unwrap() > 0.0 && v["mb_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["latency_ms"]["p999"].as_f64().unwrap() >= v["latency_ms"]["p50"].as_f64().unwrap());
    assert_eq!(v["errors"], serde_json::json!([]));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    // The discard server stores nothing, so --verify must fail.
    let (ok, text) = loader(&["--url", &url, "--rows", "5000", "--quiet", "--verify"]);
    assert!(
        !ok,
        "verify passed against a server that stores nothing:\n{text}"
    );
    assert!(
        text.contains("5000 acknowledged rows are missing"),
        "{text}"
    );
}

#[test]
fn unreachable_target_fails_cleanly() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let (ok, text) = loader(&["--url", &url, "--rows", "10", "--quiet"]);
    assert!(!ok && text.contains("connect"), "{text}");
}

/// `query-time`: every line to every server, the server asked first alternating, one JSON line an
/// answer with its status and body; a server that is not there answers status 0 with the error.
#[test]
fn query_time_asks_every_server_in_alternating_order() {
    let mut cmd = Command::new(LOADER);
    cmd.args([
        "discard-server",
        "--bind",
        "127.0.0.1:0",
        "--lifetime-s",
        "60",
    ]);
    let server = start(cmd, "discard-server listening on ");
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_url = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("q.txt");
    std::fs::write(&queries, "/query?q=a\n/query?q=b\n/query?q=c\n").unwrap();
    let url = format!("http://{}", server.addr);
    let (ok, text) = loader(&[
        "query-time",
        "--url",
        &url,
        "--url",
        &gone_url,
        "--queries",
        queries.to_str().unwrap(),
        "--warmup",
        "0",
    ]);
    assert!(ok, "{text}");
    let answers: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<(u64, u64)> = answers
        .iter()
        .map(|a| (a["line"].as_u64().unwrap(), a["server"].as_u64().unwrap()))
        .collect();
    assert_eq!(order, [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]);
    for a in &answers {
        if a["server"] == 0 {
            assert_eq!(a["status"], 200, "{a}");
        } else {
            assert_eq!(a["status"], 0, "{a}");
            assert!(a["body"].as_str().unwrap().contains("transport"), "{a}");
        }
        assert!(a["us"].as_f64().unwrap() > 0.0, "{a}");
    }
}

/// The lineshard binary: LINESHARD_BIN (e.g. a release build), else target/debug/lineshard (CI
/// builds the workspace first).
fn lineshard_bin() -> PathBuf {
    let bin = std::env::var_os("LINESHARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/lineshard")
        });
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build` at the workspace root first",
        bin.display()
    );
    bin
}

/// Against a real lineshard process.
#[test]
fn lineshard_stores_every_acknowledged_row() {
    let bin = lineshard_bin();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--cores",
        "2",
    ]);
    let server = start(cmd, "lineshard listening on ");
    let url = format!("http://{}", server.addr);
    for (workload, extra) in [
        ("tsbs-cpu", "--precision=ns"),
        ("wide", "--gzip"),
        ("high-cardinality", "--precision=s"),
    ] {
        let (ok, text) = loader(&[
            "--url",
            &url,
            "--db",
            "e2e",
            "--create-db",
            "--workload",
            workload,
            extra,
            "--hosts",
            "300",
            "--rows",
            "12000",
            "--batch-size",
            "1000",
            "--connections",
            "3",
            "--quiet",
            "--verify",
        ]);
        assert!(ok, "{workload}: {text}");
        assert!(
            text.contains("verify        OK (expected 12000 rows, stored 12000"),
            "{workload}: {text}"
        );
    }
}

/// scripts/compare_query.py checks its TSBS query texts against TSBS's own test fixtures and that
/// its answer comparer flags each kind of difference (`selftest`).
#[test]
fn compare_query_selftest_passes() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/compare_query.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("selftest")
        .output()
        .expect("python3");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("compare_query selftest: 0 failures"),
        "{text}"
    );
}

/// scripts/compare-query.sh end to end on a small data set: both servers loaded, every TSBS query
/// type answered by influxd with rows, every lineshard answer counted as the same or different,
/// the results written where the table says.
#[test]
fn compare_query_script_runs_against_influxd_and_lineshard() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let lineshard = lineshard_bin();
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/compare-query.sh"))
        .args(["--hosts", "10", "--hours", "1", "--queries", "3", "--out"])
        .arg(out_dir.path())
        .env("LINESHARD_BIN", &lineshard)
        .env("LOAD_BIN", LOADER)
        .output()
        .expect("bash");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("| query type |"), "{text}");
    let rep: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("query.json")).expect("query.json"),
    )
    .unwrap();
    assert_eq!(
        rep["config"]["servers"],
        serde_json::json!(["influxd", "lineshard"]),
        "{text}"
    );
    let types: Vec<&str> = rep["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "single-groupby-1-1-1",
            "single-groupby-5-1-12",
            "double-groupby-1",
            "high-cpu-1",
            "lastpoint",
            "groupby-orderby-limit"
        ]
    );
    for t in rep["types"].as_array().unwrap() {
        let name = &t["type"];
        assert_eq!(t["queries"], 3, "{name}: {text}");
        assert_eq!(t["influxd"]["errors"], 0, "{name}: {t}");
        assert_eq!(t["influxd"]["answered"], 3, "{name}: {t}");
        assert!(
            t["influxd"]["rows_mean"].as_f64().unwrap() > 0.0,
            "{name}: {t}"
        );
        let (same, differ) = (t["same"].as_u64().unwrap(), t["differ"].as_u64().unwrap());
        assert_eq!(same + differ, 3, "{name}: {t}");
        assert_eq!(differ > 0, t["first_difference"].is_object(), "{name}: {t}");
    }
    assert!(out_dir.path().join("query.md").exists());
    assert!(out_dir.path().join("query-load-lineshard.json").exists());
}

/// A loopback sink that answers every request 204 and records when each request's body arrived
/// (seconds since the sink started). Stops accepting after `conns` connections.
fn arrival_sink(conns: usize) -> (String, std::thread::JoinHandle<Vec<f64>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept() else { break };
            let times = times.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 64 * 1024];
                loop {
                    // One request: the head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    times.lock().unwrap().push(t0.elapsed().as_secs_f64());
                    buf.drain(..head_end + len);
                    if s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            }));
        }
        for t in threads {
            let _ = t.join();
        }
        let mut v = times.lock().unwrap().clone();
        v.sort_by(f64::total_cmp);
        v
    });
    (addr, handle)
}

/// Open loop, 8 connections, each sending every 400 ms: the requests reach the server spread over
/// the period (about one every 50 ms), not 8 at once every 400 ms. The median gap between
/// consecutive arrivals is the test: in bursts 7 of every 8 gaps are a few microseconds.
#[test]
fn open_loop_arrivals_are_spread_over_the_period() {
    for arrivals in ["uniform", "poisson"] {
        let (addr, sink) = arrival_sink(8);
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("r.json");
        // 8 × 100 rows every 0.4 s = 2000 rows/s; 48 requests.
        let (ok, text) = loader(&[
            "--url",
            &format!("http://{addr}"),
            "--rate",
            "2000",
            "--arrivals",
            arrivals,
            "--connections",
            "8",
            "--batch-size",
            "100",
            "--rows",
            "4800",
            "--duration",
            "60",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        let times = sink.join().unwrap();
        assert_eq!(times.len(), 48, "{arrivals}: {text}");
        let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let median = gaps[gaps.len() / 2];
        // Uniform: every gap is 50 ms. Poisson: the median of exponential gaps of mean 50 ms is
        // 35 ms. Bursts: microseconds.
        assert!(
            median > 0.010,
            "{arrivals}: median gap {median} s: {gaps:?}"
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(v["arrivals"], arrivals);
        assert_eq!(v["rows_acked"], 4800);
    }
}

/// scripts/latency.sh end to end against the discard server (1 s steps): every closed-loop body
/// and open-loop share recorded, the report and its chart written.
#[test]
fn latency_script_runs_against_the_discard_server() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/latency.sh"))
        .args(["--quick", "--only", "discard", "--out"])
        .arg(out_dir.path())
        .env("LOAD_BIN", LOADER)
        .env("STEP", "1")
        .output()
        .expect("bash");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let dir = out_dir.path().join("latency/discard");
    for f in [
        "closed-b10",
        "closed-b100",
        "closed-b1000",
        "closed-b5000",
        "closed-b5000gz",
        "open-025pct",
        "open-050pct",
        "open-075pct",
    ] {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{f}.json"))).unwrap()).unwrap();
        assert!(v["rows_acked"].as_u64().unwrap() > 0, "{f}: {v}");
        assert_eq!(v["connections"], 16, "{f}");
        assert_eq!(v["arrivals"].is_string(), f.starts_with("open"), "{f}");
    }
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    assert!(md.contains("| discard | ") && md.contains("req/s"), "{md}");
    assert!(out_dir.path().join("latency.svg").exists());
}

/// scripts/compare.sh --sweep end to end on lineshard alone (1 s runs): the capacity run, every
/// step of its ladder, and the report with its charts.
#[test]
fn compare_sweep_script_runs_against_lineshard() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/compare.sh"))
        .args(["--quick", "--sweep", "--only", "lineshard", "--out"])
        .arg(out_dir.path())
        .args(["--", "--batch-size", "500"])
        .env("LINESHARD_BIN", lineshard_bin())
        .env("LOAD_BIN", LOADER)
        .env("DURATION", "1")
        .env("STEP", "1")
        .env("SWEEP_RATES", "2000")
        .output()
        .expect("bash");
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    let ladder =
        std::fs::read_to_string(out_dir.path().join("sweep/lineshard/ladder.txt")).unwrap();
    assert!(ladder.starts_with("010pct "), "{ladder}");
    for line in ladder.lines() {
        let label = line.split_whitespace().next().unwrap();
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.path().join(format!("sweep/lineshard/{label}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(v["arrivals"], "uniform", "{label}");
        assert!(v["rate"].as_f64().unwrap() > 0.0, "{label}");
    }
    // Every step of the ladder is a row of the report (a slow capacity run may have merged the
    // higher shares into the floor's step, so the ladder says which are there).
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    for line in ladder.lines() {
        let label = line.split_whitespace().next().unwrap();
        let step = match label.strip_suffix("pct") {
            Some(p) => format!("{}%", p.trim_start_matches('0')),
            None => "absolute".to_string(),
        };
        assert!(
            md.contains(&format!("| lineshard | {step} |")),
            "{label}: {md}"
        );
    }
    for chart in ["latency-vs-throughput.svg", "throughput.svg"] {
        assert!(out_dir.path().join(chart).exists(), "{chart}");
    }
}
