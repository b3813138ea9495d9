//! Background compaction: a run of small segment files of one (db, rp) merged into one file, so
//! that a partition that sealed many small memtables (or a high-cardinality one, thousands of
//! tiny series) is not read as thousands of files.
//!
//! Which files: per (db, rp), the partition's files in sequence order; a run of consecutive
//! files each below `compact-small-file-bytes`, once it has `compact-min-files` of them, is
//! merged from its oldest file, up to `limits::COMPACT_INPUT_BYTES_MAX` bytes and
//! `limits::COMPACT_INPUT_FILES_MAX` files of input. Only consecutive files of a (db, rp) are
//! merged, so the output can take their place in the read order (oldest first, the newest
//! write of a series, time and field winning): it is named `<seq>-<first_seq>.seg` after the
//! newest and oldest sequence numbers it covers, and no other file of its (db, rp) has a number
//! in between.
//!
//! Order, each step after the one before, so that a crash at any point neither loses nor
//! duplicates a point:
//! 1. (blocking pool) the inputs are merged series by series ([`rewrite_segments`], streamed:
//!    one series of each file in memory) into `<name>.tmp`, fdatasync'd. A crash: start-up
//!    deletes the `.tmp`; the inputs are intact.
//! 2. (the core's thread, one synchronous step) if every input is still the partition's (no
//!    drop or expiry took one meanwhile; else the temp file is deleted), the temp file is
//!    renamed to its name and replaces the inputs in the partition's list; reads from then on
//!    read the output.
//! 3. The directory is fsync'd: the output's name is durable.
//! 4. The inputs are deleted (each once the scans still reading it are done). A crash between
//!    2 and the end of 4: start-up finds the output and inputs it covers (same (db, rp),
//!    numbers in its range) and deletes the inputs ([`remove_covered`]); had the rename not
//!    reached the disk, the inputs are all there and the output is not.
//!
//! Tombstones: [`rewrite_segments`] is the one function that turns the inputs' data into the
//! output's; whatever must be dropped or rewritten on the way goes there.

use super::{Partition, SegmentFile, SegmentHandle};
use crate::storage::segment::{
    ColumnData, SegmentError, SegmentFileWriter, SegmentStream, SeriesData, Values,
};
use crate::storage::wal::sync_dir;
use crate::storage::StorageError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a compaction merges and where its output goes.
struct Plan {
    inputs: Vec<SegmentFile>,
    dir: PathBuf,
    name: String,
}

impl Partition {
    /// The next compaction's inputs (and marks them as being compacted), if one is due and
    /// none runs.
    fn plan_compaction(&mut self, min_files: usize, small_bytes: u64) -> Option<Plan> {
        if min_files < 2 || !self.compacting.is_empty() {
            return None;
        }
        // A file a delete's tombstone covers is left as it is: the output of a compaction takes
        // the newest input's seal number, which the tombstone may not cover.
        // With export on, a file not exported yet is left alone too: the output's number is
        // one the exporter may already have passed.
        let exported = self.exported_seq();
        let covered: Vec<u64> = self
            .segments
            .iter()
            .filter(|s| !self.tombstones_of(s).is_empty() || exported.is_some_and(|e| s.seq > e))
            .map(|s| s.seq)
            .collect();
        let mut groups: Vec<((&str, &str), Vec<&SegmentFile>)> = Vec::new();
        for s in &self.segments {
            let key = (s.db.as_str(), s.rp.as_str());
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(s),
                None => groups.push((key, vec![s])),
            }
        }
        for (_, files) in groups {
            for run in files.split(|s| s.bytes >= small_bytes || covered.contains(&s.seq)) {
                if run.len() < min_files {
                    continue;
                }
                let mut total = 0u64;
                let take = run
                    .iter()
                    .take(crate::limits::COMPACT_INPUT_FILES_MAX)
                    .take_while(|s| {
                        total += s.bytes;
                        total <= crate::limits::COMPACT_INPUT_BYTES_MAX
                    })
                    .count()
                    .max(2);
                let inputs: Vec<SegmentFile> = run[..take].iter().map(|s| (*s).clone()).collect();
                let (first, last) = (inputs.first()?.first_seq, inputs.last()?.seq);
                self.compacting.clone_from(&inputs);
                return Some(Plan {
                    inputs,
                    dir: self.dir.join("segments"),
                    name: format!("{last:020}-{first:020}.seg"),
                });
            }
        }
        None
    }

    /// Step 2: the output replaces the inputs, if they are all still here. Returns the output's
    /// entry, or `None` when the compaction was given up.
    fn install_compaction(
        &mut self,
        plan: &Plan,
        tmp: &std::path::Path,
        bytes: u64,
        time: (i64, i64),
    ) -> Result<bool, String> {
        let still_here = plan
            .inputs
            .iter()
            .all(|i| self.segments.iter().any(|s| s.cache_key() == i.cache_key()));
        if !still_here {
            let _ = std::fs::remove_file(tmp);
            return Ok(false);
        }
        let path = plan.dir.join(&plan.name);
        // A rename is one metadata call: done here, in the same step as the list's change, so
        // that no drop can come between the file's appearing and its being listed.
        if let Err(e) = std::fs::rename(tmp, &path) {
            let _ = std::fs::remove_file(tmp);
            return Err(format!("renaming {}: {e}", tmp.display()));
        }
        let first = &plan.inputs[0];
        let out = SegmentFile {
            seq: plan.inputs.last().map_or(first.seq, |l| l.seq),
            first_seq: first.first_seq,
            handle: SegmentHandle::new(path),
            db: first.db.clone(),
            rp: first.rp.clone(),
            time_min: time.0,
            time_max: time.1,
            bytes,
        };
        for i in &plan.inputs {
            self.footers.remove(i.cache_key());
        }
        self.segments
            .retain(|s| !plan.inputs.iter().any(|i| i.cache_key() == s.cache_key()));
        self.segments.push(out);
        self.segments.sort_by_key(|s| s.seq);
        Ok(true)
    }

    /// Step 4: the inputs go (each when its last reader is done).
    fn finish_compaction(&mut self) {
        for i in self.compacting.drain(..) {
            tracing::info!(
                partition = self.id,
                segment = %i.path().display(),
                bytes = i.bytes,
                reason = "compacted",
                "segment file deleted"
            );
            i.handle.retire();
        }
    }

    /// The segment files of this partition as (file name, db, rp), oldest first (for tests).
    pub fn segment_names(&self) -> Vec<(String, String, String)> {
        self.segments
            .iter()
            .map(|s| {
                let name = s
                    .path()
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                (name, s.db.clone(), s.rp.clone())
            })
            .collect()
    }
}

