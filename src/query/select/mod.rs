//! SELECT: checked as 1.x's compiler checks it (query/compile.go, same error texts), then run
//! either as a raw query ([`crate::query::select_result`]) or as an aggregate query: points
//! grouped by measurement and GROUP BY tags, bucketed by `GROUP BY time`, reduced per bucket by
//! [`func::Accumulator`]s, filled, transformed, and written as 1.x's emitter writes them.

mod call;
mod cond;

use self::cond::{PointSource, TimeRange};
use super::ast::{BinOp, Dimension, Expr, Field, Fill, Select, Source as AstSource, VarType};
use super::func::{self, Accumulator, Aggregate, MathFn, Row, Transform};
use super::render::{column_names, to_value, Column};
use super::{
    Condition, DataType, GroupTags, KeyKind, MeasurementMatch, Pattern, SelectField,
    SelectStatement, Series, SeriesColumns, SeriesRows, Source, StatementResult, TagExpr, Value,
    TIME_MIN_NS,
};
use std::collections::{BTreeMap, BTreeSet};

/// How a SELECT runs.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Raw points; `filter` is the per-point part of WHERE that a tag predicate cannot express.
    Raw {
        stmt: Box<SelectStatement>,
        filter: Option<Expr>,
    },
    Aggregate(std::sync::Arc<AggregatePlan>),
}

impl Plan {
    /// `max-select-buckets`: the GROUP BY time() buckets of a bounded range (1.x counts them
    /// only when the range has a lower bound).
    pub fn check_buckets(&self, limits: &Limits) -> Result<(), PlanError> {
        let Plan::Aggregate(p) = self else {
            return Ok(());
        };
        let (Some((every, _)), Some(min)) = (p.interval, p.range.min) else {
            return Ok(());
        };
        if limits.buckets == 0 {
            return Ok(());
        }
        let first = window(min, p.interval, 0);
        let last = window(p.range.max_ns().saturating_sub(1), p.interval, 0);
        let buckets = (last.saturating_sub(first).saturating_add(every)) / every;
        if buckets > 0 && buckets as u64 > limits.buckets {
            return Err(format!(
                "max-select-buckets limit exceeded: ({buckets}/{})",
                limits.buckets
            ));
        }
        Ok(())
    }

    /// A raw query's rows of one core, reduced where they are read: the per-point filter
    /// applied and, under a LIMIT with `*` (every point is a row), each series cut to the
    /// OFFSET + LIMIT rows at the end ORDER BY reads first (a group's first rows are among its
    /// series' first rows).
    pub fn reduce_raw(&self, mut rows: Vec<SeriesRows>) -> Vec<SeriesRows> {
        let Plan::Raw { stmt, filter } = self else {
            return rows;
        };
        let cond = &stmt.condition;
        rows.retain(|s| stmt.matches_measurement(&s.measurement) && cond.matches_tags(&s.tags));
        for s in rows.iter_mut() {
            s.points
                .retain(|(t, fs)| cond.matches_time(*t) && !fs.is_empty());
        }
        if let Some(f) = filter {
            apply_filter(f, &mut rows);
        }
        rows.retain(|s| !s.points.is_empty());
        let every_point_is_a_row = stmt
            .fields
            .iter()
            .any(|f| matches!(f, SelectField::Wildcard(None | Some(KeyKind::Field))));
        if stmt.limit > 0 && every_point_is_a_row {
            let keep =
                usize::try_from(stmt.limit.saturating_add(stmt.offset)).unwrap_or(usize::MAX);
            for s in rows.iter_mut() {
                if s.points.len() > keep {
                    s.points.sort_by_key(|(t, _)| *t);
                    if stmt.descending {
                        s.points.drain(..s.points.len() - keep);
                    } else {
                        s.points.truncate(keep);
                    }
                }
            }
        }
        rows
    }

    /// 1.x's type errors of the calls (`unsupported mean iterator type: ...`), for the fields
    /// whose type `ty` knows.
    pub fn check_types(
        &self,
        ty: &dyn Fn(&str) -> Option<func::FieldType>,
    ) -> Result<(), PlanError> {
        if let Plan::Aggregate(a) = self {
            for c in a.calls.iter().filter(|c| !c.name.starts_with('\0')) {
                // A cast to another type reads converted values or none (`sum(s::integer)`).
                let cast = match c.cast {
                    Some(VarType::Float) => Some(func::FieldType::Float),
                    Some(VarType::Integer) => Some(func::FieldType::Integer),
                    Some(VarType::Unsigned) => Some(func::FieldType::Unsigned),
                    Some(VarType::String) => Some(func::FieldType::String),
                    Some(VarType::Boolean) => Some(func::FieldType::Boolean),
                    _ => None,
                };
                if let Some(t) = cast.or_else(|| ty(&c.field)) {
                    func::check_aggregate(&c.agg, t)?;
                }
            }
        }
        Ok(())
    }

    /// How many rows at which end of each series a raw query can read: a LIMIT over `*` without a
    /// per-point filter (every point is a row, and a group's first rows are among its series'
    /// first rows).
    pub fn edge(&self) -> Option<crate::storage::scan::Edge> {
        let Plan::Raw { stmt, filter: None } = self else {
            return None;
        };
        let every_point_is_a_row = stmt
            .fields
            .iter()
            .any(|f| matches!(f, SelectField::Wildcard(None | Some(KeyKind::Field))));
        if stmt.limit == 0 || !every_point_is_a_row {
            return None;
        }
        Some(crate::storage::scan::Edge {
            n: usize::try_from(stmt.limit.saturating_add(stmt.offset)).unwrap_or(usize::MAX),
            newest: stmt.descending,
        })
    }

    /// Whether a raw query lists keys it does not name (`*`, `/re/`): the keys of its
    /// measurements then matter, not only those of the rows read.
    pub fn expands_keys(&self) -> bool {
        matches!(self, Plan::Raw { stmt, .. } if stmt.fields.iter().any(|f| matches!(f, SelectField::Wildcard(_) | SelectField::Regex(_))))
    }

    /// Whether SLIMIT or SOFFSET pick among tag sets of GROUP BY tags (`pick_tag_sets`).
    pub fn picks_tag_sets(&self) -> bool {
        let (group, slimit, soffset) = match self {
            Plan::Raw { stmt, .. } => (&stmt.group_by, stmt.slimit, stmt.soffset),
            Plan::Aggregate(p) => (&p.group, p.slimit, p.soffset),
        };
        (slimit > 0 || soffset > 0) && !matches!(group, GroupTags::None)
    }

    /// The `tags_id` of a series' tag set under the plan's GROUP BY (its tags that are GROUP
    /// BY keys), as SLIMIT and SOFFSET pick tag sets.
    pub fn tag_set_id(&self, tags: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let group = match self {
            Plan::Raw { stmt, .. } => &stmt.group_by,
            Plan::Aggregate(p) => &p.group,
        };
        let kept: Vec<(Vec<u8>, Vec<u8>)> = tags
            .iter()
            .filter(|(k, _)| match group {
                GroupTags::None => false,
                GroupTags::Keys(keys) => keys.iter().any(|g| g.as_bytes() == &k[..]),
                GroupTags::All => true,
                GroupTags::Regex(p) => p.0.is_match(k),
            })
            .cloned()
            .collect();
        super::render::tags_id(&kept)
    }

    /// The SLIMIT and SOFFSET of the plan.
    pub fn series_limits(&self) -> (u64, u64) {
        match self {
            Plan::Raw { stmt, .. } => (stmt.slimit, stmt.soffset),
            Plan::Aggregate(p) => (p.slimit, p.soffset),
        }
    }

    /// Whether SLIMIT and SOFFSET's tag sets were picked from the series index (`set_picked`).
    pub fn has_picked(&self) -> bool {
        match self {
            Plan::Raw { stmt, .. } => stmt.picked.is_some(),
            Plan::Aggregate(p) => p.picked.is_some(),
        }
    }

    /// The shard group duration of the retention policy the points come from (`integral()`
    /// merges series one shard group after another, as 1.x does).
    pub fn set_shard_group(&mut self, ns: i64) {
        if let Plan::Aggregate(p) = self {
            std::sync::Arc::make_mut(p).shard_group_ns = ns.max(1);
        }
    }

    /// Answers the tag sets SLIMIT and SOFFSET picked from the series index.
    pub fn set_picked(&mut self, picked: std::sync::Arc<super::PickedTagSets>) {
        match self {
            Plan::Raw { stmt, .. } => stmt.picked = Some(picked),
            Plan::Aggregate(p) => std::sync::Arc::make_mut(p).picked = Some(picked),
        }
    }

    /// Whether a raw SELECT groups by a set of tag keys read from its measurements (`GROUP BY
    /// *` or a regex), which `set_known_tags` gives it.
    pub fn groups_by_known_tags(&self) -> bool {
        matches!(self, Plan::Raw { stmt, .. } if matches!(stmt.group_by, GroupTags::All | GroupTags::Regex(_)))
    }

    /// Give a raw query the tag keys of its measurements, for its GROUP BY (when it has no
    /// known keys yet).
    pub fn set_known_tags(&mut self, tags: Vec<Vec<u8>>) {
        if let Plan::Raw { stmt, .. } = self {
            if stmt.known_keys.is_none() {
                stmt.known_keys = Some(super::KnownKeys {
                    fields: Vec::new(),
                    tags,
                });
            }
        }
    }

    /// A raw SELECT's GROUP BY keys, as its answer's series name them: `None` without GROUP BY
    /// tags, or for `*` and a regex without known tag keys.
    pub fn group_dims(&self) -> Option<BTreeSet<Vec<u8>>> {
        let Plan::Raw { stmt, .. } = self else {
            return None;
        };
        let known = || stmt.known_keys.as_ref().map(|k| k.tags.iter().cloned());
        match &stmt.group_by {
            GroupTags::None => None,
            GroupTags::Keys(k) => Some(k.iter().map(|k| k.as_bytes().to_vec()).collect()),
            GroupTags::All => Some(known()?.collect()),
            GroupTags::Regex(p) => Some(known()?.filter(|k| p.0.is_match(k)).collect()),
        }
    }

    /// Give a raw query the keys of its measurements (see `SelectStatement::known_keys`).
    pub fn set_known_keys(&mut self, fields: Vec<(Vec<u8>, &'static str)>, tags: Vec<Vec<u8>>) {
        if let Plan::Raw { stmt, .. } = self {
            stmt.known_keys = Some(super::KnownKeys { fields, tags });
        }
    }

    /// The fields a scan must read (`None` = every field): what the SELECT list, the per-point
    /// filter and the selectors' aux values name. Names that are tags are harmless here.
    pub fn fields(&self) -> Option<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut add = |n: &str| {
            let n = n.as_bytes().to_vec();
            if !out.contains(&n) {
                out.push(n);
            }
        };
        let filter = match self {
            Plan::Raw { stmt, filter } => {
                for f in &stmt.fields {
                    match f {
                        SelectField::Key { name, .. } => add(name),
                        SelectField::Expr { expr, .. } => {
                            let mut names = Vec::new();
                            expr.fields(&mut names);
                            for n in names {
                                add(&String::from_utf8_lossy(&n));
                            }
                        }
                        SelectField::Wildcard(_) | SelectField::Regex(_) => return None,
                    }
                }
                filter
            }
            Plan::Aggregate(a) => {
                for c in &a.calls {
                    add(&c.field);
                }
                for (n, _) in &a.aux {
                    add(n);
                }
                &a.filter
            }
        };
        if let Some(f) = filter {
            f.walk(&mut |e| {
                if let Expr::Var { name, .. } = e {
                    add(name);
                }
            });
        }
        Some(out)
    }

