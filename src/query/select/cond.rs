//! A SELECT's WHERE clause: the time range (influxql `ConditionExpr`), the part pushed down to
//! storage as a tag predicate, and the rest evaluated per point.

use crate::query::ast::{BinOp, Expr, VarType};
use crate::query::time::parse_time_literal;
use crate::query::{TagExpr, Value, TIME_MAX_NS, TIME_MIN_NS};

/// An inclusive time range; `None` = unbounded on that side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl TimeRange {
    fn intersect(self, o: TimeRange) -> TimeRange {
        let pick = |a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64| match (a, b) {
            (Some(a), Some(b)) => Some(f(a, b)),
            (a, None) => a,
            (None, b) => b,
        };
        TimeRange {
            min: pick(self.min, o.min, i64::max),
            max: pick(self.max, o.max, i64::min),
        }
    }

    pub fn min_ns(&self) -> i64 {
        self.min.unwrap_or(TIME_MIN_NS)
    }

    pub fn max_ns(&self) -> i64 {
        self.max.unwrap_or(TIME_MAX_NS)
    }
}

/// Split `cond` into its time range and the rest (influxql `ConditionExpr`: time comparisons
/// anywhere under AND/OR narrow the range; everything else stays).
pub fn split(cond: Option<&Expr>, now_ns: i64) -> Result<(Option<Expr>, TimeRange), String> {
    let Some(cond) = cond else {
        return Ok((None, TimeRange::default()));
    };
    let (rest, range) = split_inner(cond, now_ns)?;
    let rest = match rest {
        Some(Expr::Paren(e)) => Some(*e),
        Some(Expr::Bool(true)) => None,
        r => r,
    };
    Ok((rest, range))
}

fn split_inner(cond: &Expr, now_ns: i64) -> Result<(Option<Expr>, TimeRange), String> {
    match cond {
        Expr::Binary { op, lhs, rhs } if matches!(op, BinOp::And | BinOp::Or) => {
            let (l, lt) = split_inner(lhs, now_ns)?;
            let (r, rt) = split_inner(rhs, now_ns)?;
            let range = lt.intersect(rt);
            let e = match (l, r) {
                (l, None) => l,
                (None, r) => r,
                (Some(l), Some(r)) => Some(Expr::Binary {
                    op: *op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }),
            };
            Ok((e, range))
        }
        Expr::Binary { op, lhs, rhs } => {
            if is_time_var(lhs) {
                return Ok((None, time_range(*op, rhs, now_ns)?));
            }
            if is_time_var(rhs) {
                let flipped = match op {
                    BinOp::Gt => BinOp::Lt,
                    BinOp::Lt => BinOp::Gt,
                    BinOp::Gte => BinOp::Lte,
                    BinOp::Lte => BinOp::Gte,
                    o => *o,
                };
                return Ok((None, time_range(flipped, lhs, now_ns)?));
            }
            Ok((Some(cond.clone()), TimeRange::default()))
        }
        Expr::Paren(inner) => {
            let (e, range) = split_inner(inner, now_ns)?;
            Ok((e.map(|e| Expr::Paren(Box::new(e))), range))
        }
        Expr::Bool(_) => Ok((Some(cond.clone()), TimeRange::default())),
        _ => Err(format!(
            "invalid condition expression: {}",
            crate::query::select::text(cond)
        )),
    }
}

fn is_time_var(e: &Expr) -> bool {
    matches!(e, Expr::Var { name, .. } if name.eq_ignore_ascii_case("time"))
}

/// The value a time comparison compares with, in ns.
fn time_value(e: &Expr, now_ns: i64) -> Result<i64, String> {
    match e {
        Expr::Str(s) if looks_like_time(s) => {
            parse_time_literal(s).ok_or_else(|| "invalid timestamp string".to_string())
        }
        Expr::Int(v) | Expr::Duration(v) => Ok(*v),
        Expr::Float(v) => Ok(*v as i64),
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(now_ns),
        Expr::Paren(e) => time_value(e, now_ns),
        Expr::Binary {
            op: op @ (BinOp::Add | BinOp::Sub),
            lhs,
            rhs,
        } => {
            let (a, b) = (time_value(lhs, now_ns)?, time_value(rhs, now_ns)?);
            Ok(if *op == BinOp::Add {
                a.saturating_add(b)
            } else {
                a.saturating_sub(b)
            })
        }
        _ => Err(format!(
            "invalid operation: time and {} are not compatible",
            go_type(e)
        )),
    }
}

/// influxql `IsTimeLiteral`: a string that starts like a date (`2006-01-02...`).
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// influxql's Go type name of a literal, for error texts.
fn go_type(e: &Expr) -> &'static str {
    match e {
        Expr::Var { .. } => "*influxql.VarRef",
        Expr::Call { .. } => "*influxql.Call",
        Expr::Binary { .. } => "*influxql.BinaryExpr",
        Expr::Paren(_) => "*influxql.ParenExpr",
        Expr::Bool(_) => "*influxql.BooleanLiteral",
        Expr::Regex(_) => "*influxql.RegexLiteral",
        Expr::Unsigned(_) => "*influxql.UnsignedLiteral",
        _ => "*influxql.StringLiteral",
    }
}

fn time_range(op: BinOp, rhs: &Expr, now_ns: i64) -> Result<TimeRange, String> {
    let v = time_value(rhs, now_ns)?;
    let mut r = TimeRange::default();
    match op {
        BinOp::Gt => r.min = Some(v.saturating_add(1)),
        BinOp::Gte => r.min = Some(v),
        BinOp::Lt => r.max = Some(v.saturating_sub(1)),
        BinOp::Lte => r.max = Some(v),
        BinOp::Eq => {
            r.min = Some(v);
            r.max = Some(v);
        }
        o => return Err(format!("invalid time comparison operator: {}", o.text())),
    }
    Ok(r)
}

