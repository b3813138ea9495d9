//! The in-memory part of a partition: append-only columns per series.

use crate::lineproto::{FieldType, FieldValue};
use crate::shard::batch::{Batch, CorruptBatch};
use hashbrown::HashMap;
use std::borrow::Cow;

use crate::query::PointFields;
pub use crate::query::SeriesRows;
use crate::query::{Condition, MeasurementMatch};

/// A read of one (db, rp): the measurements and the condition (time range, tag filters).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub db: String,
    pub rp: String,
    pub measurements: MeasurementMatch,
    pub condition: Condition,
}

enum ColumnData {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    Unsigned(Vec<u64>),
    Boolean(Vec<bool>),
    String(Vec<Box<[u8]>>),
}

impl ColumnData {
    fn new(ty: FieldType, rows: usize) -> Self {
        match ty {
            FieldType::Float => ColumnData::Float(vec![0.0; rows]),
            FieldType::Integer => ColumnData::Integer(vec![0; rows]),
            FieldType::Unsigned => ColumnData::Unsigned(vec![0; rows]),
            FieldType::Boolean => ColumnData::Boolean(vec![false; rows]),
            FieldType::String => ColumnData::String(vec![Box::default(); rows]),
        }
    }

    fn push_default(&mut self) {
        match self {
            ColumnData::Float(v) => v.push(0.0),
            ColumnData::Integer(v) => v.push(0),
            ColumnData::Unsigned(v) => v.push(0),
            ColumnData::Boolean(v) => v.push(false),
            ColumnData::String(v) => v.push(Box::default()),
        }
    }

    /// Sets the last row; false when the value's type is not the column's.
    fn set_last(&mut self, value: &FieldValue<'_>) -> bool {
        match (self, value) {
            (ColumnData::Float(v), FieldValue::Float(x)) => set_last(v, *x),
            (ColumnData::Integer(v), FieldValue::Integer(x)) => set_last(v, *x),
            (ColumnData::Unsigned(v), FieldValue::Unsigned(x)) => set_last(v, *x),
            (ColumnData::Boolean(v), FieldValue::Boolean(x)) => set_last(v, *x),
            (ColumnData::String(v), FieldValue::String(x)) => {
                set_last(v, x.to_vec().into_boxed_slice())
            }
            _ => false,
        }
    }

    fn get(&self, row: usize) -> Option<FieldValue<'static>> {
        Some(match self {
            ColumnData::Float(v) => FieldValue::Float(*v.get(row)?),
            ColumnData::Integer(v) => FieldValue::Integer(*v.get(row)?),
            ColumnData::Unsigned(v) => FieldValue::Unsigned(*v.get(row)?),
            ColumnData::Boolean(v) => FieldValue::Boolean(*v.get(row)?),
            ColumnData::String(v) => FieldValue::String(Cow::Owned(v.get(row)?.to_vec())),
        })
    }
}

fn set_last<T>(v: &mut [T], x: T) -> bool {
    match v.last_mut() {
        Some(slot) => {
            *slot = x;
            true
        }
        None => false,
    }
}

struct Column {
    name: Box<[u8]>,
    data: ColumnData,
    valid: Vec<bool>,
}

struct Series {
    key: Box<[u8]>,
    measurement: Box<[u8]>,
    times: Vec<i64>,
    columns: Vec<Column>,
}

