//! Point to line-protocol bytes, escaping each element as InfluxDB's parser expects.

use std::fmt;
use std::io::Write as _;

use super::{FieldValue, PointRef};

/// A point the line protocol cannot carry so that 1.x (and our decoder) reads it back as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Empty measurement, tag key, tag value or field key.
    EmptyName,
    /// No fields.
    NoFields,
    /// A name holds a `\n`: the line would be split there.
    Newline,
    /// A name ends with `\`: it would escape the delimiter after it.
    TrailingBackslash,
    /// The measurement starts with `#` (a comment line), tab or NUL (skipped as whitespace),
    /// or the first field key starts with tab or NUL (skipped as whitespace).
    LeadingByte,
    /// A field key holds `\` before `,`, `=` or space: 1.x's field scanner pairs the
    /// backslash with the next byte and then sees the delimiter unescaped.
    FieldKeyBackslash,
    /// NaN and ±Inf have no line-protocol spelling.
    NonFiniteFloat,
    /// A string value holds a `\n` that 1.x's line splitter would not see as quoted (its
    /// quote tracking starts at the first space not paired with a backslash, which a name
    /// like `a\\ ` fools).
    SplitNewline,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::EmptyName => "empty name",
            EncodeError::NoFields => "no fields",
            EncodeError::Newline => "newline in a name",
            EncodeError::TrailingBackslash => "name ends with a backslash",
            EncodeError::LeadingByte => "name starts with '#', tab or NUL",
            EncodeError::FieldKeyBackslash => "field key has a backslash before a delimiter",
            EncodeError::NonFiniteFloat => "NaN or infinite float",
            EncodeError::SplitNewline => "newline in a string value would split the line",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Appends `p` as one line (with its trailing `\n`) to `out`, or refuses it (see
/// [`EncodeError`]; `out` is then unchanged).
///
/// Names are written escaped (measurement: `,` and space; tag keys and values: `,`, `=` and
/// space; field keys: `,`, `=`, space and `"`; string values: `"` and `\`). Floats use the
/// shortest text that parses back to the same `f64` (`1.0`, `1e300`). Tag order is kept as
/// given (the decoder sorts for the series key). Not refused, but dropped or rejected by the
/// reader: a tag or field named `time`, unsigned values (unless the reader accepts them),
/// duplicate tag keys and timestamps outside the valid range.
pub fn encode(out: &mut Vec<u8>, p: &PointRef<'_>) -> Result<(), EncodeError> {
    check(p)?;
    let start = out.len();
    escape_measurement(out, p.measurement);
    for (k, v) in p.tags {
        out.push(b',');
        escape_tag(out, k);
        out.push(b'=');
        escape_tag(out, v);
    }
    out.push(b' ');
    for (i, (k, v)) in p.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escape_field_key(out, k);
        out.push(b'=');
        encode_value(out, v);
    }
    if let Some(ts) = p.timestamp {
        let _ = write!(out, " {ts}");
    }
    out.push(b'\n');
    let has_newline = |v: &FieldValue<'_>| matches!(v, FieldValue::String(s) if s.contains(&b'\n'));
    if p.fields.iter().any(|(_, v)| has_newline(v))
        && super::scan::scan_line(out, start) != out.len() - 1
    {
        out.truncate(start);
        return Err(EncodeError::SplitNewline);
    }
    Ok(())
}

fn check(p: &PointRef<'_>) -> Result<(), EncodeError> {
    let name = |s: &[u8]| -> Result<(), EncodeError> {
        match s {
            [] => Err(EncodeError::EmptyName),
            [.., b'\\'] => Err(EncodeError::TrailingBackslash),
            _ if s.contains(&b'\n') => Err(EncodeError::Newline),
            _ => Ok(()),
        }
    };
    name(p.measurement)?;
    if matches!(p.measurement[0], b'#' | b'\t' | 0) {
        return Err(EncodeError::LeadingByte);
    }
    for (k, v) in p.tags {
        name(k)?;
        name(v)?;
    }
    let first = p.fields.first().ok_or(EncodeError::NoFields)?;
    if matches!(first.0.first(), Some(b'\t' | 0)) {
        return Err(EncodeError::LeadingByte);
    }
    for (k, v) in p.fields {
        name(k)?;
        if k.windows(2)
            .any(|w| w[0] == b'\\' && matches!(w[1], b',' | b'=' | b' '))
        {
            return Err(EncodeError::FieldKeyBackslash);
        }
        if let FieldValue::Float(f) = v {
            if !f.is_finite() {
                return Err(EncodeError::NonFiniteFloat);
            }
        }
    }
    Ok(())
}

