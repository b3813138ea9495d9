//! Aggregates and selectors: one [`Accumulator`] per (output series, bucket, call).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::query::Value;

/// An aggregate or selector call, its arguments already evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    Count,
    /// `count(distinct(f))`: the number of distinct values.
    CountDistinct,
    /// One row per distinct value, ordered by the time of its first point, then by value.
    Distinct,
    /// `integral(f[, unit])`, `unit_ns` defaults to 1s. With GROUP BY time the area of a bucket
    /// depends on the next bucket's first point: the engine keeps every point of the range in
    /// one accumulator and cuts them with [`super::integral_windows`].
    /// Its row is timed as 1.x times it: 0 for a float field, `bucket_start` (the query's start)
    /// for an integer field; no row when the only points are at that time.
    Integral {
        unit_ns: i64,
    },
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Sum,
    First,
    Last,
    Max,
    Min,
    /// `percentile(f, p)`, p as given (integer or float).
    Percentile(f64),
    /// `sample(f, n)`: n points (1.x picks them at random; here a fixed pseudo-random choice,
    /// so that partial answers merge), in time order.
    Sample(usize),
    /// `top(f, [tag, ...,] n)`: `tags` is how many tag arguments there are. Their values are the
    /// first `tags` aux values of each point (they are output columns too); with tags, the
    /// best point of each distinct tag combination competes (1.x: `max` grouped by those tags).
    Top {
        n: usize,
        tags: usize,
    },
    /// `bottom(f, [tag, ...,] n)`, as `Top` with `min`.
    Bottom {
        n: usize,
        tags: usize,
    },
}

/// The stored type of a field, as far as function checks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}

impl FieldType {
    /// The type of a point value (`None` for `Null` and `Time`).
    pub fn of(value: &Value) -> Option<FieldType> {
        match value {
            Value::Float(_) => Some(FieldType::Float),
            Value::Int(_) => Some(FieldType::Integer),
            Value::UInt(_) => Some(FieldType::Unsigned),
            Value::Str(_) => Some(FieldType::String),
            Value::Bool(_) => Some(FieldType::Boolean),
            Value::Null | Value::Time(_) => None,
        }
    }

    fn go_iterator(self) -> &'static str {
        match self {
            FieldType::Float => "*query.floatInterruptIterator",
            FieldType::Integer => "*query.integerInterruptIterator",
            FieldType::Unsigned => "*query.unsignedInterruptIterator",
            FieldType::String => "*query.stringInterruptIterator",
            FieldType::Boolean => "*query.booleanInterruptIterator",
        }
    }
}

/// Whether the function `name` (as written in InfluxQL, lower case) takes a field of type `ty`;
/// if not, 1.x's statement error, e.g. `unsupported mean iterator type:
/// *query.stringInterruptIterator`. Names that are not functions of this module pass.
pub fn check(name: &str, ty: FieldType) -> Result<(), String> {
    let (word, ok) = rule(name, ty);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unsupported {word} iterator type: {}",
            ty.go_iterator()
        ))
    }
}

/// Whether `name` takes `ty`, and the word 1.x's error uses for it.
fn rule(name: &str, ty: FieldType) -> (&str, bool) {
    use FieldType::*;
    let numeric = matches!(ty, Float | Integer | Unsigned);
    // The word 1.x's error uses (mode says "median", sample says "elapsed": 1.x's texts).
    let (word, ok) = match name {
        "count" | "distinct" | "first" | "last" | "elapsed" => (name, true),
        "mode" => ("median", true),
        "sample" => ("elapsed", true),
        "min" | "max" => (name, ty != String),
        "sum" | "mean" | "median" | "stddev" | "spread" | "integral" | "percentile" | "top"
        | "bottom" | "derivative" | "difference" => (name, numeric),
        "non_negative_derivative" => ("derivative", numeric),
        "non_negative_difference" => ("difference", numeric),
        "moving_average" => ("moving average", numeric),
        "cumulative_sum" => ("cumulative sum", numeric),
        _ => (name, true),
    };
    (word, ok)
}

/// [`check`] for an aggregate call: `top`/`bottom` with tag arguments are built on `max`/`min`
/// in 1.x, which answers with their errors (and refuses booleans with its own text).
pub fn check_aggregate(agg: &Aggregate, ty: FieldType) -> Result<(), String> {
    let (name, inner) = match agg {
        Aggregate::Top { tags, .. } if *tags > 0 => ("top", "max"),
        Aggregate::Bottom { tags, .. } if *tags > 0 => ("bottom", "min"),
        _ => return check(name_of(agg), ty),
    };
    check(inner, ty)?;
    if ty == FieldType::Boolean {
        return Err(format!(
            "unsupported {name} iterator type: *query.booleanReduceBooleanIterator"
        ));
    }
    Ok(())
}

/// One output row of an aggregate: its time, value and the aux values of the selected point
/// (empty for aggregates that select no point).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub time: i64,
    pub value: Value,
    pub aux: Vec<Value>,
}

/// A value as a hash key (floats by bits, -0 as 0; NaN is not writable).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    F(u64),
    I(i64),
    U(u64),
    S(Arc<str>),
    B(bool),
    Null,
}

