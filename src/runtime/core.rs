//! One core's state and the typed message mesh between cores.
//!
//! Every cross-core exchange is a call: an owned `Req` goes to the target core with the
//! caller's (core, call id) as its reply path; the target serves it in a task of its own (so its
//! receive loop never blocks) and sends an owned `Resp` back. A call to the own core is served in
//! place, without a message. A failed send hands the request back and becomes an error: nothing
//! on this path unwraps or panics.

mod ops;

use super::oneshot;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::metrics::{Counters, Snapshot};
use crate::shard::batch::Batch;
use crate::shard::cardinality::{Cardinality, Refused};
use crate::shard::schema::{ClaimAnswer, FieldClaim, SchemaMap};
use crate::storage::scan::{Delete, Grid, Profile};
use crate::storage::{
    scan::MeasurementMatch, Admit, Partition, ScanRequest, SeriesColumns, SeriesIndex, SeriesRows,
    ShowAnswer, ShowRequest, StorageError,
};
use glommio::channels::channel_mesh::{Receivers, Senders};
use hashbrown::HashMap;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// A change to the catalog, run on core 0 against a copy of the current catalog.
pub type CatalogChange =
    Box<dyn FnOnce(&mut Catalog) -> Result<Vec<Purge>, CatalogChangeError> + Send>;

/// Why a catalog change was not made; `Display` is the statement's error text.
#[derive(Debug, thiserror::Error)]
pub enum CatalogChangeError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    User(#[from] crate::catalog::users::UserError),
    /// The new catalog could not be saved; nothing changed.
    #[error("catalog: {0}")]
    Persist(std::io::Error),
    /// Saved on core 0, but a core did not take the new snapshot.
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("internal error: catalog change sent to a core other than 0")]
    NotCoreZero,
}

/// Data to forget on every core after a catalog change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    Database(String),
    RetentionPolicy(String, String),
}

/// A request from one core to another; each kind has its answer type through [`Call`].
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
    /// Delete points in this core's partitions (`DELETE`, `DROP SERIES`, `DROP MEASUREMENT`).
    Delete(DeleteSeries),
    /// Read this core's rows and reduce them here (a query's partial aggregate).
    ScanReduce(ScanRequest, Reducer),
    /// Read this core's values as columns and reduce them here (an aggregate's partial, with
    /// no list of fields built per point).
    ScanColumnsReduce(ScanRequest, ColumnReducer),
    /// How this core's points for a scan spread over time (a paged read's plan).
    Profile(ScanRequest, Option<Grid>),
    /// Read this core's series indexes for a SHOW statement.
    Show(ShowRequest),
    /// The field keys this core knows of (db, rp) for SHOW FIELD KEYS.
    FieldKeys {
        db: String,
        rp: String,
        measurements: Vec<MeasurementMatch>,
    },
    /// The /query statements running on this core.
    Queries,
    /// This core's counters and storage figures for `/metrics`.
    Metrics,
    /// Change the catalog (core 0 only).
    Catalog(CatalogChange),
    /// A new catalog snapshot from core 0, plus what to purge.
    CatalogSnapshot(Arc<Catalog>, Vec<Purge>),
}

/// The answer to a `Req`, of the kind the request asked for.
pub enum Resp {
    Applied(Result<Applied, StorageError>),
    Claimed(Vec<ClaimAnswer>),
    Scanned(Vec<SeriesRows>),
    Deleted(Result<(), StorageError>),
    Reduced(Box<dyn std::any::Any + Send>),
    Shown(ShowAnswer),
    Profiled(Profile),
    FieldKeysKnown(FieldKeys),
    Running(Vec<RunningQuery>),
    Measured(Box<Snapshot>),
    CatalogChanged(Result<(), CatalogChangeError>),
    Ack,
}

/// A request and the type of its answer: [`Core::ask`] sends it and hands back that type, so no
/// caller matches on an answer of another kind.
pub trait Call {
    type Answer;
    fn into_req(self) -> Req;
    /// The answer, if `resp` is of this request's kind.
    fn answer(resp: Resp) -> Option<Self::Answer>;
}

/// Apply schema-checked batches to the owner's partitions.
pub struct Apply {
    pub db: String,
    pub rp: String,
    pub batches: Vec<(u32, Batch)>,
}

/// Decide field-type claims at a measurement's schema owner.
pub struct Claim {
    pub db: String,
    pub rp: String,
    pub claims: Vec<FieldClaim>,
}

/// Read a core's rows for a query.
pub struct Scan(pub ScanRequest);

/// Delete points in a core's partitions; answered once the delete is durable there.
pub struct DeleteSeries {
    pub delete: Delete,
    /// `DROP MEASUREMENT`: the field types of the delete's measurement (a name) are forgotten
    /// too, in the schema and in the partitions' sealed types.
    pub drop_measurement: bool,
}
/// Points of a core's scan that it reduces on its own thread (more go to the blocking pool).
const REDUCE_INLINE_POINTS_MAX: usize = 4096;

