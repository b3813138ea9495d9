//! `/query`: the InfluxQL subset. Catalog statements run on core 0 (which persists and
//! broadcasts the new catalog); `SELECT` fans out a scan to every core and merges the rows;
//! deletes go to every core (`delete.rs`).

use super::ApiError;
use crate::catalog::{self, CatalogError, RetentionPolicySpec, RetentionPolicyUpdate};
use crate::http::{parse_query_string, BodyStream, Method, Request, RequestHead, Response};
use crate::query::output::{
    Encoder, Format, Merger, ResultPart, RowEmitter, Shape, DEFAULT_CHUNK_SIZE,
};
use crate::query::{self, RetentionPolicyRow, Series, Statement, StatementResult, TimeFormat};
use crate::runtime::{Core, Purge};
use glommio::channels::local_channel;
use std::rc::Rc;

use super::auth::Principal;

/// The request's parameters: the URL's, then a form body's on POST; the first occurrence wins.
/// (Go's `FormValue` prefers the body on POST; the clients we know send each parameter once.)
struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn from(req: &Request) -> Params {
        let mut pairs = parse_query_string(req.head.query.as_bytes());
        let form = req
            .head
            .header("content-type")
            .is_some_and(|ct| ct.starts_with(b"application/x-www-form-urlencoded"));
        if req.head.method == Method::Post && form {
            pairs.extend(parse_query_string(&req.body));
        }
        Params { pairs }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The answer's format and `Content-Type`: the `Accept` header and `pretty=true` (which 1.x
/// reads from the URL only).
fn format_of(head: &RequestHead) -> (Format, &'static str) {
    let pretty = head.query_param("pretty").as_deref() == Some("true");
    let accept = head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"accept"))
        .map(|(_, v)| v);
    Format::negotiate(accept, pretty)
}

/// An error answer of `/query` (authentication included) written in the format the request
/// asks for, as 1.x's response writer writes every error of the endpoint.
pub fn format_error(head: &RequestHead, mut resp: Response) -> Response {
    let Some(msg) = resp.error.clone() else {
        return resp;
    };
    let (format, content_type) = format_of(head);
    resp.body.clear();
    Encoder::new(format, TimeFormat::Rfc3339).error(&msg, &mut resp.body);
    resp.with_header("Content-Type", content_type.to_string())
}

pub async fn query(core: &Rc<Core>, req: &Request, principal: &Principal) -> Response {
    let params = Params::from(req);
    let (format, content_type) = format_of(&req.head);
    let fail = |e: ApiError| {
        // A request refused before any statement ran counts as one failed statement.
        core.counters().query(false, std::time::Duration::ZERO);
        format_error(&req.head, e.response())
    };
    let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return fail(ApiError::QueryMissing);
    };
    let statements = match query::parse(q, super::now_ns()) {
        Ok(s) => s,
        Err(e) => return fail(ApiError::QueryParse(e.to_string())),
    };
    let db = params.get("db").unwrap_or("").to_string();
    let rp = params.get("rp").unwrap_or("").to_string();
    let authorized = {
        let cat = core.catalog_snapshot();
        super::auth::authorize_query(&cat, principal, &statements, &db)
    };
    if let Err(e) = authorized {
        return fail(ApiError::QueryNotAuthorized(e.to_string()));
    }
    let time = TimeFormat::from_epoch_param(params.get("epoch"));
    let chunk_size = params
        .get("chunk_size")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|&n| n > 0)
        .map_or(DEFAULT_CHUNK_SIZE, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
    let run = Run {
        core: core.clone(),
        statements,
        db,
        rp,
        principal: principal.clone(),
        by_get: req.head.method == Method::Get,
        local_times: time == TimeFormat::Rfc3339 && format != Format::Csv,
    };
    let encoder = Encoder::new(format, time);
    if params.get("chunked") != Some("true") {
        // Parts of one statement are merged, and the merged series need not be cut: chunk
        // size 0 gives the same answer without moving rows twice.
        let mut merger = Buffered(Merger::default());
        run.execute(0, &mut merger).await;
        let parts = merger.0.finish();
        let rows: usize = parts.iter().map(|p| p.rows()).sum();
        let render = move || {
            let mut encoder = encoder;
            let mut body = Vec::with_capacity(256);
            encoder.results(&parts, &mut body);
            body
        };
        // Rendering a large answer (and freeing its rows) takes as long as reading it: off the
        // core's thread, so that the core's other requests do not wait behind it. A small one
        // costs less than the trip to another thread.
        let body = if rows <= ENCODE_INLINE_ROWS_MAX {
            render()
        } else {
            glommio::executor().spawn_blocking(render).await
        };
        return Response::json(200, body).with_header("Content-Type", content_type.to_string());
    }
    // Chunked: each part is encoded and sent as it is produced; the channel holds a few
    // encoded parts, so the producer waits for the client rather than buffering the answer.
    let (tx, rx) = local_channel::new_bounded::<Vec<u8>>(STREAM_PARTS_QUEUED);
    let mut sink = Chunked {
        encoder: Some(encoder),
        tx,
    };
    glommio::spawn_local(async move { run.execute(chunk_size, &mut sink).await }).detach();
    let pieces = futures_lite::stream::unfold(rx, |rx| async move {
        let piece = rx.recv().await?;
        Some((piece, rx))
    });
    Response::streamed(content_type, BodyStream(Box::pin(pieces)))
}

