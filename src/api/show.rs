//! The SHOW statements that read the series indexes and the schema, and SHOW QUERIES.
//!
//! Every core answers for its own series (`Show`) or for the field types it knows
//! (`ShowFieldKeys`); the answers are merged here (sorted sets, so a series or value held on
//! two cores counts once) and shaped as influxd 1.6.7 shapes them: one series per measurement,
//! LIMIT/OFFSET per series, SLIMIT/SOFFSET over the series of SHOW TAG KEYS. Which retention
//! policies a statement reads is also 1.6.7's: the index statements read every retention policy
//! of the database; SHOW FIELD KEYS and the exact cardinalities read the default one (or the
//! `FROM` source's).

use crate::query::{Series, Show, ShowStatement, Source, StatementResult, Value};
use crate::runtime::{Core, ListQueries, ShowFieldKeys};
use crate::storage::{merge_show, ShowAnswer, ShowRequest, ShowWhat};
use std::rc::Rc;
use std::sync::Arc;

fn text(b: &[u8]) -> Value {
    Value::Str(Arc::from(String::from_utf8_lossy(b).as_ref()))
}

fn count(n: usize) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Rows `offset..offset+limit` (limit 0 = all).
fn page<T>(rows: Vec<T>, limit: u64, offset: u64) -> Vec<T> {
    let it = rows
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX));
    match usize::try_from(limit) {
        Ok(0) => it.collect(),
        Ok(n) => it.take(n).collect(),
        Err(_) => it.collect(),
    }
}

fn series(name: Option<&[u8]>, columns: &[&str], values: Vec<Vec<Value>>) -> Series {
    Series {
        name: name.map(|n| String::from_utf8_lossy(n).into_owned()),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        values,
        ..Series::default()
    }
}

fn result(series: Vec<Series>) -> StatementResult {
    StatementResult {
        series: series
            .into_iter()
            .filter(|s| !s.values.is_empty())
            .collect(),
        ..StatementResult::default()
    }
}

