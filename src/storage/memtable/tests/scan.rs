//! `Memtable::scan`: duplicates merged (later write wins), time range, tag filter, and drops.

use super::{all, batch, key};
use crate::lineproto::FieldValue;
use crate::storage::memtable::Memtable;
use crate::storage::scan::{Condition, MeasurementMatch};
use std::borrow::Cow;

#[test]
fn same_series_and_time_merge_fields_later_wins() {
    let mut p = Memtable::new();
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
        (
            b"cpu,host=b",
            10,
            vec![
                (b"x", FieldValue::Integer(3)),
                (b"x", FieldValue::Integer(4)),
            ],
        ),
    ]);
    assert_eq!(p.apply("db", "autogen", &b).unwrap(), 4);
    let mut req = all("db", "autogen");
    req.measurements = MeasurementMatch::Name("cpu".into());
    let rows = p.scan(&req);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].tags, vec![(b"host".to_vec(), b"a".to_vec())]);
    assert_eq!(
        rows[0].points,
        vec![
            (5, vec![(key(b"x"), FieldValue::Integer(0))]),
            (
                10,
                vec![
                    (key(b"x"), FieldValue::Integer(2)),
                    (key(b"y"), FieldValue::Float(1.0))
                ]
            ),
        ]
    );
    assert_eq!(
        rows[1].points,
        vec![(10, vec![(key(b"x"), FieldValue::Integer(4))])]
    );
    assert_eq!(p.series_count(), 2);
    assert_eq!(p.point_count(), 4);
}

#[test]
fn time_range_tags_and_drop() {
    let mut p = Memtable::new();
    let b = batch(&[
        (b"m,h=a", 1, vec![(b"v", FieldValue::Boolean(true))]),
        (b"m,h=b", 2, vec![(b"v", FieldValue::Boolean(false))]),
        (
            b"n",
            2,
            vec![(b"s", FieldValue::String(Cow::Borrowed(b"x")))],
        ),
    ]);
    p.apply("db", "rp", &b).unwrap();
    let mut req = all("db", "rp");
    req.condition.time_min_ns = 2;
    req.condition.time_max_ns = 3;
    let rows = p.scan(&req);
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.points.len() == 1 && r.points[0].0 == 2));
    req.condition = Condition::default();
    req.condition.tags = crate::storage::scan::TagExpr::Eq {
        key: b"h".to_vec(),
        value: b"a".to_vec(),
        negate: false,
    };
    assert_eq!(p.scan(&req).len(), 1);
    assert_eq!(p.field_types().len(), 2);
    p.drop_database("db");
    assert!(p.scan(&all("db", "rp")).is_empty());
    assert_eq!(p.series_count(), 0);
}
