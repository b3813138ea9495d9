//! The segment writer: blocks in series-key order, then the footer index and the trailer.

use super::bits::{put_bytes, put_uvarint, zigzag};
use super::{codec, SeriesData, HEADER_BYTES, MAGIC, TRAILER_BYTES, VERSION};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Encodes a whole sealed segment (db, rp, the series in key order; input in another order is
/// sorted by key here, stably). Deterministic: the same input gives the same bytes.
pub fn encode_segment(db: &str, rp: &str, series: &[SeriesData]) -> Vec<u8> {
    let mut order: Vec<&SeriesData> = series.iter().collect();
    order.sort_by(|a, b| a.key.cmp(&b.key));
    let mut enc = SegmentEncoder::new();
    for s in order {
        enc.push(s);
    }
    enc.finish(db, rp)
}

/// [`encode_segment`] one series at a time, so that a caller can let other work run between
/// series (a seal encodes tens of thousands of rows). Pushed in key order, it gives the same
/// bytes as `encode_segment`.
pub struct SegmentEncoder {
    out: Vec<u8>,
    index: Vec<u8>,
    totals: Totals,
}

impl Default for SegmentEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SegmentEncoder {
    pub fn new() -> Self {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        SegmentEncoder {
            out,
            index: Vec::new(),
            totals: Totals::new(),
        }
    }

    /// Adds one series' blocks; series must come in ascending key order (the reader finds
    /// series by binary search over the index).
    pub fn push(&mut self, s: &SeriesData) {
        let (min, max) = self.totals.add(s);
        self.totals.value_count += write_series(&mut self.out, 0, &mut self.index, s, min, max);
    }

    /// The bytes of the file so far: its head and the blocks of the series pushed (the index
    /// comes after them).
    pub fn blocks_len(&self) -> usize {
        self.out.len()
    }

    /// The smallest and largest timestamp pushed so far (`(i64::MAX, i64::MIN)` before any),
    /// the range the footer records.
    pub fn time_range(&self) -> (i64, i64) {
        (self.totals.min, self.totals.max)
    }

    /// The footer index and trailer; the finished segment's bytes.
    pub fn finish(self, db: &str, rp: &str) -> Vec<u8> {
        let head = self.totals.footer_head(db, rp);
        let mut out = self.out;
        let footer_offset = out.len() as u64;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head), &self.index);
        out.extend_from_slice(&head);
        out.extend_from_slice(&self.index);
        out.extend_from_slice(&trailer(footer_offset, crc));
        out
    }
}

/// What a footer records of the series pushed so far: their count, the field values stored, the
/// smallest and largest timestamp (`(i64::MAX, i64::MIN)` before any).
struct Totals {
    series: u64,
    value_count: u64,
    min: i64,
    max: i64,
}

