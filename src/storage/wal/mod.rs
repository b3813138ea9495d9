//! The write-ahead log of one storage partition (one per core): framed records in segment files,
//! group commit, sticky failure, and recovery that cuts a torn tail but never half-applies it.
//!
//! Owner: the core that owns the partition. A `Wal` is `!Send`; all its tasks run on that core's
//! executor. Several tasks append concurrently; they share writes and fdatasyncs (group commit).
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
//! Appends that arrive meanwhile form the next batch; one flush runs at a time. Rewriting a block
//! that holds acknowledged records is safe under the usual assumption that a sector write is
//! atomic: the old bytes are rewritten with themselves, so a torn block write cannot change them.
//! The chunks of one batch may reach the disk in any order before the fdatasync; a crash can then
//! leave a zero hole followed by later records, which recovery cuts at the hole (none of them was
//! acknowledged).
//!
//! `rotate` is carried out by the flush task between two batches: records taken before it stay in
//! the old segment, the segment is fdatasynced, the next one is created (header block, fdatasync,
//! directory fsync), and later records go there. Rotating a segment that holds no record is a
//! no-op that returns its first LSN.
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

use framing::{Stop, HEADER_LEN, PAYLOAD_LEN_MAX};
use glommio::io::{DmaBuffer, DmaFile, OpenOptions};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Bytes per O_DIRECT write buffer of a batch (a multiple of every block size).
const CHUNK_LEN: usize = 1 << 20;
/// Bytes read at a time during recovery.
const READ_CHUNK_LEN: usize = 4 << 20;
/// The spare segment (see "Recycled segments"): its file name in the WAL directory (not a
/// segment name, so a listing ignores it; start-up deletes a leftover one).
const SPARE_NAME: &str = "spare.tmp";
/// A deleted segment smaller than this is unlinked rather than kept as the spare (in unit tests
/// every one is kept, so they all run on recycled files).
const SPARE_LEN_MIN: u64 = if cfg!(test) { 1 } else { 1 << 20 };

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
    #[error(
        "write-ahead log record of {0} bytes is larger than the limit of {PAYLOAD_LEN_MAX} bytes"
    )]
    TooLarge(usize),
    #[error("write-ahead log record is empty")]
    Empty,
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

/// Where the flush task answers a `rotate` call: the new segment's first LSN, or the poison text.
type RotateSlot = Rc<RefCell<Option<Result<u64, String>>>>;

struct Segment {
    first_lsn: u64,
    path: PathBuf,
}

/// The batch being filled by appends, not yet taken by the flush task.
struct OpenBatch {
    /// Aligned file offset of the first byte of `chunks[0]`.
    offset: u64,
    /// Bytes from `offset` that are already in the file (the partial last block); they start the
    /// first chunk once a record arrives.
    carry: Vec<u8>,
    chunks: Vec<DmaBuffer>,
    /// Bytes used in the last chunk.
    fill: usize,
    last_lsn: Option<u64>,
    /// Bytes of the records in this batch.
    record_bytes: u64,
}

/// A batch taken by the flush task, with what else it must do.
struct Taken {
    file: Rc<DmaFile>,
    offset: u64,
    chunks: Vec<DmaBuffer>,
    last_lsn: Option<u64>,
    bytes: u64,
    /// Start a new segment with this first LSN after this batch is synced.
    rotate_to: Option<u64>,
    /// What `rotators` are answered: the first LSN of the (new, or empty current) segment.
    rotated_first_lsn: u64,
    rotators: Vec<RotateSlot>,
}

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
    rotators: Vec<RotateSlot>,
    poisoned: Option<String>,
    wakers: Vec<Waker>,
    bytes_since_rotate: u64,
    /// Written since the last fdatasync (for `Interval`).
    dirty: bool,
    stats: WalStats,
    /// A deleted segment kept for the next rotation (see "Recycled segments").
    spare: Option<Rc<DmaFile>>,
}

impl Wal {
    /// Opens or creates the WAL of one partition in `dir`, replays every intact record in LSN
    /// order through `replay`, cuts a torn or corrupt tail of the last segment, and returns the
    /// WAL positioned to append. On error, records may already have been replayed: the caller
    /// must not serve from that state. Must run inside a glommio executor.
    pub async fn open(
        dir: &Path,
        policy: FsyncPolicy,
        mut replay: impl FnMut(WalRecord<'_>),
    ) -> Result<Wal, WalError> {
        std::fs::create_dir_all(dir).map_err(io_err("creating directory", dir))?;
        // glommio opens relative to fd -1, not the working directory: relative paths fail (EBADF).
        let dir = &std::fs::canonicalize(dir).map_err(io_err("resolving", dir))?;
        prime_iopoll_probe(dir).await?;
        // A spare left by the last run may be half written: start over when one is needed.
        match std::fs::remove_file(dir.join(SPARE_NAME)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("deleting", &dir.join(SPARE_NAME))(e)),
        }
        let listed = list_segments(dir)?;
        let mut segments = Vec::with_capacity(listed.len() + 1);
        let mut next_lsn = listed.first().map_or(1, |s| s.first_lsn);
        let mut tail = None;
        let count = listed.len();
        for (k, seg) in listed.into_iter().enumerate() {
            let last = k + 1 == count;
            if seg.first_lsn != next_lsn {
                return Err(WalError::Gap {
                    path: seg.path,
                    expected: next_lsn,
                    found: seg.first_lsn,
                });
            }
            let file = if last {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .dma_open(&seg.path)
                    .await
            } else {
                DmaFile::open(&seg.path).await
            }
            .map_err(|e| io_err("opening", &seg.path)(e.into()))?;
            let mut r = replay_segment(&file, &seg, &mut replay).await?;
            match r.outcome {
                Outcome::Clean => {}
                Outcome::BadHeader(reason) if last && r.empty_besides_header => {
                    eprintln!(
                        "wal: {}: header unreadable ({reason}) and no records: rewriting it (crash while creating it)",
                        seg.path.display()
                    );
                    rewrite_header(&file, &seg).await?;
                    r.end = HEADER_LEN as u64;
                    r.file_len = r.end;
                }
                Outcome::BadHeader(reason) => {
                    return Err(WalError::Corrupt {
                        path: seg.path,
                        offset: 0,
                        reason,
                    })
                }
                Outcome::Cut { nonzero: false, .. } => {}
                Outcome::Cut { reason, nonzero } if last => {
                    if nonzero {
                        eprintln!(
                            "wal: {}: dropped {} bytes after lsn {} (byte {}): {reason}",
                            seg.path.display(),
                            r.file_len - r.end,
                            r.next_lsn - 1,
                            r.end
                        );
                    }
                }
                Outcome::Cut { reason, .. } => {
                    return Err(WalError::Corrupt {
                        path: seg.path,
                        offset: r.end,
                        reason,
                    })
                }
            }
            next_lsn = r.next_lsn;
            if last {
                if r.file_len > r.end {
                    file.truncate(r.end)
                        .await
                        .map_err(|e| io_err("truncating", &seg.path)(e.into()))?;
                }
                // What was replayed may have been written but never synced before the crash (under
                // `Interval`/`Never`, or a batch whose sync did not return): make it durable now,
                // since the caller builds on it.
                file.fdatasync()
                    .await
                    .map_err(|e| io_err("syncing", &seg.path)(e.into()))?;
                tail = Some((file, r.end, r.record_bytes));
            } else {
                let _ = file.close().await;
            }
            segments.push(seg);
        }
        let (file, end, bytes_since_rotate) = match tail {
            Some(t) => t,
            None => {
                let seg = Segment {
                    first_lsn: next_lsn,
                    path: segment_path(dir, next_lsn),
                };
                let file = create_segment(dir, &seg).await?;
                segments.push(seg);
                (file, HEADER_LEN as u64, 0)
            }
        };
        let alignment = file.alignment();
        let offset = end - end % alignment;
        let carry = if end > offset {
            let read = file
                .read_at(offset, (end - offset) as usize)
                .await
                .map_err(|e| io_err("reading", dir)(e.into()))?;
            read.to_vec()
        } else {
            Vec::new()
        };
        if carry.len() as u64 != end - offset {
            return Err(io_err("reading", dir)(io::Error::from(
                io::ErrorKind::UnexpectedEof,
            )));
        }
        let inner = Rc::new(RefCell::new(Inner {
            dir: dir.to_path_buf(),
            policy,
            file: Rc::new(file),
            alignment,
            segments,
            next_lsn,
            durable_lsn: next_lsn - 1,
            open: OpenBatch::new(offset, carry),
            flushing: false,
            rotators: Vec::new(),
            poisoned: None,
            wakers: Vec::new(),
            bytes_since_rotate,
            dirty: false,
            stats: WalStats::default(),
            spare: None,
        }));
        if let FsyncPolicy::Interval(period) = policy {
            glommio::spawn_local(interval_sync(Rc::downgrade(&inner), period)).detach();
        }
        Ok(Wal { inner })
    }

