//! What a read asks of storage and what storage answers: the scan request (measurements, time
//! range, tag filters) and the rows of each matching series. The query engine builds the one and
//! consumes the other; storage owns both so that it depends on no query code.

use crate::lineproto::FieldValue;

/// A read of one (db, rp): the measurements, the condition (time range, tag filters) and the
/// fields to read.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub db: String,
    pub rp: String,
    pub measurements: MeasurementMatch,
    pub condition: Condition,
    /// The fields to return (`None`: all). A point with none of them is not returned, nor a
    /// series with no such point; segment files read only these fields' blocks.
    pub fields: Option<Vec<Vec<u8>>>,
    /// Per series, only the rows of its `n` newest (`newest`) or oldest times in the range:
    /// what a raw `ORDER BY time DESC LIMIT n` can read of a series (TSBS's lastpoint).
    pub edge: Option<Edge>,
}

/// The rows of a series a scan keeps: `n` at the newest or the oldest end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub n: usize,
    pub newest: bool,
}

impl Edge {
    /// Keep this edge of time-sorted points.
    pub fn cut<T>(&self, points: &mut Vec<T>) {
        if points.len() > self.n {
            if self.newest {
                points.drain(..points.len() - self.n);
            } else {
                points.truncate(self.n);
            }
        }
    }
}

impl ScanRequest {
    /// Whether field `name` is to be returned.
    pub fn wants_field(&self, name: &[u8]) -> bool {
        self.fields
            .as_ref()
            .map_or(true, |f| f.iter().any(|n| n[..] == *name))
    }
}

/// A field key in read results: shared, so that a scan of many points of a series names each
/// field once instead of allocating it per point.
pub type FieldKey = std::sync::Arc<[u8]>;

/// One point's fields: (field key, value).
pub type PointFields = Vec<(FieldKey, FieldValue<'static>)>;

/// The rows storage returns for one series of one measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRows {
    pub measurement: Vec<u8>,
    /// Tags sorted by key, unescaped.
    pub tags: Vec<(Vec<u8>, Vec<u8>)>,
    /// (time ns, fields) per point.
    pub points: Vec<(i64, PointFields)>,
}

/// The values of one series a columnar scan returns (`scan_columns`): its times, ascending and
/// distinct, and per field the request names (`ScanRequest::fields`, in that order) a value or
/// `None` per time. A time where none of those fields has a value is not listed. The same time
/// written twice is merged as the row scan merges it: per field, the later write wins.
///
/// This is what an aggregate reads: its accumulators take each column's values straight, with
/// no list of fields built per point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesColumns {
    pub measurement: Vec<u8>,
    /// Tags sorted by key, unescaped.
    pub tags: Vec<(Vec<u8>, Vec<u8>)>,
    pub times: Vec<i64>,
    pub columns: Vec<Vec<Option<FieldValue<'static>>>>,
}

impl SeriesColumns {
    /// An empty series with `n` columns.
    pub fn new(measurement: Vec<u8>, tags: Vec<(Vec<u8>, Vec<u8>)>, n: usize) -> Self {
        SeriesColumns {
            measurement,
            tags,
            times: Vec::new(),
            columns: vec![Vec::new(); n],
        }
    }

    /// Appends `other`'s times and values (a newer source of the same series).
    pub fn append(&mut self, mut other: SeriesColumns) {
        self.times.append(&mut other.times);
        for (mine, theirs) in self.columns.iter_mut().zip(other.columns.iter_mut()) {
            mine.append(theirs);
        }
    }

