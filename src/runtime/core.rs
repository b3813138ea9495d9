//! One core's state and the typed message mesh between cores.
//!
//! Every cross-core exchange is a call: an owned `Req` goes to the target core with the
//! caller's (core, call id) as its reply path; the target serves it in a task of its own (so its
//! receive loop never blocks) and sends an owned `Resp` back. A call to the own core is served in
//! place, without a message. A failed send hands the request back and becomes an error: nothing
//! on this path unwraps or panics.

use super::oneshot;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::lineproto::FieldType;
use crate::shard::batch::Batch;
use crate::shard::schema::{FieldClaim, SchemaMap};
use crate::storage::{Partition, ScanRequest, SeriesRows};
use glommio::channels::channel_mesh::{Receivers, Senders};
use hashbrown::HashMap;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// A change to the catalog, run on core 0 against a copy of the current catalog.
pub type CatalogChange = Box<dyn FnOnce(&mut Catalog) -> Result<Vec<Purge>, String> + Send>;

/// Data to forget on every core after a catalog change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    Database(String),
    RetentionPolicy(String, String),
}

/// A request from one core to another.
pub enum Req {
    /// Apply a schema-checked batch to the owner's partition.
    Apply {
        db: String,
        rp: String,
        batches: Vec<(u32, Batch)>,
    },
    /// Fix field types at the measurement's schema owner.
    Claim {
        db: String,
        rp: String,
        claims: Vec<FieldClaim>,
    },
    /// Read this core's rows for a query.
    Scan(ScanRequest),
    /// Change the catalog (core 0 only).
    Catalog(CatalogChange),
    /// A new catalog snapshot from core 0, plus what to purge.
    CatalogSnapshot(Arc<Catalog>, Vec<Purge>),
}

/// The answer to a `Req`.
pub enum Resp {
    Applied(Result<u32, String>),
    Claimed(Vec<FieldType>),
    Scanned(Vec<SeriesRows>),
    CatalogChanged(Result<(), String>),
    Ack,
}

pub enum Msg {
    Request { from: usize, id: u64, req: Req },
    Response { id: u64, resp: Resp },
}

/// Why a call to another core failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("core {0} is unavailable")]
    Unavailable(usize),
    #[error("core {0} dropped the request")]
    Dropped(usize),
    #[error("unexpected answer from core {0}")]
    Unexpected(usize),
}

/// Everything one core owns.
pub struct Core {
    pub id: usize,
    pub cores: usize,
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    pub catalog: RefCell<Arc<Catalog>>,
    pub schema: RefCell<SchemaMap>,
    /// The number of partitions of the data dir (fixed at its creation; see `storage::layout`).
    pub partition_count: u32,
    /// The partitions this core owns: partition `p` is at index `p / cores`.
    pub partitions: RefCell<Vec<Partition>>,
    senders: Senders<Msg>,
    next_call: Cell<u64>,
    pending: RefCell<HashMap<u64, oneshot::Sender<Resp>>>,
}

impl Core {
    pub fn new(
        config: Arc<Config>,
        catalog: Arc<Catalog>,
        partition_count: u32,
        senders: Senders<Msg>,
    ) -> Rc<Core> {
        let (id, cores) = (senders.peer_id(), senders.nr_consumers());
        let owned = crate::storage::layout::partitions_of(id, cores, partition_count);
        Rc::new(Core {
            id,
            cores,
            partition_count,
            partitions: RefCell::new(owned.into_iter().map(|_| Partition::new()).collect()),
            data_dir: config.data.dir.clone(),
            config,
            catalog: RefCell::new(catalog),
            schema: RefCell::new(SchemaMap::default()),
            senders,
            next_call: Cell::new(1),
            pending: RefCell::new(HashMap::new()),
        })
    }

    /// Starts one receive loop per peer; each request is served in its own task.
    pub fn start_receivers(self: &Rc<Self>, mut receivers: Receivers<Msg>) {
        for (_, rx) in receivers.streams() {
            let core = self.clone();
            glommio::spawn_local(async move {
                while let Some(msg) = rx.recv().await {
                    core.dispatch(msg);
                }
            })
            .detach();
        }
    }

    fn dispatch(self: &Rc<Self>, msg: Msg) {
        match msg {
            Msg::Request { from, id, req } => {
                let core = self.clone();
                glommio::spawn_local(async move {
                    let resp = core.serve(req).await;
                    // The caller may be gone (shutting down); nothing else to do with the answer.
                    let _ = core.senders.send_to(from, Msg::Response { id, resp }).await;
                })
                .detach();
            }
            Msg::Response { id, resp } => {
                if let Some(tx) = self.pending.borrow_mut().remove(&id) {
                    tx.send(resp);
                }
            }
        }
    }

