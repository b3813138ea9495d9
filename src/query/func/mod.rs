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

mod aggregate;
mod transform;

pub use aggregate::{check, check_aggregate, Accumulator, Aggregate, FieldType, Row};
pub use transform::{integral_windows, transform, Transform};
