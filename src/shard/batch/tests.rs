//! Round trips through the writer and the reader, the byte form of repeated series and shapes,
//! and corrupt buffers.

use super::*;
use crate::lineproto::FieldType;
use std::borrow::Cow;

/// Fills `b` with points of two series under one schema token (so it holds series refs,
/// same-schema points and an open schema).
fn fill(b: &mut Batch, keys: &[&[u8]], token: u64) {
    for (i, key) in keys.iter().enumerate() {
        let head = NewPoint::new(key, b"cpu", i as i64, 1).with_token(SchemaToken(token));
        if b.begin_point(head) {
            b.push_value(&FieldValue::Integer(i as i64));
        } else {
            b.push_field(b"v", &FieldValue::Integer(i as i64));
        }
    }
}

#[test]
fn a_recycled_batch_builds_the_same_bytes_as_a_new_one() {
    let mut used = Batch::pooled(64);
    fill(&mut used, &[b"cpu,h=a", b"cpu,h=b", b"cpu,h=a"], 7);
    used.recycle();
    let mut again = Batch::pooled(64);
    assert!(again.buf.capacity() > 0 && again.is_empty());
    // The same token as the recycled batch's last: a new batch must not take it for the
    // previous point's schema, nor `cpu,h=a` for a series it holds.
    fill(&mut again, &[b"cpu,h=a", b"cpu,h=c", b"cpu,h=a"], 7);
    let mut fresh = Batch::default();
    fill(&mut fresh, &[b"cpu,h=a", b"cpu,h=c", b"cpu,h=a"], 7);
    assert_eq!(again.buf, fresh.buf);
    assert_eq!(again.points, 3);
}

#[test]
fn round_trip_every_type() {
    let mut b = Batch::default();
    b.begin_point(NewPoint::new(b"cpu,host=a", b"cpu", -5, 5));
    b.push_field(b"f", &FieldValue::Float(1.5));
    b.push_field(b"i", &FieldValue::Integer(-7));
    b.push_field(b"u", &FieldValue::Unsigned(u64::MAX));
    b.push_field(b"b", &FieldValue::Boolean(true));
    b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"x\"y")));
    b.begin_point(NewPoint::new(b"m", b"m", 9, 1));
    b.push_field(b"v", &FieldValue::Boolean(false));
    let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0].series_key, b"cpu,host=a");
    assert_eq!(pts[0].timestamp_ns, -5);
    assert_eq!(
        pts[0].fields[2],
        (&b"u"[..], FieldValue::Unsigned(u64::MAX))
    );
    assert_eq!(
        pts[0].fields[4].1,
        FieldValue::String(Cow::Borrowed(b"x\"y"))
    );
    assert_eq!(pts[1].fields, vec![(&b"v"[..], FieldValue::Boolean(false))]);
}

/// Points with the same schema token leave out measurement and field keys; reading gives
/// them back, a head-only walk still knows the measurement, and the buffer is smaller.
#[test]
fn same_schema_points_leave_keys_out_and_read_back_whole() {
    let fields = |i: i64| {
        vec![
            (&b"usage_user"[..], FieldValue::Integer(i)),
            (&b"usage_system"[..], FieldValue::Float(i as f64)),
        ]
    };
    let mut full = Batch::default();
    let mut packed = Batch::default();
    let tokens = [1, 1, 1, 2, 2, 0, 0, 3];
    for (i, &t) in tokens.iter().enumerate() {
        let key = format!("cpu,host=h{i}");
        let m: &[u8] = if t == 2 { b"mem" } else { b"cpu" };
        let head = NewPoint::new(key.as_bytes(), m, i as i64, 2);
        for (b, tok) in [(&mut full, 0), (&mut packed, t)] {
            b.begin_point(head.with_token(SchemaToken(tok)));
            for (k, v) in fields(i as i64) {
                b.push_field(k, &v);
            }
        }
    }
    assert!(packed.buf.len() < full.buf.len());
    let a: Vec<_> = full.iter().collect::<Result<_, _>>().unwrap();
    let b: Vec<_> = packed.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(a, b);
    assert_eq!(b[4].measurement, b"mem");
    let mut it = packed.iter();
    let mut heads = Vec::new();
    while let Some(h) = it.next_head() {
        let h = h.unwrap();
        heads.push((h.measurement.to_vec(), h.timestamp_ns, h.same_schema));
    }
    let same: Vec<bool> = heads.iter().map(|h| h.2).collect();
    assert_eq!(same, [false, true, true, false, true, false, false, false]);
    assert_eq!(heads[2].0, b"cpu");
    assert_eq!(heads[4].0, b"mem");
    assert_eq!(heads[7].1, 7);
}

