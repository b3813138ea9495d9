//! The catalog: databases and their retention policies.
//!
//! Owner: core 0. Every change goes through core 0, which applies it to its `Catalog`, saves it
//! ([`Catalog::save`]: temp file, fsync, rename, fsync the directory) and broadcasts the new value to
//! every core as an immutable snapshot; `version` grows by one on every change, so a core can tell a
//! newer snapshot from an older one.
//!
//! Semantics follow InfluxDB 1.x's meta store (services/meta/data.go, client.go and
//! coordinator/statement_executor.go, identical in 1.6.7 and 1.8 for these operations):
//! - `CREATE DATABASE x` is idempotent and creates `autogen` (infinite, 7-day shard groups) as default.
//! - `CREATE DATABASE x WITH ...` is idempotent only with the same options on the same default policy;
//!   anything else is `retention policy conflicts with an existing policy`.
//! - Dropping a missing database or retention policy is not an error. Dropping the default policy is
//!   allowed and leaves `default_rp` naming it, so later writes without `rp` fail with
//!   `retention policy not found: autogen`, as in 1.x.
//! - Every failing operation leaves the catalog unchanged.
//!
//! Durations (`format_go_duration`, `parse_go_duration`) live in [`crate::duration`] and are re-exported here.

mod persist;
pub mod users;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::duration::{format_go_duration, parse_go_duration, DurationError};

/// Name of the retention policy `CREATE DATABASE` creates (1.x `DefaultRetentionPolicyName`).
pub const DEFAULT_RP_NAME: &str = "autogen";

const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;

/// A retention policy as stored. Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub name: String,
    /// How long data is kept; 0 = forever.
    pub duration_ns: i64,
    /// Time span of one shard group (storage partition in time).
    pub shard_group_duration_ns: i64,
    /// Replication factor; kept for 1.x compatibility (a single node stores one copy).
    pub replica_n: u32,
}

/// A database and its retention policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    /// Policy used when a write or query names none; may name a dropped policy (as in 1.x).
    pub default_rp: String,
    pub rps: BTreeMap<String, RetentionPolicy>,
}

/// Every database, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Grows by one with every change.
    pub version: u64,
    pub databases: BTreeMap<String, Database>,
    /// Users and their privileges (absent in catalogs written before users existed).
    #[serde(default)]
    pub users: users::Users,
}

/// The options of `CREATE RETENTION POLICY` / `CREATE DATABASE ... WITH`; `None` = not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicySpec {
    /// `NAME x`; `None` in `CREATE DATABASE ... WITH` means `autogen`.
    pub name: Option<String>,
    /// `DURATION`; `Some(0)` = `INF`.
    pub duration_ns: Option<i64>,
    /// `REPLICATION`.
    pub replica_n: Option<u32>,
    /// `SHARD DURATION`; `None` = derived from the duration.
    pub shard_group_duration_ns: Option<i64>,
}

/// The options of `ALTER RETENTION POLICY`; `None` = unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicyUpdate {
    /// Rename (not reachable from InfluxQL; 1.x's meta API has it).
    pub name: Option<String>,
    pub duration_ns: Option<i64>,
    pub replica_n: Option<u32>,
    pub shard_group_duration_ns: Option<i64>,
}

