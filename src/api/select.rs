//! A SELECT's read: its sources resolved and its plan checked (`prepare`), then either read
//! whole (`gather`: aggregates reduced on each core, raw rows filtered there, the answer put
//! together on the answering core) or, for a large raw answer asked in chunks, read in time
//! windows so that the answer's memory stays bounded (`stream`).

use super::query::{Gone, PartSink, Rows};
use crate::query::{self, StatementResult};
use crate::runtime::{Core, ProfileScan, ScanColumnsReduce, ScanReduce};
use crate::storage::scan::Profile;
use crate::storage::ScanRequest;
use std::rc::Rc;

/// Points a SELECT's rows or partials may hold for the answering core to finish them on its own
/// thread rather than on the blocking pool (a few hundred microseconds of work at most).
const INLINE_POINTS_MAX: u64 = 4096;

/// 1.x's error for a statement past `query-timeout`.
const TIMED_OUT: &str = "query-timeout limit exceeded";

/// When a statement starting now must be answered (`[coordinator] query-timeout`; `None`: no
/// limit).
pub(super) fn deadline(core: &Core) -> Option<std::time::Instant> {
    let limit = core.config().coordinator.query_timeout;
    (!limit.is_zero()).then(|| std::time::Instant::now() + limit)
}

/// `work` if it ends before the deadline, else the statement's timeout error (`work` dropped).
pub(super) async fn before<T>(
    deadline: Option<std::time::Instant>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, StatementResult> {
    let Some(deadline) = deadline else {
        return Ok(work.await);
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    glommio::timer::timeout(left, async { Ok(work.await) })
        .await
        .map_err(|_| StatementResult::error(TIMED_OUT))
}

/// A SELECT read whole.
pub(super) async fn select(
    core: &Rc<Core>,
    stmt: query::ast::Select,
    db: &str,
    rp: &str,
) -> StatementResult {
    match prepare(core, stmt, db, rp).await {
        Ok(p) => gather(core, p).await,
        Err(answer) => answer,
    }
}

/// A SELECT checked and planned: what each core is to read, and the rows of its subqueries.
pub(super) struct Prepared {
    plan: query::select::Plan,
    scans: Vec<ScanRequest>,
    sub_rows: Vec<query::SeriesRows>,
    fields: Option<Vec<Vec<u8>>>,
    limits: query::select::Limits,
    subqueries: bool,
}

/// Resolves a SELECT's sources, plans and checks it (1.x's errors, in 1.x's order), and runs
/// its subqueries; an `Err` is the statement's answer.
pub(super) async fn prepare(
    core: &Rc<Core>,
    stmt: query::ast::Select,
    db: &str,
    rp: &str,
) -> Result<Prepared, StatementResult> {
    // Resolve every source first: 1.x answers an unknown database or retention policy before
    // it reads anything.
    let mut targets = Vec::new();
    let direct: Vec<_> = stmt
        .sources
        .iter()
        .filter_map(|s| match s {
            query::ast::Source::Measurement {
                database,
                retention_policy,
                measurement,
            } => Some((database, retention_policy, measurement)),
            query::ast::Source::Subquery(_) => None,
        })
        .collect();
    for (database, retention_policy, measurement) in direct {
        let db = database.clone().unwrap_or_else(|| db.to_string());
        if db.is_empty() {
            return Err(StatementResult::error("database name required"));
        }
        let rp_param = retention_policy.clone().unwrap_or_else(|| rp.to_string());
        let resolved = {
            let cat = core.catalog();
            cat.resolve(&db, Some(&rp_param))
                .map(|(d, r)| (d.name.clone(), r.name.clone()))
        };
        match resolved {
            Ok((db, rp)) => targets.push((db, rp, measurement.clone())),
            Err(e) => return Err(StatementResult::error(e.to_string())),
        }
    }
    // A WHERE name is a field when the schema knows a field of that name in a source.
    let types = field_types(core, &targets).await;
    let is_field = |n: &str| types.contains_key(n);
    let limits = &core.config().coordinator;
    let limits = query::select::Limits {
        points: limits.max_select_point,
        series: limits.max_select_series,
        buckets: limits.max_select_buckets,
    };
    // `mean(*)`: checked as written, then one call per field of the sources (1.x's
    // `RewriteFields`).
    let expanded = query::select::has_call_wildcards(&stmt);
    let stmt = if expanded {
        if let Err(e) = query::select::plan(&stmt, super::now_ns(), &is_field) {
            return Err(StatementResult::error(e));
        }
        let (fields, _) = measurement_keys(core, &targets).await;
        match query::select::expand_call_wildcards(&stmt, &fields) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(StatementResult::ok()),
            Err(e) => return Err(StatementResult::error(e)),
        }
    } else {
        stmt
    };
    let plan = if expanded {
        query::select::plan_expanded(&stmt, super::now_ns(), &is_field)
    } else {
        query::select::plan(&stmt, super::now_ns(), &is_field)
    };
    let mut plan = match plan {
        Ok(p) => p,
        Err(e) => return Err(StatementResult::error(e)),
    };
    if plan.expands_keys() {
        let (fields, tags) = measurement_keys(core, &targets).await;
        plan.set_known_keys(fields, tags);
    } else if plan.groups_by_known_tags() {
        // `GROUP BY *` names the measurements' tag keys, whichever rows are read.
        let (_, tags) = measurement_keys(core, &targets).await;
        plan.set_known_tags(tags);
    }
    if query::select::has_raw_expressions(&stmt) {
        // A name that is no field may be a tag, which arithmetic refuses.
        let (_, tags) = measurement_keys(core, &targets).await;
        let ty = |n: &str| {
            use crate::lineproto::FieldType as T;
            use query::DataType as D;
            match types.get(n) {
                Some(T::Float) => D::Float,
                Some(T::Integer) => D::Integer,
                Some(T::Unsigned) => D::Unsigned,
                Some(T::String) => D::String,
                Some(T::Boolean) => D::Boolean,
                None if tags.iter().any(|t| t[..] == *n.as_bytes()) => D::Tag,
                None => D::Unknown,
            }
        };
        if let Err(e) = query::select::check_raw_types(&stmt, &ty) {
            return Err(StatementResult::error(e));
        }
    }
    if let Err(e) = plan.check_buckets(&limits) {
        return Err(StatementResult::error(e));
    }
    let type_of = |n: &str| {
        use crate::lineproto::FieldType as T;
        use query::func::FieldType as F;
        types.get(n).map(|t| match t {
            T::Float => F::Float,
            T::Integer => F::Integer,
            T::Unsigned => F::Unsigned,
            T::String => F::String,
            T::Boolean => F::Boolean,
        })
    };
    if let Err(e) = plan.check_types(&type_of) {
        return Err(StatementResult::error(e));
    }
    let (_, condition) = plan.scan();
    let condition = condition.clone();
    let mut sub_rows = Vec::new();
    for source in &stmt.sources {
        if let query::ast::Source::Subquery(inner) = source {
            let inner = query::select::subquery_statement(&stmt, inner, super::now_ns());
            let answer = Box::pin(select(core, inner, db, rp)).await;
            if answer.error.is_some() {
                return Err(answer);
            }
            sub_rows.extend(query::select::rows_of(answer));
        }
    }
    // Only the fields the statement reads leave storage.
    let fields = plan.fields();
    let edge = plan.edge();
    let scans: Vec<ScanRequest> = if condition.is_empty_range() {
        Vec::new()
    } else {
        targets
            .into_iter()
            .map(|(db, rp, measurements)| ScanRequest {
                db,
                rp,
                measurements,
                condition: condition.clone(),
                fields: fields.clone(),
                edge,
            })
            .collect()
    };
    let subqueries = stmt
        .sources
        .iter()
        .any(|s| matches!(s, query::ast::Source::Subquery(_)));
    // integral() merges series one shard group after another, as 1.x does (the first
    // retention policy's groups when the sources read several).
    if let Some(group) = scans.first().and_then(|scan| {
        core.catalog()
            .databases
            .get(&scan.db)
            .and_then(|d| d.rps.get(&scan.rp))
            .map(|r| r.shard_group_duration_ns)
    }) {
        plan.set_shard_group(group);
    }
    if plan.picks_tag_sets() && !subqueries {
        // SLIMIT and SOFFSET pick tag sets from the index, before anything is read.
        if let Some(picked) = pick_tag_sets(core, &plan, &scans).await? {
            plan.set_picked(std::sync::Arc::new(picked));
        }
    }
    Ok(Prepared {
        plan,
        scans,
        sub_rows,
        fields,
        limits,
        subqueries,
    })
}

/// A series' measurement and tags.
pub(super) type SeriesTags = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// The series of a scan with a point in its time range (and its tag condition), from every
/// core: their measurement and tags.
pub(super) async fn series_tags(
    core: &Rc<Core>,
    scan: &ScanRequest,
) -> Result<Vec<SeriesTags>, StatementResult> {
    let mut scan = scan.clone();
    scan.fields = None;
    scan.edge = Some(crate::storage::scan::Edge {
        n: 1,
        newest: false,
    });
    let answers = core
        .ask_all(|_| {
            ScanReduce(
                scan.clone(),
                Box::new(|rows: Vec<crate::storage::SeriesRows>| {
                    let series: Vec<SeriesTags> =
                        rows.into_iter().map(|s| (s.measurement, s.tags)).collect();
                    Box::new(series)
                }),
            )
        })
        .await;
    let mut out = Vec::new();
    for a in answers {
        match a.map(|a| a.downcast::<Vec<SeriesTags>>()) {
            Ok(Ok(series)) => out.extend(*series),
            Ok(Err(_)) => return Err(StatementResult::error("internal error: unexpected series")),
            Err(e) => return Err(StatementResult::error(e.to_string())),
        }
    }
    Ok(out)
}

/// Shard groups a SLIMIT pick reads at most, one scan each; past them the series that keep a
/// row are counted instead.
const PICK_SHARD_GROUPS_MAX: i64 = 64;

/// The tag sets SLIMIT and SOFFSET pick as 1.x picks them: in each shard group that the time
/// range reaches, the measurement's tag sets (GROUP BY tags) of the series with a point in that
/// shard group and the WHERE's tag condition, in `tags_id` order, SOFFSET skipped and SLIMIT
/// kept, whether or not they have a point in the range itself or pass a field condition.
/// `None` when the pick is not made that way: the shard groups pick different tag sets (1.x
/// then answers each tag set's points of the shard groups that picked it), or too many of them
/// are reached.
async fn pick_tag_sets(
    core: &Rc<Core>,
    plan: &query::select::Plan,
    scans: &[ScanRequest],
) -> Result<Option<query::PickedTagSets>, StatementResult> {
    let (slimit, soffset) = plan.series_limits();
    // Each measurement's pick; every shard group that holds the measurement must agree on it.
    let mut picked: std::collections::BTreeMap<Vec<u8>, std::collections::BTreeSet<Vec<u8>>> =
        std::collections::BTreeMap::new();
    for scan in scans {
        let Some(group) = core
            .catalog()
            .databases
            .get(&scan.db)
            .and_then(|d| d.rps.get(&scan.rp))
            .map(|r| r.shard_group_duration_ns.max(1))
        else {
            return Ok(None);
        };
        let start = |t: i64| i64::try_from(super::show::shard_group_start(t, group)).ok();
        // The shard groups the range reaches that hold a point of the scan's series.
        let mut reach = scan.clone();
        reach.condition.time_min_ns = match scan.condition.time_min_ns {
            i64::MIN => i64::MIN,
            t => start(t).unwrap_or(i64::MIN),
        };
        reach.condition.time_max_ns = match scan.condition.time_max_ns {
            i64::MAX => i64::MAX,
            t => start(t.saturating_sub(1))
                .and_then(|s| s.checked_add(group))
                .unwrap_or(i64::MAX),
        };
        let extent = profile(core, &reach, None).await;
        if extent.min > extent.max {
            continue;
        }
        let (Some(first), Some(last)) = (start(extent.min), start(extent.max)) else {
            return Ok(None);
        };
        if (i128::from(last) - i128::from(first)) / i128::from(group)
            >= i128::from(PICK_SHARD_GROUPS_MAX)
        {
            return Ok(None);
        }
        let mut at = first;
        while at <= last {
            let series = series_tags(core, &within(&reach, at, at.saturating_add(group))).await?;
            // Each measurement's tag sets of this shard group, in `tags_id` order.
            let mut sets: std::collections::BTreeMap<Vec<u8>, std::collections::BTreeSet<Vec<u8>>> =
                std::collections::BTreeMap::new();
            for (m, tags) in series {
                let id = plan.tag_set_id(&tags);
                sets.entry(m).or_default().insert(id);
            }
            let skip = usize::try_from(soffset).unwrap_or(usize::MAX);
            let take = match slimit {
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            for (m, ids) in sets {
                let chosen: std::collections::BTreeSet<Vec<u8>> =
                    ids.into_iter().skip(skip).take(take).collect();
                match picked.get(&m) {
                    Some(before) if *before != chosen => return Ok(None),
                    Some(_) => {}
                    None => {
                        picked.insert(m, chosen);
                    }
                }
            }
            at = at.saturating_add(group);
            if at == i64::MAX {
                break;
            }
        }
    }
    Ok(Some(
        picked
            .into_iter()
            .flat_map(|(m, ids)| ids.into_iter().map(move |id| (m.clone(), id)))
            .collect(),
    ))
}

/// A prepared SELECT read whole: aggregates reduced on each core, raw rows filtered there.
pub(super) async fn gather(core: &Rc<Core>, p: Prepared) -> StatementResult {
    let Prepared {
        plan,
        scans,
        sub_rows,
        fields,
        limits,
        ..
    } = p;
    match plan {
        // Aggregates: each core reduces its own series and sends its partial, not its rows.
        query::select::Plan::Aggregate(agg) => {
            let mut partials = vec![agg.partial(sub_rows)];
            // Calls that read fields only reduce straight from columns.
            let columns = fields.filter(|_| agg.columnar()).map(std::sync::Arc::new);
            for scan in scans {
                let answers = match &columns {
                    Some(fields) => {
                        core.ask_all(|_| {
                            let (agg, fields) = (agg.clone(), fields.clone());
                            ScanColumnsReduce(
                                scan.clone(),
                                Box::new(move |s| Box::new(agg.partial_columns(&fields, s))),
                            )
                        })
                        .await
                    }
                    None => {
                        core.ask_all(|_| {
                            let agg = agg.clone();
                            ScanReduce(
                                scan.clone(),
                                Box::new(move |rows| Box::new(agg.partial(rows))),
                            )
                        })
                        .await
                    }
                };
                for answer in answers {
                    match answer.map(|a| a.downcast::<query::select::Partial>()) {
                        Ok(Ok(p)) => partials.push(*p),
                        Ok(Err(_)) => {
                            return StatementResult::error("internal error: unexpected partial")
                        }
                        Err(e) => return StatementResult::error(e.to_string()),
                    }
                }
            }
            if let Err(e) = limits.check_counts(
                partials.iter().map(|p| p.series).sum(),
                partials.iter().map(|p| p.points).sum(),
            ) {
                return StatementResult::error(e);
            }
            // Merging partials of few points is quicker here than the trip to another thread.
            let points: u64 = partials.iter().map(|p| p.points).sum();
            let work = points.saturating_add(agg.fill_buckets(&partials));
            if work <= INLINE_POINTS_MAX {
                agg.finish(partials)
            } else {
                glommio::executor()
                    .spawn_blocking(move || agg.finish(partials))
                    .await
            }
        }
        plan => {
            // Raw: each core filters its own rows (and keeps only the rows a LIMIT can reach).
            let plan = std::sync::Arc::new(plan);
            let mut rows = plan.reduce_raw(sub_rows);
            for scan in &scans {
                match raw_rows(core, &plan, scan).await {
                    Ok(mut r) => rows.append(&mut r),
                    Err(e) => return e,
                }
            }
            if let Err(e) = limits.check_rows(&rows) {
                return StatementResult::error(e);
            }
            put_in_order(&plan, rows).await
        }
    }
}

/// Every core's rows of a raw SELECT's scan, filtered there (`Plan::reduce_raw`).
async fn raw_rows(
    core: &Rc<Core>,
    plan: &std::sync::Arc<query::select::Plan>,
    scan: &ScanRequest,
) -> Result<Vec<query::SeriesRows>, StatementResult> {
    let mut rows = Vec::new();
    let answers = core
        .ask_all(|_| {
            let plan = plan.clone();
            ScanReduce(
                scan.clone(),
                Box::new(move |rows| Box::new(plan.reduce_raw(rows))),
            )
        })
        .await;
    for answer in answers {
        match answer.map(|a| a.downcast::<Vec<query::SeriesRows>>()) {
            Ok(Ok(mut r)) => rows.append(&mut r),
            Ok(Err(_)) => return Err(StatementResult::error("internal error: unexpected rows")),
            Err(e) => return Err(StatementResult::error(e.to_string())),
        }
    }
    Ok(rows)
}

/// A raw SELECT's rows grouped, sorted and merged into its answer: off the core's thread, like
/// the rendering (unless they are few).
async fn put_in_order(
    plan: &std::sync::Arc<query::select::Plan>,
    rows: Vec<query::SeriesRows>,
) -> StatementResult {
    let points: usize = rows.iter().map(|s| s.points.len()).sum();
    if points as u64 <= INLINE_POINTS_MAX {
        query::select::execute_reduced(plan, rows)
    } else {
        let plan = plan.clone();
        glommio::executor()
            .spawn_blocking(move || query::select::execute_reduced(&plan, rows))
            .await
    }
}

/// The field types of the sources' measurements: a measurement's schema owner knows all of them
/// (another core knows only the fields it has written), so each is asked of its owner, and a
/// regex of every core.
async fn field_types(
    core: &Rc<Core>,
    targets: &[(String, String, query::MeasurementMatch)],
) -> std::collections::HashMap<String, crate::lineproto::FieldType> {
    use crate::lineproto::FieldType as T;
    use crate::runtime::ShowFieldKeys;
    let mut types = std::collections::HashMap::new();
    let mut known: Vec<crate::runtime::FieldKeys> = Vec::new();
    for (db, rp, m) in targets {
        let ask = |_| ShowFieldKeys {
            db: db.clone(),
            rp: rp.clone(),
            measurements: vec![m.clone()],
        };
        match m {
            query::MeasurementMatch::Name(name) => {
                let owner = crate::shard::key::schema_owner(db, rp, name.as_bytes(), core.cores());
                if owner == core.id() {
                    let fields = core.schema().fields_of(db, rp, name.as_bytes());
                    for (f, t) in fields {
                        types.insert(String::from_utf8_lossy(&f).into_owned(), t);
                    }
                } else if let Ok(keys) = core.ask(owner, ask(owner)).await {
                    known.push(keys);
                }
            }
            query::MeasurementMatch::Regex(_) => {
                known.extend(core.ask_all(ask).await.into_iter().flatten());
            }
        }
    }
    for (_, fields) in known.into_iter().flatten() {
        for (f, name) in fields {
            let t = match name {
                "float" => T::Float,
                "integer" => T::Integer,
                "unsigned" => T::Unsigned,
                "string" => T::String,
                _ => T::Boolean,
            };
            types.insert(String::from_utf8_lossy(&f).into_owned(), t);
        }
    }
    types
}

/// Every field key (with its type name) and tag key of the targets' measurements, from every
/// core's schema and series index.
async fn measurement_keys(
    core: &Rc<Core>,
    targets: &[(String, String, query::MeasurementMatch)],
) -> (Vec<(Vec<u8>, &'static str)>, Vec<Vec<u8>>) {
    use crate::runtime::{Show, ShowFieldKeys};
    let mut fields: std::collections::BTreeMap<Vec<u8>, &'static str> = Default::default();
    let mut tags: std::collections::BTreeSet<Vec<u8>> = Default::default();
    for (db, rp, m) in targets {
        for answer in core
            .ask_all(|_| ShowFieldKeys {
                db: db.clone(),
                rp: rp.clone(),
                measurements: vec![m.clone()],
            })
            .await
            .into_iter()
            .flatten()
        {
            for (_, fs) in answer {
                fields.extend(fs);
            }
        }
        let req = crate::storage::ShowRequest {
            db: db.clone(),
            rps: vec![rp.clone()],
            measurements: vec![m.clone()],
            condition: query::TagExpr::True,
            what: crate::storage::ShowWhat::TagKeys,
        };
        for answer in core
            .ask_all(|_| Show(req.clone()))
            .await
            .into_iter()
            .flatten()
        {
            for (_, items) in answer {
                tags.extend(items.into_iter().map(|(k, _)| k));
            }
        }
    }
    (fields.into_iter().collect(), tags.into_iter().collect())
}

/// Buckets of one profile round: how finely a window too large is cut.
const PROFILE_BUCKETS: usize = 256;
/// Points a window reads at least and at most (its share of the answer held at once).
const WINDOW_POINTS_MIN: u64 = 1_000;
const WINDOW_POINTS_MAX: u64 = 4_000_000;

impl Prepared {
    /// Whether the answer can be read in time windows: a raw SELECT over one source, or several
    /// each naming a measurement of its own, with no `max-select-*` limit (they count the whole
    /// answer's points and series before any is sent) and no subquery. With GROUP BY tags, they
    /// must be known before it reads (`Plan::group_dims`), and its series not cut to their edge
    /// rows already (`Plan::edge`: a LIMIT over `*` bounds the answer, and reading it whole is
    /// quicker). LIMIT and OFFSET (a series' rows) are applied as the windows are sent; SLIMIT
    /// and SOFFSET pick tag sets before.
    pub(super) fn streams(&self) -> bool {
        let query::select::Plan::Raw { stmt, .. } = &self.plan else {
            return false;
        };
        let names: Vec<&str> = self
            .scans
            .iter()
            .filter_map(|s| match &s.measurements {
                query::MeasurementMatch::Name(n) => Some(n.as_str()),
                query::MeasurementMatch::Regex(_) => None,
            })
            .collect();
        // Several sources stream when each names one measurement of its own (their series are
        // then the measurements, answered in name order).
        let sources_apart = self.scans.len() == 1
            || (names.len() == self.scans.len()
                && names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| !names[..i].contains(n)));
        sources_apart
            && !self.subqueries
            && (matches!(stmt.group_by, query::GroupTags::None)
                || (self.plan.group_dims().is_some() && self.plan.edge().is_none()))
            && self.limits.points == 0
            && self.limits.series == 0
    }
}

/// How a streamed SELECT ended, when the client stayed.
pub(super) enum Streamed {
    Done,
    /// An error after the rows already sent (the statement's error part follows them).
    Failed(String),
}

/// What a streamed SELECT reads as one: a measurement (without GROUP BY tags), one of its
/// tag sets, or several tag sets read together while they are few points.
struct Unit {
    /// The scan of the unit's series (its measurement named, its tag sets in the condition).
    scan: ScanRequest,
    /// The unit's tag sets (GROUP BY values, in the answer's order); empty: a measurement.
    groups: Vec<GroupValues>,
    /// The scan's profile, when it is known already.
    shape: Option<Profile>,
}

/// A raw SELECT's answer read window by window (see `Prepared::streams`): the measurements in
/// order (and with GROUP BY tags, each one's tag sets in order), each one's time range cut by
/// the cores' profiles (`ProfileScan`: points per time bucket, from metadata) into windows of a
/// budget of points, each window read from every core (filtered there) and put in order, its
/// rows pushed to `out` before the next window is read. Tag sets of few points are read
/// together, several in one window. The answer is the one `gather` gives; what is held at once
/// is about one window.
pub(super) async fn stream<S: PartSink>(
    core: &Rc<Core>,
    p: Prepared,
    out: &mut Rows<'_, S>,
    chunk_size: usize,
    zone: Option<&query::tz::Zone>,
    deadline: Option<std::time::Instant>,
) -> Result<Streamed, Gone> {
    let grouped = p.plan.group_dims().is_some();
    if grouped && p.plan.picks_tag_sets() && !p.plan.has_picked() {
        // SLIMIT and SOFFSET could not pick tag sets from the index (`prepare`): the tag sets
        // that keep a row are counted, in another order than the answer's, so it is gathered.
        return gathered(core, p, out, zone).await;
    }
    let query::select::Plan::Raw { stmt, .. } = &p.plan else {
        return Ok(Streamed::Failed("internal error: not a raw SELECT".into()));
    };
    let descending = stmt.descending;
    if stmt.soffset > 0 && !grouped {
        // Each measurement is one series here, and SOFFSET skips it.
        return Ok(Streamed::Done);
    }
    // The measurements met, in the answer's name order, each with the scan that reads it and,
    // when that scan met only it, the scan's profile (its own, not asked again).
    let mut sources: Vec<(Vec<u8>, &ScanRequest, Option<Profile>)> = Vec::new();
    for scan in &p.scans {
        let whole = profile(core, scan, None).await;
        if let (1, Some(met)) = (
            whole.measurements.len(),
            whole.measurements.first().cloned(),
        ) {
            sources.push((met, scan, Some(whole)));
        } else {
            let met = whole.measurements.into_iter();
            sources.extend(met.map(|m| (m, scan, None)));
        }
    }
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        // 1.x's merge answers the measurements in reverse name order too.
        sources.reverse();
    }
    let mut units = std::collections::VecDeque::new();
    let mut tag_sets = 0;
    for (m, source, shape) in sources {
        let Ok(name) = std::str::from_utf8(&m) else {
            // Names are UTF-8 (the line protocol decoder checks it); one that is not cannot be
            // named in a scan.
            return Ok(Streamed::Failed("invalid measurement name".into()));
        };
        let mut scan = source.clone();
        scan.measurements = query::MeasurementMatch::Name(name.to_string());
        match p.plan.group_dims() {
            None => units.push_back(Unit {
                scan,
                groups: Vec::new(),
                shape,
            }),
            Some(dims) => match tag_set_units(core, &p.plan, &dims, scan, descending).await {
                Ok(mut u) => {
                    tag_sets += u.iter().map(|u| u.groups.len()).sum::<usize>();
                    units.append(&mut u);
                }
                Err(e) => return Ok(Streamed::Failed(e.error.unwrap_or_default())),
            },
        }
    }
    if tag_sets > TAG_SETS_STREAMED_MAX {
        // Each unit's scan tests every series against its tag sets: past this many, reading
        // them unit by unit costs more than the answer's memory is worth.
        return gathered(core, p, out, zone).await;
    }
    // The cores reduce each window as the statement says (under a LIMIT each series is cut to
    // its OFFSET + LIMIT first rows of the window). A window of one series is put in order
    // without LIMIT, OFFSET, SLIMIT and SOFFSET, which count over all its windows (`Measured`);
    // one of several whole series with its LIMIT and OFFSET.
    let plan = std::sync::Arc::new(p.plan.clone());
    let mut whole = p.plan.clone();
    if let query::select::Plan::Raw { stmt, .. } = &mut whole {
        stmt.slimit = 0;
        stmt.soffset = 0;
    }
    let mut unlimited = whole.clone();
    if let query::select::Plan::Raw { stmt, .. } = &mut unlimited {
        stmt.limit = 0;
        stmt.offset = 0;
    }
    let (whole, order) = (std::sync::Arc::new(whole), std::sync::Arc::new(unlimited));
    let mut measured = Measured::new(stmt);
    // A window being read: its task and the unit it is of (`None`: whole series, not cut).
    let mut reading: Option<(glommio::Task<StatementResult>, Option<usize>)> = None;
    let mut index = 0;
    while let Some(unit) = units.pop_front() {
        index += 1;
        let shape = match unit.shape {
            Some(shape) => shape,
            None => profile(core, &unit.scan, None).await,
        };
        if shape.rows == 0 {
            continue;
        }
        // A window reads at least one segment file's points: a file's blocks are decoded whole,
        // so a window smaller than a file would decode it once per window.
        let budget = (chunk_size as u64)
            .saturating_mul(4)
            .clamp(WINDOW_POINTS_MIN, WINDOW_POINTS_MAX)
            .max(shape.parts.saturating_mul(2))
            .max(shape.file_rows_max);
        if unit.groups.len() > 1 {
            if shape.rows > budget {
                // Too many points for one window: each half of its tag sets on its own.
                let (first, second) = unit.groups.split_at(unit.groups.len() / 2);
                for half in [second, first] {
                    units.push_front(Unit {
                        scan: with_tag_sets(&unit.scan, half),
                        groups: half.to_vec(),
                        shape: None,
                    });
                }
                continue;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(Streamed::Failed(TIMED_OUT.into()));
            }
            let read = glommio::spawn_local({
                let (core, plan, whole) = (core.clone(), plan.clone(), whole.clone());
                let scan = unit.scan.clone();
                async move { read_window(&core, &plan, &whole, &scan).await }
            });
            if let Some(e) = swap(&mut reading, (read, None), &mut measured, out, zone).await? {
                return Ok(Streamed::Failed(e));
            }
            continue;
        }
        let mut windows = Windows::new(&shape, budget);
        while let Some((lo, hi)) = windows.next(core, &unit.scan, descending).await {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(Streamed::Failed(TIMED_OUT.into()));
            }
            if measured.is_done(index) {
                break;
            }
            // The next window is read while this one is written.
            let read = glommio::spawn_local({
                let (core, plan, order) = (core.clone(), plan.clone(), order.clone());
                let scan = within(&unit.scan, lo, hi);
                async move { read_window(&core, &plan, &order, &scan).await }
            });
            let next = (read, Some(index));
            if let Some(e) = swap(&mut reading, next, &mut measured, out, zone).await? {
                return Ok(Streamed::Failed(e));
            }
        }
    }
    if let Some((last, of)) = reading.take() {
        let rows = match of {
            Some(of) => measured.cut(of, last.await),
            None => last.await,
        };
        if let Some(e) = send(rows, out, zone).await? {
            return Ok(Streamed::Failed(e));
        }
    }
    Ok(Streamed::Done)
}

