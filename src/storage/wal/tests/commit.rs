//! Appends and group commit, every fsync policy, rotation under concurrent appends, enqueue then
//! wait, and the sticky failure after a write error.

use super::{append_concurrently, payload, replay_all, run, segment_files, with_wal};
use crate::storage::wal::files::segment_path;
use crate::storage::wal::framing::{self, Stop, HEADER_LEN};
use crate::storage::wal::{FsyncPolicy, Wal, WalError};
use glommio::io::DmaFile;
use std::rc::Rc;
use std::time::Duration;

impl Wal {
    /// Test hook: swap the file for a read-only handle so the next write fails (a real EBADF).
    async fn break_file_for_test(&self) {
        let path = self.inner.borrow().segments.last().map(|s| s.path.clone());
        if let Some(path) = path {
            if let Ok(ro) = DmaFile::open(&path).await {
                self.inner.borrow_mut().file = Rc::new(ro);
            }
        }
    }
}

#[test]
fn concurrent_appends_share_fsyncs_and_replay_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("p0");
    run(move || async move {
        let (wal, got) = replay_all(&dir).await.expect("open");
        assert!(got.is_empty());
        let mut written = append_concurrently(&wal, 100, 1).await;
        let stats = wal.stats();
        assert_eq!(stats.appends, 100);
        assert!(stats.fsyncs < 10, "group commit: {stats:?}");
        assert_eq!(
            written.keys().copied().collect::<Vec<_>>(),
            (1..=100).collect::<Vec<_>>()
        );
        // A second round lands after the first in the same file.
        written.extend(append_concurrently(&wal, 30, 1000).await);
        drop(wal);
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, written.clone().into_iter().collect::<Vec<_>>());
        assert_eq!(wal.next_lsn(), 131);
        let more = wal.append(b"after reopen").await.expect("append");
        assert_eq!(more, 131);
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got.len(), 131);
        assert_eq!(got[130], (131, b"after reopen".to_vec()));
    });
}

#[test]
fn every_policy_round_trips() {
    for policy in [
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_millis(1)),
        FsyncPolicy::Always,
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        run(move || async move {
            let wal = Wal::open(&dir, policy, |_| {}).await.expect("open");
            let written = append_concurrently(&wal, 20, 7).await;
            if policy == FsyncPolicy::Never {
                assert_eq!(wal.stats().fsyncs, 0);
                wal.sync().await.expect("sync");
                assert_eq!(wal.stats().fsyncs, 1);
                wal.sync().await.expect("sync");
                assert_eq!(wal.stats().fsyncs, 1, "nothing new to sync");
            }
            assert_eq!(wal.durable_lsn(), 20);
            assert_eq!(wal.pending_bytes(), 0);
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, written.into_iter().collect::<Vec<_>>(), "{policy:?}");
        });
    }
}

#[test]
fn rotate_during_concurrent_appends_splits_cleanly_by_lsn() {
    with_wal(|dir, wal| async move {
        // 8 tasks append 10 records each, one at a time: many batches.
        let appenders: Vec<_> = (0..8u64)
            .map(|t| {
                let w = wal.clone();
                glommio::spawn_local(async move {
                    let mut out = Vec::new();
                    for k in 0..10u64 {
                        let p = payload(t * 100 + k, 50 + k as usize);
                        out.push((w.append(&p).await.expect("append"), p));
                    }
                    out
                })
            })
            .collect();
        let w = wal.clone();
        let rotation = glommio::spawn_local(async move {
            while w.stats().batches < 3 {
                futures_lite::future::yield_now().await;
            }
            w.rotate().await.expect("rotate")
        });
        let mut all = Vec::new();
        for a in appenders {
            all.extend(a.await);
        }
        let first = rotation.await;
        assert!(first > 1 && first < 81, "rotated at {first}");
        let files = segment_files(&dir);
        assert_eq!(
            files,
            vec![segment_path(&dir, 1), segment_path(&dir, first)]
        );
        drop(wal);
        all.sort();
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, all);
        // The old segment holds exactly the LSNs below `first`, and ends cleanly.
        let old = std::fs::read(&files[0]).expect("read");
        let s = framing::scan(&old[HEADER_LEN..], 1);
        assert_eq!(s.records.len() as u64, first - 1);
        assert!(matches!(s.stop, Stop::End | Stop::Padding), "{:?}", s.stop);
    });
}

#[test]
fn a_failed_write_poisons_the_wal_until_restart() {
    with_wal(|dir, wal| async move {
        wal.append(b"kept").await.expect("append");
        wal.break_file_for_test().await;
        let first = match wal.append(b"lost").await {
            Err(WalError::Poisoned(text)) => text,
            other => panic!("expected poisoned, got {other:?}"),
        };
        assert!(first.contains("writing"), "{first}");
        for _ in 0..3 {
            match wal.append(b"refused").await {
                Err(WalError::Poisoned(text)) => assert_eq!(text, first),
                other => panic!("expected poisoned, got {other:?}"),
            }
        }
        assert!(matches!(wal.rotate().await, Err(WalError::Poisoned(_))));
        drop(wal);
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, vec![(1, b"kept".to_vec())]);
        assert_eq!(wal.append(b"works again").await.expect("append"), 2);
    });
}

