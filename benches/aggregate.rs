//! Per-core aggregation throughput: points/s through `query::func` accumulators, as a core
//! aggregates its own series before sending partials.
//!
//! Input: 100,000 points (TSBS-like: float values 0-100, 10 s apart, built deterministically
//! with splitmix64 seeded with 1), one accumulator per 60 s bucket (as `GROUP BY time(1m)`).
//! Group `push` (Throughput::Elements of the points): `mean`, `max` (a selector, no aux),
//! `max_aux` (with one tag aux value), `median` (keeps the points), `top5` (`top(v, 5)`).
//! Group `merge`: 16 partial `mean` and `top5` accumulators per bucket merged into one.
//! Group `scan_reduce` (Throughput::Elements of the points read): a core's memtable of 100 hosts ×
//! 1000 TSBS-like points (10 float fields, 10 s apart) reduced for `SELECT mean(usage_user) FROM
//! cpu WHERE time >= 0 AND time < 10000s GROUP BY time(1h), hostname` (TSBS's double-groupby-1),
//! `rows`: scanned as rows (`Memtable::scan`) then `AggregatePlan::partial`; `columns`: scanned as
//! columns (`Memtable::scan_columns`) then `AggregatePlan::partial_columns`, what the cores run.

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

const HOSTS: usize = 100;
const HOST_POINTS: usize = 1000;
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// A memtable of `HOSTS` × `HOST_POINTS` points written as an agent writes them: every host's
/// point of a time, then the next time.
fn tsbs_memtable() -> lineshard::storage::Memtable {
    use lineshard::lineproto::FieldValue;
    use lineshard::shard::batch::{Batch, NewPoint};
    let mut mem = lineshard::storage::Memtable::new();
    let keys: Vec<Vec<u8>> = (0..HOSTS)
        .map(|h| format!("cpu,hostname=host_{h},region=eu").into_bytes())
        .collect();
    let mut state = 1u64;
    for chunk in (0..HOST_POINTS).collect::<Vec<_>>().chunks(50) {
        let mut b = Batch::default();
        for &i in chunk {
            for key in &keys {
                let t = i as i64 * 10_000_000_000;
                b.begin_point(NewPoint::new(key, b"cpu", t, FIELDS.len() as u16));
                for f in FIELDS {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    b.push_field(f.as_bytes(), &FieldValue::Float((state >> 40) as f64 / 1e5));
                }
            }
        }
        mem.apply("db", "autogen", &b).expect("bench batch applies");
    }
    mem
}

fn scan_reduce(c: &mut Criterion) {
    use lineshard::query::{self, select::Plan, Statement};
    let mem = tsbs_memtable();
    let q = "SELECT mean(usage_user) FROM cpu WHERE time >= 0 AND time < 10000s \
             GROUP BY time(1h), hostname";
    let Some(Statement::Select(stmt)) = query::parse(q, 0).ok().and_then(|s| s.into_iter().next())
    else {
        panic!("bench query parses");
    };
    let is_field = |n: &str| FIELDS.contains(&n);
    let Ok(Plan::Aggregate(agg)) = query::select::plan(&stmt, 0, &is_field) else {
        panic!("bench query is an aggregate");
    };
    let fields = vec![b"usage_user".to_vec()];
    let req = lineshard::storage::ScanRequest {
        db: "db".into(),
        rp: "autogen".into(),
        measurements: query::MeasurementMatch::Name("cpu".into()),
        condition: query::Condition {
            time_min_ns: 0,
            time_max_ns: 10_000_000_000_000,
            tags: query::TagExpr::True,
        },
        fields: Some(fields.clone()),
        edge: None,
    };
    assert!(agg.columnar());
    let mut g = c.benchmark_group("scan_reduce");
    g.throughput(Throughput::Elements((HOSTS * HOST_POINTS) as u64));
    g.bench_function("rows", |b| {
        b.iter(|| black_box(agg.partial(mem.scan(&req))).points)
    });
    g.bench_function("columns", |b| {
        b.iter(|| black_box(agg.partial_columns(&fields, mem.scan_columns(&req))).points)
    });
    g.finish();
}

criterion_group!(benches, push, merge, scan_reduce);
criterion_main!(benches);
