//! The read path: what a scan reads of a partition (its segment files and memtables), the rows of
//! a segment file, and the merge of rows from several sources, newest write winning.
//!
//! A scan takes the file list and the memtables' rows while it holds the partition
//! (`Partition::scan_sources`), then reads and merges the files without it (`scan_files`), so a
//! long read never holds the partition's borrow.

use super::{is_dropped, Partition};
use crate::storage::scan::{Delete, FieldKey, PointFields, ScanRequest, SeriesRows};
use crate::storage::segment::SegmentReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment file to read, with the deletes (tombstones) that apply to its rows.
pub type FileSource = (PathBuf, Vec<Arc<Delete>>);

impl Partition {
    /// The segment files to read for a scan, oldest first, and the memtables (sealing, then
    /// active) — the caller reads the files without holding the partition. Each file comes
    /// with its tombstones; the sealing memtable's rows are filtered by theirs here.
    pub fn scan_sources(&self, req: &ScanRequest) -> (Vec<FileSource>, Vec<SeriesRows>) {
        let files = self
            .segments
            .iter()
            .filter(|s| s.db == req.db && s.rp == req.rp)
            .filter(|s| {
                s.time_max >= req.condition.time_min_ns && s.time_min < req.condition.time_max_ns
            })
            .map(|s| (s.path.clone(), self.tombstones_of(s)))
            .collect();
        let mut rows = Vec::new();
        let dropped = is_dropped(&self.dropped_while_sealing, &req.db, &req.rp);
        if let Some(s) = self.sealing.as_ref().filter(|_| !dropped) {
            rows.extend(s.scan(req));
            self.filter_sealing_rows(&req.db, &mut rows);
        }
        rows.extend(self.memtable.scan(req));
        (files, rows)
    }

    /// Every series stored here as (db, rp, key, measurement): memtables and segment files,
    /// less the series a whole-series delete (`DROP SERIES`, `DROP MEASUREMENT`) removed.
    pub fn stored_series(&self) -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let deleted = |db: &str, key: &[u8], m: &[u8], seal: u64| {
            !self.tombstones.is_empty()
                && self.series_deleted(db, m, &crate::shard::key::parse_tags(key), seal)
        };
        for s in &self.segments {
            if let Ok(index) = crate::storage::segment::read_index(&s.path, true) {
                out.extend(
                    index
                        .series
                        .into_iter()
                        .filter(|(k, m)| !deleted(&s.db, k, m, s.seal_no()))
                        .map(|(k, m)| (s.db.clone(), s.rp.clone(), k, m)),
                );
            }
        }
        if let Some(m) = &self.sealing {
            let running = self.next_seq.saturating_sub(1);
            let dropped = &self.dropped_while_sealing;
            out.extend(
                m.series_keys()
                    .into_iter()
                    .filter(|(db, rp, _, _)| !is_dropped(dropped, db, rp))
                    .filter(|(db, _, k, m)| !deleted(db, k, m, running)),
            );
        }
        out.extend(self.memtable.series_keys());
        out
    }
}

/// A partition's rows for a scan: its segment files (oldest first) read and merged with its
/// memtables' rows (`mem_rows`), the newest write of a series and time winning. Runs on
/// glommio's blocking-thread pool: reading files of megabytes, decoding and merging their rows
/// on the core's own thread would stall every request of the core for as long (seconds for a
/// large `SELECT *`). A file that cannot be read is logged and skipped.
pub async fn scan_files(
    core: usize,
    files: Vec<FileSource>,
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
            for (f, deletes) in files {
                match scan_segment(&f, &req) {
                    Ok(mut r) => {
                        super::tombstone::apply_tombstones(&deletes, &mut r);
                        rows.append(&mut r)
                    }
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
        let names: Vec<FieldKey> = data.columns.iter().map(|c| c.name[..].into()).collect();
        for (row, ts) in data.times.iter().enumerate() {
            let mut fields: PointFields = data
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
    let mut by_series: hashbrown::HashMap<SeriesId, Vec<(i64, PointFields)>> =
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
                points: crate::storage::memtable::merge_same_times(points),
            })
        })
        .collect()
}
