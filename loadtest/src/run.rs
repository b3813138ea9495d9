//! The run: one pinned thread per connection, a reporter on the main thread, then the report.
//!
//! Connection `c` runs on loader core `c % threads` (cores are taken from the process's allowed set,
//! so `taskset -c 1 lineshard-load` keeps every thread on core 1). Each thread builds its own pool
//! before the common start, so the send loop only rebases a body, writes it and reads the answer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use lineshard::lineproto::Precision;

use crate::http::{self, Conn};
use crate::report::{self, Percentiles, Reply, Report, Stats, Tick};
use crate::schedule::{Arrivals, Schedule};
use crate::workload::{Pool, PoolSpec, Workload};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub workload: Workload,
    pub addr: String,
    pub url: String,
    /// Path and query of the write request, e.g. `/write?db=x&precision=n`.
    pub write_path: String,
    /// Extra header lines (Authorization), each ending in `\r\n`.
    pub extra_headers: String,
    pub api: String,
    pub threads: usize,
    pub connections: usize,
    pub batch_rows: usize,
    pub pool_batches: usize,
    pub precision: Precision,
    pub gzip: bool,
    pub rate: Option<f64>,
    /// How an open loop spreads each connection's sends over its period.
    pub arrivals: Arrivals,
    pub duration: Duration,
    pub rows: Option<u64>,
    pub hosts: u64,
    pub start_ns: i64,
    pub live: bool,
}

/// What the threads wrote, for `--verify`.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// Rows the target must hold: acked rows (each gzip pool body counts once, it is resent as is).
    pub expected_rows: u64,
    /// Timestamp range of acked rows, in precision units.
    pub ts_min: i64,
    pub ts_max: i64,
}

impl Written {
    /// Nothing written yet (an empty time range).
    fn none() -> Self {
        Written {
            expected_rows: 0,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
        }
    }
}

struct Shared {
    stats: Mutex<Stats>,
    interval: Mutex<Stats>,
    written: Mutex<Written>,
}

pub struct Outcome {
    pub report: Report,
    /// Latency of every request, in microseconds.
    pub hist: hdrhistogram::Histogram<u64>,
    pub written: Written,
}

pub fn run(cfg: &RunConfig) -> Result<Outcome, String> {
    if cfg.hosts < cfg.connections as u64 {
        return Err(format!(
            "--hosts {} is fewer than --connections {}",
            cfg.hosts, cfg.connections
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(cfg.connections + 1));
    let shared: Vec<Arc<Shared>> = (0..cfg.connections)
        .map(|_| {
            Arc::new(Shared {
                stats: Mutex::new(Stats::default()),
                interval: Mutex::new(Stats::default()),
                written: Mutex::new(Written::none()),
            })
        })
        .collect();
    // One start for every connection's schedule: the first thread past the barrier sets it.
    let t0 = Arc::new(OnceLock::new());
    let handles = spawn_workers(cfg, &shared, &stop, &barrier, &t0);
    barrier.wait();
    let start = *t0.get_or_init(Instant::now);
    let timeline = reporter(cfg, start, &shared, &handles, &stop);
    let mut failures = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("a load thread panicked".into()),
        }
    }
    let elapsed = start.elapsed();
    if !failures.is_empty()
        && shared
            .iter()
            .all(|s| s.stats.lock().map(|s| s.requests == 0).unwrap_or(true))
    {
        return Err(failures.join("; "));
    }
    let (mut all, written) = totals(&shared);
    for f in failures {
        if all.errors.len() < report::ERRORS_KEPT_MAX {
            all.errors.push(f);
        }
    }
    let hist = all.hist.clone();
    let report = make_report(cfg, all, &written, elapsed, timeline);
    Ok(Outcome {
        report,
        hist,
        written,
    })
}

/// One thread per connection, pinned to its loader core; each builds its body pool and
/// connects, then waits on `barrier` so that every connection starts together.
fn spawn_workers(
    cfg: &RunConfig,
    shared: &[Arc<Shared>],
    stop: &Arc<AtomicBool>,
    barrier: &Arc<Barrier>,
    t0: &Arc<OnceLock<Instant>>,
) -> Vec<std::thread::JoinHandle<Result<(), String>>> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let budget = Arc::new(AtomicU64::new(cfg.rows.unwrap_or(u64::MAX)));
    let mut handles = Vec::new();
    for (c, sh) in shared.iter().enumerate() {
        let core = if cores.is_empty() {
            None
        } else {
            cores.get(c % cfg.threads.max(1) % cores.len()).copied()
        };
        let t0 = t0.clone();
        let (cfg, stop, budget, barrier, sh) = (
            cfg.clone(),
            stop.clone(),
            budget.clone(),
            barrier.clone(),
            sh.clone(),
        );
        let spec = pool_spec(&cfg, c);
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            let pool = Pool::build(&spec).map_err(|e| e.to_string());
            let conn = Conn::connect(&cfg.addr).map_err(|e| format!("connect {}: {e}", cfg.addr));
            barrier.wait();
            let start = *t0.get_or_init(Instant::now);
            let (pool, conn) = (pool?, conn?);
            worker(&cfg, c, start, pool, conn, &stop, &budget, &sh)
        }));
    }
    handles
}

