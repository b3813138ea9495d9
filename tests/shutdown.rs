//! Graceful shutdown against a real server: SIGTERM under load from the bundled generator
//! (`lineshard-load`) and from keep-alive clients that check every answer; exit status 0, no
//! 5xx and no request left without an answer, and every acknowledged row there after a restart.
//! A second signal ends the drain at once.

mod common;

use common::{read_response, Server};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A config whose drain bound is far above what the drain needs here: the test asserts how
/// the server ends, never how fast.
fn config_file(dir: &tempfile::TempDir, timeout: &str) -> PathBuf {
    let path = dir.path().join("lineshard.toml");
    std::fs::write(
        &path,
        format!("[runtime]\nshutdown-timeout = \"{timeout}\"\n"),
    )
    .unwrap();
    path
}

fn signal(server: &Server, sig: Signal) {
    kill(Pid::from_raw(server.child.id() as i32), sig).expect("kill");
}

/// The generator: target/debug/lineshard-load (built by `cargo build --workspace`), built here
/// if missing; LINESHARD_LOAD_BIN overrides.
fn loader_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LINESHARD_LOAD_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/debug/lineshard-load");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "lineshard-load"])
            .current_dir(&root)
            .status()
            .expect("cargo build -p lineshard-load");
        assert!(status.success());
    }
    bin
}

/// Counts the bytes read, to tell "no answer at all" from "an answer cut short".
struct Counting<'a> {
    s: &'a mut TcpStream,
    n: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.s.read(buf)?;
        self.n += n;
        Ok(n)
    }
}

/// What one keep-alive client saw.
#[derive(Default, Debug)]
struct Seen {
    /// Rows of the requests answered 204.
    acked_rows: u64,
    answers: u64,
    /// Answers other than 204, and requests on a connection that had answered before which
    /// got no answer or half of one: each is a failure of the drain.
    bad: Vec<String>,
    /// Connections refused, or reset before they answered anything (the kernel completed
    /// them, the server never accepted them).
    not_accepted: u64,
}

/// Writes 50-row requests on a keep-alive connection until the server is gone (bounded in
/// count), reconnecting when an answer says `Connection: close`.
fn client(addr: std::net::SocketAddr, id: usize, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut conn: Option<(TcpStream, bool)> = None; // (stream, answered before)
    for k in 0..200_000u64 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (s, answered_before) = match conn.as_mut() {
            Some(c) => c,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
                    conn.insert((s, false))
                }
                Err(_) => {
                    seen.not_accepted += 1;
                    break;
                }
            },
        };
        let mut body = String::new();
        for r in 0..50u64 {
            body.push_str(&format!("probe,client={id} v={r}i {}\n", k * 50 + r + 1));
        }
        let req = format!(
            "POST /write?db=probe HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent = s.write_all(req.as_bytes());
        let mut counting = Counting { s, n: 0 };
        let got = sent.and_then(|_| read_response(&mut counting, false));
        match got {
            Ok(r) => {
                seen.answers += 1;
                if r.status == 204 {
                    seen.acked_rows += 50;
                } else {
                    seen.bad.push(format!("status {}: {}", r.status, r.text()));
                }
                *answered_before = true;
                let close = r
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                if close {
                    conn = None;
                }
            }
            Err(_) if counting.n == 0 && !*answered_before => {
                seen.not_accepted += 1;
                conn = None;
            }
            Err(e) => {
                seen.bad.push(format!(
                    "request {k}: {e} after {} answer bytes on a connection that had answered before",
                    counting.n
                ));
                break;
            }
        }
    }
    seen
}

fn count_rows(server: &Server, db: &str, measurement: &str, field: &str) -> u64 {
    let target = format!(
        "/query?db={db}&q={}",
        common::urlencode(&format!("SELECT count(\"{field}\") FROM \"{measurement}\""))
    );
    let r = server.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .unwrap_or(0)
}

