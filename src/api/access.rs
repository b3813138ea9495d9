//! What happens to every answered request after its answer is written: it is counted
//! (`lineshard_http_requests_total`, `lineshard_http_request_duration_seconds`), logged in 1.x's
//! access-log format when `[http] log-enabled`, and, when it was a client error (4xx), noted in
//! the core's error burst: at most one log line a second per core says how many there were.
//! Errors counted after the last line are logged by [`ErrorBurst::flush`], which a timer calls
//! each [`ERROR_LINE_INTERVAL`] and the core's `Api` calls when it is dropped (the listener
//! closed and every connection done).

use crate::http::{Exchange, RequestHead};
use crate::metrics::Endpoint;
use crate::runtime::Core;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Least time between two lines about client errors from one core.
pub(super) const ERROR_LINE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest error text quoted in a burst line.
const ERROR_TEXT_BYTES_MAX: usize = 200;

/// Client errors seen since the last line about them.
#[derive(Default)]
pub(super) struct ErrorBurst {
    last_line: Cell<Option<Instant>>,
    unlogged: Cell<u64>,
    /// Status and endpoint of the last error not yet in a line.
    last: Cell<Option<(u16, Endpoint)>>,
    /// Its error text (cut to [`ERROR_TEXT_BYTES_MAX`]).
    last_error: RefCell<String>,
}

/// The endpoint a path names (`/status` is `/ping`).
pub(super) fn endpoint_of(path: &str) -> Endpoint {
    match super::route(path) {
        Some(super::Route::WriteV1) => Endpoint::Write,
        Some(super::Route::WriteV2) => Endpoint::WriteV2,
        Some(super::Route::Query) => Endpoint::Query,
        Some(super::Route::Ping) => Endpoint::Ping,
        Some(super::Route::Health) => Endpoint::Health,
        Some(super::Route::Metrics) => Endpoint::Metrics,
        Some(super::Route::DebugRequests) | None => Endpoint::Other,
    }
}

/// Counts and logs one answered request.
pub(super) fn answered(core: &Core, burst: &ErrorBurst, x: &Exchange<'_>) {
    let endpoint = x.head.map_or(Endpoint::Other, |h| endpoint_of(&h.path));
    let took = x.started.elapsed();
    core.counters().http_request(endpoint, x.status, took);
    if core.config().http.log_enabled {
        tracing::info!(target: "access", "{}", access_line(x, took));
    }
    if (400..500).contains(&x.status) {
        burst.note(core.id(), endpoint, x.status, x.error);
    }
}

impl ErrorBurst {
    /// Whether a line may be written now (the last one is [`ERROR_LINE_INTERVAL`] old).
    fn due(&self, now: Instant) -> bool {
        self.last_line
            .get()
            .map_or(true, |t| now.duration_since(t) >= ERROR_LINE_INTERVAL)
    }

    /// Counts a client error; logs a line with the count when the last one is a second old,
    /// else keeps the error as the burst's last.
    fn note(&self, core: usize, endpoint: Endpoint, status: u16, error: Option<&str>) {
        let n = self.unlogged.get() + 1;
        let now = Instant::now();
        let error = truncate(error.unwrap_or(""), ERROR_TEXT_BYTES_MAX);
        if !self.due(now) {
            self.unlogged.set(n);
            self.last.set(Some((status, endpoint)));
            let mut last = self.last_error.borrow_mut();
            last.clear();
            last.push_str(error);
            return;
        }
        self.line(core, n, status, endpoint, error, now);
    }

    /// Logs the errors counted since the last line, if any: when that line is a second old,
    /// or at once with `now_anyway`.
    pub(super) fn flush(&self, core: usize, now_anyway: bool) {
        let now = Instant::now();
        let n = self.unlogged.get();
        if n == 0 || !(now_anyway || self.due(now)) {
            return;
        }
        let Some((status, endpoint)) = self.last.get() else {
            return;
        };
        let error = std::mem::take(&mut *self.last_error.borrow_mut());
        self.line(core, n, status, endpoint, &error, now);
    }

