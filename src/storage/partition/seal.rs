//! The seal: a full memtable swapped out, written as segment files, and the WAL before it retired.
//!
//! Order, each step only after the one before: the memtable is swapped for an empty one (the old
//! one stays readable) and the WAL rotated; each (db, rp) of the old memtable is written as
//! segment files (each: temp file, fdatasync, rename); one directory fsync covers the renames;
//! `schema.json` is saved with the types of the sealed data; the files are installed; and only
//! then are the WAL records before the swap deleted. The file I/O runs on io_uring or glommio's
//! blocking-thread pool, never blocking the core's thread.

use super::{is_dropped, save_types, Partition, SegmentFile};
use crate::lineproto::FieldType;
use crate::storage::memtable::{KnownField, Memtable, SealPlan};
use crate::storage::segment::{SegmentEncoder, SeriesData};
use crate::storage::wal::{sync_dir, Wal};
use crate::storage::StorageError;
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Series in one segment file (its index is held in memory while the file is built).
const SERIES_PER_SEGMENT_MAX: usize = 8192;
/// Encoded bytes after which a segment file is finished: they are held in memory until the file
/// is written (a seal holds one series decoded at a time). Twice compaction's default small-file
/// bound, so that the file of a full memtable (a default 64 MiB memtable of TSBS rows seals to
/// ~5.5 MB) is one file that compaction leaves alone, not several small ones that it reads and
/// writes again.
const SEGMENT_BYTES_MAX: usize = 2 * crate::limits::COMPACT_SMALL_FILE_BYTES_DEFAULT as usize;
/// Segment files one seal may write (its sequence number times this, plus the file's number).
pub const FILES_PER_SEAL_MAX: u64 = 1_000_000;

impl Partition {
    /// Whether the memtable passed `max_bytes` and no seal is running.
    pub fn wants_seal(&self, max_bytes: u64) -> bool {
        self.sealing.is_none() && self.memtable.memtable_bytes() as u64 > max_bytes
    }

    /// Whether a seal is running (or failed and waits to be retried).
    pub fn is_sealing(&self) -> bool {
        self.sealing.is_some()
    }

    /// Whether the memtable holds anything to seal.
    pub fn has_unsealed(&self) -> bool {
        !self.memtable.is_empty()
    }

    /// The partition's WAL.
    pub fn wal(&self) -> Rc<Wal> {
        self.wal.clone()
    }

    /// Whether the memtable's oldest write is `max_age` old and no seal is running.
    pub fn wants_age_seal(&self, max_age: std::time::Duration) -> bool {
        self.sealing.is_none()
            && !self.memtable.is_empty()
            && self.unsealed_since.is_some_and(|t| t.elapsed() >= max_age)
    }

    /// Whether writes must wait: a seal is running and the memtable already holds twice the bound.
    pub fn over_limit(&self, max_bytes: u64) -> bool {
        self.sealing.is_some()
            && self.memtable.memtable_bytes() as u64 > max_bytes.saturating_mul(2)
    }

