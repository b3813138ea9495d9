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
//!
//! Kind 0 is not used: it names a points layout without point lengths and flags, which this code
//! cannot read, so a WAL holding it is refused at start-up ("unknown payload") rather than misread. The
//! kinds are on disk, so each keeps its number and a retired number is not given to another record.

/// A batch of points (`shard::batch` layout).
const KIND_POINTS: u8 = 3;
const KIND_DROP_DATABASE: u8 = 1;
const KIND_DROP_RP: u8 = 2;

/// What one WAL record asks for.
pub(super) enum Record<'a> {
    Points {
        db: &'a str,
        rp: &'a str,
        batch: &'a [u8],
    },
    DropDatabase(&'a str),
    DropRp(&'a str, &'a str),
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
