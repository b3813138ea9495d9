//! A segment file's rows as Parquet files: one per (measurement, UTC day), in InfluxDB 3's
//! column conventions.
//!
//! Columns, in this order: the tags (sorted by name), then `time`, then the fields (sorted by
//! name). `time` is a timestamp in UTC, not null, of `[export] time-unit`. Each tag is a
//! dictionary-encoded string (`Dictionary(Int32, Utf8)`), null where a series lacks it. Each
//! field is its own typed column (DOUBLE, INT64, UINT64, STRING, BOOLEAN), null where a point
//! lacks it. Every column carries `iox::column::type` metadata, as InfluxDB 3 writes it:
//! `iox::column_type::tag`, `iox::column_type::timestamp`, or
//! `iox::column_type::field::{float,integer,uinteger,string,boolean}`.
//!
//! Names, decided per file from its own tags and fields: the fields are named first, in order of
//! (name bytes, type), where the type names order as `boolean`, `float`, `integer`, `string`,
//! `unsigned`. A field keeps its name; a field stored with a second type in one file (a
//! measurement dropped and written again with another type within one seal)
//! keeps its name for the first of its types in that order and is `<name>_<type>` for each
//! other. A field column whose name is taken (`time`, or an earlier column) gets `_field`
//! appended until it is free. Then the tags: a tag whose name is taken (a field's column, or
//! `time`) gets `_tag` appended until it is free. A column not named as its tag or field
//! carries `lineshard::name` metadata with that name. Bytes that are not UTF-8 are replaced
//! (U+FFFD).
//!
//! Rows are sorted by the tag columns in column order (tag names' byte order; nulls first), then
//! by time: the rows of a series are contiguous and in time order. This is the series key's
//! order where every series has every tag; a series without a tag comes before those with it
//! (`cpu,host=a` before `cpu,az=1,host=b`, which the series key order puts first). With
//! `time-unit = "us"` the times are floored to the microsecond, so two points of a series within
//! one microsecond are two rows with the same time. `sorting_columns` says so; page statistics are
//! written; pages are zstd-compressed (level 1); tags use dictionaries, `time` and integer fields
//! `DELTA_BINARY_PACKED`, floats `BYTE_STREAM_SPLIT`.
//!
//! Each tag column's chunk is written from its runs by `tags.rs`, and the time column's and each
//! integer field's from its values by `ints.rs` (the same chunks parquet's Arrow writer gives,
//! without its work per value); the other fields by parquet's Arrow column writers.

use super::ints::{self, Level};
use super::layout;
use super::tags::{self, Run};
use crate::config::TimeUnit;
use crate::storage::segment::{ColumnData, SegmentReader, SeriesData, Values};
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, PrimitiveBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, TimeUnit as ArrowUnit};
use parquet::arrow::arrow_writer::{compute_leaves, get_column_writers};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::format::SortingColumn;
use parquet::schema::types::ColumnPath;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Metadata key of a column's role, as InfluxDB 3 names it.
pub const COLUMN_TYPE_KEY: &str = "iox::column::type";
/// Metadata key of a renamed column's tag or field name.
pub const NAME_KEY: &str = "lineshard::name";

/// One Parquet file of a segment: where it goes (relative path) and its bytes.
pub struct ExportFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub rows: usize,
}

/// One series' rows of one day.
struct Part<'a> {
    tags: Vec<(Vec<u8>, Vec<u8>)>,
    series: &'a SeriesData,
    lo: usize,
    hi: usize,
}

