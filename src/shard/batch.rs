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

use crate::lineproto::{FieldType, FieldValue};
use std::borrow::Cow;

/// Flag bit: the point repeats the previous point's measurement and field keys.
const SAME_SCHEMA: u8 = 1;
/// Flag bit: the point's series is that of an earlier point of the batch (given by number).
const KEY_REF: u8 = 2;
/// Bytes of a `SAME_SCHEMA | KEY_REF` point's head: length, flags, point number, time, field
/// count.
const REPEAT_HEAD: usize = 4 + 1 + 4 + 8 + 2;

/// Identifies a (measurement, field keys in order) shape. Two points with the same non-zero
/// token have the same measurement and field keys; `SchemaToken::NONE` promises nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchemaToken(pub u64);

impl SchemaToken {
    pub const NONE: SchemaToken = SchemaToken(0);
}

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

/// Bytes of a float, integer or unsigned value in the batch form: type, 8-byte value.
pub const FIXED_VALUE: usize = 9;

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

/// A point read back out of a batch; borrows the batch buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchPoint<'a> {
    pub series_key: &'a [u8],
    pub series_hash: u64,
    pub measurement: &'a [u8],
    pub timestamp_ns: i64,
    pub fields: Vec<(&'a [u8], FieldValue<'a>)>,
}

/// The head of a point read with `BatchIter::next_into` (its fields went to the caller's vector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointHead<'a> {
    pub series_key: &'a [u8],
    pub series_hash: u64,
    pub measurement: &'a [u8],
    pub timestamp_ns: i64,
    /// The measurement and field keys are those of the previous point read from this batch.
    pub same_schema: bool,
    /// This point's number in the batch (from 0).
    pub number: u32,
    /// The number of the first point of the batch with this series (`number` when this is it).
    pub first_of_series: u32,
}

/// About how many points a batch buffer of `bytes` holds (TSBS points take ~110-150 B), to
/// size per-point vectors of a reader: grown by doubling, they were copied a dozen times per
/// batch.
pub fn points_hint(bytes: usize) -> usize {
    bytes / 100
}

/// Why a batch buffer could not be read: only a bug or a corrupt WAL record gets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("corrupt batch at byte {offset}")]
pub struct CorruptBatch {
    pub offset: usize,
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

    /// Appends the head of a point; follow with `push_field` exactly `field_count` times.
    pub fn begin_point(
        &mut self,
        series_key: &[u8],
        measurement: &[u8],
        ts: i64,
        field_count: u16,
    ) {
        let hash = crate::lineproto::series_hash(series_key);
        self.begin_point_hashed(
            series_key,
            hash,
            measurement,
            ts,
            field_count,
            SchemaToken::NONE,
        );
    }

    /// `begin_point` with the key's `lineproto::series_hash` already known (the decoder's) and
    /// the point's schema token: when it equals the previous point's (and is not `NONE`), the
    /// measurement and field keys are left out of the buffer, and the answer is true (the
    /// caller may then use `push_value`).
    pub fn begin_point_hashed(
        &mut self,
        series_key: &[u8],
        series_hash: u64,
        measurement: &[u8],
        ts: i64,
        field_count: u16,
        schema: SchemaToken,
    ) -> bool {
        self.begin_point_keyed(
            series_key,
            series_hash,
            0,
            measurement,
            ts,
            field_count,
            schema,
        )
    }

