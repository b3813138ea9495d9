//! The payload of a partition's WAL records: what a write or a drop is logged as, and what a
//! record asks for at replay. Pure: no I/O.
//!
//! Layout (little-endian): `u8` kind, then
//!
//! | kind | record | after the kind |
//! | --- | --- | --- |
//! | 1 | drop database | `u16` db length, db |
//! | 2 | drop retention policy | `u16` db length, db, `u16` rp length, rp |
//! | 3 | points | `u16` db length, db, `u16` rp length, rp, a `shard::Batch` buffer |
//! | 4 | delete | a delete (`encode_delete`: db, measurements, time range, tag predicate) |
//!
//! Kind 0 is not used: it names a points layout without point lengths and flags, which this code
//! cannot read, so a WAL holding it is refused at start-up ("unknown payload") rather than misread. The
//! kinds are on disk, so each keeps its number and a retired number is not given to another record.

/// A batch of points (`shard::batch` layout).
const KIND_POINTS: u8 = 3;
const KIND_DROP_DATABASE: u8 = 1;
const KIND_DROP_RP: u8 = 2;
const KIND_DELETE: u8 = 4;

use crate::storage::scan::{Delete, MeasurementMatch, TagExpr};

/// What one WAL record asks for.
pub(super) enum Record<'a> {
    Points {
        db: &'a str,
        rp: &'a str,
        batch: &'a [u8],
    },
    DropDatabase(&'a str),
    DropRp(&'a str, &'a str),
    Delete(Delete),
}

/// The start of a points record for (db, rp); the batch buffer follows it in the same record
/// (`Wal::enqueue_parts`), so the batch is not copied.
pub(super) fn points_head(db: &str, rp: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(db.len() + rp.len() + 5);
    head.push(KIND_POINTS);
    put_str(&mut head, db);
    put_str(&mut head, rp);
    head
}

/// The record that makes replay forget `db`.
pub(super) fn drop_database(db: &str) -> Vec<u8> {
    let mut payload = vec![KIND_DROP_DATABASE];
    put_str(&mut payload, db);
    payload
}

/// The record that makes replay forget (db, rp).
pub(super) fn drop_rp(db: &str, rp: &str) -> Vec<u8> {
    let mut payload = vec![KIND_DROP_RP];
    put_str(&mut payload, db);
    put_str(&mut payload, rp);
    payload
}

