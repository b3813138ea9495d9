//! Column codecs: one function pair per block kind. Encoders append to a payload; decoders take
//! the whole payload and must consume it exactly (trailing bytes are corruption).

use super::bits::{
    get_bools, pack, put_bools, put_uvarint, unzigzag, zigzag, BitReader, BitWriter, Cursor,
};
use super::{SegmentError, Values};
use std::io::Read;

/// Powers of ten up to the largest that fits an i64.
const POW10: [i64; 19] = {
    let mut p = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// String blocks at least this large are tried with deflate (smaller ones rarely gain).
const STRING_DEFLATE_BYTES_MIN: usize = 128;

const STRING_RAW: u8 = 0;
const STRING_DEFLATE: u8 = 1;

/// Column block flag: a validity bitmap follows.
const FLAG_VALIDITY: u8 = 1;

// ---- timestamps -------------------------------------------------------------------------

/// `k u8 | zigzag(t0) varint | [zigzag(q1) varint | pack(zigzag(q2 - q1), ...)]` where `qi = (ti - ti-1) /
/// 10^k` and `10^k` is the largest power of ten dividing every delta. Empty for zero rows.
pub(super) fn encode_times(out: &mut Vec<u8>, times: &[i64]) {
    let Some(&first) = times.first() else {
        return;
    };
    // A 64-bit division costs tens of cycles: a delta equal to the one before (a series
    // written at a fixed interval) reuses its verdict and quotient.
    let mut k = 18;
    let mut last_d = None;
    for w in times.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        if last_d == Some(d) {
            continue;
        }
        last_d = Some(d);
        while k > 0 && d % POW10[k] != 0 {
            k -= 1;
        }
    }
    out.push(k as u8);
    put_uvarint(out, zigzag(first));
    let mut stream = Vec::with_capacity(times.len().saturating_sub(2));
    let mut prev: Option<(i64, i64)> = None; // (delta, its quotient)
    for w in times.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        match prev {
            // The first delta goes out as a varint: in the packed stream it would widen the
            // whole first frame of (usually zero) delta-of-deltas.
            None => {
                let q = d / POW10[k];
                put_uvarint(out, zigzag(q));
                prev = Some((d, q));
            }
            Some((pd, _)) if pd == d => stream.push(0),
            Some((_, pq)) => {
                let q = d / POW10[k];
                stream.push(zigzag(q.wrapping_sub(pq)));
                prev = Some((d, q));
            }
        }
    }
    pack(out, &stream);
}

pub(super) fn decode_times(payload: &[u8], rows: usize) -> Result<Vec<i64>, SegmentError> {
    let mut cur = Cursor::new(payload);
    if rows == 0 {
        return finish(&cur, Vec::new());
    }
    let k = usize::from(cur.u8()?);
    let scale = *POW10.get(k).ok_or(SegmentError::Corrupt("time scale"))?;
    let first = cur.ivarint()?;
    let mut times = Vec::with_capacity(rows);
    times.push(first);
    if rows == 1 {
        return finish(&cur, times);
    }
    let mut q = cur.ivarint()?;
    let mut t = first.wrapping_add(q.wrapping_mul(scale));
    times.push(t);
    let mut stream = Vec::with_capacity(bounded(rows, cur.remaining()));
    cur.unpack(rows - 2, &mut stream)?;
    for dod in stream {
        q = q.wrapping_add(unzigzag(dod));
        t = t.wrapping_add(q.wrapping_mul(scale));
        times.push(t);
    }
    finish(&cur, times)
}

// ---- column blocks ----------------------------------------------------------------------