    /// Sorts the times (stable: of equal times the later appended comes later) and merges equal
    /// times into one: per column, the later value wins.
    pub fn normalize(&mut self) {
        if self.times.windows(2).all(|w| w[0] < w[1]) {
            return;
        }
        let n = self.times.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| self.times[i]);
        let mut times: Vec<i64> = Vec::with_capacity(n);
        let mut columns: Vec<Vec<Option<FieldValue<'static>>>> =
            self.columns.iter().map(|_| Vec::with_capacity(n)).collect();
        for i in order {
            let t = self.times[i];
            if times.last() != Some(&t) {
                times.push(t);
                for c in columns.iter_mut() {
                    c.push(None);
                }
            }
            for (out, src) in columns.iter_mut().zip(self.columns.iter_mut()) {
                if let (Some(v), Some(slot)) =
                    (src.get_mut(i).and_then(Option::take), out.last_mut())
                {
                    *slot = Some(v);
                }
            }
        }
        self.times = times;
        self.columns = columns;
    }

    /// Keeps the times `keep` accepts.
    pub fn retain_times(&mut self, keep: impl Fn(i64) -> bool) {
        let kept: Vec<bool> = self.times.iter().map(|&t| keep(t)).collect();
        if kept.iter().all(|&k| k) {
            return;
        }
        let mut it = kept.iter();
        self.times.retain(|_| *it.next().unwrap_or(&false));
        for c in self.columns.iter_mut() {
            let mut it = kept.iter();
            c.retain(|_| *it.next().unwrap_or(&false));
        }
    }

    /// The rows of these columns, as the row scan returns them (`fields` names the columns).
    pub fn into_rows(self, fields: &[Vec<u8>]) -> SeriesRows {
        let names: Vec<FieldKey> = fields.iter().map(|f| f[..].into()).collect();
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut columns: Vec<std::vec::IntoIter<Option<FieldValue<'static>>>> =
            self.columns.into_iter().map(Vec::into_iter).collect();
        let points = self
            .times
            .into_iter()
            .map(|t| {
                let mut values: Vec<Option<FieldValue<'static>>> =
                    columns.iter_mut().map(|c| c.next().flatten()).collect();
                let fields: PointFields = order
                    .iter()
                    .filter_map(|&i| {
                        let v = values.get_mut(i)?.take()?;
                        Some((names.get(i)?.clone(), v))
                    })
                    .collect();
                (t, fields)
            })
            .collect();
        SeriesRows {
            measurement: self.measurement,
            tags: self.tags,
            points,
        }
    }
}

/// Merges the columns of one scan from several sources given oldest first (as
/// `merge_sources` merges rows): per series, in the order each series is first met, the same
/// time merged, the newer source winning.
pub fn merge_column_sources(sources: Vec<SeriesColumns>) -> Vec<SeriesColumns> {
    type Key = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);
    let mut at: hashbrown::HashMap<Key, usize> = hashbrown::HashMap::new();
    let mut out: Vec<SeriesColumns> = Vec::new();
    for s in sources {
        let key = (s.measurement.clone(), s.tags.clone());
        match at.get(&key) {
            Some(&i) => {
                if let Some(m) = out.get_mut(i) {
                    m.append(s);
                }
            }
            None => {
                at.insert(key, out.len());
                out.push(s);
            }
        }
    }
    for s in out.iter_mut() {
        s.normalize();
    }
    out
}

/// A measurement name or a `/regex/` (unanchored, as in InfluxQL).
#[derive(Clone, Debug)]
pub enum MeasurementMatch {
    Name(String),
    Regex(regex::bytes::Regex),
}

impl PartialEq for MeasurementMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MeasurementMatch::Name(a), MeasurementMatch::Name(b)) => a == b,
            (MeasurementMatch::Regex(a), MeasurementMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl MeasurementMatch {
    pub fn matches(&self, measurement: &[u8]) -> bool {
        match self {
            MeasurementMatch::Name(n) => n.as_bytes() == measurement,
            MeasurementMatch::Regex(re) => re.is_match(measurement),
        }
    }
}

/// The part of a WHERE clause pushed down into a scan: a time range and a predicate on a
/// series' tags.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Inclusive lower bound (ns).
    pub time_min_ns: i64,
    /// Exclusive upper bound (ns).
    pub time_max_ns: i64,
    pub tags: TagExpr,
}

impl Default for Condition {
    fn default() -> Self {
        Condition {
            time_min_ns: i64::MIN,
            time_max_ns: i64::MAX,
            tags: TagExpr::True,
        }
    }
}

/// A predicate on a series' tags, as InfluxQL evaluates one: a series without the tag has the
/// value `''` (so `k != 'v'` and `k !~ /x/` match it, `k = ''` matches it).
#[derive(Clone, Debug)]
pub enum TagExpr {
    True,
    False,
    /// `key = 'value'` (or `!=` / `<>` when `negate`).
    Eq {
        key: Vec<u8>,
        value: Vec<u8>,
        negate: bool,
    },
    /// `key =~ /re/` (or `!~` when `negate`); unanchored, as Go's `regexp.Match`.
    Regex {
        key: Vec<u8>,
        re: regex::bytes::Regex,
        negate: bool,
    },
    And(Box<TagExpr>, Box<TagExpr>),
    Or(Box<TagExpr>, Box<TagExpr>),
}

