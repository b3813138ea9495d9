//! Transformations over the ordered rows of one output series: raw points, or the per-bucket
//! results of an aggregate (after `fill`: a filled value is an input row, a `null` is not).

use crate::query::Value;

/// A transformation call, its arguments already evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Transform {
    /// `derivative(x[, unit])` / `non_negative_derivative(x[, unit])`; `unit_ns: None` = the
    /// GROUP BY interval, or 1s without one.
    Derivative {
        unit_ns: Option<i64>,
        non_negative: bool,
    },
    /// `difference(x)` / `non_negative_difference(x)`.
    Difference { non_negative: bool },
    /// `moving_average(x, n)`.
    MovingAverage(usize),
    /// `cumulative_sum(x)`.
    CumulativeSum,
    /// `elapsed(x[, unit])`; `unit_ns: None` = 1ns.
    Elapsed { unit_ns: Option<i64> },
}

/// Applies `t` to `rows` (in output order: ascending time, or descending for `ORDER BY time
/// DESC`). `Null` rows are skipped, as 1.x skips nil points. `interval_ns` is the GROUP BY time
/// interval, if any (the default unit of `derivative`).
///
/// 1.x's rules: the first row gives no output; `derivative` and `difference` skip a row whose
/// time equals the previous row's (the first of equal times counts), `elapsed` does not;
/// `non_negative_*` drop negative results; `derivative`, `moving_average` give floats,
/// `difference` and `cumulative_sum` keep the type (integers wrap), `elapsed` gives integers
/// (truncated division by the unit). With GROUP BY time 1.x reads one interval more before the
/// range for `derivative`/`difference`/`elapsed` (`n - 1` more for `moving_average(x, n)`), so
/// that the first bucket in range has a previous row; that is the engine's to do.
pub fn transform(
    t: &Transform,
    rows: &[(i64, Value)],
    interval_ns: Option<i64>,
) -> Vec<(i64, Value)> {
    let rows = rows
        .iter()
        .filter(|(_, v)| !matches!(v, Value::Null | Value::Time(_)));
    match *t {
        Transform::Derivative {
            unit_ns,
            non_negative,
        } => {
            let unit = unit_ns
                .or(interval_ns.filter(|&i| i > 0))
                .unwrap_or(1_000_000_000);
            if unit <= 0 {
                return Vec::new(); // 1.x refuses a unit that is not positive
            }
            pairs(rows, true)
                .filter_map(|(p, c)| {
                    let diff = diff_f64(&p.1, &c.1)?;
                    let elapsed = (c.0 - p.0).unsigned_abs() as f64;
                    let value = diff / (elapsed / unit as f64);
                    (!(non_negative && diff < 0.0)).then_some((c.0, Value::Float(value)))
                })
                .collect()
        }
        Transform::Difference { non_negative } => pairs(rows, true)
            .filter_map(|(p, c)| {
                let value = match (&p.1, &c.1) {
                    (Value::Float(a), Value::Float(b)) => Value::Float(b - a),
                    (Value::Int(a), Value::Int(b)) => Value::Int(b.wrapping_sub(*a)),
                    (Value::UInt(a), Value::UInt(b)) => {
                        if non_negative && b < a {
                            return None;
                        }
                        Value::UInt(b.wrapping_sub(*a))
                    }
                    _ => return None,
                };
                let negative = match value {
                    Value::Float(f) => f < 0.0,
                    Value::Int(i) => i < 0,
                    _ => false,
                };
                (!(non_negative && negative)).then_some((c.0, value))
            })
            .collect(),
        Transform::MovingAverage(n) => moving_average(rows, n),
        Transform::CumulativeSum => {
            let mut sum: Option<Value> = None;
            rows.filter_map(|(time, v)| {
                let next = match (sum.take(), v) {
                    (None, Value::Float(_) | Value::Int(_) | Value::UInt(_)) => v.clone(),
                    (Some(Value::Float(a)), Value::Float(b)) => Value::Float(a + b),
                    (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
                    (Some(Value::UInt(a)), Value::UInt(b)) => Value::UInt(a.wrapping_add(*b)),
                    (keep, _) => {
                        sum = keep;
                        return None;
                    }
                };
                sum = Some(next.clone());
                Some((*time, next))
            })
            .collect()
        }
        Transform::Elapsed { unit_ns } => {
            let unit = unit_ns.unwrap_or(1);
            if unit <= 0 {
                return Vec::new();
            }
            pairs(rows, false)
                .map(|(p, c)| (c.0, Value::Int(c.0.wrapping_sub(p.0) / unit)))
                .collect()
        }
    }
}

/// Successive (previous, current) rows; with `skip_equal_times`, a row at the previous row's
/// time is dropped.
fn pairs<'a>(
    rows: impl Iterator<Item = &'a (i64, Value)>,
    skip_equal_times: bool,
) -> impl Iterator<Item = (&'a (i64, Value), &'a (i64, Value))> {
    let mut prev: Option<&'a (i64, Value)> = None;
    rows.filter_map(move |row| match prev {
        Some(p) if skip_equal_times && p.0 == row.0 => None,
        Some(p) => {
            prev = Some(row);
            Some((p, row))
        }
        None => {
            prev = Some(row);
            None
        }
    })
}

