//! `POST /write` and `POST /api/v2/write`: decode, check field types, fan out to owner cores,
//! answer once every owner has applied its share.
//!
//! Order of checks as InfluxDB 1.x `serveWrite`: db parameter, db exists, (auth), body, parse
//! (a body whose every line is bad), consistency level, retention policy, write. Answers (1.8
//! texts):
//! - all lines bad: 400 `unable to parse '<line>': <reason>` joined by newlines;
//! - some lines bad: the good ones are stored, 400 `partial write: <those errors> dropped=0`
//!   (1.x counts no parse failure in `dropped`);
//! - points refused by storage rules (field type conflict, a `time` tag or only field): 400
//!   `partial write: <first reason> dropped=N`, which hides parse errors as in 1.x.
//!
//! Each parse error names its line: `unable to parse '<line>': <reason> (line N)`. At most
//! `PARSE_ERRORS_REPORTED_MAX` errors are listed; the rest are counted.

mod claims;
mod error;
mod stage;

pub use error::WriteError;

use crate::http::timeline::{Step, Timeline};
use crate::http::{RequestHead, Response};
use crate::lineproto::{DecodeOptions, Precision};
use crate::metrics::Reject;
use crate::runtime::{Applied, Apply, Core};
use crate::shard::batch::Batch;
use crate::storage::layout;
use claims::{claim_fields, recheck};
use stage::{parse_error_text, stage, unparsable};
use std::rc::Rc;

/// Where a write goes.
pub struct WriteTarget {
    db: String,
    rp: Option<String>,
    precision: Precision,
    /// `/api/v2/write`: back-pressure answers 503 with Retry-After instead of 500 `timeout`.
    v2: bool,
    /// `consistency=` names no level: refused after the body parsed, as 1.x does.
    bad_consistency: bool,
}

impl WriteTarget {
    /// The database named by the request (for authorization).
    pub fn db(&self) -> &str {
        &self.db
    }
}

fn catalog_has_db(core: &Core, db: &str) -> bool {
    core.catalog().databases.contains_key(db)
}

/// `/write?db=&rp=&precision=`: the early checks of 1.8 (missing db, unknown db, bad precision).
pub fn target_v1(core: &Core, head: &RequestHead) -> Result<WriteTarget, WriteError> {
    let db = head.query_param("db").unwrap_or_default();
    if db.is_empty() {
        return Err(WriteError::DatabaseRequired);
    }
    if !catalog_has_db(core, &db) {
        return Err(WriteError::DatabaseNotFound(db));
    }
    let p = head.query_param("precision").unwrap_or_default();
    let precision = Precision::from_v1(&p).ok_or(WriteError::PrecisionV1(p))?;
    let bad_consistency = head.query_param("consistency").is_some_and(|c| {
        !matches!(
            c.to_ascii_lowercase().as_str(),
            "" | "any" | "one" | "quorum" | "all"
        )
    });
    let rp = head.query_param("rp").filter(|r| !r.is_empty());
    Ok(WriteTarget {
        db,
        rp,
        precision,
        v2: false,
        bad_consistency,
    })
}

/// A target parsed before the body was read, with its database checked again (the one check
/// of [`target_v1`] and [`target_v2`] whose answer can change meanwhile).
pub fn still_there(core: &Core, target: WriteTarget) -> Result<WriteTarget, WriteError> {
    if !catalog_has_db(core, &target.db) {
        return Err(WriteError::DatabaseNotFound(target.db));
    }
    Ok(target)
}

/// `/api/v2/write?bucket=db[/rp]&org=&precision=`: 1.8's compatibility endpoint.
pub fn target_v2(core: &Core, head: &RequestHead) -> Result<WriteTarget, WriteError> {
    let bucket = head.query_param("bucket").unwrap_or_default();
    let (db, rp) = match bucket.split_once('/') {
        Some((db, rp)) => (
            db.to_string(),
            Some(rp.to_string()).filter(|r| !r.is_empty()),
        ),
        None if bucket.is_empty() => return Err(WriteError::BucketWithoutSlash(bucket)),
        None => (bucket.clone(), None),
    };
    if db.is_empty() {
        return Err(WriteError::BucketWithoutDatabase(bucket));
    }
    if !catalog_has_db(core, &db) {
        return Err(WriteError::DatabaseNotFound(db));
    }
    let p = head.query_param("precision").unwrap_or_default();
    let precision = Precision::from_v2(&p).ok_or(WriteError::PrecisionV2(p))?;
    Ok(WriteTarget {
        db,
        rp,
        precision,
        v2: true,
        bad_consistency: false,
    })
}

/// Sends each owner core its partitions' batches (applying this core's share in place) and
/// waits for all of them.
async fn fan_out(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    batches: Vec<Batch>,
) -> Result<Applied, WriteError> {
    let mut by_core: Vec<Vec<(u32, Batch)>> = (0..core.cores()).map(|_| Vec::new()).collect();
    for (p, batch) in batches.into_iter().enumerate() {
        if batch.is_empty() {
            batch.recycle();
        } else {
            by_core[layout::core_of(p as u32, core.cores())].push((p as u32, batch));
        }
    }
    let mut tasks = Vec::new();
    let mut own = Vec::new();
    for (owner, batches) in by_core.into_iter().enumerate() {
        if batches.is_empty() {
            continue;
        }
        if owner == core.id() {
            own = batches;
            continue;
        }
        let core2 = core.clone();
        let call = Apply {
            db: db.to_string(),
            rp: rp.to_string(),
            batches,
        };
        tasks.push(glommio::spawn_local(
            async move { core2.ask(owner, call).await },
        ));
    }
    let mut result: Result<Applied, WriteError> = Ok(Applied::default());
    let mut add = |r: Result<Applied, WriteError>| match (&mut result, r) {
        (Ok(a), Ok(b)) => a.merge(b),
        (Ok(_), Err(e)) => result = Err(e),
        (Err(_), _) => {}
    };
    for (p, b) in own {
        add(core
            .apply_local(db, rp, p, b)
            .await
            .map_err(WriteError::from));
    }
    for t in tasks {
        add(match t.await {
            Ok(applied) => applied.map_err(WriteError::from),
            Err(e) => Err(e.into()),
        });
    }
    result
}

