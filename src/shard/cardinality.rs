//! `max-series-per-database` and `max-values-per-tag` on the owner cores.
//!
//! A series lives on exactly one core, so each core admits the new series of its own
//! partitions: it keeps the set of series keys it has ever stored per database (rebuilt from its
//! partitions at start-up) and a `limits::CardinalityBudget` (this core's share of the series
//! limit; distinct tag values counted against the whole per-tag limit). With one core the limits
//! are exact as in 1.x; with N cores the series limit is enforced per core share (limit / N) and
//! the tag-value limit per core, which the closing note and README state. When both limits are 0
//! nothing is tracked and nothing is spent.

use super::batch::{Batch, CorruptBatch};
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

    /// Admits the points of `batch` whose series are known or fit the budget. Returns the batch
    /// to store (`None`: all of `batch`) and what was refused.
    pub fn admit(
        &mut self,
        db: &str,
        batch: &Batch,
    ) -> Result<(Option<Batch>, Refused), CorruptBatch> {
        let mut refused = Refused::default();
        if !self.enabled {
            return Ok((None, refused));
        }
        let mut keep = Vec::with_capacity(batch.points as usize);
        let mut iter = batch.iter();
        let set = self.known.entry_ref(db).or_default();
        while let Some(p) = iter.next_head() {
            let p = p?;
            // A later point of a series seen in this batch shares its first point's fate.
            if p.first_of_series != p.number {
                let k = keep
                    .get(p.first_of_series as usize)
                    .copied()
                    .unwrap_or(false);
                if !k {
                    refused.points += 1;
                }
                keep.push(k);
                continue;
            }
            if set.contains(p.series_key, p.series_hash) {
                keep.push(true);
                continue;
            }
            let tags = super::key::parse_tags(p.series_key);
            match self.budget.admit_new_series(db, p.measurement, &tags) {
                Ok(()) => {
                    set.insert(p.series_key, p.series_hash);
                    keep.push(true);
                }
                Err(e) => {
                    refused.points += 1;
                    refused.reason.get_or_insert_with(|| e.to_string());
                    keep.push(false);
                }
            }
        }
        if refused.points == 0 {
            return Ok((None, refused));
        }
        let mut kept = Batch::default();
        for (p, k) in batch.iter().zip(keep) {
            let p = p?;
            if k {
                kept.push_point(&p);
            }
        }
        Ok((Some(kept), refused))
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

    fn batch(keys: &[&str]) -> Batch {
        let mut b = Batch::default();
        for k in keys {
            b.begin_point(k.as_bytes(), b"cpu", 1, 1);
            b.push_field(b"v", &FieldValue::Integer(1));
        }
        b
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let mut cfg = Config::default();
        cfg.data.max_series_per_database = 2;
        cfg.data.max_values_per_tag = 0;
        let mut c = Cardinality::new(&cfg, 1);
        let (kept, r) = c
            .admit("db", &batch(&["cpu,h=a", "cpu,h=b", "cpu,h=a"]))
            .unwrap();
        assert!(kept.is_none() && r.points == 0);
        let (kept, r) = c
            .admit("db", &batch(&["cpu,h=c", "cpu,h=a", "cpu,h=d"]))
            .unwrap();
        assert_eq!(r.points, 2);
        assert_eq!(
            r.reason.as_deref(),
            Some("max-series-per-database limit exceeded: (2)")
        );
        let kept = kept.unwrap();
        assert_eq!(
            kept.iter()
                .map(|p| p.unwrap().series_key.to_vec())
                .collect::<Vec<_>>(),
            vec![b"cpu,h=a".to_vec()]
        );
        c.forget_database("db");
        assert_eq!(c.admit("db", &batch(&["cpu,h=c"])).unwrap().1.points, 0);
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
