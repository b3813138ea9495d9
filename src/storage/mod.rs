//! One storage partition per core: the only module that holds points (and, with the WAL, touches disk).
//!
//! Owner: the core whose id the series-key hash picks (see `shard`). Nothing here is shared
//! between cores; the partition is reached only from its own executor.
//!
//! The memtable keeps, per (db, rp), an interned series key → series, and per series a column
//! of timestamps plus one typed column per field. Writes only append; the same series and
//! timestamp written twice resolve at read time: fields merge and the later write wins, as in
//! InfluxDB ("Duplicate points").

pub mod layout;
mod memtable;
pub mod scan;
pub mod segment;
pub mod wal;

mod partition;

#[cfg(test)]
mod admission_tests;

pub use memtable::{Admit, ApplyError, KnownField, Memtable};
pub use partition::{merge_sources, scan_files, scan_segment, seal, Partition, Stored};
pub use scan::{ScanRequest, SeriesRows};
