//! Sealing: columns sorted and merged, the uniform path held to the general one, and the sealed
//! columns held to the scan.

use super::{all, batch};
use crate::lineproto::FieldValue;
use crate::shard::batch::Batch;
use crate::shard::batch::NewPoint;
use crate::storage::memtable::seal::{
    disjoint_runs, general_columns, uniform_columns, DISJOINT_RUNS_MAX,
};
use crate::storage::memtable::Memtable;
use crate::storage::scan::PointFields;
use crate::storage::segment::Values;
use std::borrow::Cow;
use std::collections::BTreeMap;

#[test]
fn seal_data_merges_and_sorts() {
    let mut p = Memtable::new();
    let b = batch(&[
        (b"m,h=b", 20, vec![(b"v", FieldValue::Integer(1))]),
        (
            b"m,h=a",
            20,
            vec![
                (b"v", FieldValue::Integer(2)),
                (b"s", FieldValue::String(Cow::Borrowed(b"x"))),
            ],
        ),
        (b"m,h=a", 10, vec![(b"v", FieldValue::Integer(3))]),
        (b"m,h=a", 20, vec![(b"v", FieldValue::Integer(4))]),
    ]);
    p.apply("db", "rp", &b).unwrap();
    let sealed = p.seal_data();
    assert_eq!(sealed.len(), 1);
    let series = &sealed[0].2;
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].key, b"m,h=a");
    assert_eq!(series[0].times, vec![10, 20]);
    let v = series[0].columns.iter().find(|c| c.name == b"v").unwrap();
    assert_eq!(v.values, Values::Integer(vec![3, 4]));
    let s = series[0].columns.iter().find(|c| c.name == b"s").unwrap();
    assert_eq!(s.valid, vec![false, true]);
}

#[test]
fn disjoint_runs_orders_runs_that_do_not_overlap() {
    let one_run: Vec<std::ops::Range<usize>> = std::iter::once(0..3).collect();
    assert_eq!(disjoint_runs(&[1, 2, 3]), Some(one_run));
    assert_eq!(disjoint_runs(&[5, 6, 1, 2]), Some(vec![2..4, 0..2]));
    assert_eq!(
        disjoint_runs(&[7, 8, 4, 5, 1]),
        Some(vec![4..5, 2..4, 0..2])
    );
    // Overlapping runs, a time twice, a time repeated in a row: the sort's business.
    assert_eq!(disjoint_runs(&[1, 5, 2, 6]), None);
    assert_eq!(disjoint_runs(&[1, 2, 2, 3]), None);
    assert_eq!(disjoint_runs(&[3, 4, 1, 3]), None);
    let many: Vec<i64> = (0..=DISJOINT_RUNS_MAX as i64).rev().collect();
    assert_eq!(disjoint_runs(&many), None);
    assert!(disjoint_runs(&many[1..]).is_some());
}

proptest::proptest! {
    /// `uniform_columns` (the column-at-a-time fill for series whose records all have the
    /// same 8-byte fields) gives exactly what the record-by-record `general_columns` gives:
    /// same times, same columns in the same order, same values and validity, with rows out
    /// of time order and rewrites of a time. A series with a point of another shape (a
    /// field missing, another order, a field twice) among others is left to the general path.
    #[test]
    fn uniform_columns_agree_with_the_general_path(
        rows in proptest::collection::vec((0i64..40, -1000i64..1000), 1..80),
        odd in proptest::option::of((0usize..80, 0u8..3)),
        arrange in 0u8..4,
        cut in 0usize..80,
    ) {
        let mut rows = rows;
        if arrange > 0 {
            rows.sort_by_key(|r| r.0);
        }
        if arrange > 1 {
            // Disjoint runs (`disjoint_runs`): the sorted times once each, rotated (two
            // runs) or cut in pieces put in reverse order (many runs).
            rows.dedup_by_key(|r| r.0);
            if arrange == 2 {
                let by = cut % rows.len();
                rows.rotate_left(by);
            } else {
                let pieces: Vec<Vec<(i64, i64)>> =
                    rows.chunks(1 + cut % 7).map(|c| c.to_vec()).collect();
                rows = pieces.into_iter().rev().flatten().collect();
            }
        }
        let mut p = Memtable::new();
        let mut b = Batch::default();
        let token = crate::shard::batch::SchemaToken(1);
        let hash = crate::lineproto::series_hash(b"m,h=a");
        let odd = odd.filter(|(i, _)| *i < rows.len());
        for (i, (t, v)) in rows.iter().enumerate() {
            let mut fs: Vec<(&[u8], FieldValue<'static>)> = vec![
                (b"i", FieldValue::Integer(*v)),
                (b"f", FieldValue::Float(*v as f64 / 4.0)),
                (b"u", FieldValue::Unsigned(v.unsigned_abs())),
            ];
            let mut tok = token;
            if let Some((at, kind)) = odd {
                if at == i {
                    tok = crate::shard::batch::SchemaToken::NONE;
                    match kind {
                        0 => { fs.pop(); }
                        1 => fs.swap(0, 1),
                        _ => fs.push((b"i", FieldValue::Integer(v + 1))),
                    }
                }
            }
            b.begin_point(NewPoint::hashed(b"m,h=a", hash, b"m", *t, fs.len() as u16).with_token(tok));
            for (k, v) in &fs {
                b.push_field(k, v);
            }
        }
        p.apply("db", "rp", &b).unwrap();
        let store = p.dbs.values().next().unwrap();
        let meta = store.series[0];
        let general = general_columns(store, meta);
        match uniform_columns(store, meta) {
            Some(uniform) => {
                // One record alone is of one shape, whatever it is.
                proptest::prop_assert!(odd.is_none() || rows.len() == 1);
                proptest::prop_assert_eq!(&uniform.0, &general.0);
                proptest::prop_assert_eq!(&uniform.1, &general.1);
            }
            None => proptest::prop_assert!(odd.is_some()),
        }
    }

    /// Sealing builds columns straight from the records; reading goes through `scan` and
    /// `merge_same_times`: both must agree on every series, time and field, whatever the
    /// order of writes, duplicates and missing fields (types fixed per field name, as the
    /// write path guarantees).
    #[test]
    fn sealed_columns_match_the_scan(
        points in proptest::collection::vec((0u8..4, 0i64..6, proptest::collection::vec((0u8..4, -3i64..3), 1..4)), 1..60),
        schema_tokens in proptest::bool::ANY,
    ) {
        let mut p = Memtable::new();
        p.apply("db", "rp", &mixed_batch(&points, schema_tokens)).unwrap();
        let scanned = p.scan(&all("db", "rp"));
        let from_scan: Vec<(String, Vec<(i64, PointFields)>)> = scanned
            .iter()
            .map(|r| (String::from_utf8(r.tags[0].1.clone()).unwrap(), r.points.clone()))
            .collect();
        let from_model = model_rows(&points);
        proptest::prop_assert_eq!(from_scan, from_model);
        let sealed = p.seal_data();
        proptest::prop_assert_eq!(sealed.len(), 1);
        let series = &sealed[0].2;
        proptest::prop_assert_eq!(series.len(), scanned.len());
        for (sd, rows) in series.iter().zip(&scanned) {
            proptest::prop_assert_eq!(&sd.times, &rows.points.iter().map(|p| p.0).collect::<Vec<_>>());
            for (row, (_, fields)) in rows.points.iter().enumerate() {
                let mut from_columns: PointFields = sd
                    .columns
                    .iter()
                    .filter_map(|c| c.get(row).map(|v| (c.name[..].into(), v.into_owned())))
                    .collect();
                from_columns.sort_by(|a, b| a.0.cmp(&b.0));
                proptest::prop_assert_eq!(&from_columns, fields);
            }
        }
    }
}

