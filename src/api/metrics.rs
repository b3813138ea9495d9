//! `GET /metrics`: every core's counters, gathered over the mesh when scraped, summed, and
//! written in the Prometheus text exposition format (0.0.4) by the `prometheus-client` crate,
//! with the process collector's standard families read from `/proc/self`.
//!
//! With `auth-enabled`, an admin user is required (as for 1.x's admin-only endpoints), unless
//! `[http] metrics-auth = false` leaves the endpoint open.

use super::auth::Principal;
use crate::http::Response;
use crate::metrics::{Endpoint, Histogram, Snapshot};
use crate::runtime::{Core, Measure};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::rc::Rc;

/// 1.x's answer when a user without admin rights asks for an admin-only endpoint.
const NOT_ADMIN: &str = "error authorizing admin access";

/// Whether `principal` may read `/metrics`.
pub fn authorized(core: &Core, principal: &Principal) -> bool {
    if !core.config().http.metrics_auth {
        return true;
    }
    match principal {
        Principal::Open => true,
        Principal::Anonymous => false,
        Principal::User(u) => u.admin,
    }
}

/// The `/metrics` answer.
pub async fn metrics(core: &Rc<Core>, principal: &Principal) -> Response {
    if !authorized(core, principal) {
        return Response::error(403, NOT_ADMIN);
    }
    let mut total = Snapshot::default();
    for answer in core.ask_all(|_| Measure).await {
        match answer {
            Ok(s) => total.merge(&s),
            Err(e) => return Response::error(500, &e.to_string()),
        }
    }
    match render(total, process_stats()) {
        Ok(text) => Response::json(200, text.into_bytes()).with_header(
            "Content-Type",
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE.to_string(),
        ),
        Err(_) => Response::error(500, "cannot encode metrics"),
    }
}

/// The text of a scrape.
fn render(snapshot: Snapshot, process: Option<ProcessStats>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families { snapshot, process }));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// One scrape's figures, encoded as the families `/metrics` documents.
#[derive(Debug)]
struct Families {
    snapshot: Snapshot,
    process: Option<ProcessStats>,
}

type Fmt = Result<(), std::fmt::Error>;

fn histogram(m: &mut MetricEncoder<'_>, h: &Histogram) -> Fmt {
    m.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &h.buckets(), None)
}

/// A family with one metric, no labels.
fn single(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    ty: MetricType,
    f: impl FnOnce(&mut MetricEncoder<'_>) -> Fmt,
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, None, ty)?;
    f(&mut m)
}

/// A family with one metric per label set.
fn family<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    ty: MetricType,
    metrics: impl IntoIterator<Item = (L, u64)>,
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, None, ty)?;
    for (labels, v) in metrics {
        let mut one = m.encode_family(&labels)?;
        match ty {
            MetricType::Counter => one.encode_counter::<NoLabelSet, _, u64>(&v, None)?,
            _ => one.encode_gauge(&v)?,
        }
    }
    Ok(())
}

impl Collector for Families {
    fn encode(&self, mut e: DescriptorEncoder) -> Fmt {
        use MetricType::{Counter, Gauge, Histogram as Hist};
        let s = &self.snapshot;
        let c = &s.counters;
        // Counter names leave out `_total`: the encoder adds it.
        family(
            &mut e,
            "lineshard_points_written",
            "Points stored and acknowledged to the client, by database.",
            Counter,
            c.points_written
                .iter()
                .map(|(db, &n)| ([("db", db.as_str())], n)),
        )?;
        family(
            &mut e,
            "lineshard_lines_rejected",
            "Lines of writes not stored, by database and reason (parse, type_conflict, limit, retention, invalid).",
            Counter,
            c.lines_rejected
                .iter()
                .map(|((db, r), &n)| ([("db", db.as_str()), ("reason", r.label())], n)),
        )?;
        family(
            &mut e,
            "lineshard_http_requests",
            "HTTP requests answered, by endpoint and status code.",
            Counter,
            c.http_requests.iter().map(|(&(ep, status), &n)| {
                (
                    vec![
                        ("endpoint", ep.label().to_string()),
                        ("status", status.to_string()),
                    ],
                    n,
                )
            }),
        )?;
        {
            let mut m = e.encode_descriptor(
                "lineshard_http_request_duration_seconds",
                "Time from a request's head read to its answer written, by endpoint.",
                None,
                Hist,
            )?;
            for (ep, h) in Endpoint::ALL.iter().zip(&c.http_duration) {
                if h.count() > 0 {
                    histogram(&mut m.encode_family(&[("endpoint", ep.label())])?, h)?;
                }
            }
        }
        single(
            &mut e,
            "lineshard_wal_fsync_duration_seconds",
            "Duration of the write-ahead log's fdatasyncs.",
            Hist,
            |m| histogram(m, &s.storage.wal_fsync),
        )?;
        single(
            &mut e,
            "lineshard_wal_bytes",
            "Bytes written to the write-ahead logs since their partitions opened.",
            Counter,
            |m| m.encode_counter::<NoLabelSet, _, u64>(&s.storage.wal_bytes, None),
        )?;
        family(
            &mut e,
            "lineshard_memtable_bytes",
            "Bytes held by the memtables (active and sealing), by core.",
            Gauge,
            s.memtable_bytes
                .iter()
                .map(|(core, &n)| ([("core", core.to_string())], n)),
        )?;
        single(
            &mut e,
            "lineshard_seals",
            "Memtables sealed into segment files.",
            Counter,
            |m| m.encode_counter::<NoLabelSet, _, u64>(&c.seals, None),
        )?;
        single(
            &mut e,
            "lineshard_segment_files",
            "Sealed segment files.",
            Gauge,
            |m| m.encode_gauge(&s.storage.segment_files),
        )?;
        single(
            &mut e,
            "lineshard_segment_bytes",
            "Bytes of sealed segment files.",
            Gauge,
            |m| m.encode_gauge(&s.storage.segment_bytes),
        )?;
        family(
            &mut e,
            "lineshard_series",
            "Series in the series index, by database (a series of two retention policies counts twice).",
            Gauge,
            s.series.iter().map(|(db, &n)| ([("db", db.as_str())], n)),
        )?;
        family(
            &mut e,
            "lineshard_connections",
            "Open client connections, by core.",
            Gauge,
            s.connections
                .iter()
                .map(|(core, &n)| ([("core", core.to_string())], n)),
        )?;
        family(
            &mut e,
            "lineshard_queries",
            "/query statements answered, by status (ok or error).",
            Counter,
            [
                ([("status", "ok")], c.queries_ok),
                ([("status", "error")], c.queries_error),
            ],
        )?;
        single(
            &mut e,
            "lineshard_query_duration_seconds",
            "Duration of /query statements.",
            Hist,
            |m| histogram(m, &c.query_duration),
        )?;
        if let Some(p) = &self.process {
            p.encode(&mut e)?;
        }
        Ok(())
    }
}

