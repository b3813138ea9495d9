//! One storage partition: its WAL, its memtable, the memtable being sealed, and its sealed
//! segments. Owned by exactly one core (see `layout`); reached only from that core's executor.
//!
//! Write: the batch is applied to the memtable first, then what was stored (the batch without
//! the points admission refused) is queued in the WAL, both in the same synchronous step (so the
//! memtable sees records in LSN order, the order replay uses); then the caller waits until the
//! WAL made it durable per the fsync policy. A WAL failure poisons the partition: every later
//! write is refused with the first error until restart.
//!
//! Seal: when the memtable passes its bound it is swapped for an empty one (still readable while
//! sealing), the WAL is rotated at that point, the old memtable is written as segment files per
//! (db, rp) (each: temp file, fdatasync, rename; then one directory fsync for the seal), and only
//! then is the WAL before the rotation point deleted. The seal's file I/O does not block the
//! core's thread (io_uring, or glommio's blocking-thread pool); a drop or a retention expiry
//! deletes files and rewrites `schema.json` with plain blocking calls (rare, and small).
//!
//! WAL payload: a record kind, then the record; points are kind 3, drop database kind 1, drop
//! retention policy kind 2, delete kind 4 (layout in `payload.rs`).
//!
//! Delete (`DELETE`, `DROP SERIES`, `DROP MEASUREMENT`): the memtable is rebuilt without the
//! points, the record is logged, and sealed files get a tombstone that reads apply until the
//! files are gone (`tombstone.rs`).
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | `Partition`: open (segments, WAL replay), apply, drops, expiry, `schema.json` |
//! | `payload.rs` | the WAL payload codec: record kinds, encoded and decoded (pure) |
//! | `seal.rs` | the seal: memtable swap, segment files written durably, WAL retired |
//! | `read.rs` | the read path: a scan's sources, a segment file's rows, the merge |
//! | `tombstone.rs` | deletes: the memtable's points, tombstones for sealed files, `tombstones` |
//! | `read.rs` | the read path: a scan's sources, the footer cache, a segment file's pruned rows, the merge |
//! | `check.rs` | the offline check of a partition directory (`lineshard check`) |
//! | `compact.rs` | background compaction: small segment files of a (db, rp) merged into one, crash-safe |
//! | `stats.rs` | what the partition holds and has written, for `/metrics` |
//! | `marks.rs` | `sealed.json` (the newest finished seal) and `exported.json` (what export has done) |
//! | `tests.rs` | unit tests |

mod check;
mod compact;
pub mod marks;
mod payload;
mod read;
mod seal;
mod stats;
#[cfg(test)]
mod tests;
mod tombstone;

pub use check::{check_partition, Finding, PartitionCheck};
pub use compact::{compact, rewrite_segments};
pub use read::{
    merge_sources, profile_files, scan_files, scan_files_columns, scan_segment, Scanned,
    SegmentSource,
};
pub use seal::{seal, FILES_PER_SEAL_MAX};
pub use tombstone::Deleted;

use super::memtable::{Admit, KnownField, Memtable};
use super::wal::{FsyncPolicy, Wal, WalRecord};
use super::StorageError;
use crate::shard::batch::Batch;
use payload::Record;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A sealed segment file of this partition.
///
/// A seal's file is named `<seq>.seg` and covers the one sequence number `seq`; a compacted file
/// is named `<seq>-<first_seq>.seg` and holds the data of every file of its (db, rp) whose
/// numbers lay in `first_seq..=seq` (see `compact.rs`).
#[derive(Debug, Clone)]
struct SegmentFile {
    /// The newest sequence number covered: files are read oldest first in this order.
    seq: u64,
    /// The oldest sequence number covered (`seq` for a seal's file).
    first_seq: u64,
    handle: Arc<SegmentHandle>,
    db: String,
    rp: String,
    time_min: i64,
    time_max: i64,
    /// The file's length.
    bytes: u64,
}

impl SegmentFile {
    fn path(&self) -> &Path {
        &self.handle.path
    }

    /// The footer cache's key.
    fn cache_key(&self) -> (u64, u64) {
        (self.first_seq, self.seq)
    }
}

/// A segment file's path, shared by the partition and the scans reading it. A file replaced by
/// a compaction is `retire`d, and deleted when the last holder lets go: a scan that listed it
/// reads it to the end. (A drop or an expiry deletes files at once.)
#[derive(Debug)]
pub struct SegmentHandle {
    path: PathBuf,
    retired: AtomicBool,
}