    /// Starts a seal: swaps the memtable out. Returns what `seal` needs.
    pub fn begin_seal(&mut self) -> Option<(Rc<Memtable>, Rc<Wal>, PathBuf, u64)> {
        if self.sealing.is_some() || self.memtable.is_empty() {
            return None;
        }
        self.unsealed_since = None;
        let next = self.memtable.take_for_next();
        let old = Rc::new(std::mem::replace(&mut self.memtable, next));
        self.sealing = Some(old.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sealing_seq = seq;
        // Every record below this LSN was applied to `old` (memtable and WAL move in one step).
        self.seal_lsn = self.wal.next_lsn();
        self.seal_epoch = self.wal.epoch();
        Some((old, self.wal.clone(), self.dir.join("segments"), seq))
    }

    /// The failed seal again: its memtable, its sequence number (it writes the same files).
    fn retry_seal(&mut self) -> Option<(Rc<Memtable>, Rc<Wal>, PathBuf, u64)> {
        if !self.seal_failed {
            return None;
        }
        let old = self.sealing.clone()?;
        self.seal_failed = false;
        Some((
            old,
            self.wal.clone(),
            self.dir.join("segments"),
            self.sealing_seq,
        ))
    }

    /// Whether the last seal failed and waits to be tried again.
    pub fn seal_failed(&self) -> bool {
        self.seal_failed
    }

    fn seal_done(&mut self, files: Vec<SegmentFile>, mut types: Vec<KnownField>) {
        let dropped = std::mem::take(&mut self.dropped_while_sealing);
        let gone = |db: &str, rp: &str| is_dropped(&dropped, db, rp);
        let measurements = std::mem::take(&mut self.measurements_dropped_while_sealing);
        let types_before = types.len();
        types.retain(|t| {
            !gone(&t.0, &t.1) && !measurements.iter().any(|m| m.0 == t.0 && m.1 == t.2)
        });
        let dropped_types = types.len() != types_before;
        self.sealed_types = types;
        for f in files {
            if gone(&f.db, &f.rp) {
                let _ = std::fs::remove_file(f.path());
            } else {
                self.segments.push(f);
            }
        }
        if !dropped.is_empty() || dropped_types {
            let _ = save_types(&self.dir, &self.sealed_types);
        }
        self.segments.sort_by_key(|s| s.seq);
        self.sealing = None;
    }

    fn mark_seal_failed(&mut self, e: String) -> StorageError {
        // Keep the sealing memtable readable and its WAL in place; the next `seal` writes it
        // again. Writes go on into the new memtable (bounded by `over_limit`).
        self.seal_failed = true;
        StorageError::Seal(e)
    }
}

/// Writes the sealing memtable as segment files, then lets the WAL before it go. `Ok(false)`
/// when there was nothing to seal, or another seal of the partition is running.
pub async fn seal(part: &RefCell<Vec<Partition>>, idx: usize) -> Result<bool, StorageError> {
    let Some((old, wal, dir, seq, mut types)) = part.borrow_mut().get_mut(idx).and_then(|p| {
        let types = p.sealed_types.clone();
        p.retry_seal()
            .or_else(|| p.begin_seal())
            .map(|(a, b, c, d)| (a, b, c, d, types))
    }) else {
        return Ok(false);
    };
    let (seal_lsn, seal_epoch) = part
        .borrow()
        .get(idx)
        .map_or((0, u64::MAX), |p| (p.seal_lsn, p.seal_epoch));
    let result = write_seal(&old, &wal, &dir, seq, (seal_lsn, seal_epoch), &mut types).await;
    match result {
        Ok((files, boundary)) => {
            let mut keep_from = boundary;
            if let Some(p) = part.borrow_mut().get_mut(idx) {
                keep_from = keep_from.min(p.seal_lsn);
                if wal.epoch() != p.seal_epoch {
                    // The WAL was reopened during the seal: LSNs were given again, and records
                    // below `seal_lsn` may be the next memtable's. Keep the whole WAL; the next
                    // seal retires it (replaying sealed records again is harmless).
                    keep_from = 0;
                }
                p.seal_done(files, types);
                if let Ok(sealed) = Rc::try_unwrap(old) {
                    p.memtable.recycle(sealed);
                }
            }
            // Only records whose data is now in a durable segment go.
            wal.truncate_before(keep_from)
                .await
                .map(|()| true)
                .map_err(|e| StorageError::Seal(e.to_string()))
        }
        Err(e) => Err(part
            .borrow_mut()
            .get_mut(idx)
            .map_or(StorageError::Seal(e.clone()), |p| p.mark_seal_failed(e))),
    }
}

/// Rotates the WAL and writes `old` as durable segment files in `dir`, adding the field types
/// they store to `types` and saving those to `schema.json`. Returns the files and the LSN the
/// rotation started the next WAL segment at.
async fn write_seal(
    old: &Memtable,
    wal: &Wal,
    dir: &Path,
    seq: u64,
    (seal_lsn, seal_epoch): (u64, u64),
    types: &mut Vec<KnownField>,
) -> Result<(Vec<SegmentFile>, u64), String> {
    let boundary = wal.rotate().await.map_err(|e| e.to_string())?;
    // A WAL reopened since the seal began gave LSNs again from its last intact record: records
    // below `seal_lsn` may then be acknowledged writes of the next memtable, so the mark lets
    // every record be replayed (a crash before the next seal may export a sealed point twice).
    let seal_lsn = if wal.epoch() == seal_epoch {
        seal_lsn
    } else {
        0
    };
    let mut files = SealFiles {
        dir,
        seq,
        file_no: 0,
        written: Vec::new(),
    };
    for plan in old.seal_plan() {
        write_plan(old, &plan, &mut files, types).await?;
    }
    let files = files.written;
    // The renames of this seal's files and the types of the sealed data must be on disk
    // before the WAL that also holds them goes: one directory fsync covers every rename.
    if !files.is_empty() {
        sync_dir(dir).await.map_err(|e| e.to_string())?;
    }
    let part_dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let to_save = types.clone();
    // Then the seal is finished: `sealed.json` says so (its files are not leftovers, and the
    // WAL records below `seal_lsn` are not replayed), before the WAL goes.
    let mark = super::marks::SealedMark {
        seal: seq,
        lsn: seal_lsn,
    };
    glommio::executor()
        .spawn_blocking(move || {
            save_types(&part_dir, &to_save).map_err(|e| format!("schema.json: {e}"))?;
            super::marks::write_sealed(&part_dir, mark).map_err(|e| format!("sealed.json: {e}"))
        })
        .await?;
    Ok((files, boundary))
}

/// Writes the series of one (db, rp) of `old` as segment files, noting their field types.
///
/// The plan is in key order, as a file's series must be. Each series is encoded as soon as it
/// is built, while its columns are still in the core's caches (building a whole file's series
/// first would hold a file's rows of columns, many MB, and read them back from memory).
/// At most SERIES_PER_SEGMENT_MAX series and about SEGMENT_BYTES_MAX encoded bytes go to a file.
async fn write_plan(
    old: &Memtable,
    plan: &SealPlan,
    files: &mut SealFiles<'_>,
    types: &mut Vec<KnownField>,
) -> Result<(), String> {
    let mut encoder = SegmentEncoder::new();
    let mut pacer = Pacer::new();
    let mut in_file = 0usize;
    let mut last_shape: Option<SeriesShape> = None;
    for k in 0..plan.len() {
        if let Some(s) = old.seal_series(plan, k) {
            // The (measurement, field, type) of each column, once: most series have the
            // previous one's shape.
            if !last_shape.as_ref().is_some_and(|l| l.is_of(&s)) {
                let shape = SeriesShape::of(&s);
                shape.note_types(&plan.db, &plan.rp, types);
                last_shape = Some(shape);
            }
            in_file += 1;
            encoder.push(&s);
        }
        pacer.pause().await;
        let last = k + 1 == plan.len();
        if in_file == 0
            || !(last
                || in_file >= SERIES_PER_SEGMENT_MAX
                || encoder.blocks_len() >= SEGMENT_BYTES_MAX)
        {
            continue;
        }
        in_file = 0;
        let full = std::mem::take(&mut encoder);
        files.write(full, &plan.db, &plan.rp).await?;
        pacer.pause().await;
    }
    Ok(())
}

/// Cuts a seal's work on the core into slices of at most [`SEAL_SLICE`], with a pass of the
/// executor's I/O between two: the requests woken meanwhile run before the next slice. (A plain
/// yield would not do: glommio polls I/O only between its task queue runs, and a queue woken
/// then starts behind the one that was running; see "Background work" in DESIGN.md.)
struct Pacer {
    since: std::time::Instant,
}

/// The longest a seal works on the core without letting the requests run.
const SEAL_SLICE: std::time::Duration = std::time::Duration::from_micros(200);

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            since: std::time::Instant::now(),
        }
    }

    /// Sleeps for the shortest timer once the current slice is used up.
    async fn pause(&mut self) {
        if self.since.elapsed() >= SEAL_SLICE {
            glommio::timer::sleep(std::time::Duration::from_micros(1)).await;
            self.since = std::time::Instant::now();
        }
    }
}