impl PartialEq for TagExpr {
    fn eq(&self, other: &Self) -> bool {
        use TagExpr::*;
        match (self, other) {
            (True, True) | (False, False) => true,
            (
                Eq { key, value, negate },
                Eq {
                    key: k2,
                    value: v2,
                    negate: n2,
                },
            ) => key == k2 && value == v2 && negate == n2,
            (
                Regex { key, re, negate },
                Regex {
                    key: k2,
                    re: r2,
                    negate: n2,
                },
            ) => key == k2 && re.as_str() == r2.as_str() && negate == n2,
            (And(a, b), And(c, d)) | (Or(a, b), Or(c, d)) => a == c && b == d,
            _ => false,
        }
    }
}

impl TagExpr {
    /// `self AND other`, folding the constants.
    pub fn and(self, other: TagExpr) -> TagExpr {
        match (self, other) {
            (TagExpr::True, x) | (x, TagExpr::True) => x,
            (TagExpr::False, _) | (_, TagExpr::False) => TagExpr::False,
            (a, b) => TagExpr::And(Box::new(a), Box::new(b)),
        }
    }

    /// `self OR other`, folding the constants.
    pub fn or(self, other: TagExpr) -> TagExpr {
        match (self, other) {
            (TagExpr::False, x) | (x, TagExpr::False) => x,
            (TagExpr::True, _) | (_, TagExpr::True) => TagExpr::True,
            (a, b) => TagExpr::Or(Box::new(a), Box::new(b)),
        }
    }

    /// Whether a series with these tags (sorted or not) passes.
    pub fn matches<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, tags: &[(K, V)]) -> bool {
        let value_of = |key: &[u8]| {
            tags.iter()
                .find(|(k, _)| k.as_ref() == key)
                .map_or(&[][..], |(_, v)| v.as_ref())
        };
        match self {
            TagExpr::True => true,
            TagExpr::False => false,
            TagExpr::Eq { key, value, negate } => (value_of(key) == value.as_slice()) != *negate,
            TagExpr::Regex { key, re, negate } => re.is_match(value_of(key)) != *negate,
            TagExpr::And(a, b) => a.matches(tags) && b.matches(tags),
            TagExpr::Or(a, b) => a.matches(tags) || b.matches(tags),
        }
    }

    /// The tag keys the predicate reads.
    pub fn keys(&self, out: &mut Vec<Vec<u8>>) {
        match self {
            TagExpr::True | TagExpr::False => {}
            TagExpr::Eq { key, .. } | TagExpr::Regex { key, .. } => {
                if !out.contains(key) {
                    out.push(key.clone());
                }
            }
            TagExpr::And(a, b) | TagExpr::Or(a, b) => {
                a.keys(out);
                b.keys(out);
            }
        }
    }
}

impl Condition {
    /// Whether a series (its tags, sorted or not) passes the tag predicate.
    pub fn matches_tags<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, tags: &[(K, V)]) -> bool {
        self.tags.matches(tags)
    }

    /// Whether a timestamp is inside `[time_min_ns, time_max_ns)`.
    pub fn matches_time(&self, t: i64) -> bool {
        self.time_min_ns <= t && t < self.time_max_ns
    }

    /// Both: the helper to push down into a storage scan.
    pub fn matches<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, tags: &[(K, V)], t: i64) -> bool {
        self.matches_time(t) && self.matches_tags(tags)
    }

    /// True when no time can match (e.g. `time > 10 AND time < 5`).
    pub fn is_empty_range(&self) -> bool {
        self.time_min_ns >= self.time_max_ns
    }
}

/// A delete (`DELETE`, `DROP SERIES`, `DROP MEASUREMENT`) of one database, across all its
/// retention policies as in 1.x: the points of the series that match, inside the time range.
#[derive(Clone, Debug, PartialEq)]
pub struct Delete {
    pub db: String,
    /// The measurements it covers; empty = every measurement.
    pub measurements: Vec<MeasurementMatch>,
    /// The series it covers (a predicate on their tags).
    pub tags: TagExpr,
    /// Inclusive lower bound (ns).
    pub time_min_ns: i64,
    /// Exclusive upper bound (ns).
    pub time_max_ns: i64,
}

