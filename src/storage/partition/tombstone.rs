//! Deletes of sealed data: a partition's tombstones, and applying a delete to the partition.
//!
//! A delete removes its points from the memtable at once (the store is rebuilt) and is logged in
//! the WAL (kind 4), so replay removes them again. Segment files are immutable, so for them the
//! delete becomes a *tombstone*: the delete and the number of the last seal whose files it covers
//! (`upto_seal`; a file's seal is its sequence number / `FILES_PER_SEAL_MAX`). Files of a later
//! seal hold data written after the delete, which it must not hide. The memtable being sealed
//! when the delete came is covered too: its seal's number is `upto_seal`, and its rows are
//! filtered while it is read.
//!
//! The tombstones of a partition live in its `tombstones` file, written whole (temp file, fsync,
//! rename, directory fsync) before the delete's WAL record is queued. At start-up each one's
//! `upto_seal` is lowered to the last seal that left files: a seal cut short by a crash left
//! none, its data is replayed from the WAL together with the delete's record, and its number is
//! given to the next seal. A tombstone goes when no file it covers is left (retention, drops).
//!
//! File layout: `LSTOMB1\n`, then per tombstone `u64` upto_seal, `u32` length, the delete
//! (`payload::encode_delete`), all little-endian.

use super::seal::FILES_PER_SEAL_MAX;
use super::{payload, Partition, SegmentFile};
use crate::storage::scan::{Delete, SeriesRows};
use crate::storage::wal::Wal;
use crate::storage::StorageError;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

const MAGIC: &[u8] = b"LSTOMB1\n";
pub(super) const FILE: &str = "tombstones";

/// A delete of the data in a partition's segment files up to seal `upto_seal`.
#[derive(Clone, Debug)]
pub(super) struct Tombstone {
    pub(super) upto_seal: u64,
    pub(super) delete: Arc<Delete>,
}

impl SegmentFile {
    /// The number of the seal that wrote this file.
    pub(super) fn seal_no(&self) -> u64 {
        self.seq / FILES_PER_SEAL_MAX
    }
}

impl Tombstone {
    fn covers_file(&self, f: &SegmentFile) -> bool {
        let d = &self.delete;
        f.db == d.db
            && f.seal_no() <= self.upto_seal
            && d.time_min_ns <= f.time_max
            && f.time_min < d.time_max_ns
    }
}

/// Reads a partition's tombstones (none when it has no file).
pub(super) fn load(dir: &Path) -> std::io::Result<Vec<Tombstone>> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "tombstones: bad entry");
    let body = bytes.strip_prefix(MAGIC).ok_or_else(bad)?;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let head = body.get(pos..pos + 12).ok_or_else(bad)?;
        let upto_seal = u64::from_le_bytes(head[..8].try_into().map_err(|_| bad())?);
        let len = u32::from_le_bytes(head[8..].try_into().map_err(|_| bad())?) as usize;
        let entry = body.get(pos + 12..pos + 12 + len).ok_or_else(bad)?;
        let mut at = 0;
        let delete = payload::decode_delete(entry, &mut at).ok_or_else(bad)?;
        out.push(Tombstone {
            upto_seal,
            delete: Arc::new(delete),
        });
        pos += 12 + len;
    }
    Ok(out)
}