fn key(v: &Value) -> Key {
    match v {
        Value::Float(f) if *f == 0.0 => Key::F(0),
        Value::Float(f) => Key::F(f.to_bits()),
        Value::Int(i) => Key::I(*i),
        Value::UInt(u) => Key::U(*u),
        Value::Str(s) => Key::S(s.clone()),
        Value::Bool(b) => Key::B(*b),
        Value::Null | Value::Time(_) => Key::Null,
    }
}

/// Values of one type in their natural order (false < true); values of different types by type.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::UInt(x), Value::UInt(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null | Value::Time(_) => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::UInt(_) => 3,
        Value::Float(_) => 4,
        Value::Str(_) => 5,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        _ => None,
    }
}

/// Whether `a` beats `b` for a selector (1.x's reduce functions, which keep the current point
/// unless the new one strictly wins). Points equal in time and value (several series) are
/// ordered by their aux values, so that any split of the points gives the same winner (1.x
/// keeps whichever its merge of series gave first).
fn beats(agg: &Aggregate, a: &Row, b: &Row) -> bool {
    beats_parts(agg, a.time, &a.value, &a.aux, b)
}

/// [`beats`] for a point not yet made a [`Row`] (no copy of its aux values to compare).
fn beats_parts(agg: &Aggregate, time: i64, value: &Value, aux: &[Value], b: &Row) -> bool {
    let by_value = cmp_values(value, &b.value);
    let by_time = time.cmp(&b.time);
    let order = match agg {
        // Earlier time; on equal times the larger value (booleans: false).
        Aggregate::First => by_time.then(match value {
            Value::Bool(_) => by_value,
            _ => by_value.reverse(),
        }),
        // Later time; on equal times the larger value (booleans: true).
        Aggregate::Last => by_time.reverse().then(by_value.reverse()),
        // Larger value; on equal values the earlier time.
        Aggregate::Max | Aggregate::Top { .. } => by_value.reverse().then(by_time),
        Aggregate::Min | Aggregate::Bottom { .. } => by_value.then(by_time),
        _ => Ordering::Equal,
    };
    order.then_with(|| cmp_aux(aux, &b.aux)) == Ordering::Less
}

fn cmp_aux(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(a.len().cmp(&b.len()))
}

#[derive(Clone, Debug)]
enum State {
    Count(i64),
    /// Float sums add; integer and unsigned sums wrap, as 1.x's int64/uint64 do.
    Sum(Option<Value>),
    Mean {
        float: f64,
        int: i128,
        n: u64,
        is_float: bool,
    },
    Spread {
        min: Option<Value>,
        max: Option<Value>,
    },
    /// Every point (median, mode, stddev, percentile).
    Points(Vec<Row>),
    /// integral: every point, in runs of one series each (its key, [`series_key`]; a run
    /// begins with [`Accumulator::series`]), merged into one stream as 1.x merges them
    /// ([`merged_stream`]) when finished.
    Runs(Vec<(Vec<u8>, Vec<Row>)>),
    /// The selected point so far (first, last, max, min).
    Best(Option<Row>),
    /// Distinct value -> the earliest time it was seen.
    Distinct(HashMap<Key, (i64, Value)>),
    /// (hash, point): the `n` points of smallest hash.
    Sample(Vec<(u64, Row)>),
    /// top/bottom without tags: candidate points, trimmed to the best `n` now and then; after a
    /// trim, the `n`th best (a point that does not beat it cannot be among the best `n`).
    Ranked(Vec<Row>, Option<Row>),
    /// top/bottom with tags: the best point per tag combination.
    Keyed(HashMap<Vec<Key>, Row>),
}

/// The partial state of one aggregate over one bucket: plain data, `Send`, `Clone`.
#[derive(Clone, Debug)]
pub struct Accumulator {
    agg: Aggregate,
    /// Bit `FieldType as u8` set: [`check`] passes for that type.
    accepts: u8,
    state: State,
}

impl Accumulator {
    pub fn new(agg: &Aggregate) -> Accumulator {
        let state = match agg {
            Aggregate::Count => State::Count(0),
            Aggregate::Sum => State::Sum(None),
            Aggregate::Mean => State::Mean {
                float: 0.0,
                int: 0,
                n: 0,
                is_float: false,
            },
            Aggregate::Spread => State::Spread {
                min: None,
                max: None,
            },
            Aggregate::Median | Aggregate::Mode | Aggregate::Stddev | Aggregate::Percentile(_) => {
                State::Points(Vec::new())
            }
            Aggregate::Integral { .. } => State::Runs(Vec::new()),
            Aggregate::First | Aggregate::Last | Aggregate::Max | Aggregate::Min => {
                State::Best(None)
            }
            Aggregate::Distinct | Aggregate::CountDistinct => State::Distinct(HashMap::new()),
            Aggregate::Sample(_) => State::Sample(Vec::new()),
            Aggregate::Top { tags: 0, .. } | Aggregate::Bottom { tags: 0, .. } => {
                State::Ranked(Vec::new(), None)
            }
            Aggregate::Top { .. } | Aggregate::Bottom { .. } => State::Keyed(HashMap::new()),
        };
        let types = [
            FieldType::Float,
            FieldType::Integer,
            FieldType::Unsigned,
            FieldType::String,
            FieldType::Boolean,
        ];
        let accepts = types
            .iter()
            .filter(|t| rule(name_of(agg), **t).1)
            .fold(0, |bits, t| bits | 1 << *t as u8);
        Accumulator {
            agg: agg.clone(),
            accepts,
            state,
        }
    }

