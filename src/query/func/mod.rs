//! InfluxQL's functions as pure computation: aggregates and selectors over one bucket of one
//! output series ([`Accumulator`]), and transformations over the ordered rows of one output
//! series ([`transform`], [`integral_windows`]). No runtime, no I/O: the engine groups points,
//! feeds them in and renders what comes out.
//!
//! Every rule here is InfluxDB 1.x's (query/call_iterator.go, query/functions.go,
//! query/functions.gen.go.tmpl, query/select.go), proven against the real influxd by
//! tests/differential_functions.rs:
//!
//! - Accumulators are mergeable: each core pushes its own series' points into its own
//!   accumulator and the answering core [`Accumulator::merge`]s the partials. The merged result
//!   is the one a single accumulator fed every point would give (float sums may differ in the
//!   last bits: addition order is not fixed, in 1.x either).
//! - Ties are broken as 1.x breaks them: `first`/`last` on equal times take the larger value
//!   (booleans: `first` takes `false`, `last` takes `true`); `max`/`min`/`top`/`bottom` on equal
//!   values take the earlier time. Where 1.x leaves the order to an unstable sort (`percentile`
//!   and `mode` among equal values, points of several series at one time), this code sorts by
//!   (value, time) so that the answer does not depend on how points were split between cores.
//! - Types: `count` gives integers; `mean`, `median`, `stddev`, `integral`, `derivative`,
//!   `moving_average` give floats; `sum`, `spread`, `difference`, `cumulative_sum` keep integers
//!   (wrapping on overflow, as Go's int64 does) and unsigned; the selectors and `mode` keep the
//!   type. [`check`] gives 1.x's error for a function applied to a type it does not take.
//! - A bucket without points gives no row (the engine's `fill` decides what to show).
//! - Deliberate difference: `mean` of integers is exact; 1.x sums int64 per series, wrapping on
//!   overflow, and gives a meaningless mean then.
//!
//! What 1.x does around these functions, for the engine (each seen in influxd 1.6.7):
//! - `fill` applies to the aggregates that go through 1.x's interval iterator; `distinct`,
//!   `top`, `bottom`, `sample` and `integral` give no row for an empty bucket, whatever the
//!   fill. `count` (and `count(distinct())`) fill `null` as 0.
//! - Selector times: `first`, `last`, `min`, `max`, `percentile` keep the point's time when the
//!   statement has that one call and no GROUP BY time; `top`, `bottom`, `sample` always do;
//!   everything else is timed at the bucket start (without GROUP BY time: the query's start, or
//!   0 without one). `integral` without GROUP BY time is timed 0 for a float field and at the
//!   query's start for an integer field.
//! - Without GROUP BY time, 1.x answers `first`/`last` from the series merged by time with a
//!   limit of one: of points of several series at the first time, the merge's first, not the
//!   rule above. With GROUP BY time it applies the rule.
//! - `percentile`: when the first bucket that has points has too few for the percentile, 1.x
//!   answers no series at all; later such buckets are `null`.
//! - `derivative`, `non_negative_derivative`, `difference`, `non_negative_difference`,
//!   `moving_average` and `elapsed` over an aggregate read one more bucket before the range
//!   (after it, for ORDER BY time DESC), filled like the others; `cumulative_sum` does not.
//!   Rows are fed in output order (descending for DESC).
//! - Statement errors seen: `moving_average window must be greater than 1, got 1`, `sample window
//!   must be greater than 1, got 0`, `limit (0) in top function must be at least 1`,
//!   `derivative aggregate requires a GROUP BY interval`, `expected field argument in
//!   integral()`, `duration argument must be positive, got -1s`, `selector function top()
//!   cannot be combined with other functions`. `percentile(f, 101)` is no error: no rows.

mod aggregate;
mod math;
mod transform;

pub use aggregate::{
    check, check_aggregate, series_key, Accumulator, Aggregate, FieldType, Row,
    SHARD_GROUP_DEFAULT_NS,
};
pub use math::MathFn;
pub use transform::{integral_windows, transform, Transform};