/// What a core makes of its scanned rows before it answers (runs on its blocking pool): the
/// read path's "partial results, not rows".
pub type Reducer = Box<dyn FnOnce(Vec<SeriesRows>) -> Box<dyn std::any::Any + Send> + Send>;

/// Read a core's rows for a query and reduce them on that core.
pub struct ScanReduce(pub ScanRequest, pub Reducer);

/// `Reducer` for a columnar scan (`ScanColumnsReduce`).
pub type ColumnReducer =
    Box<dyn FnOnce(Vec<SeriesColumns>) -> Box<dyn std::any::Any + Send> + Send>;

/// Read a core's values for a query as columns (the fields the request names) and reduce them
/// on that core.
pub struct ScanColumnsReduce(pub ScanRequest, pub ColumnReducer);

/// How a core's points for a scan spread over time: the range, and per bucket of the grid
/// (when one is given) the points, estimated from metadata (`storage::scan::Profile`).
pub struct ProfileScan(pub ScanRequest, pub Option<Grid>);

/// Read a core's series indexes for a SHOW statement.
pub struct Show(pub ShowRequest);

/// The field keys a core knows of (db, rp), for the measurements given (none = all).
pub struct ShowFieldKeys {
    pub db: String,
    pub rp: String,
    pub measurements: Vec<MeasurementMatch>,
}

/// Field keys and their type names, per measurement (unescaped), sorted.
pub type FieldKeys = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, &'static str>>;

/// The /query statements running on a core.
pub struct ListQueries;

/// A /query statement while it runs (SHOW QUERIES).
#[derive(Clone, Debug)]
pub struct RunningQuery {
    pub qid: u64,
    pub query: String,
    pub database: String,
    pub started: std::time::Instant,
}

/// A core's counters and storage figures for `/metrics`.
pub struct Measure;

/// Change the catalog (served by core 0 only).
pub struct ChangeCatalog(pub CatalogChange);

/// Install a new catalog snapshot from core 0 and forget what it purges.
pub struct InstallCatalog(pub Arc<Catalog>, pub Vec<Purge>);

/// `impl Call`: the request's `Req` and the `Resp` variant that answers it.
macro_rules! call {
    ($call:ty => $answer:ty, |$c:ident| $req:expr, $resp:pat => $out:expr) => {
        impl Call for $call {
            type Answer = $answer;
            fn into_req(self) -> Req {
                let $c = self;
                $req
            }
            fn answer(resp: Resp) -> Option<Self::Answer> {
                match resp {
                    $resp => Some($out),
                    _ => None,
                }
            }
        }
    };
}

call!(Apply => Result<Applied, StorageError>,
    |c| Req::Apply { db: c.db, rp: c.rp, batches: c.batches },
    Resp::Applied(r) => r);
call!(Claim => Vec<ClaimAnswer>,
    |c| Req::Claim { db: c.db, rp: c.rp, claims: c.claims },
    Resp::Claimed(r) => r);
call!(Scan => Vec<SeriesRows>, |c| Req::Scan(c.0), Resp::Scanned(r) => r);
call!(DeleteSeries => Result<(), StorageError>, |c| Req::Delete(c), Resp::Deleted(r) => r);
call!(ScanReduce => Box<dyn std::any::Any + Send>, |c| Req::ScanReduce(c.0, c.1), Resp::Reduced(r) => r);
call!(ScanColumnsReduce => Box<dyn std::any::Any + Send>, |c| Req::ScanColumnsReduce(c.0, c.1), Resp::Reduced(r) => r);
call!(Show => ShowAnswer, |c| Req::Show(c.0), Resp::Shown(r) => r);
call!(ProfileScan => Profile, |c| Req::Profile(c.0, c.1), Resp::Profiled(r) => r);
call!(ShowFieldKeys => FieldKeys,
    |c| Req::FieldKeys { db: c.db, rp: c.rp, measurements: c.measurements },
    Resp::FieldKeysKnown(r) => r);
call!(ListQueries => Vec<RunningQuery>, |_c| Req::Queries, Resp::Running(r) => r);
call!(Measure => Box<Snapshot>, |_c| Req::Metrics, Resp::Measured(r) => r);
call!(ChangeCatalog => Result<(), CatalogChangeError>, |c| Req::Catalog(c.0), Resp::CatalogChanged(r) => r);
call!(InstallCatalog => (), |c| Req::CatalogSnapshot(c.0, c.1), Resp::Ack => ());

/// What an owner did with a write's points.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub points: u32,
    /// Points refused by `max-series-per-database` / `max-values-per-tag`.
    pub refused: Refused,
    /// When the owner applied the batch, when the WAL write that holds it completed and when its
    /// fdatasync did (the latest over all owners): the write path's timeline.
    pub stamps: OwnerStamps,
}

