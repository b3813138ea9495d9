//! Parquet export: sealed segment files turned into Apache Parquet files, in a local directory
//! or an S3-compatible bucket, so that engines which already scale (DuckDB, DataFusion, Spark,
//! Trino, ClickHouse) query the data of one or many nodes.
//!
//! Owner: one dedicated thread (`lineshard-export`), started by `server` when `[export] path` is
//! set. It never touches a core's state and the write path never waits for it: it reads the
//! partitions' files. A seal (`storage::partition::seal`) finishes by writing `sealed.json`
//! (`storage::marks`); the exporter polls each partition's records (every 250 ms), turns each
//! segment file of a finished seal that is not exported yet (`exported.json`) into its Parquet
//! files (`table.rs`), puts them (`sink.rs`), and then records the segment file as exported.
//! Retention and compaction leave segment files not yet exported alone, so an export that falls
//! behind (an unreachable bucket) costs disk, not data. Files compacted while export was off are
//! exported once too, when none of their inputs was exported before ([`Exporter::pending`]).
//! The thread starts once every core has opened its partitions (start-up's clean-up done). `[export] max-age` bounds how long an
//! acknowledged point waits: a core seals a memtable whose oldest write is half of it old
//! (`runtime::Core::start_export_age_task`), and the exporter picks the files up within 250 ms.
//!
//! Exactly once: each acknowledged point is in exactly one segment file (see `storage::marks`:
//! files of an interrupted seal are removed, WAL records of a finished seal are not replayed), a
//! segment file's Parquet files have names made from its partition and sequence number
//! (`layout.rs`), and `exported.json` moves past a segment file only after all its Parquet files
//! are durable. A crash in between puts the same files again under the same names.
//!
//! Deletes (`DELETE`, `DROP SERIES`, `DROP MEASUREMENT`, `DROP DATABASE`) do not reach Parquet
//! files already written: an export is an append-only record of what was sealed. Points deleted
//! before their memtable was sealed are never exported; points deleted after the seal but
//! before the export are exported (with the default `max-age` that window is at most a minute).
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | the exporter thread, its loop over the partitions, the `/health` status |
//! | `layout.rs` | the hive-style file layout and the percent-encoding of names |
//! | `table.rs` | a segment file's rows as Parquet files (schema, sort order, encodings) |
//! | `tags.rs` | a tag column's chunk (dictionary page, RLE data pages, statistics) from its runs |
//! | `ints.rs` | an INT64 column's chunk (time, integer fields: `DELTA_BINARY_PACKED`, statistics) from its values |
//! | `sink.rs` | local directory (temp, fsync, rename, directory fsync) and S3 (`object_store`) |

mod ints;
mod layout;
mod sink;
mod table;
mod tags;

pub use layout::{date_string, day_of, encode_component};
pub use table::{segment_to_parquet, ExportFile, COLUMN_TYPE_KEY, NAME_KEY};

use crate::config::Config;
use crate::storage::marks::{self, ExportedMark};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the exporter looks for newly sealed files.
const POLL: Duration = Duration::from_millis(250);
/// Back-off after a failed export: doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What `/health` reports of the exporter (one per process).
#[derive(Default)]
pub struct Status {
    /// Segment files sealed and not exported yet, at the last pass.
    pending: AtomicU64,
    /// Unix seconds since when a segment file waits (0: none waits).
    waiting_since: AtomicU64,
    /// The last export error, cleared by the next success.
    last_error: Mutex<Option<String>>,
    /// `[export] max-age` in seconds.
    max_age_s: AtomicU64,
}

static STATUS: OnceLock<Arc<Status>> = OnceLock::new();

