//! Start-up: one pinned glommio executor per core, the channel mesh between them, the listener.
//!
//! Start-up order: check the listen address is free (SO_REUSEPORT would otherwise let a stale
//! process silently take a share of the connections), load the catalog, start one executor per
//! core pinned with `Placement::Fixed` (glommio pins; nothing else does), join the mesh, bind the
//! listener on every core, and only when every core listens print the readiness line
//! `lineshard listening on ADDR` on stdout. Then the process runs until it is killed; an
//! executor that fails to start, or stops, ends it with an error naming its core.

use crate::catalog::Catalog;
use crate::config::{Config, FsyncMode};
use crate::runtime::{Core, Msg};
use crate::storage::layout::DataLayout;
use crate::storage::wal::FsyncPolicy;
use crate::storage::Partition;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

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
}

/// What an executor tells the start-up thread, tagged with its core (executor index).
enum Notice {
    /// The core listens.
    Ready,
    /// The core could not start.
    Failed(String),
    /// The core's executor ended (its task returned, or it panicked).
    Stopped(String),
}

/// Sends `Notice::Stopped` when dropped: when the executor's task returns or unwinds.
struct StopNotice {
    core: usize,
    tx: mpsc::Sender<(usize, Notice)>,
    reason: &'static str,
}

impl Drop for StopNotice {
    fn drop(&mut self) {
        let reason = if std::thread::panicking() {
            "it panicked"
        } else {
            self.reason
        };
        let _ = self
            .tx
            .send((self.core, Notice::Stopped(reason.to_string())));
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

/// Runs the server until the process is killed, or returns why it could not start or why a
/// core stopped.
pub fn run(mut config: Config) -> Result<(), StartError> {
    config.data.dir = prepare_data_dir(&config.data.dir)?;
    let config = Arc::new(config);
    let data_dir = config.data.dir.clone();
    let catalog = Arc::new(Catalog::load(&data_dir).map_err(StartError::Catalog)?);
    let addr = reserve_address(config.http.bind_address)?;
    let cpus = pick_cpus(config.runtime.cores)?;
    let layout = DataLayout::open_or_create(&data_dir, cpus.len()).map_err(StartError::Layout)?;
    if layout.partitions as usize != cpus.len() {
        eprintln!(
            "lineshard: note: the data dir has {} partitions (fixed when it was created) and {} cores run; \
             each core serves the partitions p with p % {} == its id",
            layout.partitions,
            cpus.len(),
            cpus.len()
        );
    }
    crate::export::start(&config, layout.partitions).map_err(StartError::Export)?;
    let shared = Shared {
        config,
        catalog,
        partitions: layout.partitions,
        started: Arc::new(AtomicUsize::new(0)),
        mesh: MeshBuilder::full(cpus.len(), MESH_CHANNEL_DEPTH),
        addr,
    };
    let (notice_tx, notices) = mpsc::channel::<(usize, Notice)>();
    let mut handles = Vec::with_capacity(cpus.len());
    for (i, &cpu) in cpus.iter().enumerate() {
        handles.push(spawn_core(i, cpu, &shared, notice_tx.clone())?);
    }
    drop(notice_tx);
    wait_until_ready(&notices, cpus.len())?;
    println!(
        "lineshard listening on {addr} ({} cores, data dir {})",
        cpus.len(),
        data_dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Runs until killed: the first executor to stop ends the process with its core's name.
    let stopped = match notices.recv() {
        Ok((core, Notice::Stopped(reason) | Notice::Failed(reason))) => {
            StartError::Stopped { core, reason }
        }
        Ok((core, Notice::Ready)) => StartError::Stopped {
            core,
            reason: "it reported ready twice".into(),
        },
        Err(_) => StartError::Stopped {
            core: 0,
            reason: "every executor exited".into(),
        },
    };
    drop(handles);
    Err(stopped)
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

/// Waits until `cores` executors listen, or returns the first one's failure.
fn wait_until_ready(
    notices: &mpsc::Receiver<(usize, Notice)>,
    cores: usize,
) -> Result<(), StartError> {
    for _ in 0..cores {
        match notices.recv() {
            Ok((_, Notice::Ready)) => {}
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
    let listener = match glommio::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            ready(Notice::Failed(format!("bind {addr}: {e}")));
            return;
        }
    };
    ready(Notice::Ready);
    crate::api::serve(core, listener).await;
}
