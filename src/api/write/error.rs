//! Every answer of the write endpoints that is not a 204, with InfluxDB 1.8's status and text.

use crate::http::Response;

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
            Timeout { v2: true } => 503,
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
        ];
        for (e, status, text) in cases {
            assert_eq!((e.status(), e.to_string()), (status, text.to_string()));
        }
    }
}