/// `flags u8 | [validity bits, ceil(rows/8) bytes, if flags & 1] | values of the valid rows`.
pub(super) fn encode_column(out: &mut Vec<u8>, values: &Values, valid: &[bool], rows: usize) {
    // A slot is stored only if it is marked valid and has a value (a short vector is a
    // caller bug; it must not make the block undecodable).
    let is_valid = |i: usize| valid.get(i).copied().unwrap_or(false) && i < values.len();
    // A fold, not `contains` or `all`: with no early exit it runs 32 bytes at a time (the
    // byte loop of `contains` was a fifth of a TSBS segment's encode).
    let all_valid = values.len() >= rows
        && valid.len() >= rows
        && valid[..rows].iter().fold(true, |all, &v| all & v);
    out.push(if all_valid { 0 } else { FLAG_VALIDITY });
    if all_valid {
        // The common case (every row has the field): the values as they are.
        match values {
            Values::Float(v) => encode_floats(out, v[..rows].iter().copied()),
            Values::Integer(v) => encode_integers(out, v[..rows].iter().copied()),
            Values::Unsigned(v) => encode_unsigned(out, v[..rows].iter().copied()),
            Values::Boolean(v) => put_bools(out, v[..rows].iter().copied()),
            Values::String(v) => encode_strings(out, v[..rows].iter().map(Vec::as_slice)),
        }
        return;
    }
    put_bools(out, (0..rows).map(is_valid));
    let keep = (0..rows).filter(|&i| is_valid(i));
    match values {
        Values::Float(v) => encode_floats(out, keep.map(|i| v[i])),
        Values::Integer(v) => encode_integers(out, keep.map(|i| v[i])),
        Values::Unsigned(v) => encode_unsigned(out, keep.map(|i| v[i])),
        Values::Boolean(v) => put_bools(out, keep.map(|i| v[i])),
        Values::String(v) => encode_strings(out, keep.map(|i| v[i].as_slice())),
    }
}

/// Decodes a column block of `rows` rows; slots that are not valid get the type's zero.
pub(super) fn decode_column(
    ty: u8,
    payload: &[u8],
    rows: usize,
) -> Result<(Values, Vec<bool>), SegmentError> {
    let mut cur = Cursor::new(payload);
    let flags = cur.u8()?;
    if flags & !FLAG_VALIDITY != 0 {
        return Err(SegmentError::Corrupt("column flags"));
    }
    let valid = if flags & FLAG_VALIDITY != 0 {
        get_bools(&mut cur, rows)?
    } else {
        vec![true; rows]
    };
    let n = valid.iter().filter(|&&v| v).count();
    let values = match ty {
        super::TYPE_FLOAT => Values::Float(expand(decode_floats(&mut cur, n)?, &valid)),
        super::TYPE_INTEGER => Values::Integer(expand(decode_integers(&mut cur, n)?, &valid)),
        super::TYPE_UNSIGNED => Values::Unsigned(expand(decode_unsigned(&mut cur, n)?, &valid)),
        super::TYPE_BOOLEAN => Values::Boolean(expand(get_bools(&mut cur, n)?, &valid)),
        super::TYPE_STRING => Values::String(expand(decode_strings(&mut cur, n)?, &valid)),
        _ => return Err(SegmentError::Corrupt("column type")),
    };
    finish(&cur, (values, valid))
}

/// Spreads the valid rows' values over all rows (`dense.len()` == number of `true`s).
fn expand<T: Clone + Default>(dense: Vec<T>, valid: &[bool]) -> Vec<T> {
    if dense.len() == valid.len() {
        return dense;
    }
    let mut it = dense.into_iter();
    valid
        .iter()
        .map(|&v| {
            if v {
                it.next().unwrap_or_default()
            } else {
                T::default()
            }
        })
        .collect()
}

fn finish<T>(cur: &Cursor<'_>, v: T) -> Result<T, SegmentError> {
    if cur.is_empty() {
        Ok(v)
    } else {
        Err(SegmentError::Corrupt("trailing bytes in block"))
    }
}

/// A capacity that a corrupt count cannot blow up: every value costs at least one bit.
fn bounded(n: usize, bytes: usize) -> usize {
    n.min(
        bytes
            .saturating_mul(8)
            .saturating_add(super::bits::FRAME_VALUES),
    )
}

// ---- integers and unsigned: first value varint, then packed zigzag deltas ----------------

fn encode_integers(out: &mut Vec<u8>, mut values: impl Iterator<Item = i64>) {
    let Some(first) = values.next() else {
        return;
    };
    put_uvarint(out, zigzag(first));
    let mut prev = first;
    // A collect, not a push per value: from a slice (the all-valid column) it is sized once.
    let deltas: Vec<u64> = values
        .map(|v| {
            let d = zigzag(v.wrapping_sub(prev));
            prev = v;
            d
        })
        .collect();
    pack(out, &deltas);
}

