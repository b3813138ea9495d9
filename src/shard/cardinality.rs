//! `max-series-per-database` and `max-values-per-tag` on the owner cores.
//!
//! A series lives in exactly one partition, owned by one core, so each core admits the new
//! series of its own partitions: it keeps the set of series keys it has stored per database
//! (rebuilt from its partitions at start-up) and a [`CardinalityBudget`] (this core's share
//! of the series limit; distinct tag values counted against the whole per-tag limit). With one
//! core the limits are exact as in 1.x; with N cores the series limit is enforced per core share
//! (limit / N, rounded up) and the tag-value limit per core, as README states. Per core because
//! an exact server-wide count would cost a cross-core call per new series. When both limits are
//! 0 nothing is tracked and nothing is spent.

use crate::config::Config;
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

    /// Removes `key`; false when it was not there. Its bytes stay in the arena until the
    /// database is dropped (deletes are rare).
    fn remove(&mut self, key: &[u8], hash: u64) -> bool {
        let KeySet { bytes, index } = self;
        let found = index.find_entry(hash, |&(at, len)| {
            bytes.get(at..at + len as usize).unwrap_or(&[]) == key
        });
        match found {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
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

    /// Forgets a series a delete removed (no point of it is left on this core): it no longer
    /// counts against `max-series-per-database`, and writing it again admits it anew. Its tag
    /// values keep counting against `max-values-per-tag` (another series may hold them).
    pub fn forget_series(&mut self, db: &str, key: &[u8]) {
        if !self.enabled {
            return;
        }
        let Some(set) = self.known.get_mut(db) else {
            return;
        };
        if set.remove(key, crate::lineproto::series_hash(key)) {
            self.budget.forget_series(db);
        }
    }
}

/// (database, measurement, tag key).
type TagKey = (String, Vec<u8>, Vec<u8>);

/// One core's share of the cardinality limits, consulted by the owner of a series before it
/// creates one (series admission in the memtable apply).
///
/// Series live on their owner cores, so a global count needs every core. Each core instead
/// enforces its share: `ceil(max-series-per-database / cores)` new series per database, which
/// equals the 1.x limit on one core and approximates it on several (series spread evenly by
/// hash). Distinct tag values are counted per (database, measurement, tag key) on this core,
/// against the whole `max-values-per-tag`: a value can repeat on every core, so the server-wide
/// count may exceed the limit by up to `cores` times, never fall below it.
#[derive(Debug, Default)]
pub struct CardinalityBudget {
    series_max_per_core: u64,
    values_max: u64,
    series: std::collections::HashMap<String, u64>,
    values: std::collections::HashMap<TagKey, std::collections::HashSet<Vec<u8>>>,
}

/// Why a new series was refused; `Display` is 1.x's partial-write reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardinalityError {
    /// `max-series-per-database limit exceeded: (1000000)`
    Series { limit: u64 },
    /// `max-values-per-tag limit exceeded (100000/100000): measurement="cpu" tag="host" value="x"`
    Values {
        limit: u64,
        measurement: String,
        tag: String,
        value: String,
    },
}

impl std::fmt::Display for CardinalityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardinalityError::Series { limit } => {
                write!(f, "max-series-per-database limit exceeded: ({limit})")
            }
            CardinalityError::Values {
                limit,
                measurement,
                tag,
                value,
            } => write!(
                f,
                "max-values-per-tag limit exceeded ({limit}/{limit}): measurement={measurement:?} tag={tag:?} value={value:?}"
            ),
        }
    }
}

impl CardinalityBudget {
    /// This core's budget from the config (`0` = unlimited, as in 1.x).
    pub fn new(cfg: &Config, cores: usize) -> Self {
        let share = |max: u64| match max {
            0 => u64::MAX,
            n => n.div_ceil(cores.max(1) as u64),
        };
        CardinalityBudget {
            series_max_per_core: share(cfg.data.max_series_per_database),
            values_max: match cfg.data.max_values_per_tag {
                0 => u64::MAX,
                n => n,
            },
            ..Self::default()
        }
    }