/// Encoded parts of a chunked answer waiting for the socket.
const STREAM_PARTS_QUEUED: usize = 2;
/// A part with more rows than this is encoded off the core's thread.
const ENCODE_INLINE_ROWS_MAX: usize = 1024;

/// The client went away: stop executing.
pub(super) struct Gone;

/// Where a statement's parts go, in order.
#[allow(async_fn_in_trait)] // not Send by design: one executor per core
pub(super) trait PartSink {
    async fn part(&mut self, part: ResultPart) -> Result<(), Gone>;
}

/// Non-chunked: merged in memory, written at the end.
struct Buffered(Merger);

impl PartSink for Buffered {
    async fn part(&mut self, part: ResultPart) -> Result<(), Gone> {
        self.0.push(part);
        Ok(())
    }
}

/// Chunked: each part is one `{"results":[...]}` object (or CSV lines) on the wire.
struct Chunked {
    /// Taken while a large part is encoded on another thread.
    encoder: Option<Encoder>,
    tx: local_channel::LocalSender<Vec<u8>>,
}

impl PartSink for Chunked {
    async fn part(&mut self, part: ResultPart) -> Result<(), Gone> {
        let mut encoder = self.encoder.take().ok_or(Gone)?;
        let mut bytes = Vec::new();
        if part.rows() <= ENCODE_INLINE_ROWS_MAX {
            encoder.results(std::slice::from_ref(&part), &mut bytes);
        } else {
            (encoder, bytes) = glommio::executor()
                .spawn_blocking(move || {
                    let mut bytes = Vec::new();
                    encoder.results(std::slice::from_ref(&part), &mut bytes);
                    (encoder, bytes)
                })
                .await;
        }
        self.encoder = Some(encoder);
        if bytes.is_empty() {
            // CSV writes nothing for a result without series.
            return Ok(());
        }
        self.tx.send(bytes).await.map_err(|_| Gone)
    }
}

/// A SELECT-like answer as it is produced: rows in (a series whole or in consecutive pieces),
/// each part out to the sink as soon as it is complete; at most `chunk_size` rows held.
pub(super) struct Rows<'a, S: PartSink> {
    emitter: RowEmitter,
    sink: &'a mut S,
    ready: Vec<ResultPart>,
}

impl<'a, S: PartSink> Rows<'a, S> {
    fn new(statement_id: usize, chunk_size: usize, sink: &'a mut S) -> Self {
        Rows {
            emitter: RowEmitter::new(statement_id, chunk_size),
            sink,
            ready: Vec::new(),
        }
    }

    pub(super) async fn push(&mut self, s: Series) -> Result<(), Gone> {
        self.emitter.push(s, &mut self.ready);
        self.send_ready().await
    }

    async fn finish(mut self) -> Result<(), Gone> {
        let emitter = std::mem::replace(&mut self.emitter, RowEmitter::new(0, 0));
        emitter.finish(&mut self.ready);
        self.send_ready().await
    }

    async fn send_ready(&mut self) -> Result<(), Gone> {
        for part in self.ready.drain(..) {
            self.sink.part(part).await?;
        }
        Ok(())
    }
}

/// How 1.x cuts a statement's answer into parts.
fn shape(stmt: &Statement) -> Shape {
    use query::Show;
    match stmt {
        Statement::Select(_) => Shape::Rows,
        Statement::Show(s) => match s.what {
            Show::TagKeys | Show::TagValues(_) => Shape::PerSeries,
            Show::FieldKeys | Show::Series => Shape::Rows,
            _ => Shape::Whole,
        },
        _ => Shape::Whole,
    }
}

