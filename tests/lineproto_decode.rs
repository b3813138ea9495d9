//! What good lines decode to: escapes, values, options, timestamps, reserved names, splitting.
//! Cases ported from 1.x `models/points_test.go` where it has them.

use std::borrow::Cow;

use lineshard::lineproto::{
    decode_body, DecodeOptions, Decoder, ErrorKind, FieldValue, OwnedPoint, Precision, ReservedTime,
};

fn one(line: &str) -> OwnedPoint {
    one_with(line, &DecodeOptions::default())
}

fn one_with(line: &str, opts: &DecodeOptions) -> OwnedPoint {
    let (mut points, errors) = decode_body(line.as_bytes(), opts);
    assert!(errors.is_empty(), "{line:?}: {errors:?}");
    assert_eq!(points.len(), 1, "{line:?}");
    points.remove(0)
}

fn s(v: &str) -> FieldValue<'static> {
    FieldValue::String(Cow::Owned(v.as_bytes().to_vec()))
}

fn fields(p: &OwnedPoint) -> Vec<(String, FieldValue<'static>)> {
    p.fields
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.clone()))
        .collect()
}

fn tags(p: &OwnedPoint) -> Vec<(String, String)> {
    p.tags
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn measurement_escapes() {
    // What influxd stores and reads back is `Point.Name()`, `pkg/escape.Unescape` of the raw
    // name: `\,`, `\ `, `\=` and `\"` unescape (1.x's TestParsePointUnescape checks the raw
    // name, where `\=` stays), any other escape stays literal.
    assert_eq!(one("foo\\,bar value=1i").measurement, b"foo,bar");
    assert_eq!(one("foo\\ bar value=1i").measurement, b"foo bar");
    assert_eq!(one("foo\\=bar value=1i").measurement, b"foo=bar");
    assert_eq!(one("foo\\\"bar value=1i").measurement, b"foo\"bar");
    assert_eq!(one("foo\\\\=bar value=1i").measurement, b"foo\\=bar");
    assert_eq!(one("foo\\tbar value=1i").measurement, b"foo\\tbar");
    assert_eq!(one("foo=bar value=1i").measurement, b"foo=bar");
    assert_eq!(
        one("cpu\\ load,region=east value=1.0").series_key,
        b"cpu\\ load,region=east"
    );
    assert_eq!(one("\"cpu\" value=1").measurement, b"\"cpu\"");
}

#[test]
fn tag_escapes() {
    let p = one("cpu,regions=east\\,west value=1.0");
    assert_eq!(tags(&p), vec![("regions".into(), "east,west".into())]);
    let p = one("cpu,regions=east\\ west value=1.0");
    assert_eq!(tags(&p), vec![("regions".into(), "east west".into())]);
    let p = one("cpu,regions=east\\=west value=1.0");
    assert_eq!(tags(&p), vec![("regions".into(), "east=west".into())]);
    let p = one("cpu,regions\\,=east value=1.0");
    assert_eq!(tags(&p), vec![("regions,".into(), "east".into())]);
    let p = one("cpu,regions=eas\\t value=1.0");
    assert_eq!(tags(&p), vec![("regions".into(), "eas\\t".into())]);
    let p = one("cpu,host=serverA,\\ =us-east value=1i");
    assert_eq!(
        tags(&p),
        vec![
            (" ".into(), "us-east".into()),
            ("host".into(), "serverA".into())
        ]
    );
    // A tag value may start with `=` (only later `=` must be escaped).
    let p = one("cpu,host==x value=1");
    assert_eq!(tags(&p), vec![("host".into(), "=x".into())]);
    // Quotes mean nothing in tags.
    let p = one("cpu,\"host\"=\"serverA\" value=1");
    assert_eq!(tags(&p), vec![("\"host\"".into(), "\"serverA\"".into())]);
}

#[test]
fn field_key_escapes() {
    let p = one("cpu va\\ lue=1i,a\\,b=2i,c\\=d=3i,q\\\"=4i,\\a=5i");
    let keys: Vec<_> = fields(&p).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["va lue", "a,b", "c=d", "q\"", "\\a"]);
    assert_eq!(
        fields(&one("cpu,host=serverA,region=us-west a\\ =123i"))[0].0,
        "a "
    );
}

#[test]
fn string_values() {
    assert_eq!(
        fields(&one("cpu str=\"foo\\\"bar\"")),
        vec![("str".into(), s("foo\"bar"))]
    );
    assert_eq!(
        fields(&one("cpu str=\"foo\\\\\"")),
        vec![("str".into(), s("foo\\"))]
    );
    assert_eq!(
        fields(&one("cpu str=\"foo\\bar\"")),
        vec![("str".into(), s("foo\\bar"))]
    );
    assert_eq!(
        fields(&one("cpu str=\"a b,c=d\"")),
        vec![("str".into(), s("a b,c=d"))]
    );
    assert_eq!(fields(&one("cpu str=\"\"")), vec![("str".into(), s(""))]);
    assert_eq!(
        fields(&one("cpu str=\"ʃæ\"")),
        vec![("str".into(), s("ʃæ"))]
    );
    // Deliberate difference: 1.x's scanner lets bytes follow a closing quote and keeps a
    // mangled value (here `{Hello"world"}`); we refuse the line.
    let (_, errors) = decode_body(
        b"cpu value=\"{Hello\"world\"}\" 1000",
        &DecodeOptions::default(),
    );
    assert_eq!(errors[0].kind, ErrorKind::InvalidFieldFormat);
}

