//! A segment's footer held apart from its file ([`SegmentFooter`]), and reads of only the blocks
//! a query needs from the file by positional reads ([`read_series_at`]).
//!
//! The footer is read once (header, trailer and footer: a few hundred bytes per series), kept by
//! the partition's footer cache, and lets a scan choose series (measurement, key, time range)
//! and columns before any block is read. Then a series' time block and its selected columns'
//! blocks are read (adjacent blocks in one read), CRC-checked and decoded; the other columns'
//! blocks are neither read nor decoded.

use super::read::{parse_footer, read_footer, read_frame, Block, SeriesEntry};
use super::{codec, ColumnData, SegmentError, SeriesData, Values, CRC_BYTES, TRAILER_BYTES};
use std::sync::Arc;

/// One column of a series in a [`SegmentFooter`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    /// Shared by every series of the file with this column.
    pub name: Arc<[u8]>,
    /// `FieldType` code.
    pub ty: u8,
    block: Block,
}

impl ColumnMeta {
    /// Where the column's block starts in the file.
    pub fn block_offset(&self) -> usize {
        self.block.offset
    }
}

/// One series of a [`SegmentFooter`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesMeta {
    /// Canonical escaped series key.
    pub key: Box<[u8]>,
    /// Shared by every series of the file with this measurement.
    pub measurement: Arc<[u8]>,
    pub rows: usize,
    /// First and last timestamp.
    pub min_time: i64,
    pub max_time: i64,
    time: Block,
    pub columns: Vec<ColumnMeta>,
}

impl SeriesMeta {
    /// Whether the series has a row in `[min, max)`, by its footer entry only.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.rows > 0 && min < max && self.min_time < max && self.max_time >= min
    }
}

/// A segment file's footer, owned: what a scan needs to choose series and blocks without
/// reading the file's data. Checked as [`super::SegmentReader::open`] checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentFooter {
    pub db: String,
    pub rp: String,
    /// (first, last) timestamp over all series; `(i64::MAX, i64::MIN)` when empty.
    pub time_range: (i64, i64),
    pub value_count: u64,
    /// In key order.
    pub series: Vec<SeriesMeta>,
    /// The file's length in bytes.
    pub file_len: u64,
}

impl SegmentFooter {
    /// Reads and checks a file's header, trailer and footer (positional reads; the blocks are
    /// not read).
    pub fn read(file: &std::fs::File) -> Result<SegmentFooter, SegmentError> {
        let frame = read_frame(file)?;
        let footer = read_footer(file, &frame)?;
        Self::parse(&footer, frame.footer_offset, frame.len)
    }

    /// The footer of a whole file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<SegmentFooter, SegmentError> {
        let footer_offset = super::read::check_frame(bytes)?;
        let footer = bytes
            .get(footer_offset..bytes.len() - TRAILER_BYTES)
            .ok_or(SegmentError::Corrupt("footer offset"))?;
        Self::parse(footer, footer_offset, bytes.len() as u64)
    }

    fn parse(footer: &[u8], footer_offset: usize, len: u64) -> Result<Self, SegmentError> {
        let f = parse_footer(footer, footer_offset)?;
        // Names are shared: most series have the previous one's measurement and columns, so
        // each name is first compared with the previous series' at the same place.
        let mut names: Vec<Arc<[u8]>> = Vec::new();
        let mut intern = |b: &[u8], prev: Option<&Arc<[u8]>>| -> Arc<[u8]> {
            if let Some(p) = prev.filter(|p| ***p == *b) {
                return p.clone();
            }
            match names.iter().find(|n| ***n == *b) {
                Some(n) => n.clone(),
                None => {
                    let n: Arc<[u8]> = b.into();
                    names.push(n.clone());
                    n
                }
            }
        };
        let mut series: Vec<SeriesMeta> = Vec::with_capacity(f.series.len());
        for s in &f.series {
            let meta = meta_of(s, series.last(), &mut intern);
            series.push(meta);
        }
        Ok(SegmentFooter {
            db: f.db.to_string(),
            rp: f.rp.to_string(),
            time_range: f.time_range,
            value_count: f.value_count,
            series,
            file_len: len,
        })
    }

    /// Approximate heap bytes held, for the cache's bound.
    pub fn memory_bytes(&self) -> usize {
        let per_column = std::mem::size_of::<ColumnMeta>();
        let per_series = std::mem::size_of::<SeriesMeta>();
        std::mem::size_of::<Self>()
            + self.db.len()
            + self.rp.len()
            + self
                .series
                .iter()
                .map(|s| per_series + s.key.len() + s.columns.len() * per_column)
                .sum::<usize>()
    }
}

