//! Segment files: their names and listing, creating one, deleting old ones
//! (`Wal::truncate_before`) and keeping the newest deleted one as the spare that the next rotation
//! turns into a segment, the writes of a segment's header block, and the directory fsync that
//! makes creations, renames and unlinks durable. See "Files" and "Recycled segments" in the module
//! doc.

use super::framing::{self, HEADER_LEN};
use super::{Wal, WalError};
use glommio::io::{DmaFile, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The spare segment (see "Recycled segments"): its file name in the WAL directory (not a
/// segment name, so a listing ignores it; start-up deletes a leftover one).
pub(super) const SPARE_NAME: &str = "spare.tmp";
/// The name a rotation creates the next segment under when there is no spare (a recycle may be
/// renaming a deleted segment to the spare's name at that moment); start-up deletes a leftover one.
pub(super) const NEXT_NAME: &str = "next.tmp";
/// A deleted segment smaller than this is unlinked rather than kept as the spare (in unit tests
/// every one is kept, so they all run on recycled files).
const SPARE_LEN_MIN: u64 = if cfg!(test) { 1 } else { 1 << 20 };

/// A segment file of the WAL directory and the LSN of its first record (its name).
pub(super) struct Segment {
    pub(super) first_lsn: u64,
    pub(super) path: PathBuf,
}

impl Wal {
    /// Deletes every segment whose records all have an LSN below `lsn` (never the current one),
    /// oldest first, then fsyncs the directory.
    ///
    /// Pass the smallest LSN whose data is not yet in a durable sealed segment, not blindly the
    /// value `rotate` returned: a record with a smaller LSN may still sit only in a memtable (it
    /// was applied after the seal), and deleting its segment would lose it on a crash.
    pub async fn truncate_before(&self, lsn: u64) -> Result<(), WalError> {
        let (dir, victims) = {
            let mut i = self.inner.borrow_mut();
            let mut k = 0;
            while k + 1 < i.segments.len() && i.segments[k + 1].first_lsn <= lsn {
                k += 1;
            }
            let victims: Vec<Segment> = i.segments.drain(..k).collect();
            (i.dir.clone(), victims)
        };
        if victims.is_empty() {
            return Ok(());
        }
        let count = victims.len();
        let mut victims = victims.into_iter().enumerate();
        while let Some((k, seg)) = victims.next() {
            // The newest victim becomes the spare when there is none (oldest go first, so the
            // segments left on disk stay contiguous); the others are unlinked, on glommio's
            // blocking-thread pool (unlinking a large file may wait for the disk).
            // Not while a rotation holds the spare: it renames the spare's name into place, and
            // a victim renamed to that name meanwhile would be the file it installs.
            // Nor while a zeroing may still write into it (see "Zero-ahead"): only the current
            // segment's zeroing is waited for by appends.
            let recycle = k + 1 == count && {
                let mut i = self.inner.borrow_mut();
                let zeroing_old = i.zeroing.is_some_and(|(g, _)| g != i.file_gen);
                let free = i.spare.is_none() && !i.spare_busy && !zeroing_old;
                i.spare_busy |= free;
                free
            };
            let removed = if recycle {
                let spare = recycle_segment(&dir, &seg).await;
                let mut i = self.inner.borrow_mut();
                i.spare_busy = false;
                spare.map(|spare| i.spare = spare)
            } else {
                glommio::io::remove(&seg.path)
                    .await
                    .map_err(io::Error::from)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    // Keep the rest (oldest first) so the segments on disk stay contiguous.
                    let mut i = self.inner.borrow_mut();
                    let rest: Vec<Segment> = std::iter::once(Segment {
                        first_lsn: seg.first_lsn,
                        path: seg.path.clone(),
                    })
                    .chain(victims.map(|(_, s)| s))
                    .collect();
                    i.segments.splice(0..0, rest);
                    return Err(io_err("deleting", &seg.path)(e));
                }
            }
        }
        sync_dir(&dir).await
    }
}

/// Makes glommio decide correctly whether the device of `dir` supports polled I/O.
///
/// glommio probes that once per executor thread and device, with a read at offset 0 of the first
/// `DmaFile` opened there, and caches the answer. If that file is empty the read succeeds without
/// touching the device, the device is wrongly marked pollable, and every later DMA read fails with
/// EOPNOTSUPP (glommio issues #605 and #670; seen here on virtio-blk). So before any other
/// `DmaFile` on this thread, open one that holds a block of data. Call this first on every
/// executor that opens DMA files in `dir` (`Wal::open` does).
pub async fn prime_iopoll_probe(dir: &Path) -> Result<(), WalError> {
    let path = dir.join(".iopoll-probe");
    std::fs::write(&path, [0xA5u8; 4096]).map_err(io_err("writing", &path))?;
    let opened = DmaFile::open(&path).await;
    let _ = std::fs::remove_file(&path);
    let file = opened.map_err(|e| io_err("opening", &path)(e.into()))?;
    let _ = file.close().await;
    Ok(())
}

/// The file of the segment that will start at `first_lsn` and its name for now: the spare when
/// there is one, else a new file under [`NEXT_NAME`]; its first block written over with the
/// header for `first_lsn` and zeros (an empty segment; a recycled file's old records after it are
/// never read), and fdatasync'd. `install_spare` then makes it the segment.
pub(super) async fn prepare_spare(
    dir: &Path,
    first_lsn: u64,
    spare: Option<Rc<DmaFile>>,
) -> Result<(Rc<DmaFile>, PathBuf), WalError> {
    let path = dir.join(if spare.is_some() {
        SPARE_NAME
    } else {
        NEXT_NAME
    });
    let file = match spare {
        Some(file) => file,
        None => Rc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .dma_open(&path)
                .await
                .map_err(|e| io_err("creating", &path)(e.into()))?,
        ),
    };
    write_header_block(&file, first_lsn, &path).await?;
    Ok((file, path))
}

