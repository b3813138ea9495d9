//! Every fixed bound in one place, named with the unit last, each with the reason for its value.
//!
//! Settings a user may change live in [`crate::config`]; their defaults are here (`*_DEFAULT`), next to
//! the hard bounds (`*_MIN`, `*_MAX`) the settings are checked against at start-up by [`check`], which
//! also asserts the relationships between settings. A bound with no setting is simply a constant.

use std::time::Duration;

use crate::config::{Config, ConfigError, FsyncMode};

// ---- names and keys (InfluxDB 1.x's own limits) ----

/// Longest series key (measurement + tags); 1.x `models.MaxKeyLength`, stored as a u16 length in TSM.
pub const KEY_BYTES_MAX: usize = 65_535;
/// Most tags on one line: each tag adds at least 4 bytes (`,k=v`) to a key of at most KEY_BYTES_MAX.
pub const TAGS_PER_LINE_MAX: usize = KEY_BYTES_MAX / 4;
/// Most fields on one line: bounds the per-line field list even when max-line-bytes is 0 (unlimited);
/// a batch stores a point's field count as a u16.
pub const FIELDS_PER_LINE_MAX: usize = u16::MAX as usize;
/// Longest database or retention policy name; 1.x `meta.MaxNameLen`.
pub const NAME_BYTES_MAX: usize = 255;
/// Shortest finite retention policy duration (1h); 1.x `meta.MinRetentionPolicyDuration`.
pub const RP_DURATION_MIN_NS: i64 = 3_600_000_000_000;

// ---- HTTP ----

