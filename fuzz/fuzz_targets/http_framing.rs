//! The HTTP framing as the connection loop drives it: a request head, then a Content-Length or
//! chunked body (fed in pieces split where the input says), then gunzip when the head asks.
//! Invariants: no panic; no body above the bound; a chunked decoder consumes what it reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lineshard::http::{gunzip_bounded, parse_head, ChunkedDecoder, HeadStatus, HttpLimits};

const BODY_MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // First byte: where to split the body between two feeds.
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let limits = HttpLimits {
        body_bytes_max: BODY_MAX,
        header_bytes_max: 2048,
        header_count_max: 16,
        ..HttpLimits::default()
    };
    let Ok(HeadStatus::Complete(head, used)) = parse_head(input, &limits) else {
        return;
    };
    assert!(used <= input.len());
    let rest = &input[used..];
    let body = if head.chunked {
        let mut dec = ChunkedDecoder::new(BODY_MAX, 1024);
        let mut out = Vec::new();
        let cut = (split as usize).min(rest.len());
        let Ok(n) = dec.feed(&rest[..cut], &mut out) else {
            return;
        };
        assert!(n <= cut);
        if n == cut && !dec.is_done() {
            match dec.feed(&rest[cut..], &mut out) {
                Ok(m) => assert!(m <= rest.len() - cut),
                Err(_) => return,
            }
        }
        assert!(out.len() <= BODY_MAX);
        out
    } else {
        let len = head.content_length.unwrap_or(0) as usize;
        rest[..len.min(rest.len())].to_vec()
    };
    if head.gzip {
        if let Ok(inflated) = gunzip_bounded(&body, BODY_MAX, Vec::new()) {
            assert!(inflated.len() <= BODY_MAX);
        }
    }
    let _ = head.query_param("db");
    let _ = lineshard::http::parse_query_string(head.query.as_bytes());
});