/// Stores line protocol the server made itself (`SELECT ... INTO`): nanosecond times, into
/// `db` and `rp` (`None`: the database's default), with every rule and limit of a client's write.
pub async fn write_lines(
    core: &Rc<Core>,
    db: &str,
    rp: Option<&str>,
    body: Vec<u8>,
) -> Result<(), WriteError> {
    let target = WriteTarget {
        db: db.to_string(),
        rp: rp.map(str::to_string),
        precision: Precision::Nanosecond,
        v2: false,
        bad_consistency: false,
    };
    write_points(core, target, body, &mut Timeline::off()).await
}

/// Decodes and stores one write request; the answer is InfluxDB 1.8's.
pub async fn write(
    core: &Rc<Core>,
    target: WriteTarget,
    body: Vec<u8>,
    timeline: &mut Timeline,
) -> Response {
    match write_points(core, target, body, timeline).await {
        Ok(()) => Response::no_content(),
        Err(e) => e.response(),
    }
}

/// Adds the lines `st` did not store to `lineshard_lines_rejected_total`.
fn count_rejected(core: &Core, db: &str, st: &stage::Staged) {
    let mut c = core.counters();
    c.lines_rejected(db, Reject::Parse, st.parse_error_count as u64);
    c.lines_rejected(db, Reject::Retention, st.beyond_retention as u64);
    for why in Reject::ALL {
        c.lines_rejected(db, why, st.rejected[why as usize]);
    }
}

async fn write_points(
    core: &Rc<Core>,
    target: WriteTarget,
    body: Vec<u8>,
    timeline: &mut Timeline,
) -> Result<(), WriteError> {
    if core.refuse_for_disk() {
        crate::http::recycle_body_buffer(body);
        return Err(WriteError::DiskLow);
    }
    let now = super::now_ns();
    let opts = DecodeOptions {
        precision: target.precision,
        default_time_ns: target.precision.truncate(now),
        accept_unsigned: core.config().data.accept_unsigned,
        strip_cr: core.config().data.strip_cr,
    };
    let resolved = {
        let cat = core.catalog();
        cat.resolve(&target.db, target.rp.as_deref())
            .map(|(d, r)| (d.name.clone(), r.name.clone(), r.duration_ns))
    };
    let (db, rp, retention_ns) = match resolved {
        Ok(x) if !target.bad_consistency => x,
        other => {
            if let Some(bad_body) = unparsable(core, &opts, &body).await {
                return Err(bad_body);
            }
            return Err(match other {
                Err(e) if !target.bad_consistency => e.into(),
                _ => WriteError::Consistency,
            });
        }
    };
    // 1.x: a point older than now - duration is not stored (`points beyond retention policy`).
    let retention_min_ns = match retention_ns {
        0 => i64::MIN,
        d => now.saturating_sub(d),
    };
    let mut st = stage(core, &db, &rp, &opts, retention_min_ns, &body).await;
    // The batches hold what is stored; the body's buffer goes back for the next body at once
    // (not after the WAL wait), while it is still in the core's caches.
    crate::http::recycle_body_buffer(body);
    timeline.stamp(Step::Decoded);
    if st.lines_ok == 0 && st.parse_error_count > 0 {
        count_rejected(core, &db, &st);
        return Err(WriteError::Unparsable(parse_error_text(&st)));
    }
    if !st.claims.is_empty() {
        let claims = std::mem::take(&mut st.claims);
        let refused = claim_fields(core, &db, &rp, &claims).await?;
        recheck(&mut st, &claims, &refused);
    }
    let batches = std::mem::take(&mut st.batches);
    timeline.stamp(Step::Routed);
    let applied = async { Ok(fan_out(core, &db, &rp, batches).await) };
    let applied = glommio::timer::timeout(core.config().data.write_timeout, applied)
        .await
        .map_err(|_| WriteError::Timeout { v2: target.v2 })??;
    st.rejected[Reject::Limit as usize] += u64::from(applied.refused.points);
    core.counters()
        .points_written(&db, u64::from(applied.points));
    count_rejected(core, &db, &st);
    let stamps = applied.stamps;
    for (step, at) in [
        (Step::Applied, stamps.applied),
        (Step::WalWritten, stamps.wal_written),
        (Step::Synced, stamps.synced),
    ] {
        if let Some(at) = at {
            timeline.stamp_at(step, at);
        }
    }
    // Storage limits refuse points as 1.x's shard does: a partial write with its reason.
    if let Some(reason) = applied.refused.reason {
        st.dropped += applied.refused.points as usize;
        st.first_drop.get_or_insert(((u8::MAX, usize::MAX), reason));
    }
    st.outcome()
}