/// `current - previous` as a float (integers subtracted in int64, wrapping, as 1.x does).
fn diff_f64(prev: &Value, curr: &Value) -> Option<f64> {
    Some(match (prev, curr) {
        (Value::Float(a), Value::Float(b)) => b - a,
        (Value::Int(a), Value::Int(b)) => b.wrapping_sub(*a) as f64,
        (Value::UInt(a), Value::UInt(b)) => {
            if b > a {
                (b - a) as f64
            } else {
                -((a - b) as f64)
            }
        }
        _ => return None,
    })
}

/// 1.x's running window: the sum is kept by subtracting the value leaving the window and
/// adding the one entering (floats in float, integers in int64 wrapping).
fn moving_average<'a>(rows: impl Iterator<Item = &'a (i64, Value)>, n: usize) -> Vec<(i64, Value)> {
    if n == 0 {
        return Vec::new();
    }
    enum Sum {
        F(f64, Vec<f64>),
        I(i64, Vec<i64>),
        U(u64, Vec<u64>),
    }
    let mut sum: Option<Sum> = None;
    let mut pos = 0;
    let mut out = Vec::new();
    for (time, v) in rows {
        let state = sum.get_or_insert_with(|| match v {
            Value::Int(_) => Sum::I(0, Vec::with_capacity(n)),
            Value::UInt(_) => Sum::U(0, Vec::with_capacity(n)),
            _ => Sum::F(0.0, Vec::with_capacity(n)),
        });
        let full = match (state, v) {
            (Sum::F(s, buf), Value::Float(x)) => {
                slide(s, buf, *x, n, pos, |a, b| a + b, |a, b| a - b)
            }
            (Sum::I(s, buf), Value::Int(x)) => {
                slide(s, buf, *x, n, pos, i64::wrapping_add, i64::wrapping_sub)
            }
            (Sum::U(s, buf), Value::UInt(x)) => {
                slide(s, buf, *x, n, pos, u64::wrapping_add, u64::wrapping_sub)
            }
            _ => continue,
        };
        pos = (pos + 1) % n;
        if full {
            let avg = match sum.as_ref() {
                Some(Sum::F(s, _)) => *s / n as f64,
                Some(Sum::I(s, _)) => *s as f64 / n as f64,
                Some(Sum::U(s, _)) => *s as f64 / n as f64,
                None => continue,
            };
            out.push((*time, Value::Float(avg)));
        }
    }
    out
}

/// One step of the running window; whether the window is full.
fn slide<T: Copy>(
    sum: &mut T,
    buf: &mut Vec<T>,
    x: T,
    n: usize,
    pos: usize,
    add: fn(T, T) -> T,
    sub: fn(T, T) -> T,
) -> bool {
    if buf.len() < n {
        buf.push(x);
    } else {
        *sum = sub(*sum, buf[pos]);
        buf[pos] = x;
    }
    *sum = add(*sum, x);
    buf.len() == n
}

/// `integral(x[, unit])` with GROUP BY time, over the time-ordered points of one output series
/// (1.x streams them through one reducer across buckets): within a bucket, trapezoids; at a
/// bucket's end, the value is interpolated from the last point before and the first point after
/// it, the area up to the end closes that bucket and the area from the end to the next point
/// opens the next point's bucket (across empty buckets too). A bucket whose only point is at
/// its start has no area and gives no row. `window(t)` is the (start, end) of the bucket
/// holding `t`. Returns (bucket start, area) per bucket with a row.
///
/// 1.x's arithmetic is kept, including its integer path, which after an interpolation keeps the
/// previous point's value with the interpolated time.
pub fn integral_windows(
    points: &[(i64, Value)],
    unit_ns: i64,
    window: impl Fn(i64) -> (i64, i64),
) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    if unit_ns <= 0 {
        return out;
    }
    let unit = unit_ns as f64;
    let mut points = points
        .iter()
        .filter_map(|(t, v)| Some((*t, num(v)?, matches!(v, Value::Float(_)))));
    let Some(first) = points.next() else {
        return out;
    };
    let (mut prev_time, mut prev_value) = (first.0, first.1);
    let (mut start, mut end) = window(first.0);
    let mut sum = 0.0;
    for (time, v, is_float) in points {
        let mut value = v;
        if time == prev_time {
            prev_value = v;
            continue;
        }
        if time >= end {
            if prev_time != end {
                let interpolated = linear(end, prev_time, time, prev_value, v);
                let elapsed = (end - prev_time) as f64 / unit;
                sum += 0.5 * (interpolated + prev_value) * elapsed;
                if is_float {
                    prev_value = interpolated;
                } else {
                    value = interpolated;
                }
                prev_time = end;
            }
            out.push((start, sum));
            (start, end) = window(time);
            sum = 0.0;
        }
        let elapsed = (time - prev_time) as f64 / unit;
        sum += 0.5 * (value + prev_value) * elapsed;
        prev_time = time;
        prev_value = v;
    }
    if prev_time != start {
        out.push((start, sum));
    }
    out
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        _ => None,
    }
}

