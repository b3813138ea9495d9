//! The write-ahead log of one storage partition (a core owns several partitions): framed records
//! in segment files, group commit, sticky failure, and recovery that cuts a torn tail but never
//! half-applies it.
//!
//! Owner: the core that owns the partition. A `Wal` is `!Send`; all its tasks run on that core's
//! executor. Several tasks append concurrently; they share writes and fdatasyncs (group commit).
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | the public types, the state the parts share (`Inner`) and its read-only accessors |
//! | `framing.rs` | the byte layout below, encoded and scanned: pure, no I/O |
//! | `commit.rs` | appends, the flush task (group commit, fsync policy, rotation), poisoning |
//! | `recovery.rs` | `Wal::open`: replay of every segment, the torn tail cut, damage refused |
//! | `files.rs` | segment files: names, listing, creation, deletion and the spare, directory fsync |
//! | `tests/` | unit tests, one file per part (`commit.rs`, `recovery.rs`, `files.rs`) |
//!
//! # Files
//!
//! One directory per partition holds segment files named by the LSN of their first record,
//! `NNNNNNNNNNNNNNNNNNNN.wal` (20 decimal digits, so names sort like LSNs). Other names are
//! ignored. LSNs start at 1 and are consecutive across segments: segment k+1 starts at the LSN
//! after the last record of segment k (a gap is an error at open).
//!
//! # Byte layout (all integers little-endian, fixed width)
//!
//! Segment header, at offset 0:
//!
//! | offset | bytes | what |
//! | --- | --- | --- |
//! | 0 | 8 | magic `LSWAL\0\0\x01` |
//! | 8 | 4 | format version, u32 = 1 |
//! | 12 | 8 | first LSN of the segment, u64 (equals the file name) |
//! | 20 | 40 | zero |
//! | 60 | 4 | CRC32C (Castagnoli) of bytes 0..60 |
//!
//! Then records, back to back from offset 64:
//!
//! | offset | bytes | what |
//! | --- | --- | --- |
//! | 0 | 4 | payload length L, u32, 1 ..= 2^30 (0 means "no more records") |
//! | 4 | 4 | CRC32C of the 8 LSN bytes followed by the L payload bytes |
//! | 8 | 8 | LSN, u64: the previous record's LSN + 1 (the header's first LSN for the first) |
//! | 16 | L | payload (for lineshard: one `shard::Batch` buffer) |
//!
//! Every write leaves at least a zero length field after its last record (O_DIRECT writes whole
//! blocks; the rest of the last block is zero, and a batch ending at a block boundary gets one
//! more zero block), or the file ends there. A scan stops at the first of: end of file, a zero
//! length (the end of the records: what follows is padding or the old bytes of a recycled file and
//! is never read), a record running past the end of file (torn), a CRC mismatch, an impossible
//! length or an unexpected LSN (corrupt). The pure scanner is `framing::scan`.
//!
//! # Writing
//!
//! Appends encode straight into O_DIRECT buffers (`CHUNK_LEN` each) of the open batch (one copy
//! of the payload, CRC computed on the way). The first appender of a batch spawns the flush task;
//! it yields once so that every append of the same executor tick joins, then writes the batch with
//! aligned `write_at`s (all chunks in flight at once) starting at the aligned offset below the end
//! of the previous batch (the partial last block is kept in memory and written again, with the same
//! bytes, followed by the new records), then fdatasyncs once and wakes every appender of the batch.
//! Appends that arrive meanwhile form the next batch. Writes run one at a time (a batch rewrites
//! the previous one's last block), but the fdatasync of a batch runs in a task of its own
//! (`sync_task`, at most `SYNCS_IN_FLIGHT_MAX` at once), so the next batch is written while it is
//! in flight and its own sync is issued as soon as its write completes. A sync issued after a
//! batch's write completed covers every record up to that batch's last, whatever order the syncs
//! finish in; after a failed sync no later one makes anything durable (the WAL is poisoned).
//! Rewriting a block
//! that holds acknowledged records is safe under the usual assumption that a sector write is
//! atomic: the old bytes are rewritten with themselves, so a torn block write cannot change them.
//! The chunks of one batch (or of a batch written while the previous one's sync was in flight)
//! may reach the disk in any order before their fdatasync; a crash can then
//! leave a zero hole followed by later records, which recovery cuts at the hole (none of them was
//! acknowledged).
//!
//! `rotate` is carried out by the flush task between two batches: records taken before it stay in
//! the old segment; the old segment's fdatasync and the next file's header block (written and
//! fdatasynced under a temporary name: the spare's, or `next.tmp` for a new file) run at once;
//! after both, the next file is renamed into place (directory fsync), and later records go there.
//! Rotating a segment that holds no record is a no-op that returns its first LSN. A recycle
//! (`truncate_before`) never runs while a rotation holds the spare, nor two at once
//! (`spare_busy`): a seal's truncation may overlap the next seal's rotation.
//!
//! # Recycled segments
//!
//! `truncate_before` keeps the newest segment it deletes (1 MiB or more) as the spare
//! (`spare.tmp`), and the next rotation makes it the new segment: the header and zeros are written
//! over its first block, fdatasync, then it is renamed into place (directory fsync). Appends to it
//! overwrite blocks the file system already allocated and wrote, inside the file's size: ext4 does
//! such direct writes without allocating, without waiting for the inode lock or for the write to
//! finish in an io_uring worker, and its fdatasync has no metadata to write. Appending past the end
//! of a fresh file instead allocates, extends the size and makes each write wait in a kernel worker
//! that competes with the core's own thread; measured on one core under full load, iowait fell from
//! ~7% to ~3% of the core. The old records after the new header are never read: the header block
//! ends in zeros and every write leaves a zero length field after its last record. Start-up deletes
//! a leftover spare.
//!
//! # Zero-ahead
//!
//! A direct write past a file's written blocks (its size) allocates and extends it: ext4 then
//! takes the inode lock, so io_uring hands the write to a kernel worker that competes with the
//! core's own thread, and the fdatasync after it must also write the inode (on the test machines a
//! 4 KiB append with O_DSYNC took 184 µs, an overwrite 89 µs). So the flush task keeps the segment
//! written ahead of the records: when a batch ends less than `ZERO_LOW_WATER` before the end of
//! the written blocks, a task of its own (`zero_task`) writes the next `ZERO_STEP` bytes with
//! zeros and fdatasyncs them, and the next batch that would reach that range first waits for it
//! (a batch is never overwritten by zeros). The zeros are what every write already leaves after
//! its last record: the end of the records for a scan. Recovery cuts them with the tail; a
//! recycled segment keeps them. No zeroing runs while the file system has less than
//! `ZERO_FREE_MIN` free, and a failed one (say, for want of space) is not retried on that file:
//! it costs nothing but the speed of the appends that extend the file.
//!
//! `FsyncPolicy::Always` acknowledges after the fdatasync that covers the record. `Interval(p)`
//! acknowledges after the write and fdatasyncs every `p` (a crash may lose acknowledged writes of
//! that window). `Never` acknowledges after the write and leaves syncing to the kernel. `rotate`
//! always fdatasyncs the old segment before creating the next, under every policy, so only the
//! last segment can have a torn tail.
//!
//! After any write or fdatasync error the WAL is poisoned: every later `append` and `rotate` fails
//! with `WalError::Poisoned` carrying the first error's text, until the process restarts (after
//! a failed fdatasync the page state is unknown; retrying could acknowledge lost data).
//!
//! A write that failed for want of space (ENOSPC, EDQUOT: nothing was promised for the bytes that
//! did not land) stops the WAL the same way, with `WalError::NoSpace`, but only until
//! `Wal::heal`: it reopens the WAL as recovery does (the last segment cut after its last intact
//! record, which covers every acknowledged one, and synced) and appends go on from there. The
//! records of the failed batch were never acknowledged; their LSNs are given again, so a wait for
//! one of them started before the heal fails (`epoch`) rather than resolve for another record.
//!
//! # Recovery (`Wal::open`)
//!
//! Segments are replayed in LSN order. The scan of the **last** segment may stop early: its tail is
//! cut (the file is truncated to the end of the last intact record and fdatasynced), and if the
//! dropped bytes were not just zero padding, stderr says how many bytes were dropped and why. A
//! record after a bad one in the same segment is never replayed, even if it is intact itself:
//! it was not acknowledged (its batch's fdatasync had not returned), and replaying it would leave
//! a hole. A torn or corrupt **non-last** segment, or a gap between segments, is an error
//! (`WalError::Corrupt` / `WalError::Gap`): rotation syncs a segment before the next one exists,
//! so this cannot be a crash artefact; it is damage, and cutting there would silently drop the
//! acknowledged records of every later segment. The operator decides. A last segment whose
//! header is unreadable but which holds nothing else (a crash while it was being created) is
//! written again. Recovery reads `READ_CHUNK_LEN` at a time, so it needs memory for one chunk plus
//! the largest record, not for a whole segment.
//!
//! # glommio notes
//!
//! `dir` is canonicalised first: glommio opens paths relative to fd -1, so a relative path fails
//! with EBADF. `prime_iopoll_probe` runs before any segment is opened: glommio decides per thread
//! and device whether polled I/O works by reading the first DMA file opened there, and an empty
//! file makes it guess wrong (every later read then fails with EOPNOTSUPP). Anything else on the
//! same executor that opens DMA files should call `prime_iopoll_probe` (or `Wal::open`) first.