/// Catalog errors; `Display` is the exact 1.x text (services/meta/errors.go, errors.go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// `database not found: x` (the write handler quotes the name itself: `database not found: "x"`).
    DatabaseNotFound(String),
    /// `retention policy not found: x`.
    RetentionPolicyNotFound(String),
    /// Empty, `.`, `..`, non-printable characters, `/` or `\` (1.x `meta.ValidName`).
    InvalidName,
    /// Longer than [`crate::limits::NAME_BYTES_MAX`].
    NameTooLong,
    RetentionPolicyExists,
    RetentionPolicyNameExists,
    RetentionPolicyConflict,
    RetentionPolicyDurationTooLow,
    IncompatibleDurations,
    ReplicationFactorTooLow,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::DatabaseNotFound(name) => write!(f, "database not found: {name}"),
            CatalogError::RetentionPolicyNotFound(name) => {
                write!(f, "retention policy not found: {name}")
            }
            CatalogError::InvalidName => f.write_str("invalid name"),
            CatalogError::NameTooLong => f.write_str("name too long"),
            CatalogError::RetentionPolicyExists => f.write_str("retention policy already exists"),
            CatalogError::RetentionPolicyNameExists => {
                f.write_str("retention policy name already exists")
            }
            CatalogError::RetentionPolicyConflict => {
                f.write_str("retention policy conflicts with an existing policy")
            }
            CatalogError::RetentionPolicyDurationTooLow => write!(
                f,
                "retention policy duration must be at least {}",
                format_go_duration(crate::limits::RP_DURATION_MIN_NS)
            ),
            CatalogError::IncompatibleDurations => {
                f.write_str("retention policy duration must be greater than the shard duration")
            }
            CatalogError::ReplicationFactorTooLow => {
                f.write_str("replication factor must be greater than 0")
            }
        }
    }
}

impl std::error::Error for CatalogError {}

/// 1.x `shardGroupDuration`: 1h below 2 days, 1d below 6 months, else (and for infinite) 7 days.
pub fn shard_group_duration_for(duration_ns: i64) -> i64 {
    if duration_ns == 0 || duration_ns >= 180 * DAY_NS {
        7 * DAY_NS
    } else if duration_ns >= 2 * DAY_NS {
        DAY_NS
    } else {
        HOUR_NS
    }
}

/// 1.x `normalisedShardDuration`: unspecified (0) is derived from the duration, below 1h becomes 1h.
fn normalised_shard_duration(sgd_ns: i64, duration_ns: i64) -> i64 {
    if sgd_ns == 0 {
        shard_group_duration_for(duration_ns)
    } else if sgd_ns < crate::limits::RP_DURATION_MIN_NS {
        shard_group_duration_for(crate::limits::RP_DURATION_MIN_NS)
    } else {
        sgd_ns
    }
}

/// 1.x `meta.ValidName`: not empty, `.` or `..`, no `/` or `\\`, only printable characters. Go's
/// `unicode.IsPrint` also rejects format characters (category Cf); we reject controls and every
/// whitespace but the ASCII space, which covers the names clients actually send.
fn check_valid_name(name: &str) -> Result<(), CatalogError> {
    let printable = |c: char| c == ' ' || !(c.is_control() || c.is_whitespace());
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && name.chars().all(printable);
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidName)
    }
}

/// 1.x `MaxNameLen`, checked by the meta store after the statement-level checks.
fn check_name_len(name: &str) -> Result<(), CatalogError> {
    if name.len() > crate::limits::NAME_BYTES_MAX {
        return Err(CatalogError::NameTooLong);
    }
    Ok(())
}

fn check_min_duration(duration_ns: Option<i64>) -> Result<(), CatalogError> {
    match duration_ns {
        Some(d) if d != 0 && d < crate::limits::RP_DURATION_MIN_NS => {
            Err(CatalogError::RetentionPolicyDurationTooLow)
        }
        _ => Ok(()),
    }
}

impl RetentionPolicy {
    /// `autogen`: infinite, one replica, 7-day shard groups.
    pub fn autogen() -> RetentionPolicy {
        RetentionPolicy {
            name: DEFAULT_RP_NAME.to_string(),
            duration_ns: 0,
            shard_group_duration_ns: shard_group_duration_for(0),
            replica_n: 1,
        }
    }

    /// 1.x `RetentionPolicySpec.NewRetentionPolicyInfo`: the spec applied over `autogen`'s values.
    fn from_spec(spec: &RetentionPolicySpec) -> RetentionPolicy {
        let base = RetentionPolicy::autogen();
        let duration_ns = spec.duration_ns.unwrap_or(base.duration_ns);
        RetentionPolicy {
            name: spec.name.clone().unwrap_or(base.name),
            duration_ns,
            shard_group_duration_ns: normalised_shard_duration(
                spec.shard_group_duration_ns.unwrap_or(0),
                duration_ns,
            ),
            replica_n: spec.replica_n.unwrap_or(base.replica_n),
        }
    }

