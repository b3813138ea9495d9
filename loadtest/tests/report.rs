//! `lineshard-load report DIR` rebuilds the comparison report from the JSON files of recorded runs
//! (tests/fixtures: a `scripts/compare.sh --quick --sweep` folder with `scripts/compare-query.sh`
//! results in it, and a `scripts/latency.sh --quick` folder; per-second timelines cut out).

use std::path::{Path, PathBuf};
use std::process::Command;

const LOADER: &str = env!("CARGO_BIN_EXE_lineshard-load");

/// A copy of fixture folder `name` in a temporary folder (the report is written into it).
fn fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), dest).unwrap();
            }
        }
    }
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy(&src, dir.path());
    dir
}

fn report(dir: &Path) -> (bool, String) {
    let out = Command::new(LOADER)
        .arg("report")
        .arg(dir)
        .output()
        .expect("run lineshard-load report");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn svg(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(text.starts_with("<svg"), "{name} is not an SVG");
    text
}

const PEERS: [&str; 3] = ["lineshard", "influxd", "victoria-metrics"];

#[test]
fn sweep_report_has_every_server_and_every_chart() {
    let dir = fixture("sweep");
    for chart in [
        "report.md",
        "throughput.svg",
        "latency-vs-throughput.svg",
        "percentiles.svg",
        "query.svg",
    ] {
        assert!(
            !dir.path().join(chart).exists(),
            "{chart} is in the fixture"
        );
    }
    let (ok, text) = report(dir.path());
    assert!(ok, "{text}");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert_eq!(text, md, "prints what it writes");
    assert!(md.contains("Machine: "), "{md}");
    assert!(md.contains("| server | version | settings |"), "{md}");
    for s in PEERS {
        // The capacity table, the version table and the sweep table name every server.
        assert!(md.matches(&format!("| {s} |")).count() >= 3, "{s}:\n{md}");
        assert!(md.contains(&format!("| {s} | 10% |")), "{s}:\n{md}");
        assert!(md.contains(&format!("| {s} | 100% |")), "{s}:\n{md}");
    }
    for (chart, axes) in [
        (
            "latency-vs-throughput.svg",
            &["achieved rows/s", "latency ms"][..],
        ),
        ("percentiles.svg", &["percentile", "latency ms"][..]),
        ("throughput.svg", &["rows/s", "peak RSS MB"][..]),
    ] {
        let text = svg(dir.path(), chart);
        assert!(
            md.contains(&format!("]({chart})")),
            "{chart} not in report.md"
        );
        for s in PEERS {
            assert!(text.contains(s), "{chart} does not name {s}");
        }
        for a in axes {
            assert!(text.contains(a), "{chart} has no {a:?}");
        }
    }
    let lat = svg(dir.path(), "latency-vs-throughput.svg");
    for s in PEERS {
        // The legend: a solid p99 line and a dashed p50 line per server.
        assert!(
            lat.contains(&format!("{s} p99")) && lat.contains(&format!("{s} p50")),
            "{s}"
        );
    }
    // compare-query.sh's results in the same folder: its table and a per-query-type chart.
    assert!(md.contains("| query type |"), "{md}");
    let q = svg(dir.path(), "query.svg");
    for t in ["single-groupby-1-1-1", "lastpoint", "influxd", "lineshard"] {
        assert!(q.contains(t), "query.svg has no {t}");
    }
}

#[test]
fn latency_report_has_every_server_body_size_and_load_share() {
    let dir = fixture("latency");
    let (ok, text) = report(dir.path());
    assert!(ok, "{text}");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let chart = svg(dir.path(), "latency.svg");
    for s in PEERS.iter().chain(&["discard"]) {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {s} |")) && l.contains("req/s"))
            .unwrap_or_else(|| panic!("no row for {s}:\n{md}"));
        assert_eq!(row.matches("req/s").count(), 5, "{row}");
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| {s} |")) && l.matches(" / ").count() == 3),
            "no open-loop row for {s}:\n{md}"
        );
        assert!(chart.contains(*s), "latency.svg does not name {s}");
    }
    for a in [
        "lines per body",
        "requests/s",
        "rows/s",
        "offered load, % of the server",
    ] {
        assert!(chart.contains(a), "latency.svg has no {a:?}");
    }
    // No sweep and no capacity runs in this folder: those parts are left out.
    assert!(!md.contains("Latency against load"), "{md}");
    assert!(!dir.path().join("percentiles.svg").exists());
}

#[test]
fn report_of_a_folder_that_is_not_there_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = report(&dir.path().join("nope"));
    assert!(!ok && text.contains("not a folder"), "{text}");
}

#[test]
fn ladder_prints_the_steps_of_one_server() {
    let out = Command::new(LOADER)
        .args([
            "ladder",
            "--capacity",
            "200000",
            "--absolute",
            "20000,50000,190000",
            "--batch-size",
            "5000",
            "--connections",
            "4",
            "--duration",
            "8",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "010pct 20000",
            "025pct 50000",
            "050pct 100000",
            "075pct 150000",
            "090pct 180000",
            "100pct 200000",
        ],
        "20 000 and 50 000 are already steps; 190 000 is above 90% of capacity"
    );
}