/// A SELECT that `stream` finds it cannot read in windows: read whole, then written.
async fn gathered<S: PartSink>(
    core: &Rc<Core>,
    p: Prepared,
    out: &mut Rows<'_, S>,
    zone: Option<&query::tz::Zone>,
) -> Result<Streamed, Gone> {
    let whole = gather(core, p).await;
    Ok(match send(whole, out, zone).await? {
        Some(e) => Streamed::Failed(e),
        None => Streamed::Done,
    })
}

/// Puts `next` in `reading` and writes the window read before it (cut by `measured` when it is
/// one unit's); its error, if it failed.
async fn swap<S: PartSink>(
    reading: &mut Option<(glommio::Task<StatementResult>, Option<usize>)>,
    next: (glommio::Task<StatementResult>, Option<usize>),
    measured: &mut Measured,
    out: &mut Rows<'_, S>,
    zone: Option<&query::tz::Zone>,
) -> Result<Option<String>, Gone> {
    let Some((previous, of)) = reading.replace(next) else {
        return Ok(None);
    };
    let rows = match of {
        Some(of) => measured.cut(of, previous.await),
        None => previous.await,
    };
    send(rows, out, zone).await
}

/// A tag set's GROUP BY values: (key, value) in key order, an empty value where the series
/// lacks the tag.
type GroupValues = Vec<(Vec<u8>, Vec<u8>)>;

