//! Reads of a memtable for a query: the rows of the series a `ScanRequest` matches, sorted by
//! time with the same time merged (`merge_same_times`, also used to merge the rows of several
//! sources).

use super::records::RecordReader;
use super::store::{DbStore, SeriesMeta};
use super::{DbRpKey, Memtable, SeriesRows};
use crate::storage::scan::{FieldKey, Grid, PointFields, Profile, ScanRequest, SeriesColumns};

impl Memtable {
    /// Reads the series of one (db, rp) that match the request: rows sorted by time, the same
    /// time merged (later write wins), fields sorted by name.
    pub fn scan(&self, req: &ScanRequest) -> Vec<SeriesRows> {
        let Some(store) = self
            .dbs
            .get(&(req.db.as_str(), req.rp.as_str()) as &dyn DbRpKey)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut fields = Vec::new();
        let names: Vec<FieldKey> = store.fields.names.iter().map(|n| n[..].into()).collect();
        let wanted_f: Vec<bool> = store
            .fields
            .names
            .iter()
            .map(|n| req.wants_field(n))
            .collect();
        let all_fields = wanted_f.iter().all(|&w| w);
        let cond = &req.condition;
        for (meta, tags) in matching_series(store, req) {
            // With an edge, only the times at that end are decoded; a series written in time
            // order has its newest point at the end of its last chunk.
            let tail = req
                .edge
                .filter(|e| e.n == 1 && e.newest && req.condition.matches_time(meta.newest))
                .and_then(|_| store.newest_tail(meta));
            let walk = tail.unwrap_or(meta);
            let (lo, hi) = match req.edge {
                None => (i64::MIN, i64::MAX),
                Some(_) if tail.is_some() => (meta.newest, meta.newest),
                Some(edge) => {
                    let mut times: Vec<i64> = store
                        .records(meta)
                        .map(|(ts, _, _)| ts)
                        .filter(|ts| req.condition.matches_time(*ts))
                        .collect();
                    times.sort_unstable();
                    times.dedup();
                    edge.cut(&mut times);
                    match (times.first(), times.last()) {
                        (Some(&a), Some(&b)) => (a, b),
                        _ => continue,
                    }
                }
            };
            let mut points: Vec<(i64, PointFields)> = Vec::new();
            for (ts, _, mut rd) in store.records(walk) {
                if ts >= cond.time_max_ns && meta.in_order() {
                    break;
                }
                if ts < lo
                    || ts > hi
                    || !req.condition.matches_time(ts)
                    || rd.fields(&mut fields).is_none()
                {
                    continue;
                }
                if !all_fields {
                    fields
                        .retain(|(id, _)| wanted_f.get(usize::from(*id)).copied().unwrap_or(false));
                    if fields.is_empty() {
                        continue;
                    }
                }
                let owned = fields
                    .drain(..)
                    .map(|(id, v)| {
                        let name = names.get(usize::from(id)).cloned();
                        (name.unwrap_or_else(|| [].into()), v.into_owned())
                    })
                    .collect();
                points.push((ts, owned));
            }
            if points.is_empty() {
                continue;
            }
            points.sort_by_key(|p| p.0); // stable: equal times keep write order
            out.push(SeriesRows {
                measurement: store.measurements.get(meta.measurement).to_vec(),
                tags,
                points: merge_same_times(points),
            });
        }
        out.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
        out
    }
}

impl Memtable {
    /// Adds the series of one (db, rp) that match the request to `out` (`Profile`): per series
    /// its first and last time in the range and its number of records there (times written
    /// twice count twice: an estimate).
    pub fn profile(&self, req: &ScanRequest, grid: Option<&Grid>, out: &mut Profile) {
        let Some(store) = self
            .dbs
            .get(&(req.db.as_str(), req.rp.as_str()) as &dyn DbRpKey)
        else {
            return;
        };
        for (meta, _) in matching_series(store, req) {
            let (mut lo, mut hi, mut n) = (i64::MAX, i64::MIN, 0u64);
            for (ts, _, _) in store.records(meta) {
                if req.condition.matches_time(ts) {
                    lo = lo.min(ts);
                    hi = hi.max(ts);
                    n += 1;
                }
            }
            let m = store.measurements.get(meta.measurement);
            out.add(m, (lo, hi), n, &req.condition, grid);
        }
    }
}

