//! The line decoder: one pass over a line, borrowing from it, with reusable scratch.
//!
//! Shape of the pass (each step names the 1.x function whose verdicts it reproduces):
//! 1. measurement (`scanMeasurement`) and tags (`scanTagsKey`/`scanTagsValue`): a delimiter is
//!    escaped when the byte before it is a backslash; spans and "has an escape" flags go to
//!    the scratch `tags` vector;
//! 2. duplicate tag keys (`scanKey`), then the key length limit;
//! 3. fields (`scanFields`): keys use Go's "backslash skips the next byte" rule; numbers,
//!    booleans and strings are converted here, once. Anything off the structured path (bytes
//!    after a closing quote, a key without `=`) is handed to the exact port
//!    [`scan_fields`](super::scan::scan_fields) so that the error is the one 1.x gives;
//! 4. the field key length limit, then the timestamp (`scanTime`, `SafeCalcTime`).
//!
//! Nothing is sorted and no series key is built until asked ([`Line::series_key`],
//! [`Line::tags`]), so parse-only work stays cheap. On the happy path no call allocates once
//! the scratch vectors have grown to the widest line seen.
//!
//! Where the parts are: this file holds the public types and [`Decoder::decode`], which runs
//! the steps above in order; `keys.rs` scans the key section (step 1 and 2); `cache.rs`
//! remembers decoded key sections so that a repeated one skips that scan; `fields.rs` scans
//! the field section (step 3) and `shape.rs` its shortcut for a line whose fields repeat the
//! remembered shape; `values.rs` converts one field value (step 3) and the timestamp
//! (step 4); `line.rs` holds the accessors of a decoded [`Line`] (unescaping, tag order, the
//! series key).

mod cache;
mod fields;
mod keys;
mod line;

pub use line::{unescape_measurement, unescape_tag};
mod shape;
#[cfg(test)]
mod tests;
mod values;

use super::error::ErrorKind;
use super::scan::{skip_ws, Cursor};
use super::Precision;
use cache::CachedKey;
use fields::FieldSpan;
use keys::{KeyInfo, TagSpan};
use shape::ShapeKey;
use values::scan_time;

/// Per-request decoding options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Unit of explicit timestamps.
    pub precision: Precision,
    /// Time of lines without a timestamp: the request's server time, already truncated to the
    /// precision (see [`Precision::truncate`]).
    pub default_time_ns: i64,
    /// Accept `123u` unsigned values (1.x OSS rejects them as `invalid number`).
    pub accept_unsigned: bool,
    /// Strip one trailing `\r` from each line (1.x treats it as data, which fails the line).
    pub strip_cr: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            precision: Precision::Nanosecond,
            default_time_ns: 0,
            accept_unsigned: false,
            strip_cr: false,
        }
    }
}

/// A point InfluxDB parses but then drops because of the reserved name `time`
/// (1.8 `tsdb/shard.go` `validateSeriesAndFields`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservedTime {
    /// A tag key is `time`: the point is dropped
    /// (`invalid tag key: input tag "time" on measurement "m" is invalid`).
    Tag,
    /// Every field is named `time`: the point is dropped
    /// (`invalid field name: input field "time" on measurement "m" is invalid`).
    OnlyField,
}

/// Reusable decoding scratch; keep one per core and feed it line after line.
#[derive(Debug, Default)]
pub struct Decoder {
    cache: Vec<CachedKey>,
    /// `cache::cache_hash` of each slot's key (a set's hashes share a cache line).
    cache_hashes: Vec<u64>,
    /// Round-robin victim choice within a full set.
    victim: usize,
    /// The last [`CachedKey::id`](cache::CachedKey::id) given out.
    last_id: u64,
    /// The current line's tags live in this cache slot instead of `tags`.
    cached_tags: Option<usize>,
    /// Cache slot holding the current line's key (a hit, or just remembered).
    line_slot: Option<usize>,
    no_cache: bool,
    tags: Vec<TagSpan>,
    fields: Vec<FieldSpan>,
    /// Tag indices in key order (valid when `Line::order_ready`).
    order: Vec<u32>,
    /// Series key when the tags arrived unsorted.
    key: Vec<u8>,
    /// The field shape a caller asked to recognise ([`Line::remember_shape`]): the keys and
    /// types that `Line::fields` yielded, in order. Empty: none.
    shape: Vec<ShapeKey>,
    /// The shape's keys, one after another.
    shape_keys: Vec<u8>,
    /// Length of the shape's longest key.
    shape_key_max: usize,
}

/// One decoded line; borrows the line bytes (`'a`) and the decoder's scratch (`'s`).
#[derive(Debug)]
pub struct Line<'a, 's> {
    buf: &'a [u8],
    dec: &'s mut Decoder,
    meas_end: usize,
    meas_esc: bool,
    /// End of measurement + tags (the series key region as received).
    key_end: usize,
    timestamp_ns: i64,
    reserved: Option<ReservedTime>,
    /// `None`: not yet known; `Some(true)`: tags already in key order in the line.
    in_order: Option<bool>,
    order_ready: bool,
    key_built: bool,
    /// `fields()` yields exactly the decoder's remembered shape.
    shape_match: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder without the key cache (every line scans its tags; for measurements).
    pub fn without_key_cache() -> Self {
        Decoder {
            no_cache: true,
            ..Self::default()
        }
    }

    /// Decodes one line (as yielded by [`super::lines`]). `Ok(None)` for blank, whitespace-only
    /// and `#` comment lines.
    #[inline(always)]
    pub fn decode<'a, 's>(
        &'s mut self,
        line: &'a [u8],
        opts: &DecodeOptions,
    ) -> Result<Option<Line<'a, 's>>, ErrorKind> {
        let mut line = line;
        if opts.strip_cr {
            if let [head @ .., b'\r'] = line {
                line = head;
            }
        }
        let start = skip_ws(line, 0);
        let buf = match line.get(start..) {
            Some(b) if !b.is_empty() && b[0] != b'#' => b,
            _ => return Ok(None),
        };
        self.fields.clear();
        let mut cur = Cursor::new();
        let key = match self.cached_key(buf) {
            Some(key) => key,
            None => {
                let key = self.scan_key(buf, &mut cur)?;
                self.remember_key(buf, key);
                key
            }
        };
        let KeyInfo {
            meas_end,
            meas_esc,
            key_end,
            tag_time,
        } = key;
        let (fields_end, time_fields, shape_match) =
            self.scan_fields(buf, key_end, opts, &mut cur)?;
        let timestamp_ns = scan_time(buf, fields_end, opts)?;
        let reserved = if tag_time {
            Some(ReservedTime::Tag)
        } else if time_fields == self.fields.len() {
            Some(ReservedTime::OnlyField)
        } else {
            None
        };
        Ok(Some(Line {
            buf,
            dec: self,
            meas_end,
            meas_esc,
            key_end,
            timestamp_ns,
            reserved,
            in_order: None,
            order_ready: false,
            key_built: false,
            shape_match,
        }))
    }
}

/// The bytes of `span` in `buf` (empty if it is out of range).
#[inline(always)]
fn key_of(buf: &[u8], span: (usize, usize)) -> &[u8] {
    buf.get(span.0..span.1).unwrap_or_default()
}

/// The 8 bytes of `s` from `at` as a little-endian word, if there are 8.
#[inline(always)]
fn word_at(s: &[u8], at: usize) -> Option<u64> {
    s.get(at..at.checked_add(8)?)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map(u64::from_le_bytes)
}