/// Turns a segment file's bytes into its Parquet files.
pub fn segment_to_parquet(
    bytes: &[u8],
    node: &str,
    partition: u32,
    seq: u64,
    unit: TimeUnit,
) -> Result<Vec<ExportFile>, String> {
    let reader = SegmentReader::open(bytes).map_err(|e| e.to_string())?;
    let mut series = Vec::with_capacity(reader.series_count());
    for i in 0..reader.series_count() {
        series.push(
            reader
                .read_series(i, i64::MIN, i64::MAX)
                .map_err(|e| e.to_string())?,
        );
    }
    // (measurement, day) -> the series' row ranges of that day.
    let mut groups: BTreeMap<(Vec<u8>, i64), Vec<Part<'_>>> = BTreeMap::new();
    for s in &series {
        let measurement = crate::shard::key::measurement(&s.key);
        let tags = crate::shard::key::parse_tags(&s.key);
        let mut lo = 0;
        while lo < s.times.len() {
            let day = layout::day_of(s.times[lo]);
            let hi = lo + s.times[lo..].partition_point(|&t| layout::day_of(t) == day);
            groups
                .entry((measurement.clone(), day))
                .or_default()
                .push(Part {
                    tags: tags.clone(),
                    series: s,
                    lo,
                    hi,
                });
            lo = hi;
        }
    }
    // Each file's buffer is sized up front from its share of the segment's bytes (the Parquet
    // file is usually smaller), so that it is not copied as it grows.
    let all_rows: usize = series.iter().map(|s| s.times.len()).sum::<usize>().max(1);
    let mut out = Vec::with_capacity(groups.len());
    for ((measurement, day), parts) in groups {
        let group_rows: usize = parts.iter().map(|p| p.hi - p.lo).sum();
        let size_hint = bytes.len().saturating_mul(group_rows) / all_rows + (64 << 10);
        let path = layout::file_path(
            reader.db(),
            reader.rp(),
            &measurement,
            day,
            node,
            partition,
            seq,
        );
        let (bytes, rows) = write_table(parts, unit, size_hint)?;
        out.push(ExportFile { path, bytes, rows });
    }
    Ok(out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn role(value: &str) -> HashMap<String, String> {
    HashMap::from([(COLUMN_TYPE_KEY.to_string(), value.to_string())])
}

/// The role metadata value and column suffix of a field type.
fn field_kind(v: &Values) -> (&'static str, &'static str, DataType) {
    match v {
        Values::Float(_) => ("iox::column_type::field::float", "float", DataType::Float64),
        Values::Integer(_) => (
            "iox::column_type::field::integer",
            "integer",
            DataType::Int64,
        ),
        Values::Unsigned(_) => (
            "iox::column_type::field::uinteger",
            "unsigned",
            DataType::UInt64,
        ),
        Values::String(_) => ("iox::column_type::field::string", "string", DataType::Utf8),
        Values::Boolean(_) => (
            "iox::column_type::field::boolean",
            "boolean",
            DataType::Boolean,
        ),
    }
}

/// Appends rows `lo..hi` of `v` (valid where `valid`) to a numeric column: as one slice when
/// every slot of the run is valid.
fn extend_primitive<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    v: &[T::Native],
    valid: &[bool],
    lo: usize,
    hi: usize,
) {
    match (v.get(lo..hi), valid.get(lo..hi)) {
        (Some(run), Some(ok)) if ok.iter().all(|&b| b) => b.append_slice(run),
        _ => (lo..hi).for_each(|i| {
            b.append_option(v.get(i).copied().filter(|_| valid.get(i) == Some(&true)))
        }),
    }
}

/// A field column being built, one slot per row.
enum Col {
    Float(Float64Builder),
    Integer(Int64Builder),
    Unsigned(UInt64Builder),
    String(StringBuilder),
    Boolean(BooleanBuilder),
}

impl Col {
    fn new(ty: &str, rows: usize) -> Col {
        match ty {
            "float" => Col::Float(Float64Builder::with_capacity(rows)),
            "integer" => Col::Integer(Int64Builder::with_capacity(rows)),
            "unsigned" => Col::Unsigned(UInt64Builder::with_capacity(rows)),
            "string" => Col::String(StringBuilder::with_capacity(rows, rows * 8)),
            _ => Col::Boolean(BooleanBuilder::with_capacity(rows)),
        }
    }

    /// Appends `n` nulls (rows of a series without this column).
    fn nulls(&mut self, n: usize) {
        match self {
            Col::Float(b) => b.append_nulls(n),
            Col::Integer(b) => b.append_nulls(n),
            Col::Unsigned(b) => b.append_nulls(n),
            Col::String(b) => (0..n).for_each(|_| b.append_null()),
            Col::Boolean(b) => (0..n).for_each(|_| b.append_null()),
        }
    }

    /// Appends rows `lo..hi` of `v` (valid where `valid`); `v` has this column's type. A run
    /// where every slot is valid is copied as a slice.
    fn extend(&mut self, v: &Values, valid: &[bool], lo: usize, hi: usize) {
        let ok = |i: usize| valid.get(i).copied().unwrap_or(false);
        match (self, v) {
            (Col::Float(b), Values::Float(v)) => extend_primitive(b, v, valid, lo, hi),
            (Col::Integer(b), Values::Integer(v)) => extend_primitive(b, v, valid, lo, hi),
            (Col::Unsigned(b), Values::Unsigned(v)) => extend_primitive(b, v, valid, lo, hi),
            (Col::Boolean(b), Values::Boolean(v)) => {
                (lo..hi).for_each(|i| b.append_option(v.get(i).copied().filter(|_| ok(i))))
            }
            (Col::String(b), Values::String(v)) => (lo..hi).for_each(|i| {
                b.append_option(
                    v.get(i)
                        .filter(|_| ok(i))
                        .map(|s| String::from_utf8_lossy(s)),
                )
            }),
            (col, _) => col.nulls(hi - lo),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Col::Float(mut b) => Arc::new(b.finish()),
            Col::Integer(mut b) => Arc::new(b.finish()),
            Col::Unsigned(mut b) => Arc::new(b.finish()),
            Col::String(mut b) => Arc::new(b.finish()),
            Col::Boolean(mut b) => Arc::new(b.finish()),
        }
    }
}

/// A time or field column's rows, as written.
enum Column {
    /// INT64 (time, integer fields): the values of the rows that have one, and the runs of
    /// defined and null rows (empty: all defined), written by `ints::write_chunk`.
    Ints {
        values: Vec<i64>,
        levels: Vec<Level>,
    },
    /// Any other field, written by parquet's Arrow column writer.
    Arrow(ArrayRef),
}

/// Appends a run of `rows` defined (or null) rows, merged with the last run when alike.
fn push_level(levels: &mut Vec<Level>, defined: bool, rows: usize) {
    match levels.last_mut() {
        Some(l) if l.defined == defined => l.rows += rows,
        _ if rows == 0 => {}
        _ => levels.push(Level { defined, rows }),
    }
}

/// Appends rows `lo..hi` of an integer column (`v`, valid where `valid`): the valid values to
/// `values`, the rows to `levels`. A run where every slot is valid is copied as a slice.
fn int_rows(
    values: &mut Vec<i64>,
    levels: &mut Vec<Level>,
    v: &[i64],
    valid: &[bool],
    lo: usize,
    hi: usize,
) {
    match (v.get(lo..hi), valid.get(lo..hi)) {
        // A fold, not `all`: without the early exit the compiler checks many flags at a time.
        (Some(run), Some(ok)) if ok.iter().fold(true, |a, &b| a & b) => {
            values.extend_from_slice(run);
            push_level(levels, true, hi - lo);
        }
        _ => (lo..hi).for_each(|i| match v.get(i).filter(|_| valid.get(i) == Some(&true)) {
            Some(&x) => {
                values.push(x);
                push_level(levels, true, 1);
            }
            None => push_level(levels, false, 1),
        }),
    }
}

/// Writes one (measurement, day)'s rows as a Parquet file; returns its bytes and row count.
fn write_table<'a>(
    mut parts: Vec<Part<'a>>,
    unit: TimeUnit,
    size_hint: usize,
) -> Result<(Vec<u8>, usize), String> {
    // Field columns: name -> (first type's column), plus later types as `<name>_<type>`.
    let mut field_names: Vec<(Vec<u8>, &'static str)> = Vec::new();
    for p in &parts {
        for c in &p.series.columns {
            let (_, ty, _) = field_kind(&c.values);
            if !field_names.iter().any(|(n, t)| *n == c.name && *t == ty) {
                field_names.push((c.name.clone(), ty));
            }
        }
    }
    field_names.sort();
    let mut tag_keys: Vec<Vec<u8>> = Vec::new();
    for p in &parts {
        for (k, _) in &p.tags {
            if !tag_keys.contains(k) {
                tag_keys.push(k.clone());
            }
        }
    }
    tag_keys.sort();
    // Series order: by the tag columns (nulls first), then the key; rows within a series are
    // in time order already.
    let tag_tuple = |p: &Part<'_>| -> Vec<Option<Vec<u8>>> {
        tag_keys
            .iter()
            .map(|k| {
                p.tags
                    .iter()
                    .find(|(tk, _)| tk == k)
                    .map(|(_, v)| v.clone())
            })
            .collect()
    };
    parts.sort_by_cached_key(|p| (tag_tuple(p), p.series.key.clone()));
    let rows: usize = parts.iter().map(|p| p.hi - p.lo).sum();

    // Column names.
    let mut taken: Vec<String> = vec!["time".to_string()];
    let mut fields_out: Vec<(String, &'static str, DataType, &'static str)> = Vec::new();
    for (name, ty) in &field_names {
        let base = text(name);
        let first_of_name =
            field_names.iter().find(|(n, _)| n == name).map(|(_, t)| *t) == Some(*ty);
        let mut col = if first_of_name {
            base.clone()
        } else {
            format!("{base}_{ty}")
        };
        while taken.contains(&col) {
            col.push_str("_field");
        }
        taken.push(col.clone());
        let v = match *ty {
            "float" => Values::Float(Vec::new()),
            "integer" => Values::Integer(Vec::new()),
            "unsigned" => Values::Unsigned(Vec::new()),
            "string" => Values::String(Vec::new()),
            _ => Values::Boolean(Vec::new()),
        };
        let (role_v, _, dt) = field_kind(&v);
        fields_out.push((col, role_v, dt, ty));
    }
    let mut tag_cols: Vec<String> = Vec::new();
    for k in &tag_keys {
        let mut col = text(k);
        while taken.contains(&col) {
            col.push_str("_tag");
        }
        taken.push(col.clone());
        tag_cols.push(col);
    }

    // Schema.
    let arrow_unit = match unit {
        TimeUnit::Ns => ArrowUnit::Nanosecond,
        TimeUnit::Us => ArrowUnit::Microsecond,
    };
    let mut schema_fields = Vec::new();
    for (col, k) in tag_cols.iter().zip(&tag_keys) {
        let mut meta = role("iox::column_type::tag");
        if *col != text(k) {
            meta.insert(NAME_KEY.to_string(), text(k));
        }
        let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        schema_fields.push(Field::new(col, dt, true).with_metadata(meta));
    }
    schema_fields.push(
        Field::new(
            "time",
            DataType::Timestamp(arrow_unit, Some("UTC".into())),
            false,
        )
        .with_metadata(role("iox::column_type::timestamp")),
    );
    for ((col, role_v, dt, _), (name, _)) in fields_out.iter().zip(&field_names) {
        let mut meta = role(role_v);
        if *col != text(name) {
            meta.insert(NAME_KEY.to_string(), text(name));
        }
        schema_fields.push(Field::new(col, dt.clone(), true).with_metadata(meta));
    }
    let schema = Arc::new(Schema::new(schema_fields));

    // Tag columns: each as runs of dictionary ids, looked up once per series.
    let mut tags: Vec<(Vec<String>, Vec<Run>)> = Vec::with_capacity(tag_keys.len());
    for k in &tag_keys {
        let mut index: HashMap<&[u8], u32> = HashMap::new();
        let mut values: Vec<String> = Vec::new();
        let mut runs: Vec<Run> = Vec::new();
        for p in &parts {
            let rows = p.hi - p.lo;
            let id = p.tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| {
                let next = values.len() as u32;
                *index.entry(v.as_slice()).or_insert_with(|| {
                    values.push(text(v));
                    next
                })
            });
            match runs.last_mut() {
                Some(r) if r.id == id => r.rows += rows,
                _ => runs.push(Run { id, rows }),
            }
        }
        tags.push((values, runs));
    }
    // The time column and the integer fields as values and runs of defined rows (written by
    // `ints::write_chunk`); the other fields as Arrow arrays.
    let mut columns: Vec<Column> = Vec::with_capacity(schema.fields().len() - tags.len());
    let mut times = Vec::with_capacity(rows);
    for p in &parts {
        times.extend_from_slice(&p.series.times[p.lo..p.hi]);
    }
    if unit == TimeUnit::Us {
        times.iter_mut().for_each(|t| *t = t.div_euclid(1000));
    }
    columns.push(Column::Ints {
        values: times,
        levels: Vec::new(),
    });
    for (name, ty) in &field_names {
        let found = |p: &Part<'a>| -> Option<&'a ColumnData> {
            p.series
                .columns
                .iter()
                .find(|c| c.name == *name && field_kind(&c.values).1 == *ty)
        };
        if *ty == "integer" {
            let mut values = Vec::with_capacity(rows);
            let mut levels: Vec<Level> = Vec::new();
            for p in &parts {
                match found(p).map(|c| (&c.values, &c.valid)) {
                    Some((Values::Integer(v), valid)) => {
                        int_rows(&mut values, &mut levels, v, valid, p.lo, p.hi)
                    }
                    _ => push_level(&mut levels, false, p.hi - p.lo),
                }
            }
            columns.push(Column::Ints { values, levels });
            continue;
        }
        let mut col = Col::new(ty, rows);
        for p in &parts {
            match found(p) {
                Some(c) => col.extend(&c.values, &c.valid, p.lo, p.hi),
                None => col.nulls(p.hi - p.lo),
            }
        }
        columns.push(Column::Arrow(col.finish()));
    }
    // Writer properties.
    let time_idx = tag_keys.len();
    let mut sorting: Vec<SortingColumn> = (0..=time_idx)
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    sorting.truncate(time_idx + 1);
    // Level 1: parquet's zstd sets up a new context for each data page, and level 3's tables
    // (cleared each time) and matching cost more instructions than the rest of the field
    // columns' writing, for about 1% more bytes.
    let zstd = ZstdLevel::try_new(1).map_err(|e| e.to_string())?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_max_row_group_size(1 << 20)
        .set_created_by(format!("lineshard {}", env!("CARGO_PKG_VERSION")));
    let plain = |props: parquet::file::properties::WriterPropertiesBuilder, col: &str, enc| {
        props
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_encoding(ColumnPath::from(col), enc)
    };
    props = plain(props, "time", Encoding::DELTA_BINARY_PACKED);
    for (col, _, _, ty) in &fields_out {
        props = match *ty {
            "integer" | "unsigned" => plain(props, col, Encoding::DELTA_BINARY_PACKED),
            "float" => plain(props, col, Encoding::BYTE_STREAM_SPLIT),
            _ => props,
        };
    }
    let buf = write_parquet(&schema, &tags, &columns, props.build(), size_hint)?;
    Ok((buf, rows))
}