    /// The checks 1.x `Data.CreateRetentionPolicy` makes before it looks the database up.
    fn check_new(&self) -> Result<(), CatalogError> {
        check_name_len(&self.name)?;
        if self.replica_n < 1 {
            return Err(CatalogError::ReplicationFactorTooLow);
        }
        if self.duration_ns > 0 && self.duration_ns < self.shard_group_duration_ns {
            return Err(CatalogError::IncompatibleDurations);
        }
        Ok(())
    }

    /// 1.x `RetentionPolicySpec.Matches`: every given option equals the stored one.
    fn matches(&self, spec: &RetentionPolicySpec) -> bool {
        spec.name.as_ref().map_or(true, |n| *n == self.name)
            && spec.duration_ns.map_or(true, |d| d == self.duration_ns)
            && spec.replica_n.map_or(true, |r| r == self.replica_n)
            && normalised_shard_duration(
                spec.shard_group_duration_ns.unwrap_or(0),
                self.duration_ns,
            ) == self.shard_group_duration_ns
    }
}

impl Database {
    fn new(name: &str) -> Database {
        Database {
            name: name.to_string(),
            default_rp: String::new(),
            rps: BTreeMap::new(),
        }
    }

    /// 1.x `Data.CreateRetentionPolicy` on this database.
    fn add_rp(&mut self, rp: RetentionPolicy, make_default: bool) -> Result<(), CatalogError> {
        rp.check_new()?;
        if let Some(existing) = self.rps.get(&rp.name) {
            if *existing != rp {
                return Err(CatalogError::RetentionPolicyExists);
            }
            if make_default && self.default_rp != rp.name {
                return Err(CatalogError::RetentionPolicyConflict);
            }
            return Ok(());
        }
        if make_default {
            self.default_rp = rp.name.clone();
        }
        self.rps.insert(rp.name.clone(), rp);
        Ok(())
    }
}

impl Catalog {
    /// `CREATE DATABASE name [WITH ...]`. Returns whether anything changed.
    pub fn create_database(
        &mut self,
        name: &str,
        rp: Option<RetentionPolicySpec>,
    ) -> Result<bool, CatalogError> {
        check_valid_name(name)?;
        let Some(spec) = rp else {
            if self.databases.contains_key(name) {
                return Ok(false);
            }
            check_name_len(name)?;
            let mut db = Database::new(name);
            db.add_rp(RetentionPolicy::autogen(), true)?;
            return Ok(self.commit_database(db));
        };
        if let Some(rp_name) = &spec.name {
            check_valid_name(rp_name)?;
        }
        check_min_duration(spec.duration_ns)?;
        check_name_len(name)?;
        let mut db = self
            .databases
            .get(name)
            .cloned()
            .unwrap_or_else(|| Database::new(name));
        let wanted = RetentionPolicy::from_spec(&spec);
        if db.rps.is_empty() {
            db.add_rp(wanted.clone(), true)?;
        } else if !db.rps.get(&wanted.name).is_some_and(|rp| rp.matches(&spec)) {
            return Err(CatalogError::RetentionPolicyConflict);
        }
        if db.default_rp != wanted.name {
            return Err(CatalogError::RetentionPolicyConflict);
        }
        Ok(self.commit_database(db))
    }

    /// `DROP DATABASE name`; a missing database is not an error (returns `Ok(false)`).
    pub fn drop_database(&mut self, name: &str) -> Result<bool, CatalogError> {
        let changed = self.databases.remove(name).is_some();
        if changed {
            self.version += 1;
        }
        Ok(changed)
    }

    /// `CREATE RETENTION POLICY spec.name ON db ... [DEFAULT]`.
    pub fn create_retention_policy(
        &mut self,
        db: &str,
        spec: RetentionPolicySpec,
        make_default: bool,
    ) -> Result<bool, CatalogError> {
        check_valid_name(spec.name.as_deref().unwrap_or(""))?;
        check_min_duration(spec.duration_ns)?;
        let rp = RetentionPolicy::from_spec(&spec);
        rp.check_new()?;
        let mut database = self.database_for_change(db)?;
        database.add_rp(rp, make_default)?;
        Ok(self.commit_database(database))
    }

