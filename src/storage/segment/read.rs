//! The segment reader: checks the frame and the footer on open, decodes blocks on demand.

use super::bits::{Cursor, FRAME_VALUES};
use super::{
    codec, ColumnData, SegmentError, SeriesData, Values, CRC_BYTES, HEADER_BYTES, MAGIC,
    TRAILER_BYTES, VERSION,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Block {
    pub(super) offset: usize,
    pub(super) len: usize,
}

#[derive(Debug)]
pub(super) struct ColumnEntry<'a> {
    pub(super) name: &'a [u8],
    pub(super) ty: u8,
    pub(super) block: Block,
}

#[derive(Debug)]
pub(super) struct SeriesEntry<'a> {
    pub(super) key: &'a [u8],
    pub(super) measurement: &'a [u8],
    pub(super) rows: usize,
    pub(super) min_time: i64,
    pub(super) max_time: i64,
    pub(super) time: Block,
    pub(super) columns: Vec<ColumnEntry<'a>>,
}

/// A segment opened from its bytes: magic, version, trailer and footer checked, the index
/// read eagerly; blocks are checked and decoded lazily by [`SegmentReader::read_series`].
///
/// It borrows the whole file (read into memory or mapped by the caller); the index costs about
/// 100 bytes per series plus 40 per column.
#[derive(Debug)]
pub struct SegmentReader<'a> {
    bytes: &'a [u8],
    db: &'a str,
    rp: &'a str,
    value_count: u64,
    time_range: (i64, i64),
    series: Vec<SeriesEntry<'a>>,
    keys_sorted: bool,
}

impl<'a> SegmentReader<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Self, SegmentError> {
        let footer_offset = check_frame(bytes)?;
        let footer = bytes
            .get(footer_offset..bytes.len() - TRAILER_BYTES)
            .ok_or(SegmentError::Corrupt("footer offset"))?;
        let f = parse_footer(footer, footer_offset)?;
        let keys_sorted = f.series.windows(2).all(|w| w[0].key < w[1].key);
        Ok(SegmentReader {
            bytes,
            db: f.db,
            rp: f.rp,
            value_count: f.value_count,
            time_range: f.time_range,
            series: f.series,
            keys_sorted,
        })
    }

    pub fn db(&self) -> &str {
        self.db
    }

    pub fn rp(&self) -> &str {
        self.rp
    }

    /// (first, last) timestamp over all series, both inclusive; `(i64::MAX, i64::MIN)` when
    /// the segment holds no rows.
    pub fn time_range(&self) -> (i64, i64) {
        self.time_range
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Field values stored (valid slots), the denominator of bytes per value.
    pub fn value_count(&self) -> u64 {
        self.value_count
    }

    /// (key, measurement) of every series, in index (key) order.
    pub fn series_keys(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.series.iter().map(|s| (s.key, s.measurement))
    }

    /// The index of a series key (binary search; keys are sorted by the writer).
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        if self.keys_sorted {
            self.series.binary_search_by(|s| s.key.cmp(key)).ok()
        } else {
            self.series.iter().position(|s| s.key == key)
        }
    }

    /// (first, last) timestamp of one series, without decoding it.
    pub fn series_time_range(&self, idx: usize) -> Option<(i64, i64)> {
        self.series.get(idx).map(|s| (s.min_time, s.max_time))
    }

    /// Decodes one series, only the rows in `[min, max)` (so a row at `i64::MAX` is never
    /// returned; InfluxDB's largest valid time is `i64::MAX - 1`). A series with no row in the
    /// range comes back with its columns (names, types) and no rows, without decoding blocks.
    /// Invalid slots come back as the type's zero (`0`, `false`, empty).
    pub fn read_series(&self, idx: usize, min: i64, max: i64) -> Result<SeriesData, SegmentError> {
        let s = self
            .series
            .get(idx)
            .ok_or(SegmentError::NoSuchSeries(idx))?;
        let mut out = SeriesData {
            key: s.key.to_vec(),
            measurement: s.measurement.to_vec(),
            times: Vec::new(),
            columns: Vec::with_capacity(s.columns.len()),
        };
        if s.rows == 0 {
            // Nothing to decode, but the blocks must still be intact: with no row a full-range
            // read would otherwise never look at (and never notice damage to) them.
            self.block(s.time)?;
            for c in &s.columns {
                self.block(c.block)?;
            }
        }
        if s.rows == 0 || min >= max || max <= s.min_time || min > s.max_time {
            for c in &s.columns {
                out.columns.push(empty_column(c)?);
            }
            return Ok(out);
        }
        let mut times = codec::decode_times(self.block(s.time)?, s.rows)?;
        let lo = times.partition_point(|&t| t < min);
        let hi = times.partition_point(|&t| t < max).max(lo);
        times.truncate(hi);
        times.drain(..lo);
        out.times = times;
        for c in &s.columns {
            let (mut values, mut valid) = codec::decode_column(c.ty, self.block(c.block)?, s.rows)?;
            values.keep_range(lo, hi);
            valid.truncate(hi);
            valid.drain(..lo);
            out.columns.push(ColumnData {
                name: c.name.to_vec(),
                values,
                valid,
            });
        }
        Ok(out)
    }

    /// The payload of a block whose CRC matches.
    fn block(&self, b: Block) -> Result<&'a [u8], SegmentError> {
        let raw = self
            .bytes
            .get(b.offset..b.offset + b.len)
            .ok_or(SegmentError::Corrupt("block offset"))?;
        let (payload, crc) = raw.split_at(b.len - CRC_BYTES);
        if crc32c::crc32c(payload).to_le_bytes() != crc {
            return Err(SegmentError::BlockChecksum(b.offset));
        }
        Ok(payload)
    }
}

