//! The key section (measurement and tags, 1.x `scanKey`): scanning with the tag escape rule,
//! the duplicate tag check, the key length limit, and the key order of tags that the series
//! key and [`Line::tags`](super::Line::tags) use.

use super::{key_of, Decoder};
use crate::lineproto::error::{ErrorKind, MAX_KEY_LENGTH};
use crate::lineproto::scan::Cursor;

/// One tag of the line: spans of its escaped key and value in the line bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct TagSpan {
    /// [`fingerprint`] of the escaped key.
    pub(super) fp: u64,
    pub(super) key: (usize, usize),
    pub(super) val: (usize, usize),
    pub(super) key_esc: bool,
    pub(super) val_esc: bool,
}

/// A scanned key section: where the measurement and the whole section end.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeyInfo {
    pub(super) meas_end: usize,
    pub(super) meas_esc: bool,
    pub(super) key_end: usize,
    /// A tag key is `time` ([`ReservedTime::Tag`](super::ReservedTime::Tag)).
    pub(super) tag_time: bool,
}

impl Decoder {
    /// The current line's tags, in line order.
    #[inline]
    pub(super) fn tag_spans(&self) -> &[TagSpan] {
        match self.cached_tags.and_then(|slot| self.cache.get(slot)) {
            Some(e) => &e.tags,
            None => &self.tags,
        }
    }

    /// Measurement and tags into `self.tags`, with the duplicate and length checks. Kept out of
    /// line: a key cache hit skips it, and inlining it crowds the field loop's registers.
    #[inline(never)]
    pub(super) fn scan_key(&mut self, buf: &[u8], cur: &mut Cursor) -> Result<KeyInfo, ErrorKind> {
        self.tags.clear();
        self.cached_tags = None;
        let (meas_end, meas_esc) = scan_measurement(buf, cur)?;
        let mut key_end = meas_end;
        let mut tag_time = false;
        if buf.get(meas_end) == Some(&b',') {
            key_end = self.scan_tags(buf, meas_end + 1, cur)?;
            let time_fp = fingerprint(b"time", 0, 4);
            tag_time = self
                .tags
                .iter()
                .any(|t| t.fp == time_fp && key_of(buf, t.key) == b"time");
            if has_duplicate_keys(buf, &self.tags, &mut self.order) {
                return Err(ErrorKind::DuplicateTags);
            }
        }
        if key_end > MAX_KEY_LENGTH {
            return Err(ErrorKind::MaxKeyLength(key_end));
        }
        Ok(KeyInfo {
            meas_end,
            meas_esc,
            key_end,
            tag_time,
        })
    }

    /// Tags from `i` (just after the measurement's comma); returns the end of the last value.
    fn scan_tags(
        &mut self,
        buf: &[u8],
        mut i: usize,
        cur: &mut Cursor,
    ) -> Result<usize, ErrorKind> {
        loop {
            let ks = i;
            match buf.get(ks) {
                None | Some(b' ' | b',' | b'=') => return Err(ErrorKind::MissingTagKey),
                Some(_) => {}
            }
            let mut j = ks + 1;
            let mut key_esc = false;
            loop {
                j = cur.next(buf, j);
                match buf.get(j) {
                    None => return Err(ErrorKind::MissingTagValue),
                    Some(b'\\' | b'"') => j += 1,
                    Some(_) if buf[j - 1] == b'\\' => {
                        key_esc = true;
                        j += 1;
                    }
                    Some(b'=') => break,
                    Some(_) => return Err(ErrorKind::MissingTagValue),
                }
            }
            let vs = j + 1;
            match buf.get(vs) {
                None | Some(b' ' | b',') => return Err(ErrorKind::MissingTagValue),
                Some(_) => {}
            }
            let mut k = vs + 1;
            let mut val_esc = false;
            let delim = loop {
                k = cur.next(buf, k);
                match buf.get(k) {
                    None => return Err(ErrorKind::MissingFields),
                    Some(b'\\' | b'"') => k += 1,
                    Some(_) if buf[k - 1] == b'\\' => {
                        val_esc = true;
                        k += 1;
                    }
                    Some(b'=') => return Err(ErrorKind::InvalidTagFormat),
                    Some(&d) => break d,
                }
            };
            let fp = fingerprint(buf, ks, j);
            self.tags.push(TagSpan {
                fp,
                key: (ks, j),
                val: (vs, k),
                key_esc,
                val_esc,
            });
            if delim == b' ' {
                return Ok(k);
            }
            i = k + 1;
        }
    }
}

