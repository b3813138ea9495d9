//! The data dir's fixed partition count.
//!
//! Where a series lives on disk is `partition = partition_of(series hash, db/rp hash, P)`; core
//! `c` of `N` owns the partitions `p` with `p % N == c`. `P` is chosen once, when the data dir is
//! created (the core count of that first start), and stored in `layout.json`; it never changes
//! for that dir. Restarting with another `--cores` so neither loses nor hides data: every
//! partition is still owned by exactly one core and replayed there. (With fewer cores than
//! partitions a core owns several; with more, some cores own none and only route.)

use std::io::{self, Write};
use std::path::Path;

const LAYOUT_FILE: &str = "layout.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataLayout {
    pub format: u32,
    pub partitions: u32,
}

impl DataLayout {
    /// Reads the layout of `dir` without creating it (`Ok(None)` when there is none).
    pub fn read(dir: &Path) -> io::Result<Option<DataLayout>> {
        if !dir.join(LAYOUT_FILE).exists() {
            return Ok(None);
        }
        DataLayout::open_or_create(dir, 1).map(Some)
    }

    /// Reads the layout of `dir`, or creates it with `cores` partitions.
    pub fn open_or_create(dir: &Path, cores: usize) -> io::Result<DataLayout> {
        let path = dir.join(LAYOUT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let layout: DataLayout = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                if layout.format != 1 || layout.partitions == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: unsupported layout", path.display()),
                    ));
                }
                Ok(layout)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let layout = DataLayout {
                    format: 1,
                    partitions: cores.max(1) as u32,
                };
                let tmp = dir.join("layout.json.tmp");
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&serde_json::to_vec(&layout).map_err(io::Error::other)?)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(dir)?.sync_all()?;
                Ok(layout)
            }
            Err(e) => Err(e),
        }
    }
}

/// The core that owns partition `p` when `cores` cores run.
pub fn core_of(partition: u32, cores: usize) -> usize {
    partition as usize % cores.max(1)
}

/// The partitions core `core` of `cores` owns, in order.
pub fn partitions_of(core: usize, cores: usize, partitions: u32) -> Vec<u32> {
    (0..partitions)
        .filter(|&p| core_of(p, cores) == core)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_at_creation_and_every_partition_has_one_owner() {
        let dir = tempfile::tempdir().unwrap();
        let l = DataLayout::open_or_create(dir.path(), 2).unwrap();
        assert_eq!(l.partitions, 2);
        assert_eq!(DataLayout::open_or_create(dir.path(), 8).unwrap(), l);
        for cores in 1..6 {
            let mut owned: Vec<u32> = (0..cores)
                .flat_map(|c| partitions_of(c, cores, 7))
                .collect();
            owned.sort_unstable();
            assert_eq!(owned, (0..7).collect::<Vec<_>>());
        }
    }
}