/// Tag sets of a streamed answer at most; an answer with more is gathered whole.
const TAG_SETS_STREAMED_MAX: usize = 1024;

/// Tag sets read together at most (one condition term each).
const TAG_SETS_PER_UNIT: usize = 64;

/// A measurement's tag sets (GROUP BY values of its series with a point in the scan's range, as
/// the answer orders them; among the picked ones under SLIMIT/SOFFSET) as units of at most
/// `TAG_SETS_PER_UNIT` tag sets.
async fn tag_set_units(
    core: &Rc<Core>,
    plan: &query::select::Plan,
    dims: &std::collections::BTreeSet<Vec<u8>>,
    scan: ScanRequest,
    descending: bool,
) -> Result<std::collections::VecDeque<Unit>, StatementResult> {
    let picked = match plan {
        query::select::Plan::Raw { stmt, .. } => stmt.picked.clone(),
        query::select::Plan::Aggregate(_) => None,
    };
    let mut sets = std::collections::BTreeSet::new();
    for (m, tags) in series_tags(core, &scan).await? {
        let group: GroupValues = query::group_of(dims, &tags);
        if let Some(picked) = &picked {
            if !picked.contains(&(m, query::tags_id(&group))) {
                continue;
            }
        }
        sets.insert(group);
    }
    let mut sets: Vec<GroupValues> = sets.into_iter().collect();
    if descending {
        sets.reverse();
    }
    Ok(sets
        .chunks(TAG_SETS_PER_UNIT)
        .map(|groups| Unit {
            scan: with_tag_sets(&scan, groups),
            groups: groups.to_vec(),
            shape: None,
        })
        .collect())
}

