//! `lineshard-load report DIR`: the report of a comparison folder, drawn again from its JSON files.
//!
//! The folder is what `scripts/compare.sh [--sweep]` and `scripts/latency.sh` write (and
//! `scripts/compare-query.sh` next to them):
//!
//! ```text
//! meta.json                       machine (cpu, cores, kernel) and per server version and settings
//! servers.txt                     "name peak_rss_mb data-check" per server, in run order
//! <server>.json                   the closed-loop capacity run (a lineshard-load --json report)
//! sweep/<server>/<step>.json      open-loop steps: <NNN>pct (share of its capacity), abs-<rows/s>
//! latency/servers.txt             as above, for scripts/latency.sh
//! latency/<server>/closed-<body>.json   closed loop by body: b10, b100, b1000, b5000, b5000gz
//! latency/<server>/open-<NNN>pct.json   open loop, 1000-line bodies, share of closed-b1000
//! query.json, query.md            scripts/compare-query.sh
//! ```
//!
//! It writes `report.md` and the SVG charts into the folder and returns the markdown. Every file is
//! optional: a part whose files are missing is left out, so runs made elsewhere, or of only some
//! servers, render too.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

/// Fractions of a server's own capacity that the sweep offers, in percent.
pub const LADDER_PCT: [u32; 6] = [10, 25, 50, 75, 90, 100];
/// The shares of capacity `scripts/latency.sh` measures latency at.
pub const LATENCY_PCT: [u32; 3] = [25, 50, 75];
/// Body sizes of `scripts/latency.sh`, in the order of its table.
pub const BODIES: [&str; 5] = ["b10", "b100", "b1000", "b5000", "b5000gz"];
/// Servers in the order the tables list them; others follow by name.
const KNOWN: [&str; 4] = ["lineshard", "influxd", "victoria-metrics", "discard"];

/// One step of the sweep: a label (`010pct`, `abs-20000`) and its offered rate in rows/s.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub label: String,
    pub rate: f64,
}

/// The open-loop rates of one server: `LADDER_PCT` of its `capacity` (rows/s), then those of the
/// `absolute` rates it can carry (below 90% of its capacity: at or above it the run would measure
/// a queue that only grows, which the 90% and 100% steps show already). No rate goes below `floor`
/// (each connection must send a few requests in a step); rates that the floor makes equal are
/// measured once.
pub fn ladder(capacity: f64, absolute: &[f64], floor: f64) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    if !(capacity.is_finite() && capacity > 0.0) {
        return steps;
    }
    let mut push = |label: String, rate: f64| {
        let rate = rate.max(floor).round();
        if !steps.iter().any(|s| (s.rate - rate).abs() < 0.5) {
            steps.push(Step { label, rate });
        }
    };
    for p in LADDER_PCT {
        push(format!("{p:03}pct"), capacity * f64::from(p) / 100.0);
    }
    for &a in absolute {
        if a.is_finite() && a > 0.0 && a < 0.9 * capacity {
            push(format!("abs-{a:.0}"), a);
        }
    }
    steps
}

/// The smallest rate (rows/s) at which each of `connections` sends `min_requests` bodies of
/// `batch` rows in `duration_s`.
pub fn rate_floor(batch: u64, connections: u64, duration_s: f64, min_requests: u64) -> f64 {
    (batch * connections * min_requests) as f64 / duration_s.max(0.001)
}

/// What the report needs of one `lineshard-load --json` run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub label: String,
    pub rate: Option<f64>,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    pub req_per_sec: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub errors: u64,
    pub batch: u64,
    pub connections: u64,
    pub gzip: bool,
    pub workload: String,
    pub elapsed_s: f64,
    /// (nines, ms): see plot::percentile_curve.
    pub curve: Vec<(f64, f64)>,
}

