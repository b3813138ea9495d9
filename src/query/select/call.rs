//! A call of the SELECT list checked as 1.x's compiler checks it (query/compile.go, same error
//! texts) and turned into a [`func`](crate::query::func) aggregate or transformation.

use crate::query::ast::{Expr, VarType};
use crate::query::func::{Aggregate, Transform};
use crate::query::select::text;

/// What a call is.
pub enum Lowered {
    /// An aggregate or selector over a field; `tags` are top()/bottom()'s tag arguments.
    Aggregate {
        agg: Aggregate,
        name: String,
        field: String,
        cast: Option<VarType>,
        tags: Vec<String>,
    },
    /// A transformation over an inner call (with GROUP BY time) or a raw field (without).
    Transform { t: Transform, inner: Expr },
}

fn n_args(name: &str, args: &[Expr], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "invalid number of arguments for {name}, expected {n}, got {}",
            args.len()
        ));
    }
    Ok(())
}

fn range_args(name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(format!(
            "invalid number of arguments for {name}, expected at least {min} but no more than {max}, got {}",
            args.len()
        ));
    }
    Ok(())
}

/// The field a function reads (1.x `compileSymbol`).
fn symbol(name: &str, arg: &Expr) -> Result<(String, Option<VarType>), String> {
    match arg {
        Expr::Var { name, cast } => Ok((name.clone(), *cast)),
        // Checked as written, then run once per field it names (`expand_call_wildcards`).
        Expr::Wildcard(_) | Expr::Regex(_) => Ok((super::WILDCARD_FIELD.into(), None)),
        _ => Err(format!("expected field argument in {name}()")),
    }
}

/// A duration argument (`derivative(x, 1s)`...): positive.
fn unit(name: &str, arg: Option<&Expr>) -> Result<Option<i64>, String> {
    match arg {
        None => Ok(None),
        Some(Expr::Duration(d)) if *d <= 0 => Err(format!(
            "duration argument must be positive, got {}",
            crate::query::format_influx_duration(*d)
        )),
        Some(Expr::Duration(d)) => Ok(Some(*d)),
        Some(other) => Err(format!(
            "second argument to {name} must be a duration, got {}",
            go_type(other)
        )),
    }
}

fn go_type(e: &Expr) -> &'static str {
    match e {
        Expr::Int(_) => "*influxql.IntegerLiteral",
        Expr::Float(_) => "*influxql.NumberLiteral",
        Expr::Str(_) => "*influxql.StringLiteral",
        Expr::Bool(_) => "*influxql.BooleanLiteral",
        Expr::Var { .. } => "*influxql.VarRef",
        Expr::Call { .. } => "*influxql.Call",
        _ => "*influxql.BinaryExpr",
    }
}