/// One request's statements and what they run with.
struct Run {
    core: Rc<Core>,
    statements: Vec<Statement>,
    db: String,
    rp: String,
    principal: Principal,
    by_get: bool,
    /// Times are written as RFC3339 strings (JSON without `epoch`): a SELECT with `tz()`
    /// writes them with its zone's offset.
    local_times: bool,
}

impl Run {
    /// Runs the statements in order and hands their parts to `sink` as 1.x's executor emits
    /// them: after a failed statement k, no other runs, and one `not executed` error with
    /// statement id k follows for each statement after k (query/executor.go; non-chunked,
    /// the last of them replaces k's error).
    async fn execute(self, chunk_size: usize, sink: &mut impl PartSink) {
        let n = self.statements.len();
        for (id, stmt) in self.statements.into_iter().enumerate() {
            let warning = match &stmt {
                _ if !self.by_get => None,
                // A SELECT that writes: printed with every database and retention policy named.
                Statement::Select(s) if s.into.is_some() => {
                    let cat = self.core.catalog();
                    let default_rp = |d: &str| {
                        cat.databases
                            .get(d)
                            .map(|d| d.default_rp.clone())
                            .unwrap_or_default()
                    };
                    let text = query::select_text(s, &self.db, &default_rp);
                    Some(format!(
                        "deprecated use of '{text}' in a read only context, please use a POST request instead"
                    ))
                }
                _ => stmt.read_only_warning(),
            };
            let shape = shape(&stmt);
            // Listed by SHOW QUERIES while it runs (and forgotten if the request is dropped).
            let running = Running {
                core: &self.core,
                qid: self.core.query_started(&stmt.text(), &self.db),
            };
            let zone = match &stmt {
                Statement::Select(s) if self.local_times => {
                    s.tz.as_deref().and_then(query::tz::Zone::load)
                }
                _ => None,
            };
            let started = std::time::Instant::now();
            let mut r = match stmt {
                // A large raw answer asked in chunks is read in time windows, each sent as it
                // is read (`select::stream`).
                Statement::Select(s) if chunk_size > 0 && s.into.is_none() && warning.is_none() => {
                    match select_chunked(
                        &self.core,
                        &self.db,
                        &self.rp,
                        s,
                        (id, chunk_size),
                        zone.as_ref(),
                        sink,
                    )
                    .await
                    {
                        Ok(Some(r)) => r,
                        Ok(None) => {
                            drop(running);
                            self.core.counters().query(true, started.elapsed());
                            continue;
                        }
                        Err(Gone) => return,
                    }
                }
                stmt => execute(&self.core, stmt, &self.db, &self.rp, &self.principal).await,
            };
            drop(running);
            if let Some(zone) = &zone {
                localize_times(&mut r, zone);
            }
            let failed = r.error.is_some();
            self.core.counters().query(!failed, started.elapsed());
            match warning {
                // An error result carries no messages (1.x returns before sending them).
                Some(w) if !failed => r = r.with_warning(w),
                _ => {}
            }
            let sent = if shape == Shape::Rows && !failed && r.messages.is_empty() {
                // Rows leave part by part as they are cut. An engine producing rows
                // incrementally pushes each piece of a series to a `Rows` as it has it.
                let mut rows = Rows::new(id, chunk_size, sink);
                let mut sent = Ok(());
                for s in r.series {
                    sent = rows.push(s).await;
                    if sent.is_err() {
                        break;
                    }
                }
                match sent {
                    Ok(()) => rows.finish().await,
                    e => e,
                }
            } else {
                let mut sent = Ok(());
                for part in query::output::split(id, r, shape, chunk_size) {
                    sent = sink.part(part).await;
                    if sent.is_err() {
                        break;
                    }
                }
                sent
            };
            if sent.is_err() {
                return;
            }
            if failed {
                for _ in id + 1..n {
                    let not_executed = ResultPart::new(id, StatementResult::error("not executed"));
                    if sink.part(not_executed).await.is_err() {
                        return;
                    }
                }
                return;
            }
        }
    }
}

