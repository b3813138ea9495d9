//! Byte scanning: SWAR delimiter search and exact ports of the 1.x value scanners.
//!
//! The decoder's fast paths (`decode/`) handle the common shapes; whenever a line leaves
//! them, these ports of `models/points.go` (1.6.7 lines 731-1064, unchanged in 1.8/1.11)
//! decide, so that odd input gets exactly InfluxDB's verdict. The ports keep Go's structure on
//! purpose (compare them side by side) but use checked indexing: nothing here can panic.

use super::ErrorKind;

/// Bit `k` set when byte `i + k` of `buf` is one of `set` (bytes past the end read as 0,
/// which no caller searches for).
#[inline(always)]
fn block_mask<const N: usize>(buf: &[u8], i: usize, set: [u8; N]) -> u32 {
    let mut block = [0u8; 16];
    let bytes: &[u8; 16] = match buf
        .get(i..i.wrapping_add(16))
        .and_then(|s| s.try_into().ok())
    {
        Some(b) => b,
        None => {
            let rest = buf.get(i..).unwrap_or_default();
            block[..rest.len().min(16)].copy_from_slice(&rest[..rest.len().min(16)]);
            &block
        }
    };
    crate::simd::eq_any_mask(bytes, set)
}

macro_rules! finder {
    ($(#[$m:meta])* $name:ident, $($b:ident),+) => {
        $(#[$m])*
        #[inline(always)]
        pub(crate) fn $name(buf: &[u8], mut i: usize, $($b: u8),+) -> usize {
            if i >= buf.len() {
                return i;
            }
            while i < buf.len() {
                let m = block_mask(buf, i, [$($b),+]);
                if m != 0 {
                    return (i + m.trailing_zeros() as usize).min(buf.len());
                }
                i += 16;
            }
            buf.len()
        }
    };
}

finder!(
    /// Index of the first of two bytes at or after `i`, or `buf.len()`.
    find2, a, b
);

/// Every byte the grammar stops at: `,` `=` space `\\` `"`.
const STRUCTURAL: [u8; 5] = [b',', b'=', b' ', b'\\', b'"'];

/// Positions of structural bytes, 64 at a time: finding the next one is a mask and a
/// `trailing_zeros` instead of a loop whose exit the branch predictor cannot guess.
/// Callers skip the structural bytes they do not care about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    base: usize,
    mask: u64,
}

impl Cursor {
    pub(crate) fn new() -> Self {
        Cursor {
            base: usize::MAX / 2,
            mask: 0,
        }
    }

    /// Index of the first structural byte at or after `pos`, or `buf.len()` (or `pos` if past it).
    #[inline(always)]
    pub(crate) fn next(&mut self, buf: &[u8], pos: usize) -> usize {
        if pos >= buf.len() {
            return pos;
        }
        if pos < self.base || pos - self.base >= 64 {
            self.base = pos;
            self.mask = Self::window(buf, pos);
        }
        loop {
            // Here `base <= pos < base + 64`, or `pos < base` after moving on a window.
            let m = self.mask & (u64::MAX << pos.saturating_sub(self.base));
            if m != 0 {
                return (self.base + m.trailing_zeros() as usize).min(buf.len());
            }
            self.base += 64;
            if self.base >= buf.len() {
                return buf.len();
            }
            self.mask = Self::window(buf, self.base);
        }
    }

    /// Bit `k` set when byte `base + k` is structural (bytes past the end are not).
    #[inline(always)]
    pub(crate) fn window(buf: &[u8], base: usize) -> u64 {
        let n = buf.len();
        let mut m = 0u64;
        for k in 0..4 {
            let i = base.saturating_add(16 * k);
            if let Some(b) = buf
                .get(i..i + 16)
                .and_then(|b| <&[u8; 16]>::try_from(b).ok())
            {
                m |= (crate::simd::eq_any_mask(b, STRUCTURAL) as u64) << (16 * k);
                continue;
            }
            if i < n {
                // A partial block: the last 16 bytes of the buffer, shifted (no copy), or a
                // zero-padded copy of a buffer shorter than 16 bytes.
                let part = match buf.get(n.wrapping_sub(16)..) {
                    Some(last) if n >= 16 => {
                        let last: &[u8; 16] = last.try_into().unwrap_or(&[0; 16]);
                        crate::simd::eq_any_mask(last, STRUCTURAL) >> (i + 16 - n)
                    }
                    _ => block_mask(buf, i, STRUCTURAL),
                };
                m |= (part as u64) << (16 * k);
            }
            break;
        }
        m
    }
}

const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// Leading ASCII digits at `i`, eight at a time (SWAR): returns the value (wrapping), the
/// index after the digits, and whether more than 19 digits or a u64 overflow occurred.
#[inline(always)]
pub(crate) fn parse_digits(buf: &[u8], mut i: usize) -> (u64, usize, bool) {
    let mut acc: u64 = 0;
    let mut overflow = false;
    loop {
        let w = match buf.get(i..i + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(w) => w,
            None => {
                // The tail (e.g. a timestamp ending the line): zero padding is a non-digit.
                let rest = buf.get(i..).unwrap_or_default();
                if rest.is_empty() {
                    return (acc, i, overflow);
                }
                let mut w = [0u8; 8];
                w[..rest.len().min(8)].copy_from_slice(&rest[..rest.len().min(8)]);
                w
            }
        };
        let x = u64::from_le_bytes(w) ^ ASCII_ZEROS;
        // High bit of each byte set when that byte is not a digit (x >= 10).
        let non_digit = ((x & 0x7f7f_7f7f_7f7f_7f7f).wrapping_add(0x7676_7676_7676_7676) | x)
            & 0x8080_8080_8080_8080;
        let n = (non_digit.trailing_zeros() / 8) as usize;
        if n == 0 {
            return (acc, i, overflow);
        }
        // Keep the n digits, moved to the top so that the zero bytes act as leading zeros.
        let x = x << (64 - 8 * n as u32);
        let v = swar8(x);
        let scale = POW10[n];
        match acc.checked_mul(scale).and_then(|a| a.checked_add(v)) {
            Some(a) => acc = a,
            None => {
                overflow = true;
                acc = acc.wrapping_mul(scale).wrapping_add(v);
            }
        }
        i += n;
        if n < 8 {
            return (acc, i, overflow);
        }
    }
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Eight digit values (first digit in the lowest byte) to their decimal value.
#[inline(always)]
pub(crate) fn swar8(x: u64) -> u64 {
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00ff_00ff_00ff_00ff;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_ffff_0000_ffff;
    (x.wrapping_mul(10_000) + (x >> 32)) & 0xffff_ffff
}

/// `skipWhitespace`: space, tab and NUL (points.go:1068-1076).
#[inline]
pub(crate) fn skip_ws(buf: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | 0) = buf.get(i) {
        i += 1;
    }
    i
}

#[inline(always)]
fn at(buf: &[u8], i: usize) -> u8 {
    // Callers only ask inside the buffer; 0 is a byte none of the grammar tests look for.
    buf.get(i).copied().unwrap_or(0)
}

fn is_numeric(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// What `scan_number` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumKind {
    Float,
    Integer,
    Unsigned,
}

/// Port of `scanNumber` with its post-checks (integer/unsigned range, float syntax).
/// Returns the end (at `,`, space or the end of `buf`) and the kind.
pub(crate) fn scan_number(
    buf: &[u8],
    mut i: usize,
    accept_unsigned: bool,
) -> Result<(usize, NumKind), ErrorKind> {
    let start = i;
    let (mut is_int, mut is_unsigned) = (false, false);
    if at(buf, i) == b'-' && i < buf.len() {
        i += 1;
        if i == buf.len() {
            return Err(ErrorKind::InvalidNumber);
        }
    }
    let (mut decimal, mut scientific) = (false, false);
    while let Some(&c) = buf.get(i) {
        if c == b',' || c == b' ' {
            break;
        }
        if c == b'i' && i > start && !(is_int || is_unsigned) {
            is_int = true;
            i += 1;
            continue;
        } else if c == b'u' && i > start && !(is_int || is_unsigned) {
            is_unsigned = true;
            i += 1;
            continue;
        }
        if c == b'.' {
            if decimal {
                return Err(ErrorKind::InvalidNumber);
            }
            decimal = true;
        }
        if i > start && (c == b'e' || c == b'E') {
            scientific = true;
            i += 1;
            continue;
        }
        if (c == b'+' || c == b'-') && i > 0 && matches!(at(buf, i - 1), b'e' | b'E') {
            i += 1;
            continue;
        }
        // `NaN` and friends, and anything else that is not a digit or a dot.
        if !is_numeric(c) {
            return Err(ErrorKind::InvalidNumber);
        }
        i += 1;
    }
    if (is_int || is_unsigned) && (decimal || scientific) {
        return Err(ErrorKind::InvalidNumber);
    }
    let mut digits = i - start;
    if is_int {
        digits -= 1;
    }
    if decimal {
        digits -= 1;
    }
    if at(buf, start) == b'-' {
        digits -= 1;
    }
    if digits == 0 {
        return Err(ErrorKind::InvalidNumber);
    }
    let text = buf.get(start..i).unwrap_or_default();
    if is_int {
        if at(buf, i - 1) != b'i' {
            return Err(ErrorKind::InvalidNumber);
        }
        parse_i64(&text[..text.len() - 1])?;
        Ok((i, NumKind::Integer))
    } else if is_unsigned {
        if !accept_unsigned || at(buf, i - 1) != b'u' || at(buf, start) == b'-' {
            return Err(ErrorKind::InvalidNumber);
        }
        parse_u64(&text[..text.len() - 1])?;
        Ok((i, NumKind::Unsigned))
    } else {
        parse_f64(text)?;
        Ok((i, NumKind::Float))
    }
}

/// `[-]digits` to i64; the only failure left after `scan_number` is range.
pub(crate) fn parse_i64(text: &[u8]) -> Result<i64, ErrorKind> {
    let (neg, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    let mut acc: u64 = 0;
    let mut ok = !digits.is_empty();
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            ok = false;
            break;
        }
        match acc.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => acc = v,
            None => return Err(ErrorKind::IntegerOutOfRange(lossy(text))),
        }
    }
    if !ok {
        return Err(ErrorKind::InvalidNumber);
    }
    to_i64(neg, acc).ok_or_else(|| ErrorKind::IntegerOutOfRange(lossy(text)))
}

