//! Unit tests of a partition: the WAL payload codec, and drops racing a seal on real files.

use super::payload::{self, Record};
use super::{merge_sources, scan_segment, seal, Partition};
use crate::lineproto::FieldValue;
use crate::shard::batch::{Batch, NewPoint};
use crate::storage::scan::{Condition, MeasurementMatch, ScanRequest};
use crate::storage::wal::FsyncPolicy;
use std::cell::RefCell;

fn batch(db_tag: &str, n: i64) -> Batch {
    let mut b = Batch::default();
    for t in 0..n {
        b.begin_point(NewPoint::new(
            format!("m,src={db_tag}").as_bytes(),
            b"m",
            t,
            1,
        ));
        b.push_field(b"v", &FieldValue::Integer(t));
    }
    b
}

fn all(db: &str) -> ScanRequest {
    ScanRequest {
        db: db.into(),
        rp: "autogen".into(),
        measurements: MeasurementMatch::Regex(regex::bytes::Regex::new(".").unwrap()),
        condition: Condition::default(),
        fields: None,
    }
}

/// Points of `db` a partition returns: memtables and segment files.
async fn points(parts: &RefCell<Vec<Partition>>, db: &str) -> usize {
    let (files, mut rows) = parts.borrow_mut()[0].scan_sources(&all(db));
    for f in files {
        let mut stats = crate::storage::segment::ReadStats::default();
        rows.extend(scan_segment(&f, &all(db), &mut stats).unwrap().0);
    }
    merge_sources(rows).iter().map(|s| s.points.len()).sum()
}

/// Each record decodes to what was encoded; the bytes of the points kind and of a drop are
/// the ones on disk.
#[test]
fn payload_round_trip() {
    let mut rec = payload::points_head("db", "rp");
    assert_eq!(rec, [3, 2, 0, b'd', b'b', 2, 0, b'r', b'p']);
    rec.extend_from_slice(b"batch");
    match payload::decode(&rec) {
        Some(Record::Points { db, rp, batch }) => {
            assert_eq!((db, rp, batch), ("db", "rp", &b"batch"[..]));
        }
        _ => panic!("points record not decoded"),
    }
    let rec = payload::drop_database("db");
    assert_eq!(rec, [1, 2, 0, b'd', b'b']);
    assert!(matches!(
        payload::decode(&rec),
        Some(Record::DropDatabase("db"))
    ));
    let rec = payload::drop_rp("db", "rp");
    assert_eq!(rec, [2, 2, 0, b'd', b'b', 2, 0, b'r', b'p']);
    assert!(matches!(
        payload::decode(&rec),
        Some(Record::DropRp("db", "rp"))
    ));
}

/// Kind 0 (the retired points layout), unknown kinds and payloads cut short are refused.
#[test]
fn payload_refuses_unknown_or_short() {
    let mut old = payload::points_head("db", "rp");
    old[0] = 0;
    assert!(payload::decode(&old).is_none());
    assert!(payload::decode(&[9, 0, 0]).is_none());
    assert!(payload::decode(&[]).is_none());
    let rec = payload::drop_rp("db", "rp");
    assert!(payload::decode(&rec[..rec.len() - 1]).is_none());
}

/// DROP DATABASE while a seal of that database's data is running: the sealing rows are
/// hidden at once, the seal's new files of that database are deleted when it finishes, the
/// other database's sealed data stays, and a restart (WAL replay + segment files) agrees.
#[test]
fn drop_database_during_a_seal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            let parts = std::rc::Rc::new(RefCell::new(vec![p]));
            for db in ["a", "b"] {
                let stored = parts.borrow_mut()[0]
                    .apply(db, "autogen", &batch(db, 100), None)
                    .unwrap();
                let (wal, lsn) = stored.durable.unwrap();
                wal.wait_durable(lsn).await.unwrap();
            }
            let p2 = parts.clone();
            let sealing = glommio::spawn_local(async move { seal(&p2, 0).await });
            let mut waited = 0;
            while parts.borrow()[0].sealing.is_none() {
                glommio::executor().yield_task_queue_now().await;
                waited += 1;
                assert!(waited < 1000, "the seal never started");
            }
            parts.borrow_mut()[0].drop_database("a");
            assert_eq!(points(&parts, "a").await, 0, "hidden while sealing");
            sealing.await.unwrap();
            assert!(parts.borrow()[0].sealing.is_none());
            assert_eq!(points(&parts, "a").await, 0);
            assert_eq!(points(&parts, "b").await, 100);
            let dbs: Vec<String> = parts.borrow()[0]
                .segments
                .iter()
                .map(|s| s.db.clone())
                .collect();
            assert_eq!(dbs, vec!["b".to_string()]);
            let on_disk = std::fs::read_dir(data.join("partitions/0/segments"))
                .unwrap()
                .count();
            assert_eq!(on_disk, 1, "the dropped database's new file was deleted");
            drop(parts);
            let p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            let parts = RefCell::new(vec![p]);
            assert_eq!(points(&parts, "a").await, 0, "after a restart");
            assert_eq!(points(&parts, "b").await, 100);
        })
        .unwrap()
        .join()
        .unwrap();
}
