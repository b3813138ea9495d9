//! Per-core aggregation throughput: points/s through `query::func` accumulators, as a core
//! aggregates its own series before sending partials.
//!
//! Input: 100,000 points (TSBS-like: float values 0-100, 10 s apart, built deterministically
//! with splitmix64 seeded with 1), one accumulator per 60 s bucket (as `GROUP BY time(1m)`).
//! Group `push` (Throughput::Elements of the points): `mean`, `max` (a selector, no aux),
//! `max_aux` (with one tag aux value), `median` (keeps the points), `top5` (`top(v, 5)`).
//! Group `merge`: 16 partial `mean` and `top5` accumulators per bucket merged into one.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lineshard::query::func::{Accumulator, Aggregate};
use lineshard::query::Value;
use std::sync::Arc;

const POINTS: usize = 100_000;
const BUCKET_NS: i64 = 60_000_000_000;

fn points() -> Vec<(i64, Value)> {
    let mut state = 1u64;
    (0..POINTS)
        .map(|i| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let v = (z ^ (z >> 31)) % 10_000;
            (i as i64 * 10_000_000_000, Value::Float(v as f64 / 100.0))
        })
        .collect()
}

/// Pushes every point into its bucket's accumulator; returns the rows' count.
fn aggregate(agg: &Aggregate, points: &[(i64, Value)], aux: &[Value]) -> usize {
    let mut rows = 0;
    let mut bucket = i64::MIN;
    let mut acc = Accumulator::new(agg);
    for (t, v) in points {
        let start = t - t.rem_euclid(BUCKET_NS);
        if start != bucket {
            rows += std::mem::replace(&mut acc, Accumulator::new(agg))
                .finish(bucket, false)
                .len();
            bucket = start;
        }
        acc.push(*t, v, aux);
    }
    rows + acc.finish(bucket, false).len()
}

fn push(c: &mut Criterion) {
    let points = points();
    let host = [Value::Str(Arc::from("host_0"))];
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Elements(POINTS as u64));
    let cases: [(&str, Aggregate, &[Value]); 5] = [
        ("mean", Aggregate::Mean, &[]),
        ("max", Aggregate::Max, &[]),
        ("max_aux", Aggregate::Max, &host),
        ("median", Aggregate::Median, &[]),
        ("top5", Aggregate::Top { n: 5, tags: 0 }, &[]),
    ];
    for (name, agg, aux) in cases {
        g.bench_function(name, |b| {
            b.iter(|| aggregate(&agg, black_box(&points), aux))
        });
    }
    g.finish();
}

fn merge(c: &mut Criterion) {
    let points = points();
    let mut g = c.benchmark_group("merge");
    for (name, agg) in [
        ("mean", Aggregate::Mean),
        ("top5", Aggregate::Top { n: 5, tags: 0 }),
    ] {
        // 16 partials per bucket, as from 16 cores.
        let buckets: Vec<Vec<Accumulator>> = points
            .chunks(96)
            .map(|chunk| {
                let mut parts: Vec<Accumulator> = (0..16).map(|_| Accumulator::new(&agg)).collect();
                for (i, (t, v)) in chunk.iter().enumerate() {
                    parts[i % 16].push(*t, v, &[]);
                }
                parts
            })
            .collect();
        g.throughput(Throughput::Elements(buckets.len() as u64 * 16));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut rows = 0;
                for parts in buckets.iter().cloned() {
                    let mut one = Accumulator::new(&agg);
                    for p in parts {
                        one.merge(p);
                    }
                    rows += one.finish(0, false).len();
                }
                rows
            })
        });
    }
    g.finish();
}

criterion_group!(benches, push, merge);
criterion_main!(benches);