impl Delete {
    /// Whether the series (measurement, tags) is one this delete covers (at some time).
    pub fn matches_series<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        measurement: &[u8],
        tags: &[(K, V)],
    ) -> bool {
        (self.measurements.is_empty() || self.measurements.iter().any(|m| m.matches(measurement)))
            && self.tags.matches(tags)
    }

    /// Whether time `t` is in the deleted range.
    pub fn matches_time(&self, t: i64) -> bool {
        self.time_min_ns <= t && t < self.time_max_ns
    }

    /// Whether every time of `[min, max]` (inclusive) is in the deleted range.
    pub fn covers_times(&self, min: i64, max: i64) -> bool {
        self.time_min_ns <= min && max < self.time_max_ns
    }

    /// Whether the delete removes the whole of a series it covers (no time bound).
    pub fn whole_series(&self) -> bool {
        self.time_min_ns == i64::MIN && self.time_max_ns == i64::MAX
    }

    /// Removes the covered times from columns read back; series left without times go.
    pub fn apply_to_columns(&self, series: &mut Vec<SeriesColumns>) {
        series.retain_mut(|s| {
            if !self.matches_series(&s.measurement, &s.tags) {
                return true;
            }
            s.retain_times(|t| !self.matches_time(t));
            !s.times.is_empty()
        });
    }

    /// Removes the covered points from rows read back; series left without points go.
    pub fn apply_to_rows(&self, rows: &mut Vec<SeriesRows>) {
        rows.retain_mut(|s| {
            if !self.matches_series(&s.measurement, &s.tags) {
                return true;
            }
            s.points.retain(|(t, _)| !self.matches_time(*t));
            !s.points.is_empty()
        });
    }
}

/// The buckets of a [`Profile`]: `[edges[i], edges[i + 1])`, edges ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grid {
    pub edges: Vec<i64>,
}

impl Grid {
    /// `n` buckets of equal width over `[lo, hi)` (fewer when the range is narrower).
    pub fn uniform(lo: i64, hi: i64, n: usize) -> Grid {
        let span = (hi as i128 - lo as i128).max(1);
        let n = (n.max(1) as i128).min(span);
        let mut edges: Vec<i64> = (0..n).map(|i| (lo as i128 + span * i / n) as i64).collect();
        edges.push(hi);
        edges.dedup();
        Grid { edges }
    }

    /// Buckets.
    pub fn len(&self) -> usize {
        self.edges.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bucket `i`'s range `[lo, hi)`.
    pub fn bucket(&self, i: usize) -> (i64, i64) {
        (self.edges[i], self.edges[i + 1])
    }
}

/// How the points a scan would read spread over time, from what storage knows without reading
/// them: a segment file's footer (rows and first and last time per series) and the memtables'
/// times. A part of a series is taken as evenly spread over its time range, so counts are
/// estimates. A paged read of a large answer cuts its time range by them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// First and last time of any point (`min > max` when there is none).
    pub min: i64,
    pub max: i64,
    /// Points (estimated within the scan's time range).
    pub rows: u64,
    /// Series parts (a series in one file or memtable) with points in the range.
    pub parts: u64,
    /// The measurements met.
    pub measurements: std::collections::BTreeSet<Vec<u8>>,
    /// Points per bucket of the grid asked for (empty without one).
    pub counts: Vec<u64>,
    /// Where segment files' points begin and end (last time + 1), within the range: a window
    /// cut there reads each file's blocks once.
    pub file_edges: std::collections::BTreeSet<i64>,
    /// The most points of one segment file in the range.
    pub file_rows_max: u64,
}

impl Profile {
    pub fn new(grid: Option<&Grid>) -> Self {
        Profile {
            min: i64::MAX,
            max: i64::MIN,
            counts: grid.map_or_else(Vec::new, |g| vec![0; g.len()]),
            ..Profile::default()
        }
    }

