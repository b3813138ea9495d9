//! What `/metrics` reports, as each core counts it: plain integers and fixed-bucket histograms
//! in the core's own state (no atomics, nothing shared), so the write path pays an add to memory
//! the core already owns. A scrape asks every core for a [`Snapshot`] over the channel mesh,
//! merges them ([`Snapshot::merge`]) and encodes the sum (`api::metrics`, Prometheus text format).
//!
//! Labels are low-cardinality by construction: a database name (from the catalog), an endpoint
//! and a status from fixed sets, a rejection reason, a core number; never a series key.

use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds (seconds) of request and query latency buckets: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds (seconds) of WAL fdatasync buckets: 50 µs to 5 s.
pub const FSYNC_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

/// A histogram of durations with fixed bucket bounds: a count per bucket (the last one past
/// every bound), and the sum. Two of the same bounds merge by adding.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// `counts[i]`: observations in (bounds[i-1], bounds[i]]; the last: above every bound.
    counts: Vec<u64>,
    sum_seconds: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum_seconds: 0.0,
        }
    }

    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|&b| b < secs);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum_seconds += secs;
    }

    /// Adds `other`'s observations (bounds must be the same; others are ignored).
    pub fn merge(&mut self, other: &Histogram) {
        if self.bounds != other.bounds {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_seconds += other.sum_seconds;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_seconds
    }

    /// (upper bound, observations in that bucket alone) for every bound and `+Inf`; the
    /// encoder makes them cumulative, as Prometheus' `_bucket` series are.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().copied())
            .collect()
    }
}

/// The HTTP endpoints `lineshard_http_requests_total` tells apart (label `endpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Write,
    WriteV2,
    Query,
    Ping,
    Health,
    Metrics,
    /// Any other path (404), and heads that did not parse.
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Write,
        Endpoint::WriteV2,
        Endpoint::Query,
        Endpoint::Ping,
        Endpoint::Health,
        Endpoint::Metrics,
        Endpoint::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Write => "/write",
            Endpoint::WriteV2 => "/api/v2/write",
            Endpoint::Query => "/query",
            Endpoint::Ping => "/ping",
            Endpoint::Health => "/health",
            Endpoint::Metrics => "/metrics",
            Endpoint::Other => "other",
        }
    }
}

/// Why a line of a write was not stored (label `reason` of `lineshard_lines_rejected_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reject {
    /// The line does not parse.
    Parse,
    /// A field's type differs from the one stored for its measurement.
    TypeConflict,
    /// A limit: max-line-bytes, max-tags/fields-per-line, max-series-per-database,
    /// max-values-per-tag.
    Limit,
    /// Older than its retention policy keeps.
    Retention,
    /// A point 1.x refuses by its keys: a `time` tag, or `time` as its only field.
    Invalid,
}

impl Reject {
    pub const ALL: [Reject; 5] = [
        Reject::Parse,
        Reject::TypeConflict,
        Reject::Limit,
        Reject::Retention,
        Reject::Invalid,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reject::Parse => "parse",
            Reject::TypeConflict => "type_conflict",
            Reject::Limit => "limit",
            Reject::Retention => "retention",
            Reject::Invalid => "invalid",
        }
    }
}

/// What one core counts as it serves requests. Plain data, owned by the core.
#[derive(Debug, Clone)]
pub struct Counters {
    /// Points stored and acknowledged (a 204, or the kept lines of a partial write), by database.
    pub points_written: BTreeMap<String, u64>,
    /// Lines not stored, by database and reason.
    pub lines_rejected: BTreeMap<(String, Reject), u64>,
    /// Answered requests, by endpoint and status code.
    pub http_requests: BTreeMap<(Endpoint, u16), u64>,
    /// Request durations, indexed by `Endpoint as usize`.
    pub http_duration: Vec<Histogram>,
    /// /query statements that answered without an error, and with one.
    pub queries_ok: u64,
    pub queries_error: u64,
    pub query_duration: Histogram,
    /// Memtables sealed into segment files.
    pub seals: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            points_written: BTreeMap::new(),
            lines_rejected: BTreeMap::new(),
            http_requests: BTreeMap::new(),
            http_duration: Endpoint::ALL
                .iter()
                .map(|_| Histogram::new(LATENCY_BUCKETS))
                .collect(),
            queries_ok: 0,
            queries_error: 0,
            query_duration: Histogram::new(LATENCY_BUCKETS),
            seals: 0,
        }
    }
}

/// Adds `n` to `map[key]`, allocating the key only the first time it is seen.
fn add_to<K: Ord + Clone>(map: &mut BTreeMap<K, u64>, key: &K, n: u64) {
    match map.get_mut(key) {
        Some(v) => *v += n,
        None => {
            map.insert(key.clone(), n);
        }
    }
}

impl Counters {
    pub fn points_written(&mut self, db: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.points_written.get_mut(db) {
            Some(v) => *v += n,
            None => {
                self.points_written.insert(db.to_string(), n);
            }
        }
    }

