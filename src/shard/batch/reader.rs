//! Walking a batch buffer: whole points ([`BatchIter`] as an iterator), heads with the fields
//! into the caller's vector (`next_into`), heads only (`next_head`), and heads with a
//! `SAME_SCHEMA` point's value bytes undecoded (`next_raw`, the memtable's walk).

use super::{Batch, BatchPoint, CorruptBatch, KEY_REF, REPEAT_HEAD, SAME_SCHEMA};
use crate::lineproto::{FieldType, FieldValue};
use std::borrow::Cow;

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
/// size per-point vectors of a reader up front: grown by doubling, they would be copied a dozen
/// times per batch.
pub fn points_hint(bytes: usize) -> usize {
    bytes / 100
}

impl Batch {
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
    /// their raw bytes (per field: `1` type, value, as in the module layout; keys are those of
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
    /// `PointHead` built once from what was read, as `next_repeat` does. `read_head` builds,
    /// moves and patches the head on the stack, and a 16-byte copy of it then reads parts just
    /// stored 8 bytes at a time, which cannot be forwarded from the store buffer and waits for
    /// it to drain, behind the stores of earlier points' records to memory not in the cache
    /// (perf: a fifth of the server's time on that copy when every point of a batch is its
    /// series' first). Anything else is left to the general path.
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