    /// Adds a series part of `rows` points from `first` to `last` (inclusive), clipped to the
    /// scan's time range; returns the points counted.
    pub fn add(
        &mut self,
        measurement: &[u8],
        (first, last): (i64, i64),
        rows: u64,
        cond: &Condition,
        grid: Option<&Grid>,
    ) -> u64 {
        let lo = first.max(cond.time_min_ns);
        let hi = last.min(cond.time_max_ns.saturating_sub(1));
        if rows == 0 || lo > hi || first > last {
            return 0;
        }
        let whole = (last as f64 - first as f64) + 1.0;
        let kept = ((hi as f64 - lo as f64) + 1.0) / whole;
        let rows = ((rows as f64 * kept).ceil() as u64).max(1);
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        self.rows += rows;
        self.parts += 1;
        if !self.measurements.contains(measurement) {
            self.measurements.insert(measurement.to_vec());
        }
        let Some(g) = grid.filter(|g| !g.is_empty()) else {
            return rows;
        };
        // Spread over the buckets [lo, hi] meets, in proportion to the overlap.
        let span = (hi as f64 - lo as f64) + 1.0;
        let first_b = g.edges.partition_point(|&e| e <= lo).saturating_sub(1);
        for b in first_b..g.len() {
            let (blo, bhi) = g.bucket(b);
            if blo > hi {
                break;
            }
            let olo = blo.max(lo);
            let ohi = (bhi - 1).min(hi);
            if olo > ohi {
                continue;
            }
            let share = ((ohi as f64 - olo as f64) + 1.0) / span;
            if let Some(c) = self.counts.get_mut(b) {
                *c += (rows as f64 * share).ceil() as u64;
            }
        }
        rows
    }

    /// Records a segment file's points in the range: `rows` from `first` to `last`.
    pub fn add_file(&mut self, (first, last): (i64, i64), rows: u64) {
        if rows == 0 || first > last {
            return;
        }
        self.file_edges.insert(first);
        self.file_edges.insert(last.saturating_add(1));
        self.file_rows_max = self.file_rows_max.max(rows);
    }

    /// Adds another core's or partition's profile over the same grid.
    pub fn merge(&mut self, other: Profile) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.rows += other.rows;
        self.parts += other.parts;
        self.measurements.extend(other.measurements);
        self.file_edges.extend(other.file_edges);
        self.file_rows_max = self.file_rows_max.max(other.file_rows_max);
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod profile_tests {
    use super::{Condition, Grid, Profile};

    #[test]
    fn a_uniform_grid_covers_its_range() {
        let g = Grid::uniform(0, 1000, 4);
        assert_eq!(g.edges, vec![0, 250, 500, 750, 1000]);
        let g = Grid::uniform(10, 13, 256);
        assert_eq!(g.edges, vec![10, 11, 12, 13]);
        let g = Grid::uniform(i64::MIN, i64::MAX, 3);
        assert_eq!(g.len(), 3);
        assert_eq!(g.edges.first(), Some(&i64::MIN));
        assert_eq!(g.edges.last(), Some(&i64::MAX));
    }

    #[test]
    fn parts_spread_over_the_buckets_they_meet() {
        let cond = Condition {
            time_min_ns: 100,
            time_max_ns: 300,
            ..Condition::default()
        };
        let grid = Grid {
            edges: vec![100, 150, 200, 300],
        };
        let mut p = Profile::new(Some(&grid));
        // 200 points over [0, 199]: half of them in the range, spread over two buckets.
        assert_eq!(p.add(b"m", (0, 199), 200, &cond, Some(&grid)), 100);
        // Outside the range: nothing.
        assert_eq!(p.add(b"m", (300, 400), 10, &cond, Some(&grid)), 0);
        assert_eq!(p.counts, vec![50, 50, 0]);
        assert_eq!((p.min, p.max, p.rows, p.parts), (100, 199, 100, 1));
        let mut q = Profile::new(Some(&grid));
        q.add(b"n", (250, 250), 1, &cond, Some(&grid));
        q.add_file((250, 260), 7);
        p.merge(q);
        assert_eq!(p.counts, vec![50, 50, 1]);
        assert_eq!((p.min, p.max, p.rows, p.parts), (100, 250, 101, 2));
        assert_eq!(p.measurements.len(), 2);
        assert_eq!(
            p.file_edges.iter().copied().collect::<Vec<_>>(),
            vec![250, 261]
        );
        assert_eq!(p.file_rows_max, 7);
    }
}