/// Every connection's statistics merged, and what they wrote (rows and time range).
fn totals(shared: &[Arc<Shared>]) -> (Stats, Written) {
    let mut all = Stats::default();
    let mut written = Written::none();
    for s in shared {
        if let Ok(st) = s.stats.lock() {
            all.merge(&st);
        }
        if let Ok(w) = s.written.lock() {
            written.expected_rows += w.expected_rows;
            written.ts_min = written.ts_min.min(w.ts_min);
            written.ts_max = written.ts_max.max(w.ts_max);
        }
    }
    (all, written)
}

fn make_report(
    cfg: &RunConfig,
    all: Stats,
    written: &Written,
    elapsed: Duration,
    timeline: Vec<Tick>,
) -> Report {
    let (rows_per_sec, mb_per_sec) = report::rates(all.rows_acked, all.bytes_sent, elapsed);
    let acked_ns = |ts: i64| {
        (written.expected_rows > 0).then(|| ts.saturating_mul(cfg.precision.multiplier_ns()))
    };
    Report {
        workload: cfg
            .workload
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string()),
        url: cfg.url.clone(),
        api: cfg.api.clone(),
        threads: cfg.threads,
        connections: cfg.connections,
        batch_size: cfg.batch_rows,
        gzip: cfg.gzip,
        rate: cfg.rate,
        arrivals: cfg.rate.map(|_| cfg.arrivals.name().to_string()),
        elapsed_s: elapsed.as_secs_f64(),
        requests: all.requests,
        rows_sent: all.rows_sent,
        rows_acked: all.rows_acked,
        rows_per_sec,
        mb_per_sec,
        latency_ms: Percentiles::of(&all.hist),
        status_counts: all.status_counts,
        errors: all.errors,
        error_count: all.error_count,
        acked_ts_min_ns: acked_ns(written.ts_min),
        acked_ts_max_ns: acked_ns(written.ts_max),
        verify: None,
        percentile_curve: crate::plot::percentile_curve(&all.hist),
        timeline,
    }
}

fn pool_spec(cfg: &RunConfig, c: usize) -> PoolSpec {
    let n = cfg.connections as u64;
    let lo = cfg.hosts * c as u64 / n;
    let hi = cfg.hosts * (c as u64 + 1) / n;
    PoolSpec {
        workload: cfg.workload,
        series_lo: lo,
        series_count: hi - lo,
        batch_rows: cfg.batch_rows,
        pool_batches: cfg.pool_batches,
        precision: cfg.precision,
        start_ns: cfg.start_ns,
        gzip: cfg.gzip,
        seed: 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1),
    }
}

/// Takes up to `want` rows from the shared `--rows` budget.
fn claim(budget: &AtomicU64, want: u64) -> u64 {
    let prev = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
        Some(b.saturating_sub(want))
    });
    prev.map_or(0, |b| b.min(want))
}

/// Seed of the Poisson arrivals (each connection mixes in its number).
const ARRIVALS_SEED: u64 = 0x5EED_A771_0A15;

