//! A full disk that heals, on a small loop-mounted ext4 (the tests run as root; without root,
//! or where `mount` fails, they say so and skip): with the free-space floor writes are refused
//! (503 + Retry-After) before the disk fills; without it (floor 0) the WAL's ENOSPC is answered
//! the same way. Either way no body names a file, writes come back by themselves once a filler
//! file is deleted, and nothing acknowledged is lost (restart and count).

mod common;

use common::{HttpResponse, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A small ext4 file system mounted on a loop device; unmounted when dropped.
struct LoopFs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl LoopFs {
    /// `None` (with a message) when not root or when the file system cannot be made or mounted.
    fn mount(size_mb: u64) -> Option<LoopFs> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: disk-full tests need root to mount a loop file system");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        std::fs::File::create(&img)
            .unwrap()
            .set_len(size_mb << 20)
            .unwrap();
        // -m 0: no blocks reserved for root, so "full" means full for the server too.
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&img)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: mkfs.ext4 failed or is missing (scripts/install-test-deps.sh installs e2fsprogs)");
            return None;
        }
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt)
            .status();
        if !mounted.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: mount -o loop failed (no loop devices in this container?)");
            return None;
        }
        Some(LoopFs { _dir: dir, mnt })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(dir).unwrap();
    st.blocks_available() as u64 * st.fragment_size() as u64
}

/// Writes zeros to `path` until `keep_free` bytes are left or the disk is full.
fn fill(path: &Path, keep_free: u64) {
    let dir = path.parent().unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    loop {
        let free = free_bytes(dir);
        if free <= keep_free {
            break;
        }
        let n = ((free - keep_free) as usize).min(chunk.len());
        if f.write_all(&chunk[..n])
            .and_then(|_| f.sync_data())
            .is_err()
        {
            break;
        }
    }
}

/// A body of `rows` rows of series `s<i>` at times `first..`.
fn body(first: u64, rows: u64) -> String {
    (first..first + rows)
        .map(|t| format!("m,s=s{} v={t}i,pad=\"{}\" {t}\n", t % 97, "x".repeat(40)))
        .collect()
}

const ENDPOINTS: [&str; 2] = ["/write?db=d", "/api/v2/write?bucket=d&org=x"];

#[derive(Default)]
struct Writer {
    /// Rows acknowledged; their times are `1..=acked`.
    acked: u64,
    /// Writes sent: even ones go to `/write`, odd ones to `/api/v2/write`.
    sent: u64,
    /// Disk refusals seen, per endpoint (as in [`ENDPOINTS`]).
    refused: [u64; 2],
}

impl Writer {
    /// One write of `rows` rows (the same rows again after a refusal: a retry, as a client
    /// does), on `/write` and `/api/v2/write` in turn; a refusal must be a disk refusal.
    fn write(&mut self, server: &Server, rows: u64) -> HttpResponse {
        let endpoint = (self.sent % 2) as usize;
        self.sent += 1;
        let first = self.acked + 1;
        let r = server.request(
            "POST",
            ENDPOINTS[endpoint],
            &[],
            body(first, rows).as_bytes(),
        );
        if r.status == 204 {
            self.acked += rows;
        } else {
            assert_disk_refusal(ENDPOINTS[endpoint], &r);
            self.refused[endpoint] += 1;
        }
        r
    }
}

fn assert_disk_refusal(endpoint: &str, r: &HttpResponse) {
    assert_eq!(r.status, 503, "{endpoint}: {}", r.text());
    assert!(
        r.header("retry-after").is_some(),
        "{endpoint}: no Retry-After: {r:?}"
    );
    let text = r.text();
    assert!(
        !text.contains('/'),
        "{endpoint}: the body names a path: {text}"
    );
}

fn count(server: &Server) -> u64 {
    let r = server.request(
        "GET",
        &format!(
            "/query?db=d&q={}",
            common::urlencode("SELECT count(v) FROM m")
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .unwrap_or(0)
}

/// Runs the scenario with `floor` as `[data] min-free-disk-bytes`; the filler leaves
/// `leave_free` bytes.
fn disk_fills_and_heals(floor: u64, leave_free: u64) {
    let Some(fs) = LoopFs::mount(96) else { return };
    let data = fs.mnt.join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg = fs.mnt.join("lineshard.toml");
    // Small memtables: seals run (and fail while the disk is full, and are retried).
    std::fs::write(
        &cfg,
        format!("[data]\nmin-free-disk-bytes = {floor}\nmemtable-max-bytes = 1048576\n"),
    )
    .unwrap();
    let dir = tempfile::TempDir::new_in(&data).unwrap();
    let mut server = Server::start_in(dir, &["--cores", "2", "--config", cfg.to_str().unwrap()]);
    server.create_db("d");
    let mut w = Writer::default();
    for _ in 0..20 {
        assert_eq!(w.write(&server, 1000).status, 204);
    }
    assert_eq!(w.sent, 20, "both endpoints took writes");

    let filler = fs.mnt.join("filler");
    fill(&filler, leave_free);
    // Each core looks at the free space every 100 ms on its own schedule: give every core
    // its look, so that the first refusal is not followed by a write taken by a core that
    // has not looked yet (a core that saw the disk low looks again before refusing, so the
    // way back needs no wait).
    std::thread::sleep(Duration::from_millis(400));
    // Writes go on until the floor is seen (or the WAL finds no space): then 503.
    let mut refused = false;
    for _ in 0..2000 {
        if w.write(&server, 2000).status != 204 {
            refused = true;
            break;
        }
    }
    assert!(refused, "writes were never refused on a full disk");
    // And they stay refused while the disk is full, on both endpoints.
    for _ in 0..2 {
        assert_eq!(w.write(&server, 2000).status, 503);
    }
    assert!(
        w.refused.iter().all(|&n| n >= 1),
        "disk refusals per endpoint {ENDPOINTS:?}: {:?}",
        w.refused
    );

    std::fs::remove_file(&filler).unwrap();
    // They come back by themselves.
    let mut back = false;
    for _ in 0..400 {
        if w.write(&server, 500).status == 204 {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(back, "writes did not come back after space was freed");
    // On both endpoints.
    for _ in 0..6 {
        assert_eq!(w.write(&server, 500).status, 204);
    }
    assert!(count(&server) >= w.acked);

    // Nothing acknowledged is lost across a restart, and the data dir checks clean.
    server.kill();
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let path = dir.path().to_path_buf();
    drop(server);
    let server = Server::start_in(dir, &["--cores", "2"]);
    let stored = count(&server);
    assert!(
        stored >= w.acked,
        "{stored} stored, {} acknowledged",
        w.acked
    );
    let check = Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["check", "--data-dir"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    drop(server);
}

#[test]
fn with_the_floor_writes_are_refused_before_the_disk_fills_and_come_back() {
    disk_fills_and_heals(16 << 20, 8 << 20);
}

#[test]
fn without_the_floor_enospc_is_refused_and_the_wal_heals() {
    disk_fills_and_heals(0, 0);
}
