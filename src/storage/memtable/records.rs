//! The byte layout of chunks and records (see the module doc) and reading it back: a series'
//! chunks walked in write order (`ChunkIter`, with the next chunk prefetched), its records
//! (`DbStore::records`) and their fields (`RecordReader`). A short read means a bug and ends the
//! walk instead of panicking.

use super::store::{get_u32, DbStore, SeriesMeta};
use crate::lineproto::{FieldType, FieldValue};
use std::borrow::Cow;

/// "No chunk" in chunk links.
pub(super) const NO_CHUNK: u32 = u32::MAX;
/// Chunks start at multiples of this many bytes; links count in these units (so an arena can
/// reach 16 GiB with `u32` links).
pub(super) const CHUNK_ALIGN: usize = 4;
/// A chunk's header: next link, bytes used, capacity (`u32` each).
pub(super) const CHUNK_HEADER: usize = 12;

/// A record's head: time (`i64`) and field count (`u16`).
pub(super) const RECORD_HEAD: usize = 10;
/// A record's field with an 8-byte value (float, integer, unsigned): `u16` id, `u8` type, value.
pub(super) const FIXED_FIELD: usize = 11;

impl DbStore {
    /// The used bytes of each chunk of a series, in write order.
    pub(super) fn chunks_of(&self, m: SeriesMeta) -> ChunkIter<'_> {
        ChunkIter {
            arena: &self.chunks,
            next: m.first,
        }
    }

    /// The series' records of its newest time, when a walk of its last chunk finds them all: it
    /// was written in time order (those records are the last written) and its last chunk
    /// starts with an older time (or is its only chunk). The series as `records` then walks
    /// only that chunk.
    pub(super) fn newest_tail(&self, m: SeriesMeta) -> Option<SeriesMeta> {
        if !m.in_order() || m.last == NO_CHUNK {
            return None;
        }
        let mut tail = m;
        tail.first = m.last;
        if m.first == m.last {
            return Some(tail);
        }
        let (first_ts, _, _) = self.records(tail).next()?;
        (first_ts < m.newest).then_some(tail)
    }

    /// Every record of a series in write order, as (time, arena offset of its field count, reader
    /// standing at its field count).
    pub(super) fn records(
        &self,
        m: SeriesMeta,
    ) -> impl Iterator<Item = (i64, usize, RecordReader<'_>)> + '_ {
        self.chunks_of(m).flat_map(move |(base, data)| {
            let mut pos = 0;
            std::iter::from_fn(move || {
                let mut rd = RecordReader { buf: data, pos };
                let ts = rd.i64()?;
                let n = rd.u16()?;
                let fields_at = rd.pos;
                for _ in 0..n {
                    rd.skip_field()?;
                }
                pos = rd.pos;
                Some((
                    ts,
                    base + fields_at - 2,
                    RecordReader {
                        buf: data,
                        pos: fields_at - 2,
                    },
                ))
            })
        })
    }
}

impl DbStore {
    /// Every record of a series in write order, as (time, the record's bytes).
    pub(super) fn record_bytes(&self, m: SeriesMeta) -> impl Iterator<Item = (i64, &[u8])> + '_ {
        self.chunks_of(m).flat_map(move |(_, data)| {
            let mut pos = 0;
            std::iter::from_fn(move || {
                let mut rd = RecordReader { buf: data, pos };
                let ts = rd.i64()?;
                let n = rd.u16()?;
                for _ in 0..n {
                    rd.skip_field()?;
                }
                let rec = data.get(pos..rd.pos)?;
                pos = rd.pos;
                Some((ts, rec))
            })
        })
    }
}

/// Walks a series' chunks: (arena offset of the chunk's data, its used bytes).
pub(super) struct ChunkIter<'a> {
    arena: &'a [u8],
    next: u32,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == NO_CHUNK {
            return None;
        }
        let at = self.next as usize * CHUNK_ALIGN;
        let next = get_u32(self.arena, at);
        // A link never points backwards or to itself (chunks are allocated in order); a
        // corrupt one ends the walk instead of looping.
        self.next = if next != NO_CHUNK && next <= self.next {
            NO_CHUNK
        } else {
            next
        };
        if self.next != NO_CHUNK {
            crate::simd::prefetch(self.arena, self.next as usize * CHUNK_ALIGN);
        }
        let used = get_u32(self.arena, at + 4) as usize;
        let data = self
            .arena
            .get(at + CHUNK_HEADER..at + CHUNK_HEADER + used)?;
        Some((at + CHUNK_HEADER, data))
    }
}

/// Reads records written by `DbStore::append`; a short read means a bug, and ends the walk
/// instead of panicking.
pub(super) struct RecordReader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> RecordReader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }

    /// One field: (field id, type, value).
    pub(super) fn field(&mut self) -> Option<(u16, FieldValue<'a>)> {
        let id = self.u16()?;
        let ty = FieldType::from_u8(*self.take(1)?.first()?)?;
        let v = match ty {
            FieldType::Float => FieldValue::Float(f64::from_bits(self.u64()?)),
            FieldType::Integer => FieldValue::Integer(self.u64()? as i64),
            FieldType::Unsigned => FieldValue::Unsigned(self.u64()?),
            FieldType::Boolean => FieldValue::Boolean(*self.take(1)?.first()? != 0),
            FieldType::String => {
                let len = self.u32()? as usize;
                FieldValue::String(Cow::Borrowed(self.take(len)?))
            }
        };
        Some((id, v))
    }

    /// Steps over one field without reading its value.
    pub(super) fn skip_field(&mut self) -> Option<()> {
        self.take(2)?;
        let ty = FieldType::from_u8(*self.take(1)?.first()?)?;
        skip_value(self, ty)
    }

    /// The record's fields (the reader stands at its field count).
    pub(super) fn fields(&mut self, out: &mut Vec<(u16, FieldValue<'a>)>) -> Option<()> {
        out.clear();
        let n = self.u16()?;
        for _ in 0..n {
            out.push(self.field()?);
        }
        Some(())
    }
}

pub(super) fn skip_value(rd: &mut RecordReader<'_>, ty: FieldType) -> Option<()> {
    match ty {
        FieldType::Float | FieldType::Integer | FieldType::Unsigned => rd.take(8).map(|_| ()),
        FieldType::Boolean => rd.take(1).map(|_| ()),
        FieldType::String => {
            let len = rd.u32()?;
            rd.take(len as usize).map(|_| ())
        }
    }
}
