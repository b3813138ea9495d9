//! The field shape: `shape_matches` agrees with comparing the keys and types of `fields()`.

use crate::lineproto::FieldType;
use crate::lineproto::{DecodeOptions, Decoder};
use proptest::prelude::*;

/// The keys and types `fields()` yields: what `shape_matches` must agree with.
fn schema(line: &[u8]) -> Vec<(Vec<u8>, FieldType)> {
    let mut dec = Decoder::new();
    let l = dec
        .decode(line, &DecodeOptions::default())
        .unwrap()
        .unwrap();
    l.fields()
        .map(|(k, v)| (k.to_vec(), v.field_type()))
        .collect()
}

/// Whether `line` matches the shape remembered from `base`, on one decoder.
fn matches(base: &[u8], line: &[u8]) -> bool {
    let mut dec = Decoder::new();
    let opts = DecodeOptions::default();
    dec.decode(base, &opts).unwrap().unwrap().remember_shape();
    let l = dec.decode(line, &opts).unwrap().unwrap();
    l.shape_matches()
}

#[test]
fn agrees_with_fields_on_keys_types_and_order() {
    let base: &[u8] = b"cpu,host=a usage_user=1i,usage_guest_nice=2.5,x=\"s\",flag=t 1";
    assert!(matches(base, base));
    assert!(matches(
        base,
        b"cpu,host=b usage_user=9i,usage_guest_nice=1,x=\"\",flag=F"
    ));
    for other in [
        &b"cpu usage_user=1,usage_guest_nice=2.5,x=\"s\",flag=t"[..], // float, not integer
        b"cpu usage_guest_nice=2.5,usage_user=1i,x=\"s\",flag=t",     // order
        b"cpu usage_user=1i,usage_guest_nice=2.5,x=\"s\"",            // one fewer
        b"cpu usage_user=1i,usage_guest_nice=2.5,x=\"s\",flag=t,v=1i", // one more
        b"cpu usage_usEr=1i,usage_guest_nice=2.5,x=\"s\",flag=t",     // a byte inside
        b"cpu usage_user=1i,usage_guest_nicE=2.5,x=\"s\",flag=t",     // the last byte
        b"cpu usage_user=1i,usage_guest_nic=2.5,x=\"s\",flag=t",      // a prefix
    ] {
        assert!(!matches(base, other), "{}", String::from_utf8_lossy(other));
        assert!(matches(other, other));
    }
    let with_time: &[u8] = b"cpu usage_user=1i,time=3i,usage_guest_nice=2.5,x=\"s\",flag=t";
    assert!(
        !matches(base, with_time),
        "a field named time never matches"
    );
    let ints: &[u8] = b"cpu a=1i,b=2i";
    for other in [
        &b"cpu a=1i,b=2"[..],
        b"cpu a=1i",
        b"cpu a=1i,b=2i,c=3i",
        b"cpu b=1i,a=2i",
    ] {
        assert!(!matches(ints, other), "{}", String::from_utf8_lossy(other));
    }
}

#[test]
fn no_shape_matches_nothing_and_a_new_shape_replaces_the_old() {
    let mut dec = Decoder::new();
    let opts = DecodeOptions::default();
    let mut line = |l: &[u8], remember: bool| {
        let mut p = dec.decode(l, &opts).unwrap().unwrap();
        let matched = p.shape_matches();
        if remember {
            p.remember_shape();
        }
        matched
    };
    assert!(!line(b"m v=1i", true), "no shape yet");
    assert!(line(b"m v=7i", false));
    assert!(!line(b"m w=1.5", true));
    assert!(!line(b"m v=7i", false), "the new shape replaced the old");
    assert!(line(b"m w=2", false));
    dec.forget_shape();
    assert!(!dec
        .decode(b"m w=2", &opts)
        .unwrap()
        .unwrap()
        .shape_matches());
}

#[test]
fn an_escaped_key_takes_the_general_path_and_time_is_skipped() {
    let line: &[u8] = br"cpu a\ b=1i,c=2i";
    assert_eq!(schema(line)[0].0, b"a b");
    assert!(!matches(line, line), "escaped keys never match");
    assert!(!matches(b"cpu a=1i,c=2i", line));
    assert!(!matches(b"cpu a\\ b=1i,c=2i", line));
    assert_eq!(
        schema(b"cpu v=1i,time=2i").len(),
        1,
        "fields() skips a field named time"
    );
    assert!(matches(b"cpu v=1i,time=2i", b"cpu v=5i"));
    assert!(
        !matches(b"cpu v=1i,time=2i", b"cpu v=5i,time=3i"),
        "time never matches"
    );
}

fn field() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "a",
        "b",
        "time",
        "usage_user",
        "usage_usEr",
        r"a\ b",
        "a b",
        "abcdefgh",
        "abcdefgi",
        "usage_guest_nice",
        "usage_guest_nicE",
        "usage_guest_nice_x",
        "usage_guest_nice_y",
    ]);
    let value = prop::sample::select(vec!["1i", "-20i", "1.5", "3", "t", "\"s\"", "7u"]);
    (key, value).prop_map(|(k, v)| format!("{k}={v}"))
}

proptest! {
    /// Across a sequence of lines, each line matches exactly when its `fields()` keys and
    /// types are those of the last line remembered (and that line had no escaped key).
    #[test]
    fn shape_matches_agrees_with_comparing_fields(
        lines in prop::collection::vec(
            (prop::collection::vec(field(), 1..5), any::<bool>()), 1..12)
    ) {
        let opts = DecodeOptions { accept_unsigned: true, ..DecodeOptions::default() };
        let mut dec = Decoder::new();
        let mut shape: Option<Vec<(Vec<u8>, FieldType)>> = None;
        for (fields, keep) in lines {
            let line = format!("m {}", fields.join(","));
            let Ok(Some(mut l)) = dec.decode(line.as_bytes(), &opts) else { continue };
            let mine: Vec<(Vec<u8>, FieldType)> =
                l.fields().map(|(k, v)| (k.to_vec(), v.field_type())).collect();
            let has_time = fields.iter().any(|f| f.starts_with("time="));
            let expect = !has_time && shape.as_ref() == Some(&mine);
            prop_assert_eq!(l.shape_matches(), expect, "{}", line);
            if keep {
                l.remember_shape();
                let escaped = fields.iter().any(|f| f.contains('\\'));
                shape = if escaped || mine.is_empty() { None } else { Some(mine) };
            }
        }
    }
}

#[test]
fn a_shape_key_matches_only_its_own_bytes() {
    let a: Vec<u8> = (0..24u8).map(|b| b'a' + b).collect();
    let line = |k: &[u8]| [&b"m "[..], k, b"=1i"].concat();
    for n in 1..=a.len() {
        let x = &a[..n];
        assert!(matches(&line(x), &line(x)), "n {n}");
        if n > 1 {
            assert!(!matches(&line(x), &line(&a[..n - 1])), "n {n} prefix");
        }
        for i in 0..n {
            let mut y = x.to_vec();
            y[i] ^= 1;
            assert!(!matches(&line(x), &line(&y)), "n {n} byte {i}");
        }
    }
}
