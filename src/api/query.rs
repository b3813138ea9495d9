//! `/query`: the InfluxQL subset. Catalog statements run on core 0 (which persists and
//! broadcasts the new catalog); `SELECT` fans out a scan to every core and merges the rows.

use super::ApiError;
use crate::catalog::{self, CatalogError, RetentionPolicySpec, RetentionPolicyUpdate};
use crate::http::{parse_query_string, Method, Request, Response};
use crate::query::{
    self, RetentionPolicyRow, SelectStatement, Statement, StatementResult, TimeFormat,
};
use crate::runtime::{Core, Purge, Scan};
use crate::storage::ScanRequest;
use std::rc::Rc;

use super::auth::Principal;

/// The request's parameters: the URL's, then a form body's on POST; the first occurrence wins.
/// (Go's `FormValue` prefers the body on POST; the clients we know send each parameter once.)
struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn from(req: &Request) -> Params {
        let mut pairs = parse_query_string(req.head.query.as_bytes());
        let form = req
            .head
            .header("content-type")
            .is_some_and(|ct| ct.starts_with(b"application/x-www-form-urlencoded"));
        if req.head.method == Method::Post && form {
            pairs.extend(parse_query_string(&req.body));
        }
        Params { pairs }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

pub async fn query(core: &Rc<Core>, req: &Request, principal: &Principal) -> Response {
    let params = Params::from(req);
    let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return ApiError::QueryMissing.into();
    };
    let statements = match query::parse(q, now_ns()) {
        Ok(s) => s,
        Err(e) => return ApiError::QueryParse(e.to_string()).into(),
    };
    let db = params.get("db").unwrap_or("").to_string();
    let rp = params.get("rp").unwrap_or("").to_string();
    let authorized = {
        let cat = core.catalog_snapshot();
        super::auth::authorize_query(&cat, principal, &statements, &db)
    };
    if let Err(e) = authorized {
        return ApiError::QueryNotAuthorized(e.to_string()).into();
    }
    let by_get = req.head.method == Method::Get;
    let mut results = Vec::with_capacity(statements.len());
    let mut failed = false;
    for stmt in statements {
        if failed {
            // 1.x stops at the first failing statement and answers the rest as not executed.
            results.push(StatementResult::error("not executed"));
            continue;
        }
        let warning = if by_get {
            stmt.read_only_warning()
        } else {
            None
        };
        let mut r = execute(core, stmt, &db, &rp, principal).await;
        failed = r.error.is_some();
        if let Some(w) = warning {
            r = r.with_warning(w);
        }
        results.push(r);
    }
    let time = TimeFormat::from_epoch_param(params.get("epoch"));
    // Rendering a large answer (and freeing its rows) takes as long as reading it: off the
    // core's thread, so that the core's other requests do not wait behind it.
    let body = glommio::executor()
        .spawn_blocking(move || query::render_results(results, time))
        .await;
    Response::json(200, body)
}

fn change(
    f: impl FnOnce(&mut catalog::Catalog) -> Result<Vec<Purge>, CatalogError> + Send + 'static,
) -> crate::runtime::core::CatalogChange {
    Box::new(move |cat| f(cat).map_err(Into::into))
}

async fn run_change(
    core: &Rc<Core>,
    f: impl FnOnce(&mut catalog::Catalog) -> Result<Vec<Purge>, CatalogError> + Send + 'static,
) -> StatementResult {
    match core.catalog_change(change(f)).await {
        Ok(()) => StatementResult::ok(),
        Err(e) => StatementResult::error(e.to_string()),
    }
}

