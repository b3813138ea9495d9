//! Atomic persistence of the catalog as `<data dir>/catalog.json`.
//!
//! Save: write `catalog.json.tmp`, fsync it, rename it over `catalog.json`, fsync the directory. A crash
//! at any point leaves either the old or the new `catalog.json` whole: before the rename only the temp
//! file is affected, the rename is atomic, and the directory fsync makes the rename itself durable.
//! Load reads `catalog.json` only, so a temp file left by an interrupted save is ignored (and the next
//! save truncates it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::Catalog;

/// The catalog file inside the data directory.
pub const CATALOG_FILE: &str = "catalog.json";
/// Where a save writes before the rename.
pub const CATALOG_TEMP_FILE: &str = "catalog.json.tmp";

impl Catalog {
    /// Reads `dir/catalog.json`; a missing file is an empty catalog, a corrupt one an `InvalidData` error.
    pub fn load(dir: &Path) -> io::Result<Catalog> {
        let path = dir.join(CATALOG_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Catalog::default()),
            Err(e) => return Err(e),
        };
        let corrupt = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupt catalog {}: {why}", path.display()),
            )
        };
        let catalog: Catalog =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        match catalog.misfiled_name() {
            Some(name) => Err(corrupt(format!(
                "entry {name:?} is filed under another name"
            ))),
            None => Ok(catalog),
        }
    }

    /// A database or policy whose map key differs from its own name (only a hand-edited file has one).
    fn misfiled_name(&self) -> Option<&str> {
        for (key, db) in &self.databases {
            if *key != db.name {
                return Some(&db.name);
            }
            if let Some((_, rp)) = db.rps.iter().find(|(key, rp)| **key != rp.name) {
                return Some(&rp.name);
            }
        }
        None
    }

    /// Writes the catalog to `dir/catalog.json` atomically and durably (see the module doc).
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let temp = dir.join(CATALOG_TEMP_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, dir.join(CATALOG_FILE))?;
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::RetentionPolicySpec;

    fn sample() -> Catalog {
        let mut cat = Catalog::default();
        assert_eq!(cat.create_database("telegraf", None), Ok(true));
        let spec = RetentionPolicySpec {
            name: Some("week".into()),
            duration_ns: Some(7 * 86_400_000_000_000),
            ..Default::default()
        };
        assert_eq!(
            cat.create_retention_policy("telegraf", spec, false),
            Ok(true)
        );
        cat
    }

    #[test]
    fn missing_file_is_an_empty_catalog() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), Catalog::default());
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cat = sample();
        cat.save(dir.path()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), cat);
        assert!(!dir.path().join(CATALOG_TEMP_FILE).exists());
    }

    #[test]
    fn save_replaces_the_previous_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = sample();
        cat.save(dir.path()).unwrap();
        assert_eq!(cat.drop_database("telegraf"), Ok(true));
        cat.save(dir.path()).unwrap();
        let loaded = Catalog::load(dir.path()).unwrap();
        assert!(loaded.databases.is_empty());
        assert_eq!(loaded.version, cat.version);
    }

    #[test]
    fn leftover_temp_file_from_an_interrupted_save_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cat = sample();
        cat.save(dir.path()).unwrap();
        // A save that crashed mid-write leaves a torn temp file and the old catalog.json untouched.
        fs::write(
            dir.path().join(CATALOG_TEMP_FILE),
            b"{\"version\": 99, \"datab",
        )
        .unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), cat);
        // The next save overwrites the leftover.
        let mut next = cat.clone();
        assert_eq!(next.create_database("other", None), Ok(true));
        next.save(dir.path()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), next);
    }

    #[test]
    fn corrupt_catalog_is_an_error_not_an_empty_catalog() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CATALOG_FILE), b"{not json").unwrap();
        let err = Catalog::load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("corrupt catalog"), "{err}");
    }

    #[test]
    fn misfiled_entries_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = sample();
        let mut db = cat.databases["telegraf"].clone();
        db.name = "other".into();
        cat.databases.insert("telegraf".into(), db);
        cat.save(dir.path()).unwrap();
        let err = Catalog::load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .contains("\"other\" is filed under another name"),
            "{err}"
        );
    }
}
