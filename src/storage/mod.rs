//! Storage partitions: the only module that holds points or writes them to disk.
//!
//! A data dir has a fixed number of partitions, chosen when it is created (`layout`). A series of
//! (db, rp) lives in partition `shard::key::partition_of(series hash, db/rp hash, P)`, and core
//! `c` of `N` owns the partitions `p % N == c`: several when there are more partitions than
//! cores, none when there are fewer (that core only routes). Nothing here is shared between
//! cores; a partition is reached only from its owner core's executor.
//!
//! A partition holds a WAL (`wal`), a memtable (per (db, rp) an interned series index and, per
//! series, a chain of record chunks, each record a timestamp and its fields), the memtable being
//! sealed, and sealed segment files (`segment`, the `LSSEG` format: per series a time block and
//! one typed column block per field). Writes only append; the same series and timestamp written
//! twice resolve when read or sealed: fields merge and the later write wins, as in InfluxDB
//! ("Duplicate points").

mod error;
mod index;
pub mod layout;
mod memtable;
pub mod scan;
pub mod segment;
pub mod wal;

mod partition;

#[cfg(test)]
mod admission_tests;

pub use error::{is_no_space, StorageError};
pub use index::{merge_show, series_key, KeyMatch, SeriesIndex, ShowAnswer, ShowRequest, ShowWhat};
pub use memtable::{Admit, ApplyError, KnownField, Memtable};
pub use partition::marks;
pub use partition::{
    check_partition, compact, merge_sources, partition_dir, profile_files, rewrite_segments,
    scan_files, scan_files_columns, scan_segment, seal, Deleted, Finding, Partition,
    PartitionCheck, Scanned, SegmentSource, Stored, FILES_PER_SEAL_MAX,
};
pub use scan::{ScanRequest, SeriesColumns, SeriesRows};

/// Spawns `task`, detached, into the task queue `queue` of this executor (a queue the caller
/// created or found on it, which lives as long as the executor).
pub fn spawn_into(
    queue: glommio::TaskQueueHandle,
    task: impl std::future::Future<Output = ()> + 'static,
) {
    match glommio::spawn_local_into(task, queue) {
        Ok(t) => {
            t.detach();
        }
        Err(_) => unreachable!("a task queue of this executor is gone"),
    }
}

/// Free bytes for unprivileged users on the file system holding `dir` (one `statvfs`: the
/// superblock's counters, no disk I/O).
pub(crate) fn free_bytes(dir: &std::path::Path) -> nix::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir)?;
    #[allow(clippy::unnecessary_cast)] // not u64 on every target
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}
