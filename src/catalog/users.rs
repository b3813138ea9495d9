//! Users, their bcrypt password hashes and per-database privileges (InfluxDB 1.x's meta store:
//! services/meta/data.go and client.go, identical in 1.6.7 and 1.8 for these operations).
//!
//! - Passwords are stored only as bcrypt hashes (cost [`BCRYPT_COST`], 1.x's `bcrypt.DefaultCost`).
//!   Hashing happens before the catalog change (see [`hash_password`]): the change closure on core 0
//!   only swaps strings, so core 0 never spends a bcrypt inside a catalog change.
//! - `CREATE USER` of an existing user is idempotent when the password and admin flag match
//!   (1.x `Client.CreateUser`), else `user already exists`.
//! - `DROP DATABASE` forgets every user's privilege on it ([`Users::forget_database`]).
//! - Privileges are bit sets as in influxql: READ = 1, WRITE = 2, ALL = 3; `REVOKE p` clears the bits.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// bcrypt cost of new password hashes: 1.x uses `bcrypt.DefaultCost` (10).
pub const BCRYPT_COST: u32 = 10;

/// A privilege on one database, as influxql's `Privilege` (a two-bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub enum Privilege {
    #[default]
    NoPrivileges,
    Read,
    Write,
    All,
}

impl Privilege {
    fn bits(self) -> u8 {
        match self {
            Privilege::NoPrivileges => 0,
            Privilege::Read => 1,
            Privilege::Write => 2,
            Privilege::All => 3,
        }
    }

    fn from_bits(b: u8) -> Privilege {
        match b & 3 {
            0 => Privilege::NoPrivileges,
            1 => Privilege::Read,
            2 => Privilege::Write,
            _ => Privilege::All,
        }
    }

    /// `self &^ other`: what is left after revoking `other`.
    pub fn without(self, other: Privilege) -> Privilege {
        Privilege::from_bits(self.bits() & !other.bits())
    }

    /// Whether holding `self` grants `wanted` (1.x `AuthorizeDatabase`: equal or ALL).
    pub fn allows(self, wanted: Privilege) -> bool {
        wanted == Privilege::NoPrivileges || self == wanted || self == Privilege::All
    }
}

impl fmt::Display for Privilege {
    /// influxql's `Privilege.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Privilege::NoPrivileges => "NO PRIVILEGES",
            Privilege::Read => "READ",
            Privilege::Write => "WRITE",
            Privilege::All => "ALL PRIVILEGES",
        })
    }
}

/// One user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// bcrypt hash (`$2b$10$...`) of the password.
    pub hash: String,
    pub admin: bool,
    /// Database name -> privilege (a database with `NoPrivileges` after a REVOKE stays listed, as in 1.x).
    #[serde(default)]
    pub privileges: BTreeMap<String, Privilege>,
}

impl User {
    /// 1.x `UserInfo.AuthorizeDatabase`: admins may do anything; otherwise the stored privilege
    /// on `db` must be `wanted` or ALL.
    pub fn authorize_database(&self, wanted: Privilege, db: &str) -> bool {
        self.admin
            || wanted == Privilege::NoPrivileges
            || self.privileges.get(db).is_some_and(|p| p.allows(wanted))
    }
}

/// Every user, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Users {
    pub by_name: BTreeMap<String, User>,
}

/// User errors; `Display` is 1.x's text (services/meta/errors.go).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user already exists")]
    UserExists,
    #[error("user not found")]
    UserNotFound,
    #[error("username required")]
    UsernameRequired,
    /// `SetPrivilege` on a missing database (1.x `influxdb.ErrDatabaseNotFound`).
    #[error("database not found: {0}")]
    DatabaseNotFound(String),
    #[error("bcrypt: {0}")]
    Hash(String),
}

/// bcrypt-hashes a password (cost [`BCRYPT_COST`]): ~50-100 ms, so callers run it off the core's
/// event loop (`glommio::executor().spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches a bcrypt `hash`; a malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

