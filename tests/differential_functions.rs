//! `lineshard::query::func` against the real influxd (1.6.7): the same seeded points are
//! written to influxd and fed to the accumulators and transforms here, and every function's
//! answer must match influxd's JSON (floats to 1e-9 relative).
//!
//! Each expected answer is computed the way the engine computes it: one accumulator per series
//! (as each core holds its own series), merged into one per output series and bucket.
//!
//! Where 1.x's own answer depends on an unstable sort or on the order in which series are
//! merged, a case is left out, never loosened: `mode` where two values are equally frequent,
//! order-dependent transforms over points of several series at one time (the cases here read
//! one series per output series), `sample` with fewer points than asked (random in 1.x).

mod common;

use common::influxd::start_influxd;
use lineshard::query::func::{
    check, check_aggregate, integral_windows, transform, Accumulator, Aggregate, FieldType,
    Transform,
};
use lineshard::query::Value;
use std::net::SocketAddr;
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
/// The queried range [T0, T1); points lie from T0 - 30s to T1 + 10s.
const T0: i64 = 1_000_000 * SEC;
const T1: i64 = T0 + 120 * SEC;
const EVERY: i64 = 10 * SEC;
const HOSTS: [&str; 3] = ["a", "b", "c"];

/// One request on a fresh connection: status and body.
fn http10(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let r = common::influxd::raw(addr, method, target, &[], body.as_bytes());
    (r.status, r.text())
}

/// The first statement result of a query.
fn query(addr: SocketAddr, q: &str) -> serde_json::Value {
    let target = format!("/query?db=db&epoch=ns&q={}", common::urlencode(q));
    let (status, body) = http10(addr, "GET", &target, "");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: status {status}, {e}: {body}"));
    v["results"][0].clone()
}

/// splitmix64: the test's seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Point {
    host: &'static str,
    time: i64,
    fields: Vec<(&'static str, Value)>,
}

/// Fields: `f` float in quarters (exact sums, many repeats, negatives), `g` float with
/// arbitrary decimals (distinct values), `i` small integers, `big` integers near the i64
/// limits (sums overflow), `s` strings, `b` booleans; every field sparse. Hosts share times.
/// No point in [T0 + 50s, T0 + 70s): empty buckets.
fn points() -> Vec<Point> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::new();
    for host in HOSTS {
        for step in -30..130 {
            let time = T0 + step * SEC + if step % 7 == 3 { 500_000_000 } else { 0 };
            if (50..70).contains(&step) || !rng.chance(60) {
                continue;
            }
            let mut fields = Vec::new();
            if rng.chance(90) {
                fields.push(("f", Value::Float((rng.below(801) as f64 - 400.0) / 4.0)));
            }
            if rng.chance(80) {
                let g = (rng.below(2_000_000_001) as f64 - 1e9) / 1e3;
                fields.push(("g", Value::Float(g)));
            }
            if rng.chance(90) {
                fields.push(("i", Value::Int(rng.below(41) as i64 - 20)));
            }
            if rng.chance(30) {
                let big = if rng.chance(50) {
                    i64::MAX - rng.below(1000) as i64
                } else {
                    i64::MIN + 2 + rng.below(1000) as i64
                };
                fields.push(("big", Value::Int(big)));
            }
            if rng.chance(70) {
                let s = ["x", "y", "z", "w"][rng.below(4) as usize];
                fields.push(("s", Value::Str(Arc::from(s))));
            }
            if rng.chance(70) {
                fields.push(("b", Value::Bool(rng.chance(50))));
            }
            if fields.is_empty() {
                fields.push(("i", Value::Int(0)));
            }
            out.push(Point { host, time, fields });
        }
    }
    out
}

fn line_protocol(points: &[Point]) -> String {
    let mut out = String::new();
    for p in points {
        let fields: Vec<String> = p
            .fields
            .iter()
            .map(|(k, v)| match v {
                Value::Float(f) => format!("{k}={f:?}"),
                Value::Int(i) => format!("{k}={i}i"),
                Value::Str(s) => format!("{k}=\"{s}\""),
                Value::Bool(b) => format!("{k}={b}"),
                _ => unreachable!(),
            })
            .collect();
        out.push_str(&format!("m,h={} {} {}\n", p.host, fields.join(","), p.time));
    }
    out
}

