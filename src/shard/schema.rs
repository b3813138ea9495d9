//! Field types per (db, rp, measurement), fixed by their first writer, the same on every core.
//!
//! Each measurement has a schema owner core (`key::schema_owner`). Every core keeps one map:
//! for the measurements it owns the map is the authority, for the others it is a cache. A type
//! never changes once fixed, so a cached entry is never stale; only a field never seen before
//! costs a round trip to the owner. (DROP DATABASE purges the db's entries on every core.)
//!
//! A claim is a whole point's fields, decided at the owner in body order as influxd 1.x decides
//! a body's points (see [`SchemaMap::claim`]).

use crate::lineproto::FieldType;
use hashbrown::HashMap;

type Fields = HashMap<Box<[u8]>, FieldType>;
/// measurement -> fields, per retention policy, per database.
type Measurements = HashMap<Box<[u8]>, Fields>;

/// A measurement (unescaped) and its (field key, type) pairs.
pub type MeasurementFields = (Vec<u8>, Vec<(Vec<u8>, FieldType)>);

/// One core's view of the schema.
#[derive(Default)]
pub struct SchemaMap {
    dbs: HashMap<String, HashMap<String, Measurements>>,
}

/// The fields of a point that uses a field this core does not know yet: fixed at the schema
/// owner all together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldClaim {
    pub measurement: Vec<u8>,
    /// (field key, type) in the point's field order.
    pub fields: Vec<(Vec<u8>, FieldType)>,
}

/// Why a claim was refused: the first of its fields that had another type when it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Index of the field in the claim.
    pub field: usize,
    /// The type it had.
    pub existing: FieldType,
    /// That type was fixed by an earlier claim of the same call (the same write request).
    pub in_request: bool,
}