/// The generator against `addr`, database `load`: closed loop, several connections, bounded in
/// time; its JSON report goes to `json`.
fn start_generator(addr: std::net::SocketAddr, json: &std::path::Path) -> std::process::Child {
    Command::new(loader_bin())
        .args([
            "--url",
            &format!("http://{addr}"),
            "--db",
            "load",
            "--connections",
            "3",
            "--batch-size",
            "1000",
            "--hosts",
            "100",
            "--duration",
            "10s",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("lineshard-load")
}

/// The generator's report, once it ran: every request it sent was answered 204 or found no
/// server to take its connection (refused, or closed by a server that never answered on it);
/// a reset or a close on a connection that had answered, or any other status, fails. Returns
/// the rows it had acknowledged.
fn generator_rows_acked(load: &mut std::process::Child, json: &std::path::Path) -> u64 {
    let _ = load.wait();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json).expect("generator report")).unwrap();
    let statuses: Vec<&String> = report["status_counts"]
        .as_object()
        .expect("status_counts")
        .keys()
        .collect();
    assert!(
        statuses.iter().all(|s| *s == "204" || *s == "not_accepted"),
        "the generator saw {statuses:?}: {}",
        report["errors"]
    );
    let acked = report["rows_acked"].as_u64().expect("rows_acked");
    assert!(acked > 0);
    acked
}

#[test]
fn sigterm_under_load_answers_what_was_received_and_keeps_every_acknowledged_row() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&cfg_dir, "120s");
    let cfg = cfg.to_str().unwrap();
    let mut server = Server::start(&["--cores", "2", "--config", cfg]);
    server.create_db("probe");
    server.create_db("load");
    let addr = server.addr;

    let json = cfg_dir.path().join("load.json");
    let mut load = start_generator(addr, &json);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|id| {
            let stop = stop.clone();
            std::thread::spawn(move || client(addr, id, stop))
        })
        .collect();
    // Let the load run until both the clients and the generator have rows acknowledged.
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(50));
        if count_rows(&server, "probe", "probe", "v") > 0
            && count_rows(&server, "load", "cpu", "usage_user") > 0
        {
            break;
        }
    }
    signal(&server, Signal::SIGTERM);
    let status = server.child.wait().expect("wait");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");

    let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let load_acked = generator_rows_acked(&mut load, &json);
    let mut probe_acked = 0;
    for s in &seen {
        assert!(s.bad.is_empty(), "{:?}", s.bad);
        assert!(s.answers > 0, "{s:?}");
        probe_acked += s.acked_rows;
    }

    // Every acknowledged row is there after a restart on the same data dir.
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server);
    let server = Server::start_in(dir, &["--cores", "2"]);
    let probe_stored = count_rows(&server, "probe", "probe", "v");
    let load_stored = count_rows(&server, "load", "cpu", "usage_user");
    assert!(
        probe_stored >= probe_acked,
        "probe: {probe_stored} stored, {probe_acked} acknowledged"
    );
    assert!(
        load_stored >= load_acked,
        "generator: {load_stored} stored, {load_acked} acknowledged"
    );
    // The drain sealed the memtables: the restart has (next to) nothing to replay.
    let check = Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["check", "--data-dir"])
        .arg(server.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
}

/// With the default `shutdown-timeout` (5 s), SIGTERM under load from the generator ends the
/// process with status 0 within the bound: the bound is the deadline the drain works to, and
/// the margin above it covers only the process's exit (no drain step runs past the bound, as
/// the server exits 1 there).
#[test]
fn sigterm_under_load_exits_0_within_the_default_shutdown_timeout() {
    const BOUND: Duration = Duration::from_secs(5);
    const EXIT_MARGIN: Duration = Duration::from_secs(2);
    let mut server = Server::start(&["--cores", "2"]);
    server.create_db("load");
    let json = server.dir.path().join("load.json");
    let mut load = start_generator(server.addr, &json);
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(50));
        if count_rows(&server, "load", "cpu", "usage_user") > 0 {
            break;
        }
    }
    // Under load for a while: the memtables hold rows for the drain to seal.
    std::thread::sleep(Duration::from_millis(500));
    signal(&server, Signal::SIGTERM);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            sent.elapsed() < BOUND + EXIT_MARGIN,
            "still running {:?} after SIGTERM",
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM ({took:?} after it)"
    );
    generator_rows_acked(&mut load, &json);
}

