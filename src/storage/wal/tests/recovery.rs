//! Replay at open: a torn or corrupt tail of the last segment cut at any point, a hole, a length
//! field split by a read chunk, a leftover spare, damage before the last segment refused, and a
//! torn header of the last segment written again.

use super::{payload, replay_all, run, segment_files, with_wal};
use crate::storage::wal::files::{segment_path, SPARE_NAME};
use crate::storage::wal::framing::{self, HEADER_LEN};
use crate::storage::wal::recovery::READ_CHUNK_LEN;
use crate::storage::wal::{FsyncPolicy, Wal, WalError};

#[test]
fn truncated_at_any_point_replays_a_prefix_and_appends_after_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().to_path_buf();
    run(move || async move {
        let src = base.join("src");
        let wal = Wal::open(&src, FsyncPolicy::Always, |_| {})
            .await
            .expect("open");
        let mut written = Vec::new();
        let mut ends = Vec::new(); // file offset after each record
        let mut end = HEADER_LEN as u64;
        for k in 0..12u64 {
            let p = payload(k, 100 + (k as usize * 211) % 900);
            let lsn = wal.append(&p).await.expect("append");
            end += framing::record_len(p.len()) as u64;
            ends.push(end);
            written.push((lsn, p));
        }
        drop(wal);
        let seg = segment_files(&src).pop().expect("segment");
        let full = std::fs::read(&seg).expect("read");
        let mut x = 12345u64;
        let mut cuts: Vec<u64> = (0..25)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                HEADER_LEN as u64 + (x >> 33) % (end - HEADER_LEN as u64)
            })
            .collect();
        cuts.extend([HEADER_LEN as u64, end, end - 1, ends[0], ends[0] + 1]);
        for (n, cut) in cuts.into_iter().enumerate() {
            let dir = base.join(format!("cut{n}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let copy = dir.join(seg.file_name().expect("name"));
            std::fs::write(&copy, &full[..cut as usize]).expect("write");
            let keep = ends.iter().filter(|&&e| e <= cut).count();
            let (wal, got) = replay_all(&dir).await.expect("reopen");
            assert_eq!(got, written[..keep].to_vec(), "cut at {cut}");
            // Appending continues right after the intact prefix.
            let lsn = wal.append(b"next").await.expect("append");
            assert_eq!(lsn, keep as u64 + 1);
            drop(wal);
            let (_, got) = replay_all(&dir).await.expect("reopen again");
            assert_eq!(got.len(), keep + 1, "cut at {cut}");
            assert_eq!(got[keep], (lsn, b"next".to_vec()));
        }
    });
}

#[test]
fn garbage_after_the_last_record_is_cut_and_never_replayed() {
    with_wal(|dir, wal| async move {
        let a = wal.append(b"first").await.expect("append");
        let b = wal.append(b"second").await.expect("append");
        drop(wal);
        let seg = segment_files(&dir).pop().expect("segment");
        let mut bytes = std::fs::read(&seg).expect("read");
        let second_at = HEADER_LEN + framing::record_len(5);
        // Flip a payload bit of the second record, and append an intact third record after it:
        // the third must not be replayed (it comes after a bad one).
        bytes[second_at + framing::RECORD_HEADER_LEN] ^= 0x20;
        bytes.truncate(second_at + framing::record_len(6));
        framing::encode_record(&mut bytes, 3, b"third");
        std::fs::write(&seg, &bytes).expect("write");
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, vec![(a, b"first".to_vec())]);
        assert_eq!(
            std::fs::metadata(&seg).expect("stat").len(),
            second_at as u64
        );
        assert_eq!(wal.append(b"again").await.expect("append"), b);
    });
}

#[test]
fn a_hole_before_later_records_cuts_at_the_hole() {
    // A crash after a later chunk of a batch reached the disk but an earlier one did not.
    with_wal(|dir, wal| async move {
        for k in 1..=5u64 {
            wal.append(&payload(k, 300)).await.expect("append");
        }
        drop(wal);
        let seg = segment_files(&dir).pop().expect("segment");
        let mut bytes = std::fs::read(&seg).expect("read");
        let rec = framing::record_len(300);
        let third = HEADER_LEN + 2 * rec;
        bytes[third..third + rec].fill(0);
        std::fs::write(&seg, &bytes).expect("write");
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(std::fs::metadata(&seg).expect("stat").len(), third as u64);
        assert_eq!(wal.append(b"x").await.expect("append"), 3);
    });
}

