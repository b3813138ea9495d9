//! Statement results and the v1 JSON answer (`{"results":[{"statement_id":0,...}]}`).
//!
//! Key order and omissions follow InfluxDB 1.8's Go structs: a result is
//! `statement_id, series?, messages?, error?`; a series is `name?, columns, values?`
//! (query/result.go, models/rows.go; `omitempty` everywhere but `statement_id`).
//!
//! SELECT without GROUP BY (query/compile.go, influxql RewriteFields/ColumnNames, tsm1 engine):
//! - one series per measurement, measurements in name order, no `tags` key;
//! - `*` expands to every field key and tag key seen, sorted together by name (ties: the field
//!   first, as influxql sorts `VarRefs` by name then type, except that an unsigned field sorts
//!   after a tag); a repeated column name gets `_1`, `_2`… (so a tag sharing a field's key
//!   comes back as `k_1`);
//! - a row exists for a time at which at least one selected field has a value (tags alone make
//!   no rows); a missing field or tag is `null`;
//! - rows in time order, ties by series key; LIMIT n per output series.

use std::collections::{BTreeMap, BTreeSet};

use super::json::{write_f64, write_str};
use super::time::{format_go_duration, format_rfc3339_nano};
use super::{GroupTags, KeyKind, PointFields, RawExpr, SelectField, SelectStatement, SeriesRows};
use crate::lineproto::FieldValue;

/// One cell of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A point's time in ns; written per [`TimeFormat`].
    Time(i64),
    /// Shared: a tag value is the same cell in every row of its series.
    Str(std::sync::Arc<str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

/// One `series` entry. `name: None` omits the key (SHOW RETENTION POLICIES has none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: Option<String>,
    /// The GROUP BY tags of the series (`"tags":{...}`, keys sorted; omitted when empty).
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
    /// More rows of this series follow in the next chunk (`"partial":true`, chunked answers).
    pub partial: bool,
    /// Which columns hold tags (not written: a subquery's outer statement reads them as tags).
    pub tag_columns: Vec<usize>,
}

/// `{"level":"warning","text":"..."}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub level: String,
    pub text: String,
}

/// The outcome of one statement. `statement_id` is its index in [`render_results`]' input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    pub series: Vec<Series>,
    pub messages: Vec<Message>,
    /// More parts of this statement's answer follow (`"partial":true`, chunked answers).
    pub partial: bool,
    pub error: Option<String>,
}

/// One row of SHOW RETENTION POLICIES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPolicyRow {
    pub name: String,
    pub duration_ns: i64,
    pub shard_group_duration_ns: i64,
    pub replica_n: u32,
    pub default: bool,
}

/// How `Value::Time` is written: the `epoch` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// No `epoch`: RFC3339Nano strings.
    Rfc3339,
    /// Integer time divided by this many ns (Go's integer division, toward zero).
    Epoch(i64),
}

impl TimeFormat {
    /// InfluxDB's `epoch` handling (httpd handler.go `convertToEpoch`): empty or absent =
    /// RFC3339; `u` µs, `ms`, `s`, `m`, `h`; any other non-empty value (`ns`, `n`, …) = ns.
    pub fn from_epoch_param(epoch: Option<&str>) -> Self {
        let divisor = match epoch.unwrap_or("").trim() {
            "" => return TimeFormat::Rfc3339,
            "u" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => 1,
        };
        TimeFormat::Epoch(divisor)
    }
}

impl StatementResult {
    /// A statement that succeeded with nothing to show (`{"statement_id":N}`).
    pub fn ok() -> Self {
        Self::default()
    }

    /// `{"statement_id":N,"error":"..."}`.
    pub fn error(message: impl Into<String>) -> Self {
        StatementResult {
            error: Some(message.into()),
            ..Self::default()
        }
    }

    /// Add a `{"level":"warning","text":...}` message.
    pub fn with_warning(mut self, text: impl Into<String>) -> Self {
        self.messages.push(Message {
            level: "warning".into(),
            text: text.into(),
        });
        self
    }

    /// SHOW DATABASES: the `databases` series is present even with no database.
    pub fn databases<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let values = names
            .into_iter()
            .map(|n| vec![Value::Str(Into::<String>::into(n).into())])
            .collect();
        StatementResult {
            series: vec![Series {
                name: Some("databases".into()),
                columns: vec!["name".into()],
                values,
                ..Series::default()
            }],
            ..Self::default()
        }
    }

    /// SHOW RETENTION POLICIES (rows in the catalog's order; the series has no name).
    pub fn retention_policies(rows: &[RetentionPolicyRow]) -> Self {
        let columns = [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ];
        let values = rows
            .iter()
            .map(|r| {
                vec![
                    Value::Str(r.name.as_str().into()),
                    Value::Str(format_go_duration(r.duration_ns).into()),
                    Value::Str(format_go_duration(r.shard_group_duration_ns).into()),
                    Value::Int(i64::from(r.replica_n)),
                    Value::Bool(r.default),
                ]
            })
            .collect();
        StatementResult {
            series: vec![Series {
                name: None,
                columns: columns.iter().map(|c| c.to_string()).collect(),
                values,
                ..Series::default()
            }],
            ..Self::default()
        }
    }
}