pub mod framing;

mod commit;
mod files;
mod recovery;
#[cfg(test)]
mod tests;

pub use files::prime_iopoll_probe;
pub(crate) use files::sync_dir;

use commit::{OpenBatch, RotateSlot};
use files::Segment;
use framing::PAYLOAD_LEN_MAX;
use glommio::io::DmaFile;
use std::cell::RefCell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// One record handed to the replay callback of `Wal::open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRecord<'a> {
    pub lsn: u64,
    pub payload: &'a [u8],
}

/// When an appended record counts as durable (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    Interval(Duration),
    Never,
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Sticky: a write or fdatasync failed earlier; the text is the first error's.
    #[error("write-ahead log failed earlier, refusing writes until restart: {0}")]
    Poisoned(String),
    #[error("write-ahead log segment {path} is corrupt at byte {offset}: {reason} (not the last segment, so not a torn tail: refusing to start)")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("write-ahead log segment {path} should start at lsn {expected} but starts at {found}: segments are missing")]
    Gap {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    /// Sticky until `Wal::heal`: a write found no space; the text is the first error's (for
    /// the log: it names files).
    #[error("write-ahead log: no space left on the device")]
    NoSpace(String),
    #[error(
        "write-ahead log record of {0} bytes is larger than the limit of {PAYLOAD_LEN_MAX} bytes"
    )]
    TooLarge(usize),
    #[error("write-ahead log record is empty")]
    Empty,
}

