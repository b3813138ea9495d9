//! Point to line-protocol bytes, escaping each element as InfluxDB's parser expects.

use super::{FieldValue, PointRef};

/// Appends `p` as one line (with its trailing `\n`) to `out`.
///
/// Names are written escaped (measurement: `,` and space; tag keys, tag values and field keys:
/// `,`, `=` and space; string values: `"` and `\`). Floats are written so that they parse back
/// as floats (`1` becomes `1.0`... no: InfluxDB reads `1` as a float, so the shortest form is used).
pub fn encode(out: &mut Vec<u8>, p: &PointRef<'_>) {
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
        out.push(b' ');
        out.extend_from_slice(itoa_i64(ts).as_bytes());
    }
    out.push(b'\n');
}

fn encode_value(out: &mut Vec<u8>, v: &FieldValue<'_>) {
    match v {
        FieldValue::Float(f) => {
            // `{:?}` of an f64 is the shortest text that round-trips (and keeps exponents).
            out.extend_from_slice(format!("{f:?}").as_bytes());
        }
        FieldValue::Integer(i) => {
            out.extend_from_slice(itoa_i64(*i).as_bytes());
            out.push(b'i');
        }
        FieldValue::Unsigned(u) => {
            out.extend_from_slice(u.to_string().as_bytes());
            out.push(b'u');
        }
        FieldValue::String(s) => {
            out.push(b'"');
            escape_string_value(out, s);
            out.push(b'"');
        }
        FieldValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

fn itoa_i64(v: i64) -> String {
    v.to_string()
}

fn escape_with(out: &mut Vec<u8>, s: &[u8], special: &[u8]) {
    for &b in s {
        if special.contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Measurement: `,` and space are escaped.
pub fn escape_measurement(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b", ");
}

/// Tag key or tag value: `,`, `=` and space are escaped.
pub fn escape_tag(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b",= ");
}

/// Field key: `,`, `=` and space are escaped.
pub fn escape_field_key(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b",= ");
}

/// String field value (between the quotes): `"` and `\` are escaped.
pub fn escape_string_value(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b"\"\\");
}
