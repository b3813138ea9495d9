//! Sealed-segment size and speed on the TSBS cpu-only shape.
//!
//! Data: 1000 hosts (series `cpu,arch=..,datacenter=..,hostname=host_<i>,...`), 1000 points each,
//! 10 s apart from 2016-01-01T00:00:00Z, 10 integer fields `usage_user..usage_guest_nice`. Each
//! field is TSBS's clamped random walk: start uniform in [0, 100), step normal(0, 1), clamped to
//! [0, 100], stored as `int64(v)` (TSBS writes cpu fields as integers). Deterministic
//! (splitmix64 seeded with 1, Box-Muller normals).
//!
//! Before the timed groups it prints bytes per stored value for that data, and for the same
//! walks kept as unrounded floats (the Gorilla worst case: random mantissas).
//!
//! Groups (Throughput::Bytes = the in-memory size, 8 B per timestamp and per value):
//! * `segment/encode`: `encode_segment` of all 1000 series.
//! * `segment/decode`: `SegmentReader::open` + `read_series` of every series, full range.
//! * `segment_float/{encode,decode}`: the same on the unrounded float walks (Gorilla).
//! * `segment_read/*`: a selective read from a segment file on disk (page cache warm) of the
//!   same shape over 12 hours (1000 hosts, 720 points each, 60 s apart): one field of 10, one
//!   series of 1000, one hour of 12. `whole_file`: the file read whole, opened, the series found
//!   and decoded over the hour (every column); `pruned_cached_footer`: the footer already
//!   decoded (the partition's cache), only the series' time block and the field's block read
//!   by positional reads and decoded; `pruned_footer_read`: the same with the footer read and
//!   decoded from the file first (a cache miss).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lineshard::storage::segment::{
    encode_segment, read_series_at, ColumnData, ReadStats, SegmentFooter, SegmentReader,
    SeriesData, Values,
};

const HOSTS: usize = 1000;
const POINTS: usize = 1000;
const INTERVAL_NS: i64 = 10_000_000_000;
const START_NS: i64 = 1_451_606_400_000_000_000;
const FIELDS: [&str; 10] = lineshard::tsbs::CPU_FIELDS;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit().max(f64::MIN_POSITIVE), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// TSBS cpu-only series; `ints` selects `int64(v)` columns, else the raw float walk.
fn tsbs_cpu(ints: bool) -> Vec<SeriesData> {
    tsbs_cpu_shape(ints, POINTS, INTERVAL_NS)
}

fn tsbs_cpu_shape(ints: bool, points: usize, interval_ns: i64) -> Vec<SeriesData> {
    let mut rng = SplitMix(1);
    let times: Vec<i64> = (0..points as i64)
        .map(|i| START_NS + i * interval_ns)
        .collect();
    (0..HOSTS)
        .map(|h| {
            let columns = FIELDS
                .iter()
                .map(|name| {
                    let mut v = rng.unit() * 100.0;
                    let walk: Vec<f64> = (0..points)
                        .map(|_| {
                            v = (v + rng.normal()).clamp(0.0, 100.0);
                            v
                        })
                        .collect();
                    let values = if ints {
                        Values::Integer(walk.iter().map(|&x| x as i64).collect())
                    } else {
                        Values::Float(walk)
                    };
                    ColumnData {
                        name: name.as_bytes().to_vec(),
                        values,
                        valid: vec![true; points],
                    }
                })
                .collect();
            let key = format!(
                "cpu,arch=x64,datacenter=us-east-1a,hostname=host_{h},os=Ubuntu16.04LTS,rack={},\
                 region=us-east-1,service={},service_environment=production,service_version=0,team=SF",
                h % 100,
                h % 20
            );
            SeriesData {
                key: key.into_bytes(),
                measurement: b"cpu".to_vec(),
                times: times.clone(),
                columns,
            }
        })
        .collect()
}

fn report(label: &str, series: &[SeriesData]) -> Vec<u8> {
    let bytes = encode_segment("benchmark", "autogen", series);
    let values = SegmentReader::open(&bytes)
        .map(|r| r.value_count())
        .unwrap_or(0);
    println!(
        "segment size, TSBS cpu-only {label}: {} values, {} bytes, {:.3} B/value (index included)",
        values,
        bytes.len(),
        bytes.len() as f64 / values.max(1) as f64
    );
    bytes
}

