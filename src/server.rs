//! Start-up: one pinned glommio executor per core, the channel mesh between them, the listener.
//!
//! Start-up order: check the listen address is free (SO_REUSEPORT would otherwise let a stale
//! process silently take a share of the connections), load the catalog, start one executor per
//! core pinned with `Placement::Fixed` (glommio pins; nothing else does), join the mesh, bind the
//! listener on every core, and only when every core listens print the readiness line
//! `lineshard listening on ADDR` on stdout. Then the process runs until SIGTERM or SIGINT; an
//! executor that fails to start, or stops (a panic: with its message), ends it with an error
//! naming its core.
//!
//! Graceful shutdown: a thread waits for SIGTERM and SIGINT (signal-hook; glommio's own SIGUSR1
//! is left alone) and tells the start-up thread, which sets `stopping`; each core sees it within
//! [`STOP_POLL`], stops accepting, lets its connections answer what they received (each answer
//! with `Connection: close`), then syncs its WALs and seals its memtables, and reports
//! `Drained`. When every core has, the process exits 0; if `[runtime] shutdown-timeout` passes
//! first, it exits 1 naming the cores still busy; a second signal exits at once (128 + signal).
//! A core's connections get 60% of the timeout, its storage step up to 90%.

use crate::catalog::Catalog;
use crate::config::{Config, FsyncMode};
use crate::runtime::{Core, Msg};
use crate::storage::layout::DataLayout;
use crate::storage::wal::FsyncPolicy;
use crate::storage::Partition;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often a core looks whether the server is stopping.
const STOP_POLL: Duration = Duration::from_millis(10);

/// Depth of each core-to-core channel: enough for every connection of a core to have a call in
/// flight to every other core without the sender waiting.
const MESH_CHANNEL_DEPTH: usize = 1024;

/// What stops the server from starting; printed by main.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen on {addr}: {source} (is another lineshard or influxd running on that port?)"
    )]
    AddressInUse {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create data dir {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error("cannot load the catalog: {0}")]
    Catalog(std::io::Error),
    #[error("cannot open the data dir layout: {0}")]
    Layout(std::io::Error),
    #[error("cannot start the Parquet export: {0}")]
    Export(String),
    #[error("no CPU cores available (asked for {0})")]
    NoCores(usize),
    #[error("cannot start the executor of core {core}: {reason}")]
    Executor { core: usize, reason: String },
    #[error("the executor of core {core} stopped: {reason}")]
    Stopped { core: usize, reason: String },
    #[error("cannot handle SIGTERM and SIGINT: {0}")]
    Signals(std::io::Error),
    #[error("shutdown-timeout ({timeout:?}) passed before cores {busy:?} had drained")]
    ShutdownTimeout { timeout: Duration, busy: Vec<usize> },
}

/// What an executor tells the start-up thread, tagged with its core (executor index).
enum Notice {
    /// The core listens.
    Ready,
    /// The core could not start.
    Failed(String),
    /// The core's executor ended (its task returned, or it panicked).
    Stopped(String),
    /// The core finished its graceful shutdown.
    Drained,
    /// The process got this signal (from the signal thread).
    Signal(i32),
}

/// Where a core's notices go: to the start-up thread, tagged with the core.
type NoticeSender = mpsc::Sender<(usize, Notice)>;

thread_local! {
    /// On an executor's thread: its core and where to report that it stopped.
    static CORE_NOTICE: std::cell::RefCell<Option<(usize, NoticeSender)>> =
        const { std::cell::RefCell::new(None) };
}

/// Reports a panic on an executor's thread as that core's `Notice::Stopped`, with the panic's
/// message and place, after printing it as usual. The report is sent from the hook because
/// glommio does not drop the tasks of an executor that a panic unwinds: nothing held by them
/// (such as a [`StopNotice`]) is dropped.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let Some((core, tx)) = CORE_NOTICE.with(|c| c.borrow_mut().take()) else {
            return;
        };
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = tx.send((core, Notice::Stopped(format!("it panicked: {text}{at}"))));
    }));
}

/// Sends `Notice::Stopped` when dropped: when the executor's task returns (a panic is reported
/// by the panic hook).
struct StopNotice {
    core: usize,
    tx: mpsc::Sender<(usize, Notice)>,
    reason: &'static str,
}

impl Drop for StopNotice {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self
                .tx
                .send((self.core, Notice::Stopped(self.reason.to_string())));
        }
    }
}

