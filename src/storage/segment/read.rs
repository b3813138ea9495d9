//! The segment reader: checks the frame and the footer on open, decodes blocks on demand.

use super::bits::{Cursor, FRAME_VALUES};
use super::{
    codec, ColumnData, SegmentError, SeriesData, Values, CRC_BYTES, HEADER_BYTES, MAGIC,
    TRAILER_BYTES, VERSION,
};

#[derive(Clone, Copy, Debug)]
struct Block {
    offset: usize,
    len: usize,
}

#[derive(Debug)]
struct ColumnEntry<'a> {
    name: &'a [u8],
    ty: u8,
    block: Block,
}

#[derive(Debug)]
struct SeriesEntry<'a> {
    key: &'a [u8],
    measurement: &'a [u8],
    rows: usize,
    min_time: i64,
    max_time: i64,
    time: Block,
    columns: Vec<ColumnEntry<'a>>,
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
        let mut cur = Cursor::new(footer);
        let db = utf8(cur.bytes()?)?;
        let rp = utf8(cur.bytes()?)?;
        let series_count = cur.len()?;
        let value_count = cur.uvarint()?;
        let time_range = (cur.ivarint()?, cur.ivarint()?);
        let mut series = Vec::with_capacity(series_count.min(cur.remaining()));
        for _ in 0..series_count {
            series.push(read_entry(&mut cur, footer_offset)?);
        }
        if !cur.is_empty() {
            return Err(SegmentError::Corrupt("trailing bytes in footer"));
        }
        let keys_sorted = series.windows(2).all(|w| w[0].key < w[1].key);
        Ok(SegmentReader {
            bytes,
            db,
            rp,
            value_count,
            time_range,
            series,
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
fn check_frame(bytes: &[u8]) -> Result<usize, SegmentError> {
    let len = bytes.len();
    if len < HEADER_BYTES + TRAILER_BYTES {
        return Err(SegmentError::TooShort(len));
    }
    let (head, rest) = bytes.split_at(HEADER_BYTES);
    let (version, magic) = (le_u32(&head[MAGIC.len()..]), &head[..MAGIC.len()]);
    if magic != MAGIC {
        return Err(SegmentError::BadMagic);
    }
    if version != VERSION {
        return Err(SegmentError::UnsupportedVersion(version));
    }
    let trailer = &rest[rest.len() - TRAILER_BYTES..];
    if &trailer[12..] != MAGIC {
        return Err(SegmentError::BadMagic);
    }
    let offset_bytes = &trailer[..8];
    let footer_offset = usize::try_from(le_u64(offset_bytes))
        .ok()
        .filter(|&o| (HEADER_BYTES..=len - TRAILER_BYTES).contains(&o))
        .ok_or(SegmentError::Corrupt("footer offset"))?;
    let footer = &bytes[footer_offset..len - TRAILER_BYTES];
    let crc = crc32c::crc32c_append(crc32c::crc32c(footer), offset_bytes);
    if crc != le_u32(&trailer[8..12]) {
        return Err(SegmentError::FooterChecksum);
    }
    Ok(footer_offset)
}

fn read_entry<'a>(cur: &mut Cursor<'a>, data_end: usize) -> Result<SeriesEntry<'a>, SegmentError> {
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

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u64::from_le_bytes(a)
}