async fn execute(
    core: &Rc<Core>,
    stmt: Statement,
    db: &str,
    rp: &str,
    principal: &Principal,
) -> StatementResult {
    match stmt {
        Statement::CreateDatabase(c) => {
            let spec = c.rp.map(|s| RetentionPolicySpec {
                name: s.name,
                duration_ns: s.duration_ns,
                replica_n: s.replication,
                shard_group_duration_ns: s.shard_duration_ns,
            });
            run_change(core, move |cat| {
                cat.create_database(&c.name, spec).map(|_| Vec::new())
            })
            .await
        }
        Statement::DropDatabase { name } => {
            run_change(core, move |cat| {
                cat.users.forget_database(&name);
                cat.drop_database(&name)
                    .map(|_| vec![Purge::Database(name)])
            })
            .await
        }
        Statement::ShowDatabases => {
            let cat = core.catalog_snapshot();
            StatementResult::databases(
                cat.databases
                    .keys()
                    .filter(|d| super::auth::may_see_database(principal, d))
                    .cloned(),
            )
        }
        Statement::CreateRetentionPolicy(c) => {
            let spec = RetentionPolicySpec {
                name: Some(c.name),
                duration_ns: Some(c.duration_ns),
                replica_n: Some(c.replication),
                shard_group_duration_ns: (c.shard_duration_ns != 0).then_some(c.shard_duration_ns),
            };
            run_change(core, move |cat| {
                cat.create_retention_policy(&c.database, spec, c.default)
                    .map(|_| Vec::new())
            })
            .await
        }
        Statement::AlterRetentionPolicy(a) => {
            let update = RetentionPolicyUpdate {
                name: None,
                duration_ns: a.duration_ns,
                replica_n: a.replication,
                shard_group_duration_ns: a.shard_duration_ns,
            };
            run_change(core, move |cat| {
                cat.alter_retention_policy(&a.database, &a.name, update, a.default)
                    .map(|_| Vec::new())
            })
            .await
        }
        Statement::DropRetentionPolicy { name, database } => {
            run_change(core, move |cat| {
                cat.drop_retention_policy(&database, &name)
                    .map(|_| vec![Purge::RetentionPolicy(database, name)])
            })
            .await
        }
        Statement::ShowRetentionPolicies { database } => {
            let name = database.unwrap_or_else(|| db.to_string());
            if name.is_empty() {
                return StatementResult::error("database name required");
            }
            let cat = core.catalog_snapshot();
            let Some(d) = cat.databases.get(&name) else {
                return StatementResult::error(format!("database not found: {name}"));
            };
            let rows: Vec<RetentionPolicyRow> = d
                .rps
                .values()
                .map(|r| RetentionPolicyRow {
                    name: r.name.clone(),
                    duration_ns: r.duration_ns,
                    shard_group_duration_ns: r.shard_group_duration_ns,
                    replica_n: r.replica_n,
                    default: r.name == d.default_rp,
                })
                .collect();
            StatementResult::retention_policies(&rows)
        }
        Statement::Select(s) => select(core, s, db, rp).await,
        user_statement => users::execute(core, user_statement).await,
    }
}

async fn select(core: &Rc<Core>, stmt: SelectStatement, db: &str, rp: &str) -> StatementResult {
    let mut rows = Vec::new();
    for source in &stmt.sources {
        let db = source.database.clone().unwrap_or_else(|| db.to_string());
        if db.is_empty() {
            return StatementResult::error("database name required");
        }
        let rp_param = source
            .retention_policy
            .clone()
            .unwrap_or_else(|| rp.to_string());
        let resolved = {
            let cat = core.catalog();
            cat.resolve(&db, Some(&rp_param))
                .map(|(d, r)| (d.name.clone(), r.name.clone()))
        };
        let (db, rp) = match resolved {
            Ok(x) => x,
            Err(e) => return StatementResult::error(e.to_string()),
        };
        if stmt.condition.is_empty_range() {
            continue;
        }
        let scan = ScanRequest {
            db,
            rp,
            measurements: source.measurement.clone(),
            condition: stmt.condition.clone(),
            fields: scan_fields(&stmt.fields),
        };
        for answer in core.ask_all(|_| Scan(scan.clone())).await {
            match answer {
                Ok(mut r) => rows.append(&mut r),
                Err(e) => return StatementResult::error(e.to_string()),
            }
        }
    }
    // Grouping, sorting and merging the rows: off the core's thread, like the rendering.
    glommio::executor()
        .spawn_blocking(move || query::select_result(&stmt, rows))
        .await
}

