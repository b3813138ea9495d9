//! A tag column's Parquet column chunk, written from the column's runs.
//!
//! Rows are sorted by series, so a tag column is a few long runs of one value (or of nulls).
//! parquet's Arrow writer takes a tag column row by row: it hashes every row's string into its
//! dictionary, compares it for the page statistics and encodes its index and definition level
//! one at a time. This module writes the same chunk from the runs, with work per run and per
//! page instead of per row: a dictionary page (PLAIN, the row group's distinct values in order of
//! first appearance), then data pages (v1) of `page_rows` rows each, whose definition levels and
//! dictionary indices are RLE runs (`RLE_DICTIONARY`). Pages are zstd-compressed. The chunk has
//! what parquet's own writer gives a dictionary-encoded string column: page statistics in each
//! data page header and in the column index (min and max truncated as its properties say), the
//! offset index, chunk statistics, definition level histograms and unencoded byte counts.
//! `tests::matches_parquets_own_writer` checks that against parquet's Arrow writer.
//!
//! `PageSink` writes a chunk's pages and keeps its sizes, page indexes and bounds: it serves this
//! module and the INT64 columns' (`ints.rs`).

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder,
};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::format::BoundaryOrder;
use parquet::schema::types::ColumnDescPtr;
use std::collections::BTreeSet;

/// `rows` consecutive rows holding `values[id]`, or null (`id` None).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: Option<u32>,
    pub rows: usize,
}

/// A column chunk's bytes (offsets from 0) and what `SerializedRowGroupWriter::append_column`
/// needs to place it in a row group.
pub struct ColumnChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

/// Appends an RLE run (the RLE/bit-packing hybrid's run form) of `count` times `value`, whose
/// width is `bit_width` bits rounded up to whole bytes.
pub(super) fn rle_run(out: &mut Vec<u8>, value: u32, count: usize, bit_width: u8) {
    let mut header = (count as u64) << 1;
    while header >= 0x80 {
        out.push(header as u8 | 0x80);
        header >>= 7;
    }
    out.push(header as u8);
    let bytes = (bit_width as usize).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// Bits needed for the largest index of a dictionary of `len` entries.
fn bit_width(len: usize) -> u8 {
    (usize::BITS - len.saturating_sub(1).leading_zeros()) as u8
}

/// The longest prefix of `s` of at most `len` bytes that ends on a character boundary; None
/// when that is empty.
fn truncate_min(s: &str, len: usize) -> Option<Vec<u8>> {
    let end = (1..=len).rev().find(|&i| s.is_char_boundary(i))?;
    Some(s.as_bytes()[..end].to_vec())
}

/// A prefix of `s` of at most `len` bytes whose last character that can be incremented
/// without growing is incremented (characters after it dropped): an upper bound of `s`. None
/// when there is none.
fn truncate_max(s: &str, len: usize) -> Option<Vec<u8>> {
    let end = (len.saturating_sub(3)..=len)
        .rev()
        .find(|&i| s.is_char_boundary(i))?;
    let prefix = &s[..end];
    prefix.char_indices().rev().find_map(|(i, c)| {
        let next = char::from_u32(c as u32 + 1).filter(|n| n.len_utf8() == c.len_utf8())?;
        let mut out = prefix.as_bytes()[..i].to_vec();
        out.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
        Some(out)
    })
}

/// A page statistic as the column index holds it: truncated to `limit` bytes when longer
/// (`max` rounded up), as parquet's column writer does.
fn index_bound(s: &str, limit: Option<usize>, max: bool) -> Vec<u8> {
    match limit {
        Some(l) if s.len() > l => if max {
            truncate_max(s, l)
        } else {
            truncate_min(s, l)
        }
        .unwrap_or_else(|| s.as_bytes().to_vec()),
        _ => s.as_bytes().to_vec(),
    }
}

/// One data page's share of the runs.
struct PageStats<'a> {
    rows: usize,
    nulls: usize,
    bytes: i64,
    min: Option<&'a str>,
    max: Option<&'a str>,
}