/// A SELECT asked in chunks: streamed window by window when it can be
/// (`select::Prepared::streams`; `Ok(None)`: answered, its parts sent), else its whole
/// answer (or its error) for the caller to send.
async fn select_chunked(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    stmt: query::ast::Select,
    (id, chunk_size): (usize, usize),
    zone: Option<&query::tz::Zone>,
    sink: &mut impl PartSink,
) -> Result<Option<StatementResult>, Gone> {
    let deadline = super::select::deadline(core);
    let prepared = super::select::before(deadline, super::select::prepare(core, stmt, db, rp))
        .await
        .and_then(|p| p);
    let p = match prepared {
        Ok(p) if p.streams() => p,
        Ok(p) => {
            let answer = super::select::before(deadline, super::select::gather(core, p)).await;
            return Ok(Some(answer.unwrap_or_else(|timed_out| timed_out)));
        }
        Err(answer) => return Ok(Some(answer)),
    };
    let mut rows = Rows::new(id, chunk_size, sink);
    match super::select::stream(core, p, &mut rows, chunk_size, zone, deadline).await? {
        super::select::Streamed::Done => {
            rows.finish().await?;
            Ok(None)
        }
        super::select::Streamed::Failed(e) => {
            // Rows not yet sent are dropped, as 1.x's emitter drops them: the parts sent
            // are flagged partial, the error part ends the statement.
            drop(rows);
            Ok(Some(StatementResult::error(e)))
        }
    }
}

/// Times written as RFC3339 strings in a SELECT's `tz()` zone.
pub(super) fn localize_times(r: &mut StatementResult, zone: &query::tz::Zone) {
    for v in r
        .series
        .iter_mut()
        .flat_map(|s| s.values.iter_mut().flatten())
    {
        if let query::Value::Time(t) = v {
            *v = query::Value::Str(zone.format_rfc3339_nano(*t).into());
        }
    }
}

/// A statement listed by SHOW QUERIES until it is answered or its request is dropped.
struct Running<'a> {
    core: &'a Core,
    qid: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.core.query_finished(self.qid);
    }
}

fn change(
    f: impl FnOnce(&mut catalog::Catalog) -> Result<Vec<Purge>, CatalogError> + Send + 'static,
) -> crate::runtime::core::CatalogChange {
    Box::new(move |cat| f(cat).map_err(Into::into))
}

async fn run_change(
    core: &Rc<Core>,
    f: impl FnOnce(&mut catalog::Catalog) -> Result<Vec<Purge>, CatalogError> + Send + 'static,
) -> StatementResult {
    match core.catalog_change(change(f)).await {
        Ok(()) => StatementResult::ok(),
        Err(e) => StatementResult::error(e.to_string()),
    }
}