    /// `begin_point_hashed` with the key's identity from the decoder
    /// ([`Line::key_id`](crate::lineproto::Line::key_id); 0 for none): an earlier point of the
    /// batch with the same non-zero id has the same key, found without comparing its bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_point_keyed(
        &mut self,
        series_key: &[u8],
        series_hash: u64,
        key_id: u64,
        measurement: &[u8],
        ts: i64,
        field_count: u16,
        schema: SchemaToken,
    ) -> bool {
        debug_assert_eq!(series_hash, crate::lineproto::series_hash(series_key));
        let same = schema != SchemaToken::NONE && schema == self.last_schema;
        self.last_schema = schema;
        self.omit_keys = same;
        self.open = self.buf.len();
        let number = self.points;
        let earlier = {
            let Batch {
                buf,
                keys,
                first_of,
                ..
            } = &*self;
            first_of
                .find(series_hash, |&p| {
                    keys.get(p as usize).is_some_and(|&(at, len, _, id)| {
                        (key_id != 0 && id == key_id)
                            || buf.get(at as usize..(at + len) as usize) == Some(series_key)
                    })
                })
                .copied()
        };
        let flags = if same { SAME_SCHEMA } else { 0 };
        if let (Some(p), true) = (earlier, same) {
            // The common head (`next_repeat`'s): length, flags, point number, time, field
            // count, written as one piece.
            let mut head = [0u8; REPEAT_HEAD];
            head[..4].copy_from_slice(&(REPEAT_HEAD as u32 - 4).to_le_bytes());
            head[4] = SAME_SCHEMA | KEY_REF;
            head[5..9].copy_from_slice(&p.to_le_bytes());
            head[9..17].copy_from_slice(&ts.to_le_bytes());
            head[17..].copy_from_slice(&field_count.to_le_bytes());
            self.buf.extend_from_slice(&head);
            let entry = self.keys[p as usize];
            self.keys.push(entry);
            self.points += 1;
            self.fields_left = field_count;
            return true;
        }
        self.buf.extend_from_slice(&[0; 4]);
        match earlier {
            Some(p) => {
                self.buf.push(flags | KEY_REF);
                self.buf.extend_from_slice(&p.to_le_bytes());
                let entry = self.keys[p as usize];
                self.keys.push(entry);
            }
            None => {
                self.buf.push(flags);
                self.buf
                    .extend_from_slice(&(series_key.len() as u32).to_le_bytes());
                let at = self.buf.len() as u32;
                self.buf.extend_from_slice(series_key);
                self.buf.extend_from_slice(&series_hash.to_le_bytes());
                self.keys
                    .push((at, series_key.len() as u32, series_hash, key_id));
                let Batch { keys, first_of, .. } = self;
                first_of.insert_unique(series_hash, number, |&p| {
                    keys.get(p as usize).map_or(0, |k| k.2)
                });
            }
        }
        if !same {
            self.buf
                .extend_from_slice(&(measurement.len() as u16).to_le_bytes());
            self.buf.extend_from_slice(measurement);
        }
        self.buf.extend_from_slice(&ts.to_le_bytes());
        self.buf.extend_from_slice(&field_count.to_le_bytes());
        self.points += 1;
        self.fields_left = field_count;
        self.close_point();
        same
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

    pub fn push_field(&mut self, key: &[u8], value: &FieldValue<'_>) {
        if !self.omit_keys {
            self.buf
                .extend_from_slice(&(key.len() as u16).to_le_bytes());
            self.buf.extend_from_slice(key);
        }
        self.put_value(value);
    }

    /// `push_field` for a point whose keys are left out (`begin_point_hashed` answered true).
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
        self.begin_point_hashed(
            p.series_key,
            p.series_hash,
            p.measurement,
            p.timestamp_ns,
            p.fields.len() as u16,
            SchemaToken::NONE,
        );
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

    /// The points in the order they were added.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter::new(&self.buf)
    }
}

