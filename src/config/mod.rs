//! One documented configuration tree, read from TOML and overridden by command-line flags.
//!
//! Keys are kebab-case and named after InfluxDB 1.x's where one exists (`[http] bind-address`,
//! `max-body-size`, `[data] dir`, `max-series-per-database`). Every section is
//! `#[serde(default, deny_unknown_fields)]`: a missing key takes its default, a misspelt one is an error.
//! Durations are Go-style strings (`"10s"`, `"3m"`, `"100ms"`, see [`crate::duration`]).
//!
//! Each setting is declared once, with its default and a one-line doc, through `section!`; the doc is
//! both the rustdoc and the `# comment` that `--print-config` ([`print_config`]) writes above it.
//! Bounds and defaults that are numbers live in [`crate::limits`]; `check.rs` checks the settings
//! against them at start-up ([`Config::validate`]).
//!
//! Start-up order (main.rs): `Cli::parse()` -> [`Cli::into_config`] -> `--print-config`? print and exit
//! -> [`Config::validate`] -> run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::limits;

mod check;

/// Declares one `[section]` struct: fields with defaults and one-line docs, plus the doc table
/// `print_config` walks (declaration order = printed order).
macro_rules! section {
    (
        $sdoc:literal
        $name:ident [$key:literal] {
            $( $(#[$fmeta:meta])* $doc:literal $field:ident : $ty:ty = $default:expr; )*
        }
    ) => {
        #[doc = $sdoc]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $( #[doc = $doc] $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The TOML table name.
            pub const SECTION: &'static str = $key;
            /// The section's one-line doc.
            pub const DOC: &'static str = $sdoc;
            /// `(field name, one-line doc)` in declaration order; keys are the names in kebab-case.
            pub const FIELDS: &'static [(&'static str, &'static str)] = &[ $( (stringify!($field), $doc), )* ];
        }
    };
}

section! {
    "HTTP listener and request limits."
    HttpConfig ["http"] {
        "Address (ip:port) every core listens on; the server refuses to start if it is in use."
        bind_address: SocketAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8086));
        "Largest request body in bytes, after gzip decompression (413 past it); 0 = unlimited."
        max_body_size: u64 = limits::BODY_BYTES_MAX_DEFAULT;
        "Largest request head (request line and headers) in bytes; larger requests are refused."
        max_header_bytes: usize = limits::HEADER_BYTES_MAX_DEFAULT;
        "Most headers in one request; requests with more are refused."
        max_header_count: usize = limits::HEADER_COUNT_MAX_DEFAULT;
        #[serde(with = "go_duration_serde")]
        "Time allowed to receive a whole request head once its first byte arrived."
        header_read_timeout: Duration = limits::HEADER_READ_TIMEOUT_DEFAULT;
        #[serde(with = "go_duration_serde")]
        "Time a keep-alive connection may stay idle between requests before it is closed."
        idle_timeout: Duration = limits::IDLE_TIMEOUT_DEFAULT;
        "Most open client connections (each core takes its share); past it new ones get 503 and are closed; 0 = unlimited."
        max_connection_limit: u32 = 0;
        "Require credentials (u/p parameters, Basic or Token auth) on every request."
        auth_enabled: bool = false;
        "Longest line-protocol line in bytes; longer lines are rejected as unparsable; 0 = no line limit."
        max_line_bytes: u64 = limits::LINE_BYTES_MAX_DEFAULT;
        "Most tags on one line-protocol line; lines with more are dropped (partial write)."
        max_tags_per_line: usize = limits::TAGS_PER_LINE_MAX;
        "Most fields on one line-protocol line; lines with more are dropped (partial write)."
        max_fields_per_line: usize = limits::FIELDS_PER_LINE_MAX;
        "With auth-enabled, /metrics requires an admin user; false leaves /metrics open."
        metrics_auth: bool = true;
        "Write an access log line per request (1.x's combined log format) to the log."
        log_enabled: bool = false;
        "Requests whose step timeline (head read ... answered) each core keeps for GET /debug/requests; 0 = off."
        request_timeline: usize = 0;
    }
}

