use super::*;

fn index(keys: &[&str]) -> SeriesIndex {
    let mut ix = SeriesIndex::default();
    for k in keys {
        assert!(ix.insert(k.as_bytes()), "{k}");
    }
    ix
}

fn keys(ix: &SeriesIndex, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&s| String::from_utf8(ix.series_key(s)).unwrap())
        .collect()
}

fn eq(k: &str, v: &str, negate: bool) -> TagExpr {
    TagExpr::Eq {
        key: k.into(),
        value: v.into(),
        negate,
    }
}

fn re(k: &str, r: &str, negate: bool) -> TagExpr {
    TagExpr::Regex {
        key: k.into(),
        re: regex::bytes::Regex::new(r).unwrap(),
        negate,
    }
}

const ALL: &dyn Fn(&[u8]) -> bool = &|_| true;

#[test]
fn insert_dedups_and_rebuilds_keys() {
    let mut ix = index(&[
        "cpu,host=a,region=x",
        "cpu,host=b",
        "mem",
        r"m\ 1,k\=y=v\,1",
    ]);
    assert!(!ix.insert(b"cpu,host=a,region=x"));
    assert!(!ix.insert(b"cpu,host=b"));
    assert!(!ix.insert(b"mem"));
    assert!(!ix.insert(br"m\ 1,k\=y=v\,1"));
    // Same values, other combination: new.
    assert!(ix.insert(b"cpu,host=a"));
    assert!(ix.insert(b"cpu,host=b,region=x"));
    assert!(ix.insert(b"disk,host=a"));
    assert_eq!(ix.len(), 7);
    let all = ix.lookup(ALL, &TagExpr::True);
    assert_eq!(
        keys(&ix, &all),
        [
            "cpu,host=a,region=x",
            "cpu,host=b",
            "mem",
            r"m\ 1,k\=y=v\,1",
            "cpu,host=a",
            "cpu,host=b,region=x",
            "disk,host=a"
        ]
    );
    assert_eq!(ix.measurement_of(all[3]), b"m 1");
    assert_eq!(ix.measurement_of(all[2]), b"mem");
    let tags: Vec<_> = ix.tags_of(all[3]).collect();
    assert_eq!(tags, [(&b"k=y"[..], &b"v,1"[..])]);
    let mut k = ix.tag_keys(b"cpu").unwrap();
    k.sort();
    assert_eq!(k, [&b"host"[..], b"region"]);
    let mut v = ix.tag_values(b"cpu", b"host");
    v.sort();
    assert_eq!(v, [&b"a"[..], b"b"]);
    assert!(ix.tag_values(b"mem", b"host").is_empty());
}

#[test]
fn lookups_follow_influxql_semantics() {
    let ix = index(&[
        "cpu,host=a,region=x", // 0
        "cpu,host=b",          // 1
        "cpu,region=y",        // 2
        "mem,host=a",          // 3
        "mem",                 // 4
    ]);
    let q = |e: &TagExpr| keys(&ix, &ix.lookup(ALL, e));
    assert_eq!(
        q(&eq("host", "a", false)),
        ["cpu,host=a,region=x", "mem,host=a"]
    );
    // A missing tag reads as '': != matches it, = '' matches only it.
    assert_eq!(
        q(&eq("host", "a", true)),
        ["cpu,host=b", "cpu,region=y", "mem"]
    );
    assert_eq!(q(&eq("host", "", false)), ["cpu,region=y", "mem"]);
    assert_eq!(q(&eq("host", "", true)).len(), 3);
    assert_eq!(q(&re("host", "^(a|b)$", false)).len(), 3);
    assert_eq!(q(&re("host", "^(a|b)$", true)), ["cpu,region=y", "mem"]);
    // A regex matching '' matches the series without the tag.
    assert_eq!(
        q(&re("host", "^b?$", false)),
        ["cpu,host=b", "cpu,region=y", "mem"]
    );
    assert_eq!(q(&re("nokey", ".*", false)).len(), 5);
    assert_eq!(
        q(&eq("host", "a", false).and(eq("region", "x", false))),
        ["cpu,host=a,region=x"]
    );
    assert_eq!(
        q(&TagExpr::Or(
            Box::new(eq("host", "b", false)),
            Box::new(eq("region", "y", false))
        )),
        ["cpu,host=b", "cpu,region=y"]
    );
    assert_eq!(
        q(&TagExpr::Or(
            Box::new(eq("host", "a", true)),
            Box::new(eq("region", "x", false))
        ))
        .len(),
        4
    );
    assert!(q(&TagExpr::False).is_empty());
    // Restricted to one measurement.
    let mem = ix.lookup(&|m: &[u8]| m == b"mem", &eq("host", "z", true));
    assert_eq!(keys(&ix, &mem), ["mem,host=a", "mem"]);
}