/// `scan` narrowed to the series of `groups` (GROUP BY values; an empty value: the series
/// lacks the tag), beside its own tag condition.
fn with_tag_sets(scan: &ScanRequest, groups: &[GroupValues]) -> ScanRequest {
    use crate::storage::scan::TagExpr;
    let and = |a: TagExpr, b: TagExpr| TagExpr::And(Box::new(a), Box::new(b));
    let any = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|(key, value)| TagExpr::Eq {
                    key: key.clone(),
                    value: value.clone(),
                    negate: false,
                })
                .fold(TagExpr::True, and)
        })
        .reduce(|a, b| TagExpr::Or(Box::new(a), Box::new(b)))
        .unwrap_or(TagExpr::False);
    let mut s = scan.clone();
    s.condition.tags = and(scan.condition.tags.clone(), any);
    s
}

/// A unit's time range cut into windows of about a budget of points, as they are answered
/// (backwards under ORDER BY time DESC): where files begin and end when files do within a
/// range too large, else evenly, from the cores' profiles of the range.
struct Windows<'a> {
    shape: &'a Profile,
    budget: u64,
    /// Ranges still to read, in the order they are answered; `false`: not yet cut.
    todo: std::collections::VecDeque<(i64, i64, bool)>,
}

impl<'a> Windows<'a> {
    fn new(shape: &'a Profile, budget: u64) -> Self {
        let mut todo = std::collections::VecDeque::new();
        todo.push_back((shape.min, shape.max.saturating_add(1), shape.rows <= budget));
        Windows {
            shape,
            budget,
            todo,
        }
    }