/// The exporter's state for `/health`: `None` when export is off, else `Ok(pending files)` when
/// it keeps up, or `Err(why)` when it is behind (a file waits longer than `max-age`) or failing.
pub fn health() -> Option<Result<u64, String>> {
    let s = STATUS.get()?;
    let pending = s.pending.load(Ordering::Relaxed);
    if let Some(e) = s.last_error.lock().ok().and_then(|e| e.clone()) {
        return Some(Err(format!(
            "export failing, {pending} segment files kept until exported: {e}"
        )));
    }
    let since = s.waiting_since.load(Ordering::Relaxed);
    let age = unix_now().saturating_sub(since);
    if since > 0 && age > s.max_age_s.load(Ordering::Relaxed) {
        return Some(Err(format!(
            "export behind: {pending} segment files not exported, the oldest waits {age}s"
        )));
    }
    Some(Ok(pending))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The exporter, opened and not started yet (see [`open`]).
pub struct Starter(Exporter);

/// Opens the export destination when `[export] path` is set (`None` when export is off).
/// `partitions` is the data dir's partition count. Errors opening the destination are returned
/// (the server does not start).
pub fn open(config: &Config, partitions: u32) -> Result<Option<Starter>, String> {
    if !config.export.enabled() {
        return Ok(None);
    }
    let sink = sink::Sink::open(&config.export)?;
    let status = STATUS.get_or_init(Default::default).clone();
    status
        .max_age_s
        .store(config.export.max_age.as_secs(), Ordering::Relaxed);
    Ok(Some(Starter(Exporter {
        data_dir: config.data.dir.clone(),
        partitions,
        node: config.export.node_name(),
        unit: config.export.time_unit,
        sink,
        status,
        mixed_reported: Vec::new(),
    })))
}

impl Starter {
    /// Starts the exporter thread. The server calls it once every core has opened its
    /// partitions: start-up has then deleted the files of an interrupted seal and the inputs of
    /// an interrupted compaction, which the exporter must not read beside their replacements.
    pub fn start(self) -> Result<(), String> {
        let exporter = self.0;
        std::thread::Builder::new()
            .name("lineshard-export".into())
            .spawn(move || exporter.run())
            .map(|_| ())
            .map_err(|e| format!("starting the exporter thread: {e}"))
    }
}

/// The exporter thread's nice value: when the cores and the exporter want the same CPU, the
/// cores' threads (nice 0) get about nine tenths of it, so ingest does not slow down for export;
/// the exporter catches up when ingest leaves the CPU idle.
const EXPORT_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`EXPORT_NICE`] (Linux nice values are
/// per thread). A failure leaves the thread at its priority, which is only slower ingest.
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers and touch no memory of
    // ours; on Linux, PRIO_PROCESS with a thread id sets that thread's nice value.
    let rc = unsafe {
        let tid = nix::libc::gettid();
        nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid as nix::libc::id_t, EXPORT_NICE)
    };
    if rc != 0 {
        tracing::debug!(
            "export: could not lower the exporter's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

struct Exporter {
    data_dir: PathBuf,
    partitions: u32,
    node: String,
    unit: crate::config::TimeUnit,
    sink: sink::Sink,
    status: Arc<Status>,
    /// Compacted files already logged as not exportable (see [`Exporter::pending`]).
    mixed_reported: Vec<PathBuf>,
}

/// A segment file waiting for export.
struct Pending {
    partition: u32,
    /// Its number (a compacted file's newest input's): `exported.json` moves to it.
    seq: u64,
    /// The number its Parquet files are named after (a compacted file's oldest input's).
    name_seq: u64,
    path: PathBuf,
}

impl Exporter {
    fn run(mut self) {
        lower_priority();
        let mut backoff = BACKOFF_FIRST;
        loop {
            match self.pass() {
                Ok(()) => {
                    backoff = BACKOFF_FIRST;
                    if let Ok(mut e) = self.status.last_error.lock() {
                        if e.take().is_some() {
                            tracing::info!("export: exporting again");
                        }
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        retry_ms = backoff.as_millis() as u64,
                        "export failed: segment files are kept until exported"
                    );
                    if let Ok(mut last) = self.status.last_error.lock() {
                        *last = Some(e);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Exports every finished segment file not exported yet, partition by partition, oldest
    /// first; stops at the first failure.
    fn pass(&mut self) -> Result<(), String> {
        let mut todo = Vec::new();
        for p in 0..self.partitions {
            todo.extend(self.pending(p)?);
        }
        self.status
            .pending
            .store(todo.len() as u64, Ordering::Relaxed);
        if todo.is_empty() {
            self.status.waiting_since.store(0, Ordering::Relaxed);
        } else if self.status.waiting_since.load(Ordering::Relaxed) == 0 {
            self.status
                .waiting_since
                .store(unix_now(), Ordering::Relaxed);
        }
        let started = Instant::now();
        let mut synced: Vec<u32> = Vec::new();
        let mut left = todo.len() as u64;
        for f in todo {
            // The seal fsynced its directory before `sealed.json`; this is the same promise
            // made again for a directory that a crash may have caught mid-rename.
            if !synced.contains(&f.partition) {
                if let Some(dir) = f.path.parent() {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
                synced.push(f.partition);
            }
            self.export(&f)?;
            left -= 1;
            self.status.pending.store(left, Ordering::Relaxed);
        }
        let _ = started;
        self.status.waiting_since.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// The segment files of partition `p` of finished seals past its `exported.json`.
    ///
    /// A compacted file (`<seq>-<first>.seg`) made while export was on holds exported files
    /// only (compaction leaves the others alone): `seq` is at most the mark, and it is skipped
    /// like any exported file. One made while export was off, from files none of which was
    /// exported (`first` past the mark), is exported as one segment file: its Parquet files are
    /// named after `first` (so they replace what an export of that file interrupted by a crash
    /// left) and the mark then moves to `seq`. One whose inputs straddle the mark (export was
    /// on, then off while compaction merged exported and unexported files) cannot be exported
    /// without repeating rows: it is skipped, and logged once.
    fn pending(&mut self, p: u32) -> Result<Vec<Pending>, String> {
        let dir = crate::storage::partition_dir(&self.data_dir, p);
        let err = |what: &str, e: std::io::Error| format!("partition {p}: {what}: {e}");
        let Some(sealed) = marks::read_sealed(&dir).map_err(|e| err("sealed.json", e))? else {
            return Ok(Vec::new());
        };
        let exported = marks::read_exported(&dir).map_err(|e| err("exported.json", e))?;
        let entries = match std::fs::read_dir(dir.join("segments")) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(err("listing segments", e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            // Temp files (`.tmp`) are not segment files.
            let Some((seq, first)) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(segment_numbers)
            else {
                continue;
            };
            if seq <= exported.seq || seq / crate::storage::FILES_PER_SEAL_MAX > sealed.seal {
                continue;
            }
            if first <= exported.seq {
                let path = entry.path();
                if !self.mixed_reported.contains(&path) {
                    tracing::warn!(
                        partition = p,
                        segment = %path.display(),
                        exported = exported.seq,
                        "export: a file compacted while export was off merges exported and \
                         unexported files; its rows are not exported"
                    );
                    self.mixed_reported.push(path);
                }
                continue;
            }
            out.push(Pending {
                partition: p,
                seq,
                name_seq: first,
                path: entry.path(),
            });
        }
        out.sort_by_key(|f| f.seq);
        Ok(out)
    }

    fn export(&mut self, f: &Pending) -> Result<(), String> {
        let dir = f
            .path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""));
        match std::fs::read(&f.path) {
            Ok(bytes) => {
                let files =
                    segment_to_parquet(&bytes, &self.node, f.partition, f.name_seq, self.unit)
                        .map_err(|e| format!("partition {} segment {}: {e}", f.partition, f.seq))?;
                for file in files {
                    self.sink.put(&file.path, file.bytes)?;
                }
            }
            // Dropped (DROP DATABASE / RETENTION POLICY) after it was listed: nothing to export.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("partition {} segment {}: {e}", f.partition, f.seq)),
        }
        marks::write_exported(dir, ExportedMark { seq: f.seq })
            .map_err(|e| format!("partition {}: exported.json: {e}", f.partition))
    }
}

/// The numbers in a segment file's name (without `.seg`): `<seq>` is (seq, seq), a compacted
/// file's `<seq>-<first>` is (seq, first).
fn segment_numbers(stem: &str) -> Option<(u64, u64)> {
    match stem.split_once('-') {
        None => stem.parse().ok().map(|s| (s, s)),
        Some((seq, first)) => {
            let (seq, first): (u64, u64) = (seq.parse().ok()?, first.parse().ok()?);
            (first <= seq).then_some((seq, first))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::segment_numbers;

    #[test]
    fn segment_names_give_their_numbers() {
        assert_eq!(segment_numbers("00000000000000000042"), Some((42, 42)));
        assert_eq!(
            segment_numbers("00000000000000000042-00000000000000000017"),
            Some((42, 17))
        );
        assert_eq!(segment_numbers("17-42"), None);
        assert_eq!(segment_numbers("42.idx"), None);
    }
}