#[inline(always)]
pub(crate) fn to_i64(neg: bool, acc: u64) -> Option<i64> {
    if neg {
        if acc <= i64::MAX as u64 + 1 {
            Some((acc as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(acc).ok()
    }
}

pub(crate) fn parse_u64(text: &[u8]) -> Result<u64, ErrorKind> {
    let mut acc: u64 = 0;
    if text.is_empty() {
        return Err(ErrorKind::InvalidNumber);
    }
    for &c in text {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(ErrorKind::InvalidNumber);
        }
        match acc.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => acc = v,
            None => return Err(ErrorKind::UnsignedOutOfRange(lossy(text))),
        }
    }
    Ok(acc)
}

/// Go's `ParseFloat` on what `scan_number` accepted: a syntax error or an overflow to ±Inf is
/// `invalid float` (1.x checks at scan time only for long or scientific values, but shorter
/// plain decimals can neither fail nor overflow, so checking always gives the same verdicts).
pub(crate) fn parse_f64(text: &[u8]) -> Result<f64, ErrorKind> {
    let s = std::str::from_utf8(text).map_err(|_| ErrorKind::InvalidFloat)?;
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(ErrorKind::InvalidFloat),
    }
}

fn lossy(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// Port of `scanBoolean`: the token runs to `,`, space or the end.
pub(crate) fn scan_boolean(buf: &[u8], i: usize) -> Result<(usize, bool), ErrorKind> {
    let end = find2(buf, i, b',', b' ');
    let v = match buf.get(i..end).unwrap_or_default() {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
        _ => return Err(ErrorKind::InvalidBoolean),
    };
    Ok((end, v))
}

/// Port of `walkFields` (points.go:1553), run on a field section `scanFields` accepted when a
/// field key ends in a backslash: the walk finds keys with `scanTo` (a `=` after a backslash is
/// escaped), so such a key runs on to the next `=`, and to an error when there is none.
pub(crate) fn walk_fields(mut buf: &[u8]) -> Result<(), ErrorKind> {
    while !buf.is_empty() {
        let i = (0..buf.len())
            .find(|&j| buf[j] == b'=' && (j == 0 || buf[j - 1] != b'\\'))
            .unwrap_or(buf.len());
        if i + 2 > buf.len() {
            return Err(ErrorKind::FieldKeyRunsOn(
                String::from_utf8_lossy(&buf[..i]).into_owned(),
            ));
        }
        buf = &buf[i + 1..];
        // `scanFieldValue`: to the first unquoted `,`; `\\"` and `\\\\` are pairs.
        let mut j = 0;
        let mut quoted = false;
        while j < buf.len() {
            match buf[j] {
                b'\\' if matches!(buf.get(j + 1), Some(b'"' | b'\\')) => j += 2,
                b'"' => {
                    quoted = !quoted;
                    j += 1;
                }
                b',' if !quoted => break,
                _ => j += 1,
            }
        }
        buf = buf.get(j + 1..).unwrap_or_default();
    }
    Ok(())
}

/// Port of `scanFields` (points.go:731-824): the 1.x verdict on a field section, used when a
/// line leaves the decoder's structured path (e.g. bytes after a closing quote). `Ok` means
/// 1.x would accept the section as scanned (its later field walk may still disagree).
pub(crate) fn scan_fields(buf: &[u8], i: usize, accept_unsigned: bool) -> Result<usize, ErrorKind> {
    let mut i = skip_ws(buf, i);
    let mut quoted = false;
    let (mut equals, mut commas) = (0usize, 0usize);
    while let Some(&c) = buf.get(i) {
        if c == b'\\' && i + 1 < buf.len() {
            i += 2;
            continue;
        }
        if c == b'"' && equals > commas {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if c == b'=' && !quoted {
            equals += 1;
            let prev = if i >= 1 { at(buf, i - 1) } else { 0 };
            let prev2 = if i >= 2 { at(buf, i - 2) } else { 0 };
            if (prev == b' ' || prev == b',') && prev2 != b'\\' {
                return Err(ErrorKind::MissingFieldKey);
            }
            let next = match buf.get(i + 1) {
                None | Some(b',' | b' ') => return Err(ErrorKind::MissingFieldValue),
                Some(&n) => n,
            };
            if is_numeric(next) || matches!(next, b'-' | b'N' | b'n') {
                i = scan_number(buf, i + 1, accept_unsigned)?.0;
                continue;
            }
            if next != b'"' {
                i = scan_boolean(buf, i + 1)?.0;
                continue;
            }
        }
        if c == b',' && !quoted {
            commas += 1;
        }
        if c == b' ' && !quoted {
            break;
        }
        i += 1;
    }
    if quoted {
        return Err(ErrorKind::UnbalancedQuotes);
    }
    if equals == 0 || commas + 1 != equals {
        return Err(ErrorKind::InvalidFieldFormat);
    }
    Ok(i)
}

/// Port of `scanLine` (points.go:1080-1130): end of the line starting at `i` (the index of
/// its `\n`, or `buf.len()`). A `\n` inside a quoted string field value does not end a line.
pub(crate) fn scan_line(buf: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut fields) = (false, false);
    let (mut equals, mut commas) = (0usize, 0usize);
    while let Some(&c) = buf.get(i) {
        if c == b'\\' && i + 2 < buf.len() {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                i += 1;
                equals += 1;
                continue;
            } else if !quoted && c == b',' {
                i += 1;
                commas += 1;
                continue;
            } else if c == b'"' && equals > commas {
                i += 1;
                quoted = !quoted;
                continue;
            }
        }
        if c == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finder_matches_naive_search() {
        let buf = b"abcdefghij,klmnop=qrstuvwxyz 0123456789";
        for start in 0..buf.len() {
            let naive = |set: &[u8]| {
                (start..buf.len())
                    .find(|&i| set.contains(&buf[i]))
                    .unwrap_or(buf.len())
            };
            assert_eq!(find2(buf, start, b',', b' '), naive(b", "));
            assert_eq!(find2(buf, start, b'z', b'9'), naive(b"z9"));
        }
        assert_eq!(find2(buf, buf.len() + 3, b',', b' '), buf.len() + 3);
    }

    #[test]
    fn cursor_finds_every_structural_byte() {
        let mut buf = Vec::new();
        for i in 0..300u32 {
            buf.push(if i % 7 == 0 {
                b','
            } else if i % 23 == 0 {
                b'"'
            } else {
                b'a' + (i % 20) as u8
            });
        }
        let long = [b"a".repeat(200), b",".to_vec(), b"b".repeat(100)].concat();
        assert_eq!(Cursor::new().next(&long, 3), 200);
        assert_eq!(Cursor::new().next(&long, 201), 301);
        let mut cur = Cursor::new();
        for start in [0, 1, 5, 63, 64, 65, 130, 299, 300, 301] {
            let naive = (start..buf.len())
                .find(|&i| STRUCTURAL.contains(&buf[i]))
                .unwrap_or(buf.len().max(start));
            assert_eq!(cur.next(&buf, start), naive, "from {start}");
        }
        let mut pos = 0;
        let mut found = Vec::new();
        while pos < buf.len() {
            pos = cur.next(&buf, pos);
            if pos < buf.len() {
                found.push(pos);
            }
            pos += 1;
        }
        let naive: Vec<_> = (0..buf.len())
            .filter(|&i| STRUCTURAL.contains(&buf[i]))
            .collect();
        assert_eq!(found, naive);
    }

    #[test]
    fn digits_parse_like_a_loop() {
        for s in [
            "0",
            "7x",
            "12,",
            "123456789",
            "12345678",
            "1234567890123456789 ",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "",
            "a1",
        ] {
            let b = s.as_bytes();
            let end = b
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(b.len());
            let exact: Option<u64> = if end == 0 {
                Some(0)
            } else {
                s[..end].parse().ok()
            };
            let (v, e, overflow) = parse_digits(b, 0);
            assert_eq!(e, end, "{s}");
            assert_eq!(overflow, exact.is_none(), "{s}");
            if let Some(x) = exact {
                assert_eq!(v, x, "{s}");
            }
        }
    }

    #[test]
    fn numbers_follow_1x() {
        let ok =
            |s: &str, k| assert_eq!(scan_number(s.as_bytes(), 0, true), Ok((s.len(), k)), "{s}");
        ok("1", NumKind::Float);
        ok(".5", NumKind::Float);
        ok("1.", NumKind::Float);
        ok("-1.5e-3", NumKind::Float);
        ok("1E+5", NumKind::Float);
        ok("-9223372036854775808i", NumKind::Integer);
        ok("18446744073709551615u", NumKind::Unsigned);
        for bad in [
            "-", "-i", "-.", ".", "1.0i", "1ii", "1a", "42+3", "NaN", "nan", "-Inf", "1.1.1", "1i2",
        ] {
            assert_eq!(
                scan_number(bad.as_bytes(), 0, true),
                Err(ErrorKind::InvalidNumber),
                "{bad}"
            );
        }
        assert_eq!(
            scan_number(b"-e-e-e", 0, true),
            Err(ErrorKind::InvalidFloat)
        );
        assert_eq!(scan_number(b"1e400", 0, true), Err(ErrorKind::InvalidFloat));
        assert_eq!(scan_number(b"5u", 0, false), Err(ErrorKind::InvalidNumber));
        assert_eq!(
            scan_number(b"9223372036854775808i", 0, false),
            Err(ErrorKind::IntegerOutOfRange("9223372036854775808".into()))
        );
    }
}