    /// Appends one record; resolves with its LSN when it is durable per the policy. All appends
    /// of one executor tick share one batch write and one fdatasync.
    pub async fn append(&self, payload: &[u8]) -> Result<u64, WalError> {
        let lsn = self.enqueue(payload)?;
        self.wait_durable(lsn).await
    }

    /// Resolves with `lsn` when the record `lsn` (from `enqueue`) is durable per the policy, or
    /// with the poison error if its batch failed.
    pub async fn wait_durable(&self, lsn: u64) -> Result<u64, WalError> {
        poll_fn(|cx| {
            let mut i = self.inner.borrow_mut();
            if i.durable_lsn >= lsn {
                return Poll::Ready(Ok(lsn));
            }
            if let Some(p) = &i.poisoned {
                return Poll::Ready(Err(WalError::Poisoned(p.clone())));
            }
            i.wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Closes the current segment (after syncing it) and starts a new one; returns the first LSN
    /// of the new segment: every record appended before has a smaller LSN.
    pub async fn rotate(&self) -> Result<u64, WalError> {
        let slot = Rc::new(RefCell::new(None));
        {
            let mut i = self.inner.borrow_mut();
            if let Some(p) = &i.poisoned {
                return Err(WalError::Poisoned(p.clone()));
            }
            i.rotators.push(slot.clone());
            self.schedule_flush(&mut i);
        }
        poll_fn(|cx| match slot.borrow_mut().take() {
            Some(Ok(lsn)) => Poll::Ready(Ok(lsn)),
            Some(Err(p)) => Poll::Ready(Err(WalError::Poisoned(p))),
            None => {
                self.inner.borrow_mut().wakers.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Deletes every segment whose records all have an LSN below `lsn` (never the current one),
    /// oldest first, then fsyncs the directory.
    ///
    /// Pass the smallest LSN whose data is not yet in a durable sealed segment, not blindly the
    /// value `rotate` returned: a record with a smaller LSN may still sit only in a memtable (it
    /// was applied after the seal), and deleting its segment would lose it on a crash.
    pub async fn truncate_before(&self, lsn: u64) -> Result<(), WalError> {
        let (dir, victims) = {
            let mut i = self.inner.borrow_mut();
            let mut k = 0;
            while k + 1 < i.segments.len() && i.segments[k + 1].first_lsn <= lsn {
                k += 1;
            }
            let victims: Vec<Segment> = i.segments.drain(..k).collect();
            (i.dir.clone(), victims)
        };
        if victims.is_empty() {
            return Ok(());
        }
        let count = victims.len();
        let mut victims = victims.into_iter().enumerate();
        while let Some((k, seg)) = victims.next() {
            // The newest victim becomes the spare when there is none (oldest go first, so the
            // segments left on disk stay contiguous); the others are unlinked, on glommio's
            // blocking-thread pool (unlinking a large file may wait for the disk).
            let removed = if k + 1 == count && self.inner.borrow().spare.is_none() {
                recycle_segment(&dir, &seg)
                    .await
                    .map(|spare| self.inner.borrow_mut().spare = spare)
            } else {
                glommio::io::remove(&seg.path)
                    .await
                    .map_err(io::Error::from)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Keep the rest (oldest first) so the segments on disk stay contiguous.
                    let mut i = self.inner.borrow_mut();
                    let rest: Vec<Segment> = std::iter::once(Segment {
                        first_lsn: seg.first_lsn,
                        path: seg.path.clone(),
                    })
                    .chain(victims.map(|(_, s)| s))
                    .collect();
                    i.segments.splice(0..0, rest);
                    return Err(io_err("deleting", &seg.path)(e));
                }
            }
        }
        sync_dir(&dir).await
    }

    /// Waits until every record appended so far is written, then fdatasyncs: makes `Interval` and
    /// `Never` durable on demand (shutdown). Under `Always` it only waits.
    pub async fn sync(&self) -> Result<(), WalError> {
        let target = self.inner.borrow().next_lsn - 1;
        poll_fn(|cx| {
            let mut i = self.inner.borrow_mut();
            if i.durable_lsn >= target {
                return Poll::Ready(Ok(()));
            }
            if let Some(p) = &i.poisoned {
                return Poll::Ready(Err(WalError::Poisoned(p.clone())));
            }
            i.wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        let (file, path) = {
            let mut i = self.inner.borrow_mut();
            if i.policy == FsyncPolicy::Always || !std::mem::take(&mut i.dirty) {
                return Ok(());
            }
            let path = i
                .segments
                .last()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            (i.file.clone(), path)
        };
        if let Err(e) = file.fdatasync().await {
            let e = io_err("syncing", &path)(e.into());
            let mut i = self.inner.borrow_mut();
            i.poison(e.to_string());
            i.wake_all();
            return Err(e);
        }
        self.inner.borrow_mut().stats.fsyncs += 1;
        Ok(())
    }

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

    /// The first half of `append`: assigns the LSN and queues the record for the next flush,
    /// without waiting (then `wait_durable`). Lets a caller apply records to its memtable in
    /// exactly LSN order, which is the order replay will use: tasks woken by one flush may run in
    /// any order, so "apply after `append` returns" can differ from replay for concurrent writes
    /// of the same series and timestamp. The price: data is readable before it is durable.
    pub fn enqueue(&self, payload: &[u8]) -> Result<u64, WalError> {
        self.enqueue_parts(&[payload])
    }

    /// `enqueue` for a payload given in pieces (one record: the pieces one after another), so a
    /// caller need not copy them together first.
    pub fn enqueue_parts(&self, parts: &[&[u8]]) -> Result<u64, WalError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Err(WalError::Empty);
        }
        if len > PAYLOAD_LEN_MAX {
            return Err(WalError::TooLarge(len));
        }
        let mut guard = self.inner.borrow_mut();
        let i = &mut *guard;
        if let Some(p) = &i.poisoned {
            return Err(WalError::Poisoned(p.clone()));
        }
        let lsn = i.next_lsn;
        i.next_lsn += 1;
        let header = framing::encode_record_header_parts(lsn, parts);
        i.open.put(&i.file, &header);
        for p in parts {
            i.open.put(&i.file, p);
        }
        i.open.last_lsn = Some(lsn);
        let len = framing::record_len(len) as u64;
        i.bytes_since_rotate += len;
        i.open.record_bytes += len;
        i.stats.appends += 1;
        self.schedule_flush(i);
        Ok(lsn)
    }

    fn schedule_flush(&self, i: &mut Inner) {
        if !i.flushing {
            i.flushing = true;
            glommio::spawn_local(flush_task(self.inner.clone())).detach();
        }
    }

    /// Test hook: swap the file for a read-only handle so the next write fails (a real EBADF).
    #[cfg(test)]
    async fn break_file_for_test(&self) {
        let path = self.inner.borrow().segments.last().map(|s| s.path.clone());
        if let Some(path) = path {
            if let Ok(ro) = DmaFile::open(&path).await {
                self.inner.borrow_mut().file = Rc::new(ro);
            }
        }
    }
}

impl OpenBatch {
    fn new(offset: u64, carry: Vec<u8>) -> OpenBatch {
        OpenBatch {
            offset,
            carry,
            chunks: Vec::new(),
            fill: 0,
            last_lsn: None,
            record_bytes: 0,
        }
    }

    /// Copies `bytes` into the batch's O_DIRECT buffers, starting a buffer when one is full.
    fn put(&mut self, file: &DmaFile, mut bytes: &[u8]) {
        if self.chunks.is_empty() {
            let mut c = file.alloc_dma_buffer(CHUNK_LEN);
            let carry = std::mem::take(&mut self.carry);
            c.as_bytes_mut()[..carry.len()].copy_from_slice(&carry);
            self.fill = carry.len();
            self.chunks.push(c);
        }
        while !bytes.is_empty() {
            if self.fill == CHUNK_LEN {
                self.chunks.push(file.alloc_dma_buffer(CHUNK_LEN));
                self.fill = 0;
            }
            let Some(chunk) = self.chunks.last_mut() else {
                return;
            };
            let n = bytes.len().min(CHUNK_LEN - self.fill);
            chunk.as_bytes_mut()[self.fill..self.fill + n].copy_from_slice(&bytes[..n]);
            self.fill += n;
            bytes = &bytes[n..];
        }
    }

    /// Bytes from `offset` to the end of the last record.
    fn len(&self) -> u64 {
        match self.chunks.len() {
            0 => self.carry.len() as u64,
            n => ((n - 1) * CHUNK_LEN + self.fill) as u64,
        }
    }
}

impl Inner {
    /// Takes the open batch (and a pending rotation) for the flush task; `None` when idle.
    fn take(&mut self) -> Option<Taken> {
        if self.open.last_lsn.is_none() && self.rotators.is_empty() {
            return None;
        }
        let align = self.alignment;
        let end = self.open.offset + self.open.len();
        let next_offset = end - end % align;
        let mut chunks = std::mem::take(&mut self.open.chunks);
        let mut carry = Vec::new();
        if let Some(last) = chunks.last_mut() {
            let fill = self.open.fill;
            let keep_from = fill - (end - next_offset) as usize;
            carry.extend_from_slice(&last.as_bytes()[keep_from..fill]);
            // At least a zero length field follows the last record on disk: it ends the scan
            // (a recycled file holds old bytes after it).
            let padded = (fill + framing::LEN_FIELD_LEN).div_ceil(align as usize) * align as usize;
            let in_chunk = padded.min(CHUNK_LEN);
            last.as_bytes_mut()[fill..in_chunk].fill(0);
            last.trim_to_size(in_chunk);
            if padded > CHUNK_LEN {
                let mut block = self.file.alloc_dma_buffer(align as usize);
                block.as_bytes_mut().fill(0);
                chunks.push(block);
            }
        } else {
            carry = std::mem::take(&mut self.open.carry);
        }
        let last_lsn = self.open.last_lsn;
        let taken_offset = self.open.offset;
        let rotators = std::mem::take(&mut self.rotators);
        let current_is_empty = self
            .segments
            .last()
            .is_some_and(|s| s.first_lsn == self.next_lsn);
        let rotate_to = if rotators.is_empty() || current_is_empty {
            self.open = OpenBatch::new(next_offset, carry);
            None
        } else {
            // Records appended from now on go to the new segment, which starts with its header.
            self.bytes_since_rotate = 0;
            self.open = OpenBatch::new(0, framing::encode_header(self.next_lsn).to_vec());
            Some(self.next_lsn)
        };
        Some(Taken {
            file: self.file.clone(),
            offset: taken_offset,
            bytes: chunks.iter().map(|c| c.len() as u64).sum(),
            chunks,
            last_lsn,
            rotate_to,
            rotated_first_lsn: self.next_lsn,
            rotators,
        })
    }

    fn poison(&mut self, why: String) {
        if self.poisoned.is_none() {
            eprintln!(
                "wal: {}: {why}; refusing writes until restart",
                self.dir.display()
            );
            self.poisoned = Some(why);
        }
    }

    fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

/// Runs while there are batches: yield once (let the tick's appends join), take, write, sync, wake.
async fn flush_task(inner: Rc<RefCell<Inner>>) {
    loop {
        futures_lite::future::yield_now().await;
        let mut taken = {
            let mut i = inner.borrow_mut();
            if let Some(p) = i.poisoned.clone() {
                for r in std::mem::take(&mut i.rotators) {
                    *r.borrow_mut() = Some(Err(p.clone()));
                }
                i.flushing = false;
                i.wake_all();
                return;
            }
            match i.take() {
                Some(t) => t,
                None => {
                    i.flushing = false;
                    return;
                }
            }
        };
        let policy = inner.borrow().policy;
        let result = flush(&inner, &mut taken, policy).await;
        let mut i = inner.borrow_mut();
        match result {
            Ok(new_file) => {
                if let Some(lsn) = taken.last_lsn {
                    i.durable_lsn = i.durable_lsn.max(lsn);
                }
                if let (Some(file), Some(first)) = (new_file, taken.rotate_to) {
                    i.file = file;
                    let path = segment_path(&i.dir, first);
                    i.segments.push(Segment {
                        first_lsn: first,
                        path,
                    });
                }
                for r in &taken.rotators {
                    *r.borrow_mut() = Some(Ok(taken.rotated_first_lsn));
                }
            }
            Err(e) => {
                i.poison(e.to_string());
                let p = e.to_string();
                for r in &taken.rotators {
                    *r.borrow_mut() = Some(Err(p.clone()));
                }
            }
        }
        i.wake_all();
    }
}

/// Writes a taken batch, syncs per policy, and creates the next segment if asked.
async fn flush(
    inner: &Rc<RefCell<Inner>>,
    t: &mut Taken,
    policy: FsyncPolicy,
) -> Result<Option<Rc<DmaFile>>, WalError> {
    let path = inner
        .borrow()
        .segments
        .last()
        .map(|s| s.path.clone())
        .unwrap_or_default();
    let mut at = t.offset;
    let wrote = !t.chunks.is_empty();
    // All chunks of the batch are in flight at once (the device may take them in parallel),
    // polled here rather than in tasks of their own: a completed write wakes this task directly.
    let mut writes: Vec<_> = std::mem::take(&mut t.chunks)
        .into_iter()
        .map(|chunk| {
            let pos = at;
            at += chunk.len() as u64;
            let file = t.file.clone();
            Some(Box::pin(async move { write_dma(&file, chunk, pos).await }))
        })
        .collect();
    let mut first_err = None;
    poll_fn(|cx| {
        let mut pending = false;
        for w in writes.iter_mut() {
            if let Some(f) = w {
                match std::future::Future::poll(f.as_mut(), cx) {
                    Poll::Ready(r) => {
                        if let Err(e) = r {
                            first_err.get_or_insert(e);
                        }
                        *w = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    if let Some(e) = first_err {
        return Err(io_err("writing", &path)(e));
    }
    if wrote {
        let mut i = inner.borrow_mut();
        i.stats.batches += 1;
        i.stats.bytes_written += t.bytes;
        i.dirty = true;
    }
    let sync = t.rotate_to.is_some() || (wrote && policy == FsyncPolicy::Always);
    if sync {
        inner.borrow_mut().dirty = false;
        t.file
            .fdatasync()
            .await
            .map_err(|e| io_err("syncing", &path)(e.into()))?;
        inner.borrow_mut().stats.fsyncs += 1;
    }
    match t.rotate_to {
        None => Ok(None),
        Some(first) => {
            let dir = inner.borrow().dir.clone();
            let seg = Segment {
                first_lsn: first,
                path: segment_path(&dir, first),
            };
            let spare = inner.borrow_mut().spare.take();
            match spare {
                Some(file) => install_spare(&dir, &seg, file).await.map(Some),
                None => create_segment(&dir, &seg).await.map(|f| Some(Rc::new(f))),
            }
        }
    }
}

/// `FsyncPolicy::Interval`: fdatasync the current segment every `period` if it was written.
async fn interval_sync(inner: std::rc::Weak<RefCell<Inner>>, period: Duration) {
    loop {
        glommio::timer::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let file = {
            let mut i = inner.borrow_mut();
            if i.poisoned.is_some() {
                return;
            }
            if !std::mem::take(&mut i.dirty) {
                continue;
            }
            i.file.clone()
        };
        match file.fdatasync().await {
            Ok(()) => inner.borrow_mut().stats.fsyncs += 1,
            Err(e) => {
                let mut i = inner.borrow_mut();
                i.poison(format!("write-ahead log: periodic sync: {e}"));
                i.wake_all();
                return;
            }
        }
    }
}

/// Writes one O_DIRECT buffer (aligned position and length) without copying it.
async fn write_dma(file: &DmaFile, buf: DmaBuffer, pos: u64) -> io::Result<()> {
    let len = buf.len();
    let buf = Rc::new(buf);
    let n = file.write_rc_at(buf.clone(), pos).await?;
    if n >= len {
        return Ok(());
    }
    write_all(file, &buf.as_bytes()[n..], pos + n as u64).await
}

/// Writes `bytes` at `pos` through fresh O_DIRECT buffers, resuming after short writes. `pos`
/// must be aligned and `bytes` a whole number of blocks, except after a short write, where the
/// write goes back to the block boundary below.
async fn write_all(file: &DmaFile, bytes: &[u8], pos: u64) -> io::Result<()> {
    let align = file.alignment();
    // Go back to a block boundary (only after a short write); those bytes are already written.
    let back = (pos % align) as usize;
    let start = pos - back as u64;
    let mut owned = Vec::new();
    let bytes = if back > 0 {
        let head = file.read_at(start, back).await?;
        if head.len() != back {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        owned.extend_from_slice(&head);
        owned.extend_from_slice(bytes);
        &owned[..]
    } else {
        bytes
    };
    let mut done = 0usize;
    while done < bytes.len() {
        let rest = &bytes[done..];
        let mut buf = file.alloc_dma_buffer(rest.len());
        buf.as_bytes_mut().copy_from_slice(rest);
        let n = file.write_at(buf, start + done as u64).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += if n >= rest.len() {
            rest.len()
        } else {
            n - n % align as usize
        };
    }
    Ok(())
}

/// What `replay_segment` found.
struct Replayed {
    next_lsn: u64,
    /// File offset just after the last intact record (or the header).
    end: u64,
    file_len: u64,
    record_bytes: u64,
    empty_besides_header: bool,
    outcome: Outcome,
}

enum Outcome {
    Clean,
    BadHeader(String),
    /// The scan stopped before the end of the file: at a zero length field (`nonzero` false: the
    /// end of the records), or at a torn or corrupt record (`nonzero` true: worth a message).
    Cut {
        reason: String,
        nonzero: bool,
    },
}

async fn replay_segment(
    file: &DmaFile,
    seg: &Segment,
    replay: &mut impl FnMut(WalRecord<'_>),
) -> Result<Replayed, WalError> {
    let err = |op| io_err(op, &seg.path);
    let file_len = file
        .file_size()
        .await
        .map_err(|e| err("reading size of")(e.into()))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_offset = 0u64; // file offset of buf[0]
    let mut read_pos = 0u64;
    read_chunk(file, &seg.path, file_len, &mut buf, &mut read_pos).await?;
    let mut result = Replayed {
        next_lsn: seg.first_lsn,
        end: HEADER_LEN as u64,
        file_len,
        record_bytes: 0,
        empty_besides_header: false,
        outcome: Outcome::Clean,
    };
    match framing::decode_header(&buf) {
        Ok(first) if first == seg.first_lsn => {}
        Ok(first) => {
            result.outcome = Outcome::BadHeader(format!(
                "header says first lsn {first}, file name says {}",
                seg.first_lsn
            ));
            return Ok(result);
        }
        Err(e) => {
            result.end = 0;
            let mut empty = framing::is_zero(buf.get(HEADER_LEN..).unwrap_or(&[]));
            while empty && read_pos < file_len {
                buf.clear();
                read_chunk(file, &seg.path, file_len, &mut buf, &mut read_pos).await?;
                empty = framing::is_zero(&buf);
            }
            result.empty_besides_header = empty;
            result.outcome = Outcome::BadHeader(e.to_string());
            return Ok(result);
        }
    }
    let mut start = HEADER_LEN;
    let mut lsn = seg.first_lsn;
    loop {
        let s = framing::scan(&buf[start..], lsn);
        for r in &s.records {
            replay(WalRecord {
                lsn: r.lsn,
                payload: &buf[start + r.payload.start..start + r.payload.end],
            });
            result.record_bytes += framing::record_len(r.payload.len()) as u64;
        }
        lsn += s.records.len() as u64;
        start += s.end;
        result.next_lsn = lsn;
        result.end = buf_offset + start as u64;
        let more = read_pos < file_len;
        // Fewer than 4 zero bytes left in the buffer are a length field cut by the read chunk,
        // not yet the end of the records.
        let stop = match s.stop {
            Stop::Padding if more && buf.len() - start < framing::LEN_FIELD_LEN => Stop::End,
            other => other,
        };
        match stop {
            Stop::End | Stop::Incomplete { .. } if more => {
                buf.drain(..start);
                buf_offset += start as u64;
                start = 0;
                read_chunk(file, &seg.path, file_len, &mut buf, &mut read_pos).await?;
            }
            Stop::End => return Ok(result),
            Stop::Padding => {
                // A zero length field ends the records; what follows is padding, or the old
                // bytes of a recycled file, and is never read.
                if result.end < file_len {
                    result.outcome = Outcome::Cut {
                        reason: "end of records".into(),
                        nonzero: false,
                    };
                }
                return Ok(result);
            }
            Stop::Incomplete { need } => {
                result.outcome = Outcome::Cut {
                    reason: format!("last record is torn ({need} bytes missing)"),
                    nonzero: true,
                };
                return Ok(result);
            }
            Stop::Corrupt(c) => {
                result.outcome = Outcome::Cut {
                    reason: c.to_string(),
                    nonzero: true,
                };
                return Ok(result);
            }
        }
    }
}

/// Appends the next `READ_CHUNK_LEN` bytes (at most) of the file at `*read_pos` to `buf`.
async fn read_chunk(
    file: &DmaFile,
    path: &Path,
    file_len: u64,
    buf: &mut Vec<u8>,
    read_pos: &mut u64,
) -> Result<(), WalError> {
    let size = (file_len - *read_pos).min(READ_CHUNK_LEN as u64) as usize;
    if size == 0 {
        return Ok(());
    }
    let r = file
        .read_at(*read_pos, size)
        .await
        .map_err(|e| io_err("reading", path)(e.into()))?;
    if r.len() != size {
        return Err(io_err("reading", path)(io::ErrorKind::UnexpectedEof.into()));
    }
    *read_pos += size as u64;
    buf.extend_from_slice(&r);
    Ok(())
}

/// Makes glommio decide correctly whether the device of `dir` supports polled I/O.
///
/// glommio probes that once per executor thread and device, with a read at offset 0 of the first
/// `DmaFile` opened there, and caches the answer. If that file is empty the read succeeds without
/// touching the device, the device is wrongly marked pollable, and every later DMA read fails with
/// EOPNOTSUPP (glommio issues #605 and #670; seen here on virtio-blk). So before any other
/// `DmaFile` on this thread, open one that holds a block of data. Call this first on every
/// executor that opens DMA files in `dir` (`Wal::open` does).
pub async fn prime_iopoll_probe(dir: &Path) -> Result<(), WalError> {
    let path = dir.join(".iopoll-probe");
    std::fs::write(&path, [0xA5u8; 4096]).map_err(io_err("writing", &path))?;
    let opened = DmaFile::open(&path).await;
    let _ = std::fs::remove_file(&path);
    let file = opened.map_err(|e| io_err("opening", &path)(e.into()))?;
    let _ = file.close().await;
    Ok(())
}

/// Makes the spare the segment `seg`: its first block becomes the new header followed by zeros
/// (an empty segment; the old records after it are never read), fdatasync, then rename and
/// directory fsync. The header is written before the rename, so a file under a segment name
/// always carries its own header; a crash before the rename leaves only a spare, which start-up
/// deletes.
async fn install_spare(
    dir: &Path,
    seg: &Segment,
    file: Rc<DmaFile>,
) -> Result<Rc<DmaFile>, WalError> {
    let spare = dir.join(SPARE_NAME);
    write_header_block(&file, seg.first_lsn, &spare).await?;
    glommio::io::rename(&spare, &seg.path)
        .await
        .map_err(|e| io_err("renaming", &spare)(e.into()))?;
    sync_dir(dir).await?;
    Ok(file)
}

/// Renames a segment whose records are all in durable sealed segments to the spare name and
/// opens it for the next rotation. `None` (and the file unlinked) when it is too small to be
/// worth keeping.
async fn recycle_segment(dir: &Path, seg: &Segment) -> io::Result<Option<Rc<DmaFile>>> {
    let spare = dir.join(SPARE_NAME);
    glommio::io::rename(&seg.path, &spare).await?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(&spare)
        .await?;
    if file.file_size().await? < SPARE_LEN_MIN {
        let _ = file.close().await;
        glommio::io::remove(&spare).await?;
        return Ok(None);
    }
    Ok(Some(Rc::new(file)))
}

/// Creates an empty segment: header block, fdatasync, directory fsync.
async fn create_segment(dir: &Path, seg: &Segment) -> Result<DmaFile, WalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .dma_open(&seg.path)
        .await
        .map_err(|e| io_err("creating", &seg.path)(e.into()))?;
    rewrite_header(&file, seg).await?;
    sync_dir(dir).await?;
    Ok(file)
}

async fn rewrite_header(file: &DmaFile, seg: &Segment) -> Result<(), WalError> {
    file.truncate(0)
        .await
        .map_err(|e| io_err("truncating", &seg.path)(e.into()))?;
    write_header_block(file, seg.first_lsn, &seg.path).await
}

/// Writes the first block of a segment: its header for `first_lsn`, then zeros (no record), and
/// fdatasyncs. `path` names the file in errors.
async fn write_header_block(file: &DmaFile, first_lsn: u64, path: &Path) -> Result<(), WalError> {
    let mut block = vec![0u8; file.alignment() as usize];
    block[..HEADER_LEN].copy_from_slice(&framing::encode_header(first_lsn));
    write_all(file, &block, 0)
        .await
        .map_err(io_err("writing", path))?;
    file.fdatasync()
        .await
        .map_err(|e| io_err("syncing", path)(e.into()))
}

/// fsyncs a directory (its renames and unlinks become durable) through the io_uring.
pub(crate) async fn sync_dir(dir: &Path) -> Result<(), WalError> {
    let err = |op| io_err(op, dir);
    let d = glommio::io::Directory::open(dir)
        .await
        .map_err(|e| err("opening directory")(e.into()))?;
    d.sync()
        .await
        .map_err(|e| err("syncing directory")(e.into()))?;
    let _ = d.close().await;
    Ok(())
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// Segment files of `dir`, sorted by first LSN.
fn list_segments(dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name.strip_suffix(".wal") else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(first_lsn) = digits.parse::<u64>() else {
            continue;
        };
        segs.push(Segment {
            first_lsn,
            path: entry.path(),
        });
    }
    segs.sort_by_key(|s| s.first_lsn);
    Ok(segs)
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> WalError + 'a {
    move |source| WalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::LocalExecutorBuilder;
    use std::collections::BTreeMap;
    use std::future::Future;

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

    #[test]
    fn concurrent_appends_share_fsyncs_and_replay_in_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("p0");
        run(move || async move {
            let (wal, got) = replay_all(&dir).await.expect("open");
            assert!(got.is_empty());
            let mut written = append_concurrently(&wal, 100, 1).await;
            let stats = wal.stats();
            assert_eq!(stats.appends, 100);
            assert!(stats.fsyncs < 10, "group commit: {stats:?}");
            assert_eq!(
                written.keys().copied().collect::<Vec<_>>(),
                (1..=100).collect::<Vec<_>>()
            );
            // A second round lands after the first in the same file.
            written.extend(append_concurrently(&wal, 30, 1000).await);
            drop(wal);
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, written.clone().into_iter().collect::<Vec<_>>());
            assert_eq!(wal.next_lsn(), 131);
            let more = wal.append(b"after reopen").await.expect("append");
            assert_eq!(more, 131);
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got.len(), 131);
            assert_eq!(got[130], (131, b"after reopen".to_vec()));
        });
    }

    #[test]
    fn every_policy_round_trips() {
        for policy in [
            FsyncPolicy::Never,
            FsyncPolicy::Interval(Duration::from_millis(1)),
            FsyncPolicy::Always,
        ] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = tmp.path().to_path_buf();
            run(move || async move {
                let wal = Wal::open(&dir, policy, |_| {}).await.expect("open");
                let written = append_concurrently(&wal, 20, 7).await;
                if policy == FsyncPolicy::Never {
                    assert_eq!(wal.stats().fsyncs, 0);
                    wal.sync().await.expect("sync");
                    assert_eq!(wal.stats().fsyncs, 1);
                    wal.sync().await.expect("sync");
                    assert_eq!(wal.stats().fsyncs, 1, "nothing new to sync");
                }
                assert_eq!(wal.durable_lsn(), 20);
                assert_eq!(wal.pending_bytes(), 0);
                drop(wal);
                let (_, got) = replay_all(&dir).await.expect("reopen");
                assert_eq!(got, written.into_iter().collect::<Vec<_>>(), "{policy:?}");
            });
        }
    }

    #[test]
    fn truncated_at_any_point_replays_a_prefix_and_appends_after_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_path_buf();
        run(move || async move {
            let src = base.join("src");
            let wal = Wal::open(&src, FsyncPolicy::Always, |_| {})
                .await
                .expect("open");
            let mut written = Vec::new();
            let mut ends = Vec::new(); // file offset after each record
            let mut end = HEADER_LEN as u64;
            for k in 0..12u64 {
                let p = payload(k, 100 + (k as usize * 211) % 900);
                let lsn = wal.append(&p).await.expect("append");
                end += framing::record_len(p.len()) as u64;
                ends.push(end);
                written.push((lsn, p));
            }
            drop(wal);
            let seg = segment_files(&src).pop().expect("segment");
            let full = std::fs::read(&seg).expect("read");
            let mut x = 12345u64;
            let mut cuts: Vec<u64> = (0..25)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    HEADER_LEN as u64 + (x >> 33) % (end - HEADER_LEN as u64)
                })
                .collect();
            cuts.extend([HEADER_LEN as u64, end, end - 1, ends[0], ends[0] + 1]);
            for (n, cut) in cuts.into_iter().enumerate() {
                let dir = base.join(format!("cut{n}"));
                std::fs::create_dir_all(&dir).expect("mkdir");
                let copy = dir.join(seg.file_name().expect("name"));
                std::fs::write(&copy, &full[..cut as usize]).expect("write");
                let keep = ends.iter().filter(|&&e| e <= cut).count();
                let (wal, got) = replay_all(&dir).await.expect("reopen");
                assert_eq!(got, written[..keep].to_vec(), "cut at {cut}");
                // Appending continues right after the intact prefix.
                let lsn = wal.append(b"next").await.expect("append");
                assert_eq!(lsn, keep as u64 + 1);
                drop(wal);
                let (_, got) = replay_all(&dir).await.expect("reopen again");
                assert_eq!(got.len(), keep + 1, "cut at {cut}");
                assert_eq!(got[keep], (lsn, b"next".to_vec()));
            }
        });
    }

    #[test]
    fn garbage_after_the_last_record_is_cut_and_never_replayed() {
        with_wal(|dir, wal| async move {
            let a = wal.append(b"first").await.expect("append");
            let b = wal.append(b"second").await.expect("append");
            drop(wal);
            let seg = segment_files(&dir).pop().expect("segment");
            let mut bytes = std::fs::read(&seg).expect("read");
            let second_at = HEADER_LEN + framing::record_len(5);
            // Flip a payload bit of the second record, and append an intact third record after it:
            // the third must not be replayed (it comes after a bad one).
            bytes[second_at + framing::RECORD_HEADER_LEN] ^= 0x20;
            bytes.truncate(second_at + framing::record_len(6));
            framing::encode_record(&mut bytes, 3, b"third");
            std::fs::write(&seg, &bytes).expect("write");
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, vec![(a, b"first".to_vec())]);
            assert_eq!(
                std::fs::metadata(&seg).expect("stat").len(),
                second_at as u64
            );
            assert_eq!(wal.append(b"again").await.expect("append"), b);
        });
    }

    #[test]
    fn a_hole_before_later_records_cuts_at_the_hole() {
        // A crash after a later chunk of a batch reached the disk but an earlier one did not.
        with_wal(|dir, wal| async move {
            for k in 1..=5u64 {
                wal.append(&payload(k, 300)).await.expect("append");
            }
            drop(wal);
            let seg = segment_files(&dir).pop().expect("segment");
            let mut bytes = std::fs::read(&seg).expect("read");
            let rec = framing::record_len(300);
            let third = HEADER_LEN + 2 * rec;
            bytes[third..third + rec].fill(0);
            std::fs::write(&seg, &bytes).expect("write");
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
            assert_eq!(std::fs::metadata(&seg).expect("stat").len(), third as u64);
            assert_eq!(wal.append(b"x").await.expect("append"), 3);
        });
    }

    #[test]
    fn rotate_during_concurrent_appends_splits_cleanly_by_lsn() {
        with_wal(|dir, wal| async move {
            // 8 tasks append 10 records each, one at a time: many batches.
            let appenders: Vec<_> = (0..8u64)
                .map(|t| {
                    let w = wal.clone();
                    glommio::spawn_local(async move {
                        let mut out = Vec::new();
                        for k in 0..10u64 {
                            let p = payload(t * 100 + k, 50 + k as usize);
                            out.push((w.append(&p).await.expect("append"), p));
                        }
                        out
                    })
                })
                .collect();
            let w = wal.clone();
            let rotation = glommio::spawn_local(async move {
                while w.stats().batches < 3 {
                    futures_lite::future::yield_now().await;
                }
                w.rotate().await.expect("rotate")
            });
            let mut all = Vec::new();
            for a in appenders {
                all.extend(a.await);
            }
            let first = rotation.await;
            assert!(first > 1 && first < 81, "rotated at {first}");
            let files = segment_files(&dir);
            assert_eq!(
                files,
                vec![segment_path(&dir, 1), segment_path(&dir, first)]
            );
            drop(wal);
            all.sort();
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, all);
            // The old segment holds exactly the LSNs below `first`, and ends cleanly.
            let old = std::fs::read(&files[0]).expect("read");
            let s = framing::scan(&old[HEADER_LEN..], 1);
            assert_eq!(s.records.len() as u64, first - 1);
            assert!(matches!(s.stop, Stop::End | Stop::Padding), "{:?}", s.stop);
        });
    }

    #[test]
    fn random_operations_match_a_model() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        run(move || async move {
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let mut rand = move |n: u64| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % n
            };
            // The model: every record kept, and the first LSN of every segment on disk.
            let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            let mut segs: Vec<u64> = vec![1];
            let mut next = 1u64;
            let mut wal = Wal::open(&dir, FsyncPolicy::Always, |_| {})
                .await
                .expect("open");
            for step in 0..150u64 {
                match rand(10) {
                    0..=5 => {
                        let n = 1 + rand(8);
                        let got = append_concurrently(&wal, n, step * 1000).await;
                        assert_eq!(
                            got.keys().copied().collect::<Vec<_>>(),
                            (next..next + n).collect::<Vec<_>>()
                        );
                        next += n;
                        records.extend(got);
                    }
                    6 => {
                        let first = wal.rotate().await.expect("rotate");
                        assert_eq!(first, next);
                        if segs.last() != Some(&next) {
                            segs.push(next);
                        }
                    }
                    7 => {
                        let below = 1 + rand(next + 1);
                        wal.truncate_before(below).await.expect("truncate");
                        while segs.len() > 1 && segs[1] <= below {
                            segs.remove(0);
                        }
                    }
                    _ => {
                        drop(wal);
                        let (w, got) = replay_all(&dir).await.expect("reopen");
                        wal = w;
                        let expected: Vec<(u64, Vec<u8>)> = records
                            .range(segs[0]..)
                            .map(|(l, p)| (*l, p.clone()))
                            .collect();
                        assert_eq!(got, expected, "step {step}");
                        assert_eq!(wal.next_lsn(), next);
                    }
                }
                let on_disk = segment_files(&dir);
                let model: Vec<PathBuf> = segs.iter().map(|&f| segment_path(&dir, f)).collect();
                assert_eq!(on_disk, model, "step {step}");
            }
        });
    }

    #[test]
    fn rotate_and_truncate_before() {
        with_wal(|dir, wal| async move {
            for k in 1..=3u64 {
                assert_eq!(wal.append(&payload(k, 10)).await.expect("append"), k);
            }
            assert_eq!(wal.bytes_since_rotate(), 3 * framing::record_len(10) as u64);
            assert_eq!(wal.rotate().await.expect("rotate"), 4);
            assert_eq!(wal.bytes_since_rotate(), 0);
            for k in 4..=5u64 {
                assert_eq!(wal.append(&payload(k, 10)).await.expect("append"), k);
            }
            // Rotating an empty segment is a no-op.
            assert_eq!(wal.rotate().await.expect("rotate"), 6);
            assert_eq!(wal.rotate().await.expect("rotate"), 6);
            assert_eq!(wal.append(&payload(6, 10)).await.expect("append"), 6);
            assert_eq!(segment_files(&dir).len(), 3);
            drop(wal);
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(
                got.iter().map(|r| r.0).collect::<Vec<_>>(),
                vec![1, 2, 3, 4, 5, 6]
            );
            assert_eq!(got[5].1, payload(6, 10));
            wal.truncate_before(3).await.expect("truncate");
            assert_eq!(
                segment_files(&dir).len(),
                3,
                "segment 1..3 still holds lsn 3"
            );
            wal.truncate_before(4).await.expect("truncate");
            assert_eq!(segment_files(&dir).len(), 2);
            wal.truncate_before(u64::MAX).await.expect("truncate");
            assert_eq!(
                segment_files(&dir).len(),
                1,
                "the current segment is never deleted"
            );
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
        });
    }

    #[test]
    fn recycled_segments_end_at_their_last_record() {
        // A deleted segment is kept as the spare and becomes the next segment with its old bytes
        // after the new header. A batch that ends exactly at a block boundary must still be
        // followed on disk by a zero length field, or the scan would run into the old bytes.
        with_wal(|dir, wal| async move {
            let mut want = Vec::new();
            for k in 0..20u64 {
                let p = payload(k, 1000 + k as usize);
                want.push((wal.append(&p).await.expect("append"), p));
            }
            let second = wal.rotate().await.expect("rotate");
            let p = payload(99, 10);
            want.push((wal.append(&p).await.expect("append"), p));
            // Segment 1 (20 records of old bytes) becomes the spare...
            wal.truncate_before(second).await.expect("truncate");
            want.retain(|(lsn, _)| *lsn >= second);
            assert!(dir.join(SPARE_NAME).exists(), "the deleted segment is kept");
            assert_eq!(segment_files(&dir).len(), 1);
            let third = wal.rotate().await.expect("rotate");
            assert!(!dir.join(SPARE_NAME).exists(), "the spare became segment 3");
            let seg3 = segment_path(&dir, third);
            assert!(std::fs::metadata(&seg3).expect("stat").len() > 20_000);
            // ...then takes one record ending exactly at the end of its first block, and one
            // ending exactly at the end of a later block, each synced alone.
            let align = 4096;
            let p = payload(7, align - HEADER_LEN - framing::RECORD_HEADER_LEN);
            want.push((wal.append(&p).await.expect("append"), p));
            let p = payload(8, 3 * align - framing::RECORD_HEADER_LEN);
            want.push((wal.append(&p).await.expect("append"), p));
            let fourth = wal.rotate().await.expect("rotate");
            let p = payload(9, 50);
            want.push((wal.append(&p).await.expect("append"), p));
            drop(wal);
            // Segment 3 is not the last one: a scan that ran into its old bytes would be an error.
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, want);
            assert!(fourth > third);
            let p = payload(10, 5);
            want.push((wal.append(&p).await.expect("append"), p));
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, want);
        });
    }

    #[test]
    fn a_length_field_split_by_a_read_chunk_is_read_whole() {
        // Recovery reads READ_CHUNK_LEN at a time. A record whose length field starts 2 bytes
        // before a chunk boundary, with those 2 bytes zero (length 65 536 = 00 00 01 00), must
        // not look like the zero length field that ends the records.
        with_wal(|dir, wal| async move {
            let first = READ_CHUNK_LEN - 2 - HEADER_LEN - framing::RECORD_HEADER_LEN;
            let want: Vec<(u64, Vec<u8>)> = [(1, first), (2, 65_536), (3, 10)]
                .into_iter()
                .map(|(k, len)| (k, payload(k, len)))
                .collect();
            for (k, p) in &want {
                assert_eq!(wal.append(p).await.expect("append"), *k);
            }
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got.len(), 3, "every acknowledged record is replayed");
            assert_eq!(got, want);
        });
    }

