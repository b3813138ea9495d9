//! Arbitrary bytes: no panic, only known error kinds, and a bad line never hurts the next.

use lineshard::lineproto::{
    decode_body, lines, DecodeOptions, Decoder, ErrorKind, Line, ReservedTime,
};
use proptest::prelude::*;

fn known(kind: &ErrorKind) -> bool {
    use ErrorKind::*;
    matches!(
        kind,
        MissingMeasurement
            | MissingFields
            | MissingTagKey
            | MissingTagValue
            | InvalidTagFormat
            | DuplicateTags
            | MissingFieldKey
            | MissingFieldValue
            | InvalidFieldFormat
            | UnbalancedQuotes
            | BadTimestamp
            | InvalidNumber
            | InvalidBoolean
            | InvalidFloat
            | PointIsInvalid
            | MaxKeyLength(_)
            | TimeOutsideRange
            | IntegerOutOfRange(_)
            | UnsignedOutOfRange(_)
            | TimestampOutOfRange(_)
            | TimestampSyntax(_)
    ) && !kind.to_string().is_empty()
}

/// Bytes drawn mostly from the grammar's alphabet, so that lines get deep into the parser.
fn grammar_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => prop::sample::select(b"abcm0123456789".to_vec()),
        6 => prop::sample::select(b",= \"\\.-ieEtfTFuN#\t\r\n".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..120)
}

/// A well-formed line of a few fields drawn from a small set of keys and values (so that lines
/// often repeat a shape), some escaped, some named `time`.
fn field_line() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "a",
        "bb",
        "usage_user",
        "usage_guest_nice",
        "time",
        r"e\ k",
    ]);
    let value = prop::sample::select(vec!["1i", "-5i", "2.5", "3", "t", "\"s\"", "7u", "1e3"]);
    prop::collection::vec((key, value), 1..4).prop_map(|fields| {
        let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("m,t=x {} 5", f.join(",")).into_bytes()
    })
}

/// Field keys of every length class the shape compare handles (short, one word, two words,
/// longer), with a quote and an escape among them.
const SHAPE_KEYS: &[&str] = &[
    "a",
    "usage",
    "abcdefg",
    "usage_ab",
    "usage_user",
    "usage_guest_nice",
    "usage_guest_nice_",
    "a_field_key_of_thirty_two_bytes_",
    "k\"q",
    r"e\ k",
];

/// Values of every type, and near misses of the integer and float forms.
const SHAPE_VALUES: &[&str] = &[
    "1i",
    "42i",
    "-5i",
    "12345678i",
    "123456789i",
    "-99999999i",
    "999999999999999999i",
    "9223372036854775807i",
    "9223372036854775808i",
    "-i",
    "1i2",
    "0i",
    "00000001i",
    "2.5",
    "-.5",
    "3",
    "1e3",
    "1.",
    "+1",
    "NaN",
    "t",
    "false",
    "\"s\"",
    "\"a,b c\"",
    "7u",
    "1x",
];

fn type_of(v: &lineshard::lineproto::FieldValue<'_>) -> String {
    format!("{:?}", v.field_type())
}

const GOOD: &[u8] = b"good,t=v f=1i,s=\"x\" 1000";

fn opts_strategy() -> impl Strategy<Value = DecodeOptions> {
    (any::<bool>(), any::<bool>(), 0usize..6).prop_map(|(accept_unsigned, strip_cr, p)| {
        use lineshard::lineproto::Precision::*;
        DecodeOptions {
            precision: [Nanosecond, Microsecond, Millisecond, Second, Minute, Hour][p],
            default_time_ns: 7,
            accept_unsigned,
            strip_cr,
        }
    })
}

/// What a decoded line says: whether it matched the decoder's shape, its fields (values as
/// text, so NaN compares equal), its time and its reserved-name verdict.
type Summary = (bool, Vec<(Vec<u8>, String)>, i64, Option<ReservedTime>);

