//! Values as 1.x computes with them: arithmetic, casts (`::integer`, `::float`...), and the
//! expressions of a raw SELECT list (`f * 2`, `i::float + 1`) evaluated at one point.

use super::ast::{BinOp, Expr, VarType};
use super::func::MathFn;
use super::render::Value;
use super::PointFields;

pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        _ => None,
    }
}

/// Arithmetic as 1.x evaluates it: integers stay integers (division gives a float, and 0 when
/// dividing by zero), any float makes a float, `&`/`|`/`^` on integers or on booleans (a null
/// beside a boolean is false); anything else or a null operand is null.
pub(crate) fn arith(op: BinOp, l: Option<Value>, r: Option<Value>) -> Option<Value> {
    // Beside a boolean a null is false (influxql `evalBinaryExpr`).
    let (l, r) = match (l, r) {
        (None, Some(Value::Bool(b))) => (Value::Bool(false), Value::Bool(b)),
        (Some(Value::Bool(b)), None) => (Value::Bool(b), Value::Bool(false)),
        (l, r) => (l?, r?),
    };
    match (&l, &r) {
        (Value::Int(a), Value::Int(b)) => {
            let (a, b) = (*a, *b);
            Some(match op {
                BinOp::Add => Value::Int(a.wrapping_add(b)),
                BinOp::Sub => Value::Int(a.wrapping_sub(b)),
                BinOp::Mul => Value::Int(a.wrapping_mul(b)),
                BinOp::Div => {
                    if b == 0 {
                        Value::Float(0.0)
                    } else {
                        Value::Float(a as f64 / b as f64)
                    }
                }
                BinOp::Mod => {
                    if b == 0 {
                        Value::Int(0)
                    } else {
                        Value::Int(a.wrapping_rem(b))
                    }
                }
                BinOp::BitAnd => Value::Int(a & b),
                BinOp::BitOr => Value::Int(a | b),
                BinOp::BitXor => Value::Int(a ^ b),
                _ => return None,
            })
        }
        (Value::Bool(a), Value::Bool(b)) => Some(match op {
            BinOp::BitAnd => Value::Bool(a & b),
            BinOp::BitOr => Value::Bool(a | b),
            BinOp::BitXor => Value::Bool(a ^ b),
            _ => return None,
        }),
        _ => {
            let (a, b) = (as_f64(&l)?, as_f64(&r)?);
            Some(Value::Float(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => {
                    if b == 0.0 {
                        0.0
                    } else {
                        a / b
                    }
                }
                BinOp::Mod => {
                    if b == 0.0 {
                        0.0
                    } else {
                        a % b
                    }
                }
                _ => return None,
            }))
        }
    }
}

/// A field's value read as `name::type` (1.x's cast cursors): numbers convert between float,
/// integer and unsigned (a float is truncated); a string or boolean is only itself; any other
/// pairing has no value. `None`, `::field` and `::tag` read the value as it is.
pub(crate) fn cast(v: Value, to: Option<VarType>) -> Option<Value> {
    match (to, v) {
        (None | Some(VarType::Field | VarType::Tag), v) => Some(v),
        (Some(VarType::Float), Value::Float(f)) => Some(Value::Float(f)),
        (Some(VarType::Float), Value::Int(i)) => Some(Value::Float(i as f64)),
        (Some(VarType::Float), Value::UInt(u)) => Some(Value::Float(u as f64)),
        (Some(VarType::Integer), Value::Int(i)) => Some(Value::Int(i)),
        (Some(VarType::Integer), Value::Float(f)) => Some(Value::Int(f as i64)),
        (Some(VarType::Integer), Value::UInt(u)) => Some(Value::Int(u as i64)),
        (Some(VarType::Unsigned), Value::UInt(u)) => Some(Value::UInt(u)),
        (Some(VarType::Unsigned), Value::Int(i)) => Some(Value::UInt(i as u64)),
        (Some(VarType::Unsigned), Value::Float(f)) => Some(Value::UInt(f as u64)),
        (Some(VarType::String), v @ Value::Str(_)) => Some(v),
        (Some(VarType::Boolean), v @ Value::Bool(_)) => Some(v),
        _ => None,
    }
}

/// An expression of a raw SELECT list, evaluated at each point of a series.
#[derive(Clone, Debug, PartialEq)]
pub enum RawExpr {
    /// A field of the point, read as `cast` says.
    Field {
        name: Vec<u8>,
        cast: Option<VarType>,
    },
    Lit(Value),
    Bin(BinOp, Box<RawExpr>, Box<RawExpr>),
    /// A math function (`abs(f)`, `pow(f, 2)`) of its arguments.
    Math(MathFn, Vec<RawExpr>),
}

