//! An INT64 column's Parquet column chunk (`time`, integer fields), written from its values.
//!
//! parquet's Arrow column writer takes a column value by value: it computes a definition level
//! per row from the null buffer, updates the page statistics per value and feeds its
//! `DELTA_BINARY_PACKED` encoder one value at a time, which packs one value at a time; that was
//! most of the exporter's work. This module writes the same chunk with work per miniblock of 64
//! values: data pages (v1) of `page_rows` rows, definition levels as RLE runs (a field is
//! defined in long runs: the rows of a series), values `DELTA_BINARY_PACKED` with parquet's own
//! layout (blocks of 256 values in 4 miniblocks of 64), pages zstd-compressed, and what parquet's
//! own writer gives the chunk: page statistics in each data page header and in the column
//! index, the offset index, chunk statistics and definition level histograms.
//! `tests::int_chunks_match_parquets_own_writer` (in `table.rs`) checks that against parquet's
//! Arrow writer.

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page};
use parquet::file::metadata::LevelHistogram;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use super::tags::{rle_run, ColumnChunk, PageBounds, PageSink};

/// `rows` consecutive rows that have a value (`defined`) or are null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub defined: bool,
    pub rows: usize,
}

/// Values per miniblock, miniblocks per block: parquet's own for INT64.
const MINIBLOCK: usize = 64;
const MINIBLOCKS: usize = 4;
const BLOCK: usize = MINIBLOCK * MINIBLOCKS;

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    uleb(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `values` encoded `DELTA_BINARY_PACKED`, byte for byte as parquet's encoder writes
/// them: header (block size, miniblocks per block, value count, first value), then per block
/// of deltas its least delta, the 4 miniblocks' bit widths (0 for a miniblock past the last
/// delta, which has no bytes) and each miniblock's deltas less the least, bit-packed, the last
/// one padded with zeros to 64 values. Returns the least and greatest value (None when empty):
/// the page statistics.
///
/// On a CPU with AVX2 the same code is compiled for it: the compiler then takes the deltas,
/// their least and the page's bounds four values an instruction (x86_64's baseline, SSE2, has
/// no 64-bit compare).
pub fn delta_binary_packed(out: &mut Vec<u8>, values: &[i64]) -> Option<(i64, i64)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { delta_binary_packed_avx2(out, values) };
    }
    delta_binary_packed_any(out, values)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn delta_binary_packed_avx2(out: &mut Vec<u8>, values: &[i64]) -> Option<(i64, i64)> {
    delta_binary_packed_any(out, values)
}

/// [`delta_binary_packed`] for any CPU; inlined into the AVX2 version.
#[inline(always)]
fn delta_binary_packed_any(out: &mut Vec<u8>, values: &[i64]) -> Option<(i64, i64)> {
    uleb(out, BLOCK as u64);
    uleb(out, MINIBLOCKS as u64);
    uleb(out, values.len() as u64);
    zigzag(out, values.first().copied().unwrap_or(0));
    let bounds = min_max(values)?;
    let mut deltas = [0i64; BLOCK];
    let mut from = 1;
    while from < values.len() {
        let n = (values.len() - from).min(BLOCK);
        let src = &values[from - 1..from + n];
        for (d, w) in deltas[..n].iter_mut().zip(src.windows(2)) {
            *d = w[1].wrapping_sub(w[0]);
        }
        let least = least(&deltas[..n]);
        zigzag(out, least);
        let widths_at = out.len();
        out.extend_from_slice(&[0; MINIBLOCKS]);
        for (m, mini) in deltas[..n].chunks(MINIBLOCK).enumerate() {
            // Deltas less the least, padded with zeros; the widest needs as many bits as
            // their OR.
            let mut packed = [0u64; MINIBLOCK];
            let mut any = 0u64;
            for (p, &d) in packed.iter_mut().zip(mini) {
                *p = (d as u64).wrapping_sub(least as u64);
                any |= *p;
            }
            let width = 64 - any.leading_zeros();
            out[widths_at + m] = width as u8;
            pack(out, &packed, width);
        }
        from += n;
    }
    Some(bounds)
}

/// The least of `values` (i64::MAX when empty), four lanes at a time as in `min_max`.
#[inline(always)]
fn least(values: &[i64]) -> i64 {
    let mut lo = [i64::MAX; 4];
    let mut chunks = values.chunks_exact(4);
    for c in &mut chunks {
        for k in 0..4 {
            lo[k] = lo[k].min(c[k]);
        }
    }
    for &v in chunks.remainder() {
        lo[0] = lo[0].min(v);
    }
    lo[0].min(lo[1]).min(lo[2].min(lo[3]))
}