/// The index's answer equals a scan of every series with `TagExpr::matches`.
#[test]
fn lookup_equals_scan() {
    let mut all = Vec::new();
    for i in 0..300u32 {
        let mut k = format!("m{}", i % 3);
        if i % 2 == 0 {
            k += &format!(",a=v{}", i % 7);
        }
        if i % 5 != 0 {
            k += &format!(",b=w{}", i % 11);
        }
        k += &format!(",c=u{i}");
        all.push(k);
    }
    let ix = index(&all.iter().map(String::as_str).collect::<Vec<_>>());
    let exprs = [
        eq("a", "v1", false),
        eq("a", "v1", true),
        eq("b", "", false),
        re("b", "w[12]", false),
        re("a", "^$", true),
        eq("a", "v2", false).and(re("b", "1", true)),
        TagExpr::Or(
            Box::new(eq("a", "", false)),
            Box::new(re("c", "u1.$", false)),
        ),
    ];
    for e in &exprs {
        let got = keys(&ix, &ix.lookup(ALL, e));
        let want: Vec<String> = all
            .iter()
            .filter(|k| e.matches(&crate::shard::key::parse_tags(k.as_bytes())))
            .cloned()
            .collect();
        assert_eq!(got, want, "{e:?}");
    }
}

/// The index's share of the RSS-per-series budget (`scripts/rss-per-series.py`: 1 M one-point
/// series `cpu,host=h<i % 1000>,id=s<i>`, at most 150 B per series with everything else at ~103).
#[test]
fn memory_per_series_on_the_rss_shape() {
    const N: usize = 1_000_000;
    let mut ix = SeriesIndex::default();
    let mut key = Vec::new();
    for i in 0..N {
        key.clear();
        key.extend_from_slice(format!("cpu,host=h{},id=s{i}", i % 1000).as_bytes());
        assert!(ix.insert(&key));
    }
    assert!(!ix.insert(b"cpu,host=h7,id=s7"));
    let per_series = ix.heap_bytes() as f64 / N as f64;
    eprintln!("series index: {per_series:.1} B per series");
    assert!(per_series <= 45.0, "{per_series:.1} B per series");
}

/// Series made only of shared values (a cross product of two tags) are found again through the
/// hash of their value ids, also those whose values became shared after they were inserted.
#[test]
fn cross_products_dedup() {
    let mut ix = SeriesIndex::default();
    let key = |a: usize, b: usize| format!("m,a=a{a},b=b{b}").into_bytes();
    // Row by row: each series' `b` value is shared only once later rows come.
    for a in 0..40 {
        for b in 0..40 {
            assert!(ix.insert(&key(a, b)), "{a} {b}");
        }
    }
    assert_eq!(ix.len(), 1600);
    for a in 0..40 {
        for b in 0..40 {
            assert!(!ix.insert(&key(a, b)), "{a} {b}");
        }
    }
    assert!(ix.insert(b"m,a=a1"));
    assert!(!ix.insert(b"m,a=a1"));
    assert!(ix.insert(b"m,a=a1,b=b1,c=x"));
    assert_eq!(ix.len(), 1602);
}

#[test]
fn literal_regexes_are_hash_lookups() {
    let lit = |p: &str| literal_alternatives(p);
    let v = |xs: &[&str]| Some(xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
    assert_eq!(lit("^(a|b)$"), v(&["a", "b"]));
    assert_eq!(lit("^host1$"), v(&["host1"]));
    assert_eq!(
        lit(r"^(h\.example\.com|x\-1)$"),
        v(&["h.example.com", "x-1"])
    );
    for p in [
        "^(a|)$", "a", "^a", "^a.$", "^(?i)a$", r"^a\$", r"^a\d$", "^(a|b)c$", "^[ab]$", "^$",
    ] {
        assert_eq!(lit(p), None, "{p}");
    }
    // Same answers as the regex itself.
    let ix = index(&["m,h=a", "m,h=b", "m,h=ab", "m", "n,h=a"]);
    for p in ["^(a|b)$", "^a$", "^(zz|ab)$"] {
        let want = keys(
            &ix,
            &ix.lookup(ALL, &re("h", &format!("{p}|^never-{p}"), false)),
        );
        assert_eq!(keys(&ix, &ix.lookup(ALL, &re("h", p, false))), want, "{p}");
        let want = keys(
            &ix,
            &ix.lookup(ALL, &re("h", &format!("{p}|^never-{p}"), true)),
        );
        assert_eq!(keys(&ix, &ix.lookup(ALL, &re("h", p, true))), want, "{p}");
    }
}
