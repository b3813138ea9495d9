//! Every error answer of the endpoints, with InfluxDB 1.8's status and text, built in one place.

use super::auth::AuthError;
use super::write::WriteError;
use crate::http::Response;

/// Why a request was refused before or instead of its work. `Display` is 1.x's error text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// No endpoint at this path.
    #[error("404 page not found")]
    NotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// Bad or missing credentials (401 with `WWW-Authenticate`).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A write without a user while authentication is on.
    #[error("user is required to write to database {0:?}")]
    WriteUserRequired(String),
    /// A write by a user without WRITE on the database.
    #[error("{user:?} user is not authorized to write to database {db:?}")]
    WriteNotAuthorized { user: String, db: String },
    #[error("missing required parameter \"q\"")]
    QueryMissing,
    #[error("error parsing query: {0}")]
    QueryParse(String),
    #[error("error authorizing query: {0}")]
    QueryNotAuthorized(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl ApiError {
    pub fn response(&self) -> Response {
        let status = match self {
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Auth(e) => return e.response(),
            ApiError::Write(e) => return e.response(),
            ApiError::WriteUserRequired(_)
            | ApiError::WriteNotAuthorized { .. }
            | ApiError::QueryNotAuthorized(_) => 403,
            ApiError::QueryMissing | ApiError::QueryParse(_) => 400,
        };
        Response::error(status, &self.to_string())
    }
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Response {
        e.response()
    }
}
