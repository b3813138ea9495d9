//! Authentication and authorization against a real `lineshard --auth-enabled` process: every
//! status and text of InfluxDB 1.x's auth path, the bootstrap rule and the credential cache.

mod common;

use common::{urlencode, HttpResponse, Server};
use std::time::{Duration, Instant};

const ROOT: (&str, &str) = ("root", "rootpw");

fn basic(user: &str, pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}").into_bytes();
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// POST /query as `who` (u/p parameters), or anonymously.
fn q(s: &Server, who: Option<(&str, &str)>, query: &str) -> HttpResponse {
    let creds = who.map_or(String::new(), |(u, p)| format!("&u={u}&p={p}"));
    let target = format!("/query?db=db&epoch=ns&q={}{creds}", urlencode(query));
    s.request("POST", &target, &[], b"")
}

fn q_ok(s: &Server, who: (&str, &str), query: &str) -> serde_json::Value {
    let r = q(s, Some(who), query);
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    for res in v["results"].as_array().unwrap() {
        assert!(res["error"].is_null(), "{query}: {v}");
    }
    v
}

fn write_as(s: &Server, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
    s.request("POST", target, headers, b"cpu v=1")
}

fn assert_401(r: &HttpResponse, text: &str) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.error(), text);
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"InfluxDB\"")
    );
    assert_eq!(
        r.header("X-Influxdb-Error"),
        None,
        "401s carry no X-Influxdb-Error"
    );
}

fn assert_error(r: &HttpResponse, status: u16, text: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.error(), text);
    assert_eq!(r.header("X-Influxdb-Error"), Some(text));
}

/// Auth on: a server with `root` (admin), database `db` and user `bob` (no privileges).
fn bootstrapped() -> Server {
    let s = Server::start(&["--cores", "2", "--auth-enabled"]);
    q_ok(
        &s,
        ROOT,
        "CREATE USER root WITH PASSWORD 'rootpw' WITH ALL PRIVILEGES; CREATE DATABASE db; CREATE USER bob WITH PASSWORD 'bobpw'",
    );
    s
}

#[test]
fn bootstrap_rule_until_an_admin_exists() {
    let s = Server::start(&["--cores", "2", "--auth-enabled"]);
    assert_eq!(s.request("GET", "/ping", &[], b"").status, 204);
    let r = q(&s, None, "SHOW DATABASES");
    assert_error(
        &r,
        403,
        "error authorizing query: create admin user first or disable authentication",
    );
    // A non-admin first user is refused too.
    let r = q(&s, None, "CREATE USER bob WITH PASSWORD 'x'");
    assert_eq!(r.status, 403);
    // Writes: no credentials are asked for yet; the db checks answer first.
    assert_error(&write_as(&s, "/write", &[]), 400, "database is required");
    assert_error(
        &write_as(&s, "/write?db=nope", &[]),
        404,
        "database not found: \"nope\"",
    );
    // Creating the admin is allowed (with more statements in the same query).
    let r = q(
        &s,
        None,
        "CREATE USER root WITH PASSWORD 'rootpw' WITH ALL PRIVILEGES; CREATE DATABASE db",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text().trim(),
        r#"{"results":[{"statement_id":0},{"statement_id":1}]}"#
    );
    // From now on credentials are required.
    assert_401(
        &q(&s, None, "SHOW DATABASES"),
        "unable to parse authentication credentials",
    );
    assert_eq!(s.request("GET", "/ping", &[], b"").status, 204);
    assert_eq!(s.request("HEAD", "/ping", &[], b"").status, 204);
    assert_eq!(s.request("GET", "/health", &[], b"").status, 200);
    let v = q_ok(&s, ROOT, "SHOW USERS");
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["root", true]])
    );
}

