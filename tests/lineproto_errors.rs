//! Exact InfluxDB 1.x messages for every rejection reason, ported from 1.x
//! `models/points_test.go` (1.6.7, same scanner as 1.8/1.11) plus cases read off `points.go`.

use lineshard::lineproto::{decode_body, DecodeOptions, ErrorKind, LineError, Precision};

fn errors_of(body: &str, opts: &DecodeOptions) -> Vec<LineError> {
    let (points, errors) = decode_body(body.as_bytes(), opts);
    assert!(points.is_empty(), "{body:?} decoded to {points:?}");
    errors
}

/// Every line must fail alone, with `unable to parse '<line>': <reason>`.
fn check(reason: &str, lines: &[&str]) {
    check_with(reason, lines, &DecodeOptions::default());
}

fn check_with(reason: &str, lines: &[&str], opts: &DecodeOptions) {
    for line in lines {
        let errors = errors_of(line, opts);
        assert_eq!(errors.len(), 1, "{line:?}");
        assert_eq!(errors[0].line_no, 1);
        assert_eq!(
            errors[0].to_string(),
            format!("unable to parse '{}': {reason}", line.trim_start()),
            "{line:?}"
        );
    }
}

#[test]
fn missing_measurement() {
    check("missing measurement", &[",cpu value=1", ",", " ,x=1 v=1"]);
}

#[test]
fn missing_fields() {
    check(
        "missing fields",
        &[
            "cpu_load_short,host=server01,region=us-west",
            "cpu",
            "cpu,host==",
            "=",
            "cpu\\ value=1",
        ],
    );
}

#[test]
fn missing_tag_key() {
    check(
        "missing tag key",
        &[
            "cpu, value=1",
            "cpu,",
            "cpu,,,",
            "cpu,host=serverA,=us-east value=1i",
            "cpu,host=serverAa\\,,=us-east value=1i",
            "cpu,host=serverA\\,,=us-east value=1i",
            "cpu, =serverA value=1i",
        ],
    );
}

#[test]
fn missing_tag_value() {
    check(
        "missing tag value",
        &[
            "cpu,host",
            "cpu,host,",
            "cpu,host=",
            "cpu,host value=1i",
            "cpu,host=serverA,region value=1i",
            "cpu,host=serverA,region= value=1i",
            "cpu,host=serverA,region=,zone=us-west value=1i",
        ],
    );
}

#[test]
fn invalid_tag_format() {
    check(
        "invalid tag format",
        &["cpu,host=f=o,", "cpu,host=f\\==o,", "cpu,a=b=c v=1"],
    );
}

#[test]
fn duplicate_tags() {
    check(
        "duplicate tags",
        &[
            "cpu,host=a,host=b value=1",
            "cpu,b=1,a=2,b=3 value=1",
            "cpu,a\\ b=1,a\\ b=2 v=1",
        ],
    );
}

#[test]
fn missing_field_key() {
    check(
        "missing field key",
        &[
            "cpu,host=serverA,region=us-west =",
            "cpu,host=serverA,region=us-west =123i",
            "cpu,host=serverA,region=us-west value=123i,=456i",
            "cpu a,=1",
        ],
    );
}

#[test]
fn missing_field_value() {
    check(
        "missing field value",
        &[
            "cpu,host=serverA,region=us-west value=",
            "cpu,host=serverA,region=us-west value= 1000000000i",
            "cpu,host=serverA,region=us-west value=,value2=1i",
        ],
    );
}

#[test]
fn invalid_field_format() {
    check(
        "invalid field format",
        &[
            "cpu,host=server01,region=us-west 1434055562000000000i",
            "cpu,host=server01,region=us-west value=1i,b",
            "cpu ",
            "cpu a,b=1",
            "cpu a=1,,b=2",
            // 1.x fails this one later, in its field walk (`invalid value: field-key=r`).
            "m f=\"blah\"=123,r 1531703600000000000",
        ],
    );
}

#[test]
fn unbalanced_quotes() {
    check(
        "unbalanced quotes",
        &[
            "cpu,host=serverA value=\"test",
            "cpu,host=serverA value=\"test\"\"",
            "cpu a=\"x\\\"",
        ],
    );
}

#[test]
fn bad_timestamp() {
    check(
        "bad timestamp",
        &[
            "a v=1 0\\",
            "cpu value=1 1.5",
            "cpu value=1 -/",
            "cpu value=1 -1?",
            "cpu value=1 1-",
            "cpu value=1 1\t",
        ],
    );
}

#[test]
fn point_is_invalid() {
    check(
        "point is invalid",
        &[
            "cpu value=1 9223372036854775 12",
            "cpu value=1 1000 x",
            "cpu value=1 1000 \t",
        ],
    );
}

#[test]
fn invalid_number() {
    check(
        "invalid number",
        &[
            "cpu v=- ",
            "cpu v=-i ",
            "cpu v=-. ",
            "cpu v=. ",
            "cpu v=1.0i ",
            "cpu v=1ii ",
            "cpu v=1a ",
            "cpu v=42+3 ",
            "cpu v=-123u",
            "cpu v=1u",
            "cpu v=NaN",
            "cpu v=nan",
            "cpu v=-Inf",
            "cpu v=1e3i",
            "cpu v=1.1.1",
            "cpu v=1i2",
        ],
    );
}