fn encode_value(out: &mut Vec<u8>, v: &FieldValue<'_>) {
    match v {
        // `{:?}` of an f64 is the shortest text that round-trips (`1.0`, `1e300`, `-0.0`).
        FieldValue::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        FieldValue::Integer(i) => {
            let _ = write!(out, "{i}i");
        }
        FieldValue::Unsigned(u) => {
            let _ = write!(out, "{u}u");
        }
        FieldValue::String(s) => {
            out.push(b'"');
            escape_string_value(out, s);
            out.push(b'"');
        }
        FieldValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

fn escape_with(out: &mut Vec<u8>, s: &[u8], special: &[u8]) {
    for &b in s {
        if special.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Measurement: `,` and space are escaped; so are `=` and `"` after a backslash, which 1.x's
/// `Point.Name` would otherwise take as an escape (`a\\=b` reads back as `a=b`).
pub fn escape_measurement(out: &mut Vec<u8>, s: &[u8]) {
    let mut prev = 0u8;
    for &b in s {
        if matches!(b, b',' | b' ') || (prev == b'\\' && matches!(b, b'=' | b'"')) {
            out.push(b'\\');
        }
        out.push(b);
        prev = b;
    }
}

/// Tag key or tag value: `,`, `=` and space are escaped.
pub fn escape_tag(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b",= ");
}

/// Field key: `,`, `=`, space and `"` are escaped (1.x `pkg/escape` unescapes all four).
pub fn escape_field_key(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b",= \"");
}

/// String field value (between the quotes): `"` and `\` are escaped.
pub fn escape_string_value(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b"\"\\");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn enc(p: &PointRef<'_>) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        encode(&mut out, p).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn escapes_each_element() {
        let tags: &[(&[u8], &[u8])] = &[(b"t k", b"v,=1")];
        let fields = [
            (&b"f\"=,"[..], FieldValue::String(Cow::Borrowed(b"a\"b\\c"))),
            (b"i", FieldValue::Integer(-3)),
            (b"x", FieldValue::Float(1.0)),
            (b"b", FieldValue::Boolean(false)),
        ];
        let p = PointRef {
            measurement: b"m, =",
            tags,
            fields: &fields,
            timestamp: Some(-5),
        };
        assert_eq!(
            enc(&p).unwrap(),
            "m\\,\\ =,t\\ k=v\\,\\=1 f\\\"\\=\\,=\"a\\\"b\\\\c\",i=-3i,x=1.0,b=false -5\n"
        );
    }

    #[test]
    fn refuses_what_cannot_round_trip() {
        let f = [(&b"v"[..], FieldValue::Integer(1))];
        let p = |m: &'static [u8]| PointRef {
            measurement: m,
            tags: &[],
            fields: &f,
            timestamp: None,
        };
        assert_eq!(enc(&p(b"")), Err(EncodeError::EmptyName));
        assert_eq!(enc(&p(b"#m")), Err(EncodeError::LeadingByte));
        assert_eq!(enc(&p(b"m\\")), Err(EncodeError::TrailingBackslash));
        assert_eq!(enc(&p(b"a\nb")), Err(EncodeError::Newline));
        let nan = [(&b"v"[..], FieldValue::Float(f64::NAN))];
        let q = PointRef {
            measurement: b"m",
            tags: &[],
            fields: &nan,
            timestamp: None,
        };
        assert_eq!(enc(&q), Err(EncodeError::NonFiniteFloat));
        let bs = [(&b"a\\,b"[..], FieldValue::Integer(1))];
        let q = PointRef {
            measurement: b"m",
            tags: &[],
            fields: &bs,
            timestamp: None,
        };
        assert_eq!(enc(&q), Err(EncodeError::FieldKeyBackslash));
        let q = PointRef {
            measurement: b"m",
            tags: &[],
            fields: &[],
            timestamp: None,
        };
        assert_eq!(enc(&q), Err(EncodeError::NoFields));
    }
}
