//! Sealed segments, in lineshard's own `LSSEG` format: an immutable, compressed, columnar file
//! holding part of one sealed memtable of one partition, for one (db, rp) (a seal writes at most
//! 8192 series and about 8 MiB to a file: `storage::partition`).
//!
//! Owner: the partition's core. This module is pure (bytes in, bytes out, no runtime and no
//! I/O) apart from [`read_index`], which reads a file's header, footer and trailer: the
//! partition writes [`SegmentEncoder`]'s bytes with glommio, fdatasyncs file and directory, and
//! later reads a file's footer ([`SegmentFooter::read`]) and then only the blocks a scan needs
//! ([`read_series_at`], positional reads), or a whole file for [`SegmentReader::open`].
//!
//! # Byte layout (version 1)
//!
//! All fixed-width integers are little-endian. `varint` is unsigned LEB128 (at most 10 bytes);
//! `zvarint` is a zigzag-mapped varint (`(v << 1) ^ (v >> 63)`); `bytes` is `varint len` then the
//! bytes.
//!
//! | Part | Field | Encoding | Notes |
//! | --- | --- | --- | --- |
//! | header | magic | 5 bytes `LSSEG` | |
//! | | version | u32 LE | `1`; any other value is refused |
//! | data | blocks | `payload ‖ crc32c(payload) u32 LE` | one time block per series, then one block per column; contiguous, in series order |
//! | footer | db, rp | `bytes`, `bytes` | |
//! | | series_count | varint | |
//! | | value_count | varint | valid (stored) field values in the file |
//! | | min_time, max_time | zvarint, zvarint | over all rows; `i64::MAX, i64::MIN` when empty |
//! | | per series | see next rows | in key order |
//! | | key, measurement | `bytes`, `bytes` | canonical escaped series key |
//! | | rows | varint | |
//! | | min_time, max_time | zvarint, zvarint | first and last timestamp |
//! | | time block | varint offset, varint length | length includes the 4 CRC bytes |
//! | | column_count | varint | |
//! | | per column | `bytes` name, u8 type, varint offset, varint length | type: 0 float, 1 integer, 2 unsigned, 3 string, 4 boolean (`FieldType` codes) |
//! | trailer | footer_offset | u64 LE | start of the footer |
//! | | footer_crc | u32 LE | crc32c over the footer bytes, then over `footer_offset` as 8 LE bytes |
//! | | magic | 5 bytes `LSSEG` | a file that does not end in the magic was torn |
//!
//! ## Block payloads
//!
//! | Block | Payload |
//! | --- | --- |
//! | time | empty when rows = 0; else `k u8 ‖ zvarint t0 ‖ [zvarint q1 ‖ packed(zigzag(q2-q1), zigzag(q3-q2), …)]` (the bracket when rows ≥ 2) with `qi = (ti - ti-1) / 10^k`, `10^k` the largest power of ten (k ≤ 18) dividing every delta: delta-of-delta, and second- or millisecond-aligned nanosecond stamps shrink to small numbers |
//! | column | `flags u8` (bit 0: a validity bitmap follows; absent = every row valid) ‖ `[validity: ceil(rows/8) bytes, LSB first]` ‖ the values of the valid rows only, as below |
//! | float | Gorilla XOR, MSB-first bit stream: 64 raw bits, then per value `0` (same) / `10`+bits (previous window) / `11`+5 bits leading+6 bits length (64 as 0)+bits; zero-padded to a byte |
//! | integer | `zvarint v0 ‖ packed(zigzag(vi - vi-1))` (wrapping) |
//! | unsigned | as integer on the values' two's-complement bits: wrapping deltas read as signed |
//! | boolean | `ceil(n/8)` bytes, LSB first |
//! | string | `0 ‖ (bytes)*` raw, or `1 ‖ varint raw_len ‖ deflate(the raw body)` when that is smaller (tried from 128 raw bytes) |
//!
//! `packed(n values)` is frame bit-packing: per frame of up to 128 values, a width byte `w`
//! (0..=64, the bit length of the frame's largest value) then `ceil(n·w/8)` bytes, values LSB
//! first. A frame of zeros (a regular interval's delta-of-delta) costs one byte for 128 values.
//! It stands where TSM uses simple8b: like simple8b it spends only the bits a group of values
//! needs (a random walk's deltas of ±2 pack to 3 bits a value, a varint would take 8), but with
//! one width byte per 128 values instead of a 4-bit selector per 64-bit word, so it needs no
//! selector table and its encoder and decoder are one short loop each.
//!
//! Measured (`cargo bench --bench segment`, TSBS cpu-only: 1000 hosts x 1000 points x 10
//! integer random walks, 10 s apart): 0.435 B per stored value, index included (InfluxDB's TSM
//! gets about 2); the same walks as unrounded floats: 7.1 B/value (random mantissas do not
//! compress; rounded floats do).
//!
//! Floats use a hand-written Gorilla codec rather than `pco`: it is ~100 lines, adds no
//! dependency, streams per value without a chunk planner, and is what InfluxDB's TSM uses, so
//! its ratios on Telegraf/TSBS floats are known.
//!
//! # Invariants
//! * Every byte of the file is covered by a check: the header by value, each block by its CRC
//!   (verified when the block is read), the footer and `footer_offset` by the footer CRC, the
//!   trailer magic by value. A truncation or a bit flip anywhere yields `Err` from `open` or
//!   from the `read_series` of the series it touched. Decoders never panic, and on corrupt
//!   input never allocate more than about 128 values per byte of the series' time block (its
//!   densest legal encoding: zero-width frames), because `open` refuses a row count above that.
//! * Blocks lie between the header and the footer; `open` refuses an index that points elsewhere.
//! * Encoding is deterministic: the same input gives the same bytes (no hash-map order, fixed
//!   deflate level).
//! * Slots whose `valid` is false are not stored; they decode as the type's zero.
//! * Times of a series are sorted (the memtable merges duplicates before sealing); the range
//!   read in `read_series` relies on it.

