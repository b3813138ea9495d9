//! Pure WAL framing: encode a segment header and records, scan bytes back into records.
//!
//! No I/O and no runtime here, so every property of the format is unit- and property-testable.
//! The byte layout is specified in the parent module's documentation.

use std::ops::Range;

/// First 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"LSWAL\0\0\x01";
/// Format version written into the segment header.
pub const VERSION: u32 = 1;
/// Bytes of the segment header (magic, version, first LSN, zero padding, CRC).
pub const HEADER_LEN: usize = 64;
/// Bytes before a record's payload: length, CRC32C, LSN.
pub const RECORD_HEADER_LEN: usize = 16;
/// Bytes of a record's length field (a zero one ends the records).
pub const LEN_FIELD_LEN: usize = 4;
/// Largest payload a record may carry; a length field above it is corruption, not a record.
pub const PAYLOAD_LEN_MAX: usize = 1 << 30;

/// Offsets inside the segment header.
const HEADER_VERSION_AT: usize = 8;
const HEADER_FIRST_LSN_AT: usize = 12;
const HEADER_CRC_AT: usize = HEADER_LEN - 4;

/// The segment header of a segment whose first record has `first_lsn`.
pub fn encode_header(first_lsn: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[HEADER_VERSION_AT..HEADER_VERSION_AT + 4].copy_from_slice(&VERSION.to_le_bytes());
    h[HEADER_FIRST_LSN_AT..HEADER_FIRST_LSN_AT + 8].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&h[..HEADER_CRC_AT]);
    h[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than `HEADER_LEN` bytes.
    Short(usize),
    /// All header bytes are zero: the header write never reached the disk.
    Zeroed,
    BadMagic,
    BadChecksum,
    UnknownVersion(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short(n) => {
                write!(f, "segment header cut short ({n} of {HEADER_LEN} bytes)")
            }
            HeaderError::Zeroed => write!(f, "segment header is all zero"),
            HeaderError::BadMagic => write!(f, "not a lineshard WAL segment (bad magic)"),
            HeaderError::BadChecksum => write!(f, "segment header checksum mismatch"),
            HeaderError::UnknownVersion(v) => write!(f, "unknown WAL format version {v}"),
        }
    }
}

/// Reads a segment header; returns the segment's first LSN.
pub fn decode_header(buf: &[u8]) -> Result<u64, HeaderError> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Err(HeaderError::Short(buf.len()));
    };
    if h.iter().all(|&b| b == 0) {
        return Err(HeaderError::Zeroed);
    }
    if h[..8] != MAGIC {
        return Err(HeaderError::BadMagic);
    }
    if crc32c::crc32c(&h[..HEADER_CRC_AT]) != le_u32(h, HEADER_CRC_AT) {
        return Err(HeaderError::BadChecksum);
    }
    let version = le_u32(h, HEADER_VERSION_AT);
    if version != VERSION {
        return Err(HeaderError::UnknownVersion(version));
    }
    Ok(le_u64(h, HEADER_FIRST_LSN_AT))
}

/// Encoded size of a record with a payload of `payload_len` bytes.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// The 16 bytes before the payload of record `lsn`.
pub fn encode_record_header(lsn: u64, payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    encode_record_header_parts(lsn, &[payload])
}

/// `encode_record_header` for a payload given in pieces (written one after another).
pub fn encode_record_header_parts(lsn: u64, parts: &[&[u8]]) -> [u8; RECORD_HEADER_LEN] {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    debug_assert!(len <= PAYLOAD_LEN_MAX);
    let lsn_bytes = lsn.to_le_bytes();
    let crc = parts.iter().fold(crc32c::crc32c(&lsn_bytes), |c, p| {
        crc32c::crc32c_append(c, p)
    });
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[..4].copy_from_slice(&(len as u32).to_le_bytes());
    h[4..8].copy_from_slice(&crc.to_le_bytes());
    h[8..].copy_from_slice(&lsn_bytes);
    h
}

/// Appends one framed record to `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    out.extend_from_slice(&encode_record_header(lsn, payload));
    out.extend_from_slice(payload);
}

/// Where and why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The buffer ended exactly after the last record.
    End,
    /// A zero length field: the end of the records. What follows is the zero padding of the
    /// last block or the old bytes of a recycled segment, and is not read.
    Padding,
    /// The buffer ends inside a record (torn write, or more bytes still to read).
    Incomplete { need: usize },
    /// A record that cannot be trusted: checksum mismatch, impossible length or wrong LSN.
    Corrupt(Corruption),
}

