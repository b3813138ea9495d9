//! Appending: records encoded into the open batch, the flush task that writes and syncs each batch
//! once for all of its appenders (group commit), the fsync policy, rotation between two batches,
//! and the sticky failure after a write or sync error. See "Writing" in the module doc.

use super::files::{install_spare, io_err, prepare_spare, segment_path, write_all, Segment};
use super::framing::{self, PAYLOAD_LEN_MAX};
use super::{FsyncPolicy, Inner, Wal, WalError};
use glommio::io::{DmaBuffer, DmaFile};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

/// Bytes per O_DIRECT write buffer of a batch (a multiple of every block size).
pub(super) const CHUNK_LEN: usize = 1 << 20;

/// Zero-ahead (see the module doc): a zeroing starts when a batch ends less than this before the
/// end of the segment's written blocks ...
const ZERO_LOW_WATER: u64 = 8 << 20;
/// ... and writes this many bytes of zeros after them.
pub(super) const ZERO_STEP: u64 = 8 << 20;
/// The largest batch that starts a zeroing.
const ZERO_BATCH_MAX: u64 = 64 << 10;
/// Bytes of one zeroing write: the WAL's own writes and fdatasyncs queue behind it at the device.
const ZERO_PIECE: usize = 128 << 10;
/// No zeroing while the WAL's file system has less than this free: the space is the seals'.
const ZERO_FREE_MIN: u64 = 256 << 20;

/// Where the flush task answers a `rotate` call: the new segment's first LSN, or the poison text.
pub(super) type RotateSlot = Rc<RefCell<Option<Result<u64, String>>>>;

/// The batch being filled by appends, not yet taken by the flush task.
pub(super) struct OpenBatch {
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
    pub(super) record_bytes: u64,
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

impl Wal {
    /// Appends one record; resolves with its LSN when it is durable per the policy. All appends
    /// of one executor tick share one batch write and one fdatasync.
    pub async fn append(&self, payload: &[u8]) -> Result<u64, WalError> {
        let lsn = self.enqueue(payload)?;
        self.wait_durable(lsn).await
    }