fn field_type(field: &str) -> FieldType {
    match field {
        "f" | "g" => FieldType::Float,
        "i" | "big" => FieldType::Integer,
        "s" => FieldType::String,
        _ => FieldType::Boolean,
    }
}

/// A field's point: (host, time, value).
type FieldPoint = (&'static str, i64, Value);

/// The tags of an output series and its points.
type OutputSeries = (Vec<(String, String)>, Vec<FieldPoint>);

/// (host, time, value) of a field, in time order, within [from, to).
fn values(points: &[Point], field: &str, from: i64, to: i64) -> Vec<FieldPoint> {
    let mut out: Vec<_> = points
        .iter()
        .filter(|p| p.time >= from && p.time < to)
        .filter_map(|p| {
            let v = p.fields.iter().find(|(k, _)| *k == field)?;
            Some((p.host, p.time, v.1.clone()))
        })
        .collect();
    out.sort_by_key(|v| v.1);
    out
}

/// One expected output series: GROUP BY tags, rows (time first).
#[derive(Debug)]
struct Expected {
    tags: Vec<(String, String)>,
    rows: Vec<Vec<Value>>,
}

/// How an aggregate case groups.
#[derive(Clone, Copy, PartialEq)]
enum Group {
    None,
    Time,
    Host,
    TimeHost,
}

impl Group {
    fn clause(self) -> &'static str {
        match self {
            Group::None => "",
            Group::Time => " GROUP BY time(10s)",
            Group::Host => " GROUP BY h",
            Group::TimeHost => " GROUP BY time(10s), h",
        }
    }
    fn by_time(self) -> bool {
        matches!(self, Group::Time | Group::TimeHost)
    }
    fn by_host(self) -> bool {
        matches!(self, Group::Host | Group::TimeHost)
    }
}

/// The output series (tags, points) of a grouping.
fn groups(points: &[Point], field: &str, group: Group) -> Vec<OutputSeries> {
    let all = values(points, field, T0, T1);
    if group.by_host() {
        HOSTS
            .iter()
            .map(|h| {
                let tags = vec![("h".to_string(), h.to_string())];
                (tags, all.iter().filter(|v| v.0 == *h).cloned().collect())
            })
            .collect()
    } else {
        vec![(Vec::new(), all)]
    }
}

/// One bucket of an aggregate as the engine computes it: an accumulator per series (host),
/// merged.
fn bucket(agg: &Aggregate, pts: &[FieldPoint], aux_host: bool) -> Accumulator {
    let mut merged = Accumulator::new(agg);
    for h in HOSTS {
        let mut acc = Accumulator::new(agg);
        for (host, time, v) in pts.iter().filter(|p| p.0 == h) {
            let aux = if aux_host {
                vec![Value::Str(Arc::from(*host))]
            } else {
                Vec::new()
            };
            acc.push(*time, v, &aux);
        }
        merged.merge(acc);
    }
    merged
}

/// `SELECT <call>[, h] FROM m WHERE time >= T0 AND time < T1 <group>`.
fn expect_aggregate(
    points: &[Point],
    agg: &Aggregate,
    field: &str,
    group: Group,
    aux_host: bool,
) -> Result<Vec<Expected>, String> {
    check_aggregate(agg, field_type(field))?;
    let width = 2 + aux_host as usize;
    let no_fill = matches!(
        agg,
        Aggregate::Top { .. }
            | Aggregate::Bottom { .. }
            | Aggregate::Sample(_)
            | Aggregate::Distinct
    );
    let mut out = Vec::new();
    for (tags, pts) in groups(points, field, group) {
        let mut rows = Vec::new();
        if let (true, Aggregate::Integral { unit_ns }) = (group.by_time(), agg) {
            let series: Vec<(i64, Value)> = pts.iter().map(|p| (p.1, p.2.clone())).collect();
            let areas = integral_windows(&series, *unit_ns, |t| {
                let start = t - t.rem_euclid(EVERY);
                (start, start + EVERY)
            });
            // 1.x does not fill integral's buckets.
            for (start, area) in areas {
                rows.push(vec![Value::Time(start), Value::Float(area)]);
            }
        } else if group.by_time() {
            for start in (T0..T1).step_by(EVERY as usize) {
                let in_bucket: Vec<_> = pts
                    .iter()
                    .filter(|p| p.1 >= start && p.1 < start + EVERY)
                    .cloned()
                    .collect();
                let got = bucket(agg, &in_bucket, aux_host).finish(start, false);
                if got.is_empty() && !no_fill {
                    let mut row = vec![Value::Time(start)];
                    row.push(match agg {
                        Aggregate::Count | Aggregate::CountDistinct => Value::Int(0),
                        _ => Value::Null,
                    });
                    row.resize(width, Value::Null);
                    rows.push(row);
                }
                for r in got {
                    let mut row = vec![Value::Time(r.time), r.value];
                    row.extend(r.aux);
                    rows.push(row);
                }
            }
        } else {
            for r in bucket(agg, &pts, aux_host).finish(T0, true) {
                let mut row = vec![Value::Time(r.time), r.value];
                row.extend(r.aux);
                rows.push(row);
            }
        }
        if !rows.is_empty() {
            out.push(Expected { tags, rows });
        }
    }
    Ok(out)
}