    #[test]
    fn a_leftover_spare_is_deleted_and_never_replayed() {
        with_wal(|dir, wal| async move {
            let a = wal.append(b"kept").await.expect("append");
            drop(wal);
            // A spare holding an intact segment of other records (a crash before its rename).
            let mut bytes = framing::encode_header(a + 1).to_vec();
            framing::encode_record(&mut bytes, a + 1, b"never");
            std::fs::write(dir.join(SPARE_NAME), &bytes).expect("write");
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, vec![(a, b"kept".to_vec())]);
            assert!(!dir.join(SPARE_NAME).exists());
        });
    }

    #[test]
    fn damage_before_the_last_segment_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_path_buf();
        run(move || async move {
            let dir = base.join("corrupt");
            let wal = Wal::open(&dir, FsyncPolicy::Always, |_| {})
                .await
                .expect("open");
            wal.append(b"one").await.expect("append");
            wal.append(b"two").await.expect("append");
            wal.rotate().await.expect("rotate");
            wal.append(b"three").await.expect("append");
            wal.rotate().await.expect("rotate");
            drop(wal);
            let files = segment_files(&dir);
            let gap_dir = base.join("gap");
            std::fs::create_dir_all(&gap_dir).expect("mkdir");
            for f in [&files[0], &files[2]] {
                std::fs::copy(f, gap_dir.join(f.file_name().expect("name"))).expect("copy");
            }
            let mut bytes = std::fs::read(&files[0]).expect("read");
            bytes[HEADER_LEN + framing::record_len(3) + 17] ^= 1;
            std::fs::write(&files[0], &bytes).expect("write");
            match replay_all(&dir).await {
                Err(WalError::Corrupt { offset, .. }) => {
                    assert_eq!(offset, (HEADER_LEN + framing::record_len(3)) as u64)
                }
                Err(e) => panic!("wrong error {e}"),
                Ok(_) => panic!("opened a WAL with a corrupt middle"),
            }
            match replay_all(&gap_dir).await {
                Err(WalError::Gap {
                    expected: 3,
                    found: 4,
                    ..
                }) => {}
                Err(e) => panic!("wrong error {e}"),
                Ok(_) => panic!("opened a WAL with a gap"),
            }
        });
    }

    #[test]
    fn torn_header_of_the_last_segment_is_rewritten() {
        with_wal(|dir, wal| async move {
            wal.append(b"one").await.expect("append");
            drop(wal);
            // A crash right after creating the next segment file, before its header was written.
            std::fs::write(segment_path(&dir, 2), [0u8; 100]).expect("write");
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, vec![(1, b"one".to_vec())]);
            assert_eq!(wal.append(b"two").await.expect("append"), 2);
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got.len(), 2);
            // But a bad header in front of records is damage, not a torn creation.
            let mut bytes = std::fs::read(segment_path(&dir, 2)).expect("read");
            bytes[0] = b'X';
            std::fs::write(segment_path(&dir, 2), &bytes).expect("write");
            assert!(matches!(
                replay_all(&dir).await,
                Err(WalError::Corrupt { .. })
            ));
        });
    }

    #[test]
    fn a_failed_write_poisons_the_wal_until_restart() {
        with_wal(|dir, wal| async move {
            wal.append(b"kept").await.expect("append");
            wal.break_file_for_test().await;
            let first = match wal.append(b"lost").await {
                Err(WalError::Poisoned(text)) => text,
                other => panic!("expected poisoned, got {other:?}"),
            };
            assert!(first.contains("writing"), "{first}");
            for _ in 0..3 {
                match wal.append(b"refused").await {
                    Err(WalError::Poisoned(text)) => assert_eq!(text, first),
                    other => panic!("expected poisoned, got {other:?}"),
                }
            }
            assert!(matches!(wal.rotate().await, Err(WalError::Poisoned(_))));
            drop(wal);
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, vec![(1, b"kept".to_vec())]);
            assert_eq!(wal.append(b"works again").await.expect("append"), 2);
        });
    }

    #[test]
    fn empty_records_are_refused_and_enqueue_then_wait_works() {
        with_wal(|_dir, wal| async move {
            assert!(matches!(wal.append(b"").await, Err(WalError::Empty)));
            assert_eq!(wal.next_lsn(), 1);
            // enqueue + wait_durable: LSNs are handed out at once, durability comes with the flush.
            let lsns: Vec<u64> = (0..3)
                .map(|k| wal.enqueue(&payload(k, 100)).expect("enqueue"))
                .collect();
            assert_eq!(lsns, vec![1, 2, 3]);
            assert_eq!(wal.durable_lsn(), 0);
            assert_eq!(wal.pending_bytes(), 3 * framing::record_len(100) as u64);
            assert_eq!(wal.wait_durable(3).await.expect("durable"), 3);
            assert_eq!(wal.durable_lsn(), 3);
            assert_eq!(wal.pending_bytes(), 0);
            assert_eq!(wal.stats().fsyncs, 1, "one flush for the three");
        });
    }
}
