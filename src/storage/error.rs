//! Why a partition could not open, store a batch, seal or compact.

use super::ApplyError;
use crate::shard::batch::CorruptBatch;

/// A partition's failure. `Display` is what a failed write answers (500) or what the log says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The partition's segments, WAL or `schema.json` could not be read at start-up.
    #[error("partition {partition}: {what}: {detail}")]
    Open {
        partition: u32,
        what: &'static str,
        detail: String,
    },
    /// The batch could not be applied to the memtable.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Corrupt(#[from] CorruptBatch),
    /// A WAL or seal failure: the partition refuses every later write until restart.
    #[error("partition {partition} stopped accepting writes after a WAL error: {cause}")]
    Stopped { partition: u32, cause: String },
    /// Writing the sealed memtable as segment files, or retiring its WAL, failed.
    #[error("sealing: {0}")]
    Seal(String),
    /// A compaction failed; its inputs stay as they were (the partition takes writes).
    #[error("compacting: {0}")]
    Compact(String),
    /// A batch was sent to a core that does not own its partition.
    #[error("internal error: partition {partition} is not owned by core {core}")]
    NotOwned { partition: u32, core: usize },
}