async fn ask_show(core: &Rc<Core>, req: ShowRequest) -> Result<ShowAnswer, String> {
    let mut out = ShowAnswer::new();
    for a in core.ask_all(|_| crate::runtime::Show(req.clone())).await {
        merge_show(&mut out, a.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The start of the shard group of duration `d` that holds `t`: 1.x truncates times since Go's
/// zero time (0001-01-01 UTC), so 7-day groups start on Mondays.
pub(super) fn shard_group_start(t: i64, d: i64) -> i128 {
    const GO_ZERO_UNIX_NS: i128 = -62_135_596_800 * 1_000_000_000;
    let (t, d) = (i128::from(t), i128::from(d.max(1)));
    t - (t - GO_ZERO_UNIX_NS).rem_euclid(d)
}

/// The keys of the series of `req` (one retention policy) with a point in the shard groups
/// that `cond`'s time range reaches; `None` when the range cannot be read (then every series).
async fn series_in_shard_groups(
    core: &Rc<Core>,
    req: &ShowRequest,
    rp: &str,
    cond: &crate::query::ast::Expr,
) -> Result<Option<std::collections::HashSet<Vec<u8>>>, String> {
    use crate::storage::scan::{Condition, MeasurementMatch, ScanRequest};
    let Ok((min, max)) = crate::query::select::time_bounds(cond, super::now_ns()) else {
        return Ok(None);
    };
    let group = core
        .catalog()
        .databases
        .get(&req.db)
        .and_then(|d| d.rps.get(rp))
        .map(|r| r.shard_group_duration_ns);
    let Some(group) = group else {
        return Ok(None);
    };
    let lo = min.map_or(i64::MIN, |t| {
        i64::try_from(shard_group_start(t, group)).unwrap_or(i64::MIN)
    });
    let hi = max.map_or(i64::MAX, |t| {
        i64::try_from(shard_group_start(t, group) + i128::from(group)).unwrap_or(i64::MAX)
    });
    let measurements = if req.measurements.is_empty() {
        match regex::bytes::Regex::new("") {
            Ok(all) => vec![MeasurementMatch::Regex(all)],
            Err(_) => return Ok(None),
        }
    } else {
        req.measurements.clone()
    };
    let mut out = std::collections::HashSet::new();
    if lo >= hi {
        return Ok(Some(out));
    }
    for m in measurements {
        let scan = ScanRequest {
            db: req.db.clone(),
            rp: rp.to_string(),
            measurements: m,
            condition: Condition {
                time_min_ns: lo,
                time_max_ns: hi,
                tags: req.condition.clone(),
            },
            fields: None,
            edge: None,
        };
        let series = super::select::series_tags(core, &scan)
            .await
            .map_err(|e| e.error.unwrap_or_default())?;
        out.extend(series.iter().map(|(m, tags)| {
            crate::storage::series_key(m, tags.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
        }));
    }
    Ok(Some(out))
}

pub async fn execute(core: &Rc<Core>, stmt: ShowStatement, db: &str) -> StatementResult {
    if stmt.what == Show::Queries {
        return queries(core).await;
    }
    // 1.x refuses these in its statement rewrite, before it looks at the database.
    if stmt.has_time {
        let refused = match stmt.what {
            Show::Measurements => Some("SHOW MEASUREMENTS"),
            Show::SeriesCardinality { .. } => Some("SHOW SERIES EXACT CARDINALITY"),
            Show::MeasurementCardinality { .. } => Some("SHOW MEASUREMENT EXACT CARDINALITY"),
            Show::TagKeyCardinality { .. } => Some("SHOW TAG KEY EXACT CARDINALITY"),
            Show::FieldKeyCardinality { .. } => Some("SHOW FIELD KEY CARDINALITY"),
            _ => None,
        };
        if let Some(what) = refused {
            return StatementResult::error(format!("{what} doesn't support time in WHERE clause"));
        }
    }
    let db = stmt.database.clone().unwrap_or_else(|| db.to_string());
    if db.is_empty() {
        return StatementResult::error("database name required");
    }
    let default_rp = match core.catalog().databases.get(&db) {
        Some(d) => d.default_rp.clone(),
        // 1.6.7 answers these for a database it does not know as for an empty one.
        None => match stmt.what {
            Show::Measurements => return StatementResult::ok(),
            Show::SeriesCardinality { exact: false }
            | Show::MeasurementCardinality { exact: false } => {
                return result(vec![series(
                    None,
                    &["cardinality estimation"],
                    vec![vec![count(0)]],
                )])
            }
            _ => return StatementResult::error(format!("database not found: {db}")),
        },
    };
    if let Some(e) = &stmt.condition_error {
        return StatementResult::error(e.clone());
    }
    match run(core, stmt, db, default_rp).await {
        Ok(r) => r,
        Err(e) => StatementResult::error(e),
    }
}

async fn run(
    core: &Rc<Core>,
    stmt: ShowStatement,
    db: String,
    default_rp: String,
) -> Result<StatementResult, String> {
    let measurements = stmt.sources.iter().map(|s| s.measurement.clone()).collect();
    // The retention policy a default-RP statement reads: the first source's, else the default.
    let rp = stmt
        .sources
        .iter()
        .find_map(|s: &Source| s.retention_policy.clone())
        .unwrap_or(default_rp);
    let mut req = ShowRequest {
        db: db.clone(),
        rps: Vec::new(),
        measurements,
        condition: stmt.condition.clone(),
        what: ShowWhat::Measurements,
    };
    let (limit, offset) = (stmt.limit, stmt.offset);
    // 1.6.7 estimates a cardinality only when nothing narrows it; otherwise it counts exactly.
    let narrowed = !stmt.sources.is_empty()
        || !matches!(stmt.condition, crate::query::TagExpr::True)
        || stmt.has_time
        || limit != 0
        || offset != 0;
    let what = match stmt.what.clone() {
        Show::SeriesCardinality { exact } => Show::SeriesCardinality {
            exact: exact || narrowed,
        },
        Show::MeasurementCardinality { exact } => Show::MeasurementCardinality {
            exact: exact || narrowed,
        },
        w => w,
    };
    Ok(match &what {
        Show::Measurements => {
            let a = ask_show(core, req).await?;
            let rows = a.keys().map(|m| vec![text(m)]).collect();
            result(vec![series(
                Some(b"measurements"),
                &["name"],
                page(rows, limit, offset),
            )])
        }
        Show::TagKeys => {
            req.what = ShowWhat::TagKeys;
            let a = ask_show(core, req).await?;
            let all: Vec<Series> = a
                .iter()
                .filter(|(_, keys)| !keys.is_empty())
                .map(|(m, keys)| {
                    let rows = keys.iter().map(|(k, _)| vec![text(k)]).collect();
                    series(Some(m), &["tagKey"], page(rows, limit, offset))
                })
                .collect();
            // 1.6.7 parses SLIMIT and SOFFSET here and ignores them.
            result(all)
        }
        Show::TagValues(key) => {
            req.what = ShowWhat::TagValues(key.clone());
            let a = ask_show(core, req).await?;
            let all = a
                .iter()
                .map(|(m, kv)| {
                    let rows = kv.iter().map(|(k, v)| vec![text(k), text(v)]).collect();
                    series(Some(m), &["key", "value"], page(rows, limit, offset))
                })
                .collect();
            result(all)
        }
        Show::Series => {
            req.what = ShowWhat::Series;
            // 1.6.7 reads a time-bounded SHOW SERIES from the shards of the default retention
            // policy that the range reaches: the series with a point in those shard groups.
            let in_range = match stmt.time_condition.as_ref().filter(|_| stmt.has_time) {
                Some(cond) => {
                    req.rps = vec![rp.clone()];
                    series_in_shard_groups(core, &req, &rp, cond).await?
                }
                None => None,
            };
            let a = ask_show(core, req).await?;
            let mut keys: Vec<&[u8]> = a
                .values()
                .flat_map(|s| s.iter().map(|(k, _)| k.as_slice()))
                .filter(|k| in_range.as_ref().map_or(true, |set| set.contains(*k)))
                .collect();
            keys.sort_unstable();
            let rows = keys.into_iter().map(|k| vec![text(k)]).collect();
            result(vec![series(None, &["key"], page(rows, limit, offset))])
        }
        Show::SeriesCardinality { exact: false } => {
            req.what = ShowWhat::Series;
            let a = ask_show(core, req).await?;
            let n = a.values().map(|s| s.len()).sum();
            result(vec![series(
                None,
                &["cardinality estimation"],
                vec![vec![count(n)]],
            )])
        }
        Show::MeasurementCardinality { exact: false } => {
            let a = ask_show(core, req).await?;
            result(vec![series(
                None,
                &["cardinality estimation"],
                vec![vec![count(a.len())]],
            )])
        }
        Show::SeriesCardinality { exact: true } => {
            req.rps = vec![rp];
            req.what = ShowWhat::Series;
            let a = ask_show(core, req).await?;
            per_measurement(&a, |s| s.len(), limit, offset)
        }
        Show::MeasurementCardinality { exact: true } => {
            req.rps = vec![rp];
            let a = ask_show(core, req).await?;
            result(vec![series(None, &["count"], vec![vec![count(a.len())]])])
        }
        Show::TagKeyCardinality { .. } => {
            req.rps = vec![rp];
            req.what = ShowWhat::TagKeys;
            let a = ask_show(core, req).await?;
            per_measurement(&a, |s| s.len(), limit, offset)
        }
        Show::TagValuesCardinality { key, .. } => {
            req.rps = vec![rp];
            req.what = ShowWhat::TagValues(key.clone());
            let a = ask_show(core, req).await?;
            per_measurement(&a, |s| s.len(), limit, offset)
        }
        Show::FieldKeys | Show::FieldKeyCardinality { .. } => {
            let call = |_| ShowFieldKeys {
                db: db.clone(),
                rp: rp.clone(),
                measurements: req.measurements.clone(),
            };
            let mut merged = crate::runtime::FieldKeys::new();
            for a in core.ask_all(call).await {
                for (m, fields) in a.map_err(|e| e.to_string())? {
                    merged.entry(m).or_default().extend(fields);
                }
            }
            let all = merged
                .iter()
                .map(|(m, fields)| {
                    if what == Show::FieldKeys {
                        let rows = fields
                            .iter()
                            .map(|(f, ty)| vec![text(f), text(ty.as_bytes())])
                            .collect();
                        series(
                            Some(m),
                            &["fieldKey", "fieldType"],
                            page(rows, limit, offset),
                        )
                    } else {
                        series(Some(m), &["count"], vec![vec![count(fields.len())]])
                    }
                })
                .collect();
            result(all)
        }
        Show::Queries => return Ok(queries(core).await),
    })
}

/// One `count` series per measurement with a non-empty set.
fn per_measurement(
    a: &ShowAnswer,
    n: impl Fn(&std::collections::BTreeSet<(Vec<u8>, Vec<u8>)>) -> usize,
    limit: u64,
    offset: u64,
) -> StatementResult {
    let all = a
        .iter()
        .filter(|(_, s)| n(s) > 0)
        .map(|(m, s)| {
            series(
                Some(m),
                &["count"],
                page(vec![vec![count(n(s))]], limit, offset),
            )
        })
        .collect();
    result(all)
}

/// SHOW QUERIES: the running statements of every core, by qid.
async fn queries(core: &Rc<Core>) -> StatementResult {
    let mut all = Vec::new();
    for a in core.ask_all(|_| ListQueries).await {
        match a {
            Ok(q) => all.extend(q),
            Err(e) => return StatementResult::error(e.to_string()),
        }
    }
    all.sort_by_key(|q| q.qid);
    let rows = all
        .into_iter()
        .map(|q| {
            let ns = i64::try_from(q.started.elapsed().as_nanos()).unwrap_or(i64::MAX);
            vec![
                Value::Int(i64::try_from(q.qid).unwrap_or(i64::MAX)),
                text(q.query.as_bytes()),
                text(q.database.as_bytes()),
                text(crate::duration::format_go_duration(ns).as_bytes()),
                text(b"running"),
            ]
        })
        .collect();
    result(vec![series(
        None,
        &["qid", "query", "database", "duration", "status"],
        rows,
    )])
}