    async fn next(
        &mut self,
        core: &Rc<Core>,
        scan: &ScanRequest,
        descending: bool,
    ) -> Option<(i64, i64)> {
        while let Some((lo, hi, sized)) = self.todo.pop_front() {
            if sized || hi - lo <= 1 {
                return Some((lo, hi));
            }
            let inner: Vec<i64> = self.shape.file_edges.range(lo + 1..hi).copied().collect();
            let grid = if inner.is_empty() {
                crate::storage::scan::Grid::uniform(lo, hi, PROFILE_BUCKETS)
            } else {
                let mut edges = vec![lo];
                edges.extend(inner);
                edges.push(hi);
                crate::storage::scan::Grid { edges }
            };
            let counts = profile(core, &within(scan, lo, hi), Some(&grid)).await;
            let pieces = cut(&grid, &counts.counts, self.budget);
            if pieces.len() == 1 && (pieces[0].0, pieces[0].1) == (lo, hi) {
                return Some((lo, hi));
            }
            let ordered: Vec<_> = if descending {
                pieces.into_iter().rev().collect()
            } else {
                pieces
            };
            for piece in ordered.into_iter().rev() {
                self.todo.push_front(piece);
            }
        }
        None
    }
}

/// LIMIT and OFFSET over a streamed series' windows (the rows still to skip and to send of the
/// unit being sent, by its index in the answer's order). SLIMIT and SOFFSET are not counted
/// here: without GROUP BY tags each measurement is one series, kept by SLIMIT and skipped by
/// SOFFSET (`stream` then answers nothing); with them the tag sets are picked before.
struct Measured {
    limit: u64,
    offset: u64,
    current: Option<Current>,
}