fn bench(c: &mut Criterion) {
    let series = tsbs_cpu(true);
    let bytes = report("integers (TSBS shape)", &series);
    report("as unrounded floats", &tsbs_cpu(false));
    let in_memory = (HOSTS * POINTS * (FIELDS.len() + 1) * 8) as u64;

    let mut g = c.benchmark_group("segment");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(in_memory));
    g.bench_function("encode", |b| {
        b.iter(|| encode_segment("benchmark", "autogen", black_box(&series)))
    });
    g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&bytes))));
    g.finish();

    let floats = tsbs_cpu(false);
    let float_bytes = encode_segment("benchmark", "autogen", &floats);
    let mut g = c.benchmark_group("segment_float");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(in_memory));
    g.bench_function("encode", |b| {
        b.iter(|| encode_segment("benchmark", "autogen", black_box(&floats)))
    });
    g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&float_bytes))));
    g.finish();

    selective_reads(c);
}

/// One field of 10, one series of 1000, one hour of 12, from a file: pruned against whole.
fn selective_reads(c: &mut Criterion) {
    const HOUR: i64 = 3_600_000_000_000;
    let series = tsbs_cpu_shape(true, 720, 60_000_000_000);
    let bytes = encode_segment("benchmark", "autogen", &series);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("1.seg");
    std::fs::write(&path, &bytes).expect("segment file");
    let key = series[500].key.clone();
    let range = (START_NS + 5 * HOUR, START_NS + 6 * HOUR);
    let fields = vec![b"usage_idle".to_vec()];
    let footer = SegmentFooter::read(&std::fs::File::open(&path).expect("open")).expect("footer");
    let mut stats = ReadStats::default();
    let one = pruned(&path, &footer, &key, range, &fields, &mut stats);
    println!(
        "segment_read: file {} bytes; pruned read: {} rows, {} blocks, {} bytes read",
        bytes.len(),
        one,
        stats.blocks_read,
        stats.bytes_read
    );
    let mut g = c.benchmark_group("segment_read");
    g.sample_size(20);
    g.bench_function("whole_file", |b| {
        b.iter(|| {
            let Ok(file) = std::fs::read(&path) else {
                return 0;
            };
            let Ok(r) = SegmentReader::open(&file) else {
                return 0;
            };
            r.find(black_box(&key))
                .and_then(|i| r.read_series(i, range.0, range.1).ok())
                .map_or(0, |s| s.times.len())
        })
    });
    g.bench_function("pruned_cached_footer", |b| {
        b.iter(|| pruned(&path, &footer, black_box(&key), range, &fields, &mut stats))
    });
    g.bench_function("pruned_footer_read", |b| {
        b.iter(|| {
            let Ok(f) = std::fs::File::open(&path) else {
                return 0;
            };
            let Ok(footer) = SegmentFooter::read(&f) else {
                return 0;
            };
            pruned(&path, &footer, black_box(&key), range, &fields, &mut stats)
        })
    });
    g.finish();
}

fn pruned(
    path: &std::path::Path,
    footer: &SegmentFooter,
    key: &[u8],
    range: (i64, i64),
    fields: &[Vec<u8>],
    stats: &mut ReadStats,
) -> usize {
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let Ok(idx) = footer.series.binary_search_by(|s| s.key[..].cmp(key)) else {
        return 0;
    };
    read_series_at(&file, footer, idx, range, Some(fields), stats)
        .map_or(0, |s| s.columns.iter().map(|c| c.valid.len()).sum())
}

fn decode_all(bytes: &[u8]) -> usize {
    let Ok(r) = SegmentReader::open(bytes) else {
        return 0;
    };
    (0..r.series_count())
        .filter_map(|i| r.read_series(i, i64::MIN, i64::MAX).ok())
        .map(|s| s.times.len())
        .sum::<usize>()
}

criterion_group!(benches, bench);
criterion_main!(benches);
