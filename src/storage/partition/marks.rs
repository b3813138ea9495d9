//! Two small records per partition that make a seal's files and their export happen once.
//!
//! | file | written by | holds |
//! | --- | --- | --- |
//! | `sealed.json` | the seal, after its files and their directory are durable, before the WAL goes | `seal`: the newest finished seal's number; `lsn`: the WAL records below it are in segment files |
//! | `exported.json` | the exporter (`crate::export`), after a segment's Parquet files are durable | `seq`: every segment file numbered up to it is exported |
//!
//! `sealed.json` lets start-up tell a finished seal from an interrupted one: files of a seal
//! numbered past `seal` are leftovers (their rows are still in the WAL, which replays them) and
//! are removed, and WAL records below `lsn` are not replayed (their rows are in finished
//! segment files; a crash between the seal and the WAL's truncation would otherwise seal them a
//! second time). So each acknowledged point is in exactly one segment file, which the exporter
//! turns into exactly one Parquet row. A data dir from before these records gets
//! `sealed.json` at its first start, with `lsn` 0 (replay everything, as before).
//!
//! `exported.json` is read by retention and compaction, which leave segment files numbered past
//! `seq` alone while export is on, and by start-up, so that sequence numbers are never reused
//! (an exported file name carries them).
//!
//! Both are written atomically: temp file, fsync, rename, directory fsync (blocking calls; one
//! per seal or per exported segment).

use std::path::Path;

/// The newest finished seal of a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedMark {
    /// The seal's number (a segment file's `seq / FILES_PER_SEAL_MAX`).
    pub seal: u64,
    /// WAL records below this LSN are in segment files.
    pub lsn: u64,
}

/// What the exporter has exported of a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedMark {
    /// Every segment file whose number is at most this is exported (0: none).
    pub seq: u64,
}

const SEALED: &str = "sealed.json";
const EXPORTED: &str = "exported.json";

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// `sealed.json` of the partition in `part_dir`; `None` when there is none yet.
pub fn read_sealed(part_dir: &Path) -> std::io::Result<Option<SealedMark>> {
    read(&part_dir.join(SEALED))
}

pub fn write_sealed(part_dir: &Path, mark: SealedMark) -> std::io::Result<()> {
    write(part_dir, SEALED, &mark)
}

/// `exported.json` of the partition in `part_dir` (nothing exported when there is none).
pub fn read_exported(part_dir: &Path) -> std::io::Result<ExportedMark> {
    Ok(read(&part_dir.join(EXPORTED))?.unwrap_or_default())
}

pub fn write_exported(part_dir: &Path, mark: ExportedMark) -> std::io::Result<()> {
    write(part_dir, EXPORTED, &mark)
}
