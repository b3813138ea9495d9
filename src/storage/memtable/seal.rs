//! Sealing: a memtable's series, per (db, rp) in key order (`SealPlan`), each turned into
//! segment columns with its rows sorted by time and duplicates merged. A series whose records
//! all hold the same 8-byte fields (a metric agent's series, nearly always) takes
//! `uniform_columns`, one pass over its records; any other takes `general_columns`, record by
//! record through a `ColumnBuilder`. A property test holds the two to the same columns.

use super::records::{skip_value, RecordReader, FIXED_FIELD, NO_CHUNK, RECORD_HEAD};
use super::store::{DbStore, SeriesMeta};
use super::{DbRpKey, Memtable, SealPlan};
use crate::lineproto::FieldType;
use crate::storage::segment::{ColumnData, SeriesData, Values};

impl Memtable {
    /// The whole memtable as sealed-segment input: per (db, rp), the series in key order, each
    /// with its rows sorted by time and duplicates merged (later write wins).
    pub fn seal_data(&self) -> Vec<(String, String, Vec<SeriesData>)> {
        self.seal_plan()
            .into_iter()
            .map(|plan| {
                let series = (0..plan.len())
                    .filter_map(|i| self.seal_series(&plan, i))
                    .collect();
                (plan.db, plan.rp, series)
            })
            .collect()
    }

    /// The first, cheap step of sealing: per (db, rp), the series holding points, in key order.
    /// `seal_series` then builds one series at a time, so a caller can yield between series.
    pub fn seal_plan(&self) -> Vec<SealPlan> {
        let mut out = Vec::new();
        for ((db, rp), store) in &self.dbs {
            let mut series: Vec<u32> = (0..store.series.len() as u32)
                .filter(|&i| store.series[i as usize].first != NO_CHUNK)
                .collect();
            series.sort_unstable_by(|&a, &b| {
                store
                    .key(store.series[a as usize])
                    .cmp(store.key(store.series[b as usize]))
            });
            out.push(SealPlan {
                db: db.clone(),
                rp: rp.clone(),
                series,
            });
        }
        out
    }

    /// Series `i` of a seal plan as segment input.
    pub fn seal_series(&self, plan: &SealPlan, i: usize) -> Option<SeriesData> {
        let store = self
            .dbs
            .get(&(plan.db.as_str(), plan.rp.as_str()) as &dyn DbRpKey)?;
        let meta = *store.series.get(*plan.series.get(i)? as usize)?;
        let (times, columns) = build_columns(store, meta);
        Some(SeriesData {
            key: store.key(meta).to_vec(),
            measurement: store.measurements.get(meta.measurement).to_vec(),
            times,
            columns,
        })
    }
}

/// A series' records as segment columns: rows sorted by time, rows of the same time merged
/// (fields unioned, the later write wins). Records are usually written in time order, and are
/// then read once, front to back; a series written out of order is sorted first (stably, so the
/// later write of a time still wins).
fn build_columns(store: &DbStore, meta: SeriesMeta) -> (Vec<i64>, Vec<ColumnData>) {
    uniform_columns(store, meta).unwrap_or_else(|| general_columns(store, meta))
}

/// `build_columns` for the common series: every record holds the same fields (ids and types,
/// in the same order, no id twice), all 8-byte values. One pass over the records checks that
/// and fills every column (each field's id and type are compared as one word; each value is
/// pushed where it goes); a gather per column over the records' places afterwards would read
/// the series' records 1 + fields times, for ~3x the instructions. Rows out of time order are
/// sorted (stably, `sort_uniform_rows`); of rows with the same time the last written wins, which
/// is the general path's merge when every row has the same fields. `None` for any other series.
pub(super) fn uniform_columns(
    store: &DbStore,
    meta: SeriesMeta,
) -> Option<(Vec<i64>, Vec<ColumnData>)> {
    let rows = meta.points();
    let mut layout: Vec<[u8; 3]> = Vec::new();
    // Each field's (id, type) bytes as a word, to compare a record's with.
    let mut heads: Vec<u32> = Vec::new();
    let mut cols: Vec<Vec<u64>> = Vec::new();
    let mut times: Vec<i64> = Vec::with_capacity(rows);
    let mut sorted = true;
    for (_, data) in store.chunks_of(meta) {
        let mut pos = 0;
        // The head is read in one bounds check, not through a `RecordReader` (one per part:
        // ~25 more instructions per TSBS row, callgrind).
        while pos < data.len() {
            crate::simd::prefetch(data, pos + SEAL_PREFETCH_AHEAD);
            let head: [u8; RECORD_HEAD] = data.get(pos..pos + RECORD_HEAD)?.try_into().ok()?;
            let ts = i64::from_le_bytes(head[..8].try_into().ok()?);
            let n = usize::from(u16::from_le_bytes([head[8], head[9]]));
            let body = pos + RECORD_HEAD;
            let fields = data.get(body..body + n * FIXED_FIELD)?;
            if layout.is_empty() {
                layout = uniform_layout(fields)?;
                heads = layout
                    .iter()
                    .map(|l| u32::from_le_bytes([l[0], l[1], l[2], 0]))
                    .collect();
                cols = layout.iter().map(|_| Vec::with_capacity(rows)).collect();
            }
            if n != heads.len() {
                return None;
            }
            for ((f, &h), col) in fields
                .chunks_exact(FIXED_FIELD)
                .zip(&heads)
                .zip(cols.iter_mut())
            {
                let f: &[u8; FIXED_FIELD] = f.try_into().ok()?;
                if u32::from_le_bytes([f[0], f[1], f[2], 0]) != h {
                    return None;
                }
                let [_, _, _, v @ ..] = *f;
                col.push(u64::from_le_bytes(v));
            }
            sorted &= times.last().map_or(true, |&last| last < ts);
            times.push(ts);
            pos = body + n * FIXED_FIELD;
        }
    }
    if !sorted {
        sort_uniform_rows(&mut times, &mut cols);
    }
    Some((times, finish_uniform(store, &layout, cols)))
}