#[test]
fn numbers_and_booleans() {
    let p = one("cpu a=1,b=-1.5,c=.5,d=1.,e=1e3,f=-1E-2,g=9223372036854775807i,h=-9223372036854775808i,i=0i");
    assert_eq!(
        fields(&p),
        vec![
            ("a".into(), FieldValue::Float(1.0)),
            ("b".into(), FieldValue::Float(-1.5)),
            ("c".into(), FieldValue::Float(0.5)),
            ("d".into(), FieldValue::Float(1.0)),
            ("e".into(), FieldValue::Float(1000.0)),
            ("f".into(), FieldValue::Float(-0.01)),
            ("g".into(), FieldValue::Integer(i64::MAX)),
            ("h".into(), FieldValue::Integer(i64::MIN)),
            ("i".into(), FieldValue::Integer(0)),
        ]
    );
    let p = one("cpu big=123456789012345678901234567890,small=1e-400");
    assert_eq!(fields(&p)[0].1, FieldValue::Float(1.2345678901234568e29));
    assert_eq!(fields(&p)[1].1, FieldValue::Float(0.0));
    let bools = "cpu a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE";
    let got: Vec<_> = fields(&one(bools)).into_iter().map(|(_, v)| v).collect();
    let want: Vec<_> = [
        true, true, true, true, true, false, false, false, false, false,
    ]
    .into_iter()
    .map(FieldValue::Boolean)
    .collect();
    assert_eq!(got, want);
}

#[test]
fn unsigned_option() {
    let opts = DecodeOptions {
        accept_unsigned: true,
        ..DecodeOptions::default()
    };
    let p = one_with("cpu a=18446744073709551615u,b=0u", &opts);
    assert_eq!(fields(&p)[0].1, FieldValue::Unsigned(u64::MAX));
    assert_eq!(fields(&p)[1].1, FieldValue::Unsigned(0));
    let (_, errors) = decode_body(b"cpu a=1u", &DecodeOptions::default());
    assert_eq!(errors[0].kind, ErrorKind::InvalidNumber);
}

#[test]
fn carriage_return_option() {
    let body = b"cpu v=1 1000\r\ncpu v=2i\r\ncpu v=true\r\n";
    let (points, errors) = decode_body(body, &DecodeOptions::default());
    assert!(points.is_empty());
    let kinds: Vec<_> = errors.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            ErrorKind::BadTimestamp,
            ErrorKind::InvalidNumber,
            ErrorKind::InvalidBoolean
        ]
    );
    let opts = DecodeOptions {
        strip_cr: true,
        ..DecodeOptions::default()
    };
    let (points, errors) = decode_body(body, &opts);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(points.len(), 3);
    assert_eq!(points[0].timestamp_ns, 1000);
    // Only one CR is stripped.
    let (_, errors) = decode_body(b"cpu v=1 1000\r\r\n", &opts);
    assert_eq!(errors[0].kind, ErrorKind::BadTimestamp);
    // A lone CR line is blank once stripped.
    let (points, errors) = decode_body(b"\r\n", &opts);
    assert!(points.is_empty() && errors.is_empty());
}

#[test]
fn precision_multiplies_and_default_time_applies() {
    let cases = [
        (Precision::Nanosecond, 1_000_000_000_000),
        (Precision::Microsecond, 1_000_000_000_000_000),
        (Precision::Millisecond, 1_000_000_000_000_000_000),
        (Precision::Second, -1),
        (Precision::Minute, -1),
        (Precision::Hour, -1),
    ];
    for (precision, want) in cases {
        let opts = DecodeOptions {
            precision,
            default_time_ns: 5,
            ..DecodeOptions::default()
        };
        let (points, errors) = decode_body(b"cpu v=1 1000000000000", &opts);
        if want < 0 {
            assert_eq!(errors[0].kind, ErrorKind::TimeOutsideRange, "{precision:?}");
        } else {
            assert_eq!(points[0].timestamp_ns, want, "{precision:?}");
        }
        assert_eq!(one_with("cpu v=1", &opts).timestamp_ns, 5);
        assert_eq!(one_with("cpu v=1  ", &opts).timestamp_ns, 5);
    }
    let h = DecodeOptions {
        precision: Precision::Hour,
        ..DecodeOptions::default()
    };
    assert_eq!(one_with("cpu v=1 -2", &h).timestamp_ns, -7_200_000_000_000);
    assert_eq!(
        one("cpu v=1 9223372036854775806").timestamp_ns,
        9223372036854775806
    );
    assert_eq!(
        one("cpu v=1 -9223372036854775806").timestamp_ns,
        -9223372036854775806
    );
    assert_eq!(one("cpu v=1 \t-1 ").timestamp_ns, -1);
}