/// Where a seal writes its files, and the files it has written.
struct SealFiles<'a> {
    dir: &'a Path,
    /// The seal's sequence number.
    seq: u64,
    /// The number of the seal's next file.
    file_no: u64,
    written: Vec<SegmentFile>,
}

impl SealFiles<'_> {
    /// Writes the series of `full` as the seal's next segment file of (db, rp).
    async fn write(&mut self, full: SegmentEncoder, db: &str, rp: &str) -> Result<(), String> {
        let (time_min, time_max) = full.time_range();
        let bytes = full.finish(db, rp);
        let len = bytes.len() as u64;
        // Files of one seal hold disjoint series; the seal's sequence number orders seals.
        let seq = self.seq * FILES_PER_SEAL_MAX + self.file_no;
        self.file_no += 1;
        let path = self.dir.join(segment_name(seq));
        write_durably(&path, bytes).await?;
        self.written.push(SegmentFile {
            seq,
            first_seq: seq,
            handle: super::SegmentHandle::new(path),
            db: db.to_string(),
            rp: rp.to_string(),
            time_min,
            time_max,
            bytes: len,
        });
        Ok(())
    }
}

/// A series' measurement and its columns' (field, type), to note the types a seal stores.
struct SeriesShape {
    measurement: Vec<u8>,
    fields: Vec<(Vec<u8>, FieldType)>,
}

