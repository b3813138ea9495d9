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
//! WAL payload (little-endian): `u8` kind, then for kind 3 (points) `u16` db length, db, `u16` rp
//! length, rp, and a `shard::Batch` buffer; kind 1 (drop database) `u16` + db; kind 2 (drop
//! retention policy) `u16` + db, `u16` + rp. Any other kind is refused at start-up.

use super::memtable::{Admit, ApplyError, KnownField, Memtable, ScanRequest, SeriesRows};
use super::segment::{SegmentEncoder, SegmentReader, SeriesData};
use super::wal::{FsyncPolicy, Wal, WalRecord};
use crate::lineproto::FieldType;
use crate::shard::batch::Batch;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Series in one segment file (its index is held in memory while the file is built).
const SERIES_PER_SEGMENT_MAX: usize = 8192;
/// Rows in one segment file: bounds a file's encoded bytes, held in memory until the file is
/// written (a seal holds one series decoded at a time), and what a query reads of one file.
/// (A larger bound, 262 144, makes no measurable difference to server CPU per TSBS row.)
const ROWS_PER_SEGMENT_MAX: usize = 65_536;
/// Segment files one seal may write (its sequence number times this, plus the file's number).
const FILES_PER_SEAL_MAX: u64 = 1_000_000;

/// A batch of points (`shard::batch` layout). Kind 0 is not used: it names a batch layout
/// without point lengths and flags, which this code cannot read, so a WAL holding it is refused
/// at start-up ("unknown payload") rather than misread.
const KIND_POINTS: u8 = 3;
const KIND_DROP_DATABASE: u8 = 1;
const KIND_DROP_RP: u8 = 2;

/// A sealed segment file of this partition.
#[derive(Debug, Clone)]
struct SegmentFile {
    seq: u64,
    path: PathBuf,
    db: String,
    rp: String,
    time_min: i64,
    time_max: i64,
}

pub struct Partition {
    pub id: u32,
    dir: PathBuf,
    memtable: Memtable,
    sealing: Option<Rc<Memtable>>,
    segments: Vec<SegmentFile>,
    next_seq: u64,
    wal: Rc<Wal>,
    poisoned: Option<String>,
    /// Field types of the data in this partition's segments (`schema.json`), re-registered at
    /// start-up together with the types found in the replayed WAL.
    sealed_types: Vec<KnownField>,
    /// The WAL's next LSN when the running seal swapped the memtable out.
    seal_lsn: u64,
    /// Databases (and retention policies: `Some(rp)`) dropped while a seal runs: the sealing
    /// memtable is immutable, so its rows are hidden from reads and its files deleted when the
    /// seal is installed.
    dropped_while_sealing: Vec<(String, Option<String>)>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a str> {
    let len = u16::from_le_bytes(buf.get(*pos..*pos + 2)?.try_into().ok()?) as usize;
    let s = buf.get(*pos + 2..*pos + 2 + len)?;
    *pos += 2 + len;
    std::str::from_utf8(s).ok()
}

/// What one WAL record asks for.
enum Record<'a> {
    Points {
        db: &'a str,
        rp: &'a str,
        batch: &'a [u8],
    },
    DropDatabase(&'a str),
    DropRp(&'a str, &'a str),
}

fn decode_record(payload: &[u8]) -> Option<Record<'_>> {
    let mut pos = 1;
    match *payload.first()? {
        KIND_POINTS => {
            let db = get_str(payload, &mut pos)?;
            let rp = get_str(payload, &mut pos)?;
            Some(Record::Points {
                db,
                rp,
                batch: payload.get(pos..)?,
            })
        }
        KIND_DROP_DATABASE => Some(Record::DropDatabase(get_str(payload, &mut pos)?)),
        KIND_DROP_RP => {
            let db = get_str(payload, &mut pos)?;
            Some(Record::DropRp(db, get_str(payload, &mut pos)?))
        }
        _ => None,
    }
}