/// Whether an influxd JSON cell is `v` (numbers: integers exactly, floats to 1e-9 relative).
fn same(json: &serde_json::Value, v: &Value) -> bool {
    let close = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    match v {
        Value::Null => json.is_null(),
        Value::Bool(b) => json.as_bool() == Some(*b),
        Value::Str(s) => json.as_str() == Some(&**s),
        Value::Time(t) | Value::Int(t) => json.as_i64() == Some(*t),
        Value::UInt(u) => json.as_u64() == Some(*u),
        Value::Float(f) => json.as_f64().is_some_and(|j| close(j, *f)),
    }
}

/// Differences between influxd's statement result and the expected answer, as text.
fn compare(result: &serde_json::Value, expected: &Result<Vec<Expected>, String>) -> Option<String> {
    match expected {
        Err(e) => (result["error"].as_str() != Some(e)).then(|| format!("want error {e:?}")),
        Ok(series) => {
            // Series by tags (1.x orders the series of some functions by map iteration, and may
            // split one series in parts; their order is the engine's business, not this one's).
            let mut got: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
            for g in result["series"].as_array().cloned().unwrap_or_default() {
                let tags = g["tags"].to_string();
                let rows = g["values"].as_array().cloned().unwrap_or_default();
                match got.iter_mut().find(|s| s.0 == tags) {
                    Some(s) => {
                        s.1.extend(rows);
                        s.1.sort_by_key(|r| r[0].as_i64());
                    }
                    None => got.push((tags, rows)),
                }
            }
            got.sort_by(|a, b| a.0.cmp(&b.0));
            if got.len() != series.len() {
                return Some(format!("{} series, want {}", got.len(), series.len()));
            }
            for ((tags, rows), want) in got.iter().zip(series) {
                let want_tags = if want.tags.is_empty() {
                    "null".to_string()
                } else {
                    let m: serde_json::Map<String, serde_json::Value> = want
                        .tags
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                        .collect();
                    serde_json::Value::Object(m).to_string()
                };
                if *tags != want_tags {
                    return Some(format!("tags {tags}, want {want_tags}"));
                }
                let matches = rows.len() == want.rows.len()
                    && rows.iter().zip(&want.rows).all(|(r, w)| {
                        let cells = r.as_array().cloned().unwrap_or_default();
                        cells.len() == w.len() && cells.iter().zip(w).all(|(c, v)| same(c, v))
                    });
                if !matches {
                    let at = rows
                        .iter()
                        .zip(&want.rows)
                        .position(|(r, w)| {
                            let cells = r.as_array().cloned().unwrap_or_default();
                            cells.len() != w.len() || !cells.iter().zip(w).all(|(c, v)| same(c, v))
                        })
                        .unwrap_or(rows.len().min(want.rows.len()));
                    return Some(format!(
                        "{} rows, want {}; from row {at}: {:?}, want {:?}",
                        rows.len(),
                        want.rows.len(),
                        rows.get(at),
                        want.rows.get(at)
                    ));
                }
            }
            None
        }
    }
}

struct Cases<'a> {
    addr: SocketAddr,
    diffs: Vec<String>,
    compared: usize,
    points: &'a [Point],
}