/// Puts `uniform_columns`' rows (`times` and each column alike) in time order; of rows with the
/// same time the last written is kept.
fn sort_uniform_rows(times: &mut Vec<i64>, cols: &mut [Vec<u64>]) {
    if let Some(runs) = disjoint_runs(times) {
        // Runs that do not overlap in time: the sorted rows are the runs one after another
        // (copied whole; no time is in two runs, so nothing merges).
        for col in cols.iter_mut() {
            *col = runs.iter().flat_map(|r| &col[r.clone()]).copied().collect();
        }
        *times = runs
            .iter()
            .flat_map(|r| &times[r.clone()])
            .copied()
            .collect();
        return;
    }
    let mut order: Vec<u32> = (0..times.len() as u32).collect();
    order.sort_by_key(|&i| times[i as usize]);
    // Of a run of equal times keep the last (the latest write: the sort is stable).
    let keep = |k: usize| {
        order.get(k + 1).map_or(true, |&next| {
            times[next as usize] != times[order[k] as usize]
        })
    };
    let kept: Vec<u32> = (0..order.len())
        .filter(|&k| keep(k))
        .map(|k| order[k])
        .collect();
    for col in cols.iter_mut() {
        *col = kept.iter().map(|&i| col[i as usize]).collect();
    }
    *times = kept.iter().map(|&i| times[i as usize]).collect();
}

/// Most runs [`disjoint_runs`] orders; more take the sort.
pub(super) const DISJOINT_RUNS_MAX: usize = 16;

/// A series' rows that are a few runs of strictly increasing times, no two runs overlapping
/// (a client that sent older data again, or filled a gap): the runs (index ranges) in time
/// order. `None` when runs overlap, share a time or are too many: the rows are then sorted.
/// The columns are then the runs copied whole, instead of a sort and a gather of every value
/// through the sorted order.
pub(super) fn disjoint_runs(times: &[i64]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=times.len() {
        if i == times.len() || times[i] <= times[i - 1] {
            if runs.len() == DISJOINT_RUNS_MAX {
                return None;
            }
            runs.push(start..i);
            start = i;
        }
    }
    runs.sort_unstable_by_key(|r| times[r.start]);
    runs.windows(2)
        .all(|w| times[w[0].end - 1] < times[w[1].start])
        .then_some(runs)
}

/// `uniform_columns`' columns as segment columns.
fn finish_uniform(store: &DbStore, layout: &[[u8; 3]], cols: Vec<Vec<u64>>) -> Vec<ColumnData> {
    layout
        .iter()
        .zip(cols)
        .map(|(l, col)| {
            let rows = col.len();
            // Same-size maps: collected in place, no copy.
            let values = match FieldType::from_u8(l[2]) {
                Some(FieldType::Float) => {
                    Values::Float(col.into_iter().map(f64::from_bits).collect())
                }
                Some(FieldType::Unsigned) => Values::Unsigned(col),
                _ => Values::Integer(col.into_iter().map(|v| v as i64).collect()),
            };
            let id = u16::from_le_bytes([l[0], l[1]]);
            ColumnData {
                name: store.fields.get(u32::from(id)).to_vec(),
                values,
                valid: vec![true; rows],
            }
        })
        .collect()
}

/// How far ahead of the record it reads `uniform_columns` asks for a chunk's bytes.
const SEAL_PREFETCH_AHEAD: usize = 640;