/// Whether (db, rp) is covered by a drop in `dropped` (`None` rp: the whole database).
fn is_dropped(dropped: &[(String, Option<String>)], db: &str, rp: &str) -> bool {
    dropped
        .iter()
        .any(|(d, r)| d == db && r.as_deref().map_or(true, |r| r == rp))
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// Lists the sealed segments in `dir` (removing leftovers of an interrupted seal).
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
        let Some(seq) = name
            .strip_suffix(".seg")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        // The footer only: start-up reads an index per file, not the file.
        let index = super::segment::read_index(&path, false)?;
        let (time_min, time_max) = index.time_range;
        out.push(SegmentFile {
            seq,
            db: index.db,
            rp: index.rp,
            time_min,
            time_max,
            path,
        });
    }
    out.sort_by_key(|s| s.seq);
    Ok(out)
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
    pub async fn open(id: u32, data_dir: &Path, policy: FsyncPolicy) -> Result<Partition, String> {
        let dir = data_dir.join("partitions").join(id.to_string());
        let segments = load_segments(&dir.join("segments"))
            .map_err(|e| format!("partition {id}: segments: {e}"))?;
        let next_seq = segments
            .last()
            .map_or(1, |s| s.seq / FILES_PER_SEAL_MAX + 1);
        let mut memtable = Memtable::new();
        let mut bad = None;
        let wal = Wal::open(
            &dir.join("wal"),
            policy,
            |r: WalRecord<'_>| match decode_record(r.payload) {
                Some(Record::Points { db, rp, batch }) => {
                    if let Err(e) = memtable.apply_buf(db, rp, batch) {
                        bad.get_or_insert_with(|| format!("WAL record {}: {e}", r.lsn));
                    }
                }
                Some(Record::DropDatabase(db)) => memtable.drop_database(db),
                Some(Record::DropRp(db, rp)) => memtable.drop_retention_policy(db, rp),
                None => {
                    bad.get_or_insert_with(|| format!("WAL record {}: unknown payload", r.lsn));
                }
            },
        )
        .await
        .map_err(|e| format!("partition {id}: WAL: {e}"))?;
        if let Some(e) = bad {
            return Err(format!("partition {id}: {e}"));
        }
        let sealed_types =
            load_types(&dir).map_err(|e| format!("partition {id}: schema.json: {e}"))?;
        Ok(Partition {
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
            dropped_while_sealing: Vec::new(),
        })
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
    ) -> Result<Stored, String> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let mut refused = Vec::new();
        let n = self
            .memtable
            .apply_admitting(db, rp, &batch.buf, admit, &mut refused)
            .map_err(|e: ApplyError| e.to_string())?;
        let kept;
        let stored = if refused.is_empty() {
            batch
        } else {
            kept = batch.without(&refused).map_err(|e| e.to_string())?;
            &kept
        };
        if stored.is_empty() {
            return Ok(Stored {
                points: 0,
                refused: refused.len() as u32,
                durable: None,
            });
        }
        let mut head = Vec::with_capacity(db.len() + rp.len() + 5);
        head.push(KIND_POINTS);
        put_str(&mut head, db);
        put_str(&mut head, rp);
        let lsn = self
            .wal
            .enqueue_parts(&[&head, &stored.buf])
            .map_err(|e| self.poison(e.to_string()))?;
        Ok(Stored {
            points: n,
            refused: refused.len() as u32,
            durable: Some((self.wal.clone(), lsn)),
        })
    }

    fn poison(&mut self, e: String) -> String {
        let text = format!(
            "partition {} stopped accepting writes after a WAL error: {e}",
            self.id
        );
        self.poisoned.get_or_insert(text).clone()
    }

    /// Records a WAL failure seen while waiting for durability.
    pub fn fail(&mut self, e: String) -> String {
        self.poison(e)
    }

    /// Whether the memtable passed `max_bytes` and no seal is running.
    pub fn wants_seal(&self, max_bytes: u64) -> bool {
        self.sealing.is_none() && self.memtable.memtable_bytes() as u64 > max_bytes
    }

    /// Whether writes must wait: a seal is running and the memtable already holds twice the bound.
    pub fn over_limit(&self, max_bytes: u64) -> bool {
        self.sealing.is_some()
            && self.memtable.memtable_bytes() as u64 > max_bytes.saturating_mul(2)
    }

    /// Starts a seal: swaps the memtable out. Returns what `finish_seal` needs.
    pub fn begin_seal(&mut self) -> Option<(Rc<Memtable>, Rc<Wal>, PathBuf, u64)> {
        if self.sealing.is_some() || self.memtable.is_empty() {
            return None;
        }
        let next = self.memtable.take_for_next();
        let old = Rc::new(std::mem::replace(&mut self.memtable, next));
        self.sealing = Some(old.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        // Every record below this LSN was applied to `old` (memtable and WAL move in one step).
        self.seal_lsn = self.wal.next_lsn();
        Some((old, self.wal.clone(), self.dir.join("segments"), seq))
    }

    fn seal_done(&mut self, files: Vec<SegmentFile>, mut types: Vec<KnownField>) {
        let dropped = std::mem::take(&mut self.dropped_while_sealing);
        let gone = |db: &str, rp: &str| is_dropped(&dropped, db, rp);
        types.retain(|t| !gone(&t.0, &t.1));
        self.sealed_types = types;
        for f in files {
            if gone(&f.db, &f.rp) {
                let _ = std::fs::remove_file(&f.path);
            } else {
                self.segments.push(f);
            }
        }
        if !dropped.is_empty() {
            let _ = save_types(&self.dir, &self.sealed_types);
        }
        self.segments.sort_by_key(|s| s.seq);
        self.sealing = None;
    }

    fn seal_failed(&mut self, e: String) -> String {
        // Keep the sealing memtable readable and its WAL in place; stop taking writes.
        self.poison(format!("sealing failed: {e}"))
    }

    /// Forgets `db` here and on disk: memtable, segment files, and a WAL tombstone so replay
    /// forgets it too.
    pub fn drop_database(&mut self, db: &str) {
        self.memtable.drop_database(db);
        if self.sealing.is_some() {
            self.dropped_while_sealing.push((db.to_string(), None));
        }
        self.remove_segments(|s| s.db == db);
        self.sealed_types.retain(|t| t.0 != db);
        let _ = save_types(&self.dir, &self.sealed_types);
        let mut payload = vec![KIND_DROP_DATABASE];
        put_str(&mut payload, db);
        let _ = self.wal.enqueue(&payload);
    }

    pub fn drop_retention_policy(&mut self, db: &str, rp: &str) {
        self.memtable.drop_retention_policy(db, rp);
        if self.sealing.is_some() {
            self.dropped_while_sealing
                .push((db.to_string(), Some(rp.to_string())));
        }
        self.remove_segments(|s| s.db == db && s.rp == rp);
        self.sealed_types.retain(|t| !(t.0 == db && t.1 == rp));
        let _ = save_types(&self.dir, &self.sealed_types);
        let mut payload = vec![KIND_DROP_RP];
        put_str(&mut payload, db);
        put_str(&mut payload, rp);
        let _ = self.wal.enqueue(&payload);
    }

    fn remove_segments(&mut self, pred: impl Fn(&SegmentFile) -> bool) {
        self.segments.retain(|s| {
            if pred(s) {
                let _ = std::fs::remove_file(&s.path);
                false
            } else {
                true
            }
        });
    }

    /// Deletes segments whose newest point is older than `min_ns` for their (db, rp).
    pub fn expire(&mut self, cutoff: impl Fn(&str, &str) -> Option<i64>) -> usize {
        let before = self.segments.len();
        self.remove_segments(|s| cutoff(&s.db, &s.rp).is_some_and(|min| s.time_max < min));
        before - self.segments.len()
    }

    /// The segment files to read for a scan, oldest first, and the memtables (sealing, then
    /// active) — the caller reads the files without holding the partition.
    pub fn scan_sources(&self, req: &ScanRequest) -> (Vec<PathBuf>, Vec<SeriesRows>) {
        let files = self
            .segments
            .iter()
            .filter(|s| s.db == req.db && s.rp == req.rp)
            .filter(|s| {
                s.time_max >= req.condition.time_min_ns && s.time_min < req.condition.time_max_ns
            })
            .map(|s| s.path.clone())
            .collect();
        let mut rows = Vec::new();
        let dropped = is_dropped(&self.dropped_while_sealing, &req.db, &req.rp);
        if let Some(s) = self.sealing.as_ref().filter(|_| !dropped) {
            rows.extend(s.scan(req));
        }
        rows.extend(self.memtable.scan(req));
        (files, rows)
    }

    /// Every series stored here as (db, key, measurement): memtables and segment files.
    pub fn stored_series(&self) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for s in &self.segments {
            if let Ok(index) = super::segment::read_index(&s.path, true) {
                out.extend(index.series.into_iter().map(|(k, m)| (s.db.clone(), k, m)));
            }
        }
        if let Some(m) = &self.sealing {
            out.extend(m.series_keys());
        }
        out.extend(self.memtable.series_keys());
        out
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
}