impl Cases<'_> {
    fn run(&mut self, q: &str, expected: Result<Vec<Expected>, String>) {
        let result = query(self.addr, q);
        self.compared += 1;
        if let Some(d) = compare(&result, &expected) {
            let cut = |s: String| s.chars().take(700).collect::<String>();
            self.diffs.push(format!(
                "{q}\n  influxd: {}\n  {}",
                cut(result.to_string()),
                cut(d)
            ));
        }
    }

    fn aggregate(&mut self, fname: &str, args: &str, agg: Aggregate, field: &str, group: Group) {
        self.aggregate_aux(fname, args, agg, field, group, false);
    }

    fn aggregate_aux(
        &mut self,
        fname: &str,
        args: &str,
        agg: Aggregate,
        field: &str,
        group: Group,
        aux_host: bool,
    ) {
        let call = match fname {
            "count_distinct" => format!("count(distinct({field}))"),
            _ => format!("{fname}({field}{args})"),
        };
        // top(f, h, n) has the tag as an output column already.
        let aux = if aux_host && !args.contains(", h,") {
            ", h"
        } else {
            ""
        };
        let q = format!(
            "SELECT {call}{aux} FROM m WHERE time >= {T0} AND time < {T1}{}",
            group.clause()
        );
        let expected = expect_aggregate(self.points, &agg, field, group, aux_host);
        self.run(&q, expected);
    }
}

/// Without GROUP BY time, 1.x's `first`/`last` read the series merged by time and take the
/// first point: of points of several series at the first (last) time, the one whose series the
/// merge puts first, not the rule `first`/`last` apply per bucket.
fn first_last_tied(points: &[Point], field: &str, group: Group) -> bool {
    groups(points, field, group).iter().any(|(_, pts)| {
        let (Some(lo), Some(hi)) = (pts.iter().map(|p| p.1).min(), pts.iter().map(|p| p.1).max())
        else {
            return false;
        };
        pts.iter().filter(|p| p.1 == lo).count() > 1 || pts.iter().filter(|p| p.1 == hi).count() > 1
    })
}