/// `scanMeasurement`: returns the index of the `,` or space ending the measurement.
#[inline]
fn scan_measurement(buf: &[u8], cur: &mut Cursor) -> Result<(usize, bool), ErrorKind> {
    match buf.first() {
        None | Some(b',') => return Err(ErrorKind::MissingMeasurement),
        Some(_) => {}
    }
    let mut i = 1;
    let mut esc = false;
    loop {
        i = cur.next(buf, i);
        if i >= buf.len() {
            return Err(ErrorKind::MissingFields);
        }
        if matches!(buf[i], b'=' | b'\\' | b'"') {
            // `\=` and `\"` are unescaped in a measurement too (1.x `Point.Name`).
            esc |= buf[i - 1] == b'\\';
            i += 1;
            continue;
        }
        if buf[i - 1] == b'\\' {
            esc = true;
            i += 1;
            continue;
        }
        return Ok((i, esc));
    }
}

/// First eight bytes of `buf[s..e]` (zero padded) mixed with its length: equal keys have equal
/// fingerprints, so only fingerprint collisions need a byte comparison.
#[inline(always)]
fn fingerprint(buf: &[u8], s: usize, e: usize) -> u64 {
    let len = e - s;
    let w = match buf.get(s..s + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or_default()),
        None => {
            let mut a = [0u8; 8];
            let rest = buf.get(s..).unwrap_or_default();
            let n = rest.len().min(8);
            a[..n].copy_from_slice(&rest[..n]);
            u64::from_le_bytes(a)
        }
    };
    let w = if len >= 8 {
        w
    } else {
        w & ((1u64 << (len * 8)) - 1)
    };
    (w ^ (len as u64).rotate_right(8)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Up to this many tags, [`has_duplicate_keys`] uses the fingerprint filter; more are sorted.
const BLOOM_DUP_CHECK_MAX: usize = 32;

/// Any two tags with the same escaped key? (1.x compares escaped keys after sorting.) Small
/// tag sets use a 128-bit filter over the fingerprints and compare bytes only on a hit.
fn has_duplicate_keys(buf: &[u8], tags: &[TagSpan], order: &mut Vec<u32>) -> bool {
    if tags.len() < 2 {
        return false;
    }
    if tags.len() <= BLOOM_DUP_CHECK_MAX {
        let mut seen = 0u128;
        for (n, t) in tags.iter().enumerate() {
            let bit = 1u128 << (t.fp >> 57);
            if seen & bit != 0 {
                let key = key_of(buf, t.key);
                if tags[..n]
                    .iter()
                    .any(|o| o.fp == t.fp && key_of(buf, o.key) == key)
                {
                    return true;
                }
            }
            seen |= bit;
        }
        return false;
    }
    sort_order(buf, tags, order);
    order
        .windows(2)
        .any(|w| key_of(buf, tags[w[0] as usize].key) == key_of(buf, tags[w[1] as usize].key))
}

/// Indices of `tags` into `order`, sorted by escaped key.
pub(super) fn sort_order(buf: &[u8], tags: &[TagSpan], order: &mut Vec<u32>) {
    order.clear();
    order.extend(0..tags.len() as u32);
    let key = |i: u32| key_of(buf, tags[i as usize].key);
    if order.len() <= 16 {
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 && key(order[j]) < key(order[j - 1]) {
                order.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
    }
}