impl RawExpr {
    /// The expression of a SELECT list entry; `None` for what a raw expression cannot hold
    /// (calls, wildcards, regexes, strings...).
    pub fn from_expr(e: &Expr) -> Option<RawExpr> {
        Some(match e {
            Expr::Paren(inner) => RawExpr::from_expr(inner)?,
            Expr::Var { name, cast } => RawExpr::Field {
                name: name.as_bytes().to_vec(),
                cast: *cast,
            },
            Expr::Int(v) => RawExpr::Lit(Value::Int(*v)),
            Expr::Unsigned(v) => RawExpr::Lit(Value::UInt(*v)),
            Expr::Float(v) => RawExpr::Lit(Value::Float(*v)),
            Expr::Bool(v) => RawExpr::Lit(Value::Bool(*v)),
            Expr::Str(v) => RawExpr::Lit(Value::Str(v.as_str().into())),
            Expr::Binary { op, lhs, rhs } => RawExpr::Bin(
                *op,
                Box::new(RawExpr::from_expr(lhs)?),
                Box::new(RawExpr::from_expr(rhs)?),
            ),
            Expr::Call { name, args } => {
                let f = MathFn::from_name(name).filter(|f| f.arity() == args.len())?;
                RawExpr::Math(
                    f,
                    args.iter().map(RawExpr::from_expr).collect::<Option<_>>()?,
                )
            }
            _ => return None,
        })
    }

    /// Every field the expression reads.
    pub fn fields(&self, out: &mut Vec<Vec<u8>>) {
        match self {
            RawExpr::Field { name, .. } => {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            RawExpr::Lit(_) => {}
            RawExpr::Bin(_, l, r) => {
                l.fields(out);
                r.fields(out);
            }
            RawExpr::Math(_, args) => args.iter().for_each(|a| a.fields(out)),
        }
    }

    /// The value at one point, and whether any field it reads has a value there (1.x makes a
    /// row of every point at which a field the SELECT list reads has one).
    pub fn eval(&self, fields: &PointFields, present: &mut bool) -> Option<Value> {
        match self {
            RawExpr::Field { name, cast: to } => {
                let v = fields
                    .iter()
                    .find(|(k, _)| k[..] == name[..])
                    .map(|(_, v)| super::render::to_value(v))?;
                let v = cast(v, *to)?;
                *present = true;
                Some(v)
            }
            RawExpr::Lit(v) => Some(v.clone()),
            RawExpr::Bin(op, l, r) => {
                let l = l.eval(fields, present);
                let r = r.eval(fields, present);
                arith(*op, l, r)
            }
            RawExpr::Math(f, args) => {
                // `from_expr` keeps exactly `arity` arguments, so `apply` evaluates each (and
                // each marks the fields it finds present).
                f.apply(args.iter().map(|a| a.eval(fields, present)))
            }
        }
    }
}

/// influxql's data types as its type checker names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Unknown,
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    Tag,
}

impl DataType {
    fn name(self) -> &'static str {
        match self {
            DataType::Unknown => "unknown",
            DataType::Float => "float",
            DataType::Integer => "integer",
            DataType::Unsigned => "unsigned",
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Tag => "tag",
        }
    }

    fn of_cast(c: VarType) -> Option<DataType> {
        Some(match c {
            VarType::Float => DataType::Float,
            VarType::Integer => DataType::Integer,
            VarType::Unsigned => DataType::Unsigned,
            VarType::String => DataType::String,
            VarType::Boolean => DataType::Boolean,
            VarType::Tag => DataType::Tag,
            VarType::Field => return None,
        })
    }
}

/// 1.x's type check of a raw SELECT list expression (influxql `EvalType` over the fields'
/// types, after `RewriteFields` has written each name's type beside it): the first binary
/// expression whose operand types cannot combine is `type error: <expr>: incompatible types:
/// <lhs> and <rhs>`. `ty` gives a name's type from the schema (a field first, then a tag).
pub fn check_types(e: &Expr, ty: &dyn Fn(&str) -> DataType) -> Result<DataType, String> {
    let typed = annotate(e, ty);
    eval_type(&typed)
}

/// The expression with each name's type written as its cast (`f` -> `f::float`), as the
/// error texts show it.
fn annotate(e: &Expr, ty: &dyn Fn(&str) -> DataType) -> Expr {
    match e {
        Expr::Var { name, cast } => {
            let cast = match cast {
                Some(c) if *c != VarType::Field => Some(*c),
                _ => match ty(name) {
                    DataType::Float => Some(VarType::Float),
                    DataType::Integer => Some(VarType::Integer),
                    DataType::Unsigned => Some(VarType::Unsigned),
                    DataType::String => Some(VarType::String),
                    DataType::Boolean => Some(VarType::Boolean),
                    // `name::field` naming a tag stays a field reference with no value.
                    DataType::Tag if cast.is_none() => Some(VarType::Tag),
                    _ => *cast,
                },
            };
            Expr::Var {
                name: name.clone(),
                cast,
            }
        }
        Expr::Paren(inner) => Expr::Paren(Box::new(annotate(inner, ty))),
        Expr::Binary { op, lhs, rhs } => Expr::Binary {
            op: *op,
            lhs: Box::new(annotate(lhs, ty)),
            rhs: Box::new(annotate(rhs, ty)),
        },
        other => other.clone(),
    }
}

