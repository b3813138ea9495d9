//! The field section (1.x `scanFields`): keys with Go's "backslash skips the next byte" rule,
//! a fast path for runs of small integer fields, the field key length limit, and the hand-over
//! to the exact port of 1.x's scanner when a line leaves the structured path.

use super::values::{fast_integer, word_integer, RawValue};
use super::{DecodeOptions, Decoder};
use crate::lineproto::error::{ErrorKind, MAX_KEY_LENGTH};
use crate::lineproto::scan::{self, skip_ws, Cursor};
use crate::lineproto::FieldType;

/// A scanned field, 32 bytes (a `RawValue` beside the key made it 48, and every field of every
/// line is written here once and read once).
#[derive(Clone, Copy, Debug)]
pub(super) struct FieldSpan {
    pub(super) key: (usize, usize),
    /// The value: a float's bits, an integer, an unsigned, a boolean as 0 or 1, or the index
    /// of a string's closing quote (the string starts two bytes after the key, past `="`).
    pub(super) bits: u64,
    pub(super) ty: FieldType,
    pub(super) key_esc: bool,
    /// The key is `time` (skipped by `Line::fields`).
    pub(super) is_time: bool,
    /// A string value holding a backslash before `"` or `\\`.
    str_esc: bool,
}

impl FieldSpan {
    #[inline(always)]
    pub(super) fn new(key: (usize, usize), key_esc: bool, is_time: bool, value: RawValue) -> Self {
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
    pub(super) fn value(&self) -> RawValue {
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

impl Decoder {
    /// Fields from `i` (the space after the key). Returns the end of the field section, how
    /// many fields are named `time`, and whether the fields are the remembered shape (checked
    /// here, on each key as it is scanned, so the write path does not walk the fields again).
    ///
    /// One loop on purpose, with the fast run of integer fields inline: both paths advance the
    /// same state (`p`, `key_bits`, `time_fields`, `same`), which stays in registers across
    /// them, and each path ends the section itself (the checks after the last field are
    /// written out twice) instead of leaving the loop through a shared tail.
    pub(super) fn scan_fields(
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
            let (q, key_esc) = Self::field_key(buf, ks, i, opts, cur)?;
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

    /// The field key at `ks` (any key; the fast path takes plain ones): the index of its `=`
    /// and whether it holds a backslash, or the error 1.x gives for a key not ended by `=`.
    #[inline(always)]
    fn field_key(
        buf: &[u8],
        ks: usize,
        i: usize,
        opts: &DecodeOptions,
        cur: &mut Cursor,
    ) -> Result<(usize, bool), ErrorKind> {
        let mut q = ks;
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
            Some(b'=') if q > ks => Ok((q, key_esc)),
            Some(b'=') if matches!(buf.get(q.wrapping_sub(1)), Some(b' ' | b',')) => {
                Err(ErrorKind::MissingFieldKey)
            }
            // An empty first key after a tab or NUL: 1.x scans on (and would accept an
            // empty key); we report its later error, or `missing field key`.
            Some(b'=') => Err(match scan::scan_fields(buf, i, opts.accept_unsigned) {
                Err(e) => e,
                Ok(_) => ErrorKind::MissingFieldKey,
            }),
            // A key without a value: 1.x counts the comma and carries on, so its error
            // may come from a later byte; let the exact port decide.
            Some(b',') => Err(Self::off_path(buf, i, opts)),
            _ => Err(ErrorKind::InvalidFieldFormat),
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

    /// The line left the structured path: 1.x's own scanner gives the verdict. If it would
    /// accept the section, its later field walk yields garbage (e.g. `f="a"b` becomes the
    /// string `a"`); we refuse such lines as `invalid field format` instead.
    #[cold]
    pub(super) fn off_path(buf: &[u8], i: usize, opts: &DecodeOptions) -> ErrorKind {
        match scan::scan_fields(buf, i, opts.accept_unsigned) {
            Err(e) => e,
            Ok(_) => ErrorKind::InvalidFieldFormat,
        }
    }
}
