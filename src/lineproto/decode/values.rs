//! One field value (numbers, strings, booleans; 1.x `scanFieldValue` and the conversions of
//! `parsePoint`) and the timestamp (`scanTime`). Small integers, the common case, have word-
//! at-a-time fast paths; anything unusual goes through the exact ports in `scan.rs`.

use super::{word_at, DecodeOptions, Decoder};
use crate::lineproto::error::{ErrorKind, MAX_NANO_TIME, MIN_NANO_TIME};
use crate::lineproto::scan::{self, parse_digits, skip_ws, to_i64, Cursor};
use crate::lineproto::FieldType;

/// A converted field value; a string as its span in the line (unescaped only when read).
#[derive(Clone, Copy, Debug)]
pub(super) enum RawValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Boolean(bool),
    Str { start: usize, end: usize, esc: bool },
}

impl RawValue {
    #[inline]
    pub(super) fn field_type(&self) -> FieldType {
        match self {
            RawValue::Float(_) => FieldType::Float,
            RawValue::Integer(_) => FieldType::Integer,
            RawValue::Unsigned(_) => FieldType::Unsigned,
            RawValue::Boolean(_) => FieldType::Boolean,
            RawValue::Str { .. } => FieldType::String,
        }
    }
}

impl Decoder {
    /// Any field value (the fast path only takes small integers).
    #[inline(never)]
    pub(super) fn value(
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
pub(super) fn fast_integer(buf: &[u8], v: usize) -> Option<(i64, usize)> {
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
pub(super) fn word_integer(buf: &[u8], v: usize) -> Option<(i64, usize)> {
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

/// Any number [`scan_value_number`] does not take, by the exact port of 1.x's scanner.
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
#[inline(always)]
pub(super) fn scan_time(buf: &[u8], i: usize, opts: &DecodeOptions) -> Result<i64, ErrorKind> {
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