impl Series {
    fn append(&mut self, ts: i64, fields: &[(&[u8], FieldValue<'_>)]) -> Result<(), ApplyError> {
        let rows = self.times.len();
        self.times.push(ts);
        for c in &mut self.columns {
            c.data.push_default();
            c.valid.push(false);
        }
        for (i, (name, value)) in fields.iter().enumerate() {
            // Points of a series usually carry the same fields in the same order: try the
            // column at the field's position before searching.
            let hint = self.columns.get(i).filter(|c| &*c.name == *name).map(|_| i);
            let idx = match hint.or_else(|| self.columns.iter().position(|c| &*c.name == *name)) {
                Some(i) => i,
                None => {
                    let mut data = ColumnData::new(value.field_type(), rows);
                    data.push_default();
                    let mut valid = vec![false; rows];
                    valid.push(false);
                    self.columns.push(Column {
                        name: (*name).into(),
                        data,
                        valid,
                    });
                    self.columns.len() - 1
                }
            };
            let col = &mut self.columns[idx];
            if !col.data.set_last(value) {
                // The schema registry fixes types before points are routed here; a mismatch is a bug.
                return Err(ApplyError::TypeMismatch);
            }
            if let Some(v) = col.valid.last_mut() {
                *v = true;
            }
        }
        Ok(())
    }

    /// Rows in `[min, max)`, sorted by time; rows of the same time merged, later write wins.
    fn rows(&self, min: i64, max: i64) -> Vec<(i64, PointFields)> {
        let mut order: Vec<usize> = (0..self.times.len())
            .filter(|&i| self.times[i] >= min && self.times[i] < max)
            .collect();
        order.sort_by_key(|&i| self.times[i]); // stable: equal times keep write order
        let mut out: Vec<(i64, PointFields)> = Vec::new();
        for i in order {
            let ts = self.times[i];
            if out.last().map(|(t, _)| *t) != Some(ts) {
                out.push((ts, Vec::new()));
            }
            let Some((_, fields)) = out.last_mut() else {
                continue;
            };
            for c in &self.columns {
                if !c.valid.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let Some(v) = c.data.get(i) else { continue };
                match fields.iter_mut().find(|(k, _)| k[..] == c.name[..]) {
                    Some(slot) => slot.1 = v,
                    None => fields.push((c.name.to_vec(), v)),
                }
            }
        }
        for (_, fields) in &mut out {
            fields.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out
    }
}

/// Looks up a `(String, String)` map key with borrowed `(&str, &str)`, so a write allocates no key.
trait DbRpKey {
    fn key(&self) -> (&str, &str);
}

impl DbRpKey for (String, String) {
    fn key(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl DbRpKey for (&str, &str) {
    fn key(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn DbRpKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn DbRpKey + 'a) {
        self
    }
}

impl std::hash::Hash for dyn DbRpKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl PartialEq for dyn DbRpKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn DbRpKey + '_ {}

#[derive(Default)]
struct DbStore {
    index: HashMap<Box<[u8]>, u32>,
    series: Vec<Series>,
}

/// What `apply` could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Corrupt(#[from] CorruptBatch),
    #[error("internal error: field type mismatch after schema check")]
    TypeMismatch,
}

/// One core's storage partition.
#[derive(Default)]
pub struct Partition {
    dbs: HashMap<(String, String), DbStore>,
}

impl Partition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies every point of `batch` (already schema-checked) to the memtable.
    pub fn apply(&mut self, db: &str, rp: &str, batch: &Batch) -> Result<u32, ApplyError> {
        let store = match self.dbs.get_mut(&(db, rp) as &dyn DbRpKey) {
            Some(s) => s,
            None => self
                .dbs
                .entry((db.to_string(), rp.to_string()))
                .or_default(),
        };
        let mut n = 0;
        let mut fields = Vec::new();
        let mut iter = batch.iter();
        while let Some(p) = iter.next_into(&mut fields) {
            let p = p?;
            let idx = match store.index.get(p.series_key) {
                Some(&i) => i as usize,
                None => {
                    let key: Box<[u8]> = p.series_key.into();
                    store.series.push(Series {
                        key: key.clone(),
                        measurement: p.measurement.into(),
                        times: Vec::new(),
                        columns: Vec::new(),
                    });
                    let i = store.series.len() - 1;
                    store.index.insert(key, i as u32);
                    i
                }
            };
            store.series[idx].append(p.timestamp_ns, &fields)?;
            n += 1;
        }
        Ok(n)
    }

    /// Reads the series of one (db, rp) that match the request.
    pub fn scan(&self, req: &ScanRequest) -> Vec<SeriesRows> {
        let Some(store) = self.dbs.get(&(req.db.clone(), req.rp.clone())) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in &store.series {
            if !req.measurements.matches(&s.measurement) {
                continue;
            }
            let tags = crate::shard::key::parse_tags(&s.key);
            if !req.condition.matches_tags(&tags) {
                continue;
            }
            let points = s.rows(req.condition.time_min_ns, req.condition.time_max_ns);
            if points.is_empty() {
                continue;
            }
            out.push(SeriesRows {
                measurement: s.measurement.to_vec(),
                tags,
                points,
            });
        }
        out
    }

    /// Forgets every (rp) store of `db`.
    pub fn drop_database(&mut self, db: &str) {
        self.dbs.retain(|(d, _), _| d != db);
    }

    /// Forgets one retention policy's data.
    pub fn drop_retention_policy(&mut self, db: &str, rp: &str) {
        self.dbs.remove(&(db.to_string(), rp.to_string()));
    }

    /// Number of series held, for tests and metrics.
    pub fn series_count(&self) -> usize {
        self.dbs.values().map(|s| s.series.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestPoint<'a> = (&'a [u8], i64, Vec<(&'a [u8], FieldValue<'static>)>);

    fn batch(points: &[TestPoint<'_>]) -> Batch {
        let mut b = Batch::default();
        for (key, ts, fields) in points {
            let m = key.split(|&c| c == b',').next().unwrap_or(key);
            b.begin_point(key, m, *ts, fields.len() as u16);
            for (k, v) in fields {
                b.push_field(k, v);
            }
        }
        b
    }

    #[test]
    fn same_series_and_time_merge_fields_later_wins() {
        let mut p = Partition::new();
        let b = batch(&[
            (
                b"cpu,host=a",
                10,
                vec![
                    (b"x", FieldValue::Integer(1)),
                    (b"y", FieldValue::Float(1.0)),
                ],
            ),
            (b"cpu,host=a", 5, vec![(b"x", FieldValue::Integer(0))]),
            (b"cpu,host=a", 10, vec![(b"x", FieldValue::Integer(2))]),
        ]);
        assert_eq!(p.apply("db", "autogen", &b).unwrap(), 3);
        let req = ScanRequest {
            db: "db".into(),
            rp: "autogen".into(),
            measurements: MeasurementMatch::Name("cpu".into()),
            condition: Condition::default(),
        };
        let rows = p.scan(&req);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].tags, vec![(b"host".to_vec(), b"a".to_vec())]);
        assert_eq!(
            rows[0].points,
            vec![
                (5, vec![(b"x".to_vec(), FieldValue::Integer(0))]),
                (
                    10,
                    vec![
                        (b"x".to_vec(), FieldValue::Integer(2)),
                        (b"y".to_vec(), FieldValue::Float(1.0))
                    ]
                ),
            ]
        );
    }

    #[test]
    fn time_range_and_drop() {
        let mut p = Partition::new();
        let b = batch(&[
            (b"m", 1, vec![(b"v", FieldValue::Boolean(true))]),
            (b"m", 2, vec![(b"v", FieldValue::Boolean(false))]),
            (
                b"n",
                2,
                vec![(b"s", FieldValue::String(Cow::Borrowed(b"x")))],
            ),
        ]);
        p.apply("db", "rp", &b).unwrap();
        let mut req = ScanRequest {
            db: "db".into(),
            rp: "rp".into(),
            measurements: MeasurementMatch::Regex(regex::bytes::Regex::new(".").unwrap()),
            condition: Condition {
                time_min_ns: 2,
                time_max_ns: 3,
                tags: Vec::new(),
            },
        };
        let rows = p.scan(&req);
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| r.points.len() == 1 && r.points[0].0 == 2));
        req.condition.time_min_ns = 0;
        p.drop_database("db");
        assert!(p.scan(&req).is_empty());
        assert_eq!(p.series_count(), 0);
    }
}
