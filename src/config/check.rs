//! The settings' bounds ([`crate::limits`]) and relationships, checked at start-up.

use std::time::Duration;

use super::{Config, ConfigError, FsyncMode};
use crate::limits::*;

/// Checks every setting against its bounds and the settings against each other. Run at start-up
/// (from [`Config::validate`]); `Config::cores_resolved` must be called on the same machine.
pub fn check(cfg: &Config) -> Result<(), ConfigError> {
    check_http(cfg)?;
    check_data(cfg)?;
    check_logging(cfg)?;
    check_export(cfg)?;
    check_runtime(cfg)
}

fn check_logging(cfg: &Config) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::try_new(&cfg.logging.level)
        .map(|_| ())
        .map_err(|e| invalid("logging.level", format!("{:?}: {e}", cfg.logging.level)))
}

fn check_export(cfg: &Config) -> Result<(), ConfigError> {
    let e = &cfg.export;
    if !(EXPORT_MAX_AGE_MIN..=EXPORT_MAX_AGE_MAX).contains(&e.max_age) {
        let msg = format!(
            "must be at least {} and at most {}",
            go(EXPORT_MAX_AGE_MIN),
            go(EXPORT_MAX_AGE_MAX)
        );
        return Err(invalid("export.max-age", msg));
    }
    if let Some(rest) = e.path.strip_prefix("s3://") {
        if rest.split('/').next().unwrap_or("").is_empty() {
            return Err(invalid("export.path", "s3:// needs a bucket".to_string()));
        }
        if !cfg!(feature = "s3") {
            let msg = "this build has no S3 support (build with --features s3)".to_string();
            return Err(invalid("export.path", msg));
        }
    } else if e.path.contains("://") {
        let msg = "must be empty, a local directory or s3://bucket/prefix".to_string();
        return Err(invalid("export.path", msg));
    }
    if e.node.bytes().any(|b| b == b'/' || b < b' ') {
        let msg = "must not hold '/' or control characters".to_string();
        return Err(invalid("export.node", msg));
    }
    Ok(())
}

fn go(d: Duration) -> String {
    crate::duration::format_go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
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
    if http.request_timeline > REQUEST_TIMELINE_MAX {
        let msg = format!(
            "{} is outside 0..={REQUEST_TIMELINE_MAX}",
            http.request_timeline
        );
        return Err(invalid("http.request-timeline", msg));
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
    if data.compact_min_files == 1 {
        let msg = "must be 0 (never compact) or at least 2".to_string();
        return Err(invalid("data.compact-min-files", msg));
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
    check_timeout("runtime.shutdown-timeout", cfg.runtime.shutdown_timeout)
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
        cfg.http.max_fields_per_line = 1;
        cfg.http.request_timeline = REQUEST_TIMELINE_MAX + 1;
        assert_eq!(key_of(&cfg), Some("http.request-timeline"));
        cfg.http.request_timeline = REQUEST_TIMELINE_MAX;
        assert_eq!(key_of(&cfg), None);
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
        cfg.data.compact_min_files = 1;
        assert_eq!(key_of(&cfg), Some("data.compact-min-files"));
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
