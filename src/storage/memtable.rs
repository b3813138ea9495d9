//! The in-memory part of a partition: per (db, rp) an interned series index and, per series, a
//! chain of record chunks.
//!
//! Memory per series is the point of this layout (high-cardinality users): a series costs its key
//! bytes once (in one arena), a 24-byte `SeriesMeta` and one 4-byte slot in a `HashTable` —
//! no allocation of its own. Its points go to chunks in one shared arena: the first chunk is
//! exactly as large as the first point (a one-point series wastes nothing), each later one twice
//! the previous, up to `CHUNK_GROW_MAX`. Sealing then reads each series' points front to back,
//! with no sort and no jumping through the whole memtable (one shared log in arrival order would
//! need a sort of every point and a cache miss per point to be read back series by series).
//!
//! Writes only append. The same series and timestamp written twice resolve when read: fields
//! merge and the later write wins, as in InfluxDB ("Duplicate points").
//!
//! Chunk (little-endian, at a 4-byte aligned offset of the arena): `u32` next chunk (in 4-byte
//! units, `NO_CHUNK` = none), `u32` bytes used, `u32` capacity, then records.
//! Record: `i64` time, `u16` field count, then per field `u16` field id, `u8` FieldType, value
//! (8 bytes for float/integer/unsigned, 1 for boolean, `u32` length + bytes for string).

use crate::lineproto::{FieldType, FieldValue};
use crate::shard::batch::{encode_value, Batch, BatchIter, CorruptBatch, FIXED_VALUE};
use hashbrown::{HashMap, HashTable};
use std::borrow::Cow;

pub use super::scan::SeriesRows;
use super::scan::{FieldKey, PointFields, ScanRequest};
use super::segment::{ColumnData, SeriesData, Values};

/// What `apply` could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Corrupt(#[from] CorruptBatch),
    #[error("memtable full: too many distinct {0} in one partition")]
    Full(&'static str),
}

#[derive(Clone, Copy)]
struct SeriesMeta {
    key_offset: u32,
    key_len: u32,
    measurement: u32,
    /// First and last chunk of the series' records (`NO_CHUNK`: none).
    first: u32,
    last: u32,
    /// Records written (sizes the columns when sealing).
    points: u32,
}

/// "No chunk" in chunk links.
const NO_CHUNK: u32 = u32::MAX;
/// Asked by `Memtable::apply_admitting` whether to store a series new to the memtable:
/// (series key, series hash, measurement).
pub type Admit<'a> = &'a mut dyn FnMut(&[u8], u64, &[u8]) -> bool;

/// `apply_admitting`'s series id for a point whose series was refused (no series gets it).
const REFUSED: u32 = u32::MAX;
/// Chunks start at multiples of this many bytes; links count in these units (so an arena can
/// reach 16 GiB with `u32` links).
const CHUNK_ALIGN: usize = 4;
const CHUNK_HEADER: usize = 12;
/// A series' chunks double up to this capacity (bounds the unused tail per series).
const CHUNK_GROW_MAX: usize = 4096;

/// Interned names (measurements or field keys): id -> bytes, bytes -> id.
#[derive(Default)]
struct Names {
    names: Vec<Box<[u8]>>,
    ids: HashMap<Box<[u8]>, u32>,
}

impl Names {
    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn get(&self, id: u32) -> &[u8] {
        self.names.get(id as usize).map_or(&[][..], |n| &n[..])
    }
}

