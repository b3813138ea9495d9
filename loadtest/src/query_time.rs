//! `lineshard-load query-time`: times the same queries on several servers, one at a time.
//!
//! Each line of the queries file is a request target (`/query?q=...&db=...`). Every target goes to
//! every server in turn, over one keep-alive connection per server (reopened after a failure); the
//! server asked first alternates from one line to the next, so neither always runs on a cache the
//! other warmed. A query's latency runs from the first byte sent to the last byte of the answer's
//! body read, as TSBS's runner measures it. One JSON line per answer goes to stdout:
//! `{"line":N,"server":I,"status":S,"us":T,"body":"..."}` (status 0 and the error text as body for a
//! transport failure). Comparing the answers is the caller's job (scripts/compare_query.py).

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http::{head, parse_url, Conn, Response};

/// One server: its address, the base path of its URL, and the connection when open.
struct Target {
    addr: String,
    base: String,
    conn: Option<Conn>,
}

impl Target {
    /// (status, body, time taken); a transport failure is status 0 with its text as body.
    fn ask(&mut self, method: &str, target: &str) -> (u16, Vec<u8>, Duration) {
        let req = head(method, &format!("{}{target}", self.base), &self.addr, 0, "");
        let t0 = Instant::now();
        let got = match self.conn.take() {
            Some(c) => Ok(c),
            None => Conn::connect(&self.addr),
        }
        .map_err(crate::http::ClientError::from)
        .and_then(|mut c| c.request(&req, b"").map(|r| (r, c)));
        let took = t0.elapsed();
        match got {
            Ok((
                Response {
                    status,
                    body,
                    close,
                },
                c,
            )) => {
                if !close {
                    self.conn = Some(c);
                }
                (status, body, took)
            }
            Err(e) => (0, e.to_string().into_bytes(), took),
        }
    }
}

#[derive(serde::Serialize)]
struct Answer<'a> {
    line: usize,
    server: usize,
    status: u16,
    us: f64,
    body: &'a str,
}

/// Runs every line of `queries` against every URL; `warmup` first lines are sent once to each
/// server and not reported; stops starting new lines after `max_time`.
pub fn run(
    urls: &[String],
    queries: &Path,
    method: &str,
    warmup: usize,
    max_time: Duration,
) -> Result<(), String> {
    if method != "GET" && method != "POST" {
        return Err(format!("--method {method}: GET or POST"));
    }
    let mut targets = urls
        .iter()
        .map(|u| {
            parse_url(u).map(|(addr, base)| Target {
                addr,
                base,
                conn: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err("no --url".into());
    }
    let file = std::fs::File::open(queries).map_err(|e| format!("{}: {e}", queries.display()))?;
    let lines = io::BufReader::new(file)
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", queries.display()))?;
    for line in lines.iter().take(warmup) {
        for t in targets.iter_mut() {
            t.ask(method, line);
        }
    }
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    let deadline = Instant::now() + max_time;
    for (i, line) in lines.iter().enumerate() {
        if Instant::now() > deadline {
            break;
        }
        let n = targets.len();
        for k in 0..n {
            let server = (k + i) % n;
            let (status, body, took) = targets[server].ask(method, line);
            let answer = Answer {
                line: i,
                server,
                status,
                us: took.as_secs_f64() * 1e6,
                body: &String::from_utf8_lossy(&body),
            };
            serde_json::to_writer(&mut out, &answer).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}
