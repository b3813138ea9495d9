//! The endpoints: routing, early checks (before the body is read), `/ping` (`/status`) and
//! `/health` here, `/write` and `/api/v2/write` in `write.rs`, `/query` in `query.rs` (its
//! deletes in `delete.rs`), and authentication and authorization in `auth.rs`.
//!
//! Status codes are chosen by error variant here, never by matching message text.

mod access;
pub mod auth;
mod delete;
mod error;
mod metrics;
mod query;
mod select;
mod show;
mod write;

pub use error::ApiError;

use crate::http::{HttpLimits, Method, Request, RequestHead, Response};
use crate::runtime::Core;
use std::rc::Rc;

/// Now, in ns since the Unix epoch (a write's default time, a query's `now()`).
pub(crate) fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The version lineshard reports in `X-Influxdb-Version` and `/ping?verbose`: the InfluxDB API
/// level it implements (clients branch on it).
pub const API_VERSION: &str = "1.8.10";

/// The per-core request handler.
pub struct Api {
    core: Rc<Core>,
    auth: auth::Authenticator,
    errors: access::ErrorBurst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    WriteV1,
    WriteV2,
    Query,
    Ping,
    Health,
    Metrics,
    /// `GET /debug/requests`: this core's kept request timelines (`[http] request-timeline`).
    DebugRequests,
}

fn route(path: &str) -> Option<Route> {
    Some(match path {
        "/write" => Route::WriteV1,
        "/api/v2/write" => Route::WriteV2,
        "/query" => Route::Query,
        "/ping" | "/status" => Route::Ping,
        "/health" => Route::Health,
        "/metrics" => Route::Metrics,
        "/debug/requests" => Route::DebugRequests,
        _ => return None,
    })
}

fn method_allowed(route: Route, m: &Method) -> bool {
    match route {
        Route::WriteV1 | Route::WriteV2 => matches!(m, Method::Post | Method::Options),
        Route::Query => matches!(m, Method::Get | Method::Post | Method::Options),
        Route::Ping => matches!(m, Method::Get | Method::Head | Method::Options),
        Route::Health | Route::Metrics => {
            matches!(m, Method::Get | Method::Head | Method::Options)
        }
        Route::DebugRequests => matches!(m, Method::Get | Method::Options),
    }
}

impl Api {
    pub fn new(core: Rc<Core>) -> Self {
        crate::http::timeline::keep(core.config().http.request_timeline);
        Api {
            core,
            auth: auth::Authenticator::new(),
            errors: access::ErrorBurst::default(),
        }
    }
}

impl Drop for Api {
    /// The listener is closed and every connection is done: the last client errors are logged.
    fn drop(&mut self) {
        self.errors.flush(self.core.id(), true);
    }
}

impl crate::http::Handler for Api {
    /// A write's target (database, retention policy, precision), parsed once.
    type Checked = Option<write::WriteTarget>;

    fn check_head(&self, head: &RequestHead) -> Result<Self::Checked, Response> {
        let Some(r) = route(&head.path) else {
            return Err(ApiError::NotFound.into());
        };
        if !method_allowed(r, &head.method) {
            return Err(ApiError::MethodNotAllowed.into());
        }
        if head.method == Method::Options {
            return Ok(None);
        }
        // 1.x: authentication (401) wraps /query and /write; the write's own checks (400, 404)
        // come next, then authorization (403), here only when the principal is already known.
        let early = match r {
            Route::WriteV1 | Route::WriteV2 => Some(
                self.auth
                    .check(&self.core, head)
                    .map_err(|e| ApiError::from(e).response())?,
            ),
            Route::Query => Some(
                self.auth
                    .check(&self.core, head)
                    .map_err(|e| query::format_error(head, ApiError::from(e).response()))?,
            ),
            Route::Metrics if self.core.config().http.metrics_auth => Some(
                self.auth
                    .check(&self.core, head)
                    .map_err(|e| ApiError::from(e).response())?,
            ),
            Route::Ping | Route::Health | Route::Metrics | Route::DebugRequests => None,
        };
        let target = match r {
            Route::WriteV1 => write::target_v1(&self.core, head).map_err(ApiError::from)?,
            Route::WriteV2 => write::target_v2(&self.core, head).map_err(ApiError::from)?,
            _ => return Ok(None),
        };
        if let Some(auth::Early::Known(p)) = &early {
            auth::authorize_write(p, target.db())?;
        }
        Ok(Some(target))
    }

    /// A query stops when its client leaves (1.x cancels the request's context).
    fn stops_on_hangup(&self, head: &RequestHead) -> bool {
        route(&head.path) == Some(Route::Query)
    }

