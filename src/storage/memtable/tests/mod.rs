//! Unit tests of the memtable: one file per part of the module (`store.rs`, `scan.rs`,
//! `seal.rs`, `delete.rs`), and here the helpers they share.

mod delete;
mod scan;
mod seal;
mod store;

use crate::lineproto::FieldValue;
use crate::shard::batch::Batch;
use crate::shard::batch::NewPoint;
use crate::storage::scan::{Condition, FieldKey, MeasurementMatch, ScanRequest};

/// `name` as a scanned field key.
fn key(name: &[u8]) -> FieldKey {
    name.into()
}

/// A point: series key, time, fields.
type TestPoint<'a> = (&'a [u8], i64, Vec<(&'a [u8], FieldValue<'static>)>);

/// A batch of `points` (measurement: the series key up to its first comma).
fn batch(points: &[TestPoint<'_>]) -> Batch {
    let mut b = Batch::default();
    for (key, ts, fields) in points {
        let m = key.split(|&c| c == b',').next().unwrap_or(key);
        b.begin_point(NewPoint::new(key, m, *ts, fields.len() as u16));
        for (k, v) in fields {
            b.push_field(k, v);
        }
    }
    b
}

/// A request for every measurement and time of (`db`, `rp`).
fn all(db: &str, rp: &str) -> ScanRequest {
    ScanRequest {
        db: db.into(),
        rp: rp.into(),
        measurements: MeasurementMatch::Regex(regex::bytes::Regex::new(".").unwrap()),
        condition: Condition::default(),
        fields: None,
        edge: None,
    }
}
