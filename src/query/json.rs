//! JSON written the way Go's `encoding/json` writes it, so answers match InfluxDB byte for byte.
//!
//! serde_json differs from Go in two visible places, which is why this is hand-written:
//! - floats: Go prints `1` for 1.0 and switches to exponent form below 1e-6 and from 1e21
//!   (`1e-7`, `1e+21`); serde_json prints `1.0`.
//! - strings: Go escapes `<`, `>`, `&`, U+2028 and U+2029 (`\u003c`…), uses `\u00XX` for
//!   control characters other than `\n`, `\r`, `\t` (Go ≤ 1.21, which built InfluxDB 1.8), and
//!   replaces invalid UTF-8 with U+FFFD (done where byte strings become `Value::Str`).

/// Append `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            _ => None,
        };
        let needs_u = matches!(c, '\0'..='\x1f' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if esc.is_none() && !needs_u {
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + c.len_utf8();
        if let Some(e) = esc {
            out.extend_from_slice(e);
            continue;
        }
        let v = c as u32;
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[((v >> shift) & 0xf) as usize]);
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Append a float as Go's `encoding/json` does. NaN and infinities (which Go refuses to encode
/// and InfluxDB never stores) are written as `null`.
pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is the shortest round-trip digits, like Go's 'e' with precision -1;
        // Go writes the exponent sign always and at least two digits, then json trims
        // `e-07` to `e-7`, which leaves Rust's form except for the `+`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                out.extend_from_slice(mant.as_bytes());
                out.extend_from_slice(b"e+");
                out.extend_from_slice(exp.as_bytes());
            }
            _ => out.extend_from_slice(s.as_bytes()),
        }
        return;
    }
    out.extend_from_slice(format!("{f}").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, v);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings_as_go_escapes_them() {
        assert_eq!(s("plain"), r#""plain""#);
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}\u{1}"), r#""\n\r\t\u0008\u000c\u0001""#);
        assert_eq!(s("<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(s("\u{2028}é😀"), "\"\\u2028é😀\"");
    }

    #[test]
    fn floats_as_go_prints_them() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(100.0), "100");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e300), "1.5e+300");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(-2.5e-10), "-2.5e-10");
        assert_eq!(f(123456789.123), "123456789.123");
        assert_eq!(f(f64::NAN), "null");
    }
}