struct Current {
    index: usize,
    rows_skipped: u64,
    rows_sent: u64,
}

impl Measured {
    fn new(stmt: &query::SelectStatement) -> Self {
        Measured {
            limit: stmt.limit,
            offset: stmt.offset,
            current: None,
        }
    }

    /// Whether unit `index` needs no more windows read: it has sent its LIMIT rows.
    fn is_done(&self, index: usize) -> bool {
        let current = self.current.as_ref().filter(|c| c.index == index);
        current.is_some_and(|c| self.limit > 0 && c.rows_sent >= self.limit)
    }

    /// A window of unit `index` cut to the rows its OFFSET and LIMIT let through.
    fn cut(&mut self, index: usize, mut window: StatementResult) -> StatementResult {
        if self.limit == 0 && self.offset == 0 {
            return window;
        }
        let c = match &mut self.current {
            Some(c) if c.index == index => c,
            c => c.insert(Current {
                index,
                rows_skipped: 0,
                rows_sent: 0,
            }),
        };
        for series in &mut window.series {
            let skip = usize::try_from(self.offset - c.rows_skipped)
                .unwrap_or(usize::MAX)
                .min(series.values.len());
            series.values.drain(..skip);
            c.rows_skipped += skip as u64;
            if self.limit > 0 {
                let room = usize::try_from(self.limit - c.rows_sent).unwrap_or(usize::MAX);
                series.values.truncate(room);
            }
            c.rows_sent += series.values.len() as u64;
        }
        window.series.retain(|s| !s.values.is_empty());
        window
    }
}