    /// Resolves with `lsn` when the record `lsn` (from `enqueue`) is durable per the policy, or
    /// with the poison error if its batch failed. Call it right after `enqueue` (the future
    /// notes the WAL's epoch when made: a heal in between fails it).
    pub fn wait_durable(
        &self,
        lsn: u64,
    ) -> impl std::future::Future<Output = Result<u64, WalError>> + '_ {
        let epoch = self.inner.borrow().epoch;
        poll_fn(move |cx| {
            let mut i = self.inner.borrow_mut();
            if i.epoch != epoch {
                return Poll::Ready(Err(WalError::NoSpace(
                    "the record's batch failed before the log was reopened".into(),
                )));
            }
            if i.durable_lsn >= lsn {
                return Poll::Ready(Ok(lsn));
            }
            if i.poisoned.is_some() {
                return Poll::Ready(Err(i.sticky()));
            }
            i.wakers.push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Closes the current segment (after syncing it) and starts a new one; returns the first LSN
    /// of the new segment: every record appended before has a smaller LSN.
    pub async fn rotate(&self) -> Result<u64, WalError> {
        let slot = Rc::new(RefCell::new(None));
        {
            let mut i = self.inner.borrow_mut();
            if i.poisoned.is_some() {
                return Err(i.sticky());
            }
            i.rotators.push(slot.clone());
            self.schedule_flush(&mut i);
        }
        poll_fn(|cx| match slot.borrow_mut().take() {
            Some(Ok(lsn)) => Poll::Ready(Ok(lsn)),
            Some(Err(p)) if self.inner.borrow().no_space => Poll::Ready(Err(WalError::NoSpace(p))),
            Some(Err(p)) => Poll::Ready(Err(WalError::Poisoned(p))),
            None => {
                self.inner.borrow_mut().wakers.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
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
            if i.poisoned.is_some() {
                return Poll::Ready(Err(i.sticky()));
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
        let started = std::time::Instant::now();
        if let Err(e) = file.fdatasync().await {
            let e = io_err("syncing", &path)(e.into());
            let mut i = self.inner.borrow_mut();
            i.poison(e.to_string());
            i.wake_all();
            return Err(e);
        }
        self.inner.borrow_mut().synced(started);
        Ok(())
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
        if i.poisoned.is_some() {
            return Err(i.sticky());
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
            i.spawn(flush_task(self.inner.clone()));
        }
    }
}

impl OpenBatch {
    pub(super) fn new(offset: u64, carry: Vec<u8>) -> OpenBatch {
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
    /// The file offset where the open batch's records end.
    #[cfg(test)]
    pub(super) fn open_offset(&self) -> u64 {
        self.open.offset + self.open.len()
    }

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
            tracing::error!(
                wal = %self.dir.display(),
                error = %why,
                "write-ahead log failed; the partition refuses writes until restart"
            );
            self.poisoned = Some(why);
        }
    }

    /// Stops the WAL after `e`: until `Wal::heal` when it is a lack of space, else until restart.
    fn fail(&mut self, e: &WalError) {
        if self.poisoned.is_some() {
            return;
        }
        if e.is_no_space() {
            super::log_no_space(&self.dir, e);
            self.no_space = true;
            self.poisoned = Some(e.to_string());
        } else {
            self.poison(e.to_string());
        }
    }

    /// The error every call gets while the WAL is stopped.
    pub(super) fn sticky(&self) -> WalError {
        let text = self.poisoned.clone().unwrap_or_default();
        if self.no_space {
            WalError::NoSpace(text)
        } else {
            WalError::Poisoned(text)
        }
    }

    /// Counts an fdatasync that started at `started` and succeeded.
    fn synced(&mut self, started: std::time::Instant) {
        self.stats.fsyncs += 1;
        self.fsync_seconds.observe(started.elapsed());
    }

    /// Every record up to `lsn` is durable; its flush wrote at `written` and synced at `synced`.
    fn made_durable(
        &mut self,
        lsn: u64,
        written: std::time::Instant,
        synced: Option<std::time::Instant>,
    ) {
        self.durable_lsn = self.durable_lsn.max(lsn);
        if self.flushes.len() >= 8 {
            self.flushes.pop_front();
        }
        self.flushes.push_back((lsn, written, synced));
    }

    pub(super) fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

/// Most fdatasyncs of one WAL in flight at once (see "Group commit" in DESIGN.md).
const SYNCS_IN_FLIGHT_MAX: usize = 2;

/// Runs while there are batches: yield once (let the tick's appends join), take, write, then
/// hand the batch's fdatasync to a task of its own and go on with the next batch, so that the
/// records that arrive while a sync is in flight are written meanwhile and their sync is issued
/// as soon as their write completes (at most `SYNCS_IN_FLIGHT_MAX` syncs at once). Writes stay
/// one at a time and in order: a batch rewrites the last partial block of the one before.
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
        if taken.rotate_to.is_none() {
            let end = taken.offset + taken.bytes;
            inner.borrow_mut().batch_end = end;
            clear_of_zeroing(&inner, end).await;
            // Only small batches start a zeroing: for them the extension's cost is most of a
            // write's; larger ones extend the file rarely enough as they are, and zeros written
            // ahead of them compete with their own bytes at the device (100-line bodies were
            // 5% slower with it).
            if taken.bytes <= ZERO_BATCH_MAX {
                start_zeroing(&inner, end);
            }
        }
        let policy = inner.borrow().policy;
        let result = flush(&inner, &mut taken, policy).await;
        let mut i = inner.borrow_mut();
        match result {
            Ok(Flushed::Done(new_file)) => {
                if let Some(lsn) = taken.last_lsn {
                    let now = std::time::Instant::now();
                    i.made_durable(lsn, now, (policy == FsyncPolicy::Always).then_some(now));
                }
                if let (Some((file, size)), Some(first)) = (new_file, taken.rotate_to) {
                    i.file = file;
                    i.file_gen += 1;
                    i.zeroed_end = size;
                    i.batch_end = 0;
                    i.zero_stopped = false;
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
            Ok(Flushed::Syncing) => continue,
            Err(e) => {
                i.fail(&e);
                let p = e.to_string();
                for r in &taken.rotators {
                    *r.borrow_mut() = Some(Err(p.clone()));
                }
            }
        }
        i.wake_all();
    }
}

/// What `flush` did with a batch.
enum Flushed {
    /// Written (and synced per policy); the file of the next segment and its size when it rotated.
    Done(Option<(Rc<DmaFile>, u64)>),
    /// Written; its fdatasync runs in a task of its own (`sync_task`), which makes it durable.
    Syncing,
}

/// Writes a taken batch, syncs per policy, and creates the next segment if asked.
async fn flush(
    inner: &Rc<RefCell<Inner>>,
    t: &mut Taken,
    policy: FsyncPolicy,
) -> Result<Flushed, WalError> {
    let path = inner
        .borrow()
        .segments
        .last()
        .map(|s| s.path.clone())
        .unwrap_or_default();
    let wrote = !t.chunks.is_empty();
    write_chunks(&t.file, std::mem::take(&mut t.chunks), t.offset)
        .await
        .map_err(io_err("writing", &path))?;
    let written_at = std::time::Instant::now();
    if wrote {
        let mut i = inner.borrow_mut();
        i.stats.batches += 1;
        i.stats.bytes_written += t.bytes;
        i.dirty = true;
    }
    let sync = t.rotate_to.is_some() || (wrote && policy == FsyncPolicy::Always);
    if sync && t.rotate_to.is_none() {
        if let Some(lsn) = t.last_lsn {
            // The sync is issued after this batch's write (and every earlier one) completed, so
            // it covers every record up to `lsn`, whatever order the syncs in flight finish in.
            poll_fn(|cx| {
                let mut i = inner.borrow_mut();
                if i.syncs_in_flight < SYNCS_IN_FLIGHT_MAX {
                    return Poll::Ready(());
                }
                i.wakers.push(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let file = t.file.clone();
            let mut i = inner.borrow_mut();
            i.dirty = false;
            i.syncs_in_flight += 1;
            i.spawn(sync_task(inner.clone(), file, path, lsn, written_at));
            return Ok(Flushed::Syncing);
        }
    }
    let Some(first) = t.rotate_to else {
        if sync {
            inner.borrow_mut().dirty = false;
            let started = std::time::Instant::now();
            t.file
                .fdatasync()
                .await
                .map_err(|e| io_err("syncing", &path)(e.into()))?;
            inner.borrow_mut().synced(started);
        }
        return Ok(Flushed::Done(None));
    };
    // A rotation: the old segment's fdatasync and the next file's header (written and synced under
    // a temporary name, see `prepare_spare`) at once, as the files are independent; the rename that makes the next
    // file a segment comes after both, so only the last segment can have a torn tail. Every
    // write of the partition waits for the rotation: run one after the other, the two took up to
    // 6 and 10 ms at a seal's start.
    let (dir, spare) = {
        let mut i = inner.borrow_mut();
        i.dirty = false;
        let spare = i.spare.take();
        // Held until installed: a recycle meanwhile unlinks its victim instead. (Without a spare a
        // recycle may be running: it keeps the flag.)
        i.spare_busy |= spare.is_some();
        (i.dir.clone(), spare)
    };
    let held = spare.is_some();
    let started = std::time::Instant::now();
    let (old, next) =
        futures_lite::future::zip(t.file.fdatasync(), prepare_spare(&dir, first, spare)).await;
    let installed = async {
        old.map_err(|e| io_err("syncing", &path)(e.into()))?;
        inner.borrow_mut().synced(started);
        let (next, name) = next?;
        let seg = Segment {
            first_lsn: first,
            path: segment_path(&dir, first),
        };
        let prepared = started.elapsed();
        install_spare(&dir, &name, &seg).await?;
        log_rotated(&dir, held, prepared, started.elapsed() - prepared);
        // A recycled file keeps its size: appends overwrite it up to there.
        let size = next.file_size().await.unwrap_or(0);
        Ok((next, size))
    }
    .await;
    if held {
        inner.borrow_mut().spare_busy = false;
    }
    Ok(Flushed::Done(Some(installed?)))
}

/// Waits until the zeroing piece in flight on the current file, if any, does not reach below
/// `end`: a batch written there first would be overwritten by its zeros. (The zeroing issues no
/// further piece below `batch_end`.)
async fn clear_of_zeroing(inner: &Rc<RefCell<Inner>>, end: u64) {
    let mut counted = false;
    poll_fn(|cx| {
        let mut i = inner.borrow_mut();
        match i.zeroing {
            Some((generation, start)) if generation == i.file_gen && start < end => {
                if !std::mem::replace(&mut counted, true) {
                    i.zero_waits += 1;
                }
                i.wakers.push(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    })
    .await
}

/// Starts a zeroing of the `ZERO_STEP` bytes after the current file's written blocks (or after
/// `end`, the end of the batch about to be written, if that is further) when `end` comes within
/// `ZERO_LOW_WATER` of them and none runs.
fn start_zeroing(inner: &Rc<RefCell<Inner>>, end: u64) {
    let mut i = inner.borrow_mut();
    if !i.zero_ahead
        || i.zeroing.is_some()
        || i.zero_stopped
        || end + ZERO_LOW_WATER <= i.zeroed_end
    {
        return;
    }
    let start = i.zeroed_end.max(end).next_multiple_of(i.alignment);
    let generation = i.file_gen;
    i.zeroing = Some((generation, start));
    let task = zero_task(Rc::downgrade(inner), i.file.clone(), generation, start);
    i.spawn(task);
}

/// Writes `ZERO_STEP` bytes of zeros at `start` of `file` and fdatasyncs them, then moves
/// `zeroed_end` past them (if `file` is still the one appended to). On failure, or with too
/// little free space, zeroing stops for this file; the WAL goes on (its own writes report their
/// errors).
async fn zero_task(
    weak: std::rc::Weak<RefCell<Inner>>,
    file: Rc<DmaFile>,
    generation: u64,
    start: u64,
) {
    let Some(dir) = weak.upgrade().map(|i| i.borrow().dir.clone()) else {
        return;
    };
    let result: io::Result<bool> = async {
        let free = crate::storage::free_bytes(&dir).map_err(io::Error::from)?;
        if free < ZERO_FREE_MIN {
            return Ok(false);
        }
        let mut zeros = file.alloc_dma_buffer(ZERO_PIECE);
        zeros.as_bytes_mut().fill(0);
        let zeros = Rc::new(zeros);
        let mut at = start;
        while at < start + ZERO_STEP {
            {
                // The WAL is gone (its files may be opened again by another), or its batches
                // caught up: they wait for the piece in flight only, then go on extending the
                // file, and no zeroing starts on it again (it would only run in their way).
                let Some(inner) = weak.upgrade() else {
                    return Ok(false);
                };
                let mut i = inner.borrow_mut();
                if i.file_gen != generation || i.batch_end > at {
                    i.zeroed_end = i.zeroed_end.max(at);
                    return Ok(false);
                }
                i.zeroing = Some((generation, at));
                i.wake_all();
            }
            let n = file.write_rc_at(zeros.clone(), at).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
            at += n as u64;
        }
        file.fdatasync().await?;
        Ok(true)
    }
    .await;
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let mut i = inner.borrow_mut();
    i.zeroing = None;
    match result {
        Ok(true) => {
            if i.file_gen == generation {
                i.zeroed_end = i.zeroed_end.max(start + ZERO_STEP);
            }
        }
        Ok(false) => i.zero_stopped |= i.file_gen == generation,
        Err(e) => {
            tracing::debug!(wal = %dir.display(), error = %e, "WAL zero-ahead stopped for this segment");
            i.zero_stopped |= i.file_gen == generation;
        }
    }
    i.wake_all();
}

/// One batch's fdatasync: on success every record up to `lsn` is durable; on failure the WAL is
/// poisoned (and no later sync makes anything durable any more).
async fn sync_task(
    inner: Rc<RefCell<Inner>>,
    file: Rc<DmaFile>,
    path: std::path::PathBuf,
    lsn: u64,
    written_at: std::time::Instant,
) {
    let started = std::time::Instant::now();
    let result = file.fdatasync().await;
    let mut i = inner.borrow_mut();
    i.syncs_in_flight -= 1;
    match result {
        Ok(()) => {
            i.synced(started);
            if i.poisoned.is_none() {
                i.made_durable(lsn, written_at, Some(std::time::Instant::now()));
            }
        }
        Err(e) => i.fail(&io_err("syncing", &path)(e.into())),
    }
    i.wake_all();
}

/// Writes `chunks` back to back from `offset`, all in flight at once (the device may take them in
/// parallel), polled here rather than in tasks of their own: a completed write wakes this task
/// directly. Every write runs to its end; the first error is returned.
async fn write_chunks(file: &Rc<DmaFile>, chunks: Vec<DmaBuffer>, offset: u64) -> io::Result<()> {
    let mut at = offset;
    let mut writes: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let pos = at;
            at += chunk.len() as u64;
            let file = file.clone();
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
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `FsyncPolicy::Interval`: fdatasync the current segment every `period` if it was written.
pub(super) async fn interval_sync(inner: std::rc::Weak<RefCell<Inner>>, period: Duration) {
    loop {
        glommio::timer::sleep(period).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let file = {
            let mut i = inner.borrow_mut();
            if i.poisoned.is_some() {
                if i.no_space {
                    // Stopped until `heal`, which makes the log durable itself.
                    continue;
                }
                return;
            }
            if !std::mem::take(&mut i.dirty) {
                continue;
            }
            i.file.clone()
        };
        let started = std::time::Instant::now();
        match file.fdatasync().await {
            Ok(()) => inner.borrow_mut().synced(started),
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

/// Log (debug): a rotation and how long the partition's writes waited for its two steps.
fn log_rotated(
    dir: &std::path::Path,
    recycled: bool,
    sync_and_header: std::time::Duration,
    rename_and_dir_sync: std::time::Duration,
) {
    tracing::debug!(
        wal = %dir.display(),
        recycled,
        sync_and_header_us = sync_and_header.as_micros() as u64,
        rename_and_dir_sync_us = rename_and_dir_sync.as_micros() as u64,
        "WAL rotated"
    );
}