/// Write every result as InfluxDB's `/query` body (`statement_id` = position in `results`).
pub fn render_results(results: Vec<StatementResult>, time: TimeFormat) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"results\":[");
    for (id, r) in results.iter().enumerate() {
        if id > 0 {
            out.push(b',');
        }
        write_result(&mut out, id, r, time);
    }
    out.extend_from_slice(b"]}");
    out
}

/// One result object (`{"statement_id":N,...}`), keys in the order of 1.x's `query.Result`.
pub(crate) fn write_result(out: &mut Vec<u8>, id: usize, r: &StatementResult, time: TimeFormat) {
    out.extend_from_slice(format!("{{\"statement_id\":{id}").as_bytes());
    if !r.series.is_empty() {
        out.extend_from_slice(b",\"series\":[");
        for (i, s) in r.series.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_series(out, s, time);
        }
        out.push(b']');
    }
    if !r.messages.is_empty() {
        out.extend_from_slice(b",\"messages\":[");
        for (i, m) in r.messages.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"level\":");
            write_str(out, &m.level);
            out.extend_from_slice(b",\"text\":");
            write_str(out, &m.text);
            out.push(b'}');
        }
        out.push(b']');
    }
    if r.partial {
        out.extend_from_slice(b",\"partial\":true");
    }
    if let Some(e) = r.error.as_deref().filter(|e| !e.is_empty()) {
        out.extend_from_slice(b",\"error\":");
        write_str(out, e);
    }
    out.push(b'}');
}

fn write_series(out: &mut Vec<u8>, s: &Series, time: TimeFormat) {
    // Every key of a row is `omitempty` in Go (models.Row): a comma goes before each key but
    // the first written.
    fn key(out: &mut Vec<u8>, first: &mut bool, k: &[u8]) {
        if !std::mem::take(first) {
            out.push(b',');
        }
        out.extend_from_slice(k);
    }
    let first = &mut true;
    out.push(b'{');
    if let Some(name) = s.name.as_deref().filter(|n| !n.is_empty()) {
        key(out, first, b"\"name\":");
        write_str(out, name);
    }
    if !s.tags.is_empty() {
        key(out, first, b"\"tags\":{");
        for (i, (k, v)) in s.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            write_str(out, v);
        }
        out.push(b'}');
    }
    if !s.columns.is_empty() {
        key(out, first, b"\"columns\":[");
        for (i, c) in s.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, c);
        }
        out.push(b']');
    }
    if !s.values.is_empty() {
        key(out, first, b"\"values\":[");
        for (i, row) in s.values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_value(out, v, time);
            }
            out.push(b']');
        }
        out.push(b']');
    }
    if s.partial {
        key(out, first, b"\"partial\":true");
    }
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, v: &Value, time: TimeFormat) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Time(ns) => match time {
            TimeFormat::Rfc3339 => write_str(out, &format_rfc3339_nano(*ns)),
            TimeFormat::Epoch(d) => out.extend_from_slice((ns / d.max(1)).to_string().as_bytes()),
        },
        Value::Str(s) => write_str(out, s),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) => write_f64(out, *f),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

/// A column of a SELECT: which key it reads and whether that is a field or a tag.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub(crate) key: Vec<u8>,
    pub(crate) kind: KeyKind,
    pub(crate) alias: Option<String>,
}

/// influxql's DataType codes, used as the tie-break when sorting `*` (Tag = 7, Unsigned = 9).
fn type_code(v: &FieldValue<'_>) -> u8 {
    match v {
        FieldValue::Float(_) => 1,
        FieldValue::Integer(_) => 2,
        FieldValue::String(_) => 3,
        FieldValue::Boolean(_) => 4,
        FieldValue::Unsigned(_) => 9,
    }
}
const TAG_CODE: u8 = 7;

/// Field keys (with their type code) and tag keys present in the data.
struct KeySets {
    fields: BTreeMap<Vec<u8>, u8>,
    tags: BTreeSet<Vec<u8>>,
}

fn key_sets<'a>(series: impl Iterator<Item = &'a SeriesRows>) -> KeySets {
    let mut fields: BTreeMap<Vec<u8>, u8> = BTreeMap::new();
    let mut tags = BTreeSet::new();
    for s in series {
        tags.extend(s.tags.iter().map(|(k, _)| k.clone()));
        for (_, fs) in &s.points {
            for (k, v) in fs {
                let code = type_code(v);
                // Looked up before inserting: an owned key per field of every point was a large
                // query's most frequent allocation.
                match fields.get_mut(&k[..]) {
                    Some(e) => *e = (*e).max(code),
                    None => {
                        fields.insert(k.to_vec(), code);
                    }
                }
            }
        }
    }
    KeySets { fields, tags }
}