impl Users {
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// 1.x `adminUserExists`: auth is enforced only once an admin exists.
    pub fn admin_exists(&self) -> bool {
        self.by_name.values().any(|u| u.admin)
    }

    /// `CREATE USER name WITH PASSWORD p [WITH ALL PRIVILEGES]`. `hash` is `hash_password(p)`;
    /// `password` is needed only to tell an idempotent repeat from a conflicting one.
    /// Returns whether anything changed.
    pub fn create(
        &mut self,
        name: &str,
        password: &str,
        hash: String,
        admin: bool,
    ) -> Result<bool, UserError> {
        if name.is_empty() {
            return Err(UserError::UsernameRequired);
        }
        if let Some(u) = self.by_name.get(name) {
            if u.admin == admin && verify_password(password, &u.hash) {
                return Ok(false);
            }
            return Err(UserError::UserExists);
        }
        self.by_name.insert(
            name.to_string(),
            User {
                name: name.to_string(),
                hash,
                admin,
                privileges: BTreeMap::new(),
            },
        );
        Ok(true)
    }

    /// `DROP USER name`.
    pub fn drop_user(&mut self, name: &str) -> Result<(), UserError> {
        self.by_name
            .remove(name)
            .map(|_| ())
            .ok_or(UserError::UserNotFound)
    }

    /// `SET PASSWORD FOR name = p`, with `hash = hash_password(p)`.
    pub fn set_password(&mut self, name: &str, hash: String) -> Result<(), UserError> {
        let u = self.by_name.get_mut(name).ok_or(UserError::UserNotFound)?;
        u.hash = hash;
        Ok(())
    }

    /// 1.x `SetPrivilege` (GRANT p ON db TO u); `db_exists` is the catalog's answer.
    pub fn set_privilege(
        &mut self,
        name: &str,
        db: &str,
        p: Privilege,
        db_exists: bool,
    ) -> Result<(), UserError> {
        let u = self.by_name.get_mut(name).ok_or(UserError::UserNotFound)?;
        if !db_exists {
            return Err(UserError::DatabaseNotFound(db.to_string()));
        }
        u.privileges.insert(db.to_string(), p);
        Ok(())
    }

    /// `REVOKE p ON db FROM u`: clears `p`'s bits from the stored privilege (1.x
    /// `executeRevokeStatement`: REVOKE ALL sets NO PRIVILEGES without looking).
    pub fn revoke(
        &mut self,
        name: &str,
        db: &str,
        p: Privilege,
        db_exists: bool,
    ) -> Result<(), UserError> {
        let u = self.by_name.get(name).ok_or(UserError::UserNotFound)?;
        let left = match p {
            Privilege::All => Privilege::NoPrivileges,
            p => u.privileges.get(db).copied().unwrap_or_default().without(p),
        };
        self.set_privilege(name, db, left, db_exists)
    }

    /// `GRANT ALL PRIVILEGES TO u` / `REVOKE ALL PRIVILEGES FROM u`.
    pub fn set_admin(&mut self, name: &str, admin: bool) -> Result<(), UserError> {
        let u = self.by_name.get_mut(name).ok_or(UserError::UserNotFound)?;
        u.admin = admin;
        Ok(())
    }

    /// `SHOW GRANTS FOR u`: (database, privilege) in name order.
    pub fn grants(&self, name: &str) -> Result<Vec<(String, Privilege)>, UserError> {
        let u = self.by_name.get(name).ok_or(UserError::UserNotFound)?;
        Ok(u.privileges.iter().map(|(d, p)| (d.clone(), *p)).collect())
    }

