//! The field shape: the keys and types of the fields of a line the caller chose
//! ([`Line::remember_shape`]; the write path remembers each line that does not match the
//! current shape). Later lines' fields are first read as that shape ([`Decoder::scan_shape`]),
//! and [`Line::shape_matches`] tells the write path that a line repeats the schema.

use super::fields::FieldSpan;
use super::values::{fast_integer, word_integer, RawValue};
use super::{key_of, word_at, DecodeOptions, Decoder, Line};
use crate::lineproto::error::MAX_KEY_LENGTH;
use crate::lineproto::scan::{skip_ws, Cursor};
use crate::lineproto::FieldType;

/// One field of a remembered shape. A key of up to 16 bytes (most field names) is compared as
/// one or two 8-byte words ([`shape_key_at`]), without reaching into `shape_keys`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ShapeKey {
    /// The key's first 8 bytes; a key shorter than 8 bytes zero-padded.
    first: u64,
    /// The key's last 8 bytes; 0 for a key shorter than 8 bytes.
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

impl Decoder {
    /// Whether field `n` of the remembered shape has this (unescaped) key and type.
    #[inline(always)]
    pub(super) fn shape_has(&self, n: usize, key: &[u8], ty: FieldType) -> bool {
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
    pub(super) fn scan_shape(
        &mut self,
        buf: &[u8],
        i: usize,
        opts: &DecodeOptions,
    ) -> Option<usize> {
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
}

impl Line<'_, '_> {
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
                first: u64::from_le_bytes(padded),
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
}
