//! Unit tests of a partition: the WAL payload codec, and drops racing a seal on real files.

use super::payload::{self, Record};
use super::{compact, merge_sources, scan_files, scan_segment, seal, Partition};
use crate::lineproto::FieldValue;
use crate::shard::batch::{Batch, NewPoint};
use crate::storage::scan::{
    Condition, Delete, MeasurementMatch, PointFields, ScanRequest, SeriesRows, TagExpr,
};
use crate::storage::segment::ReadStats;
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
        edge: None,
    }
}

/// Points of `db` a partition returns: memtables and segment files.
async fn points(parts: &RefCell<Vec<Partition>>, db: &str) -> usize {
    let (files, rows) = parts.borrow_mut()[0].scan_sources(&all(db));
    let mut file_rows = Vec::new();
    for f in files {
        let mut stats = ReadStats::default();
        let mut r = scan_segment(&f, &all(db), &mut stats).unwrap().0;
        super::tombstone::apply_tombstones(&f.deletes, &mut r);
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

/// A seeded xorshift for the random data of the read and compaction tests.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A batch of random points of two measurements, 12 series, sparse fields of every type
/// (each field always of one type), times in `0..400` s: overwrites of earlier batches' points.
fn random_batch(rng: &mut Rng, points: usize) -> Batch {
    let mut b = Batch::default();
    for _ in 0..points {
        let m = if rng.below(4) == 0 { "n" } else { "m" };
        let key = format!("{m},host=h{},rack=r{}", rng.below(6), rng.below(2));
        let t = rng.below(400) as i64 * 1_000_000_000;
        let fields: Vec<usize> = (0..5).filter(|_| rng.below(2) == 0).collect();
        let fields = if fields.is_empty() { vec![0] } else { fields };
        b.begin_point(NewPoint::new(
            key.as_bytes(),
            m.as_bytes(),
            t,
            fields.len() as u16,
        ));
        for f in fields {
            let v = rng.below(1000);
            let value = match f {
                0 => FieldValue::Float(v as f64 / 8.0),
                1 => FieldValue::Integer(v as i64 - 500),
                2 => FieldValue::String(std::borrow::Cow::Owned(format!("s{v}").into_bytes())),
                3 => FieldValue::Boolean(v % 2 == 0),
                _ => FieldValue::Float(v as f64),
            };
            b.push_field(format!("f{f}").as_bytes(), &value);
        }
    }
    b
}

async fn write(parts: &RefCell<Vec<Partition>>, db: &str, b: &Batch) {
    let stored = parts.borrow_mut()[0].apply(db, "autogen", b, None).unwrap();
    let (wal, lsn) = stored.durable.unwrap();
    wal.wait_durable(lsn).await.unwrap();
}

/// A scan as a core runs it: sources, files on the blocking pool, footers back to the cache.
async fn scan(parts: &RefCell<Vec<Partition>>, req: &ScanRequest) -> (Vec<SeriesRows>, ReadStats) {
    let (files, mem) = parts.borrow_mut()[0].scan_sources(req);
    let out = scan_files(0, files, mem, req).await;
    parts.borrow_mut()[0].cache_footers(out.footers);
    let mut rows = out.rows;
    rows.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
    (rows, out.stats)
}

/// What a pruned scan must return: the full scan's rows filtered by the request.
fn filtered(all: &[SeriesRows], req: &ScanRequest) -> Vec<SeriesRows> {
    all.iter()
        .filter(|s| req.measurements.matches(&s.measurement) && req.condition.matches_tags(&s.tags))
        .map(|s| SeriesRows {
            measurement: s.measurement.clone(),
            tags: s.tags.clone(),
            points: s
                .points
                .iter()
                .filter(|(t, _)| req.condition.matches_time(*t))
                .map(|(t, f)| {
                    let f: PointFields = f
                        .iter()
                        .filter(|(k, _)| req.wants_field(k))
                        .cloned()
                        .collect();
                    (*t, f)
                })
                .filter(|(_, f)| !f.is_empty())
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn random_request(rng: &mut Rng, db: &str) -> ScanRequest {
    let mut req = all(db);
    req.measurements = MeasurementMatch::Name(if rng.below(3) == 0 { "n" } else { "m" }.into());
    let a = rng.below(420) as i64 * 1_000_000_000;
    let len = rng.below(200) as i64 * 1_000_000_000;
    if rng.below(4) != 0 {
        req.condition.time_min_ns = a;
        req.condition.time_max_ns = a + len;
    }
    req.condition.tags = match rng.below(3) {
        0 => TagExpr::True,
        1 => TagExpr::Eq {
            key: b"host".to_vec(),
            value: format!("h{}", rng.below(7)).into_bytes(),
            negate: false,
        },
        _ => TagExpr::Eq {
            key: b"rack".to_vec(),
            value: b"r1".to_vec(),
            negate: rng.below(2) == 0,
        },
    };
    if rng.below(4) != 0 {
        let mut fields: Vec<Vec<u8>> = (0..6)
            .filter(|_| rng.below(3) == 0)
            .map(|f| format!("f{f}").into_bytes())
            .collect();
        if fields.is_empty() {
            fields.push(b"f2".to_vec());
        }
        req.fields = Some(fields);
    }
    req
}

/// Random data over several seals (files overwriting each other's points) plus a memtable:
/// every pruned scan (measurement, time range, tag predicate, field list) returns what the full
/// scan returns filtered; it reads fewer blocks; a second scan reads no footer from a file.
#[test]
fn pruned_scans_equal_filtered_full_scans() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = RefCell::new(vec![p]);
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            for _ in 0..4 {
                write(&parts, "db", &random_batch(&mut rng, 300)).await;
                seal(&parts, 0).await.unwrap();
            }
            write(&parts, "db", &random_batch(&mut rng, 100)).await;
            let (full, full_stats) = scan(&parts, &all("db")).await;
            assert_eq!(full_stats.footers_read, 4, "one footer a file");
            let (again, again_stats) = scan(&parts, &all("db")).await;
            assert_eq!(again, full);
            assert_eq!(again_stats.footers_read, 0, "footers come from the cache");
            assert_eq!(parts.borrow()[0].footers.len(), 4);
            for _ in 0..200 {
                let req = random_request(&mut rng, "db");
                let (got, stats) = scan(&parts, &req).await;
                assert_eq!(got, filtered(&full, &req), "{req:?}");
                assert!(stats.blocks_read <= full_stats.blocks_read);
                assert_eq!(stats.blocks_read, stats.blocks_decoded);
            }
            // One field of one series of a time range: its time block and one column block per
            // file that has it, and no other series' blocks.
            let mut req = all("db");
            req.measurements = MeasurementMatch::Name("m".into());
            req.condition.time_min_ns = 100_000_000_000;
            req.condition.time_max_ns = 200_000_000_000;
            req.condition.tags = TagExpr::Eq {
                key: b"host".to_vec(),
                value: b"h1".to_vec(),
                negate: false,
            }
            .and(TagExpr::Eq {
                key: b"rack".to_vec(),
                value: b"r0".to_vec(),
                negate: false,
            });
            req.fields = Some(vec![b"f1".to_vec()]);
            let (got, stats) = scan(&parts, &req).await;
            assert_eq!(got, filtered(&full, &req));
            assert!(!got.is_empty());
            assert_eq!(stats.series_read, 4, "{stats:?}");
            assert_eq!(stats.blocks_read, 8, "{stats:?}");
            assert!(stats.series_pruned > 40, "{stats:?}");
        })
        .unwrap()
        .join()
        .unwrap();
}

fn segment_files(data: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("partitions/0/segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Seals of two databases, one compacted into one file per database: every scan answers as
/// before, after a restart too; a crash after the output's rename (its inputs still on disk,
/// and a temp file) is cleaned up at start-up with nothing lost or read twice.
#[test]
fn compaction_keeps_every_answer_and_survives_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = RefCell::new(vec![p]);
            let mut rng = Rng(77);
            for round in 0..5 {
                write(&parts, "db", &random_batch(&mut rng, 200)).await;
                if round % 2 == 0 {
                    write(&parts, "other", &random_batch(&mut rng, 50)).await;
                }
                seal(&parts, 0).await.unwrap();
            }
            write(&parts, "db", &random_batch(&mut rng, 50)).await;
            let reqs: Vec<ScanRequest> = (0..40)
                .map(|i| match i {
                    0 => all("db"),
                    1 => all("other"),
                    _ => random_request(&mut rng, if i % 5 == 0 { "other" } else { "db" }),
                })
                .collect();
            let mut before = Vec::new();
            for r in &reqs {
                before.push(scan(&parts, r).await.0);
            }
            let inputs = segment_files(&data);
            assert_eq!(inputs.len(), 8);
            let seg = data.join("partitions/0/segments");
            let backup = data.join("backup");
            std::fs::create_dir(&backup).unwrap();
            for n in &inputs {
                std::fs::copy(seg.join(n), backup.join(n)).unwrap();
            }
            // Below the file count nothing happens; with 2 each (db, rp) is merged in one go.
            assert!(!compact(&parts, 0, 9, u64::MAX).await.unwrap());
            assert!(compact(&parts, 0, 2, u64::MAX).await.unwrap());
            assert!(compact(&parts, 0, 2, u64::MAX).await.unwrap());
            assert!(!compact(&parts, 0, 2, u64::MAX).await.unwrap());
            let names = parts.borrow()[0].segment_names();
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(names.iter().all(|n| n.0.contains('-')), "{names:?}");
            assert_eq!(segment_files(&data).len(), 2, "the inputs were deleted");
            for (r, want) in reqs.iter().zip(&before) {
                assert_eq!(&scan(&parts, r).await.0, want, "{r:?}");
            }
            // Writes and seals go on after a compaction, and a second one merges the output
            // with the new files.
            write(&parts, "db", &random_batch(&mut rng, 100)).await;
            seal(&parts, 0).await.unwrap();
            let (after_seal, _) = scan(&parts, &all("db")).await;
            assert!(compact(&parts, 0, 2, u64::MAX).await.unwrap());
            assert_eq!(scan(&parts, &all("db")).await.0, after_seal);
            let kept = segment_files(&data);
            assert_eq!(kept.len(), 2);
            let mut answers = Vec::new();
            for r in &reqs {
                answers.push(scan(&parts, r).await.0);
            }
            drop(parts);

            // A restart reads the same.
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = RefCell::new(vec![p]);
            for (r, want) in reqs.iter().zip(&answers) {
                assert_eq!(&scan(&parts, r).await.0, want, "{r:?}");
            }
            drop(parts);
            // A crash after a compaction's rename, before its inputs were all deleted: the
            // inputs are back on disk, and a compaction's temp file.
            for n in &inputs {
                std::fs::copy(backup.join(n), seg.join(n)).unwrap();
            }
            let first = kept[0].clone();
            std::fs::write(seg.join(format!("{first}.tmp")), b"torn").unwrap();
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = RefCell::new(vec![p]);
            assert_eq!(
                segment_files(&data),
                kept,
                "the covered inputs were deleted"
            );
            for (r, want) in reqs.iter().zip(&answers) {
                assert_eq!(&scan(&parts, r).await.0, want, "{r:?}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A scan that listed files before a compaction replaced them still reads them; a database
/// dropped while its files are being compacted leaves no file behind, after a restart too.
#[test]
fn compaction_races_a_scan_and_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = std::rc::Rc::new(RefCell::new(vec![p]));
            let mut rng = Rng(5);
            for _ in 0..3 {
                write(&parts, "db", &random_batch(&mut rng, 100)).await;
                write(&parts, "keep", &random_batch(&mut rng, 100)).await;
                seal(&parts, 0).await.unwrap();
            }
            let (want, _) = scan(&parts, &all("db")).await;
            let (files, mem) = parts.borrow_mut()[0].scan_sources(&all("db"));
            while compact(&parts, 0, 2, u64::MAX).await.unwrap() {}
            assert_eq!(
                segment_files(&data).len(),
                2 + 3,
                "inputs held by the scan stay"
            );
            let mut got = scan_files(0, files, mem, &all("db")).await.rows;
            got.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
            assert_eq!(got, want);
            assert_eq!(segment_files(&data).len(), 2, "and go when it is done");

            for _ in 0..3 {
                write(&parts, "db", &random_batch(&mut rng, 100)).await;
                seal(&parts, 0).await.unwrap();
            }
            let p2 = parts.clone();
            let running = glommio::spawn_local(async move { compact(&p2, 0, 2, u64::MAX).await });
            let mut waited = 0;
            while parts.borrow()[0].compacting.is_empty() {
                glommio::executor().yield_task_queue_now().await;
                waited += 1;
                assert!(waited < 1000, "the compaction never started");
            }
            parts.borrow_mut()[0].drop_database("db");
            // Given up, or failed reading an input the drop deleted: nothing installed.
            assert!(!matches!(running.await, Ok(true)));
            assert_eq!(points(&parts, "db").await, 0);
            let names = segment_files(&data);
            assert_eq!(names.len(), 1, "{names:?}");
            drop(parts);
            let p = Partition::open(0, &data, FsyncPolicy::Never).await.unwrap();
            let parts = RefCell::new(vec![p]);
            assert_eq!(points(&parts, "db").await, 0);
            assert!(points(&parts, "keep").await > 0);
        })
        .unwrap()
        .join()
        .unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// `sealed.json` makes a seal happen once: a crash after the seal but before its WAL went (the
/// old WAL put back) replays nothing of it; files of a seal past the record (an interrupted
/// seal) are removed at start-up; sequence numbers continue past `exported.json`; with the
/// export guard on, retention keeps files not exported yet.
#[test]
fn sealed_and_exported_records_keep_each_point_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let part_dir = data.join("partitions/0");
            let p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            let parts = RefCell::new(vec![p]);
            write(&parts, "a", &batch("a", 100)).await;
            copy_dir(&part_dir.join("wal"), &data.join("wal-before-seal"));
            seal(&parts, 0).await.unwrap();
            let mark = super::marks::read_sealed(&part_dir).unwrap().unwrap();
            assert_eq!(mark.seal, 1);
            assert!(mark.lsn > 1);
            assert_eq!(segment_files(&data), ["00000000000001000000.seg"]);
            drop(parts);

            // The WAL as it was before the seal truncated it: its records are in the file.
            std::fs::remove_dir_all(part_dir.join("wal")).unwrap();
            copy_dir(&data.join("wal-before-seal"), &part_dir.join("wal"));
            // And a file of a seal that never finished.
            std::fs::copy(
                part_dir.join("segments/00000000000001000000.seg"),
                part_dir.join("segments/00000000000002000000.seg"),
            )
            .unwrap();
            let p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            assert!(p.memtable.is_empty(), "sealed records were replayed");
            assert_eq!(segment_files(&data), ["00000000000001000000.seg"]);
            let parts = RefCell::new(vec![p]);
            assert_eq!(points(&parts, "a").await, 100);
            drop(parts);

            // Sequence numbers continue past what was exported, even with no file left.
            super::marks::write_exported(&part_dir, super::marks::ExportedMark { seq: 5_000_000 })
                .unwrap();
            let mut p = Partition::open(0, &data, FsyncPolicy::Always)
                .await
                .unwrap();
            p.guard_unexported();
            let parts = RefCell::new(vec![p]);
            write(&parts, "a", &batch("b", 10)).await;
            seal(&parts, 0).await.unwrap();
            assert_eq!(
                segment_files(&data),
                ["00000000000001000000.seg", "00000000000006000000.seg"]
            );
            // Retention with everything expired: only the exported file goes.
            let expired = parts.borrow_mut()[0].expire(|_, _| Some(i64::MAX));
            assert_eq!(expired, 1);
            assert_eq!(segment_files(&data), ["00000000000006000000.seg"]);
        })
        .unwrap()
        .join()
        .unwrap();
}