impl SegmentHandle {
    fn new(path: PathBuf) -> Arc<SegmentHandle> {
        Arc::new(SegmentHandle {
            path,
            retired: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the file once no scan holds it any more.
    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }
}

impl Drop for SegmentHandle {
    fn drop(&mut self) {
        if self.retired.load(Ordering::Acquire) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub struct Partition {
    pub id: u32,
    dir: PathBuf,
    memtable: Memtable,
    sealing: Option<Rc<Memtable>>,
    segments: Vec<SegmentFile>,
    next_seq: u64,
    wal: Rc<Wal>,
    poisoned: Option<StorageError>,
    /// Field types of the data in this partition's segments (`schema.json`), re-registered at
    /// start-up together with the types found in the replayed WAL.
    sealed_types: Vec<KnownField>,
    /// The WAL's next LSN when the running seal swapped the memtable out.
    seal_lsn: u64,
    /// The running seal's sequence number.
    sealing_seq: u64,
    /// The WAL's epoch when the running seal swapped the memtable out: after a heal in between,
    /// LSNs from `seal_lsn` on may belong to the next memtable, so the seal deletes no WAL.
    seal_epoch: u64,
    /// The running seal failed (e.g. no space): `sealing` stays readable and is written again
    /// by the next `seal`.
    seal_failed: bool,
    /// Databases (and retention policies: `Some(rp)`) dropped while a seal runs: the sealing
    /// memtable is immutable, so its rows are hidden from reads and its files deleted when the
    /// seal is installed.
    dropped_while_sealing: Vec<(String, Option<String>)>,
    /// Measurements (db, name) dropped while a seal runs: the types the seal adds for them
    /// are not kept.
    measurements_dropped_while_sealing: Vec<(String, Vec<u8>)>,
    /// Deletes of sealed data (`tombstone.rs`).
    tombstones: Vec<tombstone::Tombstone>,
    /// Decoded footers of recently read segment files, bounded.
    footers: read::FooterCache,
    /// The inputs of the running compaction (empty when none runs).
    compacting: Vec<SegmentFile>,
    /// Export is on: retention and compaction leave files not yet exported alone.
    export_guard: bool,
    /// When the memtable took its oldest unsealed write (`[export] max-age` seals by it).
    unsealed_since: Option<std::time::Instant>,
}

/// Whether (db, rp) is covered by a drop in `dropped` (`None` rp: the whole database).
fn is_dropped(dropped: &[(String, Option<String>)], db: &str, rp: &str) -> bool {
    dropped
        .iter()
        .any(|(d, r)| d == db && r.as_deref().map_or(true, |r| r == rp))
}

/// Lists the sealed segments in `dir`, removing leftovers of an interrupted seal (`.tmp`) and of
/// an interrupted compaction (the inputs a compacted file covers: see `compact.rs`).
fn load_segments(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name.ends_with(".tmp") {
            std::fs::remove_file(&path)?;
            continue;
        }
        let Some((seq, first_seq)) = name.strip_suffix(".seg").and_then(parse_segment_name) else {
            continue;
        };
        // The footer only: start-up reads an index per file, not the file.
        let index = super::segment::read_index(&path, false)?;
        let (time_min, time_max) = index.time_range;
        let bytes = std::fs::metadata(&path)?.len();
        out.push(SegmentFile {
            seq,
            first_seq,
            db: index.db,
            rp: index.rp,
            time_min,
            time_max,
            bytes,
            handle: SegmentHandle::new(path),
        });
    }
    compact::remove_covered(&mut out)?;
    out.sort_by_key(|s| (s.seq, std::cmp::Reverse(s.first_seq)));
    Ok(out)
}

/// The directory of partition `id` under the data dir.
pub fn partition_dir(data_dir: &Path, id: u32) -> PathBuf {
    data_dir.join("partitions").join(id.to_string())
}

/// Reads `sealed.json` (writing it for a data dir that has none) and removes the files of an
/// interrupted seal from `segments` and from disk: their rows are still in the WAL.
async fn settle_seals(
    dir: &Path,
    segments: &mut Vec<SegmentFile>,
) -> std::io::Result<marks::SealedMark> {
    let seal_of = |s: &SegmentFile| s.seq / seal::FILES_PER_SEAL_MAX;
    let Some(mark) = marks::read_sealed(dir)? else {
        // First start with these records: every file present counts as finished. Written on
        // the blocking pool: its fsyncs must not hold up the core's other tasks.
        let mark = marks::SealedMark {
            seal: segments.iter().map(seal_of).max().unwrap_or(0),
            lsn: 0,
        };
        let at = dir.to_path_buf();
        glommio::executor()
            .spawn_blocking(move || {
                std::fs::create_dir_all(&at)?;
                marks::write_sealed(&at, mark)
            })
            .await?;
        return Ok(mark);
    };
    let mut kept = Vec::with_capacity(segments.len());
    for s in segments.drain(..) {
        if seal_of(&s) > mark.seal && s.first_seq == s.seq {
            std::fs::remove_file(s.path())?;
        } else {
            kept.push(s);
        }
    }
    *segments = kept;
    Ok(mark)
}

/// `<seq>` or `<seq>-<first_seq>` (the stem of a segment file's name) as (seq, first_seq).
fn parse_segment_name(stem: &str) -> Option<(u64, u64)> {
    match stem.split_once('-') {
        None => stem.parse().ok().map(|s| (s, s)),
        Some((seq, first)) => {
            let (seq, first): (u64, u64) = (seq.parse().ok()?, first.parse().ok()?);
            (first <= seq).then_some((seq, first))
        }
    }
}

/// What `Partition::apply` did with a batch.
pub struct Stored {
    pub points: u32,
    /// Points refused by the admission.
    pub refused: u32,
    /// The WAL and the LSN to wait for; none when nothing was stored.
    pub durable: Option<(Rc<Wal>, u64)>,
}

impl Partition {
    /// Opens partition `id` under `data_dir/partitions/<id>`: lists its segments, replays its WAL
    /// into a fresh memtable.
    pub async fn open(
        id: u32,
        data_dir: &Path,
        policy: FsyncPolicy,
    ) -> Result<Partition, StorageError> {
        let failed = |what: &'static str| {
            move |e: &dyn std::fmt::Display| StorageError::Open {
                partition: id,
                what,
                detail: e.to_string(),
            }
        };
        let dir = partition_dir(data_dir, id);
        let mut segments =
            load_segments(&dir.join("segments")).map_err(|e| failed("segments")(&e))?;
        let sealed = settle_seals(&dir, &mut segments)
            .await
            .map_err(|e| failed("sealed.json")(&e))?;
        let exported = marks::read_exported(&dir).map_err(|e| failed("exported.json")(&e))?;
        // Never reuse a sequence number: exported file names carry them, and retention may
        // have deleted every file of the newest seals.
        let next_seq = segments
            .last()
            .map_or(1, |s| s.seq / seal::FILES_PER_SEAL_MAX + 1)
            .max(sealed.seal + 1)
            .max(exported.seq / seal::FILES_PER_SEAL_MAX + 1);
        let mut memtable = Memtable::new();
        let mut bad = None;
        let mut replayed = 0u64;
        let wal = Wal::open(
            &dir.join("wal"),
            policy,
            // Records below `sealed.lsn` are in finished segment files (`marks.rs`).
            |r: WalRecord<'_>| match payload::decode(r.payload).filter(|_| r.lsn >= sealed.lsn) {
                Some(Record::Points { db, rp, batch }) => {
                    replayed += 1;
                    if let Err(e) = memtable.apply_buf(db, rp, batch) {
                        bad.get_or_insert_with(|| format!("WAL record {}: {e}", r.lsn));
                    }
                }
                Some(Record::DropDatabase(db)) => memtable.drop_database(db),
                Some(Record::DropRp(db, rp)) => memtable.drop_retention_policy(db, rp),
                Some(Record::Delete(d)) => {
                    memtable.delete(&d);
                }
                None if r.lsn < sealed.lsn => {}
                None => {
                    bad.get_or_insert_with(|| format!("WAL record {}: unknown payload", r.lsn));
                }
            },
        )
        .await
        .map_err(|e| failed("WAL")(&e))?;
        if let Some(e) = bad {
            return Err(failed("WAL")(&e));
        }
        if replayed > 0 {
            tracing::info!(
                partition = id,
                records = replayed,
                points = memtable.point_count(),
                "WAL replayed"
            );
        }
        let sealed_types = load_types(&dir).map_err(|e| failed("schema.json")(&e))?;
        let tombstones = tombstone::load(&dir).map_err(|e| failed("tombstones")(&e))?;
        let mut p = Partition {
            id,
            dir,
            memtable,
            sealing: None,
            segments,
            next_seq,
            wal: Rc::new(wal),
            poisoned: None,
            sealed_types,
            seal_lsn: 0,
            sealing_seq: 0,
            seal_epoch: 0,
            seal_failed: false,
            dropped_while_sealing: Vec::new(),
            measurements_dropped_while_sealing: Vec::new(),
            tombstones,
            footers: read::FooterCache::default(),
            compacting: Vec::new(),
            export_guard: false,
            unsealed_since: None,
        };
        if !p.memtable.is_empty() {
            p.unsealed_since = Some(std::time::Instant::now());
        }
        p.settle_tombstones()
            .map_err(|e| failed("tombstones")(&e))?;
        Ok(p)
    }

    /// Applies a batch to the memtable and queues what was stored in the WAL (in one step, so
    /// the memtable sees the WAL's order). With `admit`, each series new to the memtable is
    /// put to it first (see `Memtable::apply_admitting`); refused points are neither stored
    /// nor logged. Returns the points stored, the points refused, and the WAL and LSN to wait
    /// for (none when nothing was stored).
    pub fn apply(
        &mut self,
        db: &str,
        rp: &str,
        batch: &Batch,
        admit: Option<Admit<'_>>,
    ) -> Result<Stored, StorageError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        // A WAL stopped for want of space refuses the batch before the memtable takes it.
        if let Some(e) = self.wal.stopped() {
            return Err(self.fail(e));
        }
        let mut refused = Vec::new();
        let n = self
            .memtable
            .apply_admitting(db, rp, &batch.buf, admit, &mut refused)?;
        let kept;
        let stored = if refused.is_empty() {
            batch
        } else {
            kept = batch.without(&refused)?;
            &kept
        };
        if stored.is_empty() {
            return Ok(Stored {
                points: 0,
                refused: refused.len() as u32,
                durable: None,
            });
        }
        if self.unsealed_since.is_none() {
            self.unsealed_since = Some(std::time::Instant::now());
        }
        let head = payload::points_head(db, rp);
        let lsn = self
            .wal
            .enqueue_parts(&[&head, &stored.buf])
            .map_err(|e| self.fail(e))?;
        Ok(Stored {
            points: n,
            refused: refused.len() as u32,
            durable: Some((self.wal.clone(), lsn)),
        })
    }