/// 1.x quirk: when the first bucket with points has too few points for `percentile` to pick
/// one, 1.x answers no series at all (later such buckets are `null`).
fn percentile_ends_early(points: &[Point], field: &str, group: Group, p: f64) -> bool {
    if !group.by_time() {
        return false;
    }
    groups(points, field, group).iter().any(|(_, pts)| {
        let Some(first) = pts.iter().map(|p| p.1).min() else {
            return false;
        };
        let start = first - (first - T0).rem_euclid(EVERY);
        let n = pts
            .iter()
            .filter(|p| p.1 >= start && p.1 < start + EVERY)
            .count();
        let i = (n as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
        i < 0 || i >= n as i64
    })
}

/// `sample(f, n)` with fewer than all points: 1.x picks at random, so what must agree is the
/// shape: per output series as many rows as here, each one of the series' points, in time order.
fn check_small_sample(cases: &mut Cases, field: &str, group: Group, n: usize) {
    let q = format!(
        "SELECT sample({field}, {n}) FROM m WHERE time >= {T0} AND time < {T1}{}",
        group.clause()
    );
    let result = query(cases.addr, &q);
    cases.compared += 1;
    let agg = Aggregate::Sample(n);
    let mut problems = Vec::new();
    if let Err(e) = check_aggregate(&agg, field_type(field)) {
        if result["error"].as_str() != Some(&e) {
            problems.push(format!("want error {e}"));
        }
    } else {
        let all = result["series"].as_array().cloned().unwrap_or_default();
        for (tags, pts) in groups(cases.points, field, group) {
            let tag = tags.first().map(|t| t.1.clone());
            let got: Vec<serde_json::Value> = all
                .iter()
                .filter(|s| s["tags"]["h"].as_str().map(str::to_string) == tag)
                .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                .collect();
            let starts: Vec<i64> = if group.by_time() {
                (T0..T1).step_by(EVERY as usize).collect()
            } else {
                vec![T0]
            };
            let width = if group.by_time() { EVERY } else { T1 - T0 };
            let mut want = 0;
            for start in starts {
                let b: Vec<_> = pts
                    .iter()
                    .filter(|p| p.1 >= start && p.1 < start + width)
                    .cloned()
                    .collect();
                want += bucket(&agg, &b, false).finish(start, false).len();
            }
            if got.len() != want {
                problems.push(format!("{tag:?}: {} rows, want {want}", got.len()));
            }
            if got.windows(2).any(|w| w[0][0].as_i64() > w[1][0].as_i64()) {
                problems.push(format!("{tag:?}: rows not in time order"));
            }
            for row in &got {
                let known = pts
                    .iter()
                    .any(|p| same(&row[0], &Value::Time(p.1)) && same(&row[1], &p.2));
                if !known {
                    problems.push(format!("{tag:?}: {row} is no point"));
                }
            }
        }
    }
    if !problems.is_empty() {
        cases.diffs.push(format!("{q}\n  {}", problems.join("; ")));
    }
}

/// 1.x's mode is decided by an unstable sort when two values are equally frequent.
fn mode_is_unique(points: &[Point], field: &str, group: Group) -> bool {
    groups(points, field, group).iter().all(|(_, pts)| {
        let buckets: Vec<Vec<_>> = if group.by_time() {
            (T0..T1)
                .step_by(EVERY as usize)
                .map(|s| pts.iter().filter(|p| p.1 >= s && p.1 < s + EVERY).collect())
                .collect()
        } else {
            vec![pts.iter().collect()]
        };
        buckets.iter().all(|b| {
            let mut counts: Vec<(String, usize)> = Vec::new();
            for p in b {
                let k = format!("{:?}", p.2);
                match counts.iter_mut().find(|c| c.0 == k) {
                    Some(c) => c.1 += 1,
                    None => counts.push((k, 1)),
                }
            }
            let max = counts.iter().map(|c| c.1).max().unwrap_or(0);
            max <= 1 || counts.iter().filter(|c| c.1 == max).count() == 1
        })
    })
}

#[test]
fn aggregates_and_selectors_match_influxd() {
    let influxd = start_influxd();
    let pts = points();
    query(influxd.addr, "CREATE DATABASE db");
    let (status, body) = http10(influxd.addr, "POST", "/write?db=db", &line_protocol(&pts));
    assert_eq!(status, 204, "{body}");
    let mut cases = Cases {
        addr: influxd.addr,
        diffs: Vec::new(),
        compared: 0,
        points: &pts,
    };
    let groups = [Group::None, Group::Time, Group::Host, Group::TimeHost];
    let mut modes = 0;
    let plain: Vec<(&str, Aggregate)> = vec![
        ("count", Aggregate::Count),
        ("count_distinct", Aggregate::CountDistinct),
        ("distinct", Aggregate::Distinct),
        ("mean", Aggregate::Mean),
        ("median", Aggregate::Median),
        ("spread", Aggregate::Spread),
        ("stddev", Aggregate::Stddev),
        ("sum", Aggregate::Sum),
        ("first", Aggregate::First),
        ("last", Aggregate::Last),
        ("max", Aggregate::Max),
        ("min", Aggregate::Min),
    ];
    for field in ["f", "g", "i", "big", "s", "b"] {
        for group in groups {
            for (fname, agg) in &plain {
                if *fname == "mean" && field == "big" {
                    continue; // deliberate difference: 1.x wraps int64 sums per series
                }
                let by_time = group.by_time();
                if matches!(*fname, "first" | "last")
                    && !by_time
                    && first_last_tied(&pts, field, group)
                {
                    continue;
                }
                cases.aggregate(fname, "", agg.clone(), field, group);
            }
            if mode_is_unique(&pts, field, group) {
                cases.aggregate("mode", "", Aggregate::Mode, field, group);
                modes += 1;
            }
            for (arg, p) in [
                (", 50", 50.0),
                (", 90", 90.0),
                (", 12.5", 12.5),
                (", 100", 100.0),
            ] {
                // With the point's time, which of equal values 1.x picks is unstable.
                let start_empty = percentile_ends_early(&pts, field, group, p);
                if (group.by_time() || field == "g") && !start_empty {
                    cases.aggregate("percentile", arg, Aggregate::Percentile(p), field, group);
                }
            }
            for n in [1, 3, 5] {
                let top = Aggregate::Top { n, tags: 0 };
                let bottom = Aggregate::Bottom { n, tags: 0 };
                cases.aggregate("top", &format!(", {n}"), top, field, group);
                cases.aggregate("bottom", &format!(", {n}"), bottom, field, group);
            }
            cases.aggregate("sample", ", 1000", Aggregate::Sample(1000), field, group);
            for n in [1, 2, 5] {
                check_small_sample(&mut cases, field, group, n);
            }
        }
        // Selectors with an aux column: the selected point's tag (fields where two hosts rarely
        // have the same value at the same time: which one's tag 1.x shows is not fixed).
        if !matches!(field, "g" | "i") {
            continue;
        }
        for group in [Group::None, Group::Time] {
            for (fname, agg) in [("max", Aggregate::Max), ("min", Aggregate::Min)] {
                cases.aggregate_aux(fname, "", agg, field, group, true);
            }
            // Which of equal values 1.x's unstable sort picks (its tag) is not fixed.
            if field == "g" {
                let p = Aggregate::Percentile(50.0);
                cases.aggregate_aux("percentile", ", 50", p, field, group, true);
            }
            if group.by_time() || !first_last_tied(&pts, field, group) {
                cases.aggregate_aux("first", "", Aggregate::First, field, group, true);
                cases.aggregate_aux("last", "", Aggregate::Last, field, group, true);
            }
            // top/bottom with a tag argument: the best point per host.
            for n in [1, 2, 3] {
                let top = Aggregate::Top { n, tags: 1 };
                let bottom = Aggregate::Bottom { n, tags: 1 };
                cases.aggregate_aux("top", &format!(", h, {n}"), top, field, group, true);
                cases.aggregate_aux("bottom", &format!(", h, {n}"), bottom, field, group, true);
            }
        }
    }
    for field in ["f", "g", "i", "big", "s", "b"] {
        // integral: one series per output series (1.x's order of equal times is not fixed).
        for group in [Group::Host, Group::TimeHost] {
            cases.aggregate(
                "integral",
                "",
                Aggregate::Integral { unit_ns: SEC },
                field,
                group,
            );
            let unit = Aggregate::Integral { unit_ns: 10 * SEC };
            cases.aggregate("integral", ", 10s", unit, field, group);
        }
    }
    assert!(cases.compared > 500, "{} cases", cases.compared);
    assert!(modes >= 8, "{modes} mode cases");
    assert!(
        cases.diffs.is_empty(),
        "{} of {} cases differ:\n{}",
        cases.diffs.len(),
        cases.compared,
        cases.diffs.join("\n")
    );
}

/// `SELECT <name>(<inner>) FROM m WHERE h = 'a' ... [fill(..)] [ORDER BY time DESC]`: raw points
/// of one series, or per-bucket aggregates (1.x reads one interval beyond the range's start, or
/// its end when descending, so that the first bucket has a previous one; not for cumulative_sum).
fn expect_transform(
    points: &[Point],
    fname: &str,
    t: &Transform,
    field: &str,
    bucketed: Option<(&str, Aggregate)>,
    fill: &str,
    desc: bool,
) -> Result<Vec<Expected>, String> {
    let rows: Vec<(i64, Value)> = match &bucketed {
        None => {
            check(fname, field_type(field))?;
            let mut rows: Vec<(i64, Value)> = values(points, field, T0, T1)
                .into_iter()
                .filter(|v| v.0 == "a")
                .map(|v| (v.1, v.2))
                .collect();
            if desc {
                rows.reverse();
            }
            rows
        }
        Some((inner, agg)) => {
            check(inner, field_type(field))?;
            let extra = if fname == "cumulative_sum" { 0 } else { EVERY };
            let (from, to) = if desc {
                (T0, T1 + extra)
            } else {
                (T0 - extra, T1)
            };
            let pts: Vec<_> = values(points, field, from, to)
                .into_iter()
                .filter(|v| v.0 == "a")
                .collect();
            let mut rows = Vec::new();
            for start in (from..to).step_by(EVERY as usize) {
                let b: Vec<_> = pts
                    .iter()
                    .filter(|p| p.1 >= start && p.1 < start + EVERY)
                    .cloned()
                    .collect();
                let r = bucket(agg, &b, false).finish(start, false);
                rows.push((start, r.into_iter().next().map_or(Value::Null, |r| r.value)));
            }
            if desc {
                rows.reverse();
            }
            let ty = rows.iter().find_map(|r| value_type(&r.1));
            if let Some(ty) = ty {
                check(fname, ty)?;
            }
            let mut previous = Value::Null;
            for row in &mut rows {
                if row.1 == Value::Null {
                    row.1 = match fill {
                        "0" => match ty {
                            Some(FieldType::Integer) => Value::Int(0),
                            _ => Value::Float(0.0),
                        },
                        "previous" => previous.clone(),
                        _ => Value::Null,
                    };
                }
                previous = row.1.clone();
            }
            rows
        }
    };
    let interval = bucketed.as_ref().map(|_| EVERY);
    let out = transform(t, &rows, interval);
    if out.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Expected {
        tags: Vec::new(),
        rows: out
            .into_iter()
            .map(|(t, v)| vec![Value::Time(t), v])
            .collect(),
    }])
}