    /// What to ask storage: the sources and the pushed-down condition.
    pub fn scan(&self) -> (&[Source], &Condition) {
        match self {
            Plan::Raw { stmt, .. } => (&stmt.sources, &stmt.condition),
            Plan::Aggregate(a) => (&a.sources, &a.condition),
        }
    }
}

/// The `[coordinator]` limits of a SELECT (0 = unlimited), with 1.x's error texts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub points: u64,
    pub series: u64,
    pub buckets: u64,
}

impl Limits {
    /// `max-select-series` and `max-select-point` over what the scan read.
    pub fn check_rows(&self, rows: &[SeriesRows]) -> Result<(), PlanError> {
        let points: u64 = rows.iter().map(|s| s.points.len() as u64).sum();
        self.check_counts(rows.len() as u64, points)
    }

    /// The same over counts of series and points.
    pub fn check_counts(&self, series: u64, points: u64) -> Result<(), PlanError> {
        // 1.x counts series as it opens them and stops at the first one past the limit.
        if self.series > 0 && series > self.series {
            return Err(format!(
                "max-select-series limit exceeded: ({}/{})",
                self.series + 1,
                self.series
            ));
        }
        if self.points > 0 && points > self.points {
            // 1.x's text, spelling included.
            return Err(format!(
                "max-select-point limit exceeed: ({points}/{})",
                self.points
            ));
        }
        Ok(())
    }
}

/// A call of the SELECT list, computed per bucket.
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub agg: Aggregate,
    /// The function's name as written (for type errors).
    pub name: String,
    pub field: String,
    pub cast: Option<VarType>,
}

impl CallSpec {
    /// Selectors whose point's time a lone call without GROUP BY time keeps.
    fn keeps_time(&self) -> bool {
        matches!(
            self.agg,
            Aggregate::First
                | Aggregate::Last
                | Aggregate::Max
                | Aggregate::Min
                | Aggregate::Percentile(_)
                | Aggregate::Top { .. }
                | Aggregate::Bottom { .. }
                | Aggregate::Sample(_)
        )
    }

    /// Calls that answer several rows a bucket (alone in their statement).
    fn many_rows(&self) -> bool {
        matches!(
            self.agg,
            Aggregate::Distinct
                | Aggregate::Top { .. }
                | Aggregate::Bottom { .. }
                | Aggregate::Sample(_)
        )
    }

    /// Calls `fill` does not apply to (1.x: no row for an empty bucket, whatever the fill).
    fn unfilled(&self) -> bool {
        self.many_rows()
    }
}

/// An output column of an aggregate query, over the calls' results.
#[derive(Clone, Debug)]
enum Out {
    Call(usize),
    /// A transformation (its index among the statement's) of an inner column.
    Transform(usize, Transform, Box<Out>),
    /// An aux value of the single selector's point (`SELECT max(f), host`).
    Aux(usize),
    Lit(Value),
    Bin(BinOp, Box<Out>, Box<Out>),
    /// A math function of other outputs (`abs(mean(f))`, `pow(max(f), 2)`).
    Math(MathFn, Vec<Out>),
}

#[derive(Clone, Debug)]
pub struct AggregatePlan {
    sources: Vec<Source>,
    condition: Condition,
    filter: Option<Expr>,
    calls: Vec<CallSpec>,
    outs: Vec<Out>,
    aux: Vec<(String, Option<VarType>)>,
    columns: Vec<String>,
    interval: Option<(i64, i64)>,
    /// Raw transformations (`derivative(v)` without GROUP BY time): every point its own bucket.
    point_buckets: bool,
    /// Buckets read before the range for transformations over aggregates (1.x's extra
    /// intervals), not written.
    extra_buckets: i64,
    /// The number of transformations in `outs`.
    transforms: usize,
    group: GroupTags,
    fill: Fill,
    range: TimeRange,
    descending: bool,
    limit: u64,
    offset: u64,
    slimit: u64,
    soffset: u64,
    /// The tag sets SLIMIT and SOFFSET picked from the series index (`SelectStatement::picked`).
    picked: Option<std::sync::Arc<super::PickedTagSets>>,
    /// `tz('...')`: buckets aligned to its local time (`None`: UTC).
    zone: Option<std::sync::Arc<crate::query::tz::Zone>>,
    /// The shard group duration of the points' retention policy: `integral()` merges the
    /// series' points as 1.x does, one shard group after another.
    shard_group_ns: i64,
}

/// An error of a statement (1.x's texts), returned as the statement's `error`.
pub type PlanError = String;

/// influxql `Expr.String()` for the expressions error texts print.
pub fn text(e: &Expr) -> String {
    match e {
        Expr::Var { name, cast } => {
            let q = super::quote_ident(name);
            match cast {
                Some(c) => format!("{q}::{}", c.name()),
                None => q,
            }
        }
        Expr::Call { name, args } => {
            let a: Vec<String> = args.iter().map(text).collect();
            format!("{name}({})", a.join(", "))
        }
        Expr::Binary { op, lhs, rhs } => format!("{} {} {}", text(lhs), op.text(), text(rhs)),
        Expr::Paren(e) => format!("({})", text(e)),
        Expr::Int(v) => v.to_string(),
        Expr::Unsigned(v) => v.to_string(),
        // influxql `NumberLiteral.String()`: three decimals (`2.500`).
        Expr::Float(v) => format!("{v:.3}"),
        Expr::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Expr::Bool(b) => b.to_string(),
        Expr::Duration(d) => super::format_influx_duration(*d),
        Expr::Regex(r) => format!("/{}/", r.as_str().replace('/', "\\/")),
        Expr::Wildcard(None) => "*".into(),
        Expr::Wildcard(Some(KeyKind::Field)) => "*::field".into(),
        Expr::Wildcard(Some(KeyKind::Tag)) => "*::tag".into(),
        Expr::Distinct(f) => format!("DISTINCT {}", super::quote_ident(f)),
    }
}

pub(crate) use super::eval::{arith, as_f64, cast};