    async fn handle(&self, req: &mut Request, checked: Self::Checked) -> Response {
        let Some(r) = route(&req.head.path) else {
            return ApiError::NotFound.into();
        };
        if req.head.method == Method::Options {
            return Response::no_content();
        }
        let principal = match r {
            Route::WriteV1 | Route::WriteV2 | Route::Query => {
                match self.auth.authenticate(&self.core, &req.head).await {
                    Ok(p) => p,
                    Err(e) if r == Route::Query => {
                        return query::format_error(&req.head, e.response())
                    }
                    Err(e) => return e.response(),
                }
            }
            Route::Metrics if self.core.config().http.metrics_auth => {
                match self.auth.authenticate(&self.core, &req.head).await {
                    Ok(p) => p,
                    Err(e) => return e.response(),
                }
            }
            Route::Ping | Route::Health | Route::Metrics | Route::DebugRequests => {
                auth::Principal::Open
            }
        };
        match r {
            Route::WriteV1 | Route::WriteV2 => {
                // The database may have been dropped while the body was read: asked again.
                let target = match checked {
                    Some(t) => write::still_there(&self.core, t),
                    None if r == Route::WriteV1 => write::target_v1(&self.core, &req.head),
                    None => write::target_v2(&self.core, &req.head),
                };
                let target = target.map_err(ApiError::from);
                match target.and_then(|t| auth::authorize_write(&principal, t.db()).map(|_| t)) {
                    Ok(t) => {
                        let body = std::mem::take(&mut req.body);
                        write::write(&self.core, t, body, &mut req.timeline).await
                    }
                    Err(e) => e.response(),
                }
            }
            // Boxed: a query's future is large, and every connection's task is as large as
            // the largest future it may await in place (idle connections would each hold it).
            Route::Query => Box::pin(query::query(&self.core, req, &principal)).await,
            Route::Metrics => Box::pin(metrics::metrics(&self.core, &principal)).await,
            Route::Ping => ping(&req.head),
            Route::DebugRequests => {
                Response::json(200, crate::http::timeline::dump_json(self.core.id()))
            }
            Route::Health => health(),
        }
    }

    fn answered(&self, exchange: &crate::http::Exchange<'_>) {
        access::answered(&self.core, &self.errors, exchange);
    }
}

/// `/health`: 200 and "pass" while writes and queries are served; with export on, a check
/// named `export` says whether the exporter keeps up ("pass") or is behind or failing ("warn",
/// with why: sealed data is then kept on disk until it is exported).
fn health() -> Response {
    let checks = match crate::export::health() {
        None => String::new(),
        Some(Ok(pending)) => format!(
            r#"{{"message":"{pending} segment files waiting","name":"export","status":"pass"}}"#
        ),
        Some(Err(why)) => format!(
            r#"{{"message":{},"name":"export","status":"warn"}}"#,
            serde_json::Value::String(why)
        ),
    };
    Response::json(
        200,
        format!(
            r#"{{"checks":[{checks}],"message":"ready for queries and writes","name":"influxdb","status":"pass","version":"{API_VERSION}"}}"#
        )
        .into_bytes(),
    )
}

/// `/ping`: 204, or with `verbose` (anything but "", "0", "false") 200 and the version.
fn ping(head: &RequestHead) -> Response {
    match head.query_param("verbose").as_deref() {
        None | Some("") | Some("0") | Some("false") => Response::no_content(),
        Some(_) => Response::json(
            200,
            format!(r#"{{"version":"{API_VERSION}"}}"#).into_bytes(),
        ),
    }
}

/// The HTTP limits of this server, from the config.
pub fn http_limits(core: &Core) -> HttpLimits {
    let c = &core.config().http;
    HttpLimits {
        body_bytes_max: usize::try_from(c.max_body_size).unwrap_or(usize::MAX),
        header_bytes_max: c.max_header_bytes,
        header_count_max: c.max_header_count,
        header_read_timeout: c.header_read_timeout,
        idle_timeout: c.idle_timeout,
    }
}

/// Accepts connections on this core's listener and serves each in its own task; returns when
/// `drain` begins (the connections finish on their own, see [`crate::http::Drain`]).
pub async fn serve(
    core: Rc<Core>,
    listener: glommio::net::TcpListener,
    drain: Rc<crate::http::Drain>,
) {
    let limits = Rc::new(http_limits(&core));
    let open_max = connections_per_core(core.config().http.max_connection_limit, core.cores());
    let api = Rc::new(Api::new(core));
    // Client errors of a burst that ended are logged within a second, not at the next error.
    let weak = Rc::downgrade(&api);
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(access::ERROR_LINE_INTERVAL).await;
            match weak.upgrade() {
                Some(api) => api.errors.flush(api.core.id(), false),
                None => return,
            }
        }
    })
    .detach();
    crate::http::accept_loop(listener, api, limits, open_max, drain).await
}

/// `max-connection-limit` is per server; each core accepts its share (connections are spread
/// over the cores by the kernel's SO_REUSEPORT hashing, so the server total is approximate).
fn connections_per_core(limit: u32, cores: usize) -> usize {
    match limit {
        0 => usize::MAX,
        n => (n as usize).div_ceil(cores.max(1)),
    }
}