/// A footer entry, owned; names shared with `prev` (the previous series) or through `intern`.
pub(super) fn meta_of(
    s: &SeriesEntry<'_>,
    prev: Option<&SeriesMeta>,
    intern: &mut impl FnMut(&[u8], Option<&Arc<[u8]>>) -> Arc<[u8]>,
) -> SeriesMeta {
    let measurement = intern(s.measurement, prev.map(|p| &p.measurement));
    let columns = s
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| ColumnMeta {
            name: intern(c.name, prev.and_then(|p| p.columns.get(j)).map(|c| &c.name)),
            ty: c.ty,
            block: c.block,
        })
        .collect();
    SeriesMeta {
        key: s.key.into(),
        measurement,
        rows: s.rows,
        min_time: s.min_time,
        max_time: s.max_time,
        time: s.time,
        columns,
    }
}

/// What the pruned reads did: counts for tests and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Files whose (db, rp) and time range matched the scan.
    pub files: u64,
    /// Footers read from their file (not found in the cache).
    pub footers_read: u64,
    /// Series whose blocks were read.
    pub series_read: u64,
    /// Series skipped by measurement, tags or time range before any block was read.
    pub series_pruned: u64,
    /// Blocks read from files (time and column blocks).
    pub blocks_read: u64,
    /// Bytes read from files by block reads (footers not counted).
    pub bytes_read: u64,
    /// Blocks decoded.
    pub blocks_decoded: u64,
}

impl ReadStats {
    pub fn add(&mut self, o: &ReadStats) {
        self.files += o.files;
        self.footers_read += o.footers_read;
        self.series_read += o.series_read;
        self.series_pruned += o.series_pruned;
        self.blocks_read += o.blocks_read;
        self.bytes_read += o.bytes_read;
        self.blocks_decoded += o.blocks_decoded;
    }
}