impl Memtable {
    /// The columnar form of `scan` (`SeriesColumns`): the same series in the same order, the
    /// same times and values, one column per field `req.fields` names (none when it names
    /// none). The edge is not read here: an aggregate reads every point of its range.
    pub fn scan_columns(&self, req: &ScanRequest) -> Vec<SeriesColumns> {
        let Some(store) = self
            .dbs
            .get(&(req.db.as_str(), req.rp.as_str()) as &dyn DbRpKey)
        else {
            return Vec::new();
        };
        let wanted = req.fields.as_deref().unwrap_or(&[]);
        if wanted.is_empty() {
            return Vec::new();
        }
        // Field id -> column.
        let column_of: Vec<Option<usize>> = store
            .fields
            .names
            .iter()
            .map(|n| wanted.iter().position(|w| w[..] == n[..]))
            .collect();
        if column_of.iter().all(Option::is_none) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (meta, tags) in matching_series(store, req) {
            let mut s = SeriesColumns::new(
                store.measurements.get(meta.measurement).to_vec(),
                tags,
                wanted.len(),
            );
            // One pass over the records: each field is read once, and only the wanted ones
            // are kept. A series written in time order skips a chunk when the next one starts
            // before the range, and stops at the first time past it.
            let in_order = meta.in_order();
            let first_time = |data: &[u8]| RecordReader { buf: data, pos: 0 }.i64();
            let mut chunks = store.chunks_of(meta).peekable();
            'chunks: while let Some((_, data)) = chunks.next() {
                if in_order
                    && chunks
                        .peek()
                        .and_then(|(_, next)| first_time(next))
                        .is_some_and(|t| t < req.condition.time_min_ns)
                {
                    continue;
                }
                let mut rd = RecordReader { buf: data, pos: 0 };
                while let (Some(ts), Some(n)) = (rd.i64(), rd.u16()) {
                    if in_order && ts >= req.condition.time_max_ns {
                        break 'chunks;
                    }
                    let in_range = req.condition.matches_time(ts);
                    let mut row = false;
                    for _ in 0..n {
                        if !in_range {
                            if rd.skip_field().is_none() {
                                break 'chunks;
                            }
                            continue;
                        }
                        let Some((id, v)) = rd.field() else {
                            break 'chunks;
                        };
                        let Some(c) = column_of.get(usize::from(id)).copied().flatten() else {
                            continue;
                        };
                        if !row {
                            row = true;
                            s.times.push(ts);
                            for col in s.columns.iter_mut() {
                                col.push(None);
                            }
                        }
                        if let Some(slot) = s.columns.get_mut(c).and_then(|col| col.last_mut()) {
                            // A key repeated in one line: the later wins.
                            *slot = Some(v.into_owned());
                        }
                    }
                }
            }
            if s.times.is_empty() {
                continue;
            }
            s.normalize();
            out.push(s);
        }
        out.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
        out
    }
}

/// Sorted rows with equal times merged into one: union of fields, later write wins.
pub(crate) fn merge_same_times(points: Vec<(i64, PointFields)>) -> Vec<(i64, PointFields)> {
    let mut out: Vec<(i64, PointFields)> = Vec::with_capacity(points.len());
    for (ts, mut fields) in points {
        match out.last_mut() {
            Some((t, merged)) if *t == ts => merged.append(&mut fields),
            // A point's own fields are kept as they are (no copy into a new list).
            _ => out.push((ts, fields)),
        }
    }
    for (_, fields) in &mut out {
        // Stable: of equal keys, the later write (or the later of a key repeated in one line)
        // comes last, and wins.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
    }
    out
}

/// A series' tags, sorted by key, unescaped.
type Tags = Vec<(Vec<u8>, Vec<u8>)>;

/// The series of `store` a request reads, each with its tags: of a wanted measurement, tags
/// matching, and (when written in time order, so that they span their first record's time to
/// their newest) with a time in the range: a paged read's window meets few of them.
fn matching_series<'a>(
    store: &'a DbStore,
    req: &'a ScanRequest,
) -> impl Iterator<Item = (SeriesMeta, Tags)> + 'a {
    let wanted_m: Vec<bool> = store
        .measurements
        .names
        .iter()
        .map(|m| req.measurements.matches(m))
        .collect();
    let any = wanted_m.iter().any(|&w| w);
    let cond = &req.condition;
    store
        .series
        .iter()
        .copied()
        .filter(move |meta| {
            any && wanted_m
                .get(meta.measurement as usize)
                .copied()
                .unwrap_or(false)
        })
        .filter(move |&meta| {
            !meta.in_order()
                || (meta.newest >= cond.time_min_ns
                    && store
                        .records(meta)
                        .next()
                        .map_or(true, |(first, _, _)| first < cond.time_max_ns))
        })
        .filter_map(move |meta| {
            let tags = crate::shard::key::parse_tags(store.key(meta));
            cond.matches_tags(&tags).then_some((meta, tags))
        })
}
