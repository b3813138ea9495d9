//! Per-bucket accumulators of the aggregate and selector functions.

use crate::query::Value;

/// An aggregate or selector over one bucket of one output series.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
    Spread,
}

impl Aggregate {
    pub fn from_name(name: &str) -> Option<Aggregate> {
        Some(match name {
            "count" => Aggregate::Count,
            "sum" => Aggregate::Sum,
            "mean" => Aggregate::Mean,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "first" => Aggregate::First,
            "last" => Aggregate::Last,
            "spread" => Aggregate::Spread,
            _ => return None,
        })
    }

    /// Selectors return one of the points (and its time, without GROUP BY time).
    pub fn is_selector(&self) -> bool {
        matches!(
            self,
            Aggregate::Min | Aggregate::Max | Aggregate::First | Aggregate::Last
        )
    }
}

/// One output row of an accumulator: its time, value and the selected point's aux values.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub time: i64,
    pub value: Value,
    pub aux: Vec<Value>,
}

#[derive(Clone, Debug)]
pub struct Accumulator {
    agg: Aggregate,
    count: u64,
    sum_f: f64,
    sum_i: i64,
    sum_u: u64,
    /// The selected point (time, value, aux) for selectors, min and max for spread.
    pick: Option<(i64, Value, Vec<Value>)>,
    low: Option<Value>,
    high: Option<Value>,
}

fn num(v: &Value) -> Option<f64> {
    super::as_f64(v)
}

/// 1.x's order of two values of one type (`None` for strings/bools in min/max).
fn less(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a < b,
        (Value::UInt(a), Value::UInt(b)) => a < b,
        (Value::Bool(a), Value::Bool(b)) => !a & b,
        (Value::Str(a), Value::Str(b)) => a < b,
        _ => match (num(a), num(b)) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        },
    }
}

impl Accumulator {
    pub fn new(agg: &Aggregate) -> Accumulator {
        Accumulator {
            agg: agg.clone(),
            count: 0,
            sum_f: 0.0,
            sum_i: 0,
            sum_u: 0,
            pick: None,
            low: None,
            high: None,
        }
    }

    pub fn push(&mut self, time: i64, value: &Value, aux: &[Value]) {
        self.count += 1;
        match self.agg {
            Aggregate::Count => {}
            Aggregate::Sum | Aggregate::Mean => match value {
                Value::Int(i) => {
                    self.sum_i = self.sum_i.wrapping_add(*i);
                    self.sum_f += *i as f64;
                }
                Value::UInt(u) => {
                    self.sum_u = self.sum_u.wrapping_add(*u);
                    self.sum_f += *u as f64;
                }
                v => self.sum_f += num(v).unwrap_or(0.0),
            },
            Aggregate::Spread => self.push_spread(value),
            Aggregate::Min | Aggregate::Max | Aggregate::First | Aggregate::Last => {
                let take = match &self.pick {
                    None => true,
                    Some((pt, pv, _)) => match self.agg {
                        // Ties: the earlier point, then 1.x's value order.
                        Aggregate::Min => less(value, pv) || (!less(pv, value) && time < *pt),
                        Aggregate::Max => less(pv, value) || (!less(value, pv) && time < *pt),
                        Aggregate::First => time < *pt || (time == *pt && less(value, pv)),
                        _ => time > *pt || (time == *pt && less(pv, value)),
                    },
                };
                if take {
                    self.pick = Some((time, value.clone(), aux.to_vec()));
                }
            }
        }
        if let (Aggregate::Sum | Aggregate::Mean, Value::Float(_)) = (&self.agg, value) {
            self.sum_i = 0;
        }
    }

    /// Take in another accumulator of the same aggregate (another core's points of the bucket).
    pub fn merge(&mut self, other: Accumulator) {
        let total = self.count + other.count;
        self.sum_f += other.sum_f;
        self.sum_i = self.sum_i.wrapping_add(other.sum_i);
        self.sum_u = self.sum_u.wrapping_add(other.sum_u);
        for v in other.low.iter().chain(other.high.iter()) {
            self.push_spread(v);
        }
        if let Some((t, v, aux)) = other.pick {
            self.push(t, &v, &aux);
        }
        self.count = total;
    }

    fn push_spread(&mut self, value: &Value) {
        if self.low.as_ref().map_or(true, |l| less(value, l)) {
            self.low = Some(value.clone());
        }
        if self.high.as_ref().map_or(true, |h| less(h, value)) {
            self.high = Some(value.clone());
        }
    }

    /// The bucket's rows: aggregates at `bucket_start`, selectors at their point's time when
    /// `selector_time`.
    pub fn finish(self, bucket_start: i64, selector_time: bool, ty: &Value) -> Vec<Row> {
        if self.count == 0 {
            return Vec::new();
        }
        let row = |time, value| Row {
            time,
            value,
            aux: Vec::new(),
        };
        let v = match self.agg {
            Aggregate::Count => Value::Int(self.count as i64),
            Aggregate::Mean => Value::Float(self.sum_f / self.count as f64),
            Aggregate::Sum => match ty {
                Value::Int(_) => Value::Int(self.sum_i),
                Value::UInt(_) => Value::UInt(self.sum_u),
                _ => Value::Float(self.sum_f),
            },
            Aggregate::Spread => match (self.low, self.high) {
                (Some(Value::Int(l)), Some(Value::Int(h))) => Value::Int(h.wrapping_sub(l)),
                (Some(Value::UInt(l)), Some(Value::UInt(h))) => Value::UInt(h.wrapping_sub(l)),
                (Some(l), Some(h)) => Value::Float(num(&h).unwrap_or(0.0) - num(&l).unwrap_or(0.0)),
                _ => Value::Null,
            },
            _ => {
                let Some((t, v, aux)) = self.pick else {
                    return Vec::new();
                };
                return vec![Row {
                    time: if selector_time { t } else { bucket_start },
                    value: v,
                    aux,
                }];
            }
        };
        vec![row(bucket_start, v)]
    }
}