/// Where blocks come from: a file (positional reads) or a whole file in memory.
pub trait BlockSource {
    /// Fills `buf` from `offset`.
    fn fetch(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl BlockSource for std::fs::File {
    fn fetch(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl BlockSource for [u8] {
    fn fetch(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Reads one series of `footer` from `src`: only the rows in `[min, max)` and only the columns
/// named in `fields` (`None`: all). Reads the time block and the selected columns' blocks
/// (adjacent ones in one read), never the others. A series with no row in the range, or none
/// of the selected columns, comes back without rows and without a block read; its columns are
/// listed (the selected ones) with no values.
pub fn read_series_at<S: BlockSource + ?Sized>(
    src: &S,
    footer: &SegmentFooter,
    idx: usize,
    (min, max): (i64, i64),
    fields: Option<&[Vec<u8>]>,
    stats: &mut ReadStats,
) -> Result<SeriesData, SegmentError> {
    let s = footer
        .series
        .get(idx)
        .ok_or(SegmentError::NoSuchSeries(idx))?;
    read_meta_at(src, s, footer.file_len, (min, max), fields, stats)
}

/// [`read_series_at`] of one series' footer entry `s`, of a file of `file_len` bytes.
fn read_meta_at<S: BlockSource + ?Sized>(
    src: &S,
    s: &SeriesMeta,
    file_len: u64,
    (min, max): (i64, i64),
    fields: Option<&[Vec<u8>]>,
    stats: &mut ReadStats,
) -> Result<SeriesData, SegmentError> {
    let selected: Vec<&ColumnMeta> = s
        .columns
        .iter()
        .filter(|c| fields.map_or(true, |f| f.iter().any(|n| n[..] == c.name[..])))
        .collect();
    let mut out = SeriesData {
        key: s.key.to_vec(),
        measurement: s.measurement.to_vec(),
        times: Vec::new(),
        columns: Vec::with_capacity(selected.len()),
    };
    if selected.is_empty() || !s.overlaps(min, max) {
        for c in &selected {
            out.columns.push(ColumnData {
                name: c.name.to_vec(),
                values: Values::empty(c.ty).ok_or(SegmentError::Corrupt("column type"))?,
                valid: Vec::new(),
            });
        }
        return Ok(out);
    }
    let mut blocks: Vec<Block> = Vec::with_capacity(selected.len() + 1);
    blocks.push(s.time);
    blocks.extend(selected.iter().map(|c| c.block));
    let payloads = read_blocks(src, &blocks, file_len, stats)?;
    let mut payloads = payloads.iter();
    let time = payloads.next().ok_or(SegmentError::Corrupt("block"))?;
    let mut times = codec::decode_times(time, s.rows)?;
    stats.blocks_decoded += 1;
    let lo = times.partition_point(|&t| t < min);
    let hi = times.partition_point(|&t| t < max).max(lo);
    times.truncate(hi);
    times.drain(..lo);
    out.times = times;
    for (c, payload) in selected.iter().zip(payloads) {
        let (mut values, mut valid) = codec::decode_column(c.ty, payload, s.rows)?;
        stats.blocks_decoded += 1;
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

/// Every row and column of one series' footer entry `s`, of a file of `file_len` bytes: every
/// block read and checked, a series without rows' too (a rewrite must not carry damage on).
pub(super) fn read_whole_at<S: BlockSource + ?Sized>(
    src: &S,
    s: &SeriesMeta,
    file_len: u64,
    stats: &mut ReadStats,
) -> Result<SeriesData, SegmentError> {
    let mut blocks: Vec<Block> = Vec::with_capacity(s.columns.len() + 1);
    blocks.push(s.time);
    blocks.extend(s.columns.iter().map(|c| c.block));
    let payloads = read_blocks(src, &blocks, file_len, stats)?;
    let mut payloads = payloads.iter();
    let time = payloads.next().ok_or(SegmentError::Corrupt("block"))?;
    let mut out = SeriesData {
        key: s.key.to_vec(),
        measurement: s.measurement.to_vec(),
        times: Vec::new(),
        columns: Vec::with_capacity(s.columns.len()),
    };
    if s.rows > 0 {
        out.times = codec::decode_times(time, s.rows)?;
    }
    for (c, payload) in s.columns.iter().zip(payloads) {
        let (values, valid) = if s.rows > 0 {
            codec::decode_column(c.ty, payload, s.rows)?
        } else {
            let empty = Values::empty(c.ty).ok_or(SegmentError::Corrupt("column type"))?;
            (empty, Vec::new())
        };
        out.columns.push(ColumnData {
            name: c.name.to_vec(),
            values,
            valid,
        });
    }
    Ok(out)
}

/// Reads `blocks` (each checked against its CRC), adjacent blocks in one read; returns their
/// payloads in the order given.
fn read_blocks<S: BlockSource + ?Sized>(
    src: &S,
    blocks: &[Block],
    file_len: u64,
    stats: &mut ReadStats,
) -> Result<Vec<Vec<u8>>, SegmentError> {
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| blocks[i].offset);
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); blocks.len()];
    let mut i = 0;
    while i < order.len() {
        // A run of blocks each starting where the previous one ends.
        let start = blocks[order[i]].offset;
        let mut end = start + blocks[order[i]].len;
        let mut j = i + 1;
        while j < order.len() && blocks[order[j]].offset == end {
            end += blocks[order[j]].len;
            j += 1;
        }
        if end as u64 > file_len {
            return Err(SegmentError::Corrupt("block offset"));
        }
        let mut buf = vec![0u8; end - start];
        src.fetch(&mut buf, start as u64)
            .map_err(|e| SegmentError::Io(e.kind().to_string()))?;
        stats.bytes_read += buf.len() as u64;
        for &k in &order[i..j] {
            let b = blocks[k];
            let raw = &buf[b.offset - start..b.offset - start + b.len];
            let (payload, crc) = raw.split_at(b.len - CRC_BYTES);
            if crc32c::crc32c(payload).to_le_bytes() != crc {
                return Err(SegmentError::BlockChecksum(b.offset));
            }
            out[k] = payload.to_vec();
            stats.blocks_read += 1;
        }
        i = j;
    }
    Ok(out)
}
