//! The series index (`storage::SeriesIndex`): inserts and tag-predicate lookups.
//!
//! Data: 100,000 series of `cpu` shaped like TSBS's: `hostname=host_<i>` (unique), `region` one
//! of 10, `datacenter` one of 100 (`<region>-dc<j>`), `rack` one of 100, `service` one of 20.
//!
//! Groups:
//! * `index/insert_100k`: building the index of all series from their keys (what start-up does).
//! * `index/reinsert_100k`: inserting every series again (a seal's next memtable re-admits each
//!   series once: the duplicate check).
//! * `index/lookup/*`: `SeriesIndex::lookup` of one predicate, returning sorted series ids:
//!   `host_eq` (one series), `region_eq` (10%), `host_regex_alt` (Grafana's `=~ /^(a|b)$/` over
//!   the 100,000 hostname values), `region_and_not_service`, `datacenter_regex_or_rack`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lineshard::storage::scan::TagExpr;
use lineshard::storage::SeriesIndex;

const SERIES: usize = 100_000;

fn keys() -> Vec<Vec<u8>> {
    (0..SERIES)
        .map(|i| {
            let region = i % 10;
            format!(
                "cpu,datacenter=r{region}-dc{},hostname=host_{i},rack={},region=r{region},service={}",
                (i / 10) % 10,
                (i / 7) % 100,
                (i / 3) % 20
            )
            .into_bytes()
        })
        .collect()
}

fn eq(k: &str, v: &str, negate: bool) -> TagExpr {
    TagExpr::Eq {
        key: k.into(),
        value: v.into(),
        negate,
    }
}

fn re(k: &str, r: &str) -> TagExpr {
    TagExpr::Regex {
        key: k.into(),
        re: regex::bytes::Regex::new(r).unwrap(),
        negate: false,
    }
}

fn bench(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("index");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(10);
    g.bench_function("insert_100k", |b| {
        b.iter(|| {
            let mut ix = SeriesIndex::default();
            for k in &keys {
                ix.insert(k);
            }
            black_box(ix.len())
        })
    });
    let mut ix = SeriesIndex::default();
    for k in &keys {
        ix.insert(k);
    }
    g.bench_function("reinsert_100k", |b| {
        b.iter(|| keys.iter().filter(|k| ix.insert(k)).count())
    });
    g.finish();

    let all: &dyn Fn(&[u8]) -> bool = &|_| true;
    let cases = [
        ("host_eq", eq("hostname", "host_4242", false)),
        ("region_eq", eq("region", "r3", false)),
        ("host_regex_alt", re("hostname", "^(host_17|host_99999)$")),
        (
            "region_and_not_service",
            eq("region", "r3", false).and(eq("service", "5", true)),
        ),
        (
            "datacenter_regex_or_rack",
            TagExpr::Or(
                Box::new(re("datacenter", "^r1-")),
                Box::new(eq("rack", "42", false)),
            ),
        ),
    ];
    let mut g = c.benchmark_group("index/lookup");
    for (name, e) in &cases {
        let n = ix.lookup(all, e).len();
        assert!(n > 0, "{name}");
        g.bench_function(*name, |b| b.iter(|| black_box(ix.lookup(all, e).len())));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
