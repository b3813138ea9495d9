//! Prints the size, value count and bytes per value of every sealed segment under a data dir.
//! Usage: `cargo run --release --example segment_stats -- DATA_DIR`

use lineshard::storage::segment::SegmentReader;
use std::path::Path;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "seg") {
                out.push(p);
            }
        }
    }
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: segment_stats DATA_DIR");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    walk(Path::new(&dir), &mut files);
    let (mut bytes, mut values, mut series) = (0u64, 0u64, 0usize);
    for f in &files {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                continue;
            }
        };
        match SegmentReader::open(&data) {
            Ok(r) => {
                bytes += data.len() as u64;
                values += r.value_count();
                series += r.series_count();
            }
            Err(e) => eprintln!("{}: {e:?}", f.display()),
        }
    }
    let per = if values == 0 {
        0.0
    } else {
        bytes as f64 / values as f64
    };
    println!("{} segment files, {series} series, {values} values, {bytes} bytes: {per:.3} bytes per value", files.len());
}
