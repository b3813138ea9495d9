//! Authentication and authorization as InfluxDB 1.x (services/httpd/handler.go `authenticate`,
//! `parseCredentials`; services/meta query_authorizer.go, write_authorizer.go).
//!
//! Order (1.x): authentication wraps `/query` and `/write` (401s come first), then the endpoint's own
//! checks run (`/write`: db parameter 400, unknown db 404), then authorization (403).
//! Authentication is enforced only when `auth-enabled` is on **and an admin user exists** (1.x's
//! bootstrap rule); until then every request is anonymous, `/write` answers 403 and `/query`
//! accepts only a query whose first statement creates an admin. `/ping`, `/status` and `/health`
//! never ask for credentials.
//!
//! Credentials, in 1.x's precedence: `u` and `p` URL parameters (both non-empty), then
//! `Authorization: Bearer <jwt>` (no shared secret is configurable: 401 `bearer auth disabled`),
//! `Authorization: Token user:pass`, `Authorization: Basic base64(user:pass)`.
//!
//! ## The verified-credentials cache
//! A bcrypt check costs ~50-100 ms; the hot path must not pay it per request. Each core keeps a
//! map `user name -> SHA-256(user's current bcrypt hash || 0 || presented password)` of credentials
//! it has verified with bcrypt. A request hits the cache only when the digest of *its* password,
//! computed against the hash the catalog holds *now*, equals the stored digest, so:
//! - a wrong password never matches (SHA-256 preimage/collision resistance), and never enters
//!   the cache (only bcrypt-verified passwords are stored);
//! - `SET PASSWORD` changes the bcrypt hash, so old digests stop matching at once;
//! - `DROP USER` removes the user from the catalog, which is looked up before the cache.
//!
//! Only successful checks are cached, so the cache holds at most one entry per user with a valid
//! password; it is still bounded ([`CACHE_ENTRIES_MAX`]) and cleared when full. Cache misses run
//! bcrypt on glommio's blocking pool, so a stream of wrong passwords does not stall the core's
//! other connections (it still costs CPU: 1.x has no rate limit either).

use crate::catalog::users::{verify_password, Privilege, User};
use crate::catalog::Catalog;
use crate::http::{RequestHead, Response};
use crate::query::Statement;
use crate::runtime::Core;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

/// Most verified credentials one core remembers; past it the cache starts over.
const CACHE_ENTRIES_MAX: usize = 4096;

/// The realm 1.x sends in `WWW-Authenticate` (its default `[http] realm`).
const REALM: &str = "InfluxDB";

/// Why a request is not authenticated: all 401, `Display` is 1.x's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No usable credential form.
    Unparsable,
    /// An empty user name.
    UsernameRequired,
    /// Unknown user or wrong password (1.x does not tell them apart).
    Failed,
    /// A JWT; lineshard has no shared secret to check it with.
    BearerDisabled,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Unparsable => "unable to parse authentication credentials",
            AuthError::UsernameRequired => "username required",
            AuthError::Failed => "authorization failed",
            AuthError::BearerDisabled => "bearer auth disabled",
        })
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// 401 with `WWW-Authenticate: Basic realm="InfluxDB"` (and, as 401, no `X-Influxdb-Error`).
    pub fn response(&self) -> Response {
        Response::error(401, &self.to_string())
            .with_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""))
    }
}

/// A user name and password from a request.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, [REDACTED])", self.user)
    }
}