/// Checks nobody listens on `addr` and resolves port 0 to a free port.
fn reserve_address(addr: SocketAddr) -> Result<SocketAddr, StartError> {
    let in_use = |source| StartError::AddressInUse {
        addr: addr.to_string(),
        source,
    };
    // A plain bind (no SO_REUSEPORT) fails while any socket, reuseport or not, listens there.
    let probe = std::net::TcpListener::bind(addr).map_err(in_use)?;
    let resolved = probe.local_addr().map_err(in_use)?;
    drop(probe);
    Ok(resolved)
}

/// The CPU ids to run on: the first `cores` of those this process may use (0 = all of them).
fn pick_cpus(cores: usize) -> Result<Vec<usize>, StartError> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        ids.push(0);
    }
    let n = if cores == 0 { ids.len() } else { cores };
    if n > ids.len() {
        // More executors than allowed CPUs: wrap around (useful for tests on small machines).
        let base = ids.clone();
        while ids.len() < n {
            ids.push(base[ids.len() % base.len()]);
        }
    }
    ids.truncate(n);
    if ids.is_empty() {
        return Err(StartError::NoCores(cores));
    }
    Ok(ids)
}

/// Runs the server until a graceful shutdown ends (`Ok`), or returns why it could not start, why
/// a core stopped, or that the shutdown took too long.
pub fn run(mut config: Config) -> Result<(), StartError> {
    install_panic_hook();
    config.data.dir = prepare_data_dir(&config.data.dir)?;
    let config = Arc::new(config);
    let data_dir = config.data.dir.clone();
    let catalog = Arc::new(Catalog::load(&data_dir).map_err(StartError::Catalog)?);
    let addr = reserve_address(config.http.bind_address)?;
    let cpus = pick_cpus(config.runtime.cores)?;
    let layout = DataLayout::open_or_create(&data_dir, cpus.len()).map_err(StartError::Layout)?;
    if layout.partitions as usize != cpus.len() {
        tracing::info!(
            partitions = layout.partitions,
            cores = cpus.len(),
            "the data dir's partition count (fixed when it was created) differs from the cores that run: \
             each core serves the partitions p with p % cores == its id"
        );
    }
    let exporter = crate::export::open(&config, layout.partitions).map_err(StartError::Export)?;
    let shared = Shared {
        config,
        catalog,
        partitions: layout.partitions,
        started: Arc::new(AtomicUsize::new(0)),
        mesh: MeshBuilder::full(cpus.len(), MESH_CHANNEL_DEPTH),
        addr,
        stopping: Arc::new(AtomicBool::new(false)),
    };
    let stopping = shared.stopping.clone();
    let shutdown_timeout = shared.config.runtime.shutdown_timeout;
    let (notice_tx, notices) = mpsc::channel::<(usize, Notice)>();
    let mut handles = Vec::with_capacity(cpus.len());
    for (i, &cpu) in cpus.iter().enumerate() {
        handles.push(spawn_core(i, cpu, &shared, notice_tx.clone())?);
    }
    wait_until_ready(&notices, cpus.len())?;
    if let Some(exporter) = exporter {
        exporter.start().map_err(StartError::Export)?;
    }
    watch_signals(notice_tx)?;
    println!(
        "lineshard listening on {addr} ({} cores, data dir {})",
        cpus.len(),
        data_dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(
        address = %addr,
        cores = cpus.len(),
        data_dir = %data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "lineshard started"
    );
    let result = serve_until_stopped(&notices, cpus.len(), &stopping, shutdown_timeout);
    drop(handles);
    result
}

/// Starts the thread that turns SIGTERM and SIGINT into notices.
fn watch_signals(tx: mpsc::Sender<(usize, Notice)>) -> Result<(), StartError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).map_err(StartError::Signals)?;
    std::thread::Builder::new()
        .name("lineshard-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send((usize::MAX, Notice::Signal(sig))).is_err() {
                    return;
                }
            }
        })
        .map_err(StartError::Signals)?;
    Ok(())
}

