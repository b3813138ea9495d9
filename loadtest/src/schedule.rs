//! When each connection of an open loop (`--rate`) sends: its intended send times.
//!
//! A total rate of `R` rows/s over `N` connections gives each connection a period
//! `T = batch / (R / N)`. If every connection started its schedule at the same instant with the same
//! period they would fire together, N requests at once every `T`: the server would see bursts, not
//! the steady load asked for, and the queueing of a burst would pass for latency. So each schedule
//! is spread over the period:
//!
//! - `uniform` (the default): connection `c` sends at `c·T/N + k·T` (a phase offset per connection,
//!   as wrk2 does); the merged schedule is one request every `T/N`.
//! - `poisson`: connection `c` sends after exponential gaps of mean `T` drawn from its own seeded
//!   generator; the merged schedule is a Poisson process of rate `N/T` (gaps with a coefficient of
//!   variation of 1), as independent clients would send.
//!
//! Latency is still measured from these intended times (coordinated-omission correction, see
//! report.rs): a connection that falls behind sends at once and is charged for its wait.

use std::time::Duration;

use clap::ValueEnum;

use crate::workload::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arrivals {
    Uniform,
    Poisson,
}

impl Arrivals {
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// The intended send times of one connection, as offsets from the run's common start.
pub struct Schedule {
    arrivals: Arrivals,
    period: Duration,
    phase: Duration,
    k: u64,
    /// Poisson: the offset of the next send, in seconds.
    next_s: f64,
    rng: Rng,
}

impl Schedule {
    /// Connection `c` of `connections`, each sending one request every `period` on average.
    pub fn new(
        arrivals: Arrivals,
        period: Duration,
        c: usize,
        connections: usize,
        seed: u64,
    ) -> Self {
        let n = connections.max(1) as f64;
        let mut s = Schedule {
            arrivals,
            period,
            phase: period.mul_f64(c.min(connections) as f64 / n),
            k: 0,
            next_s: 0.0,
            // Distinct, odd (never zero) state per connection.
            rng: Rng((seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
        };
        s.next_s = s.gap_s();
        s
    }

    /// An exponential gap of mean `period`, in seconds.
    fn gap_s(&mut self) -> f64 {
        // u in (0, 1]: 53 random bits, never 0, so ln(u) is finite.
        let u = ((self.rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        -u.ln() * self.period.as_secs_f64()
    }

    /// The offset of the next intended send, then the schedule moves past it.
    pub fn next_offset(&mut self) -> Duration {
        match self.arrivals {
            Arrivals::Uniform => {
                let t = self.phase + self.period.mul_f64(self.k as f64);
                self.k += 1;
                t
            }
            Arrivals::Poisson => {
                let t = Duration::from_secs_f64(self.next_s.min(1e9));
                self.next_s += self.gap_s();
                t
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `per_conn` sends of every connection, merged and sorted, in seconds.
    fn merged(arrivals: Arrivals, period: Duration, conns: usize, per_conn: usize) -> Vec<f64> {
        let mut all: Vec<f64> = (0..conns)
            .flat_map(|c| {
                let mut s = Schedule::new(arrivals, period, c, conns, 42);
                (0..per_conn)
                    .map(|_| s.next_offset().as_secs_f64())
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }

    fn gaps(t: &[f64]) -> Vec<f64> {
        t.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn mean_cv(g: &[f64]) -> (f64, f64) {
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn uniform_spreads_connections_evenly_over_the_period() {
        // 16 connections, one request each every 16 ms: together one request every 1 ms.
        let t = merged(Arrivals::Uniform, Duration::from_millis(16), 16, 50);
        assert_eq!(t.len(), 800);
        assert_eq!(t[0], 0.0);
        for g in gaps(&t) {
            assert!((g - 0.001).abs() < 1e-6, "gap {g}");
        }
        // One connection keeps its own period exactly.
        let mut s = Schedule::new(Arrivals::Uniform, Duration::from_millis(16), 3, 16, 0);
        let a = s.next_offset();
        let b = s.next_offset();
        assert_eq!(
            (a, b - a),
            (Duration::from_millis(3), Duration::from_millis(16))
        );
    }

    #[test]
    fn uniform_with_one_connection_is_the_plain_period() {
        let t = merged(Arrivals::Uniform, Duration::from_millis(5), 1, 4);
        assert_eq!(t, vec![0.0, 0.005, 0.01, 0.015]);
    }

    #[test]
    fn poisson_gaps_are_exponential_at_the_asked_rate() {
        // 8 connections, mean period 80 ms each: merged mean gap 10 ms, coefficient of variation 1.
        let t = merged(Arrivals::Poisson, Duration::from_millis(80), 8, 2000);
        let (mean, cv) = mean_cv(&gaps(&t));
        assert!((mean - 0.010).abs() < 0.0005, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
        // Each connection alone too.
        let mut s = Schedule::new(Arrivals::Poisson, Duration::from_millis(80), 5, 8, 7);
        let one: Vec<f64> = (0..4000).map(|_| s.next_offset().as_secs_f64()).collect();
        let (mean, cv) = mean_cv(&gaps(&one));
        assert!((mean - 0.080).abs() < 0.004, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.06, "cv {cv}");
        assert!(one.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn poisson_connections_draw_different_gaps_and_a_seed_repeats() {
        let first = |c, seed| {
            Schedule::new(Arrivals::Poisson, Duration::from_millis(10), c, 4, seed).next_offset()
        };
        assert_ne!(first(0, 1), first(1, 1));
        assert_eq!(first(2, 9), first(2, 9));
    }
}