impl WalError {
    /// Whether the error is a lack of space that `Wal::heal` can recover from.
    pub fn is_no_space(&self) -> bool {
        match self {
            WalError::NoSpace(_) => true,
            WalError::Io { source, .. } => crate::storage::is_no_space(source),
            _ => false,
        }
    }
}

/// The segment files of the WAL in `dir` as (first LSN, path), oldest first (for the offline
/// check; nothing is opened).
pub fn list_segment_files(dir: &std::path::Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    Ok(files::list_segments(dir)?
        .into_iter()
        .map(|s| (s.first_lsn, s.path))
        .collect())
}

/// Counters since open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    pub appends: u64,
    /// Batches written (each is one or more `write_at`s of `CHUNK_LEN` at most).
    pub batches: u64,
    pub fsyncs: u64,
    pub bytes_written: u64,
}

/// The write-ahead log of one partition. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Wal {
    inner: Rc<RefCell<Inner>>,
}

/// The state of one WAL, shared by its handles and tasks (all on one core). Its methods sit with
/// the part of the module that uses them (`commit.rs`: taking a batch, poisoning).
struct Inner {
    dir: PathBuf,
    policy: FsyncPolicy,
    file: Rc<DmaFile>,
    alignment: u64,
    /// Sorted by first LSN; the last is the one being appended to.
    segments: Vec<Segment>,
    next_lsn: u64,
    /// Every LSN up to this one is durable per the policy (appenders of them were answered Ok).
    durable_lsn: u64,
    open: OpenBatch,
    flushing: bool,
    /// fdatasyncs issued by the flush task and not finished yet.
    syncs_in_flight: usize,
    rotators: Vec<RotateSlot>,
    poisoned: Option<String>,
    /// The poison is a lack of space: `Wal::heal` may lift it.
    no_space: bool,
    /// A heal is running.
    healing: bool,
    /// Heals so far: LSNs after the last intact record are given again after a heal.
    epoch: u64,
    wakers: Vec<Waker>,
    bytes_since_rotate: u64,
    /// Written since the last fdatasync (for `Interval`).
    dirty: bool,
    stats: WalStats,
    /// How long each fdatasync took (`lineshard_wal_fsync_duration_seconds`).
    fsync_seconds: crate::metrics::Histogram,
    /// A deleted segment kept for the next rotation (see "Recycled segments").
    spare: Option<Rc<DmaFile>>,
    /// A rotation holds the spare, or a recycle is making one: no other recycle may start.
    spare_busy: bool,
    /// The last flushes, newest last: (last LSN, write done, fdatasync done), for the timeline.
    flushes: std::collections::VecDeque<(u64, Instant, Option<Instant>)>,
    /// The task queue the WAL was opened in (the core's foreground queue): its flush and sync
    /// tasks run there whoever starts them, so a rotation asked by a seal in the core's
    /// background queue does not leave the writes of every request to that queue's share.
    queue: glommio::TaskQueueHandle,
    /// Counts the segment files appended to (a rotation or a heal moves to the next): a zeroing
    /// started on one file says nothing of the next.
    file_gen: u64,
    /// Bytes of `file` from offset 0 known to be written blocks (its size): appends below it
    /// overwrite (see "Zero-ahead" in the module doc).
    zeroed_end: u64,
    /// A zeroing in flight on `file`: its generation and the offset of its piece in flight.
    zeroing: Option<(u64, u64)>,
    /// Where the batch being written (or the last one) ends: no zeroing piece starts below it.
    batch_end: u64,
    /// Batches that waited for a zeroing piece in flight (for the tests).
    zero_waits: u64,
    /// No more zeroing on this file (a failed one, or too little free space).
    zero_stopped: bool,
    /// Zero-ahead at all (off in the unit tests that rewrite a WAL's files behind its back:
    /// `tests::set_zero_ahead`).
    zero_ahead: bool,
}