/// What `payload` asks for; `None` for an unknown kind or a payload cut short.
pub(super) fn decode(payload: &[u8]) -> Option<Record<'_>> {
    let mut pos = 1;
    match *payload.first()? {
        KIND_POINTS => {
            let db = get_str(payload, &mut pos)?;
            let rp = get_str(payload, &mut pos)?;
            Some(Record::Points {
                db,
                rp,
                batch: payload.get(pos..)?,
            })
        }
        KIND_DROP_DATABASE => Some(Record::DropDatabase(get_str(payload, &mut pos)?)),
        KIND_DROP_RP => {
            let db = get_str(payload, &mut pos)?;
            Some(Record::DropRp(db, get_str(payload, &mut pos)?))
        }
        KIND_DELETE => {
            let d = decode_delete(payload, &mut pos)?;
            (pos == payload.len()).then_some(Record::Delete(d))
        }
        _ => None,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a str> {
    let len = u16::from_le_bytes(buf.get(*pos..*pos + 2)?.try_into().ok()?) as usize;
    let s = buf.get(*pos + 2..*pos + 2 + len)?;
    *pos += 2 + len;
    std::str::from_utf8(s).ok()
}

/// The record that deletes points (`storage::scan::Delete`).
pub(super) fn delete(d: &Delete) -> Vec<u8> {
    let mut payload = vec![KIND_DELETE];
    encode_delete(&mut payload, d);
    payload
}

/// A delete's bytes after the kind (also the entries of the tombstone file): `u16` db length,
/// db, `u32` measurement count, per measurement `u8` 0 (name) or 1 (regex) and `u32`-length
/// text, `i64` time min, `i64` time max (exclusive), then the tag predicate as a prefix tree:
/// `u8` 0 true, 1 false, 2 `=` / 3 `!=` (`u32`-length key, `u32`-length value), 4 `=~` / 5
/// `!~` (`u32`-length key, `u32`-length pattern), 6 AND / 7 OR (both operands follow). Names
/// and keys come from a query, so their lengths are not bounded by 64 KiB as a database's is.
pub(super) fn encode_delete(out: &mut Vec<u8>, d: &Delete) {
    put_str(out, &d.db);
    out.extend_from_slice(&(d.measurements.len() as u32).to_le_bytes());
    for m in &d.measurements {
        match m {
            MeasurementMatch::Name(n) => {
                out.push(0);
                put_bytes(out, n.as_bytes());
            }
            MeasurementMatch::Regex(re) => {
                out.push(1);
                put_bytes(out, re.as_str().as_bytes());
            }
        }
    }
    out.extend_from_slice(&d.time_min_ns.to_le_bytes());
    out.extend_from_slice(&d.time_max_ns.to_le_bytes());
    encode_tags(out, &d.tags);
}

fn encode_tags(out: &mut Vec<u8>, e: &TagExpr) {
    let long = put_bytes;
    match e {
        TagExpr::True => out.push(0),
        TagExpr::False => out.push(1),
        TagExpr::Eq { key, value, negate } => {
            out.push(if *negate { 3 } else { 2 });
            put_bytes(out, key);
            long(out, value);
        }
        TagExpr::Regex { key, re, negate } => {
            out.push(if *negate { 5 } else { 4 });
            put_bytes(out, key);
            long(out, re.as_str().as_bytes());
        }
        TagExpr::And(a, b) | TagExpr::Or(a, b) => {
            out.push(if matches!(e, TagExpr::And(..)) { 6 } else { 7 });
            encode_tags(out, a);
            encode_tags(out, b);
        }
    }
}

/// The delete encoded at `pos` of `buf` (`encode_delete`); `None` when cut short or invalid.
pub(super) fn decode_delete(buf: &[u8], pos: &mut usize) -> Option<Delete> {
    let db = get_str(buf, pos)?.to_string();
    let n = u32::from_le_bytes(buf.get(*pos..*pos + 4)?.try_into().ok()?);
    *pos += 4;
    let mut measurements = Vec::new();
    for _ in 0..n {
        let kind = *buf.get(*pos)?;
        *pos += 1;
        let text = std::str::from_utf8(get_bytes(buf, pos)?).ok()?;
        measurements.push(match kind {
            0 => MeasurementMatch::Name(text.to_string()),
            1 => MeasurementMatch::Regex(regex::bytes::Regex::new(text).ok()?),
            _ => return None,
        });
    }
    let time_min_ns = get_i64(buf, pos)?;
    let time_max_ns = get_i64(buf, pos)?;
    let tags = decode_tags(buf, pos, 0)?;
    Some(Delete {
        db,
        measurements,
        tags,
        time_min_ns,
        time_max_ns,
    })
}

/// Nesting a decoded tag predicate may have (the parser allows far less).
const TAGS_DEPTH_MAX: usize = 1024;

fn decode_tags(buf: &[u8], pos: &mut usize, depth: usize) -> Option<TagExpr> {
    if depth > TAGS_DEPTH_MAX {
        return None;
    }
    let kind = *buf.get(*pos)?;
    *pos += 1;
    let long = |pos: &mut usize| get_bytes(buf, pos);
    Some(match kind {
        0 => TagExpr::True,
        1 => TagExpr::False,
        2 | 3 => TagExpr::Eq {
            key: get_bytes(buf, pos)?.to_vec(),
            value: long(pos)?.to_vec(),
            negate: kind == 3,
        },
        4 | 5 => {
            let key = get_bytes(buf, pos)?.to_vec();
            let pattern = std::str::from_utf8(long(pos)?).ok()?;
            TagExpr::Regex {
                key,
                re: regex::bytes::Regex::new(pattern).ok()?,
                negate: kind == 5,
            }
        }
        6 | 7 => {
            let a = Box::new(decode_tags(buf, pos, depth + 1)?);
            let b = Box::new(decode_tags(buf, pos, depth + 1)?);
            if kind == 6 {
                TagExpr::And(a, b)
            } else {
                TagExpr::Or(a, b)
            }
        }
        _ => return None,
    })
}

/// `u32` length, bytes (a query's text is far below 4 GiB).
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = u32::from_le_bytes(buf.get(*pos..*pos + 4)?.try_into().ok()?) as usize;
    let s = buf.get(*pos + 4..(*pos + 4).checked_add(len)?)?;
    *pos += 4 + len;
    Some(s)
}