#[test]
fn invalid_float() {
    check(
        "invalid float",
        &["cpu v=-e-e-e ", "cpu v=1e400", "cpu v=1e", "cpu v=1e+"],
    );
}

#[test]
fn invalid_boolean() {
    check(
        "invalid boolean",
        &[
            "cpu v=tru",
            "cpu v=Inf",
            "cpu v=+1",
            "cpu v=tRUE",
            "cpu v=fals",
            "cpu v=abc",
        ],
    );
}

#[test]
fn integer_out_of_range() {
    check(
        "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of range",
        &["cpu,host=serverA,region=us-west value=9223372036854775808i"],
    );
    check(
        "unable to parse integer -9223372036854775809: strconv.ParseInt: parsing \"-9223372036854775809\": value out of range",
        &["cpu value=-9223372036854775809i"],
    );
    check(
        "unable to parse integer 99999999999999999999999: strconv.ParseInt: parsing \"99999999999999999999999\": value out of range",
        &["cpu value=99999999999999999999999i"],
    );
}

#[test]
fn unsigned_out_of_range_when_accepted() {
    let opts = DecodeOptions {
        accept_unsigned: true,
        ..DecodeOptions::default()
    };
    check_with(
        "unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing \"18446744073709551616\": value out of range",
        &["cpu value=18446744073709551616u"],
        &opts,
    );
    check_with("invalid number", &["cpu value=-1u"], &opts);
}

#[test]
fn timestamp_parse_errors() {
    check(
        "strconv.ParseInt: parsing \"9223372036854775808\": value out of range",
        &["cpu value=1 9223372036854775808"],
    );
    check(
        "strconv.ParseInt: parsing \"-92233720368547758078\": value out of range",
        &["cpu value=1 -92233720368547758078"],
    );
    check(
        "strconv.ParseInt: parsing \"-\": invalid syntax",
        &["cpu value=1 -"],
    );
}

#[test]
fn time_outside_range() {
    let reason = "time outside range -9223372036854775806 - 9223372036854775806";
    check(
        reason,
        &[
            "cpu value=1 9223372036854775807",
            "cpu value=1 -9223372036854775807",
            "cpu value=1 -9223372036854775808",
        ],
    );
    for (precision, ts) in [
        (Precision::Microsecond, "9223372036854776"),
        (Precision::Millisecond, "-9223372036855"),
        (Precision::Second, "9223372037"),
        (Precision::Minute, "153722868"),
        (Precision::Hour, "2562048"),
    ] {
        let opts = DecodeOptions {
            precision,
            ..DecodeOptions::default()
        };
        check_with(reason, &[&format!("cpu value=1 {ts}")], &opts);
    }
}

#[test]
fn max_key_length() {
    let long = "a".repeat(65536);
    check(
        "max key length exceeded: 65536 > 65535",
        &[&format!("{long} value=1")],
    );
    let tags = format!("m,t={}", "v".repeat(65533));
    check(
        "max key length exceeded: 65537 > 65535",
        &[&format!("{tags} value=1")],
    );
    // Series key + 4 + field key (`#!~#` separator), as in TestNewPointsRejectsMaxKey.
    let key = "a".repeat(65535 - "value".len() - 4);
    let (points, errors) = decode_body(
        format!("{key} value=1,ok=2.0").as_bytes(),
        &DecodeOptions::default(),
    );
    assert_eq!((points.len(), errors.len()), (1, 0));
    let key = format!("{key}a");
    check(
        "max key length exceeded: 65536 > 65535",
        &[&format!("{key} value=1,ok=2.0")],
    );
    check(
        "max key length exceeded: 65536 > 65535",
        &[&format!("{key} ok=1,value=2.0")],
    );
}

#[test]
fn error_precedence_follows_1x_scan_order() {
    // Key errors before field errors, field errors before the key-length check of fields,
    // field errors before timestamp errors.
    check("missing tag value", &["cpu,a v=x 1.5"]);
    check("duplicate tags", &["cpu,a=1,a=2 v=x"]);
    check("invalid boolean", &["cpu v=x 1.5"]);
    let key = "a".repeat(65530);
    check("invalid number", &[&format!("{key} value=1,v=1a")]);
    check("bad timestamp", &["cpu v=1 1x"]);
    // A comma-terminated key is reported only once the whole section is scanned.
    check("invalid boolean", &["cpu a,b=x"]);
    // After the stray comma 1.x no longer sees `"` as opening a string.
    check("invalid field format", &["cpu a,b=\"x"]);
    check("unbalanced quotes", &["cpu a=1,b=\"x"]);
}

#[test]
fn kinds_are_enum_variants() {
    let (_, errors) = decode_body(b"cpu v=1 1x\ncpu,a=1,a=2 v=1", &DecodeOptions::default());
    let kinds: Vec<_> = errors.iter().map(|e| (e.line_no, e.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![(1, ErrorKind::BadTimestamp), (2, ErrorKind::DuplicateTags)]
    );
}

#[test]
fn error_line_strips_leading_whitespace_and_keeps_raw_bytes() {
    let (_, errors) = decode_body(b" \t\x00cpu v=\xff", &DecodeOptions::default());
    assert_eq!(errors[0].line, b"cpu v=\xff");
    let mut out = Vec::new();
    errors[0].write_to(&mut out);
    assert_eq!(out, b"unable to parse 'cpu v=\xff': invalid boolean");
}
