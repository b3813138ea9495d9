//! The read path: what a scan reads of a partition (its segment files and memtables), the rows of
//! a segment file, and the merge of rows from several sources, newest write winning.
//!
//! A scan takes the file list and the memtables' rows while it holds the partition
//! (`Partition::scan_sources`), then reads and merges the files without it (`scan_files`), so a
//! long read never holds the partition's borrow.

use super::{is_dropped, Partition, SegmentHandle};
use crate::lineproto::FieldValue;
use crate::storage::scan::{
    merge_column_sources, Delete, FieldKey, Grid, PointFields, Profile, ScanRequest, SeriesColumns,
    SeriesRows,
};
use crate::storage::segment::{read_series_at, ReadStats, SegmentFooter};
use std::sync::Arc;

/// A segment file a scan reads: the file (kept from deletion while the scan holds it), its
/// footer when the partition's cache had it, and the deletes (tombstones) that apply to its rows.
pub struct SegmentSource {
    handle: Arc<SegmentHandle>,
    key: (u64, u64),
    footer: Option<Arc<SegmentFooter>>,
    pub(super) deletes: Vec<Arc<Delete>>,
}

impl SegmentSource {
    pub fn path(&self) -> &std::path::Path {
        self.handle.path()
    }
}

/// Decoded footers of a partition's segment files, most recently used kept, at most
/// `limits::FOOTER_CACHE_BYTES_MAX` of them. A footer costs about 60 bytes per series and 40
/// per column in memory, so it is cached for the files queries read, not for every sealed file:
/// the series a core holds in segments cost it no memory until they are read.
#[derive(Default)]
pub(super) struct FooterCache {
    entries: hashbrown::HashMap<(u64, u64), (Arc<SegmentFooter>, u64)>,
    bytes: usize,
    tick: u64,
}

