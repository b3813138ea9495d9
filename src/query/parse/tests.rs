use super::*;
use crate::query::select::{plan, Plan};
use crate::query::{Condition, SelectField, SelectStatement, TagExpr, TIME_MAX_NS, TIME_MIN_NS};

const NOW: i64 = 1_600_000_000_000_000_000;
const H: i64 = 3_600_000_000_000;

fn one(q: &str) -> Statement {
    match parse(q, NOW) {
        Ok(mut v) if v.len() == 1 => v.remove(0),
        other => panic!("{q}: {other:?}"),
    }
}

fn err(q: &str) -> String {
    match parse(q, NOW) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{q}: parsed as {v:?}"),
    }
}

/// A raw SELECT as the planner makes it.
fn select(q: &str) -> SelectStatement {
    match one(q) {
        Statement::Select(s) => match plan(&s, NOW, &|_| false) {
            Ok(Plan::Raw { stmt, .. }) => *stmt,
            other => panic!("{q}: {other:?}"),
        },
        other => panic!("{q}: {other:?}"),
    }
}

/// The error of parsing or planning a SELECT.
fn select_err(q: &str) -> String {
    match parse(q, NOW) {
        Err(e) => e.to_string(),
        Ok(mut v) => match v.remove(0) {
            Statement::Select(s) => match plan(&s, NOW, &|_| false) {
                Err(e) => e,
                Ok(p) => panic!("{q}: planned as {p:?}"),
            },
            other => panic!("{q}: {other:?}"),
        },
    }
}

