//! Every answer of the write endpoints that is not a 204, with InfluxDB 1.8's status and text.

use crate::http::Response;
use crate::storage::StorageError;

/// `Retry-After` (seconds) of a write refused for want of disk space.
const DISK_RETRY_AFTER_S: u32 = 5;

/// Why a write was refused, wholly or in part. `Display` is the error text 1.x answers, byte
/// for byte; [`WriteError::response`] adds the status (and `Retry-After` where 1.8 sends it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("database is required")]
    DatabaseRequired,
    #[error("database not found: {0:?}")]
    DatabaseNotFound(String),
    /// `/api/v2/write` without a bucket.
    #[error("bucket name {0:?} is missing a slash; not in \"database/retention-policy\" format")]
    BucketWithoutSlash(String),
    #[error("bucket name {0:?} is in db/rp form but has an empty database")]
    BucketWithoutDatabase(String),
    #[error("invalid precision {0:?} (use n, u, ms, s, m or h)")]
    PrecisionV1(String),
    #[error("invalid precision {0:?} (use ns, us, ms or s)")]
    PrecisionV2(String),
    /// No line of the body parses: the parse errors, one a line.
    #[error("{0}")]
    Unparsable(String),
    #[error("invalid consistency level")]
    Consistency,
    /// 1.x answers an unknown retention policy with a 500 (it is not in its client-error list).
    #[error("retention policy not found: {0}")]
    RetentionPolicyNotFound(String),
    /// Some points were not stored: the first reason and how many points were dropped.
    #[error("partial write: {reason} dropped={dropped}")]
    Partial { reason: String, dropped: usize },
    /// The owner cores did not apply the points within `write-timeout`: back-pressure clients
    /// retry on.
    #[error("timeout")]
    Timeout { v2: bool },
    /// Free space on the data dir's device is below `[data] min-free-disk-bytes`.
    #[error("free disk space is below min-free-disk-bytes: writes are refused until there is space again")]
    DiskLow,
    /// A catalog or schema-claim failure on the server's side.
    #[error("{0}")]
    Internal(String),
    /// An owner core's partition failed to store its points.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// An owner core could not be reached.
    #[error(transparent)]
    Call(#[from] crate::runtime::CallError),
}

impl WriteError {
    pub fn status(&self) -> u16 {
        use WriteError::*;
        match self {
            DatabaseRequired
            | PrecisionV1(_)
            | PrecisionV2(_)
            | Unparsable(_)
            | Consistency
            | Partial { .. } => 400,
            DatabaseNotFound(_) | BucketWithoutSlash(_) | BucketWithoutDatabase(_) => 404,
            // `/write` answers 500 `timeout` (what Telegraf and TSBS retry on; a 429/503 makes
            // TSBS abort), `/api/v2/write` 503 with `Retry-After` (what the v2 clients honour).
            Timeout { v2: true } | DiskLow | Storage(StorageError::NoSpace { .. }) => 503,
            Timeout { v2: false }
            | RetentionPolicyNotFound(_)
            | Internal(_)
            | Storage(_)
            | Call(_) => 500,
        }
    }

    pub fn response(&self) -> Response {
        let resp = Response::error(self.status(), &self.to_string());
        match self {
            WriteError::Timeout { v2: true } => resp.with_header("Retry-After", "1".to_string()),
            // Space comes back when an operator or a retention run frees it: not within a second.
            WriteError::DiskLow | WriteError::Storage(StorageError::NoSpace { .. }) => {
                resp.with_header("Retry-After", DISK_RETRY_AFTER_S.to_string())
            }
            _ => resp,
        }
    }
}

impl From<crate::catalog::CatalogError> for WriteError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        use crate::catalog::CatalogError;
        match e {
            CatalogError::DatabaseNotFound(db) => WriteError::DatabaseNotFound(db),
            CatalogError::RetentionPolicyNotFound(rp) => WriteError::RetentionPolicyNotFound(rp),
            other => WriteError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_texts_are_1x() {
        let cases = [
            (WriteError::DatabaseRequired, 400, "database is required"),
            (
                WriteError::DatabaseNotFound("d b".into()),
                404,
                "database not found: \"d b\"",
            ),
            (
                WriteError::PrecisionV2("x".into()),
                400,
                "invalid precision \"x\" (use ns, us, ms or s)",
            ),
            (
                WriteError::RetentionPolicyNotFound("rp".into()),
                500,
                "retention policy not found: rp",
            ),
            (
                WriteError::Partial {
                    reason: "points beyond retention policy".into(),
                    dropped: 2,
                },
                400,
                "partial write: points beyond retention policy dropped=2",
            ),
            (WriteError::Timeout { v2: false }, 500, "timeout"),
            (WriteError::Timeout { v2: true }, 503, "timeout"),
            (
                WriteError::DiskLow,
                503,
                "free disk space is below min-free-disk-bytes: writes are refused until there is space again",
            ),
            (
                WriteError::Storage(StorageError::NoSpace { partition: 3 }),
                503,
                "no space left on the data dir's device: writes are refused until there is space again",
            ),
        ];
        for (e, status, text) in cases {
            assert_eq!((e.status(), e.to_string()), (status, text.to_string()));
        }
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;

    #[test]
    fn disk_refusals_carry_retry_after_and_no_path() {
        for e in [
            WriteError::DiskLow,
            WriteError::Storage(StorageError::NoSpace { partition: 0 }),
            WriteError::Storage(StorageError::Stopped {
                partition: 0,
                cause: "write-ahead log: writing /var/lib/x/wal/1.wal: EIO".into(),
            }),
        ] {
            let text = e.to_string();
            assert!(!text.contains('/'), "{text}");
            if e.status() == 503 {
                let r = e.response();
                assert!(r
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));
            }
        }
    }
}