fn decode_integers(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<i64>, SegmentError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let first = cur.ivarint()?;
    // The deltas are unpacked after a slot for the first value and summed where they lie: one
    // buffer, no push per value (its reuse as `Vec<i64>` below moves nothing).
    let mut raw = Vec::with_capacity(bounded(n, cur.remaining()));
    raw.push(first as u64);
    cur.unpack(n - 1, &mut raw)?;
    // Two passes: the zigzag undone on its own (a loop the compiler vectorises), then the sum,
    // which has to go one value after another.
    for x in &mut raw[1..] {
        *x = unzigzag(*x) as u64;
    }
    let mut v = first as u64;
    for x in &mut raw[1..] {
        v = v.wrapping_add(*x);
        *x = v;
    }
    Ok(raw.into_iter().map(|x| x as i64).collect())
}

/// Deltas wrap and are read as signed, so a falling counter costs as little as a rising one.
fn encode_unsigned(out: &mut Vec<u8>, values: impl Iterator<Item = u64>) {
    encode_integers(out, values.map(|v| v as i64));
}

fn decode_unsigned(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<u64>, SegmentError> {
    Ok(decode_integers(cur, n)?
        .into_iter()
        .map(|v| v as u64)
        .collect())
}

// ---- floats: Gorilla XOR ------------------------------------------------------------------

/// Facebook Gorilla (VLDB 2015) value compression, MSB-first bits:
/// first value 64 raw bits; then per value `x = bits ^ prev_bits`:
/// * `0`: x == 0 (same value);
/// * `10` + meaningful bits: x fits the previous window (leading/trailing zeros at least as many);
/// * `11` + 5 bits leading zeros (capped at 31) + 6 bits meaningful length (64 stored as 0) +
///   the meaningful bits: a new window.
fn encode_floats(out: &mut Vec<u8>, values: impl Iterator<Item = f64>) {
    let mut w = BitWriter::default();
    let mut prev: Option<u64> = None;
    let mut window: Option<(u32, u32)> = None; // (leading, trailing)
    for v in values {
        let bits = v.to_bits();
        let Some(p) = prev else {
            w.write(bits, 64);
            prev = Some(bits);
            continue;
        };
        prev = Some(bits);
        let x = bits ^ p;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let lead = x.leading_zeros().min(31);
        let trail = x.trailing_zeros();
        match window {
            Some((pl, pt)) if lead >= pl && trail >= pt => {
                w.write(0b10, 2);
                w.write(x >> pt, 64 - pl - pt);
            }
            _ => {
                let sig = 64 - lead - trail;
                w.write(0b11, 2);
                w.write(u64::from(lead), 5);
                w.write(u64::from(sig % 64), 6);
                w.write(x >> trail, sig);
                window = Some((lead, trail));
            }
        }
    }
    out.extend_from_slice(&w.finish());
}

fn decode_floats(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<f64>, SegmentError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let rest = cur.rest();
    let mut r = BitReader::new(rest);
    let mut out = Vec::with_capacity(bounded(n, rest.len()));
    let mut bits = r.read(64)?;
    out.push(f64::from_bits(bits));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..n {
        if r.bit()? {
            let (lead, trail) = if r.bit()? {
                let lead = r.read(5)? as u32;
                let sig = match r.read(6)? as u32 {
                    0 => 64,
                    s => s,
                };
                let trail = 64u32
                    .checked_sub(lead + sig)
                    .ok_or(SegmentError::Corrupt("float window"))?;
                window = Some((lead, trail));
                (lead, trail)
            } else {
                window.ok_or(SegmentError::Corrupt("float window"))?
            };
            bits ^= r.read(64 - lead - trail)? << trail;
        }
        out.push(f64::from_bits(bits));
    }
    if r.bytes_used() != rest.len() {
        return Err(SegmentError::Corrupt("trailing bytes in block"));
    }
    Ok(out)
}

// ---- strings: length-prefixed, optionally deflated ---------------------------------------

/// `mode u8 | mode 0: (len varint, bytes)* | mode 1: raw_len varint, deflate(the mode-0 body)`.
fn encode_strings<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = &'a [u8]>) {
    let mut raw = Vec::new();
    let mut count = 0usize;
    for v in values {
        super::bits::put_bytes(&mut raw, v);
        count += 1;
    }
    if count == 0 {
        return; // the decoder reads nothing for zero values
    }
    if raw.len() >= STRING_DEFLATE_BYTES_MIN {
        if let Some(z) = deflate(&raw).filter(|z| z.len() + 10 < raw.len()) {
            out.push(STRING_DEFLATE);
            put_uvarint(out, raw.len() as u64);
            out.extend_from_slice(&z);
            return;
        }
    }
    out.push(STRING_RAW);
    out.extend_from_slice(&raw);
}