/// Checks header, trailer and footer CRC; returns the footer offset.
pub(super) fn check_frame(bytes: &[u8]) -> Result<usize, SegmentError> {
    let len = bytes.len();
    if len < HEADER_BYTES + TRAILER_BYTES {
        return Err(SegmentError::TooShort(len));
    }
    let trailer = &bytes[len - TRAILER_BYTES..];
    let footer_offset = check_ends(&bytes[..HEADER_BYTES], trailer, len)?;
    check_footer_crc(&bytes[footer_offset..len - TRAILER_BYTES], trailer)?;
    Ok(footer_offset)
}

/// A segment file's frame, by positional reads: header and trailer checked.
pub(super) struct Frame {
    pub(super) len: u64,
    pub(super) trailer: [u8; TRAILER_BYTES],
    pub(super) footer_offset: usize,
}

pub(super) fn io_error(e: std::io::Error) -> SegmentError {
    SegmentError::Io(e.kind().to_string())
}

pub(super) fn read_frame(file: &std::fs::File) -> Result<Frame, SegmentError> {
    use std::os::unix::fs::FileExt;
    let len64 = file.metadata().map_err(io_error)?.len();
    let len = usize::try_from(len64).map_err(|_| SegmentError::Corrupt("file length"))?;
    if len < HEADER_BYTES + TRAILER_BYTES {
        return Err(SegmentError::TooShort(len));
    }
    let mut head = [0u8; HEADER_BYTES];
    file.read_exact_at(&mut head, 0).map_err(io_error)?;
    let mut trailer = [0u8; TRAILER_BYTES];
    file.read_exact_at(&mut trailer, (len - TRAILER_BYTES) as u64)
        .map_err(io_error)?;
    let footer_offset = check_ends(&head, &trailer, len)?;
    Ok(Frame {
        len: len64,
        trailer,
        footer_offset,
    })
}

/// The footer's bytes of a file whose frame is `frame`, CRC checked.
pub(super) fn read_footer(file: &std::fs::File, frame: &Frame) -> Result<Vec<u8>, SegmentError> {
    use std::os::unix::fs::FileExt;
    let end = frame.len - TRAILER_BYTES as u64;
    let n = usize::try_from(end - frame.footer_offset as u64)
        .map_err(|_| SegmentError::Corrupt("footer length"))?;
    let mut footer = vec![0u8; n];
    file.read_exact_at(&mut footer, frame.footer_offset as u64)
        .map_err(io_error)?;
    check_footer_crc(&footer, &frame.trailer)?;
    Ok(footer)
}

/// Checks the header (magic, version) and the trailer's magic; returns the footer offset.
pub(super) fn check_ends(head: &[u8], trailer: &[u8], len: usize) -> Result<usize, SegmentError> {
    let (version, magic) = (le_u32(&head[MAGIC.len()..]), &head[..MAGIC.len()]);
    if magic != MAGIC {
        return Err(SegmentError::BadMagic);
    }
    if version != VERSION {
        return Err(SegmentError::UnsupportedVersion(version));
    }
    if &trailer[12..] != MAGIC {
        return Err(SegmentError::BadMagic);
    }
    usize::try_from(le_u64(&trailer[..8]))
        .ok()
        .filter(|&o| (HEADER_BYTES..=len - TRAILER_BYTES).contains(&o))
        .ok_or(SegmentError::Corrupt("footer offset"))
}

pub(super) fn check_footer_crc(footer: &[u8], trailer: &[u8]) -> Result<(), SegmentError> {
    let crc = crc32c::crc32c_append(crc32c::crc32c(footer), &trailer[..8]);
    if crc != le_u32(&trailer[8..12]) {
        return Err(SegmentError::FooterChecksum);
    }
    Ok(())
}

/// A parsed footer (the index of a segment).
pub(super) struct Footer<'a> {
    pub(super) db: &'a str,
    pub(super) rp: &'a str,
    pub(super) value_count: u64,
    pub(super) time_range: (i64, i64),
    pub(super) series: Vec<SeriesEntry<'a>>,
}

