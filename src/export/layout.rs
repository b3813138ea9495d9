//! Where an exported file goes: `<db>/<rp>/<measurement>/date=YYYY-MM-DD/<node>-<partition>-<seq>.parquet`
//! under the export path, each name component percent-encoded where it is not `[A-Za-z0-9._-]`.

/// `s` with every byte outside `[A-Za-z0-9._-]` written as `%XX` (upper-case hex), so any name
/// is one safe path component (and `.`/`..` cannot occur: a lone dot is encoded too).
pub fn encode_component(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let lone_dots = !s.is_empty() && s.iter().all(|&b| b == b'.');
    for &b in s {
        if (b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') && !lone_dots {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        // An empty name (an empty retention policy name is not possible, but stay total).
        out.push_str("%00");
    }
    out
}

/// The UTC day of a nanosecond timestamp, as days since 1970-01-01 (negative before).
pub fn day_of(ns: i64) -> i64 {
    ns.div_euclid(86_400_000_000_000)
}

/// `YYYY-MM-DD` of a day number (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
pub fn date_string(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The relative path (with `/`) of the file of (db, rp, measurement, day) from a segment file.
pub fn file_path(
    db: &str,
    rp: &str,
    measurement: &[u8],
    day: i64,
    node: &str,
    partition: u32,
    seq: u64,
) -> String {
    format!(
        "{}/{}/{}/date={}/{}-{partition}-{seq}.parquet",
        encode_component(db.as_bytes()),
        encode_component(rp.as_bytes()),
        encode_component(measurement),
        date_string(day),
        encode_component(node.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component(b"cpu_1.a-b"), "cpu_1.a-b");
        assert_eq!(encode_component(b"a b/c,d=e"), "a%20b%2Fc%2Cd%3De");
        assert_eq!(encode_component("é".as_bytes()), "%C3%A9");
        assert_eq!(encode_component(b".."), "%2E%2E");
        assert_eq!(encode_component(b""), "%00");
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date_string(day_of(0)), "1970-01-01");
        assert_eq!(date_string(day_of(-1)), "1969-12-31");
        assert_eq!(date_string(day_of(1_700_000_000_000_000_000)), "2023-11-14");
        assert_eq!(date_string(day_of(i64::MIN)), "1677-09-21");
        assert_eq!(date_string(day_of(i64::MAX)), "2262-04-11");
        assert_eq!(date_string(day_of(951_782_400_000_000_000)), "2000-02-29");
    }

    #[test]
    fn paths_follow_the_hive_layout() {
        let p = file_path("db", "autogen", b"cpu load", 0, "node-1", 3, 7);
        assert_eq!(
            p,
            "db/autogen/cpu%20load/date=1970-01-01/node-1-3-7.parquet"
        );
    }
}