#[allow(clippy::too_many_arguments)]
fn worker(
    cfg: &RunConfig,
    c: usize,
    start: Instant,
    mut pool: Pool,
    mut conn: Conn,
    stop: &AtomicBool,
    budget: &AtomicU64,
    sh: &Shared,
) -> Result<(), String> {
    let deadline = start + cfg.duration;
    let mut schedule = cfg.rate.map(|r| {
        let period = report::request_interval(r, cfg.batch_rows, cfg.connections);
        Schedule::new(cfg.arrivals, period, c, cfg.connections, ARRIVALS_SEED)
    });
    let ctype = if cfg.gzip {
        "Content-Encoding: gzip\r\n"
    } else {
        ""
    };
    let extra = format!("{}{ctype}", cfg.extra_headers);
    let mut acked_once = vec![false; pool.bodies.len()];
    let mut local = Stats::default();
    let mut flush_at = Instant::now();
    let n = pool.bodies.len() as u64;
    for k in 0u64.. {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            break;
        }
        let intended = match &mut schedule {
            Some(s) => {
                let t = start + s.next_offset();
                if t >= deadline {
                    break;
                }
                sleep_until(t);
                t
            }
            None => Instant::now(),
        };
        let j = (k % n) as usize;
        let body = &mut pool.bodies[j];
        let want = claim(budget, body.rows() as u64);
        if want == 0 {
            break;
        }
        body.rebase(pool.cycle_delta * (k / n) as i64)
            .map_err(|e| e.to_string())?;
        let (payload, rows) = body.payload(want as usize);
        let head = http::head("POST", &cfg.write_path, &cfg.addr, payload.len(), &extra);
        let (fresh, received) = (!conn.answered(), conn.received());
        let result = conn.request(&head, payload);
        let done = Instant::now();
        let lat = report::latency_us(intended, done);
        let (reply, resp_body, close) = match result {
            Ok(r) => (Reply::Status(r.status), r.body, r.close),
            Err(e) if fresh && conn.received() == received => {
                (Reply::NotAccepted, e.to_string().into_bytes(), true)
            }
            Err(e) => (Reply::Transport, e.to_string().into_bytes(), true),
        };
        local.record(reply, rows as u64, payload.len() as u64, lat, &resp_body);
        if matches!(reply, Reply::Status(200..=299)) {
            let fresh = !cfg.gzip || !std::mem::replace(&mut acked_once[j], true);
            if let (true, Some((lo, hi)), Ok(mut w)) =
                (fresh, body.ts_range(rows), sh.written.lock())
            {
                w.expected_rows += rows as u64;
                w.ts_min = w.ts_min.min(lo);
                w.ts_max = w.ts_max.max(hi);
            }
        }
        if close {
            conn = reconnect(cfg, c, deadline)?;
        }
        if done >= flush_at {
            flush(&mut local, sh);
            flush_at = done + Duration::from_millis(50);
        }
    }
    flush(&mut local, sh);
    Ok(())
}

fn flush(local: &mut Stats, sh: &Shared) {
    if let Ok(mut s) = sh.stats.lock() {
        s.merge(local);
    }
    if let Ok(mut s) = sh.interval.lock() {
        s.merge(local);
    }
    *local = Stats::default();
}

fn reconnect(cfg: &RunConfig, c: usize, deadline: Instant) -> Result<Conn, String> {
    loop {
        match Conn::connect(&cfg.addr) {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("connection {c}: reconnect {}: {e}", cfg.addr))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Prints a line per second until every worker has finished; returns the per-second timeline.
fn reporter(
    cfg: &RunConfig,
    start: Instant,
    shared: &[Arc<Shared>],
    handles: &[std::thread::JoinHandle<Result<(), String>>],
    stop: &AtomicBool,
) -> Vec<Tick> {
    let mut timeline = Vec::new();
    let mut last = start;
    let hard_stop = start + cfg.duration + Duration::from_secs(90);
    loop {
        let finished = handles.iter().all(|h| h.is_finished());
        let next = last + Duration::from_secs(1);
        if !finished {
            std::thread::sleep(
                Duration::from_millis(20).min(next.saturating_duration_since(Instant::now())),
            );
            if Instant::now() < next {
                continue;
            }
        }
        let now = Instant::now();
        let mut sum = Stats::default();
        for s in shared {
            if let Ok(mut iv) = s.interval.lock() {
                sum.merge(&iv);
                *iv = Stats::default();
            }
        }
        let (rows_per_sec, mb_per_sec) = report::rates(sum.rows_acked, sum.bytes_sent, now - last);
        let p = Percentiles::of(&sum.hist);
        let tick = Tick {
            t_s: (now - start).as_secs_f64(),
            rows_per_sec,
            mb_per_sec,
            p50_ms: p.p50,
            p99_ms: p.p99,
            max_ms: p.max,
            errors: sum.error_count,
        };
        // A last sliver after the final full second would show a rate from a few flushes: skip it.
        if sum.requests > 0 && (!finished || now - last >= Duration::from_millis(250)) {
            if cfg.live {
                eprintln!("{}", tick.line());
            }
            timeline.push(tick);
        }
        last = now;
        if finished {
            return timeline;
        }
        if now >= hard_stop {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_exactly() {
        let b = AtomicU64::new(12);
        assert_eq!(
            (claim(&b, 5), claim(&b, 5), claim(&b, 5), claim(&b, 5)),
            (5, 5, 2, 0)
        );
    }
}