/// Iterates the points of a batch buffer (a `Batch`, or a WAL record payload).
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The measurement and field keys of the last point read with its fields.
    prev_measurement: &'a [u8],
    prev_keys: Vec<&'a [u8]>,
    have_measurement: bool,
    /// Per point read so far: its series key, hash, and the number of the series' first point.
    series: Vec<(&'a [u8], u64, u32)>,
    /// Whether `prev_keys` are the previous point's (a head-only walk does not read keys).
    have_keys: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            prev_measurement: &[],
            prev_keys: Vec::new(),
            have_measurement: false,
            series: Vec::with_capacity(points_hint(buf.len())),
            have_keys: false,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptBatch> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(CorruptBatch { offset: self.pos })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CorruptBatch> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// The next point, with its fields written into `fields` (cleared first), so a caller that
    /// walks many points reuses one vector instead of allocating one per point.
    pub fn next_into(
        &mut self,
        fields: &mut Vec<(&'a [u8], FieldValue<'a>)>,
    ) -> Option<Result<PointHead<'a>, CorruptBatch>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.read_into(fields);
        if r.is_err() {
            self.pos = self.buf.len();
        }
        Some(r)
    }

    /// `next_into`, except that a `same_schema` point's fields are not decoded: `values` gets
    /// their raw bytes (per field: `1` type, value, as in the layout above; keys are those of
    /// the previous point) and `fields` is left empty. Other points fill `fields` and leave
    /// `values` empty. The memtable copies such values without decoding them.
    pub fn next_raw(
        &mut self,
        fields: &mut Vec<(&'a [u8], FieldValue<'a>)>,
        values: &mut &'a [u8],
    ) -> Option<Result<PointHead<'a>, CorruptBatch>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        // Cleared first: every case leaves it empty or refills it, and no call may come
        // between reading a head and returning it (see `next_first`).
        if !fields.is_empty() {
            fields.clear();
        }
        if let Some(head) = self.next_repeat(values) {
            return Some(Ok(head));
        }
        if let Some(head) = self.next_first(values) {
            return Some(Ok(head));
        }
        let r = self.read_head().and_then(|(end, mut head)| {
            if !head.same_schema {
                *values = &[];
                return self.read_fields(end, head, fields);
            }
            let n = u16::from_le_bytes(self.take_array()?) as usize;
            if !self.have_keys || self.prev_keys.len() != n {
                return Err(CorruptBatch { offset: self.pos });
            }
            head.measurement = self.prev_measurement;
            fields.clear();
            *values = self
                .buf
                .get(self.pos..end)
                .ok_or(CorruptBatch { offset: self.pos })?;
            self.pos = end;
            Ok(head)
        });
        if r.is_err() {
            self.pos = self.buf.len();
        }
        Some(r)
    }

    /// `next_raw`'s common case in one step: a point flagged `SAME_SCHEMA | KEY_REF` (a series
    /// and field keys seen before in this batch), read with one bounds check for its fixed head
    /// (length, flags, point number, time, field count) instead of one per part. Anything else,
    /// or anything that does not check out, is left to the general path (which also names the
    /// error).
    #[inline]
    fn next_repeat(&mut self, values: &mut &'a [u8]) -> Option<PointHead<'a>> {
        let at = self.pos;
        let h: &[u8; REPEAT_HEAD] = self.buf.get(at..at + REPEAT_HEAD)?.try_into().ok()?;
        if h[4] != SAME_SCHEMA | KEY_REF || !self.have_keys {
            return None;
        }
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let end = (at + 4)
            .checked_add(len)
            .filter(|&e| e >= at + REPEAT_HEAD && e <= self.buf.len())?;
        let p = u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize;
        let n = u16::from_le_bytes([h[17], h[18]]) as usize;
        if n != self.prev_keys.len() {
            return None;
        }
        let (series_key, series_hash, first_of_series) = *self.series.get(p)?;
        let ts = i64::from_le_bytes([h[9], h[10], h[11], h[12], h[13], h[14], h[15], h[16]]);
        self.same_schema_head(
            (series_key, series_hash, Some(first_of_series)),
            ts,
            at + REPEAT_HEAD..end,
            values,
        )
    }

    /// The end of `next_repeat` and `next_first`: records the point's series, hands out its
    /// value bytes (`value_bytes`, checked to lie in the batch) and moves past it, and builds
    /// its `PointHead` in one piece. `first_of_series` `None`: this point is its series' first.
    #[inline(always)]
    fn same_schema_head(
        &mut self,
        (series_key, series_hash, first_of_series): (&'a [u8], u64, Option<u32>),
        timestamp_ns: i64,
        value_bytes: std::ops::Range<usize>,
        values: &mut &'a [u8],
    ) -> Option<PointHead<'a>> {
        let end = value_bytes.end;
        *values = self.buf.get(value_bytes)?;
        let number = self.series.len() as u32;
        let first_of_series = first_of_series.unwrap_or(number);
        self.series.push((series_key, series_hash, first_of_series));
        self.pos = end;
        Some(PointHead {
            series_key,
            series_hash,
            measurement: self.prev_measurement,
            timestamp_ns,
            same_schema: true,
            number,
            first_of_series,
        })
    }

    /// `next_raw`'s second case in one step: a point flagged `SAME_SCHEMA` only (its series'
    /// first in the batch, carrying its key), its head read with two bounds checks and its
    /// `PointHead` built once from what was read, as `next_repeat` does. Through `read_head`
    /// the head was built, moved and patched on the stack; a 16-byte copy of it then read
    /// parts just stored 8 bytes at a time, which cannot be forwarded from the store buffer and
    /// waits for it to drain, behind the stores of earlier points' records to memory not in
    /// the cache (perf: a fifth of the server's time on that copy when every point of a
    /// batch was its series' first). Anything else is left to the general path.
    #[inline]
    fn next_first(&mut self, values: &mut &'a [u8]) -> Option<PointHead<'a>> {
        let at = self.pos;
        let h: &[u8; 9] = self.buf.get(at..at + 9)?.try_into().ok()?;
        if h[4] != SAME_SCHEMA || !self.have_keys {
            return None;
        }
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let end = (at + 4).checked_add(len).filter(|&e| e <= self.buf.len())?;
        let key_len = u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize;
        let key_start = at + 9;
        let key_end = key_start.checked_add(key_len)?;
        // Hash, time, field count.
        let t: &[u8; 18] = self.buf.get(key_end..key_end + 18)?.try_into().ok()?;
        let n = u16::from_le_bytes([t[16], t[17]]) as usize;
        if key_end + 18 > end || n != self.prev_keys.len() {
            return None;
        }
        let series_key = self.buf.get(key_start..key_end)?;
        let series_hash = u64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let ts = i64::from_le_bytes([t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]);
        self.same_schema_head(
            (series_key, series_hash, None),
            ts,
            key_end + 18..end,
            values,
        )
    }

    /// The next point's head only (its fields are skipped unread).
    pub fn next_head(&mut self) -> Option<Result<PointHead<'a>, CorruptBatch>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.read_head().and_then(|(end, mut head)| {
            if head.same_schema {
                // The previous point's measurement: by induction, the last one written out.
                if !self.have_measurement {
                    return Err(CorruptBatch { offset: self.pos });
                }
                head.measurement = self.prev_measurement;
            } else {
                self.prev_measurement = head.measurement;
                self.have_measurement = true;
                // This point's keys were not read: a later `same_schema` point cannot be
                // completed by `next_into`.
                self.have_keys = false;
            }
            self.pos = end;
            Ok(head)
        });
        if r.is_err() {
            self.pos = self.buf.len();
        }
        Some(r)
    }

    /// Reads a point's head; returns where the point ends and the head (the measurement of a
    /// `same_schema` point is left empty).
    #[inline(always)]
    fn read_head(&mut self) -> Result<(usize, PointHead<'a>), CorruptBatch> {
        let at = self.pos;
        let len = u32::from_le_bytes(self.take_array()?) as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(CorruptBatch { offset: at })?;
        let flags = self.take_array::<1>()?[0];
        if flags & !(SAME_SCHEMA | KEY_REF) != 0 {
            return Err(CorruptBatch { offset: at });
        }
        let same_schema = flags & SAME_SCHEMA != 0;
        let number = self.series.len() as u32;
        let (series_key, series_hash, first_of_series) = if flags & KEY_REF != 0 {
            let p = u32::from_le_bytes(self.take_array()?);
            // Only an earlier point can be referred to.
            *self
                .series
                .get(p as usize)
                .ok_or(CorruptBatch { offset: at })?
        } else {
            let key_len = u32::from_le_bytes(self.take_array()?) as usize;
            let series_key = self.take(key_len)?;
            let series_hash = u64::from_le_bytes(self.take_array()?);
            (series_key, series_hash, number)
        };
        self.series.push((series_key, series_hash, first_of_series));
        let measurement = if same_schema {
            &[][..]
        } else {
            let m_len = u16::from_le_bytes(self.take_array()?) as usize;
            self.take(m_len)?
        };
        let timestamp_ns = i64::from_le_bytes(self.take_array()?);
        Ok((
            end,
            PointHead {
                series_key,
                series_hash,
                measurement,
                timestamp_ns,
                same_schema,
                number,
                first_of_series,
            },
        ))
    }

    fn read_into(
        &mut self,
        fields: &mut Vec<(&'a [u8], FieldValue<'a>)>,
    ) -> Result<PointHead<'a>, CorruptBatch> {
        let (end, head) = self.read_head()?;
        self.read_fields(end, head, fields)
    }

    /// The rest of a point after `read_head`: its fields, keys resolved for `same_schema`.
    fn read_fields(
        &mut self,
        end: usize,
        mut head: PointHead<'a>,
        fields: &mut Vec<(&'a [u8], FieldValue<'a>)>,
    ) -> Result<PointHead<'a>, CorruptBatch> {
        let n = u16::from_le_bytes(self.take_array()?) as usize;
        fields.clear();
        if head.same_schema {
            if !self.have_keys || self.prev_keys.len() != n {
                return Err(CorruptBatch { offset: self.pos });
            }
            head.measurement = self.prev_measurement;
            for i in 0..n {
                let key = self.prev_keys[i];
                fields.push((key, self.read_value()?));
            }
        } else {
            self.prev_measurement = head.measurement;
            self.prev_keys.clear();
            for _ in 0..n {
                let k_len = u16::from_le_bytes(self.take_array()?) as usize;
                let key = self.take(k_len)?;
                self.prev_keys.push(key);
                fields.push((key, self.read_value()?));
            }
            self.have_measurement = true;
            self.have_keys = true;
        }
        if self.pos != end {
            return Err(CorruptBatch { offset: self.pos });
        }
        Ok(head)
    }

    fn read_value(&mut self) -> Result<FieldValue<'a>, CorruptBatch> {
        let at = self.pos;
        let ty =
            FieldType::from_u8(self.take_array::<1>()?[0]).ok_or(CorruptBatch { offset: at })?;
        Ok(match ty {
            FieldType::Float => {
                FieldValue::Float(f64::from_bits(u64::from_le_bytes(self.take_array()?)))
            }
            FieldType::Integer => FieldValue::Integer(i64::from_le_bytes(self.take_array()?)),
            FieldType::Unsigned => FieldValue::Unsigned(u64::from_le_bytes(self.take_array()?)),
            FieldType::Boolean => FieldValue::Boolean(self.take_array::<1>()?[0] != 0),
            FieldType::String => {
                let len = u32::from_le_bytes(self.take_array()?) as usize;
                FieldValue::String(Cow::Borrowed(self.take(len)?))
            }
        })
    }

    fn read_point(&mut self) -> Result<BatchPoint<'a>, CorruptBatch> {
        let mut fields = Vec::new();
        let head = self.read_into(&mut fields)?;
        Ok(BatchPoint {
            series_key: head.series_key,
            series_hash: head.series_hash,
            measurement: head.measurement,
            timestamp_ns: head.timestamp_ns,
            fields,
        })
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchPoint<'a>, CorruptBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.read_point();
        if r.is_err() {
            self.pos = self.buf.len();
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `b` with points of two series under one schema token (so it holds series refs,
    /// same-schema points and an open schema).
    fn fill(b: &mut Batch, keys: &[&[u8]], token: u64) {
        for (i, key) in keys.iter().enumerate() {
            let hash = crate::lineproto::series_hash(key);
            if b.begin_point_keyed(key, hash, 0, b"cpu", i as i64, 1, SchemaToken(token)) {
                b.push_value(&FieldValue::Integer(i as i64));
            } else {
                b.push_field(b"v", &FieldValue::Integer(i as i64));
            }
        }
    }

    #[test]
    fn a_recycled_batch_builds_the_same_bytes_as_a_new_one() {
        let mut used = Batch::pooled(64);
        fill(&mut used, &[b"cpu,h=a", b"cpu,h=b", b"cpu,h=a"], 7);
        used.recycle();
        let mut again = Batch::pooled(64);
        assert!(again.buf.capacity() > 0 && again.is_empty());
        // The same token as the recycled batch's last: a new batch must not take it for the
        // previous point's schema, nor `cpu,h=a` for a series it holds.
        fill(&mut again, &[b"cpu,h=a", b"cpu,h=c", b"cpu,h=a"], 7);
        let mut fresh = Batch::default();
        fill(&mut fresh, &[b"cpu,h=a", b"cpu,h=c", b"cpu,h=a"], 7);
        assert_eq!(again.buf, fresh.buf);
        assert_eq!(again.points, 3);
    }

    #[test]
    fn round_trip_every_type() {
        let mut b = Batch::default();
        b.begin_point(b"cpu,host=a", b"cpu", -5, 5);
        b.push_field(b"f", &FieldValue::Float(1.5));
        b.push_field(b"i", &FieldValue::Integer(-7));
        b.push_field(b"u", &FieldValue::Unsigned(u64::MAX));
        b.push_field(b"b", &FieldValue::Boolean(true));
        b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"x\"y")));
        b.begin_point(b"m", b"m", 9, 1);
        b.push_field(b"v", &FieldValue::Boolean(false));
        let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].series_key, b"cpu,host=a");
        assert_eq!(pts[0].timestamp_ns, -5);
        assert_eq!(
            pts[0].fields[2],
            (&b"u"[..], FieldValue::Unsigned(u64::MAX))
        );
        assert_eq!(
            pts[0].fields[4].1,
            FieldValue::String(Cow::Borrowed(b"x\"y"))
        );
        assert_eq!(pts[1].fields, vec![(&b"v"[..], FieldValue::Boolean(false))]);
    }

    /// Points with the same schema token leave out measurement and field keys; reading gives
    /// them back, a head-only walk still knows the measurement, and the buffer is smaller.
    #[test]
    fn same_schema_points_leave_keys_out_and_read_back_whole() {
        let fields = |i: i64| {
            vec![
                (&b"usage_user"[..], FieldValue::Integer(i)),
                (&b"usage_system"[..], FieldValue::Float(i as f64)),
            ]
        };
        let mut full = Batch::default();
        let mut packed = Batch::default();
        let tokens = [1, 1, 1, 2, 2, 0, 0, 3];
        for (i, &t) in tokens.iter().enumerate() {
            let key = format!("cpu,host=h{i}");
            let m: &[u8] = if t == 2 { b"mem" } else { b"cpu" };
            let hash = crate::lineproto::series_hash(key.as_bytes());
            for (b, tok) in [(&mut full, 0), (&mut packed, t)] {
                b.begin_point_hashed(key.as_bytes(), hash, m, i as i64, 2, SchemaToken(tok));
                for (k, v) in fields(i as i64) {
                    b.push_field(k, &v);
                }
            }
        }
        assert!(packed.buf.len() < full.buf.len());
        let a: Vec<_> = full.iter().collect::<Result<_, _>>().unwrap();
        let b: Vec<_> = packed.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(a, b);
        assert_eq!(b[4].measurement, b"mem");
        let mut it = packed.iter();
        let mut heads = Vec::new();
        while let Some(h) = it.next_head() {
            let h = h.unwrap();
            heads.push((h.measurement.to_vec(), h.timestamp_ns, h.same_schema));
        }
        let same: Vec<bool> = heads.iter().map(|h| h.2).collect();
        assert_eq!(same, [false, true, true, false, true, false, false, false]);
        assert_eq!(heads[2].0, b"cpu");
        assert_eq!(heads[4].0, b"mem");
        assert_eq!(heads[7].1, 7);
    }

    /// `push_fixed_values` writes the same bytes as `push_value` one value at a time, and a
    /// fill that gives up (a bool or string met half way) leaves the point as it was, so the
    /// caller's `push_value` fallback still builds it whole.
    #[test]
    fn fixed_values_are_push_value_in_one_go() {
        let values = [
            FieldValue::Float(-0.0),
            FieldValue::Integer(i64::MIN),
            FieldValue::Unsigned(u64::MAX),
            FieldValue::Float(f64::NAN),
        ];
        let fixed = |v: &FieldValue<'_>| match *v {
            FieldValue::Float(f) => Some((FieldType::Float, f.to_bits())),
            FieldValue::Integer(i) => Some((FieldType::Integer, i as u64)),
            FieldValue::Unsigned(u) => Some((FieldType::Unsigned, u)),
            _ => None,
        };
        let mut one = Batch::default();
        let mut fast = Batch::default();
        let mut fallback = Batch::default();
        for (i, tok) in [(0i64, 4u64), (1, 4), (2, 4)] {
            let key = format!("m,h={}", i % 2);
            let hash = crate::lineproto::series_hash(key.as_bytes());
            let n = values.len() as u16;
            let tok = SchemaToken(tok);
            for b in [&mut one, &mut fast, &mut fallback] {
                assert_eq!(
                    b.begin_point_hashed(key.as_bytes(), hash, b"m", i, n, tok),
                    i > 0
                );
                if i == 0 {
                    for (k, v) in [b"a", b"b", b"c", b"d"].iter().zip(&values) {
                        b.push_field(*k, v);
                    }
                }
            }
            if i == 0 {
                continue;
            }
            for v in &values {
                one.push_value(v);
            }
            assert!(fast.push_fixed_values(n, |slots| {
                values.iter().all(|v| {
                    let (ty, bits) = fixed(v).unwrap();
                    slots.put(ty, bits)
                })
            }));
            let before = fallback.buf.clone();
            let gave_up = fallback.push_fixed_values(n, |slots| {
                // A partial write, then a value that is not fixed.
                assert!(slots.put(FieldType::Integer, 7));
                false
            });
            assert!(!gave_up);
            assert_eq!(fallback.buf, before, "a refused fill leaves no bytes");
            let short = fallback.push_fixed_values(n, |slots| slots.put(FieldType::Float, 0));
            assert!(!short, "a fill that leaves slots unwritten is refused");
            assert_eq!(fallback.buf, before);
            let over = fallback.push_fixed_values(n, |slots| {
                (0..=n).all(|i| slots.put(FieldType::Integer, u64::from(i)))
            });
            assert!(!over, "no slot beyond the count");
            assert_eq!(fallback.buf, before);
            assert!(!gave_up);
            assert_eq!(fallback.buf, before, "a refused fill leaves no bytes");
            for v in &values {
                fallback.push_value(v);
            }
        }
        assert_eq!(fast.buf, one.buf);
        assert_eq!(fallback.buf, one.buf);
        let pts: Vec<_> = fast.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[2].fields[1], (&b"b"[..], FieldValue::Integer(i64::MIN)));
        assert_eq!(pts[2].fields[2].1, FieldValue::Unsigned(u64::MAX));
    }

    /// A series seen earlier in the batch is written as a 4-byte reference; reading resolves
    /// it (key, hash, and the number of the series' first point), in full walks and head-only
    /// walks alike, and a reference to a point that is not earlier is corrupt.
    #[test]
    fn repeated_series_are_references() {
        let keys = [
            &b"cpu,host=a"[..],
            b"cpu,host=b",
            b"cpu,host=a",
            b"cpu,host=a",
            b"cpu,host=b",
        ];
        let mut b = Batch::default();
        for (i, k) in keys.iter().enumerate() {
            b.begin_point(k, b"cpu", i as i64, 1);
            b.push_field(b"v", &FieldValue::Integer(i as i64));
        }
        // Two keys written out, three references.
        let written = b
            .buf
            .windows(10)
            .filter(|w| *w == b"cpu,host=a" || *w == b"cpu,host=b")
            .count();
        assert_eq!(written, 2);
        let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
        let got: Vec<&[u8]> = pts.iter().map(|p| p.series_key).collect();
        assert_eq!(got, keys);
        for p in &pts {
            assert_eq!(p.series_hash, crate::lineproto::series_hash(p.series_key));
        }
        let mut it = b.iter();
        let mut firsts = Vec::new();
        while let Some(h) = it.next_head() {
            let h = h.unwrap();
            firsts.push((h.number, h.first_of_series));
        }
        assert_eq!(firsts, [(0, 0), (1, 1), (2, 0), (3, 0), (4, 1)]);
        // Point 2 refers to point 0: on its own it refers to nothing.
        let mut pos = 0;
        for _ in 0..2 {
            pos += 4 + u32::from_le_bytes(b.buf[pos..pos + 4].try_into().unwrap()) as usize;
        }
        assert_eq!(b.buf[pos + 4] & KEY_REF, KEY_REF);
        assert!(BatchIter::new(&b.buf[pos..]).next().unwrap().is_err());
        assert!(BatchIter::new(&b.buf[pos..]).next_head().unwrap().is_err());
    }

    /// A point that repeats both the series of an earlier point and the previous point's shape
    /// gets the one-piece head; with fixed values or any other values after it, every reader
    /// gets back the points as written.
    #[test]
    fn repeated_series_with_the_same_shape_read_back_whole() {
        let mut b = Batch::default();
        let series = [&b"m,h=a"[..], b"m,h=b", b"m,h=a", b"m,h=b", b"m,h=a"];
        for (i, key) in series.iter().enumerate() {
            let hash = crate::lineproto::series_hash(key);
            let same = b.begin_point_hashed(key, hash, b"m", 10 + i as i64, 2, SchemaToken(3));
            assert_eq!(same, i > 0);
            if i % 2 == 1 {
                assert!(b.push_fixed_values(2, |slots| {
                    slots.put(FieldType::Integer, i as u64) && slots.put(FieldType::Float, 7)
                }));
            } else if same {
                b.push_value(&FieldValue::Integer(i as i64));
                b.push_value(&FieldValue::Float(f64::from_bits(7)));
            } else {
                b.push_field(b"a", &FieldValue::Integer(i as i64));
                b.push_field(b"f", &FieldValue::Float(f64::from_bits(7)));
            }
        }
        let pts: Vec<_> = b.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(pts.len(), 5);
        for (i, p) in pts.iter().enumerate() {
            assert_eq!(p.series_key, series[i]);
            assert_eq!(p.series_hash, crate::lineproto::series_hash(series[i]));
            assert_eq!(p.timestamp_ns, 10 + i as i64);
            assert_eq!(p.measurement, b"m");
            let fields: Vec<_> = p
                .fields
                .iter()
                .map(|(k, v)| (k.to_vec(), v.clone()))
                .collect();
            assert_eq!(
                fields,
                vec![
                    (b"a".to_vec(), FieldValue::Integer(i as i64)),
                    (b"f".to_vec(), FieldValue::Float(f64::from_bits(7)))
                ]
            );
        }
        let mut it = b.iter();
        let mut heads = Vec::new();
        while let Some(h) = it.next_head() {
            let h = h.unwrap();
            heads.push((h.number, h.first_of_series, h.timestamp_ns));
        }
        assert_eq!(
            heads,
            [(0, 0, 10), (1, 1, 11), (2, 0, 12), (3, 1, 13), (4, 0, 14)]
        );
        // Points 2 to 4 carry the one-piece head.
        let mut pos = 0;
        let mut flags = Vec::new();
        while pos < b.buf.len() {
            flags.push(b.buf[pos + 4]);
            pos += 4 + u32::from_le_bytes(b.buf[pos..pos + 4].try_into().unwrap()) as usize;
        }
        assert_eq!(pos, b.buf.len());
        let packed = SAME_SCHEMA | KEY_REF;
        assert_eq!(flags, [0, SAME_SCHEMA, packed, packed, packed]);
    }

    /// Key ids only shorten the search for an earlier point of the same series: with equal
    /// ids, different ids or none, a repeated key becomes a reference and the points read back
    /// as written.
    #[test]
    fn key_ids_find_the_same_series_as_the_bytes_do() {
        let pts: [(&[u8], u64); 6] = [
            (b"m,h=a", 7),
            (b"m,h=b", 8),
            (b"m,h=a", 7),
            (b"m,h=a", 9),
            (b"m,h=b", 0),
            (b"m,h=c", 0),
        ];
        let mut b = Batch::default();
        for (i, (key, id)) in pts.iter().enumerate() {
            let hash = crate::lineproto::series_hash(key);
            b.begin_point_keyed(key, hash, *id, b"m", i as i64, 1, SchemaToken::NONE);
            b.push_field(b"v", &FieldValue::Integer(i as i64));
        }
        let written = |k: &[u8]| b.buf.windows(k.len()).filter(|w| *w == k).count();
        assert_eq!(
            (written(b"m,h=a"), written(b"m,h=b"), written(b"m,h=c")),
            (1, 1, 1)
        );
        let mut it = b.iter();
        let mut got = Vec::new();
        while let Some(h) = it.next_head() {
            let h = h.unwrap();
            got.push((h.series_key.to_vec(), h.first_of_series));
        }
        let want: Vec<(Vec<u8>, u32)> = [(0, 0), (1, 1), (0, 0), (0, 0), (1, 1), (5, 5)]
            .iter()
            .map(|&(k, f)| (pts[k].0.to_vec(), f))
            .collect();
        assert_eq!(got, want);
    }

    /// `next_raw` hands out a `same_schema` point's value bytes undecoded (type byte + value
    /// per field) and decodes the others; heads are those of `next_into`.
    #[test]
    fn next_raw_gives_value_bytes_of_same_schema_points() {
        let mut b = Batch::default();
        for (i, tok) in [(0i64, 7u64), (1, 7), (2, 0)] {
            let key = format!("m,h={i}");
            let hash = crate::lineproto::series_hash(key.as_bytes());
            b.begin_point_hashed(key.as_bytes(), hash, b"m", i, 2, SchemaToken(tok));
            b.push_field(b"a", &FieldValue::Integer(-i));
            b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"xy")));
        }
        let mut it = b.iter();
        let (mut fields, mut values) = (Vec::new(), &[][..]);
        let mut seen = Vec::new();
        while let Some(h) = it.next_raw(&mut fields, &mut values) {
            let h = h.unwrap();
            seen.push((h.timestamp_ns, h.same_schema, fields.len(), values.to_vec()));
        }
        let mut raw = vec![FieldType::Integer as u8];
        raw.extend_from_slice(&(-1i64).to_le_bytes());
        raw.push(FieldType::String as u8);
        raw.extend_from_slice(&2u32.to_le_bytes());
        raw.extend_from_slice(b"xy");
        assert_eq!(
            seen,
            vec![
                (0, false, 2, vec![]),
                (1, true, 0, raw),
                (2, false, 2, vec![])
            ]
        );
    }

    /// A `same_schema` point with nothing before it cannot be read: an error, not a guess.
    #[test]
    fn same_schema_without_a_previous_point_is_corrupt() {
        let mut b = Batch::default();
        b.begin_point_hashed(
            b"m",
            crate::lineproto::series_hash(b"m"),
            b"m",
            1,
            1,
            SchemaToken(5),
        );
        b.push_field(b"v", &FieldValue::Integer(1));
        b.begin_point_hashed(
            b"m,a=2",
            crate::lineproto::series_hash(b"m,a=2"),
            b"m",
            2,
            1,
            SchemaToken(5),
        );
        b.push_field(b"v", &FieldValue::Integer(2));
        let second = 4 + u32::from_le_bytes(b.buf[..4].try_into().unwrap()) as usize;
        let tail = &b.buf[second..];
        assert_eq!(tail[4], SAME_SCHEMA, "the second point is the packed one");
        assert!(BatchIter::new(tail).next().unwrap().is_err());
        assert!(BatchIter::new(tail).next_head().unwrap().is_err());
    }

    #[test]
    fn truncated_buffer_is_an_error_not_a_panic() {
        let mut b = Batch::default();
        b.begin_point(b"cpu", b"cpu", 1, 1);
        b.push_field(b"s", &FieldValue::String(Cow::Borrowed(b"hello")));
        for cut in 0..b.buf.len() {
            let r: Result<Vec<_>, _> = BatchIter::new(&b.buf[..cut]).collect();
            assert!(cut == 0 || r.is_err(), "cut at {cut} decoded");
        }
    }
}