/// The (id, type) heads of a record's fields if they suit `uniform_columns`: all 8-byte
/// values, no id twice.
fn uniform_layout(fields: &[u8]) -> Option<Vec<[u8; 3]>> {
    let layout: Vec<[u8; 3]> = fields
        .chunks_exact(FIXED_FIELD)
        .map(|f| [f[0], f[1], f[2]])
        .collect();
    let distinct = |i: usize| layout[..i].iter().all(|o| o[..2] != layout[i][..2]);
    let fits = |i: usize| FieldType::is_fixed_code(layout[i][2]) && distinct(i);
    (!layout.is_empty() && (0..layout.len()).all(fits)).then_some(layout)
}

/// `build_columns` for any series, record by record through a `ColumnBuilder`.
pub(super) fn general_columns(store: &DbStore, meta: SeriesMeta) -> (Vec<i64>, Vec<ColumnData>) {
    let mut b = ColumnBuilder::with_rows(meta.points());
    let mut in_order = true;
    'chunks: for (_, data) in store.chunks_of(meta) {
        let mut rd = RecordReader { buf: data, pos: 0 };
        while rd.pos < data.len() {
            let Some(ts) = rd.i64() else { break };
            if b.times.last().is_some_and(|&last| ts < last) {
                in_order = false;
                break 'chunks;
            }
            if !b.add_common(ts, &mut rd) && b.add(store, ts, &mut rd).is_none() {
                break;
            }
        }
    }
    if in_order {
        return b.finish();
    }
    let mut rows: Vec<(i64, usize)> = store.records(meta).map(|(ts, at, _)| (ts, at)).collect();
    rows.sort_by_key(|r| r.0);
    let mut b = ColumnBuilder::with_rows(rows.len());
    for (ts, at) in rows {
        let mut rd = RecordReader {
            buf: &store.chunks,
            pos: at,
        };
        if !b.add_common(ts, &mut rd) {
            let _ = b.add(store, ts, &mut rd);
        }
    }
    b.finish()
}

/// Builds a series' columns row by row (rows in time order).
#[derive(Default)]
struct ColumnBuilder {
    times: Vec<i64>,
    /// Field id of each column; a point's i-th field is usually column i.
    ids: Vec<u16>,
    columns: Vec<ColumnData>,
}

impl ColumnBuilder {
    /// A builder with room for `rows` rows (columns get the same room when created).
    fn with_rows(rows: usize) -> Self {
        ColumnBuilder {
            times: Vec::with_capacity(rows),
            ..ColumnBuilder::default()
        }
    }

    /// `add` for the common record: a new time, the same fields in the same order as the
    /// columns so far, all 8-byte values (float, integer, unsigned). Checks everything first and
    /// changes nothing (reader included) when the record is not such a one.
    fn add_common(&mut self, ts: i64, rd: &mut RecordReader<'_>) -> bool {
        let row = self.times.len();
        let n = self.ids.len();
        let Some(head) = rd.buf.get(rd.pos..rd.pos + 2) else {
            return false;
        };
        if n == 0 || usize::from(u16::from_le_bytes([head[0], head[1]])) != n {
            return false;
        }
        if self.times.last().is_some_and(|&t| t == ts) {
            return false;
        }
        let body = rd.pos + 2;
        let Some(fields) = rd.buf.get(body..body + n * FIXED_FIELD) else {
            return false;
        };
        for ((f, &id), c) in fields
            .chunks_exact(FIXED_FIELD)
            .zip(&self.ids)
            .zip(&self.columns)
        {
            let ty = c.values.field_type();
            let fixed = matches!(
                ty,
                FieldType::Float | FieldType::Integer | FieldType::Unsigned
            );
            if !fixed
                || u16::from_le_bytes([f[0], f[1]]) != id
                || f[2] != ty as u8
                || c.valid.len() != row
            {
                return false;
            }
        }
        self.times.push(ts);
        for (f, c) in fields.chunks_exact(FIXED_FIELD).zip(&mut self.columns) {
            let mut v = [0u8; 8];
            v.copy_from_slice(&f[3..]);
            let v = u64::from_le_bytes(v);
            c.valid.push(true);
            match &mut c.values {
                Values::Float(x) => x.push(f64::from_bits(v)),
                Values::Integer(x) => x.push(v as i64),
                Values::Unsigned(x) => x.push(v),
                // Excluded by the check above.
                Values::Boolean(_) | Values::String(_) => {}
            }
        }
        rd.pos = body + n * FIXED_FIELD;
        true
    }