#[test]
fn catalog_statements() {
    assert_eq!(one("show databases"), Statement::ShowDatabases);
    assert_eq!(
        one(r#"CREATE DATABASE "my db""#),
        Statement::CreateDatabase(CreateDatabase {
            name: "my db".into(),
            rp: None
        })
    );
    assert_eq!(
        one("create database x with duration 1d replication 1 shard duration 1h name rp1"),
        Statement::CreateDatabase(CreateDatabase {
            name: "x".into(),
            rp: Some(RetentionPolicySpec {
                duration_ns: Some(24 * H),
                replication: Some(1),
                shard_duration_ns: Some(H),
                name: Some("rp1".into()),
            })
        })
    );
    assert_eq!(
        one("CREATE DATABASE x WITH REPLICATION 1"),
        Statement::CreateDatabase(CreateDatabase {
            name: "x".into(),
            rp: Some(RetentionPolicySpec {
                replication: Some(1),
                ..Default::default()
            })
        })
    );
    assert_eq!(
        one("DROP DATABASE x"),
        Statement::DropDatabase { name: "x".into() }
    );
    assert_eq!(
        one(
            "CREATE RETENTION POLICY rp ON db DURATION INF REPLICATION 1 SHARD DURATION 2h DEFAULT"
        ),
        Statement::CreateRetentionPolicy(CreateRetentionPolicy {
            name: "rp".into(),
            database: "db".into(),
            duration_ns: 0,
            replication: 1,
            shard_duration_ns: 2 * H,
            default: true,
        })
    );
    assert_eq!(
        one("ALTER RETENTION POLICY DEFAULT ON db DEFAULT DURATION 1w"),
        Statement::AlterRetentionPolicy(AlterRetentionPolicy {
            name: "default".into(),
            database: "db".into(),
            duration_ns: Some(168 * H),
            replication: None,
            shard_duration_ns: None,
            default: true,
        })
    );
    assert_eq!(
        one("drop retention policy \"1h.cpu\" on db"),
        Statement::DropRetentionPolicy {
            name: "1h.cpu".into(),
            database: "db".into()
        }
    );
    assert_eq!(
        one("SHOW RETENTION POLICIES"),
        Statement::ShowRetentionPolicies { database: None }
    );
    assert_eq!(
        one("SHOW RETENTION POLICIES ON \"db\""),
        Statement::ShowRetentionPolicies {
            database: Some("db".into())
        }
    );
}

#[test]
fn several_statements_and_comments() {
    let v = parse(
        "CREATE DATABASE \"a;b\"; -- c;\nSHOW DATABASES;;/* ; */ DROP DATABASE x;",
        NOW,
    )
    .map_err(|e| e.to_string());
    assert_eq!(
        v,
        Ok(vec![
            Statement::CreateDatabase(CreateDatabase {
                name: "a;b".into(),
                rp: None
            }),
            Statement::ShowDatabases,
            Statement::DropDatabase { name: "x".into() },
        ])
    );
    assert_eq!(parse("", NOW), Ok(vec![]));
    assert_eq!(parse(" ; ", NOW), Ok(vec![]));
}

#[test]
fn influxdb_error_texts() {
    // Expected texts are from influxql parser_test.go (the 1.x parser).
    let cases = [
        ("SELEC * FROM m", "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"),
        ("SELECT", "found EOF, expected identifier, string, number, bool at line 1, char 8"),
        ("SELECT field1 FROM myseries LIMIT", "found EOF, expected integer at line 1, char 35"),
        ("SELECT field1 AS", "found EOF, expected identifier at line 1, char 18"),
        ("SHOW RETENTION", "found EOF, expected POLICIES at line 1, char 16"),
        ("SHOW RETENTION ON", "found ON, expected POLICIES at line 1, char 16"),
        ("SHOW RETENTION POLICIES ON", "found EOF, expected identifier at line 1, char 28"),
        ("SHOW FOO", "found FOO, expected CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS at line 1, char 6"),
        ("DROP FOO", "found FOO, expected CONTINUOUS, DATABASE, MEASUREMENT, RETENTION, SERIES, SHARD, SUBSCRIPTION, USER at line 1, char 6"),
        ("CREATE FOO", "found FOO, expected CONTINUOUS, DATABASE, USER, RETENTION, SUBSCRIPTION at line 1, char 8"),
        ("CREATE DATABASE", "found EOF, expected identifier at line 1, char 17"),
        ("CREATE DATABASE \"testdb\" WITH", "found EOF, expected DURATION, NAME, REPLICATION, SHARD at line 1, char 31"),
        ("CREATE DATABASE \"testdb\" WITH DURATION", "found EOF, expected duration at line 1, char 40"),
        ("CREATE DATABASE \"testdb\" WITH REPLICATION", "found EOF, expected integer at line 1, char 43"),
        ("CREATE DATABASE \"testdb\" WITH NAME", "found EOF, expected identifier at line 1, char 36"),
        ("CREATE DATABASE \"testdb\" WITH SHARD", "found EOF, expected DURATION at line 1, char 37"),
        ("DROP DATABASE", "found EOF, expected identifier at line 1, char 15"),
        ("DROP RETENTION", "found EOF, expected POLICY at line 1, char 16"),
        ("DROP RETENTION POLICY \"1h.cpu\"", "found EOF, expected ON at line 1, char 31"),
        ("CREATE RETENTION POLICY policy1 ON testdb", "found EOF, expected DURATION at line 1, char 43"),
        ("CREATE RETENTION POLICY policy1 ON testdb DURATION bad", "found bad, expected duration at line 1, char 52"),
        ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h", "found EOF, expected REPLICATION at line 1, char 54"),
        ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 3.14", "found 3.14, expected integer at line 1, char 67"),
        ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 0", "invalid value 0: must be 1 <= n <= 2147483647 at line 1, char 67"),
        ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 2 SHARD DURATION INF", "invalid duration INF for shard duration at line 1, char 84"),
        ("ALTER", "found EOF, expected RETENTION at line 1, char 7"),
        ("ALTER RETENTION POLICY policy1 ON testdb", "found EOF, expected DURATION, REPLICATION, SHARD, DEFAULT at line 1, char 42"),
        ("ALTER RETENTION POLICY policy1 ON testdb REPLICATION 1 REPLICATION 2", "found duplicate REPLICATION option at line 1, char 56"),
        ("ALTER RETENTION POLICY policy1 ON testdb DURATION 15251w", "overflowed duration 15251w: choose a smaller duration or INF at line 1, char 51"),
        ("ALTER RETENTION POLICY policy1 ON testdb DURATION INF SHARD DURATION INF", "invalid duration INF for shard duration at line 1, char 70"),
        ("SHOW DATABASES x", "found x, expected ; at line 1, char 16"),
        ("CREATE DATABASE select", "found SELECT, expected identifier at line 1, char 17"),
        ("SELECT * FROM", "found EOF, expected identifier at line 1, char 15"),
        ("SELECT * m", "found m, expected FROM at line 1, char 10"),
        ("SELECT *\nFROM", "found EOF, expected identifier at line 2, char 6"),
        ("SELECT * FROM m WHERE time > now() - 1h)", "found ), expected ; at line 1, char 40"),
        ("SELECT * FROM m WHERE (time > 0", "found EOF, expected ) at line 1, char 32"),
        ("SELECT field1 FROM myseries ORDER", "found EOF, expected BY at line 1, char 35"),
        ("SELECT field1 FROM myseries ORDER BY", "found EOF, expected identifier, ASC, DESC at line 1, char 38"),
        ("SELECT field1 FROM myseries ORDER BY time ASC,", "found EOF, expected identifier at line 1, char 47"),
        ("SELECT field1 FROM myseries OFFSET", "found EOF, expected integer at line 1, char 36"),
        ("SELECT v FROM m ORDER BY v", "only ORDER BY time supported at this time"),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

#[test]
fn user_statement_error_texts() {
    // From influxql parser_test.go (1.x), every user-statement case.
    let cases = [
        ("SHOW GRANTS", "found EOF, expected FOR at line 1, char 13"),
        (
            "SHOW GRANTS FOR",
            "found EOF, expected identifier at line 1, char 17",
        ),
        (
            "DROP USER",
            "found EOF, expected identifier at line 1, char 11",
        ),
        (
            "CREATE USER testuser",
            "found EOF, expected WITH at line 1, char 22",
        ),
        (
            "CREATE USER testuser WITH",
            "found EOF, expected PASSWORD at line 1, char 27",
        ),
        (
            "CREATE USER testuser WITH PASSWORD",
            "found EOF, expected string at line 1, char 36",
        ),
        (
            "CREATE USER testuser WITH PASSWORD 'pwd' WITH",
            "found EOF, expected ALL at line 1, char 47",
        ),
        (
            "CREATE USER testuser WITH PASSWORD 'pwd' WITH ALL",
            "found EOF, expected PRIVILEGES at line 1, char 51",
        ),
        (
            "GRANT",
            "found EOF, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 7",
        ),
        (
            "GRANT BOGUS",
            "found BOGUS, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 7",
        ),
        ("GRANT READ", "found EOF, expected ON at line 1, char 12"),
        (
            "GRANT READ FROM",
            "found FROM, expected ON at line 1, char 12",
        ),
        (
            "GRANT READ ON",
            "found EOF, expected identifier at line 1, char 15",
        ),
        (
            "GRANT READ ON TO",
            "found TO, expected identifier at line 1, char 15",
        ),
        (
            "GRANT READ ON testdb",
            "found EOF, expected TO at line 1, char 22",
        ),
        (
            "GRANT READ ON testdb TO",
            "found EOF, expected identifier at line 1, char 25",
        ),
        ("GRANT READ TO", "found TO, expected ON at line 1, char 12"),
        ("GRANT WRITE", "found EOF, expected ON at line 1, char 13"),
        (
            "GRANT WRITE FROM",
            "found FROM, expected ON at line 1, char 13",
        ),
        (
            "GRANT WRITE ON",
            "found EOF, expected identifier at line 1, char 16",
        ),
        (
            "GRANT WRITE ON TO",
            "found TO, expected identifier at line 1, char 16",
        ),
        (
            "GRANT WRITE ON testdb",
            "found EOF, expected TO at line 1, char 23",
        ),
        (
            "GRANT WRITE ON testdb TO",
            "found EOF, expected identifier at line 1, char 26",
        ),
        ("GRANT WRITE TO", "found TO, expected ON at line 1, char 13"),
        ("GRANT ALL", "found EOF, expected ON, TO at line 1, char 11"),
        (
            "GRANT ALL PRIVILEGES",
            "found EOF, expected ON, TO at line 1, char 22",
        ),
        (
            "GRANT ALL FROM",
            "found FROM, expected ON, TO at line 1, char 11",
        ),
        (
            "GRANT ALL PRIVILEGES FROM",
            "found FROM, expected ON, TO at line 1, char 22",
        ),
        (
            "GRANT ALL ON",
            "found EOF, expected identifier at line 1, char 14",
        ),
        (
            "GRANT ALL PRIVILEGES ON",
            "found EOF, expected identifier at line 1, char 25",
        ),
        (
            "GRANT ALL ON TO",
            "found TO, expected identifier at line 1, char 14",
        ),
        (
            "GRANT ALL PRIVILEGES ON TO",
            "found TO, expected identifier at line 1, char 25",
        ),
        (
            "GRANT ALL ON testdb",
            "found EOF, expected TO at line 1, char 21",
        ),
        (
            "GRANT ALL PRIVILEGES ON testdb",
            "found EOF, expected TO at line 1, char 32",
        ),
        (
            "GRANT ALL ON testdb FROM",
            "found FROM, expected TO at line 1, char 21",
        ),
        (
            "GRANT ALL PRIVILEGES ON testdb FROM",
            "found FROM, expected TO at line 1, char 32",
        ),
        (
            "GRANT ALL ON testdb TO",
            "found EOF, expected identifier at line 1, char 24",
        ),
        (
            "GRANT ALL PRIVILEGES ON testdb TO",
            "found EOF, expected identifier at line 1, char 35",
        ),
        (
            "GRANT ALL TO",
            "found EOF, expected identifier at line 1, char 14",
        ),
        (
            "GRANT ALL PRIVILEGES TO",
            "found EOF, expected identifier at line 1, char 25",
        ),
        (
            "REVOKE",
            "found EOF, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 8",
        ),
        (
            "REVOKE BOGUS",
            "found BOGUS, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 8",
        ),
        ("REVOKE READ", "found EOF, expected ON at line 1, char 13"),
        ("REVOKE READ TO", "found TO, expected ON at line 1, char 13"),
        (
            "REVOKE READ ON",
            "found EOF, expected identifier at line 1, char 16",
        ),
        (
            "REVOKE READ ON FROM",
            "found FROM, expected identifier at line 1, char 16",
        ),
        (
            "REVOKE READ ON testdb",
            "found EOF, expected FROM at line 1, char 23",
        ),
        (
            "REVOKE READ ON testdb FROM",
            "found EOF, expected identifier at line 1, char 28",
        ),
        (
            "REVOKE READ FROM",
            "found FROM, expected ON at line 1, char 13",
        ),
        ("REVOKE WRITE", "found EOF, expected ON at line 1, char 14"),
        (
            "REVOKE WRITE TO",
            "found TO, expected ON at line 1, char 14",
        ),
        (
            "REVOKE WRITE ON",
            "found EOF, expected identifier at line 1, char 17",
        ),
        (
            "REVOKE WRITE ON FROM",
            "found FROM, expected identifier at line 1, char 17",
        ),
        (
            "REVOKE WRITE ON testdb",
            "found EOF, expected FROM at line 1, char 24",
        ),
        (
            "REVOKE WRITE ON testdb FROM",
            "found EOF, expected identifier at line 1, char 29",
        ),
        (
            "REVOKE WRITE FROM",
            "found FROM, expected ON at line 1, char 14",
        ),
        (
            "REVOKE ALL",
            "found EOF, expected ON, FROM at line 1, char 12",
        ),
        (
            "REVOKE ALL PRIVILEGES",
            "found EOF, expected ON, FROM at line 1, char 23",
        ),
        (
            "REVOKE ALL TO",
            "found TO, expected ON, FROM at line 1, char 12",
        ),
        (
            "REVOKE ALL PRIVILEGES TO",
            "found TO, expected ON, FROM at line 1, char 23",
        ),
        (
            "REVOKE ALL ON",
            "found EOF, expected identifier at line 1, char 15",
        ),
        (
            "REVOKE ALL PRIVILEGES ON",
            "found EOF, expected identifier at line 1, char 26",
        ),
        (
            "REVOKE ALL ON FROM",
            "found FROM, expected identifier at line 1, char 15",
        ),
        (
            "REVOKE ALL PRIVILEGES ON FROM",
            "found FROM, expected identifier at line 1, char 26",
        ),
        (
            "REVOKE ALL ON testdb",
            "found EOF, expected FROM at line 1, char 22",
        ),
        (
            "REVOKE ALL PRIVILEGES ON testdb",
            "found EOF, expected FROM at line 1, char 33",
        ),
        (
            "REVOKE ALL ON testdb TO",
            "found TO, expected FROM at line 1, char 22",
        ),
        (
            "REVOKE ALL PRIVILEGES ON testdb TO",
            "found TO, expected FROM at line 1, char 33",
        ),
        (
            "REVOKE ALL ON testdb FROM",
            "found EOF, expected identifier at line 1, char 27",
        ),
        (
            "REVOKE ALL PRIVILEGES ON testdb FROM",
            "found EOF, expected identifier at line 1, char 38",
        ),
        (
            "REVOKE ALL FROM",
            "found EOF, expected identifier at line 1, char 17",
        ),
        (
            "REVOKE ALL PRIVILEGES FROM",
            "found EOF, expected identifier at line 1, char 28",
        ),
        ("SET PASSWORD", "found EOF, expected FOR at line 1, char 14"),
        (
            "SET PASSWORD something",
            "found something, expected FOR at line 1, char 14",
        ),
        (
            "SET PASSWORD FOR",
            "found EOF, expected identifier at line 1, char 18",
        ),
        (
            "SET PASSWORD FOR dejan",
            "found EOF, expected = at line 1, char 24",
        ),
        (
            "SET PASSWORD FOR dejan =",
            "found EOF, expected string at line 1, char 25",
        ),
        (
            "SET PASSWORD FOR dejan = bla",
            "found bla, expected string at line 1, char 26",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

#[test]
fn user_statements() {
    assert_eq!(
        one("CREATE USER \"root\" WITH PASSWORD 'p w' WITH ALL PRIVILEGES"),
        Statement::CreateUser {
            name: "root".into(),
            password: Password("p w".into()),
            admin: true
        }
    );
    assert_eq!(
        one("create user bob with password 'x'"),
        Statement::CreateUser {
            name: "bob".into(),
            password: Password("x".into()),
            admin: false
        }
    );
    assert_eq!(
        one("DROP USER bob"),
        Statement::DropUser { name: "bob".into() }
    );
    assert_eq!(
        one("SET PASSWORD FOR bob = 'y'"),
        Statement::SetPassword {
            name: "bob".into(),
            password: Password("y".into())
        }
    );
    assert_eq!(
        one("GRANT WRITE ON db TO bob"),
        Statement::Grant {
            privilege: Privilege::Write,
            database: "db".into(),
            user: "bob".into()
        }
    );
    assert_eq!(
        one("GRANT ALL ON db TO bob"),
        Statement::Grant {
            privilege: Privilege::All,
            database: "db".into(),
            user: "bob".into()
        }
    );
    assert_eq!(
        one("GRANT ALL PRIVILEGES TO bob"),
        Statement::GrantAdmin { user: "bob".into() }
    );
    assert_eq!(
        one("REVOKE READ ON db FROM bob"),
        Statement::Revoke {
            privilege: Privilege::Read,
            database: "db".into(),
            user: "bob".into()
        }
    );
    assert_eq!(
        one("REVOKE ALL FROM bob"),
        Statement::RevokeAdmin { user: "bob".into() }
    );
    assert_eq!(one("SHOW USERS"), Statement::ShowUsers);
    assert_eq!(
        one("SHOW GRANTS FOR bob"),
        Statement::ShowGrants { user: "bob".into() }
    );
    let shown = format!("{:?}", one("CREATE USER a WITH PASSWORD 'secret'"));
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn unsupported_influxql_is_named() {
    for (q, what) in [
        ("SHOW SHARDS", "SHOW SHARDS"),
        ("DROP SHARD 1", "DROP SHARD"),
        (
            "DELETE FROM m WHERE time > 1 OR a = 'b'",
            "time in an OR in WHERE",
        ),
    ] {
        let e = err(q);
        assert!(
            e.starts_with(&format!("{what} is not supported")),
            "{q}: {e}"
        );
    }
}

#[test]
fn select_fields_and_sources() {
    let s = select(
        r#"SELECT *, "f 2"::field AS x, t::tag, time FROM m, "d"."r"."m2", d..m3, r./^c/, /x\/y/ LIMIT 5"#,
    );
    assert_eq!(
        s.fields,
        vec![
            SelectField::Wildcard(None),
            SelectField::Key {
                name: "f 2".into(),
                kind: Some(KeyKind::Field),
                alias: Some("x".into())
            },
            SelectField::Key {
                name: "t".into(),
                kind: Some(KeyKind::Tag),
                alias: None
            },
        ]
    );
    assert_eq!((s.limit, s.offset, s.descending), (5, 0, false));
    let src: Vec<(Option<&str>, Option<&str>, String)> = s
        .sources
        .iter()
        .map(|s| {
            let m = match &s.measurement {
                MeasurementMatch::Name(n) => n.clone(),
                MeasurementMatch::Regex(r) => format!("/{}/", r.as_str()),
            };
            (s.database.as_deref(), s.retention_policy.as_deref(), m)
        })
        .collect();
    assert_eq!(
        src,
        vec![
            (None, None, "m".to_string()),
            (Some("d"), Some("r"), "m2".to_string()),
            (Some("d"), None, "m3".to_string()),
            (None, Some("r"), "/^c/".to_string()),
            (None, None, "/x/y/".to_string()),
        ]
    );
    assert_eq!(
        s.condition,
        Condition {
            time_min_ns: TIME_MIN_NS,
            time_max_ns: TIME_MAX_NS + 1,
            tags: TagExpr::True
        }
    );
    let s = select("SELECT v FROM m ORDER BY time DESC LIMIT 2 OFFSET 3");
    assert_eq!((s.limit, s.offset, s.descending), (2, 3, true));
    let s = select("SELECT v FROM m ORDER BY asc");
    assert!(!s.descending);
    assert_eq!(
        err("SELECT v FROM m ORDER BY DESC, time ASC"),
        "only ORDER BY time supported at this time"
    );
    let s = select("select time as t, v from m");
    assert_eq!(s.time_alias.as_deref(), Some("t"));
    assert!(matches!(&s.sources[0].measurement, MeasurementMatch::Name(n) if n == "m"));
}

#[test]
fn bad_regex_is_an_error() {
    assert_eq!(
        err("SELECT * FROM /cp[u/"),
        "error parsing regexp: unclosed character class at line 1, char 15"
    );
    assert_eq!(
        err("SELECT * FROM /cpu"),
        "bad regex: cpu at line 1, char 15"
    );
}

#[test]
fn statement_errors_of_the_planner() {
    for (q, e) in [
        (
            "SELECT * FROM m WHERE time > '2020-13-01'",
            "invalid timestamp string",
        ),
        (
            "SELECT * FROM m WHERE time > 'abc'",
            "invalid operation: time and *influxql.StringLiteral are not compatible",
        ),
        (
            "SELECT time FROM m",
            "at least 1 non-time field must be queried",
        ),
        (
            "SELECT v FROM m GROUP BY time(1m)",
            "GROUP BY requires at least one aggregate function",
        ),
        (
            "SELECT v FROM m fill(none)",
            "fill(none) must be used with a function",
        ),
        (
            "SELECT mean(v), w FROM m",
            "mixing aggregate and non-aggregate queries is not supported",
        ),
        ("SELECT foo(v) FROM m", "undefined function foo()"),
        (
            "SELECT mean(v, 1) FROM m",
            "invalid number of arguments for mean, expected 1, got 2",
        ),
        ("SELECT mean(1) FROM m", "expected field argument in mean()"),
        (
            "SELECT mean(v) FROM m GROUP BY time(1m), time(2m)",
            "multiple time dimensions not allowed",
        ),
        (
            "SELECT mean(v) FROM m GROUP BY time(1m, 5)",
            "time dimension offset must be duration or now()",
        ),
        (
            "SELECT mean(v) FROM m GROUP BY time('a')",
            "time dimension must have duration argument",
        ),
    ] {
        assert_eq!(select_err(q), e, "{q}");
    }
}

#[test]
fn where_time_bounds() {
    let c = |q: &str| select(q).condition;
    let day = 1_577_836_800_000_000_000; // 2020-01-01
    assert_eq!(
        c("SELECT v FROM m WHERE time >= '2020-01-01T00:00:00Z' AND time < 1600000000000000000"),
        Condition {
            time_min_ns: day,
            time_max_ns: NOW,
            tags: TagExpr::True
        }
    );
    let w = c("SELECT v FROM m WHERE time > now() - 1h AND time <= '2020-01-01'");
    assert_eq!((w.time_min_ns, w.time_max_ns), (NOW - H + 1, day + 1));
    let w = c("SELECT v FROM m WHERE (10 < time AND (time = 20))");
    assert_eq!((w.time_min_ns, w.time_max_ns), (20, 21));
    let w = c("SELECT v FROM m WHERE time > 1h AND time < now() + 30m");
    assert_eq!((w.time_min_ns, w.time_max_ns), (H + 1, NOW + H / 2));
    let w = c("SELECT v FROM m WHERE time >= -1s");
    assert_eq!(w.time_min_ns, -1_000_000_000);
    let w = c("SELECT v FROM m WHERE time <= 9223372036854775806");
    assert_eq!(w.time_max_ns, i64::MAX);
    assert_eq!(w.time_min_ns, TIME_MIN_NS);
    let w = c("SELECT v FROM m WHERE time > 5 AND time < 3");
    assert!(w.is_empty_range());
}

#[test]
fn hostile_where_is_bounded() {
    let deep = format!(
        "SELECT v FROM m WHERE {}time > 0{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert_eq!(
        err(&deep),
        "parentheses nested too deep (at most 64) at line 1, char 87"
    );
    let long = format!(
        "SELECT v FROM m WHERE time > 0{}",
        " AND time > 0".repeat(100_000)
    );
    assert!(err(&long)
        .starts_with("too many operators in an expression (at most 256) at line 1, char "));
    let ok = format!(
        "SELECT v FROM m WHERE {}time > 0{}",
        "(".repeat(64),
        ")".repeat(64)
    );
    assert!(parse(&ok, NOW).is_ok());
    let ok = format!(
        "SELECT v FROM m WHERE time > 0{}",
        " AND time > 0".repeat(127)
    );
    assert!(parse(&ok, NOW).is_ok()); // 127 ANDs + 128 comparisons = 255 operators
    let over = format!(
        "SELECT v FROM m WHERE time > 0{}",
        " AND time > 0".repeat(128)
    );
    assert!(parse(&over, NOW).is_err());
}

#[test]
fn where_tags() {
    let w =
        select("SELECT v FROM m WHERE host = 'a' AND \"re gion\" != 'x y' AND 'b' = dc").condition;
    assert_eq!(
        w.tags,
        TagExpr::Eq {
            key: b"host".to_vec(),
            value: b"a".to_vec(),
            negate: false
        }
        .and(TagExpr::Eq {
            key: b"re gion".to_vec(),
            value: b"x y".to_vec(),
            negate: true
        })
        .and(TagExpr::Eq {
            key: b"dc".to_vec(),
            value: b"b".to_vec(),
            negate: false
        })
    );
    let tags: &[(&[u8], &[u8])] = &[(b"dc", b"b"), (b"host", b"a")];
    assert!(w.matches_tags(tags));
    assert!(w.matches(tags, 5));
    let tags: &[(&[u8], &[u8])] = &[(b"dc", b"b"), (b"host", b"a"), (b"re gion", b"x y")];
    assert!(!w.matches_tags(tags));
    let tags: &[(&[u8], &[u8])] = &[(b"host", b"a")];
    assert!(!w.matches_tags(tags));
    let empty = select("SELECT v FROM m WHERE host = ''").condition;
    let none: &[(&[u8], &[u8])] = &[];
    assert!(empty.matches_tags(none));
}

proptest::proptest! {
    /// Any text, and any sequence of InfluxQL-ish pieces, parses or errors: never a panic.
    #[test]
    fn parse_never_panics(q in "\\PC{0,80}") {
        let _ = parse(&q, NOW);
    }

    /// Token soup of SELECTs: what parses is planned, and what plans runs over a few rows;
    /// nothing panics.
    #[test]
    fn select_soup_plans_and_runs_without_panic(parts in proptest::collection::vec(proptest::sample::select(vec![
        "SELECT", "*", "FROM", "m", "WHERE", "time", ">", "<=", "=", "!=", "=~", "!~", "AND", "OR",
        "(", ")", "now()", "-", "+", "1h", "10s", "10", "2", "0", "3.5", "'2020-01-01'", "'a'",
        "v", "i", "s", "b", "host", "/h/", "/^m$/", "GROUP", "BY", "time(10s)", "time(1m, 5s)",
        "fill(linear)", "fill(previous)", "fill(0)", "fill(none)", "LIMIT", "OFFSET", "SLIMIT",
        "SOFFSET", "ORDER", "DESC", ",", "::", "tag", "field", "AS", "mean(v)", "count(i)",
        "max(v)", "first(s)", "top(v,", "bottom(i,", "percentile(v,", "sample(v,", "distinct(s)",
        "derivative(", "difference(", "moving_average(", "cumulative_sum(", "elapsed(",
        "integral(v)", "median(i)", "mode(b)", "spread(v)", "stddev(v)", "count(distinct(s))",
        "(SELECT", "*", "/", "%", ";",
    ]), 1..24)) {
        let q = format!("SELECT {}", parts.join(" "));
        if let Ok(statements) = parse(&q, NOW) {
            for st in statements {
                if let Statement::Select(s) = st {
                    if let Ok(p) = plan(&s, NOW, &|n| n == "v" || n == "i") {
                        let _ = crate::query::select::execute(&p, crate::query::select::sample_rows(NOW));
                    }
                }
            }
        }
    }

    /// Well-formed SELECTs from parts that combine in every way 1.x's grammar allows: each
    /// plans or errors, and each plan runs over a few rows without panic.
    #[test]
    fn select_shapes_run_without_panic(
        field in proptest::sample::select(vec![
            "*", "v", "v, host", "mean(v)", "count(i), sum(v)", "max(v), host", "top(v, host, 2)",
            "bottom(i, 3)", "percentile(v, 50)", "sample(v, 2)", "distinct(s)", "count(distinct(s))",
            "derivative(mean(v), 1s)", "difference(max(i))", "moving_average(mean(v), 2)",
            "cumulative_sum(count(v))", "elapsed(count(v), 1s)", "derivative(v)", "integral(v)",
            "median(i), mode(b), stddev(v), spread(i)", "mean(v) * 2 + sum(i)", "first(s), last(b)",
            "/v|i/", "non_negative_derivative(v, 1m)",
        ]),
        cond in proptest::sample::select(vec![
            "", "WHERE v > 1", "WHERE host = 'a' OR i < 0", "WHERE time >= now() - 2m AND time < now() - 10s",
            "WHERE host =~ /a/ AND time > now() - 100s", "WHERE s = 'x' AND b = true", "WHERE time > now() - 1h",
        ]),
        group in proptest::sample::select(vec![
            "", "GROUP BY host", "GROUP BY *", "GROUP BY time(10s)", "GROUP BY time(30s, 7s), host",
            "GROUP BY time(1s)", "GROUP BY /h/",
        ]),
        fill in proptest::sample::select(vec!["", "fill(none)", "fill(0)", "fill(previous)", "fill(linear)", "fill(1.5)"]),
        tail in proptest::sample::select(vec!["", "ORDER BY time DESC", "LIMIT 2", "LIMIT 1 OFFSET 3", "SLIMIT 1 SOFFSET 1", "ORDER BY time DESC LIMIT 2 SLIMIT 1"]),
        sub in proptest::bool::ANY,
    ) {
        let from = if sub { "(SELECT * FROM m)" } else { "m" };
        let q = format!("SELECT {field} FROM {from} {cond} {group} {fill} {tail}");
        if let Ok(statements) = parse(&q, NOW) {
            for st in statements {
                if let Statement::Select(s) = st {
                    if let Ok(p) = plan(&s, NOW, &|n| n == "v" || n == "i") {
                        let _ = crate::query::select::execute(&p, crate::query::select::sample_rows(NOW));
                    }
                }
            }
        }
    }

    #[test]
    fn parse_token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "SELECT", "*", "FROM", "WHERE", "time", ">", ">=", "<", "=", "!=", "AND", "OR", "(", ")",
        "now()", "-", "+", "1h", "10", "3.5", "'2020-01-01'", "'x", "\"m\"", "\"db\".", ".",
        "..", "/re/", "/", "LIMIT", "OFFSET", "ORDER", "BY", "DESC", ";", ",", "::", "tag",
        "field", "AS", "CREATE", "DATABASE", "WITH", "DURATION", "INF", "REPLICATION",
        "SHARD", "NAME", "RETENTION", "POLICY", "POLICIES", "ON", "DEFAULT", "ALTER", "DROP",
        "SHOW", "DATABASES", "host", "--", "/*", "*/", "\\", "µ", "\n",
    ]), 0..24)) {
        let q = parts.join(" ");
        let _ = parse(&q, NOW);
        let _ = parse(&parts.concat(), NOW);
    }
}
