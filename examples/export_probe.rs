//! Turns segment files into Parquet files with the exporter's own code (`segment_to_parquet`)
//! and prints the files, rows and bytes; with `--out DIR` it also writes them there. Run under
//! callgrind to count the exporter's instructions per row on real segments without a server:
//! `valgrind --tool=callgrind target/release/examples/export_probe SEG...`
//! Usage: `cargo run --release --example export_probe -- [--out DIR] SEG...`

use lineshard::config::TimeUnit;
use lineshard::export::segment_to_parquet;
use std::path::Path;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let out_dir = match args.first().map(String::as_str) {
        Some("--out") if args.len() > 1 => {
            let d = args.remove(1);
            args.remove(0);
            Some(d)
        }
        _ => None,
    };
    if args.is_empty() {
        eprintln!("usage: export_probe [--out DIR] SEG...");
        std::process::exit(2);
    }
    let (mut rows, mut bytes, mut files) = (0usize, 0usize, 0usize);
    for (i, p) in args.iter().enumerate() {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let out = segment_to_parquet(&data, "probe", 0, i as u64, TimeUnit::Ns)
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        for f in out {
            if let Some(d) = &out_dir {
                let path = Path::new(d).join(&f.path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &f.bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            rows += f.rows;
            bytes += f.bytes.len();
            files += 1;
        }
    }
    println!("{files} Parquet files, {rows} rows, {bytes} bytes");
}