/// Why a record is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    LengthTooLarge(u32),
    ChecksumMismatch,
    UnexpectedLsn { expected: u64, found: u64 },
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Corruption::LengthTooLarge(n) => {
                write!(f, "record length {n} exceeds {PAYLOAD_LEN_MAX}")
            }
            Corruption::ChecksumMismatch => write!(f, "record checksum mismatch"),
            Corruption::UnexpectedLsn { expected, found } => {
                write!(f, "record has lsn {found}, expected {expected}")
            }
        }
    }
}

/// One intact record found by `scan`: its LSN and where its payload lies in the scanned buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub lsn: u64,
    pub payload: Range<usize>,
}

/// The result of scanning a buffer of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Intact records, in order, with consecutive LSNs starting at the scan's `next_lsn`.
    pub records: Vec<Found>,
    /// Bytes of the buffer covered by `records`: the cut point if the scan is final.
    pub end: usize,
    pub stop: Stop,
}

/// Scans `buf` (which starts at a record boundary) for consecutive records, the first of which
/// must carry `next_lsn`. Never panics; never returns a record whose checksum does not match.
pub fn scan(buf: &[u8], next_lsn: u64) -> Scan {
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut lsn = next_lsn;
    let stop = loop {
        let rest = &buf[at..];
        if rest.is_empty() {
            break Stop::End;
        }
        if rest.len() < LEN_FIELD_LEN {
            // Not even a length field. Zero bytes are padding however short.
            break if is_zero(rest) {
                Stop::Padding
            } else {
                Stop::Incomplete {
                    need: RECORD_HEADER_LEN - rest.len(),
                }
            };
        }
        let len = le_u32(rest, 0);
        if len == 0 {
            break Stop::Padding;
        }
        if len as usize > PAYLOAD_LEN_MAX {
            break Stop::Corrupt(Corruption::LengthTooLarge(len));
        }
        let total = record_len(len as usize);
        if rest.len() < total {
            break Stop::Incomplete {
                need: total - rest.len(),
            };
        }
        let crc = le_u32(rest, 4);
        let body = &rest[8..total];
        if crc32c::crc32c(body) != crc {
            break Stop::Corrupt(Corruption::ChecksumMismatch);
        }
        let found = le_u64(rest, 8);
        if found != lsn {
            break Stop::Corrupt(Corruption::UnexpectedLsn {
                expected: lsn,
                found,
            });
        }
        records.push(Found {
            lsn,
            payload: at + RECORD_HEADER_LEN..at + total,
        });
        lsn += 1;
        at += total;
    };
    Scan {
        records,
        end: at,
        stop,
    }
}

