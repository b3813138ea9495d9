//! Series admission during the memtable apply: the owner core's cardinality limits refuse new
//! series, and the memtable stores none of their points.

use super::Memtable;
use crate::config::Config;
use crate::lineproto::FieldValue;
use crate::shard::batch::{Batch, NewPoint};
use crate::shard::cardinality::{Cardinality, Refused};

fn batch(keys: &[&str]) -> Batch {
    let mut b = Batch::default();
    for k in keys {
        b.begin_point(NewPoint::new(k.as_bytes(), b"cpu", 1, 1));
        b.push_field(b"v", &FieldValue::Integer(1));
    }
    b
}

/// Applies `keys` (one point each) to `mem` with `c` admitting; the refused point numbers
/// and the refusal, as `Partition::apply` gets them.
fn apply(c: &mut Cardinality, mem: &mut Memtable, keys: &[&str]) -> (Vec<u32>, Refused) {
    let b = batch(keys);
    let mut refused = Refused::default();
    let mut numbers = Vec::new();
    let mut admit = |k: &[u8], h: u64, m: &[u8]| c.admit_series("db", k, h, m, &mut refused);
    mem.apply_admitting("db", "autogen", &b.buf, Some(&mut admit), &mut numbers)
        .unwrap();
    (numbers, refused)
}

#[test]
fn series_limit_refuses_new_series_only() {
    let mut cfg = Config::default();
    cfg.data.max_series_per_database = 2;
    cfg.data.max_values_per_tag = 0;
    let mut c = Cardinality::new(&cfg, 1);
    let mut mem = Memtable::new();
    let (numbers, r) = apply(&mut c, &mut mem, &["cpu,h=a", "cpu,h=b", "cpu,h=a"]);
    assert!(numbers.is_empty() && r.reason.is_none());
    assert_eq!(mem.point_count(), 3);
    // A new memtable (as after a seal): `a` is not in it but is known, so it is kept;
    // `c` and `d` are new and over the limit, and so is `c`'s later point.
    let mut mem = Memtable::new();
    let keys = ["cpu,h=c", "cpu,h=a", "cpu,h=d", "cpu,h=c"];
    let (numbers, r) = apply(&mut c, &mut mem, &keys);
    assert_eq!(numbers, vec![0, 2, 3]);
    assert_eq!(
        r.reason.as_deref(),
        Some("max-series-per-database limit exceeded: (2)")
    );
    assert_eq!(mem.series_count(), 1);
    assert_eq!(mem.point_count(), 1);
    let kept = batch(&keys).without(&numbers).unwrap();
    assert_eq!(
        kept.iter()
            .map(|p| p.unwrap().series_key.to_vec())
            .collect::<Vec<_>>(),
        vec![b"cpu,h=a".to_vec()]
    );
    c.forget_database("db");
    let (numbers, _) = apply(&mut c, &mut Memtable::new(), &["cpu,h=c"]);
    assert!(numbers.is_empty());
}