/// Writes a partition's tombstones atomically (temp file, fsync, rename, directory fsync); no
/// tombstone left: the file goes. Rare and small, so plain blocking calls, as `schema.json`.
fn save(dir: &Path, tombstones: &[Tombstone]) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(FILE);
    if tombstones.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => std::fs::File::open(dir)?.sync_all(),
        };
    }
    let mut bytes = MAGIC.to_vec();
    for t in tombstones {
        let mut entry = Vec::new();
        payload::encode_delete(&mut entry, &t.delete);
        bytes.extend_from_slice(&t.upto_seal.to_le_bytes());
        bytes.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&entry);
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("tombstones.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// What `Partition::delete` did.
pub struct Deleted {
    /// The WAL and the LSN of the delete's record, to wait for.
    pub durable: (Rc<Wal>, u64),
    /// Series of the database that no longer hold any point here, as (key, measurement).
    pub gone: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Partition {
    /// The number of the running seal, or of the last seal that may have left files.
    fn last_seal(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    /// Applies a delete: a tombstone for the sealed data it may cover (written durably first),
    /// the memtable rebuilt without its points, and its WAL record queued. The caller waits for
    /// the record to be durable before it answers.
    pub fn delete(&mut self, d: &Delete) -> Result<Deleted, StorageError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let upto_seal = self.last_seal();
        let tombstone = Tombstone {
            upto_seal,
            delete: Arc::new(d.clone()),
        };
        let sealing_holds = self
            .sealing
            .as_ref()
            .is_some_and(|m| m.holds_database(&d.db));
        let mut gone = Vec::new();
        let mut sealed_keys = Vec::new();
        if sealing_holds || self.segments.iter().any(|f| tombstone.covers_file(f)) {
            // The series of the sealed data it covers, before the tombstone hides them.
            sealed_keys = self.sealed_series(&d.db, |m, tags| d.matches_series(m, tags));
            self.tombstones.push(tombstone);
            if let Err(e) = save(&self.dir, &self.tombstones) {
                self.tombstones.pop();
                return Err(self.poison(format!("writing tombstones: {e}")));
            }
        }
        gone.extend(self.memtable.delete(d));
        if d.whole_series() {
            gone.extend(sealed_keys);
        } else if !gone.is_empty() {
            // A series is gone only when none of its points is left anywhere here.
            let left: hashbrown::HashSet<_> =
                self.sealed_series(&d.db, |_, _| true).into_iter().collect();
            gone.retain(|g| !left.contains(g));
        }
        if !gone.is_empty() {
            // The same key may be held in another retention policy's store.
            let still: hashbrown::HashSet<(Vec<u8>, Vec<u8>)> = self
                .memtable
                .series_keys()
                .into_iter()
                .filter(|(db, _, _, _)| *db == d.db)
                .map(|(_, _, k, m)| (k, m))
                .collect();
            gone.retain(|g| !still.contains(g));
            gone.sort();
            gone.dedup();
        }
        let lsn = self
            .wal
            .enqueue(&payload::delete(d))
            .map_err(|e| self.fail(e))?;
        Ok(Deleted {
            durable: (self.wal.clone(), lsn),
            gone,
        })
    }

    /// The series of `db` in the sealing memtable and the segment files that `keep` selects
    /// (measurement, tags), less those a whole-series tombstone removed; as (key, measurement).
    fn sealed_series(
        &self,
        db: &str,
        keep: impl Fn(&[u8], &[(Vec<u8>, Vec<u8>)]) -> bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let consider = |key: Vec<u8>, m: Vec<u8>, seal: u64, out: &mut Vec<_>| {
            let tags = crate::shard::key::parse_tags(&key);
            if keep(&m, &tags) && !self.series_deleted(db, &m, &tags, seal) {
                out.push((key, m));
            }
        };
        if let Some(s) = &self.sealing {
            for (d, _, key, m) in s.series_keys() {
                if d == db {
                    consider(key, m, self.last_seal(), &mut out);
                }
            }
        }
        for f in self.segments.iter().filter(|f| f.db == db) {
            if let Ok(index) = crate::storage::segment::read_index(f.path(), true) {
                for (key, m) in index.series {
                    consider(key, m, f.seal_no(), &mut out);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether a whole-series tombstone removed series (measurement, tags) of `db` from the
    /// data of seal `seal`.
    pub(super) fn series_deleted(
        &self,
        db: &str,
        measurement: &[u8],
        tags: &[(Vec<u8>, Vec<u8>)],
        seal: u64,
    ) -> bool {
        self.tombstones.iter().any(|t| {
            t.upto_seal >= seal
                && t.delete.db == db
                && t.delete.whole_series()
                && t.delete.matches_series(measurement, tags)
        })
    }

    /// The tombstones that apply to a segment file.
    pub(super) fn tombstones_of(&self, f: &SegmentFile) -> Vec<Arc<Delete>> {
        self.tombstones
            .iter()
            .filter(|t| t.covers_file(f))
            .map(|t| t.delete.clone())
            .collect()
    }

    /// `filter_sealing_rows` for a columnar scan.
    pub(super) fn filter_sealing_columns(
        &self,
        db: &str,
        series: &mut Vec<crate::storage::scan::SeriesColumns>,
    ) {
        let running = self.last_seal();
        for t in &self.tombstones {
            if t.upto_seal >= running && t.delete.db == db {
                t.delete.apply_to_columns(series);
            }
        }
    }

    /// Removes from the sealing memtable's rows what deletes since its swap removed.
    pub(super) fn filter_sealing_rows(&self, db: &str, rows: &mut Vec<SeriesRows>) {
        let running = self.last_seal();
        for t in &self.tombstones {
            if t.upto_seal >= running && t.delete.db == db {
                t.delete.apply_to_rows(rows);
            }
        }
    }

    /// At start-up: no tombstone covers a seal that left no file (see the module doc), and
    /// those that cover no file go.
    pub(super) fn settle_tombstones(&mut self) -> std::io::Result<()> {
        let last = self.segments.last().map_or(0, SegmentFile::seal_no);
        for t in &mut self.tombstones {
            t.upto_seal = t.upto_seal.min(last);
        }
        self.prune_tombstones()
    }

    /// Drops the tombstones that no longer cover any segment file (nor the running seal).
    pub(super) fn prune_tombstones(&mut self) -> std::io::Result<()> {
        let before = self.tombstones.len();
        let running = self.sealing.is_some().then(|| self.last_seal());
        let segments = &self.segments;
        self.tombstones.retain(|t| {
            running.is_some_and(|r| t.upto_seal >= r) || segments.iter().any(|f| t.covers_file(f))
        });
        if self.tombstones.len() == before {
            return Ok(());
        }
        save(&self.dir, &self.tombstones)
    }
}

/// Applies the deletes of a file to the rows read from it.
pub(super) fn apply_tombstones(deletes: &[Arc<Delete>], rows: &mut Vec<SeriesRows>) {
    for d in deletes {
        d.apply_to_rows(rows);
    }
}
