//! `Memtable::delete`: the covered points go, in every retention policy of the database, and
//! what is left reads (and seals) as before.

use super::{all, batch};
use crate::lineproto::FieldValue;
use crate::storage::memtable::Memtable;
use crate::storage::scan::{Delete, MeasurementMatch, TagExpr};

fn times(p: &Memtable, db: &str, rp: &str) -> Vec<(Vec<u8>, Vec<i64>)> {
    p.scan(&all(db, rp))
        .into_iter()
        .map(|s| {
            let mut name = s.measurement.clone();
            for (k, v) in &s.tags {
                name.extend_from_slice(&[b",".as_slice(), k, b"=", v].concat());
            }
            (name, s.points.iter().map(|p| p.0).collect())
        })
        .collect()
}

fn filled() -> Memtable {
    let mut p = Memtable::new();
    let s = FieldValue::String(std::borrow::Cow::Borrowed(b"text"));
    let b = batch(&[
        (b"cpu,host=a", 1, vec![(b"v", FieldValue::Float(1.0))]),
        (b"cpu,host=a", 2, vec![(b"v", FieldValue::Float(2.0))]),
        (b"cpu,host=b", 1, vec![(b"v", FieldValue::Float(3.0))]),
        (b"cpu,host=b", 3, vec![(b"s", s)]),
        (b"mem,host=a", 2, vec![(b"f", FieldValue::Integer(4))]),
    ]);
    p.apply("db", "autogen", &b).unwrap();
    p.apply("db", "two", &b).unwrap();
    p.apply("other", "autogen", &b).unwrap();
    p
}

fn host(v: &str) -> TagExpr {
    TagExpr::Eq {
        key: b"host".to_vec(),
        value: v.as_bytes().to_vec(),
        negate: false,
    }
}

#[test]
fn delete_removes_covered_points_in_every_rp_of_the_database() {
    let mut p = filled();
    let gone = p.delete(&Delete {
        db: "db".into(),
        measurements: vec![MeasurementMatch::Name("cpu".into())],
        tags: host("a"),
        time_min_ns: 2,
        time_max_ns: i64::MAX,
    });
    assert!(gone.is_empty(), "cpu,host=a keeps its point at 1");
    for rp in ["autogen", "two"] {
        assert_eq!(
            times(&p, "db", rp),
            vec![
                (b"cpu,host=a".to_vec(), vec![1]),
                (b"cpu,host=b".to_vec(), vec![1, 3]),
                (b"mem,host=a".to_vec(), vec![2]),
            ]
        );
    }
    assert_eq!(
        times(&p, "other", "autogen").len(),
        3,
        "another database is untouched"
    );
    // The whole of a series: it leaves the index (and is reported gone once per store).
    let gone = p.delete(&Delete {
        db: "db".into(),
        measurements: Vec::new(),
        tags: host("b"),
        time_min_ns: i64::MIN,
        time_max_ns: i64::MAX,
    });
    assert_eq!(gone, vec![(b"cpu,host=b".to_vec(), b"cpu".to_vec()); 2]);
    assert_eq!(p.series_count(), 2 * 2 + 3);
    assert_eq!(p.point_count(), 2 * 2 + 5);
    // A write after the delete is new data; the string field survived the rebuild intact.
    let b = batch(&[(b"cpu,host=b", 9, vec![(b"v", FieldValue::Float(9.0))])]);
    p.apply("db", "autogen", &b).unwrap();
    assert_eq!(
        times(&p, "db", "autogen")[1],
        (b"cpu,host=b".to_vec(), vec![9])
    );
    let other = p.scan(&all("other", "autogen"));
    assert_eq!(
        other[1].points[1].1[0].1,
        FieldValue::String(b"text"[..].into())
    );
}

#[test]
fn delete_of_everything_empties_the_store() {
    let mut p = filled();
    let gone = p.delete(&Delete {
        db: "db".into(),
        measurements: vec![MeasurementMatch::Regex(
            regex::bytes::Regex::new("").unwrap(),
        )],
        tags: TagExpr::True,
        time_min_ns: i64::MIN,
        time_max_ns: i64::MAX,
    });
    assert_eq!(gone.len(), 6);
    assert!(times(&p, "db", "autogen").is_empty());
    assert_eq!(p.series_count(), 3);
    // A delete that covers nothing changes nothing.
    let gone = p.delete(&Delete {
        db: "other".into(),
        measurements: Vec::new(),
        tags: host("zz"),
        time_min_ns: i64::MIN,
        time_max_ns: i64::MAX,
    });
    assert!(gone.is_empty());
    assert_eq!(p.point_count(), 5);
}