    pub fn lines_rejected(&mut self, db: &str, reason: Reject, n: u64) {
        if n == 0 {
            return;
        }
        add_to(&mut self.lines_rejected, &(db.to_string(), reason), n);
    }

    pub fn http_request(&mut self, endpoint: Endpoint, status: u16, took: Duration) {
        add_to(&mut self.http_requests, &(endpoint, status), 1);
        if let Some(h) = self.http_duration.get_mut(endpoint as usize) {
            h.observe(took);
        }
    }

    pub fn query(&mut self, ok: bool, took: Duration) {
        if ok {
            self.queries_ok += 1;
        } else {
            self.queries_error += 1;
        }
        self.query_duration.observe(took);
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.points_written {
            add_to(&mut self.points_written, k, *v);
        }
        for (k, v) in &other.lines_rejected {
            add_to(&mut self.lines_rejected, k, *v);
        }
        for (k, v) in &other.http_requests {
            add_to(&mut self.http_requests, k, *v);
        }
        for (a, b) in self.http_duration.iter_mut().zip(&other.http_duration) {
            a.merge(b);
        }
        self.queries_ok += other.queries_ok;
        self.queries_error += other.queries_error;
        self.query_duration.merge(&other.query_duration);
        self.seals += other.seals;
    }
}

/// What the storage of one core holds and has done, read when a scrape asks.
#[derive(Debug, Clone)]
pub struct StorageStats {
    pub memtable_bytes: u64,
    pub segment_files: u64,
    pub segment_bytes: u64,
    /// Bytes written to the WAL since its partition opened.
    pub wal_bytes: u64,
    pub wal_fsync: Histogram,
}

impl Default for StorageStats {
    fn default() -> Self {
        StorageStats {
            memtable_bytes: 0,
            segment_files: 0,
            segment_bytes: 0,
            wal_bytes: 0,
            wal_fsync: Histogram::new(FSYNC_BUCKETS),
        }
    }
}

impl StorageStats {
    pub fn merge(&mut self, other: &StorageStats) {
        self.memtable_bytes += other.memtable_bytes;
        self.segment_files += other.segment_files;
        self.segment_bytes += other.segment_bytes;
        self.wal_bytes += other.wal_bytes;
        self.wal_fsync.merge(&other.wal_fsync);
    }
}

/// One core's answer to a scrape, or the sum of several.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub counters: Counters,
    pub storage: StorageStats,
    /// Memtable bytes and open client connections, by core.
    pub memtable_bytes: BTreeMap<usize, u64>,
    pub connections: BTreeMap<usize, u64>,
    /// Series in the series indexes, by database.
    pub series: BTreeMap<String, u64>,
}

impl Snapshot {
    /// Adds another core's snapshot (per-core gauges keep their core).
    pub fn merge(&mut self, other: &Snapshot) {
        self.counters.merge(&other.counters);
        self.storage.merge(&other.storage);
        for (k, v) in &other.memtable_bytes {
            add_to(&mut self.memtable_bytes, k, *v);
        }
        for (k, v) in &other.connections {
            add_to(&mut self.connections, k, *v);
        }
        for (k, v) in &other.series {
            add_to(&mut self.series, k, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_count_each_range_and_merge_by_adding() {
        let mut h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        assert_eq!(h.buckets(), vec![(0.001, 2), (0.01, 1), (f64::INFINITY, 1)]);
        let mut g = Histogram::new(&[0.001, 0.01]);
        g.observe(Duration::from_millis(2));
        g.merge(&h);
        assert_eq!(g.count(), 5);
        assert!((g.sum_seconds() - 1.0085).abs() < 1e-9);
        let mut other = Histogram::new(LATENCY_BUCKETS);
        other.merge(&h);
        assert_eq!(other.count(), 0, "different bounds do not merge");
    }

    #[test]
    fn counters_merge_by_key() {
        let mut a = Counters::default();
        a.points_written("db", 5);
        a.lines_rejected("db", Reject::Parse, 2);
        a.http_request(Endpoint::Write, 204, Duration::from_millis(1));
        let mut b = Counters::default();
        b.points_written("db", 7);
        b.points_written("other", 1);
        b.lines_rejected("db", Reject::Parse, 1);
        b.lines_rejected("db", Reject::Retention, 0);
        b.http_request(Endpoint::Write, 204, Duration::from_millis(1));
        b.http_request(Endpoint::Query, 200, Duration::from_millis(1));
        a.merge(&b);
        assert_eq!(a.points_written["db"], 12);
        assert_eq!(a.points_written["other"], 1);
        assert_eq!(a.lines_rejected[&("db".into(), Reject::Parse)], 3);
        assert!(!a
            .lines_rejected
            .contains_key(&("db".into(), Reject::Retention)));
        assert_eq!(a.http_requests[&(Endpoint::Write, 204)], 2);
        assert_eq!(a.http_duration[Endpoint::Write as usize].count(), 2);
        assert_eq!(a.http_duration[Endpoint::Query as usize].count(), 1);
    }
}