/// The SELECT list's columns, each with the expression that computes it (`None`: a key's
/// value); a wildcard or regex leaves out the GROUP BY tags (`dims`).
fn expand_columns<'a>(
    fields: &'a [SelectField],
    keys: &KeySets,
    dims: &BTreeSet<Vec<u8>>,
) -> (Vec<Column>, Vec<Option<&'a RawExpr>>) {
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    for f in fields {
        let (only, pattern) = match f {
            SelectField::Wildcard(only) => (*only, None),
            SelectField::Regex(p) => (None, Some(&p.0)),
            SelectField::Key { .. } | SelectField::Expr { .. } => (None, None),
        };
        match f {
            SelectField::Wildcard(_) | SelectField::Regex(_) => {
                let wanted = |k: &Vec<u8>| pattern.map_or(true, |re| re.is_match(k));
                let mut refs: Vec<(&Vec<u8>, u8)> = Vec::new();
                if only != Some(KeyKind::Tag) {
                    refs.extend(
                        keys.fields
                            .iter()
                            .filter(|(k, _)| wanted(k))
                            .map(|(k, c)| (k, *c)),
                    );
                }
                if only != Some(KeyKind::Field) {
                    refs.extend(
                        keys.tags
                            .iter()
                            .filter(|k| wanted(k) && !dims.contains(*k))
                            .map(|k| (k, TAG_CODE)),
                    );
                }
                refs.sort();
                cols.extend(refs.into_iter().map(|(k, code)| Column {
                    key: k.clone(),
                    kind: if code == TAG_CODE {
                        KeyKind::Tag
                    } else {
                        KeyKind::Field
                    },
                    alias: None,
                }));
            }
            SelectField::Key { name, kind, alias } => {
                let key = name.as_bytes().to_vec();
                let kind = kind.unwrap_or(
                    if !keys.fields.contains_key(&key) && keys.tags.contains(&key) {
                        KeyKind::Tag
                    } else {
                        KeyKind::Field
                    },
                );
                cols.push(Column {
                    key,
                    kind,
                    alias: alias.clone(),
                });
            }
            SelectField::Expr { expr, name, alias } => {
                cols.push(Column {
                    key: name.as_bytes().to_vec(),
                    kind: KeyKind::Field,
                    alias: alias.clone(),
                });
                exprs.resize(cols.len() - 1, None);
                exprs.push(Some(expr));
            }
        }
    }
    exprs.resize(cols.len(), None);
    (cols, exprs)
}

/// influxql `ColumnNames`: aliases first, then names with `_N` added on a repeat.
pub(crate) fn column_names(time_name: &str, cols: &[Column]) -> Vec<String> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for a in cols.iter().filter_map(|c| c.alias.as_ref()) {
        names.insert(a.clone(), 1);
    }
    let mut out = vec![time_name.to_string()];
    for c in cols {
        if let Some(a) = &c.alias {
            out.push(a.clone());
            continue;
        }
        let mut name = String::from_utf8_lossy(&c.key).into_owned();
        if let Some(&count) = names.get(&name) {
            let mut n = count;
            loop {
                let resolved = format!("{name}_{n}");
                if !names.contains_key(&resolved) {
                    names.insert(name.clone(), n + 1);
                    name = resolved;
                    break;
                }
                n += 1;
            }
        }
        *names.entry(name.clone()).or_insert(0) += 1;
        out.push(name);
    }
    out
}

pub(crate) fn to_value(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Float(f) => Value::Float(*f),
        FieldValue::Integer(i) => Value::Int(*i),
        FieldValue::Unsigned(u) => Value::UInt(*u),
        FieldValue::String(s) => Value::Str(String::from_utf8_lossy(s).into()),
        FieldValue::Boolean(b) => Value::Bool(*b),
    }
}

/// A series' tag cells, one per column (`None` for a field column), made once per series and
/// shared by its rows.
fn tag_cells(cols: &[Column], tags: &[(Vec<u8>, Vec<u8>)]) -> Vec<Option<Value>> {
    cols.iter()
        .map(|c| match c.kind {
            KeyKind::Field => None,
            // A missing or empty tag is null (tsm1 engine: "if the tag value is blank then
            // return a null").
            KeyKind::Tag => Some(
                tags.iter()
                    .find(|(k, v)| *k == c.key && !v.is_empty())
                    .map_or(Value::Null, |(_, v)| {
                        Value::Str(String::from_utf8_lossy(v).into())
                    }),
            ),
        })
        .collect()
}