impl Totals {
    fn new() -> Self {
        Totals {
            series: 0,
            value_count: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }

    /// Counts one series (its values are added by the caller, from `write_series`); returns its
    /// (first, last) time.
    fn add(&mut self, s: &SeriesData) -> (i64, i64) {
        let (min, max) = time_bounds(&s.times);
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        self.series += 1;
        (min, max)
    }

    /// The footer's fields before the series index.
    fn footer_head(&self, db: &str, rp: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(db.len() + rp.len() + 40);
        put_bytes(&mut out, db.as_bytes());
        put_bytes(&mut out, rp.as_bytes());
        put_uvarint(&mut out, self.series);
        put_uvarint(&mut out, self.value_count);
        put_uvarint(&mut out, zigzag(self.min));
        put_uvarint(&mut out, zigzag(self.max));
        out
    }
}

/// The trailer: footer offset, the CRC of the footer (`footer_crc`, the CRC of its bytes so far)
/// and the offset, the magic.
fn trailer(footer_offset: u64, footer_crc: u32) -> [u8; TRAILER_BYTES] {
    let crc = crc32c::crc32c_append(footer_crc, &footer_offset.to_le_bytes());
    let mut t = [0u8; TRAILER_BYTES];
    t[..8].copy_from_slice(&footer_offset.to_le_bytes());
    t[8..12].copy_from_slice(&crc.to_le_bytes());
    t[12..].copy_from_slice(MAGIC);
    t
}

/// [`SegmentEncoder`] into a file, for a segment too large to hold (a compaction's output):
/// each series' blocks are written as they are encoded and its index entry goes to a side file
/// (unlinked as soon as it is created, so a crash leaves nothing of it), copied behind the
/// blocks by [`SegmentFileWriter::finish`]. Memory holds one series and two write buffers.
/// Pushed in key order, the file has `encode_segment`'s bytes.
pub struct SegmentFileWriter {
    out: BufWriter<File>,
    index: BufWriter<File>,
    block: Vec<u8>,
    entry: Vec<u8>,
    written: u64,
    index_bytes: u64,
    totals: Totals,
}

impl SegmentFileWriter {
    /// Creates `path` (truncating it); the side file is `path` with `.idx.tmp` added, unlinked
    /// at once (a crash in between leaves a `.tmp` file, which start-up deletes).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut side = path.as_os_str().to_owned();
        side.push(".idx.tmp");
        let side = Path::new(&side);
        let index = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(side)?;
        std::fs::remove_file(side)?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, File::create(path)?);
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        Ok(SegmentFileWriter {
            out,
            index: BufWriter::with_capacity(WRITE_BUFFER, index),
            block: Vec::new(),
            entry: Vec::new(),
            written: HEADER_BYTES as u64,
            index_bytes: 0,
            totals: Totals::new(),
        })
    }

    /// As [`SegmentEncoder::push`].
    pub fn push(&mut self, s: &SeriesData) -> std::io::Result<()> {
        let (min, max) = self.totals.add(s);
        self.block.clear();
        self.entry.clear();
        let base = usize::try_from(self.written).map_err(std::io::Error::other)?;
        self.totals.value_count +=
            write_series(&mut self.block, base, &mut self.entry, s, min, max);
        self.out.write_all(&self.block)?;
        self.written += self.block.len() as u64;
        self.index.write_all(&self.entry)?;
        self.index_bytes += self.entry.len() as u64;
        Ok(())
    }

    /// Writes the footer and trailer and fdatasyncs the file; returns its length and the time
    /// range of its rows.
    pub fn finish(mut self, db: &str, rp: &str) -> std::io::Result<(u64, (i64, i64))> {
        let footer_offset = self.written;
        let range = (self.totals.min, self.totals.max);
        let head = self.totals.footer_head(db, rp);
        self.out.write_all(&head)?;
        let mut crc = crc32c::crc32c(&head);
        let mut index = self.index.into_inner().map_err(|e| e.into_error())?;
        index.seek(SeekFrom::Start(0))?;
        let mut buf = vec![0u8; WRITE_BUFFER];
        let mut copied = 0u64;
        loop {
            let n = index.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            self.out.write_all(&buf[..n])?;
            copied += n as u64;
        }
        if copied != self.index_bytes {
            return Err(std::io::Error::other("segment index side file cut short"));
        }
        self.out.write_all(&trailer(footer_offset, crc))?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        let len = footer_offset + head.len() as u64 + copied + TRAILER_BYTES as u64;
        Ok((len, range))
    }
}

/// Buffer size of [`SegmentFileWriter`]'s two files.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes one series' blocks to `out` and its index entry to `index`; returns the number of
/// field values stored.
/// `base` is the file offset of `out[0]`.
fn write_series(
    out: &mut Vec<u8>,
    base: usize,
    index: &mut Vec<u8>,
    s: &SeriesData,
    min: i64,
    max: i64,
) -> u64 {
    let rows = s.times.len();
    put_bytes(index, &s.key);
    put_bytes(index, &s.measurement);
    put_uvarint(index, rows as u64);
    put_uvarint(index, zigzag(min));
    put_uvarint(index, zigzag(max));
    let time = write_block(out, base, |p| codec::encode_times(p, &s.times));
    put_block(index, time);
    put_uvarint(index, s.columns.len() as u64);
    let mut stored = 0u64;
    for c in &s.columns {
        put_bytes(index, &c.name);
        index.push(c.values.field_type() as u8);
        let block = write_block(out, base, |p| {
            codec::encode_column(p, &c.values, &c.valid, rows)
        });
        put_block(index, block);
        // Valid slots that have a value (the same rule as `encode_column`), counted over
        // the bytes of `valid` in one pass.
        let n = rows.min(c.valid.len()).min(c.values.len());
        stored += c.valid[..n].iter().map(|&v| u64::from(v)).sum::<u64>();
    }
    stored
}

/// Appends `payload ‖ crc32c(payload)`; returns (file offset, length including the CRC).
fn write_block(
    out: &mut Vec<u8>,
    base: usize,
    encode: impl FnOnce(&mut Vec<u8>),
) -> (usize, usize) {
    let offset = out.len();
    encode(out);
    let crc = crc32c::crc32c(out.get(offset..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    (base + offset, out.len() - offset)
}

fn put_block(index: &mut Vec<u8>, (offset, len): (usize, usize)) {
    put_uvarint(index, offset as u64);
    put_uvarint(index, len as u64);
}

/// (first, last) for sorted times, computed as (min, max) so that an unsorted caller still
/// gets a correct pruning range; `(i64::MAX, i64::MIN)` when empty.
fn time_bounds(times: &[i64]) -> (i64, i64) {
    times
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)))
}