/// Check and lower `name(args)`; `interval` = the statement has GROUP BY time.
pub fn lower(name: &str, args: &[Expr], interval: bool) -> Result<Lowered, String> {
    let aggregate = |agg: Aggregate, field: (String, Option<VarType>), tags: Vec<String>| {
        Ok(Lowered::Aggregate {
            agg,
            name: name.to_string(),
            field: field.0,
            cast: field.1,
            tags,
        })
    };
    match name {
        "count" | "sum" | "mean" | "median" | "mode" | "stddev" | "spread" | "max" | "min"
        | "first" | "last" => {
            n_args(name, args, 1)?;
            if name == "count" {
                match &args[0] {
                    Expr::Call { name: inner, args } if inner == "distinct" => {
                        let field = distinct_field(args)?;
                        return aggregate(Aggregate::CountDistinct, field, Vec::new());
                    }
                    Expr::Distinct(f) => {
                        return aggregate(Aggregate::CountDistinct, (f.clone(), None), Vec::new())
                    }
                    _ => {}
                }
            }
            let agg = match name {
                "count" => Aggregate::Count,
                "sum" => Aggregate::Sum,
                "mean" => Aggregate::Mean,
                "median" => Aggregate::Median,
                "mode" => Aggregate::Mode,
                "stddev" => Aggregate::Stddev,
                "spread" => Aggregate::Spread,
                "max" => Aggregate::Max,
                "min" => Aggregate::Min,
                "first" => Aggregate::First,
                _ => Aggregate::Last,
            };
            aggregate(agg, symbol(name, &args[0])?, Vec::new())
        }
        "distinct" => aggregate(Aggregate::Distinct, distinct_field(args)?, Vec::new()),
        "percentile" => {
            n_args(name, args, 2)?;
            let p = match &args[1] {
                Expr::Int(i) => *i as f64,
                Expr::Float(f) => *f,
                _ => return Err("expected float argument in percentile()".into()),
            };
            aggregate(
                Aggregate::Percentile(p),
                symbol(name, &args[0])?,
                Vec::new(),
            )
        }
        "sample" => {
            n_args(name, args, 2)?;
            let n = match &args[1] {
                Expr::Int(i) if *i <= 0 => {
                    return Err(format!("sample window must be greater than 1, got {i}"))
                }
                Expr::Int(i) => *i as usize,
                _ => return Err("expected integer argument in sample()".into()),
            };
            aggregate(Aggregate::Sample(n), symbol(name, &args[0])?, Vec::new())
        }
        "top" | "bottom" => {
            if args.len() < 2 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected at least 2, got {}",
                    args.len()
                ));
            }
            let last = &args[args.len() - 1];
            let n = match last {
                Expr::Int(i) if *i < 1 => {
                    return Err(format!("limit ({i}) in {name} function must be at least 1"))
                }
                Expr::Int(i) => *i as usize,
                other => {
                    return Err(format!(
                        "expected integer as last argument in {name}(), found {}",
                        text(other)
                    ))
                }
            };
            let field = match &args[0] {
                Expr::Var { name, cast } => (name.clone(), *cast),
                other => {
                    return Err(format!(
                        "expected first argument to be a field in {name}(), found {}",
                        text(other)
                    ))
                }
            };
            let mut tags = Vec::new();
            for a in &args[1..args.len() - 1] {
                match a {
                    Expr::Var { name, .. } => tags.push(name.clone()),
                    other => {
                        return Err(format!(
                            "only fields or tags are allowed in {name}(), found {}",
                            text(other)
                        ))
                    }
                }
            }
            let agg = if name == "top" {
                Aggregate::Top {
                    n,
                    tags: tags.len(),
                }
            } else {
                Aggregate::Bottom {
                    n,
                    tags: tags.len(),
                }
            };
            aggregate(agg, field, tags)
        }
        "integral" => {
            range_args(name, args, 1, 2)?;
            let unit_ns = match args.get(1) {
                None => 1_000_000_000,
                Some(Expr::Duration(d)) if *d <= 0 => {
                    return Err(format!(
                        "duration argument must be positive, got {}",
                        crate::query::format_influx_duration(*d)
                    ))
                }
                Some(Expr::Duration(d)) => *d,
                Some(_) => return Err("second argument must be a duration".into()),
            };
            aggregate(
                Aggregate::Integral { unit_ns },
                symbol(name, &args[0])?,
                Vec::new(),
            )
        }
        "derivative" | "non_negative_derivative" | "elapsed" => {
            range_args(name, args, 1, 2)?;
            let u = unit(name, args.get(1))?;
            let t = match name {
                "elapsed" => Transform::Elapsed { unit_ns: u },
                _ => Transform::Derivative {
                    unit_ns: u,
                    non_negative: name == "non_negative_derivative",
                },
            };
            transform(name, t, &args[0], interval)
        }
        "difference" | "non_negative_difference" | "cumulative_sum" => {
            n_args(name, args, 1)?;
            let t = match name {
                "cumulative_sum" => Transform::CumulativeSum,
                _ => Transform::Difference {
                    non_negative: name == "non_negative_difference",
                },
            };
            transform(name, t, &args[0], interval)
        }
        "moving_average" => {
            n_args(name, args, 2)?;
            let n = match &args[1] {
                Expr::Int(i) if *i <= 1 => {
                    return Err(format!(
                        "moving_average window must be greater than 1, got {i}"
                    ))
                }
                Expr::Int(i) => *i as usize,
                other => {
                    return Err(format!(
                        "second argument for moving_average must be an integer, got {}",
                        go_type(other)
                    ))
                }
            };
            transform(name, Transform::MovingAverage(n), &args[0], interval)
        }
        _ if crate::query::select::known_function(name) => Err(format!(
            "function {name}() is not supported by lineshard yet"
        )),
        _ => Err(format!("undefined function {name}()")),
    }
}

fn distinct_field(args: &[Expr]) -> Result<(String, Option<VarType>), String> {
    match args {
        [] => Err("distinct function requires at least one argument".into()),
        [Expr::Var { name, cast }] => Ok((name.clone(), *cast)),
        [_] => Err("expected field argument in distinct()".into()),
        _ => Err("distinct function can only have one argument".into()),
    }
}

fn transform(name: &str, t: Transform, arg: &Expr, interval: bool) -> Result<Lowered, String> {
    match arg {
        Expr::Call { .. } if !interval => {
            Err(format!("{name} aggregate requires a GROUP BY interval"))
        }
        Expr::Call { .. } => Ok(Lowered::Transform {
            t,
            inner: arg.clone(),
        }),
        _ if interval => Err(format!(
            "aggregate function required inside the call to {name}"
        )),
        Expr::Var { .. } | Expr::Wildcard(_) | Expr::Regex(_) => Ok(Lowered::Transform {
            t,
            inner: arg.clone(),
        }),
        other => {
            symbol(name, other)?;
            Err(format!("expected field argument in {name}()"))
        }
    }
}
