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

proptest::proptest! {
    /// The columnar scan answers what the row scan answers (same series, times and values, the
    /// same time merged, later write wins), for any order of writes and any fields asked; and
    /// the newest edge of one row (read from a series' last chunk when it was written in time
    /// order) is the newest row of the whole scan. Times in several chunks, a range inside
    /// them.
    #[test]
    fn columns_and_newest_edge_match_the_row_scan(
        points in proptest::collection::vec((0u8..4, 0i64..40, proptest::collection::vec((0u8..4, -3i64..3), 1..4)), 1..300),
        asked in proptest::collection::vec(0u8..5, 1..4),
        in_order in proptest::bool::ANY,
        range in (0i64..40, 0i64..45),
    ) {
        let mut points = points;
        if in_order {
            points.sort_by_key(|p| p.1);
        }
        let mut p = Memtable::new();
        p.apply("db", "rp", &super::seal::mixed_batch(&points, false)).unwrap();
        let mut fields: Vec<Vec<u8>> = asked.iter().map(|f| format!("f{f}").into_bytes()).collect();
        fields.dedup();
        let mut req = all("db", "rp");
        req.fields = Some(fields.clone());
        req.condition.time_min_ns = range.0;
        req.condition.time_max_ns = range.0 + range.1;
        let rows = p.scan(&req);
        let from_columns: Vec<_> = p
            .scan_columns(&req)
            .into_iter()
            .map(|s| s.into_rows(&fields))
            .collect();
        proptest::prop_assert_eq!(&from_columns, &rows);

        let every = p.scan(&all("db", "rp"));
        let mut edge_req = all("db", "rp");
        edge_req.edge = Some(crate::storage::scan::Edge { n: 1, newest: true });
        let newest: Vec<_> = every
            .into_iter()
            .map(|mut s| {
                s.points.drain(..s.points.len() - 1);
                s
            })
            .collect();
        proptest::prop_assert_eq!(p.scan(&edge_req), newest);
    }
}