#[test]
fn whitespace_comments_and_blank_lines() {
    let body = b"# comment\n\n   \n\t\x00\n  # indented comment\n \t cpu v=1i 1\n";
    let (points, errors) = decode_body(body, &DecodeOptions::default());
    assert!(errors.is_empty());
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].line_no, 6);
    // The separator between sections is a space; a tab is data there.
    let (_, errors) = decode_body(b"cpu\tv=1", &DecodeOptions::default());
    assert_eq!(errors[0].kind, ErrorKind::MissingFields);
    // Leading whitespace of the field section is skipped, tabs included.
    assert_eq!(fields(&one("cpu  \tv=1i"))[0].1, FieldValue::Integer(1));
}

#[test]
fn duplicate_fields_keep_the_later_value() {
    let p = one("cpu a=1i,b=2i,a=3i");
    assert_eq!(
        fields(&p),
        vec![
            ("b".into(), FieldValue::Integer(2)),
            ("a".into(), FieldValue::Integer(3))
        ]
    );
    let mut dec = Decoder::new();
    let l = dec
        .decode(b"cpu a=1i,a=2i", &DecodeOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(l.field_count(), 2);
    assert_eq!(
        l.fields().count(),
        2,
        "the per-line API yields both, in order"
    );
}

#[test]
fn reserved_time_names() {
    let p = one("cpu,time=1 v=1");
    assert_eq!(p.reserved_time, Some(ReservedTime::Tag));
    let p = one("cpu time=1");
    assert_eq!(p.reserved_time, Some(ReservedTime::OnlyField));
    assert!(p.fields.is_empty());
    let p = one("cpu time=1,time=2i");
    assert_eq!(p.reserved_time, Some(ReservedTime::OnlyField));
    let p = one("cpu time=1,v=2");
    assert_eq!(p.reserved_time, None);
    assert_eq!(fields(&p), vec![("v".into(), FieldValue::Float(2.0))]);
    let p = one("cpu,time=1 time=1");
    assert_eq!(p.reserved_time, Some(ReservedTime::Tag));
    // Only the exact name: escapes cannot spell `time` differently, `Time` is another name.
    assert_eq!(one("cpu Time=1").reserved_time, None);
}

#[test]
fn quoted_newline_is_part_of_the_line() {
    // TestParsePointWithStringWithNewline.
    let body = b"cpu,host=serverA value=\"a\nb\" 1000\ncpu v=1i 2000\nbad";
    let (points, errors) = decode_body(body, &DecodeOptions::default());
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].fields[0].1, s("a\nb"));
    assert_eq!(points[1].line_no, 3);
    assert_eq!(errors[0].line_no, 4);
}

#[test]
fn series_key_is_canonical() {
    let a = one("cpu,zone=z,host=h,region=r v=1");
    let b = one("cpu,region=r,host=h,zone=z v=2i");
    let c = one("cpu,host=h,region=r,zone=z v=3");
    assert_eq!(a.series_key, b"cpu,host=h,region=r,zone=z");
    assert_eq!(a.series_key, b.series_key);
    assert_eq!(a.series_key, c.series_key);
    assert_eq!(tags(&a), tags(&c));
    // Sorting compares escaped keys as bytes (1.x `bytes.Compare`): `\ ` (0x5c) sorts after `Z`.
    let p = one("m,a\\ b=1,aZ=2 v=1");
    assert_eq!(p.series_key, b"m,aZ=2,a\\ b=1");
    // Many tags take the sort-based duplicate check.
    let many: String = (0..40).rev().map(|i| format!(",k{i:02}=v")).collect();
    let p = one(&format!("m{many} v=1"));
    assert!(p.series_key.starts_with(b"m,k00=v,k01=v"));
    let (_, errors) = decode_body(
        format!("m{many},k07=x v=1").as_bytes(),
        &DecodeOptions::default(),
    );
    assert_eq!(errors[0].kind, ErrorKind::DuplicateTags);
}

#[test]
fn series_hash_is_xxh3_of_the_key_with_the_fixed_seed() {
    use lineshard::lineproto::{series_hash, SERIES_HASH_SEED};
    let mut dec = Decoder::new();
    let mut l = dec
        .decode(b"cpu,b=2,a=1 v=1", &DecodeOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(l.series_key(), b"cpu,a=1,b=2");
    assert_eq!(
        l.series_hash(),
        xxhash_rust::xxh3::xxh3_64_with_seed(b"cpu,a=1,b=2", SERIES_HASH_SEED)
    );
    assert_eq!(series_hash(b"cpu,a=1,b=2"), l.series_hash());
}