/// The least and greatest of `values` (None when empty), four lanes at a time so that the
/// compares do not wait on each other.
#[inline(always)]
fn min_max(values: &[i64]) -> Option<(i64, i64)> {
    let first = *values.first()?;
    let mut lo = [first; 4];
    let mut hi = [first; 4];
    let mut chunks = values.chunks_exact(4);
    for c in &mut chunks {
        for k in 0..4 {
            lo[k] = lo[k].min(c[k]);
            hi[k] = hi[k].max(c[k]);
        }
    }
    for &v in chunks.remainder() {
        lo[0] = lo[0].min(v);
        hi[0] = hi[0].max(v);
    }
    Some((
        lo.iter().copied().min().unwrap_or(first),
        hi.iter().copied().max().unwrap_or(first),
    ))
}

/// Bit-packs a miniblock (each value fits `width` bits) least significant bit first:
/// `MINIBLOCK * width / 8` bytes.
fn pack(out: &mut Vec<u8>, mini: &[u64; MINIBLOCK], width: u32) {
    if width == 0 {
        return;
    }
    if width <= crate::storage::segment::GROUP_WIDTH_MAX {
        crate::storage::segment::pack_groups(width as usize, mini, out);
        return;
    }
    out.reserve(MINIBLOCK / 8 * width as usize);
    let (mut acc, mut bits) = (0u64, 0u32);
    for &v in mini {
        acc |= v << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&acc.to_le_bytes());
            bits -= 64;
            acc = if bits == 0 { 0 } else { v >> (width - bits) };
        }
    }
}

/// One data page's share of the column.
struct PageStats {
    rows: usize,
    nulls: usize,
    min_max: Option<(i64, i64)>,
}