    fn poison(&mut self, cause: String) -> StorageError {
        if self.poisoned.is_none() {
            log_stopped(self.id, &cause);
        }
        let stopped = StorageError::Stopped {
            partition: self.id,
            cause,
        };
        self.poisoned.get_or_insert(stopped).clone()
    }

    /// Records a WAL failure (queueing a record, or waiting for it): a lack of space refuses
    /// this write only (the WAL heals, see `Wal::heal`); anything else stops the partition.
    pub fn fail(&mut self, e: super::wal::WalError) -> StorageError {
        if e.is_no_space() {
            StorageError::NoSpace { partition: self.id }
        } else {
            self.poison(e.to_string())
        }
    }

    /// Forgets `db` here and on disk: memtable, segment files, and a WAL tombstone so replay
    /// forgets it too.
    pub fn drop_database(&mut self, db: &str) {
        self.memtable.drop_database(db);
        if self.sealing.is_some() {
            self.dropped_while_sealing.push((db.to_string(), None));
        }
        self.remove_segments("drop database", |s| s.db == db);
        self.sealed_types.retain(|t| t.0 != db);
        let _ = save_types(&self.dir, &self.sealed_types);
        let _ = self.wal.enqueue(&payload::drop_database(db));
    }

    pub fn drop_retention_policy(&mut self, db: &str, rp: &str) {
        self.memtable.drop_retention_policy(db, rp);
        if self.sealing.is_some() {
            self.dropped_while_sealing
                .push((db.to_string(), Some(rp.to_string())));
        }
        self.remove_segments("drop retention policy", |s| s.db == db && s.rp == rp);
        self.sealed_types.retain(|t| !(t.0 == db && t.1 == rp));
        let _ = save_types(&self.dir, &self.sealed_types);
        let _ = self.wal.enqueue(&payload::drop_rp(db, rp));
    }