impl Inner {
    /// Spawns one of the WAL's own tasks into its queue.
    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        crate::storage::spawn_into(self.queue, task);
    }
}

impl Wal {
    /// Bytes appended but not yet taken by a flush: what a slow disk leaves in memory.
    pub fn pending_bytes(&self) -> u64 {
        self.inner.borrow().open.record_bytes
    }

    /// Every record up to this LSN is durable per the policy.
    pub fn durable_lsn(&self) -> u64 {
        self.inner.borrow().durable_lsn
    }

    /// Bytes of records appended to the current segment (including those replayed into it).
    pub fn bytes_since_rotate(&self) -> u64 {
        self.inner.borrow().bytes_since_rotate
    }

    /// The LSN the next append will get.
    pub fn next_lsn(&self) -> u64 {
        self.inner.borrow().next_lsn
    }

    pub fn stats(&self) -> WalStats {
        self.inner.borrow().stats
    }

    /// Heals so far (see `heal`): LSNs after the last intact record were given again at each.
    pub fn epoch(&self) -> u64 {
        self.inner.borrow().epoch
    }

    /// The error an append would get now, if the WAL is stopped.
    pub fn stopped(&self) -> Option<WalError> {
        let i = self.inner.borrow();
        i.poisoned.as_ref().map(|_| i.sticky())
    }

    /// Whether the WAL stopped for want of space and no heal runs yet.
    pub fn needs_heal(&self) -> bool {
        let i = self.inner.borrow();
        i.poisoned.is_some() && i.no_space && !i.healing
    }

    /// The durations of this WAL's fdatasyncs since it opened.
    pub fn fsync_histogram(&self) -> crate::metrics::Histogram {
        self.inner.borrow().fsync_seconds.clone()
    }

    /// When the flush that made `lsn` durable finished its write and its fdatasync (`None` if
    /// it is no longer among the last few, or took no sync).
    pub fn flush_times(&self, lsn: u64) -> (Option<Instant>, Option<Instant>) {
        let i = self.inner.borrow();
        i.flushes
            .iter()
            .find(|f| f.0 >= lsn)
            .map_or((None, None), |f| (Some(f.1), f.2))
    }
}

/// Log: a WAL stopped for want of space (until it heals).
fn log_no_space(dir: &std::path::Path, e: &WalError) {
    tracing::error!(wal = %dir.display(), error = %e, "WAL out of space: refusing writes until it can be reopened");
}

/// Log: a WAL reopened after a lack of space.
fn log_healed(dir: &std::path::Path, next_lsn: u64) {
    tracing::info!(wal = %dir.display(), next_lsn, "WAL reopened after a lack of space: taking writes again");
}

/// Log: reopening a WAL after a lack of space failed (it is tried again).
fn log_heal_failed(dir: &std::path::Path, e: &WalError) {
    tracing::warn!(wal = %dir.display(), error = %e, "WAL cannot reopen yet");
}