fn summary(l: &Line<'_, '_>) -> Summary {
    let fields = l
        .fields()
        .map(|(k, v)| (k.into_owned(), format!("{v:?}")))
        .collect();
    (
        l.shape_matches(),
        fields,
        l.timestamp_ns(),
        l.reserved_time(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_fail_with_known_kinds(
        body in prop_oneof![grammar_bytes(), prop::collection::vec(any::<u8>(), 0..200)],
        opts in opts_strategy(),
    ) {
        let (points, errors) = decode_body(&body, &opts);
        for e in &errors {
            prop_assert!(known(&e.kind), "{:?}", e);
            prop_assert!(e.line_no >= 1);
        }
        for p in &points {
            prop_assert!(!p.measurement.is_empty());
        }
        // The per-line API agrees with decode_body and every accessor is safe to call.
        let mut dec = Decoder::new();
        for (_, line) in lines(&body) {
            if let Ok(Some(mut l)) = dec.decode(line, &opts) {
                let _ = l.measurement();
                let _ = l.tags().count();
                let _ = l.fields().count();
                let _ = l.series_hash();
                let _ = l.reserved_time();
            }
        }
    }

    #[test]
    fn a_bad_line_never_hurts_the_next(bad in grammar_bytes(), opts in opts_strategy()) {
        // Keep the junk on one line with balanced quoting: strip newlines and quotes.
        let mut bad: Vec<u8> = bad.into_iter().filter(|&b| b != b'\n' && b != b'"').collect();
        // A final backslash would escape the newline and join the lines (as in 1.x).
        bad.push(b'x');
        let mut body = bad.clone();
        body.push(b'\n');
        body.extend_from_slice(GOOD);
        body.push(b'\n');
        body.extend_from_slice(GOOD);
        let (points, errors) = decode_body(&body, &opts);
        let good: Vec<_> = points.iter().filter(|p| p.measurement == b"good").collect();
        prop_assert_eq!(good.len(), 2, "{:?} {:?}", String::from_utf8_lossy(&body), errors);
        prop_assert!(errors.iter().all(|e| e.line_no == 1));
        prop_assert_eq!(good[1].line_no, 3);
    }

    /// A remembered field shape (the write path's schema memo) changes nothing a line decodes
    /// to, only whether `shape_matches` says yes, and that never panics on junk either.
    #[test]
    fn a_remembered_shape_changes_no_decoding(
        shape_line in prop_oneof![grammar_bytes(), field_line()],
        parts in prop::collection::vec(prop_oneof![grammar_bytes(), field_line()], 1..8),
        opts in opts_strategy(),
    ) {
        let body = parts.join(&b'\n');
        let mut shaped = Decoder::new();
        for (_, line) in lines(&shape_line) {
            if let Ok(Some(mut l)) = shaped.decode(line, &opts) {
                l.remember_shape();
            }
        }
        // The shape's own lines again, so that some lines do match.
        let body = [&body[..], b"\n", &shape_line[..]].concat();
        let mut fresh = Decoder::new();
        for (_, line) in lines(&body) {
            let a = shaped.decode(line, &opts).map(|l| l.map(|l| summary(&l)));
            let b = fresh.decode(line, &opts).map(|l| l.map(|l| summary(&l)));
            match (a, b) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    prop_assert!(!b.0, "a decoder with no shape never matches");
                    prop_assert_eq!((&a.1, a.2, a.3), (&b.1, b.2, b.3));
                }
                (a, b) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
            }
        }
    }

    /// Lines that repeat one field shape with values of every kind, near misses of its keys,
    /// a field too many or too few, and odd endings decode exactly as with a fresh decoder (the
    /// decoder's shape-directed field scan gives up on anything it does not take in full), and
    /// `shape_matches` says yes exactly when the fields repeat the shape's keys and types.
    #[test]
    fn a_repeated_shape_decodes_as_a_fresh_decoder_does(
        keys in prop::collection::vec(prop::sample::select(SHAPE_KEYS.to_vec()), 1..6),
        rows in prop::collection::vec(
            (
                prop::collection::vec(prop::sample::select(SHAPE_VALUES.to_vec()), 6),
                0usize..12,
                prop::sample::select(vec![" 5", "", "  5", "\t5", " x", " -", " 5 ", ",", " 99999999999999999999"]),
            ),
            1..10,
        ),
        first_values in prop::collection::vec(prop::sample::select(SHAPE_VALUES.to_vec()), 6),
        opts in opts_strategy(),
    ) {
        let line_of = |values: &[&str], edit: usize, end: &str| {
            let mut f: Vec<String> =
                keys.iter().zip(values).map(|(k, v)| format!("{k}={v}")).collect();
            match edit {
                0 => { f.pop(); }
                1 => f.push("extra=1i".into()),
                2 => f[0] = format!("{}x={}", keys[0], values[0]),
                3 => f[0] = format!("{}={}", &keys[0][..keys[0].len() - 1], values[0]),
                4 => f.insert(0, "time=3i".into()),
                // Same length, last byte differs.
                5 => f[0] = format!("{}Z={}", &keys[0][..keys[0].len() - 1], values[0]),
                _ => {}
            }
            format!("m,t=x {}{end}", f.join(",")).into_bytes()
        };
        let mut shaped = Decoder::new();
        let first = line_of(&first_values, 99, " 5");
        if let Ok(Some(mut l)) = shaped.decode(&first, &opts) {
            l.remember_shape();
        }
        let mut fresh = Decoder::new();
        let mut remembered: Option<Vec<(Vec<u8>, String)>> = None;
        if let Ok(Some(l)) = fresh.decode(&first, &opts) {
            remembered = Some(l.fields().map(|(k, v)| (k.into_owned(), type_of(&v))).collect());
        }
        for (values, edit, end) in &rows {
            let line = line_of(values, *edit, end);
            let a = shaped.decode(&line, &opts).map(|l| l.map(|l| summary(&l)));
            let b = fresh.decode(&line, &opts).map(|l| l.map(|l| summary(&l)));
            match (a, b) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    prop_assert_eq!((&a.1, a.2, a.3), (&b.1, b.2, b.3), "{}", String::from_utf8_lossy(&line));
                    let mut fresh = Decoder::new();
                    let l = fresh.decode(&line, &opts).unwrap().unwrap();
                    let shape: Vec<_> = l.fields().map(|(k, v)| (k.into_owned(), type_of(&v))).collect();
                    // An escaped key or a field named `time` never matches a shape.
                    let escaped = keys.iter().any(|k| k.contains('\\'));
                    let expected = !escaped && *edit != 4 && *edit != 5 && remembered.as_ref() == Some(&shape);
                    prop_assert_eq!(a.0, expected);
                }
                (a, b) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", String::from_utf8_lossy(&line)),
            }
        }
    }

    #[test]
    fn long_lines_without_delimiters_finish(n in 60usize..400, at in 0usize..400) {
        // Runs of bytes with no structural byte in a 64-byte window.
        let mut line = vec![b'a'; n];
        let at = at.min(n);
        line.splice(at..at, *b" v=1i");
        let (points, errors) = decode_body(&line, &DecodeOptions::default());
        prop_assert_eq!(points.len() + errors.len(), 1);
    }
}

#[test]
fn decoder_is_reusable_across_mixed_lines() {
    let body = b"m,b=2,a=1 v=1i\nbad line\nm,a=1,b=2 v=2i\n\n# c\nm,a=1,b=2 v=3i\nm,b=2,a=1 v=4i";
    let (points, errors) = decode_body(body, &DecodeOptions::default());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line_no, 2);
    assert_eq!(points.len(), 4);
    assert!(points.iter().all(|p| p.series_key == b"m,a=1,b=2"));
    assert_eq!(
        points.iter().map(|p| p.line_no).collect::<Vec<_>>(),
        vec![1, 3, 6, 7]
    );
}