/// Writes the rows of `runs` (indices into `values`) as one dictionary-encoded column chunk
/// of `descr` (an optional UTF8 byte array column), in data pages of `page_rows` rows,
/// compressed as `props` says for it (zstd through `zstd`, a compressor at that level).
pub fn write_chunk(
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    values: &[String],
    runs: &[Run],
    page_rows: usize,
    zstd: &mut zstd::bulk::Compressor<'_>,
) -> Result<ColumnChunk, String> {
    let err = |e: parquet::errors::ParquetError| e.to_string();
    let page_rows = page_rows.max(1);
    let compression = props.compression(descr.path());
    let compress = |buf: Vec<u8>, zstd: &mut zstd::bulk::Compressor<'_>| match compression {
        Compression::ZSTD(_) => zstd.compress(&buf).map_err(|e| e.to_string()),
        Compression::UNCOMPRESSED => Ok(buf),
        c => Err(format!("tag columns: compression {c} is not supported")),
    };
    // The row group's dictionary: its values in order of first appearance.
    let mut local = vec![u32::MAX; values.len()];
    let mut dict: Vec<u32> = Vec::new();
    for r in runs {
        if let Some(id) = r.id {
            if local[id as usize] == u32::MAX {
                local[id as usize] = dict.len() as u32;
                dict.push(id);
            }
        }
    }
    let width = bit_width(dict.len());

    // Data pages of `page_rows` rows, cut from the runs.
    let mut pages: Vec<(CompressedPage, PageStats<'_>)> = Vec::new();
    let mut at = 0; // runs[at] is the first run not yet wholly written
    let mut used = 0; // rows of runs[at] already written
    while at < runs.len() {
        let mut levels = Vec::new();
        let mut indices = vec![width];
        let mut st = PageStats {
            rows: 0,
            nulls: 0,
            bytes: 0,
            min: None,
            max: None,
        };
        // The pending level run (defined?, rows) and index run (index, rows).
        let mut level: Option<(bool, usize)> = None;
        let mut index: Option<(u32, usize)> = None;
        while at < runs.len() && st.rows < page_rows {
            let r = runs[at];
            let n = (r.rows - used).min(page_rows - st.rows);
            st.rows += n;
            used += n;
            if used == r.rows {
                at += 1;
                used = 0;
            }
            if n == 0 {
                continue;
            }
            let defined = r.id.is_some();
            match &mut level {
                Some((d, k)) if *d == defined => *k += n,
                _ => {
                    if let Some((d, k)) = level.replace((defined, n)) {
                        rle_run(&mut levels, d as u32, k, 1);
                    }
                }
            }
            let Some(id) = r.id else {
                st.nulls += n;
                continue;
            };
            let v = values[id as usize].as_str();
            st.bytes += (v.len() * n) as i64;
            st.min = Some(st.min.map_or(v, |m| m.min(v)));
            st.max = Some(st.max.map_or(v, |m| m.max(v)));
            let i = local[id as usize];
            match &mut index {
                Some((j, k)) if *j == i => *k += n,
                _ => {
                    if let Some((j, k)) = index.replace((i, n)) {
                        rle_run(&mut indices, j, k, width);
                    }
                }
            }
        }
        if st.rows == 0 {
            break;
        }
        if let Some((d, k)) = level {
            rle_run(&mut levels, d as u32, k, 1);
        }
        if let Some((j, k)) = index {
            rle_run(&mut indices, j, k, width);
        }
        let mut buf = Vec::with_capacity(4 + levels.len() + indices.len());
        buf.extend_from_slice(&(levels.len() as u32).to_le_bytes());
        buf.extend_from_slice(&levels);
        buf.extend_from_slice(&indices);
        let uncompressed = buf.len();
        let statistics = st.min.zip(st.max).map(|(min, max)| {
            Statistics::byte_array(
                Some(ByteArray::from(min)),
                Some(ByteArray::from(max)),
                None,
                Some(st.nulls as u64),
                false,
            )
        });
        let page = Page::DataPage {
            buf: Bytes::from(compress(buf, zstd)?),
            num_values: st.rows as u32,
            encoding: Encoding::RLE_DICTIONARY,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics,
        };
        pages.push((CompressedPage::new(page, uncompressed), st));
    }

    // The dictionary page: PLAIN byte arrays (length, bytes).
    let mut plain = Vec::new();
    for &id in &dict {
        let v = values[id as usize].as_bytes();
        plain.extend_from_slice(&(v.len() as u32).to_le_bytes());
        plain.extend_from_slice(v);
    }
    let uncompressed = plain.len();
    let dict_page = CompressedPage::new(
        Page::DictionaryPage {
            buf: Bytes::from(compress(plain, zstd)?),
            num_values: dict.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        },
        uncompressed,
    );

    let all = std::iter::once(&dict_page).chain(pages.iter().map(|(p, _)| p));
    let mut sink = PageSink::new([Encoding::RLE, Encoding::PLAIN], all);
    let ci_limit = props.column_index_truncate_length();
    let dict_offset = sink.write(dict_page)?.offset;
    let mut bytes = 0i64;
    for (page, st) in pages {
        let bounds = st.min.zip(st.max).map(|(lo, hi)| PageBounds {
            lo,
            hi,
            lo_index: index_bound(lo, ci_limit, false),
            hi_index: index_bound(hi, ci_limit, true),
        });
        sink.data_page(page, st.rows, st.nulls, bounds, Some(st.bytes), true)?;
        bytes += st.bytes;
    }
    let stats_limit = props.statistics_truncate_length();
    let bound = |s: Option<&str>, is_max: bool| {
        s.map(|s| {
            let b = index_bound(s, stats_limit, is_max);
            (b.len() == s.len() && b == s.as_bytes(), ByteArray::from(b))
        })
    };
    let (min, max) = (sink.min_max.map(|m| m.0), sink.min_max.map(|m| m.1));
    let (lo, hi) = (bound(min, false), bound(max, true));
    let mut statistics = parquet::file::statistics::ValueStatistics::new(
        lo.as_ref().map(|(_, b)| b.clone()),
        hi.as_ref().map(|(_, b)| b.clone()),
        None,
        Some(sink.nulls as u64),
        false,
    );
    if let (Some((lo_exact, _)), Some((hi_exact, _))) = (&lo, &hi) {
        statistics = statistics
            .with_min_is_exact(*lo_exact)
            .with_max_is_exact(*hi_exact);
    }
    let metadata = sink
        .metadata(descr, compression)
        .set_dictionary_page_offset(Some(dict_offset as i64))
        .set_statistics(Statistics::ByteArray(statistics))
        .set_unencoded_byte_array_data_bytes(Some(bytes))
        .set_definition_level_histogram(Some(LevelHistogram::from(vec![
            sink.nulls as i64,
            (sink.num_values as usize - sink.nulls) as i64,
        ])))
        .build()
        .map_err(err)?;
    sink.finish(metadata)
}

