//! `DELETE`, `DROP SERIES` and `DROP MEASUREMENT`: checked as 1.x checks them, then sent to every
//! core, each of which applies the delete to its own partitions (`runtime::DeleteSeries`); the
//! statement answers once every core made it durable.
//!
//! As in 1.x they act on every retention policy of the request's database. Two 1.x texts differ
//! on purpose: a field in the WHERE is refused without 1.x's `shard N: ` prefix (lineshard has
//! no shards to name), and it is refused whether or not the measurement holds data.

use crate::query::{DeleteStatement, MeasurementMatch, StatementResult, TagExpr};
use crate::runtime::{Core, DeleteSeries};
use crate::storage::scan::Delete;
use std::rc::Rc;

/// Which statement: what 1.x checks differs.
pub enum Kind {
    Delete(DeleteStatement),
    DropSeries(DeleteStatement),
    DropMeasurement(String),
}

pub async fn execute(core: &Rc<Core>, kind: Kind, db: &str) -> StatementResult {
    if !core.catalog_snapshot().databases.contains_key(db) {
        return StatementResult::error(format!("database not found: {db}"));
    }
    let drop_measurement = matches!(kind, Kind::DropMeasurement(_));
    let delete = match kind {
        Kind::DropMeasurement(name) => Delete {
            db: db.to_string(),
            measurements: vec![MeasurementMatch::Name(name)],
            tags: TagExpr::True,
            time_min_ns: i64::MIN,
            time_max_ns: i64::MAX,
        },
        Kind::DropSeries(s) if s.has_time => {
            return StatementResult::error("DROP SERIES doesn't support time in WHERE clause");
        }
        Kind::Delete(s) | Kind::DropSeries(s) => {
            if s.on_fields {
                return StatementResult::error(
                    "fields not supported in WHERE clause during deletion",
                );
            }
            Delete {
                db: db.to_string(),
                measurements: s.sources,
                tags: s.condition.tags,
                time_min_ns: s.condition.time_min_ns,
                time_max_ns: s.condition.time_max_ns,
            }
        }
    };
    if delete.time_min_ns >= delete.time_max_ns || delete.tags == TagExpr::False {
        return StatementResult::ok();
    }
    let call = |_| DeleteSeries {
        delete: delete.clone(),
        drop_measurement,
    };
    for answer in core.ask_all(call).await {
        match answer {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return StatementResult::error(e.to_string()),
            Err(e) => return StatementResult::error(e.to_string()),
        }
    }
    StatementResult::ok()
}