fn deflate(raw: &[u8]) -> Option<Vec<u8>> {
    use flate2::write::DeflateEncoder;
    use std::io::Write;
    let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).ok()?;
    enc.finish().ok()
}

fn decode_strings(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<Vec<u8>>, SegmentError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match cur.u8()? {
        STRING_RAW => read_strings(cur, n),
        STRING_DEFLATE => {
            let raw_len = cur.len()?;
            let z = cur.rest();
            let mut raw = Vec::with_capacity(raw_len.min(z.len().saturating_mul(64)));
            flate2::read::DeflateDecoder::new(z)
                .take(raw_len as u64 + 1)
                .read_to_end(&mut raw)
                .map_err(|_| SegmentError::Corrupt("deflate"))?;
            if raw.len() != raw_len {
                return Err(SegmentError::Corrupt("deflate length"));
            }
            let mut inner = Cursor::new(&raw);
            let out = read_strings(&mut inner, n)?;
            finish(&inner, out)
        }
        _ => Err(SegmentError::Corrupt("string mode")),
    }
}

fn read_strings(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<Vec<u8>>, SegmentError> {
    let mut out = Vec::with_capacity(bounded(n, cur.remaining()));
    for _ in 0..n {
        out.push(cur.bytes()?.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn floats_round_trip(values: &[f64]) -> Vec<u64> {
        let mut out = Vec::new();
        encode_floats(&mut out, values.iter().copied());
        let mut c = Cursor::new(&out);
        let back = decode_floats(&mut c, values.len()).unwrap_or_default();
        back.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn regular_timestamps_cost_about_one_bit_per_128() {
        let times: Vec<i64> = (0..1000)
            .map(|i| 1_600_000_000_000_000_000 + i * 10_000_000_000)
            .collect();
        let mut out = Vec::new();
        encode_times(&mut out, &times);
        // k byte + 9-byte first value + q1 = 1 (10 s / 10^10) + 8 zero-width frames.
        assert!(out.len() < 24, "{} bytes", out.len());
        assert_eq!(decode_times(&out, times.len()).ok(), Some(times));
    }

    #[test]
    fn float_edge_values() {
        let vals = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            1.0,
            1.0,
            1.5,
            f64::INFINITY,
        ];
        let want: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
        assert_eq!(floats_round_trip(&vals), want);
    }

    #[test]
    fn float_window_overflow_is_corrupt() {
        // first value, then `11`, lead 31, sig 63 (31 + 63 > 64).
        let mut w = BitWriter::default();
        w.write(0, 64);
        w.write(0b11, 2);
        w.write(31, 5);
        w.write(63, 6);
        let bytes = w.finish();
        assert!(decode_floats(&mut Cursor::new(&bytes), 2).is_err());
    }

    proptest! {
        #[test]
        fn times_round_trip(start: i64, steps in prop::collection::vec(prop_oneof![Just(10_000_000_000i64), any::<i64>(), 0i64..1000, (0i64..100).prop_map(|s| s * 1_000_000_000)], 0..400)) {
            let mut times = vec![start];
            for s in steps {
                let last = times[times.len() - 1];
                times.push(last.wrapping_add(s));
            }
            let mut out = Vec::new();
            encode_times(&mut out, &times);
            prop_assert_eq!(decode_times(&out, times.len()).ok(), Some(times));
        }

        #[test]
        fn floats_round_trip_bits(values in prop::collection::vec(prop_oneof![any::<f64>().prop_filter("no NaN", |v| !v.is_nan()), (0i32..100).prop_map(f64::from), Just(0.0), Just(-0.0), Just(5e-324)], 0..300)) {
            let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(floats_round_trip(&values), want);
        }

        #[test]
        fn strings_round_trip(values in prop::collection::vec(prop_oneof![prop::collection::vec(any::<u8>(), 0..40), Just(b"server-1 status ok".to_vec())], 0..60)) {
            let mut out = Vec::new();
            encode_strings(&mut out, values.iter().map(|v| v.as_slice()));
            let mut c = Cursor::new(&out);
            prop_assert_eq!(decode_strings(&mut c, values.len()).ok(), Some(values));
            prop_assert!(c.is_empty());
        }
    }
}