    /// Forgets the sealed field types of `measurement` in `db` (`DROP MEASUREMENT`), so that a
    /// restart does not register them again.
    pub fn forget_measurement_types(&mut self, db: &str, measurement: &[u8]) {
        if self.sealing.is_some() {
            self.measurements_dropped_while_sealing
                .push((db.to_string(), measurement.to_vec()));
        }
        let before = self.sealed_types.len();
        self.sealed_types
            .retain(|t| !(t.0 == db && t.2 == measurement));
        if self.sealed_types.len() != before {
            let _ = save_types(&self.dir, &self.sealed_types);
        }
    }

    /// Deletes the segment files `pred` picks, logging each with `why`.
    fn remove_segments(&mut self, why: &str, pred: impl Fn(&SegmentFile) -> bool) {
        let before = self.segments.len();
        let (footers, id) = (&mut self.footers, self.id);
        // Deleted at once, as a drop must: a scan that listed such a file finds it gone.
        self.segments.retain(|s| {
            if pred(s) {
                tracing::info!(
                    partition = id,
                    segment = %s.path().display(),
                    db = %s.db,
                    rp = %s.rp,
                    bytes = s.bytes,
                    reason = why,
                    "segment file deleted"
                );
                footers.remove(s.cache_key());
                let _ = std::fs::remove_file(s.path());
                false
            } else {
                true
            }
        });
        // The inputs of a running compaction are no longer listed once it installed its
        // output, but may still be on disk.
        for s in &self.compacting {
            if pred(s) {
                let _ = std::fs::remove_file(s.path());
            }
        }
        if self.segments.len() != before {
            // A tombstone left without files is not needed; failing to rewrite the file only
            // keeps one that covers nothing.
            let _ = self.prune_tombstones();
        }
    }

