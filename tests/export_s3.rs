//! Parquet export to S3: a real server uploads to a loopback S3 server (`moto_server`, PyPI
//! `moto[server]`), and pyarrow and DuckDB read the bucket back. One small file goes up as a
//! single PUT, one of ~6 MB as a multipart upload. Built with `--features s3`
//! (`cargo test --features s3 --test export_s3`; CI runs it so).
#![cfg(feature = "s3")]

mod common;

use common::Server;
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

#[test]
fn export_round_trips_through_a_loopback_s3() {
    let port = free_port();
    let moto = Moto(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (scripts/install-test-deps.sh installs moto[server])"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    python(
        "import sys, boto3\n\
         boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='lake')",
        &[&endpoint],
    );
    // The only test of this binary: the server inherits the credentials from here.
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lineshard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[export]\npath = \"s3://lake/nodes\"\nmax-age = \"1s\"\nnode = \"n1\"\ns3-endpoint = \"{endpoint}\"\n"
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", cfg.to_str().unwrap(), "--cores", "1"]);
    s.create_db("db");
    let r = s.write(
        "db",
        "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000\n",
    );
    assert_eq!(r.status, 204, "{}", r.text());
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

    let check = r#"
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
    out[m] = {"rows": n, "sum": s, "sizes": sorted(f.size for f in files if f.path in paths)}
print(json.dumps(out))
"#;
    let deadline = Instant::now() + Duration::from_secs(90);
    let v = loop {
        let v: serde_json::Value = serde_json::from_str(&python(check, &[&endpoint])).unwrap();
        if v["cpu"]["rows"] == 2 && v["blob"]["rows"] == 2000 {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "not all rows uploaded after 90 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
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