    /// `ALTER RETENTION POLICY name ON db ... [DEFAULT]` (1.x `Data.UpdateRetentionPolicy`).
    pub fn alter_retention_policy(
        &mut self,
        db: &str,
        name: &str,
        update: RetentionPolicyUpdate,
        make_default: bool,
    ) -> Result<bool, CatalogError> {
        let mut database = self.database_for_change(db)?;
        let Some(mut rp) = database.rps.remove(name) else {
            return Err(CatalogError::RetentionPolicyNotFound(name.to_string()));
        };
        if let Some(new_name) = &update.name {
            check_valid_name(new_name)?;
            check_name_len(new_name)?;
            if new_name != name && database.rps.contains_key(new_name) {
                return Err(CatalogError::RetentionPolicyNameExists);
            }
        }
        check_min_duration(update.duration_ns)?;
        check_update_durations(&rp, &update)?;
        if update.replica_n == Some(0) {
            return Err(CatalogError::ReplicationFactorTooLow);
        }
        apply_update(&mut rp, &update);
        if make_default {
            database.default_rp = rp.name.clone();
        }
        database.rps.insert(rp.name.clone(), rp);
        Ok(self.commit_database(database))
    }

    /// `DROP RETENTION POLICY name ON db`; a missing database or policy is not an error.
    pub fn drop_retention_policy(&mut self, db: &str, name: &str) -> Result<bool, CatalogError> {
        let Some(database) = self.databases.get_mut(db) else {
            return Ok(false);
        };
        let changed = database.rps.remove(name).is_some();
        if changed {
            self.version += 1;
        }
        Ok(changed)
    }

    /// For writes and queries: `(db, rp parameter)` to the database and policy to use; `None` or `""`
    /// means the database's default policy. Errors: `DatabaseNotFound` (the write handler answers 404
    /// `database not found: "x"`), `RetentionPolicyNotFound` (500 `retention policy not found: x`).
    pub fn resolve(
        &self,
        db: &str,
        rp: Option<&str>,
    ) -> Result<(&Database, &RetentionPolicy), CatalogError> {
        let database = self
            .databases
            .get(db)
            .ok_or_else(|| CatalogError::DatabaseNotFound(db.to_string()))?;
        let rp_name = match rp {
            Some(name) if !name.is_empty() => name,
            _ => database.default_rp.as_str(),
        };
        let policy = database
            .rps
            .get(rp_name)
            .ok_or_else(|| CatalogError::RetentionPolicyNotFound(rp_name.to_string()))?;
        Ok((database, policy))
    }

    /// A copy of `db` to change, or `DatabaseNotFound`.
    fn database_for_change(&self, db: &str) -> Result<Database, CatalogError> {
        self.databases
            .get(db)
            .cloned()
            .ok_or_else(|| CatalogError::DatabaseNotFound(db.to_string()))
    }

    /// Stores `db`, bumping `version` when it differs from what was there. Returns whether it did.
    fn commit_database(&mut self, db: Database) -> bool {
        if self.databases.get(&db.name) == Some(&db) {
            return false;
        }
        self.databases.insert(db.name.clone(), db);
        self.version += 1;
        true
    }
}

/// 1.x: the (new) duration must not be shorter than the (new) shard group duration, unless infinite.
fn check_update_durations(
    rp: &RetentionPolicy,
    update: &RetentionPolicyUpdate,
) -> Result<(), CatalogError> {
    let duration_ns = update.duration_ns.unwrap_or(rp.duration_ns);
    let sgd_ns = update
        .shard_group_duration_ns
        .unwrap_or(rp.shard_group_duration_ns);
    let touches = update.duration_ns.is_some() || update.shard_group_duration_ns.is_some();
    if touches && duration_ns > 0 && duration_ns < sgd_ns {
        return Err(CatalogError::IncompatibleDurations);
    }
    Ok(())
}

