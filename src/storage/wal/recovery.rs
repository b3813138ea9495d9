//! Recovery at open: every segment replayed in LSN order, a torn or corrupt tail of the last
//! segment cut, damage anywhere else refused, and the WAL positioned to append after the last
//! intact record. See "Recovery" in the module doc.

use super::commit::{interval_sync, OpenBatch};
use super::files::{
    create_segment, io_err, list_segments, prime_iopoll_probe, rewrite_header, segment_path,
    Segment, NEXT_NAME, SPARE_NAME,
};
use super::framing::{self, Stop, HEADER_LEN};
use super::{FsyncPolicy, Inner, Wal, WalError, WalRecord, WalStats};
use glommio::io::{DmaFile, OpenOptions};
use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How long a stopped WAL waits before (each attempt at) reopening: a client retrying at once
/// must not make it replay its segments in a loop.
const HEAL_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// Bytes read at a time during recovery.
pub(super) const READ_CHUNK_LEN: usize = 4 << 20;

impl Wal {
    /// Opens or creates the WAL of one partition in `dir`, replays every intact record in LSN
    /// order through `replay`, cuts a torn or corrupt tail of the last segment, and returns the
    /// WAL positioned to append. On error, records may already have been replayed: the caller
    /// must not serve from that state. Must run inside a glommio executor.
    pub async fn open(
        dir: &Path,
        policy: FsyncPolicy,
        mut replay: impl FnMut(WalRecord<'_>),
    ) -> Result<Wal, WalError> {
        let dir = &prepare_dir(dir).await?;
        let Loaded {
            segments,
            next_lsn,
            tail,
            offset,
            carry,
        } = load(dir, &mut replay).await?;
        let alignment = tail.file.alignment();
        let inner = Rc::new(RefCell::new(Inner {
            dir: dir.to_path_buf(),
            policy,
            file: Rc::new(tail.file),
            alignment,
            segments,
            next_lsn,
            durable_lsn: next_lsn - 1,
            open: OpenBatch::new(offset, carry),
            flushing: false,
            syncs_in_flight: 0,
            rotators: Vec::new(),
            poisoned: None,
            no_space: false,
            healing: false,
            epoch: 0,
            wakers: Vec::new(),
            bytes_since_rotate: tail.record_bytes,
            dirty: false,
            stats: WalStats::default(),
            fsync_seconds: crate::metrics::Histogram::new(crate::metrics::FSYNC_BUCKETS),
            spare: None,
            spare_busy: false,
            flushes: std::collections::VecDeque::new(),
            queue: glommio::executor().current_task_queue(),
            file_gen: 0,
            zeroed_end: tail.end,
            zeroing: None,
            batch_end: 0,
            zero_waits: 0,
            zero_stopped: false,
            zero_ahead: zero_ahead_default(),
        }));
        if let FsyncPolicy::Interval(period) = policy {
            let weak = Rc::downgrade(&inner);
            inner.borrow().spawn(interval_sync(weak, period));
        }
        Ok(Wal { inner })
    }

    /// After a write found no space (`WalError::NoSpace`): reopens the WAL as recovery does (the
    /// last segment cut after its last intact record and synced) and takes appends again. Tries
    /// every `HEAL_RETRY` until that works (it needs no new space unless the last segment was
    /// being created). Returns at once when the WAL is not stopped for want of space or a heal
    /// runs already.
    pub async fn heal(&self) {
        let dir = {
            let mut i = self.inner.borrow_mut();
            if i.poisoned.is_none() || !i.no_space || i.healing {
                return;
            }
            i.healing = true;
            i.dir.clone()
        };
        let loaded = loop {
            // Also lets a batch in flight end (the flush task stops at the poison), and the
            // syncs in flight on the old file (one finishing after the heal would mark LSNs
            // that are given again as durable).
            glommio::timer::sleep(HEAL_RETRY).await;
            {
                let i = self.inner.borrow();
                if i.flushing || i.syncs_in_flight > 0 || i.zeroing.is_some() {
                    continue;
                }
            }
            let attempt = async {
                remove_leftovers(&dir)?;
                load(&dir, &mut |_| {}).await
            };
            match attempt.await {
                Ok(loaded) => break loaded,
                Err(e) => super::log_heal_failed(&dir, &e),
            }
        };
        let mut i = self.inner.borrow_mut();
        let Loaded {
            segments,
            next_lsn,
            tail,
            offset,
            carry,
        } = loaded;
        i.alignment = tail.file.alignment();
        i.file_gen += 1;
        i.zeroed_end = tail.end;
        i.batch_end = 0;
        i.zero_stopped = false;
        i.file = Rc::new(tail.file);
        i.segments = segments;
        i.next_lsn = next_lsn;
        i.durable_lsn = next_lsn - 1;
        i.open = OpenBatch::new(offset, carry);
        i.bytes_since_rotate = tail.record_bytes;
        i.dirty = false;
        i.spare = None;
        i.flushes.clear();
        i.poisoned = None;
        i.no_space = false;
        i.healing = false;
        i.epoch += 1;
        i.wake_all();
        super::log_healed(&dir, next_lsn);
    }
}

/// Whether a WAL opened on this thread writes zeros ahead (always, but in unit tests that do not
/// ask for it).
fn zero_ahead_default() -> bool {
    #[cfg(test)]
    return super::tests::ZERO_AHEAD.with(|z| z.get());
    #[cfg(not(test))]
    true
}

/// The WAL's files after a replay, positioned to append.
struct Loaded {
    segments: Vec<Segment>,
    next_lsn: u64,
    tail: Tail,
    /// Where the next batch starts, and the bytes of its block already in the file.
    offset: u64,
    carry: Vec<u8>,
}

/// Replays `dir`'s segments through `replay`, cuts the last one after its last intact record
/// (or creates the first), and reads the block appends continue.
async fn load(dir: &Path, replay: &mut impl FnMut(WalRecord<'_>)) -> Result<Loaded, WalError> {
    {
        let (mut segments, next_lsn, tail) = replay_segments(dir, replay).await?;
        let tail = match tail {
            Some(t) => t,
            None => {
                let seg = Segment {
                    first_lsn: next_lsn,
                    path: segment_path(dir, next_lsn),
                };
                let file = create_segment(dir, &seg).await?;
                segments.push(seg);
                Tail {
                    file,
                    end: HEADER_LEN as u64,
                    record_bytes: 0,
                }
            }
        };
        let (offset, carry) = last_block(&tail.file, tail.end, dir).await?;
        Ok(Loaded {
            segments,
            next_lsn,
            tail,
            offset,
            carry,
        })
    }
}

/// The segment appends go to after recovery: its file, the offset just after its last intact
/// record, and the bytes of its records.
struct Tail {
    file: DmaFile,
    end: u64,
    record_bytes: u64,
}

/// Creates `dir` if needed and returns its canonical path, with glommio's polled-I/O probe primed
/// and any spare left by the last run deleted (see "glommio notes" and "Recycled segments").
async fn prepare_dir(dir: &Path) -> Result<PathBuf, WalError> {
    std::fs::create_dir_all(dir).map_err(io_err("creating directory", dir))?;
    // glommio opens relative to fd -1, not the working directory: relative paths fail (EBADF).
    let dir = std::fs::canonicalize(dir).map_err(io_err("resolving", dir))?;
    prime_iopoll_probe(&dir).await?;
    remove_leftovers(&dir)?;
    Ok(dir)
}

/// Deletes a spare or next segment left by the last run (or by a rotation that failed): either
/// may be half written, and one is made again when needed.
fn remove_leftovers(dir: &Path) -> Result<(), WalError> {
    for name in [SPARE_NAME, NEXT_NAME] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("deleting", &dir.join(name))(e)),
        }
    }
    Ok(())
}