    /// The aggregate this accumulator computes.
    pub fn aggregate(&self) -> &Aggregate {
        &self.agg
    }

    /// Adds one point. `Null` values are not points and are ignored; so are values of a type
    /// the function does not take (the engine answers [`super::check`]'s error instead).
    pub fn push(&mut self, time: i64, value: &Value, aux: &[Value]) {
        let Some(ty) = FieldType::of(value) else {
            return;
        };
        if self.accepts & (1 << ty as u8) == 0 {
            return;
        }
        let (n, tags) = (agg_n(&self.agg), agg_tags(&self.agg));
        let row = || Row {
            time,
            value: value.clone(),
            aux: aux.to_vec(),
        };
        match &mut self.state {
            State::Count(n) => *n += 1,
            State::Sum(sum) => *sum = Some(add(sum.take(), value)),
            State::Mean {
                float,
                int,
                n,
                is_float,
            } => {
                match value {
                    Value::Float(f) => {
                        *float += f;
                        *is_float = true;
                    }
                    Value::Int(i) => *int += *i as i128,
                    Value::UInt(u) => *int += *u as i128,
                    _ => return,
                }
                *n += 1;
            }
            State::Spread { min, max } => {
                if min
                    .as_ref()
                    .map_or(true, |m| cmp_values(value, m) == Ordering::Less)
                {
                    *min = Some(value.clone());
                }
                if max
                    .as_ref()
                    .map_or(true, |m| cmp_values(value, m) == Ordering::Greater)
                {
                    *max = Some(value.clone());
                }
            }
            State::Points(points) => points.push(Row {
                time,
                value: value.clone(),
                aux: if matches!(self.agg, Aggregate::Percentile(_)) {
                    aux.to_vec()
                } else {
                    Vec::new()
                },
            }),
            State::Runs(runs) => {
                if runs.is_empty() {
                    runs.push((Vec::new(), Vec::new()));
                }
                if let Some((_, run)) = runs.last_mut() {
                    run.push(Row {
                        time,
                        value: value.clone(),
                        aux: Vec::new(),
                    });
                }
            }
            State::Best(best) => {
                if best
                    .as_ref()
                    .map_or(true, |b| beats_parts(&self.agg, time, value, aux, b))
                {
                    *best = Some(row());
                }
            }
            State::Distinct(map) => {
                let entry = map.entry(key(value)).or_insert((time, value.clone()));
                entry.0 = entry.0.min(time);
            }
            State::Sample(kept) => {
                kept.push((sample_hash(time, value), row()));
                if kept.len() > 2 * n.max(16) {
                    trim_sample(kept, n);
                }
            }
            State::Ranked(kept, floor) => {
                if let Some(f) = floor {
                    if !beats_parts(&self.agg, time, value, aux, f) {
                        return;
                    }
                }
                kept.push(row());
                if kept.len() > 2 * n.max(16) {
                    rank_points(&self.agg, kept);
                    kept.truncate(n);
                    *floor = kept.last().cloned();
                }
            }
            State::Keyed(map) => {
                let k: Vec<Key> = (0..tags)
                    .map(|i| aux.get(i).map_or(Key::Null, key))
                    .collect();
                match map.get_mut(&k) {
                    Some(b) => {
                        if beats_parts(&self.agg, time, value, aux, b) {
                            *b = row();
                        }
                    }
                    None => {
                        map.insert(k, row());
                    }
                }
            }
        }
    }

    /// The points of the series whose key ([`series_key`]) is `key` follow (integral keeps
    /// each series' points apart; the others ignore it).
    pub fn series(&mut self, key: &[u8]) {
        if let State::Runs(runs) = &mut self.state {
            match runs.last_mut() {
                Some((k, run)) if run.is_empty() => {
                    k.clear();
                    k.extend_from_slice(key);
                }
                Some((k, _)) if k[..] == *key => {}
                _ => runs.push((key.to_vec(), Vec::new())),
            }
        }
    }

    /// The points an accumulator that keeps them (median, mode, stddev, percentile) has taken,
    /// in no particular order; integral's in 1.x's merged order ([`merged_stream`], shard
    /// groups of `shard_group_ns`); none for the others.
    pub fn into_points(self, shard_group_ns: i64) -> Vec<Row> {
        match self.state {
            State::Points(points) => points,
            State::Runs(runs) => merged_stream(runs, shard_group_ns),
            _ => Vec::new(),
        }
    }

