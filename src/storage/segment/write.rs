//! The segment writer: blocks in series-key order, then the footer index and the trailer.

use super::bits::{put_bytes, put_uvarint, zigzag};
use super::{codec, SeriesData, MAGIC, VERSION};

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
    series: u64,
    value_count: u64,
    min_all: i64,
    max_all: i64,
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
            series: 0,
            value_count: 0,
            min_all: i64::MAX,
            max_all: i64::MIN,
        }
    }

    /// Adds one series' blocks; series must come in ascending key order (the reader finds
    /// series by binary search over the index).
    pub fn push(&mut self, s: &SeriesData) {
        let (min, max) = time_bounds(&s.times);
        self.min_all = self.min_all.min(min);
        self.max_all = self.max_all.max(max);
        self.series += 1;
        self.value_count += write_series(&mut self.out, &mut self.index, s, min, max);
    }

    /// The smallest and largest timestamp pushed so far (`(i64::MAX, i64::MIN)` before any),
    /// the range the footer records.
    pub fn time_range(&self) -> (i64, i64) {
        (self.min_all, self.max_all)
    }

    /// The footer index and trailer; the finished segment's bytes.
    pub fn finish(self, db: &str, rp: &str) -> Vec<u8> {
        let mut out = self.out;
        let footer_offset = out.len() as u64;
        put_bytes(&mut out, db.as_bytes());
        put_bytes(&mut out, rp.as_bytes());
        put_uvarint(&mut out, self.series);
        put_uvarint(&mut out, self.value_count);
        put_uvarint(&mut out, zigzag(self.min_all));
        put_uvarint(&mut out, zigzag(self.max_all));
        out.extend_from_slice(&self.index);

        let footer = out.get(footer_offset as usize..).unwrap_or_default();
        let crc = crc32c::crc32c_append(crc32c::crc32c(footer), &footer_offset.to_le_bytes());
        out.extend_from_slice(&footer_offset.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(MAGIC);
        out
    }
}

/// Writes one series' blocks to `out` and its index entry to `index`; returns the number of
/// field values stored.
fn write_series(out: &mut Vec<u8>, index: &mut Vec<u8>, s: &SeriesData, min: i64, max: i64) -> u64 {
    let rows = s.times.len();
    put_bytes(index, &s.key);
    put_bytes(index, &s.measurement);
    put_uvarint(index, rows as u64);
    put_uvarint(index, zigzag(min));
    put_uvarint(index, zigzag(max));
    let time = write_block(out, |p| codec::encode_times(p, &s.times));
    put_block(index, time);
    put_uvarint(index, s.columns.len() as u64);
    let mut stored = 0u64;
    for c in &s.columns {
        put_bytes(index, &c.name);
        index.push(c.values.field_type() as u8);
        let block = write_block(out, |p| codec::encode_column(p, &c.values, &c.valid, rows));
        put_block(index, block);
        // Valid slots that have a value (the same rule as `encode_column`), counted over
        // the bytes of `valid` in one pass.
        let n = rows.min(c.valid.len()).min(c.values.len());
        stored += c.valid[..n].iter().map(|&v| u64::from(v)).sum::<u64>();
    }
    stored
}

/// Appends `payload ‖ crc32c(payload)`; returns (offset, length including the CRC).
fn write_block(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) -> (usize, usize) {
    let offset = out.len();
    encode(out);
    let crc = crc32c::crc32c(out.get(offset..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    (offset, out.len() - offset)
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
