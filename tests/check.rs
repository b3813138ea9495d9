//! `lineshard check --data-dir DIR` on a data dir written by a real server: 0 and "ok" when it
//! is sound; 1, naming the file and what is wrong, on a corrupted copy.

mod common;

use common::Server;
use std::path::{Path, PathBuf};
use std::process::Command;

fn check(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["check", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_with(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A data dir with sealed segment files (small memtables) and WAL records (killed with -9).
fn written_dir() -> tempfile::TempDir {
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("c.toml");
    std::fs::write(&path, "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let mut server = Server::start(&["--cores", "2", "--config", path.to_str().unwrap()]);
    server.create_db("d");
    for k in 0..100u64 {
        let body: String = (0..1000u64)
            .map(|i| format!("m,host=h{} v={i}i,f=1.5 {}\n", i % 50, k * 1000 + i + 1))
            .collect();
        assert_eq!(server.write("d", &body).status, 204);
    }
    // Seals run in the background: wait (bounded) until one has written its files.
    for _ in 0..600 {
        if !files_with(server.dir.path(), "seg").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(server.write("d", "m,host=late v=1i 1\n").status, 204);
    server.kill();
    std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap())
}

#[test]
fn a_sound_data_dir_checks_ok_and_a_corrupted_copy_names_what_is_wrong() {
    let dir = written_dir();
    let (code, text) = check(dir.path());
    assert_eq!(code, 0, "{text}");
    assert!(text.trim_end().ends_with(": ok"), "{text}");
    assert!(
        !files_with(dir.path(), "seg").is_empty(),
        "no segment file was sealed"
    );

    // A flipped byte inside a segment file's first block.
    let bad = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), bad.path());
    let seg = files_with(bad.path(), "seg").remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[24] ^= 0x5a;
    std::fs::write(&seg, bytes).unwrap();
    let (code, text) = check(bad.path());
    assert_eq!(code, 1, "{text}");
    let name = seg.strip_prefix(bad.path()).unwrap().display().to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("error: ") && l.contains(&name)),
        "{text}"
    );

    // A catalog that is not JSON.
    let bad = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), bad.path());
    std::fs::write(bad.path().join("catalog.json"), b"{not json").unwrap();
    let (code, text) = check(bad.path());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("catalog.json"), "{text}");

    // A WAL segment damaged before the last one of its partition: start-up would refuse it.
    let wals = files_with(dir.path(), "wal");
    let parent_of = |p: &PathBuf| p.parent().map(Path::to_path_buf);
    if let Some(first) = wals
        .iter()
        .find(|w| wals.iter().filter(|o| parent_of(o) == parent_of(w)).count() > 1)
    {
        let bad = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), bad.path());
        let target = bad.path().join(first.strip_prefix(dir.path()).unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[64 + 20] ^= 0xff;
        std::fs::write(&target, bytes).unwrap();
        let (code, text) = check(bad.path());
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(".wal") && text.contains("damaged"), "{text}");
    }

    // A missing directory.
    let (code, text) = check(&dir.path().join("nope"));
    assert_eq!(code, 1, "{text}");
}
