//! The settings' defaults and bounds and InfluxDB 1.x's name and key limits, named with the unit
//! last, each with the reason for its value.
//!
//! Settings a user may change live in [`crate::config`]; their defaults are here (`*_DEFAULT`), next to
//! the hard bounds (`*_MIN`, `*_MAX`) the settings are checked against at start-up by [`check`], which
//! also asserts the relationships between settings. A bound with no setting is simply a constant.
//!
//! Not every bound is here. The decoder enforces the key length and the time range with its own
//! constants (`MAX_KEY_LENGTH`, `MIN_NANO_TIME`, `MAX_NANO_TIME` in `lineproto/error.rs`;
//! `KEY_BYTES_MAX` here is the same value), and `http/body.rs` the chunk-size line bound
//! (`CHUNK_LINE_BYTES_MAX`; `CHUNK_SIZE_LINE_BYTES_MAX` here is the same value). `query/mod.rs`
//! repeats the time range (`TIME_MIN_NS`, `TIME_MAX_NS`), and `HttpLimits::default` in
//! `http/mod.rs` repeats the HTTP defaults (the server builds its `HttpLimits` from the config).
//! Internal sizes with no setting (buffer pools, caches, segment file bounds, memtable chunk
//! sizes, parse errors listed per answer) are constants in the modules that use them.

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

/// Default per-partition memtable bound before it is sealed and flushed (1.x's whole-cache default is 1 GiB).
pub const MEMTABLE_BYTES_MAX_DEFAULT: u64 = 64 * 1_048_576;
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
    (max != 0 && len > max)
        .then(|| format!("line {line_no} exceeds max-line-bytes ({len} > {max})"))
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

// ---- series cardinality (max-series-per-database, max-values-per-tag) ----

/// (database, measurement, tag key).
type TagKey = (String, Vec<u8>, Vec<u8>);

/// One core's share of the cardinality limits, which the owner core of a series consults before
/// it stores a series new to it (`shard::cardinality::Cardinality`, asked by
/// `Memtable::apply_admitting` from `Partition::apply`).
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

    /// Forgets a dropped database.
    pub fn forget_database(&mut self, db: &str) {
        self.series.remove(db);
        self.values.retain(|(d, _, _), _| d != db);
    }
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