fn eval_type(e: &Expr) -> Result<DataType, String> {
    Ok(match e {
        Expr::Var { cast, .. } => cast
            .and_then(DataType::of_cast)
            .unwrap_or(DataType::Unknown),
        Expr::Paren(inner) => eval_type(inner)?,
        Expr::Int(_) => DataType::Integer,
        Expr::Unsigned(_) => DataType::Unsigned,
        Expr::Float(_) => DataType::Float,
        Expr::Bool(_) => DataType::Boolean,
        Expr::Str(_) => DataType::String,
        Expr::Binary { op, lhs, rhs } => {
            let (l, r) = (eval_type(lhs)?, eval_type(rhs)?);
            if l == DataType::Unknown {
                return Ok(r);
            }
            if r == DataType::Unknown {
                return Ok(l);
            }
            match combine(*op, l, r) {
                Some(t) => t,
                None => {
                    return Err(format!(
                        "type error: {}: incompatible types: {} and {}",
                        super::select::text(e),
                        l.name(),
                        r.name()
                    ))
                }
            }
        }
        _ => DataType::Unknown,
    })
}

/// The type of `l op r` as 1.x finds it (evaluating the operation on both types' zero values).
fn combine(op: BinOp, l: DataType, r: DataType) -> Option<DataType> {
    use DataType as T;
    let numeric = |t| matches!(t, T::Float | T::Integer | T::Unsigned);
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            if !numeric(l) || !numeric(r) {
                return None;
            }
            Some(match (l, r) {
                (T::Integer, T::Integer) if op == BinOp::Div => T::Float,
                (T::Integer, T::Integer) => T::Integer,
                (T::Unsigned, T::Unsigned) => T::Unsigned,
                (T::Unsigned | T::Integer, T::Unsigned | T::Integer) => T::Integer,
                _ => T::Float,
            })
        }
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => match (l, r) {
            (T::Integer, T::Integer) => Some(T::Integer),
            (T::Unsigned, T::Unsigned) => Some(T::Unsigned),
            (T::Boolean, T::Boolean) => Some(T::Boolean),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::FieldValue;
    use std::borrow::Cow;
    use std::sync::Arc;

    fn expr(s: &str) -> Expr {
        let q = format!("SELECT {s} FROM m");
        let Ok(stmts) = crate::query::parse(&q, 0) else {
            panic!("parse {q}")
        };
        let Some(crate::query::Statement::Select(sel)) = stmts.into_iter().next() else {
            panic!("not a select: {q}")
        };
        sel.fields[0].expr.clone()
    }

    fn schema(name: &str) -> DataType {
        match name {
            "f" => DataType::Float,
            "i" => DataType::Integer,
            "s" => DataType::String,
            "b" => DataType::Boolean,
            "host" => DataType::Tag,
            _ => DataType::Unknown,
        }
    }

    #[test]
    fn type_errors_read_as_1x_writes_them() {
        let err = |s: &str| check_types(&expr(s), &schema).unwrap_err();
        assert_eq!(
            err("host + 1"),
            "type error: host::tag + 1: incompatible types: tag and integer"
        );
        assert_eq!(
            err("s + s"),
            "type error: s::string + s::string: incompatible types: string and string"
        );
        assert_eq!(
            err("f & 1"),
            "type error: f::float & 1: incompatible types: float and integer"
        );
        assert_eq!(
            err("(b + 1) * 2"),
            "type error: b::boolean + 1: incompatible types: boolean and integer"
        );
        assert_eq!(
            err("f::tag + 1"),
            "type error: f::tag + 1: incompatible types: tag and integer"
        );
        assert_eq!(check_types(&expr("i / 2"), &schema), Ok(DataType::Float));
        assert_eq!(check_types(&expr("f + nope"), &schema), Ok(DataType::Float));
        assert_eq!(
            check_types(&expr("b ^ true"), &schema),
            Ok(DataType::Boolean)
        );
        assert_eq!(
            check_types(&expr("host::field + 1"), &schema),
            Ok(DataType::Integer)
        );
    }

    #[test]
    fn evaluation_casts_and_marks_presence() {
        let fields: PointFields = vec![
            (Arc::from(&b"f"[..]), FieldValue::Float(2.5)),
            (Arc::from(&b"i"[..]), FieldValue::Integer(-3)),
            (
                Arc::from(&b"s"[..]),
                FieldValue::String(Cow::Borrowed(b"x")),
            ),
        ];
        let run = |s: &str| {
            let mut present = false;
            let v = RawExpr::from_expr(&expr(s))
                .unwrap()
                .eval(&fields, &mut present);
            (v, present)
        };
        assert_eq!(run("f::integer"), (Some(Value::Int(2)), true));
        assert_eq!(run("i::float + 1"), (Some(Value::Float(-2.0)), true));
        assert_eq!(run("s::integer"), (None, false));
        assert_eq!(run("f + nope"), (None, true));
        assert_eq!(run("-i"), (Some(Value::Int(3)), true));
        assert_eq!(run("i / 0"), (Some(Value::Float(0.0)), true));
        assert_eq!(run("i % 0"), (Some(Value::Int(0)), true));
        assert_eq!(run("nope * 2"), (None, false));
    }
}