/// Runs one compaction of partition `idx` if one is due (see the module doc); returns whether
/// one ran. The merge and the writing run on glommio's blocking-thread pool.
pub async fn compact(
    parts: &RefCell<Vec<Partition>>,
    idx: usize,
    min_files: usize,
    small_bytes: u64,
) -> Result<bool, StorageError> {
    let Some(plan) = parts
        .borrow_mut()
        .get_mut(idx)
        .and_then(|p| p.plan_compaction(min_files, small_bytes))
    else {
        return Ok(false);
    };
    let result = run(parts, idx, &plan).await;
    if let Some(p) = parts.borrow_mut().get_mut(idx) {
        match result {
            // Installed, and the output's name is durable: the inputs may go.
            Ok(true) => p.finish_compaction(),
            // Given up (or failed before the rename): the inputs stay.
            _ => p.compacting.clear(),
        }
    }
    result.map_err(StorageError::Compact)
}

async fn run(parts: &RefCell<Vec<Partition>>, idx: usize, plan: &Plan) -> Result<bool, String> {
    let paths: Vec<PathBuf> = plan.inputs.iter().map(|s| s.path().to_path_buf()).collect();
    let tmp = plan.dir.join(format!("{}.tmp", plan.name));
    let tmp2 = tmp.clone();
    let (bytes, time) = glommio::executor()
        .spawn_blocking(move || rewrite_segments(&paths, &tmp2))
        .await?;
    let installed = match parts.borrow_mut().get_mut(idx) {
        Some(p) => p.install_compaction(plan, &tmp, bytes, time)?,
        None => false,
    };
    if installed {
        sync_dir(&plan.dir).await.map_err(|e| e.to_string())?;
    }
    Ok(installed)
}

/// Merges segment files of one (db, rp), given oldest first, into `out` (written and
/// fdatasync'd; deleted when the merge fails): series in key order, per series the union of the
/// rows, and of the same time and field the newest file's value (as a scan merges them).
/// Streams: holds one series of each input and of the output, never a file. Returns the
/// output's length and time range.
///
/// Refuses (and nothing is compacted) inputs of several (db, rp), a field whose type differs
/// between the inputs, or an input that is damaged anywhere (footer or block).
pub fn rewrite_segments(inputs: &[PathBuf], out: &Path) -> Result<(u64, (i64, i64)), String> {
    let result = merge_files(inputs, out);
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result
}

