//! `max-series-per-database` and `max-values-per-tag` on the owner cores.
//!
//! A series lives in exactly one partition, owned by one core, so each core admits the new
//! series of its own partitions: it keeps the set of series keys it has stored per database
//! (rebuilt from its partitions at start-up) and a `limits::CardinalityBudget` (this core's share
//! of the series limit; distinct tag values counted against the whole per-tag limit). With one
//! core the limits are exact as in 1.x; with N cores the series limit is enforced per core share
//! (limit / N, rounded up) and the tag-value limit per core, as README states. Per core because
//! an exact server-wide count would cost a cross-core call per new series. When both limits are
//! 0 nothing is tracked and nothing is spent.

use crate::config::Config;
use crate::limits::CardinalityBudget;
use hashbrown::{HashMap, HashTable};

/// What admission removed from a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refused {
    pub points: u32,
    /// 1.x's partial-write reason of the first refusal.
    pub reason: Option<String>,
}

pub struct Cardinality {
    enabled: bool,
    budget: CardinalityBudget,
    known: HashMap<String, KeySet>,
}

/// The series keys of one database: the bytes in one arena, an index keyed by
/// `lineproto::series_hash` (the hash every batch carries, so a lookup hashes nothing).
#[derive(Default)]
struct KeySet {
    bytes: Vec<u8>,
    /// (offset, length) of a key in `bytes`.
    index: HashTable<(usize, u32)>,
}

impl KeySet {
    fn key(&self, (at, len): (usize, u32)) -> &[u8] {
        self.bytes.get(at..at + len as usize).unwrap_or(&[])
    }

    fn contains(&self, key: &[u8], hash: u64) -> bool {
        self.index.find(hash, |&e| self.key(e) == key).is_some()
    }

    /// Adds `key`; false when it was there.
    fn insert(&mut self, key: &[u8], hash: u64) -> bool {
        if self.contains(key, hash) {
            return false;
        }
        let e = (self.bytes.len(), key.len() as u32);
        self.bytes.extend_from_slice(key);
        let KeySet { bytes, index } = self;
        index.insert_unique(hash, e, |&(at, len)| {
            crate::lineproto::series_hash(bytes.get(at..at + len as usize).unwrap_or(&[]))
        });
        true
    }
}

impl Cardinality {
    pub fn new(cfg: &Config, cores: usize) -> Self {
        Cardinality {
            enabled: cfg.data.max_series_per_database != 0 || cfg.data.max_values_per_tag != 0,
            budget: CardinalityBudget::new(cfg, cores),
            known: HashMap::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records a series already stored (start-up); never refuses.
    pub fn learn(&mut self, db: &str, key: &[u8], measurement: &[u8]) {
        if !self.enabled {
            return;
        }
        let set = self.known.entry_ref(db).or_default();
        if set.insert(key, crate::lineproto::series_hash(key)) {
            let _ = self
                .budget
                .admit_new_series(db, measurement, &super::key::parse_tags(key));
        }
    }

    /// Whether to store a series new to the memtable (`Memtable::apply_admitting` asks only
    /// for those: a series it holds was admitted before). Known series are kept; a new one is
    /// admitted if it fits the budget, else refused, and the first refusal's 1.x reason goes
    /// to `refused`.
    pub fn admit_series(
        &mut self,
        db: &str,
        key: &[u8],
        hash: u64,
        measurement: &[u8],
        refused: &mut Refused,
    ) -> bool {
        if !self.enabled {
            return true;
        }
        let set = self.known.entry_ref(db).or_default();
        if set.contains(key, hash) {
            return true;
        }
        let tags = super::key::parse_tags(key);
        match self.budget.admit_new_series(db, measurement, &tags) {
            Ok(()) => {
                set.insert(key, hash);
                true
            }
            Err(e) => {
                refused.reason.get_or_insert_with(|| e.to_string());
                false
            }
        }
    }

    pub fn forget_database(&mut self, db: &str) {
        self.known.remove(db);
        self.budget.forget_database(db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::FieldValue;
    use crate::shard::batch::Batch;
    use crate::storage::Memtable;

    fn batch(keys: &[&str]) -> Batch {
        let mut b = Batch::default();
        for k in keys {
            b.begin_point(k.as_bytes(), b"cpu", 1, 1);
            b.push_field(b"v", &FieldValue::Integer(1));
        }
        b
    }

    /// Applies `keys` (one point each) to `mem` with `c` admitting; the refused point numbers
    /// and the refusal, as `Partition::apply` gets them.
    fn apply(c: &mut Cardinality, mem: &mut Memtable, keys: &[&str]) -> (Vec<u32>, Refused) {
        let b = batch(keys);
        let mut refused = Refused::default();
        let mut numbers = Vec::new();
        let mut admit = |k: &[u8], h: u64, m: &[u8]| c.admit_series("db", k, h, m, &mut refused);
        mem.apply_admitting("db", "autogen", &b.buf, Some(&mut admit), &mut numbers)
            .unwrap();
        (numbers, refused)
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let mut cfg = Config::default();
        cfg.data.max_series_per_database = 2;
        cfg.data.max_values_per_tag = 0;
        let mut c = Cardinality::new(&cfg, 1);
        let mut mem = Memtable::new();
        let (numbers, r) = apply(&mut c, &mut mem, &["cpu,h=a", "cpu,h=b", "cpu,h=a"]);
        assert!(numbers.is_empty() && r.reason.is_none());
        assert_eq!(mem.point_count(), 3);
        // A new memtable (as after a seal): `a` is not in it but is known, so it is kept;
        // `c` and `d` are new and over the limit, and so is `c`'s later point.
        let mut mem = Memtable::new();
        let keys = ["cpu,h=c", "cpu,h=a", "cpu,h=d", "cpu,h=c"];
        let (numbers, r) = apply(&mut c, &mut mem, &keys);
        assert_eq!(numbers, vec![0, 2, 3]);
        assert_eq!(
            r.reason.as_deref(),
            Some("max-series-per-database limit exceeded: (2)")
        );
        assert_eq!(mem.series_count(), 1);
        assert_eq!(mem.point_count(), 1);
        let kept = batch(&keys).without(&numbers).unwrap();
        assert_eq!(
            kept.iter()
                .map(|p| p.unwrap().series_key.to_vec())
                .collect::<Vec<_>>(),
            vec![b"cpu,h=a".to_vec()]
        );
        c.forget_database("db");
        let (numbers, _) = apply(&mut c, &mut Memtable::new(), &["cpu,h=c"]);
        assert!(numbers.is_empty());
    }

    #[test]
    fn unlimited_tracks_nothing() {
        let mut cfg = Config::default();
        cfg.data.max_series_per_database = 0;
        cfg.data.max_values_per_tag = 0;
        let mut c = Cardinality::new(&cfg, 1);
        assert!(!c.enabled());
        c.learn("db", b"cpu,h=a", b"cpu");
        assert!(c.known.is_empty());
    }
}
