//! Segment files: rotation and `truncate_before`, recycled segments, and a random mix of appends,
//! rotations, truncations and reopens held to a model of the records and files on disk.

use super::{append_concurrently, payload, replay_all, run, segment_files, with_wal};
use crate::storage::wal::files::{segment_path, SPARE_NAME};
use crate::storage::wal::framing::{self, HEADER_LEN};
use crate::storage::wal::{FsyncPolicy, Wal};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[test]
fn rotate_and_truncate_before() {
    with_wal(|dir, wal| async move {
        for k in 1..=3u64 {
            assert_eq!(wal.append(&payload(k, 10)).await.expect("append"), k);
        }
        assert_eq!(wal.bytes_since_rotate(), 3 * framing::record_len(10) as u64);
        assert_eq!(wal.rotate().await.expect("rotate"), 4);
        assert_eq!(wal.bytes_since_rotate(), 0);
        for k in 4..=5u64 {
            assert_eq!(wal.append(&payload(k, 10)).await.expect("append"), k);
        }
        // Rotating an empty segment is a no-op.
        assert_eq!(wal.rotate().await.expect("rotate"), 6);
        assert_eq!(wal.rotate().await.expect("rotate"), 6);
        assert_eq!(wal.append(&payload(6, 10)).await.expect("append"), 6);
        assert_eq!(segment_files(&dir).len(), 3);
        drop(wal);
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(got[5].1, payload(6, 10));
        wal.truncate_before(3).await.expect("truncate");
        assert_eq!(
            segment_files(&dir).len(),
            3,
            "segment 1..3 still holds lsn 3"
        );
        wal.truncate_before(4).await.expect("truncate");
        assert_eq!(segment_files(&dir).len(), 2);
        wal.truncate_before(u64::MAX).await.expect("truncate");
        assert_eq!(
            segment_files(&dir).len(),
            1,
            "the current segment is never deleted"
        );
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
    });
}

#[test]
fn recycled_segments_end_at_their_last_record() {
    // A deleted segment is kept as the spare and becomes the next segment with its old bytes
    // after the new header. A batch that ends exactly at a block boundary must still be
    // followed on disk by a zero length field, or the scan would run into the old bytes.
    with_wal(|dir, wal| async move {
        let mut want = Vec::new();
        for k in 0..20u64 {
            let p = payload(k, 1000 + k as usize);
            want.push((wal.append(&p).await.expect("append"), p));
        }
        let second = wal.rotate().await.expect("rotate");
        let p = payload(99, 10);
        want.push((wal.append(&p).await.expect("append"), p));
        // Segment 1 (20 records of old bytes) becomes the spare...
        wal.truncate_before(second).await.expect("truncate");
        want.retain(|(lsn, _)| *lsn >= second);
        assert!(dir.join(SPARE_NAME).exists(), "the deleted segment is kept");
        assert_eq!(segment_files(&dir).len(), 1);
        let third = wal.rotate().await.expect("rotate");
        assert!(!dir.join(SPARE_NAME).exists(), "the spare became segment 3");
        let seg3 = segment_path(&dir, third);
        assert!(std::fs::metadata(&seg3).expect("stat").len() > 20_000);
        // ...then takes one record ending exactly at the end of its first block, and one
        // ending exactly at the end of a later block, each synced alone.
        let align = 4096;
        let p = payload(7, align - HEADER_LEN - framing::RECORD_HEADER_LEN);
        want.push((wal.append(&p).await.expect("append"), p));
        let p = payload(8, 3 * align - framing::RECORD_HEADER_LEN);
        want.push((wal.append(&p).await.expect("append"), p));
        let fourth = wal.rotate().await.expect("rotate");
        let p = payload(9, 50);
        want.push((wal.append(&p).await.expect("append"), p));
        drop(wal);
        // Segment 3 is not the last one: a scan that ran into its old bytes would be an error.
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, want);
        assert!(fourth > third);
        let p = payload(10, 5);
        want.push((wal.append(&p).await.expect("append"), p));
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, want);
    });
}

#[test]
fn random_operations_match_a_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    run(move || async move {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // The model: every record kept, and the first LSN of every segment on disk.
        let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut segs: Vec<u64> = vec![1];
        let mut next = 1u64;
        let mut wal = Wal::open(&dir, FsyncPolicy::Always, |_| {})
            .await
            .expect("open");
        for step in 0..150u64 {
            match rand(10) {
                0..=5 => {
                    let n = 1 + rand(8);
                    let got = append_concurrently(&wal, n, step * 1000).await;
                    assert_eq!(
                        got.keys().copied().collect::<Vec<_>>(),
                        (next..next + n).collect::<Vec<_>>()
                    );
                    next += n;
                    records.extend(got);
                }
                6 => {
                    let first = wal.rotate().await.expect("rotate");
                    assert_eq!(first, next);
                    if segs.last() != Some(&next) {
                        segs.push(next);
                    }
                }
                7 => {
                    let below = 1 + rand(next + 1);
                    wal.truncate_before(below).await.expect("truncate");
                    while segs.len() > 1 && segs[1] <= below {
                        segs.remove(0);
                    }
                }
                _ => {
                    drop(wal);
                    let (w, got) = replay_all(&dir).await.expect("reopen");
                    wal = w;
                    let expected: Vec<(u64, Vec<u8>)> = records
                        .range(segs[0]..)
                        .map(|(l, p)| (*l, p.clone()))
                        .collect();
                    assert_eq!(got, expected, "step {step}");
                    assert_eq!(wal.next_lsn(), next);
                }
            }
            let on_disk = segment_files(&dir);
            let model: Vec<PathBuf> = segs.iter().map(|&f| segment_path(&dir, f)).collect();
            assert_eq!(on_disk, model, "step {step}");
        }
    });
}

#[test]
fn rotations_overlapping_truncations_install_the_right_files() {
    // A seal's truncation may still run when the next seal rotates (the partition's next
    // memtable filled meanwhile): the rotation's next segment and the truncation's new spare must
    // not be each other's file. Each round: records, then a rotation and the truncation of the
    // round before at once, in both orders of first poll.
    with_wal(|dir, wal| async move {
        let mut want = Vec::new();
        let mut keep_from = 1;
        for round in 0..12u64 {
            for k in 0..5 {
                let p = payload(round * 10 + k, 3000);
                want.push((wal.append(&p).await.expect("append"), p));
            }
            let (rotated, truncated) = if round % 2 == 0 {
                futures_lite::future::zip(wal.rotate(), wal.truncate_before(keep_from)).await
            } else {
                let (t, r) =
                    futures_lite::future::zip(wal.truncate_before(keep_from), wal.rotate()).await;
                (r, t)
            };
            truncated.expect("truncate");
            let boundary = rotated.expect("rotate");
            want.retain(|(lsn, _)| *lsn >= keep_from);
            keep_from = boundary;
        }
        let p = payload(999, 100);
        want.push((wal.append(&p).await.expect("append"), p));
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, want);
    });
}
