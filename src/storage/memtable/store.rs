//! `Memtable` and its (db, rp) stores (`DbStore`): the series index (interned keys, `SeriesMeta`,
//! a `HashTable` keyed by the series hash the batch carries), interned measurement and field
//! names, and the arena of record chunks; and the apply path that appends a batch's points to
//! them, with series admission.
//!
//! Everything a point passes through on its way into the memtable is in this file
//! (`Memtable::apply_admitting` down to `DbStore::reserve_record` and the arena accessors), so
//! that it is compiled as one codegen unit (see the module doc).

use super::records::{CHUNK_ALIGN, CHUNK_HEADER, FIXED_FIELD, NO_CHUNK, RECORD_HEAD};
use super::{Admit, ApplyError, DbRpKey};
use crate::lineproto::{FieldType, FieldValue};
use crate::shard::batch::{encode_value, Batch, BatchIter, CorruptBatch, FIXED_VALUE};
use hashbrown::{HashMap, HashTable};

/// The memtable of one partition.
#[derive(Default)]
pub struct Memtable {
    pub(super) dbs: HashMap<(String, String), DbStore>,
    /// Emptied chunk arenas of sealed memtables, reused by new (db, rp) stores: an arena grows
    /// to tens of MB, and a fresh one costs a page fault per 4 KiB on every seal cycle.
    pub(super) spare_arenas: Vec<Vec<u8>>,
}

/// A series of a store (32 bytes): its key in `DbStore::keys`, measurement id, chunk chain,
/// record count and newest time.
#[derive(Clone, Copy)]
pub(super) struct SeriesMeta {
    key_offset: u32,
    key_len: u32,
    pub(super) measurement: u32,
    /// First and last chunk of the series' records (`NO_CHUNK`: none).
    pub(super) first: u32,
    pub(super) last: u32,
    /// Records written (sizes the columns when sealing), and `OUT_OF_ORDER`.
    points: u32,
    /// The newest time written (`i64::MIN`: none).
    pub(super) newest: i64,
}

/// `SeriesMeta::points`' flag: a record came with a time older than the series' newest.
const OUT_OF_ORDER: u32 = 1 << 31;

impl SeriesMeta {
    /// Records written.
    pub(super) fn points(&self) -> usize {
        (self.points & !OUT_OF_ORDER) as usize
    }

    /// Whether every record came with a time at or after the ones before it: the newest
    /// records are then the last ones written (`Memtable::scan`'s newest edge reads only them).
    pub(super) fn in_order(&self) -> bool {
        self.points & OUT_OF_ORDER == 0
    }
}

/// `apply_admitting`'s series id for a point whose series was refused (no series gets it).
const REFUSED: u32 = u32::MAX;
/// A series' chunks double up to this capacity (bounds the unused tail per series).
const CHUNK_GROW_MAX: usize = 4096;

/// Interned names (measurements or field keys): id -> bytes, bytes -> id.
#[derive(Clone, Default)]
pub(super) struct Names {
    pub(super) names: Vec<Box<[u8]>>,
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

    pub(super) fn get(&self, id: u32) -> &[u8] {
        self.names.get(id as usize).map_or(&[][..], |n| &n[..])
    }
}

/// The index hashes series keys with `lineproto::series_hash`, so the hash the decoder computed
/// (carried in the batch) is used as is.
fn key_hash(key: &[u8]) -> u64 {
    crate::lineproto::series_hash(key)
}

/// The little-endian `u32` at `at` of `buf` (0 past its end).
pub(super) fn get_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Writes `v` little-endian at `at` of `buf` (nothing past its end).
fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(b) = buf.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// A record field from its id and an 8-byte value in batch form (type, value): fixed-size
/// moves, no memcpy call.
#[inline(always)]
fn put_fixed_field(out: &mut [u8; FIXED_FIELD], id: u16, value: &[u8; FIXED_VALUE]) {
    // Three stores straight into the chunk (id, type, value): a whole 11-byte field built
    // aside is spilled to the stack and read back per field.
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

/// One (db, rp) of a memtable: its series index, interned names and chunk arena.
#[derive(Default)]
pub(super) struct DbStore {
    keys: Vec<u8>,
    pub(super) series: Vec<SeriesMeta>,
    index: HashTable<u32>,
    pub(super) measurements: Names,
    pub(super) fields: Names,
    /// The record chunks of every series, up to `chunks_top`. Past it, the buffer may hold
    /// old bytes of a recycled arena: a new chunk is laid over them without zeroing them first
    /// (its header is written, and every record byte is written before its chunk's `used`
    /// covers it; nothing reads a chunk past `used`).
    pub(super) chunks: Vec<u8>,
    chunks_top: usize,
    pub(super) points: u64,
    /// The field names (and ids) of the last point appended, by position.
    recent_fields: Vec<(Vec<u8>, u16)>,
    /// One record being built (reused).
    scratch: Vec<u8>,
}

/// Field positions remembered by `DbStore::recent_fields`.
const RECENT_FIELDS_MAX: usize = 64;

impl DbStore {
    pub(super) fn key(&self, m: SeriesMeta) -> &[u8] {
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

    pub(super) fn add_series(
        &mut self,
        key: &[u8],
        h: u64,
        measurement: &[u8],
    ) -> Result<u32, ApplyError> {
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
            newest: i64::MIN,
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
            let dst = self.reserve_record(sid, ts, RECORD_HEAD + ids.len() * FIXED_FIELD)?;
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
        let dst = self.reserve_record(sid, ts, RECORD_HEAD + ids.len() * 2 + values.len())?;
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
    pub(super) fn put_record(&mut self, sid: u32, rec: &[u8]) -> Result<(), ApplyError> {
        let ts = rec
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(i64::MIN, i64::from_le_bytes);
        self.reserve_record(sid, ts, rec.len())?
            .copy_from_slice(rec);
        Ok(())
    }

    /// Room for a record of `len` bytes at the end of series `sid`'s last chunk, or of a new
    /// one; the point (at time `ts`) is counted. The caller fills every byte of the answer.
    fn reserve_record(&mut self, sid: u32, ts: i64, len: usize) -> Result<&mut [u8], ApplyError> {
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
            if m.points() < (OUT_OF_ORDER - 1) as usize {
                m.points += 1;
            }
            if ts < m.newest {
                m.points |= OUT_OF_ORDER;
            } else {
                m.newest = ts;
            }
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

    /// Bytes held, for the sealing bound: the chunk arena by its used length (its buffer may
    /// be a recycled one of a sealed memtable, already resident and counted once), the rest by
    /// capacity.
    pub(super) fn bytes(&self) -> usize {
        self.keys.capacity()
            + self.series.capacity() * std::mem::size_of::<SeriesMeta>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.chunks_top
    }
}

impl Memtable {
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
}