fn merge_files(inputs: &[PathBuf], out: &Path) -> Result<(u64, (i64, i64)), String> {
    let mut streams = Vec::with_capacity(inputs.len());
    for p in inputs {
        streams.push(SegmentStream::open(p).map_err(named(p))?);
    }
    let Some(first) = streams.first() else {
        return Err("compaction without input".into());
    };
    let (db, rp) = (first.db().to_string(), first.rp().to_string());
    if streams.iter().any(|s| s.db() != db || s.rp() != rp) {
        return Err("compaction inputs of several (db, rp)".into());
    }
    let mut heads = Vec::with_capacity(streams.len());
    for (s, p) in streams.iter_mut().zip(inputs) {
        heads.push(s.next_series().map_err(named(p))?);
    }
    let written = |e: std::io::Error| format!("writing {}: {e}", out.display());
    let mut w = SegmentFileWriter::create(out).map_err(written)?;
    while let Some(key) = heads.iter().flatten().map(|m| &m.key).min().cloned() {
        let mut parts = Vec::new();
        for ((s, head), p) in streams.iter_mut().zip(heads.iter_mut()).zip(inputs) {
            if let Some(m) = head.take_if(|m| m.key == key) {
                parts.push(s.read(&m).map_err(named(p))?);
                *head = s.next_series().map_err(named(p))?;
            }
        }
        w.push(&merge_series(parts).map_err(|e| e.to_string())?)
            .map_err(written)?;
    }
    w.finish(&db, &rp).map_err(written)
}

/// An input's error, naming the file (for the log; never in an answer to a client).
fn named(p: &Path) -> impl Fn(SegmentError) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

/// One series from several files (oldest first) as one: the union of the times, and per time
/// and field the newest file's value.
fn merge_series(mut parts: Vec<SeriesData>) -> Result<SeriesData, SegmentError> {
    if parts.len() == 1 {
        return parts.pop().ok_or(SegmentError::Corrupt("no part"));
    }
    let mut times: Vec<i64> = parts.iter().flat_map(|p| p.times.iter().copied()).collect();
    times.sort_unstable();
    times.dedup();
    let n = times.len();
    let mut columns: BTreeMap<Vec<u8>, ColumnData> = BTreeMap::new();
    for p in &parts {
        let rows: Vec<usize> = p
            .times
            .iter()
            .map(|t| times.binary_search(t).unwrap_or(0))
            .collect();
        for c in &p.columns {
            let out = columns.entry(c.name.clone()).or_insert_with(|| ColumnData {
                name: c.name.clone(),
                values: zeros(&c.values, n),
                valid: vec![false; n],
            });
            set_rows(out, c, &rows)?;
        }
    }
    let first = parts.swap_remove(0);
    Ok(SeriesData {
        key: first.key,
        measurement: first.measurement,
        times,
        columns: columns.into_values().collect(),
    })
}

fn zeros(like: &Values, n: usize) -> Values {
    match like {
        Values::Float(_) => Values::Float(vec![0.0; n]),
        Values::Integer(_) => Values::Integer(vec![0; n]),
        Values::Unsigned(_) => Values::Unsigned(vec![0; n]),
        Values::Boolean(_) => Values::Boolean(vec![false; n]),
        Values::String(_) => Values::String(vec![Vec::new(); n]),
    }
}

/// Writes the valid rows of `src` into `dst` at `rows[i]` (a later call overwrites).
fn set_rows(dst: &mut ColumnData, src: &ColumnData, rows: &[usize]) -> Result<(), SegmentError> {
    fn set<T: Clone>(d: &mut [T], s: &[T], valid: &[bool], ok: &mut [bool], rows: &[usize]) {
        for (i, &r) in rows.iter().enumerate() {
            if valid.get(i).copied().unwrap_or(false) {
                if let (Some(d), Some(s), Some(ok)) = (d.get_mut(r), s.get(i), ok.get_mut(r)) {
                    *d = s.clone();
                    *ok = true;
                }
            }
        }
    }
    let ok = &mut dst.valid;
    let v = &src.valid;
    match (&mut dst.values, &src.values) {
        (Values::Float(d), Values::Float(s)) => set(d, s, v, ok, rows),
        (Values::Integer(d), Values::Integer(s)) => set(d, s, v, ok, rows),
        (Values::Unsigned(d), Values::Unsigned(s)) => set(d, s, v, ok, rows),
        (Values::Boolean(d), Values::Boolean(s)) => set(d, s, v, ok, rows),
        (Values::String(d), Values::String(s)) => set(d, s, v, ok, rows),
        _ => return Err(SegmentError::Corrupt("field type differs between files")),
    }
    Ok(())
}

/// Start-up: deletes the files a compacted file covers (left by a compaction interrupted after
/// its output was renamed into place): same (db, rp), numbers within its range.
pub(super) fn remove_covered(files: &mut Vec<SegmentFile>) -> std::io::Result<()> {
    let covered = |f: &SegmentFile| {
        files.iter().any(|g| {
            g.db == f.db
                && g.rp == f.rp
                && g.first_seq <= f.first_seq
                && f.seq <= g.seq
                && g.cache_key() != f.cache_key()
        })
    };
    let gone: Vec<bool> = files.iter().map(covered).collect();
    let mut i = 0;
    let mut err = None;
    files.retain(|f| {
        let drop = gone[i];
        i += 1;
        if drop {
            if let Err(e) = std::fs::remove_file(f.path()) {
                err.get_or_insert(e);
            }
        }
        !drop
    });
    err.map_or(Ok(()), Err)
}
