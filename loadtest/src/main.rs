//! `lineshard-load`: the load generator that ships with lineshard.
//!
//! Aims TSBS-like line-protocol writes at any InfluxDB-compatible server (lineshard, influxd,
//! VictoriaMetrics), closed loop or open loop at `--rate` rows/s, prints a line per second and a final
//! table, optionally writes `--json` and `--plot`, and with `--verify` checks that every acknowledged
//! row was stored. See loadtest/README.md.

mod discard;
mod http;
mod plot;
mod query_time;
mod report;
mod results;
mod run;
mod schedule;
mod verify;
mod workload;

use lineshard::duration::parse_duration_arg;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lineshard::lineproto::Precision;

use crate::http::pct;
use crate::workload::Workload;

#[derive(Parser)]
#[command(
    name = "lineshard-load",
    version,
    about = "Load generator for InfluxDB-compatible write endpoints"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// A server that reads and discards request bodies and answers 204 (the loader's own ceiling).
    DiscardServer(DiscardArgs),
    /// Times the same queries (one request target a line) on every --url in turn, one JSON line an
    /// answer (scripts/compare-query.sh).
    QueryTime(QueryTimeArgs),
    /// Renders report.md and the SVG charts of a comparison folder again from its JSON files
    /// (scripts/compare.sh, scripts/latency.sh, scripts/compare-query.sh) and prints the markdown.
    Report {
        /// The results folder.
        dir: std::path::PathBuf,
    },
    /// Prints the open-loop rates of the sweep for one server, `label rows/s` a line: shares of
    /// its capacity, then the absolute rates below it, none under the floor.
    Ladder(LadderArgs),
}

#[derive(Args)]
struct LadderArgs {
    /// The server's closed-loop rows/s.
    #[arg(long)]
    capacity: f64,
    /// Absolute rates every server should carry, rows/s, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "")]
    absolute: Vec<String>,
    /// Rows per request, connections and seconds of a step: no rate below one where each
    /// connection sends --min-requests requests in a step.
    #[arg(long, default_value_t = 5000)]
    batch_size: u64,
    #[arg(long, default_value_t = 4)]
    connections: u64,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 3)]
    min_requests: u64,
}

#[derive(Args)]
struct QueryTimeArgs {
    /// A server, `http://host:port`; give it once per server.
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// The request targets, one a line (`/query?q=...&db=...`).
    #[arg(long)]
    queries: std::path::PathBuf,
    /// GET or POST (TSBS's runner sends POST with the query in the URL).
    #[arg(long, default_value = "POST")]
    method: String,
    /// This many first lines are sent once to each server first and not reported.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Start no new line after this long (`30s`, `10m`, or seconds).
    #[arg(long, default_value = "120", value_parser = parse_duration_arg)]
    max_time: Duration,
}

#[derive(Args)]
struct DiscardArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Pin connection threads to this CPU.
    #[arg(long)]
    core: Option<usize>,
    /// Exit after this long (`30s`, `10m`, `1h`, or seconds).
    #[arg(long, default_value = "3600", value_parser = parse_duration_arg)]
    lifetime_s: Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum Api {
    V1,
    V2,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    Ns,
    Us,
    Ms,
    S,
}

