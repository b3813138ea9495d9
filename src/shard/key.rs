//! Series keys: reading the canonical escaped key back, and the owner function.

use crate::lineproto::{unescape_measurement, unescape_tag};

/// Splits a canonical series key (`measurement[,k=v...]`, escaped form) into its unescaped tags,
/// as 1.x's `models.walkTags` does.
///
/// A separator is escaped when the byte before it is a backslash, whatever comes before that
/// (`\\=` is a backslash and an escaped `=`): the measurement ends at the first unescaped `,`,
/// a key at the next unescaped `=`, a value at the next unescaped `,`. Then `\,`, `\=` and
/// `\ ` lose their backslash; any other backslash stays.
pub fn parse_tags(key: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = scan_to(key, 0, b',') + 1;
    while i < key.len() {
        let k_end = scan_to(key, i, b'=');
        let v_start = (k_end + 1).min(key.len());
        let v_end = scan_to(key, v_start, b',');
        if v_end > v_start {
            out.push((
                unescape_tag(&key[i..k_end]),
                unescape_tag(&key[v_start..v_end]),
            ));
        }
        i = v_end + 1;
    }
    out
}

/// The unescaped measurement of a canonical series key (1.x `Point.Name`: `pkg/escape.Unescape`,
/// which also drops the backslash of `\=` and `\"`).
pub fn measurement(key: &[u8]) -> Vec<u8> {
    unescape_measurement(&key[..scan_to(key, 0, b',')])
}

/// The index of the first `stop` at or after `i` whose previous byte is not a backslash
/// (1.x `scanTo`), or `s.len()`.
fn scan_to(s: &[u8], i: usize, stop: u8) -> usize {
    (i..s.len())
        .find(|&j| s[j] == stop && (j == 0 || s[j - 1] != b'\\'))
        .unwrap_or(s.len())
}

/// The partition that holds a series of (db, rp), out of `partitions` (see `storage::layout`).
///
/// Stable by contract: where a series' data lives depends on it. `series_hash` is the decoder's
/// fixed-seed hash of the canonical key; the (db, rp) hash is mixed in so one hot series name in
/// many databases does not pile onto one core. Multiply-shift maps the 64-bit hash onto
/// `0..partitions` without the bias of a plain modulo of the low bits.
pub fn partition_of(series_hash: u64, db_rp_hash: u64, partitions: usize) -> usize {
    let h = (series_hash ^ db_rp_hash.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (((h >> 32) * partitions as u64) >> 32) as usize
}

/// Fixed-seed hash of a (db, rp) pair, part of the owner function.
pub fn db_rp_hash(db: &str, rp: &str) -> u64 {
    let mut buf = Vec::with_capacity(db.len() + rp.len() + 1);
    buf.extend_from_slice(db.as_bytes());
    buf.push(0);
    buf.extend_from_slice(rp.as_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(&buf, 0x6c69_6e65_7368_6172)
}

/// The core that owns a measurement's schema (its field types). Not stored on disk: field types
/// are re-registered from the partitions' data at start-up, so this may follow the core count.
pub fn schema_owner(db: &str, rp: &str, measurement: &[u8], cores: usize) -> usize {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(measurement, 0x7363_6865_6d61);
    partition_of(h, db_rp_hash(db, rp), cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_unescape() {
        let key = br"cpu\,x,a\ b=c\=d,e=f\,g,h=i\j";
        assert_eq!(measurement(key), b"cpu,x".to_vec());
        assert_eq!(
            parse_tags(key),
            vec![
                (b"a b".to_vec(), b"c=d".to_vec()),
                (b"e".to_vec(), b"f,g".to_vec()),
                (b"h".to_vec(), br"i\j".to_vec()),
            ]
        );
        assert!(parse_tags(b"cpu").is_empty());
    }

    /// 1.x's `TestParsePointUnescape` keys and values: a separator after any backslash is
    /// escaped, even after an escaped backslash.
    #[test]
    fn tags_split_as_1x_walk_tags() {
        let t = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
        assert_eq!(
            parse_tags(br"cpu,reg\\=ion=east"),
            vec![t(br"reg\=ion", b"east")]
        );
        assert_eq!(
            parse_tags(br"cpu,regions=\\,\,\=east"),
            vec![t(b"regions", br"\,,=east")]
        );
        assert_eq!(
            parse_tags(br"cpu,regions=east\\ "),
            vec![t(b"regions", br"east\ ")]
        );
        assert_eq!(parse_tags(br"cpu,\ =east"), vec![t(b" ", b"east")]);
        assert_eq!(
            parse_tags(br"cpu=load,equals\=foo=tag\=value"),
            vec![t(b"equals=foo", b"tag=value")]
        );
        assert_eq!(measurement(br"cpu\=load,region=east"), b"cpu=load".to_vec());
        assert_eq!(measurement(br"cpu\,x\\,a=b"), br"cpu,x\,a=b".to_vec());
    }

    /// `partition_of(series_hash("cpu,host=a"), db_rp_hash("db", "autogen"), 1..=8)`.
    const PINNED: [usize; 8] = [0, 0, 0, 1, 1, 1, 1, 2];

    #[test]
    fn partition_is_stable_and_in_range() {
        // Pinned values: data on disk depends on them. Changing the function breaks existing data dirs.
        let h = db_rp_hash("db", "autogen");
        assert_eq!(partition_of(0, 0, 1), 0);
        let key = crate::lineproto::series_hash(b"cpu,host=a");
        let pinned: Vec<usize> = (1..=8).map(|p| partition_of(key, h, p)).collect();
        assert_eq!(pinned, PINNED);
        for cores in 1..9 {
            for s in 0..1000u64 {
                assert!(partition_of(s.wrapping_mul(0x1234_5678_9abc_def1), h, cores) < cores);
            }
        }
        let mut counts = [0usize; 4];
        for s in 0..4000u64 {
            counts[partition_of(xxhash_rust::xxh3::xxh3_64(&s.to_le_bytes()), h, 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "skewed: {counts:?}");
    }
}
