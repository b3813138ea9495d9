//! InfluxQL 1.x's math functions (`abs`, `sqrt`, `pow`, `round`...; query/math.go): applied to
//! one value at a time, to a raw field, an aggregate, a transformation or arithmetic over them.
//!
//! As influxd 1.6.7 computes them (each seen against it): `abs`, `floor`, `ceil` and `round`
//! keep integers and unsigned as they are (an integer's `abs` too); every other function reads
//! its arguments as floats and gives a float (NaN and infinities are nulls when written); a
//! string, a boolean or a null argument gives a null. `round` rounds half away from zero.
//! `log(x, b)` is `ln(x) / ln(b)`.

use crate::query::render::Value;

/// One math function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFn {
    Abs,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Exp,
    Log,
    Ln,
    Log2,
    Log10,
    Sqrt,
    Pow,
    Floor,
    Ceil,
    Round,
}

impl MathFn {
    /// The math function named `name` (lower case, as InfluxQL names them).
    pub fn from_name(name: &str) -> Option<MathFn> {
        Some(match name {
            "abs" => MathFn::Abs,
            "sin" => MathFn::Sin,
            "cos" => MathFn::Cos,
            "tan" => MathFn::Tan,
            "asin" => MathFn::Asin,
            "acos" => MathFn::Acos,
            "atan" => MathFn::Atan,
            "atan2" => MathFn::Atan2,
            "exp" => MathFn::Exp,
            "log" => MathFn::Log,
            "ln" => MathFn::Ln,
            "log2" => MathFn::Log2,
            "log10" => MathFn::Log10,
            "sqrt" => MathFn::Sqrt,
            "pow" => MathFn::Pow,
            "floor" => MathFn::Floor,
            "ceil" => MathFn::Ceil,
            "round" => MathFn::Round,
            _ => return None,
        })
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            MathFn::Atan2 | MathFn::Log | MathFn::Pow => 2,
            _ => 1,
        }
    }

    /// 1.x's check of a call's arguments: `invalid number of arguments for pow, expected 2, got 1`.
    pub fn check_arity(self, name: &str, got: usize) -> Result<(), String> {
        if got == self.arity() {
            Ok(())
        } else {
            Err(format!(
                "invalid number of arguments for {name}, expected {}, got {got}",
                self.arity()
            ))
        }
    }

    /// The function at `args` (the first [`arity`](Self::arity) of them; a missing one is a
    /// null).
    pub fn apply(self, args: impl IntoIterator<Item = Option<Value>>) -> Option<Value> {
        let mut args = args.into_iter();
        let args = [args.next().flatten(), args.next().flatten()];
        let arg = |i: usize| args[i].as_ref();
        let float = |i: usize| match arg(i)? {
            Value::Float(f) => Some(*f),
            Value::Int(v) => Some(*v as f64),
            Value::UInt(v) => Some(*v as f64),
            _ => None,
        };
        // abs, floor, ceil, round: integers as they are.
        let keep_ints = |f: fn(f64) -> f64| match arg(0)? {
            Value::Float(x) => Some(Value::Float(f(*x))),
            v @ (Value::Int(_) | Value::UInt(_)) => Some(v.clone()),
            _ => None,
        };
        let x = || float(0);
        let out = match self {
            MathFn::Abs => return keep_ints(f64::abs),
            MathFn::Floor => return keep_ints(f64::floor),
            MathFn::Ceil => return keep_ints(f64::ceil),
            MathFn::Round => return keep_ints(round_half_away),
            MathFn::Sin => x()?.sin(),
            MathFn::Cos => x()?.cos(),
            MathFn::Tan => x()?.tan(),
            MathFn::Asin => x()?.asin(),
            MathFn::Acos => x()?.acos(),
            MathFn::Atan => x()?.atan(),
            MathFn::Exp => x()?.exp(),
            MathFn::Ln => x()?.ln(),
            MathFn::Log2 => x()?.log2(),
            MathFn::Log10 => x()?.log10(),
            MathFn::Sqrt => x()?.sqrt(),
            MathFn::Atan2 => x()?.atan2(float(1)?),
            MathFn::Log => x()?.ln() / float(1)?.ln(),
            MathFn::Pow => x()?.powf(float(1)?),
        };
        Some(Value::Float(out))
    }
}

/// Go's `round` of query/math.go: half away from zero.
fn round_half_away(x: f64) -> f64 {
    let t = x.trunc();
    if (x - t).abs() >= 0.5 {
        t + 1f64.copysign(x)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> Option<Value> {
        Some(Value::Float(v))
    }

    #[test]
    fn integers_kept_by_the_rounding_functions_and_abs() {
        for m in [MathFn::Abs, MathFn::Floor, MathFn::Ceil, MathFn::Round] {
            assert_eq!(m.apply([Some(Value::Int(-5))]), Some(Value::Int(-5)));
            assert_eq!(m.apply([Some(Value::UInt(7))]), Some(Value::UInt(7)));
        }
        assert_eq!(MathFn::Sqrt.apply([Some(Value::Int(4))]), f(2.0));
    }

    #[test]
    fn rounding_and_two_argument_functions() {
        assert_eq!(MathFn::Round.apply([f(-2.5)]), f(-3.0));
        assert_eq!(MathFn::Round.apply([f(2.49)]), f(2.0));
        assert_eq!(MathFn::Floor.apply([f(-2.25)]), f(-3.0));
        assert_eq!(MathFn::Pow.apply([f(1.5), Some(Value::Int(2))]), f(2.25));
        assert_eq!(MathFn::Log.apply([f(100.0), f(10.0)]), f(2.0));
        assert_eq!(MathFn::Pow.apply([f(1.5), None]), None);
    }

    #[test]
    fn strings_booleans_and_nulls_give_null() {
        let s = Some(Value::Str("x".into()));
        assert_eq!(MathFn::Abs.apply([s.clone()]), None);
        assert_eq!(MathFn::Sqrt.apply([s]), None);
        assert_eq!(MathFn::Ln.apply([Some(Value::Bool(true))]), None);
        assert_eq!(MathFn::Exp.apply([None]), None);
    }

    #[test]
    fn names_and_arity() {
        assert_eq!(MathFn::from_name("atan2"), Some(MathFn::Atan2));
        assert_eq!(MathFn::from_name("mean"), None);
        assert_eq!(
            MathFn::Pow.check_arity("pow", 1).unwrap_err(),
            "invalid number of arguments for pow, expected 2, got 1"
        );
        assert!(MathFn::Abs.check_arity("abs", 1).is_ok());
    }
}
