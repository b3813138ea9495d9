//! The owned, flat form of a batch of points that crosses cores (and, later, lands in the WAL).
//!
//! One `Batch` holds the points of one request for one owner core and one (db, rp). It is a single
//! byte buffer, so a fan-out costs one allocation per owner, not one per point or per field.
//!
//! Layout of one point (all integers little-endian, fixed width):
//!
//! | bytes | what |
//! | --- | --- |
//! | 4 | series key length K |
//! | K | canonical series key (escaped form, tags sorted) |
//! | 8 | `lineproto::series_hash` of the key (the decoder's, carried so no core hashes it again) |
//! | 2 | measurement length M |
//! | M | measurement, unescaped |
//! | 8 | timestamp, ns (i64) |
//! | 2 | field count F |
//! | F × field | `2` key length, key (unescaped), `1` type (FieldType as u8), value: 8 bytes for float (bits) / integer / unsigned, 1 byte for boolean, `4` length + bytes for string |

use crate::lineproto::{FieldType, FieldValue};
use std::borrow::Cow;

/// The points of one request for one owner core, in line order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub buf: Vec<u8>,
    pub points: u32,
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
}

/// Why a batch buffer could not be read: only a bug or a corrupt WAL record gets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("corrupt batch at byte {offset}")]
pub struct CorruptBatch {
    pub offset: usize,
}

impl Batch {
    /// Appends the head of a point; follow with `push_field` exactly `field_count` times.
    pub fn begin_point(
        &mut self,
        series_key: &[u8],
        measurement: &[u8],
        ts: i64,
        field_count: u16,
    ) {
        let hash = crate::lineproto::series_hash(series_key);
        self.begin_point_hashed(series_key, hash, measurement, ts, field_count);
    }

    /// `begin_point` with the key's `lineproto::series_hash` already known (the decoder's).
    pub fn begin_point_hashed(
        &mut self,
        series_key: &[u8],
        series_hash: u64,
        measurement: &[u8],
        ts: i64,
        field_count: u16,
    ) {
        debug_assert_eq!(series_hash, crate::lineproto::series_hash(series_key));
        self.buf
            .extend_from_slice(&(series_key.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(series_key);
        self.buf.extend_from_slice(&series_hash.to_le_bytes());
        self.buf
            .extend_from_slice(&(measurement.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(measurement);
        self.buf.extend_from_slice(&ts.to_le_bytes());
        self.buf.extend_from_slice(&field_count.to_le_bytes());
        self.points += 1;
    }

    pub fn push_field(&mut self, key: &[u8], value: &FieldValue<'_>) {
        self.buf
            .extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(key);
        self.buf.push(value.field_type() as u8);
        match value {
            FieldValue::Float(v) => self.buf.extend_from_slice(&v.to_bits().to_le_bytes()),
            FieldValue::Integer(v) => self.buf.extend_from_slice(&v.to_le_bytes()),
            FieldValue::Unsigned(v) => self.buf.extend_from_slice(&v.to_le_bytes()),
            FieldValue::Boolean(v) => self.buf.push(*v as u8),
            FieldValue::String(s) => {
                self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.buf.extend_from_slice(s);
            }
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
        );
        for (k, v) in &p.fields {
            self.push_field(k, v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// The points in the order they were added.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            buf: &self.buf,
            pos: 0,
        }
    }
}

/// Iterates the points of a batch buffer (a `Batch`, or a WAL record payload).
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter { buf, pos: 0 }
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

    fn read_into(
        &mut self,
        fields: &mut Vec<(&'a [u8], FieldValue<'a>)>,
    ) -> Result<PointHead<'a>, CorruptBatch> {
        let key_len = u32::from_le_bytes(self.take_array()?) as usize;
        let series_key = self.take(key_len)?;
        let series_hash = u64::from_le_bytes(self.take_array()?);
        let m_len = u16::from_le_bytes(self.take_array()?) as usize;
        let measurement = self.take(m_len)?;
        let timestamp_ns = i64::from_le_bytes(self.take_array()?);
        let n = u16::from_le_bytes(self.take_array()?) as usize;
        fields.clear();
        for _ in 0..n {
            fields.push(self.read_field()?);
        }
        Ok(PointHead {
            series_key,
            series_hash,
            measurement,
            timestamp_ns,
        })
    }

    fn read_field(&mut self) -> Result<(&'a [u8], FieldValue<'a>), CorruptBatch> {
        let k_len = u16::from_le_bytes(self.take_array()?) as usize;
        let key = self.take(k_len)?;
        let at = self.pos;
        let ty =
            FieldType::from_u8(self.take_array::<1>()?[0]).ok_or(CorruptBatch { offset: at })?;
        let value = match ty {
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
        };
        Ok((key, value))
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
