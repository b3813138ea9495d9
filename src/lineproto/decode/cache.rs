//! The key cache: key sections the decoder has decoded, by their bytes, with their tag spans
//! and, once asked for, their series key and hash. A line repeating a cached key section skips
//! the key scan ([`Decoder::scan_key`]), and equal key ids ([`Line::key_id`](super::Line::key_id))
//! tell the write path that two lines have the same series without comparing keys.

use super::keys::{KeyInfo, TagSpan};
use super::Decoder;

/// A decoded key section (measurement + tags), by its raw bytes.
#[derive(Clone, Debug, Default)]
pub(super) struct CachedKey {
    raw: Vec<u8>,
    key: KeyInfo,
    pub(super) tags: Vec<TagSpan>,
    /// Canonical series key and its hash, once a line with this key asked for them.
    pub(super) series_key: Vec<u8>,
    pub(super) hash: u64,
    pub(super) ready: bool,
    /// This slot's content: a number no other key the decoder remembered ever had.
    pub(super) id: u64,
}

/// Slots of the per-decoder key cache (`KEY_CACHE_WAYS`-way set associative, the set chosen
/// by XXH3 of the key bytes). Ingest repeats series line after line; a hit skips tag scanning
/// and the duplicate check. Bounded memory: at most
/// `KEY_CACHE_SLOTS * (KEY_CACHE_MAX_KEY_LEN + tags)` bytes.
const KEY_CACHE_SLOTS: usize = 4096;
/// Ways per set: a direct-mapped cache of 4096 slots loses about a fifth of 1000 series to
/// slot collisions (two keys evicting each other line after line); four ways make that rare.
const KEY_CACHE_WAYS: usize = 4;
const KEY_CACHE_SETS: usize = KEY_CACHE_SLOTS / KEY_CACHE_WAYS;
/// Longer keys are not cached.
const KEY_CACHE_MAX_KEY_LEN: usize = 512;

/// Cache hash of a key: a hash of its length, first 48 and last 16 bytes (the cache compares
/// the whole key, so a partial hash only costs misses). Its low bits pick the set.
#[inline(always)]
fn cache_hash(region: &[u8]) -> u64 {
    let n = region.len();
    if n <= 64 {
        return xxhash_rust::xxh3::xxh3_64(region);
    }
    // XXH3-style: four 64x64->128 multiply-folds of the words, read in place.
    let word = |i: usize| {
        region
            .get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let fold = |a: u64, b: u64| {
        let p = (a as u128).wrapping_mul(b as u128);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let h = fold(
        word(0) ^ 0xbe4b_a423_396c_feb8,
        word(8) ^ 0x1cad_21f7_2c81_017c,
    )
    .wrapping_add(fold(
        word(16) ^ 0xdb97_9083_e96d_d4de,
        word(24) ^ 0x1f67_b3b7_a4a4_4072,
    ))
    .wrapping_add(fold(
        word(32) ^ 0x78e5_c0cc_4ee6_79cb,
        word(40) ^ 0x2172_ffcc_7dd0_5a82,
    ))
    .wrapping_add(fold(
        word(n - 16) ^ 0x08e2_443f_7744_608b ^ n as u64,
        word(n - 8) ^ 0x4c26_3a81_e693_35d5,
    ));
    let h = (h ^ (h >> 37)).wrapping_mul(0x1656_6791_9e37_79f9);
    h ^ (h >> 32)
}

/// First slot of the set of a key with cache hash `h`.
#[inline(always)]
fn cache_set(h: u64) -> usize {
    ((h as usize) & (KEY_CACHE_SETS - 1)) * KEY_CACHE_WAYS
}

/// End of the key section if the line decodes: its first space not preceded by a backslash.
#[inline]
fn key_region_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + memchr::memchr(b' ', buf.get(from..)?)?;
        if i > 0 && buf[i - 1] != b'\\' {
            return Some(i);
        }
        from = i + 1;
    }
}

impl Decoder {
    /// The key of a line whose key bytes were decoded before: the key section of a line that
    /// decodes ends at its first space not preceded by a backslash, and equal bytes decode
    /// equally, so the cached spans are exact.
    #[inline(always)]
    pub(super) fn cached_key(&mut self, buf: &[u8]) -> Option<KeyInfo> {
        let end = key_region_end(buf)?;
        let region = &buf[..end];
        let h = cache_hash(region);
        let set = cache_set(h);
        let hashes = self.cache_hashes.get(set..set + KEY_CACHE_WAYS)?;
        for (w, &eh) in hashes.iter().enumerate() {
            if eh != h {
                continue;
            }
            let slot = set + w;
            let e = self.cache.get(slot)?;
            if e.raw.as_slice() == region {
                self.cached_tags = Some(slot);
                self.line_slot = Some(slot);
                return Some(e.key);
            }
        }
        None
    }

    /// Caches the key section just scanned from `buf` under a new id, in a free way of its set
    /// or else the round-robin victim's, and makes that slot the line's. Not with the cache
    /// off or a key longer than `KEY_CACHE_MAX_KEY_LEN` (the line then has no slot).
    #[inline]
    pub(super) fn remember_key(&mut self, buf: &[u8], key: KeyInfo) {
        self.line_slot = None;
        if self.no_cache || key.key_end > KEY_CACHE_MAX_KEY_LEN {
            return;
        }
        if self.cache.is_empty() {
            self.cache.resize_with(KEY_CACHE_SLOTS, CachedKey::default);
            self.cache_hashes.resize(KEY_CACHE_SLOTS, 0);
        }
        let region = &buf[..key.key_end];
        let h = cache_hash(region);
        let set = cache_set(h);
        let way = match self.cache.get(set..set + KEY_CACHE_WAYS) {
            Some(ways) => match ways.iter().position(|e| e.raw.is_empty()) {
                Some(w) => w,
                None => {
                    self.victim = self.victim.wrapping_add(1);
                    self.victim % KEY_CACHE_WAYS
                }
            },
            None => return,
        };
        let slot = set + way;
        if let Some(hs) = self.cache_hashes.get_mut(slot) {
            *hs = h;
        }
        if let Some(e) = self.cache.get_mut(slot) {
            e.raw.clear();
            e.raw.extend_from_slice(region);
            e.tags.clear();
            e.tags.extend_from_slice(&self.tags);
            e.key = key;
            e.ready = false;
            self.last_id += 1;
            e.id = self.last_id;
            self.line_slot = Some(slot);
        }
    }
}
