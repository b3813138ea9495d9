//! Parquet export to S3: a real server uploads to a loopback S3 server (`moto_server`, PyPI
//! `moto[server]`), and pyarrow and DuckDB read the bucket back. One small file goes up as a
//! single PUT, one of ~6 MB as a multipart upload; a store that is down while data is sealed
//! gets the data once it is up. Built with `--features s3`
//! (`cargo test --features s3 --test export_s3`; CI runs it so).
#![cfg(feature = "s3")]

mod common;

use common::Server;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `moto_server` on `port` and creates the bucket `lake`.
fn start_moto(port: u16) -> Moto {
    let moto = Moto(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (scripts/install-test-deps.sh installs moto[server])"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    python(
        "import sys, boto3\n\
         boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='lake')",
        &[&format!("http://127.0.0.1:{port}")],
    );
    moto
}

/// A server (one core) exporting to `s3://lake/nodes` on `endpoint`; the credentials are the
/// same for every test of this binary and reach the server through the environment.
fn exporting_to(endpoint: &str, tmp: &Path) -> Server {
    static CREDENTIALS: std::sync::Once = std::sync::Once::new();
    CREDENTIALS.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    });
    let cfg = tmp.join("lineshard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[export]\npath = \"s3://lake/nodes\"\nmax-age = \"1s\"\nnode = \"n1\"\ns3-endpoint = \"{endpoint}\"\n"
        ),
    )
    .unwrap();
    Server::start(&["--config", cfg.to_str().unwrap(), "--cores", "1"])
}

/// Per measurement of db.autogen in the bucket: rows, rows repeated on (tags, time), a sum
/// (`usage` for cpu, the strings' lengths for blob) and the files' sizes.
const CHECK: &str = r#"
import json, os, sys, duckdb, pyarrow.dataset as ds, pyarrow.fs as pafs
fs = pafs.S3FileSystem(endpoint_override=sys.argv[1], scheme="http", region="us-east-1",
                       access_key="test", secret_key="test")
files = [f for f in fs.get_file_info(pafs.FileSelector("lake/nodes", recursive=True, allow_not_found=True))
         if f.path.endswith(".parquet")]
out = {}
for m in ("cpu", "blob"):
    paths = [f.path for f in files if f.path.startswith(f"lake/nodes/db/autogen/{m}/")]
    if not paths:
        continue
    t = ds.dataset(paths, filesystem=fs, format="parquet").to_table()
    con = duckdb.connect()
    con.register("t", t)
    col = "usage" if m == "cpu" else "s"
    agg = "sum(usage)" if m == "cpu" else "sum(length(s))"
    n, s = con.execute(f"select count(*), {agg}::double from t").fetchall()[0]
    key = "host, time" if m == "cpu" else "k, time"
    d, = con.execute(f"select count(*) from (select distinct {key} from t)").fetchall()[0]
    out[m] = {"rows": n, "sum": s, "duplicates": n - d,
              "sizes": sorted(f.size for f in files if f.path in paths)}
print(json.dumps(out))
"#;

/// The bucket's summary once `done` holds of it (polled, at most 90 s).
fn wait_bucket(endpoint: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v: serde_json::Value = serde_json::from_str(&python(CHECK, &[endpoint])).unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "not all rows uploaded after 90 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `/health`'s export check, polled until `status` (at most 60 s).
fn wait_health(s: &Server, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = s.request("GET", "/health", &[], b"");
        let v: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        if v["checks"][0]["status"] == status {
            assert_eq!(v["checks"][0]["name"], "export", "{v}");
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "/health never said {status}: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Database `db` with two `cpu` rows (usage 1.5 and 2.5).
fn write_cpu(s: &Server) {
    s.create_db("db");
    let r = s.write(
        "db",
        "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000\n",
    );
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn export_round_trips_through_a_loopback_s3() {
    let port = free_port();
    let moto = start_moto(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let s = exporting_to(&endpoint, tmp.path());
    write_cpu(&s);
    // ~6 MB of incompressible strings: one Parquet file above the single-PUT size.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::new();
    for row in 0..2000 {
        let mut v = String::with_capacity(4096);
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(alphabet[(x % 64) as usize] as char);
        }
        body.push_str(&format!("blob,k=1 s=\"{v}\" {}\n", 3_000_000_000u64 + row));
    }
    let r = s.write("db", &body);
    assert_eq!(r.status, 204, "{}", r.text());

    let v = wait_bucket(&endpoint, |v| {
        v["cpu"]["rows"] == 2 && v["blob"]["rows"] == 2000
    });
    assert_eq!(v["cpu"]["sum"], 4.0);
    assert_eq!(v["blob"]["sum"], 2000.0 * 4096.0);
    let big = v["blob"]["sizes"][0].as_u64().unwrap();
    assert!(
        big > 5 << 20,
        "the blob file ({big} B) should have needed a multipart upload"
    );
    let h = s.request("GET", "/health", &[], b"");
    assert!(
        h.text().contains(r#""name":"export","status":"pass""#),
        "{}",
        h.text()
    );
    drop(moto);
}

/// The store is down while data is sealed: `/health` warns, the segment files stay, and once
/// the store is up on the same endpoint every row arrives once.
#[test]
fn an_unreachable_store_keeps_the_data_until_it_is_up() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let s = exporting_to(&endpoint, tmp.path());
    write_cpu(&s);
    // Sealed within max-age (1 s), not exported: the check warns, the file stays.
    let v = wait_health(&s, "warn");
    let msg = v["checks"][0]["message"].as_str().unwrap();
    assert!(msg.contains("1 segment files"), "{msg}");
    assert_eq!(v["status"], "pass", "writes and queries still work: {v}");
    let segments = s.dir.path().join("partitions/0/segments");
    let kept = || {
        std::fs::read_dir(&segments)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count()
    };
    assert_eq!(kept(), 1, "the sealed file is kept");
    let q = s.query("SELECT count(usage) FROM db..cpu");
    assert_eq!(q["results"][0]["series"][0]["values"][0][1], 2);
    // More data while the store is still down.
    let r = s.write("db", "cpu,host=a usage=3 3000000000\n");
    assert_eq!(r.status, 204, "{}", r.text());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(kept(), 2, "both sealed files are kept");

    let moto = start_moto(port);
    let v = wait_bucket(&endpoint, |v| v["cpu"]["rows"].as_u64() >= Some(3));
    wait_health(&s, "pass");
    // Nothing more arrives later: each row once.
    std::thread::sleep(Duration::from_secs(1));
    let v2 = wait_bucket(&endpoint, |_| true);
    assert_eq!(v, v2, "rows uploaded after the check");
    assert_eq!(v["cpu"]["rows"], 3, "{v}");
    assert_eq!(v["cpu"]["duplicates"], 0, "{v}");
    assert_eq!(v["cpu"]["sum"], 7.0, "{v}");
    drop(moto);
}
