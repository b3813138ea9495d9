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

use std::borrow::Cow;

use super::error::{ErrorKind, MAX_KEY_LENGTH, MAX_NANO_TIME, MIN_NANO_TIME};
use super::scan::{self, parse_digits, skip_ws, to_i64, Cursor};
use super::{FieldType, FieldValue, Precision};

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

#[derive(Clone, Copy, Debug)]
struct TagSpan {
    /// [`fingerprint`] of the escaped key.
    fp: u64,
    key: (usize, usize),
    val: (usize, usize),
    key_esc: bool,
    val_esc: bool,
}

#[derive(Clone, Copy, Debug)]
enum RawValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Boolean(bool),
    Str { start: usize, end: usize, esc: bool },
}

impl RawValue {
    #[inline]
    fn field_type(&self) -> FieldType {
        match self {
            RawValue::Float(_) => FieldType::Float,
            RawValue::Integer(_) => FieldType::Integer,
            RawValue::Unsigned(_) => FieldType::Unsigned,
            RawValue::Boolean(_) => FieldType::Boolean,
            RawValue::Str { .. } => FieldType::String,
        }
    }
}

/// A scanned field value as a `FieldValue` over the line (strings unescaped only if needed).
#[inline]
fn field_value(buf: &[u8], v: RawValue) -> FieldValue<'_> {
    match v {
        RawValue::Float(v) => FieldValue::Float(v),
        RawValue::Integer(v) => FieldValue::Integer(v),
        RawValue::Unsigned(v) => FieldValue::Unsigned(v),
        RawValue::Boolean(v) => FieldValue::Boolean(v),
        RawValue::Str { start, end, esc } => {
            FieldValue::String(unescape(key_of(buf, (start, end)), esc, STRING_SPECIAL))
        }
    }
}

/// A scanned field, 32 bytes (a `RawValue` beside the key made it 48, and every field of every
/// line is written here once and read once).
#[derive(Clone, Copy, Debug)]
struct FieldSpan {
    key: (usize, usize),
    /// The value: a float's bits, an integer, an unsigned, a boolean as 0 or 1, or the index
    /// of a string's closing quote (the string starts two bytes after the key, past `="`).
    bits: u64,
    ty: FieldType,
    key_esc: bool,
    /// The key is `time` (skipped by `Line::fields`).
    is_time: bool,
    /// A string value holding a backslash before `"` or `\\`.
    str_esc: bool,
}

impl FieldSpan {
    #[inline(always)]
    fn new(key: (usize, usize), key_esc: bool, is_time: bool, value: RawValue) -> Self {
        let (ty, bits, str_esc) = match value {
            RawValue::Float(v) => (FieldType::Float, v.to_bits(), false),
            RawValue::Integer(v) => (FieldType::Integer, v as u64, false),
            RawValue::Unsigned(v) => (FieldType::Unsigned, v, false),
            RawValue::Boolean(v) => (FieldType::Boolean, v as u64, false),
            RawValue::Str { start, end, esc } => {
                debug_assert_eq!(start, key.1 + 2);
                (FieldType::String, end as u64, esc)
            }
        };
        FieldSpan {
            key,
            bits,
            ty,
            key_esc,
            is_time,
            str_esc,
        }
    }

