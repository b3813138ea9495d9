//! Field types per (db, rp, measurement), fixed by their first writer, the same on every core.
//!
//! Each measurement has a schema owner core (`key::schema_owner`). Every core keeps one map:
//! for the measurements it owns the map is the authority, for the others it is a cache. A type
//! never changes once fixed, so a cached entry is never stale; only a field never seen before
//! costs a round trip to the owner. (DROP DATABASE purges the db's entries on every core.)

use crate::lineproto::FieldType;
use hashbrown::HashMap;

type Fields = HashMap<Box<[u8]>, FieldType>;
/// measurement -> fields, per retention policy, per database.
type Measurements = HashMap<Box<[u8]>, Fields>;

/// One core's view of the schema.
#[derive(Default)]
pub struct SchemaMap {
    dbs: HashMap<String, HashMap<String, Measurements>>,
}

/// A field whose type this core does not know yet, to be fixed at the schema owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldClaim {
    pub measurement: Vec<u8>,
    pub field: Vec<u8>,
    pub ty: FieldType,
}

impl SchemaMap {
    pub fn get(&self, db: &str, rp: &str, measurement: &[u8], field: &[u8]) -> Option<FieldType> {
        self.dbs
            .get(db)?
            .get(rp)?
            .get(measurement)?
            .get(field)
            .copied()
    }

    fn fields_mut(&mut self, db: &str, rp: &str, measurement: &[u8]) -> &mut Fields {
        let rps = self.dbs.entry_ref(db).or_default();
        let ms = rps.entry_ref(rp).or_default();
        if !ms.contains_key(measurement) {
            ms.insert(measurement.into(), Fields::default());
        }
        // Present: inserted just above when it was missing.
        ms.get_mut(measurement).expect("inserted above")
    }

    /// Records a type learnt from the owner (or fixed here as the owner).
    pub fn learn(&mut self, db: &str, rp: &str, measurement: &[u8], field: &[u8], ty: FieldType) {
        self.fields_mut(db, rp, measurement)
            .entry_ref(field)
            .or_insert(ty);
    }

    /// At the schema owner: fixes each claimed type unless one is fixed already; returns the
    /// fixed types in claim order.
    pub fn claim(&mut self, db: &str, rp: &str, claims: &[FieldClaim]) -> Vec<FieldType> {
        claims
            .iter()
            .map(|c| {
                *self
                    .fields_mut(db, rp, &c.measurement)
                    .entry_ref(&c.field[..])
                    .or_insert(c.ty)
            })
            .collect()
    }

    /// Every field type of a measurement known here (complete only at its owner).
    pub fn fields_of(&self, db: &str, rp: &str, measurement: &[u8]) -> Vec<(Vec<u8>, FieldType)> {
        let Some(f) = self
            .dbs
            .get(db)
            .and_then(|r| r.get(rp))
            .and_then(|m| m.get(measurement))
        else {
            return Vec::new();
        };
        f.iter().map(|(k, v)| (k.to_vec(), *v)).collect()
    }

    pub fn purge_database(&mut self, db: &str) {
        self.dbs.remove(db);
    }

    pub fn purge_retention_policy(&mut self, db: &str, rp: &str) {
        if let Some(r) = self.dbs.get_mut(db) {
            r.remove(rp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_claim_wins_and_never_changes() {
        let mut s = SchemaMap::default();
        let c = |f: &str, ty| FieldClaim {
            measurement: b"cpu".to_vec(),
            field: f.as_bytes().to_vec(),
            ty,
        };
        assert_eq!(
            s.claim("db", "rp", &[c("a", FieldType::Float)]),
            vec![FieldType::Float]
        );
        assert_eq!(
            s.claim(
                "db",
                "rp",
                &[c("a", FieldType::Integer), c("b", FieldType::String)]
            ),
            vec![FieldType::Float, FieldType::String]
        );
        assert_eq!(s.get("db", "rp", b"cpu", b"a"), Some(FieldType::Float));
        assert_eq!(s.get("db", "other", b"cpu", b"a"), None);
        s.purge_database("db");
        assert_eq!(s.get("db", "rp", b"cpu", b"a"), None);
    }
}