/// Replays the segments of `dir` in LSN order. Returns them, the LSN after the last replayed
/// record, and the last segment, cut after its last intact record and synced (`None` when there
/// is no segment yet). A gap between segments or damage before the last one is an error.
async fn replay_segments(
    dir: &Path,
    replay: &mut impl FnMut(WalRecord<'_>),
) -> Result<(Vec<Segment>, u64, Option<Tail>), WalError> {
    let listed = list_segments(dir)?;
    let mut segments = Vec::with_capacity(listed.len() + 1);
    let mut next_lsn = listed.first().map_or(1, |s| s.first_lsn);
    let mut tail = None;
    let count = listed.len();
    for (k, seg) in listed.into_iter().enumerate() {
        let last = k + 1 == count;
        if seg.first_lsn != next_lsn {
            return Err(WalError::Gap {
                path: seg.path,
                expected: next_lsn,
                found: seg.first_lsn,
            });
        }
        let file = open_segment(&seg, last).await?;
        let mut r = replay_segment(&file, &seg, replay).await?;
        settle(&file, &seg, last, &mut r).await?;
        next_lsn = r.next_lsn;
        if last {
            tail = Some(cut_tail(file, &seg, &r).await?);
        } else {
            let _ = file.close().await;
        }
        segments.push(seg);
    }
    Ok((segments, next_lsn, tail))
}

/// Opens a segment to replay it: the last one for writing too (its tail may be cut, and appends
/// go there), the others read-only.
async fn open_segment(seg: &Segment, last: bool) -> Result<DmaFile, WalError> {
    if last {
        OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(&seg.path)
            .await
    } else {
        DmaFile::open(&seg.path).await
    }
    .map_err(|e| io_err("opening", &seg.path)(e.into()))
}

/// Acts on how the replay of `seg` ended. In the last segment a torn or corrupt tail is dropped
/// (stderr says so when it held more than zeros), and an unreadable header with nothing after it
/// (a crash while the segment was being created) is written again. Anywhere else either is damage,
/// not a crash artefact: an error.
async fn settle(
    file: &DmaFile,
    seg: &Segment,
    last: bool,
    r: &mut Replayed,
) -> Result<(), WalError> {
    match &r.outcome {
        Outcome::Clean => {}
        Outcome::BadHeader(reason) if last && r.empty_besides_header => {
            tracing::warn!(
                segment = %seg.path.display(),
                %reason,
                "WAL segment header unreadable and no records: rewriting it (crash while creating it)"
            );
            rewrite_header(file, seg).await?;
            r.end = HEADER_LEN as u64;
            r.file_len = r.end;
        }
        Outcome::BadHeader(reason) => {
            return Err(WalError::Corrupt {
                path: seg.path.clone(),
                offset: 0,
                reason: reason.clone(),
            })
        }
        Outcome::Cut { nonzero: false, .. } => {}
        Outcome::Cut { reason, nonzero } if last => {
            if *nonzero {
                tracing::warn!(
                    segment = %seg.path.display(),
                    bytes_cut = r.file_len - r.end,
                    after_lsn = r.next_lsn - 1,
                    offset = r.end,
                    %reason,
                    "WAL recovery cut a torn tail"
                );
            }
        }
        Outcome::Cut { reason, .. } => {
            return Err(WalError::Corrupt {
                path: seg.path.clone(),
                offset: r.end,
                reason: reason.clone(),
            })
        }
    }
    Ok(())
}

/// Truncates the last segment to the end of its last intact record and fdatasyncs it.
async fn cut_tail(file: DmaFile, seg: &Segment, r: &Replayed) -> Result<Tail, WalError> {
    if r.file_len > r.end {
        file.truncate(r.end)
            .await
            .map_err(|e| io_err("truncating", &seg.path)(e.into()))?;
    }
    // What was replayed may have been written but never synced before the crash (under
    // `Interval`/`Never`, or a batch whose sync did not return): make it durable now,
    // since the caller builds on it.
    file.fdatasync()
        .await
        .map_err(|e| io_err("syncing", &seg.path)(e.into()))?;
    Ok(Tail {
        file,
        end: r.end,
        record_bytes: r.record_bytes,
    })
}

/// The aligned offset of the block that holds byte `end`, and that block's bytes before `end`:
/// the first batch after open writes that block again, those bytes first (see "Writing"). `dir`
/// names the WAL in errors.
async fn last_block(file: &DmaFile, end: u64, dir: &Path) -> Result<(u64, Vec<u8>), WalError> {
    let offset = end - end % file.alignment();
    let carry = if end > offset {
        let read = file
            .read_at(offset, (end - offset) as usize)
            .await
            .map_err(|e| io_err("reading", dir)(e.into()))?;
        read.to_vec()
    } else {
        Vec::new()
    };
    if carry.len() as u64 != end - offset {
        return Err(io_err("reading", dir)(io::Error::from(
            io::ErrorKind::UnexpectedEof,
        )));
    }
    Ok((offset, carry))
}

/// What `replay_segment` found.
struct Replayed {
    next_lsn: u64,
    /// File offset just after the last intact record (or the header).
    end: u64,
    file_len: u64,
    record_bytes: u64,
    empty_besides_header: bool,
    outcome: Outcome,
}

enum Outcome {
    Clean,
    BadHeader(String),
    /// The scan stopped before the end of the file: at a zero length field (`nonzero` false: the
    /// end of the records), or at a torn or corrupt record (`nonzero` true: worth a message).
    Cut {
        reason: String,
        nonzero: bool,
    },
}

/// Replays the intact records of one segment through `replay`, reading `READ_CHUNK_LEN` at a
/// time, and says where and why the scan stopped.
async fn replay_segment(
    file: &DmaFile,
    seg: &Segment,
    replay: &mut impl FnMut(WalRecord<'_>),
) -> Result<Replayed, WalError> {
    let err = |op| io_err(op, &seg.path);
    let file_len = file
        .file_size()
        .await
        .map_err(|e| err("reading size of")(e.into()))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_offset = 0u64; // file offset of buf[0]
    let mut read_pos = 0u64;
    read_chunk(file, &seg.path, file_len, &mut buf, &mut read_pos).await?;
    let mut result = Replayed {
        next_lsn: seg.first_lsn,
        end: HEADER_LEN as u64,
        file_len,
        record_bytes: 0,
        empty_besides_header: false,
        outcome: Outcome::Clean,
    };
    if !check_header(file, seg, &mut buf, &mut read_pos, &mut result).await? {
        return Ok(result);
    }
    let mut start = HEADER_LEN;
    let mut lsn = seg.first_lsn;
    loop {
        let s = framing::scan(&buf[start..], lsn);
        for r in &s.records {
            replay(WalRecord {
                lsn: r.lsn,
                payload: &buf[start + r.payload.start..start + r.payload.end],
            });
            result.record_bytes += framing::record_len(r.payload.len()) as u64;
        }
        lsn += s.records.len() as u64;
        start += s.end;
        result.next_lsn = lsn;
        result.end = buf_offset + start as u64;
        let more = read_pos < file_len;
        // Fewer than 4 zero bytes left in the buffer are a length field cut by the read chunk,
        // not yet the end of the records.
        let stop = match s.stop {
            Stop::Padding if more && buf.len() - start < framing::LEN_FIELD_LEN => Stop::End,
            other => other,
        };
        match stop {
            Stop::End | Stop::Incomplete { .. } if more => {
                buf.drain(..start);
                buf_offset += start as u64;
                start = 0;
                read_chunk(file, &seg.path, file_len, &mut buf, &mut read_pos).await?;
            }
            stop => {
                result.outcome = final_outcome(stop, result.end, file_len);
                return Ok(result);
            }
        }
    }
}

/// Checks the segment header at the start of `buf` (the first chunk read) against the file name.
/// `false` when it does not hold: `result` then says why, and no record of the segment is
/// replayed. For an unreadable header it also says whether the rest of the file is all zeros,
/// reading on to its end to find out.
async fn check_header(
    file: &DmaFile,
    seg: &Segment,
    buf: &mut Vec<u8>,
    read_pos: &mut u64,
    result: &mut Replayed,
) -> Result<bool, WalError> {
    let file_len = result.file_len;
    match framing::decode_header(buf) {
        Ok(first) if first == seg.first_lsn => Ok(true),
        Ok(first) => {
            result.outcome = Outcome::BadHeader(format!(
                "header says first lsn {first}, file name says {}",
                seg.first_lsn
            ));
            Ok(false)
        }
        Err(e) => {
            result.end = 0;
            let mut empty = framing::is_zero(buf.get(HEADER_LEN..).unwrap_or(&[]));
            while empty && *read_pos < file_len {
                buf.clear();
                read_chunk(file, &seg.path, file_len, buf, read_pos).await?;
                empty = framing::is_zero(buf);
            }
            result.empty_besides_header = empty;
            result.outcome = Outcome::BadHeader(e.to_string());
            Ok(false)
        }
    }
}

/// What it means for a segment that its scan stopped at `stop` with nothing left to read, `end`
/// being the offset just after the last intact record.
fn final_outcome(stop: Stop, end: u64, file_len: u64) -> Outcome {
    match stop {
        Stop::End => Outcome::Clean,
        // A zero length field ends the records; what follows is padding, or the old
        // bytes of a recycled file, and is never read.
        Stop::Padding if end < file_len => Outcome::Cut {
            reason: "end of records".into(),
            nonzero: false,
        },
        Stop::Padding => Outcome::Clean,
        Stop::Incomplete { need } => Outcome::Cut {
            reason: format!("last record is torn ({need} bytes missing)"),
            nonzero: true,
        },
        Stop::Corrupt(c) => Outcome::Cut {
            reason: c.to_string(),
            nonzero: true,
        },
    }
}

/// Appends the next `READ_CHUNK_LEN` bytes (at most) of the file at `*read_pos` to `buf`.
async fn read_chunk(
    file: &DmaFile,
    path: &Path,
    file_len: u64,
    buf: &mut Vec<u8>,
    read_pos: &mut u64,
) -> Result<(), WalError> {
    let size = (file_len - *read_pos).min(READ_CHUNK_LEN as u64) as usize;
    if size == 0 {
        return Ok(());
    }
    let r = file
        .read_at(*read_pos, size)
        .await
        .map_err(|e| io_err("reading", path)(e.into()))?;
    if r.len() != size {
        return Err(io_err("reading", path)(io::ErrorKind::UnexpectedEof.into()));
    }
    *read_pos += size as u64;
    buf.extend_from_slice(&r);
    Ok(())
}