/// When an owner core did its steps of a write (see [`Applied::stamps`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OwnerStamps {
    pub applied: Option<std::time::Instant>,
    pub wal_written: Option<std::time::Instant>,
    pub synced: Option<std::time::Instant>,
}

impl OwnerStamps {
    fn merge(&mut self, o: OwnerStamps) {
        self.applied = self.applied.max(o.applied);
        self.wal_written = self.wal_written.max(o.wal_written);
        self.synced = self.synced.max(o.synced);
    }
}

impl Applied {
    pub fn merge(&mut self, other: Applied) {
        self.points += other.points;
        self.refused.points += other.refused.points;
        if self.refused.reason.is_none() {
            self.refused.reason = other.refused.reason;
        }
        self.stamps.merge(other.stamps);
    }
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
    id: usize,
    cores: usize,
    config: Arc<Config>,
    data_dir: PathBuf,
    catalog: RefCell<Arc<Catalog>>,
    schema: RefCell<SchemaMap>,
    /// The number of partitions of the data dir (fixed at its creation; see `storage::layout`).
    partition_count: u32,
    /// The partitions this core owns: partition `p` is at index `p / cores`.
    partitions: RefCell<Vec<Partition>>,
    /// Series and tag-value limits of the partitions this core owns.
    cardinality: RefCell<Cardinality>,
    /// The series index of each (db, rp) stored in this core's partitions.
    indexes: RefCell<HashMap<(String, String), SeriesIndex>>,
    /// The /query statements running on this core, and the next statement's number.
    queries: RefCell<Vec<RunningQuery>>,
    next_qid: Cell<u64>,
    senders: Senders<Msg>,
    next_call: Cell<u64>,
    pending: RefCell<HashMap<u64, oneshot::Sender<Resp>>>,
    /// Line-protocol decoders kept between requests: a decoder's series-key cache then stays
    /// warm (a request of 5000 TSBS lines names 1000 series; a fresh decoder misses on each).
    decoders: RefCell<Vec<crate::lineproto::Decoder>>,
    /// Partitions (indexes into `partitions`) whose compaction task runs.
    compacting: RefCell<Vec<usize>>,
    /// The data dir's free space was below `[data] min-free-disk-bytes` at the last check.
    disk_low: Cell<bool>,
    /// What this core counts for `/metrics`.
    counters: RefCell<Counters>,
    /// Client connections open on this core (kept by the accept loop).
    connections: Rc<Cell<usize>>,
    /// The task queue of seals and compactions (see "Background work" in DESIGN.md).
    background: glommio::TaskQueueHandle,
}

/// The background queue's shares against the foreground queue's 1000: under full load a seal
/// gets a fifth of the core, more than the ~17% of the ingest work it is (so it keeps up and the
/// next memtable does not fill first); otherwise it takes the time the requests leave idle.
const BACKGROUND_SHARES: usize = 250;

/// Decoders a core keeps for reuse (one per request decoded at the same time; each holds a
/// few MB of key cache once warm).
const DECODERS_KEPT_MAX: usize = 2;

impl Core {
    /// This core's index, `0..cores()`.
    pub fn id(&self) -> usize {
        self.id
    }

    /// How many cores run.
    pub fn cores(&self) -> usize {
        self.cores
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The number of partitions of the data dir (fixed at its creation; see `storage::layout`).
    pub fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// The current catalog (changed only through [`Core::catalog_change`]), borrowed: hold it
    /// across no `.await`.
    pub fn catalog(&self) -> std::cell::Ref<'_, Catalog> {
        std::cell::Ref::map(self.catalog.borrow(), |c| &**c)
    }