    /// Deletes segments whose newest point is older than `min_ns` for their (db, rp); with
    /// export on, only those already exported.
    pub fn expire(&mut self, cutoff: impl Fn(&str, &str) -> Option<i64>) -> usize {
        let before = self.segments.len();
        let exported = self.exported_seq();
        self.remove_segments("retention", |s| {
            cutoff(&s.db, &s.rp).is_some_and(|min| s.time_max < min)
                && exported.map_or(true, |e| s.seq <= e)
        });
        before - self.segments.len()
    }

    /// Turns on the export guard: retention and compaction leave segment files that are not
    /// exported yet (`exported.json`) alone.
    pub fn guard_unexported(&mut self) {
        self.export_guard = true;
    }

    /// With the export guard on, the newest segment number exported (0 when unreadable: keep
    /// everything); `None` when export is off.
    fn exported_seq(&self) -> Option<u64> {
        self.export_guard
            .then(|| marks::read_exported(&self.dir).map_or(0, |m| m.seq))
    }

    /// Every field type held here: sealed data and memtables.
    pub fn known_types(&self) -> Vec<KnownField> {
        let mut out = self.sealed_types.clone();
        if let Some(s) = &self.sealing {
            out.extend(s.field_types());
        }
        out.extend(self.memtable.field_types());
        out
    }
}

/// Log: a partition stopped taking writes, and why.
fn log_stopped(partition: u32, cause: &str) {
    tracing::error!(partition, cause, "partition refusing writes until restart");
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TypeEntry {
    db: String,
    rp: String,
    measurement: Vec<u8>,
    field: Vec<u8>,
    ty: u8,
}

fn load_types(dir: &Path) -> std::io::Result<Vec<KnownField>> {
    let bytes = match std::fs::read(dir.join("schema.json")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let entries: Vec<TypeEntry> = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            Some((
                e.db,
                e.rp,
                e.measurement,
                e.field,
                crate::lineproto::FieldType::from_u8(e.ty)?,
            ))
        })
        .collect())
}

/// Writes `schema.json` atomically (temp file, fsync, rename, directory fsync). Small and rare
/// (once per seal or drop), so plain blocking file calls.
fn save_types(dir: &Path, types: &[KnownField]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let entries: Vec<TypeEntry> = types
        .iter()
        .map(|(db, rp, m, f, ty)| TypeEntry {
            db: db.clone(),
            rp: rp.clone(),
            measurement: m.clone(),
            field: f.clone(),
            ty: *ty as u8,
        })
        .collect();
    let tmp = dir.join("schema.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(&entries).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("schema.json"))?;
    std::fs::File::open(dir)?.sync_all()
}