/// influxql `Field.Name()`: the alias, a call's name, a variable's name, or the names in a
/// binary expression joined by `_`.
fn field_name(f: &Field) -> String {
    if let Some(a) = &f.alias {
        return a.clone();
    }
    fn names(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Call { name, .. } => out.push(name.clone()),
            Expr::Var { name, .. } => out.push(name.clone()),
            Expr::Binary { lhs, rhs, .. } => {
                names(lhs, out);
                names(rhs, out);
            }
            Expr::Paren(e) => names(e, out),
            Expr::Distinct(_) => out.push("distinct".into()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    names(f.expr.unparen(), &mut out);
    out.join("_")
}

/// The time bounds (inclusive, ns) a WHERE clause sets, as a SELECT reads them.
pub fn time_bounds(cond: &Expr, now_ns: i64) -> Result<(Option<i64>, Option<i64>), PlanError> {
    let (_, range) = cond::split(Some(cond), now_ns)?;
    Ok((range.min, range.max))
}

/// Whether `e` calls an aggregate, selector or transformation (what makes a statement an
/// aggregate query; `now()` and the math functions do not).
fn is_call(e: &Expr) -> bool {
    e.any(|e| matches!(e, Expr::Call { name, .. } if name != "now" && MathFn::from_name(name).is_none()))
}

/// 1.x's argument count check of every math call in `e`.
fn check_math_calls(e: &Expr) -> Result<(), PlanError> {
    let mut err = Ok(());
    e.walk(&mut |e| {
        if let Expr::Call { name, args } = e {
            if let Some(f) = MathFn::from_name(name) {
                if err.is_ok() {
                    err = f.check_arity(name, args.len());
                }
            }
        }
    });
    err
}

/// Plan a SELECT. `now_ns` is `now()`; `is_field` tells a WHERE name that is a field of the
/// sources from a tag (what the schema knows).
pub fn plan(s: &Select, now_ns: i64, is_field: &dyn Fn(&str) -> bool) -> Result<Plan, PlanError> {
    plan_select(s, now_ns, is_field, false)
}

/// Plan a SELECT whose `mean(*)` calls [`expand_call_wildcards`] has expanded: 1.x checked the
/// statement as written (`plan`), so the checks that count calls are not made again.
pub fn plan_expanded(
    s: &Select,
    now_ns: i64,
    is_field: &dyn Fn(&str) -> bool,
) -> Result<Plan, PlanError> {
    plan_select(s, now_ns, is_field, true)
}

/// The field name a call over `*` or `/re/` reads while the statement is checked as written.
const WILDCARD_FIELD: &str = "\0*";

fn plan_select(
    s: &Select,
    now_ns: i64,
    is_field: &dyn Fn(&str) -> bool,
    expanded: bool,
) -> Result<Plan, PlanError> {
    // `SELECT DISTINCT f` is `SELECT distinct(f)`.
    let rewritten;
    let s = if s.fields.iter().any(|f| matches!(f.expr, Expr::Distinct(_))) {
        let mut c = s.clone();
        for f in &mut c.fields {
            if let Expr::Distinct(name) = &f.expr {
                f.expr = Expr::Call {
                    name: "distinct".into(),
                    args: vec![Expr::Var {
                        name: name.clone(),
                        cast: None,
                    }],
                };
            }
        }
        rewritten = c;
        &rewritten
    } else {
        s
    };
    let mut sources = Vec::new();
    let any = regex::bytes::Regex::new("").expect("the empty regex");
    for src in &s.sources {
        match src {
            AstSource::Measurement {
                database,
                retention_policy,
                measurement,
            } => sources.push(Source {
                database: database.clone(),
                retention_policy: retention_policy.clone(),
                measurement: measurement.clone(),
            }),
            // A subquery's rows carry its own series' names: the source takes them all.
            AstSource::Subquery(_) => sources.push(Source {
                database: None,
                retention_policy: None,
                measurement: MeasurementMatch::Regex(any.clone()),
            }),
        }
    }
    let zone =
        s.tz.as_deref()
            .and_then(crate::query::tz::Zone::load)
            .map(std::sync::Arc::new);
    // With tz(), a time string without a zone is local time.
    let localized = match (&zone, &s.condition) {
        (Some(z), Some(c)) => Some(localize_time_strings(c, z)),
        _ => None,
    };
    let condition = localized.as_ref().or(s.condition.as_ref());
    let (rest, range) = cond::split(condition, now_ns)?;
    let tags = rest
        .as_ref()
        .map_or(TagExpr::True, |e| cond::pushdown(e, is_field));
    // The per-point filter: needed unless the whole rest is the tag predicate.
    let filter = rest.filter(|e| cond::tag_expr(e, is_field).is_none());

    // Dimensions.
    let mut interval = None;
    let mut group_names = Vec::new();
    let mut group_all = false;
    let mut group_regex = None;
    for d in &s.dimensions {
        match d {
            Dimension::Tag(t) => group_names.push(t.clone()),
            Dimension::Wildcard => group_all = true,
            Dimension::Regex(re) => group_regex = Some(re.clone()),
            Dimension::Other(Expr::Call { name, args }) if name == "time" => {
                if interval.is_some() {
                    return Err("multiple time dimensions not allowed".into());
                }
                if args.is_empty() {
                    return Err("time() is a function and expects at least one argument".into());
                }
                if args.len() > 2 {
                    return Err("time dimension expected 1 or 2 arguments".into());
                }
                let Expr::Duration(every) = args[0] else {
                    return Err("time dimension must have duration argument".into());
                };
                let offset = match args.get(1) {
                    None => 0,
                    Some(Expr::Duration(o)) => *o,
                    Some(Expr::Call { name, args }) if name == "now" => {
                        if !args.is_empty() {
                            return Err(
                                "time dimension offset now() function requires no arguments".into(),
                            );
                        }
                        now_ns
                    }
                    Some(Expr::Call { .. }) => {
                        return Err("time dimension offset function must be now()".into())
                    }
                    Some(_) => return Err("time dimension offset must be duration or now()".into()),
                };
                // 1.x reads a zero or negative interval as no interval.
                interval = (every > 0).then(|| (every, offset.rem_euclid(every)));
            }
            Dimension::Other(Expr::Call { .. }) => {
                return Err("only time() calls allowed in dimensions".into())
            }
            Dimension::Other(_) => return Err("only time and tag dimensions allowed".into()),
        }
    }
    let group = if group_all {
        GroupTags::All
    } else if let Some(re) = group_regex {
        GroupTags::Regex(Pattern(re))
    } else if group_names.is_empty() {
        GroupTags::None
    } else {
        GroupTags::Keys(group_names)
    };

    let non_time: Vec<&Field> = s.fields.iter().filter(|f| !f.expr.is_time()).collect();
    if non_time.is_empty() {
        return Err("at least 1 non-time field must be queried".into());
    }
    let aggregate = s.fields.iter().any(|f| is_call(&f.expr));
    if !aggregate {
        if interval.is_some() {
            return Err("GROUP BY requires at least one aggregate function".into());
        }
        match s.fill {
            Fill::None => return Err("fill(none) must be used with a function".into()),
            Fill::Linear => return Err("fill(linear) must be used with a function".into()),
            _ => {}
        }
        return raw_plan(s, sources, range, tags, filter, group);
    }

    // Aggregate query: every non-time field is a call, arithmetic over calls and literals, or an
    // aux variable beside exactly one selector.
    let mut low = Lowering {
        calls: Vec::new(),
        aux: Vec::new(),
        tag_aux: 0,
        transforms: 0,
        extra: 0,
        raw_transform: false,
        interval: interval.is_some(),
        limit: s.limit,
    };
    let mut outs = Vec::new();
    let mut names = Vec::new();
    for f in &non_time {
        let before = low.calls.len();
        outs.push(low.out(&f.expr)?);
        names.push(Column {
            key: field_name(f).into_bytes(),
            kind: KeyKind::Field,
            alias: f.alias.clone(),
        });
        // top()/bottom()'s tag arguments are columns of their own, after the call (not when
        // the call is inside another: `abs(top(f, host, 2))`).
        let bare = matches!(f.expr.unparen(), Expr::Call { name, .. } if name == "top" || name == "bottom");
        if let Some(Aggregate::Top { tags, .. } | Aggregate::Bottom { tags, .. }) =
            low.calls.get(before).filter(|_| bare).map(|c| &c.agg)
        {
            for i in 0..*tags {
                outs.push(Out::Aux(i));
                names.push(Column {
                    key: low.aux[i].0.clone().into_bytes(),
                    kind: KeyKind::Tag,
                    alias: None,
                });
            }
        }
    }
    let Lowering {
        calls,
        aux,
        tag_aux,
        transforms,
        extra,
        raw_transform,
        ..
    } = low;
    // distinct/top/bottom answer alone; sample() calls are merged by time with the other calls'
    // points, as 1.x's cursor merges its calls' iterators.
    let sampled = calls.iter().any(|c| matches!(c.agg, Aggregate::Sample(_)));
    if let Some(c) = calls
        .iter()
        .find(|c| c.many_rows() && !matches!(c.agg, Aggregate::Sample(_)))
        .filter(|_| calls.len() > 1)
    {
        return Err(match c.agg {
            Aggregate::Distinct => {
                "aggregate function distinct() cannot be combined with other functions or fields"
                    .into()
            }
            _ => format!(
                "selector function {}() cannot be combined with other functions",
                c.name
            ),
        });
    }
    if sampled && raw_transform {
        return Err(
            "sample() beside transformations of raw points is not supported by lineshard yet"
                .into(),
        );
    }
    if raw_transform
        && calls
            .iter()
            .any(|c| !matches!(c.agg, Aggregate::First) || c.name != "\0raw")
    {
        return Err("mixing aggregate and non-aggregate queries is not supported".into());
    }
    if aux.len() > tag_aux && !expanded {
        // A call over `*` is no selector (1.x `compileSymbol`).
        let selectors = calls
            .iter()
            .filter(|c| c.keeps_time() && c.field != WILDCARD_FIELD)
            .count();
        // 1.x: a call that is no selector first, then more than one selector.
        if selectors < calls.len() || calls.is_empty() {
            return Err("mixing aggregate and non-aggregate queries is not supported".into());
        }
        if calls.len() > 1 {
            return Err(
                "mixing multiple selector functions with tags or fields is not supported".into(),
            );
        }
    }
    let time_alias = s
        .fields
        .iter()
        .find(|f| f.expr.is_time())
        .and_then(|f| f.alias.clone());
    let columns = column_names(time_alias.as_deref().unwrap_or("time"), &names);
    let mut range = range;
    if interval.is_some() && range.max.is_none() {
        range.max = Some(now_ns);
    }
    // Transformations read `extra` buckets before the range (after it, descending).
    let extra_ns = interval.map_or(0, |(every, _)| every.saturating_mul(extra));
    let (scan_min, scan_max) = if s.descending {
        (range.min_ns(), range.max_ns().saturating_add(extra_ns))
    } else {
        let min = match range.min {
            Some(m) => m.saturating_sub(extra_ns),
            None => range.min_ns(),
        };
        (min, range.max_ns())
    };
    let condition = Condition {
        time_min_ns: scan_min,
        time_max_ns: scan_max.saturating_add(1),
        tags,
    };
    // A windowed integral alone writes no empty buckets, whatever the fill (beside other calls
    // it is filled as they are).
    let fill = if interval.is_some()
        && calls
            .iter()
            .all(|c| matches!(c.agg, Aggregate::Integral { .. }))
    {
        Fill::None
    } else {
        s.fill
    };
    Ok(Plan::Aggregate(std::sync::Arc::new(AggregatePlan {
        sources,
        condition,
        filter,
        calls,
        outs,
        aux,
        columns,
        interval,
        point_buckets: raw_transform,
        extra_buckets: extra,
        transforms,
        group,
        fill,
        range,
        descending: s.descending,
        limit: s.limit,
        offset: s.offset,
        slimit: s.slimit,
        soffset: s.soffset,
        picked: None,
        zone,
        shard_group_ns: func::SHARD_GROUP_DEFAULT_NS,
    })))
}

/// `time <op> '2006-01-02 15:04:05'` with the string read in `zone` (influxql parses time
/// strings in the statement's location); a string with its own zone is left as it is.
fn localize_time_strings(e: &Expr, zone: &crate::query::tz::Zone) -> Expr {
    use crate::query::time::{parse_rfc3339, parse_time_literal};
    let local = |e: &Expr| match e {
        Expr::Str(v) if parse_rfc3339(v).is_none() => {
            parse_time_literal(v).map(|civil| Expr::Int(zone.local_to_utc(civil)))
        }
        _ => None,
    };
    let is_time =
        |e: &Expr| matches!(e, Expr::Var { name, .. } if name.eq_ignore_ascii_case("time"));
    match e {
        Expr::Binary { op, lhs, rhs } => {
            let (l, r) = (lhs.unparen(), rhs.unparen());
            let lhs = match (is_time(r), local(l)) {
                (true, Some(v)) => v,
                _ => localize_time_strings(lhs, zone),
            };
            let rhs = match (is_time(l), local(r)) {
                (true, Some(v)) => v,
                _ => localize_time_strings(rhs, zone),
            };
            Expr::Binary {
                op: *op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            }
        }
        Expr::Paren(inner) => Expr::Paren(Box::new(localize_time_strings(inner, zone))),
        other => other.clone(),
    }
}

/// Whether a raw SELECT list computes anything (`f * 2`): its operand types are then checked
/// with [`check_raw_types`].
pub fn has_raw_expressions(s: &Select) -> bool {
    !s.fields.iter().any(|f| is_call(&f.expr))
        && s.fields
            .iter()
            .any(|f| matches!(f.expr.unparen(), Expr::Binary { .. }))
}

/// 1.x's type errors of a raw SELECT list's arithmetic (`type error: s::string + 1: ...`);
/// `ty` is a name's type in the sources (a field's type first, then a tag).
pub fn check_raw_types(s: &Select, ty: &dyn Fn(&str) -> DataType) -> Result<(), PlanError> {
    for f in &s.fields {
        crate::query::eval::check_types(&f.expr, ty)?;
    }
    Ok(())
}

/// The state of lowering a SELECT list into calls and output columns.
struct Lowering {
    calls: Vec<CallSpec>,
    aux: Vec<(String, Option<VarType>)>,
    /// How many of `aux` are top()/bottom() tag arguments (first in `aux`).
    tag_aux: usize,
    transforms: usize,
    extra: i64,
    raw_transform: bool,
    interval: bool,
    /// The statement's LIMIT (0: none), which top()/bottom()'s count may not pass.
    limit: u64,
}

impl Lowering {
    fn out(&mut self, e: &Expr) -> Result<Out, PlanError> {
        Ok(match e {
            Expr::Paren(inner) => self.out(inner)?,
            Expr::Int(v) => Out::Lit(Value::Int(*v)),
            Expr::Float(v) => Out::Lit(Value::Float(*v)),
            Expr::Unsigned(v) => Out::Lit(Value::UInt(*v)),
            Expr::Binary { op, lhs, rhs } => {
                if matches!(
                    (lhs.unparen(), rhs.unparen()),
                    (
                        Expr::Int(_) | Expr::Float(_) | Expr::Str(_),
                        Expr::Int(_) | Expr::Float(_) | Expr::Str(_)
                    )
                ) {
                    return Err("cannot perform a binary expression on two literals".into());
                }
                Out::Bin(*op, Box::new(self.out(lhs)?), Box::new(self.out(rhs)?))
            }
            Expr::Var { name, cast } => {
                let i = self.aux.len();
                self.aux.push((name.clone(), *cast));
                Out::Aux(i)
            }
            Expr::Wildcard(_) | Expr::Regex(_) => {
                return Err("mixing aggregate and non-aggregate queries is not supported".into())
            }
            Expr::Distinct(f) => self.call("distinct", &[Expr::var(f)])?,
            Expr::Call { name, args } => match MathFn::from_name(name) {
                Some(f) => {
                    f.check_arity(name, args.len())?;
                    Out::Math(
                        f,
                        args.iter().map(|a| self.out(a)).collect::<Result<_, _>>()?,
                    )
                }
                None => self.call(name, args)?,
            },
            Expr::Str(_) | Expr::Bool(_) | Expr::Duration(_) => {
                return Err("field must contain at least one variable".into())
            }
        })
    }

    fn call(&mut self, name: &str, args: &[Expr]) -> Result<Out, PlanError> {
        match call::lower(name, args, self.interval)? {
            call::Lowered::Aggregate {
                agg,
                name,
                field,
                cast,
                tags,
            } => {
                if let Aggregate::Top { n, .. } | Aggregate::Bottom { n, .. } = agg {
                    if self.limit > 0 && n as u64 > self.limit {
                        return Err(format!(
                            "limit ({n}) in {name} function can not be larger than the LIMIT ({}) in the select statement",
                            self.limit
                        ));
                    }
                }
                if !tags.is_empty() {
                    // The tag arguments lead the aux values (func reads them there).
                    self.tag_aux = tags.len();
                    let rest = std::mem::take(&mut self.aux);
                    self.aux = tags.into_iter().map(|t| (t, Some(VarType::Tag))).collect();
                    self.aux.extend(rest);
                }
                let i = self.calls.len();
                self.calls.push(CallSpec {
                    agg,
                    name,
                    field,
                    cast,
                });
                Ok(Out::Call(i))
            }
            call::Lowered::Transform { t, inner } => {
                let extra = match t {
                    Transform::CumulativeSum => 0,
                    Transform::MovingAverage(n) => n as i64 - 1,
                    _ => 1,
                };
                self.extra = self.extra.max(extra);
                let inner = match inner {
                    // `derivative(*)`: checked as one raw transformation, run per field.
                    Expr::Wildcard(_) | Expr::Regex(_) => {
                        self.raw_transform = true;
                        let i = self.calls.len();
                        self.calls.push(CallSpec {
                            agg: Aggregate::First,
                            name: "\0raw".into(),
                            field: WILDCARD_FIELD.into(),
                            cast: None,
                        });
                        Out::Call(i)
                    }
                    Expr::Var { name, cast } => {
                        // A raw transformation: the field's value at each point.
                        self.raw_transform = true;
                        let i = self.calls.len();
                        self.calls.push(CallSpec {
                            agg: Aggregate::First,
                            name: "\0raw".into(),
                            field: name,
                            cast,
                        });
                        Out::Call(i)
                    }
                    e => self.out(&e)?,
                };
                let id = self.transforms;
                self.transforms += 1;
                Ok(Out::Transform(id, t, Box::new(inner)))
            }
        }
    }
}

/// The functions of InfluxQL 1.x (so that one lineshard does not run yet is named as such).
pub fn known_function(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "distinct"
            | "integral"
            | "mean"
            | "median"
            | "mode"
            | "spread"
            | "stddev"
            | "sum"
            | "first"
            | "last"
            | "max"
            | "min"
            | "percentile"
            | "sample"
            | "top"
            | "bottom"
            | "derivative"
            | "non_negative_derivative"
            | "difference"
            | "non_negative_difference"
            | "moving_average"
            | "cumulative_sum"
            | "elapsed"
            | "holt_winters"
            | "holt_winters_with_fit"
            | "exponential_moving_average"
            | "double_exponential_moving_average"
            | "triple_exponential_moving_average"
            | "relative_strength_index"
            | "triple_exponential_derivative"
            | "kaufmans_efficiency_ratio"
            | "kaufmans_adaptive_moving_average"
            | "chande_momentum_oscillator"
            | "abs"
            | "sin"
            | "cos"
            | "tan"
            | "asin"
            | "acos"
            | "atan"
            | "atan2"
            | "exp"
            | "log"
            | "ln"
            | "log2"
            | "log10"
            | "sqrt"
            | "pow"
            | "floor"
            | "ceil"
            | "round"
    )
}

fn raw_plan(
    s: &Select,
    sources: Vec<Source>,
    range: TimeRange,
    tags: TagExpr,
    filter: Option<Expr>,
    group: GroupTags,
) -> Result<Plan, PlanError> {
    let mut fields = Vec::new();
    let mut time_alias = None;
    for f in &s.fields {
        match &f.expr {
            e if e.is_time() => time_alias = f.alias.clone().or(time_alias),
            // A plain name, `::field` or `::tag`: the value as stored.
            Expr::Var { name, cast }
                if matches!(cast, None | Some(VarType::Field | VarType::Tag)) =>
            {
                fields.push(SelectField::Key {
                    name: name.clone(),
                    kind: cast.map(VarType::kind),
                    alias: f.alias.clone(),
                })
            }
            // 1.x ignores an alias on `*` and `/re/`: each key keeps its name.
            Expr::Wildcard(only) => fields.push(SelectField::Wildcard(*only)),
            Expr::Regex(re) => fields.push(SelectField::Regex(Pattern(re.clone()))),
            e => {
                check_math_calls(e)?;
                // `abs(*)`: checked as written, then planned again once expanded per field
                // (`expand_call_wildcards`).
                let wildcard_arg = e.any(|e| {
                    matches!(e, Expr::Call { args, .. }
                        if args.iter().any(|a| matches!(a, Expr::Wildcard(_))))
                });
                if !wildcard_arg && !e.any(|e| matches!(e, Expr::Var { .. })) {
                    return Err("field must contain at least one variable".into());
                }
                let raw = if wildcard_arg {
                    Some(crate::query::RawExpr::Lit(Value::Null))
                } else {
                    crate::query::RawExpr::from_expr(e)
                };
                let Some(expr) = raw else {
                    return Err(
                        "expressions in a raw SELECT list are not supported by lineshard yet"
                            .into(),
                    );
                };
                fields.push(SelectField::Expr {
                    expr,
                    name: field_name(f),
                    alias: f.alias.clone(),
                });
            }
        }
    }
    let condition = Condition {
        time_min_ns: range.min_ns(),
        time_max_ns: range.max_ns().saturating_add(1),
        tags,
    };
    Ok(Plan::Raw {
        stmt: Box::new(SelectStatement {
            fields,
            sources,
            condition,
            group_by: group,
            known_keys: None,
            slimit: s.slimit,
            soffset: s.soffset,
            picked: None,
            limit: s.limit,
            offset: s.offset,
            descending: s.descending,
            time_alias,
        }),
        filter,
    })
}

/// A point seen by a per-point condition: its series' tags and its fields. A name is the
/// field when the measurement has a field of that name, else the tag.
struct PointView<'a> {
    tags: &'a [(Vec<u8>, Vec<u8>)],
    fields: &'a super::PointFields,
    field_keys: &'a BTreeSet<Vec<u8>>,
}

