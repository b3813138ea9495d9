//! A core's write work on TSBS cpu-only data, step by step, apart from HTTP and the WAL.
//!
//! Data: `common/tsbs.rs`'s body (1000 hosts, 10 tags, 10 integer fields) cut into 40 bodies of
//! 5000 lines (each host 5 times, distinct times), built into batches the way the write path
//! builds them (`Batch::begin_point` with the decoder's key id and a schema token per
//! shape, `push_fixed_values`), cycled.
//!
//! Groups (Throughput::Elements = rows):
//! * `stage/tsbs_5000_lines`: decoding one 5000-line body into its batch (`stage` below: the
//!   write path's steps without its limits and schema checks), bodies cycled from 68 MB of them
//!   as a server's requests come from memory.
//! * `apply/tsbs_5000_lines`: `Memtable::apply` of one batch. When the memtable passes 64 MiB
//!   (the default `memtable-max-bytes`) it is swapped for a new one that reuses its arena
//!   (`take_for_next` + `recycle`), as a seal does, so the arena is as warm as in the server.
//! * `apply/tsbs_5000_lines_evicted`: the same, with 4 MiB of other memory written before each
//!   batch (untimed), as decoding the next request does to the caches in the server.
//! * `seal/tsbs_200k_rows`: `seal_plan` + `seal_series` of every series of a memtable holding
//!   the 40 batches once (200 points a series, in time order): the columns a seal encodes (the
//!   encoding itself is `segment/encode`). 64 MiB of other memory is written before each run
//!   (untimed), so the memtable is read from memory as a full one is.
//! * `seal/tsbs_200k_rows_hot`: the same without the eviction (what is left is the gather's own
//!   work, not its waits on memory).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lineshard::lineproto::{lines, DecodeOptions, Decoder};
use lineshard::shard::batch::{Batch, NewPoint, SchemaToken};
use lineshard::storage::{ApplyError, Memtable};

#[path = "common/tsbs.rs"]
mod tsbs;

const LINES: usize = 5000;
const MEMTABLE_MAX: usize = 64 << 20;

/// Decodes `body` into one batch the way the write path does (`api::write::stage` without
/// its limits and schema checks): the decoder's shape memo, a schema token per shape,
/// `begin_point` with the decoder's key id, `push_fixed_values`.
fn stage(dec: &mut Decoder, body: &[u8]) -> Batch {
    let opts = DecodeOptions::default();
    let mut b = Batch::with_capacity(body.len() + body.len() / 4 + 256);
    let mut token = 0u64;
    dec.forget_shape();
    for (_, line) in lines(body) {
        let Ok(Some(mut p)) = dec.decode(line, &opts) else {
            panic!("bench body does not decode");
        };
        if !p.shape_matches() {
            p.remember_shape();
            token += 1;
        }
        let measurement = p.measurement();
        let time_ns = p.timestamp_ns();
        let series_hash = p.series_hash();
        let key_id = p.key_id();
        let fields = p.fields().count() as u16;
        let head = NewPoint {
            series_key: p.series_key(),
            series_hash,
            key_id,
            measurement: &measurement,
            time_ns,
            field_count: fields,
            token: SchemaToken(token),
        };
        if b.begin_point(head) {
            let fixed = b.push_fixed_values(fields, |slots| {
                p.each_fixed_value(|ty, bits| slots.put(ty, bits))
            });
            assert!(fixed, "TSBS values are integers");
        } else {
            for (k, v) in p.fields() {
                b.push_field(&k, &v);
            }
        }
    }
    b
}

/// The body's lines in bodies of `LINES` lines each.
fn bodies(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (n, (_, line)) in lines(body).enumerate() {
        cur.extend_from_slice(line);
        cur.push(b'\n');
        if (n + 1) % LINES == 0 {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// Applies `batch`; past `MEMTABLE_MAX` the memtable is swapped for a new one that reuses its
/// arena (`take_for_next` + `recycle`), as a seal does.
fn apply_next(mem: &mut Memtable, batch: &Batch) -> Result<u32, ApplyError> {
    let n = mem.apply("db", "autogen", batch);
    if mem.memtable_bytes() > MEMTABLE_MAX {
        let mut full = mem.take_for_next();
        std::mem::swap(mem, &mut full);
        mem.recycle(full);
    }
    n
}

/// Builds every series of `mem` as a seal does (`seal_plan` + `seal_series`); the values built.
fn seal_all(mem: &Memtable) -> usize {
    let mut values = 0usize;
    for plan in mem.seal_plan() {
        for s in 0..plan.len() {
            if let Some(d) = mem.seal_series(&plan, s) {
                values += d.times.len();
            }
        }
    }
    values
}

/// Writes a byte of every cache line of `other`: what the server's other work between two
/// batches (or before a seal) does to the caches.
fn evict(other: &mut [u8]) {
    for (i, x) in other.iter_mut().enumerate().step_by(64) {
        *x = x.wrapping_add(i as u8);
    }
}

fn bench(c: &mut Criterion) {
    let body = tsbs::tsbs_cpu_only_body(1000, 200);
    let bodies = bodies(&body);
    assert_eq!(bodies.len(), 40);
    let mut dec = Decoder::new();
    let batches: Vec<Batch> = bodies.iter().map(|b| stage(&mut dec, b)).collect();

    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(LINES as u64));
    let mut next = 0;
    g.bench_function("tsbs_5000_lines", |b| {
        b.iter(|| {
            let batch = stage(&mut dec, black_box(&bodies[next % bodies.len()]));
            next += 1;
            batch
        })
    });
    g.finish();

    let mut g = c.benchmark_group("apply");
    g.throughput(Throughput::Elements(LINES as u64));
    let mut mem = Memtable::new();
    next = 0;
    g.bench_function("tsbs_5000_lines", |b| {
        b.iter(|| {
            next += 1;
            apply_next(&mut mem, black_box(&batches[(next - 1) % batches.len()]))
        })
    });
    // The same, with the caches as the server leaves them between two batches: before each
    // batch (untimed) 4 MiB of other memory is written, as decoding the next request (a 1.7 MB
    // body into a 0.75 MB batch) does.
    let mut mem = Memtable::new();
    let mut other = vec![0u8; 4 << 20];
    g.bench_function("tsbs_5000_lines_evicted", |b| {
        b.iter_batched(
            || evict(&mut other),
            |()| {
                next += 1;
                apply_next(&mut mem, black_box(&batches[(next - 1) % batches.len()]))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut full = Memtable::new();
    for batch in &batches {
        full.apply("db", "autogen", batch).expect("apply");
    }
    let mut g = c.benchmark_group("seal");
    g.throughput(Throughput::Elements(full.point_count()));
    g.sample_size(10);
    // The memtable (24 MB) is read from memory, as a seal of a full one is: 64 MiB of other
    // memory is written before each run (untimed).
    let mut other = vec![0u8; 64 << 20];
    g.bench_function("tsbs_200k_rows", |b| {
        b.iter_batched(
            || evict(&mut other),
            |()| seal_all(&full),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("tsbs_200k_rows_hot", |b| b.iter(|| seal_all(&full)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