/// `push_fixed_values` writes the same bytes as `push_value` one value at a time, and a
/// fill that gives up (a bool or string met half way) leaves the point as it was, so the
/// caller's `push_value` fallback still builds it whole.
#[test]
fn fixed_values_are_push_value_in_one_go() {
    let values = [
        FieldValue::Float(-0.0),
        FieldValue::Integer(i64::MIN),
        FieldValue::Unsigned(u64::MAX),
        FieldValue::Float(f64::NAN),
    ];
    let fixed = |v: &FieldValue<'_>| match *v {
        FieldValue::Float(f) => Some((FieldType::Float, f.to_bits())),
        FieldValue::Integer(i) => Some((FieldType::Integer, i as u64)),
        FieldValue::Unsigned(u) => Some((FieldType::Unsigned, u)),
        _ => None,
    };
    let mut one = Batch::default();
    let mut fast = Batch::default();
    let mut fallback = Batch::default();
    for (i, tok) in [(0i64, 4u64), (1, 4), (2, 4)] {
        let key = format!("m,h={}", i % 2);
        let n = values.len() as u16;
        let head = NewPoint::new(key.as_bytes(), b"m", i, n).with_token(SchemaToken(tok));
        for b in [&mut one, &mut fast, &mut fallback] {
            assert_eq!(b.begin_point(head), i > 0);
            if i == 0 {
                for (k, v) in [b"a", b"b", b"c", b"d"].iter().zip(&values) {
                    b.push_field(*k, v);
                }
            }
        }
        if i == 0 {
            continue;
        }
        for v in &values {
            one.push_value(v);
        }
        assert!(fast.push_fixed_values(n, |slots| {
            values.iter().all(|v| {
                let (ty, bits) = fixed(v).unwrap();
                slots.put(ty, bits)
            })
        }));
        refused_fills_leave_no_bytes(&mut fallback, n);
        for v in &values {
            fallback.push_value(v);
        }
    }
    assert_eq!(fast.buf, one.buf);
    assert_eq!(fallback.buf, one.buf);
    let pts: Vec<_> = fast.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(pts.len(), 3);
    assert_eq!(pts[2].fields[1], (&b"b"[..], FieldValue::Integer(i64::MIN)));
    assert_eq!(pts[2].fields[2].1, FieldValue::Unsigned(u64::MAX));
}

/// Fills that `push_fixed_values` refuses on `b`'s open point of `n` values (one that gives
/// up after a partial write, one that leaves slots unwritten, one that writes past the count)
/// leave `b`'s bytes as they were.
fn refused_fills_leave_no_bytes(b: &mut Batch, n: u16) {
    let before = b.buf.clone();
    let gave_up = b.push_fixed_values(n, |slots| {
        // A partial write, then a value that is not fixed.
        assert!(slots.put(FieldType::Integer, 7));
        false
    });
    assert!(!gave_up);
    assert_eq!(b.buf, before, "a refused fill leaves no bytes");
    let short = b.push_fixed_values(n, |slots| slots.put(FieldType::Float, 0));
    assert!(!short, "a fill that leaves slots unwritten is refused");
    assert_eq!(b.buf, before);
    let over = b.push_fixed_values(n, |slots| {
        (0..=n).all(|i| slots.put(FieldType::Integer, u64::from(i)))
    });
    assert!(!over, "no slot beyond the count");
    assert_eq!(b.buf, before);
}