/// Makes the file `prepare_spare` made under `name` the segment `seg`: rename, then directory
/// fsync. The header is on disk before the rename, so a file under a segment name always carries
/// its own header; a crash before the rename leaves only a spare, which start-up deletes.
pub(super) async fn install_spare(dir: &Path, name: &Path, seg: &Segment) -> Result<(), WalError> {
    glommio::io::rename(name, &seg.path)
        .await
        .map_err(|e| io_err("renaming", name)(e.into()))?;
    sync_dir(dir).await
}

/// Renames a segment whose records are all in durable sealed segments to the spare name and
/// opens it for the next rotation. `None` (and the file unlinked) when it is too small to be
/// worth keeping.
async fn recycle_segment(dir: &Path, seg: &Segment) -> io::Result<Option<Rc<DmaFile>>> {
    let spare = dir.join(SPARE_NAME);
    glommio::io::rename(&seg.path, &spare).await?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(&spare)
        .await?;
    if file.file_size().await? < SPARE_LEN_MIN {
        let _ = file.close().await;
        glommio::io::remove(&spare).await?;
        return Ok(None);
    }
    Ok(Some(Rc::new(file)))
}

/// Creates an empty segment: header block, fdatasync, directory fsync.
pub(super) async fn create_segment(dir: &Path, seg: &Segment) -> Result<DmaFile, WalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .dma_open(&seg.path)
        .await
        .map_err(|e| io_err("creating", &seg.path)(e.into()))?;
    rewrite_header(&file, seg).await?;
    sync_dir(dir).await?;
    Ok(file)
}

/// Empties the file of `seg` and writes its header block: an empty segment (`create_segment`, and
/// recovery for a last segment whose header was torn while it was being created).
pub(super) async fn rewrite_header(file: &DmaFile, seg: &Segment) -> Result<(), WalError> {
    file.truncate(0)
        .await
        .map_err(|e| io_err("truncating", &seg.path)(e.into()))?;
    write_header_block(file, seg.first_lsn, &seg.path).await
}

/// Writes the first block of a segment: its header for `first_lsn`, then zeros (no record), and
/// fdatasyncs. `path` names the file in errors.
async fn write_header_block(file: &DmaFile, first_lsn: u64, path: &Path) -> Result<(), WalError> {
    let mut block = vec![0u8; file.alignment() as usize];
    block[..HEADER_LEN].copy_from_slice(&framing::encode_header(first_lsn));
    write_all(file, &block, 0)
        .await
        .map_err(io_err("writing", path))?;
    file.fdatasync()
        .await
        .map_err(|e| io_err("syncing", path)(e.into()))
}

/// fsyncs a directory (its renames and unlinks become durable) through the io_uring.
pub(crate) async fn sync_dir(dir: &Path) -> Result<(), WalError> {
    let err = |op| io_err(op, dir);
    let d = glommio::io::Directory::open(dir)
        .await
        .map_err(|e| err("opening directory")(e.into()))?;
    d.sync()
        .await
        .map_err(|e| err("syncing directory")(e.into()))?;
    let _ = d.close().await;
    Ok(())
}

/// The path of the segment whose first record has `first_lsn` (20 digits: names sort like LSNs).
pub(super) fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// Segment files of `dir`, sorted by first LSN.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name.strip_suffix(".wal") else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(first_lsn) = digits.parse::<u64>() else {
            continue;
        };
        segs.push(Segment {
            first_lsn,
            path: entry.path(),
        });
    }
    segs.sort_by_key(|s| s.first_lsn);
    Ok(segs)
}

/// Turns an I/O error of `op` on `path` into `WalError::Io`, for `map_err`.
pub(super) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> WalError + 'a {
    move |source| WalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` at `pos` through fresh O_DIRECT buffers, resuming after short writes. `pos`
/// must be aligned and `bytes` a whole number of blocks, except after a short write, where the
/// write goes back to the block boundary below.
pub(super) async fn write_all(file: &DmaFile, bytes: &[u8], pos: u64) -> io::Result<()> {
    let align = file.alignment();
    // Go back to a block boundary (only after a short write); those bytes are already written.
    let back = (pos % align) as usize;
    let start = pos - back as u64;
    let mut owned = Vec::new();
    let bytes = if back > 0 {
        let head = file.read_at(start, back).await?;
        if head.len() != back {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        owned.extend_from_slice(&head);
        owned.extend_from_slice(bytes);
        &owned[..]
    } else {
        bytes
    };
    let mut done = 0usize;
    while done < bytes.len() {
        let rest = &bytes[done..];
        let mut buf = file.alloc_dma_buffer(rest.len());
        buf.as_bytes_mut().copy_from_slice(rest);
        let n = file.write_at(buf, start + done as u64).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += if n >= rest.len() {
            rest.len()
        } else {
            n - n % align as usize
        };
    }
    Ok(())
}
