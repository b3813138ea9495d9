//! WAL append throughput: appends/s and fdatasyncs/s with 1, 16 and 256 concurrent appenders of
//! 350 KB payloads on one executor, per fsync policy. Each run is bounded in count and time.
//!
//! `cargo bench --bench wal [-- DIR]` (DIR defaults to target/wal-bench; not tmpfs: glommio
//! turns off direct I/O there). `WAL_BENCH_PAYLOAD_BYTES` changes the payload size.

use glommio::LocalExecutorBuilder;
use lineshard::storage::wal::{FsyncPolicy, Wal};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

const PAYLOAD_BYTES_DEFAULT: usize = 350 * 1000;
/// At most this many payload bytes per run (4000 appends of 350 KB), and at most 200 K appends.
const RUN_BYTES_MAX: u64 = 1_400_000_000;
const RUN_APPENDS_MAX: u64 = 200_000;
const RUN_TIME_MAX: Duration = Duration::from_secs(3);

fn main() {
    let base = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/wal-bench"));
    let payload_bytes = std::env::var("WAL_BENCH_PAYLOAD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PAYLOAD_BYTES_DEFAULT);
    println!("payload {payload_bytes} bytes");
    println!("policy    appenders  appends/s  fsyncs/s  batches/s  MB/s    appends/batch");
    for (name, policy) in [
        ("always", FsyncPolicy::Always),
        ("never", FsyncPolicy::Never),
    ] {
        for appenders in [1u64, 16, 256] {
            let dir = base.join(format!("{name}-{appenders}"));
            let _ = std::fs::remove_dir_all(&dir);
            let d = dir.clone();
            let line = LocalExecutorBuilder::default()
                .spawn(move || async move { run(&d, policy, appenders, payload_bytes).await })
                .expect("executor")
                .join()
                .expect("join");
            println!("{name:<9} {appenders:<10} {line}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

async fn run(
    dir: &std::path::Path,
    policy: FsyncPolicy,
    appenders: u64,
    payload_bytes: usize,
) -> String {
    let wal = Wal::open(dir, policy, |_| {}).await.expect("open");
    let appends_max = (RUN_BYTES_MAX / payload_bytes.max(1) as u64).min(RUN_APPENDS_MAX);
    let issued = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|k| {
            let wal = wal.clone();
            let issued = issued.clone();
            let payload = vec![(k % 251) as u8 + 1; payload_bytes];
            glommio::spawn_local(async move {
                while issued.get() < appends_max && start.elapsed() < RUN_TIME_MAX {
                    issued.set(issued.get() + 1);
                    wal.append(&payload).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let s = wal.stats();
    format!(
        "{:<10.0} {:<9.0} {:<10.0} {:<7.0} {:.1}",
        s.appends as f64 / secs,
        s.fsyncs as f64 / secs,
        s.batches as f64 / secs,
        s.bytes_written as f64 / secs / 1e6,
        s.appends as f64 / s.batches.max(1) as f64
    )
}