/// The tag predicate `e` is, when every part of it reads tags only (`is_field` says which names
/// are fields).
pub fn tag_expr(e: &Expr, is_field: &dyn Fn(&str) -> bool) -> Option<TagExpr> {
    let tag_name = |v: &Expr| match v {
        Expr::Var {
            name,
            cast: Some(VarType::Tag),
        } => Some(name.clone()),
        Expr::Var { name, cast: None } if !is_field(name) && !name.eq_ignore_ascii_case("time") => {
            Some(name.clone())
        }
        _ => None,
    };
    match e {
        Expr::Paren(inner) => tag_expr(inner, is_field),
        Expr::Bool(true) => Some(TagExpr::True),
        Expr::Bool(false) => Some(TagExpr::False),
        Expr::Binary { op, lhs, rhs } => match op {
            BinOp::And => Some(tag_expr(lhs, is_field)?.and(tag_expr(rhs, is_field)?)),
            BinOp::Or => Some(tag_expr(lhs, is_field)?.or(tag_expr(rhs, is_field)?)),
            BinOp::Eq | BinOp::Neq => {
                let (k, v) = match (lhs.unparen(), rhs.unparen()) {
                    (k @ Expr::Var { .. }, Expr::Str(v)) | (Expr::Str(v), k @ Expr::Var { .. }) => {
                        (tag_name(k)?, v)
                    }
                    _ => return None,
                };
                Some(TagExpr::Eq {
                    key: k.into_bytes(),
                    value: v.as_bytes().to_vec(),
                    negate: *op == BinOp::Neq,
                })
            }
            BinOp::EqRegex | BinOp::NeqRegex => match (lhs.unparen(), rhs.unparen()) {
                (k @ Expr::Var { .. }, Expr::Regex(re)) => Some(TagExpr::Regex {
                    key: tag_name(k)?.into_bytes(),
                    re: re.clone(),
                    negate: *op == BinOp::NeqRegex,
                }),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The conjuncts of `e` that are tag predicates, ANDed (the part a scan can apply per series).
pub fn pushdown(e: &Expr, is_field: &dyn Fn(&str) -> bool) -> TagExpr {
    if let Some(t) = tag_expr(e, is_field) {
        return t;
    }
    match e.unparen() {
        Expr::Binary {
            op: BinOp::And,
            lhs,
            rhs,
        } => pushdown(lhs, is_field).and(pushdown(rhs, is_field)),
        _ => TagExpr::True,
    }
}

/// What a per-point condition reads: a tag's value or a field's.
pub trait PointSource {
    /// The value of `name` (a field when `field` is true, else a tag); `None` = null.
    fn get(&self, name: &str, cast: Option<VarType>) -> Option<Value>;
}

/// Evaluate a condition for one point (1.x: null compares false; numbers compare across
/// integer and float).
pub fn matches(e: &Expr, p: &dyn PointSource) -> bool {
    matches!(eval(e, p), Some(Value::Bool(true)))
}

fn eval(e: &Expr, p: &dyn PointSource) -> Option<Value> {
    match e {
        Expr::Paren(inner) => eval(inner, p),
        Expr::Var { name, cast } => p.get(name, *cast),
        Expr::Int(v) => Some(Value::Int(*v)),
        Expr::Unsigned(v) => Some(Value::UInt(*v)),
        Expr::Float(v) => Some(Value::Float(*v)),
        Expr::Str(s) => Some(Value::Str(s.as_str().into())),
        Expr::Bool(b) => Some(Value::Bool(*b)),
        Expr::Duration(d) => Some(Value::Int(*d)),
        Expr::Binary { op, lhs, rhs } => match op {
            BinOp::And => Some(Value::Bool(matches(lhs, p) && matches(rhs, p))),
            BinOp::Or => Some(Value::Bool(matches(lhs, p) || matches(rhs, p))),
            BinOp::EqRegex | BinOp::NeqRegex => {
                let Expr::Regex(re) = rhs.unparen() else {
                    return Some(Value::Bool(false));
                };
                let hit = match eval(lhs, p) {
                    Some(Value::Str(s)) => re.is_match(s.as_bytes()),
                    _ => return Some(Value::Bool(false)),
                };
                Some(Value::Bool(hit != (*op == BinOp::NeqRegex)))
            }
            op if op.is_boolean() => {
                let (l, r) = (eval(lhs, p), eval(rhs, p));
                Some(Value::Bool(compare(*op, l.as_ref(), r.as_ref())))
            }
            op => super::arith(*op, eval(lhs, p), eval(rhs, p)),
        },
        Expr::Call { name, args } => {
            let f = crate::query::func::MathFn::from_name(name)?;
            f.apply(args.iter().map(|a| eval(a, p)))
        }
        _ => None,
    }
}

fn compare(op: BinOp, l: Option<&Value>, r: Option<&Value>) -> bool {
    use std::cmp::Ordering;
    let (Some(l), Some(r)) = (l, r) else {
        return false;
    };
    let ord: Option<Ordering> = match (l, r) {
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => {
            return match op {
                BinOp::Eq => a == b,
                BinOp::Neq => a != b,
                _ => false,
            }
        }
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::UInt(a), Value::UInt(b)) => Some(a.cmp(b)),
        (a, b) => match (super::as_f64(a), super::as_f64(b)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
    };
    let Some(ord) = ord else {
        return false;
    };
    match op {
        BinOp::Eq => ord == Ordering::Equal,
        BinOp::Neq => ord != Ordering::Equal,
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Lte => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        BinOp::Gte => ord != Ordering::Less,
        _ => false,
    }
}