/// The fields a SELECT list reads, for the scan to read only those (`None`: all, for a
/// wildcard). Names not known to be tags are asked for as fields: a name that is a tag finds no
/// field and costs nothing. A list of tags only reads every field, as without the list (such a
/// SELECT returns no row either way).
fn scan_fields(fields: &[query::SelectField]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            query::SelectField::Wildcard(_) => return None,
            query::SelectField::Key { kind, name, .. } => {
                if *kind != Some(query::KeyKind::Tag)
                    && !out.iter().any(|n: &Vec<u8>| n == name.as_bytes())
                {
                    out.push(name.as_bytes().to_vec());
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The user statements: hashing off the event loop, changes through core 0's catalog change.
mod users {
    use crate::catalog::users::{hash_password, UserError, Users};
    use crate::catalog::Catalog;
    use crate::query::{Series, Statement, StatementResult, Value};
    use crate::runtime::Core;
    use std::rc::Rc;

    async fn hash(password: String) -> Result<String, UserError> {
        glommio::executor()
            .spawn_blocking(move || hash_password(&password))
            .await
    }

    async fn change(
        core: &Rc<Core>,
        f: impl FnOnce(&mut Catalog) -> Result<(), UserError> + Send + 'static,
    ) -> StatementResult {
        let boxed: crate::runtime::core::CatalogChange =
            Box::new(move |cat| f(cat).map(|_| Vec::new()).map_err(Into::into));
        match core.catalog_change(boxed).await {
            Ok(()) => StatementResult::ok(),
            Err(e) => StatementResult::error(e.to_string()),
        }
    }

    fn table(columns: &[&str], values: Vec<Vec<Value>>) -> StatementResult {
        StatementResult {
            series: vec![Series {
                name: None,
                columns: columns.iter().map(|c| c.to_string()).collect(),
                values,
                ..Series::default()
            }],
            ..StatementResult::default()
        }
    }

    fn users_of(core: &Core) -> Users {
        core.catalog().users.clone()
    }

    pub async fn execute(core: &Rc<Core>, stmt: Statement) -> StatementResult {
        match stmt {
            Statement::CreateUser {
                name,
                password,
                admin,
            } => {
                let h = match hash(password.0.clone()).await {
                    Ok(h) => h,
                    Err(e) => return StatementResult::error(e.to_string()),
                };
                change(core, move |cat| {
                    cat.users.create(&name, &password.0, h, admin).map(|_| ())
                })
                .await
            }
            Statement::DropUser { name } => {
                change(core, move |cat| cat.users.drop_user(&name)).await
            }
            Statement::SetPassword { name, password } => {
                if users_of(core).get(&name).is_none() {
                    return StatementResult::error(UserError::UserNotFound.to_string());
                }
                let h = match hash(password.0).await {
                    Ok(h) => h,
                    Err(e) => return StatementResult::error(e.to_string()),
                };
                change(core, move |cat| cat.users.set_password(&name, h)).await
            }
            Statement::Grant {
                privilege,
                database,
                user,
            } => {
                change(core, move |cat| {
                    let exists = cat.databases.contains_key(&database);
                    cat.users.set_privilege(&user, &database, privilege, exists)
                })
                .await
            }
            Statement::Revoke {
                privilege,
                database,
                user,
            } => {
                change(core, move |cat| {
                    let exists = cat.databases.contains_key(&database);
                    cat.users.revoke(&user, &database, privilege, exists)
                })
                .await
            }
            Statement::GrantAdmin { user } => {
                change(core, move |cat| cat.users.set_admin(&user, true)).await
            }
            Statement::RevokeAdmin { user } => {
                change(core, move |cat| cat.users.set_admin(&user, false)).await
            }
            Statement::ShowUsers => {
                let rows = users_of(core)
                    .by_name
                    .values()
                    .map(|u| vec![Value::Str(u.name.as_str().into()), Value::Bool(u.admin)])
                    .collect();
                table(&["user", "admin"], rows)
            }
            Statement::ShowGrants { user } => match users_of(core).grants(&user) {
                Ok(grants) => {
                    let rows = grants
                        .into_iter()
                        .map(|(d, p)| vec![Value::Str(d.into()), Value::Str(p.to_string().into())])
                        .collect();
                    table(&["database", "privilege"], rows)
                }
                Err(e) => StatementResult::error(e.to_string()),
            },
            _ => StatementResult::error("internal error: not a user statement"),
        }
    }
}