/// The owner's answer to one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    pub refused: Option<Refusal>,
    /// Each claimed field's type once all claims were decided (`None`: still not fixed, its
    /// only claims were refused).
    pub types: Vec<Option<FieldType>>,
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

    /// Records the types an owner answered for `claim`'s fields (those it fixed).
    pub fn learn_answer(&mut self, db: &str, rp: &str, claim: &FieldClaim, answer: &ClaimAnswer) {
        for ((field, _), t) in claim.fields.iter().zip(&answer.types) {
            if let Some(t) = *t {
                self.learn(db, rp, &claim.measurement, field, t);
            }
        }
    }

    /// At the schema owner: decides each claim in order, as influxd 1.x decides a body's points.
    /// A claim with a field whose type was fixed before this call and differs is refused and
    /// fixes nothing. Otherwise its fields are taken in order: one not fixed yet takes the claim's
    /// type, one fixed earlier in this call with another type refuses the claim (the fields
    /// before it stay fixed, those after it are not fixed by it). This is what influxd 1.6.7
    /// stores for such a body.
    pub fn claim(&mut self, db: &str, rp: &str, claims: &[FieldClaim]) -> Vec<ClaimAnswer> {
        let mut fixed_now: hashbrown::HashSet<(&[u8], &[u8])> = hashbrown::HashSet::new();
        let mut refused = Vec::with_capacity(claims.len());
        for c in claims {
            let fields = self.fields_mut(db, rp, &c.measurement);
            let stored = c.fields.iter().enumerate().find_map(|(i, (k, ty))| {
                let existing = *fields.get(&k[..]).filter(|t| *t != ty)?;
                let now = fixed_now.contains(&(&c.measurement[..], &k[..]));
                (!now).then_some(Refusal {
                    field: i,
                    existing,
                    in_request: false,
                })
            });
            if stored.is_some() {
                refused.push(stored);
                continue;
            }
            // In field order: a new field takes this claim's type, until a field whose type
            // was fixed earlier in this call differs.
            let mut refusal = None;
            for (i, (k, ty)) in c.fields.iter().enumerate() {
                match fields.get(&k[..]) {
                    None => {
                        fields.insert(k[..].into(), *ty);
                        fixed_now.insert((&c.measurement, k));
                    }
                    Some(t) if t != ty => {
                        refusal = Some(Refusal {
                            field: i,
                            existing: *t,
                            in_request: true,
                        });
                        break;
                    }
                    Some(_) => {}
                }
            }
            refused.push(refusal);
        }
        claims
            .iter()
            .zip(refused)
            .map(|(c, refused)| ClaimAnswer {
                refused,
                types: c
                    .fields
                    .iter()
                    .map(|(k, _)| self.get(db, rp, &c.measurement, k))
                    .collect(),
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

    /// Every measurement of (db, rp) known here, with its fields.
    pub fn measurements(&self, db: &str, rp: &str) -> Vec<MeasurementFields> {
        let Some(ms) = self.dbs.get(db).and_then(|r| r.get(rp)) else {
            return Vec::new();
        };
        ms.iter()
            .map(|(m, f)| {
                (
                    m.to_vec(),
                    f.iter().map(|(k, v)| (k.to_vec(), *v)).collect(),
                )
            })
            .collect()
    }

    pub fn purge_database(&mut self, db: &str) {
        self.dbs.remove(db);
    }

    /// Forgets the field types of `measurement` in every retention policy of `db` (`DROP
    /// MEASUREMENT`: 1.x then takes any type for its fields again).
    pub fn purge_measurement(&mut self, db: &str, measurement: &[u8]) {
        if let Some(rps) = self.dbs.get_mut(db) {
            for measurements in rps.values_mut() {
                measurements.remove(measurement);
            }
        }
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

    fn claim(m: &str, fields: &[(&str, FieldType)]) -> FieldClaim {
        FieldClaim {
            measurement: m.as_bytes().to_vec(),
            fields: fields
                .iter()
                .map(|(k, t)| (k.as_bytes().to_vec(), *t))
                .collect(),
        }
    }

    #[test]
    fn first_claim_wins_and_never_changes() {
        use FieldType::*;
        let mut s = SchemaMap::default();
        let ok = |types| ClaimAnswer {
            refused: None,
            types,
        };
        assert_eq!(
            s.claim("db", "rp", &[claim("cpu", &[("a", Float)])]),
            vec![ok(vec![Some(Float)])]
        );
        assert_eq!(
            s.claim(
                "db",
                "rp",
                &[
                    claim("cpu", &[("a", Integer)]),
                    claim("cpu", &[("b", String)])
                ]
            ),
            vec![
                ClaimAnswer {
                    refused: Some(Refusal {
                        field: 0,
                        existing: Float,
                        in_request: false
                    }),
                    types: vec![Some(Float)]
                },
                ok(vec![Some(String)])
            ]
        );
        assert_eq!(s.get("db", "rp", b"cpu", b"a"), Some(Float));
        assert_eq!(s.get("db", "other", b"cpu", b"a"), None);
        s.purge_database("db");
        assert_eq!(s.get("db", "rp", b"cpu", b"a"), None);
    }

    #[test]
    fn claims_are_decided_as_1x_decides_a_body() {
        use FieldType::*;
        let mut s = SchemaMap::default();
        s.claim("db", "rp", &[claim("m", &[("a", Float)])]);
        let refusal = |field, existing, in_request| {
            Some(Refusal {
                field,
                existing,
                in_request,
            })
        };
        // `m b=1i,a="s"` then `m b=2`: the first conflicts with a stored type, so it fixes
        // nothing, and the second fixes b as a float. The refusal names a, though b conflicts
        // by the end of the call too.
        let got = s.claim(
            "db",
            "rp",
            &[
                claim("m", &[("b", Integer), ("a", String)]),
                claim("m", &[("b", Float)]),
            ],
        );
        assert_eq!(got[0].refused, refusal(1, Float, false));
        assert_eq!(got[0].types, vec![Some(Float), Some(Float)]);
        assert_eq!(got[1].refused, None);
        // `m c=1` `m d=2i,c=2i` `m d=1.5`: the second conflicts with a type fixed in the same
        // call; its new field d, before c, is fixed all the same, so the third is refused too.
        let got = s.claim(
            "db",
            "rp",
            &[
                claim("m", &[("c", Float)]),
                claim("m", &[("d", Integer), ("c", Integer)]),
                claim("m", &[("d", Float)]),
            ],
        );
        assert_eq!(got[0].refused, None);
        assert_eq!(got[1].refused, refusal(1, Float, true));
        assert_eq!(got[2].refused, refusal(0, Integer, true));
        assert_eq!(s.get("db", "rp", b"m", b"d"), Some(Integer));
        // A new field after the conflicting one is not fixed by the refused claim.
        let got = s.claim(
            "db",
            "rp",
            &[
                claim("m", &[("c", String), ("f", Integer)]),
                claim("m", &[("f", Boolean)]),
            ],
        );
        assert_eq!(got[0].refused, refusal(0, Float, false));
        assert_eq!(got[1].refused, None);
        let got = s.claim(
            "db",
            "rp",
            &[
                claim("m", &[("g", Float)]),
                claim("m", &[("g", String), ("h", Integer)]),
                claim("m", &[("h", Boolean)]),
            ],
        );
        assert_eq!(got[1].refused, refusal(0, Float, true));
        assert_eq!(got[2].refused, None);
        assert_eq!(s.get("db", "rp", b"m", b"h"), Some(Boolean));
        // A refused claim whose new field no other claim fixes leaves it unknown.
        let got = s.claim("db", "rp", &[claim("m", &[("a", Boolean), ("e", String)])]);
        assert_eq!(got[0].refused, refusal(0, Float, false));
        assert_eq!(got[0].types, vec![Some(Float), None]);
        assert_eq!(s.get("db", "rp", b"m", b"e"), None);
    }
}