/// Writes the sealing memtable as segment files, then lets the WAL before it go.
pub async fn seal(part: &std::cell::RefCell<Vec<Partition>>, idx: usize) -> Result<(), String> {
    let Some((old, wal, dir, seq, mut types)) = part.borrow_mut().get_mut(idx).and_then(|p| {
        let types = p.sealed_types.clone();
        p.begin_seal().map(|(a, b, c, d)| (a, b, c, d, types))
    }) else {
        return Ok(());
    };
    let result = async {
        let boundary = wal.rotate().await.map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        let mut file_no = 0u64;
        for plan in old.seal_plan() {
            // The plan is in key order, as a file's series must be. Each series is encoded as
            // soon as it is built, while its columns are still in the core's caches (building
            // a whole file's series first would hold up to ROWS_PER_SEGMENT_MAX rows of columns,
            // several MB, and read them back from memory). At most SERIES_PER_SEGMENT_MAX series
            // and about ROWS_PER_SEGMENT_MAX rows go to a file.
            let mut encoder = SegmentEncoder::new();
            let mut in_file = 0usize;
            let mut rows = 0usize;
            let mut last_shape: Option<SeriesShape> = None;
            for k in 0..plan.len() {
                if let Some(s) = old.seal_series(&plan, k) {
                    // The (measurement, field, type) of each column, once: most series have
                    // the previous one's shape.
                    if !last_shape.as_ref().is_some_and(|l| l.is_of(&s)) {
                        let shape = SeriesShape::of(&s);
                        for (f, ty) in &shape.fields {
                            let t = (
                                plan.db.clone(),
                                plan.rp.clone(),
                                shape.measurement.clone(),
                                f.clone(),
                                *ty,
                            );
                            if !types.contains(&t) {
                                types.push(t);
                            }
                        }
                        last_shape = Some(shape);
                    }
                    rows += s.times.len();
                    in_file += 1;
                    encoder.push(&s);
                }
                // Let the core's other tasks run between series whenever glommio asks.
                glommio::yield_if_needed().await;
                let last = k + 1 == plan.len();
                if in_file == 0
                    || !(last || in_file >= SERIES_PER_SEGMENT_MAX || rows >= ROWS_PER_SEGMENT_MAX)
                {
                    continue;
                }
                in_file = 0;
                rows = 0;
                let full = std::mem::take(&mut encoder);
                let (time_min, time_max) = full.time_range();
                let bytes = full.finish(&plan.db, &plan.rp);
                // Files of one seal hold disjoint series; the seal's sequence number orders seals.
                let seq_i = seq * FILES_PER_SEAL_MAX + file_no;
                file_no += 1;
                let path = dir.join(segment_name(seq_i));
                write_durably(&path, bytes).await?;
                files.push(SegmentFile {
                    seq: seq_i,
                    path,
                    db: plan.db.clone(),
                    rp: plan.rp.clone(),
                    time_min,
                    time_max,
                });
                glommio::yield_if_needed().await;
            }
        }
        // The renames of this seal's files and the types of the sealed data must be on disk
        // before the WAL that also holds them goes: one directory fsync covers every rename.
        if !files.is_empty() {
            super::wal::sync_dir(&dir)
                .await
                .map_err(|e| e.to_string())?;
        }
        let part_dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let to_save = types.clone();
        glommio::executor()
            .spawn_blocking(move || save_types(&part_dir, &to_save))
            .await
            .map_err(|e| format!("schema.json: {e}"))?;
        Ok::<_, String>((files, boundary, types))
    }
    .await;
    match result {
        Ok((files, boundary, types)) => {
            let mut keep_from = boundary;
            if let Some(p) = part.borrow_mut().get_mut(idx) {
                keep_from = keep_from.min(p.seal_lsn);
                p.seal_done(files, types);
                if let Ok(sealed) = Rc::try_unwrap(old) {
                    p.memtable.recycle(sealed);
                }
            }
            // Only records whose data is now in a durable segment go.
            wal.truncate_before(keep_from)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(part
            .borrow_mut()
            .get_mut(idx)
            .map_or(e.clone(), |p| p.seal_failed(e))),
    }
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

/// Temp file, fdatasync, rename; the caller fsyncs the directory once for all the files of a
/// seal (`wal::sync_dir`). Every call here is asynchronous or runs on glommio's blocking-thread pool:
/// a blocking fsync on the core's own thread would stall every request the core serves.
async fn write_durably(path: &Path, bytes: Vec<u8>) -> Result<(), String> {
    let tmp = path.with_extension("seg.tmp");
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", tmp.display());
    let file = glommio::io::BufferedFile::create(&tmp)
        .await
        .map_err(|e| err("creating", &e))?;
    let mut pos = 0usize;
    let total = bytes.len();
    let mut rest = bytes;
    while pos < total {
        let n = file
            .write_at(rest.clone(), pos as u64)
            .await
            .map_err(|e| err("writing", &e))?;
        if n == 0 {
            return Err(err("writing", &"short write"));
        }
        pos += n;
        rest.drain(..n);
    }
    file.fdatasync().await.map_err(|e| err("syncing", &e))?;
    file.close().await.map_err(|e| err("closing", &e))?;
    glommio::io::rename(&tmp, path)
        .await
        .map_err(|e| err("renaming", &e))?;
    Ok(())
}

/// A partition's rows for a scan: its segment files (oldest first) read and merged with its
/// memtables' rows (`mem_rows`), the newest write of a series and time winning. Runs on
/// glommio's blocking-thread pool: reading files of megabytes, decoding and merging their rows
/// on the core's own thread would stall every request of the core for as long (seconds for a
/// large `SELECT *`). A file that cannot be read is logged and skipped.
pub async fn scan_files(
    core: usize,
    files: Vec<PathBuf>,
    mem_rows: Vec<SeriesRows>,
    req: &ScanRequest,
) -> Vec<SeriesRows> {
    if files.is_empty() {
        return mem_rows;
    }
    let req = req.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let mut rows = Vec::new();
            for f in files {
                match scan_segment(&f, &req) {
                    Ok(mut r) => rows.append(&mut r),
                    Err(e) => eprintln!("lineshard: core {core}: {e}"),
                }
            }
            if rows.is_empty() {
                return mem_rows;
            }
            rows.extend(mem_rows);
            merge_sources(rows)
        })
        .await
}

