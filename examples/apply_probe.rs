//! The owner core's apply step alone, on the write path's own batches: 40 pre-built 5000-line
//! TSBS bodies (`scripts/gen-tsbs-bodies.py DIR 40 5000 1000`) are decoded into batches the way
//! `api::write::stage` builds them (schema token, so repeated series and field keys take the
//! batch's short forms), then walked (`BatchIter::next_raw`) and applied to a memtable whose
//! arena is recycled between rounds, as after a seal. Prints the best of 15 rounds in ns/row.
//!
//! Wall time on shared machines moves by 10-30% between runs; for an A/B, count instructions,
//! which repeat exactly: `valgrind --tool=callgrind target/release/examples/apply_probe DIR`
//! and read `Memtable::apply_buf`'s inclusive count (3 M rows applied, 6 M batch points walked).
//!
//! Usage: `cargo run --release --example apply_probe -- DIR`

use lineshard::lineproto::{lines, DecodeOptions, Decoder};
use lineshard::shard::batch::{Batch, BatchIter, NewPoint, SchemaToken};
use lineshard::storage::Memtable;
use std::time::Instant;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: apply_probe DIR (body-00000.lp ..., from scripts/gen-tsbs-bodies.py)");
    let mut batches = Vec::new();
    let opts = DecodeOptions::default();
    let mut dec = Decoder::default();
    for i in 0..40 {
        let body = std::fs::read(format!("{dir}/body-{i:05}.lp")).unwrap();
        let mut b = Batch::with_capacity(body.len());
        for (_, line) in lines(&body) {
            let Ok(Some(mut p)) = dec.decode(line, &opts) else {
                continue;
            };
            let m = p.measurement().into_owned();
            let ts = p.timestamp_ns();
            let n = p.fields().count() as u16;
            let hash = p.series_hash();
            let key = p.series_key().to_vec();
            let head = NewPoint::hashed(&key, hash, &m, ts, n).with_token(SchemaToken(1));
            if b.begin_point(head) {
                p.for_each_value(|v| b.push_value(v));
            } else {
                for (k, v) in p.fields() {
                    b.push_field(&k, &v);
                }
            }
        }
        batches.push(b);
    }
    let rows: usize = 40 * 5000;
    let mut base = Memtable::new();
    let (mut best_iter, mut best_apply) = (f64::MAX, f64::MAX);
    for round in 0..15 {
        let t = Instant::now();
        let mut n = 0usize;
        let (mut fields, mut values) = (Vec::new(), &[][..]);
        for b in &batches {
            let mut it = BatchIter::new(&b.buf);
            while let Some(p) = it.next_raw(&mut fields, &mut values) {
                n += p.unwrap().timestamp_ns as usize & 1;
            }
        }
        let iter_ns = t.elapsed().as_nanos() as f64 / rows as f64;
        let mut mt = base.take_for_next();
        let t = Instant::now();
        for b in &batches {
            mt.apply("db", "autogen", b).unwrap();
        }
        let apply_ns = t.elapsed().as_nanos() as f64 / rows as f64;
        base = mt.take_for_next();
        base.recycle(mt);
        best_iter = best_iter.min(iter_ns);
        best_apply = best_apply.min(apply_ns);
        let _ = (round, n);
    }
    println!("best: iter {best_iter:.1} ns/row, apply {best_apply:.1} ns/row");
}
