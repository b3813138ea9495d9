//! Building a batch: point heads ([`Batch::begin_point`] with a [`NewPoint`]), then the point's
//! fields or values; the thread's pool of emptied batches.

use super::{
    BatchPoint, CorruptBatch, SchemaToken, FIXED_VALUE, KEY_REF, REPEAT_HEAD, SAME_SCHEMA,
};
use crate::lineproto::{FieldType, FieldValue};

/// Appends one value in batch form: `u8` type (FieldType as u8), then 8 bytes for float (bits) /
/// integer / unsigned, 1 byte for boolean, `u32` length + bytes for string. Memtable records
/// store values in the same form (`storage::memtable`).
#[inline]
pub fn encode_value(out: &mut Vec<u8>, value: &FieldValue<'_>) {
    out.push(value.field_type() as u8);
    match value {
        FieldValue::Float(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
        FieldValue::Integer(v) => out.extend_from_slice(&v.to_le_bytes()),
        FieldValue::Unsigned(v) => out.extend_from_slice(&v.to_le_bytes()),
        FieldValue::Boolean(v) => out.push(*v as u8),
        FieldValue::String(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
}

/// The head of a point to append with [`Batch::begin_point`]. Small and `Copy`: it is built
/// on the caller's stack and passed by value, once per point on the write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPoint<'a> {
    /// Canonical series key (escaped form, tags sorted).
    pub series_key: &'a [u8],
    /// `lineproto::series_hash(series_key)`.
    pub series_hash: u64,
    /// The decoder's identity of the key ([`Line::key_id`](crate::lineproto::Line::key_id);
    /// 0: none): an earlier point of the batch with the same non-zero id has the same key,
    /// found without comparing its bytes.
    pub key_id: u64,
    /// Measurement, unescaped.
    pub measurement: &'a [u8],
    pub time_ns: i64,
    /// The fields that follow: `push_field`, `push_value` or `push_fixed_values` exactly this
    /// many of them.
    pub field_count: u16,
    /// The point's shape: when it equals the previous point's (and is not `NONE`), the
    /// measurement and field keys are left out of the buffer.
    pub token: SchemaToken,
}

impl<'a> NewPoint<'a> {
    /// A point whose key is hashed here, with no key id and no schema token.
    #[inline]
    pub fn new(
        series_key: &'a [u8],
        measurement: &'a [u8],
        time_ns: i64,
        field_count: u16,
    ) -> Self {
        let series_hash = crate::lineproto::series_hash(series_key);
        NewPoint::hashed(series_key, series_hash, measurement, time_ns, field_count)
    }

    /// A point whose key's `lineproto::series_hash` is known, with no key id and no schema
    /// token.
    #[inline]
    pub fn hashed(
        series_key: &'a [u8],
        series_hash: u64,
        measurement: &'a [u8],
        time_ns: i64,
        field_count: u16,
    ) -> Self {
        NewPoint {
            series_key,
            series_hash,
            key_id: 0,
            measurement,
            time_ns,
            field_count,
            token: SchemaToken::NONE,
        }
    }

    /// This point with schema token `token`.
    #[inline]
    pub fn with_token(self, token: SchemaToken) -> Self {
        NewPoint { token, ..self }
    }

    /// This point with the decoder's key id `key_id`.
    #[inline]
    pub fn with_key_id(self, key_id: u64) -> Self {
        NewPoint { key_id, ..self }
    }
}

/// The value slots of one point in [`Batch::push_fixed_values`], filled in order.
pub struct FixedSlots<'b> {
    slots: std::slice::ChunksExactMut<'b, u8>,
}

impl FixedSlots<'_> {
    /// Writes the next value, a float (its bits), integer or unsigned, as [`encode_value`] does
    /// (its type, then its 8 bytes little-endian). False when every slot is already written.
    #[inline(always)]
    pub fn put(&mut self, ty: FieldType, bits: u64) -> bool {
        let next = self.slots.next();
        match next.and_then(|s| <&mut [u8; FIXED_VALUE]>::try_from(s).ok()) {
            Some(slot) => {
                slot[0] = ty as u8;
                slot[1..].copy_from_slice(&bits.to_le_bytes());
                true
            }
            None => false,
        }
    }
}

/// The points of one request for one partition, in line order.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub buf: Vec<u8>,
    pub points: u32,
    /// Per point (by number): where its series key is in `buf` (offset, length), its hash, and
    /// the decoder's id of the key (`Line::key_id`; 0: none).
    keys: Vec<(u32, u32, u64, u64)>,
    /// The number of the first point of each series, by series hash.
    first_of: hashbrown::HashTable<u32>,
    /// Offset of the current point's length field.
    open: usize,
    /// Token of the last point begun.
    last_schema: SchemaToken,
    /// Whether the current point leaves its field keys out.
    omit_keys: bool,
    /// Fields the current point still expects; its length field is written after the last.
    fields_left: u16,
}

