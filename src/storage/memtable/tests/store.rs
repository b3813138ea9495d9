//! The store and the apply path: points applied read back exactly (on a recycled arena too), and
//! series are interned once.

use super::{all, batch, TestPoint};
use crate::lineproto::FieldValue;
use crate::shard::batch::Batch;
use crate::shard::batch::NewPoint;
use crate::storage::memtable::Memtable;
use crate::storage::scan::PointFields;
use std::borrow::Cow;

/// Points that repeat an earlier series and the field keys of the point before (the
/// batch's `KEY_REF | SAME_SCHEMA` form, what the write path sends for TSBS rows), applied
/// to a memtable whose arena is a recycled one still full of other bytes: every value reads
/// back exactly, and nothing of the old memtable shows. Fails if a new chunk's record bytes
/// are not all written (the arena is not zeroed first) or if the repeated-point path
/// of the batch reader or of `append_raw` misplaces a value.
#[test]
fn repeated_points_on_a_recycled_arena_read_back_exactly() {
    // Strings and bools: `append_raw` walks each value's length.
    repeated_points_read_back(|key, t| {
        vec![
            (&b"i"[..], FieldValue::Integer(t * 3)),
            (b"b", FieldValue::Boolean(t % 2 == 0)),
            (b"f", FieldValue::Float(t as f64 / 4.0)),
            (
                b"s",
                FieldValue::String(Cow::Owned(format!("{key}{t}").into_bytes())),
            ),
        ]
    });
    // Only 8-byte values: `append_raw`'s fixed-size path.
    repeated_points_read_back(|key, t| {
        vec![
            (&b"u"[..], FieldValue::Unsigned(u64::MAX - t as u64)),
            (b"i", FieldValue::Integer(i64::MIN + t)),
            (
                b"f",
                FieldValue::Float(-(t as f64) / 4.0 - key.len() as f64),
            ),
        ]
    });
}

/// Applies 40 points of each of three series, each repeating the field keys of the point
/// before, to a recycled arena and checks that they read back exactly.
fn repeated_points_read_back(
    fields: impl Fn(&str, i64) -> Vec<(&'static [u8], FieldValue<'static>)>,
) {
    let mut first = Memtable::new();
    let mut old = Batch::default();
    for i in 0..300 {
        let key = format!("old,h={i}");
        old.begin_point(NewPoint::new(key.as_bytes(), b"old", i, 2));
        old.push_field(b"s", &FieldValue::String(Cow::Owned(vec![0xAB; 200])));
        old.push_field(b"i", &FieldValue::Integer(-1));
    }
    first.apply("db", "autogen", &old).unwrap();
    let mut second = first.take_for_next();
    second.recycle(first);

    let mut b = Batch::default();
    let token = crate::shard::batch::SchemaToken(1);
    for t in 0..40i64 {
        for key in ["m,h=a", "m,h=b", "m,h=c"] {
            let hash = crate::lineproto::series_hash(key.as_bytes());
            let f = fields(key, t);
            if b.begin_point(
                NewPoint::hashed(key.as_bytes(), hash, b"m", t, f.len() as u16).with_token(token),
            ) {
                f.iter().for_each(|(_, v)| b.push_value(v));
            } else {
                f.iter().for_each(|(k, v)| b.push_field(k, v));
            }
        }
    }
    assert_eq!(second.apply("db", "autogen", &b).unwrap(), 120);
    let rows = second.scan(&all("db", "autogen"));
    assert_eq!(rows.len(), 3, "only the new series");
    for (row, key) in rows.iter().zip(["m,h=a", "m,h=b", "m,h=c"]) {
        assert_eq!(row.measurement, b"m");
        let want: Vec<(i64, PointFields)> = (0..40i64)
            .map(|t| {
                let mut f: PointFields = fields(key, t)
                    .into_iter()
                    .map(|(k, v)| (k[..].into(), v))
                    .collect();
                f.sort_by(|a, b| a.0.cmp(&b.0));
                (t, f)
            })
            .collect();
        assert_eq!(row.points, want, "{key}");
    }
    assert_eq!(second.point_count(), 120);
}

#[test]
fn many_series_intern_once() {
    let mut p = Memtable::new();
    for round in 0..3 {
        let keys: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("cpu,id=s{i}").into_bytes())
            .collect();
        let pts: Vec<TestPoint<'_>> = keys
            .iter()
            .map(|k| (&k[..], round, vec![(&b"v"[..], FieldValue::Integer(round))]))
            .collect();
        p.apply("db", "rp", &batch(&pts)).unwrap();
    }
    assert_eq!(p.series_count(), 1000);
    let rows = p.scan(&all("db", "rp"));
    assert_eq!(rows.len(), 1000);
    assert!(rows.iter().all(|r| r.points.len() == 3));
}