#[derive(Args)]
struct RunArgs {
    /// What to write.
    #[arg(long, value_enum, default_value = "tsbs-cpu")]
    workload: Workload,
    /// Base URL of the target (http only).
    #[arg(long, default_value = "http://127.0.0.1:8086")]
    url: String,
    #[arg(long, value_enum, default_value = "v1")]
    api: Api,
    /// Database (v1).
    #[arg(long, default_value = "benchmark")]
    db: String,
    /// Bucket (v2).
    #[arg(long)]
    bucket: Option<String>,
    /// Organization (v2).
    #[arg(long, default_value = "")]
    org: String,
    /// v2 token, sent as `Authorization: Token ...`.
    #[arg(long)]
    token: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    password: Option<String>,
    /// Send `CREATE DATABASE` first (v1).
    #[arg(long)]
    create_db: bool,
    /// Loader cores: connection c runs pinned on allowed core (c % threads).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Keep-alive connections in total (each on its own pinned thread).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Rows per request.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Pre-built bodies per connection (raised so one cycle covers every series).
    #[arg(long, default_value_t = 8)]
    pool_batches: usize,
    #[arg(long, value_enum, default_value = "ns")]
    precision: PrecisionArg,
    /// gzip the bodies (pre-compressed; a pool cycle is resent unchanged).
    #[arg(long)]
    gzip: bool,
    /// Open loop at this many rows/s (latency from the intended send time); closed loop if absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: each connection's sends spread evenly over its period (uniform, a phase offset per
    /// connection) or at exponential gaps (poisson, seeded).
    #[arg(long, value_enum, default_value = "uniform")]
    arrivals: schedule::Arrivals,
    /// How long to run: `10s`, `2m`, `1h30m`, or seconds (default 10s, or 1h as a bound when
    /// --rows is given).
    #[arg(long, value_parser = parse_duration_arg)]
    duration: Option<Duration>,
    /// Rows to send in total.
    #[arg(long)]
    rows: Option<u64>,
    /// Series count (tsbs-cpu: hosts). Default per workload: 1000, 1000000, 100.
    #[arg(long)]
    hosts: Option<u64>,
    /// First timestamp, seconds since the epoch (TSBS default: 2016-01-01T00:00:00Z).
    #[arg(long, default_value_t = 1_451_606_400)]
    start_epoch_s: i64,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<String>,
    /// Draw latency over time and the percentile curve as SVG.
    #[arg(long)]
    plot: Option<String>,
    /// After the run, check that the target stored every acknowledged row (`/query`).
    #[arg(long)]
    verify: bool,
    /// No line per second.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Cmd::DiscardServer(d)) => discard::serve(&d.bind, d.core, d.lifetime_s),
        Some(Cmd::QueryTime(q)) => {
            query_time::run(&q.urls, &q.queries, &q.method, q.warmup, q.max_time)
        }
        Some(Cmd::Report { dir }) => results::render(&dir).map(|md| print!("{md}")),
        Some(Cmd::Ladder(l)) => ladder(&l),
        None => load(&cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lineshard-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ladder(l: &LadderArgs) -> Result<(), String> {
    let absolute = l
        .absolute
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            a.trim()
                .parse::<f64>()
                .map_err(|_| format!("--absolute: {a:?} is not a rate"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let floor = results::rate_floor(l.batch_size, l.connections, l.duration, l.min_requests);
    for s in results::ladder(l.capacity, &absolute, floor) {
        println!("{} {:.0}", s.label, s.rate);
    }
    Ok(())
}

struct Paths {
    write: String,
    query: String,
    headers: String,
}

fn paths(a: &RunArgs, base: &str, precision: Precision) -> Result<Paths, String> {
    // v1 credentials go in u/p parameters; a token (or, for v2, user:password) in `Authorization: Token`.
    let mut auth = String::new();
    let mut headers = String::new();
    match (&a.token, &a.user, a.api) {
        (Some(t), _, _) => headers = format!("Authorization: Token {t}\r\n"),
        (None, Some(u), Api::V2) => {
            headers = format!(
                "Authorization: Token {u}:{}\r\n",
                a.password.as_deref().unwrap_or("")
            )
        }
        _ => {}
    }
    if let (Some(u), Api::V1) = (&a.user, a.api) {
        auth = format!(
            "&u={}&p={}",
            pct(u),
            pct(a.password.as_deref().unwrap_or(""))
        );
    }
    let (write, db) = match a.api {
        Api::V1 => {
            let p = match precision {
                Precision::Nanosecond => "n",
                Precision::Microsecond => "u",
                Precision::Millisecond => "ms",
                _ => "s",
            };
            (
                format!("{base}/write?db={}&precision={p}{auth}", pct(&a.db)),
                a.db.clone(),
            )
        }
        Api::V2 => {
            let bucket = a.bucket.clone().ok_or("--api v2 needs --bucket")?;
            let p = match precision {
                Precision::Nanosecond => "ns",
                Precision::Microsecond => "us",
                Precision::Millisecond => "ms",
                _ => "s",
            };
            let write = format!(
                "{base}/api/v2/write?org={}&bucket={}&precision={p}",
                pct(&a.org),
                pct(&bucket)
            );
            (write, bucket)
        }
    };
    Ok(Paths {
        write,
        query: format!("{base}/query?db={}{auth}", pct(&db)),
        headers,
    })
}

fn load(a: &RunArgs) -> Result<(), String> {
    let (addr, base) = http::parse_url(&a.url)?;
    let precision = match a.precision {
        PrecisionArg::Ns => Precision::Nanosecond,
        PrecisionArg::Us => Precision::Microsecond,
        PrecisionArg::Ms => Precision::Millisecond,
        PrecisionArg::S => Precision::Second,
    };
    if a.threads == 0 || a.connections == 0 || a.batch_size == 0 {
        return Err("--threads, --connections and --batch-size must be at least 1".into());
    }
    let p = paths(a, &base, precision)?;
    if a.create_db {
        // Not fatal: some targets create databases on first write or have no CREATE DATABASE.
        if let Err(e) = create_db(a, &addr, &p) {
            eprintln!("lineshard-load: warning: {e}");
        }
    }
    let duration = a
        .duration
        .unwrap_or(Duration::from_secs(if a.rows.is_some() {
            3600
        } else {
            10
        }));
    let cfg = run::RunConfig {
        workload: a.workload,
        addr: addr.clone(),
        url: a.url.clone(),
        write_path: p.write.clone(),
        extra_headers: p.headers.clone(),
        api: match a.api {
            Api::V1 => "v1".into(),
            Api::V2 => "v2".into(),
        },
        threads: a.threads,
        connections: a.connections,
        batch_rows: a.batch_size,
        pool_batches: a.pool_batches,
        precision,
        gzip: a.gzip,
        rate: a.rate,
        arrivals: a.arrivals,
        duration: duration.clamp(Duration::from_millis(1), Duration::from_secs(86_400)),
        rows: a.rows,
        hosts: a.hosts.unwrap_or(a.workload.default_hosts()),
        start_ns: a.start_epoch_s.saturating_mul(1_000_000_000),
        live: !a.quiet,
    };
    let mut out = run::run(&cfg)?;
    if a.verify {
        let t = verify::Target {
            addr: &addr,
            query_path: &p.query,
            extra_headers: &p.headers,
            measurement: a.workload.measurement(),
        };
        out.report.verify = Some(verify::verify(&t, &out.written, precision));
    }
    print!("{}", out.report.table());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&out.report).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("write {path}: {e}"))?;
    }
    if let Some(path) = &a.plot {
        let title = format!("{} → {}", out.report.workload, a.url);
        plot::draw(
            path,
            &title,
            &out.report.timeline,
            &plot::percentile_curve(&out.hist),
        )?;
    }
    match &out.report.verify {
        Some(v) if !v.ok => Err(format!(
            "verify failed: {}",
            v.error.clone().unwrap_or_default()
        )),
        _ if out.report.rows_acked == 0 => Err("no row was acknowledged".into()),
        _ => Ok(()),
    }
}

fn create_db(a: &RunArgs, addr: &str, p: &Paths) -> Result<(), String> {
    if matches!(a.api, Api::V2) {
        return Err(
            "--create-db is for --api v1 (v2 buckets are created with the server's own tools)"
                .into(),
        );
    }
    let q = format!("CREATE DATABASE \"{}\"", a.db.replace('"', "\\\""));
    // `q` in the URL of a POST: influxd accepts it, and so do servers that read no form bodies.
    let path = format!("{}&q={}", p.query, pct(&q));
    let head = http::head("POST", &path, addr, 0, &p.headers);
    let r = http::oneshot(addr, &head, b"").map_err(|e| format!("CREATE DATABASE: {e}"))?;
    if r.status / 100 != 2 {
        return Err(format!(
            "CREATE DATABASE: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("lineshard-load").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_as_the_issue_spells_them() {
        let cli = parse(&[
            "--threads",
            "2",
            "--connections",
            "8",
            "--url",
            "http://127.0.0.1:9/",
            "--api",
            "v2",
            "--db",
            "d",
            "--bucket",
            "b k",
            "--org",
            "o",
            "--token",
            "t",
            "--user",
            "u",
            "--password",
            "p w",
            "--create-db",
            "--rate",
            "1000",
            "--duration",
            "3",
            "--rows",
            "10",
            "--hosts",
            "5",
            "--json",
            "r.json",
            "--plot",
            "r.svg",
            "--verify",
            "--batch-size",
            "100",
            "--precision",
            "ms",
            "--gzip",
            "--workload",
            "wide",
        ]);
        let a = &cli.run;
        assert!(a.create_db && a.verify && a.gzip);
        assert_eq!(
            (a.threads, a.connections, a.batch_size, a.rows, a.hosts),
            (2, 8, 100, Some(10), Some(5))
        );
        let p = paths(a, "", Precision::Millisecond).unwrap();
        assert_eq!(p.write, "/api/v2/write?org=o&bucket=b%20k&precision=ms");
        assert_eq!(p.headers, "Authorization: Token t\r\n");
        assert_eq!(p.query, "/query?db=b%20k");
    }

    #[test]
    fn durations_as_load_testers_write_them() {
        let d = |v: &str| parse(&["--duration", v]).run.duration;
        assert_eq!(d("10s"), Some(Duration::from_secs(10)));
        assert_eq!(d("2m"), Some(Duration::from_secs(120)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("3"), Some(Duration::from_secs(3)));
        assert_eq!(d("2.5"), Some(Duration::from_millis(2500)));
        let err = Cli::try_parse_from(["lineshard-load", "--duration", "10 parsecs"])
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("--duration"), "{err}");
        let Some(Cmd::DiscardServer(ds)) =
            Cli::try_parse_from(["lineshard-load", "discard-server", "--lifetime-s", "5m"])
                .unwrap()
                .cmd
        else {
            panic!("not the discard server");
        };
        assert_eq!(ds.lifetime_s, Duration::from_secs(300));
    }

    #[test]
    fn v1_paths_carry_credentials_and_v1_precision() {
        let cli = parse(&[
            "--db",
            "my db",
            "--user",
            "u",
            "--password",
            "p&q",
            "--precision",
            "us",
        ]);
        let p = paths(&cli.run, "/base", Precision::Microsecond).unwrap();
        assert_eq!(p.write, "/base/write?db=my%20db&precision=u&u=u&p=p%26q");
        assert_eq!(p.query, "/base/query?db=my%20db&u=u&p=p%26q");
        assert_eq!(p.headers, "");
        let v2 = parse(&[
            "--api",
            "v2",
            "--bucket",
            "b",
            "--user",
            "u",
            "--password",
            "p",
        ]);
        assert_eq!(
            paths(&v2.run, "", Precision::Nanosecond).unwrap().headers,
            "Authorization: Token u:p\r\n"
        );
        assert!(paths(&parse(&["--api", "v2"]).run, "", Precision::Nanosecond).is_err());
    }

    #[test]
    fn discard_server_subcommand() {
        let cli = parse(&["discard-server", "--bind", "127.0.0.1:7", "--core", "0"]);
        assert!(matches!(
            cli.cmd,
            Some(Cmd::DiscardServer(DiscardArgs { core: Some(0), .. }))
        ));
    }
}
