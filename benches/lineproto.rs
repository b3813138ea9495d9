//! Line-protocol decode throughput on a canned TSBS cpu-only body.
//!
//! Body: measurement `cpu`, 10 tags (hostname, region, datacenter, rack, os, arch, team,
//! service, service_version, service_environment; in TSBS order, so unsorted), 10 integer
//! fields `usage_user..usage_guest_nice` (values 0-100 like TSBS), ns timestamps 10 s apart;
//! 1000 hosts x 10 intervals, built deterministically (splitmix64 seeded with 1).
//!
//! Group `decode` (Throughput::Bytes of the body):
//! * `lineshard`: `lines()` + `Decoder::decode` on every line; reads the timestamp and walks
//!   `fields()`, matching every value (sums integers, counts the rest). No series key. The
//!   decoder lives across iterations, so its key cache is warm: each line's tag section is
//!   recognised (hash + compare of its bytes) instead of scanned, as in steady-state ingest.
//! * `lineshard_shape`: `lineshard` as the write path decodes: a line whose fields are not the
//!   remembered shape becomes the shape (`Line::remember_shape`), so the other lines take the
//!   shape path (keys compared in place, values parsed as the shape's types say).
//! * `lineshard_no_cache`: the same with `Decoder::without_key_cache()`: every tag scanned.
//! * `influxdb_line_protocol`: the crate's `parse_lines` on the same body (as `&str`), walking
//!   `field_set` and matching every value the same way, plus the timestamp.
//!
//! Group `series_key`: decode each line, get its canonical series key and `series_hash`.
//! `lineshard` (warm cache: key and hash come from the cache) and `lineshard_no_cache` (sorts
//! the 10 tags, builds the key in the scratch buffer and hashes it, every line).
//!
//! Group `baseline`: `memchr_newlines` counts `\n` with memchr, the floor for any splitter.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lineshard::lineproto::{lines, DecodeOptions, Decoder, FieldValue};

#[path = "common/tsbs.rs"]
mod tsbs;
use tsbs::tsbs_cpu_only_body;

fn lineshard_decode(dec: &mut Decoder, body: &[u8], opts: &DecodeOptions) -> i64 {
    decode_walk(dec, body, opts, false)
}

/// `lineshard_decode` as the write path decodes: a line whose fields are not the remembered
/// shape makes its own the shape, so later lines take the shape path (`scan_shape`).
fn lineshard_decode_shaped(dec: &mut Decoder, body: &[u8], opts: &DecodeOptions) -> i64 {
    decode_walk(dec, body, opts, true)
}

/// Decodes every line and sums its timestamp and integer values (counting the others);
/// `shaped`: with the write path's shape memo.
fn decode_walk(dec: &mut Decoder, body: &[u8], opts: &DecodeOptions, shaped: bool) -> i64 {
    let mut acc = 0i64;
    for (_, line) in lines(body) {
        if let Ok(Some(mut l)) = dec.decode(line, opts) {
            if shaped && !l.shape_matches() {
                l.remember_shape();
            }
            acc = acc.wrapping_add(l.timestamp_ns());
            for (_, v) in l.fields() {
                acc = acc.wrapping_add(match v {
                    FieldValue::Integer(i) => i,
                    _ => 1,
                });
            }
        }
    }
    acc
}

fn crate_decode(body: &str) -> i64 {
    use influxdb_line_protocol::FieldValue as F;
    let mut acc = 0i64;
    for l in influxdb_line_protocol::parse_lines(body).flatten() {
        acc = acc.wrapping_add(l.timestamp.unwrap_or(0));
        for (_, v) in l.field_set.iter() {
            acc = acc.wrapping_add(match v {
                F::I64(i) => *i,
                _ => 1,
            });
        }
    }
    acc
}

fn benches(c: &mut Criterion) {
    let body = tsbs_cpu_only_body(1000, 10);
    let text = std::str::from_utf8(&body).expect("ascii body");
    let opts = DecodeOptions::default();
    let mut dec = Decoder::new();
    // Both decoders must see the same data.
    assert_eq!(lineshard_decode(&mut dec, &body, &opts), crate_decode(text));
    assert_eq!(
        lineshard_decode_shaped(&mut Decoder::new(), &body, &opts),
        crate_decode(text)
    );

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("lineshard", |b| {
        b.iter(|| lineshard_decode(&mut dec, black_box(&body), &opts))
    });
    g.bench_function("influxdb_line_protocol", |b| {
        b.iter(|| crate_decode(black_box(text)))
    });
    let mut shaped = Decoder::new();
    g.bench_function("lineshard_shape", |b| {
        b.iter(|| lineshard_decode_shaped(&mut shaped, black_box(&body), &opts))
    });
    let mut cold = Decoder::without_key_cache();
    g.bench_function("lineshard_no_cache", |b| {
        b.iter(|| lineshard_decode(&mut cold, black_box(&body), &opts))
    });
    g.finish();

    let mut g = c.benchmark_group("series_key");
    g.throughput(Throughput::Bytes(body.len() as u64));
    for (id, d) in [("lineshard", &mut dec), ("lineshard_no_cache", &mut cold)] {
        g.bench_function(id, |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for (_, line) in lines(black_box(&body)) {
                    if let Ok(Some(mut l)) = d.decode(line, &opts) {
                        acc ^= l.series_hash() ^ l.series_key().len() as u64;
                    }
                }
                acc
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("lines", |b| {
        b.iter(|| lines(black_box(&body)).map(|(_, l)| l.len()).sum::<usize>())
    });
    g.bench_function("decode_no_field_walk", |b| {
        b.iter(|| {
            let mut n = 0i64;
            for (_, line) in lines(black_box(&body)) {
                if let Ok(Some(l)) = dec.decode(line, &opts) {
                    n = n.wrapping_add(l.timestamp_ns());
                }
            }
            n
        })
    });
    g.bench_function("memchr_newlines", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&body)).count())
    });
    g.finish();
}

criterion_group!(lineproto, benches);
criterion_main!(lineproto);