    /// The current catalog snapshot, to keep across `.await`s (its `Arc` is shared by every
    /// core: not for the per-request path).
    pub fn catalog_snapshot(&self) -> Arc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// This core's field types: the authority for the measurements it owns, a cache otherwise.
    pub fn schema(&self) -> std::cell::Ref<'_, SchemaMap> {
        self.schema.borrow()
    }

    /// Learns field types answered by their schema owners.
    pub fn schema_mut(&self) -> std::cell::RefMut<'_, SchemaMap> {
        self.schema.borrow_mut()
    }

    /// A decoder for one request, warm from an earlier one when there is one.
    pub fn take_decoder(&self) -> crate::lineproto::Decoder {
        self.decoders.borrow_mut().pop().unwrap_or_default()
    }

    /// Gives a decoder back for the next request (a few are kept).
    pub fn return_decoder(&self, decoder: crate::lineproto::Decoder) {
        let mut pool = self.decoders.borrow_mut();
        if pool.len() < DECODERS_KEPT_MAX {
            pool.push(decoder);
        }
    }

    /// `partitions` are the opened partitions this core owns, in partition order.
    pub fn new(
        config: Arc<Config>,
        catalog: Arc<Catalog>,
        partition_count: u32,
        partitions: Vec<Partition>,
        senders: Senders<Msg>,
    ) -> Rc<Core> {
        let (id, cores) = (senders.peer_id(), senders.nr_consumers());
        Rc::new(Core {
            id,
            cores,
            partition_count,
            cardinality: RefCell::new(Cardinality::new(&config, cores)),
            indexes: RefCell::new(HashMap::new()),
            queries: RefCell::new(Vec::new()),
            next_qid: Cell::new(1),
            partitions: RefCell::new(partitions),
            compacting: RefCell::new(Vec::new()),
            data_dir: config.data.dir.clone(),
            config,
            catalog: RefCell::new(catalog),
            schema: RefCell::new(SchemaMap::default()),
            senders,
            next_call: Cell::new(1),
            pending: RefCell::new(HashMap::new()),
            decoders: RefCell::new(Vec::new()),
            disk_low: Cell::new(false),
            counters: RefCell::new(Counters::default()),
            connections: Rc::new(Cell::new(0)),
            background: glommio::executor().create_task_queue(
                glommio::Shares::Static(BACKGROUND_SHARES),
                glommio::Latency::NotImportant,
                "background",
            ),
        })
    }

    /// Runs `work` in this core's background queue: between the requests, not among them.
    fn spawn_background(&self, work: impl std::future::Future<Output = ()> + 'static) {
        crate::storage::spawn_into(self.background, work);
    }

    /// This core's counters for `/metrics` (hold across no `.await`).
    pub fn counters(&self) -> std::cell::RefMut<'_, Counters> {
        self.counters.borrow_mut()
    }

    /// The count of client connections open on this core, for the accept loop to keep.
    pub fn connections(&self) -> Rc<Cell<usize>> {
        self.connections.clone()
    }

    /// This core's part of a `/metrics` answer: its counters, what its partitions hold, its
    /// series by database and its open connections.
    fn measure(&self) -> Snapshot {
        let mut storage = crate::metrics::StorageStats::default();
        for p in self.partitions.borrow().iter() {
            storage.merge(&p.stats());
        }
        let mut series = BTreeMap::new();
        for ((db, _), ix) in self.indexes.borrow().iter() {
            *series.entry(db.clone()).or_insert(0) += ix.len() as u64;
        }
        Snapshot {
            counters: self.counters.borrow().clone(),
            memtable_bytes: BTreeMap::from([(self.id, storage.memtable_bytes)]),
            connections: BTreeMap::from([(self.id, self.connections.get() as u64)]),
            storage,
            series,
        }
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

    /// Sends `call` to `target` (or serves it here) and waits for its answer.
    pub async fn ask<C: Call>(
        self: &Rc<Self>,
        target: usize,
        call: C,
    ) -> Result<C::Answer, CallError> {
        let resp = self.call(target, call.into_req()).await?;
        C::answer(resp).ok_or(CallError::Unexpected(target))
    }

    /// Asks every core (this one included) with a request built per core, concurrently.
    pub async fn ask_all<C: Call + 'static>(
        self: &Rc<Self>,
        make: impl Fn(usize) -> C,
    ) -> Vec<Result<C::Answer, CallError>>
    where
        C::Answer: 'static,
    {
        let tasks: Vec<_> = (0..self.cores)
            .map(|c| {
                let core = self.clone();
                let call = make(c);
                glommio::spawn_local(async move { core.ask(c, call).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await);
        }
        out
    }

    /// Sends `req` to `target` (or serves it here) and waits for the answer.
    async fn call(self: &Rc<Self>, target: usize, req: Req) -> Result<Resp, CallError> {
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

    async fn serve(self: &Rc<Self>, req: Req) -> Resp {
        match req {
            Req::Apply { db, rp, batches } => {
                // Every partition queues its WAL record now; the waits for durability overlap.
                let waits: Vec<_> = batches
                    .into_iter()
                    .map(|(p, batch)| {
                        let (core, db, rp) = (self.clone(), db.clone(), rp.clone());
                        glommio::spawn_local(
                            async move { core.apply_local(&db, &rp, p, batch).await },
                        )
                    })
                    .collect();
                let mut r = Ok(Applied::default());
                for w in waits {
                    let n = w.await;
                    r = match (r, n) {
                        (Ok(mut a), Ok(b)) => {
                            a.merge(b);
                            Ok(a)
                        }
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    };
                }
                Resp::Applied(r)
            }
            Req::Claim { db, rp, claims } => {
                Resp::Claimed(self.schema.borrow_mut().claim(&db, &rp, &claims))
            }
            Req::Scan(scan) => Resp::Scanned(self.scan_local(&scan).await),
            Req::Delete(d) => Resp::Deleted(self.delete_local(&d).await),
            Req::ScanReduce(scan, reduce) => {
                let rows = self.scan_local(&scan).await;
                // A few points reduce faster here than after a trip to the blocking pool.
                let points: usize = rows.iter().map(|s| s.points.len()).sum();
                Resp::Reduced(if points <= REDUCE_INLINE_POINTS_MAX {
                    reduce(rows)
                } else {
                    glommio::executor()
                        .spawn_blocking(move || reduce(rows))
                        .await
                })
            }
            Req::ScanColumnsReduce(scan, reduce) => {
                let series = self.scan_columns_local(&scan).await;
                let points: usize = series.iter().map(|s| s.times.len()).sum();
                Resp::Reduced(if points <= REDUCE_INLINE_POINTS_MAX {
                    reduce(series)
                } else {
                    glommio::executor()
                        .spawn_blocking(move || reduce(series))
                        .await
                })
            }
            Req::Show(req) => Resp::Shown(self.show_local(&req)),
            Req::Profile(scan, grid) => Resp::Profiled(self.profile_local(&scan, grid).await),
            Req::FieldKeys {
                db,
                rp,
                measurements,
            } => Resp::FieldKeysKnown(self.field_keys_local(&db, &rp, &measurements)),
            Req::Queries => Resp::Running(self.queries.borrow().clone()),
            Req::Metrics => Resp::Measured(Box::new(self.measure())),
            Req::Catalog(change) => Resp::CatalogChanged(self.change_catalog(change).await),
            Req::CatalogSnapshot(cat, purges) => {
                self.install_catalog(cat, &purges);
                Resp::Ack
            }
        }
    }

    /// Applies a batch to partition `partition`, which this core owns: memtable first, then the
    /// WAL copy, in one synchronous step (`Partition::apply`), then waits until the WAL made it
    /// durable per the fsync policy. The batch goes back
    /// to this thread's pool before the wait (`Batch::recycle`): its bytes are in the memtable
    /// and the WAL's buffer by then.
    pub async fn apply_local(
        self: &Rc<Self>,
        db: &str,
        rp: &str,
        partition: u32,
        batch: Batch,
    ) -> Result<Applied, StorageError> {
        let idx = partition as usize / self.cores;
        // Back-pressure: while a seal runs and the next memtable already holds twice its bound,
        // wait for the seal. The caller's write-timeout turns a long wait into 500 `timeout`
        // (or 503 on /api/v2/write), so memory stays bounded at any ingest rate.
        let max = self.config.data.memtable_max_bytes;
        loop {
            let over = self
                .partitions
                .borrow()
                .get(idx)
                .filter(|p| p.over_limit(max))
                .map(|p| p.seal_failed());
            match over {
                None => break,
                // The seal cannot be written (no space): refuse at once rather than wait for
                // a retry that needs space to come back.
                Some(true) => return Err(StorageError::NoSpace { partition }),
                Some(false) => glommio::timer::sleep(std::time::Duration::from_millis(1)).await,
            }
        }
        let mut refused = Refused::default();
        let (n, wal) = {
            let mut parts = self.partitions.borrow_mut();
            let Some(p) = parts.get_mut(idx).filter(|p| p.id == partition) else {
                return Err(StorageError::NotOwned {
                    partition,
                    core: self.id,
                });
            };
            // Admission runs inside the apply, only for series new to the memtable: the
            // series limits, then the series index.
            let mut card = self.cardinality.borrow_mut();
            let enabled = card.enabled();
            let mut indexes = self.indexes.borrow_mut();
            let index = match indexes.get_mut(&(db, rp) as &dyn DbRp) {
                Some(ix) => ix,
                None => indexes.entry((db.to_string(), rp.to_string())).or_default(),
            };
            let mut admit = |key: &[u8], hash: u64, measurement: &[u8]| {
                if enabled && !card.admit_series(db, key, hash, measurement, &mut refused) {
                    return false;
                }
                index.insert(key);
                true
            };
            let admit: Option<Admit<'_>> = Some(&mut admit);
            let stored = p.apply(db, rp, &batch, admit)?;
            refused.points = stored.refused;
            (stored.points, stored.durable)
        };
        batch.recycle();
        let timed = self.config.http.request_timeline > 0;
        let mut stamps = OwnerStamps {
            applied: timed.then(std::time::Instant::now),
            ..OwnerStamps::default()
        };
        let Some((wal, lsn)) = wal else {
            return Ok(Applied {
                points: 0,
                refused,
                stamps,
            });
        };
        if let Err(e) = wal.wait_durable(lsn).await {
            if e.is_no_space() {
                self.heal_wal(wal.clone());
            }
            let mut parts = self.partitions.borrow_mut();
            return Err(match parts.get_mut(idx) {
                Some(p) => p.fail(e),
                None => StorageError::Stopped {
                    partition,
                    cause: e.to_string(),
                },
            });
        }
        self.maybe_seal(idx);
        if timed {
            (stamps.wal_written, stamps.synced) = wal.flush_times(lsn);
        }
        Ok(Applied {
            points: n,
            refused,
            stamps,
        })
    }

    /// Starts sealing partition `idx` in the background when its memtable passed its bound.
    fn maybe_seal(self: &Rc<Self>, idx: usize) {
        let max = self.config.data.memtable_max_bytes;
        if self
            .partitions
            .borrow()
            .get(idx)
            .is_some_and(|p| p.wants_seal(max))
        {
            self.seal_in_background(idx);
        }
    }

    /// With export on: seals each memtable whose oldest write is half of `[export] max-age`
    /// old, checked every quarter of it, so a point is sealed (and then exported) within it.
    pub fn start_export_age_task(self: &Rc<Self>) {
        if !self.config.export.enabled() {
            return;
        }
        for p in self.partitions.borrow_mut().iter_mut() {
            p.guard_unexported();
        }
        let max_age = self.config.export.max_age;
        let core = self.clone();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(max_age / 4).await;
                let due: Vec<usize> = (core.partitions.borrow().iter().enumerate())
                    .filter(|(_, p)| p.wants_age_seal(max_age / 2))
                    .map(|(i, _)| i)
                    .collect();
                for idx in due {
                    core.seal_in_background(idx);
                }
            }
        })
        .detach();
    }

    fn seal_in_background(self: &Rc<Self>, idx: usize) {
        let core = self.clone();
        self.spawn_background(async move {
            if core.seal_until_done(idx).await {
                core.maybe_compact(idx);
            }
        });
    }

    /// The partition number of this core's partition `idx` (for logs).
    pub(super) fn partition_id(&self, idx: usize) -> u32 {
        self.partitions.borrow().get(idx).map_or(u32::MAX, |p| p.id)
    }

    /// Sends the field types found in this core's stored data (WAL replay and segments) to their
    /// schema owners and learns the answers.
    pub async fn register_stored_types(self: &Rc<Self>) -> Result<(), CallError> {
        let known: Vec<_> = self
            .partitions
            .borrow()
            .iter()
            .flat_map(|p| p.known_types())
            .collect();
        let mut by_owner: HashMap<(usize, String, String), Vec<FieldClaim>> = HashMap::new();
        for (db, rp, measurement, field, ty) in known {
            let owner = crate::shard::key::schema_owner(&db, &rp, &measurement, self.cores);
            by_owner
                .entry((owner, db, rp))
                .or_default()
                .push(FieldClaim {
                    measurement,
                    fields: vec![(field, ty)],
                });
        }
        for ((owner, db, rp), claims) in by_owner {
            let call = Claim {
                db: db.clone(),
                rp: rp.clone(),
                claims: claims.clone(),
            };
            let answers = self.ask(owner, call).await?;
            let mut schema = self.schema.borrow_mut();
            for (c, answer) in claims.iter().zip(&answers) {
                schema.learn_answer(&db, &rp, c, answer);
            }
        }
        Ok(())
    }

    /// Every series stored in this core's partitions: (db, rp, key, measurement).
    fn stored_series(&self) -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
        self.partitions
            .borrow()
            .iter()
            .flat_map(|p| p.stored_series())
            .collect()
    }

    /// Indexes the series already stored in this core's partitions and counts them against
    /// the series limits.
    pub fn learn_stored_series(&self) {
        let series = self.stored_series();
        let mut c = self.cardinality.borrow_mut();
        let mut indexes = self.indexes.borrow_mut();
        indexes.clear();
        for (db, rp, key, measurement) in series {
            c.learn(&db, &key, &measurement);
            indexes.entry((db, rp)).or_default().insert(&key);
        }
    }

    /// Rebuilds the series indexes from the stored series (after a retention expiry removed
    /// segment files: their series may be gone).
    fn rebuild_indexes(&self) {
        let series = self.stored_series();
        let mut indexes = self.indexes.borrow_mut();
        indexes.clear();
        for (db, rp, key, _) in series {
            indexes.entry((db, rp)).or_default().insert(&key);
        }
    }

    /// Runs `f` on this core's series index of (db, rp), if it has one (e.g. a scan's
    /// `SeriesIndex::lookup` of its tag condition). Hold nothing from it across an `.await`.
    pub fn with_index<R>(
        &self,
        db: &str,
        rp: &str,
        f: impl FnOnce(Option<&SeriesIndex>) -> R,
    ) -> R {
        let indexes = self.indexes.borrow();
        f(indexes.get(&(db, rp) as &dyn DbRp))
    }

    /// This core's part of a SHOW statement's answer.
    pub fn show_local(&self, req: &ShowRequest) -> ShowAnswer {
        let mut out = ShowAnswer::new();
        for ((db, rp), ix) in self.indexes.borrow().iter() {
            if *db == req.db && (req.rps.is_empty() || req.rps.contains(rp)) {
                ix.show(req, &mut out);
            }
        }
        out
    }

    /// The field keys this core knows of (db, rp).
    fn field_keys_local(&self, db: &str, rp: &str, measurements: &[MeasurementMatch]) -> FieldKeys {
        let mut out = FieldKeys::new();
        for (name, fields) in self.schema.borrow().measurements(db, rp) {
            if !measurements.is_empty() && !measurements.iter().any(|x| x.matches(&name)) {
                continue;
            }
            let entry = out.entry(name).or_default();
            for (f, ty) in fields {
                entry.insert(f, ty.name());
            }
        }
        out
    }

    /// Registers a /query statement as running (SHOW QUERIES); its number, unique on this
    /// server (numbered per core, interleaved).
    pub fn query_started(&self, query: &str, database: &str) -> u64 {
        let n = self.next_qid.get();
        self.next_qid.set(n + 1);
        let qid = (n - 1) * self.cores as u64 + self.id as u64 + 1;
        self.queries.borrow_mut().push(RunningQuery {
            qid,
            query: query.to_string(),
            database: database.to_string(),
            started: std::time::Instant::now(),
        });
        qid
    }

    /// The statement `qid` finished.
    pub fn query_finished(&self, qid: u64) {
        self.queries.borrow_mut().retain(|q| q.qid != qid);
    }

    /// Deletes sealed segments past their retention policy, once a minute.
    pub fn start_retention_task(self: &Rc<Self>) {
        let core = self.clone();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(std::time::Duration::from_secs(60)).await;
                let cat = core.catalog.borrow().clone();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
                let cutoff = |db: &str, rp: &str| {
                    let d = cat.databases.get(db)?.rps.get(rp)?.duration_ns;
                    (d > 0).then(|| now.saturating_sub(d))
                };
                let mut expired = 0;
                for p in core.partitions.borrow_mut().iter_mut() {
                    expired += p.expire(cutoff);
                }
                if expired > 0 {
                    tracing::info!(
                        core = core.id,
                        files = expired,
                        "retention: segment files past their retention policy dropped"
                    );
                    core.rebuild_indexes();
                }
            }
        })
        .detach();
    }

    /// This core's rows for a scan: per partition, segments (oldest first), then the sealing
    /// and active memtables, merged so the newest write of a series and time wins.
    pub async fn scan_local(&self, scan: &ScanRequest) -> Vec<SeriesRows> {
        let sources: Vec<_> = self
            .partitions
            .borrow_mut()
            .iter_mut()
            .map(|p| p.scan_sources(scan))
            .collect();
        let mut out = Vec::new();
        for (idx, (files, mem_rows)) in sources.into_iter().enumerate() {
            let scanned = crate::storage::scan_files(self.id, files, mem_rows, scan).await;
            if let Some(p) = self.partitions.borrow_mut().get_mut(idx) {
                p.cache_footers(scanned.footers);
            }
            out.extend(scanned.rows);
        }
        out
    }

    /// How this core's points for a scan spread over time (`storage::scan::Profile`): from the
    /// memtables' times and the segment files' footers, no block read.
    pub async fn profile_local(&self, scan: &ScanRequest, grid: Option<Grid>) -> Profile {
        let sources: Vec<_> = self
            .partitions
            .borrow_mut()
            .iter_mut()
            .map(|p| p.profile_sources(scan, grid.as_ref()))
            .collect();
        let mut out = Profile::new(grid.as_ref());
        for (idx, (files, mem)) in sources.into_iter().enumerate() {
            let (profile, footers) =
                crate::storage::profile_files(self.id, files, scan, grid.clone(), mem).await;
            if let Some(p) = self.partitions.borrow_mut().get_mut(idx) {
                p.cache_footers(footers);
            }
            out.merge(profile);
        }
        out
    }

    /// `scan_local` as columns (`SeriesColumns`, the fields `scan.fields` names).
    pub async fn scan_columns_local(&self, scan: &ScanRequest) -> Vec<SeriesColumns> {
        let sources: Vec<_> = self
            .partitions
            .borrow_mut()
            .iter_mut()
            .map(|p| p.scan_column_sources(scan))
            .collect();
        let mut out = Vec::new();
        for (idx, (files, mem)) in sources.into_iter().enumerate() {
            let scanned = crate::storage::scan_files_columns(self.id, files, mem, scan).await;
            if let Some(p) = self.partitions.borrow_mut().get_mut(idx) {
                p.cache_footers(scanned.footers);
            }
            out.extend(scanned.series);
        }
        out
    }

    /// Applies a delete to every partition this core owns (memtables rebuilt, tombstones for
    /// sealed files, a WAL record each), forgets the series left without any point, and waits
    /// until every WAL made the record durable. A series forgotten here no longer counts
    /// against the series limits; the series index, when there is one, forgets it here too.
    pub async fn delete_local(&self, call: &DeleteSeries) -> Result<(), StorageError> {
        let d = &call.delete;
        let mut waits = Vec::new();
        let mut first_err = None;
        let dropped: Vec<&[u8]> = if call.drop_measurement {
            d.measurements
                .iter()
                .filter_map(|m| match m {
                    crate::storage::scan::MeasurementMatch::Name(n) => Some(n.as_bytes()),
                    crate::storage::scan::MeasurementMatch::Regex(_) => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        for m in &dropped {
            self.schema.borrow_mut().purge_measurement(&d.db, m);
        }
        let mut any_gone = false;
        for (idx, p) in self.partitions.borrow_mut().iter_mut().enumerate() {
            for m in &dropped {
                p.forget_measurement_types(&d.db, m);
            }
            match p.delete(d) {
                Ok(done) => {
                    let mut card = self.cardinality.borrow_mut();
                    any_gone |= !done.gone.is_empty();
                    for (key, _measurement) in &done.gone {
                        card.forget_series(&d.db, key);
                    }
                    waits.push((idx, done.durable));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if any_gone {
            // Series left without points leave the index too (SHOW follows the delete).
            self.rebuild_indexes();
        }
        // Each wait is made at once (it notes its WAL's epoch), then awaited in turn.
        let waits: Vec<_> = waits
            .iter()
            .map(|(idx, (wal, lsn))| (*idx, wal.wait_durable(*lsn)))
            .collect();
        for (idx, wait) in waits {
            if let Err(e) = wait.await {
                let mut parts = self.partitions.borrow_mut();
                if let Some(p) = parts.get_mut(idx) {
                    first_err.get_or_insert(p.fail(e));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Compacts partition `idx`'s small segment files in the background while compactions are
    /// due (`[data] compact-min-files`) and the disk is not low; one at a time per partition.
    pub fn maybe_compact(self: &Rc<Self>, idx: usize) {
        let (min_files, small) = (
            self.config.data.compact_min_files,
            self.config.data.compact_small_file_bytes,
        );
        if min_files < 2 || self.compacting.borrow().contains(&idx) {
            return;
        }
        self.compacting.borrow_mut().push(idx);
        let core = self.clone();
        self.spawn_background(async move {
            // A compaction writes its output before it deletes its inputs: none starts while
            // the disk is below `min-free-disk-bytes` (the next seal tries again).
            while !core.disk_low() {
                match crate::storage::compact(&core.partitions, idx, min_files, small).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::error!(core = core.id, error = %e, "compaction failed");
                        break;
                    }
                }
            }
            core.compacting.borrow_mut().retain(|&i| i != idx);
        });
    }

    /// Compacts every partition of this core whose small files are due (at start-up).
    pub fn start_compactions(self: &Rc<Self>) {
        let n = self.partitions.borrow().len();
        for idx in 0..n {
            self.maybe_compact(idx);
        }
    }

    fn install_catalog(&self, cat: Arc<Catalog>, purges: &[Purge]) {
        for p in purges {
            match p {
                Purge::Database(db) => {
                    self.indexes.borrow_mut().retain(|(d, _), _| d != db);
                    self.schema.borrow_mut().purge_database(db);
                    self.cardinality.borrow_mut().forget_database(db);
                    self.partitions
                        .borrow_mut()
                        .iter_mut()
                        .for_each(|p| p.drop_database(db));
                }
                Purge::RetentionPolicy(db, rp) => {
                    self.indexes
                        .borrow_mut()
                        .retain(|(d, r), _| !(d == db && r == rp));
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
    async fn change_catalog(
        self: &Rc<Self>,
        change: CatalogChange,
    ) -> Result<(), CatalogChangeError> {
        if self.id != 0 {
            return Err(CatalogChangeError::NotCoreZero);
        }
        let mut next = Catalog::clone(&self.catalog.borrow());
        let purges = change(&mut next)?;
        next.version += 1;
        next.save(&self.data_dir)
            .map_err(CatalogChangeError::Persist)?;
        let next = Arc::new(next);
        self.install_catalog(next.clone(), &purges);
        let answers = self
            .ask_all(|c| {
                if c == 0 {
                    InstallCatalog(next.clone(), Vec::new())
                } else {
                    InstallCatalog(next.clone(), purges.clone())
                }
            })
            .await;
        for a in answers {
            a?;
        }
        Ok(())
    }

    /// Runs a catalog change on core 0 and waits until every core has the new snapshot.
    pub async fn catalog_change(
        self: &Rc<Self>,
        change: CatalogChange,
    ) -> Result<(), CatalogChangeError> {
        self.ask(0, ChangeCatalog(change)).await?
    }
}

/// A (db, rp) key looked up without allocating (`&(db, rp)` as `&dyn DbRp`).
trait DbRp {
    fn parts(&self) -> (&str, &str);
}

impl DbRp for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl DbRp for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn DbRp + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn DbRp + 'a) {
        self
    }
}

impl std::hash::Hash for dyn DbRp + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h)
    }
}

impl PartialEq for dyn DbRp + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn DbRp + '_ {}