/// 1.x `parseCredentials`: `u`/`p` parameters win over the `Authorization` header.
pub fn parse_credentials(head: &RequestHead) -> Result<Credentials, AuthError> {
    let u = head.query_param("u").unwrap_or_default();
    let p = head.query_param("p").unwrap_or_default();
    if !u.is_empty() && !p.is_empty() {
        return Ok(Credentials {
            user: u,
            password: p,
        });
    }
    let Some(value) = head.header("authorization").filter(|v| !v.is_empty()) else {
        return Err(AuthError::Unparsable);
    };
    let value = std::str::from_utf8(value).map_err(|_| AuthError::Unparsable)?;
    // Go: strings.Split(s, " ") must give exactly two parts for Bearer and Token.
    let parts: Vec<&str> = value.split(' ').collect();
    if let [scheme, rest] = parts[..] {
        match scheme {
            "Bearer" => return Err(AuthError::BearerDisabled),
            "Token" => {
                if let Some((user, password)) = rest.split_once(':') {
                    return Ok(Credentials {
                        user: user.to_string(),
                        password: password.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    basic_auth(value).ok_or(AuthError::Unparsable)
}

/// Go's `Request.BasicAuth`: a case-insensitive `Basic ` prefix, standard base64, split at the
/// first `:`.
fn basic_auth(value: &str) -> Option<Credentials> {
    const PREFIX: &str = "basic ";
    let head = value.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = base64_decode(value.get(PREFIX.len()..)?)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials {
        user: user.to_string(),
        password: password.to_string(),
    })
}

/// Standard base64 with padding (Go's `base64.StdEncoding`), strict: `None` on any bad byte.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.chunks_exact(4);
    let last = quads.len().saturating_sub(1);
    for (i, q) in quads.enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i != last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// Who is asking, once authentication ran.
#[derive(Debug, Clone)]
pub enum Principal {
    /// `auth-enabled` is off: everything is allowed.
    Open,
    /// Auth is on but no admin exists yet (1.x: `user == nil`).
    Anonymous,
    /// An authenticated user (a snapshot of the catalog's entry).
    User(User),
}

/// What the synchronous check (before the body is read) found.
pub enum Early {
    /// Nothing more to check: open, anonymous or a cache hit.
    Known(Principal),
    /// Credentials that need a bcrypt check (done in `handle`).
    NeedsBcrypt,
}

/// One core's authenticator and its cache of verified credentials.
#[derive(Default)]
pub struct Authenticator {
    verified: RefCell<HashMap<String, [u8; 32]>>,
}

fn digest(hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(hash.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    h.finalize().into()
}

impl Authenticator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything that can be decided without bcrypt: 401s for bad credential forms and unknown
    /// users, and the answer for open/anonymous requests and cache hits.
    pub fn check(&self, core: &Core, head: &RequestHead) -> Result<Early, AuthError> {
        if !core.config().http.auth_enabled {
            return Ok(Early::Known(Principal::Open));
        }
        let cat = core.catalog_snapshot();
        if !cat.users.admin_exists() {
            return Ok(Early::Known(Principal::Anonymous));
        }
        let creds = parse_credentials(head)?;
        if creds.user.is_empty() {
            return Err(AuthError::UsernameRequired);
        }
        let user = cat.users.get(&creds.user).ok_or(AuthError::Failed)?;
        let d = digest(&user.hash, &creds.password);
        if self.verified.borrow().get(&user.name) == Some(&d) {
            return Ok(Early::Known(Principal::User(user.clone())));
        }
        Ok(Early::NeedsBcrypt)
    }

    /// The whole authentication: [`Self::check`], then bcrypt (on the blocking pool) on a miss.
    pub async fn authenticate(
        &self,
        core: &Core,
        head: &RequestHead,
    ) -> Result<Principal, AuthError> {
        if let Early::Known(p) = self.check(core, head)? {
            return Ok(p);
        }
        let creds = parse_credentials(head)?;
        let user = {
            let cat = core.catalog();
            cat.users
                .get(&creds.user)
                .cloned()
                .ok_or(AuthError::Failed)?
        };
        let hash = user.hash.clone();
        let password = creds.password.clone();
        let ok = glommio::executor()
            .spawn_blocking(move || verify_password(&password, &hash))
            .await;
        if !ok {
            return Err(AuthError::Failed);
        }
        let mut cache = self.verified.borrow_mut();
        if cache.len() >= CACHE_ENTRIES_MAX {
            cache.clear();
        }
        cache.insert(user.name.clone(), digest(&user.hash, &creds.password));
        Ok(Principal::User(user))
    }

    /// Entries in the cache (for tests).
    pub fn cached(&self) -> usize {
        self.verified.borrow().len()
    }
}

/// 1.x `serveWrite`'s authorization (after the db checks): 403 without a user or WRITE.
pub fn authorize_write(p: &Principal, db: &str) -> Result<(), super::ApiError> {
    match p {
        Principal::Open => Ok(()),
        Principal::Anonymous => Err(super::ApiError::WriteUserRequired(db.to_string())),
        Principal::User(u) if u.authorize_database(Privilege::Write, db) => Ok(()),
        Principal::User(u) => Err(super::ApiError::WriteNotAuthorized {
            user: u.name.clone(),
            db: db.to_string(),
        }),
    }
}

/// What a statement needs (influxql `RequiredPrivileges`): `None` = admin, else a privilege on a
/// database (`""` = the request's `db`).
fn required(stmt: &Statement) -> Vec<Option<(Privilege, String)>> {
    match stmt {
        Statement::ShowDatabases => vec![Some((Privilege::NoPrivileges, String::new()))],
        Statement::Delete(_) | Statement::DropSeries(_) => {
            vec![Some((Privilege::Write, String::new()))]
        }
        Statement::ShowRetentionPolicies { database } => {
            vec![Some((
                Privilege::Read,
                database.clone().unwrap_or_default(),
            ))]
        }
        Statement::Show(s) => match s.what {
            crate::query::Show::Queries => vec![Some((Privilege::Read, String::new()))],
            _ => vec![Some((
                Privilege::Read,
                s.database.clone().unwrap_or_default(),
            ))],
        },
        Statement::Select(s) => s
            .measurement_sources()
            .into_iter()
            .map(|(db, _, _)| Some((Privilege::Read, db.clone().unwrap_or_default())))
            .collect(),
        _ => vec![None],
    }
}

/// 1.x `QueryAuthorizer.AuthorizeQuery`: the text after `error authorizing query: ` (403), or Ok.
pub fn authorize_query(
    cat: &Catalog,
    p: &Principal,
    statements: &[Statement],
    db: &str,
) -> Result<(), String> {
    if matches!(p, Principal::Open) {
        return Ok(());
    }
    if cat.users.is_empty() {
        if let Some(Statement::CreateUser { admin: true, .. }) = statements.first() {
            return Ok(());
        }
        return Err("create admin user first or disable authentication".to_string());
    }
    let user = match p {
        Principal::User(u) => u,
        _ => return Err("no user provided".to_string()),
    };
    if user.admin {
        return Ok(());
    }
    for stmt in statements {
        for need in required(stmt) {
            let Some((privilege, on)) = need else {
                return Err(format!(
                    "{} not authorized to execute statement '{}', requires admin privilege",
                    user.name,
                    stmt.text()
                ));
            };
            let on = if on.is_empty() { db.to_string() } else { on };
            if !user.authorize_database(privilege, &on) {
                return Err(format!(
                    "{} not authorized to execute statement '{}', requires {privilege} on {on}",
                    user.name,
                    stmt.text()
                ));
            }
        }
    }
    Ok(())
}

/// SHOW DATABASES for a non-admin user lists only databases it may read or write (1.x).
pub fn may_see_database(p: &Principal, db: &str) -> bool {
    match p {
        Principal::User(u) => {
            u.authorize_database(Privilege::Read, db) || u.authorize_database(Privilege::Write, db)
        }
        Principal::Open | Principal::Anonymous => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_head, HeadStatus, HttpLimits};

    fn head(req: &str) -> RequestHead {
        match parse_head(req.as_bytes(), &HttpLimits::default()) {
            Ok(HeadStatus::Complete(head, _)) => head,
            _ => panic!("bad test request {req:?}"),
        }
    }

    fn creds(req: &str) -> Result<(String, String), AuthError> {
        parse_credentials(&head(req)).map(|c| (c.user, c.password))
    }

    fn ok(u: &str, p: &str) -> Result<(String, String), AuthError> {
        Ok((u.to_string(), p.to_string()))
    }

    #[test]
    fn credential_sources_in_1x_order() {
        assert_eq!(creds("GET /q?u=a&p=b HTTP/1.1\r\n\r\n"), ok("a", "b"));
        // u/p win over the header.
        assert_eq!(
            creds("GET /q?u=a&p=b HTTP/1.1\r\nAuthorization: Token x:y\r\n\r\n"),
            ok("a", "b")
        );
        // u without p falls through to the header.
        assert_eq!(
            creds("GET /q?u=a HTTP/1.1\r\nAuthorization: Token x:y:z\r\n\r\n"),
            ok("x", "y:z")
        );
        // "bob:secret"
        assert_eq!(
            creds("GET / HTTP/1.1\r\nAuthorization: Basic Ym9iOnNlY3JldA==\r\n\r\n"),
            ok("bob", "secret")
        );
        assert_eq!(
            creds("GET / HTTP/1.1\r\nAuthorization: bAsIc Ym9iOnNlY3JldA==\r\n\r\n"),
            ok("bob", "secret")
        );
        // ":x" -> empty user (the caller answers `username required`).
        assert_eq!(
            creds("GET / HTTP/1.1\r\nAuthorization: Basic Ong=\r\n\r\n"),
            ok("", "x")
        );
        assert_eq!(
            creds("GET / HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n"),
            Err(AuthError::BearerDisabled)
        );
        for bad in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET /?u=a&p= HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Token nocolon\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Basic !!!!\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Basic Ym9i\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Digest x\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Basic\r\n\r\n",
        ] {
            assert_eq!(creds(bad), Err(AuthError::Unparsable), "{bad:?}");
        }
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("YQ=").is_none());
        assert!(base64_decode("YQ==YWJj").is_none());
        assert!(base64_decode("Y===").is_none());
        assert!(base64_decode("YW\u{e9}j").is_none());
    }

    #[test]
    fn digests_bind_the_password_to_the_current_hash() {
        assert_eq!(digest("h1", "pw"), digest("h1", "pw"));
        assert_ne!(digest("h1", "pw"), digest("h2", "pw"));
        assert_ne!(digest("h1", "pw"), digest("h1", "pw2"));
        // The separator keeps (hash, password) boundaries apart.
        assert_ne!(digest("h1", "xpw"), digest("h1x", "pw"));
    }

    fn user(name: &str, admin: bool, grants: &[(&str, Privilege)]) -> User {
        User {
            name: name.into(),
            hash: String::new(),
            admin,
            privileges: grants.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
        }
    }

    #[test]
    fn write_authorization_texts() {
        assert!(authorize_write(&Principal::Open, "db").is_ok());
        let r = authorize_write(&Principal::Anonymous, "db")
            .unwrap_err()
            .response();
        assert_eq!(r.status, 403);
        assert_eq!(
            r.error.as_deref(),
            Some("user is required to write to database \"db\"")
        );
        let bob = Principal::User(user("bob", false, &[("db", Privilege::Read)]));
        let r = authorize_write(&bob, "db").unwrap_err().response();
        assert_eq!(r.status, 403);
        assert_eq!(
            r.error.as_deref(),
            Some("\"bob\" user is not authorized to write to database \"db\"")
        );
        let bob = Principal::User(user("bob", false, &[("db", Privilege::Write)]));
        assert!(authorize_write(&bob, "db").is_ok());
        assert!(authorize_write(&bob, "other").is_err());
    }

    #[test]
    fn query_authorization_texts() {
        let parse = |q: &str| crate::query::parse(q, 0).unwrap();
        let mut cat = Catalog::default();
        let anon = Principal::Anonymous;
        assert_eq!(
            authorize_query(&cat, &anon, &parse("SHOW DATABASES"), ""),
            Err("create admin user first or disable authentication".into())
        );
        assert_eq!(
            authorize_query(&cat, &anon, &parse("CREATE USER a WITH PASSWORD 'x'"), ""),
            Err("create admin user first or disable authentication".into())
        );
        let bootstrap = parse("CREATE USER a WITH PASSWORD 'x' WITH ALL PRIVILEGES; SHOW USERS");
        assert!(authorize_query(&cat, &anon, &bootstrap, "").is_ok());
        cat.users.create("a", "x", String::from("h"), true).unwrap();
        assert_eq!(
            authorize_query(&cat, &anon, &parse("SHOW DATABASES"), ""),
            Err("no user provided".into())
        );
        let bob = Principal::User(user("bob", false, &[("db", Privilege::Read)]));
        assert!(authorize_query(&cat, &bob, &parse("SHOW DATABASES"), "").is_ok());
        assert!(authorize_query(&cat, &bob, &parse("SELECT * FROM cpu"), "db").is_ok());
        assert_eq!(
            authorize_query(&cat, &bob, &parse("SELECT * FROM cpu"), "other"),
            Err("bob not authorized to execute statement 'SELECT ... FROM cpu', requires READ on other".into())
        );
        assert_eq!(
            authorize_query(&cat, &bob, &parse("CREATE DATABASE x"), "db"),
            Err("bob not authorized to execute statement 'CREATE DATABASE x', requires admin privilege".into())
        );
        assert_eq!(
            authorize_query(&cat, &bob, &parse("SET PASSWORD FOR bob = 'x'"), "db"),
            Err("bob not authorized to execute statement 'SET PASSWORD FOR bob = [REDACTED]', requires admin privilege".into())
        );
        // DELETE and DROP SERIES need WRITE on the database, DROP MEASUREMENT admin (influxql).
        assert_eq!(
            authorize_query(&cat, &bob, &parse("DELETE FROM cpu WHERE host = 'a'"), "db"),
            Err("bob not authorized to execute statement 'DELETE FROM cpu WHERE host = 'a'', requires WRITE on db".into())
        );
        let writer = Principal::User(user("w", false, &[("db", Privilege::Write)]));
        for q in ["DELETE FROM cpu", "DROP SERIES WHERE host = 'a'"] {
            assert!(
                authorize_query(&cat, &writer, &parse(q), "db").is_ok(),
                "{q}"
            );
        }
        assert_eq!(
            authorize_query(&cat, &writer, &parse("DROP MEASUREMENT cpu"), "db"),
            Err("w not authorized to execute statement 'DROP MEASUREMENT cpu', requires admin privilege".into())
        );
        let root = Principal::User(user("root", true, &[]));
        assert!(authorize_query(&cat, &root, &parse("DROP DATABASE x"), "").is_ok());
        assert!(may_see_database(&bob, "db"));
        assert!(!may_see_database(&bob, "other"));
    }

    #[test]
    fn unauthorized_answers_carry_the_challenge() {
        let r = AuthError::Failed.response();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, b"{\"error\":\"authorization failed\"}\n");
        assert_eq!(
            r.headers,
            vec![("WWW-Authenticate", "Basic realm=\"InfluxDB\"".to_string())]
        );
    }
}