section! {
    "Storage: where data lives, how durable a 204 is, and per-database limits."
    DataConfig ["data"] {
        "Directory for the catalog, write-ahead logs and segments; created if missing."
        dir: PathBuf = PathBuf::from("./lineshard-data");
        "When a write is fsync'd: always (before the 204), interval (every wal-fsync-interval), never."
        wal_fsync: FsyncMode = FsyncMode::Always;
        #[serde(with = "go_duration_serde")]
        "Group-commit period when wal-fsync = \"interval\": the most acknowledged writes a crash can lose."
        wal_fsync_interval: Duration = limits::FSYNC_INTERVAL_DEFAULT;
        "In-memory bytes of one partition's memtable before it is sealed and flushed to a segment."
        memtable_max_bytes: u64 = limits::MEMTABLE_BYTES_MAX_DEFAULT;
        "Small segment files of one database and retention policy in a partition that start a background compaction merging them into one; 0 = never compact."
        compact_min_files: usize = limits::COMPACT_MIN_FILES_DEFAULT;
        "A segment file smaller than this many bytes is small (compaction merges runs of small files)."
        compact_small_file_bytes: u64 = limits::COMPACT_SMALL_FILE_BYTES_DEFAULT;
        "Accept unsigned integer fields (123u) as InfluxDB 2.x does; 1.x rejects them."
        accept_unsigned: bool = false;
        "Treat a \\r before a line's \\n as part of the line ending (CRLF bodies); 1.x does not."
        strip_cr: bool = false;
        "Most series per database (1.x max-series-per-database); past it points are dropped; 0 = unlimited."
        max_series_per_database: u64 = limits::SERIES_PER_DATABASE_MAX_DEFAULT;
        "Most distinct values per tag key (1.x max-values-per-tag); past it points are dropped; 0 = unlimited."
        max_values_per_tag: u64 = limits::VALUES_PER_TAG_MAX_DEFAULT;
        #[serde(with = "go_duration_serde")]
        "Longest a write waits for its owner cores before 500 {\"error\":\"timeout\"}."
        write_timeout: Duration = limits::WRITE_TIMEOUT_DEFAULT;
        "Free bytes on the data dir's file system below which writes get 503 with Retry-After until space is back; 0 = only a real ENOSPC refuses."
        min_free_disk_bytes: u64 = limits::MIN_FREE_DISK_BYTES_DEFAULT;
    }
}

section! {
    "Threads and cores."
    RuntimeConfig ["runtime"] {
        "Executor threads, one pinned per core; 0 = every core this process may run on."
        cores: usize = 0;
        #[serde(with = "go_duration_serde")]
        "Longest a graceful shutdown (SIGTERM, SIGINT) takes: stop accepting, answer what was received, sync and seal; a second signal exits at once."
        shutdown_timeout: Duration = limits::SHUTDOWN_TIMEOUT_DEFAULT;
    }
}

