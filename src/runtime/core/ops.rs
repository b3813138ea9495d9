//! A core's side of operations: the free-space floor, a WAL that heals after ENOSPC, a seal
//! retried until it is written, and the storage step of a graceful shutdown.

use super::Core;
use crate::storage::wal::Wal;
use std::rc::Rc;
use std::time::Duration;

/// How often a core looks at the data dir's free space (one `statvfs`).
const DISK_CHECK_PERIOD: Duration = Duration::from_millis(100);
/// How long a failed seal waits before it is tried again (its memtable stays readable, and its
/// WAL stays until the seal is written).
const SEAL_RETRY: Duration = Duration::from_secs(1);

impl Core {
    /// Whether writes are refused for want of disk space (`[data] min-free-disk-bytes`).
    pub fn disk_low(&self) -> bool {
        self.disk_low.get()
    }

    /// Whether a write must be refused for want of disk space. A core that last saw the disk
    /// low looks again before it refuses: each core's watch runs on its own schedule, and a
    /// client whose write was taken on one core just after space was freed must not have its
    /// next write refused by another that has not looked yet.
    pub fn refuse_for_disk(&self) -> bool {
        if !self.disk_low.get() {
            return false;
        }
        let floor = self.config.data.min_free_disk_bytes;
        match crate::storage::free_bytes(&self.data_dir) {
            Ok(free) => self.note_free_bytes(free, floor),
            Err(e) => log_disk_check_failed(&e),
        }
        self.disk_low.get()
    }

    /// Records a look at the free space: low when under `floor` (core 0 logs each change).
    fn note_free_bytes(&self, free: u64, floor: u64) {
        let low = free < floor;
        if low != self.disk_low.get() && self.id == 0 {
            log_disk_low(low, free, floor);
        }
        self.disk_low.set(low);
    }

    /// Checks the data dir's free space every [`DISK_CHECK_PERIOD`] against
    /// `[data] min-free-disk-bytes` (nothing to do when it is 0).
    pub fn start_disk_watch(self: &Rc<Self>) {
        let floor = self.config.data.min_free_disk_bytes;
        if floor == 0 {
            return;
        }
        let core = self.clone();
        glommio::spawn_local(async move {
            loop {
                // statvfs reads the superblock's counters: no disk I/O, cheap enough to make
                // on the core's own thread.
                match crate::storage::free_bytes(&core.data_dir) {
                    Ok(free) => core.note_free_bytes(free, floor),
                    Err(e) => log_disk_check_failed(&e),
                }
                glommio::timer::sleep(DISK_CHECK_PERIOD).await;
            }
        })
        .detach();
    }

    /// Reopens `wal` in the background once it stopped for want of space (one task per WAL).
    pub(super) fn heal_wal(&self, wal: Rc<Wal>) {
        if wal.needs_heal() {
            glommio::spawn_local(async move { wal.heal().await }).detach();
        }
    }

    /// Seals partition `idx`, retrying a failed seal every [`SEAL_RETRY`] until it is written;
    /// whether a seal was written.
    pub(super) async fn seal_until_done(self: &Rc<Self>, idx: usize) -> bool {
        let (started, partition) = (std::time::Instant::now(), self.partition_id(idx));
        loop {
            match crate::storage::seal(&self.partitions, idx).await {
                Ok(written) => {
                    if written {
                        self.sealed(partition, started);
                    }
                    return written;
                }
                Err(e) => {
                    let retry = self
                        .partitions
                        .borrow()
                        .get(idx)
                        .is_some_and(|p| p.seal_failed());
                    log_seal_failed(self.id, &e, retry);
                    if !retry {
                        return false;
                    }
                    if let Some(wal) = self.partitions.borrow().get(idx).map(|p| p.wal()) {
                        self.heal_wal(wal);
                    }
                    glommio::timer::sleep(SEAL_RETRY).await;
                }
            }
        }
    }

    /// Counts a written seal (`lineshard_seals_total`) and logs it.
    fn sealed(&self, partition: u32, started: std::time::Instant) {
        self.counters().seals += 1;
        tracing::info!(
            core = self.id,
            partition,
            took_ms = started.elapsed().as_millis() as u64,
            "memtable sealed"
        );
    }

    /// The storage step of a graceful shutdown, once the connections are done: every WAL
    /// synced (what `interval` and `never` acknowledged becomes durable), then every memtable
    /// sealed (logged and counted as any seal), so the next start replays little. A seal already
    /// running is waited for.
    pub async fn shutdown_storage(self: &Rc<Self>) {
        let wals: Vec<Rc<Wal>> = self.partitions.borrow().iter().map(|p| p.wal()).collect();
        for wal in &wals {
            if let Err(e) = wal.sync().await {
                log_shutdown_sync_failed(self.id, &e);
            }
        }
        let count = self.partitions.borrow().len();
        for idx in 0..count {
            while self
                .partitions
                .borrow()
                .get(idx)
                .is_some_and(|p| p.is_sealing() && !p.seal_failed())
            {
                glommio::timer::sleep(Duration::from_millis(5)).await;
            }
            if self
                .partitions
                .borrow()
                .get(idx)
                .is_some_and(|p| p.has_unsealed() || p.seal_failed())
            {
                let started = std::time::Instant::now();
                match crate::storage::seal(&self.partitions, idx).await {
                    Ok(true) => self.sealed(self.partition_id(idx), started),
                    Ok(false) => {}
                    Err(e) => log_seal_failed(self.id, &e, false),
                }
            }
        }
    }
}

/// Log: writes refused, or taken again, for the free-space floor.
fn log_disk_low(low: bool, free: u64, floor: u64) {
    if low {
        tracing::warn!(
            free_bytes = free,
            min_free_disk_bytes = floor,
            "free space below min-free-disk-bytes: refusing writes (503) until there is space"
        );
    } else {
        tracing::info!(free_bytes = free, "free space is back: taking writes again");
    }
}

fn log_disk_check_failed(e: &nix::Error) {
    tracing::warn!(error = %e, "cannot read the data dir's free space");
}

/// Log: a seal failed (its memtable stays readable; `retry`: it is tried again).
fn log_seal_failed(core: usize, e: &crate::storage::StorageError, retry: bool) {
    tracing::error!(core, error = %e, retry, "seal failed");
}

fn log_shutdown_sync_failed(core: usize, e: &crate::storage::wal::WalError) {
    tracing::error!(core, error = %e, "shutdown: syncing a write-ahead log failed");
}