impl PointSource for PointView<'_> {
    fn get(&self, name: &str, cast: Option<VarType>) -> Option<Value> {
        let field = match cast {
            Some(VarType::Tag) => false,
            Some(_) => true,
            None => self.field_keys.contains(name.as_bytes()),
        };
        if field {
            self.fields
                .iter()
                .find(|(k, _)| &k[..] == name.as_bytes())
                .map(|(_, v)| to_value(v))
        } else {
            let v = self
                .tags
                .iter()
                .find(|(k, _)| k == name.as_bytes())
                .map_or(&[][..], |(_, v)| v);
            Some(Value::Str(String::from_utf8_lossy(v).into()))
        }
    }
}

/// Field keys per measurement in the rows.
fn field_keys(rows: &[SeriesRows]) -> BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> {
    let mut out: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    // A scan names a field of a series with one shared key: each is looked up in the set once.
    let mut seen: Vec<&super::FieldKey> = Vec::new();
    for s in rows {
        let set = out.entry(s.measurement.clone()).or_default();
        seen.clear();
        for (_, fs) in &s.points {
            for (k, _) in fs {
                if seen.iter().any(|n| std::sync::Arc::ptr_eq(n, k)) {
                    continue;
                }
                if !set.contains(&k[..]) {
                    set.insert(k.to_vec());
                }
                if seen.len() < 64 {
                    seen.push(k);
                }
            }
        }
    }
    out
}

/// Drop the points a per-point condition refuses.
pub fn apply_filter(filter: &Expr, rows: &mut Vec<SeriesRows>) {
    let keys = field_keys(rows);
    let empty = BTreeSet::new();
    for s in rows.iter_mut() {
        let fk = keys.get(&s.measurement).unwrap_or(&empty);
        let tags = std::mem::take(&mut s.tags);
        s.points.retain(|(_, fields)| {
            cond::matches(
                filter,
                &PointView {
                    tags: &tags,
                    fields,
                    field_keys: fk,
                },
            )
        });
        s.tags = tags;
    }
    rows.retain(|s| !s.points.is_empty());
}

/// Run a plan over the rows storage returned.
pub fn execute(plan: &Plan, mut rows: Vec<SeriesRows>) -> StatementResult {
    match plan {
        Plan::Raw { stmt, filter } => {
            if let Some(f) = filter {
                apply_filter(f, &mut rows);
            }
            super::select_result(stmt, rows)
        }
        Plan::Aggregate(p) => aggregate(p, rows),
    }
}

/// A raw query's result over rows `Plan::reduce_raw` has already filtered (every core's and a
/// subquery's): the per-point filter is not evaluated again.
pub fn execute_reduced(plan: &Plan, rows: Vec<SeriesRows>) -> StatementResult {
    match plan {
        Plan::Raw { stmt, .. } => super::select_result(stmt, rows),
        Plan::Aggregate(p) => aggregate(p, rows),
    }
}

/// The bucket of a windowed call's one accumulator (see `AggregatePlan::windowed`).
const WHOLE_RANGE: i64 = i64::MIN;

/// The most buckets GROUP BY time fills over all output series of a statement, whatever
/// `max-select-buckets` says.
const FILL_BUCKETS_MAX: u64 = 10_000_000;

fn window(t: i64, interval: Option<(i64, i64)>, range_min: i64) -> i64 {
    match interval {
        Some((every, offset)) => {
            let shifted = t.saturating_sub(offset);
            shifted
                .div_euclid(every)
                .saturating_mul(every)
                .saturating_add(offset)
        }
        None => range_min,
    }
}