section! {
    "Logs: written to stderr, one line per event."
    LoggingConfig ["logging"] {
        "Least severe level logged (error, warn, info, debug, trace, or tracing directives); RUST_LOG overrides it."
        level: String = "info".to_string();
        "Line format: text (human-readable) or json (one JSON object per line)."
        format: LogFormat = LogFormat::Text;
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

section! {
    "Query limits, named as 1.x's [coordinator] names them; 0 = unlimited."
    CoordinatorConfig ["coordinator"] {
        #[serde(with = "go_duration_serde")]
        "Longest a query statement may run before it is stopped with \"query-timeout limit exceeded\"; 0s = unlimited."
        query_timeout: Duration = Duration::ZERO;
        "Most points a SELECT may read; 0 = unlimited."
        max_select_point: u64 = 0;
        "Most series a SELECT may read; 0 = unlimited."
        max_select_series: u64 = 0;
        "Most GROUP BY time() buckets a SELECT may produce; 0 = unlimited."
        max_select_buckets: u64 = 0;
    }
}

section! {
    "Parquet export of sealed data (src/export); credentials for S3 only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."
    ExportConfig ["export"] {
        "Where Parquet files go: empty = no export; a local directory; or s3://bucket/prefix."
        path: String = String::new();
        #[serde(with = "go_duration_serde")]
        "Longest an acknowledged point may wait before it is in a Parquet file (the memtable is sealed early when needed)."
        max_age: Duration = limits::EXPORT_MAX_AGE_DEFAULT;
        "Unit of the time column: \"ns\" or \"us\" (for Spark and engines without nanosecond timestamps)."
        time_unit: TimeUnit = TimeUnit::Ns;
        "This node's name in exported file names (several nodes may share one bucket); empty = the host name."
        node: String = String::new();
        "S3 endpoint URL for s3:// paths (e.g. http://127.0.0.1:9000); empty = AWS."
        s3_endpoint: String = String::new();
        "S3 region for s3:// paths."
        s3_region: String = String::from("us-east-1");
    }
}

/// The unit of the exported `time` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Nanoseconds: what was written, exactly.
    Ns,
    /// Microseconds (nanoseconds truncated toward negative infinity), for Spark.
    Us,
}

impl ExportConfig {
    /// Whether export is on.
    pub fn enabled(&self) -> bool {
        !self.path.is_empty()
    }

    /// `node`, or the host name when empty (`localhost` when that cannot be read).
    pub fn node_name(&self) -> String {
        if !self.node.is_empty() {
            return self.node.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    }
}

/// When the write-ahead log is fsync'd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Before every acknowledgement: a 204 means the points are on disk.
    Always,
    /// Every `wal-fsync-interval`: a crash may lose acknowledged writes from that window.
    Interval,
    /// Never explicitly; the kernel writes back when it likes.
    Never,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub data: DataConfig,
    pub runtime: RuntimeConfig,
    pub coordinator: CoordinatorConfig,
    pub logging: LoggingConfig,
    pub export: ExportConfig,
}

/// Why the configuration cannot be used; `Display` is what main prints before exiting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key (`unknown field `x`, expected one of ...`) or a bad value.
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A setting out of bounds or inconsistent with another; `key` is `section.key`.
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Checks bounds and relationships between settings (see [`check::check`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check::check(self)
    }

    /// `runtime.cores`, with 0 resolved to the cores this process may run on (its affinity mask).
    pub fn cores_resolved(&self) -> usize {
        match self.runtime.cores {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// Command line. Flags override the config file; `--print-config` prints the result and exits.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "lineshard",
    version,
    about = "Thread-per-core ingest server for the InfluxDB v1 write API"
)]
pub struct Cli {
    /// TOML config file (see --print-config for every setting).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, ip:port [http] bind-address; default 127.0.0.1:8086.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Data directory [data] dir; default ./lineshard-data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Executor cores [runtime] cores; 0 = all available.
    #[arg(long, value_name = "N")]
    pub cores: Option<usize>,
    /// Largest request body in bytes [http] max-body-size; 0 = unlimited; default 25000000.
    #[arg(long, value_name = "BYTES")]
    pub max_body_size: Option<u64>,
    /// When the WAL is fsync'd [data] wal-fsync.
    #[arg(long, value_enum)]
    pub fsync: Option<FsyncMode>,
    /// Require authentication [http] auth-enabled.
    #[arg(long)]
    pub auth_enabled: bool,
    /// Print every setting with its value and doc as TOML, then exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `lineshard` does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Verify a data directory offline (WAL and segment checksums, tombstones, catalog) and say
    /// what is wrong; exit status 0 when it is sound, 1 when not. Run it with the server stopped.
    Check {
        /// The data directory to verify.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

impl Cli {
    /// Loads `--config` if given (else the defaults), then applies the flags over it. Does not
    /// validate: call [`Config::validate`] after handling `--print-config`.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(bind) = self.bind {
            cfg.http.bind_address = bind;
        }
        if let Some(dir) = self.data_dir {
            cfg.data.dir = dir;
        }
        if let Some(cores) = self.cores {
            cfg.runtime.cores = cores;
        }
        if let Some(bytes) = self.max_body_size {
            cfg.http.max_body_size = bytes;
        }
        if let Some(mode) = self.fsync {
            cfg.data.wal_fsync = mode;
        }
        if self.auth_enabled {
            cfg.http.auth_enabled = true;
        }
        Ok(cfg)
    }
}

/// Every setting with its current value and its doc as a `# comment` above it, as valid TOML that
/// parses back to `cfg`.
pub fn print_config(cfg: &Config) -> String {
    let mut out = String::from("# lineshard configuration: every setting with its value.\n");
    let sections = [
        (
            HttpConfig::SECTION,
            HttpConfig::DOC,
            HttpConfig::FIELDS,
            toml::Value::try_from(&cfg.http),
        ),
        (
            DataConfig::SECTION,
            DataConfig::DOC,
            DataConfig::FIELDS,
            toml::Value::try_from(&cfg.data),
        ),
        (
            CoordinatorConfig::SECTION,
            CoordinatorConfig::DOC,
            CoordinatorConfig::FIELDS,
            toml::Value::try_from(&cfg.coordinator),
        ),
        (
            RuntimeConfig::SECTION,
            RuntimeConfig::DOC,
            RuntimeConfig::FIELDS,
            toml::Value::try_from(&cfg.runtime),
        ),
        (
            LoggingConfig::SECTION,
            LoggingConfig::DOC,
            LoggingConfig::FIELDS,
            toml::Value::try_from(&cfg.logging),
        ),
        (
            ExportConfig::SECTION,
            ExportConfig::DOC,
            ExportConfig::FIELDS,
            toml::Value::try_from(&cfg.export),
        ),
    ];
    for (section, section_doc, fields, values) in sections {
        out.push_str(&format!("\n# {section_doc}\n[{section}]\n"));
        let values = match values {
            Ok(values) => values,
            Err(e) => {
                out.push_str(&format!("# cannot print this section: {e}\n"));
                continue;
            }
        };
        for (field, doc) in fields {
            let key = field.replace('_', "-");
            if let Some(value) = values.get(&key) {
                out.push_str(&format!("# {doc}\n{key} = {value}\n"));
            }
        }
    }
    out
}

/// `std::time::Duration` as a Go duration string in TOML.
mod go_duration_serde {
    use std::time::Duration;

    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::duration::{format_go_duration, parse_go_duration};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let ns = i64::try_from(d.as_nanos()).map_err(|_| S::Error::custom("duration too long"))?;
        s.serialize_str(&format_go_duration(ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        let ns = parse_go_duration(&text).map_err(D::Error::custom)?;
        u64::try_from(ns)
            .map(Duration::from_nanos)
            .map_err(|_| D::Error::custom(format!("negative duration {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    fn cli(args: &[&str]) -> Cli {
        let argv = std::iter::once("lineshard").chain(args.iter().copied());
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let cfg = Config::default();
        assert_eq!(cfg.http.bind_address.to_string(), "127.0.0.1:8086");
        assert_eq!(cfg.http.max_body_size, 25_000_000);
        assert_eq!(cfg.http.idle_timeout, Duration::from_secs(180));
        assert_eq!(cfg.data.dir, PathBuf::from("./lineshard-data"));
        assert_eq!(cfg.data.wal_fsync, FsyncMode::Always);
        assert_eq!(cfg.runtime.cores, 0);
        cfg.validate().unwrap();
    }

    #[test]
    fn defaults_round_trip_through_print_config() {
        let text = print_config(&Config::default());
        assert_eq!(parse(&text).unwrap(), Config::default());
    }

    #[test]
    fn changed_settings_round_trip_through_print_config() {
        let mut cfg = Config::default();
        cfg.http.bind_address = "[::1]:9999".parse().unwrap();
        cfg.http.idle_timeout = Duration::from_millis(1_500);
        cfg.http.auth_enabled = true;
        cfg.data.dir = PathBuf::from("/tmp/a \"quoted\" dir");
        cfg.data.wal_fsync = FsyncMode::Interval;
        cfg.data.wal_fsync_interval = Duration::from_micros(2_500);
        cfg.runtime.cores = 3;
        cfg.http.metrics_auth = false;
        cfg.http.log_enabled = true;
        cfg.logging.level = "lineshard=debug,warn".into();
        cfg.logging.format = LogFormat::Json;
        cfg.export.path = "s3://lake/nodes".into();
        cfg.export.max_age = Duration::from_secs(90);
        cfg.export.time_unit = TimeUnit::Us;
        cfg.export.node = "node-1".into();
        cfg.export.s3_endpoint = "http://127.0.0.1:9000".into();
        cfg.export.s3_region = "eu-west-1".into();
        let text = print_config(&cfg);
        assert_eq!(parse(&text).unwrap(), cfg, "{text}");
    }

    #[test]
    fn print_config_documents_every_setting_on_one_line() {
        let text = print_config(&Config::default());
        let all = [
            HttpConfig::FIELDS,
            DataConfig::FIELDS,
            RuntimeConfig::FIELDS,
            CoordinatorConfig::FIELDS,
            LoggingConfig::FIELDS,
            ExportConfig::FIELDS,
        ];
        for (field, doc) in all.into_iter().flatten() {
            assert!(!doc.contains('\n'), "{field}");
            let key = field.replace('_', "-");
            let expected = format!("# {doc}\n{key} = ");
            assert!(text.contains(&expected), "missing {key}:\n{text}");
        }
        assert!(text.contains("[http]\n# Address"));
        assert!(text.contains("header-read-timeout = \"10s\"\n"));
        assert!(text.contains("idle-timeout = \"3m0s\"\n"));
        assert!(text.contains("wal-fsync = \"always\"\n"));
        assert!(text.contains("[export]\n# Where"));
        assert!(text.contains("max-age = \"1m0s\"\n"));
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let cfg = parse(
            "[http]\nmax-body-size = 0\nidle-timeout = \"1m30s\"\n[data]\nwal-fsync = \"never\"\n",
        )
        .unwrap();
        assert_eq!(cfg.http.max_body_size, 0);
        assert_eq!(cfg.http.idle_timeout, Duration::from_secs(90));
        assert_eq!(cfg.data.wal_fsync, FsyncMode::Never);
        assert_eq!(cfg.http.bind_address, HttpConfig::default().bind_address);
        assert_eq!(cfg.runtime, RuntimeConfig::default());
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let err = parse("[http]\nbind-adress = \"127.0.0.1:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid config file test.toml: "), "{err}");
        assert!(err.contains("unknown field `bind-adress`"), "{err}");
        assert!(
            err.contains("bind-address"),
            "should list the valid keys: {err}"
        );
        let err = parse("[htp]\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `htp`"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        let err = parse("[http]\nidle-timeout = \"3 minutes\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"unknown unit " minutes" in duration "3 minutes""#),
            "{err}"
        );
        let err = parse("[http]\nidle-timeout = 180\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("idle-timeout"), "{err}");
        let err = parse("[http]\nidle-timeout = \"-1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("negative duration"), "{err}");
        let err = parse("[data]\nwal-fsync = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sometimes"), "{err}");
        let err = parse("[http]\nbind-address = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind-address"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineshard.toml");
        let file =
            "[http]\nbind-address = \"127.0.0.1:1111\"\nmax-body-size = 5\n[runtime]\ncores = 4\n";
        std::fs::write(&path, file).unwrap();
        let path_arg = path.to_str().unwrap();

        let from_file = cli(&["--config", path_arg]).into_config().unwrap();
        assert_eq!(from_file.http.bind_address.port(), 1111);
        assert_eq!(from_file.runtime.cores, 4);

        let args = [
            "--config",
            path_arg,
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--cores",
            "2",
            "--max-body-size",
            "1000",
            "--fsync",
            "interval",
            "--auth-enabled",
        ];
        let cfg = cli(&args).into_config().unwrap();
        assert_eq!(cfg.http.bind_address.to_string(), "127.0.0.1:0");
        assert_eq!(cfg.data.dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.runtime.cores, 2);
        assert_eq!(cfg.http.max_body_size, 1000);
        assert_eq!(cfg.data.wal_fsync, FsyncMode::Interval);
        assert!(cfg.http.auth_enabled);
        assert!(
            !cli(&["--print-config"])
                .into_config()
                .unwrap()
                .http
                .auth_enabled
        );
        assert!(cli(&["--print-config"]).print_config);
    }

    #[test]
    fn bad_flags_and_missing_files_are_errors() {
        assert!(Cli::try_parse_from(["lineshard", "--fsync", "sometimes"]).is_err());
        assert!(Cli::try_parse_from(["lineshard", "--bind", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["lineshard", "--cores", "-1"]).is_err());
        let err = cli(&["--config", "/nonexistent/lineshard.toml"])
            .into_config()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err
            .to_string()
            .starts_with("cannot read config file /nonexistent/lineshard.toml: "));
    }

    #[test]
    fn cores_zero_resolves_to_at_least_one() {
        assert!(Config::default().cores_resolved() >= 1);
        let mut cfg = Config::default();
        cfg.runtime.cores = 3;
        assert_eq!(cfg.cores_resolved(), 3);
    }
}
