//! The owned, flat form of a batch of points that crosses cores (and, later, lands in the WAL).
//!
//! One `Batch` holds the points of one request for one partition and one (db, rp). It is a single
//! byte buffer, so a fan-out costs one allocation per owner, not one per point or per field.
//!
//! Layout of one point (all integers little-endian, fixed width):
//!
//! | bytes | what |
//! | --- | --- |
//! | 4 | length of the rest of the point (so a reader can skip to the next head) |
//! | 1 | flags: bit 0 `SAME_SCHEMA`: measurement and field keys (names and order) are those of the previous point of this batch, and are left out; bit 1 `KEY_REF`: the series is that of an earlier point of this batch |
//! | 4 | with `KEY_REF`: the number (from 0) of the earlier point whose series this is; otherwise the series key length K, then: |
//! | K | canonical series key (escaped form, tags sorted) |
//! | 8 | `lineproto::series_hash` of the key (the decoder's, carried so no core hashes it again) |
//! | 2 + M | measurement length M, measurement (unescaped) — absent with `SAME_SCHEMA` |
//! | 8 | timestamp, ns (i64) |
//! | 2 | field count F |
//! | F × field | `2` key length + key (unescaped) — absent with `SAME_SCHEMA` —, `1` type (FieldType as u8), value: 8 bytes for float (bits) / integer / unsigned, 1 byte for boolean, `4` length + bytes for string |
//!
//! Most lines of a request repeat the previous line's measurement and field keys (the writer's
//! `SchemaMemo` knows when), and a request usually holds several points of each series (TSBS:
//! five of each of 1000 hosts in 5000 lines), so most points carry only a 4-byte series
//! reference, their time and their values; the owner core also reuses the series it found for
//! the first point.
//!
//! `writer` builds a batch ([`Batch`], [`NewPoint`], the thread's pool of emptied batches);
//! `reader` walks one ([`BatchIter`]). Both follow the layout above and the constants below.

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::{points_hint, BatchIter, PointHead};
pub use writer::{encode_value, Batch, FixedSlots, NewPoint};

use crate::lineproto::FieldValue;

/// Flag bit: the point repeats the previous point's measurement and field keys.
const SAME_SCHEMA: u8 = 1;
/// Flag bit: the point's series is that of an earlier point of the batch (given by number).
const KEY_REF: u8 = 2;
/// Bytes of a `SAME_SCHEMA | KEY_REF` point's head: length, flags, point number, time, field
/// count.
const REPEAT_HEAD: usize = 4 + 1 + 4 + 8 + 2;

/// Bytes of a float, integer or unsigned value in the batch form: type, 8-byte value.
pub const FIXED_VALUE: usize = 9;

/// Identifies a (measurement, field keys in order) shape. Two points with the same non-zero
/// token have the same measurement and field keys; `SchemaToken::NONE` promises nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaToken(pub u64);

impl SchemaToken {
    pub const NONE: SchemaToken = SchemaToken(0);
}

/// A point read back out of a batch; borrows the batch buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPoint<'a> {
    pub series_key: &'a [u8],
    pub series_hash: u64,
    pub measurement: &'a [u8],
    pub timestamp_ns: i64,
    pub fields: Vec<(&'a [u8], FieldValue<'a>)>,
}

/// Why a batch buffer could not be read: only a bug or a corrupt WAL record gets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("corrupt batch at byte {offset}")]
pub struct CorruptBatch {
    pub offset: usize,
}