fn get_i64(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let v = i64::from_le_bytes(buf.get(*pos..*pos + 8)?.try_into().ok()?);
    *pos += 8;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Delete {
        let re = |s: &str| regex::bytes::Regex::new(s).unwrap();
        Delete {
            db: "db".into(),
            measurements: vec![
                MeasurementMatch::Name("cpu".into()),
                MeasurementMatch::Regex(re("^m.*/x")),
            ],
            tags: TagExpr::Or(
                Box::new(TagExpr::And(
                    Box::new(TagExpr::Eq {
                        key: b"host".to_vec(),
                        value: b"a b".to_vec(),
                        negate: false,
                    }),
                    Box::new(TagExpr::Eq {
                        key: b"r".to_vec(),
                        value: Vec::new(),
                        negate: true,
                    }),
                )),
                Box::new(TagExpr::Regex {
                    key: b"k".to_vec(),
                    re: re("a|b"),
                    negate: true,
                }),
            ),
            time_min_ns: -5,
            time_max_ns: i64::MAX,
        }
    }

    #[test]
    fn delete_record_round_trips() {
        let d = sample();
        let payload = delete(&d);
        match decode(&payload) {
            Some(Record::Delete(back)) => assert_eq!(back, d),
            _ => panic!("not a delete record"),
        }
        // Every cut is refused, never misread.
        for cut in 0..payload.len() {
            assert!(decode(&payload[..cut]).is_none(), "cut at {cut}");
        }
        let empty = Delete {
            db: String::new(),
            measurements: Vec::new(),
            tags: TagExpr::True,
            time_min_ns: i64::MIN,
            time_max_ns: i64::MAX,
        };
        assert!(matches!(decode(&delete(&empty)), Some(Record::Delete(e)) if e == empty));
        // Names and keys from a query may pass 64 KiB.
        let long = Delete {
            measurements: vec![MeasurementMatch::Name("m".repeat(70_000))],
            tags: TagExpr::Eq {
                key: vec![b'k'; 70_000],
                value: vec![b'v'; 70_000],
                negate: false,
            },
            ..empty
        };
        assert!(matches!(decode(&delete(&long)), Some(Record::Delete(l)) if l == long));
    }

    #[test]
    fn hostile_delete_payloads_are_refused() {
        // A bad regex, an unknown tag kind, a nesting past the bound: refused, no panic.
        let mut p = vec![KIND_DELETE];
        put_str(&mut p, "db");
        p.extend_from_slice(&1u32.to_le_bytes());
        p.push(1);
        put_bytes(&mut p, b"(");
        p.extend_from_slice(&[0; 16]);
        p.push(0);
        assert!(decode(&p).is_none());
        let mut p = vec![KIND_DELETE];
        put_str(&mut p, "db");
        p.extend_from_slice(&0u32.to_le_bytes());
        p.extend_from_slice(&[0; 16]);
        let deep = p.len();
        p.push(9);
        assert!(decode(&p).is_none());
        p.truncate(deep);
        p.extend(std::iter::repeat(6).take(TAGS_DEPTH_MAX + 2));
        assert!(decode(&p).is_none());
    }
}