async fn execute(
    core: &Rc<Core>,
    stmt: Statement,
    db: &str,
    rp: &str,
    principal: &Principal,
) -> StatementResult {
    match stmt {
        Statement::CreateDatabase(c) => {
            let spec = c.rp.map(|s| RetentionPolicySpec {
                name: s.name,
                duration_ns: s.duration_ns,
                replica_n: s.replication,
                shard_group_duration_ns: s.shard_duration_ns,
            });
            run_change(core, move |cat| {
                cat.create_database(&c.name, spec).map(|_| Vec::new())
            })
            .await
        }
        Statement::DropDatabase { name } => {
            run_change(core, move |cat| {
                cat.users.forget_database(&name);
                cat.drop_database(&name)
                    .map(|_| vec![Purge::Database(name)])
            })
            .await
        }
        Statement::ShowDatabases => {
            let cat = core.catalog_snapshot();
            StatementResult::databases(
                cat.databases
                    .keys()
                    .filter(|d| super::auth::may_see_database(principal, d))
                    .cloned(),
            )
        }
        Statement::CreateRetentionPolicy(c) => {
            let spec = RetentionPolicySpec {
                name: Some(c.name),
                duration_ns: Some(c.duration_ns),
                replica_n: Some(c.replication),
                shard_group_duration_ns: (c.shard_duration_ns != 0).then_some(c.shard_duration_ns),
            };
            run_change(core, move |cat| {
                cat.create_retention_policy(&c.database, spec, c.default)
                    .map(|_| Vec::new())
            })
            .await
        }
        Statement::AlterRetentionPolicy(a) => {
            let update = RetentionPolicyUpdate {
                name: None,
                duration_ns: a.duration_ns,
                replica_n: a.replication,
                shard_group_duration_ns: a.shard_duration_ns,
            };
            run_change(core, move |cat| {
                cat.alter_retention_policy(&a.database, &a.name, update, a.default)
                    .map(|_| Vec::new())
            })
            .await
        }
        Statement::DropRetentionPolicy { name, database } => {
            run_change(core, move |cat| {
                cat.drop_retention_policy(&database, &name)
                    .map(|_| vec![Purge::RetentionPolicy(database, name)])
            })
            .await
        }
        Statement::ShowRetentionPolicies { database } => {
            let name = database.unwrap_or_else(|| db.to_string());
            if name.is_empty() {
                return StatementResult::error("database name required");
            }
            let cat = core.catalog_snapshot();
            let Some(d) = cat.databases.get(&name) else {
                return StatementResult::error(format!("database not found: {name}"));
            };
            let rows: Vec<RetentionPolicyRow> = d
                .rps
                .values()
                .map(|r| RetentionPolicyRow {
                    name: r.name.clone(),
                    duration_ns: r.duration_ns,
                    shard_group_duration_ns: r.shard_group_duration_ns,
                    replica_n: r.replica_n,
                    default: r.name == d.default_rp,
                })
                .collect();
            StatementResult::retention_policies(&rows)
        }
        Statement::Select(mut s) => {
            let into = s.into.take();
            if let Some(target_db) = into.as_ref().and_then(|t| t.database.as_deref()) {
                if !core.catalog().databases.contains_key(target_db) {
                    return StatementResult::error(format!("database not found: {target_db}"));
                }
            }
            let deadline = super::select::deadline(core);
            let result = super::select::before(deadline, super::select::select(core, s, db, rp))
                .await
                .unwrap_or_else(|timed_out| timed_out);
            match into {
                Some(target) if result.error.is_none() => {
                    write_into(core, &target, db, result).await
                }
                _ => result,
            }
        }
        Statement::Delete(d) => {
            super::delete::execute(core, super::delete::Kind::Delete(d), db).await
        }
        Statement::DropSeries(d) => {
            super::delete::execute(core, super::delete::Kind::DropSeries(d), db).await
        }
        Statement::DropMeasurement { name } => {
            super::delete::execute(core, super::delete::Kind::DropMeasurement(name), db).await
        }
        Statement::Show(s) => super::show::execute(core, s, db).await,
        user_statement => users::execute(core, user_statement).await,
    }
}