/// Writes `values` (the column's values, in row order, of the rows that have one) as one
/// `DELTA_BINARY_PACKED` column chunk of `descr` (INT64, required or optional), in data pages of
/// `page_rows` rows, compressed as `props` says for it (zstd through `zstd`, a compressor at that
/// level). `levels` are the rows' runs of defined and null rows; empty when every row is defined.
pub fn write_chunk(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    values: &[i64],
    levels: &[Level],
    page_rows: usize,
    zstd: &mut zstd::bulk::Compressor<'_>,
) -> Result<ColumnChunk, String> {
    let err = |e: parquet::errors::ParquetError| e.to_string();
    let page_rows = page_rows.max(1);
    let optional = descr.max_def_level() > 0;
    if !optional && levels.iter().any(|l| !l.defined) {
        return Err(format!(
            "column {}: nulls in a required column",
            descr.name()
        ));
    }
    let compression = props.compression(descr.path());
    let compress = |buf: Vec<u8>, zstd: &mut zstd::bulk::Compressor<'_>| match compression {
        Compression::ZSTD(_) => zstd.compress(&buf).map_err(|e| e.to_string()),
        Compression::UNCOMPRESSED => Ok(buf),
        c => Err(format!("integer columns: compression {c} is not supported")),
    };
    let all = [Level {
        defined: true,
        rows: values.len(),
    }];
    let levels = if levels.is_empty() { &all[..] } else { levels };
    let rows: usize = levels.iter().map(|l| l.rows).sum();

    let mut pages: Vec<(CompressedPage, PageStats)> = Vec::new();
    let (mut at, mut used, mut next_value) = (0, 0, 0);
    let mut row = 0;
    while row < rows {
        let n = (rows - row).min(page_rows);
        row += n;
        // The page's levels, as runs (defined?, rows).
        let mut runs = Vec::new();
        let mut defined = 0;
        let mut left = n;
        while left > 0 {
            let Some(l) = levels.get(at) else {
                return Err(format!("column {}: levels end early", descr.name()));
            };
            let k = (l.rows - used).min(left);
            left -= k;
            used += k;
            if used == l.rows {
                at += 1;
                used = 0;
            }
            if k == 0 {
                continue;
            }
            if l.defined {
                defined += k;
            }
            match runs.last_mut() {
                Some((d, r)) if *d == l.defined => *r += k,
                _ => runs.push((l.defined, k)),
            }
        }
        let Some(page_values) = values.get(next_value..next_value + defined) else {
            return Err(format!("column {}: fewer values than levels", descr.name()));
        };
        next_value += defined;
        let mut buf = Vec::with_capacity(16 + page_values.len() * 2);
        if optional {
            buf.extend_from_slice(&[0; 4]);
            for &(d, k) in &runs {
                rle_run(&mut buf, d as u32, k, 1);
            }
            let len = (buf.len() - 4) as u32;
            buf[..4].copy_from_slice(&len.to_le_bytes());
        }
        let st = PageStats {
            rows: n,
            nulls: n - defined,
            min_max: delta_binary_packed(&mut buf, page_values),
        };
        let uncompressed = buf.len();
        let statistics = st.min_max.map(|(lo, hi)| {
            Statistics::int64(Some(lo), Some(hi), None, Some(st.nulls as u64), false)
        });
        let page = Page::DataPage {
            buf: Bytes::from(compress(buf, zstd)?),
            num_values: n as u32,
            encoding: Encoding::DELTA_BINARY_PACKED,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics,
        };
        pages.push((CompressedPage::new(page, uncompressed), st));
    }
    if next_value != values.len() {
        return Err(format!("column {}: more values than levels", descr.name()));
    }

    let mut sink = PageSink::new([Encoding::RLE], pages.iter().map(|(p, _)| p));
    for (page, st) in pages {
        let bounds = st.min_max.map(|(lo, hi)| PageBounds {
            lo,
            hi,
            lo_index: lo.to_le_bytes().to_vec(),
            hi_index: hi.to_le_bytes().to_vec(),
        });
        sink.data_page(page, st.rows, st.nulls, bounds, None, optional)?;
    }
    let statistics = Statistics::int64(
        sink.min_max.map(|m| m.0),
        sink.min_max.map(|m| m.1),
        None,
        Some(sink.nulls as u64),
        false,
    );
    let mut metadata = sink.metadata(descr, compression).set_statistics(statistics);
    if optional {
        metadata = metadata.set_definition_level_histogram(Some(LevelHistogram::from(vec![
            sink.nulls as i64,
            (rows - sink.nulls) as i64,
        ])));
    }
    sink.finish(metadata.build().map_err(err)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    /// A Parquet file of one INT64 column `v` written by `write_chunk`, read back by parquet's
    /// Arrow reader.
    fn round_trip(
        values: &[i64],
        levels: &[Level],
        optional: bool,
        page_rows: usize,
    ) -> Vec<Option<i64>> {
        let schema = if optional {
            "message m { optional int64 v; }"
        } else {
            "message m { required int64 v; }"
        };
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(Default::default()))
                .build(),
        );
        let mut zstd = zstd::bulk::Compressor::new(1).unwrap();
        let mut buf = Vec::new();
        let mut w = SerializedFileWriter::new(&mut buf, schema, props.clone()).unwrap();
        let descr = w.schema_descr().column(0);
        let chunk = write_chunk(&descr, &props, values, levels, page_rows, &mut zstd).unwrap();
        let mut g = w.next_row_group().unwrap();
        g.append_column(&chunk.bytes, chunk.close).unwrap();
        g.close().unwrap();
        w.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(buf))
            .unwrap()
            .build()
            .unwrap();
        let mut got = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            got.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))));
        }
        got
    }

    proptest::proptest! {
        /// The four-lane folds give what one fold gives, at every length (lanes and remainder).
        #[test]
        fn min_max_and_least_are_the_plain_folds(
            values in proptest::collection::vec(proptest::num::i64::ANY, 0..40),
        ) {
            let plain = values.iter().copied().min().zip(values.iter().copied().max());
            proptest::prop_assert_eq!(min_max(&values), plain);
            proptest::prop_assert_eq!(least(&values), plain.map_or(i64::MAX, |b| b.0));
        }

        /// Any values (deltas that overflow, partial miniblocks and blocks), any runs of nulls,
        /// any page size: parquet's reader reads back what was written.
        #[test]
        fn parquet_reads_back_what_was_written(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::i64::ANY,
                    -1000i64..1000,
                    proptest::strategy::Just(i64::MIN),
                    proptest::strategy::Just(i64::MAX),
                ],
                0..1500,
            ),
            steady in proptest::bool::ANY,
            nulls in proptest::collection::vec((proptest::bool::ANY, 1usize..300), 0..8),
            page_rows in 1usize..700,
        ) {
            // Half the cases: a steady series (a time column, a counter) with small jitter.
            let values: Vec<i64> = if steady {
                let mut t = 1_451_606_400_000_000_000i64;
                values.iter().map(|v| { t = t.wrapping_add(10_000_000_000 + v % 7); t }).collect()
            } else {
                values
            };
            proptest::prop_assert_eq!(
                round_trip(&values, &[], false, page_rows),
                values.iter().map(|&v| Some(v)).collect::<Vec<_>>()
            );
            // The same values between runs of nulls.
            let mut levels = Vec::new();
            let mut want = Vec::new();
            let mut left = values.as_slice();
            for &(null_first, n) in &nulls {
                let take = n.min(left.len());
                let (defined, rest) = left.split_at(take);
                left = rest;
                if null_first {
                    levels.push(Level { defined: false, rows: n });
                    want.extend(std::iter::repeat(None).take(n));
                }
                if take > 0 {
                    levels.push(Level { defined: true, rows: take });
                    want.extend(defined.iter().map(|&v| Some(v)));
                }
            }
            if !left.is_empty() {
                levels.push(Level { defined: true, rows: left.len() });
                want.extend(left.iter().map(|&v| Some(v)));
            }
            if levels.is_empty() {
                levels.push(Level { defined: false, rows: 3 });
                want.extend([None, None, None]);
            }
            proptest::prop_assert_eq!(round_trip(&values, &levels, true, page_rows), want);
        }
    }
}