impl Run {
    fn from_json(label: &str, v: &Value) -> Option<Run> {
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let lat = |k: &str| {
            v["latency_ms"]
                .get(k)
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
        };
        let elapsed = f("elapsed_s").unwrap_or(0.0);
        Some(Run {
            label: label.to_string(),
            rate: f("rate"),
            rows_per_sec: f("rows_per_sec")?,
            mb_per_sec: f("mb_per_sec").unwrap_or(0.0),
            req_per_sec: if elapsed > 0.0 {
                f("requests").unwrap_or(0.0) / elapsed
            } else {
                0.0
            },
            p50: lat("p50"),
            p99: lat("p99"),
            p999: lat("p999"),
            errors: v["error_count"].as_u64().unwrap_or(0),
            batch: v["batch_size"].as_u64().unwrap_or(0),
            connections: v["connections"].as_u64().unwrap_or(0),
            gzip: v["gzip"].as_bool().unwrap_or(false),
            workload: v["workload"].as_str().unwrap_or("").to_string(),
            elapsed_s: elapsed,
            curve: v["percentile_curve"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    fn read(path: &Path, label: &str) -> Option<Run> {
        let text = std::fs::read(path).ok()?;
        Run::from_json(label, &serde_json::from_slice(&text).ok()?)
    }

    /// Carried the offered rate: no errors and at least 90% of it achieved.
    fn carried(&self) -> bool {
        self.errors == 0 && self.rate.is_some_and(|r| self.rows_per_sec >= 0.9 * r)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Server {
    pub name: String,
    pub rss_mb: Option<f64>,
    pub check: String,
    pub capacity: Option<Run>,
    pub sweep: Vec<Run>,
    pub latency_rss_mb: Option<f64>,
    pub closed: Vec<Run>,
    pub open: Vec<Run>,
}

pub struct Results {
    pub meta: Value,
    pub servers: Vec<Server>,
    pub query: Option<Value>,
    pub query_md: Option<String>,
}

/// `name rss check` lines.
fn servers_txt(path: &Path) -> Vec<(String, Option<f64>, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let rss = w.next().and_then(|r| r.parse().ok());
            Some((name, rss, w.next().unwrap_or("").to_string()))
        })
        .collect()
}

/// The JSON runs of a folder, by file stem, sorted.
fn runs_in(dir: &Path) -> Vec<Run> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|n| Run::read(&dir.join(n), n.trim_end_matches(".json")))
        .collect()
}

fn subdirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| {
                let e = e.ok()?;
                e.file_type().ok()?.is_dir().then_some(())?;
                e.file_name().into_string().ok()
            })
            .collect()
        })
        .unwrap_or_default()
}

impl Results {
    pub fn load(dir: &Path) -> Result<Results, String> {
        if !dir.is_dir() {
            return Err(format!("{}: not a folder", dir.display()));
        }
        let read_json = |name: &str| -> Option<Value> {
            serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok()
        };
        let meta = read_json("meta.json").unwrap_or(Value::Null);
        let compare = servers_txt(&dir.join("servers.txt"));
        let latency = servers_txt(&dir.join("latency/servers.txt"));
        let mut names: Vec<String> = compare.iter().map(|s| s.0.clone()).collect();
        for n in latency
            .iter()
            .map(|s| s.0.clone())
            .chain(subdirs(&dir.join("sweep")))
            .chain(subdirs(&dir.join("latency")))
        {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let rank = |n: &String| KNOWN.iter().position(|k| k == n).unwrap_or(KNOWN.len());
        names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        let servers = names
            .into_iter()
            .map(|name| {
                let c = compare.iter().find(|s| s.0 == name);
                let mut sweep = runs_in(&dir.join("sweep").join(&name));
                sweep.sort_by(|a, b| a.rate.unwrap_or(0.0).total_cmp(&b.rate.unwrap_or(0.0)));
                let lat = runs_in(&dir.join("latency").join(&name));
                let pick = |prefix: &str, keys: &[String]| -> Vec<Run> {
                    keys.iter()
                        .filter_map(|k| {
                            lat.iter()
                                .find(|r| r.label == format!("{prefix}{k}"))
                                .cloned()
                        })
                        .collect()
                };
                let bodies: Vec<String> = BODIES.iter().map(|b| b.to_string()).collect();
                let pcts: Vec<String> = LATENCY_PCT.iter().map(|p| format!("{p:03}pct")).collect();
                Server {
                    rss_mb: c.and_then(|c| c.1),
                    check: c.map_or(String::new(), |c| c.2.clone()),
                    capacity: Run::read(&dir.join(format!("{name}.json")), "capacity"),
                    sweep,
                    latency_rss_mb: latency.iter().find(|s| s.0 == name).and_then(|s| s.1),
                    closed: pick("closed-", &bodies),
                    open: pick("open-", &pcts),
                    name,
                }
            })
            .collect();
        Ok(Results {
            meta,
            servers,
            query: read_json("query.json"),
            query_md: std::fs::read_to_string(dir.join("query.md")).ok(),
        })
    }

    /// The highest sweep rate that every server with a sweep was offered and carried (no errors,
    /// 90% of it achieved): where their percentile curves are compared. The absolute rates are
    /// there for this; a share of one server's capacity counts too when it is the same rate.
    pub fn common_rate(&self) -> Option<f64> {
        let swept: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| !s.sweep.is_empty())
            .collect();
        let first = swept.first()?;
        first
            .sweep
            .iter()
            .filter_map(|r| r.rate)
            .filter(|&rate| {
                swept
                    .iter()
                    .all(|s| s.sweep.iter().any(|r| r.rate == Some(rate) && r.carried()))
            })
            .reduce(f64::max)
    }
}

