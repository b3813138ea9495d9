//! The write server end to end: a real `lineshard` process, raw sockets and real clients.

mod common;

use common::{read_response, Server};
use std::io::Write;

fn create_db(s: &Server, db: &str) {
    let r = s.request(
        "POST",
        "/query",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("q=CREATE+DATABASE+%22{db}%22").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().trim(), r#"{"results":[{"statement_id":0}]}"#);
}

/// Rows of `SELECT * FROM m` as (columns, values).
fn select(s: &Server, db: &str, q: &str) -> (Vec<String>, Vec<Vec<serde_json::Value>>) {
    let target = format!("/query?db={db}&epoch=ns&q={}", common::urlencode(q));
    let r = s.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let series = &v["results"][0]["series"];
    if series.is_null() {
        assert!(v["results"][0]["error"].is_null(), "{v}");
        return (Vec::new(), Vec::new());
    }
    let cols = series[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let vals = series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    (cols, vals)
}

#[test]
fn ping_health_and_common_headers() {
    let s = Server::start(&["--cores", "1"]);
    let r = s.request("GET", "/ping", &[("X-Request-Id", "abc-123")], b"");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("X-Influxdb-Version"), Some("1.8.10"));
    assert!(r.header("X-Influxdb-Build").is_some());
    assert_eq!(r.header("Request-Id"), Some("abc-123"));
    assert_eq!(r.header("X-Request-Id"), Some("abc-123"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let r = s.request("HEAD", "/ping", &[], b"");
    assert_eq!(r.status, 204);
    let r = s.request("GET", "/ping?verbose=true", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"version":"1.8.10"}"#);
    let r = s.request("GET", "/health", &[], b"");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "pass");
    let r = s.request("OPTIONS", "/write", &[], b"");
    assert_eq!(r.status, 204);
    let r = s.request("GET", "/write?db=x", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn write_errors_before_the_body() {
    let s = Server::start(&["--cores", "1"]);
    let r = s.write("", "cpu v=1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (400, "database is required")
    );
    assert_eq!(r.header("X-Influxdb-Error"), Some("database is required"));
    let r = s.write("nope", "cpu v=1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (404, r#"database not found: "nope""#)
    );
    create_db(&s, "db");
    let r = s.request("POST", "/write?db=db&precision=us", &[], b"cpu v=1 1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (400, r#"invalid precision "us" (use n, u, ms, s, m or h)"#)
    );
    let r = s.request("POST", "/write?db=db&rp=nope", &[], b"cpu v=1 1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (500, "retention policy not found: nope")
    );
    let r = s.request("POST", "/write?db=db", &[], b"");
    assert_eq!(r.status, 204);
    let r = s.request("POST", "/write?db=db", &[], b"# only a comment\n\n   \n");
    assert_eq!(r.status, 204);
}

#[test]
fn write_and_read_back_every_type() {
    let s = Server::start(&["--cores", "2"]);
    create_db(&s, "db");
    let body = "cpu,host=a,region=eu f=1.5,i=-3i,b=true,s=\"hi \\\"there\\\"\" 1000\n\
                cpu,region=eu,host=b f=2,i=4i,b=F,s=\"x\" 2000\n\
                cpu,host=a,region=eu i=7i 1000\n";
    let r = s.write("db", body);
    assert_eq!(r.status, 204, "{}", r.text());
    let (cols, vals) = select(&s, "db", "SELECT * FROM cpu");
    assert_eq!(cols, ["time", "b", "f", "host", "i", "region", "s"]);
    assert_eq!(vals.len(), 2, "{vals:?}");
    // Same series and time: fields merge, the later write wins.
    assert_eq!(
        vals[0],
        serde_json::json!([1000, true, 1.5, "a", 7, "eu", "hi \"there\""])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(
        vals[1],
        serde_json::json!([2000, false, 2, "b", 4, "eu", "x"])
            .as_array()
            .unwrap()
            .clone()
    );
}

#[test]
fn partial_writes_keep_the_good_lines() {
    let s = Server::start(&["--cores", "2"]);
    create_db(&s, "db");
    let r = s.write("db", "m v=1 1\nm v= 2\nm v=3 3\n");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "partial write: unable to parse 'm v= 2': missing field value (line 2) dropped=0"
    );
    let (_, vals) = select(&s, "db", "SELECT v FROM m");
    assert_eq!(vals.len(), 2);
    let r = s.write("db", "bad\nalso bad\n");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "unable to parse 'bad': missing fields (line 1)\nunable to parse 'also bad': invalid field format (line 2)"
    );
    let r = s.write("db", "m,time=x v=1 5\nm v=5 5\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "partial write: invalid tag key: input tag \"time\" on measurement \"m\" is invalid dropped=1");
    let r = s.write("db", "m time=1 6\n");
    assert_eq!(r.error(), "partial write: invalid field name: input field \"time\" on measurement \"m\" is invalid dropped=1");
    let (_, vals) = select(&s, "db", "SELECT v FROM m");
    assert_eq!(vals.len(), 3);
}

#[test]
fn field_type_conflicts_across_batches_and_cores() {
    let s = Server::start(&["--cores", "2"]);
    create_db(&s, "db");
    assert_eq!(s.write("db", "cpu,host=h0 v=1.5 1").status, 204);
    // 64 series: with 2 cores some live on the other core than h0 and than the schema owner.
    let mut body = String::new();
    for i in 0..64 {
        body.push_str(&format!("cpu,host=h{i} v={i}i 2\n"));
    }
    body.push_str("cpu,host=ok w=1i 2\n");
    let r = s.write("db", &body);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "partial write: field type conflict: input field \"v\" on measurement \"cpu\" is type integer, already exists as type float dropped=64"
    );
    // Inside one batch: the first occurrence fixes the type.
    let r = s.write(
        "db",
        "new,host=a x=1i 1\nnew,host=b x=1.5 1\nnew,host=c x=2i 1\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "partial write: field type conflict: input field \"x\" on measurement \"new\" is type float, already exists as type integer dropped=1"
    );
    let (_, vals) = select(&s, "db", "SELECT * FROM new");
    assert_eq!(vals.len(), 2);
    let (cols, vals) = select(&s, "db", "SELECT * FROM cpu");
    assert_eq!(cols, ["time", "host", "v", "w"]);
    assert_eq!(vals.len(), 2, "{vals:?}");
}

#[test]
fn v2_write_endpoint() {
    let s = Server::start(&["--cores", "1"]);
    create_db(&s, "db");
    let r = s.request("POST", "/api/v2/write?bucket=&org=x", &[], b"m v=1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (
            404,
            r#"bucket name "" is missing a slash; not in "database/retention-policy" format"#
        )
    );
    let r = s.request("POST", "/api/v2/write?bucket=/rp", &[], b"m v=1");
    assert_eq!(
        (r.status, r.error().as_str()),
        (
            404,
            r#"bucket name "/rp" is in db/rp form but has an empty database"#
        )
    );
    let r = s.request(
        "POST",
        "/api/v2/write?bucket=db&precision=h",
        &[],
        b"m v=1 1",
    );
    assert_eq!(
        (r.status, r.error().as_str()),
        (400, r#"invalid precision "h" (use ns, us, ms or s)"#)
    );
    for (i, bucket) in ["db", "db/", "db/autogen"].iter().enumerate() {
        let r = s.request(
            "POST",
            &format!("/api/v2/write?bucket={bucket}&precision=s"),
            &[],
            format!("m v={i} {i}").as_bytes(),
        );
        assert_eq!(r.status, 204, "{bucket}: {}", r.text());
    }
    let (_, vals) = select(&s, "db", "SELECT v FROM m");
    assert_eq!(vals.len(), 3);
    assert_eq!(vals[2][0], 2_000_000_000i64);
}

#[test]
fn http_framing_chunked_continue_gzip_pipelining() {
    let s = Server::start(&["--cores", "1"]);
    create_db(&s, "db");
    // Chunked.
    let mut c = s.connect();
    c.write_all(b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nm v=1\r\n4\r\n 100\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 204);
    // 100-continue: the 100 comes before the body is sent.
    c.write_all(b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 100);
    c.write_all(b"m v=2 200").unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 204);
    // 100-continue on a request that fails its early checks: no 100, the error at once.
    c.write_all(b"POST /write?db=nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n").unwrap();
    let r = read_response(&mut c, false).unwrap();
    assert_eq!(r.status, 404);
    // Gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"m v=3 300\n").unwrap();
    let gz = gz.finish().unwrap();
    let r = s.request("POST", "/write?db=db", &[("Content-Encoding", "gzip")], &gz);
    assert_eq!(r.status, 204, "{}", r.text());
    // Pipelining: three requests in one write, three answers in order.
    let mut c = s.connect();
    let one = b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nm v=4 400";
    let two = b"GET /ping?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    let three = b"POST /write?db= HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    c.write_all(&[&one[..], &two[..], &three[..]].concat())
        .unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 204);
    assert_eq!(read_response(&mut c, false).unwrap().status, 200);
    assert_eq!(read_response(&mut c, false).unwrap().status, 400);
    // HTTP/1.0 closes after the answer.
    let mut c = s.connect();
    c.write_all(b"GET /ping HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, false).unwrap().status, 204);
    let mut rest = Vec::new();
    use std::io::Read;
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0);
    let (_, vals) = select(&s, "db", "SELECT v FROM m");
    assert_eq!(vals.len(), 4, "{vals:?}");
}