pub(super) fn parse_footer(
    footer: &[u8],
    footer_offset: usize,
) -> Result<Footer<'_>, SegmentError> {
    let mut cur = Cursor::new(footer);
    let FooterHead {
        db,
        rp,
        series_count,
        value_count,
        time_range,
    } = read_footer_head(&mut cur)?;
    let mut series = Vec::with_capacity(series_count.min(cur.remaining()));
    for _ in 0..series_count {
        series.push(read_entry(&mut cur, footer_offset)?);
    }
    if !cur.is_empty() {
        return Err(SegmentError::Corrupt("trailing bytes in footer"));
    }
    Ok(Footer {
        db,
        rp,
        value_count,
        time_range,
        series,
    })
}

/// What start-up needs of a segment file, read from its header, footer and trailer only (the
/// blocks, nearly all of the file, are not read).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentIndex {
    pub db: String,
    pub rp: String,
    /// As [`SegmentReader::time_range`].
    pub time_range: (i64, i64),
    /// (key, measurement) of every series, when asked for.
    pub series: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads a segment file's index: the same checks as [`SegmentReader::open`] on the header,
/// trailer and footer (a corrupt block is found only when it is read).
pub fn read_index(path: &std::path::Path, with_series: bool) -> std::io::Result<SegmentIndex> {
    let bad = |e: SegmentError| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e:?}", path.display()),
        )
    };
    let file = std::fs::File::open(path)?;
    let frame = read_frame(&file).map_err(bad)?;
    let footer = read_footer(&file, &frame).map_err(bad)?;
    let footer_offset = frame.footer_offset;
    let f = parse_footer(&footer, footer_offset).map_err(bad)?;
    Ok(SegmentIndex {
        db: f.db.to_string(),
        rp: f.rp.to_string(),
        time_range: f.time_range,
        series: if with_series {
            f.series
                .iter()
                .map(|s| (s.key.to_vec(), s.measurement.to_vec()))
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// The footer's fields before the index.
pub(super) struct FooterHead<'a> {
    pub(super) db: &'a str,
    pub(super) rp: &'a str,
    pub(super) series_count: usize,
    pub(super) value_count: u64,
    pub(super) time_range: (i64, i64),
}

pub(super) fn read_footer_head<'a>(cur: &mut Cursor<'a>) -> Result<FooterHead<'a>, SegmentError> {
    Ok(FooterHead {
        db: utf8(cur.bytes()?)?,
        rp: utf8(cur.bytes()?)?,
        series_count: cur.len()?,
        value_count: cur.uvarint()?,
        time_range: (cur.ivarint()?, cur.ivarint()?),
    })
}

/// One series' entry of the index; its blocks must lie before `data_end` (the footer offset).
pub(super) fn read_entry<'a>(
    cur: &mut Cursor<'a>,
    data_end: usize,
) -> Result<SeriesEntry<'a>, SegmentError> {
    let key = cur.bytes()?;
    let measurement = cur.bytes()?;
    let rows = cur.len()?;
    let (min_time, max_time) = (cur.ivarint()?, cur.ivarint()?);
    let time = read_block(cur, data_end)?;
    // The densest time block (all delta-of-deltas zero) still costs a byte per frame: a row
    // count above that is corruption, and this bound caps every decoder's allocation.
    if rows > (time.len - CRC_BYTES).saturating_mul(FRAME_VALUES) + 1 {
        return Err(SegmentError::Corrupt("row count"));
    }
    let n = cur.len()?;
    let mut columns = Vec::with_capacity(n.min(cur.remaining()));
    for _ in 0..n {
        let name = cur.bytes()?;
        let ty = cur.u8()?;
        Values::empty(ty).ok_or(SegmentError::Corrupt("column type"))?;
        let block = read_block(cur, data_end)?;
        columns.push(ColumnEntry { name, ty, block });
    }
    Ok(SeriesEntry {
        key,
        measurement,
        rows,
        min_time,
        max_time,
        time,
        columns,
    })
}

fn read_block(cur: &mut Cursor<'_>, data_end: usize) -> Result<Block, SegmentError> {
    let offset = cur.len()?;
    let len = cur.len()?;
    let end = offset
        .checked_add(len)
        .ok_or(SegmentError::Corrupt("block offset"))?;
    if offset < HEADER_BYTES || end > data_end || len < CRC_BYTES {
        return Err(SegmentError::Corrupt("block offset"));
    }
    Ok(Block { offset, len })
}

fn empty_column(c: &ColumnEntry<'_>) -> Result<ColumnData, SegmentError> {
    Ok(ColumnData {
        name: c.name.to_vec(),
        values: Values::empty(c.ty).ok_or(SegmentError::Corrupt("column type"))?,
        valid: Vec::new(),
    })
}

fn utf8(b: &[u8]) -> Result<&str, SegmentError> {
    std::str::from_utf8(b).map_err(|_| SegmentError::Corrupt("name is not UTF-8"))
}

pub(super) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u64::from_le_bytes(a)
}