    /// Admits a series this core does not hold yet, counting it and its new tag values, or
    /// refuses it (and counts nothing). `tags` are the series' (key, value) pairs.
    pub fn admit_new_series(
        &mut self,
        db: &str,
        measurement: &[u8],
        tags: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), CardinalityError> {
        let count = self.series.get(db).copied().unwrap_or(0);
        if count >= self.series_max_per_core {
            return Err(CardinalityError::Series {
                limit: self.series_max_per_core,
            });
        }
        let values_max = self.values_max;
        for (k, v) in tags {
            let key = (db.to_string(), measurement.to_vec(), k.clone());
            let set = self.values.get(&key);
            let seen = set.is_some_and(|s| s.contains(v));
            let n = set.map_or(0, |s| s.len() as u64);
            if !seen && n >= values_max {
                return Err(CardinalityError::Values {
                    limit: values_max,
                    measurement: String::from_utf8_lossy(measurement).into_owned(),
                    tag: String::from_utf8_lossy(k).into_owned(),
                    value: String::from_utf8_lossy(v).into_owned(),
                });
            }
        }
        *self.series.entry(db.to_string()).or_insert(0) += 1;
        for (k, v) in tags {
            let key = (db.to_string(), measurement.to_vec(), k.clone());
            self.values.entry(key).or_default().insert(v.clone());
        }
        Ok(())
    }

    /// One series of `db` fewer.
    pub fn forget_series(&mut self, db: &str) {
        if let Some(n) = self.series.get_mut(db) {
            *n = n.saturating_sub(1);
        }
    }

    /// Forgets a dropped database.
    pub fn forget_database(&mut self, db: &str) {
        self.series.remove(db);
        self.values.retain(|(d, _, _), _| d != db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_forgotten_series_frees_its_room() {
        let mut cfg = Config::default();
        cfg.data.max_series_per_database = 2;
        let mut c = Cardinality::new(&cfg, 1);
        let mut refused = Refused::default();
        let mut admit = |c: &mut Cardinality, key: &[u8]| {
            c.admit_series(
                "db",
                key,
                crate::lineproto::series_hash(key),
                b"cpu",
                &mut refused,
            )
        };
        assert!(admit(&mut c, b"cpu,h=a"));
        assert!(admit(&mut c, b"cpu,h=b"));
        assert!(!admit(&mut c, b"cpu,h=c"));
        c.forget_series("db", b"cpu,h=a");
        c.forget_series("db", b"cpu,h=a"); // twice: counted once
        c.forget_series("other", b"cpu,h=b");
        assert!(admit(&mut c, b"cpu,h=c"));
        assert!(!admit(&mut c, b"cpu,h=d"));
        assert!(admit(&mut c, b"cpu,h=b"), "still known");
        assert!(
            !admit(&mut c, b"cpu,h=a"),
            "forgotten: admitted anew, and full"
        );
    }

    #[test]
    fn cardinality_budget_texts_and_shares() {
        let mut cfg = Config::default();
        cfg.data.max_series_per_database = 3;
        cfg.data.max_values_per_tag = 2;
        let tag = |v: &str| vec![(b"host".to_vec(), v.as_bytes().to_vec())];
        let mut b = CardinalityBudget::new(&cfg, 1);
        b.admit_new_series("db", b"cpu", &tag("a")).unwrap();
        b.admit_new_series("db", b"cpu", &tag("b")).unwrap();
        let e = b.admit_new_series("db", b"cpu", &tag("c")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "max-values-per-tag limit exceeded (2/2): measurement=\"cpu\" tag=\"host\" value=\"c\""
        );
        // A known value is fine (another series with the same host), until the series limit.
        b.admit_new_series("db", b"mem", &tag("a")).unwrap();
        let e = b.admit_new_series("db", b"cpu", &tag("a")).unwrap_err();
        assert_eq!(e.to_string(), "max-series-per-database limit exceeded: (3)");
        // Other databases have their own count; a dropped database starts over.
        b.admit_new_series("other", b"cpu", &tag("z")).unwrap();
        b.forget_database("db");
        b.admit_new_series("db", b"cpu", &tag("c")).unwrap();
        // Four cores share 3 series: one each (rounded up).
        let mut b = CardinalityBudget::new(&cfg, 4);
        b.admit_new_series("db", b"m", &[]).unwrap();
        assert!(b.admit_new_series("db", b"m", &[]).is_err());
        // 0 = unlimited.
        cfg.data.max_series_per_database = 0;
        cfg.data.max_values_per_tag = 0;
        let mut b = CardinalityBudget::new(&cfg, 2);
        for i in 0..100 {
            b.admit_new_series("db", b"cpu", &tag(&i.to_string()))
                .unwrap();
        }
    }
}
