//! One pinned glommio executor per core, the channel mesh between them, and start-up.
//!
//! Start-up order: check the listen address is free (SO_REUSEPORT would otherwise let a stale
//! process silently take a share of the connections), load the catalog, start one executor per
//! core pinned with `Placement::Fixed` (glommio pins; nothing else does), join the mesh, bind the
//! listener on every core, and only when every core listens print the readiness line
//! `lineshard listening on ADDR` on stdout.

pub mod core;
mod oneshot;

pub use self::core::{Applied, CallError, Core, Msg, Purge, Req, Resp};

use crate::catalog::Catalog;
use crate::config::{Config, FsyncMode};
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
    #[error("no CPU cores available (asked for {0})")]
    NoCores(usize),
    #[error("cannot start the executor of core {core}: {reason}")]
    Executor { core: usize, reason: String },
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

/// Runs the server until the process is killed.
pub fn run(mut config: Config) -> Result<(), StartError> {
    // glommio opens files relative to fd -1, not the working directory: use an absolute path.
    let dir = config.data.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| StartError::DataDir {
        dir: dir.display().to_string(),
        source,
    })?;
    config.data.dir = std::fs::canonicalize(&dir).map_err(|source| StartError::DataDir {
        dir: dir.display().to_string(),
        source,
    })?;
    let config = Arc::new(config);
    let data_dir = config.data.dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| StartError::DataDir {
        dir: data_dir.display().to_string(),
        source,
    })?;
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
    let mesh = MeshBuilder::full(cpus.len(), MESH_CHANNEL_DEPTH);
    let started = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<usize, String>>();

    let mut handles = Vec::with_capacity(cpus.len());
    for (i, cpu) in cpus.iter().enumerate() {
        let (config, catalog, mesh, ready) = (
            config.clone(),
            catalog.clone(),
            mesh.clone(),
            ready_tx.clone(),
        );
        let partitions = layout.partitions;
        let started = started.clone();
        // Blocking work (seal renames, schema.json, bcrypt, a query's segment reads and
        // rendering) runs on threads pinned to the core's CPU. Two of them: a large query
        // rendering for seconds on one must not hold up a seal's renames on the other.
        let own_cpu = glommio::CpuSet::online()
            .map(|set| set.filter(|l| l.cpu == *cpu))
            .map_err(|e| StartError::Executor {
                core: i,
                reason: e.to_string(),
            })?;
        let builder = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("lineshard-{i}"))
            .blocking_thread_pool_placement(glommio::PoolPlacement::Custom(vec![
                own_cpu.clone(),
                own_cpu,
            ]));
        let handle = builder
            .spawn(move || async move {
                core_main(config, catalog, partitions, started, mesh, addr, ready).await
            })
            .map_err(|e| StartError::Executor {
                core: i,
                reason: e.to_string(),
            })?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..cpus.len() {
        match ready_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(reason)) => return Err(StartError::Executor { core: 0, reason }),
            Err(_) => {
                return Err(StartError::Executor {
                    core: 0,
                    reason: "an executor exited during start-up".into(),
                })
            }
        }
    }
    println!(
        "lineshard listening on {addr} ({} cores, data dir {})",
        cpus.len(),
        data_dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

async fn core_main(
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    partitions: u32,
    started: Arc<AtomicUsize>,
    mesh: MeshBuilder<Msg, glommio::channels::channel_mesh::Full>,
    addr: SocketAddr,
    ready: mpsc::Sender<Result<usize, String>>,
) {
    let (senders, receivers) = match mesh.join().await {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(format!("mesh: {e}")));
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
                let _ = ready.send(Err(e));
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
        let _ = ready.send(Err(e));
        return;
    }
    started.fetch_add(1, Ordering::SeqCst);
    while started.load(Ordering::SeqCst) < cores {
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    }
    core.start_retention_task();
    let listener = match glommio::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("bind {addr}: {e}")));
            return;
        }
    };
    let _ = ready.send(Ok(core.id));
    crate::api::serve(core, listener).await;
}
