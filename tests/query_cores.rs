//! A query's meaning does not depend on the core that receives it. A field's type is known
//! for sure only at its measurement's schema owner and at the cores that wrote it: a body
//! written once lands on one core, then every query comes on a fresh connection (spread over
//! the cores by SO_REUSEPORT), enough times that both cores answer many of them.

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
