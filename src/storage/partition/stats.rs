//! What a partition holds and has written, for `/metrics` (read when a scrape asks).

use super::Partition;
use crate::metrics::StorageStats;

impl Partition {
    /// Memtable bytes (the active one and one being sealed), segment files and their bytes,
    /// WAL bytes written and fdatasync durations since the partition opened.
    pub fn stats(&self) -> StorageStats {
        let sealing = self.sealing.as_ref().map_or(0, |m| m.memtable_bytes());
        StorageStats {
            memtable_bytes: (self.memtable.memtable_bytes() + sealing) as u64,
            segment_files: self.segments.len() as u64,
            segment_bytes: self.segments.iter().map(|s| s.bytes).sum(),
            wal_bytes: self.wal.stats().bytes_written,
            wal_fsync: self.wal.fsync_histogram(),
        }
    }
}
