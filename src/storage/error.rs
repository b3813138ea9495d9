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
    /// A WAL or storage failure: the partition refuses every later write until restart. The
    /// cause (which names files) is in the log, not in the text a client gets.
    #[error("partition {partition} stopped accepting writes after a storage error (the server log has the cause)")]
    Stopped { partition: u32, cause: String },
    /// The partition's WAL found no space: writes are refused until it reopens by itself.
    #[error(
        "no space left on the data dir's device: writes are refused until there is space again"
    )]
    NoSpace { partition: u32 },
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

/// Whether an I/O error is a lack of space (ENOSPC, EDQUOT): nothing was promised for the bytes
/// that did not land, and the write can be tried again once space is back.
pub fn is_no_space(e: &std::io::Error) -> bool {
    use nix::libc::{EDQUOT, ENOSPC};
    if let Some(code) = e.raw_os_error() {
        return code == ENOSPC || code == EDQUOT;
    }
    // glommio rebuilds some errors from their kind only; `StorageFull` and `QuotaExceeded` are
    // newer than the MSRV, so they are recognised by name.
    matches!(
        format!("{:?}", e.kind()).as_str(),
        "StorageFull" | "QuotaExceeded"
    )
}
