//! The settings' defaults and bounds and InfluxDB 1.x's name, key and time limits, named with the
//! unit last, each with the reason for its value. Constants only: this module depends on nothing
//! in the crate, and the modules that enforce a bound take it from here.
//!
//! Settings a user may change live in [`crate::config`]; their defaults are here (`*_DEFAULT`),
//! next to the hard bounds (`*_MIN`, `*_MAX`) that `config` checks the settings against at
//! start-up. A bound with no setting is simply a constant. Internal sizes with no setting (buffer
//! pools, caches, segment file bounds, memtable chunk sizes, parse errors listed per answer) are
//! constants in the modules that use them.

use std::time::Duration;

// ---- names and keys (InfluxDB 1.x's own limits) ----

/// Longest series key (measurement + tags); 1.x `models.MaxKeyLength`, stored as a u16 length in TSM.
pub const KEY_BYTES_MAX: usize = 65_535;
/// Most tags on one line: each tag adds at least 4 bytes (`,k=v`) to a key of at most KEY_BYTES_MAX.
pub const TAGS_PER_LINE_MAX: usize = KEY_BYTES_MAX / 4;
/// Most fields on one line: bounds the per-line field list even when max-line-bytes is 0 (unlimited);
/// a batch stores a point's field count as a u16.
pub const FIELDS_PER_LINE_MAX: usize = u16::MAX as usize;
/// Most request timelines a core keeps (`[http] request-timeline`): 40 bytes each.
pub const REQUEST_TIMELINE_MAX: usize = 1_000_000;
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
/// Bytes of decoded segment footers one partition keeps (most recently read files first).
pub const FOOTER_CACHE_BYTES_MAX: usize = 16 * 1_048_576;
/// Default of `[data] compact-min-files`: small segment files of one (db, rp) in a partition
/// that start a compaction.
pub const COMPACT_MIN_FILES_DEFAULT: usize = 8;
/// Default of `[data] compact-small-file-bytes`: a segment file below this is "small".
pub const COMPACT_SMALL_FILE_BYTES_DEFAULT: u64 = 4 * 1_048_576;
/// Most input bytes one compaction merges.
pub const COMPACT_INPUT_BYTES_MAX: u64 = 64 * 1_048_576;
/// Most input files one compaction merges: a merge holds two 16 KiB read windows per input.
pub const COMPACT_INPUT_FILES_MAX: usize = 32;
/// Default series per database; 1.x `max-series-per-database`; 0 in the config = unlimited.
pub const SERIES_PER_DATABASE_MAX_DEFAULT: u64 = 1_000_000;
/// Default distinct values per tag key; 1.x `max-values-per-tag`; 0 in the config = unlimited.
pub const VALUES_PER_TAG_MAX_DEFAULT: u64 = 100_000;
/// Default group-commit period for `wal-fsync = "interval"` (1.x recommends 0-100ms for `wal-fsync-delay`).
pub const FSYNC_INTERVAL_DEFAULT: Duration = Duration::from_millis(100);
/// `[export] max-age` default: the longest an acknowledged point waits before it is exported.
pub const EXPORT_MAX_AGE_DEFAULT: Duration = Duration::from_secs(60);
/// `[export] max-age` bounds: below a second a seal per partition per tick would be the load.
pub const EXPORT_MAX_AGE_MIN: Duration = Duration::from_secs(1);
pub const EXPORT_MAX_AGE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest allowed fsync interval: the window of acknowledged writes a crash may lose.
pub const FSYNC_INTERVAL_MAX: Duration = Duration::from_secs(10);
/// Default time a write may wait on its owner cores before `500 {"error":"timeout"}`; 1.x coordinator.
pub const WRITE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Free bytes on the data dir's file system below which writes are refused (503). Each core
/// looks every 100 ms; at full TSBS ingest a core writes ~150 MB/s of WAL, ~15 MB between two
/// looks, and a seal writes a few MiB (a 64 MiB memtable compresses ~10x): 64 MiB covers a few
/// cores at full rate plus their seals, so the floor is met by a clean refusal, not by ENOSPC in
/// the middle of a WAL batch or a seal (which heal too, but cost a reopen).
pub const MIN_FREE_DISK_BYTES_DEFAULT: u64 = 64 * 1_048_576;
/// Longest a graceful shutdown (SIGTERM, SIGINT) may take before the process exits anyway;
/// systemd's `TimeoutStopSec` in `packaging/lineshard.service` is a little above it.
pub const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

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