/// Reads the rows of a scan from one segment file (read whole; blocking).
pub fn scan_segment(path: &Path, req: &ScanRequest) -> Result<Vec<SeriesRows>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = SegmentReader::open(&bytes).map_err(|e| format!("{}: {e:?}", path.display()))?;
    let (min, max) = (req.condition.time_min_ns, req.condition.time_max_ns);
    let mut out = Vec::new();
    let keys: Vec<(Vec<u8>, Vec<u8>)> = reader
        .series_keys()
        .map(|(k, m)| (k.to_vec(), m.to_vec()))
        .collect();
    for (idx, (key, measurement)) in keys.into_iter().enumerate() {
        if !req.measurements.matches(&measurement) {
            continue;
        }
        let tags = crate::shard::key::parse_tags(&key);
        if !req.condition.matches_tags(&tags) {
            continue;
        }
        let data = reader
            .read_series(idx, min, max)
            .map_err(|e| format!("{}: {e:?}", path.display()))?;
        let mut points = Vec::with_capacity(data.times.len());
        let names: Vec<crate::query::FieldKey> =
            data.columns.iter().map(|c| c.name[..].into()).collect();
        for (row, ts) in data.times.iter().enumerate() {
            let mut fields: crate::query::PointFields = data
                .columns
                .iter()
                .zip(&names)
                .filter_map(|(c, name)| c.get(row).map(|v| (name.clone(), v.into_owned())))
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            if !fields.is_empty() {
                points.push((*ts, fields));
            }
        }
        if !points.is_empty() {
            out.push(SeriesRows {
                measurement,
                tags,
                points,
            });
        }
    }
    Ok(out)
}