#[test]
fn write_without_a_user_object_is_403_and_users_survive_a_restart() {
    // Create the db without auth, then restart with auth and no admin: 1.x's `user == nil` case.
    let mut s = Server::start(&["--cores", "2"]);
    let r = q(&s, None, "CREATE DATABASE db");
    assert_eq!(r.status, 200);
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let mut s = Server::start_in(dir, &["--cores", "2", "--auth-enabled"]);
    assert_error(
        &write_as(&s, "/write?db=db", &[]),
        403,
        "user is required to write to database \"db\"",
    );
    q_ok(
        &s,
        ROOT,
        "CREATE USER root WITH PASSWORD 'rootpw' WITH ALL PRIVILEGES",
    );
    s.kill();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Server::start_in(dir, &["--cores", "1", "--auth-enabled"]);
    assert_401(
        &write_as(&s, "/write?db=db", &[]),
        "unable to parse authentication credentials",
    );
    let r = write_as(&s, "/write?db=db&u=root&p=rootpw", &[]);
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn every_401_text() {
    let s = bootstrapped();
    let none = "unable to parse authentication credentials";
    assert_401(&write_as(&s, "/write?db=db", &[]), none);
    assert_401(&write_as(&s, "/api/v2/write?bucket=db", &[]), none);
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", "Digest abc")]),
        none,
    );
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", "Basic !!!")]),
        none,
    );
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", "Token nocolon")]),
        none,
    );
    // `u` without `p` is not a credential.
    assert_401(&write_as(&s, "/write?db=db&u=root", &[]), none);
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", &basic("", "x"))]),
        "username required",
    );
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", "Token :x")]),
        "username required",
    );
    assert_401(
        &write_as(&s, "/write?db=db&u=root&p=wrong", &[]),
        "authorization failed",
    );
    assert_401(
        &write_as(&s, "/write?db=db&u=nobody&p=x", &[]),
        "authorization failed",
    );
    assert_401(
        &write_as(&s, "/write?db=db", &[("Authorization", "Bearer x.y.z")]),
        "bearer auth disabled",
    );
    // u/p win over a valid header.
    let r = write_as(
        &s,
        "/write?db=db&u=root&p=wrong",
        &[("Authorization", &basic("root", "rootpw"))],
    );
    assert_401(&r, "authorization failed");
    // 1.x order: authentication before the write's own checks.
    assert_401(&write_as(&s, "/write", &[]), none);
    assert_401(&write_as(&s, "/write?db=nope", &[]), none);
    assert_401(&q(&s, None, "SHOW DATABASES"), none);
    assert_401(
        &q(&s, Some(("root", "bad")), "SHOW DATABASES"),
        "authorization failed",
    );
    // A 401 on a request with a body sent behind Expect: 100-continue gets no 100.
    let r = s.request(
        "POST",
        "/write?db=db",
        &[("Expect", "100-continue")],
        b"cpu v=1",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn write_authorization_and_credential_forms() {
    let s = bootstrapped();
    let bob_up = "/write?db=db&u=bob&p=bobpw";
    // Auth passes, then the write's own checks, then the 403.
    assert_error(
        &write_as(&s, "/write?u=bob&p=bobpw", &[]),
        400,
        "database is required",
    );
    assert_error(
        &write_as(&s, "/write?db=nope&u=bob&p=bobpw", &[]),
        404,
        "database not found: \"nope\"",
    );
    let denied = "\"bob\" user is not authorized to write to database \"db\"";
    assert_error(&write_as(&s, bob_up, &[]), 403, denied);
    assert_error(
        &write_as(
            &s,
            "/api/v2/write?bucket=db",
            &[("Authorization", "Token bob:bobpw")],
        ),
        403,
        denied,
    );
    q_ok(&s, ROOT, "GRANT WRITE ON db TO bob");
    assert_eq!(write_as(&s, bob_up, &[]).status, 204);
    let token = [("Authorization", "Token bob:bobpw")];
    assert_eq!(write_as(&s, "/write?db=db", &token).status, 204);
    assert_eq!(write_as(&s, "/api/v2/write?bucket=db", &token).status, 204);
    let b = basic("bob", "bobpw");
    assert_eq!(
        write_as(&s, "/write?db=db", &[("Authorization", &b)]).status,
        204
    );
    // Reads need READ: WRITE is not enough.
    let r = q(&s, Some(("bob", "bobpw")), "SELECT * FROM cpu");
    assert_error(
        &r,
        403,
        "error authorizing query: bob not authorized to execute statement 'SELECT ... FROM cpu', requires READ on db",
    );
    // GRANT replaces: READ now, no more WRITE (1.x SetPrivilege).
    q_ok(&s, ROOT, "GRANT READ ON db TO bob");
    assert_error(&write_as(&s, bob_up, &[]), 403, denied);
    let v = q_ok(&s, ("bob", "bobpw"), "SELECT * FROM cpu");
    assert_eq!(
        v["results"][0]["series"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "the four authorized writes above and no other: {v}"
    );
    q_ok(&s, ROOT, "GRANT ALL ON db TO bob");
    assert_eq!(write_as(&s, bob_up, &[]).status, 204);
    let v = q_ok(&s, ROOT, "SHOW GRANTS FOR bob");
    assert_eq!(
        v["results"][0]["series"][0]["columns"],
        serde_json::json!(["database", "privilege"])
    );
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["db", "ALL PRIVILEGES"]])
    );
    q_ok(&s, ROOT, "REVOKE WRITE ON db FROM bob");
    let v = q_ok(&s, ROOT, "SHOW GRANTS FOR bob");
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["db", "READ"]])
    );
    assert_error(&write_as(&s, bob_up, &[]), 403, denied);
    // Non-admins cannot run admin statements; SHOW DATABASES lists only what they may use.
    let r = q(&s, Some(("bob", "bobpw")), "CREATE DATABASE x");
    assert_error(
        &r,
        403,
        "error authorizing query: bob not authorized to execute statement 'CREATE DATABASE x', requires admin privilege",
    );
    q_ok(&s, ROOT, "CREATE DATABASE other");
    let v = q_ok(&s, ("bob", "bobpw"), "SHOW DATABASES");
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["db"]])
    );
    // Admin by GRANT ALL PRIVILEGES, and back.
    q_ok(&s, ROOT, "GRANT ALL PRIVILEGES TO bob");
    q_ok(&s, ("bob", "bobpw"), "CREATE DATABASE x");
    q_ok(&s, ROOT, "REVOKE ALL PRIVILEGES FROM bob");
    assert_eq!(q(&s, Some(("bob", "bobpw")), "DROP DATABASE x").status, 403);
    let v = q_ok(&s, ROOT, "SHOW USERS");
    assert_eq!(
        v["results"][0]["series"][0]["columns"],
        serde_json::json!(["user", "admin"])
    );
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["bob", false], ["root", true]])
    );
    // DROP DATABASE forgets the privileges on it.
    q_ok(&s, ROOT, "DROP DATABASE db");
    let v = q_ok(&s, ROOT, "SHOW GRANTS FOR bob");
    assert!(v["results"][0]["series"][0]["values"].is_null(), "{v}");
}

