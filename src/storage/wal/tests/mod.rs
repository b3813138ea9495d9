//! Unit tests of the WAL on real files, each in a fresh temporary directory and executor: one file
//! per part of the module, and here the helpers they share.

mod commit;
mod files;
mod recovery;

use super::commit::CHUNK_LEN;
use super::{FsyncPolicy, Wal, WalError};
use glommio::LocalExecutorBuilder;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

thread_local! {
    /// Whether a WAL opened on this thread writes zeros ahead of its records: off but where a
    /// test turns it on, since most tests rewrite the files of a dropped WAL, and a zeroing still
    /// in flight would write into them.
    pub(super) static ZERO_AHEAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a fresh executor small enough for an 8 MiB memlock limit.
fn run<F, T>(f: impl FnOnce() -> F + Send + 'static) -> T
where
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .expect("executor")
        .join()
        .expect("join")
}

/// Runs `f` on a fresh executor with a WAL (`Always`) opened in a fresh directory.
fn with_wal<F, Fut>(f: F)
where
    F: FnOnce(PathBuf, Wal) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    run(move || async move {
        let wal = Wal::open(&dir, FsyncPolicy::Always, |_| {})
            .await
            .expect("open");
        f(dir, wal).await
    });
}

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn replay_all(dir: &Path) -> Result<(Wal, Vec<(u64, Vec<u8>)>), WalError> {
    let mut got = Vec::new();
    let wal = Wal::open(dir, FsyncPolicy::Always, |r| {
        got.push((r.lsn, r.payload.to_vec()))
    })
    .await?;
    Ok((wal, got))
}

/// Appends `n` records from `n` concurrent tasks; returns lsn → payload.
async fn append_concurrently(wal: &Wal, n: u64, seed: u64) -> BTreeMap<u64, Vec<u8>> {
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            let wal = wal.clone();
            // Mostly small, some spanning several O_DIRECT chunks.
            let len = if k % 17 == 3 {
                CHUNK_LEN + 1234
            } else {
                1 + (k as usize * 37) % 3000
            };
            let p = payload(seed + k, len);
            glommio::spawn_local(async move {
                let lsn = wal.append(&p).await.expect("append");
                (lsn, p)
            })
        })
        .collect();
    let mut out = BTreeMap::new();
    for t in tasks {
        let (lsn, p) = t.await;
        assert!(out.insert(lsn, p).is_none(), "lsn handed out twice");
    }
    out
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}
