//! Unit tests of a partition: the WAL payload codec, and drops racing a seal on real files.

use super::payload::{self, Record};
use super::{merge_sources, scan_segment, seal, Partition};
use crate::lineproto::FieldValue;
use crate::shard::batch::{Batch, NewPoint};
use crate::storage::scan::{Condition, Delete, MeasurementMatch, ScanRequest, TagExpr};
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
    }
}

/// Points of `db` a partition returns: memtables and segment files.
async fn points(parts: &RefCell<Vec<Partition>>, db: &str) -> usize {
    let (files, rows) = parts.borrow()[0].scan_sources(&all(db));
    let mut file_rows = Vec::new();
    for (f, deletes) in files {
        let mut r = scan_segment(&f, &all(db)).unwrap();
        super::tombstone::apply_tombstones(&deletes, &mut r);
        file_rows.extend(r);
    }
    file_rows.extend(rows);
    let rows = file_rows;
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

fn src_is(v: &str, time_min_ns: i64) -> Delete {
    Delete {
        db: "a".into(),
        measurements: vec![MeasurementMatch::Name("m".into())],
        tags: TagExpr::Eq {
            key: b"src".to_vec(),
            value: v.as_bytes().to_vec(),
            negate: false,
        },
        time_min_ns,
        time_max_ns: i64::MAX,
    }
}

/// Deletes of sealed data (a file sealed before, and a seal running at the delete), of the
/// memtable, and a write after the delete that must stay: reads agree before and after a
/// restart, the tombstones file goes once its files are dropped, and a series left without
/// points is reported gone exactly when it is.
#[test]
fn delete_covers_segments_sealing_and_memtable_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            let parts = std::rc::Rc::new(RefCell::new(vec![p]));
            let write = |db: &str, tag: &str, n: i64| {
                let stored = parts.borrow_mut()[0]
                    .apply(db, "autogen", &batch(tag, n), None)
                    .unwrap();
                stored.durable.unwrap()
            };
            let (wal, lsn) = write("a", "x", 100);
            wal.wait_durable(lsn).await.unwrap();
            seal(&parts, 0).await.unwrap();
            assert_eq!(parts.borrow()[0].segments.len(), 1);
            // Sealed: x's points from 50 on go; y is only in the memtable.
            let (wal, lsn) = write("a", "y", 10);
            wal.wait_durable(lsn).await.unwrap();
            let d = parts.borrow_mut()[0].delete(&src_is("x", 50)).unwrap();
            assert!(d.gone.is_empty(), "x keeps 0..50");
            d.durable.0.wait_durable(d.durable.1).await.unwrap();
            assert_eq!(points(&parts, "a").await, 60);
            // A seal running while y is deleted whole: its rows are hidden at once, and the
            // files it writes stay covered.
            let p2 = parts.clone();
            let sealing = glommio::spawn_local(async move { seal(&p2, 0).await });
            let mut waited = 0;
            while parts.borrow()[0].sealing.is_none() {
                glommio::executor().yield_task_queue_now().await;
                waited += 1;
                assert!(waited < 1000, "the seal never started");
            }
            let d = parts.borrow_mut()[0]
                .delete(&src_is("y", i64::MIN))
                .unwrap();
            assert_eq!(d.gone, vec![(b"m,src=y".to_vec(), b"m".to_vec())]);
            assert_eq!(points(&parts, "a").await, 50, "hidden while sealing");
            sealing.await.unwrap();
            d.durable.0.wait_durable(d.durable.1).await.unwrap();
            assert_eq!(points(&parts, "a").await, 50);
            // y written again after its delete is new data, sealed by a later seal.
            let (wal, lsn) = write("a", "y", 3);
            wal.wait_durable(lsn).await.unwrap();
            seal(&parts, 0).await.unwrap();
            let (wal, lsn) = write("b", "x", 5);
            wal.wait_durable(lsn).await.unwrap();
            assert_eq!(points(&parts, "a").await, 53);
            let series = |parts: &RefCell<Vec<Partition>>| {
                let mut s: Vec<_> = parts.borrow()[0]
                    .stored_series()
                    .into_iter()
                    .map(|(db, _, k, _)| (db, String::from_utf8(k).unwrap()))
                    .collect();
                s.sort();
                s.dedup();
                s
            };
            let expected = vec![
                ("a".to_string(), "m,src=x".to_string()),
                ("a".to_string(), "m,src=y".to_string()),
                ("b".to_string(), "m,src=x".to_string()),
            ];
            assert_eq!(series(&parts), expected);
            drop(parts);
            for _ in 0..2 {
                let p = Partition::open(0, &data, FsyncPolicy::Always)
                    .await
                    .unwrap();
                let parts = RefCell::new(vec![p]);
                assert_eq!(points(&parts, "a").await, 53, "after a restart");
                assert_eq!(points(&parts, "b").await, 5);
                assert_eq!(series(&parts), expected);
            }
            let mut p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            assert!(data.join("partitions/0/tombstones").exists());
            p.drop_database("a");
            assert!(
                !data.join("partitions/0/tombstones").exists(),
                "no file left to cover"
            );
        })
        .unwrap()
        .join()
        .unwrap();
}