#[test]
fn body_size_limit() {
    let s = Server::start(&["--cores", "1", "--max-body-size", "1000"]);
    create_db(&s, "db");
    let big = "m v=1\n".repeat(200);
    let r = s.write("db", &big);
    assert_eq!(
        (r.status, r.error().as_str()),
        (413, "Request Entity Too Large")
    );
    // Gzip: the compressed body is small, the inflated one is not.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 1000);
    let r = s.request("POST", "/write?db=db", &[("Content-Encoding", "gzip")], &gz);
    assert_eq!(
        (r.status, r.error().as_str()),
        (413, "Request Entity Too Large")
    );
    assert_eq!(s.write("db", "m v=1 1").status, 204);
}

#[test]
fn drop_database_removes_its_data() {
    let s = Server::start(&["--cores", "2"]);
    create_db(&s, "db");
    assert_eq!(
        s.write("db", "m,h=a v=1 1\nm,h=b v=2 2\nm,h=c v=3 3")
            .status,
        204
    );
    assert_eq!(select(&s, "db", "SELECT * FROM m").1.len(), 3);
    let r = s.request(
        "POST",
        &format!("/query?q={}", common::urlencode("DROP DATABASE db")),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.write("db", "m v=1 1").status, 404);
    create_db(&s, "db");
    assert_eq!(select(&s, "db", "SELECT * FROM m").1.len(), 0);
    // The old field types went with the data: v may now be an integer.
    assert_eq!(s.write("db", "m v=1i 1").status, 204);
}