/// 1.x's linearFloat: the value at `t` on the line through (t0, v0) and (t1, v1).
fn linear(t: i64, t0: i64, t1: i64, v0: f64, v1: f64) -> f64 {
    let m = (v1 - v0) / (t1 - t0) as f64;
    let x = (t - t0) as f64;
    m * x + v0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[(i64, Value)]) -> Vec<(i64, Value)> {
        values.to_vec()
    }

    #[test]
    fn first_row_nulls_and_equal_times_follow_1x() {
        let input = rows(&[
            (0, Value::Int(10)),
            (0, Value::Int(99)),
            (5, Value::Null),
            (10, Value::Int(4)),
            (20, Value::Int(6)),
        ]);
        let d = Transform::Difference {
            non_negative: false,
        };
        assert_eq!(
            transform(&d, &input, None),
            vec![(10, Value::Int(-6)), (20, Value::Int(2))]
        );
        let nn = Transform::Difference { non_negative: true };
        assert_eq!(transform(&nn, &input, None), vec![(20, Value::Int(2))]);
        // elapsed does not skip equal times.
        let e = Transform::Elapsed { unit_ns: Some(3) };
        assert_eq!(
            transform(&e, &input, None),
            vec![(0, Value::Int(0)), (10, Value::Int(3)), (20, Value::Int(3))]
        );
        let der = Transform::Derivative {
            unit_ns: None,
            non_negative: false,
        };
        assert_eq!(
            transform(&der, &input, Some(10)),
            vec![(10, Value::Float(-6.0)), (20, Value::Float(2.0))]
        );
    }

    #[test]
    fn unsigned_and_descending_rows() {
        let input = rows(&[
            (30, Value::UInt(1)),
            (20, Value::UInt(5)),
            (10, Value::UInt(2)),
        ]);
        let d = Transform::Difference {
            non_negative: false,
        };
        assert_eq!(
            transform(&d, &input, None),
            vec![(20, Value::UInt(4)), (10, Value::UInt(u64::MAX - 2))]
        );
        let nn = Transform::Difference { non_negative: true };
        assert_eq!(transform(&nn, &input, None), vec![(20, Value::UInt(4))]);
        // Descending: the elapsed time is taken positive, as 1.x does for DESC.
        let der = Transform::Derivative {
            unit_ns: Some(10),
            non_negative: false,
        };
        assert_eq!(
            transform(&der, &input, None),
            vec![(20, Value::Float(4.0)), (10, Value::Float(-3.0))]
        );
        let sum = Transform::CumulativeSum;
        assert_eq!(
            transform(&sum, &input, None),
            vec![
                (30, Value::UInt(1)),
                (20, Value::UInt(6)),
                (10, Value::UInt(8))
            ]
        );
        let avg = Transform::MovingAverage(2);
        assert_eq!(
            transform(&avg, &input, None),
            vec![(20, Value::Float(3.0)), (10, Value::Float(3.5))]
        );
        // Nonsense arguments give nothing, never a panic.
        let zero = Transform::Derivative {
            unit_ns: Some(0),
            non_negative: false,
        };
        assert_eq!(transform(&zero, &input, None), vec![]);
        assert_eq!(
            transform(&Transform::MovingAverage(0), &input, None),
            vec![]
        );
        assert_eq!(
            transform(&Transform::Elapsed { unit_ns: Some(0) }, &input, None),
            vec![]
        );
    }

    #[test]
    fn integral_interpolates_at_bucket_ends() {
        let window = |t: i64| (t - t.rem_euclid(10), t - t.rem_euclid(10) + 10);
        // Floats: 0 at 0 and 15 at 15: the value at 10 is 10, bucket 0 gets the area to 10,
        // bucket 10 the area from 10 to 15.
        let input = rows(&[(0, Value::Float(0.0)), (15, Value::Float(15.0))]);
        assert_eq!(
            integral_windows(&input, 1, window),
            vec![(0, 50.0), (10, 62.5)]
        );
        // Integers: 1.x's integer path pairs the interpolated value (10) with the old one (0)
        // after the bucket end.
        let input = rows(&[(0, Value::Int(0)), (15, Value::Int(15))]);
        assert_eq!(
            integral_windows(&input, 1, window),
            vec![(0, 50.0), (10, 25.0)]
        );
        // A lone point at its bucket's start has no area.
        assert_eq!(
            integral_windows(&rows(&[(10, Value::Int(3))]), 1, window),
            vec![]
        );
    }
}