fn value_type(v: &Value) -> Option<FieldType> {
    FieldType::of(v)
}

#[test]
fn transformations_match_influxd() {
    let influxd = start_influxd();
    let pts = points();
    query(influxd.addr, "CREATE DATABASE db");
    let (status, body) = http10(influxd.addr, "POST", "/write?db=db", &line_protocol(&pts));
    assert_eq!(status, 204, "{body}");
    let mut cases = Cases {
        addr: influxd.addr,
        diffs: Vec::new(),
        compared: 0,
        points: &pts,
    };
    let transforms: Vec<(&str, &str, Transform)> = vec![
        (
            "derivative",
            "",
            Transform::Derivative {
                unit_ns: None,
                non_negative: false,
            },
        ),
        (
            "derivative",
            ", 1m",
            Transform::Derivative {
                unit_ns: Some(60 * SEC),
                non_negative: false,
            },
        ),
        (
            "non_negative_derivative",
            "",
            Transform::Derivative {
                unit_ns: None,
                non_negative: true,
            },
        ),
        (
            "non_negative_derivative",
            ", 1ms",
            Transform::Derivative {
                unit_ns: Some(1_000_000),
                non_negative: true,
            },
        ),
        (
            "difference",
            "",
            Transform::Difference {
                non_negative: false,
            },
        ),
        (
            "non_negative_difference",
            "",
            Transform::Difference { non_negative: true },
        ),
        ("moving_average", ", 2", Transform::MovingAverage(2)),
        ("moving_average", ", 3", Transform::MovingAverage(3)),
        ("cumulative_sum", "", Transform::CumulativeSum),
        ("elapsed", "", Transform::Elapsed { unit_ns: None }),
        ("elapsed", ", 1s", Transform::Elapsed { unit_ns: Some(SEC) }),
        (
            "elapsed",
            ", 7ms",
            Transform::Elapsed {
                unit_ns: Some(7_000_000),
            },
        ),
    ];
    for field in ["f", "g", "i", "big", "s", "b"] {
        for (fname, args, t) in &transforms {
            for desc in [false, true] {
                let order = if desc { " ORDER BY time DESC" } else { "" };
                let q = format!(
                    "SELECT {fname}({field}{args}) FROM m WHERE h = 'a' AND time >= {T0} \
                     AND time < {T1}{order}"
                );
                cases.run(
                    &q,
                    expect_transform(&pts, fname, t, field, None, "null", desc),
                );
                for (inner, agg) in [
                    ("mean", Aggregate::Mean),
                    ("sum", Aggregate::Sum),
                    ("max", Aggregate::Max),
                ] {
                    if inner == "mean" && field == "big" {
                        continue; // deliberate difference: 1.x wraps int64 sums per series
                    }
                    for fill in ["null", "none", "0", "previous"] {
                        let q = format!(
                            "SELECT {fname}({inner}({field}){args}) FROM m WHERE h = 'a' \
                             AND time >= {T0} AND time < {T1} GROUP BY time(10s) fill({fill}){order}"
                        );
                        let inner = Some((inner, agg.clone()));
                        let expected = expect_transform(&pts, fname, t, field, inner, fill, desc);
                        cases.run(&q, expected);
                    }
                }
            }
        }
    }
    assert!(cases.compared > 100, "{} cases", cases.compared);
    assert!(
        cases.diffs.is_empty(),
        "{} of {} cases differ:\n{}",
        cases.diffs.len(),
        cases.compared,
        cases.diffs.join("\n")
    );
}