#[test]
fn refuses_a_port_in_use() {
    let s = Server::start(&["--cores", "1"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lineshard"))
        .args(["--bind", &s.addr.to_string(), "--cores", "1", "--data-dir"])
        .arg(s.dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn retention_policies_and_several_statements() {
    let s = Server::start(&["--cores", "2"]);
    let q = |q: &str| {
        let r = s.request(
            "POST",
            &format!("/query?q={}", common::urlencode(q)),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    assert_eq!(
        q("CREATE DATABASE db; CREATE RETENTION POLICY short ON db DURATION 1h REPLICATION 1 DEFAULT"),
        concat!(r#"{"results":[{"statement_id":0},{"statement_id":1}]}"#, "\n")
    );
    assert_eq!(
        q("SHOW RETENTION POLICIES ON db"),
        concat!(
            r#"{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,false],["short","1h0m0s","1h0m0s",1,true]]}]}]}"#,
            "\n"
        )
    );
    // The default policy is now `short`: a point from 1970 is beyond it, a point of now is not.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = format!("m v=1 1\nm v=2 {now_s}\nm v=3 2\n");
    let r = s.request("POST", "/write?db=db&precision=s", &[], body.as_bytes());
    assert_eq!(
        (r.status, r.error().as_str()),
        (
            400,
            "partial write: points beyond retention policy dropped=2"
        )
    );
    assert_eq!(select(&s, "db", "SELECT v FROM db.short.m").1.len(), 1);
    // Writing to the infinite policy by name keeps old points.
    let r = s.request(
        "POST",
        "/write?db=db&rp=autogen&precision=s",
        &[],
        b"m v=1 1",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(select(&s, "db", "SELECT v FROM db.autogen.m").1.len(), 1);
    // DROP RETENTION POLICY takes its data along.
    q("DROP RETENTION POLICY autogen ON db");
    q("CREATE RETENTION POLICY autogen ON db DURATION INF REPLICATION 1");
    assert_eq!(select(&s, "db", "SELECT v FROM db.autogen.m").1.len(), 0);
    // A statement error is a 200 with the error in its result.
    let t = q("SHOW RETENTION POLICIES ON nope");
    assert_eq!(
        t,
        concat!(
            r#"{"results":[{"statement_id":0,"error":"database not found: nope"}]}"#,
            "\n"
        )
    );
    let r = s.request("GET", "/query?q=SELEC", &[], b"");
    assert_eq!(r.status, 400);
    assert!(
        r.error().starts_with("error parsing query: "),
        "{}",
        r.text()
    );
}

#[test]
fn catalog_survives_a_restart_and_another_core_count() {
    let mut s = Server::start(&["--cores", "2"]);
    create_db(&s, "kept");
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    s.kill();
    let s = Server::start_in(dir, &["--cores", "1"]);
    let r = s.request(
        "GET",
        &format!("/query?q={}", common::urlencode("SHOW DATABASES")),
        &[],
        b"",
    );
    assert!(r.text().contains(r#"["kept"]"#), "{}", r.text());
    assert_eq!(s.write("kept", "m v=1 1").status, 204);
}
