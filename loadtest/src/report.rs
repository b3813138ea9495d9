//! Counters, latency histograms and the final report (human table and `--json`).
//!
//! Latency is recorded in microseconds in an HdrHistogram (1 µs .. 1 h, 3 significant digits) and
//! reported in milliseconds. In open-loop runs it is measured from the *intended* send time, so a
//! server that stalls is charged for every request that should have gone out meanwhile (wrk2's
//! coordinated-omission correction).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The first error bodies kept (per worker and in the report).
pub const ERRORS_KEPT_MAX: usize = 5;
const ERROR_BODY_BYTES_MAX: usize = 300;
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
        .expect("constant bounds within hdrhistogram's limits")
}

/// Time between two requests of one connection so that `connections` together send `rate` rows/s.
pub fn request_interval(rate_rows_per_s: f64, batch_rows: usize, connections: usize) -> Duration {
    let per_conn = rate_rows_per_s / connections.max(1) as f64;
    Duration::from_secs_f64(batch_rows as f64 / per_conn.max(1e-9))
}

/// Latency of one request: from the intended send (open loop) or the actual send (closed loop)
/// to the end of the response, in microseconds.
pub fn latency_us(intended: Instant, done: Instant) -> u64 {
    done.saturating_duration_since(intended)
        .as_micros()
        .min(LATENCY_US_MAX as u128) as u64
}

/// Counters of one worker (or the sum of all).
#[derive(Clone)]
pub struct Stats {
    pub hist: Histogram<u64>,
    pub rows_sent: u64,
    pub rows_acked: u64,
    pub bytes_sent: u64,
    pub requests: u64,
    pub status_counts: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub error_count: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            hist: new_histogram(),
            rows_sent: 0,
            rows_acked: 0,
            bytes_sent: 0,
            requests: 0,
            status_counts: BTreeMap::new(),
            errors: Vec::new(),
            error_count: 0,
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An answer with this status.
    Status(u16),
    /// No byte of an answer, on a connection that had never answered: refused, or closed or
    /// reset by a server that never took the connection (key `not_accepted`).
    NotAccepted,
    /// Any other transport failure: on a connection that had answered before, or an answer
    /// cut short (key `transport`).
    Transport,
}

impl Reply {
    /// The `status_counts` key.
    pub fn key(self) -> String {
        match self {
            Reply::Status(s) => s.to_string(),
            Reply::NotAccepted => "not_accepted".into(),
            Reply::Transport => "transport".into(),
        }
    }
}

