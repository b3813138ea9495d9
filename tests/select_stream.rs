//! A large raw SELECT asked in chunks is read in time windows and sent window by window: its
//! answer is the same as the whole answer (the same rows in the same order, cut into parts
//! flagged `partial` as 1.x flags them), whatever the data's split between cores, segment files
//! and memtables; and the server's memory while it streams stays far below the answer's size.

mod common;

use common::Server;
use serde_json::Value;

/// 2020-01-01T00:00:00Z.
const T0: i64 = 1_577_836_800_000_000_000;
const SEC: i64 = 1_000_000_000;

/// Writes `n` points per host (20 hosts) of `cpu`, one per second, and a few of `cpu2` and
/// `mem`, in bodies on fresh connections; some times are written twice (the later wins).
fn load(s: &Server, n: i64) {
    s.create_db("db");
    let mut lines = Vec::new();
    for t in 0..n {
        for h in 0..20 {
            let v = (t * 7 + h * 13) % 1000;
            lines.push(format!(
                "cpu,host=h{h},dc=d{} v={}.5,i={}i {}",
                h % 3,
                v,
                t - h,
                T0 + t * SEC
            ));
        }
        if t % 100 == 0 {
            lines.push(format!("cpu2,host=x v={t} {}", T0 + t * SEC + 1));
            lines.push(format!("mem used={t}i {}", T0 + t * SEC));
        }
    }
    // Rewrites of some points, after the rest (so segments and memtables both hold some).
    for t in (0..n).step_by(97) {
        lines.push(format!("cpu,host=h1,dc=d1 v=-1 {}", T0 + t * SEC));
    }
    // Two shard groups (7-day, from Monday 2019-12-30 and 2020-01-06) that hold other tag sets.
    lines.push(format!("sg,t=a v=1 {T0}"));
    lines.push(format!("sg,t=b v=2 {}", T0 + 8 * 86_400 * SEC));
    for chunk in lines.chunks(2000) {
        let r = s.write("db", &chunk.join("\n"));
        assert_eq!(r.status, 204, "{}", r.text());
    }
}

fn get(s: &Server, q: &str, params: &str) -> Vec<u8> {
    let target = format!("/query?db=db&q={}{params}", common::urlencode(q));
    let r = s.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200, "{q}: {}", r.text());
    r.body
}

/// A chunked answer's parts, each checked for 1.x's `partial` flags, merged back into one
/// answer per statement as the whole answer has it.
fn merge_parts(body: &[u8]) -> (Value, usize) {
    let parts: Vec<Value> = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|p| p.expect("each part is JSON"))
        .collect();
    let mut series: Vec<Value> = Vec::new();
    let n = parts.len();
    let mut error = None;
    for (i, p) in parts.iter().enumerate() {
        let r = &p["results"][0];
        assert_eq!(r["statement_id"], 0);
        if let Some(e) = r.get("error") {
            error = Some(e.clone());
            continue;
        }
        // Every part but the statement's last is partial.
        assert_eq!(
            r.get("partial").is_some(),
            i + 1 < n,
            "part {i} of {n}: {r}"
        );
        for s in r["series"].as_array().cloned().unwrap_or_default() {
            let piece_partial = s.get("partial").is_some();
            let mut s = s;
            s.as_object_mut().unwrap().remove("partial");
            let values = s["values"].as_array().cloned().unwrap_or_default();
            match series.last_mut() {
                Some(last)
                    if last["name"] == s["name"]
                        && last["tags"] == s["tags"]
                        && last.get("more") == Some(&Value::Bool(true)) =>
                {
                    assert_eq!(last["columns"], s["columns"]);
                    last["values"].as_array_mut().unwrap().extend(values);
                }
                _ => series.push(s),
            }
            let last = series.last_mut().unwrap().as_object_mut().unwrap();
            if piece_partial {
                last.insert("more".into(), Value::Bool(true));
            } else {
                last.remove("more");
            }
        }
    }
    for s in &series {
        assert!(
            s.get("more").is_none(),
            "a series ends partial: {}",
            s["name"]
        );
    }
    let mut r = serde_json::json!({"statement_id": 0});
    if !series.is_empty() {
        r["series"] = Value::Array(series);
    }
    if let Some(e) = error {
        r = serde_json::json!({"statement_id": 0, "error": e});
    }
    (serde_json::json!({ "results": [r] }), n)
}