    /// 1.x `DropDatabase` deletes every user's privilege on it.
    pub fn forget_database(&mut self, db: &str) {
        for u in self.by_name.values_mut() {
            u.privileges.remove(db);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap hash for tests (cost 4, the minimum), so tests do not spend 100 ms per user.
    fn quick_hash(p: &str) -> String {
        bcrypt::hash(p, 4).unwrap()
    }

    #[test]
    fn privileges_are_bit_sets() {
        assert_eq!(Privilege::All.without(Privilege::Read), Privilege::Write);
        assert_eq!(Privilege::All.without(Privilege::Write), Privilege::Read);
        assert_eq!(Privilege::Read.without(Privilege::Write), Privilege::Read);
        assert_eq!(
            Privilege::Read.without(Privilege::Read),
            Privilege::NoPrivileges
        );
        assert!(Privilege::All.allows(Privilege::Write));
        assert!(!Privilege::Read.allows(Privilege::Write));
        assert!(Privilege::NoPrivileges.allows(Privilege::NoPrivileges));
        assert_eq!(Privilege::All.to_string(), "ALL PRIVILEGES");
        assert_eq!(Privilege::NoPrivileges.to_string(), "NO PRIVILEGES");
    }

    #[test]
    fn create_is_idempotent_only_with_the_same_password_and_flag() {
        let mut u = Users::default();
        assert!(!u.admin_exists());
        assert!(u.create("root", "pw", quick_hash("pw"), true).unwrap());
        assert!(u.admin_exists());
        assert!(!u.create("root", "pw", quick_hash("pw"), true).unwrap());
        assert_eq!(
            u.create("root", "other", quick_hash("other"), true),
            Err(UserError::UserExists)
        );
        assert_eq!(
            u.create("root", "pw", quick_hash("pw"), false),
            Err(UserError::UserExists)
        );
        assert_eq!(
            u.create("", "pw", quick_hash("pw"), false),
            Err(UserError::UsernameRequired)
        );
        assert!(verify_password("pw", &u.get("root").unwrap().hash));
        assert!(!verify_password("pw", "not a bcrypt hash"));
    }

    #[test]
    fn grant_revoke_and_drop() {
        let mut u = Users::default();
        u.create("bob", "pw", quick_hash("pw"), false).unwrap();
        assert_eq!(
            u.set_privilege("bob", "db", Privilege::All, false),
            Err(UserError::DatabaseNotFound("db".into()))
        );
        assert_eq!(
            u.set_privilege("eve", "db", Privilege::All, true),
            Err(UserError::UserNotFound)
        );
        u.set_privilege("bob", "db", Privilege::All, true).unwrap();
        let bob = u.get("bob").unwrap();
        assert!(bob.authorize_database(Privilege::Write, "db"));
        assert!(!bob.authorize_database(Privilege::Read, "other"));
        u.revoke("bob", "db", Privilege::Write, true).unwrap();
        assert_eq!(
            u.grants("bob").unwrap(),
            vec![("db".to_string(), Privilege::Read)]
        );
        assert!(!u
            .get("bob")
            .unwrap()
            .authorize_database(Privilege::Write, "db"));
        u.revoke("bob", "db", Privilege::All, true).unwrap();
        assert_eq!(
            u.grants("bob").unwrap(),
            vec![("db".to_string(), Privilege::NoPrivileges)]
        );
        u.set_admin("bob", true).unwrap();
        assert!(u
            .get("bob")
            .unwrap()
            .authorize_database(Privilege::Write, "x"));
        u.forget_database("db");
        assert!(u.grants("bob").unwrap().is_empty());
        u.set_password("bob", quick_hash("new")).unwrap();
        assert!(verify_password("new", &u.get("bob").unwrap().hash));
        u.drop_user("bob").unwrap();
        assert_eq!(u.drop_user("bob"), Err(UserError::UserNotFound));
        assert_eq!(u.grants("bob"), Err(UserError::UserNotFound));
    }

    #[test]
    fn users_round_trip_through_json() {
        let mut u = Users::default();
        u.create("a", "p", quick_hash("p"), true).unwrap();
        let s = serde_json::to_string(&u).unwrap();
        let back: Users = serde_json::from_str(&s).unwrap();
        assert_eq!(back, u);
    }
}
