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

use crate::http::{RequestHead, Response};
use crate::lineproto::{lines, DecodeOptions, FieldType, Line, LineError, Precision, ReservedTime};
use crate::runtime::{Applied, Core, Req, Resp};
use crate::shard::batch::{Batch, SchemaToken};
use crate::shard::key;
use crate::shard::schema::{FieldClaim, Refusal};
use crate::storage::layout;
use hashbrown::HashMap;
use std::rc::Rc;

/// Lines decoded between two cooperative yields: a 25 MB body must not stall the core's other
/// connections (glommio's preemption timer is 100 ms; ~1000 lines take well under 1 ms).
const LINES_PER_YIELD: usize = 1024;
/// Decoders a core keeps for reuse (one per request decoded at the same time; each holds a
/// few MB of key cache once warm).
const DECODERS_KEPT_MAX: usize = 2;

/// Parse errors spelled out in one answer; a body of a million bad lines gets a bounded answer.
const PARSE_ERRORS_REPORTED_MAX: usize = 100;

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
    core.catalog.borrow().databases.contains_key(db)
}

/// `/write?db=&rp=&precision=`: the early checks of 1.8 (missing db, unknown db, bad precision).
pub fn target_v1(core: &Core, head: &RequestHead) -> Result<WriteTarget, Response> {
    let db = head.query_param("db").unwrap_or_default();
    if db.is_empty() {
        return Err(Response::error(400, "database is required"));
    }
    if !catalog_has_db(core, &db) {
        return Err(Response::error(404, &format!("database not found: {db:?}")));
    }
    let p = head.query_param("precision").unwrap_or_default();
    let precision = Precision::from_v1(&p).ok_or_else(|| {
        Response::error(
            400,
            &format!("invalid precision {p:?} (use n, u, ms, s, m or h)"),
        )
    })?;
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

/// `/api/v2/write?bucket=db[/rp]&org=&precision=`: 1.8's compatibility endpoint.
pub fn target_v2(core: &Core, head: &RequestHead) -> Result<WriteTarget, Response> {
    let bucket = head.query_param("bucket").unwrap_or_default();
    let (db, rp) = match bucket.split_once('/') {
        Some((db, rp)) => (db.to_string(), Some(rp.to_string()).filter(|r| !r.is_empty())),
        None if bucket.is_empty() => {
            return Err(Response::error(
                404,
                &format!("bucket name {bucket:?} is missing a slash; not in \"database/retention-policy\" format"),
            ))
        }
        None => (bucket.clone(), None),
    };
    if db.is_empty() {
        return Err(Response::error(
            404,
            &format!("bucket name {bucket:?} is in db/rp form but has an empty database"),
        ));
    }
    if !catalog_has_db(core, &db) {
        return Err(Response::error(404, &format!("database not found: {db:?}")));
    }
    let p = head.query_param("precision").unwrap_or_default();
    let precision = Precision::from_v2(&p).ok_or_else(|| {
        Response::error(
            400,
            &format!("invalid precision {p:?} (use ns, us, ms or s)"),
        )
    })?;
    Ok(WriteTarget {
        db,
        rp,
        precision,
        v2: true,
        bad_consistency: false,
    })
}

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The points of one request, split by partition, with what was refused on the way.
struct Staged {
    batches: Vec<Batch>,
    /// Per partition, per point: whether the point uses a field this core did not know.
    unsure: Vec<Vec<bool>>,
    /// Per partition, for its unsure points in batch order: (line ordinal, index of its claim).
    unsure_lines: Vec<Vec<(usize, usize)>>,
    /// The unsure points' claims in body order, each distinct claim once: an identical claim
    /// decided later gets the same verdict (a refusal may then name another field, but only the
    /// first refused point's reason is answered).
    claims: Vec<FieldClaim>,
    claimed: HashMap<FieldClaim, usize>,
    dropped: usize,
    /// The reason answered for the dropped points, with its rank (see `drop_point`).
    first_drop: Option<(DropRank, String)>,
    /// Points older than the retention policy allows (reported only when nothing else was).
    beyond_retention: usize,
    parse_errors: Vec<LineError>,
    parse_error_count: usize,
    lines_ok: usize,
}

impl Staged {
    /// `body_len`: the request body's length; a batch takes about as many bytes as the lines
    /// it holds, so each starts with room for its share (growing a megabyte buffer by doubling
    /// copies it again and again).
    fn new(partitions: usize, body_len: usize) -> Self {
        let share = body_len / partitions.max(1);
        Staged {
            batches: (0..partitions)
                .map(|_| Batch::pooled(share + share / 4 + 256))
                .collect(),
            unsure: vec![Vec::new(); partitions],
            unsure_lines: vec![Vec::new(); partitions],
            claims: Vec::new(),
            claimed: HashMap::new(),
            dropped: 0,
            first_drop: None,
            beyond_retention: 0,
            parse_errors: Vec::new(),
            parse_error_count: 0,
            lines_ok: 0,
        }
    }

    /// Counts a dropped point; the answer names the reason of the lowest rank.
    fn drop_point(&mut self, at: DropRank, reason: impl FnOnce() -> String) {
        self.dropped += 1;
        if self
            .first_drop
            .as_ref()
            .map_or(true, |(first, _)| at < *first)
        {
            self.first_drop = Some((at, reason()));
        }
    }

    /// The index of this claim in `claims`, added if new.
    fn claim(&mut self, claim: FieldClaim) -> usize {
        if let Some(&i) = self.claimed.get(&claim) {
            return i;
        }
        let i = self.claims.len();
        self.claimed.insert(claim.clone(), i);
        self.claims.push(claim);
        i
    }
}

/// Which dropped point's reason a partial write names: influxd 1.x names a conflict with a type
/// fixed earlier in the same body before any other reason, and otherwise the first dropped
/// point of the body. Ordered: (0 for a conflict within the body, else 1; line ordinal).
type DropRank = (u8, usize);

/// The rank of a point dropped at line ordinal `n` for any reason but a conflict in the body.
fn rank(n: usize) -> DropRank {
    (1, n)
}

/// The measurement and field count of the last line whose types were all known and agreed; its
/// field keys and types are the decoder's remembered shape ([`Line::remember_shape`]), which the
/// decoder checks each later line against as it scans the fields.
#[derive(Default)]
struct SchemaMemo {
    measurement: Vec<u8>,
    /// Fields of the shape; 0 until a line is remembered.
    field_count: u16,
    /// Every field of the shape is a float, integer or unsigned (`Batch::push_fixed_values`).
    all_fixed: bool,
    /// Names this (measurement, field keys) shape in the batches (`Batch` leaves the keys of a
    /// point out when they repeat the previous point's); a new one per `remember`.
    token: SchemaToken,
}

impl SchemaMemo {
    fn matches(&self, measurement: &[u8], point: &Line<'_, '_>) -> bool {
        self.field_count != 0 && point.shape_matches() && self.measurement == measurement
    }

    fn remember(&mut self, measurement: &[u8], field_count: u16, point: &mut Line<'_, '_>) {
        self.measurement.clear();
        self.measurement.extend_from_slice(measurement);
        point.remember_shape();
        self.field_count = if point.shape_matches() {
            field_count
        } else {
            0
        };
        self.all_fixed = point.each_fixed_value(|_, _| true);
        self.token = SchemaToken(self.token.0 + 1);
    }
}

fn conflict_text(field: &[u8], measurement: &[u8], ty: FieldType, existing: FieldType) -> String {
    format!(
        "field type conflict: input field \"{}\" on measurement \"{}\" is type {}, already exists as type {}",
        String::from_utf8_lossy(field),
        String::from_utf8_lossy(measurement),
        ty.name(),
        existing.name()
    )
}

/// Decodes the body into per-partition batches, checking types against what this core knows.
async fn stage(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    opts: &DecodeOptions,
    retention_min_ns: i64,
    body: &[u8],
) -> Staged {
    let mut st = Staged::new(core.partition_count as usize, body.len());
    let dbrp = key::db_rp_hash(db, rp);
    let mut decoder = core.decoders.borrow_mut().pop().unwrap_or_default();
    decoder.forget_shape();
    let mut memo = SchemaMemo::default();
    for (n, (line_no, line)) in lines(body).enumerate() {
        if n % LINES_PER_YIELD == LINES_PER_YIELD - 1 {
            glommio::yield_if_needed().await;
        }
        // Per-line limits (config [http] max-line-bytes, max-tags/fields-per-line): the line is
        // dropped with a partial-write reason; an over-long line is not even decoded.
        if let Some(reason) = line_too_long(&core.config, line_no, line) {
            st.drop_point(rank(n), || reason);
            continue;
        }
        let mut point = match decoder.decode(line, opts) {
            Ok(None) => continue,
            Ok(Some(p)) => p,
            Err(kind) => {
                st.parse_error_count += 1;
                if st.parse_errors.len() < PARSE_ERRORS_REPORTED_MAX {
                    st.parse_errors.push(LineError::new(line_no, line, kind));
                }
                continue;
            }
        };
        st.lines_ok += 1;
        if let Some(reason) = too_many_keys(&core.config, line_no, &point) {
            st.drop_point(rank(n), || reason);
            continue;
        }
        let measurement = point.measurement();
        match point.reserved_time() {
            Some(ReservedTime::Tag) => {
                let m = String::from_utf8_lossy(&measurement).into_owned();
                st.drop_point(rank(n), || {
                    format!("invalid tag key: input tag \"time\" on measurement \"{m}\" is invalid")
                });
                continue;
            }
            Some(ReservedTime::OnlyField) => {
                let m = String::from_utf8_lossy(&measurement).into_owned();
                st.drop_point(rank(n), || format!("invalid field name: input field \"time\" on measurement \"{m}\" is invalid"));
                continue;
            }
            None => {}
        }
        let ts = point.timestamp_ns();
        if ts < retention_min_ns {
            st.beyond_retention += 1;
            continue;
        }
        // Check every field against the known types. A point that uses a field this core does not
        // know is kept, unsure, and its fields are claimed at the schema owner, which decides it
        // (`recheck`). Most lines repeat the previous line's measurement and fields: `memo`
        // answers those without a lookup.
        let mut conflict = None;
        let mut unsure = false;
        let mut claim = 0;
        let field_count;
        let mut token = SchemaToken::NONE;
        if memo.matches(&measurement, &point) {
            field_count = memo.field_count;
            token = memo.token;
        } else {
            let schema = core.schema.borrow();
            let mut count = 0u16;
            for (k, v) in point.fields() {
                count = count.saturating_add(1);
                let ty = v.field_type();
                match schema.get(db, rp, &measurement, &k) {
                    Some(t) if t != ty => {
                        conflict.get_or_insert_with(|| conflict_text(&k, &measurement, ty, t));
                    }
                    Some(_) => {}
                    None => unsure = true,
                }
            }
            drop(schema);
            field_count = count;
            if unsure {
                // Claimed whole, known fields too: a point with a conflict is then refused at
                // the owner, and its answer names the first conflicting field in line order.
                conflict = None;
                claim = st.claim(FieldClaim {
                    measurement: measurement.to_vec(),
                    fields: point
                        .fields()
                        .map(|(k, v)| (k.into_owned(), v.field_type()))
                        .collect(),
                });
            }
            if conflict.is_none() && !unsure {
                memo.remember(&measurement, count, &mut point);
                token = memo.token;
            }
        }
        if let Some(text) = conflict {
            st.drop_point(rank(n), || text);
            continue;
        }
        let hash = point.series_hash();
        let key_id = point.key_id();
        let series_key = point.series_key();
        let part = key::partition_of(hash, dbrp, st.batches.len());
        let b = &mut st.batches[part];
        if b.begin_point_keyed(
            series_key,
            hash,
            key_id,
            &measurement,
            ts,
            field_count,
            token,
        ) {
            // The token is the memo's: its points have the memo's field types.
            let fixed = memo.all_fixed
                && b.push_fixed_values(field_count, |slots| {
                    point.each_fixed_value(|ty, bits| slots.put(ty, bits))
                });
            if !fixed {
                point.for_each_value(|v| b.push_value(v));
            }
        } else {
            for (k, v) in point.fields() {
                b.push_field(&k, &v);
            }
        }
        st.unsure[part].push(unsure);
        if unsure {
            st.unsure_lines[part].push((n, claim));
        }
    }
    let mut pool = core.decoders.borrow_mut();
    if pool.len() < DECODERS_KEPT_MAX {
        pool.push(decoder);
    }
    drop(pool);
    st
}

/// Sends the unsure points' claims to their schema owners and learns the answers into this
/// core's cache; returns each claim's refusal (the conflicting field's index and its type).
async fn claim_fields(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    claims: &[FieldClaim],
) -> Result<Vec<Option<Refusal>>, String> {
    let mut by_owner: Vec<Vec<usize>> = vec![Vec::new(); core.cores];
    for (i, c) in claims.iter().enumerate() {
        by_owner[key::schema_owner(db, rp, &c.measurement, core.cores)].push(i);
    }
    let mut tasks = Vec::new();
    for (owner, list) in by_owner.into_iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let core2 = core.clone();
        let req = Req::Claim {
            db: db.to_string(),
            rp: rp.to_string(),
            claims: list.iter().map(|&i| claims[i].clone()).collect(),
        };
        tasks.push((
            list,
            glommio::spawn_local(async move { core2.call(owner, req).await }),
        ));
    }
    let mut refused = vec![None; claims.len()];
    for (list, task) in tasks {
        match task.await {
            Ok(Resp::Claimed(answers)) => {
                let mut schema = core.schema.borrow_mut();
                for (&i, answer) in list.iter().zip(answers) {
                    let c = &claims[i];
                    for ((field, _), t) in c.fields.iter().zip(answer.types) {
                        if let Some(t) = t {
                            schema.learn(db, rp, &c.measurement, field, t);
                        }
                    }
                    refused[i] = answer.refused;
                }
            }
            Ok(_) => return Err("unexpected answer to a schema claim".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(refused)
}

/// Drops the unsure points whose claims their owners refused.
fn recheck(st: &mut Staged, claims: &[FieldClaim], refused: &[Option<Refusal>]) {
    for part in 0..st.batches.len() {
        if st.unsure_lines[part].is_empty() {
            continue;
        }
        let old = std::mem::take(&mut st.batches[part]);
        let unsure = std::mem::take(&mut st.unsure[part]);
        let mut lines = std::mem::take(&mut st.unsure_lines[part]).into_iter();
        let mut kept = Batch::default();
        for (i, p) in old.iter().enumerate() {
            let Ok(p) = p else { break };
            if unsure.get(i).copied().unwrap_or(false) {
                if let Some((at, c)) = lines.next() {
                    let refusal = refused.get(c).copied().flatten().and_then(|r| {
                        let (k, ty) = claims.get(c)?.fields.get(r.field)?;
                        Some((k, *ty, r))
                    });
                    if let Some((k, ty, r)) = refusal {
                        let at = (u8::from(!r.in_request), at);
                        st.drop_point(at, || conflict_text(k, p.measurement, ty, r.existing));
                        continue;
                    }
                }
            }
            kept.push_point(&p);
        }
        old.recycle();
        st.batches[part] = kept;
    }
}

/// Sends each owner core its partitions' batches (applying this core's share in place) and
/// waits for all of them.
async fn fan_out(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    batches: Vec<Batch>,
) -> Result<Applied, String> {
    let mut by_core: Vec<Vec<(u32, Batch)>> = (0..core.cores).map(|_| Vec::new()).collect();
    for (p, batch) in batches.into_iter().enumerate() {
        if batch.is_empty() {
            batch.recycle();
        } else {
            by_core[layout::core_of(p as u32, core.cores)].push((p as u32, batch));
        }
    }
    let mut tasks = Vec::new();
    let mut own = Vec::new();
    for (owner, batches) in by_core.into_iter().enumerate() {
        if batches.is_empty() {
            continue;
        }
        if owner == core.id {
            own = batches;
            continue;
        }
        let core2 = core.clone();
        let req = Req::Apply {
            db: db.to_string(),
            rp: rp.to_string(),
            batches,
        };
        tasks.push(glommio::spawn_local(
            async move { core2.call(owner, req).await },
        ));
    }
    let mut result: Result<Applied, String> = Ok(Applied::default());
    let mut add = |r: Result<Applied, String>| match (&mut result, r) {
        (Ok(a), Ok(b)) => a.merge(b),
        (Ok(_), Err(e)) => result = Err(e),
        (Err(_), _) => {}
    };
    for (p, b) in own {
        add(core.apply_local(db, rp, p, b).await);
    }
    for t in tasks {
        add(match t.await {
            Ok(Resp::Applied(r)) => r,
            Ok(_) => Err("unexpected answer to a write".into()),
            Err(e) => Err(e.to_string()),
        });
    }
    result
}

/// Back-pressure that clients retry on: `/write` answers 500 `timeout` (what Telegraf and TSBS
/// retry on; a 429/503 makes TSBS abort), `/api/v2/write` answers 503 with `Retry-After`
/// (what the v2 client libraries honour).
fn timeout_response(v2: bool) -> Response {
    if v2 {
        Response::error(503, "timeout").with_header("Retry-After", "1".to_string())
    } else {
        Response::error(500, "timeout")
    }
}

fn parse_error_text(st: &Staged) -> String {
    let mut s = st
        .parse_errors
        .iter()
        .map(|e| format!("{e} (line {})", e.line_no))
        .collect::<Vec<_>>()
        .join("\n");
    let more = st.parse_error_count - st.parse_errors.len();
    if more > 0 {
        s.push_str(&format!(
            "\n... and {more} more lines that could not be parsed"
        ));
    }
    s
}

/// The answer to a body none of whose lines parse (400 with their errors), if it is one: 1.x
/// gives it before it looks at the consistency level and the retention policy.
async fn unparsable(core: &Core, opts: &DecodeOptions, body: &[u8]) -> Option<Response> {
    let mut st = Staged::new(0, 0);
    let mut decoder = crate::lineproto::Decoder::default();
    for (n, (line_no, line)) in lines(body).enumerate() {
        if n % LINES_PER_YIELD == LINES_PER_YIELD - 1 {
            glommio::yield_if_needed().await;
        }
        if line_too_long(&core.config, line_no, line).is_some() {
            st.lines_ok += 1;
            continue;
        }
        match decoder.decode(line, opts) {
            Ok(None) => {}
            Ok(Some(_)) => st.lines_ok += 1,
            Err(kind) => {
                st.parse_error_count += 1;
                if st.parse_errors.len() < PARSE_ERRORS_REPORTED_MAX {
                    st.parse_errors.push(LineError::new(line_no, line, kind));
                }
            }
        }
    }
    (st.lines_ok == 0 && st.parse_error_count > 0)
        .then(|| Response::error(400, &parse_error_text(&st)))
}

/// Decodes and stores one write request; the answer is InfluxDB 1.8's.
pub async fn write(core: &Rc<Core>, target: WriteTarget, body: Vec<u8>) -> Response {
    let now = now_ns();
    let opts = DecodeOptions {
        precision: target.precision,
        default_time_ns: target.precision.truncate(now),
        accept_unsigned: core.config.data.accept_unsigned,
        strip_cr: core.config.data.strip_cr,
    };
    let resolved = {
        let cat = core.catalog.borrow();
        cat.resolve(&target.db, target.rp.as_deref())
            .map(|(d, r)| (d.name.clone(), r.name.clone(), r.duration_ns))
    };
    let (db, rp, retention_ns) = match resolved {
        Ok(x) if !target.bad_consistency => x,
        other => {
            if let Some(bad_body) = unparsable(core, &opts, &body).await {
                return bad_body;
            }
            return match other {
                Err(e) if !target.bad_consistency => super::catalog_error(e),
                _ => Response::error(400, "invalid consistency level"),
            };
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
    if st.lines_ok == 0 && st.parse_error_count > 0 {
        return Response::error(400, &parse_error_text(&st));
    }
    if !st.claims.is_empty() {
        let claims = std::mem::take(&mut st.claims);
        match claim_fields(core, &db, &rp, &claims).await {
            Ok(refused) => recheck(&mut st, &claims, &refused),
            Err(e) => return Response::error(500, &e),
        }
    }
    let batches = std::mem::take(&mut st.batches);
    let applied = async { Ok(fan_out(core, &db, &rp, batches).await) };
    match glommio::timer::timeout(core.config.data.write_timeout, applied).await {
        Ok(Ok(a)) => {
            // Storage limits refuse points as 1.x's shard does: a partial write with its reason.
            if let Some(reason) = a.refused.reason {
                st.dropped += a.refused.points as usize;
                st.first_drop.get_or_insert(((u8::MAX, usize::MAX), reason));
            }
        }
        Ok(Err(e)) => return Response::error(500, &e),
        Err(_) => return timeout_response(target.v2),
    }
    if let Some((_, first)) = &st.first_drop {
        return Response::error(
            400,
            &format!("partial write: {first} dropped={}", st.dropped),
        );
    }
    if st.beyond_retention > 0 {
        let n = st.beyond_retention;
        return Response::error(
            400,
            &format!("partial write: points beyond retention policy dropped={n}"),
        );
    }
    if st.parse_error_count > 0 {
        return Response::error(
            400,
            &format!("partial write: {} dropped=0", parse_error_text(&st)),
        );
    }
    Response::no_content()
}

/// Why a line is longer than `[http] max-line-bytes` allows (0 = no bound), or `None`.
fn line_too_long(cfg: &crate::config::Config, line_no: usize, line: &[u8]) -> Option<String> {
    let max = cfg.http.max_line_bytes;
    let len = line.len() as u64;
    (max != 0 && len > max)
        .then(|| format!("line {line_no} exceeds max-line-bytes ({len} > {max})"))
}

/// Why a decoded line has more tags or fields than `[http] max-tags-per-line` /
/// `max-fields-per-line` allow, or `None`.
fn too_many_keys(
    cfg: &crate::config::Config,
    line_no: usize,
    point: &Line<'_, '_>,
) -> Option<String> {
    let (tags, fields) = (point.tag_count(), point.field_count());
    let (tags_max, fields_max) = (cfg.http.max_tags_per_line, cfg.http.max_fields_per_line);
    if tags > tags_max {
        return Some(format!(
            "line {line_no} has {tags} tags, above max-tags-per-line ({tags_max})"
        ));
    }
    if fields > fields_max {
        return Some(format!(
            "line {line_no} has {fields} fields, above max-fields-per-line ({fields_max})"
        ));
    }
    None
}
