//! Logs: `tracing` events written to stderr by `tracing-subscriber`, one line each, as text or
//! JSON (`[logging] format`), at `[logging] level` unless `RUST_LOG` says otherwise.
//!
//! What is logged: start and stop, each seal, each segment file deleted (drop, retention,
//! compaction), retention drops, WAL recovery (records replayed, a torn tail cut), storage
//! failures, client error bursts (at most one line per core per second, with the count), and,
//! with `[http] log-enabled`, an access log line per request (target `access`).

use crate::config::{LogFormat, LoggingConfig};
use tracing_subscriber::EnvFilter;

/// Installs the process's log writer. Call once, before the server starts; a second call
/// leaves the first writer in place.
pub fn init(cfg: &LoggingConfig) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v),
        _ => EnvFilter::try_new(&cfg.level),
    }
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