/// Writes a Parquet file of `schema`: its first `tags.len()` columns are the tag columns
/// (each its dictionary values and runs, written by `tags::write_chunk`), the others are
/// `arrays` (written by parquet's Arrow column writers). Row groups hold at most
/// `props.max_row_group_size()` rows, as `ArrowWriter` cuts them. `size_hint`: the bytes to
/// reserve for the file.
fn write_parquet(
    schema: &Arc<Schema>,
    tags: &[(Vec<String>, Vec<Run>)],
    columns: &[Column],
    mut props: WriterProperties,
    size_hint: usize,
) -> Result<Vec<u8>, String> {
    let err = |e: parquet::errors::ParquetError| e.to_string();
    let rows = tags
        .first()
        .map(|(_, runs)| runs.iter().map(|r| r.rows).sum())
        .or_else(|| {
            columns.first().map(|c| match c {
                Column::Ints { values, levels } if levels.is_empty() => values.len(),
                Column::Ints { levels, .. } => levels.iter().map(|l| l.rows).sum(),
                Column::Arrow(a) => a.len(),
            })
        })
        .unwrap_or(0);
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(schema)
        .map_err(err)?;
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    let props = Arc::new(props);
    // One zstd context for the pages of the columns written here (tags, INT64), at their level.
    let level = match props.compression(parquet_schema.column(0).path()) {
        Compression::ZSTD(l) => l.compression_level(),
        _ => 0,
    };
    let mut zstd = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(size_hint);
    let mut file =
        SerializedFileWriter::new(&mut buf, parquet_schema.root_schema_ptr(), props.clone())
            .map_err(err)?;
    let group_rows = props.max_row_group_size().max(1);
    let mut start = 0;
    while start < rows {
        let len = (rows - start).min(group_rows);
        let mut group = file.next_row_group().map_err(err)?;
        for (i, (values, runs)) in tags.iter().enumerate() {
            let chunk = tags::write_chunk(
                &parquet_schema.column(i),
                &props,
                values,
                &slice_runs(runs, start, len),
                props.data_page_row_count_limit(),
                &mut zstd,
            )?;
            group
                .append_column(&chunk.bytes, chunk.close)
                .map_err(err)?;
        }
        let writers = get_column_writers(&parquet_schema, &props, schema).map_err(err)?;
        let fields = schema.fields().iter().skip(tags.len());
        let others = writers
            .into_iter()
            .skip(tags.len())
            .zip(fields)
            .zip(columns);
        for (i, ((mut w, field), column)) in others.enumerate() {
            let array = match column {
                Column::Arrow(array) => array,
                Column::Ints { values, levels } => {
                    let (values, levels) = slice_ints(values, levels, start, len);
                    let chunk = ints::write_chunk(
                        &parquet_schema.column(tags.len() + i),
                        &props,
                        values,
                        &levels,
                        props.data_page_row_count_limit(),
                        &mut zstd,
                    )?;
                    group
                        .append_column(&chunk.bytes, chunk.close)
                        .map_err(err)?;
                    continue;
                }
            };
            for leaf in compute_leaves(field, &array.slice(start, len)).map_err(err)? {
                w.write(&leaf).map_err(err)?;
            }
            w.close()
                .map_err(err)?
                .append_to_row_group(&mut group)
                .map_err(err)?;
        }
        group.close().map_err(err)?;
        start += len;
    }
    file.close().map_err(err)?;
    Ok(buf)
}