/// A series seen earlier in the batch is written as a 4-byte reference; reading resolves
/// it (key, hash, and the number of the series' first point), in full walks and head-only
/// walks alike, and a reference to a point that is not earlier is corrupt.
#[test]
fn repeated_series_are_references() {
    let keys = [
        &b"cpu,host=a"[..],
        b"cpu,host=b",
        b"cpu,host=a",
        b"cpu,host=a",
        b"cpu,host=b",
    ];
    let mut b = Batch::default();
    for (i, k) in keys.iter().enumerate() {
        b.begin_point(NewPoint::new(k, b"cpu", i as i64, 1));
        b.push_field(b"v", &FieldValue::Integer(i as i64));
    }
    // Two keys written out, three references.
    let written = b
        .buf
        .windows(10)
        .filter(|w| *w == b"cpu,host=a" || *w == b"cpu,host=b")
        .count();
    assert_eq!(written, 2);
    let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
    let got: Vec<&[u8]> = pts.iter().map(|p| p.series_key).collect();
    assert_eq!(got, keys);
    for p in &pts {
        assert_eq!(p.series_hash, crate::lineproto::series_hash(p.series_key));
    }
    let mut it = b.iter();
    let mut firsts = Vec::new();
    while let Some(h) = it.next_head() {
        let h = h.unwrap();
        firsts.push((h.number, h.first_of_series));
    }
    assert_eq!(firsts, [(0, 0), (1, 1), (2, 0), (3, 0), (4, 1)]);
    // Point 2 refers to point 0: on its own it refers to nothing.
    let mut pos = 0;
    for _ in 0..2 {
        pos += 4 + u32::from_le_bytes(b.buf[pos..pos + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(b.buf[pos + 4] & KEY_REF, KEY_REF);
    assert!(BatchIter::new(&b.buf[pos..]).next().unwrap().is_err());
    assert!(BatchIter::new(&b.buf[pos..]).next_head().unwrap().is_err());
}

/// A point that repeats both the series of an earlier point and the previous point's shape
/// gets the one-piece head; with fixed values or any other values after it, every reader
/// gets back the points as written.
#[test]
fn repeated_series_with_the_same_shape_read_back_whole() {
    let mut b = Batch::default();
    let series = [&b"m,h=a"[..], b"m,h=b", b"m,h=a", b"m,h=b", b"m,h=a"];
    for (i, key) in series.iter().enumerate() {
        let head = NewPoint::new(key, b"m", 10 + i as i64, 2).with_token(SchemaToken(3));
        let same = b.begin_point(head);
        assert_eq!(same, i > 0);
        if i % 2 == 1 {
            assert!(b.push_fixed_values(2, |slots| {
                slots.put(FieldType::Integer, i as u64) && slots.put(FieldType::Float, 7)
            }));
        } else if same {
            b.push_value(&FieldValue::Integer(i as i64));
            b.push_value(&FieldValue::Float(f64::from_bits(7)));
        } else {
            b.push_field(b"a", &FieldValue::Integer(i as i64));
            b.push_field(b"f", &FieldValue::Float(f64::from_bits(7)));
        }
    }
    let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(pts.len(), 5);
    for (i, p) in pts.iter().enumerate() {
        assert_eq!(p.series_key, series[i]);
        assert_eq!(p.series_hash, crate::lineproto::series_hash(series[i]));
        assert_eq!(p.timestamp_ns, 10 + i as i64);
        assert_eq!(p.measurement, b"m");
        let fields: Vec<_> = p
            .fields
            .iter()
            .map(|(k, v)| (k.to_vec(), v.clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (b"a".to_vec(), FieldValue::Integer(i as i64)),
                (b"f".to_vec(), FieldValue::Float(f64::from_bits(7)))
            ]
        );
    }
    let mut it = b.iter();
    let mut heads = Vec::new();
    while let Some(h) = it.next_head() {
        let h = h.unwrap();
        heads.push((h.number, h.first_of_series, h.timestamp_ns));
    }
    assert_eq!(
        heads,
        [(0, 0, 10), (1, 1, 11), (2, 0, 12), (3, 1, 13), (4, 0, 14)]
    );
    // Points 2 to 4 carry the one-piece head.
    let mut pos = 0;
    let mut flags = Vec::new();
    while pos < b.buf.len() {
        flags.push(b.buf[pos + 4]);
        pos += 4 + u32::from_le_bytes(b.buf[pos..pos + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(pos, b.buf.len());
    let packed = SAME_SCHEMA | KEY_REF;
    assert_eq!(flags, [0, SAME_SCHEMA, packed, packed, packed]);
}

/// Key ids only shorten the search for an earlier point of the same series: with equal
/// ids, different ids or none, a repeated key becomes a reference and the points read back
/// as written.
#[test]
fn key_ids_find_the_same_series_as_the_bytes_do() {
    let pts: [(&[u8], u64); 6] = [
        (b"m,h=a", 7),
        (b"m,h=b", 8),
        (b"m,h=a", 7),
        (b"m,h=a", 9),
        (b"m,h=b", 0),
        (b"m,h=c", 0),
    ];
    let mut b = Batch::default();
    for (i, (key, id)) in pts.iter().enumerate() {
        b.begin_point(NewPoint::new(key, b"m", i as i64, 1).with_key_id(*id));
        b.push_field(b"v", &FieldValue::Integer(i as i64));
    }
    let written = |k: &[u8]| b.buf.windows(k.len()).filter(|w| *w == k).count();
    assert_eq!(
        (written(b"m,h=a"), written(b"m,h=b"), written(b"m,h=c")),
        (1, 1, 1)
    );
    let mut it = b.iter();
    let mut got = Vec::new();
    while let Some(h) = it.next_head() {
        let h = h.unwrap();
        got.push((h.series_key.to_vec(), h.first_of_series));
    }
    let want: Vec<(Vec<u8>, u32)> = [(0, 0), (1, 1), (0, 0), (0, 0), (1, 1), (5, 5)]
        .iter()
        .map(|&(k, f)| (pts[k].0.to_vec(), f))
        .collect();
    assert_eq!(got, want);
}

/// `next_raw` hands out a `same_schema` point's value bytes undecoded (type byte + value
/// per field) and decodes the others; heads are those of `next_into`.
#[test]
fn next_raw_gives_value_bytes_of_same_schema_points() {
    let mut b = Batch::default();
    for (i, tok) in [(0i64, 7u64), (1, 7), (2, 0)] {
        let key = format!("m,h={i}");
        b.begin_point(NewPoint::new(key.as_bytes(), b"m", i, 2).with_token(SchemaToken(tok)));
        b.push_field(b"a", &FieldValue::Integer(-i));
        b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"xy")));
    }
    let mut it = b.iter();
    let (mut fields, mut values) = (Vec::new(), &[][..]);
    let mut seen = Vec::new();
    while let Some(h) = it.next_raw(&mut fields, &mut values) {
        let h = h.unwrap();
        seen.push((h.timestamp_ns, h.same_schema, fields.len(), values.to_vec()));
    }
    let mut raw = vec![FieldType::Integer as u8];
    raw.extend_from_slice(&(-1i64).to_le_bytes());
    raw.push(FieldType::String as u8);
    raw.extend_from_slice(&2u32.to_le_bytes());
    raw.extend_from_slice(b"xy");
    assert_eq!(
        seen,
        vec![
            (0, false, 2, vec![]),
            (1, true, 0, raw),
            (2, false, 2, vec![])
        ]
    );
}

/// A `same_schema` point with nothing before it cannot be read: an error, not a guess.
#[test]
fn same_schema_without_a_previous_point_is_corrupt() {
    let mut b = Batch::default();
    b.begin_point(NewPoint::new(b"m", b"m", 1, 1).with_token(SchemaToken(5)));
    b.push_field(b"v", &FieldValue::Integer(1));
    b.begin_point(NewPoint::new(b"m,a=2", b"m", 2, 1).with_token(SchemaToken(5)));
    b.push_field(b"v", &FieldValue::Integer(2));
    let second = 4 + u32::from_le_bytes(b.buf[..4].try_into().unwrap()) as usize;
    let tail = &b.buf[second..];
    assert_eq!(tail[4], SAME_SCHEMA, "the second point is the packed one");
    assert!(BatchIter::new(tail).next().unwrap().is_err());
    assert!(BatchIter::new(tail).next_head().unwrap().is_err());
}

#[test]
fn truncated_buffer_is_an_error_not_a_panic() {
    let mut b = Batch::default();
    b.begin_point(NewPoint::new(b"cpu", b"cpu", 1, 1));
    b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"hello")));
    for cut in 0..b.buf.len() {
        let r: Result<Vec<_>, _> = BatchIter::new(&b.buf[..cut]).collect();
        assert!(cut == 0 || r.is_err(), "cut at {cut} decoded");
    }
}
