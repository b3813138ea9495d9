//! `lineshard check --data-dir DIR`: verifies a data directory offline and says what is wrong.
//!
//! Read-only and without the server: the catalog (`catalog.json`), the layout (`layout.json`),
//! and per partition every WAL record (checksum, LSN sequence, payload), every segment file
//! (frame, footer, each series' block checksums), the tombstones and `schema.json`. A torn tail
//! of a partition's last WAL segment or a leftover temp file is what a crash leaves and start-up
//! repairs: reported as a note, not an error. The exit status is 1 when anything is wrong.

use crate::catalog::Catalog;
use crate::storage::layout::DataLayout;
use crate::storage::{check_partition, Finding};
use std::path::{Path, PathBuf};

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    pub partitions: usize,
    pub wal_segments: usize,
    pub wal_records: u64,
    pub segment_files: usize,
    pub rows: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.error)
    }

    /// The report as lines of text: one per finding (`error:` or `note:`, the file, what), then a
    /// summary line.
    pub fn render(&self, dir: &Path) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let kind = if f.error { "error" } else { "note" };
            let path = f.path.strip_prefix(dir).unwrap_or(&f.path);
            out.push_str(&format!("{kind}: {}: {}\n", path.display(), f.what));
        }
        let errors = self.findings.iter().filter(|f| f.error).count();
        out.push_str(&format!(
            "{}: {} partitions, {} WAL segments ({} records), {} segment files ({} rows): {}\n",
            dir.display(),
            self.partitions,
            self.wal_segments,
            self.wal_records,
            self.segment_files,
            self.rows,
            if errors == 0 {
                "ok".to_string()
            } else {
                format!("{errors} errors")
            }
        ));
        out
    }
}

/// Checks the data directory `dir`.
pub fn check_data_dir(dir: &Path) -> Report {
    let mut report = Report::default();
    if !dir.is_dir() {
        error(
            &mut report.findings,
            dir.to_path_buf(),
            "not a directory".into(),
        );
        return report;
    }
    if let Err(e) = Catalog::load(dir) {
        error(
            &mut report.findings,
            dir.join("catalog.json"),
            e.to_string(),
        );
    }
    let layout = match DataLayout::read(dir) {
        Ok(l) => l,
        Err(e) => {
            error(&mut report.findings, dir.join("layout.json"), e.to_string());
            None
        }
    };
    let parts_dir = dir.join("partitions");
    let mut ids: Vec<u32> = std::fs::read_dir(&parts_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    if let Some(layout) = layout {
        for &id in &ids {
            if id >= layout.partitions {
                error(
                    &mut report.findings,
                    parts_dir.join(id.to_string()),
                    format!(
                        "partition {id} is outside the layout's {} partitions",
                        layout.partitions
                    ),
                );
            }
        }
    } else if !ids.is_empty() {
        error(
            &mut report.findings,
            dir.join("layout.json"),
            "missing, but partitions exist".into(),
        );
    }
    for id in ids {
        let p = check_partition(&parts_dir.join(id.to_string()));
        report.partitions += 1;
        report.wal_segments += p.wal_segments;
        report.wal_records += p.wal_records;
        report.segment_files += p.segment_files;
        report.rows += p.rows;
        report.findings.extend(p.findings);
    }
    report
}

fn error(findings: &mut Vec<Finding>, path: PathBuf, what: String) {
    findings.push(Finding {
        path,
        what,
        error: true,
    });
}