/// A window's rows pushed out; its error, if it failed.
async fn send<S: PartSink>(
    mut result: StatementResult,
    out: &mut Rows<'_, S>,
    zone: Option<&query::tz::Zone>,
) -> Result<Option<String>, Gone> {
    if let Some(e) = result.error.take() {
        return Ok(Some(e));
    }
    if let Some(zone) = zone {
        super::query::localize_times(&mut result, zone);
    }
    for series in result.series {
        out.push(series).await?;
    }
    Ok(None)
}

/// The scan narrowed to `[lo, hi)` (within its own range).
fn within(scan: &ScanRequest, lo: i64, hi: i64) -> ScanRequest {
    let mut s = scan.clone();
    s.condition.time_min_ns = s.condition.time_min_ns.max(lo);
    s.condition.time_max_ns = s.condition.time_max_ns.min(hi);
    s
}

/// Every core's profile of a scan, merged.
async fn profile(
    core: &Rc<Core>,
    scan: &ScanRequest,
    grid: Option<&crate::storage::scan::Grid>,
) -> Profile {
    let mut merged = Profile::new(grid);
    for p in core
        .ask_all(|_| ProfileScan(scan.clone(), grid.cloned()))
        .await
        .into_iter()
        .flatten()
    {
        merged.merge(p);
    }
    merged
}