#[test]
fn empty_records_are_refused_and_enqueue_then_wait_works() {
    with_wal(|_dir, wal| async move {
        assert!(matches!(wal.append(b"").await, Err(WalError::Empty)));
        assert_eq!(wal.next_lsn(), 1);
        // enqueue + wait_durable: LSNs are handed out at once, durability comes with the flush.
        let lsns: Vec<u64> = (0..3)
            .map(|k| wal.enqueue(&payload(k, 100)).expect("enqueue"))
            .collect();
        assert_eq!(lsns, vec![1, 2, 3]);
        assert_eq!(wal.durable_lsn(), 0);
        assert_eq!(wal.pending_bytes(), 3 * framing::record_len(100) as u64);
        assert_eq!(wal.wait_durable(3).await.expect("durable"), 3);
        assert_eq!(wal.durable_lsn(), 3);
        assert_eq!(wal.pending_bytes(), 0);
        assert_eq!(wal.stats().fsyncs, 1, "one flush for the three");
    });
}

#[test]
fn appenders_that_arrive_while_a_batch_is_on_its_way_to_disk_share_the_next_one() {
    // 16 appenders in a closed loop, as 16 connections: each appends, waits until its record is
    // durable, and appends again. Every record queued while a batch is being written (and, under
    // `always`, made durable) goes into the next batch, so a batch holds the records of many
    // appenders, not one each.
    with_wal(|_dir, wal| async move {
        let tasks: Vec<_> = (0..16u64)
            .map(|t| {
                let wal = wal.clone();
                glommio::spawn_local(async move {
                    for k in 0..20u64 {
                        let lsn = wal.append(&payload(t * 100 + k, 64)).await.expect("append");
                        assert!(wal.durable_lsn() >= lsn, "answered before durable");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let stats = wal.stats();
        assert_eq!(stats.appends, 320);
        assert!(
            stats.batches * 4 <= stats.appends,
            "fewer than 4 records a batch: {stats:?}"
        );
    });
}

#[test]
fn zero_ahead_keeps_the_segment_written_past_its_records_and_never_over_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("p0");
    run(move || async move {
        super::ZERO_AHEAD.with(|z| z.set(true));
        let (wal, _) = replay_all(&dir).await.expect("open");
        // Rounds of concurrent small appends (many small batches) over several zeroing steps,
        // paced as a server's requests are, so that the zeroing keeps ahead of them.
        let mut written = std::collections::BTreeMap::new();
        let mut seed = 1;
        let mut most_ahead = 0;
        while wal.inner.borrow().open_offset() < 3 * super::super::commit::ZERO_STEP {
            let mut round = Vec::new();
            for _ in 0..8 {
                let p = payload(seed, 2000 + (seed as usize * 131) % 5000);
                let wal = wal.clone();
                written.insert(seed, p.clone());
                round.push(glommio::spawn_local(async move {
                    wal.append(&p).await.expect("append")
                }));
                seed += 1;
            }
            for t in round {
                t.await;
            }
            glommio::timer::sleep(Duration::from_micros(100)).await;
            let path = segment_files(&dir).pop().expect("segment");
            let size = std::fs::metadata(&path).expect("metadata").len();
            let end = wal.inner.borrow().open_offset();
            most_ahead = most_ahead.max(size.saturating_sub(end));
        }
        wal.append(b"last").await.expect("append");
        written.insert(seed, b"last".to_vec());
        // The file was written ahead of the records, by more than any batch.
        assert!(
            most_ahead > 1 << 20,
            "never zeroed ahead: {most_ahead} bytes at most"
        );
        drop(wal);
        replays_the_same_records(&dir, written.into_values().collect()).await;
    });
}

/// Reopens the WAL in `dir` and checks that it replays exactly `written`. Concurrent appends
/// take their LSNs in any order, so the records are compared as sets.
async fn replays_the_same_records(dir: &std::path::Path, mut written: Vec<Vec<u8>>) {
    let (_, got) = replay_all(dir).await.expect("reopen");
    let mut got: Vec<Vec<u8>> = got.into_iter().map(|(_, p)| p).collect();
    got.sort();
    written.sort();
    assert_eq!(got.len(), written.len());
    assert!(
        got == written,
        "replayed records differ from the appended ones"
    );
}

#[test]
fn appends_that_catch_up_with_the_zeroing_are_never_overwritten_by_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("p0");
    run(move || async move {
        super::ZERO_AHEAD.with(|z| z.set(true));
        // `Never`: each batch is written as soon as the last one is, so batches run into the
        // zeroing's pieces in flight.
        let wal = Wal::open(&dir, FsyncPolicy::Never, |_| {})
            .await
            .expect("open");
        let tasks: Vec<_> = (0..4u64)
            .map(|t| {
                let wal = wal.clone();
                glommio::spawn_local(async move {
                    let mut mine = Vec::new();
                    for k in 0..500u64 {
                        let p = payload(t * 1000 + k, 8_000 + (k as usize * 977) % 6_000);
                        wal.append(&p).await.expect("append");
                        mine.push(p);
                    }
                    mine
                })
            })
            .collect();
        let mut written = Vec::new();
        for t in tasks {
            written.extend(t.await);
        }
        assert!(
            wal.inner.borrow().zero_waits > 0,
            "no batch ran into a zeroing piece in flight"
        );
        drop(wal);
        replays_the_same_records(&dir, written).await;
    });
}