/// Waits for the first signal (then for every core to drain, or the timeout, or a second
/// signal) or for a core to stop.
fn serve_until_stopped(
    notices: &mpsc::Receiver<(usize, Notice)>,
    cores: usize,
    stopping: &AtomicBool,
    timeout: Duration,
) -> Result<(), StartError> {
    let mut deadline: Option<Instant> = None;
    let mut drained = vec![false; cores];
    loop {
        let next = match deadline {
            None => notices
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(at) => notices.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok((_, Notice::Signal(sig))) if deadline.is_none() => {
                log_shutdown_begins(sig, timeout);
                stopping.store(true, Ordering::SeqCst);
                deadline = Some(Instant::now() + timeout);
            }
            Ok((_, Notice::Signal(sig))) => {
                log_shutdown_cut_short(sig);
                std::process::exit(128 + sig);
            }
            Ok((core, Notice::Drained)) => {
                if let Some(d) = drained.get_mut(core) {
                    *d = true;
                }
                if drained.iter().all(|&d| d) {
                    log_shutdown_done();
                    return Ok(());
                }
            }
            Ok((core, Notice::Stopped(reason) | Notice::Failed(reason))) => {
                return Err(StartError::Stopped { core, reason })
            }
            Ok((core, Notice::Ready)) => {
                return Err(StartError::Stopped {
                    core,
                    reason: "it reported ready twice".into(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let busy = (0..cores).filter(|&c| !drained[c]).collect();
                return Err(StartError::ShutdownTimeout { timeout, busy });
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(StartError::Stopped {
                    core: 0,
                    reason: "every executor exited".into(),
                })
            }
        }
    }
}

/// Log: a graceful shutdown begins.
fn log_shutdown_begins(sig: i32, timeout: Duration) {
    tracing::info!(
        signal = sig,
        timeout_ms = timeout.as_millis() as u64,
        "shutting down: stop accepting, answer what was received, sync and seal (a second signal exits at once)"
    );
}

/// Log: a second signal ends the process before the drain finished.
fn log_shutdown_cut_short(sig: i32) {
    tracing::warn!(signal = sig, "second signal: exiting now");
}

/// Log: the graceful shutdown finished.
fn log_shutdown_done() {
    tracing::info!("lineshard stopped: every core drained, synced and sealed");
}

/// Creates the data dir and returns its absolute path (glommio opens files relative to fd -1,
/// not the working directory).
fn prepare_data_dir(dir: &std::path::Path) -> Result<std::path::PathBuf, StartError> {
    let err = |source| StartError::DataDir {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::canonicalize(dir).map_err(err)
}

/// What every core starts from.
#[derive(Clone)]
struct Shared {
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    partitions: u32,
    /// Cores that have opened their partitions and registered their stored types.
    started: Arc<AtomicUsize>,
    mesh: MeshBuilder<Msg, glommio::channels::channel_mesh::Full>,
    addr: SocketAddr,
    /// Set on the first SIGTERM or SIGINT.
    stopping: Arc<AtomicBool>,
}

/// Starts core `i`'s executor, pinned to `cpu`.
fn spawn_core(
    i: usize,
    cpu: usize,
    shared: &Shared,
    notice: mpsc::Sender<(usize, Notice)>,
) -> Result<glommio::ExecutorJoinHandle<()>, StartError> {
    let failed = |e: glommio::GlommioError<()>| StartError::Executor {
        core: i,
        reason: e.to_string(),
    };
    // Blocking work (seal renames, schema.json, bcrypt, a query's segment reads and rendering)
    // runs on threads pinned to the core's CPU. Two of them: a large query rendering for
    // seconds on one must not hold up a seal's renames on the other.
    let own_cpu = glommio::CpuSet::online()
        .map(|set| set.filter(|l| l.cpu == cpu))
        .map_err(failed)?;
    let shared = shared.clone();
    LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .name(&format!("lineshard-{i}"))
        .blocking_thread_pool_placement(glommio::PoolPlacement::Custom(vec![
            own_cpu.clone(),
            own_cpu,
        ]))
        .spawn(move || async move {
            CORE_NOTICE.with(|c| *c.borrow_mut() = Some((i, notice.clone())));
            let _stop = StopNotice {
                core: i,
                tx: notice.clone(),
                reason: "its accept loop ended",
            };
            let ready = |n| {
                let _ = notice.send((i, n));
            };
            core_main(shared, ready).await
        })
        .map_err(failed)
}

/// Debug builds only (tests): with `LINESHARD_DEBUG_PANIC_CORE=N`, a task of core N panics
/// half a second after the core listens, to show how a core whose executor dies takes the
/// process down. A release build has no such trigger.
#[cfg(debug_assertions)]
fn debug_panic(core: usize) {
    let asked = std::env::var("LINESHARD_DEBUG_PANIC_CORE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if asked == Some(core) {
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(500)).await;
            panic!("LINESHARD_DEBUG_PANIC_CORE asked core {core} to panic");
        })
        .detach();
    }
}

/// Waits until `cores` executors listen, or returns the first one's failure.
fn wait_until_ready(
    notices: &mpsc::Receiver<(usize, Notice)>,
    cores: usize,
) -> Result<(), StartError> {
    for _ in 0..cores {
        match notices.recv() {
            Ok((_, Notice::Ready)) => {}
            Ok((core, Notice::Drained | Notice::Signal(_))) => {
                return Err(StartError::Executor {
                    core,
                    reason: "unexpected notice during start-up".into(),
                })
            }
            Ok((core, Notice::Failed(reason))) => {
                return Err(StartError::Executor { core, reason })
            }
            Ok((core, Notice::Stopped(reason))) => {
                return Err(StartError::Executor {
                    core,
                    reason: format!("it exited during start-up ({reason})"),
                })
            }
            Err(_) => {
                return Err(StartError::Executor {
                    core: 0,
                    reason: "every executor exited during start-up".into(),
                })
            }
        }
    }
    Ok(())
}

/// One core: join the mesh, open its partitions, register stored types, wait for every core,
/// listen, serve.
async fn core_main(shared: Shared, ready: impl Fn(Notice)) {
    let Shared {
        config,
        catalog,
        partitions,
        started,
        mesh,
        addr,
        stopping,
    } = shared;
    let (senders, receivers) = match mesh.join().await {
        Ok(x) => x,
        Err(e) => {
            ready(Notice::Failed(format!("mesh: {e}")));
            return;
        }
    };
    let (id, cores) = (senders.peer_id(), senders.nr_consumers());
    let policy = match config.data.wal_fsync {
        FsyncMode::Always => FsyncPolicy::Always,
        FsyncMode::Interval => FsyncPolicy::Interval(config.data.wal_fsync_interval),
        FsyncMode::Never => FsyncPolicy::Never,
    };
    let mut owned = Vec::new();
    for p in crate::storage::layout::partitions_of(id, cores, partitions) {
        match Partition::open(p, &config.data.dir, policy).await {
            Ok(part) => owned.push(part),
            Err(e) => {
                ready(Notice::Failed(e.to_string()));
                return;
            }
        }
    }
    let core = Core::new(config.clone(), catalog, partitions, owned, senders);
    core.start_receivers(receivers);
    core.learn_stored_series();
    // Field types of stored data go back to their schema owners before any core takes a write,
    // so a new write can never fix a type that stored data contradicts.
    if let Err(e) = core.register_stored_types().await {
        ready(Notice::Failed(format!(
            "registering stored field types: {e}"
        )));
        return;
    }
    started.fetch_add(1, Ordering::SeqCst);
    while started.load(Ordering::SeqCst) < cores {
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    }
    core.start_export_age_task();
    core.start_retention_task();
    core.start_compactions();
    core.start_disk_watch();
    let listener = match glommio::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            ready(Notice::Failed(format!("bind {addr}: {e}")));
            return;
        }
    };
    ready(Notice::Ready);
    #[cfg(debug_assertions)]
    debug_panic(id);
    let drain = Rc::new(crate::http::Drain::counting(core.connections()));
    let watch = drain.clone();
    glommio::spawn_local(async move {
        while !stopping.load(Ordering::Relaxed) {
            glommio::timer::sleep(STOP_POLL).await;
        }
        watch.start();
    })
    .detach();
    crate::api::serve(core.clone(), listener, drain.clone()).await;
    // Draining: the listener is closed; connections answer what they received, then close.
    let timeout = config.runtime.shutdown_timeout;
    let began = Instant::now();
    while drain.open() > 0 && began.elapsed() < timeout.mul_f64(0.6) {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    let left = timeout.mul_f64(0.9).saturating_sub(began.elapsed());
    let storage = async {
        core.shutdown_storage().await;
        Ok(())
    };
    let _ = glommio::timer::timeout(left, storage).await;
    ready(Notice::Drained);
    // The executor keeps running (other cores may still call it) until the process exits.
    futures_lite::future::pending::<()>().await
}
