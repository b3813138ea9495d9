//! The owner core's memtable work on TSBS cpu-only data, apart from HTTP, decode and the WAL.
//!
//! Data: `common/tsbs.rs`'s body (1000 hosts, 10 tags, 10 integer fields), built into batches
//! the way the write path builds them (`Batch::begin_point_keyed` with the decoder's key id and
//! a schema token per shape, `push_fixed_values`): 5000 lines a batch (each host 5 times), 40
//! batches of distinct times, cycled.
//!
//! Groups (Throughput::Elements = rows):
//! * `apply/tsbs_5000_lines`: `Memtable::apply` of one batch. When the memtable passes 64 MiB
//!   (the default `memtable-max-bytes`) it is swapped for a new one that reuses its arena
//!   (`take_for_next` + `recycle`), as a seal does, so the arena is as warm as in the server.
//! * `apply/tsbs_5000_lines_evicted`: the same, with 4 MiB of other memory written before each
//!   batch (untimed), as decoding the next request does to the caches in the server.
//! * `seal/tsbs_200k_rows`: `seal_plan` + `seal_series` of every series of a memtable holding
//!   the 40 batches once (200 points a series, in time order): the columns a seal encodes (the
//!   encoding itself is `segment/encode`). 64 MiB of other memory is written before each run
//!   (untimed), so the memtable is read from memory as a full one is.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lineshard::lineproto::{lines, DecodeOptions, Decoder};
use lineshard::shard::batch::{Batch, SchemaToken};
use lineshard::storage::Memtable;

#[path = "common/tsbs.rs"]
mod tsbs;

const LINES: usize = 5000;
const MEMTABLE_MAX: usize = 64 << 20;

/// Batches of `LINES` lines each, built as the write path builds them.
fn batches(body: &[u8]) -> Vec<Batch> {
    let opts = DecodeOptions::default();
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    let mut b = Batch::default();
    let mut token = 0u64;
    let mut n = 0;
    for (_, line) in lines(body) {
        let Ok(Some(mut p)) = dec.decode(line, &opts) else {
            panic!("bench body does not decode");
        };
        if !p.shape_matches() {
            p.remember_shape();
            token += 1;
        }
        let measurement = p.measurement().into_owned();
        let ts = p.timestamp_ns();
        let hash = p.series_hash();
        let key_id = p.key_id();
        let fields = p.fields().count() as u16;
        let key = p.series_key().to_vec();
        if b.begin_point_keyed(
            &key,
            hash,
            key_id,
            &measurement,
            ts,
            fields,
            SchemaToken(token),
        ) {
            let fixed = b.push_fixed_values(fields, |slots| {
                p.each_fixed_value(|ty, bits| slots.put(ty, bits))
            });
            assert!(fixed, "TSBS values are integers");
        } else {
            for (k, v) in p.fields() {
                b.push_field(&k, &v);
            }
        }
        n += 1;
        if n % LINES == 0 {
            out.push(std::mem::take(&mut b));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let body = tsbs::tsbs_cpu_only_body(1000, 200);
    let batches = batches(&body);
    assert_eq!(batches.len(), 40);

    let mut g = c.benchmark_group("apply");
    g.throughput(Throughput::Elements(LINES as u64));
    let mut mem = Memtable::new();
    let mut next = 0;
    g.bench_function("tsbs_5000_lines", |b| {
        b.iter(|| {
            let n = mem.apply("db", "autogen", black_box(&batches[next % batches.len()]));
            next += 1;
            if mem.memtable_bytes() > MEMTABLE_MAX {
                let mut fresh = mem.take_for_next();
                fresh.recycle(std::mem::replace(&mut mem, Memtable::new()));
                mem = fresh;
            }
            n
        })
    });
    // The same, with the caches as the server leaves them between two batches: before each
    // batch (untimed) 4 MiB of other memory is written, as decoding the next request (a 1.7 MB
    // body into a 0.75 MB batch) does.
    let mut mem = Memtable::new();
    let mut other = vec![0u8; 4 << 20];
    g.bench_function("tsbs_5000_lines_evicted", |b| {
        b.iter_batched(
            || {
                for (i, x) in other.iter_mut().enumerate().step_by(64) {
                    *x = x.wrapping_add(i as u8);
                }
            },
            |()| {
                let n = mem.apply("db", "autogen", black_box(&batches[next % batches.len()]));
                next += 1;
                if mem.memtable_bytes() > MEMTABLE_MAX {
                    let mut fresh = mem.take_for_next();
                    fresh.recycle(std::mem::replace(&mut mem, Memtable::new()));
                    mem = fresh;
                }
                n
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
            || {
                for (i, x) in other.iter_mut().enumerate().step_by(64) {
                    *x = x.wrapping_add(i as u8);
                }
            },
            |()| {
                let mut values = 0usize;
                for plan in full.seal_plan() {
                    for s in 0..plan.len() {
                        if let Some(d) = full.seal_series(&plan, s) {
                            values += d.times.len();
                        }
                    }
                }
                values
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