/// Default request body bound: InfluxDB 1.x's `max-body-size` (25 MB); 0 in the config = unlimited.
pub const BODY_BYTES_MAX_DEFAULT: u64 = 25_000_000;
/// Default bound on a request head (request line + headers): 64 KiB holds any real client's head.
pub const HEADER_BYTES_MAX_DEFAULT: usize = 65_536;
/// Smallest allowed head bound: a request line plus a few headers must fit.
pub const HEADER_BYTES_MIN: usize = 1_024;
/// Largest allowed head bound: Go's `http.DefaultMaxHeaderBytes` (1 MiB), what influxd accepts.
pub const HEADER_BYTES_MAX: usize = 1_048_576;
/// Default bound on the number of headers in a request (httparse parses into a fixed array).
pub const HEADER_COUNT_MAX_DEFAULT: usize = 100;
/// Largest allowed header-count bound: keeps the per-connection header array small.
pub const HEADER_COUNT_MAX: usize = 1_024;
/// Longest line of a chunked body's chunk-size line (hex size + extensions); longer is a bad request.
pub const CHUNK_SIZE_LINE_BYTES_MAX: usize = 4_096;
/// Default time for a client to send a whole request head once it starts one (slowloris guard).
pub const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Default time a keep-alive connection may sit idle between requests (Go's default is 3 minutes).
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(180);
/// Longest allowed header-read or idle timeout: a day; anything longer is a typo.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(86_400);

// ---- line protocol ----

/// Default longest line: 4 MiB, room for 1.10+'s largest string field (1 MiB) plus keys many times over.
pub const LINE_BYTES_MAX_DEFAULT: u64 = 4 * 1_048_576;

// ---- data ----

/// Default per-core memtable bound before it is sealed and flushed (1.x's whole-cache default is 1 GiB).
pub const MEMTABLE_BYTES_MAX_DEFAULT: u64 = 256 * 1_048_576;
/// Smallest allowed memtable bound: below this, flushing would dominate the write path.
pub const MEMTABLE_BYTES_MIN: u64 = 1_048_576;
/// Default series per database; 1.x `max-series-per-database`; 0 in the config = unlimited.
pub const SERIES_PER_DATABASE_MAX_DEFAULT: u64 = 1_000_000;
/// Default distinct values per tag key; 1.x `max-values-per-tag`; 0 in the config = unlimited.
pub const VALUES_PER_TAG_MAX_DEFAULT: u64 = 100_000;
/// Default group-commit period for `wal-fsync = "interval"` (1.x recommends 0-100ms for `wal-fsync-delay`).
pub const FSYNC_INTERVAL_DEFAULT: Duration = Duration::from_millis(100);
/// Longest allowed fsync interval: the window of acknowledged writes a crash may lose.
pub const FSYNC_INTERVAL_MAX: Duration = Duration::from_secs(10);
/// Default time a write may wait on its owner cores before `500 {"error":"timeout"}`; 1.x coordinator.
pub const WRITE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

// ---- runtime ----

/// Most executor cores: the channel mesh has cores² channels, and no target machine has more.
pub const CORES_MAX: usize = 256;

// The bounds agree with each other (checked at compile time).
const _: () = {
    assert!(TAGS_PER_LINE_MAX * 4 <= KEY_BYTES_MAX);
    assert!(HEADER_BYTES_MIN <= HEADER_BYTES_MAX_DEFAULT);
    assert!(HEADER_BYTES_MAX_DEFAULT <= HEADER_BYTES_MAX);
    assert!((HEADER_BYTES_MAX_DEFAULT as u64) < BODY_BYTES_MAX_DEFAULT);
    assert!(HEADER_COUNT_MAX_DEFAULT <= HEADER_COUNT_MAX);
    assert!(FSYNC_INTERVAL_DEFAULT.as_nanos() <= FSYNC_INTERVAL_MAX.as_nanos());
    assert!(MEMTABLE_BYTES_MIN <= MEMTABLE_BYTES_MAX_DEFAULT);
    assert!(WRITE_TIMEOUT_DEFAULT.as_nanos() <= TIMEOUT_MAX.as_nanos());
};

// ---- per-line checks on the write path ----

/// Why a line is longer than `[http] max-line-bytes` allows (0 = no bound), or `None`.
pub fn line_too_long(cfg: &Config, line_no: usize, line: &[u8]) -> Option<String> {
    let max = cfg.http.max_line_bytes;
    let len = line.len() as u64;
    (max != 0 && len > max).then(|| format!("line {line_no} exceeds max-line-bytes ({len} > {max})"))
}

/// Why a decoded line has more tags or fields than `[http] max-tags-per-line` /
/// `max-fields-per-line` allow, or `None`.
pub fn too_many_keys(
    cfg: &Config,
    line_no: usize,
    point: &crate::lineproto::Line<'_, '_>,
) -> Option<String> {
    let (tags, fields) = (point.tag_count(), point.field_count());
    let (tags_max, fields_max) = (cfg.http.max_tags_per_line, cfg.http.max_fields_per_line);
    if tags > tags_max {
        return Some(format!(
            "line {line_no} has {tags} tags, above max-tags-per-line ({tags_max})"
        ));
    }
    if fields > fields_max {
        return Some(format!(
            "line {line_no} has {fields} fields, above max-fields-per-line ({fields_max})"
        ));
    }
    None
}

/// Checks every setting against its bounds and the settings against each other. Run at start-up
/// (from `Config::validate`); `Config::cores_resolved` must be called on the same machine.
pub fn check(cfg: &Config) -> Result<(), ConfigError> {
    check_http(cfg)?;
    check_data(cfg)?;
    check_runtime(cfg)
}

fn go(d: Duration) -> String {
    crate::catalog::format_go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn invalid(key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { key, message }
}

fn check_http(cfg: &Config) -> Result<(), ConfigError> {
    let http = &cfg.http;
    let header_bytes = http.max_header_bytes;
    if !(HEADER_BYTES_MIN..=HEADER_BYTES_MAX).contains(&header_bytes) {
        let msg = format!("{header_bytes} is outside {HEADER_BYTES_MIN}..={HEADER_BYTES_MAX}");
        return Err(invalid("http.max-header-bytes", msg));
    }
    // The head and body bounds are independent: a small body limit (tests, tight deployments)
    // must not force a small head limit.
    if !(1..=HEADER_COUNT_MAX).contains(&http.max_header_count) {
        let msg = format!(
            "{} is outside 1..={HEADER_COUNT_MAX}",
            http.max_header_count
        );
        return Err(invalid("http.max-header-count", msg));
    }
    if !(1..=TAGS_PER_LINE_MAX).contains(&http.max_tags_per_line) {
        let msg = format!(
            "{} is outside 1..={TAGS_PER_LINE_MAX}",
            http.max_tags_per_line
        );
        return Err(invalid("http.max-tags-per-line", msg));
    }
    if !(1..=FIELDS_PER_LINE_MAX).contains(&http.max_fields_per_line) {
        let msg = format!(
            "{} is outside 1..={FIELDS_PER_LINE_MAX}",
            http.max_fields_per_line
        );
        return Err(invalid("http.max-fields-per-line", msg));
    }
    check_timeout("http.header-read-timeout", http.header_read_timeout)?;
    check_timeout("http.idle-timeout", http.idle_timeout)
}

fn check_timeout(key: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() || value > TIMEOUT_MAX {
        let msg = format!("must be above 0s and at most {}", go(TIMEOUT_MAX));
        return Err(invalid(key, msg));
    }
    Ok(())
}

fn check_data(cfg: &Config) -> Result<(), ConfigError> {
    let data = &cfg.data;
    if data.dir.as_os_str().is_empty() {
        return Err(invalid("data.dir", "must not be empty".to_string()));
    }
    if data.memtable_max_bytes < MEMTABLE_BYTES_MIN {
        let msg = format!("{} is below {MEMTABLE_BYTES_MIN}", data.memtable_max_bytes);
        return Err(invalid("data.memtable-max-bytes", msg));
    }
    let interval = data.wal_fsync_interval;
    if data.wal_fsync == FsyncMode::Interval
        && (interval.is_zero() || interval > FSYNC_INTERVAL_MAX)
    {
        let max = go(FSYNC_INTERVAL_MAX);
        let msg = format!("must be above 0s and at most {max} when wal-fsync = \"interval\"");
        return Err(invalid("data.wal-fsync-interval", msg));
    }
    check_timeout("data.write-timeout", data.write_timeout)
}

fn check_runtime(cfg: &Config) -> Result<(), ConfigError> {
    let cores = cfg.cores_resolved();
    if !(1..=CORES_MAX).contains(&cores) {
        let msg = format!("{cores} is outside 1..={CORES_MAX} (0 = all available)");
        return Err(invalid("runtime.cores", msg));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(cfg: &Config) -> Option<&'static str> {
        match check(cfg) {
            Ok(()) => None,
            Err(ConfigError::Invalid { key, .. }) => Some(key),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(key_of(&Config::default()), None);
    }

    #[test]
    fn header_bytes_are_bounded() {
        let mut cfg = Config::default();
        cfg.http.max_body_size = 1000; // a small body bound is fine with the default head bound
        assert_eq!(key_of(&cfg), None);
        cfg.http.max_header_bytes = HEADER_BYTES_MIN - 1;
        assert_eq!(key_of(&cfg), Some("http.max-header-bytes"));
        cfg.http.max_header_bytes = HEADER_BYTES_MAX + 1;
        assert_eq!(key_of(&cfg), Some("http.max-header-bytes"));
    }

    #[test]
    fn header_count_and_timeouts_are_bounded() {
        let mut cfg = Config::default();
        cfg.http.max_header_count = 0;
        assert_eq!(key_of(&cfg), Some("http.max-header-count"));
        let mut cfg = Config::default();
        cfg.http.idle_timeout = Duration::ZERO;
        assert_eq!(key_of(&cfg), Some("http.idle-timeout"));
        let mut cfg = Config::default();
        cfg.data.write_timeout = TIMEOUT_MAX + Duration::from_secs(1);
        let err = check(&cfg).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting data.write-timeout: must be above 0s and at most 24h0m0s"
        );
    }

    #[test]
    fn per_line_bounds() {
        let mut cfg = Config::default();
        cfg.http.max_fields_per_line = FIELDS_PER_LINE_MAX + 1;
        assert_eq!(key_of(&cfg), Some("http.max-fields-per-line"));
        cfg.http.max_fields_per_line = 0;
        assert_eq!(key_of(&cfg), Some("http.max-fields-per-line"));
        let mut cfg = Config::default();
        cfg.http.max_tags_per_line = TAGS_PER_LINE_MAX + 1;
        assert_eq!(key_of(&cfg), Some("http.max-tags-per-line"));
    }

    #[test]
    fn fsync_interval_matters_only_in_interval_mode() {
        let mut cfg = Config::default();
        cfg.data.wal_fsync_interval = Duration::ZERO;
        assert_eq!(key_of(&cfg), None);
        cfg.data.wal_fsync = FsyncMode::Interval;
        assert_eq!(key_of(&cfg), Some("data.wal-fsync-interval"));
        cfg.data.wal_fsync_interval = FSYNC_INTERVAL_MAX;
        assert_eq!(key_of(&cfg), None);
    }

    #[test]
    fn data_and_runtime_bounds() {
        let mut cfg = Config::default();
        cfg.data.memtable_max_bytes = MEMTABLE_BYTES_MIN - 1;
        assert_eq!(key_of(&cfg), Some("data.memtable-max-bytes"));
        let mut cfg = Config::default();
        cfg.data.dir = std::path::PathBuf::new();
        assert_eq!(key_of(&cfg), Some("data.dir"));
        let mut cfg = Config::default();
        cfg.runtime.cores = CORES_MAX + 1;
        assert_eq!(key_of(&cfg), Some("runtime.cores"));
        cfg.runtime.cores = CORES_MAX;
        assert_eq!(key_of(&cfg), None);
    }
}