// The format is little-endian by definition, never the host's order (the workspace denies
// `clippy::host_endian_bytes`).

mod bits;
mod codec;
mod footer;
mod read;
mod stream;
mod write;

/// Bit-packing shared with the Parquet export (the same LSB-first layout).
pub(crate) use bits::{pack_groups, GROUP_WIDTH_MAX};
pub use footer::{read_series_at, BlockSource, ColumnMeta, ReadStats, SegmentFooter, SeriesMeta};
pub use read::{read_index, SegmentIndex, SegmentReader};
pub use stream::SegmentStream;
pub use write::{encode_segment, SegmentEncoder, SegmentFileWriter};

use crate::lineproto::{FieldType, FieldValue};
use std::borrow::Cow;

/// File magic, at the start and at the very end.
pub const MAGIC: &[u8; 5] = b"LSSEG";
/// Format version written by [`encode_segment`] and the only one [`SegmentReader`] opens.
pub const VERSION: u32 = 1;
const HEADER_BYTES: usize = MAGIC.len() + 4;
const TRAILER_BYTES: usize = 8 + 4 + MAGIC.len();
const CRC_BYTES: usize = 4;

const TYPE_FLOAT: u8 = FieldType::Float as u8;
const TYPE_INTEGER: u8 = FieldType::Integer as u8;
const TYPE_UNSIGNED: u8 = FieldType::Unsigned as u8;
const TYPE_STRING: u8 = FieldType::String as u8;
const TYPE_BOOLEAN: u8 = FieldType::Boolean as u8;

/// One series' data as the memtable hands it over when sealing: sorted by time, duplicates
/// already merged (later write wins).
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    /// Canonical escaped series key.
    pub key: Vec<u8>,
    pub measurement: Vec<u8>,
    pub times: Vec<i64>,
    pub columns: Vec<ColumnData>,
}

/// One field's column; `values` and `valid` have one slot per row of the series.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnData {
    pub name: Vec<u8>,
    pub values: Values,
    pub valid: Vec<bool>,
}

impl ColumnData {
    /// The value at `row`; `None` when the slot is not valid (or out of range).
    pub fn get(&self, row: usize) -> Option<FieldValue<'_>> {
        if !self.valid.get(row).copied()? {
            return None;
        }
        Some(match &self.values {
            Values::Float(v) => FieldValue::Float(*v.get(row)?),
            Values::Integer(v) => FieldValue::Integer(*v.get(row)?),
            Values::Unsigned(v) => FieldValue::Unsigned(*v.get(row)?),
            Values::Boolean(v) => FieldValue::Boolean(*v.get(row)?),
            Values::String(v) => FieldValue::String(Cow::Borrowed(v.get(row)?)),
        })
    }
}