pub fn is_zero(buf: &[u8]) -> bool {
    buf.iter().all(|&b| b == 0)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payloads() -> Vec<Vec<u8>> {
        vec![
            b"a".to_vec(),
            vec![0u8; 40],
            (0..=255u8).collect(),
            b"cpu,host=a v=1i 1".to_vec(),
            vec![7u8; 3],
        ]
    }

    fn encode_all(first_lsn: u64, ps: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for (i, p) in ps.iter().enumerate() {
            encode_record(&mut buf, first_lsn + i as u64, p);
            ends.push(buf.len());
        }
        (buf, ends)
    }

    fn payloads_of<'a>(buf: &'a [u8], s: &Scan) -> Vec<&'a [u8]> {
        s.records.iter().map(|r| &buf[r.payload.clone()]).collect()
    }

    #[test]
    fn header_of_parts_is_header_of_their_concatenation() {
        let whole = b"\x03kind db rp and a batch buffer".to_vec();
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(
                encode_record_header_parts(7, &[a, b]),
                encode_record_header(7, &whole),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn header_round_trip_and_errors() {
        let h = encode_header(42);
        assert_eq!(decode_header(&h), Ok(42));
        assert_eq!(decode_header(&h[..10]), Err(HeaderError::Short(10)));
        assert_eq!(decode_header(&[0u8; HEADER_LEN]), Err(HeaderError::Zeroed));
        let mut bad = h;
        bad[0] = b'X';
        assert_eq!(decode_header(&bad), Err(HeaderError::BadMagic));
        for bit in 8 * 8..HEADER_LEN * 8 {
            let mut flipped = h;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&flipped).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn record_round_trip() {
        let ps = payloads();
        let (buf, _) = encode_all(7, &ps);
        let s = scan(&buf, 7);
        assert_eq!(s.stop, Stop::End);
        assert_eq!(s.end, buf.len());
        assert_eq!(
            payloads_of(&buf, &s),
            ps.iter().map(|p| &p[..]).collect::<Vec<_>>()
        );
        let lsns: Vec<u64> = s.records.iter().map(|r| r.lsn).collect();
        assert_eq!(lsns, vec![7, 8, 9, 10, 11]);
    }

    #[test]
    fn wrong_first_lsn_is_corrupt() {
        let (buf, _) = encode_all(7, &payloads());
        let s = scan(&buf, 8);
        assert!(s.records.is_empty());
        assert_eq!(
            s.stop,
            Stop::Corrupt(Corruption::UnexpectedLsn {
                expected: 8,
                found: 7
            })
        );
    }

    #[test]
    fn torn_tail_at_every_offset_of_the_last_record() {
        let ps = payloads();
        let (buf, ends) = encode_all(1, &ps);
        let last_start = ends[ends.len() - 2];
        for cut in last_start..buf.len() {
            let s = scan(&buf[..cut], 1);
            assert_eq!(s.records.len(), ps.len() - 1, "cut at {cut}");
            assert_eq!(s.end, last_start, "cut at {cut}");
            if cut == last_start {
                assert_eq!(s.stop, Stop::End);
            } else {
                assert!(
                    matches!(s.stop, Stop::Incomplete { .. }),
                    "cut at {cut}: {:?}",
                    s.stop
                );
            }
        }
        // And with zeros where the torn bytes were (a torn write of a padded block).
        for cut in last_start + 1..buf.len() {
            let mut b = buf.clone();
            b[cut..].fill(0);
            let s = scan(&b, 1);
            assert_eq!(s.records.len(), ps.len() - 1, "zeroed from {cut}");
            assert_eq!(s.end, last_start);
            assert!(!matches!(s.stop, Stop::End));
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let ps = payloads();
        let (buf, ends) = encode_all(1, &ps);
        let mut starts = vec![0];
        starts.extend_from_slice(&ends[..ends.len() - 1]);
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let s = scan(&b, 1);
            // The record holding the flipped bit and everything after it are gone...
            let hit = starts.iter().rposition(|&st| st <= bit / 8).unwrap_or(0);
            assert_eq!(s.records.len(), hit, "bit {bit}");
            assert_eq!(s.end, starts[hit], "bit {bit}");
            assert_ne!(s.stop, Stop::End, "bit {bit}");
            // ...and every record returned is byte-identical to what was written.
            for (r, p) in payloads_of(&b, &s).iter().zip(&ps) {
                assert_eq!(r, &&p[..]);
            }
        }
    }

    #[test]
    fn zero_padding_after_the_last_record() {
        let ps = payloads();
        let (mut buf, _) = encode_all(1, &ps);
        let end = buf.len();
        for pad in [1usize, 2, 3, 4, 15, 16, 17, 4096] {
            buf.truncate(end);
            buf.resize(end + pad, 0);
            let s = scan(&buf, 1);
            assert_eq!(s.records.len(), ps.len());
            assert_eq!(s.end, end);
            assert_eq!(s.stop, Stop::Padding, "pad {pad}");
            assert!(is_zero(&buf[s.end..]));
        }
    }

    #[test]
    fn impossible_length_is_corrupt() {
        let mut buf = vec![0u8; 32];
        buf[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let s = scan(&buf, 1);
        assert_eq!(s.stop, Stop::Corrupt(Corruption::LengthTooLarge(u32::MAX)));
        assert_eq!(s.end, 0);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600), lsn in any::<u64>()) {
            let s = scan(&buf, lsn);
            prop_assert!(s.end <= buf.len());
            for r in &s.records {
                prop_assert!(r.payload.end <= s.end);
            }
            let _ = decode_header(&buf);
        }

        #[test]
        fn round_trip_any_payloads(ps in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..20), first in 0u64..u64::MAX / 2) {
            let (buf, _) = encode_all(first, &ps);
            let s = scan(&buf, first);
            prop_assert_eq!(&s.stop, &Stop::End);
            prop_assert_eq!(payloads_of(&buf, &s), ps.iter().map(|p| &p[..]).collect::<Vec<_>>());
        }
    }
}
