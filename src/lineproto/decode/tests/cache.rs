//! The key cache: hits decode as a fresh decoder would, key ids, cached series keys.

use crate::lineproto::{DecodeOptions, Decoder, Line};

/// Over a stream that overflows the cache (6000 keys for 4096 slots, so slots are taken
/// over again and again), a non-zero key id always names one key, a key seen again while
/// still cached keeps its id, and a key too long to cache gets 0.
#[test]
fn key_ids_name_one_key_each() {
    let opts = DecodeOptions::default();
    let mut dec = Decoder::new();
    let mut key_of_id: std::collections::HashMap<u64, Vec<u8>> = Default::default();
    let (mut hits, mut x) = (0, 12345u64);
    let mut last: Option<(Vec<u8>, u64)> = None;
    for n in 0..40_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let host = if n % 2 == 1 {
            last.as_ref().map(|l| l.0.clone())
        } else {
            None
        };
        let line = match host {
            Some(h) => h,
            None => format!(
                "cpu,host=h{},dc=d{} v=1i {n}",
                (x >> 33) % 6000,
                (x >> 20) % 3
            )
            .into_bytes(),
        };
        let mut l = dec.decode(&line, &opts).unwrap().unwrap();
        let id = l.key_id();
        let key = l.series_key().to_vec();
        assert_ne!(id, 0, "a short key is cached");
        let prev = key_of_id.entry(id).or_insert_with(|| key.clone());
        assert_eq!(*prev, key, "id {id} names two keys");
        if let Some((_, last_id)) = &last {
            if n % 2 == 1 {
                assert_eq!(id, *last_id, "the same line twice in a row keeps its id");
                hits += 1;
            }
        }
        last = Some((line, id));
    }
    assert!(hits > 19_000);
    assert!(
        key_of_id.len() > 6000,
        "slots were taken over: {}",
        key_of_id.len()
    );
    let long = format!("cpu,host={} v=1i 1", "x".repeat(600));
    let l = dec.decode(long.as_bytes(), &opts).unwrap().unwrap();
    assert_eq!(l.key_id(), 0);
}

#[test]
fn second_sighting_of_a_key_reuses_series_key_and_hash() {
    let opts = DecodeOptions::default();
    let mut dec = Decoder::new();
    let line: &[u8] = b"cpu,hostname=host_1,region=r,datacenter=d,rack=1 u=1i,v=2i 1000";
    let key = dec
        .decode(line, &opts)
        .unwrap()
        .unwrap()
        .series_key()
        .to_vec();
    let l = dec.decode(line, &opts).unwrap().unwrap();
    assert_eq!(l.dec.cached_tags, l.dec.line_slot, "a hit");
    assert!(l.ready_slot().is_some(), "key cached with the entry");
    let mut l = l;
    assert_eq!(l.series_key(), key.as_slice());
    assert_eq!(l.series_hash(), crate::lineproto::series_hash(&key));
}

#[test]
fn cache_hit_gives_the_same_line_as_a_fresh_decoder() {
    let opts = DecodeOptions::default();
    let mut warm = Decoder::new();
    let lines: [&[u8]; 6] = [
        b"m,b=2,a=1 v=1i",
        b"m,a=1 v=1i",
        b"m,b=2,a=1 v=5i",
        b"m,b=2,a=1 v=2i,w=\"x\"",
        b"m,b=2,a=1 v=x",
        b"m,b=2,a=1 v=3i",
    ];
    for line in lines {
        let mut fresh = Decoder::without_key_cache();
        let probe = |mut l: Line<'_, '_>| {
            let key = l.series_key().to_vec();
            let hash = l.series_hash();
            let tags: Vec<_> = l
                .tags()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            (key, hash, tags, l.fields().count())
        };
        let a = warm.decode(line, &opts).map(|l| l.map(probe));
        let b = fresh.decode(line, &opts).map(|l| l.map(probe));
        assert_eq!(a, b);
    }
}