#[test]
fn chunked_selects_read_in_windows_answer_as_whole_ones() {
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "[data]\nmemtable-max-bytes = 1048576\n").unwrap();
    let s = Server::start(&["--cores", "2", "--config", conf.path().to_str().unwrap()]);
    load(&s, 1500);
    let mid = T0 + 700 * SEC;
    let queries = [
        "SELECT * FROM cpu".to_string(),
        "SELECT v, i, host FROM cpu WHERE host = 'h3' OR dc = 'd2'".to_string(),
        "SELECT * FROM /cpu|mem/ ORDER BY time DESC".to_string(),
        format!(
            "SELECT v * 2, i FROM cpu WHERE v > 500 AND time >= {mid} AND time < {}",
            mid + 300 * SEC
        ),
        "SELECT v FROM cpu WHERE time > now() - 1h".to_string(),
        "SELECT * FROM cpu WHERE host = 'nope'".to_string(),
        "SELECT used, v FROM mem, cpu2 WHERE time < '2020-01-01T00:10:00Z'".to_string(),
        format!("SELECT v FROM cpu WHERE time >= {mid} ORDER BY time DESC tz('Europe/Paris')"),
        // LIMIT and OFFSET count a measurement's rows across its windows.
        "SELECT * FROM cpu LIMIT 3000 OFFSET 2500".to_string(),
        "SELECT v FROM /cpu|mem/ WHERE host = 'h3' ORDER BY time DESC LIMIT 50 OFFSET 10"
            .to_string(),
        "SELECT i FROM cpu LIMIT 1".to_string(),
        "SELECT used, v FROM mem, cpu2 OFFSET 29990".to_string(),
        "SELECT * FROM cpu OFFSET 40000".to_string(),
        // Several sources, each its own measurement, answered in name order (reversed by DESC).
        "SELECT v, used FROM cpu2, mem, cpu WHERE host != 'h1' LIMIT 700 OFFSET 100".to_string(),
        "SELECT * FROM cpu, cpu".to_string(),
        "SELECT used, v FROM /cpu/, mem ORDER BY time DESC".to_string(),
        // SLIMIT and SOFFSET count each measurement's series apart (a streamed measurement is
        // one series: SOFFSET skips each, SLIMIT keeps each).
        "SELECT v FROM /cpu|mem/ SLIMIT 1 SOFFSET 1".to_string(),
        "SELECT * FROM /cpu/ ORDER BY time DESC SLIMIT 1".to_string(),
        "SELECT used, v FROM cpu2, mem, cpu WHERE host != 'h1' LIMIT 5 SOFFSET 1".to_string(),
        "SELECT v FROM /cpu/ LIMIT 3 OFFSET 29995 SOFFSET 1".to_string(),
        "SELECT v FROM /cpu/ OFFSET 29990 SLIMIT 1".to_string(),
        // GROUP BY tags: each tag set in its windows, tag sets of few points read together.
        "SELECT * FROM cpu GROUP BY host".to_string(),
        "SELECT v FROM cpu GROUP BY * ORDER BY time DESC LIMIT 700 OFFSET 3".to_string(),
        "SELECT v, i FROM cpu WHERE v > 100 GROUP BY dc".to_string(),
        "SELECT v FROM cpu GROUP BY /o/ LIMIT 2".to_string(),
        "SELECT used, v FROM mem, cpu2 GROUP BY host".to_string(),
        format!("SELECT i FROM cpu WHERE time >= {mid} GROUP BY host, dc SLIMIT 3 SOFFSET 2"),
        "SELECT v FROM cpu GROUP BY nope, dc ORDER BY time DESC SLIMIT 1".to_string(),
        // Tag sets of few points: several read in one window, each with its LIMIT and OFFSET.
        format!("SELECT * FROM cpu WHERE time >= {mid} AND time < {} GROUP BY *", mid + 20 * SEC),
        format!(
            "SELECT v FROM cpu WHERE time >= {mid} AND time < {} GROUP BY host ORDER BY time DESC LIMIT 3 OFFSET 2",
            mid + 20 * SEC
        ),
        // Shard groups that pick different tag sets: gathered, also when asked in chunks.
        "SELECT v FROM sg GROUP BY t SLIMIT 1".to_string(),
    ];
    for q in &queries {
        for epoch in ["ns", "rfc3339"] {
            let extra = if epoch == "ns" { "&epoch=ns" } else { "" };
            let whole: Value = serde_json::from_slice(&get(&s, q, extra)).unwrap();
            // Small chunks: small windows, many of them.
            let body = get(&s, q, &format!("{extra}&chunked=true&chunk_size=100"));
            let (merged, parts) = merge_parts(&body);
            assert_eq!(merged, whole, "{q} (epoch {epoch})");
            let rows: usize = whole["results"][0]["series"].as_array().map_or(0, |a| {
                a.iter()
                    .map(|s| s["values"].as_array().unwrap().len())
                    .sum()
            });
            assert!(parts >= rows / 100, "{q}: {parts} parts for {rows} rows");
        }
    }
    // The largest answer took more than one window on both cores: many parts, every row.
    let (merged, parts) = merge_parts(&get(
        &s,
        "SELECT * FROM cpu",
        "&epoch=ns&chunked=true&chunk_size=100",
    ));
    let values = merged["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap();
    assert_eq!(values.len(), 1500 * 20);
    assert!(parts >= 300);
    let times: Vec<i64> = values.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
}

/// Peak memory (VmHWM) of the server while a chunked SELECT of the whole data streams, against
/// the answer's size: a gathered answer holds every row (hundreds of bytes each), a streamed
/// one a window of them.
#[test]
fn a_chunked_select_holds_a_window_not_the_answer() {
    let s = Server::start(&["--cores", "2"]);
    s.create_db("db");
    let hosts = 50;
    let per_host = 12_000i64;
    let mut body = String::new();
    for t in 0..per_host {
        for h in 0..hosts {
            body.push_str(&format!(
                "big,host=h{h} a={t}.25,b={}i,c=\"some text {t}\" {}\n",
                t * h,
                T0 + t * SEC
            ));
        }
        if (t + 1) % 200 == 0 {
            assert_eq!(s.write("db", &body).status, 204);
            body.clear();
        }
    }
    let hwm = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let pid = s.child.id();
    let before = hwm(pid);
    // Read the answer a part at a time, as a client would.
    let mut conn = s.connect();
    let target = format!(
        "/query?db=db&chunked=true&q={}",
        common::urlencode("SELECT * FROM big")
    );
    use std::io::{Read, Write};
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    let after = hwm(pid);
    let rows = (hosts as usize) * (per_host as usize);
    assert!(total > rows * 40, "the answer came whole: {total} bytes");
    let grown = after.saturating_sub(before);
    // Gathered, the 600 K rows of this answer take ~300 MB (rows, then their JSON).
    assert!(
        grown < 100 << 20,
        "peak memory grew by {} MB while streaming {} MB of answer",
        grown >> 20,
        total >> 20
    );
}