#[test]
fn a_second_signal_ends_the_drain_at_once() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config_file(&cfg_dir, "10m");
    let mut server = Server::start(&["--config", cfg.to_str().unwrap()]);
    server.create_db("d");
    // A request whose body is still coming holds the drain (for up to 60% of the timeout).
    let mut slow = server.connect();
    slow.write_all(b"POST /write?db=d HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nm v=1")
        .unwrap();
    signal(&server, Signal::SIGTERM);
    // Once new connections are refused, the first signal was handled (the listener closed).
    let mut refused = false;
    for _ in 0..1000 {
        if TcpStream::connect(server.addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(refused, "the listener never closed after SIGTERM");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited before the drain ended"
    );
    signal(&server, Signal::SIGINT);
    let status = server.child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(128 + 2),
        "exit status after a second signal"
    );
}

/// Keep-alive connections idle when the drain begins, whose clients send their next request
/// right after: each request is answered 204 or the connection closes unanswered; never
/// another answer (a read cut short by the drain once left its zeroed room in the buffer,
/// taken for request bytes: `400 malformed HTTP request`).
#[test]
fn requests_on_connections_idle_when_the_drain_begins_are_answered() {
    let body = "m,t=x v=1i 1\n";
    let req = format!(
        "POST /write?db=d HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut answered = 0;
    for _ in 0..3 {
        let cfg_dir = tempfile::tempdir().unwrap();
        let cfg = config_file(&cfg_dir, "120s");
        let mut server = Server::start(&["--cores", "2", "--config", cfg.to_str().unwrap()]);
        server.create_db("d");
        let mut conns: Vec<TcpStream> = (0..8).map(|_| server.connect()).collect();
        for c in &mut conns {
            c.write_all(req.as_bytes()).unwrap();
            assert_eq!(read_response(c, false).unwrap().status, 204);
        }
        signal(&server, Signal::SIGTERM);
        // Inside the drain's grace for idle connections (200 ms).
        std::thread::sleep(Duration::from_millis(40));
        for c in &mut conns {
            let _ = c.write_all(req.as_bytes());
        }
        for c in &mut conns {
            if let Ok(r) = read_response(c, false) {
                assert_eq!(r.status, 204, "{}", r.text());
                answered += 1;
            }
        }
        assert_eq!(server.child.wait().expect("wait").code(), Some(0));
    }
    assert!(
        answered > 0,
        "no request sent during the drain was answered"
    );
}

/// A core whose executor dies (a panic in one of its tasks, unwound by glommio) takes the
/// process down: exit status 1 and a line naming the core and the panic. The panic comes from
/// `LINESHARD_DEBUG_PANIC_CORE`, which only debug builds read.
#[cfg(debug_assertions)]
#[test]
fn a_core_whose_executor_dies_takes_the_process_down_naming_the_core_and_the_cause() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["--bind", "127.0.0.1:0", "--cores", "2", "--data-dir"])
        .arg(dir.path())
        .env("LINESHARD_DEBUG_PANIC_CORE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn lineshard");
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("lineshard listening on "),
        "the server did not start: {line:?}"
    );
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if began.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running 30 s after the core was to panic");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = log.join().unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "the executor of core 1 stopped: it panicked: \
             LINESHARD_DEBUG_PANIC_CORE asked core 1 to panic at src/server.rs:"
        ),
        "{text}"
    );
}