/// Room for a page header (its statistics included) when a chunk's buffer is sized: one that
/// does not fit costs one copy of the chunk.
const PAGE_HEADER_ROOM: usize = 96;

/// A data page's least and greatest value (`T`, as the column compares them) and their forms in
/// the column index.
pub(super) struct PageBounds<T> {
    pub lo: T,
    pub hi: T,
    pub lo_index: Vec<u8>,
    pub hi_index: Vec<u8>,
}

/// A column chunk's pages as they are written (offsets from 0), and what its metadata and page
/// indexes need of them: sizes, encodings, value and null counts, the offset index, the column
/// index with its boundary order, and the least and greatest page bound (`T`: the values as the
/// column compares them).
pub(super) struct PageSink<T> {
    sink: TrackedWrite<Vec<u8>>,
    encodings: BTreeSet<Encoding>,
    column_index: ColumnIndexBuilder,
    offset_index: OffsetIndexBuilder,
    compressed_size: u64,
    uncompressed_size: u64,
    /// Values (rows) of the data pages.
    pub num_values: u64,
    pub nulls: usize,
    pub min_max: Option<(T, T)>,
    ascending: bool,
    descending: bool,
    last: Option<(T, T)>,
    data_offset: Option<u64>,
}

impl<T: Ord + Copy> PageSink<T> {
    /// An empty chunk whose encodings include `encodings` (those of its levels and dictionary),
    /// with room for `pages` (the pages it will hold: their bytes and a header each), so that
    /// the chunk is not copied as it grows.
    pub(super) fn new<'p, const N: usize>(
        encodings: [Encoding; N],
        pages: impl Iterator<Item = &'p CompressedPage>,
    ) -> Self {
        let room = pages.map(|p| p.compressed_size() + PAGE_HEADER_ROOM).sum();
        PageSink {
            sink: TrackedWrite::new(Vec::with_capacity(room)),
            encodings: BTreeSet::from(encodings),
            column_index: ColumnIndexBuilder::new(),
            offset_index: OffsetIndexBuilder::new(),
            compressed_size: 0,
            uncompressed_size: 0,
            num_values: 0,
            nulls: 0,
            min_max: None,
            ascending: true,
            descending: true,
            last: None,
            data_offset: None,
        }
    }

    /// Writes a page (a dictionary page as it is; [`PageSink::data_page`] for a data page) and
    /// counts its sizes.
    pub(super) fn write(&mut self, page: CompressedPage) -> Result<PageWriteSpec, String> {
        let spec = SerializedPageWriter::new(&mut self.sink)
            .write_page(page)
            .map_err(|e| e.to_string())?;
        self.compressed_size += spec.compressed_size as u64;
        self.uncompressed_size += spec.uncompressed_size as u64;
        Ok(spec)
    }

    /// Writes a data page of `rows` rows, `nulls` of them null, and enters it in the page
    /// indexes: `bounds` None when every row is null, `unencoded` its byte array bytes,
    /// `histogram` whether the column index carries definition level histograms (an optional
    /// column).
    pub(super) fn data_page(
        &mut self,
        page: CompressedPage,
        rows: usize,
        nulls: usize,
        bounds: Option<PageBounds<T>>,
        unencoded: Option<i64>,
        histogram: bool,
    ) -> Result<(), String> {
        self.encodings.insert(page.encoding());
        let spec = self.write(page)?;
        self.data_offset.get_or_insert(spec.offset);
        self.num_values += spec.num_values as u64;
        self.offset_index.append_row_count(rows as i64);
        self.offset_index
            .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        self.offset_index
            .append_unencoded_byte_array_data_bytes(unencoded);
        match bounds {
            None => self.column_index.append(true, vec![], vec![], nulls as i64),
            Some(PageBounds {
                lo,
                hi,
                lo_index,
                hi_index,
            }) => {
                if let Some((last_lo, last_hi)) = self.last {
                    self.ascending &= last_lo <= lo && last_hi <= hi;
                    self.descending &= lo <= last_lo && hi <= last_hi;
                }
                self.last = Some((lo, hi));
                self.min_max = Some(
                    self.min_max
                        .map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))),
                );
                self.column_index
                    .append(false, lo_index, hi_index, nulls as i64);
            }
        }
        let levels =
            histogram.then(|| LevelHistogram::from(vec![nulls as i64, (rows - nulls) as i64]));
        self.column_index.append_histograms(&None, &levels);
        self.nulls += nulls;
        Ok(())
    }

    /// The chunk metadata's common part: compression, encodings, sizes, value count and the
    /// first data page's offset.
    pub(super) fn metadata(
        &self,
        descr: &ColumnDescPtr,
        compression: Compression,
    ) -> parquet::file::metadata::ColumnChunkMetaDataBuilder {
        ColumnChunkMetaData::builder(descr.clone())
            .set_compression(compression)
            .set_encodings(self.encodings.iter().copied().collect())
            .set_total_compressed_size(self.compressed_size as i64)
            .set_total_uncompressed_size(self.uncompressed_size as i64)
            .set_num_values(self.num_values as i64)
            .set_data_page_offset(self.data_offset.unwrap_or(0) as i64)
    }

    /// The column chunk of the pages written, with `metadata` and its page indexes.
    pub(super) fn finish(mut self, metadata: ColumnChunkMetaData) -> Result<ColumnChunk, String> {
        self.column_index
            .set_boundary_order(boundary_order(self.ascending, self.descending));
        let bytes_written = self.sink.bytes_written() as u64;
        let bytes = Bytes::from(self.sink.into_inner().map_err(|e| e.to_string())?);
        Ok(ColumnChunk {
            bytes,
            close: ColumnCloseResult {
                bytes_written,
                rows_written: self.num_values,
                metadata,
                bloom_filter: None,
                column_index: Some(self.column_index.build_to_thrift()),
                offset_index: Some(self.offset_index.build_to_thrift()),
            },
        })
    }
}

/// How the pages' statistics run, from whether each page's bounds were at least (`ascending`)
/// or at most (`descending`) the previous page's.
fn boundary_order(ascending: bool, descending: bool) -> BoundaryOrder {
    match (ascending, descending) {
        (true, _) => BoundaryOrder::ASCENDING,
        (false, true) => BoundaryOrder::DESCENDING,
        (false, false) => BoundaryOrder::UNORDERED,
    }
}
