//! A segment file read series by series in key order without holding it, for a merge (a
//! compaction's inputs): the footer is read a window at a time, and the blocks through a
//! read-ahead window, since a merge asks for them in file order. Memory: the two windows and
//! one series.

use super::bits::Cursor;
use super::footer::{meta_of, read_whole_at, BlockSource, ReadStats, SeriesMeta};
use super::read::{io_error as io, le_u32, read_entry, read_footer_head, read_frame, Frame};
use super::{SegmentError, SeriesData, TRAILER_BYTES};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Bytes one read of the footer or of blocks asks for (more when one entry or block is larger).
const WINDOW: usize = 16 * 1024;

/// See the module doc. [`SegmentStream::next_series`] gives the footer's entries in order; the
/// footer's CRC is checked when the last one has been read (before `next_series` answers
/// `None`), so a merge keeps its output only once every input's stream has ended.
pub struct SegmentStream {
    blocks: ReadAhead,
    footer: FooterWindow,
    footer_offset: usize,
    trailer: [u8; TRAILER_BYTES],
    db: String,
    rp: String,
    left: usize,
    prev: Option<SeriesMeta>,
    checked: bool,
}

impl SegmentStream {
    /// Opens `path` and reads its header, trailer and the footer's first fields.
    pub fn open(path: &Path) -> Result<Self, SegmentError> {
        let file = File::open(path).map_err(io)?;
        let Frame {
            len,
            trailer,
            footer_offset,
        } = read_frame(&file)?;
        let mut footer = FooterWindow {
            file: file.try_clone().map_err(io)?,
            buf: Vec::new(),
            pos: 0,
            read_to: footer_offset as u64,
            end: len - TRAILER_BYTES as u64,
            crc: 0,
        };
        let (db, rp, left) = footer.parse(|cur| {
            let h = read_footer_head(cur)?;
            Ok((h.db.to_string(), h.rp.to_string(), h.series_count))
        })?;
        Ok(SegmentStream {
            blocks: ReadAhead {
                file,
                len,
                buf: RefCell::new(Vec::new()),
                start: Cell::new(0),
            },
            footer,
            footer_offset,
            trailer,
            db,
            rp,
            left,
            prev: None,
            checked: false,
        })
    }

    pub fn db(&self) -> &str {
        &self.db
    }

    pub fn rp(&self) -> &str {
        &self.rp
    }

    /// The next series' footer entry; `None` once all were given and the footer checked.
    /// Keys must ascend (the writer's order).
    pub fn next_series(&mut self) -> Result<Option<SeriesMeta>, SegmentError> {
        if self.left == 0 {
            if !self.checked {
                self.check_end()?;
                self.checked = true;
            }
            return Ok(None);
        }
        let data_end = self.footer_offset;
        let prev = self.prev.as_ref();
        let meta = self.footer.parse(|cur| {
            let entry = read_entry(cur, data_end)?;
            // Names shared with the previous series, as a cached footer shares them.
            let mut share = |b: &[u8], p: Option<&Arc<[u8]>>| {
                p.filter(|p| ***p == *b)
                    .cloned()
                    .unwrap_or_else(|| b.into())
            };
            Ok(meta_of(&entry, prev, &mut share))
        })?;
        if prev.is_some_and(|p| p.key >= meta.key) {
            return Err(SegmentError::Corrupt("series keys out of order"));
        }
        self.left -= 1;
        self.prev = Some(meta.clone());
        Ok(Some(meta))
    }

    /// Every row and column of the series of `meta` (an entry [`SegmentStream::next_series`]
    /// gave), every block checked.
    pub fn read(&self, meta: &SeriesMeta) -> Result<SeriesData, SegmentError> {
        read_whole_at(
            &self.blocks,
            meta,
            self.blocks.len,
            &mut ReadStats::default(),
        )
    }

    fn check_end(&self) -> Result<(), SegmentError> {
        let f = &self.footer;
        if f.pos != f.buf.len() || f.read_to != f.end {
            return Err(SegmentError::Corrupt("trailing bytes in footer"));
        }
        let crc = crc32c::crc32c_append(f.crc, &self.trailer[..8]);
        if crc != le_u32(&self.trailer[8..12]) {
            return Err(SegmentError::FooterChecksum);
        }
        Ok(())
    }
}

/// The part of the footer read so far and not yet parsed, and the CRC of all of it read.
struct FooterWindow {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    read_to: u64,
    end: u64,
    crc: u32,
}

impl FooterWindow {
    /// Parses one item with `f` from the unparsed bytes, reading more of the footer while `f`
    /// fails and some is left (an item cut by the window's end fails).
    fn parse<T>(
        &mut self,
        mut f: impl FnMut(&mut Cursor<'_>) -> Result<T, SegmentError>,
    ) -> Result<T, SegmentError> {
        loop {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let mut cur = Cursor::new(rest);
            match f(&mut cur) {
                Ok(v) => {
                    self.pos = self.buf.len() - cur.remaining();
                    return Ok(v);
                }
                Err(e) if self.read_to >= self.end => return Err(e),
                Err(_) => self.refill()?,
            }
        }
    }

    /// Drops the parsed bytes and reads at least a window more (as much again as is held, so an
    /// item larger than the window is read in a few steps).
    fn refill(&mut self) -> Result<(), SegmentError> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let want = WINDOW.max(self.buf.len()) as u64;
        let n = usize::try_from(want.min(self.end - self.read_to))
            .map_err(|_| SegmentError::Corrupt("footer length"))?;
        let old = self.buf.len();
        self.buf.resize(old + n, 0);
        self.file
            .read_exact_at(&mut self.buf[old..], self.read_to)
            .map_err(io)?;
        self.crc = crc32c::crc32c_append(self.crc, &self.buf[old..]);
        self.read_to += n as u64;
        Ok(())
    }
}

/// Blocks by positional reads of at least a window, answered from the last window when they
/// lie in it (a merge reads a file's blocks in order).
struct ReadAhead {
    file: File,
    len: u64,
    buf: RefCell<Vec<u8>>,
    start: Cell<u64>,
}

impl BlockSource for ReadAhead {
    fn fetch(&self, out: &mut [u8], offset: u64) -> std::io::Result<()> {
        let mut buf = self.buf.borrow_mut();
        let end = offset.saturating_add(out.len() as u64);
        let start = self.start.get();
        if offset < start || end > start + buf.len() as u64 {
            let n = (WINDOW as u64)
                .min(self.len.saturating_sub(offset))
                .max(out.len() as u64);
            let n = usize::try_from(n).map_err(std::io::Error::other)?;
            buf.resize(n, 0);
            self.file.read_exact_at(&mut buf[..], offset)?;
            self.start.set(offset);
        }
        let from = usize::try_from(offset - self.start.get()).map_err(std::io::Error::other)?;
        let src = buf
            .get(from..from + out.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(src);
        Ok(())
    }
}
