//! The offline check of one partition directory (`lineshard check`): every WAL record's checksum
//! and LSN, every segment file's frame, footer and block checksums, the tombstones and
//! `schema.json`. Plain blocking reads; no executor, nothing written.

use super::{load_types, parse_segment_name, payload, tombstone};
use crate::storage::memtable::Memtable;
use crate::storage::segment::SegmentReader;
use crate::storage::wal::framing::{self, Stop, HEADER_LEN};
use crate::storage::wal::list_segment_files;
use std::path::{Path, PathBuf};

/// One thing found wrong (or worth knowing) about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub what: String,
    /// `false`: a crash artefact that start-up repairs by itself (a torn WAL tail, a leftover
    /// temp file); not an error.
    pub error: bool,
}

/// What the check of a partition saw.
#[derive(Debug, Default)]
pub struct PartitionCheck {
    pub wal_segments: usize,
    pub wal_records: u64,
    pub segment_files: usize,
    pub rows: u64,
    pub findings: Vec<Finding>,
}

impl PartitionCheck {
    fn error(&mut self, path: &Path, what: String) {
        self.findings.push(Finding {
            path: path.to_path_buf(),
            what,
            error: true,
        });
    }

    fn note(&mut self, path: &Path, what: String) {
        self.findings.push(Finding {
            path: path.to_path_buf(),
            what,
            error: false,
        });
    }
}

/// Checks the partition directory `dir` (`<data dir>/partitions/<id>`).
pub fn check_partition(dir: &Path) -> PartitionCheck {
    let mut out = PartitionCheck::default();
    check_wal(&dir.join("wal"), &mut out);
    check_segments(&dir.join("segments"), &mut out);
    if let Err(e) = tombstone::load(dir) {
        out.error(&dir.join(tombstone::FILE), e.to_string());
    }
    if let Err(e) = load_types(dir) {
        out.error(&dir.join("schema.json"), e.to_string());
    }
    out
}

fn check_wal(dir: &Path, out: &mut PartitionCheck) {
    let listed = match list_segment_files(dir) {
        Ok(l) => l,
        Err(e) => return out.error(dir, format!("cannot list: {e}")),
    };
    let mut memtable = Memtable::new();
    let mut next_lsn = None;
    let count = listed.len();
    for (k, (first_lsn, path)) in listed.into_iter().enumerate() {
        out.wal_segments += 1;
        let last = k + 1 == count;
        if let Some(expected) = next_lsn {
            if first_lsn != expected {
                out.error(
                    &path,
                    format!("starts at lsn {first_lsn}, the segment before ends at lsn {}: segments are missing", expected - 1),
                );
            }
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                out.error(&path, format!("cannot read: {e}"));
                continue;
            }
        };
        let header = bytes.get(..HEADER_LEN).map(framing::decode_header);
        match header {
            Some(Ok(lsn)) if lsn == first_lsn => {}
            Some(Ok(lsn)) => out.error(
                &path,
                format!("header says first lsn {lsn}, the name {first_lsn}"),
            ),
            Some(Err(e)) => out.error(&path, format!("header unreadable: {e:?}")),
            None if last => out.note(
                &path,
                "shorter than its header (crash while creating it; start-up rewrites it)".into(),
            ),
            None => out.error(&path, "shorter than its header".into()),
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or(&[]);
        let scan = framing::scan(body, first_lsn);
        for r in &scan.records {
            out.wal_records += 1;
            let Some(p) = body.get(r.payload.clone()) else {
                continue;
            };
            match payload::decode(p) {
                Some(payload::Record::Points { db, rp, batch }) => {
                    if let Err(e) = memtable.apply_buf(db, rp, batch) {
                        out.error(&path, format!("record lsn {}: {e}", r.lsn));
                    }
                }
                Some(_) => {}
                None => out.error(&path, format!("record lsn {}: unknown payload", r.lsn)),
            }
        }
        next_lsn = Some(first_lsn + scan.records.len() as u64);
        let rest = &body[scan.end.min(body.len())..];
        let damaged = match scan.stop {
            Stop::End | Stop::Padding => None,
            Stop::Incomplete { .. } if framing::is_zero(rest) => None,
            Stop::Incomplete { need } => Some(format!("torn record ({need} bytes missing)")),
            Stop::Corrupt(c) => Some(format!("{c:?}")),
        };
        if let Some(why) = damaged {
            let at = HEADER_LEN + scan.end;
            if last {
                out.note(&path, format!("tail after lsn {} (byte {at}) is not intact: {why}; start-up cuts it (never acknowledged)", first_lsn + scan.records.len() as u64 - 1));
            } else {
                out.error(
                    &path,
                    format!(
                        "damaged at byte {at}: {why} (not the last segment: start-up refuses it)"
                    ),
                );
            }
        }
    }
}

fn check_segments(dir: &Path, out: &mut PartitionCheck) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => return out.error(dir, format!("cannot list: {e}")),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".tmp") {
            out.note(
                &path,
                "leftover of an interrupted seal (start-up deletes it)".into(),
            );
            continue;
        }
        if name
            .strip_suffix(".seg")
            .and_then(parse_segment_name)
            .is_none()
        {
            continue;
        }
        out.segment_files += 1;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                out.error(&path, format!("cannot read: {e}"));
                continue;
            }
        };
        let reader = match SegmentReader::open(&bytes) {
            Ok(r) => r,
            Err(e) => {
                out.error(&path, format!("frame or footer: {e}"));
                continue;
            }
        };
        for idx in 0..reader.series_count() {
            match reader.read_series(idx, i64::MIN, i64::MAX) {
                Ok(s) => out.rows += s.times.len() as u64,
                Err(e) => {
                    out.error(&path, format!("series {idx}: {e}"));
                    break;
                }
            }
        }
    }
}