impl SeriesShape {
    fn of(s: &SeriesData) -> Self {
        SeriesShape {
            measurement: s.measurement.clone(),
            fields: s
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.values.field_type()))
                .collect(),
        }
    }

    fn is_of(&self, s: &SeriesData) -> bool {
        self.measurement == s.measurement
            && self.fields.len() == s.columns.len()
            && self
                .fields
                .iter()
                .zip(&s.columns)
                .all(|((f, ty), c)| *f == c.name && *ty == c.values.field_type())
    }

    /// Adds each (db, rp, measurement, field, type) of this shape that `types` lacks.
    fn note_types(&self, db: &str, rp: &str, types: &mut Vec<KnownField>) {
        for (f, ty) in &self.fields {
            let t = (
                db.to_string(),
                rp.to_string(),
                self.measurement.clone(),
                f.clone(),
                *ty,
            );
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
}

pub(super) fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// The most bytes of a segment file one write hands the kernel. The kernel copies a buffered
/// write into the page cache inside the submitting thread's `io_uring_enter`, on the core's own
/// thread: a 700 KB file written at once held the core ~2 ms, and every request with it (see
/// "Background work" in DESIGN.md); a piece of this size takes ~0.2 ms.
const WRITE_PIECE: usize = 64 * 1024;

/// Bytes of a segment file written back to the disk at a time, before the next are written: the
/// WAL's fdatasyncs then wait behind at most this much of a seal's data at the device, where one
/// fdatasync of a whole file queued all of it at once (see "Background work" in DESIGN.md).
const WRITEBACK_PIECE: usize = 256 * 1024;

/// Writes the dirty pages of `len` bytes at `start` of the file `fd` to the disk and waits for
/// them (on the blocking-thread pool: it waits for the device). Not a durability point: the file's
/// fdatasync still follows, with little left to write.
async fn write_back(fd: std::os::fd::RawFd, start: i64, len: i64) -> std::io::Result<()> {
    glommio::executor()
        .spawn_blocking(move || {
            use nix::libc;
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: a plain system call on a descriptor that the awaiting caller keeps open;
            // no memory is passed.
            let r = unsafe { libc::sync_file_range(fd, start, len, flags) };
            if r == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
        .await
}

/// Temp file, fdatasync, rename; the caller fsyncs the directory once for all the files of a
/// seal (`wal::sync_dir`). Every call here is asynchronous or runs on glommio's blocking-thread pool:
/// a blocking fsync on the core's own thread would stall every request the core serves.
pub(super) async fn write_durably(path: &Path, bytes: Vec<u8>) -> Result<(), String> {
    let tmp = path.with_extension("seg.tmp");
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", tmp.display());
    let file = glommio::io::BufferedFile::create(&tmp)
        .await
        .map_err(|e| err("creating", &e))?;
    // In pieces: a buffered write is copied into the page cache inside the core's own io_uring
    // submission, so one write of a whole file would hold the core for all of it.
    let mut pacer = Pacer::new();
    let mut pos = 0usize;
    let mut written_back = 0usize;
    while pos < bytes.len() {
        pacer.pause().await;
        let end = (pos + WRITE_PIECE).min(bytes.len());
        let n = file
            .write_at(bytes[pos..end].to_vec(), pos as u64)
            .await
            .map_err(|e| err("writing", &e))?;
        if n == 0 {
            return Err(err("writing", &"short write"));
        }
        pos += n;
        if pos - written_back >= WRITEBACK_PIECE || pos == bytes.len() {
            let (start, len) = (written_back as i64, (pos - written_back) as i64);
            write_back(file.as_raw_fd(), start, len)
                .await
                .map_err(|e| err("writing", &e))?;
            written_back = pos;
        }
    }
    file.fdatasync().await.map_err(|e| err("syncing", &e))?;
    file.close().await.map_err(|e| err("closing", &e))?;
    glommio::io::rename(&tmp, path)
        .await
        .map_err(|e| err("renaming", &e))?;
    Ok(())
}