/// `sealed_columns_match_the_scan`'s points: (series `h` tag, time, [(field number, value)]).
type MixedPoint = (u8, i64, Vec<(u8, i64)>);

/// Field number `f`'s value from `v`: one type per field name, as the write path guarantees.
fn mixed_value(f: u8, v: i64) -> FieldValue<'static> {
    match f {
        0 => FieldValue::Integer(v),
        1 => FieldValue::Float(v as f64 / 2.0),
        2 => FieldValue::Boolean(v > 0),
        _ => FieldValue::String(Cow::Owned(format!("s{v}").into_bytes())),
    }
}

/// The batch of `points` (a field repeated in a point: its first value), with schema tokens
/// when `schema_tokens`.
pub(super) fn mixed_batch(points: &[MixedPoint], schema_tokens: bool) -> Batch {
    let mut b = Batch::default();
    for (s, t, fields) in points {
        let key = format!("m,h={s}");
        let mut fs: Vec<(Vec<u8>, FieldValue<'static>)> = Vec::new();
        for (f, v) in fields {
            let name = format!("f{f}").into_bytes();
            if fs.iter().any(|(n, _)| *n == name) {
                continue;
            }
            fs.push((name, mixed_value(*f, *v)));
        }
        // Same token only for points with the same field names, as the writer does.
        let token = crate::shard::batch::SchemaToken(if schema_tokens {
            1 + fs.iter().fold(0u64, |a, (n, _)| a * 8 + u64::from(n[1]))
        } else {
            0
        });
        let hash = crate::lineproto::series_hash(key.as_bytes());
        b.begin_point(
            NewPoint::hashed(key.as_bytes(), hash, b"m", *t, fs.len() as u16).with_token(token),
        );
        for (k, v) in &fs {
            b.push_field(k, v);
        }
    }
    b
}

/// The model of `points` read back: per series (by `h` tag), per time, the fields of every
/// write merged, later wins.
fn model_rows(points: &[MixedPoint]) -> Vec<(String, Vec<(i64, PointFields)>)> {
    type Row = BTreeMap<Vec<u8>, FieldValue<'static>>;
    let mut model: BTreeMap<String, BTreeMap<i64, Row>> = BTreeMap::new();
    for (s, t, fields) in points {
        let row = model
            .entry(format!("{s}"))
            .or_default()
            .entry(*t)
            .or_default();
        let mut seen = Vec::new();
        for (f, v) in fields {
            if seen.contains(f) {
                continue;
            }
            seen.push(*f);
            row.insert(format!("f{f}").into_bytes(), mixed_value(*f, *v));
        }
    }
    model
        .into_iter()
        .map(|(k, rows)| {
            let rows = rows
                .into_iter()
                .map(|(t, f)| (t, f.into_iter().map(|(n, v)| (n[..].into(), v)).collect()));
            (k, rows.collect())
        })
        .collect()
}