/// A series as scans name it: measurement and unescaped tags.
type SeriesId = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Merges the rows of one scan from several sources given oldest first: per series, rows of the
/// same time merge and the newer source wins.
pub fn merge_sources(sources: Vec<SeriesRows>) -> Vec<SeriesRows> {
    let mut by_series: hashbrown::HashMap<SeriesId, Vec<(i64, crate::query::PointFields)>> =
        hashbrown::HashMap::new();
    let mut order = Vec::new();
    for s in sources {
        let key = (s.measurement, s.tags);
        if !by_series.contains_key(&key) {
            order.push(key.clone());
        }
        by_series.entry(key).or_default().extend(s.points);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let mut points = by_series.remove(&key)?;
            points.sort_by_key(|p| p.0); // stable: older sources first within a time
            Some(SeriesRows {
                measurement: key.0,
                tags: key.1,
                points: super::memtable::merge_same_times(points),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::FieldValue;
    use crate::query::{Condition, MeasurementMatch};
    use std::cell::RefCell;

    fn batch(db_tag: &str, n: i64) -> Batch {
        let mut b = Batch::default();
        for t in 0..n {
            b.begin_point(format!("m,src={db_tag}").as_bytes(), b"m", t, 1);
            b.push_field(b"v", &FieldValue::Integer(t));
        }
        b
    }

    fn all(db: &str) -> ScanRequest {
        ScanRequest {
            db: db.into(),
            rp: "autogen".into(),
            measurements: MeasurementMatch::Regex(regex::bytes::Regex::new(".").unwrap()),
            condition: Condition::default(),
        }
    }

    /// Points of `db` a partition returns: memtables and segment files.
    async fn points(parts: &RefCell<Vec<Partition>>, db: &str) -> usize {
        let (files, mut rows) = parts.borrow()[0].scan_sources(&all(db));
        for f in files {
            rows.extend(scan_segment(&f, &all(db)).unwrap());
        }
        merge_sources(rows).iter().map(|s| s.points.len()).sum()
    }

    /// DROP DATABASE while a seal of that database's data is running: the sealing rows are
    /// hidden at once, the seal's new files of that database are deleted when it finishes, the
    /// other database's sealed data stays, and a restart (WAL replay + segment files) agrees.
    #[test]
    fn drop_database_during_a_seal() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().canonicalize().unwrap();
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(move || async move {
                let p = Partition::open(0, &data, FsyncPolicy::Always)
                    .await
                    .unwrap();
                let parts = std::rc::Rc::new(RefCell::new(vec![p]));
                for db in ["a", "b"] {
                    let stored = parts.borrow_mut()[0]
                        .apply(db, "autogen", &batch(db, 100), None)
                        .unwrap();
                    let (wal, lsn) = stored.durable.unwrap();
                    wal.wait_durable(lsn).await.unwrap();
                }
                let p2 = parts.clone();
                let sealing = glommio::spawn_local(async move { seal(&p2, 0).await });
                let mut waited = 0;
                while parts.borrow()[0].sealing.is_none() {
                    glommio::executor().yield_task_queue_now().await;
                    waited += 1;
                    assert!(waited < 1000, "the seal never started");
                }
                parts.borrow_mut()[0].drop_database("a");
                assert_eq!(points(&parts, "a").await, 0, "hidden while sealing");
                sealing.await.unwrap();
                assert!(parts.borrow()[0].sealing.is_none());
                assert_eq!(points(&parts, "a").await, 0);
                assert_eq!(points(&parts, "b").await, 100);
                let dbs: Vec<String> = parts.borrow()[0]
                    .segments
                    .iter()
                    .map(|s| s.db.clone())
                    .collect();
                assert_eq!(dbs, vec!["b".to_string()]);
                let on_disk = std::fs::read_dir(data.join("partitions/0/segments"))
                    .unwrap()
                    .count();
                assert_eq!(on_disk, 1, "the dropped database's new file was deleted");
                drop(parts);
                let p = Partition::open(0, &data, FsyncPolicy::Always)
                    .await
                    .unwrap();
                let parts = RefCell::new(vec![p]);
                assert_eq!(points(&parts, "a").await, 0, "after a restart");
                assert_eq!(points(&parts, "b").await, 100);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