impl FooterCache {
    fn get(&mut self, key: (u64, u64)) -> Option<Arc<SegmentFooter>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(&key).map(|(f, used)| {
            *used = tick;
            f.clone()
        })
    }

    pub(super) fn insert(&mut self, key: (u64, u64), footer: Arc<SegmentFooter>) {
        let size = footer.memory_bytes();
        if size > crate::limits::FOOTER_CACHE_BYTES_MAX {
            return;
        }
        self.tick += 1;
        if let Some((old, _)) = self.entries.insert(key, (footer, self.tick)) {
            self.bytes -= old.memory_bytes();
        }
        self.bytes += size;
        while self.bytes > crate::limits::FOOTER_CACHE_BYTES_MAX {
            let Some(oldest) = self.entries.iter().min_by_key(|e| e.1 .1).map(|e| *e.0) else {
                break;
            };
            self.remove(oldest);
        }
    }

    pub(super) fn remove(&mut self, key: (u64, u64)) {
        if let Some((f, _)) = self.entries.remove(&key) {
            self.bytes -= f.memory_bytes();
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Partition {
    /// The segment files to read for a scan (those of its (db, rp) whose time range meets the
    /// scan's), oldest first, with their cached footers; and the memtables' rows (sealing,
    /// then active). The caller reads the files without holding the partition.
    /// Each file comes with its tombstones; the sealing memtable's rows are filtered by theirs
    /// here.
    pub fn scan_sources(&mut self, req: &ScanRequest) -> (Vec<SegmentSource>, Vec<SeriesRows>) {
        let files = self.scan_files_of(req);
        let mut rows = Vec::new();
        let dropped = is_dropped(&self.dropped_while_sealing, &req.db, &req.rp);
        if let Some(s) = self.sealing.as_ref().filter(|_| !dropped) {
            // Its rows are filtered by tombstones after the scan: no edge cut before that.
            let mut whole;
            let sealing_req = if self.tombstones.is_empty() {
                req
            } else {
                whole = req.clone();
                whole.edge = None;
                &whole
            };
            rows.extend(s.scan(sealing_req));
            self.filter_sealing_rows(&req.db, &mut rows);
        }
        rows.extend(self.memtable.scan(req));
        (files, rows)
    }

    /// `scan_sources` for a columnar scan (`SeriesColumns`): the same files, and the memtables'
    /// columns (sealing, then active), the sealing one's filtered by its tombstones.
    pub fn scan_column_sources(
        &mut self,
        req: &ScanRequest,
    ) -> (Vec<SegmentSource>, Vec<SeriesColumns>) {
        let files = self.scan_files_of(req);
        let mut cols = Vec::new();
        if let Some(s) = self
            .sealing
            .as_ref()
            .filter(|_| !is_dropped(&self.dropped_while_sealing, &req.db, &req.rp))
        {
            cols.extend(s.scan_columns(req));
            self.filter_sealing_columns(&req.db, &mut cols);
        }
        cols.extend(self.memtable.scan_columns(req));
        (files, cols)
    }

    /// `scan_sources` for a [`Profile`]: the segment files to profile (`profile_files`) and the
    /// memtables' part of the profile.
    pub fn profile_sources(
        &mut self,
        req: &ScanRequest,
        grid: Option<&Grid>,
    ) -> (Vec<SegmentSource>, Profile) {
        let files = self.scan_files_of(req);
        let mut profile = Profile::new(grid);
        if let Some(s) = self
            .sealing
            .as_ref()
            .filter(|_| !is_dropped(&self.dropped_while_sealing, &req.db, &req.rp))
        {
            s.profile(req, grid, &mut profile);
        }
        self.memtable.profile(req, grid, &mut profile);
        (files, profile)
    }

    /// The segment files a scan reads (see `scan_sources`).
    fn scan_files_of(&mut self, req: &ScanRequest) -> Vec<SegmentSource> {
        let deletes: Vec<Vec<Arc<Delete>>> = self
            .segments
            .iter()
            .map(|s| self.tombstones_of(s))
            .collect();
        let footers = &mut self.footers;
        self.segments
            .iter()
            .zip(deletes)
            .filter(|(s, _)| s.db == req.db && s.rp == req.rp)
            .filter(|(s, _)| {
                s.time_max >= req.condition.time_min_ns && s.time_min < req.condition.time_max_ns
            })
            .map(|(s, deletes)| SegmentSource {
                handle: s.handle.clone(),
                key: s.cache_key(),
                footer: footers.get(s.cache_key()),
                deletes,
            })
            .collect()
    }

    /// Keeps footers a scan read (`Scanned::footers`) for the next scans, if their files are
    /// still this partition's.
    pub fn cache_footers(&mut self, loaded: Vec<((u64, u64), Arc<SegmentFooter>)>) {
        for (key, footer) in loaded {
            if self.segments.iter().any(|s| s.cache_key() == key) {
                self.footers.insert(key, footer);
            }
        }
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
            if let Ok(index) = crate::storage::segment::read_index(s.path(), true) {
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

/// What a partition's scan produced: the merged rows, the footers read from files (for
/// `Partition::cache_footers`), and what was read.
#[derive(Default)]
pub struct Scanned {
    pub rows: Vec<SeriesRows>,
    pub footers: Vec<((u64, u64), Arc<SegmentFooter>)>,
    pub stats: ReadStats,
}

/// A partition's rows for a scan: its segment files (oldest first) read and merged with its
/// memtables' rows (`mem_rows`), the newest write of a series and time winning. Runs on
/// glommio's blocking-thread pool: reading files of megabytes, decoding and merging their rows
/// on the core's own thread would stall every request of the core for as long (seconds for a
/// large `SELECT *`). A file that cannot be read is logged and skipped.
pub async fn scan_files(
    core: usize,
    files: Vec<SegmentSource>,
    mem_rows: Vec<SeriesRows>,
    req: &ScanRequest,
) -> Scanned {
    if files.is_empty() {
        return Scanned {
            rows: mem_rows,
            ..Scanned::default()
        };
    }
    let req = req.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let mut out = Scanned::default();
            let mut rows = Vec::new();
            for f in &files {
                match scan_segment(f, &req, &mut out.stats) {
                    Ok((mut r, loaded)) => {
                        super::tombstone::apply_tombstones(&f.deletes, &mut r);
                        rows.append(&mut r);
                        out.footers.extend(loaded.map(|l| (f.key, l)));
                    }
                    Err(e) => tracing::error!(core, error = %e, "segment file unreadable"),
                }
            }
            out.rows = if rows.is_empty() {
                mem_rows
            } else {
                rows.extend(mem_rows);
                merge_sources(rows)
            };
            out
        })
        .await
}

/// Adds the segment files' part of a scan's [`Profile`] to `profile`, from their footers only
/// (rows and first and last time per matching series; tombstones are not counted out), on
/// glommio's blocking pool (a footer may have to be read from its file). Returns the footers
/// read, for the partition's cache.
pub async fn profile_files(
    core: usize,
    files: Vec<SegmentSource>,
    req: &ScanRequest,
    grid: Option<Grid>,
    mut profile: Profile,
) -> (Profile, Vec<((u64, u64), Arc<SegmentFooter>)>) {
    if files.is_empty() {
        return (profile, Vec::new());
    }
    let req = req.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let mut loaded = Vec::new();
            let range = (req.condition.time_min_ns, req.condition.time_max_ns);
            let fields = req.fields.as_deref();
            for f in &files {
                let footer = match &f.footer {
                    Some(footer) => footer.clone(),
                    None => match std::fs::File::open(f.path())
                        .map_err(|e| e.to_string())
                        .and_then(|file| SegmentFooter::read(&file).map_err(|e| e.to_string()))
                    {
                        Ok(footer) => {
                            let footer = Arc::new(footer);
                            loaded.push((f.key, footer.clone()));
                            footer
                        }
                        Err(e) => {
                            tracing::error!(core, error = %e, "segment footer unreadable");
                            continue;
                        }
                    },
                };
                let (mut rows, mut first, mut last) = (0u64, i64::MAX, i64::MIN);
                for s in &footer.series {
                    let has_fields = fields.map_or(true, |f| {
                        s.columns
                            .iter()
                            .any(|c| f.iter().any(|n| n[..] == c.name[..]))
                    });
                    if !has_fields
                        || !s.overlaps(range.0, range.1)
                        || !req.measurements.matches(&s.measurement)
                        || !req
                            .condition
                            .matches_tags(&crate::shard::key::parse_tags(&s.key))
                    {
                        continue;
                    }
                    let n = profile.add(
                        &s.measurement,
                        (s.min_time, s.max_time),
                        s.rows as u64,
                        &req.condition,
                        grid.as_ref(),
                    );
                    if n > 0 {
                        rows += n;
                        first = first.min(s.min_time.max(range.0));
                        last = last.max(s.max_time.min(range.1.saturating_sub(1)));
                    }
                }
                profile.add_file((first, last), rows);
            }
            (profile, loaded)
        })
        .await
}

/// `scan_files` for a columnar scan: the partition's segment files read as columns
/// (`scan_segment_columns`), their tombstones applied, merged with the memtables' columns.
pub async fn scan_files_columns(
    core: usize,
    files: Vec<SegmentSource>,
    mem: Vec<SeriesColumns>,
    req: &ScanRequest,
) -> ScannedColumns {
    if files.is_empty() {
        return ScannedColumns {
            series: mem,
            ..ScannedColumns::default()
        };
    }
    let req = req.clone();
    glommio::executor()
        .spawn_blocking(move || {
            let mut out = ScannedColumns::default();
            let mut all = Vec::new();
            for f in &files {
                match scan_segment_columns(f, &req, &mut out.stats) {
                    Ok((mut c, loaded)) => {
                        for d in &f.deletes {
                            d.apply_to_columns(&mut c);
                        }
                        all.append(&mut c);
                        out.footers.extend(loaded.map(|l| (f.key, l)));
                    }
                    Err(e) => eprintln!("lineshard: core {core}: {e}"),
                }
            }
            out.series = if all.is_empty() {
                mem
            } else {
                all.extend(mem);
                merge_column_sources(all)
            };
            out
        })
        .await
}

/// What a partition's columnar scan produced (see `Scanned`).
#[derive(Default)]
pub struct ScannedColumns {
    pub series: Vec<SeriesColumns>,
    pub footers: Vec<((u64, u64), Arc<SegmentFooter>)>,
    pub stats: ReadStats,
}

/// `scan_segment` for a columnar scan: for each matching series, the time block and the
/// blocks of the fields `req.fields` names, as `SeriesColumns` (no list of fields per point).
pub fn scan_segment_columns(
    src: &SegmentSource,
    req: &ScanRequest,
    stats: &mut ReadStats,
) -> Result<(Vec<SeriesColumns>, Option<Arc<SegmentFooter>>), String> {
    let path = src.path();
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    let (footer, loaded) = match &src.footer {
        Some(f) => (f.clone(), None),
        None => {
            let f = Arc::new(SegmentFooter::read(&file).map_err(|e| failed(&e))?);
            stats.footers_read += 1;
            (f.clone(), Some(f))
        }
    };
    stats.files += 1;
    let range = (req.condition.time_min_ns, req.condition.time_max_ns);
    let wanted = req.fields.as_deref().unwrap_or(&[]);
    let mut out = Vec::new();
    let mut last_measurement: Option<(Arc<[u8]>, bool)> = None;
    for (idx, s) in footer.series.iter().enumerate() {
        let wanted_m = match &last_measurement {
            Some((m, w)) if Arc::ptr_eq(m, &s.measurement) => *w,
            _ => {
                let w = req.measurements.matches(&s.measurement);
                last_measurement = Some((s.measurement.clone(), w));
                w
            }
        };
        let has_fields = s
            .columns
            .iter()
            .any(|c| wanted.iter().any(|n| n[..] == c.name[..]));
        if !wanted_m || !has_fields || !s.overlaps(range.0, range.1) {
            stats.series_pruned += 1;
            continue;
        }
        let tags = crate::shard::key::parse_tags(&s.key);
        if !req.condition.matches_tags(&tags) {
            stats.series_pruned += 1;
            continue;
        }
        stats.series_read += 1;
        let data = read_series_at(&file, &footer, idx, range, Some(wanted), stats)
            .map_err(|e| failed(&e))?;
        let n = data.times.len();
        let mut series = SeriesColumns::new(s.measurement.to_vec(), tags, wanted.len());
        for (name, col) in wanted.iter().zip(series.columns.iter_mut()) {
            *col = match data.columns.iter().find(|c| c.name[..] == name[..]) {
                Some(c) => (0..n)
                    .map(|r| c.get(r).map(FieldValue::into_owned))
                    .collect(),
                None => vec![None; n],
            };
        }
        series.times = data.times;
        // A time where none of the fields has a value is no point of this scan.
        let columns = &series.columns;
        if (0..n).any(|r| columns.iter().all(|c| c[r].is_none())) {
            let empty: Vec<bool> = (0..n)
                .map(|r| columns.iter().all(|c| c[r].is_none()))
                .collect();
            let times = std::mem::take(&mut series.times);
            let dropped: std::collections::HashSet<i64> = times
                .iter()
                .zip(&empty)
                .filter(|(_, e)| **e)
                .map(|(t, _)| *t)
                .collect();
            series.times = times;
            series.retain_times(|t| !dropped.contains(&t));
        }
        if !series.times.is_empty() {
            out.push(series);
        }
    }
    Ok((out, loaded))
}

/// Reads the rows of a scan from one segment file (blocking): its footer (from the cache or
/// the file; a footer read from the file is returned for the cache), then, for each series
/// whose time range, measurement and tags match, only the selected fields' blocks.
pub fn scan_segment(
    src: &SegmentSource,
    req: &ScanRequest,
    stats: &mut ReadStats,
) -> Result<(Vec<SeriesRows>, Option<Arc<SegmentFooter>>), String> {
    let path = src.path();
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    let (footer, loaded) = match &src.footer {
        Some(f) => (f.clone(), None),
        None => {
            let f = Arc::new(SegmentFooter::read(&file).map_err(|e| failed(&e))?);
            stats.footers_read += 1;
            (f.clone(), Some(f))
        }
    };
    stats.files += 1;
    let range = (req.condition.time_min_ns, req.condition.time_max_ns);
    let fields = req.fields.as_deref();
    let mut out = Vec::new();
    // Series of a measurement share its name: the match is decided once per name.
    let mut last_measurement: Option<(Arc<[u8]>, bool)> = None;
    for (idx, s) in footer.series.iter().enumerate() {
        let wanted_m = match &last_measurement {
            Some((m, w)) if Arc::ptr_eq(m, &s.measurement) => *w,
            _ => {
                let w = req.measurements.matches(&s.measurement);
                last_measurement = Some((s.measurement.clone(), w));
                w
            }
        };
        let has_fields = fields.map_or(true, |f| {
            s.columns
                .iter()
                .any(|c| f.iter().any(|n| n[..] == c.name[..]))
        });
        if !wanted_m || !has_fields || !s.overlaps(range.0, range.1) {
            stats.series_pruned += 1;
            continue;
        }
        let tags = crate::shard::key::parse_tags(&s.key);
        if !req.condition.matches_tags(&tags) {
            stats.series_pruned += 1;
            continue;
        }
        stats.series_read += 1;
        // With an edge of one row, the footer's first or last time is that row.
        // Tombstones drop rows after the read: the edge is cut after them (below), not here.
        let edge = req.edge.filter(|_| src.deletes.is_empty());
        let series_range = match edge {
            Some(e) if e.n == 1 && e.newest && s.max_time >= range.0 && s.max_time < range.1 => {
                (s.max_time, s.max_time.saturating_add(1))
            }
            Some(e) if e.n == 1 && !e.newest && s.min_time >= range.0 && s.min_time < range.1 => {
                (s.min_time, s.min_time.saturating_add(1))
            }
            _ => range,
        };
        let data = read_series_at(&file, &footer, idx, series_range, fields, stats)
            .map_err(|e| failed(&e))?;
        let mut rows: Vec<usize> = (0..data.times.len()).collect();
        if let Some(e) = edge {
            e.cut(&mut rows);
        }
        let mut points = Vec::with_capacity(rows.len());
        let names: Vec<FieldKey> = data.columns.iter().map(|c| c.name[..].into()).collect();
        for (row, ts) in rows.into_iter().map(|r| (r, &data.times[r])) {
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
                measurement: s.measurement.to_vec(),
                tags,
                points,
            });
        }
    }
    Ok((out, loaded))
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