/// The index hashes series keys with `lineproto::series_hash`, so the hash the decoder computed
/// (carried in the batch) is used as is.
fn key_hash(key: &[u8]) -> u64 {
    crate::lineproto::series_hash(key)
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(b) = buf.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// A record's head: time (`i64`) and field count (`u16`).
const RECORD_HEAD: usize = 10;
/// A record's field with an 8-byte value (float, integer, unsigned): `u16` id, `u8` type, value.
const FIXED_FIELD: usize = 11;

/// A record field from its id and an 8-byte value in batch form (type, value): fixed-size
/// moves, no memcpy call.
#[inline(always)]
fn put_fixed_field(out: &mut [u8; FIXED_FIELD], id: u16, value: &[u8; FIXED_VALUE]) {
    // Three stores straight into the chunk (id, type, value): a whole 11-byte field built
    // aside would be spilled to the stack and read back per field.
    let (id_out, rest) = out.split_at_mut(2);
    id_out.copy_from_slice(&id.to_le_bytes());
    rest[0] = value[0];
    rest[1..].copy_from_slice(&value[1..]);
}

/// The length of the batch-form value at `pos` of `values` (type byte included), if whole.
/// `skip_value` steps over the same encoding in a record; going through a `RecordReader` here
/// costs ~50 more instructions per TSBS row in `apply_buf` (callgrind), so the lengths are read
/// directly.
#[inline]
fn raw_value_len(values: &[u8], pos: usize) -> Option<usize> {
    let len = match FieldType::from_u8(*values.get(pos)?)? {
        FieldType::Float | FieldType::Integer | FieldType::Unsigned => FIXED_VALUE,
        FieldType::Boolean => 2,
        FieldType::String => {
            let b = values.get(pos + 1..pos + 5)?;
            5 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
    };
    (pos.checked_add(len)? <= values.len()).then_some(len)
}

#[derive(Default)]
struct DbStore {
    keys: Vec<u8>,
    series: Vec<SeriesMeta>,
    index: HashTable<u32>,
    measurements: Names,
    fields: Names,
    /// The record chunks of every series, up to `chunks_top`. Past it, the buffer may hold
    /// old bytes of a recycled arena: a new chunk is laid over them without zeroing them first
    /// (its header is written, and every record byte is written before its chunk's `used`
    /// covers it; nothing reads a chunk past `used`).
    chunks: Vec<u8>,
    chunks_top: usize,
    points: u64,
    /// The field names (and ids) of the last point appended, by position.
    recent_fields: Vec<(Vec<u8>, u16)>,
    /// One record being built (reused).
    scratch: Vec<u8>,
}

/// Field positions remembered by `DbStore::recent_fields`.
const RECENT_FIELDS_MAX: usize = 64;

impl DbStore {
    fn key(&self, m: SeriesMeta) -> &[u8] {
        let start = m.key_offset as usize;
        self.keys
            .get(start..start + m.key_len as usize)
            .unwrap_or(&[])
    }

    /// The id of series `key`, added if this store does not hold it yet; with `admit`, a new
    /// series is first put to it: `REFUSED` when it says no (nothing is added then).
    fn series_id(
        &mut self,
        key: &[u8],
        h: u64,
        measurement: &[u8],
        admit: Option<&mut Admit<'_>>,
    ) -> Result<u32, ApplyError> {
        if let Some(id) = self.find_series(key, h) {
            return Ok(id);
        }
        if admit.is_some_and(|a| !a(key, h, measurement)) {
            return Ok(REFUSED);
        }
        self.add_series(key, h, measurement)
    }

    fn find_series(&self, key: &[u8], h: u64) -> Option<u32> {
        let DbStore {
            keys,
            series,
            index,
            ..
        } = self;
        index
            .find(h, |&id| {
                let m = series[id as usize];
                &keys[m.key_offset as usize..(m.key_offset + m.key_len) as usize] == key
            })
            .copied()
    }

    fn add_series(&mut self, key: &[u8], h: u64, measurement: &[u8]) -> Result<u32, ApplyError> {
        let key_offset =
            u32::try_from(self.keys.len()).map_err(|_| ApplyError::Full("series key bytes"))?;
        let key_len = u32::try_from(key.len()).map_err(|_| ApplyError::Full("series key bytes"))?;
        key_offset
            .checked_add(key_len)
            .ok_or(ApplyError::Full("series key bytes"))?;
        let id = u32::try_from(self.series.len())
            .ok()
            .filter(|&id| id != REFUSED)
            .ok_or(ApplyError::Full("series"))?;
        let measurement = self.measurements.intern(measurement);
        self.keys.extend_from_slice(key);
        self.series.push(SeriesMeta {
            key_offset,
            key_len,
            measurement,
            first: NO_CHUNK,
            last: NO_CHUNK,
            points: 0,
        });
        let DbStore {
            keys,
            series,
            index,
            ..
        } = self;
        index.insert_unique(h, id, |&i| {
            let m = series[i as usize];
            key_hash(&keys[m.key_offset as usize..(m.key_offset + m.key_len) as usize])
        });
        Ok(id)
    }

    /// The interned id of field key `name` at position `i` of a point. Points usually repeat the
    /// previous point's field keys in the same order: `recent_fields` answers those.
    fn field_id(&mut self, i: usize, name: &[u8]) -> Result<u16, ApplyError> {
        if let Some((n, id)) = self.recent_fields.get(i) {
            if n[..] == *name {
                return Ok(*id);
            }
        }
        let id = self.fields.intern(name);
        let id = u16::try_from(id).map_err(|_| ApplyError::Full("field keys"))?;
        if i < RECENT_FIELDS_MAX {
            self.recent_fields.truncate(i);
            self.recent_fields.push((name.to_vec(), id));
        }
        Ok(id)
    }

    /// A new empty chunk with room for `cap` bytes; returns its link.
    fn alloc_chunk(&mut self, cap: usize) -> Result<u32, ApplyError> {
        let at = self.chunks_top.next_multiple_of(CHUNK_ALIGN);
        let full = ApplyError::Full("memtable bytes");
        let link = u32::try_from(at / CHUNK_ALIGN)
            .ok()
            .filter(|&l| l != NO_CHUNK)
            .ok_or(full.clone())?;
        let cap32 = u32::try_from(cap).map_err(|_| full)?;
        let end = at + CHUNK_HEADER + cap;
        if end > self.chunks.len() {
            self.chunks.resize(end, 0);
        }
        self.chunks_top = end;
        put_u32(&mut self.chunks, at, NO_CHUNK);
        put_u32(&mut self.chunks, at + 4, 0);
        put_u32(&mut self.chunks, at + 8, cap32);
        Ok(link)
    }

    /// Appends one point to series `sid`; `ids[i]` is the interned id of `fields[i]`'s key.
    fn append(
        &mut self,
        sid: u32,
        ts: i64,
        ids: &[u16],
        fields: &[(&[u8], FieldValue<'_>)],
    ) -> Result<(), ApplyError> {
        let n = u16::try_from(fields.len()).map_err(|_| ApplyError::Full("fields in one point"))?;
        let mut rec = std::mem::take(&mut self.scratch);
        rec.clear();
        rec.extend_from_slice(&ts.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        for (id, (_, value)) in ids.iter().zip(fields) {
            if let FieldValue::String(s) = value {
                u32::try_from(s.len()).map_err(|_| ApplyError::Full("string bytes"))?;
            }
            rec.extend_from_slice(&id.to_le_bytes());
            encode_value(&mut rec, value);
        }
        let r = self.put_record(sid, &rec);
        self.scratch = rec;
        r
    }

    /// `append` for values in batch form (per field: `u8` type, value; the layout of
    /// `shard::batch`), which differs from a record's only by the field ids in front. The
    /// values are checked first, then the record is written straight into the series' chunk
    /// (no record built aside and copied again).
    fn append_raw(
        &mut self,
        sid: u32,
        ts: i64,
        ids: &[u16],
        values: &[u8],
    ) -> Result<(), ApplyError> {
        let n = u16::try_from(ids.len()).map_err(|_| ApplyError::Full("fields in one point"))?;
        // The common case: every value is a float, integer or unsigned, which the length and
        // one look at each type byte prove; each field is then a fixed-size move.
        if values.len() == ids.len() * FIXED_VALUE
            && values
                .chunks_exact(FIXED_VALUE)
                .all(|v| FieldType::is_fixed_code(v[0]))
        {
            let dst = self.reserve_record(sid, RECORD_HEAD + ids.len() * FIXED_FIELD)?;
            let (head, rest) = dst.split_at_mut(RECORD_HEAD);
            head[..8].copy_from_slice(&ts.to_le_bytes());
            head[8..].copy_from_slice(&n.to_le_bytes());
            let slots = rest.chunks_exact_mut(FIXED_FIELD);
            for ((out, src), id) in slots.zip(values.chunks_exact(FIXED_VALUE)).zip(ids) {
                if let (Ok(out), Ok(src)) = (out.try_into(), src.try_into()) {
                    put_fixed_field(out, *id, src);
                }
            }
            return Ok(());
        }
        let mut pos = 0;
        for _ in ids {
            match raw_value_len(values, pos) {
                Some(len) => pos += len,
                None => return Err(ApplyError::Corrupt(CorruptBatch { offset: pos })),
            }
        }
        if pos != values.len() {
            return Err(ApplyError::Corrupt(CorruptBatch { offset: pos }));
        }
        let dst = self.reserve_record(sid, RECORD_HEAD + ids.len() * 2 + values.len())?;
        let (head, mut rest) = dst.split_at_mut(RECORD_HEAD);
        head[..8].copy_from_slice(&ts.to_le_bytes());
        head[8..].copy_from_slice(&n.to_le_bytes());
        let mut pos = 0;
        for id in ids {
            // Checked above: every length is known and the values end exactly at `values.len()`.
            let len = raw_value_len(values, pos).unwrap_or(0);
            let (out, tail) = rest.split_at_mut(2 + len);
            let src = &values[pos..pos + len];
            match (
                <&mut [u8; FIXED_FIELD]>::try_from(&mut *out),
                <&[u8; FIXED_VALUE]>::try_from(src),
            ) {
                // A float, integer or unsigned among other values.
                (Ok(out), Ok(src)) => put_fixed_field(out, *id, src),
                _ => {
                    out[..2].copy_from_slice(&id.to_le_bytes());
                    out[2..].copy_from_slice(src);
                }
            }
            rest = tail;
            pos += len;
        }
        Ok(())
    }

    /// Copies a built record into series `sid`'s last chunk, or a new one.
    fn put_record(&mut self, sid: u32, rec: &[u8]) -> Result<(), ApplyError> {
        self.reserve_record(sid, rec.len())?.copy_from_slice(rec);
        Ok(())
    }

    /// Room for a record of `len` bytes at the end of series `sid`'s last chunk, or of a new
    /// one; the point is counted. The caller fills every byte of the answer.
    fn reserve_record(&mut self, sid: u32, len: usize) -> Result<&mut [u8], ApplyError> {
        let meta = *self
            .series
            .get(sid as usize)
            .ok_or(ApplyError::Full("series"))?;
        let mut chunk = None;
        let mut next_cap = len;
        if meta.last != NO_CHUNK {
            let at = meta.last as usize * CHUNK_ALIGN;
            let used = get_u32(&self.chunks, at + 4) as usize;
            let cap = get_u32(&self.chunks, at + 8) as usize;
            if used + len <= cap {
                chunk = Some(meta.last);
            } else {
                next_cap = (cap * 2).clamp(64, CHUNK_GROW_MAX).max(len);
            }
        }
        let link = match chunk {
            Some(c) => c,
            None => {
                let c = self.alloc_chunk(next_cap)?;
                if meta.last == NO_CHUNK {
                    self.series[sid as usize].first = c;
                } else {
                    put_u32(&mut self.chunks, meta.last as usize * CHUNK_ALIGN, c);
                }
                self.series[sid as usize].last = c;
                c
            }
        };
        let at = link as usize * CHUNK_ALIGN;
        let used = get_u32(&self.chunks, at + 4) as usize;
        put_u32(&mut self.chunks, at + 4, (used + len) as u32);
        self.points += 1;
        if let Some(m) = self.series.get_mut(sid as usize) {
            m.points = m.points.saturating_add(1);
        }
        let start = at + CHUNK_HEADER + used;
        // The series' next record goes right after this one, usually a thousand points later
        // (a metric agent's series take turns): ask now for the lines it will write past this
        // record's last one (its first new line and its end), so that its stores do not wait on
        // memory. A fresh line costs a read from memory before the store (an RFO): on TSBS
        // batches `apply/tsbs_5000_lines` takes 257 µs with these two prefetches, 525 with the
        // first alone, 572 with neither.
        crate::simd::prefetch_write(&self.chunks, start + len + 64);
        crate::simd::prefetch_write(&self.chunks, start + 2 * len);
        self.chunks
            .get_mut(start..start + len)
            .ok_or(ApplyError::Full("memtable bytes"))
    }

    /// The used bytes of each chunk of a series, in write order.
    fn chunks_of(&self, m: SeriesMeta) -> ChunkIter<'_> {
        ChunkIter {
            arena: &self.chunks,
            next: m.first,
        }
    }

    /// Every record of a series in write order, as (time, reader positioned at its fields).
    fn records(&self, m: SeriesMeta) -> impl Iterator<Item = (i64, usize, RecordReader<'_>)> + '_ {
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

    /// Bytes held, for the sealing bound: the chunk arena by its used length (its buffer may
    /// be a recycled one of a sealed memtable, already resident and counted once), the rest by
    /// capacity.
    fn bytes(&self) -> usize {
        self.keys.capacity()
            + self.series.capacity() * std::mem::size_of::<SeriesMeta>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.chunks_top
    }
}

/// Walks a series' chunks: (arena offset of the chunk's data, its used bytes).
struct ChunkIter<'a> {
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
struct RecordReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RecordReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }

    /// One field: (field id, type, value).
    fn field(&mut self) -> Option<(u16, FieldValue<'a>)> {
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
    fn skip_field(&mut self) -> Option<()> {
        self.take(2)?;
        let ty = FieldType::from_u8(*self.take(1)?.first()?)?;
        skip_value(self, ty)
    }

    /// The record's fields (the reader stands at its field count).
    fn fields(&mut self, out: &mut Vec<(u16, FieldValue<'a>)>) -> Option<()> {
        out.clear();
        let n = self.u16()?;
        for _ in 0..n {
            out.push(self.field()?);
        }
        Some(())
    }
}

/// One (db, rp) of a memtable being sealed: its series in key order.
pub struct SealPlan {
    pub db: String,
    pub rp: String,
    series: Vec<u32>,
}

impl SealPlan {
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// A field type found in stored data: (db, rp, measurement, field, type).
pub type KnownField = (String, String, Vec<u8>, Vec<u8>, FieldType);

/// The memtable of one partition.
#[derive(Default)]
pub struct Memtable {
    dbs: HashMap<(String, String), DbStore>,
    /// Emptied chunk arenas of sealed memtables, reused by new (db, rp) stores: an arena grows
    /// to tens of MB, and a fresh one costs a page fault per 4 KiB on every seal cycle.
    spare_arenas: Vec<Vec<u8>>,
}

/// Arenas kept for reuse (one memtable fills while one seals).
const SPARE_ARENAS_MAX: usize = 2;

impl Memtable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies every point of `batch` (already schema-checked) to the memtable.
    pub fn apply(&mut self, db: &str, rp: &str, batch: &Batch) -> Result<u32, ApplyError> {
        self.apply_buf(db, rp, &batch.buf)
    }

    /// `apply` for a batch buffer (a `Batch`'s, or a WAL record's payload).
    pub fn apply_buf(&mut self, db: &str, rp: &str, batch: &[u8]) -> Result<u32, ApplyError> {
        self.apply_admitting(db, rp, batch, None, &mut Vec::new())
    }

    /// `apply_buf` with series admission (`max-series-per-database`, `max-values-per-tag`):
    /// each series this memtable does not hold yet is put to `admit` (key, series hash,
    /// measurement) at its first point; when it says no, that point and the later points of
    /// the series in this batch are not stored, and their numbers are pushed to `refused` (in
    /// batch order). A series the memtable holds was admitted before and is not asked about:
    /// the admission costs nothing per point of a known series.
    pub fn apply_admitting(
        &mut self,
        db: &str,
        rp: &str,
        batch: &[u8],
        mut admit: Option<Admit<'_>>,
        refused: &mut Vec<u32>,
    ) -> Result<u32, ApplyError> {
        let store = match self.dbs.get_mut(&(db, rp) as &dyn DbRpKey) {
            Some(s) => s,
            None => {
                let chunks = self.spare_arenas.pop().unwrap_or_default();
                self.dbs
                    .entry((db.to_string(), rp.to_string()))
                    .or_insert_with(|| DbStore {
                        chunks,
                        ..DbStore::default()
                    })
            }
        };
        let mut n = 0;
        let mut fields = Vec::new();
        let mut ids: Vec<u16> = Vec::new();
        // Series id per point number: a point of a series already seen in this batch reuses it.
        let mut sids: Vec<u32> = Vec::with_capacity(crate::shard::batch::points_hint(batch.len()));
        let mut values: &[u8] = &[];
        let mut iter = BatchIter::new(batch);
        while let Some(p) = iter.next_raw(&mut fields, &mut values) {
            let p = p?;
            let id = match sids.get(p.first_of_series as usize) {
                Some(&id) if p.first_of_series != p.number => id,
                _ => store.series_id(p.series_key, p.series_hash, p.measurement, admit.as_mut())?,
            };
            sids.push(id);
            // A point with the previous point's field keys reuses their ids, and its values are
            // copied as they are in the batch.
            if p.same_schema {
                if id == REFUSED {
                    refused.push(p.number);
                    continue;
                }
                store.append_raw(id, p.timestamp_ns, &ids, values)?;
                n += 1;
                continue;
            }
            // The ids are made for a refused point too: the next point may take its keys.
            ids.clear();
            for (i, (name, _)) in fields.iter().enumerate() {
                ids.push(store.field_id(i, name)?);
            }
            if id == REFUSED {
                refused.push(p.number);
                continue;
            }
            store.append(id, p.timestamp_ns, &ids, &fields)?;
            n += 1;
        }
        Ok(n)
    }

    /// Reads the series of one (db, rp) that match the request: rows sorted by time, the same
    /// time merged (later write wins), fields sorted by name.
    pub fn scan(&self, req: &ScanRequest) -> Vec<SeriesRows> {
        let Some(store) = self
            .dbs
            .get(&(req.db.as_str(), req.rp.as_str()) as &dyn DbRpKey)
        else {
            return Vec::new();
        };
        let wanted_m: Vec<bool> = store
            .measurements
            .names
            .iter()
            .map(|m| req.measurements.matches(m))
            .collect();
        if !wanted_m.iter().any(|&w| w) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut fields = Vec::new();
        let names: Vec<FieldKey> = store.fields.names.iter().map(|n| n[..].into()).collect();
        for &meta in &store.series {
            if !wanted_m
                .get(meta.measurement as usize)
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let tags = crate::shard::key::parse_tags(store.key(meta));
            if !req.condition.matches_tags(&tags) {
                continue;
            }
            let mut points: Vec<(i64, PointFields)> = Vec::new();
            for (ts, _, mut rd) in store.records(meta) {
                if !req.condition.matches_time(ts) || rd.fields(&mut fields).is_none() {
                    continue;
                }
                let owned = fields
                    .drain(..)
                    .map(|(id, v)| {
                        let name = names.get(usize::from(id)).cloned();
                        (name.unwrap_or_else(|| [].into()), v.into_owned())
                    })
                    .collect();
                points.push((ts, owned));
            }
            if points.is_empty() {
                continue;
            }
            points.sort_by_key(|p| p.0); // stable: equal times keep write order
            out.push(SeriesRows {
                measurement: store.measurements.get(meta.measurement).to_vec(),
                tags,
                points: merge_same_times(points),
            });
        }
        out.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
        out
    }

    /// A new, empty memtable that takes over this one's spare arenas.
    pub fn take_for_next(&mut self) -> Memtable {
        Memtable {
            dbs: HashMap::new(),
            spare_arenas: std::mem::take(&mut self.spare_arenas),
        }
    }

    /// Keeps the chunk arenas of a sealed memtable for reuse (their bytes stay: a new store
    /// starts at `chunks_top` 0 and lays its chunks over them without zeroing).
    pub fn recycle(&mut self, sealed: Memtable) {
        for (_, store) in sealed.dbs {
            if self.spare_arenas.len() >= SPARE_ARENAS_MAX {
                break;
            }
            self.spare_arenas.push(store.chunks);
        }
    }

    /// Forgets every (rp) store of `db`.
    pub fn drop_database(&mut self, db: &str) {
        self.dbs.retain(|(d, _), _| d != db);
    }

    /// Forgets one retention policy's data.
    pub fn drop_retention_policy(&mut self, db: &str, rp: &str) {
        self.dbs.remove(&(db, rp) as &dyn DbRpKey);
    }

    /// Number of series held (used by tests).
    pub fn series_count(&self) -> usize {
        self.dbs.values().map(|s| s.series.len()).sum()
    }

    /// Number of points held (duplicates included).
    pub fn point_count(&self) -> u64 {
        self.dbs.values().map(|s| s.points).sum()
    }

    /// Bytes the memtable holds, for the sealing bound.
    pub fn memtable_bytes(&self) -> usize {
        self.dbs.values().map(DbStore::bytes).sum()
    }

    /// The whole memtable as sealed-segment input: per (db, rp), the series in key order, each
    /// with its rows sorted by time and duplicates merged (later write wins).
    pub fn seal_data(&self) -> Vec<(String, String, Vec<SeriesData>)> {
        self.seal_plan()
            .into_iter()
            .map(|plan| {
                let series = (0..plan.len())
                    .filter_map(|i| self.seal_series(&plan, i))
                    .collect();
                (plan.db, plan.rp, series)
            })
            .collect()
    }

    /// The first, cheap step of sealing: per (db, rp), the series holding points, in key order.
    /// `seal_series` then builds one series at a time, so a caller can yield between series.
    pub fn seal_plan(&self) -> Vec<SealPlan> {
        let mut out = Vec::new();
        for ((db, rp), store) in &self.dbs {
            let mut series: Vec<u32> = (0..store.series.len() as u32)
                .filter(|&i| store.series[i as usize].first != NO_CHUNK)
                .collect();
            series.sort_unstable_by(|&a, &b| {
                store
                    .key(store.series[a as usize])
                    .cmp(store.key(store.series[b as usize]))
            });
            out.push(SealPlan {
                db: db.clone(),
                rp: rp.clone(),
                series,
            });
        }
        out
    }

    /// Series `i` of a seal plan as segment input.
    pub fn seal_series(&self, plan: &SealPlan, i: usize) -> Option<SeriesData> {
        let store = self
            .dbs
            .get(&(plan.db.as_str(), plan.rp.as_str()) as &dyn DbRpKey)?;
        let meta = *store.series.get(*plan.series.get(i)? as usize)?;
        let (times, columns) = build_columns(store, meta);
        Some(SeriesData {
            key: store.key(meta).to_vec(),
            measurement: store.measurements.get(meta.measurement).to_vec(),
            times,
            columns,
        })
    }

    /// Every series held as (db, key, measurement).
    pub fn series_keys(&self) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for ((db, _), store) in &self.dbs {
            for m in &store.series {
                out.push((
                    db.clone(),
                    store.key(*m).to_vec(),
                    store.measurements.get(m.measurement).to_vec(),
                ));
            }
        }
        out
    }

    /// Whether the memtable holds no point.
    pub fn is_empty(&self) -> bool {
        self.dbs.values().all(|s| s.points == 0)
    }

    /// Every (db, rp, measurement, field, type) held: re-registers field types at start-up.
    pub fn field_types(&self) -> Vec<KnownField> {
        let mut seen = hashbrown::HashSet::new();
        let mut out = Vec::new();
        for ((db, rp), store) in &self.dbs {
            let mut fields = Vec::new();
            for &meta in &store.series {
                for (_, _, mut rd) in store.records(meta) {
                    if rd.fields(&mut fields).is_none() {
                        continue;
                    }
                    for (fid, v) in &fields {
                        if seen.insert((db.as_str(), rp.as_str(), meta.measurement, *fid)) {
                            out.push((
                                db.clone(),
                                rp.clone(),
                                store.measurements.get(meta.measurement).to_vec(),
                                store.fields.get(u32::from(*fid)).to_vec(),
                                v.field_type(),
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

/// A series' records as segment columns: rows sorted by time, rows of the same time merged
/// (fields unioned, the later write wins). Records are usually written in time order, and are
/// then read once, front to back; a series written out of order is sorted first (stably, so the
/// later write of a time still wins).
fn build_columns(store: &DbStore, meta: SeriesMeta) -> (Vec<i64>, Vec<ColumnData>) {
    uniform_columns(store, meta).unwrap_or_else(|| general_columns(store, meta))
}

/// `build_columns` for the common series: every record holds the same fields (ids and types,
/// in the same order, no id twice), all 8-byte values. One pass over the records checks that
/// and fills every column (each field's id and type are compared as one word; each value is
/// pushed where it goes); a gather per column over the records' places afterwards would read
/// the series' records 1 + fields times, at ~3x the instructions. Rows out of time order are
/// sorted (stably); of rows with the same time the last written wins, which is the general
/// path's merge when every row has the same fields. `None` for any other series.
fn uniform_columns(store: &DbStore, meta: SeriesMeta) -> Option<(Vec<i64>, Vec<ColumnData>)> {
    let rows = meta.points as usize;
    let mut layout: Vec<[u8; 3]> = Vec::new();
    // Each field's (id, type) bytes as a word, to compare a record's with.
    let mut heads: Vec<u32> = Vec::new();
    let mut cols: Vec<Vec<u64>> = Vec::new();
    let mut times: Vec<i64> = Vec::with_capacity(rows);
    let mut sorted = true;
    for (_, data) in store.chunks_of(meta) {
        let mut pos = 0;
        // The head is read in one bounds check, not through a `RecordReader` (one per part:
        // ~25 more instructions per TSBS row, callgrind).
        while pos < data.len() {
            crate::simd::prefetch(data, pos + SEAL_PREFETCH_AHEAD);
            let head: [u8; RECORD_HEAD] = data.get(pos..pos + RECORD_HEAD)?.try_into().ok()?;
            let ts = i64::from_le_bytes(head[..8].try_into().ok()?);
            let n = usize::from(u16::from_le_bytes([head[8], head[9]]));
            let body = pos + RECORD_HEAD;
            let fields = data.get(body..body + n * FIXED_FIELD)?;
            if layout.is_empty() {
                layout = uniform_layout(fields)?;
                heads = layout
                    .iter()
                    .map(|l| u32::from_le_bytes([l[0], l[1], l[2], 0]))
                    .collect();
                cols = layout.iter().map(|_| Vec::with_capacity(rows)).collect();
            }
            if n != heads.len() {
                return None;
            }
            for ((f, &h), col) in fields
                .chunks_exact(FIXED_FIELD)
                .zip(&heads)
                .zip(cols.iter_mut())
            {
                let f: &[u8; FIXED_FIELD] = f.try_into().ok()?;
                if u32::from_le_bytes([f[0], f[1], f[2], 0]) != h {
                    return None;
                }
                let [_, _, _, v @ ..] = *f;
                col.push(u64::from_le_bytes(v));
            }
            sorted &= times.last().map_or(true, |&last| last < ts);
            times.push(ts);
            pos = body + n * FIXED_FIELD;
        }
    }
    if !sorted {
        if let Some(runs) = disjoint_runs(&times) {
            // Runs that do not overlap in time: the sorted rows are the runs one after another
            // (copied whole; no time is in two runs, so nothing merges).
            for col in &mut cols {
                *col = runs.iter().flat_map(|r| &col[r.clone()]).copied().collect();
            }
            times = runs
                .iter()
                .flat_map(|r| &times[r.clone()])
                .copied()
                .collect();
            return Some((times, finish_uniform(store, &layout, cols)));
        }
        let mut order: Vec<u32> = (0..times.len() as u32).collect();
        order.sort_by_key(|&i| times[i as usize]);
        // Of a run of equal times keep the last (the latest write: the sort is stable).
        let keep = |k: usize| {
            order.get(k + 1).map_or(true, |&next| {
                times[next as usize] != times[order[k] as usize]
            })
        };
        let kept: Vec<u32> = (0..order.len())
            .filter(|&k| keep(k))
            .map(|k| order[k])
            .collect();
        for col in &mut cols {
            *col = kept.iter().map(|&i| col[i as usize]).collect();
        }
        times = kept.iter().map(|&i| times[i as usize]).collect();
    }
    Some((times, finish_uniform(store, &layout, cols)))
}

/// Most runs [`disjoint_runs`] orders; more take the sort.
const DISJOINT_RUNS_MAX: usize = 16;

/// A series' rows that are a few runs of strictly increasing times, no two runs overlapping
/// (a client that sent older data again, or filled a gap): the runs (index ranges) in time
/// order. `None` when runs overlap, share a time or are too many: the rows are then sorted.
/// The columns are then the runs copied whole, instead of a sort and a gather of every value
/// through the sorted order.
fn disjoint_runs(times: &[i64]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=times.len() {
        if i == times.len() || times[i] <= times[i - 1] {
            if runs.len() == DISJOINT_RUNS_MAX {
                return None;
            }
            runs.push(start..i);
            start = i;
        }
    }
    runs.sort_unstable_by_key(|r| times[r.start]);
    runs.windows(2)
        .all(|w| times[w[0].end - 1] < times[w[1].start])
        .then_some(runs)
}

/// `uniform_columns`' columns as segment columns.
fn finish_uniform(store: &DbStore, layout: &[[u8; 3]], cols: Vec<Vec<u64>>) -> Vec<ColumnData> {
    layout
        .iter()
        .zip(cols)
        .map(|(l, col)| {
            let rows = col.len();
            // Same-size maps: collected in place, no copy.
            let values = match FieldType::from_u8(l[2]) {
                Some(FieldType::Float) => {
                    Values::Float(col.into_iter().map(f64::from_bits).collect())
                }
                Some(FieldType::Unsigned) => Values::Unsigned(col),
                _ => Values::Integer(col.into_iter().map(|v| v as i64).collect()),
            };
            let id = u16::from_le_bytes([l[0], l[1]]);
            ColumnData {
                name: store.fields.get(u32::from(id)).to_vec(),
                values,
                valid: vec![true; rows],
            }
        })
        .collect()
}

/// How far ahead of the record it reads `uniform_columns` asks for a chunk's bytes.
const SEAL_PREFETCH_AHEAD: usize = 640;

/// The (id, type) heads of a record's fields if they suit `uniform_columns`: all 8-byte
/// values, no id twice.
fn uniform_layout(fields: &[u8]) -> Option<Vec<[u8; 3]>> {
    let layout: Vec<[u8; 3]> = fields
        .chunks_exact(FIXED_FIELD)
        .map(|f| [f[0], f[1], f[2]])
        .collect();
    let distinct = |i: usize| layout[..i].iter().all(|o| o[..2] != layout[i][..2]);
    let fits = |i: usize| FieldType::is_fixed_code(layout[i][2]) && distinct(i);
    (!layout.is_empty() && (0..layout.len()).all(fits)).then_some(layout)
}

/// `build_columns` for any series, record by record through a `ColumnBuilder`.
fn general_columns(store: &DbStore, meta: SeriesMeta) -> (Vec<i64>, Vec<ColumnData>) {
    let mut b = ColumnBuilder::with_rows(meta.points as usize);
    let mut in_order = true;
    'chunks: for (_, data) in store.chunks_of(meta) {
        let mut rd = RecordReader { buf: data, pos: 0 };
        while rd.pos < data.len() {
            let Some(ts) = rd.i64() else { break };
            if b.times.last().is_some_and(|&last| ts < last) {
                in_order = false;
                break 'chunks;
            }
            if !b.add_common(ts, &mut rd) && b.add(store, ts, &mut rd).is_none() {
                break;
            }
        }
    }
    if in_order {
        return b.finish();
    }
    let mut rows: Vec<(i64, usize)> = store.records(meta).map(|(ts, at, _)| (ts, at)).collect();
    rows.sort_by_key(|r| r.0);
    let mut b = ColumnBuilder::with_rows(rows.len());
    for (ts, at) in rows {
        let mut rd = RecordReader {
            buf: &store.chunks,
            pos: at,
        };
        if !b.add_common(ts, &mut rd) {
            let _ = b.add(store, ts, &mut rd);
        }
    }
    b.finish()
}

/// Builds a series' columns row by row (rows in time order).
#[derive(Default)]
struct ColumnBuilder {
    times: Vec<i64>,
    /// Field id of each column; a point's i-th field is usually column i.
    ids: Vec<u16>,
    columns: Vec<ColumnData>,
}

impl ColumnBuilder {
    /// A builder with room for `rows` rows (columns get the same room when created).
    fn with_rows(rows: usize) -> Self {
        ColumnBuilder {
            times: Vec::with_capacity(rows),
            ..ColumnBuilder::default()
        }
    }

    /// `add` for the common record: a new time, the same fields in the same order as the
    /// columns so far, all 8-byte values (float, integer, unsigned). Checks everything first and
    /// changes nothing (reader included) when the record is not such a one.
    fn add_common(&mut self, ts: i64, rd: &mut RecordReader<'_>) -> bool {
        let row = self.times.len();
        let n = self.ids.len();
        let Some(head) = rd.buf.get(rd.pos..rd.pos + 2) else {
            return false;
        };
        if n == 0 || usize::from(u16::from_le_bytes([head[0], head[1]])) != n {
            return false;
        }
        if self.times.last().is_some_and(|&t| t == ts) {
            return false;
        }
        let body = rd.pos + 2;
        let Some(fields) = rd.buf.get(body..body + n * FIXED_FIELD) else {
            return false;
        };
        for ((f, &id), c) in fields
            .chunks_exact(FIXED_FIELD)
            .zip(&self.ids)
            .zip(&self.columns)
        {
            let ty = c.values.field_type();
            let fixed = matches!(
                ty,
                FieldType::Float | FieldType::Integer | FieldType::Unsigned
            );
            if !fixed
                || u16::from_le_bytes([f[0], f[1]]) != id
                || f[2] != ty as u8
                || c.valid.len() != row
            {
                return false;
            }
        }
        self.times.push(ts);
        for (f, c) in fields.chunks_exact(FIXED_FIELD).zip(&mut self.columns) {
            let mut v = [0u8; 8];
            v.copy_from_slice(&f[3..]);
            let v = u64::from_le_bytes(v);
            c.valid.push(true);
            match &mut c.values {
                Values::Float(x) => x.push(f64::from_bits(v)),
                Values::Integer(x) => x.push(v as i64),
                Values::Unsigned(x) => x.push(v),
                // Excluded by the check above.
                Values::Boolean(_) | Values::String(_) => {}
            }
        }
        rd.pos = body + n * FIXED_FIELD;
        true
    }

    /// Adds one record (the reader stands at its field count) at time `ts`, leaving the reader
    /// after it; `None` when the record is cut short (a bug: the walk ends).
    fn add(&mut self, store: &DbStore, ts: i64, rd: &mut RecordReader<'_>) -> Option<()> {
        let n = rd.u16()?;
        if self.times.last() != Some(&ts) {
            self.times.push(ts);
        }
        let row = self.times.len() - 1;
        for i in 0..n as usize {
            let (Some(id), Some(ty)) =
                (rd.u16(), rd.take(1).and_then(|b| FieldType::from_u8(b[0])))
            else {
                return None;
            };
            let ci = match self.ids.get(i) {
                Some(&c) if c == id => i,
                _ => match self.ids.iter().position(|&c| c == id) {
                    Some(ci) => ci,
                    None => {
                        self.ids.push(id);
                        self.columns.push(new_column(
                            store.fields.get(u32::from(id)),
                            ty,
                            row,
                            self.times.capacity(),
                        ));
                        self.columns.len() - 1
                    }
                },
            };
            let c = &mut self.columns[ci];
            if c.values.field_type() != ty {
                // Types are fixed per measurement before points reach storage; skip the value.
                skip_value(rd, ty)?;
                continue;
            }
            // Rows this column has no value for (yet) stay invalid; a second write of the same
            // time replaces the value.
            let fresh = c.valid.len() <= row;
            if fresh {
                pad_column(c, row);
                c.valid.push(true);
            } else if let Some(v) = c.valid.get_mut(row) {
                *v = true;
            }
            let ok = match (&mut c.values, ty) {
                (Values::Float(v), FieldType::Float) => {
                    rd.u64().map(|x| set_or_push(v, fresh, f64::from_bits(x)))
                }
                (Values::Integer(v), FieldType::Integer) => {
                    rd.u64().map(|x| set_or_push(v, fresh, x as i64))
                }
                (Values::Unsigned(v), FieldType::Unsigned) => {
                    rd.u64().map(|x| set_or_push(v, fresh, x))
                }
                (Values::Boolean(v), FieldType::Boolean) => {
                    rd.take(1).map(|b| set_or_push(v, fresh, b[0] != 0))
                }
                (Values::String(v), FieldType::String) => rd
                    .u32()
                    .and_then(|len| rd.take(len as usize))
                    .map(|b| set_or_push(v, fresh, b.to_vec())),
                (_, ty) => skip_value(rd, ty),
            };
            ok?;
        }
        Some(())
    }

    fn finish(mut self) -> (Vec<i64>, Vec<ColumnData>) {
        for c in &mut self.columns {
            pad_column(c, self.times.len());
        }
        (self.times, self.columns)
    }
}

fn set_or_push<T>(v: &mut Vec<T>, fresh: bool, x: T) {
    match v.last_mut() {
        Some(slot) if !fresh => *slot = x,
        _ => v.push(x),
    }
}

fn skip_value(rd: &mut RecordReader<'_>, ty: FieldType) -> Option<()> {
    match ty {
        FieldType::Float | FieldType::Integer | FieldType::Unsigned => rd.take(8).map(|_| ()),
        FieldType::Boolean => rd.take(1).map(|_| ()),
        FieldType::String => {
            let len = rd.u32()?;
            rd.take(len as usize).map(|_| ())
        }
    }
}

/// A column of `ty` with `rows` invalid rows, room for `capacity`.
fn new_column(name: &[u8], ty: FieldType, rows: usize, capacity: usize) -> ColumnData {
    let values = match ty {
        FieldType::Float => Values::Float(Vec::with_capacity(capacity)),
        FieldType::Integer => Values::Integer(Vec::with_capacity(capacity)),
        FieldType::Unsigned => Values::Unsigned(Vec::with_capacity(capacity)),
        FieldType::Boolean => Values::Boolean(Vec::with_capacity(capacity)),
        FieldType::String => Values::String(Vec::with_capacity(capacity)),
    };
    let mut c = ColumnData {
        name: name.to_vec(),
        values,
        valid: Vec::with_capacity(capacity),
    };
    pad_column(&mut c, rows);
    c
}

/// Extends a column with invalid rows up to `rows` rows.
fn pad_column(c: &mut ColumnData, rows: usize) {
    if c.valid.len() >= rows {
        return;
    }
    c.valid.resize(rows, false);
    match &mut c.values {
        Values::Float(v) => v.resize(rows, 0.0),
        Values::Integer(v) => v.resize(rows, 0),
        Values::Unsigned(v) => v.resize(rows, 0),
        Values::Boolean(v) => v.resize(rows, false),
        Values::String(v) => v.resize(rows, Vec::new()),
    }
}

/// Sorted rows with equal times merged into one: union of fields, later write wins.
pub(crate) fn merge_same_times(points: Vec<(i64, PointFields)>) -> Vec<(i64, PointFields)> {
    let mut out: Vec<(i64, PointFields)> = Vec::with_capacity(points.len());
    for (ts, mut fields) in points {
        match out.last_mut() {
            Some((t, merged)) if *t == ts => merged.append(&mut fields),
            // A point's own fields are kept as they are (no copy into a new list).
            _ => out.push((ts, fields)),
        }
    }
    for (_, fields) in &mut out {
        // Stable: of equal keys, the later write (or the later of a key repeated in one line)
        // comes last, and wins.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
    }
    out
}

/// Looks up a `(String, String)` map key with borrowed `(&str, &str)`, so a write allocates no key.
trait DbRpKey {
    fn key(&self) -> (&str, &str);
}

impl DbRpKey for (String, String) {
    fn key(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl DbRpKey for (&str, &str) {
    fn key(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn DbRpKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn DbRpKey + 'a) {
        self
    }
}

impl std::hash::Hash for dyn DbRpKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl PartialEq for dyn DbRpKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn DbRpKey + '_ {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::batch::{NewPoint, SchemaToken};
    use crate::storage::scan::{Condition, MeasurementMatch};

    fn key(name: &[u8]) -> FieldKey {
        name.into()
    }

    type TestPoint<'a> = (&'a [u8], i64, Vec<(&'a [u8], FieldValue<'static>)>);

    fn batch(points: &[TestPoint<'_>]) -> Batch {
        let mut b = Batch::default();
        for (key, ts, fields) in points {
            let m = key.split(|&c| c == b',').next().unwrap_or(key);
            b.begin_point(NewPoint::new(key, m, *ts, fields.len() as u16));
            for (k, v) in fields {
                b.push_field(k, v);
            }
        }
        b
    }

    fn all(db: &str, rp: &str) -> ScanRequest {
        ScanRequest {
            db: db.into(),
            rp: rp.into(),
            measurements: MeasurementMatch::Regex(regex::bytes::Regex::new(".").unwrap()),
            condition: Condition::default(),
        }
    }

    /// Points that repeat an earlier series and the field keys of the point before (the
    /// batch's `KEY_REF | SAME_SCHEMA` form, what the write path sends for TSBS rows), applied
    /// to a memtable whose arena is a recycled one still full of other bytes: every value reads
    /// back exactly, and nothing of the old memtable shows. Fails if a new chunk's record bytes
    /// are not all written (the arena is not zeroed first) or if the repeated-point path
    /// of the batch reader or of `append_raw` misplaces a value.
    #[test]
    fn repeated_points_on_a_recycled_arena_read_back_exactly() {
        // Strings and bools: `append_raw` walks each value's length.
        repeated_points_read_back(|key, t| {
            vec![
                (&b"i"[..], FieldValue::Integer(t * 3)),
                (b"b", FieldValue::Boolean(t % 2 == 0)),
                (b"f", FieldValue::Float(t as f64 / 4.0)),
                (
                    b"s",
                    FieldValue::String(Cow::Owned(format!("{key}{t}").into_bytes())),
                ),
            ]
        });
        // Only 8-byte values: `append_raw`'s fixed-size path.
        repeated_points_read_back(|key, t| {
            vec![
                (&b"u"[..], FieldValue::Unsigned(u64::MAX - t as u64)),
                (b"i", FieldValue::Integer(i64::MIN + t)),
                (
                    b"f",
                    FieldValue::Float(-(t as f64) / 4.0 - key.len() as f64),
                ),
            ]
        });
    }

    /// Applies 40 points of each of three series, each repeating the field keys of the point
    /// before, to a recycled arena and checks that they read back exactly.
    fn repeated_points_read_back(
        fields: impl Fn(&str, i64) -> Vec<(&'static [u8], FieldValue<'static>)>,
    ) {
        let mut first = Memtable::new();
        let mut old = Batch::default();
        for i in 0..300 {
            let key = format!("old,h={i}");
            old.begin_point(NewPoint::new(key.as_bytes(), b"old", i, 2));
            old.push_field(b"s", &FieldValue::String(Cow::Owned(vec![0xAB; 200])));
            old.push_field(b"i", &FieldValue::Integer(-1));
        }
        first.apply("db", "autogen", &old).unwrap();
        let mut second = first.take_for_next();
        second.recycle(first);

        let mut b = Batch::default();
        let token = SchemaToken(1);
        for t in 0..40i64 {
            for key in ["m,h=a", "m,h=b", "m,h=c"] {
                let f = fields(key, t);
                let head = NewPoint::new(key.as_bytes(), b"m", t, f.len() as u16);
                if b.begin_point(head.with_token(token)) {
                    f.iter().for_each(|(_, v)| b.push_value(v));
                } else {
                    f.iter().for_each(|(k, v)| b.push_field(k, v));
                }
            }
        }
        assert_eq!(second.apply("db", "autogen", &b).unwrap(), 120);
        let rows = second.scan(&all("db", "autogen"));
        assert_eq!(rows.len(), 3, "only the new series");
        for (row, key) in rows.iter().zip(["m,h=a", "m,h=b", "m,h=c"]) {
            assert_eq!(row.measurement, b"m");
            let want: Vec<(i64, PointFields)> = (0..40i64)
                .map(|t| {
                    let mut f: PointFields = fields(key, t)
                        .into_iter()
                        .map(|(k, v)| (k[..].into(), v))
                        .collect();
                    f.sort_by(|a, b| a.0.cmp(&b.0));
                    (t, f)
                })
                .collect();
            assert_eq!(row.points, want, "{key}");
        }
        assert_eq!(second.point_count(), 120);
    }

    #[test]
    fn same_series_and_time_merge_fields_later_wins() {
        let mut p = Memtable::new();
        let b = batch(&[
            (
                b"cpu,host=a",
                10,
                vec![
                    (b"x", FieldValue::Integer(1)),
                    (b"y", FieldValue::Float(1.0)),
                ],
            ),
            (b"cpu,host=a", 5, vec![(b"x", FieldValue::Integer(0))]),
            (b"cpu,host=a", 10, vec![(b"x", FieldValue::Integer(2))]),
            (
                b"cpu,host=b",
                10,
                vec![
                    (b"x", FieldValue::Integer(3)),
                    (b"x", FieldValue::Integer(4)),
                ],
            ),
        ]);
        assert_eq!(p.apply("db", "autogen", &b).unwrap(), 4);
        let mut req = all("db", "autogen");
        req.measurements = MeasurementMatch::Name("cpu".into());
        let rows = p.scan(&req);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].tags, vec![(b"host".to_vec(), b"a".to_vec())]);
        assert_eq!(
            rows[0].points,
            vec![
                (5, vec![(key(b"x"), FieldValue::Integer(0))]),
                (
                    10,
                    vec![
                        (key(b"x"), FieldValue::Integer(2)),
                        (key(b"y"), FieldValue::Float(1.0))
                    ]
                ),
            ]
        );
        assert_eq!(
            rows[1].points,
            vec![(10, vec![(key(b"x"), FieldValue::Integer(4))])]
        );
        assert_eq!(p.series_count(), 2);
        assert_eq!(p.point_count(), 4);
    }

    #[test]
    fn time_range_tags_and_drop() {
        let mut p = Memtable::new();
        let b = batch(&[
            (b"m,h=a", 1, vec![(b"v", FieldValue::Boolean(true))]),
            (b"m,h=b", 2, vec![(b"v", FieldValue::Boolean(false))]),
            (
                b"n",
                2,
                vec![(b"s", FieldValue::String(Cow::Borrowed(b"x")))],
            ),
        ]);
        p.apply("db", "rp", &b).unwrap();
        let mut req = all("db", "rp");
        req.condition.time_min_ns = 2;
        req.condition.time_max_ns = 3;
        let rows = p.scan(&req);
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|r| r.points.len() == 1 && r.points[0].0 == 2));
        req.condition = Condition::default();
        req.condition.tags.push(crate::storage::scan::TagFilter {
            key: b"h".to_vec(),
            value: b"a".to_vec(),
            negate: false,
        });
        assert_eq!(p.scan(&req).len(), 1);
        assert_eq!(p.field_types().len(), 2);
        p.drop_database("db");
        assert!(p.scan(&all("db", "rp")).is_empty());
        assert_eq!(p.series_count(), 0);
    }

    #[test]
    fn seal_data_merges_and_sorts() {
        let mut p = Memtable::new();
        let b = batch(&[
            (b"m,h=b", 20, vec![(b"v", FieldValue::Integer(1))]),
            (
                b"m,h=a",
                20,
                vec![
                    (b"v", FieldValue::Integer(2)),
                    (b"s", FieldValue::String(Cow::Borrowed(b"x"))),
                ],
            ),
            (b"m,h=a", 10, vec![(b"v", FieldValue::Integer(3))]),
            (b"m,h=a", 20, vec![(b"v", FieldValue::Integer(4))]),
        ]);
        p.apply("db", "rp", &b).unwrap();
        let sealed = p.seal_data();
        assert_eq!(sealed.len(), 1);
        let series = &sealed[0].2;
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].key, b"m,h=a");
        assert_eq!(series[0].times, vec![10, 20]);
        let v = series[0].columns.iter().find(|c| c.name == b"v").unwrap();
        assert_eq!(v.values, Values::Integer(vec![3, 4]));
        let s = series[0].columns.iter().find(|c| c.name == b"s").unwrap();
        assert_eq!(s.valid, vec![false, true]);
    }

    #[test]
    fn disjoint_runs_orders_runs_that_do_not_overlap() {
        let one_run: Vec<std::ops::Range<usize>> = std::iter::once(0..3).collect();
        assert_eq!(disjoint_runs(&[1, 2, 3]), Some(one_run));
        assert_eq!(disjoint_runs(&[5, 6, 1, 2]), Some(vec![2..4, 0..2]));
        assert_eq!(
            disjoint_runs(&[7, 8, 4, 5, 1]),
            Some(vec![4..5, 2..4, 0..2])
        );
        // Overlapping runs, a time twice, a time repeated in a row: the sort's business.
        assert_eq!(disjoint_runs(&[1, 5, 2, 6]), None);
        assert_eq!(disjoint_runs(&[1, 2, 2, 3]), None);
        assert_eq!(disjoint_runs(&[3, 4, 1, 3]), None);
        let many: Vec<i64> = (0..=DISJOINT_RUNS_MAX as i64).rev().collect();
        assert_eq!(disjoint_runs(&many), None);
        assert!(disjoint_runs(&many[1..]).is_some());
    }

    proptest::proptest! {
        /// `uniform_columns` (the column-at-a-time fill for series whose records all have the
        /// same 8-byte fields) gives exactly what the record-by-record `general_columns` gives:
        /// same times, same columns in the same order, same values and validity, with rows out
        /// of time order and rewrites of a time. A series with a point of another shape (a
        /// field missing, another order, a field twice) is left to the general path.
        #[test]
        fn uniform_columns_agree_with_the_general_path(
            rows in proptest::collection::vec((0i64..40, -1000i64..1000), 1..80),
            odd in proptest::option::of((0usize..80, 0u8..3)),
            arrange in 0u8..4,
            cut in 0usize..80,
        ) {
            let mut rows = rows;
            if arrange > 0 {
                rows.sort_by_key(|r| r.0);
            }
            if arrange > 1 {
                // Disjoint runs (`disjoint_runs`): the sorted times once each, rotated (two
                // runs) or cut in pieces put in reverse order (many runs).
                rows.dedup_by_key(|r| r.0);
                if arrange == 2 {
                    let by = cut % rows.len();
                    rows.rotate_left(by);
                } else {
                    let pieces: Vec<Vec<(i64, i64)>> =
                        rows.chunks(1 + cut % 7).map(|c| c.to_vec()).collect();
                    rows = pieces.into_iter().rev().flatten().collect();
                }
            }
            let mut p = Memtable::new();
            let mut b = Batch::default();
            let token = SchemaToken(1);
            let odd = odd.filter(|(i, _)| *i < rows.len());
            for (i, (t, v)) in rows.iter().enumerate() {
                let mut fs: Vec<(&[u8], FieldValue<'static>)> = vec![
                    (b"i", FieldValue::Integer(*v)),
                    (b"f", FieldValue::Float(*v as f64 / 4.0)),
                    (b"u", FieldValue::Unsigned(v.unsigned_abs())),
                ];
                let mut tok = token;
                if let Some((at, kind)) = odd {
                    if at == i {
                        tok = SchemaToken::NONE;
                        match kind {
                            0 => { fs.pop(); }
                            1 => fs.swap(0, 1),
                            _ => fs.push((b"i", FieldValue::Integer(v + 1))),
                        }
                    }
                }
                let head = NewPoint::new(b"m,h=a", b"m", *t, fs.len() as u16);
                b.begin_point(head.with_token(tok));
                for (k, v) in &fs {
                    b.push_field(k, v);
                }
            }
            p.apply("db", "rp", &b).unwrap();
            let store = p.dbs.values().next().unwrap();
            let meta = store.series[0];
            let general = general_columns(store, meta);
            match uniform_columns(store, meta) {
                Some(uniform) => {
                    proptest::prop_assert!(odd.is_none());
                    proptest::prop_assert_eq!(&uniform.0, &general.0);
                    proptest::prop_assert_eq!(&uniform.1, &general.1);
                }
                None => proptest::prop_assert!(odd.is_some()),
            }
        }

        /// Sealing builds columns straight from the chunks; reading goes through `scan` and
        /// `merge_same_times`: both must agree on every series, time and field, whatever the
        /// order of writes, duplicates and missing fields (types fixed per field name, as the
        /// write path guarantees).
        #[test]
        fn sealed_columns_match_the_scan(
            points in proptest::collection::vec((0u8..4, 0i64..6, proptest::collection::vec((0u8..4, -3i64..3), 1..4)), 1..60),
            schema_tokens in proptest::bool::ANY,
        ) {
            let mut p = Memtable::new();
            let mut b = Batch::default();
            for (s, t, fields) in &points {
                let key = format!("m,h={s}");
                let mut fs: Vec<(Vec<u8>, FieldValue<'static>)> = Vec::new();
                for (f, v) in fields {
                    let name = format!("f{f}").into_bytes();
                    if fs.iter().any(|(n, _)| *n == name) {
                        continue;
                    }
                    let value = match f {
                        0 => FieldValue::Integer(*v),
                        1 => FieldValue::Float(*v as f64 / 2.0),
                        2 => FieldValue::Boolean(*v > 0),
                        _ => FieldValue::String(Cow::Owned(format!("s{v}").into_bytes())),
                    };
                    fs.push((name, value));
                }
                // Same token only for points with the same field names, as the writer does.
                let token = SchemaToken(if schema_tokens {
                    1 + fs.iter().fold(0u64, |a, (n, _)| a * 8 + u64::from(n[1]))
                } else {
                    0
                });
                let head = NewPoint::new(key.as_bytes(), b"m", *t, fs.len() as u16);
                b.begin_point(head.with_token(token));
                for (k, v) in &fs {
                    b.push_field(k, v);
                }
            }
            p.apply("db", "rp", &b).unwrap();
            let scanned = p.scan(&all("db", "rp"));
            // The model: per series, per time, the fields of every write merged, later wins.
            let mut model: std::collections::BTreeMap<String, std::collections::BTreeMap<i64, std::collections::BTreeMap<Vec<u8>, FieldValue<'static>>>> = Default::default();
            for (s, t, fields) in &points {
                let row = model.entry(format!("{s}")).or_default().entry(*t).or_default();
                let mut seen = Vec::new();
                for (f, v) in fields {
                    if seen.contains(f) {
                        continue;
                    }
                    seen.push(*f);
                    let value = match f {
                        0 => FieldValue::Integer(*v),
                        1 => FieldValue::Float(*v as f64 / 2.0),
                        2 => FieldValue::Boolean(*v > 0),
                        _ => FieldValue::String(Cow::Owned(format!("s{v}").into_bytes())),
                    };
                    row.insert(format!("f{f}").into_bytes(), value);
                }
            }
            let from_scan: Vec<(String, Vec<(i64, PointFields)>)> = scanned
                .iter()
                .map(|r| (String::from_utf8(r.tags[0].1.clone()).unwrap(), r.points.clone()))
                .collect();
            let from_model: Vec<(String, Vec<(i64, PointFields)>)> = model
                .into_iter()
                .map(|(k, rows)| (k, rows.into_iter().map(|(t, f)| (t, f.into_iter().map(|(n, v)| (n[..].into(), v)).collect())).collect()))
                .collect();
            proptest::prop_assert_eq!(from_scan, from_model);
            let sealed = p.seal_data();
            proptest::prop_assert_eq!(sealed.len(), 1);
            let series = &sealed[0].2;
            proptest::prop_assert_eq!(series.len(), scanned.len());
            for (sd, rows) in series.iter().zip(&scanned) {
                proptest::prop_assert_eq!(&sd.times, &rows.points.iter().map(|p| p.0).collect::<Vec<_>>());
                for (row, (_, fields)) in rows.points.iter().enumerate() {
                    let mut from_columns: PointFields = sd
                        .columns
                        .iter()
                        .filter_map(|c| c.get(row).map(|v| (c.name[..].into(), v.into_owned())))
                        .collect();
                    from_columns.sort_by(|a, b| a.0.cmp(&b.0));
                    proptest::prop_assert_eq!(&from_columns, fields);
                }
            }
        }
    }

    #[test]
    fn many_series_intern_once() {
        let mut p = Memtable::new();
        for round in 0..3 {
            let keys: Vec<Vec<u8>> = (0..1000)
                .map(|i| format!("cpu,id=s{i}").into_bytes())
                .collect();
            let pts: Vec<TestPoint<'_>> = keys
                .iter()
                .map(|k| (&k[..], round, vec![(&b"v"[..], FieldValue::Integer(round))]))
                .collect();
            p.apply("db", "rp", &batch(&pts)).unwrap();
        }
        assert_eq!(p.series_count(), 1000);
        let rows = p.scan(&all("db", "rp"));
        assert_eq!(rows.len(), 1000);
        assert!(rows.iter().all(|r| r.points.len() == 3));
    }
}