    /// Adds another accumulator's points (of the same aggregate; another is ignored).
    pub fn merge(&mut self, other: Accumulator) {
        if other.agg != self.agg {
            return;
        }
        let n = agg_n(&self.agg);
        match (&mut self.state, other.state) {
            (State::Count(a), State::Count(b)) => *a += b,
            (State::Sum(a), State::Sum(Some(b))) => *a = Some(add(a.take(), &b)),
            (
                State::Mean {
                    float,
                    int,
                    n,
                    is_float,
                },
                State::Mean {
                    float: f2,
                    int: i2,
                    n: n2,
                    is_float: fl2,
                },
            ) => {
                *float += f2;
                *int += i2;
                *n += n2;
                *is_float |= fl2;
            }
            (State::Spread { min, max }, State::Spread { min: m2, max: x2 }) => {
                if let Some(m2) = m2 {
                    if min
                        .as_ref()
                        .map_or(true, |m| cmp_values(&m2, m) == Ordering::Less)
                    {
                        *min = Some(m2);
                    }
                }
                if let Some(x2) = x2 {
                    if max
                        .as_ref()
                        .map_or(true, |m| cmp_values(&x2, m) == Ordering::Greater)
                    {
                        *max = Some(x2);
                    }
                }
            }
            (State::Points(a), State::Points(b)) => a.extend(b),
            (State::Runs(a), State::Runs(b)) => a.extend(b),
            (State::Best(a), State::Best(Some(b)))
                if a.as_ref().map_or(true, |x| beats(&self.agg, &b, x)) =>
            {
                *a = Some(b)
            }
            (State::Distinct(a), State::Distinct(b)) => {
                for (k, (time, value)) in b {
                    let entry = a.entry(k).or_insert((time, value));
                    entry.0 = entry.0.min(time);
                }
            }
            (State::Sample(a), State::Sample(b)) => {
                a.extend(b);
                trim_sample(a, n);
            }
            (State::Ranked(a, floor), State::Ranked(b, _)) => {
                a.extend(b);
                rank_points(&self.agg, a);
                a.truncate(n);
                *floor = if a.len() == n {
                    a.last().cloned()
                } else {
                    None
                };
            }
            (State::Keyed(a), State::Keyed(b)) => {
                for (k, row) in b {
                    match a.get_mut(&k) {
                        Some(x) => {
                            if beats(&self.agg, &row, x) {
                                *x = row;
                            }
                        }
                        None => {
                            a.insert(k, row);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The rows of this bucket. Aggregates are timed `bucket_start`. `first`, `last`, `max`,
    /// `min` and `percentile` take the selected point's time when `selector_time` (1.x: the
    /// call is the statement's only call and there is no GROUP BY time), else `bucket_start`;
    /// `top`, `bottom` and `sample` always keep their points' times (1.x never re-times them),
    /// in time order (equal times: best first). `stddev` of fewer than two points is `Null`
    /// (1.x's NaN, which it writes as `null`). No points, no rows.
    /// `integral` merges its series' points as 1.x merges those of its default shard groups
    /// (7 days); [`Accumulator::finish_in`] names another duration.
    pub fn finish(self, bucket_start: i64, selector_time: bool) -> Vec<Row> {
        self.finish_in(bucket_start, selector_time, SHARD_GROUP_DEFAULT_NS)
    }

    /// [`Accumulator::finish`] with the shard groups' duration of the points' retention policy.
    pub fn finish_in(
        self,
        bucket_start: i64,
        selector_time: bool,
        shard_group_ns: i64,
    ) -> Vec<Row> {
        let at = |time: i64| if selector_time { time } else { bucket_start };
        let agg = self.agg;
        let plain = |value: Value| {
            vec![Row {
                time: bucket_start,
                value,
                aux: Vec::new(),
            }]
        };
        match self.state {
            State::Count(0) => Vec::new(),
            State::Count(n) => plain(Value::Int(n)),
            State::Sum(None) => Vec::new(),
            State::Sum(Some(v)) => plain(v),
            State::Mean { n: 0, .. } => Vec::new(),
            State::Mean { float, int, n, .. } => {
                plain(Value::Float((float + int as f64) / n as f64))
            }
            State::Spread {
                min: Some(min),
                max: Some(max),
            } => plain(spread(&min, &max)),
            State::Spread { .. } => Vec::new(),
            State::Best(None) => Vec::new(),
            State::Best(Some(row)) => vec![Row {
                time: at(row.time),
                ..row
            }],
            State::Distinct(map) if map.is_empty() => Vec::new(),
            State::Distinct(map) => {
                if agg == Aggregate::CountDistinct {
                    return plain(Value::Int(map.len() as i64));
                }
                let mut values: Vec<(i64, Value)> = map.into_values().collect();
                values.sort_by(|a, b| a.0.cmp(&b.0).then(cmp_values(&a.1, &b.1)));
                values
                    .into_iter()
                    .map(|(_, value)| Row {
                        time: bucket_start,
                        value,
                        aux: Vec::new(),
                    })
                    .collect()
            }
            State::Sample(mut kept) => {
                if let Aggregate::Sample(n) = agg {
                    trim_sample(&mut kept, n);
                }
                let mut rows: Vec<Row> = kept.into_iter().map(|(_, r)| r).collect();
                rows.sort_by(|a, b| a.time.cmp(&b.time).then(cmp_values(&a.value, &b.value)));
                rows
            }
            State::Ranked(mut kept, _) => {
                let n = match agg {
                    Aggregate::Top { n, .. } | Aggregate::Bottom { n, .. } => n,
                    _ => 0,
                };
                rank_points(&agg, &mut kept);
                kept.truncate(n);
                kept.sort_by_key(|r| r.time);
                kept
            }
            State::Keyed(map) => {
                let n = match agg {
                    Aggregate::Top { n, .. } | Aggregate::Bottom { n, .. } => n,
                    _ => 0,
                };
                let mut kept: Vec<Row> = map.into_values().collect();
                rank_points(&agg, &mut kept);
                kept.truncate(n);
                kept.sort_by_key(|r| r.time);
                kept
            }
            State::Runs(runs) => {
                let Aggregate::Integral { unit_ns } = agg else {
                    return Vec::new();
                };
                let points = merged_stream(runs, shard_group_ns);
                let Some(first) = points.first() else {
                    return Vec::new();
                };
                // 1.x times it at its window's start: 0 for floats, the bucket for integers.
                let time = match first.value {
                    Value::Float(_) => 0,
                    _ => bucket_start,
                };
                integral_single(&points, unit_ns, time).map_or_else(Vec::new, |v| {
                    vec![Row {
                        time,
                        value: Value::Float(v),
                        aux: Vec::new(),
                    }]
                })
            }
            State::Points(points) if points.is_empty() => Vec::new(),
            State::Points(mut points) => match agg {
                Aggregate::Median => plain(median(&mut points)),
                Aggregate::Mode => plain(mode(&mut points)),
                Aggregate::Stddev => plain(stddev(&mut points)),
                Aggregate::Percentile(p) => {
                    let len = points.len();
                    let i = (len as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
                    if i < 0 || i >= len as i64 {
                        return Vec::new();
                    }
                    sort_by_value(&mut points);
                    let row = points.swap_remove(i as usize);
                    vec![Row {
                        time: at(row.time),
                        ..row
                    }]
                }
                _ => Vec::new(),
            },
        }
    }
}

/// The InfluxQL name of an aggregate (`count(distinct())`: `distinct`, whose types it takes).
fn name_of(agg: &Aggregate) -> &'static str {
    match agg {
        Aggregate::Count => "count",
        Aggregate::CountDistinct | Aggregate::Distinct => "distinct",
        Aggregate::Integral { .. } => "integral",
        Aggregate::Mean => "mean",
        Aggregate::Median => "median",
        Aggregate::Mode => "mode",
        Aggregate::Spread => "spread",
        Aggregate::Stddev => "stddev",
        Aggregate::Sum => "sum",
        Aggregate::First => "first",
        Aggregate::Last => "last",
        Aggregate::Max => "max",
        Aggregate::Min => "min",
        Aggregate::Percentile(_) => "percentile",
        Aggregate::Sample(_) => "sample",
        Aggregate::Top { .. } => "top",
        Aggregate::Bottom { .. } => "bottom",
    }
}

fn agg_n(agg: &Aggregate) -> usize {
    match agg {
        Aggregate::Top { n, .. } | Aggregate::Bottom { n, .. } | Aggregate::Sample(n) => *n,
        _ => 0,
    }
}

fn agg_tags(agg: &Aggregate) -> usize {
    match agg {
        Aggregate::Top { tags, .. } | Aggregate::Bottom { tags, .. } => *tags,
        _ => 0,
    }
}

/// `sum` + one value: floats add, integers wrap (1.x's int64/uint64).
fn add(sum: Option<Value>, v: &Value) -> Value {
    match (sum, v) {
        (None, v) => v.clone(),
        (Some(Value::Float(a)), Value::Float(b)) => Value::Float(a + b),
        (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
        (Some(Value::UInt(a)), Value::UInt(b)) => Value::UInt(a.wrapping_add(*b)),
        (Some(a), _) => a,
    }
}

fn spread(min: &Value, max: &Value) -> Value {
    match (min, max) {
        (Value::Float(a), Value::Float(b)) => Value::Float(b - a),
        (Value::Int(a), Value::Int(b)) => Value::Int(b.wrapping_sub(*a)),
        (Value::UInt(a), Value::UInt(b)) => Value::UInt(b.wrapping_sub(*a)),
        _ => Value::Null,
    }
}

/// Sorted by value, then time, then aux (1.x sorts by value only, unstably).
fn sort_by_value(points: &mut [Row]) {
    points.sort_by(|a, b| {
        cmp_values(&a.value, &b.value)
            .then(a.time.cmp(&b.time))
            .then_with(|| cmp_aux(&a.aux, &b.aux))
    });
}

/// Best first: by the selector order of `agg`, ties by (time, value).
fn rank_points(agg: &Aggregate, points: &mut [Row]) {
    points.sort_by(|a, b| {
        if beats(agg, a, b) {
            Ordering::Less
        } else if beats(agg, b, a) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
}

/// 1.x: the middle value, or `lo + (hi - lo) / 2` of the middle two (the difference of
/// integers taken in int64, wrapping, then as a float).
fn median(points: &mut [Row]) -> Value {
    sort_by_value(points);
    let len = points.len();
    if len % 2 == 1 {
        return match &points[len / 2].value {
            Value::Int(i) => Value::Float(*i as f64),
            Value::UInt(u) => Value::Float(*u as f64),
            v => v.clone(),
        };
    }
    let (lo, hi) = (&points[len / 2 - 1].value, &points[len / 2].value);
    Value::Float(match (lo, hi) {
        (Value::Float(l), Value::Float(h)) => l + (h - l) / 2.0,
        (Value::Int(l), Value::Int(h)) => *l as f64 + h.wrapping_sub(*l) as f64 / 2.0,
        (Value::UInt(l), Value::UInt(h)) => *l as f64 + h.wrapping_sub(*l) as f64 / 2.0,
        _ => return Value::Null,
    })
}

/// 1.x's mode loop over the points sorted by value: the most frequent value; among equally
/// frequent values, as 1.x compares the first time of the candidate's run with the last time of
/// the current mode's run. All values distinct: the smallest. Booleans: `true` unless `false` is
/// more frequent.
fn mode(points: &mut [Row]) -> Value {
    if let Value::Bool(_) = points[0].value {
        let trues = points
            .iter()
            .filter(|p| matches!(p.value, Value::Bool(true)))
            .count();
        return Value::Bool(trues >= points.len() - trues);
    }
    if points.len() == 1 {
        return points[0].value.clone();
    }
    sort_by_value(points);
    let (mut most_freq, mut curr_freq) = (0usize, 0usize);
    let mut curr_mode = &points[0].value;
    let mut most_mode = &points[0].value;
    let mut most_time = points[0].time;
    let mut curr_time = points[0].time;
    for p in points.iter() {
        if cmp_values(&p.value, curr_mode) != Ordering::Equal {
            curr_freq = 1;
            curr_mode = &p.value;
            curr_time = p.time;
            continue;
        }
        curr_freq += 1;
        if most_freq > curr_freq || (most_freq == curr_freq && curr_time > most_time) {
            continue;
        }
        most_freq = curr_freq;
        most_mode = &p.value;
        most_time = p.time;
    }
    most_mode.clone()
}

/// 1.x: sample standard deviation (n - 1), the mean taken incrementally; fewer than two
/// points: NaN, written `null`.
fn stddev(points: &mut [Row]) -> Value {
    if points.len() < 2 {
        return Value::Null;
    }
    sort_by_value(points);
    let values = points.iter().filter_map(|p| as_f64(&p.value));
    let (mut mean, mut count) = (0.0f64, 0usize);
    for v in values.clone() {
        count += 1;
        mean += (v - mean) / count as f64;
    }
    let variance: f64 = values.map(|v| (v - mean).powi(2)).sum();
    Value::Float((variance / (count - 1) as f64).sqrt())
}

/// The integral of one window without GROUP BY time over its points in stream order
/// ([`merged_stream`]; trapezoids; of points at one time, the first closes the area before and
/// the last opens the area after). 1.x gives no row when the last point is at the window's
/// start `start`.
fn integral_single(points: &[Row], unit_ns: i64, start: i64) -> Option<f64> {
    if unit_ns <= 0 || points.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    let mut prev = (points[0].time, as_f64(&points[0].value)?);
    for p in &points[1..] {
        let v = as_f64(&p.value)?;
        if p.time != prev.0 {
            let elapsed = (p.time - prev.0) as f64 / unit_ns as f64;
            sum += 0.5 * (v + prev.1) * elapsed;
        }
        prev = (p.time, v);
    }
    (prev.0 != start).then_some(sum)
}

/// A fixed pseudo-random rank of a point (splitmix64 of its time and value).
fn sample_hash(time: i64, value: &Value) -> u64 {
    let bits = match key(value) {
        Key::F(b) | Key::U(b) => b,
        Key::I(i) => i as u64,
        Key::B(b) => b as u64,
        Key::S(s) => s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
            (h ^ c as u64).wrapping_mul(0x100_0000_01b3)
        }),
        Key::Null => 0,
    };
    let mut z = (time as u64) ^ bits.rotate_left(32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn trim_sample(kept: &mut Vec<(u64, Row)>, n: usize) {
    kept.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.time.cmp(&b.1.time))
            .then(cmp_values(&a.1.value, &b.1.value))
            .then_with(|| cmp_aux(&a.1.aux, &b.1.aux))
    });
    kept.truncate(n);
}

/// The shard group duration of a retention policy created without one (1.x's `autogen`).
pub const SHARD_GROUP_DEFAULT_NS: i64 = 7 * 24 * 3600 * 1_000_000_000;

/// 1.x's key of a series, as its index sorts the series of a tag set: the measurement and the
/// tags (sorted by key) written as in line protocol, escapes and all.
pub fn series_key(measurement: &[u8], tags: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut key = Vec::with_capacity(measurement.len() + tags.len() * 16);
    let escape = |out: &mut Vec<u8>, s: &[u8], special: &[u8]| {
        for &c in s {
            if special.contains(&c) {
                out.push(b'\\');
            }
            out.push(c);
        }
    };
    escape(&mut key, measurement, b", ");
    for (k, v) in tags {
        key.push(b',');
        escape(&mut key, k, b",= ");
        key.push(b'=');
        escape(&mut key, v, b",= ");
    }
    key
}

/// The points of one output series' runs ([`State::Runs`]) in the order 1.x's sorted merge
/// gives them to its integral reducer: each shard group (of `shard_group_ns`, counted from Go's
/// zero time) after the one before; within one, the series' points (by time) merged through
/// Go's `container/heap`, its items first laid out in series key order and compared by time
/// alone, so that among points of one time the heap's layout picks which comes first.
fn merged_stream(runs: Vec<(Vec<u8>, Vec<Row>)>, shard_group_ns: i64) -> Vec<Row> {
    const GO_ZERO_UNIX_NS: i128 = -62_135_596_800 * 1_000_000_000;
    let mut by_key: std::collections::BTreeMap<Vec<u8>, Vec<Row>> = Default::default();
    for (key, run) in runs {
        if !run.is_empty() {
            by_key.entry(key).or_default().extend(run);
        }
    }
    let mut series: Vec<Vec<Row>> = by_key.into_values().collect();
    for s in series.iter_mut() {
        s.sort_by_key(|r| r.time);
    }
    let d = i128::from(shard_group_ns.max(1));
    let group_of = |t: i64| (i128::from(t) - GO_ZERO_UNIX_NS).div_euclid(d);
    let total = series.iter().map(Vec::len).sum();
    // Which series each point of the stream comes from.
    let mut order: Vec<usize> = Vec::with_capacity(total);
    let mut heads = vec![0usize; series.len()];
    loop {
        let group = series
            .iter()
            .zip(&heads)
            .filter_map(|(s, &h)| s.get(h).map(|r| group_of(r.time)))
            .min();
        let Some(group) = group else {
            break;
        };
        let ends: Vec<usize> = series
            .iter()
            .zip(&heads)
            .map(|(s, &h)| h + s[h..].partition_point(|r| group_of(r.time) <= group))
            .collect();
        let slices: Vec<(usize, &[Row])> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (i, &s[heads[i]..ends[i]]))
            .collect();
        go_heap_merge(&slices, &mut order);
        heads = ends;
    }
    let mut iters: Vec<std::vec::IntoIter<Row>> = series.into_iter().map(Vec::into_iter).collect();
    order
        .into_iter()
        .filter_map(|i| iters.get_mut(i).and_then(Iterator::next))
        .collect()
}

/// 1.x's sorted merge of time-ordered inputs (Go's `container/heap` with `Less` by time; equal
/// times are not less either way): appends to `order` the input index of each point taken.
fn go_heap_merge(inputs: &[(usize, &[Row])], order: &mut Vec<usize>) {
    // (input, position of its next point)
    let mut heap: Vec<(usize, usize)> = inputs
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| !s.is_empty())
        .map(|(i, _)| (i, 0))
        .collect();
    let time = |item: (usize, usize)| inputs[item.0].1[item.1].time;
    let less = |h: &[(usize, usize)], i: usize, j: usize| time(h[i]) < time(h[j]);
    let down = |h: &mut Vec<(usize, usize)>, i0: usize, n: usize| {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(h, j1 + 1, j1) {
                j = j1 + 1;
            }
            if !less(h, j, i) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
    };
    let n = heap.len();
    for i in (0..n / 2).rev() {
        down(&mut heap, i, n);
    }
    while !heap.is_empty() {
        let n = heap.len() - 1;
        heap.swap(0, n);
        down(&mut heap, 0, n);
        let Some((input, pos)) = heap.pop() else {
            break;
        };
        order.push(inputs[input].0);
        if pos + 1 < inputs[input].1.len() {
            heap.push((input, pos + 1));
            let mut j = heap.len() - 1;
            while j > 0 {
                let i = (j - 1) / 2;
                if !less(&heap, j, i) {
                    break;
                }
                heap.swap(i, j);
                j = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aggregate() -> impl Strategy<Value = Aggregate> {
        prop_oneof![
            Just(Aggregate::Count),
            Just(Aggregate::CountDistinct),
            Just(Aggregate::Distinct),
            (1i64..3).prop_map(|u| Aggregate::Integral { unit_ns: u }),
            Just(Aggregate::Mean),
            Just(Aggregate::Median),
            Just(Aggregate::Mode),
            Just(Aggregate::Spread),
            Just(Aggregate::Stddev),
            Just(Aggregate::Sum),
            Just(Aggregate::First),
            Just(Aggregate::Last),
            Just(Aggregate::Max),
            Just(Aggregate::Min),
            (0.0f64..=100.0).prop_map(Aggregate::Percentile),
            (1usize..8).prop_map(Aggregate::Sample),
            (1usize..5, 0usize..2).prop_map(|(n, tags)| Aggregate::Top { n, tags }),
            (1usize..5, 0usize..2).prop_map(|(n, tags)| Aggregate::Bottom { n, tags }),
        ]
    }

    /// Values of one type: floats in quarters (exact sums in any order), integers small or
    /// near the limits (wrapping sums), unsigned, strings, booleans.
    fn values() -> impl Strategy<Value = Vec<Value>> {
        prop_oneof![
            prop::collection::vec(
                (-400i32..400).prop_map(|q| Value::Float(q as f64 / 4.0)),
                0..40
            ),
            prop::collection::vec((-5i64..5).prop_map(Value::Int), 0..40),
            prop::collection::vec(
                prop_oneof![Just(i64::MAX), Just(i64::MIN + 2), -3i64..3].prop_map(Value::Int),
                0..40
            ),
            prop::collection::vec((0u64..6).prop_map(Value::UInt), 0..40),
            prop::collection::vec(
                prop::sample::select(vec!["a", "b", "c"]).prop_map(|s| Value::Str(Arc::from(s))),
                0..40
            ),
            prop::collection::vec(any::<bool>().prop_map(Value::Bool), 0..40),
        ]
    }

    proptest! {
        /// Any split of the points into partial accumulators, merged in any order, finishes as
        /// one accumulator fed every point does.
        #[test]
        fn merged_partials_equal_one_accumulator(
            agg in aggregate(),
            values in values(),
            meta in prop::collection::vec((0i64..12, 0u8..3, 0usize..4), 40),
            reverse in any::<bool>(),
            selector_time in any::<bool>(),
        ) {
            let points: Vec<(i64, Value, Vec<Value>)> = values
                .into_iter()
                .zip(&meta)
                .map(|(v, (t, host, _))| (*t, v, vec![Value::Str(Arc::from(["x", "y", "z"][*host as usize]))]))
                .collect();
            let mut one = Accumulator::new(&agg);
            let mut parts: Vec<Accumulator> = (0..4).map(|_| Accumulator::new(&agg)).collect();
            for ((t, v, aux), (_, _, part)) in points.iter().zip(&meta) {
                // Each part one series (integral keeps series apart).
                one.series(&[*part as u8]);
                one.push(*t, v, aux);
                parts[*part].series(&[*part as u8]);
                parts[*part].push(*t, v, aux);
            }
            if reverse {
                parts.reverse();
            }
            let mut merged = Accumulator::new(&agg);
            for p in parts {
                merged.merge(p);
            }
            prop_assert_eq!(merged.finish(100, selector_time), one.finish(100, selector_time));
        }
    }

    fn run(agg: Aggregate, points: &[(i64, Value)]) -> Vec<Value> {
        let mut acc = Accumulator::new(&agg);
        for (t, v) in points {
            acc.push(*t, v, &[]);
        }
        acc.finish(0, true).into_iter().map(|r| r.value).collect()
    }

    #[test]
    fn integer_and_unsigned_rules_are_1x_rules() {
        let ints = [
            (1, Value::Int(i64::MAX)),
            (2, Value::Int(-7)),
            (3, Value::Int(3)),
            (4, Value::Int(5)),
        ];
        // Sums and spreads wrap in int64.
        assert_eq!(
            run(Aggregate::Sum, &ints),
            vec![Value::Int(i64::MAX.wrapping_add(1))]
        );
        assert_eq!(
            run(Aggregate::Spread, &ints),
            vec![Value::Int(i64::MAX.wrapping_add(7))]
        );
        // The median of an even count: lo + (hi - lo) / 2, the difference in int64.
        assert_eq!(run(Aggregate::Median, &ints), vec![Value::Float(4.0)]);
        let extremes = [(1, Value::Int(-7)), (2, Value::Int(i64::MAX))];
        let wrapped = -7.0 + (i64::MAX.wrapping_add(7)) as f64 / 2.0;
        assert_eq!(
            run(Aggregate::Median, &extremes),
            vec![Value::Float(wrapped)]
        );
        // The mean is exact (1.x wraps its int64 sum per series: a deliberate difference).
        let mean = (i64::MAX as f64 + 1.0) / 4.0;
        assert_eq!(run(Aggregate::Mean, &ints), vec![Value::Float(mean)]);
        let uints = [(1, Value::UInt(u64::MAX)), (2, Value::UInt(2))];
        assert_eq!(run(Aggregate::Sum, &uints), vec![Value::UInt(1)]);
        assert_eq!(
            run(Aggregate::Spread, &uints),
            vec![Value::UInt(u64::MAX - 2)]
        );
        assert_eq!(run(Aggregate::Max, &uints), vec![Value::UInt(u64::MAX)]);
        // One point has no standard deviation (1.x: NaN, written null).
        assert_eq!(run(Aggregate::Stddev, &uints[..1]), vec![Value::Null]);
        assert_eq!(run(Aggregate::Mode, &uints[..0]), Vec::<Value>::new());
    }

    #[test]
    fn selectors_break_ties_as_1x() {
        let at_once = [
            (5, Value::Float(1.0)),
            (5, Value::Float(2.0)),
            (9, Value::Float(2.0)),
        ];
        assert_eq!(run(Aggregate::First, &at_once), vec![Value::Float(2.0)]);
        let bools = [(5, Value::Bool(true)), (5, Value::Bool(false))];
        assert_eq!(run(Aggregate::First, &bools), vec![Value::Bool(false)]);
        assert_eq!(run(Aggregate::Last, &bools), vec![Value::Bool(true)]);
        let mut acc = Accumulator::new(&Aggregate::Max);
        for (t, v) in at_once {
            acc.push(t, &v, &[]);
        }
        assert_eq!(acc.finish(0, true)[0].time, 5, "equal maxima: the earlier");
        // Mode: all distinct, the smallest; booleans tied, true.
        let distinct = [(1, Value::Int(3)), (2, Value::Int(-1)), (3, Value::Int(2))];
        assert_eq!(run(Aggregate::Mode, &distinct), vec![Value::Int(-1)]);
        assert_eq!(run(Aggregate::Mode, &bools), vec![Value::Bool(true)]);
    }

    #[test]
    fn accumulators_travel_between_cores() {
        fn sendable<T: Send + Clone + 'static>() {}
        sendable::<Accumulator>();
    }

    #[test]
    fn type_errors_are_1x_texts() {
        assert_eq!(
            check("mean", FieldType::String),
            Err("unsupported mean iterator type: *query.stringInterruptIterator".into())
        );
        assert_eq!(check("mode", FieldType::Float), Ok(()));
        assert_eq!(
            check("non_negative_derivative", FieldType::Boolean),
            Err("unsupported derivative iterator type: *query.booleanInterruptIterator".into())
        );
        assert_eq!(
            check_aggregate(&Aggregate::Top { n: 1, tags: 1 }, FieldType::Boolean),
            Err("unsupported top iterator type: *query.booleanReduceBooleanIterator".into())
        );
        assert_eq!(
            check_aggregate(&Aggregate::Bottom { n: 1, tags: 1 }, FieldType::String),
            Err("unsupported min iterator type: *query.stringInterruptIterator".into())
        );
        // A point of a type the function does not take is not counted.
        assert_eq!(
            run(Aggregate::Sum, &[(1, Value::Bool(true))]),
            Vec::<Value>::new()
        );
    }
}
