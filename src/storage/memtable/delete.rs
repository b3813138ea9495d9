//! Deletes in a memtable: the covered points of a (db, rp) store are removed by building the
//! store again without them. Records only append, so a store is rebuilt rather than edited;
//! deletes are rare, and a rebuilt store has no holes: a series left without points is gone
//! from its index, and the memtable's size counts only what is left.

use super::store::DbStore;
use super::Memtable;
use crate::storage::scan::Delete;

impl Memtable {
    /// Whether any point of `db` is held.
    pub fn holds_database(&self, db: &str) -> bool {
        self.dbs.iter().any(|((d, _), s)| d == db && s.points > 0)
    }

    /// Removes the points `d` covers from every retention policy of its database. Returns the
    /// keys of the series that had points here and have none left, as (key, measurement).
    pub fn delete(&mut self, d: &Delete) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut gone = Vec::new();
        let stores: Vec<(String, String)> = self
            .dbs
            .keys()
            .filter(|(db, _)| *db == d.db)
            .cloned()
            .collect();
        for key in stores {
            let Some(store) = self.dbs.get(&key) else {
                continue;
            };
            let Some(rebuilt) = store.without(d, &mut gone) else {
                continue;
            };
            if rebuilt.series.is_empty() {
                self.dbs.remove(&key);
            } else {
                self.dbs.insert(key, rebuilt);
            }
        }
        gone
    }
}

impl DbStore {
    /// This store without the points `d` covers, or `None` when it covers none of its series.
    /// Pushes the series left without points to `gone` as (key, measurement).
    fn without(&self, d: &Delete, gone: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Option<DbStore> {
        let covered: Vec<bool> = self
            .series
            .iter()
            .map(|&m| {
                let measurement = self.measurements.get(m.measurement);
                d.matches_series(measurement, &crate::shard::key::parse_tags(self.key(m)))
            })
            .collect();
        if !covered.iter().any(|&c| c) {
            return None;
        }
        let mut out = DbStore::default();
        out.measurements = self.measurements.clone();
        out.fields = self.fields.clone();
        for (&m, &covered) in self.series.iter().zip(&covered) {
            let key = self.key(m);
            let measurement = self.measurements.get(m.measurement);
            let mut sid = None;
            for (ts, rec) in self.record_bytes(m) {
                if covered && d.matches_time(ts) {
                    continue;
                }
                let id = match sid {
                    Some(id) => id,
                    None => {
                        let h = crate::lineproto::series_hash(key);
                        // The new store holds no more than the old one: it cannot be full.
                        let Ok(id) = out.add_series(key, h, measurement) else {
                            break;
                        };
                        *sid.insert(id)
                    }
                };
                if out.put_record(id, rec).is_err() {
                    break;
                }
            }
            if sid.is_none() && covered {
                gone.push((key.to_vec(), measurement.to_vec()));
            }
        }
        Some(out)
    }
}