    /// Sends `req` to `target` (or serves it here) and waits for the answer.
    pub async fn call(self: &Rc<Self>, target: usize, req: Req) -> Result<Resp, CallError> {
        if target == self.id {
            return Ok(self.serve(req).await);
        }
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        if self
            .senders
            .send_to(
                target,
                Msg::Request {
                    from: self.id,
                    id,
                    req,
                },
            )
            .await
            .is_err()
        {
            self.pending.borrow_mut().remove(&id);
            return Err(CallError::Unavailable(target));
        }
        rx.await.ok_or(CallError::Dropped(target))
    }

    /// Calls every core (this one included) with a request built per core, concurrently.
    pub async fn call_all(
        self: &Rc<Self>,
        make: impl Fn(usize) -> Req,
    ) -> Vec<Result<Resp, CallError>> {
        let tasks: Vec<_> = (0..self.cores)
            .map(|c| {
                let core = self.clone();
                let req = make(c);
                glommio::spawn_local(async move { core.call(c, req).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await);
        }
        out
    }

    async fn serve(self: &Rc<Self>, req: Req) -> Resp {
        match req {
            Req::Apply { db, rp, batches } => {
                let mut r = Ok(0);
                for (p, batch) in &batches {
                    r = self
                        .apply_local(&db, &rp, *p, batch)
                        .and_then(|n| r.map(|m| m + n));
                }
                Resp::Applied(r)
            }
            Req::Claim { db, rp, claims } => {
                Resp::Claimed(self.schema.borrow_mut().claim(&db, &rp, &claims))
            }
            Req::Scan(scan) => {
                let parts = self.partitions.borrow();
                Resp::Scanned(parts.iter().flat_map(|p| p.scan(&scan)).collect())
            }
            Req::Catalog(change) => Resp::CatalogChanged(self.change_catalog(change).await),
            Req::CatalogSnapshot(cat, purges) => {
                self.install_catalog(cat, &purges);
                Resp::Ack
            }
        }
    }

    /// Applies a batch to partition `partition`, which this core owns. (The WAL append slots in
    /// here, before the memtable.)
    pub fn apply_local(
        &self,
        db: &str,
        rp: &str,
        partition: u32,
        batch: &Batch,
    ) -> Result<u32, String> {
        let idx = partition as usize / self.cores;
        let mut parts = self.partitions.borrow_mut();
        let Some(p) = parts
            .get_mut(idx)
            .filter(|_| partition as usize % self.cores == self.id)
        else {
            return Err(format!(
                "internal error: partition {partition} is not owned by core {}",
                self.id
            ));
        };
        p.apply(db, rp, batch).map_err(|e| e.to_string())
    }

    fn install_catalog(&self, cat: Arc<Catalog>, purges: &[Purge]) {
        for p in purges {
            match p {
                Purge::Database(db) => {
                    self.schema.borrow_mut().purge_database(db);
                    self.partitions
                        .borrow_mut()
                        .iter_mut()
                        .for_each(|p| p.drop_database(db));
                }
                Purge::RetentionPolicy(db, rp) => {
                    self.schema.borrow_mut().purge_retention_policy(db, rp);
                    self.partitions
                        .borrow_mut()
                        .iter_mut()
                        .for_each(|p| p.drop_retention_policy(db, rp));
                }
            }
        }
        // Snapshots can overtake each other between cores; keep the newest.
        if cat.version >= self.catalog.borrow().version {
            *self.catalog.borrow_mut() = cat;
        }
    }

    /// On core 0: change a copy, persist it atomically, then install it on every core.
    /// Changes are serialised by running on core 0 without an await between read and install.
    async fn change_catalog(self: &Rc<Self>, change: CatalogChange) -> Result<(), String> {
        if self.id != 0 {
            return Err("internal error: catalog change sent to a core other than 0".into());
        }
        let mut next = Catalog::clone(&self.catalog.borrow());
        let purges = change(&mut next)?;
        next.version += 1;
        next.save(&self.data_dir)
            .map_err(|e| format!("catalog: {e}"))?;
        let next = Arc::new(next);
        self.install_catalog(next.clone(), &purges);
        let answers = self
            .call_all(|c| {
                if c == 0 {
                    Req::CatalogSnapshot(next.clone(), Vec::new())
                } else {
                    Req::CatalogSnapshot(next.clone(), purges.clone())
                }
            })
            .await;
        for a in answers {
            a.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Runs a catalog change on core 0 and waits until every core has the new snapshot.
    pub async fn catalog_change(self: &Rc<Self>, change: CatalogChange) -> Result<(), String> {
        match self.call(0, Req::Catalog(change)).await {
            Ok(Resp::CatalogChanged(r)) => r,
            Ok(_) => Err(CallError::Unexpected(0).to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}