/// A grid's buckets joined into ranges of at most `budget` points each (as counted); a bucket
/// alone over twice the budget is a range to cut again (`false`), the others are read as they
/// are (`true`). Ranges with no point are left out.
fn cut(grid: &crate::storage::scan::Grid, counts: &[u64], budget: u64) -> Vec<(i64, i64, bool)> {
    let mut out = Vec::new();
    let mut run: Option<(i64, i64, u64)> = None;
    for (b, &c) in counts.iter().enumerate() {
        if b >= grid.len() {
            break;
        }
        let (lo, hi) = grid.bucket(b);
        if c == 0 || lo >= hi {
            continue;
        }
        if c > budget.saturating_mul(2) {
            out.extend(run.take().map(|(l, h, _)| (l, h, true)));
            out.push((lo, hi, hi - lo <= 1));
            continue;
        }
        run = match run {
            Some((l, _, n)) if n + c <= budget => Some((l, hi, n + c)),
            Some((l, h, _)) => {
                out.push((l, h, true));
                Some((lo, hi, c))
            }
            None => Some((lo, hi, c)),
        };
    }
    out.extend(run.map(|(l, h, _)| (l, h, true)));
    out
}

/// One window of a streamed raw SELECT: every core's rows, reduced there by `plan`, put in
/// order by `order`.
async fn read_window(
    core: &Rc<Core>,
    plan: &std::sync::Arc<query::select::Plan>,
    order: &std::sync::Arc<query::select::Plan>,
    scan: &ScanRequest,
) -> StatementResult {
    match raw_rows(core, plan, scan).await {
        Ok(rows) => put_in_order(order, rows).await,
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::cut;
    use crate::storage::scan::Grid;

    #[test]
    fn buckets_join_into_windows_of_the_budget() {
        let grid = Grid {
            edges: vec![0, 10, 20, 30, 40, 50],
        };
        // Empty buckets are skipped; runs are cut before they pass the budget.
        assert_eq!(
            cut(&grid, &[3, 0, 4, 5, 1], 8),
            vec![(0, 30, true), (30, 50, true)]
        );
        // A bucket over twice the budget is cut again; one ns wide, it is read as it is.
        assert_eq!(
            cut(&grid, &[1, 20, 1, 0, 0], 5),
            vec![(0, 10, true), (10, 20, false), (20, 30, true)]
        );
        let narrow = Grid {
            edges: vec![0, 1, 2],
        };
        assert_eq!(cut(&narrow, &[50, 1], 5), vec![(0, 1, true), (1, 2, true)]);
        assert!(cut(&grid, &[0; 5], 5).is_empty());
    }
}