impl Stats {
    pub fn record(&mut self, reply: Reply, rows: u64, bytes: u64, latency_us: u64, body: &[u8]) {
        self.rows_sent += rows;
        self.bytes_sent += bytes;
        self.requests += 1;
        self.hist.saturating_record(latency_us.max(1));
        *self.status_counts.entry(reply.key()).or_default() += 1;
        if matches!(reply, Reply::Status(200..=299)) {
            self.rows_acked += rows;
        } else {
            self.error_count += 1;
            if self.errors.len() < ERRORS_KEPT_MAX {
                let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES_MAX)]);
                self.errors
                    .push(format!("{}: {}", reply.key(), text.trim()));
            }
        }
    }

    pub fn merge(&mut self, o: &Stats) {
        let _ = self.hist.add(&o.hist);
        self.rows_sent += o.rows_sent;
        self.rows_acked += o.rows_acked;
        self.bytes_sent += o.bytes_sent;
        self.requests += o.requests;
        self.error_count += o.error_count;
        for (k, v) in &o.status_counts {
            *self.status_counts.entry(k.clone()).or_default() += v;
        }
        for e in &o.errors {
            if self.errors.len() < ERRORS_KEPT_MAX {
                self.errors.push(e.clone());
            }
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One second of the run (the live line, and the plot's x axis).
#[derive(Clone, Debug, Serialize)]
pub struct Tick {
    pub t_s: f64,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

impl Tick {
    pub fn line(&self) -> String {
        format!(
            "[{:6.1}s] {:>12.0} rows/s {:>9.1} MB/s  p99 {:>9.3} ms  errors {}",
            self.t_s, self.rows_per_sec, self.mb_per_sec, self.p99_ms, self.errors
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub expected_rows: u64,
    pub stored_rows: u64,
    pub queries: u64,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub url: String,
    pub api: String,
    pub threads: usize,
    pub connections: usize,
    pub batch_size: usize,
    pub gzip: bool,
    pub rate: Option<f64>,
    /// `uniform` or `poisson` in an open loop, none in a closed loop.
    pub arrivals: Option<String>,
    pub elapsed_s: f64,
    pub requests: u64,
    pub rows_sent: u64,
    pub rows_acked: u64,
    /// Acknowledged rows per second of the run.
    pub rows_per_sec: f64,
    /// Request body bytes sent (after gzip) per second, in 10^6 bytes.
    pub mb_per_sec: f64,
    pub latency_ms: Percentiles,
    pub status_counts: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub error_count: u64,
    /// Time range (ns since the epoch) of the acknowledged rows, for checking the target afterwards.
    pub acked_ts_min_ns: Option<i64>,
    pub acked_ts_max_ns: Option<i64>,
    pub verify: Option<VerifyReport>,
    pub timeline: Vec<Tick>,
    /// Latency by percentile as (nines, ms): x = -log10(1 - q), up to p99.99 (plot::percentile_curve).
    pub percentile_curve: Vec<(f64, f64)>,
}

/// rows/s and MB/s of `rows` rows and `bytes` bytes over `elapsed`.
pub fn rates(rows: u64, bytes: u64, elapsed: Duration) -> (f64, f64) {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        return (0.0, 0.0);
    }
    (rows as f64 / s, bytes as f64 / 1e6 / s)
}

impl Report {
    pub fn table(&self) -> String {
        let l = &self.latency_ms;
        let mut s = String::new();
        s += &format!(
            "workload      {} → {} (api {})\n",
            self.workload, self.url, self.api
        );
        s += &format!(
            "load          {} threads, {} connections, batch {}, gzip {}, rate {}\n",
            self.threads,
            self.connections,
            self.batch_size,
            self.gzip,
            self.rate
                .map_or("closed loop".into(), |r| format!("{r:.0} rows/s"))
        );
        s += &format!(
            "elapsed       {:.2} s, {} requests\n",
            self.elapsed_s, self.requests
        );
        s += &format!(
            "rows          {} sent, {} acked\n",
            self.rows_sent, self.rows_acked
        );
        s += &format!(
            "throughput    {:.0} rows/s, {:.1} MB/s\n",
            self.rows_per_sec, self.mb_per_sec
        );
        s += &format!(
            "latency ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
        s += &format!("status        {:?}\n", self.status_counts);
        for e in &self.errors {
            s += &format!("error         {e}\n");
        }
        if let Some(v) = &self.verify {
            s += &format!(
                "verify        {} (expected {} rows, stored {}, {} queries){}\n",
                if v.ok { "OK" } else { "FAILED" },
                v.expected_rows,
                v.stored_rows,
                v.queries,
                v.error.as_ref().map_or(String::new(), |e| format!(": {e}"))
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Arrivals, Schedule};

    #[test]
    fn percentiles_from_known_distribution() {
        let mut h = new_histogram();
        for us in 1..=10_000u64 {
            h.record(us * 1000).unwrap(); // 1 ms .. 10 s
        }
        let p = Percentiles::of(&h);
        let close = |a: f64, b: f64| (a - b).abs() / b < 0.002;
        assert!(close(p.p50, 5000.0), "{p:?}");
        assert!(close(p.p90, 9000.0), "{p:?}");
        assert!(close(p.p99, 9900.0), "{p:?}");
        assert!(close(p.p999, 9990.0), "{p:?}");
        assert!(close(p.max, 10000.0), "{p:?}");
        assert_eq!(Percentiles::of(&new_histogram()), Percentiles::default());
    }

    #[test]
    fn rate_math() {
        let (r, mb) = rates(5_000_000, 1_700_000_000, Duration::from_secs(2));
        assert_eq!((r, mb), (2_500_000.0, 850.0));
        assert_eq!(rates(1, 1, Duration::ZERO), (0.0, 0.0));
        // 100k rows/s over 4 connections in batches of 5000: one request per 0.2 s per connection.
        assert_eq!(
            request_interval(100_000.0, 5000, 4),
            Duration::from_millis(200)
        );
    }

    /// A server stall of 1 s in an open loop at 10 req/s: every request scheduled during the stall
    /// is charged from its intended time (wrk2), not from when the stalled client got to send it.
    #[test]
    fn coordinated_omission_correction() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut schedule = Schedule::new(Arrivals::Uniform, interval, 0, 1, 0);
        let mut corrected = new_histogram();
        let mut naive = new_histogram();
        let mut free_at = start;
        for k in 0..20u64 {
            let intended = start + schedule.next_offset();
            let sent = intended.max(free_at);
            let service = if k == 5 {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(1)
            };
            let done = sent + service;
            free_at = done;
            corrected.record(latency_us(intended, done)).unwrap();
            naive.record(latency_us(sent, done)).unwrap();
        }
        // Requests 6..=15 were due during the stall: the corrected histogram sees them waiting.
        assert!(
            corrected.value_at_quantile(0.75) >= 400_000,
            "{}",
            corrected.value_at_quantile(0.75)
        );
        assert!(
            naive.value_at_quantile(0.75) <= 1_100,
            "{}",
            naive.value_at_quantile(0.75)
        );
    }

    #[test]
    fn stats_count_acks_statuses_and_errors() {
        let mut s = Stats::default();
        s.record(Reply::Status(204), 10, 100, 5, b"");
        s.record(Reply::Status(400), 10, 100, 5, b"{\"error\":\"bad\"}");
        s.record(Reply::Transport, 10, 100, 5, b"reset");
        s.record(Reply::NotAccepted, 10, 100, 5, b"refused");
        let mut all = Stats::default();
        all.merge(&s);
        assert_eq!(
            (all.rows_sent, all.rows_acked, all.requests, all.error_count),
            (40, 10, 4, 3)
        );
        assert_eq!(all.status_counts.get("204"), Some(&1));
        assert_eq!(all.status_counts.get("transport"), Some(&1));
        assert_eq!(all.status_counts.get("not_accepted"), Some(&1));
        assert_eq!(
            all.errors,
            vec![
                "400: {\"error\":\"bad\"}".to_string(),
                "transport: reset".into(),
                "not_accepted: refused".into()
            ]
        );
    }

    #[test]
    fn json_report_has_the_promised_keys() {
        let r = Report {
            workload: "tsbs-cpu".into(),
            url: "http://127.0.0.1:1".into(),
            api: "v1".into(),
            threads: 1,
            connections: 1,
            batch_size: 5000,
            gzip: false,
            rate: None,
            arrivals: None,
            elapsed_s: 1.0,
            requests: 1,
            rows_sent: 5000,
            rows_acked: 5000,
            rows_per_sec: 5000.0,
            mb_per_sec: 1.0,
            latency_ms: Percentiles::default(),
            status_counts: BTreeMap::from([("204".into(), 1)]),
            errors: vec![],
            error_count: 0,
            acked_ts_min_ns: None,
            acked_ts_max_ns: None,
            verify: None,
            timeline: vec![],
            percentile_curve: vec![],
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in [
            "rows_sent",
            "rows_acked",
            "rows_per_sec",
            "mb_per_sec",
            "latency_ms",
            "status_counts",
            "errors",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v["latency_ms"].get(k).is_some(), "missing latency_ms.{k}");
        }
        assert_eq!(v["status_counts"]["204"], 1);
    }
}