#[test]
fn a_length_field_split_by_a_read_chunk_is_read_whole() {
    // Recovery reads READ_CHUNK_LEN at a time. A record whose length field starts 2 bytes
    // before a chunk boundary, with those 2 bytes zero (length 65 536 = 00 00 01 00), must
    // not look like the zero length field that ends the records.
    with_wal(|dir, wal| async move {
        let first = READ_CHUNK_LEN - 2 - HEADER_LEN - framing::RECORD_HEADER_LEN;
        let want: Vec<(u64, Vec<u8>)> = [(1, first), (2, 65_536), (3, 10)]
            .into_iter()
            .map(|(k, len)| (k, payload(k, len)))
            .collect();
        for (k, p) in &want {
            assert_eq!(wal.append(p).await.expect("append"), *k);
        }
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got.len(), 3, "every acknowledged record is replayed");
        assert_eq!(got, want);
    });
}

#[test]
fn a_leftover_spare_is_deleted_and_never_replayed() {
    with_wal(|dir, wal| async move {
        let a = wal.append(b"kept").await.expect("append");
        drop(wal);
        // A spare holding an intact segment of other records (a crash before its rename).
        let mut bytes = framing::encode_header(a + 1).to_vec();
        framing::encode_record(&mut bytes, a + 1, b"never");
        std::fs::write(dir.join(SPARE_NAME), &bytes).expect("write");
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, vec![(a, b"kept".to_vec())]);
        assert!(!dir.join(SPARE_NAME).exists());
    });
}

#[test]
fn damage_before_the_last_segment_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().to_path_buf();
    run(move || async move {
        let dir = base.join("corrupt");
        let wal = Wal::open(&dir, FsyncPolicy::Always, |_| {})
            .await
            .expect("open");
        wal.append(b"one").await.expect("append");
        wal.append(b"two").await.expect("append");
        wal.rotate().await.expect("rotate");
        wal.append(b"three").await.expect("append");
        wal.rotate().await.expect("rotate");
        drop(wal);
        let files = segment_files(&dir);
        let gap_dir = base.join("gap");
        std::fs::create_dir_all(&gap_dir).expect("mkdir");
        for f in [&files[0], &files[2]] {
            std::fs::copy(f, gap_dir.join(f.file_name().expect("name"))).expect("copy");
        }
        let mut bytes = std::fs::read(&files[0]).expect("read");
        bytes[HEADER_LEN + framing::record_len(3) + 17] ^= 1;
        std::fs::write(&files[0], &bytes).expect("write");
        match replay_all(&dir).await {
            Err(WalError::Corrupt { offset, .. }) => {
                assert_eq!(offset, (HEADER_LEN + framing::record_len(3)) as u64)
            }
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened a WAL with a corrupt middle"),
        }
        match replay_all(&gap_dir).await {
            Err(WalError::Gap {
                expected: 3,
                found: 4,
                ..
            }) => {}
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened a WAL with a gap"),
        }
    });
}

#[test]
fn torn_header_of_the_last_segment_is_rewritten() {
    with_wal(|dir, wal| async move {
        wal.append(b"one").await.expect("append");
        drop(wal);
        // A crash right after creating the next segment file, before its header was written.
        std::fs::write(segment_path(&dir, 2), [0u8; 100]).expect("write");
        let (wal, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got, vec![(1, b"one".to_vec())]);
        assert_eq!(wal.append(b"two").await.expect("append"), 2);
        drop(wal);
        let (_, got) = replay_all(&dir).await.expect("reopen");
        assert_eq!(got.len(), 2);
        // But a bad header in front of records is damage, not a torn creation.
        let mut bytes = std::fs::read(segment_path(&dir, 2)).expect("read");
        bytes[0] = b'X';
        std::fs::write(segment_path(&dir, 2), &bytes).expect("write");
        assert!(matches!(
            replay_all(&dir).await,
            Err(WalError::Corrupt { .. })
        ));
    });
}