/// `SELECT ... INTO`: the rows written back as points (1.x `convertRowToPoints`: the
/// measurement is the target's or the row's own, the tags the series' GROUP BY tags, the fields
/// every non-null column but `time`; a row with no field is dropped), then the count written
/// (`result` / `written` at time 0).
async fn write_into(
    core: &Rc<Core>,
    target: &query::ast::Target,
    db: &str,
    result: StatementResult,
) -> StatementResult {
    use crate::lineproto::{encode, FieldValue, PointRef};
    let db = target.database.as_deref().unwrap_or(db);
    if db.is_empty() {
        return StatementResult::error("no database in target");
    }
    let mut body = Vec::new();
    let mut written = 0i64;
    for series in &result.series {
        let Some(time_col) = series.columns.iter().position(|c| c == "time") else {
            return StatementResult::error("error finding time index in result");
        };
        let name = target
            .measurement
            .as_deref()
            .or(series.name.as_deref())
            .unwrap_or_default();
        let tags: Vec<(&[u8], &[u8])> = series
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        for row in &series.values {
            let Some(query::Value::Time(t)) = row.get(time_col) else {
                continue;
            };
            let fields: Vec<(&[u8], FieldValue<'_>)> = series
                .columns
                .iter()
                .zip(row)
                .enumerate()
                .filter(|(i, _)| *i != time_col)
                .filter_map(|(_, (c, v))| {
                    let v = match v {
                        query::Value::Float(f) => FieldValue::Float(*f),
                        query::Value::Int(i) => FieldValue::Integer(*i),
                        query::Value::UInt(u) => FieldValue::Unsigned(*u),
                        query::Value::Bool(b) => FieldValue::Boolean(*b),
                        query::Value::Str(s) => {
                            FieldValue::String(std::borrow::Cow::Borrowed(s.as_bytes()))
                        }
                        query::Value::Time(t) => FieldValue::Integer(*t),
                        query::Value::Null => return None,
                    };
                    Some((c.as_bytes(), v))
                })
                .collect();
            let point = PointRef {
                measurement: name.as_bytes(),
                tags: &tags,
                fields: &fields,
                timestamp: Some(*t),
            };
            // A point the line protocol cannot carry (no field, NaN) is dropped, as 1.x drops
            // what `NewPoint` refuses.
            if encode(&mut body, &point).is_ok() {
                written += 1;
            }
        }
    }
    if written > 0 {
        let rp = target.retention_policy.as_deref();
        if let Err(e) = super::write::write_lines(core, db, rp, body).await {
            return StatementResult::error(e.to_string());
        }
    }
    StatementResult {
        series: vec![Series {
            name: Some("result".into()),
            columns: vec!["time".into(), "written".into()],
            values: vec![vec![query::Value::Time(0), query::Value::Int(written)]],
            ..Series::default()
        }],
        ..StatementResult::default()
    }
}

/// The user statements: hashing off the event loop, changes through core 0's catalog change.
mod users {
    use crate::catalog::users::{hash_password, UserError, Users};
    use crate::catalog::Catalog;
    use crate::query::{Series, Statement, StatementResult, Value};
    use crate::runtime::Core;
    use std::rc::Rc;

    async fn hash(password: String) -> Result<String, UserError> {
        glommio::executor()
            .spawn_blocking(move || hash_password(&password))
            .await
    }

    async fn change(
        core: &Rc<Core>,
        f: impl FnOnce(&mut Catalog) -> Result<(), UserError> + Send + 'static,
    ) -> StatementResult {
        let boxed: crate::runtime::core::CatalogChange =
            Box::new(move |cat| f(cat).map(|_| Vec::new()).map_err(Into::into));
        match core.catalog_change(boxed).await {
            Ok(()) => StatementResult::ok(),
            Err(e) => StatementResult::error(e.to_string()),
        }
    }

    fn table(columns: &[&str], values: Vec<Vec<Value>>) -> StatementResult {
        StatementResult {
            series: vec![Series {
                name: None,
                columns: columns.iter().map(|c| c.to_string()).collect(),
                values,
                ..Series::default()
            }],
            ..StatementResult::default()
        }
    }

    fn users_of(core: &Core) -> Users {
        core.catalog().users.clone()
    }

    pub async fn execute(core: &Rc<Core>, stmt: Statement) -> StatementResult {
        match stmt {
            Statement::CreateUser {
                name,
                password,
                admin,
            } => {
                let h = match hash(password.0.clone()).await {
                    Ok(h) => h,
                    Err(e) => return StatementResult::error(e.to_string()),
                };
                change(core, move |cat| {
                    cat.users.create(&name, &password.0, h, admin).map(|_| ())
                })
                .await
            }
            Statement::DropUser { name } => {
                change(core, move |cat| cat.users.drop_user(&name)).await
            }
            Statement::SetPassword { name, password } => {
                if users_of(core).get(&name).is_none() {
                    return StatementResult::error(UserError::UserNotFound.to_string());
                }
                let h = match hash(password.0).await {
                    Ok(h) => h,
                    Err(e) => return StatementResult::error(e.to_string()),
                };
                change(core, move |cat| cat.users.set_password(&name, h)).await
            }
            Statement::Grant {
                privilege,
                database,
                user,
            } => {
                change(core, move |cat| {
                    let exists = cat.databases.contains_key(&database);
                    cat.users.set_privilege(&user, &database, privilege, exists)
                })
                .await
            }
            Statement::Revoke {
                privilege,
                database,
                user,
            } => {
                change(core, move |cat| {
                    let exists = cat.databases.contains_key(&database);
                    cat.users.revoke(&user, &database, privilege, exists)
                })
                .await
            }
            Statement::GrantAdmin { user } => {
                change(core, move |cat| cat.users.set_admin(&user, true)).await
            }
            Statement::RevokeAdmin { user } => {
                change(core, move |cat| cat.users.set_admin(&user, false)).await
            }
            Statement::ShowUsers => {
                let rows = users_of(core)
                    .by_name
                    .values()
                    .map(|u| vec![Value::Str(u.name.as_str().into()), Value::Bool(u.admin)])
                    .collect();
                table(&["user", "admin"], rows)
            }
            Statement::ShowGrants { user } => match users_of(core).grants(&user) {
                Ok(grants) => {
                    let rows = grants
                        .into_iter()
                        .map(|(d, p)| vec![Value::Str(d.into()), Value::Str(p.to_string().into())])
                        .collect();
                    table(&["database", "privilege"], rows)
                }
                Err(e) => StatementResult::error(e.to_string()),
            },
            _ => StatementResult::error("internal error: not a user statement"),
        }
    }
}
