//! A query's meaning (and its limits) do not depend on the core that receives it. A field's
//! type is known for sure only at its measurement's schema owner and at the cores that wrote
//! it: a body written once lands on one core, then every query comes on a fresh connection
//! (spread over the cores by SO_REUSEPORT), enough times that both cores answer many of them.

mod common;

use common::Server;

#[test]
fn field_names_mean_fields_on_every_core() {
    let s = Server::start(&["--cores", "2"]);
    s.create_db("db");
    let body = "n,host=a s=\"x\",i=1i,f=1.5 1000000000\nn,host=b s=\"y\",i=2i,f=2.5 2000000000\n";
    assert_eq!(s.write("db", body).status, 204);
    for k in 0..40 {
        // A string field compared to a string: a field filter, not a tag predicate.
        let v = s.query("SELECT host, i FROM db..n WHERE s = 'x'");
        let values = &v["results"][0]["series"][0]["values"];
        assert_eq!(
            values,
            &serde_json::json!([[1_000_000_000i64, "a", 1]]),
            "try {k}: {v}"
        );
        // A regex source reads its fields' types from every core.
        let v = s.query("SELECT host, i FROM db../n/ WHERE s != 'x'");
        let values = &v["results"][0]["series"][0]["values"];
        assert_eq!(
            values,
            &serde_json::json!([[2_000_000_000i64, "b", 2]]),
            "try {k}: {v}"
        );
        // Arithmetic is type-checked against every field's type.
        let v = s.query("SELECT s + 1 FROM db..n");
        assert_eq!(
            v["results"][0]["error"],
            "type error: s::string + 1: incompatible types: string and integer",
            "try {k}: {v}"
        );
    }
}

/// `[coordinator] query-timeout` stops a SELECT with 1.x's statement error on whichever core
/// answers it, leaves nothing running (`SHOW QUERIES`), and the cores go on writing and answering.
/// A SELECT asks every core, so none ends within 1 ns; the answers are checked to be either the
/// timeout or the right answer, and at least one timeout must be seen.
#[test]
fn query_timeout_stops_a_select_on_every_core() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lineshard.toml");
    std::fs::write(&conf, "[coordinator]\nquery-timeout = \"1ns\"\n").unwrap();
    let s = Server::start(&["--cores", "2", "--config", conf.to_str().unwrap()]);
    s.create_db("db");
    let body: String = (0..2000i64)
        .map(|i| {
            format!(
                "m,host=h{} v={i} {}\n",
                i % 50,
                1_000_000_000 + i * 1_000_000_000
            )
        })
        .collect();
    assert_eq!(s.write("db", &body).status, 204);
    let timed_out = serde_json::json!({"results": [{"statement_id": 0, "error": "query-timeout limit exceeded"}]});
    let mut timeouts = 0;
    for (k, q) in [
        "SELECT count(v) FROM db..m",
        "SELECT v FROM db..m WHERE host = 'h3' LIMIT 2",
        "SELECT mean(v) FROM db..m GROUP BY host",
    ]
    .iter()
    .cycle()
    .take(60)
    .enumerate()
    {
        let v = s.query(q);
        if v == timed_out {
            timeouts += 1;
            continue;
        }
        // A run that beat the timer must still be right.
        let values = &v["results"][0]["series"][0]["values"];
        let right = match k % 3 {
            0 => values == &serde_json::json!([[0, 2000]]),
            1 => values == &serde_json::json!([[4_000_000_000i64, 3], [54_000_000_000i64, 53]]),
            _ => v["results"][0]["series"].as_array().map(Vec::len) == Some(50),
        };
        assert!(right, "try {k}, {q}: {v}");
    }
    assert!(
        timeouts > 0,
        "no SELECT was stopped by a 1 ns query-timeout"
    );
    let shown = s.query("SHOW QUERIES");
    let running = &shown["results"][0]["series"][0]["values"];
    assert_eq!(
        running.as_array().map(Vec::len),
        Some(1),
        "left running: {shown}"
    );
    assert_eq!(running[0][1], "SHOW QUERIES");
    assert_eq!(s.write("db", "m,host=h0 v=1 1\n").status, 204);
    let v = s.query("SHOW MEASUREMENTS ON db");
    assert_eq!(
        v["results"][0]["series"][0]["values"],
        serde_json::json!([["m"]])
    );
}
