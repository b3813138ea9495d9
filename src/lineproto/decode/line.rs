//! The accessors of a decoded [`Line`]: names and string values unescaped only when they hold
//! an escape, tags in key order (sorted once, when first asked), and the canonical series key
//! with its hash (kept in the key cache, so a repeated key is built and hashed once).

use std::borrow::Cow;

use super::fields::FieldSpan;
use super::keys::sort_order;
use super::values::RawValue;
use super::{key_of, Decoder, Line, ReservedTime};
use crate::lineproto::{FieldType, FieldValue};

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

/// `raw` with the escapes of the bytes in `special` removed; borrowed when `esc` says that
/// the scan saw none.
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

/// A tag key or value of a canonical series key, unescaped as the decoder unescapes tags.
pub fn unescape_tag(raw: &[u8]) -> Vec<u8> {
    unescape_owned(raw, TAG_SPECIAL)
}

/// A measurement of a canonical series key, unescaped as the decoder unescapes measurements.
pub fn unescape_measurement(raw: &[u8]) -> Vec<u8> {
    unescape_owned(raw, MEAS_SPECIAL)
}

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
                e.hash = crate::lineproto::series_hash(built);
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
    pub(super) fn ready_slot(&self) -> Option<usize> {
        let slot = self.dec.line_slot?;
        self.dec.cache.get(slot).filter(|e| e.ready).map(|_| slot)
    }

    /// The series key into the decoder's `key` buffer, once per line, when the tags are not
    /// already in key order in the line.
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

    /// [`series_hash`](crate::lineproto::series_hash) of [`Self::series_key`] (cached with the key).
    pub fn series_hash(&mut self) -> u64 {
        if let Some(slot) = self.ready_slot() {
            return self.dec.cache[slot].hash;
        }
        crate::lineproto::series_hash(self.series_key())
    }

    /// Whether the tags are in key order in the line and, if not, their order into the
    /// decoder's `order` (each once per line).
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
