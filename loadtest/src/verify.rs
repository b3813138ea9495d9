//! `--verify`: after the run, count what the target stored and compare with what it acknowledged.
//!
//! Counting uses `SELECT * FROM "m" WHERE time >= a AND time < b` with `epoch=ns` and counts the
//! returned rows, because it works on lineshard (which has no `count()`) and on influxd alike. The
//! time range is cut into windows of about `ROWS_PER_QUERY` expected rows so that no answer is large.

use lineshard::lineproto::Precision;

use crate::http::{self, pct};
use crate::report::VerifyReport;
use crate::run::Written;

pub const ROWS_PER_QUERY: u64 = 50_000;
/// Bound on queries per verify (a pathological spread of timestamps).
pub const QUERIES_MAX: u64 = 20_000;

pub struct Target<'a> {
    pub addr: &'a str,
    /// `/query?db=...&u=..&p=..` without `q` and `epoch`.
    pub query_path: &'a str,
    pub extra_headers: &'a str,
    pub measurement: &'a str,
}

/// The `[lo, hi)` nanosecond windows that cover `[min_ns, max_ns]` in `n` pieces.
pub fn windows(min_ns: i64, max_ns: i64, n: u64) -> Vec<(i64, i64)> {
    let n = n.max(1) as i128;
    let (lo, hi) = (min_ns as i128, max_ns as i128 + 1);
    let span = hi - lo;
    (0..n)
        .map(|i| ((lo + span * i / n) as i64, (lo + span * (i + 1) / n) as i64))
        .filter(|(a, b)| a < b)
        .collect()
}

/// Rows in a v1 `/query` JSON answer, or its error text.
pub fn count_rows(json: &[u8]) -> Result<u64, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("query answer is not JSON: {e}"))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(e.to_string());
    }
    let mut n = 0u64;
    for r in v
        .get("results")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(e) = r.get("error").and_then(|e| e.as_str()) {
            return Err(e.to_string());
        }
        if r.get("partial").and_then(|p| p.as_bool()) == Some(true) {
            return Err(
                "answer truncated (\"partial\": true): the server limits rows per query".into(),
            );
        }
        for s in r
            .get("series")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            n += s
                .get("values")
                .and_then(|v| v.as_array())
                .map_or(0, |v| v.len() as u64);
        }
    }
    Ok(n)
}

pub fn verify(t: &Target<'_>, w: &Written, precision: Precision) -> VerifyReport {
    let mut rep = VerifyReport {
        expected_rows: w.expected_rows,
        stored_rows: 0,
        queries: 0,
        ok: false,
        error: None,
    };
    if w.expected_rows == 0 {
        rep.error = Some("nothing was acknowledged".into());
        return rep;
    }
    let m = precision.multiplier_ns();
    let (min_ns, max_ns) = (w.ts_min.saturating_mul(m), w.ts_max.saturating_mul(m));
    let n = w.expected_rows.div_ceil(ROWS_PER_QUERY).min(QUERIES_MAX);
    for (a, b) in windows(min_ns, max_ns, n) {
        let q = format!(
            "SELECT * FROM \"{}\" WHERE time >= {a} AND time < {b}",
            t.measurement
        );
        let path = format!("{}&epoch=ns&q={}", t.query_path, pct(&q));
        let head = http::head("GET", &path, t.addr, 0, t.extra_headers);
        rep.queries += 1;
        let answer = http::oneshot(t.addr, &head, b"")
            .map_err(|e| e.to_string())
            .and_then(|r| {
                if r.status == 200 {
                    count_rows(&r.body)
                } else {
                    Err(format!(
                        "{}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body).trim()
                    ))
                }
            });
        match answer {
            Ok(c) => rep.stored_rows += c,
            Err(e) => {
                rep.error = Some(format!("query {q:?}: {e}"));
                return rep;
            }
        }
    }
    rep.ok = rep.stored_rows >= rep.expected_rows;
    if !rep.ok {
        rep.error = Some(format!(
            "{} acknowledged rows are missing",
            rep.expected_rows - rep.stored_rows
        ));
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_without_gaps() {
        let w = windows(10, 109, 3);
        assert_eq!(w.first().map(|x| x.0), Some(10));
        assert_eq!(w.last().map(|x| x.1), Some(110));
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
        assert_eq!(windows(5, 5, 4), vec![(5, 6)]);
    }

    #[test]
    fn counts_rows_of_every_series_and_reports_errors() {
        let ok = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","a"],"values":[[1,2],[3,4]]},{"name":"cpu","values":[[5,6]]}]}]}"#;
        assert_eq!(count_rows(ok), Ok(3));
        assert_eq!(count_rows(br#"{"results":[{"statement_id":0}]}"#), Ok(0));
        assert_eq!(
            count_rows(br#"{"results":[{"error":"database not found: x"}]}"#),
            Err("database not found: x".into())
        );
        assert!(count_rows(br#"{"results":[{"partial":true,"series":[]}]}"#).is_err());
        assert!(count_rows(b"nope").is_err());
    }
}
