//! The in-memory part of a partition: per (db, rp) an interned series index and, per series, a
//! chain of record chunks.
//!
//! Memory per series is the point of this layout (high-cardinality users): a series costs its key
//! bytes once (in one arena), a 24-byte `SeriesMeta` and one 4-byte slot in a `HashTable` —
//! no allocation of its own. Its points go to chunks in one shared arena: the first chunk is
//! exactly as large as the first point (a one-point series wastes nothing), each later one twice
//! the previous, up to `CHUNK_GROW_MAX`. Sealing then reads each series' points front to back,
//! with no sort and no jumping through the whole memtable (one log shared by every series, in
//! arrival order, costs a cache miss per point when read back series by series).
//!
//! Writes only append. The same series and timestamp written twice resolve when read: fields
//! merge and the later write wins, as in InfluxDB ("Duplicate points").
//!
//! Chunk (little-endian, at a 4-byte aligned offset of the arena): `u32` next chunk (in 4-byte
//! units, `NO_CHUNK` = none), `u32` bytes used, `u32` capacity, then records.
//! Record: `i64` time, `u16` field count, then per field `u16` field id, `u8` FieldType, value
//! (8 bytes for float/integer/unsigned, 1 for boolean, `u32` length + bytes for string).
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | the public types; `Memtable`'s bookkeeping (arena reuse, drops, counts) |
//! | `store.rs` | `Memtable` and its (db, rp) stores: series index, names, chunk arena; apply |
//! | `records.rs` | the chunk and record layout above, read back: chunk walk, `RecordReader` |
//! | `delete.rs` | `Memtable::delete`: a store rebuilt without the points a delete covers |
//! | `scan.rs` | `Memtable::scan`: the rows of the series a `ScanRequest` matches |
//! | `seal.rs` | sealing: the seal plan, a series' records as segment columns |
//! | `tests/` | unit tests, one file per part (`store.rs`, `scan.rs`, `seal.rs`) |
//!
//! Where an item is defined decides how it is compiled: rustc splits the crate into codegen
//! units by module (4 units in the release profile), a type's methods going with the module that
//! defines the type, and a call from one unit into another is inlined only if thin LTO imports
//! the callee. `Memtable` is therefore defined in `store.rs`, next to `DbStore` and the arena
//! accessors (`get_u32`, `put_u32`), so that the apply path, `Memtable::apply_admitting` down to
//! `DbStore::reserve_record`, is one unit: its per-point callees (`append_raw`, `append`,
//! `series_id`, `field_id`) are inlined into `apply_admitting`. With `Memtable` defined in
//! `mod.rs` those four are out-of-line calls per point, and with `get_u32` in `records.rs`
//! `reserve_record` takes 3 more instructions per row (callgrind, `examples/apply_probe`).

mod delete;
mod records;
mod scan;
mod seal;
mod store;

#[cfg(test)]
mod tests;

use crate::lineproto::FieldType;
use crate::shard::batch::CorruptBatch;
use hashbrown::HashMap;
use store::DbStore;

pub use super::scan::SeriesRows;
pub(crate) use scan::merge_same_times;
pub use store::Memtable;

/// What `apply` could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Corrupt(#[from] CorruptBatch),
    #[error("memtable full: too many distinct {0} in one partition")]
    Full(&'static str),
}

/// Asked by `Memtable::apply_admitting` whether to store a series new to the memtable:
/// (series key, series hash, measurement).
pub type Admit<'a> = &'a mut dyn FnMut(&[u8], u64, &[u8]) -> bool;

/// A field type found in stored data: (db, rp, measurement, field, type).
pub type KnownField = (String, String, Vec<u8>, Vec<u8>, FieldType);

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

/// Arenas kept for reuse (one memtable fills while one seals).
const SPARE_ARENAS_MAX: usize = 2;

impl Memtable {
    pub fn new() -> Self {
        Self::default()
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

    /// Every series held as (db, rp, key, measurement).
    pub fn series_keys(&self) -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for ((db, rp), store) in &self.dbs {
            for m in &store.series {
                out.push((
                    db.clone(),
                    rp.clone(),
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