/// One output row, or `None` when no selected field has a value at this point. `tags` holds
/// the series' cell of each tag column (`tag_cells`).
fn build_row(
    cols: &[Column],
    exprs: &[Option<&RawExpr>],
    t: i64,
    tags: &[Option<Value>],
    fields: &PointFields,
) -> Option<Vec<Value>> {
    let mut row = Vec::with_capacity(cols.len() + 1);
    row.push(Value::Time(t));
    let mut any_field = false;
    for ((c, tag), expr) in cols.iter().zip(tags).zip(exprs) {
        let v = match (tag, expr) {
            (_, Some(e)) => e.eval(fields, &mut any_field).unwrap_or(Value::Null),
            (Some(cell), None) => cell.clone(),
            (None, None) => {
                fields
                    .iter()
                    .find(|(k, _)| k[..] == c.key[..])
                    .map_or(Value::Null, |(_, v)| {
                        any_field = true;
                        to_value(v)
                    })
            }
        };
        row.push(v);
    }
    any_field.then_some(row)
}

/// The rows of one measurement, ordered by time (ascending unless ORDER BY time DESC) then
/// series key (the series are sorted by tags beforehand); OFFSET and LIMIT applied.
fn measurement_rows(
    stmt: &SelectStatement,
    cols: &[Column],
    exprs: &[Option<&RawExpr>],
    series: &[SeriesRows],
) -> Vec<Vec<Value>> {
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (si, s) in series.iter().enumerate() {
        for (pi, (t, _)) in s.points.iter().enumerate() {
            order.push((*t, si, pi));
        }
    }
    order.sort();
    order.dedup_by_key(|(t, si, _)| (*t, *si));
    if stmt.descending {
        // Newest first; ties stay in series-key order.
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    let cells: Vec<Vec<Option<Value>>> = series.iter().map(|s| tag_cells(cols, &s.tags)).collect();
    let mut skip = stmt.offset;
    let mut rows = Vec::new();
    for (t, si, pi) in order {
        if stmt.limit > 0 && rows.len() as u64 >= stmt.limit {
            break;
        }
        let Some(s) = series.get(si) else { continue };
        let Some((_, fields)) = s.points.get(pi) else {
            continue;
        };
        let Some(row) = build_row(cols, exprs, t, &cells[si], fields) else {
            continue;
        };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        rows.push(row);
    }
    rows
}

/// The GROUP BY tag keys of a raw SELECT, over every tag key of the data (as 1.x expands
/// `GROUP BY *` and `GROUP BY /re/` once per statement).
fn group_keys(group: &GroupTags, keys: &KeySets) -> BTreeSet<Vec<u8>> {
    match group {
        GroupTags::None => BTreeSet::new(),
        GroupTags::Keys(k) => k.iter().map(|k| k.as_bytes().to_vec()).collect(),
        GroupTags::All => keys.tags.clone(),
        GroupTags::Regex(p) => keys
            .tags
            .iter()
            .filter(|k| p.0.is_match(k))
            .cloned()
            .collect(),
    }
}

/// A series' GROUP BY tags: (key, value), sorted by key.
type GroupKey = Vec<(Vec<u8>, Vec<u8>)>;

/// 1.x's order of tag sets when SLIMIT/SOFFSET pick series: `Tags.ID()` over the tags the
/// series has (keys sorted, then their values, `\0`-separated), so a series lacking a GROUP BY
/// tag sorts by the tags it has. (Without SLIMIT, series come sorted by their tag values.)
pub(crate) fn tags_id(group: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let present: Vec<&(Vec<u8>, Vec<u8>)> = group.iter().filter(|(_, v)| !v.is_empty()).collect();
    let mut id = Vec::new();
    for (k, _) in &present {
        id.extend_from_slice(k);
        id.push(0);
    }
    for (i, (_, v)) in present.iter().enumerate() {
        id.extend_from_slice(v);
        if i + 1 < present.len() {
            id.push(0);
        }
    }
    id
}

/// GROUP BY tags as an output series names them.
pub(crate) fn tag_strings(group: GroupKey) -> Vec<(String, String)> {
    group
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

/// The tag sets SLIMIT and SOFFSET picked from the series index, as 1.x picks them: each
/// (measurement, `tags_id` of the GROUP BY tags) whose series are answered.
pub type PickedTagSets = std::collections::HashSet<(Vec<u8>, Vec<u8>)>;

/// A measurement's output series, in the answer's order (its groups' order), that SLIMIT and
/// SOFFSET keep: `series(i)` writes group `i` (`None` when it keeps no row), `ids` are the
/// groups' `tags_id`. As 1.x picks: the groups that keep a row counted in `tags_id` order (its
/// index's tag set order, which is not the answer's order when a group lacks a tag), or, when
/// the tag sets were picked from the index (`limits.2`), those.
pub(crate) fn pick_series<T>(
    measurement: &[u8],
    ids: &[Vec<u8>],
    limits: (u64, u64, Option<&PickedTagSets>),
    mut series: impl FnMut(usize) -> Option<T>,
) -> Vec<T> {
    let (slimit, soffset, picked) = limits;
    if let Some(picked) = picked {
        return (0..ids.len())
            .filter(|&i| picked.contains(&(measurement.to_vec(), ids[i].clone())))
            .filter_map(series)
            .collect();
    }
    if slimit == 0 && soffset == 0 {
        return (0..ids.len()).filter_map(series).collect();
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    let mut kept: Vec<Option<T>> = (0..ids.len()).map(|_| None).collect();
    let mut skip = soffset;
    let mut room = if slimit == 0 { u64::MAX } else { slimit };
    for i in order {
        if room == 0 {
            break;
        }
        let Some(s) = series(i) else {
            continue;
        };
        if skip > 0 {
            skip -= 1;
            continue;
        }
        room -= 1;
        kept[i] = Some(s);
    }
    kept.into_iter().flatten().collect()
}

/// Every measurement's series (measurements in name order, each one's series in its order) as
/// the answer lists them: `ORDER BY time DESC` reverses both orders, as 1.x's merge does.
pub(crate) fn in_answer_order<T>(measurements: Vec<Vec<T>>, descending: bool) -> Vec<T> {
    let mut all: Vec<T> = measurements.into_iter().flatten().collect();
    if descending {
        all.reverse();
    }
    all
}

/// The values of the GROUP BY keys for a series (`''` when it lacks one).
pub(crate) fn group_of(dims: &BTreeSet<Vec<u8>>, tags: &[(Vec<u8>, Vec<u8>)]) -> GroupKey {
    dims.iter()
        .map(|k| {
            let v = tags
                .iter()
                .find(|(tk, _)| tk == k)
                .map_or_else(Vec::new, |(_, v)| v.clone());
            (k.clone(), v)
        })
        .collect()
}

/// The result of a raw SELECT over the rows storage returned (any order, any number of
/// `SeriesRows` per measurement). Sources' measurement names, tag filters and time bounds are
/// applied again here, so a scan that pushed them down and one that did not answer the same.
pub fn select_result(stmt: &SelectStatement, rows: Vec<SeriesRows>) -> StatementResult {
    let cond = &stmt.condition;
    let mut by_measurement: BTreeMap<Vec<u8>, Vec<SeriesRows>> = BTreeMap::new();
    for mut s in rows {
        let wanted = stmt.matches_measurement(&s.measurement);
        if !wanted || !cond.matches_tags(&s.tags) {
            continue;
        }
        s.points
            .retain(|(t, fields)| cond.matches_time(*t) && !fields.is_empty());
        if s.points.is_empty() {
            continue;
        }
        by_measurement
            .entry(s.measurement.clone())
            .or_default()
            .push(s);
    }
    let mut keys = key_sets(by_measurement.values().flatten());
    if let Some(known) = &stmt.known_keys {
        for (k, ty) in &known.fields {
            let code = match *ty {
                "float" => 1,
                "integer" => 2,
                "string" => 3,
                "boolean" => 4,
                _ => 9,
            };
            let e = keys.fields.entry(k.clone()).or_insert(code);
            *e = (*e).max(code);
        }
        keys.tags.extend(known.tags.iter().cloned());
    }
    let dims = group_keys(&stmt.group_by, &keys);
    let (cols, exprs) = expand_columns(&stmt.fields, &keys, &dims);
    let columns = column_names(stmt.time_alias.as_deref().unwrap_or("time"), &cols);
    let tag_columns: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == KeyKind::Tag)
        .map(|(i, _)| i + 1)
        .collect();
    // Each measurement's series, in the answer's order; SLIMIT and SOFFSET count each
    // measurement's series apart, as 1.x limits each measurement's tag sets.
    let mut measurements: Vec<Vec<Series>> = Vec::new();
    for (name, series) in by_measurement {
        let mut by_group: BTreeMap<GroupKey, Vec<SeriesRows>> = BTreeMap::new();
        for s in series {
            by_group
                .entry(group_of(&dims, &s.tags))
                .or_default()
                .push(s);
        }
        let mut groups: Vec<(GroupKey, Vec<SeriesRows>)> = by_group.into_iter().collect();
        let ids: Vec<Vec<u8>> = groups.iter().map(|(g, _)| tags_id(g)).collect();
        let limits = (stmt.slimit, stmt.soffset, stmt.picked.as_deref());
        let out = pick_series(&name, &ids, limits, |i| {
            let (group, mut series) = std::mem::take(&mut groups[i]);
            series.sort_by(|a, b| a.tags.cmp(&b.tags));
            let values = measurement_rows(stmt, &cols, &exprs, &series);
            (!values.is_empty()).then(|| Series {
                name: Some(String::from_utf8_lossy(&name).into_owned()),
                tags: tag_strings(group),
                columns: columns.clone(),
                values,
                tag_columns: tag_columns.clone(),
                ..Series::default()
            })
        });
        measurements.push(out);
    }
    let mut result = StatementResult::ok();
    result.series = in_answer_order(measurements, stmt.descending);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;
    use std::borrow::Cow;

    fn rows(
        m: &str,
        tags: &[(&str, &str)],
        points: &[(i64, &[(&str, FieldValue<'static>)])],
    ) -> SeriesRows {
        SeriesRows {
            measurement: m.as_bytes().to_vec(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            points: points
                .iter()
                .map(|(t, fs)| {
                    let fs = fs
                        .iter()
                        .map(|(k, v)| (k.as_bytes().into(), v.clone()))
                        .collect();
                    (*t, fs)
                })
                .collect(),
        }
    }

    fn stmt(q: &str) -> SelectStatement {
        match parse(q, 0) {
            Ok(v) => match v.into_iter().next() {
                Some(crate::query::Statement::Select(s)) => {
                    match crate::query::select::plan(&s, 0, &|_| false) {
                        Ok(crate::query::select::Plan::Raw { stmt, .. }) => *stmt,
                        other => panic!("{q}: {other:?}"),
                    }
                }
                other => panic!("{q}: {other:?}"),
            },
            Err(e) => panic!("{q}: {e}"),
        }
    }

    fn render(results: Vec<StatementResult>, time: TimeFormat) -> String {
        String::from_utf8_lossy(&render_results(results, time)).into_owned()
    }

    fn select_json(q: &str, data: Vec<SeriesRows>, epoch: Option<&str>) -> String {
        let r = select_result(&stmt(q), data);
        render(vec![r], TimeFormat::from_epoch_param(epoch))
    }

    fn s(v: &str) -> FieldValue<'static> {
        FieldValue::String(Cow::Owned(v.as_bytes().to_vec()))
    }

    const T0: i64 = 1_257_894_000_000_000_000; // 2009-11-10T23:00:00Z

    #[test]
    fn catalog_results() {
        assert_eq!(
            render(
                vec![StatementResult::databases(Vec::<String>::new())],
                TimeFormat::Rfc3339
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"]}]}]}"#
        );
        assert_eq!(
            render(
                vec![StatementResult::databases(["_internal", "db1"])],
                TimeFormat::Rfc3339
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"],["db1"]]}]}]}"#
        );
        let rps = [
            RetentionPolicyRow {
                name: "autogen".into(),
                duration_ns: 0,
                shard_group_duration_ns: 168 * 3_600_000_000_000,
                replica_n: 1,
                default: true,
            },
            RetentionPolicyRow {
                name: "1h".into(),
                duration_ns: 3_600_000_000_000,
                shard_group_duration_ns: 3_600_000_000_000,
                replica_n: 2,
                default: false,
            },
        ];
        assert_eq!(
            render(
                vec![StatementResult::retention_policies(&rps)],
                TimeFormat::Epoch(1)
            ),
            r#"{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true],["1h","1h0m0s","1h0m0s",2,false]]}]}]}"#
        );
        let results = vec![
            StatementResult::ok().with_warning(
                "deprecated use of 'CREATE DATABASE x' in a read only context, please use a POST request instead",
            ),
            StatementResult::error("database not found: x"),
            StatementResult::error("not executed"),
            StatementResult::ok(),
        ];
        assert_eq!(
            render(results, TimeFormat::Rfc3339),
            concat!(
                r#"{"results":[{"statement_id":0,"messages":[{"level":"warning","text":"deprecated use of 'CREATE DATABASE x' in a read only context, please use a POST request instead"}]},"#,
                r#"{"statement_id":1,"error":"database not found: x"},{"statement_id":2,"error":"not executed"},{"statement_id":3}]}"#
            )
        );
        assert_eq!(render(vec![], TimeFormat::Rfc3339), r#"{"results":[]}"#);
    }

    #[test]
    fn epoch_param() {
        assert_eq!(TimeFormat::from_epoch_param(None), TimeFormat::Rfc3339);
        assert_eq!(TimeFormat::from_epoch_param(Some("")), TimeFormat::Rfc3339);
        assert_eq!(
            TimeFormat::from_epoch_param(Some("ns")),
            TimeFormat::Epoch(1)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("n")),
            TimeFormat::Epoch(1)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("u")),
            TimeFormat::Epoch(1_000)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("ms")),
            TimeFormat::Epoch(1_000_000)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("s")),
            TimeFormat::Epoch(1_000_000_000)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("m")),
            TimeFormat::Epoch(60_000_000_000)
        );
        assert_eq!(
            TimeFormat::from_epoch_param(Some("h")),
            TimeFormat::Epoch(3_600_000_000_000)
        );
    }

    #[test]
    fn select_star_types_nulls_and_k_1() {
        let data = vec![
            rows(
                "cpu",
                &[("host", "b"), ("k", "tagk")],
                &[(
                    T0 + 1_500_000_000,
                    &[
                        ("k", FieldValue::Float(2.0)),
                        ("v", FieldValue::Integer(-3)),
                    ],
                )],
            ),
            rows(
                "cpu",
                &[("host", "a")],
                &[
                    (T0, &[("v", FieldValue::Integer(7)), ("s", s("a\"<b>"))]),
                    (
                        T0 + 1_500_000_000,
                        &[
                            ("u", FieldValue::Unsigned(18_446_744_073_709_551_615)),
                            ("b", FieldValue::Boolean(true)),
                        ],
                    ),
                ],
            ),
        ];
        let want_rfc = concat!(
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","b","host","k","k_1","s","u","v"],"values":["#,
            r#"["2009-11-10T23:00:00Z",null,"a",null,null,"a\"\u003cb\u003e",null,7],"#,
            r#"["2009-11-10T23:00:01.5Z",true,"a",null,null,null,18446744073709551615,null],"#,
            r#"["2009-11-10T23:00:01.5Z",null,"b",2,"tagk",null,null,-3]]}]}]}"#
        );
        assert_eq!(
            select_json("SELECT * FROM cpu", data.clone(), None),
            want_rfc
        );
        let want_ms = concat!(
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","b","host","k","k_1","s","u","v"],"values":["#,
            r#"[1257894000000,null,"a",null,null,"a\"\u003cb\u003e",null,7],"#,
            r#"[1257894001500,true,"a",null,null,null,18446744073709551615,null],"#,
            r#"[1257894001500,null,"b",2,"tagk",null,null,-3]]}]}]}"#
        );
        assert_eq!(
            select_json("SELECT * FROM cpu", data.clone(), Some("ms")),
            want_ms
        );
        let s_epoch = select_json("SELECT * FROM cpu", data.clone(), Some("s"));
        assert!(s_epoch.contains("[1257894001,true,"), "{s_epoch}");
        let ns = select_json("SELECT * FROM cpu", data.clone(), Some("ns"));
        assert!(ns.contains("[1257894001500000000,null,\"b\","), "{ns}");
        let h = select_json("SELECT * FROM cpu", data, Some("h"));
        assert!(h.contains("[349415,null,\"a\""), "{h}");
    }

    #[test]
    fn unsigned_field_sorts_after_a_tag_of_the_same_key() {
        // influxql sorts `*` by (name, DataType) and Unsigned (9) > Tag (7).
        let data = vec![rows(
            "m",
            &[("k", "t")],
            &[(1, &[("k", FieldValue::Unsigned(5))])],
        )];
        assert_eq!(
            select_json("SELECT * FROM m", data, Some("ns")),
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","k","k_1"],"values":[[1,"t",5]]}]}]}"#
        );
    }

    #[test]
    fn select_field_lists() {
        let data = vec![rows(
            "m",
            &[("host", "a")],
            &[
                (10, &[("f1", FieldValue::Float(0.5))]),
                (20, &[("f2", FieldValue::Float(1e-7))]),
            ],
        )];
        assert_eq!(
            select_json(
                r#"SELECT "f2", host, f1 AS x FROM m"#,
                data.clone(),
                Some("ns")
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","f2","host","x"],"values":[[10,null,"a",0.5],[20,1e-7,"a",null]]}]}]}"#
        );
        // Only f2's rows: a row needs one selected field with a value.
        assert_eq!(
            select_json("SELECT f2 FROM m", data.clone(), Some("ns")),
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","f2"],"values":[[20,1e-7]]}]}]}"#
        );
        // Nothing matches: no series at all; tags alone make no rows.
        assert_eq!(
            select_json("SELECT nope FROM m", data.clone(), None),
            r#"{"results":[{"statement_id":0}]}"#
        );
        assert_eq!(
            select_json("SELECT host FROM m", data.clone(), None),
            r#"{"results":[{"statement_id":0}]}"#
        );
        assert_eq!(
            select_json("SELECT *::tag, f1 FROM m", data.clone(), Some("ns")),
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","host","f1"],"values":[[10,"a",0.5]]}]}]}"#
        );
        assert_eq!(
            select_json("SELECT f1, f1, time AS t FROM m", data, Some("ns")),
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["t","f1","f1_1"],"values":[[10,0.5,0.5]]}]}]}"#
        );
    }

    #[test]
    fn select_filters_limit_and_measurements() {
        let data = vec![
            rows(
                "mem",
                &[("host", "a")],
                &[(5, &[("used", FieldValue::Integer(1))])],
            ),
            rows(
                "cpu",
                &[("host", "b")],
                &[
                    (1, &[("v", FieldValue::Float(1.0))]),
                    (2, &[("v", FieldValue::Float(2.0))]),
                    (3, &[("v", FieldValue::Float(3.0))]),
                ],
            ),
            rows(
                "cpu",
                &[("host", "a")],
                &[(2, &[("v", FieldValue::Float(20.0))])],
            ),
            rows("disk", &[], &[(1, &[("free", FieldValue::Integer(9))])]),
        ];
        // Tag and time filters applied here even if storage did not push them down.
        assert_eq!(
            select_json(
                "SELECT * FROM cpu WHERE host = 'b' AND time >= 2",
                data.clone(),
                Some("ns")
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","host","v"],"values":[[2,"b",2],[3,"b",3]]}]}]}"#
        );
        assert_eq!(
            select_json(
                "SELECT v FROM cpu WHERE host != 'b' AND time < 3",
                data.clone(),
                Some("ns")
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[2,20]]}]}]}"#
        );
        // Time ties ordered by series key (host=a before host=b); LIMIT per measurement.
        assert_eq!(
            select_json("SELECT v FROM cpu LIMIT 3", data.clone(), Some("ns")),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[1,1],[2,20],[2,2]]}]}]}"#
        );
        // Several measurements: name order, the union of columns in each.
        assert_eq!(
            select_json(
                "SELECT * FROM /^(cpu|mem)$/, disk WHERE time <= 2 LIMIT 1",
                data.clone(),
                Some("ns")
            ),
            concat!(
                r#"{"results":[{"statement_id":0,"series":["#,
                r#"{"name":"cpu","columns":["time","free","host","v"],"values":[[1,null,"b",1]]},"#,
                r#"{"name":"disk","columns":["time","free","host","v"],"values":[[1,9,null,null]]}]}]}"#
            )
        );
        // ORDER BY time DESC, OFFSET and LIMIT count output rows per series.
        assert_eq!(
            select_json(
                "SELECT v FROM cpu ORDER BY time DESC LIMIT 2 OFFSET 1",
                data.clone(),
                Some("ns")
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[2,20],[2,2]]}]}]}"#
        );
        assert_eq!(
            select_json(
                "SELECT v FROM cpu LIMIT 2 OFFSET 3",
                data.clone(),
                Some("ns")
            ),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[3,3]]}]}]}"#
        );
        assert_eq!(
            select_json("SELECT v FROM cpu OFFSET 4", data.clone(), Some("ns")),
            r#"{"results":[{"statement_id":0}]}"#
        );
        // A source that names no measurement in the data, and an empty time range.
        assert_eq!(
            select_json("SELECT * FROM nope", data.clone(), None),
            r#"{"results":[{"statement_id":0}]}"#
        );
        assert_eq!(
            select_json("SELECT * FROM cpu WHERE time > 3 AND time < 1", data, None),
            r#"{"results":[{"statement_id":0}]}"#
        );
    }

    proptest::proptest! {
        /// Whatever storage returns, the answer is valid JSON with one result.
        #[test]
        fn select_output_is_valid_json(
            series in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["cpu", "mem", "a<b"]),
                    proptest::collection::vec((proptest::sample::select(vec!["host", "k", "\u{0}"]), "\\PC{0,3}"), 0..3),
                    proptest::collection::vec(
                        (proptest::num::i64::ANY, proptest::collection::vec(
                            (proptest::sample::select(vec!["k", "v", "w"]), 0u8..5, proptest::num::f64::ANY, proptest::num::i64::ANY),
                            0..3,
                        )),
                        0..4,
                    ),
                ),
                0..4,
            ),
            q in proptest::sample::select(vec![
                "SELECT * FROM /./", "SELECT v, k::tag FROM cpu, mem ORDER BY time DESC LIMIT 2",
                "SELECT *::field FROM /./ WHERE host != '' AND time > 0 OFFSET 1",
            ]),
            epoch in proptest::sample::select(vec![None, Some("ms"), Some("h")]),
        ) {
            let data = series.into_iter().map(|(m, tags, points)| SeriesRows {
                measurement: m.as_bytes().to_vec(),
                tags: tags.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes())).collect(),
                points: points.into_iter().map(|(t, fs)| {
                    let fs = fs.into_iter().map(|(k, kind, f, i)| {
                        let v = match kind {
                            0 => FieldValue::Float(f),
                            1 => FieldValue::Integer(i),
                            2 => FieldValue::Unsigned(i.unsigned_abs()),
                            3 => FieldValue::String(Cow::Owned(f.to_string().into_bytes())),
                            _ => FieldValue::Boolean(i % 2 == 0),
                        };
                        (k.as_bytes().into(), v)
                    }).collect();
                    (t, fs)
                }).collect(),
            }).collect();
            let out = render_results(vec![select_result(&stmt(q), data)], TimeFormat::from_epoch_param(epoch));
            let v: serde_json::Value = serde_json::from_slice(&out).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(v["results"].as_array().map(Vec::len), Some(1));
        }
    }
}