    fn line(
        &self,
        core: usize,
        n: u64,
        status: u16,
        endpoint: Endpoint,
        error: &str,
        now: Instant,
    ) {
        self.unlogged.set(0);
        self.last.set(None);
        self.last_line.set(Some(now));
        tracing::warn!(
            core,
            client_errors = n,
            last_status = status,
            last_endpoint = endpoint.label(),
            last_error = error,
            "client errors since the last such line"
        );
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// 1.x's access-log line (services/httpd/response_logger.go, Apache's `%h %l %u %t "%r" %>s %b
/// "%{Referer}i" "%{User-agent}i" %L %D`): host, user, time, request line, status, body bytes,
/// referer, user agent, request id, microseconds. The password parameter `p` is redacted.
fn access_line(x: &Exchange<'_>, took: Duration) -> String {
    let start = SystemTime::now()
        .checked_sub(took)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut host = x
        .peer
        .map_or_else(|| "-".to_string(), |a| a.ip().to_string());
    let (mut user, mut request, mut referer, mut agent) = (
        String::new(),
        "- - -".to_string(),
        String::new(),
        String::new(),
    );
    if let Some(h) = x.head {
        if let Some(xff) = h.header("x-forwarded-for") {
            host = format!("{},{host}", String::from_utf8_lossy(xff));
        }
        user = username(h);
        let proto = if h.minor_version == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        let method = method_name(h);
        let uri = if h.query.is_empty() {
            h.path.clone()
        } else {
            format!("{}?{}", h.path, redact_password(&h.query))
        };
        // 1.x adds the form values of a POST (none for line protocol or a query string).
        request = if method == "POST" {
            format!("{method} {uri} {proto} ")
        } else {
            format!("{method} {uri} {proto}")
        };
        referer = header_text(h, "referer");
        agent = header_text(h, "user-agent");
    }
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{host} - {} [{}] \"{request}\" {} {} \"{}\" \"{}\" {} {}",
        dash(&user),
        crate::http::clf_date(start),
        x.status,
        x.body_bytes,
        dash(&referer),
        dash(&agent),
        x.request_id,
        took.as_micros()
    )
}

fn header_text(h: &RequestHead, name: &str) -> String {
    h.header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn method_name(h: &RequestHead) -> String {
    use crate::http::Method;
    match &h.method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
        Method::Patch => "PATCH",
        Method::Other(m) => m.as_str(),
    }
    .to_string()
}

/// The user of a request as 1.x's access log names it: `u`, else a Basic header's user.
fn username(h: &RequestHead) -> String {
    match h.query_param("u").filter(|u| !u.is_empty()) {
        Some(u) => u,
        None => super::auth::parse_credentials(h)
            .map(|c| c.user)
            .unwrap_or_default(),
    }
}

/// The raw query with the value of every `p` parameter replaced by `[REDACTED]`.
fn redact_password(query: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("p", _)) => "p=[REDACTED]",
            _ => kv,
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_head, HeadStatus, HttpLimits};

    fn head(req: &str) -> RequestHead {
        match parse_head(req.as_bytes(), &HttpLimits::default()) {
            Ok(HeadStatus::Complete(h, _)) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn access_lines_follow_1x_and_redact_passwords() {
        let h = head(
            "POST /write?db=x&u=bob&p=secret HTTP/1.1\r\nUser-Agent: telegraf\r\nContent-Length: 0\r\n\r\n",
        );
        let x = Exchange {
            head: Some(&h),
            status: 204,
            error: None,
            body_bytes: 0,
            started: Instant::now(),
            request_id: "abc",
            peer: Some("127.0.0.1:5000".parse().unwrap()),
        };
        let line = access_line(&x, Duration::from_micros(1500));
        assert!(line.starts_with("127.0.0.1 - bob ["), "{line}");
        assert!(
            line.ends_with(
                "] \"POST /write?db=x&u=bob&p=[REDACTED] HTTP/1.1 \" 204 0 \"-\" \"telegraf\" abc 1500"
            ),
            "{line}"
        );
        assert!(!line.contains("secret"));
        let x = Exchange { head: None, ..x };
        let line = access_line(&x, Duration::ZERO);
        assert!(line.contains("\"- - -\" 204 0 \"-\" \"-\" abc 0"), "{line}");
    }

    #[test]
    fn long_error_texts_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