/// One call's rows per bucket of one output series.
type Buckets = BTreeMap<i64, Vec<Row>>;

/// A series' GROUP BY tags (key, value), sorted by key; a tag the series lacks is left out.
type GroupTagsOf = Vec<(Vec<u8>, Vec<u8>)>;

/// An output series: (measurement, GROUP BY tags).
type OutputSeries = (Vec<u8>, GroupTagsOf);

/// One call's accumulators per bucket.
#[derive(Clone, Debug)]
struct CallState {
    buckets: BTreeMap<i64, Accumulator>,
}

/// What one core computed of an aggregate query over its own series: per output series
/// (measurement, GROUP BY tags), per call, per bucket, an accumulator; merged on the core that
/// answers.
#[derive(Debug, Default)]
pub struct Partial {
    groups: BTreeMap<OutputSeries, Vec<CallState>>,
    /// Series and points read (for `max-select-series` / `max-select-point`).
    pub series: u64,
    pub points: u64,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.series += other.series;
        self.points += other.points;
        for (key, states) in other.groups {
            match self.groups.get_mut(&key) {
                None => {
                    self.groups.insert(key, states);
                }
                Some(mine) => {
                    for (m, o) in mine.iter_mut().zip(states) {
                        for (b, acc) in o.buckets {
                            match m.buckets.get_mut(&b) {
                                Some(a) => a.merge(acc),
                                None => {
                                    m.buckets.insert(b, acc);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl AggregatePlan {
    /// The start of the range (0 when unbounded), the time of an aggregate without GROUP BY
    /// time.
    fn start_time(&self) -> i64 {
        let min = self.range.min_ns();
        if min == TIME_MIN_NS {
            0
        } else {
            min
        }
    }

    /// Whether rows carry their selected point's time: a lone selector without GROUP BY time
    /// (top, bottom and sample always).
    fn selector_time(&self) -> bool {
        self.point_buckets
            || (self.interval.is_none()
                && self.calls.len() == 1
                && self.calls.first().is_some_and(|c| c.keeps_time()))
    }

    /// The bucket of a point.
    fn bucket(&self, t: i64) -> i64 {
        if self.point_buckets {
            t
        } else {
            self.window(t, self.start_time())
        }
    }

    /// The start of the GROUP BY time bucket holding `t`, in the statement's zone; without
    /// GROUP BY time, `range_min`.
    fn window(&self, t: i64, range_min: i64) -> i64 {
        match (&self.zone, self.interval) {
            (Some(z), Some((every, offset))) => z.window(t, every, offset),
            _ => window(t, self.interval, range_min),
        }
    }

    /// The GROUP BY tags of a series (only those it has).
    fn group_of(&self, tags: &[(Vec<u8>, Vec<u8>)]) -> GroupTagsOf {
        tags.iter()
            .filter(|(k, _)| match &self.group {
                GroupTags::None => false,
                GroupTags::Keys(keys) => keys.iter().any(|n| n.as_bytes() == k.as_slice()),
                GroupTags::All => true,
                GroupTags::Regex(re) => re.0.is_match(k),
            })
            .cloned()
            .collect()
    }

    /// Reduce rows (one core's, or a subquery's) into accumulators.
    pub fn partial(&self, mut rows: Vec<SeriesRows>) -> Partial {
        let sources_match = |m: &[u8]| self.sources.iter().any(|s| s.measurement.matches(m));
        rows.retain(|s| sources_match(&s.measurement) && self.condition.matches_tags(&s.tags));
        for s in rows.iter_mut() {
            s.points
                .retain(|(t, fs)| self.condition.matches_time(*t) && !fs.is_empty());
        }
        if let Some(f) = &self.filter {
            apply_filter(f, &mut rows);
        }
        rows.retain(|s| !s.points.is_empty());
        let fkeys = field_keys(&rows);
        let empty = BTreeSet::new();
        let mut out = Partial {
            series: rows.len() as u64,
            points: rows.iter().map(|s| s.points.len() as u64).sum(),
            ..Partial::default()
        };
        for s in &rows {
            let fk = fkeys.get(&s.measurement).unwrap_or(&empty);
            let key = (s.measurement.clone(), self.group_of(&s.tags));
            let states = out.groups.entry(key).or_insert_with(|| {
                self.calls
                    .iter()
                    .map(|_| CallState {
                        buckets: BTreeMap::new(),
                    })
                    .collect()
            });
            // integral() keeps each series' points apart (`Accumulator::series`): the bucket
            // each call last named this series to.
            let series_key = self
                .integrates()
                .then(|| func::series_key(&s.measurement, &s.tags));
            let mut named: Vec<Option<i64>> = vec![None; self.calls.len()];
            for (t, fields) in &s.points {
                let b = self.bucket(*t);
                let view = PointView {
                    tags: &s.tags,
                    fields,
                    field_keys: fk,
                };
                // A tag the series lacks is null beside a selector.
                let aux: Vec<Value> = self
                    .aux
                    .iter()
                    .map(|(n, c)| match view.get(n, *c) {
                        Some(Value::Str(s)) if s.is_empty() => Value::Null,
                        v => v.unwrap_or(Value::Null),
                    })
                    .collect();
                for ((call, st), named) in self.calls.iter().zip(states.iter_mut()).zip(&mut named)
                {
                    let Some(v) = view.get(&call.field, call.cast.or(Some(VarType::Field))) else {
                        continue;
                    };
                    let Some(v) = cast(v, call.cast) else {
                        continue;
                    };
                    let b = if self.windowed(call) { WHOLE_RANGE } else { b };
                    let acc = st
                        .buckets
                        .entry(b)
                        .or_insert_with(|| Accumulator::new(&call.agg));
                    if let Some(key) = &series_key {
                        if *named != Some(b) {
                            acc.series(key);
                            *named = Some(b);
                        }
                    }
                    acc.push(*t, &v, &aux);
                }
            }
        }
        out
    }

    /// Whether a call reads the whole range in one accumulator, cut into buckets when finished
    /// (`integral()` with GROUP BY time: a bucket's area depends on the next bucket's points).
    fn windowed(&self, call: &CallSpec) -> bool {
        self.interval.is_some() && matches!(call.agg, Aggregate::Integral { .. })
    }

    /// Whether a call is `integral()`, whose points are kept per series.
    fn integrates(&self) -> bool {
        self.calls
            .iter()
            .any(|c| matches!(c.agg, Aggregate::Integral { .. }))
    }

    /// The buckets of a windowed `integral()` (1.x streams the series' points through one
    /// reducer): one row per bucket with an area, timed at the bucket's start.
    fn integral_buckets(&self, call: &CallSpec, st: CallState) -> Buckets {
        let (Aggregate::Integral { unit_ns }, Some((every, _))) = (&call.agg, self.interval) else {
            return Buckets::new();
        };
        let points: Vec<(i64, Value)> = st
            .buckets
            .into_values()
            .reduce(|mut a, b| {
                a.merge(b);
                a
            })
            .map(|a| a.into_points(self.shard_group_ns))
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.time, r.value))
            .collect();
        let window = |t: i64| {
            let start = self.window(t, 0);
            (start, start.saturating_add(every))
        };
        func::integral_windows(&points, *unit_ns, window)
            .into_iter()
            .map(|(start, area)| {
                let row = Row {
                    time: start,
                    value: Value::Float(area),
                    aux: Vec::new(),
                };
                (start, vec![row])
            })
            .collect()
    }

    /// How many buckets each output series writes when GROUP BY time fills empty buckets (at
    /// most; 0 without filling): the work of `finish` beyond its points.
    pub fn fill_buckets(&self, partials: &[Partial]) -> u64 {
        let Some((every, _)) = self.interval else {
            return 0;
        };
        if self.fill == Fill::None || self.point_buckets {
            return 0;
        }
        let first = if self.range.min.is_none() {
            let first_point = partials
                .iter()
                .flat_map(|p| p.groups.values())
                .flat_map(|states| states.iter().filter_map(|st| st.buckets.keys().next()))
                .min()
                .copied();
            match first_point {
                Some(t) => t,
                None => return 0,
            }
        } else {
            self.window(self.range.min_ns(), self.start_time())
        };
        let last = self.window(self.range.max_ns(), self.start_time());
        let span = (i128::from(last) - i128::from(first)).max(0) / i128::from(every) + 1;
        u64::try_from(span).unwrap_or(u64::MAX)
    }

    /// Whether the cores can reduce this aggregate from columns (`partial_columns`): its calls
    /// read fields only (no per-point filter, no selector's aux values, no cast but `::field`).
    pub fn columnar(&self) -> bool {
        self.filter.is_none()
            && self.aux.is_empty()
            && self
                .calls
                .iter()
                .all(|c| matches!(c.cast, None | Some(VarType::Field)))
    }

    /// `partial` of one core's columns, scanned for the fields `fields` names (`Plan::fields`):
    /// each call's column goes into its buckets' accumulators value by value, the bucket looked
    /// up only when it changes (times are ascending). Pushes the same values in the same order
    /// as `partial` does for the same series.
    pub fn partial_columns(&self, fields: &[Vec<u8>], mut series: Vec<SeriesColumns>) -> Partial {
        let sources_match = |m: &[u8]| self.sources.iter().any(|s| s.measurement.matches(m));
        series.retain(|s| sources_match(&s.measurement) && self.condition.matches_tags(&s.tags));
        let cond = &self.condition;
        for s in series.iter_mut() {
            if s.times.first().is_some_and(|&t| !cond.matches_time(t))
                || s.times.last().is_some_and(|&t| !cond.matches_time(t))
            {
                s.retain_times(|t| cond.matches_time(t));
            }
        }
        series.retain(|s| !s.times.is_empty());
        let column_of: Vec<Option<usize>> = self
            .calls
            .iter()
            .map(|c| fields.iter().position(|f| f[..] == *c.field.as_bytes()))
            .collect();
        let mut out = Partial {
            series: series.len() as u64,
            points: series.iter().map(|s| s.times.len() as u64).sum(),
            ..Partial::default()
        };
        for s in &series {
            let key = (s.measurement.clone(), self.group_of(&s.tags));
            let states = out.groups.entry(key).or_insert_with(|| {
                self.calls
                    .iter()
                    .map(|_| CallState {
                        buckets: BTreeMap::new(),
                    })
                    .collect()
            });
            for ((call, st), col) in self.calls.iter().zip(states.iter_mut()).zip(&column_of) {
                let Some(values) = col.and_then(|c| s.columns.get(c)) else {
                    continue;
                };
                let windowed = self.windowed(call);
                let series_key = matches!(call.agg, Aggregate::Integral { .. })
                    .then(|| func::series_key(&s.measurement, &s.tags));
                let mut current: Option<(i64, &mut Accumulator)> = None;
                for (t, v) in s.times.iter().zip(values) {
                    let Some(v) = v else { continue };
                    let b = if windowed {
                        WHOLE_RANGE
                    } else {
                        self.bucket(*t)
                    };
                    let acc = match current {
                        Some((cb, acc)) if cb == b => acc,
                        _ => {
                            let acc = st
                                .buckets
                                .entry(b)
                                .or_insert_with(|| Accumulator::new(&call.agg));
                            if let Some(key) = &series_key {
                                acc.series(key);
                            }
                            acc
                        }
                    };
                    acc.push(*t, &to_value(v), &[]);
                    current = Some((b, acc));
                }
            }
        }
        out
    }

    /// Merge the cores' partials and write the statement's result.
    pub fn finish(&self, partials: Vec<Partial>) -> StatementResult {
        let buckets = self.fill_buckets(&partials);
        let mut all = Partial::default();
        for p in partials {
            all.merge(p);
        }
        // 1.x fills them all (and runs out of memory); a bound keeps the server whole.
        if buckets.saturating_mul(all.groups.len() as u64) > FILL_BUCKETS_MAX {
            return StatementResult::error(format!(
                "max-select-buckets limit exceeded: ({buckets}/{})",
                FILL_BUCKETS_MAX / (all.groups.len() as u64).max(1)
            ));
        }
        // Every output series names every GROUP BY key any series has ('' where it lacks it).
        let keys: BTreeSet<Vec<u8>> = match &self.group {
            GroupTags::Keys(k) => k.iter().map(|k| k.as_bytes().to_vec()).collect(),
            _ => all
                .groups
                .keys()
                .flat_map(|(_, g)| g.iter().map(|(k, _)| k.clone()))
                .collect(),
        };
        let mut ordered: Vec<(OutputSeries, Vec<CallState>)> = all
            .groups
            .into_iter()
            .map(|((m, g), st)| ((m, super::render::group_of(&keys, &g)), st))
            .collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        let selector_time = self.selector_time();
        // Each measurement's series in order; SLIMIT and SOFFSET count each measurement's
        // series apart, as 1.x limits each measurement's tag sets.
        type Group = Option<(GroupTagsOf, Vec<CallState>)>;
        let mut by_measurement: Vec<(Vec<u8>, Vec<Group>)> = Vec::new();
        for ((measurement, group), states) in ordered {
            match by_measurement.last_mut() {
                Some((m, groups)) if *m == measurement => groups.push(Some((group, states))),
                _ => by_measurement.push((measurement, vec![Some((group, states))])),
            }
        }
        let limits = (self.slimit, self.soffset, self.picked.as_deref());
        let mut measurements: Vec<Vec<Series>> = Vec::new();
        for (measurement, mut groups) in by_measurement {
            let ids: Vec<Vec<u8>> = groups
                .iter()
                .map(|g| {
                    g.as_ref()
                        .map_or_else(Vec::new, |(g, _)| super::render::tags_id(g))
                })
                .collect();
            let name = String::from_utf8_lossy(&measurement).into_owned();
            let out = super::render::pick_series(&measurement, &ids, limits, |i| {
                let (group, states) = groups[i].take()?;
                let results: Vec<Buckets> = states
                    .into_iter()
                    .zip(&self.calls)
                    .map(|(st, call)| {
                        if self.windowed(call) {
                            return self.integral_buckets(call, st);
                        }
                        st.buckets
                            .into_iter()
                            .map(|(b, a)| (b, a.finish_in(b, selector_time, self.shard_group_ns)))
                            .filter(|(_, rows)| !rows.is_empty())
                            .collect()
                    })
                    .collect();
                if results.iter().all(|r| r.is_empty()) {
                    return None;
                }
                let values = emit_rows(self, &results);
                (!values.is_empty()).then(|| Series {
                    name: Some(name.clone()),
                    tags: super::render::tag_strings(group),
                    columns: self.columns.clone(),
                    values,
                    ..Series::default()
                })
            });
            measurements.push(out);
        }
        let mut result = StatementResult::ok();
        result.series = super::render::in_answer_order(measurements, self.descending);
        result
    }

    /// The first bucket written: the range's (transformations read earlier ones).
    fn first_written(&self) -> i64 {
        match (self.interval, self.range.min) {
            (Some(_), Some(min)) if !self.descending => self.window(min, 0),
            _ => i64::MIN,
        }
    }

    /// The last bucket written (descending transformations read later ones).
    fn last_written(&self) -> i64 {
        match self.interval {
            Some(_) if self.descending => self.window(self.range.max_ns(), 0),
            _ => i64::MAX,
        }
    }
}

fn aggregate(p: &AggregatePlan, rows: Vec<SeriesRows>) -> StatementResult {
    let partial = p.partial(rows);
    p.finish(vec![partial])
}

/// Whether a value has the type a `::float`-style cast asks for.
/// The rows of one output series: one per bucket (filled as `fill` says; several for a call
/// that answers several), columns evaluated, transformations applied, ordered, OFFSET and
/// LIMIT applied.
fn emit_rows(p: &AggregatePlan, results: &[Buckets]) -> Vec<Vec<Value>> {
    // Calls of many rows a bucket write each bucket's rows in the order they come (by time,
    // as 1.x's reducers emit them), the buckets backwards under ORDER BY time DESC.
    let out = if p.calls.len() == 1 && p.calls[0].many_rows() {
        many_rows(p, &results[0])
    } else if p.calls.iter().any(|c| c.many_rows()) {
        // sample() beside other calls (the only many-row call that may be); LIMIT and OFFSET
        // cut each call's points before they are merged.
        return merged_rows(p, results);
    } else {
        let mut rows = bucket_rows(p, results);
        if p.descending {
            rows.reverse();
        }
        rows
    };
    let skip = usize::try_from(p.offset).unwrap_or(usize::MAX);
    let mut out: Vec<Vec<Value>> = out.into_iter().skip(skip).collect();
    if p.limit > 0 {
        out.truncate(usize::try_from(p.limit).unwrap_or(usize::MAX));
    }
    out
}

/// distinct/top/bottom/sample: every row of every bucket, no fill.
fn many_rows(p: &AggregatePlan, buckets: &Buckets) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let ordered: Vec<&Vec<Row>> = if p.descending {
        buckets.values().rev().collect()
    } else {
        buckets.values().collect()
    };
    for rows in ordered {
        for r in rows {
            let mut row = Vec::with_capacity(p.outs.len() + 1);
            row.push(Value::Time(r.time));
            for o in &p.outs {
                row.push(match o {
                    Out::Call(_) => r.value.clone(),
                    Out::Aux(a) => r.aux.get(*a).cloned().unwrap_or(Value::Null),
                    Out::Lit(v) => v.clone(),
                    Out::Math(..) | Out::Bin(..) => eval_row_out(o, r).unwrap_or(Value::Null),
                    _ => Value::Null,
                });
            }
            out.push(row);
        }
    }
    out
}

/// Where a cell of a merged row comes from: a call's points or a transformation's.
#[derive(Clone, Copy, PartialEq)]
enum Stream {
    Call(usize),
    Transform(usize),
}

/// The streams an output column reads (a transformation's inner calls are its own).
fn streams_of(o: &Out, out: &mut Vec<Stream>) {
    let s = match o {
        Out::Call(c) => Stream::Call(*c),
        Out::Transform(id, ..) => Stream::Transform(*id),
        Out::Bin(_, l, r) => {
            streams_of(l, out);
            streams_of(r, out);
            return;
        }
        Out::Math(_, args) => {
            args.iter().for_each(|a| streams_of(a, out));
            return;
        }
        Out::Aux(_) | Out::Lit(_) => return,
    };
    if !out.contains(&s) {
        out.push(s);
    }
}

/// A fill value as 1.x's scanner writes it into a cell: cast to the column's type (known from
/// a value of the column), the literal as written when the column has none.
fn fill_value(fill: Fill, like: Option<&Value>) -> Value {
    match (fill, like) {
        (Fill::Int(v), Some(Value::Float(_))) => Value::Float(v as f64),
        (Fill::Int(v), Some(Value::UInt(_))) => Value::UInt(v as u64),
        (Fill::Int(v), _) => Value::Int(v),
        (Fill::Float(v), Some(Value::Int(_))) => Value::Int(v as i64),
        (Fill::Float(v), Some(Value::UInt(_))) => Value::UInt(v as u64),
        (Fill::Float(v), _) => Value::Float(v),
        _ => Value::Null,
    }
}

/// sample() beside other calls, merged as 1.x's cursor zips its calls' iterators. Each call
/// is a stream of points: a sample()'s come bucket by bucket (backwards under ORDER BY time
/// DESC), each bucket's forwards in time, at their own times; another call's one point a
/// bucket at the bucket's start (every bucket of the range when `fill` fills, a null one where
/// the bucket is empty; integral() only where it has an area; none in a series the call has no
/// point in); a transformation's where it has a value. LIMIT and OFFSET cut each stream, as 1.x
/// limits each call's iterator. A row takes the earliest of the streams' next points (the latest
/// under DESC; under DESC the sample() points are not in that order, and 1.x's rows interleave
/// them so); every stream whose next point has that time gives its value there. A cell without
/// a value gets the fill value (`null`, the number, or under fill(previous) the column's last
/// value in the series), as 1.x's scanner fills its row. The output columns are then computed
/// over the row's cells.
fn merged_rows(p: &AggregatePlan, results: &[Buckets]) -> Vec<Vec<Value>> {
    let is_sample = |c: usize| matches!(p.calls[c].agg, Aggregate::Sample(_));
    // The other calls' buckets, as if no sample() were there.
    let others: Vec<Buckets> = results
        .iter()
        .enumerate()
        .map(|(c, b)| {
            if is_sample(c) {
                Buckets::new()
            } else {
                b.clone()
            }
        })
        .collect();
    let (times, columns, tvals) = bucket_columns(p, &others);
    let (lo, hi) = (p.first_written(), p.last_written());
    let (min, max) = (p.range.min_ns(), p.range.max_ns());
    let filling = p.interval.is_some() && !p.point_buckets && p.fill != Fill::None;
    let mut sources = Vec::new();
    for o in &p.outs {
        streams_of(o, &mut sources);
    }
    let ordered = |mut pts: Vec<(i64, Value)>| {
        if p.descending {
            pts.reverse();
        }
        pts
    };
    let full: Vec<Vec<(i64, Value)>> = sources
        .iter()
        .map(|s| match *s {
            Stream::Call(c) if is_sample(c) => {
                let buckets = results[c].range(lo..=hi);
                let buckets: Vec<&Vec<Row>> = if p.descending {
                    buckets.rev().map(|(_, rows)| rows).collect()
                } else {
                    buckets.map(|(_, rows)| rows).collect()
                };
                buckets
                    .into_iter()
                    .flat_map(|rows| {
                        // The range itself: buckets read before it (for transformations) are
                        // not the sample()'s.
                        let mut points: Vec<(i64, Value)> = rows
                            .iter()
                            .filter(|r| r.time >= min && r.time <= max)
                            .map(|r| (r.time, r.value.clone()))
                            .collect();
                        points.sort_by_key(|(t, _)| *t);
                        points
                    })
                    .collect()
            }
            Stream::Call(c) => {
                if results[c].is_empty() {
                    return Vec::new();
                }
                let every_bucket = filling && !matches!(p.calls[c].agg, Aggregate::Integral { .. });
                let pts = times
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| **t >= lo && **t <= hi)
                    .filter_map(|(i, t)| match &columns[c][i] {
                        Some(r) if every_bucket || results[c].contains_key(t) => {
                            Some((*t, r.value.clone()))
                        }
                        _ if every_bucket => Some((*t, Value::Null)),
                        _ => None,
                    })
                    .collect();
                ordered(pts)
            }
            Stream::Transform(id) => ordered(
                tvals[id]
                    .range(lo..=hi)
                    .map(|(t, v)| (*t, v.clone()))
                    .collect(),
            ),
        })
        .collect();
    let defaults: Vec<Value> = full
        .iter()
        .map(|pts| {
            let like = pts.iter().map(|(_, v)| v).find(|v| **v != Value::Null);
            fill_value(p.fill, like)
        })
        .collect();
    let streams: Vec<Vec<(i64, Value)>> = full
        .into_iter()
        .map(|pts| {
            pts.into_iter()
                .skip(usize::try_from(p.offset).unwrap_or(usize::MAX))
                .take(match p.limit {
                    0 => usize::MAX,
                    n => usize::try_from(n).unwrap_or(usize::MAX),
                })
                .collect()
        })
        .collect();
    let previous = p.fill == Fill::Previous;
    let mut at = vec![0usize; streams.len()];
    let mut cells = vec![Value::Null; streams.len()];
    let mut out = Vec::new();
    loop {
        let heads = streams
            .iter()
            .zip(&at)
            .filter_map(|(l, &i)| l.get(i).map(|(t, _)| *t));
        let next = if p.descending {
            heads.max()
        } else {
            heads.min()
        };
        let Some(t) = next else {
            break;
        };
        for (s, l) in streams.iter().enumerate() {
            let value = match l.get(at[s]) {
                Some((pt, v)) if *pt == t => {
                    at[s] += 1;
                    Some(v).filter(|v| **v != Value::Null)
                }
                _ => None,
            };
            match value {
                Some(v) => cells[s] = v.clone(),
                None if previous => {}
                None => cells[s] = defaults[s].clone(),
            }
        }
        let mut row = Vec::with_capacity(p.outs.len() + 1);
        row.push(Value::Time(t));
        for o in &p.outs {
            row.push(eval_cells(o, &sources, &cells).unwrap_or(Value::Null));
        }
        out.push(row);
    }
    out
}

/// An output over the cells of a merged row.
fn eval_cells(o: &Out, sources: &[Stream], cells: &[Value]) -> Option<Value> {
    let cell = |s: Stream| {
        sources
            .iter()
            .position(|x| *x == s)
            .and_then(|i| cells.get(i).cloned())
            .filter(|v| *v != Value::Null)
    };
    match o {
        Out::Call(c) => cell(Stream::Call(*c)),
        Out::Transform(id, ..) => cell(Stream::Transform(*id)),
        Out::Aux(_) => None,
        Out::Lit(v) => Some(v.clone()),
        Out::Bin(op, l, r) => arith(
            *op,
            eval_cells(l, sources, cells),
            eval_cells(r, sources, cells),
        ),
        Out::Math(f, args) => f.apply(args.iter().map(|a| eval_cells(a, sources, cells))),
    }
}

/// The buckets of an aggregate statement's calls: the bucket times, each call's row per bucket
/// (filled as `fill` says), and the transformations' values by bucket time.
type BucketColumns = (Vec<i64>, Vec<Vec<Option<Row>>>, Vec<BTreeMap<i64, Value>>);

fn bucket_rows(p: &AggregatePlan, results: &[Buckets]) -> Vec<Vec<Value>> {
    let selector_time = p.selector_time();
    let (times, columns, tvals) = bucket_columns(p, results);
    let only_transforms = p.outs.iter().all(|o| !has_plain(o));
    let (lo, hi) = (p.first_written(), p.last_written());
    let mut out = Vec::with_capacity(times.len());
    for (i, t) in times.iter().enumerate() {
        if *t < lo || *t > hi {
            continue;
        }
        if p.fill == Fill::None && columns.iter().all(|c| c[i].is_none()) {
            continue;
        }
        let time = if selector_time {
            columns
                .first()
                .and_then(|c| c[i].as_ref())
                .map_or(*t, |r| r.time)
        } else {
            *t
        };
        let mut row = Vec::with_capacity(p.outs.len() + 1);
        row.push(Value::Time(time));
        for o in &p.outs {
            row.push(eval_out(o, &columns, &tvals, i, *t).unwrap_or(Value::Null));
        }
        if only_transforms && row[1..].iter().all(|v| matches!(v, Value::Null)) {
            continue;
        }
        out.push(row);
    }
    out
}

fn bucket_columns(p: &AggregatePlan, results: &[Buckets]) -> BucketColumns {
    let start_time = p.start_time();
    let filling = p.interval.is_some() && !p.point_buckets;
    // The buckets to write.
    let times: Vec<i64> = match (p.interval, p.fill) {
        (Some((every, _)), f) if f != Fill::None && filling => {
            let first_point = results
                .iter()
                .filter_map(|r| r.keys().next().copied())
                .min()
                .unwrap_or(start_time);
            let first = if p.range.min.is_none() {
                first_point
            } else {
                p.window(
                    p.condition.time_min_ns.max(p.range.min_ns().saturating_sub(
                        every.saturating_mul(if p.descending { 0 } else { p.extra_buckets }),
                    )),
                    start_time,
                )
            };
            let last_time = if p.descending {
                p.condition.time_max_ns.saturating_sub(1)
            } else {
                p.range.max_ns()
            };
            let last = p.window(last_time, start_time);
            let mut out = Vec::new();
            let mut t = first;
            let mut offset = p.zone.as_ref().map_or(0, |z| z.offset_ns(t));
            while t <= last && out.len() as u64 <= FILL_BUCKETS_MAX {
                out.push(t);
                match &p.zone {
                    // Across an offset change a local day is 23 or 25 hours long.
                    Some(z) => (t, offset) = z.next_window(t, every, offset),
                    None => t = t.saturating_add(every),
                }
            }
            out
        }
        _ => {
            let set: BTreeSet<i64> = results.iter().flat_map(|r| r.keys().copied()).collect();
            set.into_iter().collect()
        }
    };
    // Per call, per bucket: the row after fill.
    let mut columns: Vec<Vec<Option<Row>>> = Vec::with_capacity(results.len());
    for (ci, r) in results.iter().enumerate() {
        let call = &p.calls[ci];
        let mut col: Vec<Option<Row>> = times
            .iter()
            .map(|t| r.get(t).and_then(|rows| rows.first().cloned()))
            .collect();
        if filling && !call.unfilled() {
            fill_column(p, call, &times, &mut col);
        }
        columns.push(col);
    }
    // Transformations, over the filled rows in output order.
    let mut tvals: Vec<BTreeMap<i64, Value>> = vec![BTreeMap::new(); p.transforms];
    for o in &p.outs {
        collect_transforms(o, &columns, &times, p, &mut tvals);
    }
    (times, columns, tvals)
}

/// Fill one call's empty buckets as `fill` says (`count` fills `null` as 0).
fn fill_column(p: &AggregatePlan, call: &CallSpec, times: &[i64], col: &mut [Option<Row>]) {
    let row = |t: i64, v: Value| {
        Some(Row {
            time: t,
            value: v,
            aux: Vec::new(),
        })
    };
    let is_count = matches!(call.agg, Aggregate::Count | Aggregate::CountDistinct);
    let int_typed = col
        .iter()
        .flatten()
        .next()
        .is_some_and(|r| matches!(r.value, Value::Int(_)));
    match p.fill {
        Fill::Null if is_count => {
            for (i, c) in col.iter_mut().enumerate() {
                if c.is_none() {
                    *c = row(times[i], Value::Int(0));
                }
            }
        }
        Fill::Int(v) => {
            for (i, c) in col.iter_mut().enumerate() {
                if c.is_none() {
                    let val = if int_typed {
                        Value::Int(v)
                    } else {
                        Value::Float(v as f64)
                    };
                    *c = row(times[i], val);
                }
            }
        }
        Fill::Float(v) => {
            for (i, c) in col.iter_mut().enumerate() {
                if c.is_none() {
                    let val = if int_typed {
                        Value::Int(v as i64)
                    } else {
                        Value::Float(v)
                    };
                    *c = row(times[i], val);
                }
            }
        }
        Fill::Previous => {
            // In output order: under ORDER BY time DESC the bucket after (1.x's fill iterator
            // reads the buckets backwards then).
            let mut prev: Option<Value> = None;
            let order: Box<dyn Iterator<Item = usize>> = if p.descending {
                Box::new((0..col.len()).rev())
            } else {
                Box::new(0..col.len())
            };
            for i in order {
                match &col[i] {
                    Some(r) => prev = Some(r.value.clone()),
                    None => {
                        if let Some(v) = &prev {
                            col[i] = row(times[i], v.clone());
                        }
                    }
                }
            }
        }
        Fill::Linear => {
            let known: Vec<(usize, f64, bool)> = col
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    c.as_ref().and_then(|r| {
                        as_f64(&r.value).map(|f| (i, f, matches!(r.value, Value::Int(_))))
                    })
                })
                .collect();
            for w in known.windows(2) {
                let (a, va, int) = w[0];
                let (b, vb, _) = w[1];
                for (i, c) in col.iter_mut().enumerate().take(b).skip(a + 1) {
                    let f = va + (vb - va) * (i - a) as f64 / (b - a) as f64;
                    let val = if int {
                        Value::Int(f as i64)
                    } else {
                        Value::Float(f)
                    };
                    *c = row(times[i], val);
                }
            }
        }
        _ => {}
    }
}

/// Whether an output column reads a call directly (not through a transformation).
fn has_plain(o: &Out) -> bool {
    match o {
        Out::Call(_) | Out::Aux(_) => true,
        Out::Lit(_) | Out::Transform(..) => false,
        Out::Bin(_, l, r) => has_plain(l) || has_plain(r),
        Out::Math(_, args) => args.iter().any(has_plain),
    }
}

/// An output of one row of distinct/top/bottom/sample (its call's value and aux values).
fn eval_row_out(o: &Out, r: &Row) -> Option<Value> {
    match o {
        Out::Call(_) => Some(r.value.clone()).filter(|v| *v != Value::Null),
        Out::Aux(a) => r.aux.get(*a).cloned(),
        Out::Lit(v) => Some(v.clone()),
        Out::Transform(..) => None,
        Out::Bin(op, l, rr) => arith(*op, eval_row_out(l, r), eval_row_out(rr, r)),
        Out::Math(f, args) => f.apply(args.iter().map(|a| eval_row_out(a, r))),
    }
}

/// Compute every transformation of `o` over its inner column, in output order.
fn collect_transforms(
    o: &Out,
    columns: &[Vec<Option<Row>>],
    times: &[i64],
    p: &AggregatePlan,
    tvals: &mut [BTreeMap<i64, Value>],
) {
    match o {
        Out::Transform(id, t, inner) => {
            collect_transforms(inner, columns, times, p, tvals);
            let mut input: Vec<(i64, Value)> = times
                .iter()
                .enumerate()
                .filter_map(|(i, time)| {
                    let v = eval_out(inner, columns, tvals, i, *time)?;
                    let at = if p.point_buckets {
                        // A raw transformation's input is its own field's point.
                        let c = match **inner {
                            Out::Call(c) => c,
                            _ => 0,
                        };
                        columns[c][i].as_ref()?.time
                    } else {
                        *time
                    };
                    Some((at, v))
                })
                .collect();
            if p.descending {
                input.reverse();
            }
            let interval = p.interval.map(|(every, _)| every);
            tvals[*id] = func::transform(t, &input, interval).into_iter().collect();
        }
        Out::Bin(_, l, r) => {
            collect_transforms(l, columns, times, p, tvals);
            collect_transforms(r, columns, times, p, tvals);
        }
        Out::Math(_, args) => args
            .iter()
            .for_each(|a| collect_transforms(a, columns, times, p, tvals)),
        _ => {}
    }
}

fn eval_out(
    o: &Out,
    columns: &[Vec<Option<Row>>],
    tvals: &[BTreeMap<i64, Value>],
    i: usize,
    time: i64,
) -> Option<Value> {
    match o {
        Out::Call(c) => columns[*c][i].as_ref().map(|r| r.value.clone()),
        Out::Aux(a) => columns
            .first()
            .and_then(|c| c[i].as_ref())
            .and_then(|r| r.aux.get(*a).cloned()),
        Out::Lit(v) => Some(v.clone()),
        Out::Transform(id, _, _) => tvals[*id].get(&time).cloned(),
        Out::Bin(op, l, r) => arith(
            *op,
            eval_out(l, columns, tvals, i, time),
            eval_out(r, columns, tvals, i, time),
        ),
        Out::Math(f, args) => f.apply(args.iter().map(|a| eval_out(a, columns, tvals, i, time))),
    }
}

/// Whether a call reads `*` or `/re/` (`mean(*)`, `derivative(max(/^u/))`, `mean(*) + 1`).
pub fn has_call_wildcards(s: &Select) -> bool {
    s.fields.iter().any(|f| {
        f.expr.any(is_call_expr)
            && f.expr
                .any(|e| matches!(e, Expr::Wildcard(_) | Expr::Regex(_)))
    })
}

/// The innermost call of `e` (descending through first arguments): its name and first argument.
fn innermost(e: &Expr) -> Option<(&str, Option<&Expr>)> {
    let Expr::Call { name, args } = e else {
        return None;
    };
    match args.first() {
        Some(inner @ Expr::Call { .. }) => innermost(inner),
        other => Some((name.as_str(), other)),
    }
}

/// influxql `RewriteFields` for calls: `mean(*)` becomes `mean(f) AS mean_f` for each field of
/// the sources whose type the innermost function takes (`fields`: key and type name, sorted by
/// key); `mean(/re/)` the same for the keys that match. `None` when nothing is left to select.
pub fn expand_call_wildcards(
    s: &Select,
    fields: &[(Vec<u8>, &'static str)],
) -> Result<Option<Select>, PlanError> {
    let mut out = s.clone();
    out.fields.clear();
    for f in &s.fields {
        match &f.expr {
            e @ Expr::Call { .. } => {
                let Some((inner_name, arg)) = innermost(e) else {
                    out.fields.push(f.clone());
                    continue;
                };
                let pattern = match arg {
                    Some(Expr::Wildcard(Some(KeyKind::Tag))) => {
                        return Err(format!("unable to use tag wildcard in {inner_name}()"))
                    }
                    Some(Expr::Wildcard(_)) => None,
                    Some(Expr::Regex(re)) => Some(re),
                    _ => {
                        out.fields.push(f.clone());
                        continue;
                    }
                };
                let mut types = vec!["float", "integer", "unsigned"];
                match inner_name {
                    "count" | "first" | "last" | "distinct" | "elapsed" | "mode" | "sample" => {
                        types.extend(["string", "boolean"])
                    }
                    "min" | "max" => types.push("boolean"),
                    _ => {}
                }
                let prefix = field_name(f);
                for (key, ty) in fields {
                    if !types.contains(ty) || pattern.is_some_and(|re| !re.is_match(key)) {
                        continue;
                    }
                    let key = String::from_utf8_lossy(key).into_owned();
                    let mut expr = f.expr.clone();
                    replace_innermost_arg(
                        &mut expr,
                        Expr::Var {
                            name: key.clone(),
                            cast: None,
                        },
                    );
                    out.fields.push(Field {
                        expr,
                        alias: Some(format!("{prefix}_{key}")),
                    });
                }
            }
            // Inside arithmetic 1.x refuses a call over `*` or `/re/`, naming the call.
            e if e.any(|e| matches!(e, Expr::Wildcard(_) | Expr::Regex(_))) => {
                let mut found = None;
                e.walk(&mut |e| {
                    if let Expr::Call { name, args } = e {
                        match args.first() {
                            Some(Expr::Wildcard(_)) if found.is_none() => {
                                found = Some(("wildcard", name.clone()))
                            }
                            Some(Expr::Regex(_)) if found.is_none() => {
                                found = Some(("regex field", name.clone()))
                            }
                            _ => {}
                        }
                    }
                });
                let (what, name) = found.unwrap_or(("wildcard", String::new()));
                if what == "wildcard" && !is_call(e) {
                    // A raw expression (`abs(*) + 1`).
                    return Err("unable to use wildcard in a binary expression".into());
                }
                return Err(format!("unsupported expression with {what}: {name}()"));
            }
            _ => out.fields.push(f.clone()),
        }
    }
    Ok(out.fields.iter().any(|f| !f.expr.is_time()).then_some(out))
}

fn is_call_expr(e: &Expr) -> bool {
    matches!(e, Expr::Call { .. })
}

fn replace_innermost_arg(e: &mut Expr, with: Expr) {
    if let Expr::Call { args, .. } = e {
        match args.first_mut() {
            Some(inner @ Expr::Call { .. }) => replace_innermost_arg(inner, with),
            Some(first) => *first = with,
            None => {}
        }
    }
}

/// The inner statement of a subquery as it runs: the outer statement's time range is added to
/// it when it has none of its own (as 1.x passes the outer range down).
pub fn subquery_statement(outer: &Select, inner: &Select, now_ns: i64) -> Select {
    let mut inner = inner.clone();
    let Ok((_, outer_range)) = cond::split(outer.condition.as_ref(), now_ns) else {
        return inner;
    };
    let inner_range = cond::split(inner.condition.as_ref(), now_ns)
        .map(|(_, r)| r)
        .unwrap_or_default();
    let mut extra = Vec::new();
    if let (Some(min), None) = (outer_range.min, inner_range.min) {
        extra.push((BinOp::Gte, min));
    }
    if let (Some(max), None) = (outer_range.max, inner_range.max) {
        extra.push((BinOp::Lte, max));
    }
    for (op, t) in extra {
        let bound = Expr::Binary {
            op,
            lhs: Box::new(Expr::var("time")),
            rhs: Box::new(Expr::Int(t)),
        };
        inner.condition = Some(match inner.condition.take() {
            None => bound,
            Some(c) => Expr::Binary {
                op: BinOp::And,
                lhs: Box::new(Expr::Paren(Box::new(c))),
                rhs: Box::new(bound),
            },
        });
    }
    inner
}

/// A subquery's answer as rows for the outer statement: each row a point of the series named by
/// its output series' name and tags plus the tags it selected (a tag selected inside stays a tag
/// outside); the point's fields are the row's other non-null columns.
pub fn rows_of(result: StatementResult) -> Vec<SeriesRows> {
    use crate::lineproto::FieldValue;
    type Tags = Vec<(Vec<u8>, Vec<u8>)>;
    type Points = Vec<(i64, super::PointFields)>;
    let mut out: BTreeMap<(Vec<u8>, Tags), Points> = BTreeMap::new();
    for s in result.series {
        let base: Tags = s
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let keys: Vec<super::FieldKey> = s
            .columns
            .iter()
            .map(|c| super::FieldKey::from(c.as_bytes()))
            .collect();
        let name = s.name.unwrap_or_default().into_bytes();
        for row in s.values {
            let mut time = 0;
            let mut tags = base.clone();
            let mut fields = Vec::new();
            for (i, v) in row.into_iter().enumerate() {
                if s.tag_columns.contains(&i) {
                    if let Value::Str(v) = v {
                        let k = keys[i].to_vec();
                        if !tags.iter().any(|(tk, _)| *tk == k) {
                            tags.push((k, v.as_bytes().to_vec()));
                        }
                    }
                    continue;
                }
                let fv = match v {
                    Value::Time(t) if i == 0 => {
                        time = t;
                        continue;
                    }
                    Value::Float(f) => FieldValue::Float(f),
                    Value::Int(n) => FieldValue::Integer(n),
                    Value::UInt(n) => FieldValue::Unsigned(n),
                    Value::Bool(b) => FieldValue::Boolean(b),
                    Value::Str(t) => {
                        FieldValue::String(std::borrow::Cow::Owned(t.as_bytes().to_vec()))
                    }
                    Value::Null | Value::Time(_) => continue,
                };
                fields.push((keys[i].clone(), fv));
            }
            tags.sort();
            out.entry((name.clone(), tags))
                .or_default()
                .push((time, fields));
        }
    }
    out.into_iter()
        .map(|((measurement, tags), points)| SeriesRows {
            measurement,
            tags,
            points,
        })
        .collect()
}

/// A few rows of every field type over two series in the 140 s before `now_ns`, for tests and
/// the fuzz target that run arbitrary plans.
pub fn sample_rows(now_ns: i64) -> Vec<SeriesRows> {
    use crate::lineproto::FieldValue;
    let key = |k: &str| super::FieldKey::from(k.as_bytes());
    let point = |t: i64, v: f64, i: i64| {
        (
            t,
            vec![
                (key("v"), FieldValue::Float(v)),
                (key("i"), FieldValue::Integer(i)),
                (
                    key("s"),
                    FieldValue::String(std::borrow::Cow::Owned(b"x".to_vec())),
                ),
                (key("b"), FieldValue::Boolean(i % 2 == 0)),
            ],
        )
    };
    ["a", "b"]
        .iter()
        .enumerate()
        .map(|(n, host)| SeriesRows {
            measurement: b"m".to_vec(),
            tags: vec![(b"host".to_vec(), host.as_bytes().to_vec())],
            points: (0..20)
                .map(|k| {
                    let t = now_ns - (20 - k) * 7_000_000_000 + n as i64;
                    point(t, k as f64 * 1.5 - 3.0, k - 5)
                })
                .collect(),
        })
        .collect()
}
