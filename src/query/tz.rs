//! Time zones for `tz('...')`: the names Go's `time.LoadLocation` accepts, read from the
//! system's zoneinfo database.

/// Where the IANA database lives (Debian's `tzdata`).
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Whether `name` is a zone 1.x would load: `""`/`UTC`/`Local` or a file of the database.
pub fn exists(name: &str) -> bool {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return true;
    }
    // Go refuses names that escape the database directory.
    if name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
        return false;
    }
    std::path::Path::new(ZONEINFO).join(name).is_file()
}
