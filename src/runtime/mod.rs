//! The cores: each one's state ([`Core`]) and the typed message mesh between them.
//!
//! Start-up (one pinned executor per core, joining the mesh, binding the listener) is in
//! `crate::server`; what a core serves over HTTP is in `crate::api`.

pub mod core;
mod oneshot;

pub use self::core::{
    Applied, Apply, Call, CallError, ChangeCatalog, Claim, ColumnReducer, Core, DeleteSeries,
    FieldKeys, InstallCatalog, ListQueries, Measure, Msg, ProfileScan, Purge, Reducer, Req, Resp,
    RunningQuery, Scan, ScanColumnsReduce, ScanReduce, Show, ShowFieldKeys,
};