/// Batches kept for reuse by this thread, at most this many bytes of buffer capacity.
const BATCH_POOL_BYTES_MAX: usize = 16 << 20;

thread_local! {
    /// Emptied batches, the last given back on top.
    static BATCH_POOL: std::cell::RefCell<Vec<Batch>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Batch {
    /// An empty batch with room for `bytes` bytes of points.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            buf: Vec::with_capacity(bytes),
            ..Batch::default()
        }
    }

    /// `with_capacity`, from the batches this thread gave back with [`Batch::recycle`] when
    /// there is one: the last one given back, whose memory was just written and read (a write
    /// request's batch is applied and copied to the WAL right after it is built), so the next
    /// request builds its batch in memory that is still in the core's caches instead of a
    /// megabyte of cold heap.
    pub fn pooled(bytes: usize) -> Batch {
        let mut b = BATCH_POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_default();
        b.buf.reserve(bytes);
        b
    }

    /// Empties this batch and keeps it for a later [`Batch::pooled`] (if the pool has room).
    pub fn recycle(self) {
        if self.buf.capacity() == 0 {
            return;
        }
        // Only the allocations are kept; every other field starts as a new batch's.
        let Batch {
            mut buf,
            mut keys,
            mut first_of,
            ..
        } = self;
        buf.clear();
        keys.clear();
        first_of.clear();
        let empty = Batch {
            buf,
            keys,
            first_of,
            ..Batch::default()
        };
        BATCH_POOL.with(|p| {
            let mut p = p.borrow_mut();
            let held: usize = p.iter().map(|b| b.buf.capacity()).sum();
            if held + empty.buf.capacity() <= BATCH_POOL_BYTES_MAX {
                p.push(empty);
            }
        });
    }

    /// Appends the head of a point; follow with its `field_count` fields. When the point's
    /// schema token equals the previous point's (and is not `NONE`), its measurement and field
    /// keys are left out of the buffer and the answer is true: the caller then gives values
    /// only (`push_value`, `push_fixed_values`). A series already in the batch (same non-zero
    /// key id, or same key bytes) is written as a reference to its first point.
    ///
    /// Always inlined: the write path calls it once per point, and inlined, `p` stays in
    /// registers instead of being copied to the stack for the call.
    #[inline(always)]
    pub fn begin_point(&mut self, p: NewPoint<'_>) -> bool {
        debug_assert_eq!(p.series_hash, crate::lineproto::series_hash(p.series_key));
        let same = p.token != SchemaToken::NONE && p.token == self.last_schema;
        self.last_schema = p.token;
        self.omit_keys = same;
        self.open = self.buf.len();
        self.fields_left = p.field_count;
        match self.earlier_point(&p) {
            Some(first) if same => self.put_repeat_head(first, &p),
            earlier => self.put_head(earlier, same, &p),
        }
        same
    }

    /// The number of the batch's first point of `p`'s series, if the batch has one.
    #[inline(always)]
    fn earlier_point(&self, p: &NewPoint<'_>) -> Option<u32> {
        let Batch {
            buf,
            keys,
            first_of,
            ..
        } = self;
        first_of
            .find(p.series_hash, |&n| {
                keys.get(n as usize).is_some_and(|&(at, len, _, id)| {
                    (p.key_id != 0 && id == p.key_id)
                        || buf.get(at as usize..(at + len) as usize) == Some(p.series_key)
                })
            })
            .copied()
    }

    /// The head of a point of an earlier point's series (`first`) and the previous point's
    /// shape (`next_repeat` reads it): length, flags, point number, time, field count, written
    /// as one piece. Its length is final already unless fields follow.
    #[inline(always)]
    fn put_repeat_head(&mut self, first: u32, p: &NewPoint<'_>) {
        let mut head = [0u8; REPEAT_HEAD];
        head[..4].copy_from_slice(&(REPEAT_HEAD as u32 - 4).to_le_bytes());
        head[4] = SAME_SCHEMA | KEY_REF;
        head[5..9].copy_from_slice(&first.to_le_bytes());
        head[9..17].copy_from_slice(&p.time_ns.to_le_bytes());
        head[17..].copy_from_slice(&p.field_count.to_le_bytes());
        self.buf.extend_from_slice(&head);
        let entry = self.keys[first as usize];
        self.keys.push(entry);
        self.points += 1;
    }

    /// Any other point's head, part by part: the series as a reference to `earlier` or written
    /// out (then recorded as its series' first point), the measurement unless `same`, time and
    /// field count, and the length field.
    #[inline(always)]
    fn put_head(&mut self, earlier: Option<u32>, same: bool, p: &NewPoint<'_>) {
        let flags = if same { SAME_SCHEMA } else { 0 };
        self.buf.extend_from_slice(&[0; 4]);
        match earlier {
            Some(first) => {
                self.buf.push(flags | KEY_REF);
                self.buf.extend_from_slice(&first.to_le_bytes());
                let entry = self.keys[first as usize];
                self.keys.push(entry);
            }
            None => {
                self.buf.push(flags);
                self.put_series(p);
            }
        }
        if !same {
            self.buf
                .extend_from_slice(&(p.measurement.len() as u16).to_le_bytes());
            self.buf.extend_from_slice(p.measurement);
        }
        self.buf.extend_from_slice(&p.time_ns.to_le_bytes());
        self.buf.extend_from_slice(&p.field_count.to_le_bytes());
        self.points += 1;
        self.close_point();
    }

    /// Writes out the series of point number `self.points` (its key length, key and hash) and
    /// records the point as the series' first.
    #[inline(always)]
    fn put_series(&mut self, p: &NewPoint<'_>) {
        let number = self.points;
        let key_len = p.series_key.len() as u32;
        self.buf.extend_from_slice(&key_len.to_le_bytes());
        let at = self.buf.len() as u32;
        self.buf.extend_from_slice(p.series_key);
        self.buf.extend_from_slice(&p.series_hash.to_le_bytes());
        self.keys.push((at, key_len, p.series_hash, p.key_id));
        let Batch { keys, first_of, .. } = self;
        first_of.insert_unique(p.series_hash, number, |&n| {
            keys.get(n as usize).map_or(0, |k| k.2)
        });
    }

    /// Writes the open point's length field (after its head, and again after its last field;
    /// a caller that pushes fewer fields than announced gets a point that reads as corrupt).
    #[inline]
    fn close_point(&mut self) {
        let len = (self.buf.len() - self.open - 4) as u32;
        if let Some(slot) = self.buf.get_mut(self.open..self.open + 4) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Appends a field of the open point: its key (unless the point leaves keys out), then its
    /// value.
    pub fn push_field(&mut self, key: &[u8], value: &FieldValue<'_>) {
        if !self.omit_keys {
            self.buf
                .extend_from_slice(&(key.len() as u16).to_le_bytes());
            self.buf.extend_from_slice(key);
        }
        self.put_value(value);
    }

    /// `push_field` for a point whose keys are left out (`begin_point` answered true).
    #[inline]
    pub fn push_value(&mut self, value: &FieldValue<'_>) {
        debug_assert!(self.omit_keys);
        self.put_value(value);
    }

    /// All of the open point's values at once when each is a float, integer or unsigned (the
    /// batch form of such a value is [`FIXED_VALUE`] bytes): `fill` gets `count` slots and
    /// writes each with [`FixedSlots::put`]. Unless it answers true with every slot written,
    /// the point is left as it was and the answer is false.
    #[inline]
    pub fn push_fixed_values(
        &mut self,
        count: u16,
        fill: impl FnOnce(&mut FixedSlots<'_>) -> bool,
    ) -> bool {
        debug_assert!(self.omit_keys);
        let start = self.buf.len();
        self.buf.resize(start + usize::from(count) * FIXED_VALUE, 0);
        let whole = self.buf.get_mut(start..).is_some_and(|out| {
            let mut slots = FixedSlots {
                slots: out.chunks_exact_mut(FIXED_VALUE),
            };
            fill(&mut slots) && slots.slots.len() == 0
        });
        if !whole {
            self.buf.truncate(start);
            return false;
        }
        self.fields_left = self.fields_left.saturating_sub(count);
        if self.fields_left == 0 {
            self.close_point();
        }
        true
    }

    #[inline]
    fn put_value(&mut self, value: &FieldValue<'_>) {
        encode_value(&mut self.buf, value);
        self.fields_left = self.fields_left.saturating_sub(1);
        if self.fields_left == 0 {
            self.close_point();
        }
    }

    /// Appends a point read from another batch.
    pub fn push_point(&mut self, p: &BatchPoint<'_>) {
        let field_count = p.fields.len() as u16;
        self.begin_point(NewPoint::hashed(
            p.series_key,
            p.series_hash,
            p.measurement,
            p.timestamp_ns,
            field_count,
        ));
        for (k, v) in &p.fields {
            self.push_field(k, v);
        }
    }

    /// This batch without the points numbered in `dropped` (ascending, as
    /// `Memtable::apply_admitting` reports them).
    pub fn without(&self, dropped: &[u32]) -> Result<Batch, CorruptBatch> {
        let mut kept = Batch::default();
        let mut dropped = dropped.iter().peekable();
        for (n, p) in self.iter().enumerate() {
            let p = p?;
            if dropped.next_if(|&&d| d as usize == n).is_none() {
                kept.push_point(&p);
            }
        }
        Ok(kept)
    }

    pub fn is_empty(&self) -> bool {
        self.points == 0
    }
}