    #[inline(always)]
    fn value(&self) -> RawValue {
        match self.ty {
            FieldType::Float => RawValue::Float(f64::from_bits(self.bits)),
            FieldType::Integer => RawValue::Integer(self.bits as i64),
            FieldType::Unsigned => RawValue::Unsigned(self.bits),
            FieldType::Boolean => RawValue::Boolean(self.bits != 0),
            FieldType::String => RawValue::Str {
                start: self.key.1 + 2,
                end: self.bits as usize,
                esc: self.str_esc,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct KeyInfo {
    meas_end: usize,
    meas_esc: bool,
    key_end: usize,
    tag_time: bool,
}

/// A decoded key section (measurement + tags), by its raw bytes.
#[derive(Clone, Debug, Default)]
struct CachedKey {
    raw: Vec<u8>,
    key: KeyInfo,
    tags: Vec<TagSpan>,
    /// Canonical series key and its hash, once a line with this key asked for them.
    series_key: Vec<u8>,
    hash: u64,
    ready: bool,
    /// This slot's content: a number no other key the decoder remembered ever had.
    id: u64,
}

/// Slots of the per-decoder key cache (`KEY_CACHE_WAYS`-way set associative, the set chosen
/// by XXH3 of the key bytes). Ingest repeats series line after line; a hit skips tag scanning
/// and the duplicate check. Bounded memory: at most
/// `KEY_CACHE_SLOTS * (KEY_CACHE_MAX_KEY_LEN + tags)` bytes.
const KEY_CACHE_SLOTS: usize = 4096;
/// Ways per set: a direct-mapped cache of 4096 slots loses about a fifth of 1000 series to
/// slot collisions (two keys evicting each other line after line); four ways make that rare.
const KEY_CACHE_WAYS: usize = 4;
const KEY_CACHE_SETS: usize = KEY_CACHE_SLOTS / KEY_CACHE_WAYS;
/// Longer keys are not cached.
const KEY_CACHE_MAX_KEY_LEN: usize = 512;

/// Cache hash of a key: a hash of its length, first 48 and last 16 bytes (the cache compares
/// the whole key, so a partial hash only costs misses). Its low bits pick the set.
#[inline(always)]
fn cache_hash(region: &[u8]) -> u64 {
    let n = region.len();
    if n <= 64 {
        return xxhash_rust::xxh3::xxh3_64(region);
    }
    // XXH3-style: four 64x64->128 multiply-folds of the words, read in place.
    let word = |i: usize| {
        region
            .get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let fold = |a: u64, b: u64| {
        let p = (a as u128).wrapping_mul(b as u128);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let h = fold(
        word(0) ^ 0xbe4b_a423_396c_feb8,
        word(8) ^ 0x1cad_21f7_2c81_017c,
    )
    .wrapping_add(fold(
        word(16) ^ 0xdb97_9083_e96d_d4de,
        word(24) ^ 0x1f67_b3b7_a4a4_4072,
    ))
    .wrapping_add(fold(
        word(32) ^ 0x78e5_c0cc_4ee6_79cb,
        word(40) ^ 0x2172_ffcc_7dd0_5a82,
    ))
    .wrapping_add(fold(
        word(n - 16) ^ 0x08e2_443f_7744_608b ^ n as u64,
        word(n - 8) ^ 0x4c26_3a81_e693_35d5,
    ));
    let h = (h ^ (h >> 37)).wrapping_mul(0x1656_6791_9e37_79f9);
    h ^ (h >> 32)
}

/// First slot of the set of a key with cache hash `h`.
#[inline(always)]
fn cache_set(h: u64) -> usize {
    ((h as usize) & (KEY_CACHE_SETS - 1)) * KEY_CACHE_WAYS
}

/// End of the key section if the line decodes: its first space not preceded by a backslash.
#[inline]
fn key_region_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + memchr::memchr(b' ', buf.get(from..)?)?;
        if i > 0 && buf[i - 1] != b'\\' {
            return Some(i);
        }
        from = i + 1;
    }
}

/// One field of a remembered shape. A key of up to 16 bytes (most field names) is compared as
/// one or two 8-byte words ([`shape_key_at`]), without reaching into `shape_keys`.
#[derive(Clone, Copy, Debug)]
struct ShapeKey {
    /// The key's first 8 bytes; a key shorter than 8 bytes zero-padded.
    first: u64,
    last: u64,
    /// The key in `Decoder::shape_keys`.
    start: u32,
    len: u32,
    ty: FieldType,
}

/// Whether shape key `k` is at `buf[p..]` (the bytes after it are not looked at). A key shorter
/// than 8 bytes is compared as a masked word when 8 bytes can be read at `p`.
#[inline(always)]
fn shape_key_at(shape_keys: &[u8], buf: &[u8], p: usize, k: &ShapeKey) -> bool {
    let len = k.len as usize;
    match len {
        1..=7 => {
            if let Some(w) = word_at(buf, p) {
                return w & (u64::MAX >> (64 - 8 * len)) == k.first;
            }
        }
        8..=16 => {
            return word_at(buf, p) == Some(k.first) && word_at(buf, p + len - 8) == Some(k.last)
        }
        _ => {}
    }
    let start = k.start as usize;
    len > 0 && buf.get(p..p + len) == shape_keys.get(start..start + len)
}

/// The 8 bytes of `s` from `at`, if there are 8.
#[inline(always)]
fn word_at(s: &[u8], at: usize) -> Option<u64> {
    s.get(at..at.checked_add(8)?)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map(u64::from_ne_bytes)
}

/// Reusable decoding scratch; keep one per core and feed it line after line.
#[derive(Debug, Default)]
pub struct Decoder {
    cache: Vec<CachedKey>,
    /// [`cache_hash`] of each slot's key (a set's hashes share a cache line).
    cache_hashes: Vec<u64>,
    /// Round-robin victim choice within a full set.
    victim: usize,
    /// The last [`CachedKey::id`] given out.
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

    /// The current line's tags, in line order.
    #[inline]
    fn tag_spans(&self) -> &[TagSpan] {
        match self.cached_tags.and_then(|slot| self.cache.get(slot)) {
            Some(e) => &e.tags,
            None => &self.tags,
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

    /// Measurement and tags into `self.tags`, with the duplicate and length checks. Kept out of
    /// line: a key cache hit skips it, and inlining it crowds the field loop's registers.
    #[inline(never)]
    fn scan_key(&mut self, buf: &[u8], cur: &mut Cursor) -> Result<KeyInfo, ErrorKind> {
        self.tags.clear();
        self.cached_tags = None;
        let (meas_end, meas_esc) = scan_measurement(buf, cur)?;
        let mut key_end = meas_end;
        let mut tag_time = false;
        if buf.get(meas_end) == Some(&b',') {
            key_end = self.scan_tags(buf, meas_end + 1, cur)?;
            let time_fp = fingerprint(b"time", 0, 4);
            tag_time = self
                .tags
                .iter()
                .any(|t| t.fp == time_fp && key_of(buf, t.key) == b"time");
            if has_duplicate_keys(buf, &self.tags, &mut self.order) {
                return Err(ErrorKind::DuplicateTags);
            }
        }
        if key_end > MAX_KEY_LENGTH {
            return Err(ErrorKind::MaxKeyLength(key_end));
        }
        Ok(KeyInfo {
            meas_end,
            meas_esc,
            key_end,
            tag_time,
        })
    }

    /// The key of a line whose key bytes were decoded before: the key section of a line that
    /// decodes ends at its first space not preceded by a backslash, and equal bytes decode
    /// equally, so the cached spans are exact.
    #[inline]
    fn cached_key(&mut self, buf: &[u8]) -> Option<KeyInfo> {
        let end = key_region_end(buf)?;
        let region = &buf[..end];
        let h = cache_hash(region);
        let set = cache_set(h);
        let hashes = self.cache_hashes.get(set..set + KEY_CACHE_WAYS)?;
        for (w, &eh) in hashes.iter().enumerate() {
            if eh != h {
                continue;
            }
            let slot = set + w;
            let e = self.cache.get(slot)?;
            if e.raw.as_slice() == region {
                self.cached_tags = Some(slot);
                self.line_slot = Some(slot);
                return Some(e.key);
            }
        }
        None
    }

    #[inline]
    fn remember_key(&mut self, buf: &[u8], key: KeyInfo) {
        self.line_slot = None;
        if self.no_cache || key.key_end > KEY_CACHE_MAX_KEY_LEN {
            return;
        }
        if self.cache.is_empty() {
            self.cache.resize_with(KEY_CACHE_SLOTS, CachedKey::default);
            self.cache_hashes.resize(KEY_CACHE_SLOTS, 0);
        }
        let region = &buf[..key.key_end];
        let h = cache_hash(region);
        let set = cache_set(h);
        let way = match self.cache.get(set..set + KEY_CACHE_WAYS) {
            Some(ways) => match ways.iter().position(|e| e.raw.is_empty()) {
                Some(w) => w,
                None => {
                    self.victim = self.victim.wrapping_add(1);
                    self.victim % KEY_CACHE_WAYS
                }
            },
            None => return,
        };
        let slot = set + way;
        if let Some(hs) = self.cache_hashes.get_mut(slot) {
            *hs = h;
        }
        if let Some(e) = self.cache.get_mut(slot) {
            e.raw.clear();
            e.raw.extend_from_slice(region);
            e.tags.clear();
            e.tags.extend_from_slice(&self.tags);
            e.key = key;
            e.ready = false;
            self.last_id += 1;
            e.id = self.last_id;
            self.line_slot = Some(slot);
        }
    }

    /// Tags from `i` (just after the measurement's comma); returns the end of the last value.
    fn scan_tags(
        &mut self,
        buf: &[u8],
        mut i: usize,
        cur: &mut Cursor,
    ) -> Result<usize, ErrorKind> {
        loop {
            let ks = i;
            match buf.get(ks) {
                None | Some(b' ' | b',' | b'=') => return Err(ErrorKind::MissingTagKey),
                Some(_) => {}
            }
            let mut j = ks + 1;
            let mut key_esc = false;
            loop {
                j = cur.next(buf, j);
                match buf.get(j) {
                    None => return Err(ErrorKind::MissingTagValue),
                    Some(b'\\' | b'"') => j += 1,
                    Some(_) if buf[j - 1] == b'\\' => {
                        key_esc = true;
                        j += 1;
                    }
                    Some(b'=') => break,
                    Some(_) => return Err(ErrorKind::MissingTagValue),
                }
            }
            let vs = j + 1;
            match buf.get(vs) {
                None | Some(b' ' | b',') => return Err(ErrorKind::MissingTagValue),
                Some(_) => {}
            }
            let mut k = vs + 1;
            let mut val_esc = false;
            let delim = loop {
                k = cur.next(buf, k);
                match buf.get(k) {
                    None => return Err(ErrorKind::MissingFields),
                    Some(b'\\' | b'"') => k += 1,
                    Some(_) if buf[k - 1] == b'\\' => {
                        val_esc = true;
                        k += 1;
                    }
                    Some(b'=') => return Err(ErrorKind::InvalidTagFormat),
                    Some(&d) => break d,
                }
            };
            let fp = fingerprint(buf, ks, j);
            self.tags.push(TagSpan {
                fp,
                key: (ks, j),
                val: (vs, k),
                key_esc,
                val_esc,
            });
            if delim == b' ' {
                return Ok(k);
            }
            i = k + 1;
        }
    }

    /// Whether field `n` of the remembered shape has this (unescaped) key and type.
    #[inline(always)]
    fn shape_has(&self, n: usize, key: &[u8], ty: FieldType) -> bool {
        let Some(k) = self.shape.get(n) else {
            return false;
        };
        k.len as usize == key.len() && k.ty == ty && shape_key_at(&self.shape_keys, key, 0, k)
    }

    /// Forgets the shape of [`Line::remember_shape`] (a pooled decoder serving a new request).
    pub fn forget_shape(&mut self) {
        self.shape.clear();
        self.shape_keys.clear();
        self.shape_key_max = 0;
    }

    /// Fields from `i` when they are the remembered shape: each key is compared with the
    /// shape's in place (no search for its `=`) and each value parsed as the shape's type says.
    /// `None` at the first surprise (another key, type or count, an escape, an odd value, an
    /// error): the caller then scans the line the general way, which gives every verdict, so
    /// this path only ever accepts what that one accepts, with the same spans and values.
    #[inline(never)]
    fn scan_shape(&mut self, buf: &[u8], i: usize, opts: &DecodeOptions) -> Option<usize> {
        let Decoder {
            shape,
            shape_keys,
            shape_key_max,
            fields,
            ..
        } = self;
        if shape.is_empty() || *shape_key_max > MAX_KEY_LENGTH.saturating_sub(i + 4) {
            return None;
        }
        fields.reserve(shape.len());
        let mut p = skip_ws(buf, i);
        let last = shape.len() - 1;
        for (n, k) in shape.iter().enumerate() {
            let q = p + k.len as usize;
            if buf.get(q) != Some(&b'=') || !shape_key_at(shape_keys, buf, p, k) {
                return None;
            }
            let v = q + 1;
            let (value, end) = match k.ty {
                FieldType::Integer => {
                    let (n, end) = word_integer(buf, v).or_else(|| fast_integer(buf, v))?;
                    (RawValue::Integer(n), end)
                }
                _ => Self::value(buf, v, i, opts, &mut Cursor::new()).ok()?,
            };
            if value.field_type() != k.ty {
                return None;
            }
            fields.push(FieldSpan::new((p, q), false, false, value));
            match buf.get(end) {
                Some(b',') if n < last => p = end + 1,
                None | Some(b' ') if n == last => return Some(end),
                _ => return None,
            }
        }
        None
    }

    /// Fields from `i` (the space after the key). Returns the end of the field section, how
    /// many fields are named `time`, and whether the fields are the remembered shape (checked
    /// here, on each key as it is scanned, so the write path does not walk the fields again).
    fn scan_fields(
        &mut self,
        buf: &[u8],
        i: usize,
        opts: &DecodeOptions,
        cur: &mut Cursor,
    ) -> Result<(usize, usize, bool), ErrorKind> {
        if let Some(end) = self.scan_shape(buf, i, opts) {
            return Ok((end, 0, true));
        }
        self.fields.clear();
        let start = skip_ws(buf, i);
        let key_room = MAX_KEY_LENGTH.saturating_sub(i + 4);
        // OR of the raw field key lengths: at least the longest, so below `key_room` means no
        // key is too long; otherwise `too_long` finds the first that is.
        let mut key_bits = 0usize;
        let mut time_fields = 0;
        let mut same = true;
        // A key ending in a backslash: 1.x's field walk reads its `=` as escaped.
        let mut key_ends_escaped = false;
        let mut p = start;
        loop {
            // Fast path: a run of `key=[-]digits i` fields with plain keys. Each field takes
            // the next two structural bytes of a 64-byte mask (its `=` and its `,` or space),
            // so the next field's start does not wait for the digits to be parsed.
            let mut base = p;
            let mut mask = 0u64;
            loop {
                if mask & mask.wrapping_sub(1) == 0 {
                    base = p;
                    mask = Cursor::window(buf, p);
                    if mask & mask.wrapping_sub(1) == 0 {
                        break;
                    }
                }
                let q = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let e = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if q <= p || buf.get(q) != Some(&b'=') {
                    break;
                }
                let Some(n) = word_integer(buf, q + 1)
                    .filter(|&(_, end)| end == e)
                    .map(|(n, _)| n)
                else {
                    break;
                };
                let key_len = q - p;
                key_bits |= key_len;
                let key = buf.get(p..q).unwrap_or_default();
                let is_time = key_len == 4 && key == b"time";
                time_fields += is_time as usize;
                // A key named `time` is never in a shape (`fields()` skips it).
                same &= self.shape_has(self.fields.len(), key, FieldType::Integer);
                self.fields
                    .push(FieldSpan::new((p, q), false, is_time, RawValue::Integer(n)));
                if buf.get(e) == Some(&b',') {
                    p = e + 1;
                    continue;
                }
                if key_ends_escaped {
                    scan::walk_fields(&buf[start..e])?;
                }
                if key_bits > key_room {
                    if let Some(sz) = self.too_long(i, key_room) {
                        return Err(ErrorKind::MaxKeyLength(sz));
                    }
                }
                let same = same && self.fields.len() == self.shape.len();
                return Ok((e, time_fields, same));
            }
            let ks = p;
            let mut q = p;
            let mut key_esc = false;
            loop {
                q = cur.next(buf, q);
                match buf.get(q) {
                    Some(b'"') => q += 1,
                    // `pkg/escape.Unescape` works left to right, not in the scanner's
                    // pairs (`\\"`), so any backslash sends the key through it.
                    Some(b'\\') if q + 1 < buf.len() => {
                        key_esc = true;
                        q += 2;
                    }
                    Some(b'\\') => {
                        key_esc = true;
                        q += 1;
                    }
                    _ => break,
                }
            }
            match buf.get(q) {
                Some(b'=') if q > ks => {}
                Some(b'=') if matches!(buf.get(q.wrapping_sub(1)), Some(b' ' | b',')) => {
                    return Err(ErrorKind::MissingFieldKey)
                }
                // An empty first key after a tab or NUL: 1.x scans on (and would accept an
                // empty key); we report its later error, or `missing field key`.
                Some(b'=') => {
                    return Err(match scan::scan_fields(buf, i, opts.accept_unsigned) {
                        Err(e) => e,
                        Ok(_) => ErrorKind::MissingFieldKey,
                    })
                }
                // A key without a value: 1.x counts the comma and carries on, so its error
                // may come from a later byte; let the exact port decide.
                Some(b',') => return Err(Self::off_path(buf, i, opts)),
                _ => return Err(ErrorKind::InvalidFieldFormat),
            }
            key_ends_escaped |= key_esc && buf[q - 1] == b'\\';
            let v = q + 1;
            let (value, end) = match fast_integer(buf, v) {
                Some((n, end)) => (RawValue::Integer(n), end),
                None => Self::value(buf, v, i, opts, cur)?,
            };
            let key_len = q - ks;
            key_bits |= key_len;
            let key = &buf[ks..q];
            let is_time = key == b"time";
            time_fields += is_time as usize;
            same &= !key_esc && self.shape_has(self.fields.len(), key, value.field_type());
            self.fields
                .push(FieldSpan::new((ks, q), key_esc, is_time, value));
            match buf.get(end) {
                Some(b',') => p = end + 1,
                _ => {
                    if key_ends_escaped {
                        scan::walk_fields(&buf[start..end])?;
                    }
                    if key_bits > key_room {
                        if let Some(sz) = self.too_long(i, key_room) {
                            return Err(ErrorKind::MaxKeyLength(sz));
                        }
                    }
                    let same = same && self.fields.len() == self.shape.len();
                    return Ok((end, time_fields, same));
                }
            }
        }
    }

    /// Size (series key + field key + 4) reported for the first field key longer than
    /// `key_room`, if any.
    #[cold]
    fn too_long(&self, i: usize, key_room: usize) -> Option<usize> {
        self.fields
            .iter()
            .map(|f| f.key.1 - f.key.0)
            .find(|&len| len > key_room)
            .map(|len| i + 4 + len)
    }

    /// Any field value (the fast path only takes small integers).
    #[inline(never)]
    fn value(
        buf: &[u8],
        v: usize,
        i: usize,
        opts: &DecodeOptions,
        cur: &mut Cursor,
    ) -> Result<(RawValue, usize), ErrorKind> {
        match buf.get(v) {
            None | Some(b',' | b' ') => Err(ErrorKind::MissingFieldValue),
            Some(b'"') => {
                let (value, end) = scan_string(buf, v, cur)?;
                match buf.get(end) {
                    None | Some(b',' | b' ') => Ok((value, end)),
                    Some(_) => Err(Self::off_path(buf, i, opts)),
                }
            }
            Some(c) if c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'N' | b'n') => {
                scan_value_number(buf, v, opts)
            }
            Some(_) => {
                let (end, b) = scan::scan_boolean(buf, v)?;
                Ok((RawValue::Boolean(b), end))
            }
        }
    }

    /// The line left the structured path: 1.x's own scanner gives the verdict. If it would
    /// accept the section, its later field walk yields garbage (e.g. `f="a"b` becomes the
    /// string `a"`); we refuse such lines as `invalid field format` instead.
    #[cold]
    fn off_path(buf: &[u8], i: usize, opts: &DecodeOptions) -> ErrorKind {
        match scan::scan_fields(buf, i, opts.accept_unsigned) {
            Err(e) => e,
            Ok(_) => ErrorKind::InvalidFieldFormat,
        }
    }
}

/// `scanMeasurement`: returns the index of the `,` or space ending the measurement.
#[inline]
fn scan_measurement(buf: &[u8], cur: &mut Cursor) -> Result<(usize, bool), ErrorKind> {
    match buf.first() {
        None | Some(b',') => return Err(ErrorKind::MissingMeasurement),
        Some(_) => {}
    }
    let mut i = 1;
    let mut esc = false;
    loop {
        i = cur.next(buf, i);
        if i >= buf.len() {
            return Err(ErrorKind::MissingFields);
        }
        if matches!(buf[i], b'=' | b'\\' | b'"') {
            // `\=` and `\"` are unescaped in a measurement too (1.x `Point.Name`).
            esc |= buf[i - 1] == b'\\';
            i += 1;
            continue;
        }
        if buf[i - 1] == b'\\' {
            esc = true;
            i += 1;
            continue;
        }
        return Ok((i, esc));
    }
}

/// String value starting at the opening quote `v`; returns it and the index after the
/// closing quote. Inside quotes a backslash skips the next byte (so `\"` does not close).
#[inline]
fn scan_string(buf: &[u8], v: usize, cur: &mut Cursor) -> Result<(RawValue, usize), ErrorKind> {
    let mut j = v + 1;
    let mut esc = false;
    loop {
        j = cur.next(buf, j);
        match buf.get(j) {
            None => return Err(ErrorKind::UnbalancedQuotes),
            Some(b',' | b'=' | b' ') => j += 1,
            Some(b'"') => {
                return Ok((
                    RawValue::Str {
                        start: v + 1,
                        end: j,
                        esc,
                    },
                    j + 1,
                ));
            }
            Some(_) if j + 1 < buf.len() => {
                esc |= matches!(buf[j + 1], b'"' | b'\\');
                j += 2;
            }
            Some(_) => j += 1,
        }
    }
}

/// `[-]d{1,18}i` followed by `,`, space or the end: the common integer, which cannot
/// overflow. Anything else is `None` (and goes through the exact path).
#[inline(always)]
fn fast_integer(buf: &[u8], v: usize) -> Option<(i64, usize)> {
    let neg = buf.get(v) == Some(&b'-');
    let ds = v + neg as usize;
    let (acc, i, _) = parse_digits(buf, ds);
    let nd = i - ds;
    if nd == 0 || nd > 18 || buf.get(i) != Some(&b'i') {
        return None;
    }
    let acc = acc as i64;
    match buf.get(i + 1) {
        None | Some(b',' | b' ') => Some((if neg { -acc } else { acc }, i + 1)),
        _ => None,
    }
}

/// `[-]d{1,8}i` at `v` followed by `,`, space or the end: the integer and the index after the
/// `i` (the same values [`fast_integer`] accepts, for short ones), read as one 8-byte word.
/// The bytes up to the returned end hold no structural byte, so it is also the first
/// structural byte at or after `v`.
#[inline(always)]
fn word_integer(buf: &[u8], v: usize) -> Option<(i64, usize)> {
    let neg = buf.get(v) == Some(&b'-');
    let ds = v + neg as usize;
    let x = word_at(buf, ds)? ^ 0x3030_3030_3030_3030;
    let non_digit = ((x & 0x7f7f_7f7f_7f7f_7f7f).wrapping_add(0x7676_7676_7676_7676) | x)
        & 0x8080_8080_8080_8080;
    // Digits: `ds..ds + nd`, then `i`.
    let nd = (non_digit.trailing_zeros() / 8) as usize;
    if nd == 0 || buf.get(ds + nd) != Some(&b'i') {
        return None;
    }
    let end = ds + nd + 1;
    match buf.get(end) {
        None | Some(b',' | b' ') => {}
        _ => return None,
    }
    let acc = if nd <= 4 {
        swar4((x as u32) << (32 - 8 * nd as u32)) as i64
    } else {
        scan::swar8(x << (64 - 8 * nd as u32)) as i64
    };
    Some((if neg { -acc } else { acc }, end))
}

/// Four digit values (first digit in the lowest byte) to their decimal value.
#[inline(always)]
fn swar4(x: u32) -> u32 {
    let x = (x.wrapping_mul(10).wrapping_add(x >> 8)) & 0x00ff_00ff;
    (x.wrapping_mul(100).wrapping_add(x >> 16)) & 0xffff
}

/// Numbers: a fast path for `[-]digits` followed by `i` or a delimiter, else the exact port.
#[inline]
fn scan_value_number(
    buf: &[u8],
    v: usize,
    opts: &DecodeOptions,
) -> Result<(RawValue, usize), ErrorKind> {
    let neg = buf.get(v) == Some(&b'-');
    let ds = v + neg as usize;
    let mut i = ds;
    let mut acc: u64 = 0;
    let mut overflow = false;
    while let Some(&c) = buf.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        match acc.checked_mul(10).and_then(|a| a.checked_add(d as u64)) {
            Some(a) => acc = a,
            None => overflow = true,
        }
        i += 1;
    }
    let nd = i - ds;
    if nd > 0 {
        match buf.get(i) {
            Some(b'i') if matches!(buf.get(i + 1), None | Some(b',' | b' ')) => {
                return match to_i64(neg, acc).filter(|_| !overflow) {
                    Some(n) => Ok((RawValue::Integer(n), i + 1)),
                    None => Err(ErrorKind::IntegerOutOfRange(
                        String::from_utf8_lossy(&buf[v..i]).into_owned(),
                    )),
                };
            }
            None | Some(b',' | b' ') if nd <= 15 => {
                let f = acc as f64;
                return Ok((RawValue::Float(if neg { -f } else { f }), i));
            }
            _ => {}
        }
    }
    slow_number(buf, v, opts)
}

#[cold]
fn slow_number(buf: &[u8], v: usize, opts: &DecodeOptions) -> Result<(RawValue, usize), ErrorKind> {
    let (end, kind) = scan::scan_number(buf, v, opts.accept_unsigned)?;
    let text = &buf[v..end];
    let value = match kind {
        scan::NumKind::Float => RawValue::Float(scan::parse_f64(text)?),
        scan::NumKind::Integer => RawValue::Integer(scan::parse_i64(&text[..text.len() - 1])?),
        scan::NumKind::Unsigned => RawValue::Unsigned(scan::parse_u64(&text[..text.len() - 1])?),
    };
    Ok((value, end))
}

/// `scanTime` + `parseIntBytes` + `SafeCalcTime` + the trailing-bytes check of `parsePoint`.
#[inline]
fn scan_time(buf: &[u8], i: usize, opts: &DecodeOptions) -> Result<i64, ErrorKind> {
    let start = skip_ws(buf, i);
    let neg = buf.get(start) == Some(&b'-');
    let (acc, j, overflow) = parse_digits(buf, start + neg as usize);
    match buf.get(j) {
        None | Some(b' ' | b'\n') => {}
        Some(_) => return Err(ErrorKind::BadTimestamp),
    }
    if j == start {
        // No timestamp (1.x skips the trailing-bytes check in this case too).
        return Ok(opts.default_time_ns);
    }
    let text = || String::from_utf8_lossy(&buf[start..j]).into_owned();
    if j == start + 1 && neg {
        return Err(ErrorKind::TimestampSyntax(text()));
    }
    let ts = match to_i64(neg, acc) {
        Some(ts) if !overflow => ts,
        _ => return Err(ErrorKind::TimestampOutOfRange(text())),
    };
    let ns = ts
        .checked_mul(opts.precision.multiplier_ns())
        .filter(|ns| (MIN_NANO_TIME..=MAX_NANO_TIME).contains(ns))
        .ok_or(ErrorKind::TimeOutsideRange)?;
    if buf[j..].iter().any(|&c| c != b' ') {
        return Err(ErrorKind::PointIsInvalid);
    }
    Ok(ns)
}

#[inline(always)]
fn key_of(buf: &[u8], span: (usize, usize)) -> &[u8] {
    buf.get(span.0..span.1).unwrap_or_default()
}

/// First eight bytes of `buf[s..e]` (zero padded) mixed with its length: equal keys have equal
/// fingerprints, so only fingerprint collisions need a byte comparison.
#[inline(always)]
fn fingerprint(buf: &[u8], s: usize, e: usize) -> u64 {
    let len = e - s;
    let w = match buf.get(s..s + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or_default()),
        None => {
            let mut a = [0u8; 8];
            let rest = buf.get(s..).unwrap_or_default();
            let n = rest.len().min(8);
            a[..n].copy_from_slice(&rest[..n]);
            u64::from_le_bytes(a)
        }
    };
    let w = if len >= 8 {
        w
    } else {
        w & ((1u64 << (len * 8)) - 1)
    };
    (w ^ (len as u64).rotate_right(8)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

const BLOOM_DUP_CHECK_MAX: usize = 32;

/// Any two tags with the same escaped key? (1.x compares escaped keys after sorting.) Small
/// tag sets use a 128-bit filter over the fingerprints and compare bytes only on a hit.
fn has_duplicate_keys(buf: &[u8], tags: &[TagSpan], order: &mut Vec<u32>) -> bool {
    if tags.len() < 2 {
        return false;
    }
    if tags.len() <= BLOOM_DUP_CHECK_MAX {
        let mut seen = 0u128;
        for (n, t) in tags.iter().enumerate() {
            let bit = 1u128 << (t.fp >> 57);
            if seen & bit != 0 {
                let key = key_of(buf, t.key);
                if tags[..n]
                    .iter()
                    .any(|o| o.fp == t.fp && key_of(buf, o.key) == key)
                {
                    return true;
                }
            }
            seen |= bit;
        }
        return false;
    }
    sort_order(buf, tags, order);
    order
        .windows(2)
        .any(|w| key_of(buf, tags[w[0] as usize].key) == key_of(buf, tags[w[1] as usize].key))
}

fn sort_order(buf: &[u8], tags: &[TagSpan], order: &mut Vec<u32>) {
    order.clear();
    order.extend(0..tags.len() as u32);
    let key = |i: u32| key_of(buf, tags[i as usize].key);
    if order.len() <= 16 {
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 && key(order[j]) < key(order[j - 1]) {
                order.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
    }
}

#[inline(always)]
fn unescape<'a>(raw: &'a [u8], esc: bool, special: &[u8]) -> Cow<'a, [u8]> {
    if !esc {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(unescape_owned(raw, special))
}

#[cold]
fn unescape_owned(raw: &[u8], special: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        match raw.get(i + 1) {
            Some(n) if c == b'\\' && special.contains(n) => {
                out.push(*n);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Escapes the decoder removes, per element: 1.x's `Point.Name` (`pkg/escape.Unescape`: `\,`,
/// `\=`, `\ ` and `\"`) for the measurement, `tagEscapeCodes` for tag keys and values,
/// `pkg/escape.Unescape` for field keys, `unescapeStringField` for string values.
const MEAS_SPECIAL: &[u8] = b", =\"";
const TAG_SPECIAL: &[u8] = b", =";
const FIELD_KEY_SPECIAL: &[u8] = b", =\"";
const STRING_SPECIAL: &[u8] = b"\"\\";

impl<'a, 's> Line<'a, 's> {
    /// The line as decoded (leading whitespace and, with `strip_cr`, the CR removed).
    pub fn raw(&self) -> &'a [u8] {
        self.buf
    }

    /// Measurement, unescaped.
    pub fn measurement(&self) -> Cow<'a, [u8]> {
        unescape(&self.buf[..self.meas_end], self.meas_esc, MEAS_SPECIAL)
    }

    pub fn tag_count(&self) -> usize {
        self.dec.tag_spans().len()
    }

    /// Number of fields in the line, duplicates and `time` included.
    pub fn field_count(&self) -> usize {
        self.dec.fields.len()
    }

    /// Tags, unescaped, sorted by (escaped) key as in the series key.
    pub fn tags(&mut self) -> impl Iterator<Item = (Cow<'a, [u8]>, Cow<'a, [u8]>)> + '_ {
        self.ensure_order();
        let buf = self.buf;
        let tags = self.dec.tag_spans();
        let order = &self.dec.order;
        let in_order = self.in_order == Some(true);
        (0..tags.len()).map(move |n| {
            let t = if in_order {
                tags[n]
            } else {
                tags[order[n] as usize]
            };
            (
                unescape(key_of(buf, t.key), t.key_esc, TAG_SPECIAL),
                unescape(key_of(buf, t.val), t.val_esc, TAG_SPECIAL),
            )
        })
    }

    /// Fields in line order, keys unescaped, a field named `time` skipped. Duplicate keys are
    /// all yielded; apply them in order so that the later value wins, as 1.x does.
    pub fn fields(&self) -> impl Iterator<Item = (Cow<'a, [u8]>, FieldValue<'a>)> + '_ {
        let buf = self.buf;
        self.field_spans().map(move |f| {
            (
                unescape(key_of(buf, f.key), f.key_esc, FIELD_KEY_SPECIAL),
                field_value(buf, f.value()),
            )
        })
    }

    /// Whether `fields()` yields exactly the keys and types of the shape the decoder last
    /// remembered ([`Self::remember_shape`]), in that order: the write path's test that a line
    /// repeats the previous line's schema, answered while the fields were scanned. A key written
    /// with escapes never matches.
    #[inline]
    pub fn shape_matches(&self) -> bool {
        self.shape_match
    }

    /// Makes this line's `fields()` (keys and types) the shape later lines are checked against.
    /// A line with an escaped key leaves no shape (such keys never match).
    pub fn remember_shape(&mut self) {
        let Decoder {
            fields,
            shape,
            shape_keys,
            shape_key_max,
            ..
        } = &mut *self.dec;
        shape.clear();
        shape_keys.clear();
        *shape_key_max = 0;
        if fields.iter().any(|f| f.key_esc) {
            return;
        }
        for f in fields.iter().filter(|f| !f.is_time) {
            let key = key_of(self.buf, f.key);
            let start = shape_keys.len() as u32;
            shape_keys.extend_from_slice(key);
            *shape_key_max = (*shape_key_max).max(key.len());
            let head = &key[..key.len().min(8)];
            let mut padded = [0u8; 8];
            padded[..head.len()].copy_from_slice(head);
            shape.push(ShapeKey {
                first: u64::from_ne_bytes(padded),
                last: key
                    .len()
                    .checked_sub(8)
                    .and_then(|at| word_at(key, at))
                    .unwrap_or(0),
                start,
                len: key.len() as u32,
                ty: f.ty,
            });
        }
        self.shape_match = true;
    }

    /// The values of `fields()` without their keys, handed to `f` in line order (the write
    /// path's common case: the keys repeat the previous line's and are not stored again).
    #[inline]
    pub fn for_each_value(&self, mut f: impl FnMut(&FieldValue<'a>)) {
        for fs in self.field_spans() {
            f(&field_value(self.buf, fs.value()));
        }
    }

    /// The values of `fields()` as (type, 8 bytes) when each is a float (its bits), an integer
    /// or an unsigned, handed to `f` in line order; false as soon as one is not, or `f` answers
    /// false (the write path's copy of a line's numbers into its batch in one go).
    #[inline]
    pub fn each_fixed_value(&self, mut f: impl FnMut(FieldType, u64) -> bool) -> bool {
        for fs in self.field_spans() {
            if !FieldType::is_fixed_code(fs.ty as u8) || !f(fs.ty, fs.bits) {
                return false;
            }
        }
        true
    }

    /// The scanned fields that `fields()` yields: all but one named `time`.
    #[inline]
    fn field_spans(&self) -> impl Iterator<Item = &FieldSpan> + '_ {
        self.dec.fields.iter().filter(|f| !f.is_time)
    }

    /// Explicit timestamp times the precision, or the request's default time.
    pub fn timestamp_ns(&self) -> i64 {
        self.timestamp_ns
    }

    /// Whether the reserved name `time` makes InfluxDB drop this point.
    pub fn reserved_time(&self) -> Option<ReservedTime> {
        self.reserved
    }

    /// Canonical series key: the measurement and the tags sorted by key, in the escaped form
    /// as received (1.x `point.Key()`). Borrowed from the line when its tags are already
    /// sorted, else built once into the decoder's scratch buffer.
    pub fn series_key(&mut self) -> &[u8] {
        if let Some(slot) = self.ready_slot() {
            return &self.dec.cache[slot].series_key;
        }
        self.build_series_key();
        if let Some(slot) = self.dec.line_slot {
            let Decoder { cache, key, .. } = &mut *self.dec;
            let built: &[u8] = if self.in_order == Some(true) {
                &self.buf[..self.key_end]
            } else {
                key
            };
            if let Some(e) = cache.get_mut(slot) {
                e.series_key.clear();
                e.series_key.extend_from_slice(built);
                e.hash = super::series_hash(built);
                e.ready = true;
            }
        }
        if let Some(slot) = self.ready_slot() {
            return &self.dec.cache[slot].series_key;
        }
        if self.in_order == Some(true) {
            return &self.buf[..self.key_end];
        }
        &self.dec.key
    }

    /// The cache slot of this line's key if its series key is already there.
    #[inline]
    fn ready_slot(&self) -> Option<usize> {
        let slot = self.dec.line_slot?;
        self.dec.cache.get(slot).filter(|e| e.ready).map(|_| slot)
    }

    fn build_series_key(&mut self) {
        self.ensure_order();
        if self.in_order == Some(true) {
            return;
        }
        if !self.key_built {
            let Decoder {
                tags,
                order,
                key,
                cache,
                cached_tags,
                ..
            } = &mut *self.dec;
            let tags = match cached_tags.and_then(|slot| cache.get(slot)) {
                Some(e) => &e.tags,
                None => &*tags,
            };
            key.clear();
            key.extend_from_slice(&self.buf[..self.meas_end]);
            for &n in order.iter() {
                let t = tags[n as usize];
                key.push(b',');
                key.extend_from_slice(key_of(self.buf, (t.key.0, t.val.1)));
            }
            self.key_built = true;
        }
    }

    /// A number that only lines with this line's key bytes (hence its series key) get from
    /// this decoder, or 0 when the key is not in its cache: equal non-zero ids mean equal
    /// keys without comparing them.
    pub fn key_id(&self) -> u64 {
        self.dec
            .line_slot
            .and_then(|slot| self.dec.cache.get(slot))
            .map_or(0, |e| e.id)
    }

    /// [`series_hash`](super::series_hash) of [`Self::series_key`] (cached with the key).
    pub fn series_hash(&mut self) -> u64 {
        if let Some(slot) = self.ready_slot() {
            return self.dec.cache[slot].hash;
        }
        super::series_hash(self.series_key())
    }

    fn ensure_order(&mut self) {
        if self.in_order.is_none() {
            let buf = self.buf;
            let tags = self.dec.tag_spans();
            let sorted = tags
                .windows(2)
                .all(|w| key_of(buf, w[0].key) < key_of(buf, w[1].key));
            self.in_order = Some(sorted);
        }
        if self.in_order == Some(false) && !self.order_ready {
            let Decoder {
                tags,
                cache,
                cached_tags,
                order,
                ..
            } = &mut *self.dec;
            let spans = match cached_tags.and_then(|slot| cache.get(slot)) {
                Some(e) => &e.tags,
                None => &*tags,
            };
            sort_order(self.buf, spans, order);
            self.order_ready = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            6 => prop::sample::select(b"ab0123456789".to_vec()),
            6 => prop::sample::select(b",= \"\\.-ieEtfTFuNn\t".to_vec()),
        ];
        prop::collection::vec(byte, 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// The structured field scan gives exactly the verdict of the port of 1.x `scanFields`
        /// (documented deviations aside).
        #[test]
        fn fields_agree_with_the_1x_scanner(fields in field_bytes(), unsigned in any::<bool>()) {
            let line = [b"m ".as_slice(), &fields].concat();
            let opts = DecodeOptions { accept_unsigned: unsigned, ..DecodeOptions::default() };
            let mut dec = Decoder::new();
            let ours = dec.decode(&line, &opts).map(|_| ());
            match scan::scan_fields(&line, 1, unsigned) {
                Err(theirs) => prop_assert_eq!(ours, Err(theirs), "{:?}", String::from_utf8_lossy(&line)),
                Ok(_) => {
                    let allowed = matches!(
                        ours,
                        Ok(())
                            | Err(ErrorKind::InvalidFieldFormat
                                | ErrorKind::MissingFieldKey
                                | ErrorKind::BadTimestamp
                                | ErrorKind::PointIsInvalid
                                | ErrorKind::TimestampSyntax(_)
                                | ErrorKind::TimestampOutOfRange(_)
                                | ErrorKind::TimeOutsideRange)
                    );
                    prop_assert!(allowed, "{:?}: {:?}", String::from_utf8_lossy(&line), ours);
                }
            }
        }
    }

    #[test]
    fn cache_hit_gives_the_same_line_as_a_fresh_decoder() {
        let opts = DecodeOptions::default();
        let mut warm = Decoder::new();
        let lines: [&[u8]; 6] = [
            b"m,b=2,a=1 v=1i",
            b"m,a=1 v=1i",
            b"m,b=2,a=1 v=5i",
            b"m,b=2,a=1 v=2i,w=\"x\"",
            b"m,b=2,a=1 v=x",
            b"m,b=2,a=1 v=3i",
        ];
        for line in lines {
            let mut fresh = Decoder::without_key_cache();
            let probe = |mut l: Line<'_, '_>| {
                let key = l.series_key().to_vec();
                let hash = l.series_hash();
                let tags: Vec<_> = l
                    .tags()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                (key, hash, tags, l.fields().count())
            };
            let a = warm.decode(line, &opts).map(|l| l.map(probe));
            let b = fresh.decode(line, &opts).map(|l| l.map(probe));
            assert_eq!(a, b);
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    /// Over a stream that overflows the cache (6000 keys for 4096 slots, so slots are taken
    /// over again and again), a non-zero key id always names one key, a key seen again while
    /// still cached keeps its id, and a key too long to cache gets 0.
    #[test]
    fn key_ids_name_one_key_each() {
        let opts = DecodeOptions::default();
        let mut dec = Decoder::new();
        let mut key_of_id: std::collections::HashMap<u64, Vec<u8>> = Default::default();
        let (mut hits, mut x) = (0, 12345u64);
        let mut last: Option<(Vec<u8>, u64)> = None;
        for n in 0..40_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let host = if n % 2 == 1 {
                last.as_ref().map(|l| l.0.clone())
            } else {
                None
            };
            let line = match host {
                Some(h) => h,
                None => format!(
                    "cpu,host=h{},dc=d{} v=1i {n}",
                    (x >> 33) % 6000,
                    (x >> 20) % 3
                )
                .into_bytes(),
            };
            let mut l = dec.decode(&line, &opts).unwrap().unwrap();
            let id = l.key_id();
            let key = l.series_key().to_vec();
            assert_ne!(id, 0, "a short key is cached");
            let prev = key_of_id.entry(id).or_insert_with(|| key.clone());
            assert_eq!(*prev, key, "id {id} names two keys");
            if let Some((_, last_id)) = &last {
                if n % 2 == 1 {
                    assert_eq!(id, *last_id, "the same line twice in a row keeps its id");
                    hits += 1;
                }
            }
            last = Some((line, id));
        }
        assert!(hits > 19_000);
        assert!(
            key_of_id.len() > 6000,
            "slots were taken over: {}",
            key_of_id.len()
        );
        let long = format!("cpu,host={} v=1i 1", "x".repeat(600));
        let l = dec.decode(long.as_bytes(), &opts).unwrap().unwrap();
        assert_eq!(l.key_id(), 0);
    }

    #[test]
    fn second_sighting_of_a_key_reuses_series_key_and_hash() {
        let opts = DecodeOptions::default();
        let mut dec = Decoder::new();
        let line: &[u8] = b"cpu,hostname=host_1,region=r,datacenter=d,rack=1 u=1i,v=2i 1000";
        let key = dec
            .decode(line, &opts)
            .unwrap()
            .unwrap()
            .series_key()
            .to_vec();
        let l = dec.decode(line, &opts).unwrap().unwrap();
        assert_eq!(l.dec.cached_tags, l.dec.line_slot, "a hit");
        assert!(l.ready_slot().is_some(), "key cached with the entry");
        let mut l = l;
        assert_eq!(l.series_key(), key.as_slice());
        assert_eq!(l.series_hash(), super::super::series_hash(&key));
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;
    use proptest::prelude::*;

    /// The keys and types `fields()` yields: what `shape_matches` must agree with.
    fn schema(line: &[u8]) -> Vec<(Vec<u8>, FieldType)> {
        let mut dec = Decoder::new();
        let l = dec
            .decode(line, &DecodeOptions::default())
            .unwrap()
            .unwrap();
        l.fields()
            .map(|(k, v)| (k.to_vec(), v.field_type()))
            .collect()
    }

    /// Whether `line` matches the shape remembered from `base`, on one decoder.
    fn matches(base: &[u8], line: &[u8]) -> bool {
        let mut dec = Decoder::new();
        let opts = DecodeOptions::default();
        dec.decode(base, &opts).unwrap().unwrap().remember_shape();
        let l = dec.decode(line, &opts).unwrap().unwrap();
        l.shape_matches()
    }

    #[test]
    fn agrees_with_fields_on_keys_types_and_order() {
        let base: &[u8] = b"cpu,host=a usage_user=1i,usage_guest_nice=2.5,x=\"s\",flag=t 1";
        assert!(matches(base, base));
        assert!(matches(
            base,
            b"cpu,host=b usage_user=9i,usage_guest_nice=1,x=\"\",flag=F"
        ));
        for other in [
            &b"cpu usage_user=1,usage_guest_nice=2.5,x=\"s\",flag=t"[..], // float, not integer
            b"cpu usage_guest_nice=2.5,usage_user=1i,x=\"s\",flag=t",     // order
            b"cpu usage_user=1i,usage_guest_nice=2.5,x=\"s\"",            // one fewer
            b"cpu usage_user=1i,usage_guest_nice=2.5,x=\"s\",flag=t,v=1i", // one more
            b"cpu usage_usEr=1i,usage_guest_nice=2.5,x=\"s\",flag=t",     // a byte inside
            b"cpu usage_user=1i,usage_guest_nicE=2.5,x=\"s\",flag=t",     // the last byte
            b"cpu usage_user=1i,usage_guest_nic=2.5,x=\"s\",flag=t",      // a prefix
        ] {
            assert!(!matches(base, other), "{}", String::from_utf8_lossy(other));
            assert!(matches(other, other));
        }
        let with_time: &[u8] = b"cpu usage_user=1i,time=3i,usage_guest_nice=2.5,x=\"s\",flag=t";
        assert!(
            !matches(base, with_time),
            "a field named time never matches"
        );
        let ints: &[u8] = b"cpu a=1i,b=2i";
        for other in [
            &b"cpu a=1i,b=2"[..],
            b"cpu a=1i",
            b"cpu a=1i,b=2i,c=3i",
            b"cpu b=1i,a=2i",
        ] {
            assert!(!matches(ints, other), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn no_shape_matches_nothing_and_a_new_shape_replaces_the_old() {
        let mut dec = Decoder::new();
        let opts = DecodeOptions::default();
        let mut line = |l: &[u8], remember: bool| {
            let mut p = dec.decode(l, &opts).unwrap().unwrap();
            let matched = p.shape_matches();
            if remember {
                p.remember_shape();
            }
            matched
        };
        assert!(!line(b"m v=1i", true), "no shape yet");
        assert!(line(b"m v=7i", false));
        assert!(!line(b"m w=1.5", true));
        assert!(!line(b"m v=7i", false), "the new shape replaced the old");
        assert!(line(b"m w=2", false));
        dec.forget_shape();
        assert!(!dec
            .decode(b"m w=2", &opts)
            .unwrap()
            .unwrap()
            .shape_matches());
    }

    #[test]
    fn an_escaped_key_takes_the_general_path_and_time_is_skipped() {
        let line: &[u8] = br"cpu a\ b=1i,c=2i";
        assert_eq!(schema(line)[0].0, b"a b");
        assert!(!matches(line, line), "escaped keys never match");
        assert!(!matches(b"cpu a=1i,c=2i", line));
        assert!(!matches(b"cpu a\\ b=1i,c=2i", line));
        assert_eq!(
            schema(b"cpu v=1i,time=2i").len(),
            1,
            "fields() skips a field named time"
        );
        assert!(matches(b"cpu v=1i,time=2i", b"cpu v=5i"));
        assert!(
            !matches(b"cpu v=1i,time=2i", b"cpu v=5i,time=3i"),
            "time never matches"
        );
    }

    fn field() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "a",
            "b",
            "time",
            "usage_user",
            "usage_usEr",
            r"a\ b",
            "a b",
            "abcdefgh",
            "abcdefgi",
            "usage_guest_nice",
            "usage_guest_nicE",
            "usage_guest_nice_x",
            "usage_guest_nice_y",
        ]);
        let value = prop::sample::select(vec!["1i", "-20i", "1.5", "3", "t", "\"s\"", "7u"]);
        (key, value).prop_map(|(k, v)| format!("{k}={v}"))
    }

    proptest! {
        /// Across a sequence of lines, each line matches exactly when its `fields()` keys and
        /// types are those of the last line remembered (and that line had no escaped key).
        #[test]
        fn shape_matches_agrees_with_comparing_fields(
            lines in prop::collection::vec(
                (prop::collection::vec(field(), 1..5), any::<bool>()), 1..12)
        ) {
            let opts = DecodeOptions { accept_unsigned: true, ..DecodeOptions::default() };
            let mut dec = Decoder::new();
            let mut shape: Option<Vec<(Vec<u8>, FieldType)>> = None;
            for (fields, keep) in lines {
                let line = format!("m {}", fields.join(","));
                let Ok(Some(mut l)) = dec.decode(line.as_bytes(), &opts) else { continue };
                let mine: Vec<(Vec<u8>, FieldType)> =
                    l.fields().map(|(k, v)| (k.to_vec(), v.field_type())).collect();
                let has_time = fields.iter().any(|f| f.starts_with("time="));
                let expect = !has_time && shape.as_ref() == Some(&mine);
                prop_assert_eq!(l.shape_matches(), expect, "{}", line);
                if keep {
                    l.remember_shape();
                    let escaped = fields.iter().any(|f| f.contains('\\'));
                    shape = if escaped || mine.is_empty() { None } else { Some(mine) };
                }
            }
        }
    }

    #[test]
    fn a_shape_key_matches_only_its_own_bytes() {
        let a: Vec<u8> = (0..24u8).map(|b| b'a' + b).collect();
        let line = |k: &[u8]| [&b"m "[..], k, b"=1i"].concat();
        for n in 1..=a.len() {
            let x = &a[..n];
            assert!(matches(&line(x), &line(x)), "n {n}");
            if n > 1 {
                assert!(!matches(&line(x), &line(&a[..n - 1])), "n {n} prefix");
            }
            for i in 0..n {
                let mut y = x.to_vec();
                y[i] ^= 1;
                assert!(!matches(&line(x), &line(&y)), "n {n} byte {i}");
            }
        }
    }
}