/// The process collector's standard families, from `/proc/self`.
#[derive(Debug, Clone, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    start_time_seconds: f64,
    threads: u64,
}

/// Linux reports CPU times and start times in clock ticks of this many per second (`USER_HZ`,
/// fixed at 100 on every architecture lineshard runs on).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

impl ProcessStats {
    fn encode(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        use MetricType::{Counter, Gauge};
        single(
            e,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            Counter,
            |m| m.encode_counter::<NoLabelSet, _, u64>(&self.cpu_seconds, None),
        )?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                self.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                self.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                self.open_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                self.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads.",
                self.threads as f64,
            ),
        ];
        for (name, help, v) in gauges {
            single(e, name, help, Gauge, |m| m.encode_gauge(&v))?;
        }
        if let Some(max) = self.max_fds {
            single(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                Gauge,
                |m| m.encode_gauge(&max),
            )?;
        }
        Ok(())
    }
}

/// This process's figures, or `None` where `/proc` cannot be read.
fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    parse_process(&stat, &status, &boot, &limits, open_fds)
}

fn parse_process(
    stat: &str,
    status: &str,
    boot: &str,
    limits: &str,
    open_fds: u64,
) -> Option<ProcessStats> {
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14, 15 (utime, stime) and 22 (starttime) of proc(5), counted from field 3.
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let cpu_ticks = ticks(14)? + ticks(15)?;
    let start_ticks = ticks(22)?;
    let btime: u64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find_map(|l| l.strip_prefix(key))?;
        line.split_whitespace().next()?.parse::<u64>().ok()
    };
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok());
    Some(ProcessStats {
        cpu_seconds: cpu_ticks as f64 / CLOCK_TICKS_PER_SECOND,
        resident_bytes: kib("VmRSS:").unwrap_or(0) * 1024,
        virtual_bytes: kib("VmSize:").unwrap_or(0) * 1024,
        open_fds,
        max_fds,
        start_time_seconds: btime as f64 + start_ticks as f64 / CLOCK_TICKS_PER_SECOND,
        threads: status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Reject;
    use std::time::Duration;

    #[test]
    fn proc_files_parse_into_the_process_families() {
        let stat = "4242 (line shard) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 7 0 \
                    12345 1000 100 18446744073709551615";
        let status = "Name:\tlineshard\nThreads:\t7\nVmSize:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\n";
        let limits = "Limit Soft Limit Hard Limit Units\nMax open files            1024                 4096                 files\n";
        let p = parse_process(stat, status, boot, limits, 12).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.start_time_seconds, 1_700_000_123.45);
        assert_eq!(p.resident_bytes, 1024 * 1024);
        assert_eq!(p.virtual_bytes, 2048 * 1024);
        assert_eq!(p.threads, 7);
        assert_eq!(p.max_fds, Some(1024));
        assert_eq!(p.open_fds, 12);
        assert!(parse_process("garbage", "", "", "", 0).is_none());
        assert!(process_stats().is_some(), "this test runs on Linux");
    }

    #[test]
    fn the_text_is_prometheus_0_0_4_with_the_documented_names() {
        let mut s = Snapshot::default();
        s.counters.points_written("db0", 7);
        s.counters.lines_rejected("db0", Reject::Parse, 2);
        s.counters
            .http_request(Endpoint::Write, 204, Duration::from_millis(2));
        s.connections.insert(1, 3);
        let text = render(s, None).unwrap();
        for want in [
            "# TYPE lineshard_points_written_total counter\n",
            "lineshard_points_written_total{db=\"db0\"} 7\n",
            "lineshard_lines_rejected_total{db=\"db0\",reason=\"parse\"} 2\n",
            "lineshard_http_requests_total{endpoint=\"/write\",status=\"204\"} 1\n",
            "# TYPE lineshard_http_request_duration_seconds histogram\n",
            "lineshard_http_request_duration_seconds_bucket{endpoint=\"/write\",le=\"0.001\"} 0\n",
            "lineshard_http_request_duration_seconds_bucket{endpoint=\"/write\",le=\"0.0025\"} 1\n",
            "lineshard_http_request_duration_seconds_bucket{endpoint=\"/write\",le=\"+Inf\"} 1\n",
            "lineshard_http_request_duration_seconds_count{endpoint=\"/write\"} 1\n",
            "lineshard_wal_fsync_duration_seconds_count 0\n",
            "lineshard_connections{core=\"1\"} 3\n",
            "lineshard_queries_total{status=\"ok\"} 0\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(!text.contains("# EOF"), "OpenMetrics' end marker: {text}");
    }
}