#[test]
fn user_statement_errors_are_1x_texts() {
    let s = bootstrapped();
    let err = |query: &str| {
        let r = q(&s, Some(ROOT), query);
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["results"][0]["error"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(
        err("CREATE USER bob WITH PASSWORD 'other'"),
        "user already exists"
    );
    assert_eq!(
        err("CREATE USER bob WITH PASSWORD 'bobpw'"),
        "",
        "idempotent"
    );
    assert_eq!(
        err("CREATE USER bob WITH PASSWORD 'bobpw' WITH ALL PRIVILEGES"),
        "user already exists"
    );
    assert_eq!(err("DROP USER nobody"), "user not found");
    assert_eq!(err("SET PASSWORD FOR nobody = 'x'"), "user not found");
    assert_eq!(err("GRANT READ ON db TO nobody"), "user not found");
    assert_eq!(err("GRANT READ ON nodb TO bob"), "database not found: nodb");
    assert_eq!(err("SHOW GRANTS FOR nobody"), "user not found");
    let r = q(&s, Some(ROOT), "GRANT READ TO bob");
    assert_error(
        &r,
        400,
        "error parsing query: found TO, expected ON at line 1, char 12",
    );
}

#[test]
fn password_change_and_drop_invalidate_cached_credentials() {
    let s = bootstrapped();
    q_ok(&s, ROOT, "GRANT ALL ON db TO bob");
    let old = "/write?db=db&u=bob&p=bobpw";
    // The first request pays bcrypt; later ones hit the cache.
    let t0 = Instant::now();
    assert_eq!(write_as(&s, old, &[]).status, 204);
    let miss = t0.elapsed();
    let t0 = Instant::now();
    const HITS: u32 = 30;
    for _ in 0..HITS {
        assert_eq!(write_as(&s, old, &[]).status, 204);
    }
    let hits = t0.elapsed();
    // Hits are each far cheaper than one bcrypt (2 cores: a request may land on either core,
    // so at most one more miss is possible).
    assert!(
        hits < miss * 10 + Duration::from_millis(500),
        "{HITS} cached requests took {hits:?}, one bcrypt check {miss:?}"
    );
    // A wrong password is never served from the cache.
    assert_401(
        &write_as(&s, "/write?db=db&u=bob&p=bobpw2", &[]),
        "authorization failed",
    );
    q_ok(&s, ROOT, "SET PASSWORD FOR bob = 'newpw'");
    assert_401(&write_as(&s, old, &[]), "authorization failed");
    assert_eq!(write_as(&s, "/write?db=db&u=bob&p=newpw", &[]).status, 204);
    q_ok(&s, ROOT, "DROP USER bob");
    assert_401(
        &write_as(&s, "/write?db=db&u=bob&p=newpw", &[]),
        "authorization failed",
    );
}

#[test]
fn auth_off_by_default_ignores_credentials() {
    let s = Server::start(&["--cores", "1"]);
    assert_eq!(q(&s, None, "CREATE DATABASE db").status, 200);
    let r = write_as(
        &s,
        "/write?db=db&u=x&p=y",
        &[("Authorization", "Bearer junk")],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Users can still be managed with auth off (as in 1.x).
    let r = q(&s, None, "CREATE USER a WITH PASSWORD 'b'; SHOW USERS");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["results"][1]["series"][0]["values"],
        serde_json::json!([["a", false]])
    );
}