fn apply_update(rp: &mut RetentionPolicy, update: &RetentionPolicyUpdate) {
    if let Some(name) = &update.name {
        rp.name = name.clone();
    }
    if let Some(d) = update.duration_ns {
        rp.duration_ns = d;
    }
    if let Some(r) = update.replica_n {
        rp.replica_n = r;
    }
    if let Some(sgd) = update.shard_group_duration_ns {
        rp.shard_group_duration_ns = normalised_shard_duration(sgd, rp.duration_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_NS;
    const HOUR: i64 = HOUR_NS;

    fn with_db(name: &str) -> Catalog {
        let mut cat = Catalog::default();
        assert_eq!(cat.create_database(name, None), Ok(true));
        cat
    }

    fn spec(name: &str, duration_ns: i64) -> RetentionPolicySpec {
        RetentionPolicySpec {
            name: Some(name.to_string()),
            duration_ns: Some(duration_ns),
            replica_n: Some(1),
            shard_group_duration_ns: None,
        }
    }

    #[test]
    fn create_database_makes_autogen_default_and_is_idempotent() {
        let mut cat = with_db("db");
        let db = &cat.databases["db"];
        assert_eq!(db.default_rp, "autogen");
        assert_eq!(db.rps["autogen"], RetentionPolicy::autogen());
        assert_eq!(db.rps["autogen"].shard_group_duration_ns, 7 * DAY);
        assert_eq!(cat.version, 1);
        assert_eq!(cat.create_database("db", None), Ok(false));
        assert_eq!(cat.version, 1);
    }

    #[test]
    fn invalid_database_names() {
        let mut cat = Catalog::default();
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\u{a0}b"] {
            assert_eq!(
                cat.create_database(bad, None),
                Err(CatalogError::InvalidName),
                "{bad:?}"
            );
        }
        let long = "x".repeat(crate::limits::NAME_BYTES_MAX + 1);
        assert_eq!(
            cat.create_database(&long, None),
            Err(CatalogError::NameTooLong)
        );
        assert_eq!(CatalogError::NameTooLong.to_string(), "name too long");
        assert_eq!(CatalogError::InvalidName.to_string(), "invalid name");
        assert!(cat.databases.is_empty());
        assert_eq!(cat.create_database("my db.1", None), Ok(true));
    }

    #[test]
    fn create_database_with_options() {
        let mut cat = Catalog::default();
        let one_day = spec("day", DAY);
        assert_eq!(cat.create_database("db", Some(one_day.clone())), Ok(true));
        let db = &cat.databases["db"];
        assert_eq!(db.default_rp, "day");
        assert_eq!(db.rps["day"].shard_group_duration_ns, HOUR);
        // Same options again: idempotent.
        assert_eq!(cat.create_database("db", Some(one_day)), Ok(false));
        // A subset of the options that matches is fine too.
        let only_name = RetentionPolicySpec {
            name: Some("day".into()),
            ..Default::default()
        };
        assert_eq!(cat.create_database("db", Some(only_name)), Ok(false));
        // Different options conflict.
        let err = cat
            .create_database("db", Some(spec("day", 2 * DAY)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "retention policy conflicts with an existing policy"
        );
        // Without a name the spec means autogen, which this database does not have.
        let unnamed = RetentionPolicySpec {
            duration_ns: Some(DAY),
            ..Default::default()
        };
        assert_eq!(
            cat.create_database("db", Some(unnamed)),
            Err(CatalogError::RetentionPolicyConflict)
        );
        assert_eq!(cat.version, 1);
    }

    #[test]
    fn create_database_with_an_existing_non_default_policy_conflicts() {
        let mut cat = with_db("db");
        assert_eq!(
            cat.create_retention_policy("db", spec("week", 7 * DAY), false),
            Ok(true)
        );
        assert_eq!(
            cat.create_database("db", Some(spec("week", 7 * DAY))),
            Err(CatalogError::RetentionPolicyConflict)
        );
    }

    #[test]
    fn create_database_with_bad_options_creates_nothing() {
        let mut cat = Catalog::default();
        let err = cat
            .create_database("db", Some(spec("short", 30 * 60 * 1_000_000_000)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "retention policy duration must be at least 1h0m0s"
        );
        let zero_replicas = RetentionPolicySpec {
            replica_n: Some(0),
            ..Default::default()
        };
        let err = cat.create_database("db", Some(zero_replicas)).unwrap_err();
        assert_eq!(err.to_string(), "replication factor must be greater than 0");
        assert!(cat.databases.is_empty());
        assert_eq!(cat.version, 0);
    }

    #[test]
    fn drop_database() {
        let mut cat = with_db("db");
        assert_eq!(cat.drop_database("db"), Ok(true));
        assert!(cat.databases.is_empty());
        assert_eq!(cat.drop_database("db"), Ok(false));
        assert_eq!(cat.version, 2);
    }

    #[test]
    fn create_retention_policy() {
        let mut cat = with_db("db");
        assert_eq!(
            cat.create_retention_policy("db", spec("two_days", 2 * DAY), false),
            Ok(true)
        );
        let rp = &cat.databases["db"].rps["two_days"];
        assert_eq!((rp.duration_ns, rp.shard_group_duration_ns), (2 * DAY, DAY));
        assert_eq!(cat.databases["db"].default_rp, "autogen");
        // Identical: ok, unchanged.
        assert_eq!(
            cat.create_retention_policy("db", spec("two_days", 2 * DAY), false),
            Ok(false)
        );
        // Different duration: exists.
        let err = cat
            .create_retention_policy("db", spec("two_days", 3 * DAY), false)
            .unwrap_err();
        assert_eq!(err.to_string(), "retention policy already exists");
        // Identical but asking to become default: conflict.
        assert_eq!(
            cat.create_retention_policy("db", spec("two_days", 2 * DAY), true),
            Err(CatalogError::RetentionPolicyConflict)
        );
        assert_eq!(
            cat.create_retention_policy("db", spec("year", 365 * DAY), true),
            Ok(true)
        );
        let db = &cat.databases["db"];
        assert_eq!(db.default_rp, "year");
        assert_eq!(db.rps["year"].shard_group_duration_ns, 7 * DAY);
    }

    #[test]
    fn create_retention_policy_errors() {
        let mut cat = with_db("db");
        let err = cat
            .create_retention_policy("nope", spec("rp", DAY), false)
            .unwrap_err();
        assert_eq!(err.to_string(), "database not found: nope");
        let err = cat.create_retention_policy("db", spec("rp", 59 * 60 * 1_000_000_000), false);
        assert_eq!(err, Err(CatalogError::RetentionPolicyDurationTooLow));
        let mut sgd_too_long = spec("rp", 2 * HOUR);
        sgd_too_long.shard_group_duration_ns = Some(3 * HOUR);
        let err = cat
            .create_retention_policy("db", sgd_too_long, false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "retention policy duration must be greater than the shard duration"
        );
        let mut no_replicas = spec("rp", DAY);
        no_replicas.replica_n = Some(0);
        assert_eq!(
            cat.create_retention_policy("db", no_replicas, false),
            Err(CatalogError::ReplicationFactorTooLow)
        );
        assert_eq!(
            cat.create_retention_policy("db", RetentionPolicySpec::default(), false),
            Err(CatalogError::InvalidName)
        );
        assert_eq!(cat.databases["db"].rps.len(), 1);
        assert_eq!(cat.version, 1);
    }

    #[test]
    fn shard_group_duration_rules() {
        assert_eq!(shard_group_duration_for(0), 7 * DAY);
        assert_eq!(shard_group_duration_for(HOUR), HOUR);
        assert_eq!(shard_group_duration_for(2 * DAY - 1), HOUR);
        assert_eq!(shard_group_duration_for(2 * DAY), DAY);
        assert_eq!(shard_group_duration_for(180 * DAY - 1), DAY);
        assert_eq!(shard_group_duration_for(180 * DAY), 7 * DAY);
        // A given shard duration below 1h is raised to 1h.
        let mut small_sgd = spec("rp", DAY);
        small_sgd.shard_group_duration_ns = Some(60_000_000_000);
        let mut cat = with_db("db");
        assert_eq!(
            cat.create_retention_policy("db", small_sgd, false),
            Ok(true)
        );
        assert_eq!(cat.databases["db"].rps["rp"].shard_group_duration_ns, HOUR);
    }

    #[test]
    fn alter_retention_policy() {
        let mut cat = with_db("db");
        let update = RetentionPolicyUpdate {
            duration_ns: Some(2 * HOUR),
            shard_group_duration_ns: Some(HOUR),
            ..Default::default()
        };
        assert_eq!(
            cat.alter_retention_policy("db", "autogen", update.clone(), false),
            Ok(true)
        );
        let rp = &cat.databases["db"].rps["autogen"];
        assert_eq!(
            (rp.duration_ns, rp.shard_group_duration_ns),
            (2 * HOUR, HOUR)
        );
        assert_eq!(
            cat.alter_retention_policy("db", "autogen", update, false),
            Ok(false)
        );
        assert_eq!(
            cat.create_retention_policy("db", spec("other", DAY), false),
            Ok(true)
        );
        let set_default = RetentionPolicyUpdate::default();
        assert_eq!(
            cat.alter_retention_policy("db", "other", set_default, true),
            Ok(true)
        );
        assert_eq!(cat.databases["db"].default_rp, "other");
    }

    #[test]
    fn alter_retention_policy_errors() {
        let mut cat = with_db("db");
        let none = RetentionPolicyUpdate::default();
        let err = cat
            .alter_retention_policy("x", "autogen", none.clone(), false)
            .unwrap_err();
        assert_eq!(err.to_string(), "database not found: x");
        let err = cat
            .alter_retention_policy("db", "rp", none, false)
            .unwrap_err();
        assert_eq!(err.to_string(), "retention policy not found: rp");
        let too_low = RetentionPolicyUpdate {
            duration_ns: Some(1_000_000_000),
            ..Default::default()
        };
        assert_eq!(
            cat.alter_retention_policy("db", "autogen", too_low, false),
            Err(CatalogError::RetentionPolicyDurationTooLow)
        );
        // autogen has 7-day shard groups: a 1-day duration alone is shorter.
        let shorter_than_sgd = RetentionPolicyUpdate {
            duration_ns: Some(DAY),
            ..Default::default()
        };
        assert_eq!(
            cat.alter_retention_policy("db", "autogen", shorter_than_sgd, false),
            Err(CatalogError::IncompatibleDurations)
        );
        assert_eq!(
            cat.create_retention_policy("db", spec("other", DAY), false),
            Ok(true)
        );
        let rename_onto_other = RetentionPolicyUpdate {
            name: Some("other".into()),
            ..Default::default()
        };
        let err = cat.alter_retention_policy("db", "autogen", rename_onto_other, false);
        assert_eq!(
            err.unwrap_err().to_string(),
            "retention policy name already exists"
        );
        assert_eq!(
            cat.databases["db"].rps["autogen"],
            RetentionPolicy::autogen()
        );
    }

    #[test]
    fn drop_retention_policy() {
        let mut cat = with_db("db");
        assert_eq!(cat.drop_retention_policy("nope", "autogen"), Ok(false));
        assert_eq!(cat.drop_retention_policy("db", "nope"), Ok(false));
        assert_eq!(cat.drop_retention_policy("db", "autogen"), Ok(true));
        // As in 1.x the default still names the dropped policy, so default writes now fail.
        assert_eq!(cat.databases["db"].default_rp, "autogen");
        let err = cat.resolve("db", None).unwrap_err();
        assert_eq!(err.to_string(), "retention policy not found: autogen");
    }

    #[test]
    fn resolve() {
        let mut cat = with_db("db");
        assert_eq!(
            cat.create_retention_policy("db", spec("week", 7 * DAY), false),
            Ok(true)
        );
        let (db, rp) = cat.resolve("db", None).unwrap();
        assert_eq!((db.name.as_str(), rp.name.as_str()), ("db", "autogen"));
        assert_eq!(cat.resolve("db", Some("")).unwrap().1.name, "autogen");
        assert_eq!(cat.resolve("db", Some("week")).unwrap().1.name, "week");
        let err = cat.resolve("nope", None).unwrap_err();
        assert_eq!(err, CatalogError::DatabaseNotFound("nope".into()));
        assert_eq!(err.to_string(), "database not found: nope");
        let err = cat.resolve("db", Some("month")).unwrap_err();
        assert_eq!(err.to_string(), "retention policy not found: month");
    }
}