/// A colour per server: lineshard red, influxd blue, VictoriaMetrics green, discard grey.
fn color(name: &str, i: usize) -> RGBColor {
    match name {
        "lineshard" => RGBColor(214, 39, 40),
        "influxd" => RGBColor(31, 119, 180),
        "victoria-metrics" => RGBColor(44, 160, 44),
        "discard" => RGBColor(127, 127, 127),
        _ => [
            RGBColor(148, 103, 189),
            RGBColor(255, 127, 14),
            RGBColor(23, 190, 207),
        ][i % 3],
    }
}

fn e<T: std::fmt::Display>(x: T) -> String {
    x.to_string()
}

fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Log-scale bounds around the values, with some room.
fn log_bounds(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.1, 10.0);
    }
    (lo / 1.5, hi * 1.5)
}

/// p99 (solid) and p50 (dashed) against achieved rows/s, log scales, one colour per server.
fn draw_latency_vs_throughput(r: &Results, path: &Path) -> Result<(), String> {
    let pts = |s: &Server, p: fn(&Run) -> f64| -> Vec<(f64, f64)> {
        s.sweep
            .iter()
            .filter(|x| x.rows_per_sec > 0.0 && p(x) > 0.0)
            .map(|x| (x.rows_per_sec, p(x)))
            .collect()
    };
    let all: Vec<&Run> = r.servers.iter().flat_map(|s| &s.sweep).collect();
    let (x0, x1) = log_bounds(all.iter().map(|x| x.rows_per_sec));
    let (y0, y1) = log_bounds(all.iter().flat_map(|x| [x.p50, x.p99]));
    let root = SVGBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut c = ChartBuilder::on(&root)
        .caption(
            "write latency against achieved throughput (open loop; p99 solid, p50 dashed)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("achieved rows/s (log)")
        .y_desc("latency ms (log)")
        .x_label_formatter(&|x| si(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(e)?;
    for (i, s) in r
        .servers
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.sweep.is_empty())
    {
        let col = color(&s.name, i);
        let p99 = pts(s, |x| x.p99);
        c.draw_series(LineSeries::new(p99.clone(), col.stroke_width(2)))
            .map_err(e)?
            .label(format!("{} p99", s.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        c.draw_series(p99.iter().map(|&p| Circle::new(p, 3, col.filled())))
            .map_err(e)?;
        c.draw_series(DashedLineSeries::new(pts(s, |x| x.p50), 6, 4, col.into()))
            .map_err(e)?
            .label(format!("{} p50", s.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], col));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// The percentile curves' x of p50 (`-log10(1 - 0.5)`, as `plot::percentile_curve` counts nines).
const P50_NINES: f64 = std::f64::consts::LOG10_2;

/// A percentile curve from p50 on: its points from p50, after one at p50 itself interpolated
/// between the two points around it (a curve that starts past p50 starts where it starts).
fn from_p50(curve: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(curve.len());
    let after = curve.partition_point(|p| p.0 < P50_NINES);
    if let (Some(&(x0, y0)), Some(&(x1, y1))) = (
        after.checked_sub(1).and_then(|b| curve.get(b)),
        curve.get(after),
    ) {
        if x1 > P50_NINES {
            out.push((P50_NINES, y0 + (y1 - y0) * (P50_NINES - x0) / (x1 - x0)));
        }
    }
    out.extend_from_slice(&curve[after..]);
    out
}

/// A server's percentile curve: its colour index, the server, (nines, ms) from p50.
type Curve<'a> = (usize, &'a Server, Vec<(f64, f64)>);

/// Latency by percentile of every server at one rate, overlaid.
fn draw_percentiles(r: &Results, rate: f64, path: &Path) -> Result<(), String> {
    let curves: Vec<(usize, &Server, &Run)> = r
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let run = s
                .sweep
                .iter()
                .find(|x| x.rate == Some(rate) && !x.curve.is_empty())?;
            Some((i, s, run))
        })
        .collect();
    let curves: Vec<Curve> = curves
        .into_iter()
        .map(|(i, s, run)| (i, s, from_p50(&run.curve)))
        .collect();
    let (y0, y1) = log_bounds(curves.iter().flat_map(|c| c.2.iter().map(|p| p.1)));
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut c = ChartBuilder::on(&root)
        .caption(
            format!(
                "latency by percentile at {} rows/s offered, every server",
                si(rate)
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .margin_right(35)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(P50_NINES..4.0, (y0..y1).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .disable_x_mesh()
        .x_labels(0)
        .x_desc("percentile")
        .y_desc("latency ms (log)")
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(e)?;
    // The x axis is marked at p50, p90, p99, p99.9 and p99.99 (plotters would pick even steps of
    // the nines, which p50 is not one of).
    for (x, label) in [
        (P50_NINES, "p50"),
        (1.0, "p90"),
        (2.0, "p99"),
        (3.0, "p99.9"),
        (4.0, "p99.99"),
    ] {
        c.draw_series(LineSeries::new([(x, y0), (x, y1)], RGBColor(225, 225, 225)))
            .map_err(e)?;
        let (px, py) = c.backend_coord(&(x, y0));
        root.draw(&Text::new(
            label,
            (px - 14, py + 8),
            ("sans-serif", 14).into_font(),
        ))
        .map_err(e)?;
    }
    for (i, s, curve) in curves {
        let col = color(&s.name, i);
        c.draw_series(LineSeries::new(curve, col.stroke_width(2)))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// One bar: its label, value and colour.
type Bar = (String, f64, RGBColor);

/// Bars per server, one panel per (title, values).
fn draw_bars(path: &Path, title: &str, panels: &[(&str, Vec<Bar>)]) -> Result<(), String> {
    let root = SVGBackend::new(path, (400 * panels.len().max(1) as u32, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    for (area, (name, bars)) in root
        .split_evenly((1, panels.len().max(1)))
        .iter()
        .zip(panels)
    {
        let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.15;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut c = ChartBuilder::on(area)
            .caption(*name, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..(bars.len() as f64 - 0.5), 0.0..top)
            .map_err(e)?;
        c.configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .disable_x_mesh()
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| si(*y))
            .draw()
            .map_err(e)?;
        c.draw_series(bars.iter().enumerate().map(|(i, (_, v, col))| {
            let x = i as f64;
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, *v)], col.filled())
        }))
        .map_err(e)?;
        c.draw_series(bars.iter().enumerate().map(|(i, (_, v, _))| {
            Text::new(
                si(*v),
                (i as f64 - 0.2, *v + top * 0.06),
                ("sans-serif", 14),
            )
        }))
        .map_err(e)?;
    }
    root.present().map_err(e)
}

/// scripts/latency.sh: requests/s and rows/s by body size, and p50 (dashed)/p99 at shares of
/// capacity, one colour per server.
fn draw_latency_script(r: &Results, path: &Path) -> Result<(), String> {
    let root = SVGBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let areas = root.split_evenly((1, 3));
    let bodies = |s: &Server, f: fn(&Run) -> f64| -> Vec<(f64, f64)> {
        s.closed
            .iter()
            .filter_map(|run| {
                let i = BODIES
                    .iter()
                    .position(|b| run.label == format!("closed-{b}"))?;
                (f(run) > 0.0).then(|| (i as f64, f(run)))
            })
            .collect()
    };
    type Metric = (&'static str, fn(&Run) -> f64);
    let metrics: [Metric; 2] = [
        ("requests/s by body (closed loop)", |x| x.req_per_sec),
        ("rows/s by body (closed loop)", |x| x.rows_per_sec),
    ];
    for (area, (title, f)) in areas.iter().zip(metrics) {
        let (y0, y1) = log_bounds(r.servers.iter().flat_map(|s| bodies(s, f)).map(|p| p.1));
        let mut c = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(65)
            .build_cartesian_2d(-0.3..4.3, (y0..y1).log_scale())
            .map_err(e)?;
        c.configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .x_labels(5)
            .x_label_formatter(&|x: &f64| {
                let i = x.round();
                if (x - i).abs() < 0.05 && (0.0..5.0).contains(&i) {
                    ["10", "100", "1000", "5000", "5000 gz"][i as usize].to_string()
                } else {
                    String::new()
                }
            })
            .x_desc("lines per body")
            .y_label_formatter(&|y| si(*y))
            .draw()
            .map_err(e)?;
        for (i, s) in r.servers.iter().enumerate() {
            let col = color(&s.name, i);
            let pts = bodies(s, f);
            c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .map_err(e)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
            c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(e)?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
    }
    let pct = |run: &Run| {
        run.label
            .trim_start_matches("open-")
            .trim_end_matches("pct")
            .parse::<f64>()
            .ok()
    };
    let (y0, y1) = log_bounds(
        r.servers
            .iter()
            .flat_map(|s| &s.open)
            .flat_map(|x| [x.p50, x.p99]),
    );
    let mut c = ChartBuilder::on(&areas[2])
        .caption(
            "open loop, 1000-line bodies: p99 solid, p50 dashed",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(20.0..80.0, (y0..y1).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("offered load, % of the server's capacity")
        .y_desc("latency ms (log)")
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(e)?;
    for (i, s) in r
        .servers
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.open.is_empty())
    {
        let col = color(&s.name, i);
        let p99: Vec<(f64, f64)> = s
            .open
            .iter()
            .filter_map(|x| Some((pct(x)?, x.p99)))
            .collect();
        let p50: Vec<(f64, f64)> = s
            .open
            .iter()
            .filter_map(|x| Some((pct(x)?, x.p50)))
            .collect();
        c.draw_series(LineSeries::new(p99.clone(), col.stroke_width(2)))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        c.draw_series(p99.iter().map(|&p| Circle::new(p, 3, col.filled())))
            .map_err(e)?;
        c.draw_series(DashedLineSeries::new(p50, 6, 4, col.into()))
            .map_err(e)?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// compare-query: p50 per query type, a bar per server, log scale.
fn draw_query(q: &Value, path: &Path) -> Result<(), String> {
    let servers: Vec<String> = q["config"]["servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let types: Vec<&Value> = q["types"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let val = |t: &Value, s: &str| {
        t.get(s)
            .and_then(|x| x["p50_ms"].as_f64())
            .filter(|v| *v > 0.0)
    };
    let (y0, y1) = log_bounds(
        types
            .iter()
            .flat_map(|t| servers.iter().filter_map(|s| val(t, s))),
    );
    let root = SVGBackend::new(path, (1100, 550)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let names: Vec<String> = types
        .iter()
        .map(|t| t["type"].as_str().unwrap_or("?").to_string())
        .collect();
    let mut c = ChartBuilder::on(&root)
        .caption("query latency p50 by TSBS query type", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(types.len() as f64 - 0.5), (y0..y1).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .disable_x_mesh()
        .x_labels(types.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("p50 ms (log)")
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(e)?;
    let n = servers.len().max(1) as f64;
    let w = 0.8 / n;
    for (j, s) in servers.iter().enumerate() {
        let col = color(s, j);
        let bars: Vec<(f64, f64)> = types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i as f64 - 0.4 + w * j as f64, val(t, s)?)))
            .collect();
        c.draw_series(
            bars.iter()
                .map(|&(x, v)| Rectangle::new([(x, y0), (x + w * 0.9, v)], col.filled())),
        )
        .map_err(e)?
        .label(s.clone())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], col.filled()));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn machine_md(meta: &Value) -> String {
    let mut s = String::new();
    let m = &meta["machine"];
    if m.is_object() {
        s += &format!(
            "Machine: {}, {} cores, Linux {}.",
            m["cpu"].as_str().unwrap_or("?"),
            m["cores"].as_u64().map_or("?".into(), |c| c.to_string()),
            m["kernel"].as_str().unwrap_or("?")
        );
        if let Some(c) = meta["server_cores"].as_str() {
            s += &format!(" Servers pinned to cores {c}");
        }
        if let Some(c) = meta["loader_cores"].as_str() {
            s += &format!(", the loader to cores {c}.");
        }
        if let Some(d) = meta["date"].as_str() {
            s += &format!(" Run {d}.");
        }
        s += "\n\n";
    }
    if let Some(servers) = meta["servers"].as_object() {
        s += "| server | version | settings |\n|---|---|---|\n";
        let mut servers: Vec<(&String, &Value)> = servers.iter().collect();
        let rank = |n: &str| KNOWN.iter().position(|k| *k == n).unwrap_or(KNOWN.len());
        servers.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
        for (name, v) in servers {
            s += &format!(
                "| {name} | {} | {} |\n",
                v["version"].as_str().unwrap_or("?"),
                v["settings"].as_str().unwrap_or("")
            );
        }
        s += "\n";
    }
    if let Some(c) = meta["command"].as_str() {
        s += &format!("Command: `{c}`\n\n");
    }
    s
}

fn capacity_md(r: &Results) -> String {
    let caps: Vec<&Server> = r
        .servers
        .iter()
        .filter(|s| s.capacity.is_some() || !s.check.is_empty())
        .collect();
    if caps.is_empty() {
        return String::new();
    }
    let ours = r
        .servers
        .iter()
        .find(|s| s.name == "lineshard")
        .and_then(|s| s.capacity.as_ref())
        .map(|c| c.rows_per_sec);
    let mut s = String::from("## Closed-loop capacity\n\n| server | rows/s | MB/s | p50 ms | p99 ms | peak RSS MB | errors | data | lineshard × |\n|---|---:|---:|---:|---:|---:|---:|---|---:|\n");
    for srv in caps {
        let rss = srv.rss_mb.map_or("-".into(), |m| format!("{m:.0}"));
        match &srv.capacity {
            Some(c) => {
                let ratio = match ours {
                    Some(o) if srv.name != "lineshard" && c.rows_per_sec > 0.0 => {
                        format!("{:.2}", o / c.rows_per_sec)
                    }
                    _ => "-".into(),
                };
                s += &format!(
                    "| {} | {:.0} | {:.1} | {} | {} | {rss} | {} | {} | {ratio} |\n",
                    srv.name,
                    c.rows_per_sec,
                    c.mb_per_sec,
                    ms(c.p50),
                    ms(c.p99),
                    c.errors,
                    srv.check
                );
            }
            None => {
                s += &format!(
                    "| {} | - | - | - | - | {rss} | - | {} | - |\n",
                    srv.name, srv.check
                )
            }
        }
    }
    if let Some(c) = r.servers.iter().find_map(|s| s.capacity.as_ref()) {
        s += &format!(
            "\nWorkload {}, {} rows a request{}, {} connections, {:.0} s a server; `lineshard ×` = lineshard's rows/s ÷ that server's.\n",
            c.workload,
            c.batch,
            if c.gzip { " gzipped" } else { "" },
            c.connections,
            c.elapsed_s
        );
    }
    s + "\n"
}

fn sweep_md(r: &Results) -> String {
    if r.servers.iter().all(|s| s.sweep.is_empty()) {
        return String::new();
    }
    let mut s = String::from("## Latency against load (open loop)\n\n![latency against throughput](latency-vs-throughput.svg)\n\n");
    s += "Each server is offered a ladder of rates: shares of its own closed-loop capacity and absolute rates below it, \
          one request every period spread evenly over the connections; latency counts from each request's intended send time. \
          A share whose rate would give a connection fewer than three requests in a step is offered at that floor instead.\n\n";
    s += "| server | step | offered rows/s | achieved rows/s | p50 ms | p99 ms | p99.9 ms | errors |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
    for srv in &r.servers {
        for x in &srv.sweep {
            let step = match x.label.strip_prefix("abs-") {
                Some(_) => "absolute".to_string(),
                None => format!(
                    "{}%",
                    x.label.trim_end_matches("pct").trim_start_matches('0')
                ),
            };
            s += &format!(
                "| {} | {step} | {:.0} | {:.0} | {} | {} | {} | {} |\n",
                srv.name,
                x.rate.unwrap_or(0.0),
                x.rows_per_sec,
                ms(x.p50),
                ms(x.p99),
                ms(x.p999),
                x.errors
            );
        }
    }
    s += "\n";
    if let Some(rate) = r.common_rate() {
        s += &format!(
            "## Percentiles at {} rows/s, every server\n\n![percentiles](percentiles.svg)\n\n",
            si(rate)
        );
    } else if r.servers.iter().filter(|x| !x.sweep.is_empty()).count() > 1 {
        s +=
            "No rate of the sweep was carried by every server (no errors, 90% of it achieved), so \
              their percentile curves are not drawn: give `SWEEP_RATES` a rate the slowest can \
              carry.\n\n";
    }
    s
}

fn latency_md(r: &Results) -> String {
    let with: Vec<&Server> = r
        .servers
        .iter()
        .filter(|s| !s.closed.is_empty() || !s.open.is_empty())
        .collect();
    if with.is_empty() {
        return String::new();
    }
    let mut s = String::from("## Requests and rows by body size, latency at shares of capacity\n\n![by body size](latency.svg)\n\n");
    s += "| server | 10 lines | 100 lines | 1000 lines | 5000 lines | 5000 gzipped | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|\n";
    for srv in &with {
        s += &format!("| {} |", srv.name);
        for b in BODIES {
            match srv.closed.iter().find(|x| x.label == format!("closed-{b}")) {
                Some(x) => {
                    let err = if x.errors > 0 {
                        format!(", {} errors", x.errors)
                    } else {
                        String::new()
                    };
                    s += &format!(
                        " {} req/s, {} rows/s (p50 {} ms){err} |",
                        si(x.req_per_sec),
                        si(x.rows_per_sec),
                        ms(x.p50)
                    );
                }
                None => s += " - |",
            }
        }
        s += &format!(
            " {} |\n",
            srv.latency_rss_mb.map_or("-".into(), |m| format!("{m:.0}"))
        );
    }
    s += "\nOpen loop, 1000-line bodies, offered at a share of that server's 1000-line closed-loop rate:\n\n";
    s += "| server |";
    for p in LATENCY_PCT {
        s += &format!(" {p}%: rows/s, p50 / p99 ms |");
    }
    s += "\n|---|";
    s += &"---:|".repeat(LATENCY_PCT.len());
    s += "\n";
    for srv in &with {
        s += &format!("| {} |", srv.name);
        for p in LATENCY_PCT {
            match srv
                .open
                .iter()
                .find(|x| x.label == format!("open-{p:03}pct"))
            {
                Some(x) => {
                    s += &format!(" {}, {} / {} |", si(x.rows_per_sec), ms(x.p50), ms(x.p99))
                }
                None => s += " - |",
            }
        }
        s += "\n";
    }
    if let Some(x) = with.iter().find_map(|s| s.closed.first()) {
        s += &format!(
            "\nWorkload {}, {} connections, {:.0} s a step; requests/s counts every answer, rows/s the acknowledged rows.\n",
            x.workload, x.connections, x.elapsed_s
        );
    }
    s + "\n"
}

/// Writes report.md and the charts into the folder; returns the markdown.
pub fn render(dir: &Path) -> Result<String, String> {
    let r = Results::load(dir)?;
    let mut md = String::from("# Peer comparison\n\n");
    md += &machine_md(&r.meta);
    md += &capacity_md(&r);
    if r.servers.iter().any(|s| s.capacity.is_some()) {
        let bars = |f: fn(&Server) -> Option<f64>| -> Vec<Bar> {
            r.servers
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((s.name.clone(), f(s)?, color(&s.name, i))))
                .collect()
        };
        let path = dir.join("throughput.svg");
        draw_bars(
            &path,
            "closed-loop capacity and memory",
            &[
                ("rows/s", bars(|s| Some(s.capacity.as_ref()?.rows_per_sec))),
                (
                    "MB/s of request bodies",
                    bars(|s| Some(s.capacity.as_ref()?.mb_per_sec)),
                ),
                ("peak RSS MB", bars(|s| s.rss_mb)),
            ],
        )?;
        md += "![throughput and memory](throughput.svg)\n\n";
    }
    if r.servers.iter().any(|s| !s.sweep.is_empty()) {
        let path = dir.join("latency-vs-throughput.svg");
        draw_latency_vs_throughput(&r, &path)?;
        if let Some(rate) = r.common_rate() {
            let path = dir.join("percentiles.svg");
            draw_percentiles(&r, rate, &path)?;
        }
    }
    md += &sweep_md(&r);
    if r.servers
        .iter()
        .any(|s| !s.closed.is_empty() || !s.open.is_empty())
    {
        let path = dir.join("latency.svg");
        draw_latency_script(&r, &path)?;
    }
    md += &latency_md(&r);
    if let Some(q) = &r.query {
        let path = dir.join("query.svg");
        draw_query(q, &path)?;
        md += "## TSBS queries\n\n![query latency by type](query.svg)\n\n";
        if let Some(t) = &r.query_md {
            md += t.trim_end();
            md += "\n\n";
        }
    }
    std::fs::write(dir.join("report.md"), &md).map_err(|e| format!("write report.md: {e}"))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_curves_are_drawn_from_p50() {
        let curve = [(0.0, 1.0), (0.25, 2.0), (0.35, 4.0), (1.0, 10.0)];
        let got = from_p50(&curve);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, P50_NINES);
        let want = 2.0 + 2.0 * (P50_NINES - 0.25) / 0.1;
        assert!((got[0].1 - want).abs() < 1e-9, "{got:?}");
        assert_eq!(&got[1..], &curve[2..]);
        // A curve whose first point is past p50 starts there; an empty one stays empty.
        assert_eq!(from_p50(&curve[2..]), curve[2..].to_vec());
        assert!(from_p50(&[]).is_empty());
        assert!(from_p50(&curve[..2]).is_empty());
    }

    #[test]
    fn ladder_is_shares_of_capacity_then_absolute_rates_it_can_carry() {
        let l = ladder(100_000.0, &[5_000.0, 50_000.0, 95_000.0, 200_000.0], 1000.0);
        let got: Vec<(&str, f64)> = l.iter().map(|s| (s.label.as_str(), s.rate)).collect();
        assert_eq!(
            got,
            [
                ("010pct", 10_000.0),
                ("025pct", 25_000.0),
                ("050pct", 50_000.0),
                ("075pct", 75_000.0),
                ("090pct", 90_000.0),
                ("100pct", 100_000.0),
                ("abs-5000", 5_000.0),
            ]
        );
    }

    #[test]
    fn ladder_bounds() {
        // A floor above the low steps raises them; equal rates are measured once.
        let l = ladder(10_000.0, &[100.0], 3_000.0);
        let rates: Vec<f64> = l.iter().map(|s| s.rate).collect();
        assert_eq!(rates, [3_000.0, 5_000.0, 7_500.0, 9_000.0, 10_000.0]);
        assert!(ladder(0.0, &[1.0], 1.0).is_empty());
        assert!(ladder(f64::NAN, &[1.0], 1.0).is_empty());
        assert!(ladder(1e6, &[f64::INFINITY, -5.0], 1.0)
            .iter()
            .all(|s| !s.label.starts_with("abs")));
        // 4 connections of 5000-row bodies, 3 requests each in 6 s: 10 000 rows/s.
        assert_eq!(rate_floor(5000, 4, 6.0, 3), 10_000.0);
    }
}
