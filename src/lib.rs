//! lineshard: a thread-per-core ingest server for the InfluxDB v1 write API.
//!
//! See DESIGN.md for the data path and its invariants.
pub mod api;
pub mod catalog;
pub mod check;
pub mod config;
pub mod duration;
pub mod export;
pub mod http;
pub mod limits;
pub mod lineproto;
pub mod logging;
pub mod metrics;
pub mod query;
pub mod runtime;
pub mod server;
pub mod shard;
mod simd;
pub mod storage;
pub mod tsbs;