/// The values and level runs of rows `start..start + len` of an INT64 column.
fn slice_ints<'v>(
    values: &'v [i64],
    levels: &[Level],
    start: usize,
    len: usize,
) -> (&'v [i64], Vec<Level>) {
    if levels.is_empty() {
        let end = (start + len).min(values.len());
        return (&values[start.min(end)..end], Vec::new());
    }
    let (mut row, mut first_value, mut out) = (0, 0, Vec::new());
    let mut count = 0;
    for l in levels {
        let lo = row.max(start);
        let hi = (row + l.rows).min(start + len);
        if l.defined {
            first_value += l.rows.min(start.saturating_sub(row));
        }
        if lo < hi {
            out.push(Level {
                defined: l.defined,
                rows: hi - lo,
            });
            if l.defined {
                count += hi - lo;
            }
        }
        row += l.rows;
    }
    let first = first_value.min(values.len());
    (&values[first..(first + count).min(values.len())], out)
}

/// The runs of rows `start..start + len` of `runs`.
fn slice_runs(runs: &[Run], start: usize, len: usize) -> Vec<Run> {
    let mut out = Vec::new();
    let (mut at, end) = (0, start + len);
    for r in runs {
        let (lo, hi) = (at.max(start), (at + r.rows).min(end));
        if lo < hi {
            out.push(Run {
                id: r.id,
                rows: hi - lo,
            });
        }
        at += r.rows;
        if at >= end {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::segment::encode_segment;
    use arrow_array::TimestampNanosecondArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn series(key: &str, times: Vec<i64>, columns: Vec<(&str, Values)>) -> SeriesData {
        let n = times.len();
        SeriesData {
            key: key.as_bytes().to_vec(),
            measurement: key.split(',').next().unwrap().as_bytes().to_vec(),
            times,
            columns: columns
                .into_iter()
                .map(|(name, values)| ColumnData {
                    name: name.as_bytes().to_vec(),
                    values,
                    valid: vec![true; n],
                })
                .collect(),
        }
    }

    /// The naming rule (module doc) and the row order, read back from the Parquet file.
    #[test]
    fn columns_are_named_and_rows_ordered_as_documented() {
        let seg = encode_segment(
            "db",
            "autogen",
            &[
                series(
                    "m,az=1,host=b",
                    vec![5],
                    vec![
                        ("x", Values::Integer(vec![1])),
                        ("time", Values::Boolean(vec![true])),
                    ],
                ),
                series(
                    "m,host=a",
                    vec![7, 9],
                    vec![
                        ("x", Values::Float(vec![1.0, 2.0])),
                        ("x_integer", Values::Float(vec![3.0, 4.0])),
                        ("host", Values::String(vec![b"f".to_vec(), b"g".to_vec()])),
                    ],
                ),
            ],
        );
        let files = segment_to_parquet(&seg, "n", 0, 1, TimeUnit::Ns).unwrap();
        assert_eq!(files.len(), 1);
        let r =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(files[0].bytes.clone()))
                .unwrap();
        let schema = r.schema().clone();
        let cols: Vec<(&str, Option<&str>, &str)> = schema
            .fields()
            .iter()
            .map(|f| {
                let m = f.metadata();
                (
                    f.name().as_str(),
                    m.get(NAME_KEY).map(String::as_str),
                    m[COLUMN_TYPE_KEY].as_str(),
                )
            })
            .collect();
        assert_eq!(
            cols,
            [
                ("az", None, "iox::column_type::tag"),
                ("host_tag", Some("host"), "iox::column_type::tag"),
                ("time", None, "iox::column_type::timestamp"),
                ("host", None, "iox::column_type::field::string"),
                (
                    "time_field",
                    Some("time"),
                    "iox::column_type::field::boolean"
                ),
                ("x", None, "iox::column_type::field::float"),
                ("x_integer", Some("x"), "iox::column_type::field::integer"),
                (
                    "x_integer_field",
                    Some("x_integer"),
                    "iox::column_type::field::float"
                ),
            ]
        );
        // `m,host=a` (no `az`: null, first) before `m,az=1,host=b`, unlike the key order.
        let batch = r.build().unwrap().next().unwrap().unwrap();
        let time = batch
            .column(2)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        assert_eq!(time.values().to_vec(), [7, 9, 5]);
        assert_eq!(batch.column(0).null_count(), 2);
    }

    /// The rows of a tag column read back from `file` (Arrow: a dictionary of strings).
    fn tag_rows(file: &[u8]) -> Vec<Option<String>> {
        use arrow_array::types::Int32Type;
        use arrow_array::{Array, ArrayAccessor, DictionaryArray, StringArray};
        let r = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file.to_vec()))
            .unwrap()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for batch in r {
            let batch = batch.unwrap();
            let dict = batch
                .column(0)
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .unwrap();
            let values = dict.downcast_dict::<StringArray>().unwrap();
            out.extend(
                (0..dict.len()).map(|i| dict.is_valid(i).then(|| values.value(i).to_string())),
            );
        }
        out
    }

    /// Asserts that two files of two row groups hold the same metadata for their first `columns`
    /// column chunks, as parquet's own writer gives them: value counts, compression, encodings,
    /// statistics, level histograms, unencoded bytes, whether a dictionary page is present, the
    /// column index and the offset index's page rows.
    fn assert_same_chunk_metadata(ours: &[u8], theirs: &[u8], columns: usize, dictionary: bool) {
        use parquet::file::metadata::ParquetMetaDataReader;
        use parquet::file::page_index::offset_index::OffsetIndexMetaData;
        let meta = |file: &[u8]| {
            ParquetMetaDataReader::new()
                .with_page_indexes(true)
                .parse_and_finish(&bytes::Bytes::from(file.to_vec()))
                .unwrap()
        };
        let (a, b) = (meta(ours), meta(theirs));
        assert_eq!(a.num_row_groups(), 2);
        assert_eq!(a.num_row_groups(), b.num_row_groups());
        assert_eq!(
            a.file_metadata().key_value_metadata(),
            b.file_metadata().key_value_metadata()
        );
        let first_rows = |o: &OffsetIndexMetaData| {
            o.page_locations()
                .iter()
                .map(|p| p.first_row_index)
                .collect::<Vec<_>>()
        };
        for g in 0..a.num_row_groups() {
            assert_eq!(a.row_group(g).num_rows(), b.row_group(g).num_rows());
            for c in 0..columns {
                let at = format!("group {g} column {c}");
                let (x, y) = (a.row_group(g).column(c), b.row_group(g).column(c));
                assert_eq!(x.num_values(), y.num_values(), "{at}");
                assert_eq!(x.compression(), y.compression(), "{at}");
                assert_eq!(x.encodings(), y.encodings(), "{at}");
                assert_eq!(x.statistics(), y.statistics(), "{at}");
                assert_eq!(
                    x.unencoded_byte_array_data_bytes(),
                    y.unencoded_byte_array_data_bytes(),
                    "{at}"
                );
                assert_eq!(
                    x.definition_level_histogram(),
                    y.definition_level_histogram(),
                    "{at}"
                );
                assert_eq!(
                    x.repetition_level_histogram(),
                    y.repetition_level_histogram(),
                    "{at}"
                );
                assert_eq!(x.dictionary_page_offset().is_some(), dictionary, "{at}");
                assert_eq!(
                    a.column_index().unwrap()[g][c],
                    b.column_index().unwrap()[g][c],
                    "{at}"
                );
                let (ox, oy) = (
                    &a.offset_index().unwrap()[g][c],
                    &b.offset_index().unwrap()[g][c],
                );
                assert_eq!(first_rows(ox), first_rows(oy), "{at}");
                assert_eq!(
                    ox.unencoded_byte_array_data_bytes(),
                    oy.unencoded_byte_array_data_bytes(),
                    "{at}"
                );
            }
        }
    }

    /// A page of a column as its reader sees it: kind, encoding, value count, header
    /// statistics, and its bytes where `keep_bytes` says so for its kind.
    type PageSummary = (
        parquet::basic::PageType,
        Encoding,
        u32,
        Option<parquet::file::statistics::Statistics>,
        Option<Vec<u8>>,
    );

    /// The pages of column `c` of every row group of `file`, in order.
    fn page_summaries(
        file: &[u8],
        c: usize,
        keep_bytes: impl Fn(parquet::basic::PageType) -> bool,
    ) -> Vec<PageSummary> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let r = SerializedFileReader::new(bytes::Bytes::from(file.to_vec())).unwrap();
        let mut out = Vec::new();
        for g in 0..r.num_row_groups() {
            let pages = r
                .get_row_group(g)
                .unwrap()
                .get_column_page_reader(c)
                .unwrap();
            for p in pages {
                let p = p.unwrap();
                let bytes = keep_bytes(p.page_type()).then(|| p.buffer().to_vec());
                out.push((
                    p.page_type(),
                    p.encoding(),
                    p.num_values(),
                    p.statistics().cloned(),
                    bytes,
                ));
            }
        }
        out
    }

    /// A required timestamp column and an optional INT64 column (runs of nulls, an all-null
    /// page, negative and overflowing deltas) in two row groups, written by
    /// `ints::write_chunk`, hold the same rows, pages (the required column's byte for byte),
    /// page statistics, column and offset index and chunk metadata as parquet's Arrow writer
    /// gives them with `DELTA_BINARY_PACKED`.
    #[test]
    fn int_chunks_match_parquets_own_writer() {
        use arrow_array::{Int64Array, RecordBatch};
        use parquet::arrow::ArrowWriter;

        let rows = 13_000usize;
        let times: Vec<i64> = (0..rows as i64)
            .map(|i| 1_451_606_400_000_000_000 + i * 10_000_000_000 + (i * 7919) % 1000 - 500)
            .collect();
        let v: Vec<Option<i64>> = (0..rows as i64)
            .map(|i| match i {
                0..=2999 => None,
                3000..=3999 => Some(i64::MAX - i),
                4000..=4099 => Some(i64::MIN + i),
                4100..=6143 => None,
                _ if i % 5000 < 3 => None,
                _ => Some((i * 2_654_435_761) % 100_000 - 50_000),
            })
            .collect();
        let mut values = Vec::new();
        let mut levels = Vec::new();
        for x in &v {
            match x {
                Some(x) => {
                    values.push(*x);
                    push_level(&mut levels, true, 1);
                }
                None => push_level(&mut levels, false, 1),
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(ArrowUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("v", DataType::Int64, true),
        ]));
        let props = || {
            let delta = |b: parquet::file::properties::WriterPropertiesBuilder, c: &str| {
                b.set_column_dictionary_enabled(ColumnPath::from(c), false)
                    .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED)
            };
            delta(
                delta(
                    WriterProperties::builder()
                        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
                        .set_statistics_enabled(EnabledStatistics::Page)
                        .set_data_page_row_count_limit(2048)
                        .set_max_row_group_size(8192),
                    "time",
                ),
                "v",
            )
            .build()
        };
        let ours = write_parquet(
            &schema,
            &[],
            &[
                Column::Ints {
                    values: times.clone(),
                    levels: Vec::new(),
                },
                Column::Ints { values, levels },
            ],
            props(),
            0,
        )
        .unwrap();
        let mut theirs = Vec::new();
        let mut w = ArrowWriter::try_new(&mut theirs, schema.clone(), Some(props())).unwrap();
        let t: ArrayRef =
            Arc::new(TimestampNanosecondArray::from(times.clone()).with_timezone("UTC"));
        let n: ArrayRef = Arc::new(Int64Array::from(v.clone()));
        w.write(&RecordBatch::try_new(schema.clone(), vec![t, n]).unwrap())
            .unwrap();
        w.close().unwrap();

        // The rows.
        let read = |file: &[u8]| {
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                bytes::Bytes::from(file.to_vec()),
            )
            .unwrap()
            .build()
            .unwrap();
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            for b in r {
                let b = b.unwrap();
                let t = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .unwrap();
                let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                ts.extend(t.values().iter().copied());
                vs.extend(n.iter());
            }
            (ts, vs)
        };
        assert_eq!(read(&ours), (times.clone(), v.clone()));
        assert_eq!(read(&theirs), (times, v));

        assert_same_chunk_metadata(&ours, &theirs, 2, false);
        // Pages: kinds, encodings, value counts, header statistics; the time column's bytes.
        let pages = |file: &[u8], c: usize| page_summaries(file, c, |_| c == 0);
        for c in 0..2 {
            let (pa, pb) = (pages(&ours, c), pages(&theirs, c));
            assert_eq!(pa.len(), 4 + 3);
            assert_eq!(pa, pb, "column {c}");
        }
    }

    /// A tag column with runs, nulls, multi-byte values longer than the column index's 64-byte
    /// bound and two row groups, written by `tags::write_chunk`, holds the same rows, pages,
    /// page statistics, column and offset index and chunk metadata as parquet's Arrow writer
    /// gives the same column as a dictionary array (only the data pages' bytes differ: runs
    /// against parquet's bit-packing); pyarrow reads the rows back.
    #[test]
    fn tag_chunks_match_parquets_own_writer() {
        use arrow_array::types::Int32Type;
        use arrow_array::{DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;

        let long_a = format!("{}é", "x".repeat(63)); // é crosses byte 64
        let long_b = format!("{}ÿz", "y".repeat(62)); // ÿ+1 is two bytes too: max rounds it up
        let values: Vec<String> = ["web", "db", long_a.as_str(), long_b.as_str(), "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let spec: &[(Option<u32>, usize)] = &[
            (None, 3000),
            (Some(0), 1500),
            (Some(1), 5000),
            (None, 10),
            (Some(0), 700),
            (Some(2), 2500),
            (Some(4), 1),
            (Some(3), 4000),
            (None, 2048),
            (Some(4), 9),
        ];
        let runs: Vec<Run> = spec.iter().map(|&(id, rows)| Run { id, rows }).collect();
        let rows: usize = spec.iter().map(|r| r.1).sum();
        let keys: Int32Array = spec
            .iter()
            .flat_map(|&(id, n)| std::iter::repeat(id.map(|i| i as i32)).take(n))
            .collect();
        let dict = DictionaryArray::<Int32Type>::try_new(
            keys,
            Arc::new(StringArray::from(values.clone())),
        )
        .unwrap();
        let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", dt, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let props = || {
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_data_page_row_count_limit(2048)
                .set_max_row_group_size(12288)
                .build()
        };
        let ours = write_parquet(
            &schema,
            &[(values.clone(), runs)],
            &[Column::Arrow(n.clone())],
            props(),
            0,
        )
        .unwrap();
        let mut theirs = Vec::new();
        let mut w = ArrowWriter::try_new(&mut theirs, schema.clone(), Some(props())).unwrap();
        w.write(&RecordBatch::try_new(schema.clone(), vec![Arc::new(dict), n]).unwrap())
            .unwrap();
        w.close().unwrap();

        let expected: Vec<Option<String>> = spec
            .iter()
            .flat_map(|&(id, n)| std::iter::repeat(id.map(|i| values[i as usize].clone())).take(n))
            .collect();
        assert_eq!(tag_rows(&theirs), expected);
        assert_eq!(tag_rows(&ours), expected);

        // Chunk metadata, column index and offset index.
        assert_same_chunk_metadata(&ours, &theirs, 1, true);
        // Pages: kinds, encodings, value counts, header statistics; the dictionary pages equal.
        let pages = |file: &[u8]| {
            page_summaries(file, 0, |t| t == parquet::basic::PageType::DICTIONARY_PAGE)
        };
        let (pa, pb) = (pages(&ours), pages(&theirs));
        assert_eq!(pa.len(), 2 + 6 + 4);
        assert_eq!(pa, pb);

        // pyarrow reads the same rows.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        std::fs::write(&path, &ours).unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import json, sys, pyarrow.parquet as pq\n\
                 t = pq.read_table(sys.argv[1])\n\
                 print(str(t.schema.field('host').type))\n\
                 print(json.dumps(t.column('host').to_pylist()))",
            ])
            .arg(&path)
            .output()
            .expect("python3 (scripts/install-test-deps.sh installs pyarrow)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (ty, rows_json) = text.split_once('\n').unwrap();
        assert_eq!(ty, "dictionary<values=string, indices=int32, ordered=0>");
        let got: Vec<Option<String>> = serde_json::from_str(rows_json.trim()).unwrap();
        assert_eq!(got, expected);
    }
}