    /// Adds one record (the reader stands at its field count) at time `ts`, leaving the reader
    /// after it; `None` when the record is cut short (a bug: the walk ends).
    fn add(&mut self, store: &DbStore, ts: i64, rd: &mut RecordReader<'_>) -> Option<()> {
        let n = rd.u16()?;
        if self.times.last() != Some(&ts) {
            self.times.push(ts);
        }
        let row = self.times.len() - 1;
        for i in 0..n as usize {
            let (Some(id), Some(ty)) =
                (rd.u16(), rd.take(1).and_then(|b| FieldType::from_u8(b[0])))
            else {
                return None;
            };
            let ci = self.column_of(store, i, id, ty, row);
            let c = &mut self.columns[ci];
            if c.values.field_type() != ty {
                // Types are fixed per measurement before points reach storage; skip the value.
                skip_value(rd, ty)?;
                continue;
            }
            // Rows this column has no value for (yet) stay invalid; a second write of the same
            // time replaces the value.
            let fresh = c.valid.len() <= row;
            if fresh {
                pad_column(c, row);
                c.valid.push(true);
            } else if let Some(v) = c.valid.get_mut(row) {
                *v = true;
            }
            read_value(&mut c.values, ty, fresh, rd)?;
        }
        Some(())
    }

    /// The column of field `id` (type `ty`), the `i`-th field of the record at `row`: column `i`
    /// when it holds that field, else the one that does, else a new one (its earlier rows
    /// invalid).
    fn column_of(
        &mut self,
        store: &DbStore,
        i: usize,
        id: u16,
        ty: FieldType,
        row: usize,
    ) -> usize {
        match self.ids.get(i) {
            Some(&c) if c == id => i,
            _ => match self.ids.iter().position(|&c| c == id) {
                Some(ci) => ci,
                None => {
                    self.ids.push(id);
                    self.columns.push(new_column(
                        store.fields.get(u32::from(id)),
                        ty,
                        row,
                        self.times.capacity(),
                    ));
                    self.columns.len() - 1
                }
            },
        }
    }

    fn finish(mut self) -> (Vec<i64>, Vec<ColumnData>) {
        for c in &mut self.columns {
            pad_column(c, self.times.len());
        }
        (self.times, self.columns)
    }
}

/// Reads a value of type `ty` into the last row of `values` (pushed when `fresh`, else
/// replaced); a value of another type than the column's is stepped over. `None` when the record
/// is cut short.
fn read_value(
    values: &mut Values,
    ty: FieldType,
    fresh: bool,
    rd: &mut RecordReader<'_>,
) -> Option<()> {
    match (values, ty) {
        (Values::Float(v), FieldType::Float) => {
            rd.u64().map(|x| set_or_push(v, fresh, f64::from_bits(x)))
        }
        (Values::Integer(v), FieldType::Integer) => {
            rd.u64().map(|x| set_or_push(v, fresh, x as i64))
        }
        (Values::Unsigned(v), FieldType::Unsigned) => rd.u64().map(|x| set_or_push(v, fresh, x)),
        (Values::Boolean(v), FieldType::Boolean) => {
            rd.take(1).map(|b| set_or_push(v, fresh, b[0] != 0))
        }
        (Values::String(v), FieldType::String) => rd
            .u32()
            .and_then(|len| rd.take(len as usize))
            .map(|b| set_or_push(v, fresh, b.to_vec())),
        (_, ty) => skip_value(rd, ty),
    }
}

fn set_or_push<T>(v: &mut Vec<T>, fresh: bool, x: T) {
    match v.last_mut() {
        Some(slot) if !fresh => *slot = x,
        _ => v.push(x),
    }
}

/// A column of `ty` with `rows` invalid rows, room for `capacity`.
fn new_column(name: &[u8], ty: FieldType, rows: usize, capacity: usize) -> ColumnData {
    let values = match ty {
        FieldType::Float => Values::Float(Vec::with_capacity(capacity)),
        FieldType::Integer => Values::Integer(Vec::with_capacity(capacity)),
        FieldType::Unsigned => Values::Unsigned(Vec::with_capacity(capacity)),
        FieldType::Boolean => Values::Boolean(Vec::with_capacity(capacity)),
        FieldType::String => Values::String(Vec::with_capacity(capacity)),
    };
    let mut c = ColumnData {
        name: name.to_vec(),
        values,
        valid: Vec::with_capacity(capacity),
    };
    pad_column(&mut c, rows);
    c
}

/// Extends a column with invalid rows up to `rows` rows.
fn pad_column(c: &mut ColumnData, rows: usize) {
    if c.valid.len() >= rows {
        return;
    }
    c.valid.resize(rows, false);
    match &mut c.values {
        Values::Float(v) => v.resize(rows, 0.0),
        Values::Integer(v) => v.resize(rows, 0),
        Values::Unsigned(v) => v.resize(rows, 0),
        Values::Boolean(v) => v.resize(rows, false),
        Values::String(v) => v.resize(rows, Vec::new()),
    }
}