/// Typed values; slots where `!valid` hold any value (decoded as the type's zero).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    Unsigned(Vec<u64>),
    Boolean(Vec<bool>),
    String(Vec<Vec<u8>>),
}

impl Values {
    pub fn field_type(&self) -> FieldType {
        match self {
            Values::Float(_) => FieldType::Float,
            Values::Integer(_) => FieldType::Integer,
            Values::Unsigned(_) => FieldType::Unsigned,
            Values::Boolean(_) => FieldType::Boolean,
            Values::String(_) => FieldType::String,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Float(v) => v.len(),
            Values::Integer(v) => v.len(),
            Values::Unsigned(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps rows `[lo, hi)` (clamped).
    fn keep_range(&mut self, lo: usize, hi: usize) {
        fn keep<T>(v: &mut Vec<T>, lo: usize, hi: usize) {
            v.truncate(hi);
            v.drain(..lo.min(v.len()));
        }
        match self {
            Values::Float(v) => keep(v, lo, hi),
            Values::Integer(v) => keep(v, lo, hi),
            Values::Unsigned(v) => keep(v, lo, hi),
            Values::Boolean(v) => keep(v, lo, hi),
            Values::String(v) => keep(v, lo, hi),
        }
    }

    fn empty(ty: u8) -> Option<Values> {
        Some(match ty {
            TYPE_FLOAT => Values::Float(Vec::new()),
            TYPE_INTEGER => Values::Integer(Vec::new()),
            TYPE_UNSIGNED => Values::Unsigned(Vec::new()),
            TYPE_BOOLEAN => Values::Boolean(Vec::new()),
            TYPE_STRING => Values::String(Vec::new()),
            _ => return None,
        })
    }
}

/// Why a segment could not be opened or read. Not client-facing: a query that meets one
/// answers 500 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("segment: file too short ({0} bytes)")]
    TooShort(usize),
    #[error("segment: bad magic")]
    BadMagic,
    #[error("segment: unsupported version {0}")]
    UnsupportedVersion(u32),
    #[error("segment: footer checksum mismatch")]
    FooterChecksum,
    #[error("segment: block checksum mismatch at offset {0}")]
    BlockChecksum(usize),
    #[error("segment: no series #{0}")]
    NoSuchSeries(usize),
    #[error("segment: corrupt ({0})")]
    Corrupt(&'static str),
    #[error("segment: read failed ({0})")]
    Io(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values_strategy(ty: u8, rows: usize) -> BoxedStrategy<Values> {
        let float = prop_oneof![
            any::<f64>().prop_filter("never NaN", |v| !v.is_nan()),
            Just(0.0),
            Just(-0.0),
            Just(5e-324),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            (0i32..100).prop_map(f64::from),
        ];
        let int = prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)];
        let uint = prop_oneof![any::<u64>(), 0u64..5, Just(u64::MAX)];
        let string = prop::collection::vec(any::<u8>(), 0..12);
        use prop::collection::vec as v;
        match ty {
            TYPE_FLOAT => v(float, rows).prop_map(Values::Float).boxed(),
            TYPE_INTEGER => v(int, rows).prop_map(Values::Integer).boxed(),
            TYPE_UNSIGNED => v(uint, rows).prop_map(Values::Unsigned).boxed(),
            TYPE_BOOLEAN => v(any::<bool>(), rows).prop_map(Values::Boolean).boxed(),
            _ => v(string, rows).prop_map(Values::String).boxed(),
        }
    }

    fn column_strategy(rows: usize) -> impl Strategy<Value = ColumnData> {
        let valid = prop_oneof![
            Just(vec![true; rows]).boxed(),
            prop::collection::vec(any::<bool>(), rows).boxed(),
        ];
        (0u8..5, "[a-z_]{1,8}", valid).prop_flat_map(move |(ty, name, valid)| {
            values_strategy(ty, rows).prop_map(move |values| ColumnData {
                name: name.clone().into_bytes(),
                values,
                valid: valid.clone(),
            })
        })
    }

    /// Strictly increasing times below `i64::MAX` (so `[i64::MIN, i64::MAX)` selects all).
    fn times_strategy(rows: usize) -> impl Strategy<Value = Vec<i64>> {
        let step = prop_oneof![Just(10_000_000_000i64), 1i64..1_000, 1i64..1i64 << 40];
        (any::<i32>(), prop::collection::vec(step, rows)).prop_map(|(start, steps)| {
            let mut t = i64::from(start) * 1_000_000_000;
            let mut out = Vec::with_capacity(steps.len());
            for s in steps {
                out.push(t);
                t = t.saturating_add(s).min(i64::MAX - 1);
            }
            out.dedup();
            out
        })
    }

    fn series_strategy(idx: usize) -> impl Strategy<Value = SeriesData> {
        (0usize..40).prop_flat_map(move |rows| {
            (
                times_strategy(rows),
                prop::collection::vec(column_strategy(rows), 0..4),
            )
                .prop_map(move |(times, mut columns)| {
                    for c in &mut columns {
                        c.valid.truncate(times.len());
                        c.values.keep_range(0, times.len());
                    }
                    SeriesData {
                        key: format!("cpu,host=h{idx:03}").into_bytes(),
                        measurement: b"cpu".to_vec(),
                        times,
                        columns,
                    }
                })
        })
    }

    fn segment_strategy() -> impl Strategy<Value = Vec<SeriesData>> {
        (0usize..5).prop_flat_map(|n| (0..n).map(series_strategy).collect::<Vec<_>>())
    }

    /// Rows `[lo, hi)` of `s` as the reader must return them: invalid slots zeroed.
    fn expected(s: &SeriesData, lo: usize, hi: usize) -> SeriesData {
        let mut e = s.clone();
        e.times = s.times[lo..hi].to_vec();
        for c in &mut e.columns {
            zero_invalid(&mut c.values, &c.valid);
            c.values.keep_range(lo, hi);
            c.valid = c.valid[lo..hi].to_vec();
        }
        e
    }

    fn zero_invalid(values: &mut Values, valid: &[bool]) {
        fn z<T: Default>(v: &mut [T], valid: &[bool]) {
            v.iter_mut()
                .zip(valid)
                .filter(|(_, ok)| !**ok)
                .for_each(|(x, _)| *x = T::default());
        }
        match values {
            Values::Float(v) => z(v, valid),
            Values::Integer(v) => z(v, valid),
            Values::Unsigned(v) => z(v, valid),
            Values::Boolean(v) => z(v, valid),
            Values::String(v) => z(v, valid),
        }
    }

    /// Floats compared by bits (so -0.0 != 0.0), everything else by value.
    fn same(a: &SeriesData, b: &SeriesData) -> bool {
        let bits = |c: &ColumnData| match &c.values {
            Values::Float(v) => Some(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
            _ => None,
        };
        a == b
            && a.columns
                .iter()
                .zip(&b.columns)
                .all(|(x, y)| bits(x) == bits(y))
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<SeriesData>, SegmentError> {
        let r = SegmentReader::open(bytes)?;
        (0..r.series_count())
            .map(|i| r.read_series(i, i64::MIN, i64::MAX))
            .collect()
    }

    #[test]
    fn column_get_respects_validity() {
        let c = ColumnData {
            name: b"s".to_vec(),
            values: Values::String(vec![b"a".to_vec(), b"b".to_vec()]),
            valid: vec![false, true],
        };
        assert_eq!(c.get(0), None);
        assert_eq!(c.get(1), Some(FieldValue::String(Cow::Borrowed(b"b"))));
        assert_eq!(c.get(2), None);
    }

    /// A small TSBS-like cpu segment (integer random walks in 0..=100, 10 s interval) stays
    /// under 1 byte per value: the regression guard for the bench's 0.435 B/value.
    #[test]
    fn tsbs_like_integers_compress_below_one_byte_per_value() {
        let mut state = 1u64;
        let mut rand = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as i64
        };
        let series: Vec<SeriesData> = (0..20)
            .map(|h| {
                let columns = (0..10)
                    .map(|f| {
                        let mut v = rand() % 101;
                        let values = (0..500)
                            .map(|_| {
                                v = (v + rand() % 5 - 2).clamp(0, 100);
                                v
                            })
                            .collect();
                        ColumnData {
                            name: format!("usage_{f}").into_bytes(),
                            values: Values::Integer(values),
                            valid: vec![true; 500],
                        }
                    })
                    .collect();
                SeriesData {
                    key: format!("cpu,hostname=host_{h}").into_bytes(),
                    measurement: b"cpu".to_vec(),
                    times: (0..500)
                        .map(|i| 1_451_606_400_000_000_000 + i * 10_000_000_000)
                        .collect(),
                    columns,
                }
            })
            .collect();
        let bytes = encode_segment("benchmark", "autogen", &series);
        let per_value = bytes.len() as f64 / (20.0 * 500.0 * 10.0);
        assert!(per_value < 1.0, "{per_value:.3} B/value");
        let mut sorted = series;
        sorted.sort_by(|a, b| a.key.cmp(&b.key)); // host_10 < host_2
        assert_eq!(read_all(&bytes).map(|s| s == sorted), Ok(true));
    }

    /// The footer read from a file by positional reads is the one parsed from the whole file's
    /// bytes; one field of ten and one hour of twelve read about a hundred-twentieth of the
    /// bytes of a series' blocks, and no other series' blocks.
    #[test]
    fn footer_from_file_and_selective_reads() {
        let hour = 3_600_000_000_000i64;
        let series: Vec<SeriesData> = (0..4)
            .map(|h| SeriesData {
                key: format!("cpu,host=h{h}").into_bytes(),
                measurement: b"cpu".to_vec(),
                times: (0..12 * 360).map(|i| i * 10_000_000_000).collect(),
                columns: (0..10)
                    .map(|f| ColumnData {
                        name: format!("f{f}").into_bytes(),
                        values: Values::Float(
                            (0..12 * 360)
                                .map(|i| (i * (f + 1) % 97) as f64 * 0.37)
                                .collect(),
                        ),
                        valid: vec![true; 12 * 360],
                    })
                    .collect(),
            })
            .collect();
        let bytes = encode_segment("db", "rp", &series);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.seg");
        std::fs::write(&path, &bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let footer = SegmentFooter::read(&file).unwrap();
        assert_eq!(footer, SegmentFooter::from_bytes(&bytes).unwrap());
        assert_eq!(footer.db, "db");
        let fields = [b"f3".to_vec()];
        let mut stats = ReadStats::default();
        let got = read_series_at(
            &file,
            &footer,
            2,
            (5 * hour, 6 * hour),
            Some(&fields),
            &mut stats,
        )
        .unwrap();
        assert_eq!(got.times.len(), 360);
        assert_eq!(got.columns.len(), 1);
        assert_eq!(got.columns[0].name, b"f3");
        let want = SegmentReader::open(&bytes)
            .unwrap()
            .read_series(2, 5 * hour, 6 * hour)
            .unwrap();
        assert_eq!(got.columns[0], want.columns[3]);
        assert_eq!(got.times, want.times);
        assert_eq!((stats.blocks_read, stats.blocks_decoded), (2, 2));
        // The series' time block and one column of ten, not the other nine.
        assert!(
            stats.bytes_read * 4 < bytes.len() as u64 / 4,
            "{} of {}",
            stats.bytes_read,
            bytes.len()
        );
        // Damage to a block not read goes unseen; damage to one read is an error.
        let mut damaged = bytes.clone();
        let c5 = block_of(&footer, 2, 5);
        damaged[c5] ^= 1;
        let mut s2 = ReadStats::default();
        assert!(read_series_at(
            &damaged[..],
            &footer,
            2,
            (5 * hour, 6 * hour),
            Some(&fields),
            &mut s2
        )
        .is_ok());
        let c3 = block_of(&footer, 2, 3);
        damaged[c3] ^= 1;
        assert!(read_series_at(
            &damaged[..],
            &footer,
            2,
            (5 * hour, 6 * hour),
            Some(&fields),
            &mut s2
        )
        .is_err());
    }

    /// The first byte of the block of column `c` of series `s`.
    fn block_of(footer: &SegmentFooter, s: usize, c: usize) -> usize {
        footer.series[s].columns[c].block_offset()
    }

    /// `read_index` reads only header, footer and trailer from the file: it gives what the
    /// reader gives, refuses any damage to those parts, and does not see a damaged block (which
    /// the reader finds when the series is read).
    #[test]
    fn read_index_from_the_file_matches_the_reader() {
        let series: Vec<SeriesData> = (0..3)
            .map(|h| SeriesData {
                key: format!("cpu,host=h{h}").into_bytes(),
                measurement: b"cpu".to_vec(),
                times: vec![10 + h, 20 + h],
                columns: vec![ColumnData {
                    name: b"v".to_vec(),
                    values: Values::Integer(vec![h, -h]),
                    valid: vec![true, true],
                }],
            })
            .collect();
        let bytes = encode_segment("db", "rp", &series);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.seg");
        std::fs::write(&path, &bytes).unwrap();
        let r = SegmentReader::open(&bytes).unwrap();
        let index = read_index(&path, true).unwrap();
        assert_eq!((index.db.as_str(), index.rp.as_str()), (r.db(), r.rp()));
        assert_eq!(index.time_range, r.time_range());
        let keys: Vec<(Vec<u8>, Vec<u8>)> = r
            .series_keys()
            .map(|(k, m)| (k.to_vec(), m.to_vec()))
            .collect();
        assert_eq!(index.series, keys);
        assert!(read_index(&path, false).unwrap().series.is_empty());
        let footer_offset = {
            let t = &bytes[bytes.len() - 16..bytes.len() - 8];
            u64::from_le_bytes(t.try_into().unwrap()) as usize
        };
        // Every byte of header, footer and trailer is checked...
        for at in (0..HEADER_BYTES).chain(footer_offset..bytes.len()) {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            assert!(read_index(&path, true).is_err(), "byte {at} not checked");
        }
        // ...a block byte is not read.
        let mut bad = bytes.clone();
        bad[HEADER_BYTES] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        assert!(read_index(&path, true).is_ok());
        assert!(read_all(&bad).is_err());
    }

    #[test]
    fn empty_segment() {
        let bytes = encode_segment("db", "autogen", &[]);
        let r = SegmentReader::open(&bytes).map_err(|e| e.to_string());
        let r = r
            .as_ref()
            .map(|r| (r.db(), r.rp(), r.series_count(), r.time_range()));
        assert_eq!(r, Ok(("db", "autogen", 0, (i64::MAX, i64::MIN))));
    }

    #[test]
    fn header_errors_are_named() {
        let mut bytes = encode_segment("db", "rp", &[]);
        assert_eq!(
            SegmentReader::open(&bytes[..10]).err(),
            Some(SegmentError::TooShort(10))
        );
        bytes[5] = 2;
        assert_eq!(
            SegmentReader::open(&bytes).err(),
            Some(SegmentError::UnsupportedVersion(2))
        );
        bytes[0] = b'X';
        assert_eq!(
            SegmentReader::open(&bytes).err(),
            Some(SegmentError::BadMagic)
        );
    }

    #[test]
    fn zero_padding_is_refused() {
        let mut bytes = encode_segment("db", "rp", &[]);
        bytes.extend_from_slice(&[0; 512]);
        assert_eq!(
            SegmentReader::open(&bytes).err(),
            Some(SegmentError::BadMagic)
        );
    }

    #[test]
    fn unsorted_input_is_sorted_and_found() {
        let s = |k: &str, t: i64| SeriesData {
            key: k.as_bytes().to_vec(),
            measurement: b"m".to_vec(),
            times: vec![t],
            columns: vec![ColumnData {
                name: b"v".to_vec(),
                values: Values::Integer(vec![t]),
                valid: vec![true],
            }],
        };
        let bytes = encode_segment("db", "rp", &[s("m,b=2", 2), s("m,a=1", 1)]);
        let Ok(r) = SegmentReader::open(&bytes) else {
            panic!("open failed");
        };
        let keys: Vec<&[u8]> = r.series_keys().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![&b"m,a=1"[..], &b"m,b=2"[..]]);
        assert_eq!(r.find(b"m,b=2"), Some(1));
        assert_eq!(r.find(b"m,c=3"), None);
        assert_eq!(r.time_range(), (1, 2));
        assert_eq!(r.value_count(), 2);
        assert_eq!(r.read_series(1, 0, 10).map(|s| s.times), Ok(vec![2]));
        assert_eq!(
            r.read_series(2, 0, 10).err(),
            Some(SegmentError::NoSuchSeries(2))
        );
    }

    /// Every series of the file at `path` through a [`SegmentStream`] (its footer checked).
    fn stream_all(path: &std::path::Path) -> Result<Vec<SeriesData>, SegmentError> {
        let mut s = SegmentStream::open(path)?;
        let mut out = Vec::new();
        while let Some(m) = s.next_series()? {
            out.push(s.read(&m)?);
        }
        Ok(out)
    }

    fn write_file(series: &[SeriesData], path: &std::path::Path) -> (u64, (i64, i64)) {
        let mut order: Vec<&SeriesData> = series.iter().collect();
        order.sort_by(|a, b| a.key.cmp(&b.key));
        let mut w = SegmentFileWriter::create(path).unwrap();
        for s in order {
            w.push(s).unwrap();
        }
        w.finish("db", "rp").unwrap()
    }

    /// A segment larger than the stream's windows (a footer of ~300 KB, blocks of ~1 MB): the
    /// file writer writes the encoder's bytes, no side file stays, the stream reads it back.
    #[test]
    fn large_segment_through_file_writer_and_stream() {
        let series: Vec<SeriesData> = (0..3000)
            .map(|i| SeriesData {
                key: format!("cpu,host=h{i:05},rack={}", "r".repeat(i % 97)).into_bytes(),
                measurement: b"cpu".to_vec(),
                times: (0..40).map(|t| t * 1_000_000_000 + i as i64).collect(),
                columns: vec![ColumnData {
                    name: b"v".to_vec(),
                    values: Values::Float((0..40).map(|t| (t * i) as f64 / 7.0).collect()),
                    valid: vec![true; 40],
                }],
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.seg.tmp");
        let (len, range) = write_file(&series, &path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, encode_segment("db", "rp", &series));
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(range, SegmentReader::open(&bytes).unwrap().time_range());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("big.seg.tmp")]);
        assert_eq!(stream_all(&path).unwrap(), read_all(&bytes).unwrap());
        let footer = SegmentFooter::from_bytes(&bytes).unwrap();
        assert!(len - footer.series[2999].columns[0].block_offset() as u64 > 64 * 1024);
    }

    proptest! {
        #[test]
        fn round_trip(series in segment_strategy()) {
            let bytes = encode_segment("db", "rp", &series);
            prop_assert_eq!(&encode_segment("db", "rp", &series), &bytes, "not deterministic");
            let back = read_all(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.len(), series.len());
            for (got, s) in back.iter().zip(&series) {
                prop_assert!(same(got, &expected(s, 0, s.times.len())), "{:?}\n!=\n{:?}", got, s);
            }
            let r = SegmentReader::open(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let values: usize = series.iter().flat_map(|s| &s.columns).map(|c| c.valid.iter().filter(|v| **v).count()).sum();
            prop_assert_eq!(r.value_count(), values as u64);
        }

        #[test]
        fn range_reads(series in segment_strategy(), a: i64, b: i64, pick in 0usize..40) {
            let bytes = encode_segment("db", "rp", &series);
            let r = SegmentReader::open(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Bounds at, between and around the actual timestamps, plus arbitrary ones.
            let all: Vec<i64> = series.iter().flat_map(|s| s.times.iter().copied()).collect();
            let near = |x: i64| all.get(pick % all.len().max(1)).copied().unwrap_or(x);
            let (min, max) = (near(a).saturating_add(a % 3), if b % 2 == 0 { near(b) } else { b });
            for (i, s) in series.iter().enumerate() {
                let lo = s.times.partition_point(|&t| t < min);
                let hi = s.times.partition_point(|&t| t < max).max(lo);
                let got = r.read_series(i, min, max).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut want = expected(s, lo, hi);
                if lo == hi {
                    want.columns.iter_mut().for_each(|c| c.values.keep_range(0, 0));
                }
                prop_assert!(same(&got, &want), "[{}, {}): {:?}\n!=\n{:?}", min, max, got, want);
            }
        }

        /// The pruned read (footer apart, positional block reads, selected columns only) gives
        /// what the whole-file reader gives for those columns, and reads exactly the time block
        /// and the selected columns' blocks of the series that have rows in the range.
        #[test]
        fn pruned_reads_equal_whole_file_reads(series in segment_strategy(), a: i64, b: i64, pick in 0usize..40, mask: u8) {
            let bytes = encode_segment("db", "rp", &series);
            let r = SegmentReader::open(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let footer = SegmentFooter::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(footer.series.len(), r.series_count());
            let all: Vec<i64> = series.iter().flat_map(|s| s.times.iter().copied()).collect();
            let near = |x: i64| all.get(pick % all.len().max(1)).copied().unwrap_or(x);
            let (min, max) = (near(a).saturating_add(a % 3), if b % 2 == 0 { near(b) } else { b });
            let mut names: Vec<Vec<u8>> = series.iter().flat_map(|s| s.columns.iter().map(|c| c.name.clone())).collect();
            names.sort();
            names.dedup();
            let fields: Option<Vec<Vec<u8>>> = (mask != u8::MAX).then(|| {
                names.iter().enumerate().filter(|(i, _)| mask & (1 << (i % 8)) != 0).map(|(_, n)| n.clone()).collect()
            });
            let mut stats = ReadStats::default();
            let mut blocks = 0u64;
            for i in 0..r.series_count() {
                let got = read_series_at(&bytes[..], &footer, i, (min, max), fields.as_deref(), &mut stats)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut want = r.read_series(i, min, max).map_err(|e| TestCaseError::fail(e.to_string()))?;
                want.columns.retain(|c| fields.as_ref().map_or(true, |f| f.contains(&c.name)));
                if want.columns.is_empty() {
                    want.times.clear();
                }
                let meta = &footer.series[i];
                if meta.overlaps(min, max) && !want.columns.is_empty() {
                    blocks += 1 + want.columns.len() as u64;
                }
                if want.times.is_empty() {
                    want.columns.iter_mut().for_each(|c| { c.values.keep_range(0, 0); c.valid.clear(); });
                }
                prop_assert!(same(&got, &want), "[{}, {}) {:?}: {:?}\n!=\n{:?}", min, max, fields, got, want);
            }
            prop_assert_eq!(stats.blocks_read, blocks);
            prop_assert_eq!(stats.blocks_decoded, blocks);
        }

        #[test]
        fn any_truncation_or_bit_flip_is_an_error(series in segment_strategy(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let bytes = encode_segment("db", "rp", &series);
            let truncated = &bytes[..cut.index(bytes.len())];
            prop_assert!(read_all(truncated).is_err(), "truncated to {} of {}", truncated.len(), bytes.len());
            let mut flipped = bytes.clone();
            let bit = flip.index(bytes.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(read_all(&flipped).is_err(), "bit {} of {}", bit, bytes.len() * 8);
        }

        #[test]
        fn file_writer_and_stream_agree_with_encoder_and_reader(series in segment_strategy()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.seg");
            let (len, range) = write_file(&series, &path);
            let bytes = std::fs::read(&path).unwrap();
            prop_assert_eq!(&bytes, &encode_segment("db", "rp", &series));
            prop_assert_eq!(len, bytes.len() as u64);
            let r = SegmentReader::open(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(range, r.time_range());
            let streamed = stream_all(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let read = read_all(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(streamed.len(), read.len());
            for (a, b) in streamed.iter().zip(&read) {
                prop_assert!(same(a, b), "{:?}\n!=\n{:?}", a, b);
            }
        }

        #[test]
        fn stream_finds_any_truncation_or_bit_flip(series in segment_strategy(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let bytes = encode_segment("db", "rp", &series);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.seg");
            std::fs::write(&path, &bytes[..cut.index(bytes.len())]).unwrap();
            prop_assert!(stream_all(&path).is_err(), "truncated");
            let mut flipped = bytes.clone();
            let bit = flip.index(bytes.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &flipped).unwrap();
            prop_assert!(stream_all(&path).is_err(), "bit {} of {}", bit, bytes.len() * 8);
        }

        #[test]
        fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..300), tail: bool) {
            // With a valid frame around garbage the parsers behind the checksums get exercised too.
            if tail {
                let mut framed = MAGIC.to_vec();
                framed.extend_from_slice(&VERSION.to_le_bytes());
                framed.append(&mut bytes);
                let off = HEADER_BYTES as u64;
                let footer = &framed[HEADER_BYTES..];
                let crc = crc32c::crc32c_append(crc32c::crc32c(footer), &off.to_le_bytes());
                framed.extend_from_slice(&off.to_le_bytes());
                framed.extend_from_slice(&crc.to_le_bytes());
                framed.extend_from_slice(MAGIC);
                bytes = framed;
            }
            let _ = read_all(&bytes);
        }
    }
}
