//! The series index of one (db, rp) on one core: measurement → tag key → tag value → series ids.
//!
//! It answers the SHOW statements and resolves a tag predicate ([`TagExpr`]) to the sorted ids
//! of the series that pass, without reading any data. A core keeps one per (db, rp) it stores:
//! a series is inserted when a memtable admits it (the first point of a series new to that
//! memtable), the whole index is rebuilt from the partitions' stored series at start-up and
//! after a retention expiry, and a dropped database or retention policy drops its indexes.
//!
//! Memory is what bounds this design (it counts in the RSS per series): a series is the ids of
//! its tag values (4 bytes each), one record after the other in one array; a tag value
//! is interned once per (measurement, tag key), its bytes in one arena, found through a
//! `HashTable<u32>` of that (measurement, key) (which is also the list of its values), and its
//! postings are a single series id inline, or an index into the few lists of values that more
//! than one series share. No per-series or per-value allocation. Series keys are not stored:
//! a series' escaped key is rebuilt from its parts when SHOW SERIES asks for it.
//!
//! Whether a series is already indexed: a series with a value new to the index is new; one
//! with a value few series have is looked for among those; otherwise it is looked up in a
//! `HashTable<u32>` of the series hashed by their value ids, which holds only the series whose
//! every value is shared by many (a cross product of tags), not the usual series with one
//! value of its own (a host name, an id).

use crate::storage::scan::{MeasurementMatch, TagExpr};
use hashbrown::{HashMap, HashTable};
use std::collections::{BTreeMap, BTreeSet};

/// What a SHOW statement reads of the series indexes of one database.
#[derive(Clone, Debug)]
pub struct ShowRequest {
    pub db: String,
    /// The retention policies to read; empty = every one of the database.
    pub rps: Vec<String>,
    /// The measurements (`FROM`, `WITH MEASUREMENT`); empty = all. A measurement passes when any
    /// entry matches.
    pub measurements: Vec<MeasurementMatch>,
    /// `WHERE` on tags.
    pub condition: TagExpr,
    pub what: ShowWhat,
}

/// The items a SHOW statement lists per measurement.
#[derive(Clone, Debug)]
pub enum ShowWhat {
    /// Measurements only (no items).
    Measurements,
    /// Tag keys: items `(key, "")`.
    TagKeys,
    /// Tag values of the keys `KeyMatch` accepts: items `(key, value)`.
    TagValues(KeyMatch),
    /// Series: items `(escaped series key, "")`.
    Series,
}

/// `WITH KEY = "k" | != "k" | IN ("a", "b") | =~ /re/ | !~ /re/`.
#[derive(Clone, Debug)]
pub enum KeyMatch {
    Eq(Vec<u8>),
    Ne(Vec<u8>),
    In(Vec<Vec<u8>>),
    Regex(regex::bytes::Regex, bool),
}

impl PartialEq for KeyMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (KeyMatch::Eq(a), KeyMatch::Eq(b)) | (KeyMatch::Ne(a), KeyMatch::Ne(b)) => a == b,
            (KeyMatch::In(a), KeyMatch::In(b)) => a == b,
            (KeyMatch::Regex(a, x), KeyMatch::Regex(b, y)) => a.as_str() == b.as_str() && x == y,
            _ => false,
        }
    }
}

impl KeyMatch {
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            KeyMatch::Eq(k) => k == key,
            KeyMatch::Ne(k) => k != key,
            KeyMatch::In(ks) => ks.iter().any(|k| k == key),
            KeyMatch::Regex(re, negate) => re.is_match(key) != *negate,
        }
    }
}

/// A core's (or the merged) answer to a [`ShowRequest`]: per measurement, its sorted items.
pub type ShowAnswer = BTreeMap<Vec<u8>, BTreeSet<(Vec<u8>, Vec<u8>)>>;

/// Merges `b` into `a`.
pub fn merge_show(a: &mut ShowAnswer, b: ShowAnswer) {
    for (m, items) in b {
        a.entry(m).or_default().extend(items);
    }
}

/// The pseudo tag key that names a series' measurement in a SHOW statement's WHERE (1.x `_name`).
const NAME: &[u8] = b"_name";

/// A postings entry with this bit set is an index into `lists`; otherwise it is the only series.
const LIST: u32 = 1 << 31;

/// The series index of one (db, rp) on one core.
#[derive(Default)]
pub struct SeriesIndex {
    /// Unescaped measurement names, by measurement id.
    measurements: Vec<Measurement>,
    measurement_ids: HashMap<Box<[u8]>, u32>,
    /// Unescaped tag keys, by key id.
    keys: Vec<Box<[u8]>>,
    key_ids: HashMap<Box<[u8]>, u32>,
    /// (measurement, key) pairs: the value table of each.
    pairs: Vec<Pair>,
    /// Value bytes; value `v` is `value_bytes[value_start[v]..value_start[v + 1]]`.
    value_bytes: Vec<u8>,
    value_start: Vec<u32>,
    /// The pair (index into `pairs`) of each value.
    value_pair: Vec<u32>,
    /// Per value: its only series, or `LIST | i` for `lists[i]` (sorted).
    postings: Vec<u32>,
    lists: Vec<Vec<u32>>,
    /// The series, one record after the other; a series' id is where its record starts. A
    /// record is the series' value ids in tag-key order (the order of the series key), the
    /// last one marked with [`END`]; a series without tags is one entry, its measurement id
    /// marked with `END | TAGLESS` (a series with tags has its first value's measurement).
    series_values: Vec<u32>,
    series_count: u32,
    /// The series whose every value more than [`SHARED`] series have, hashed by their value
    /// ids: whether such a series is indexed already. (Another series is found among the few
    /// of its rarest value.)
    by_values: HashTable<u32>,
}

/// A series with a value that at most this many series have is looked for among those; one
/// whose every value more have is looked up in `by_values`.
const SHARED: usize = 8;

/// Marks the last entry of a series record.
const END: u32 = 1 << 31;
/// Marks the entry of a series without tags (its measurement id).
const TAGLESS: u32 = 1 << 30;
/// Value ids and measurement ids stay below this (the marks take the two top bits).
const ID_MAX: u32 = TAGLESS - 1;

struct Measurement {
    name: Box<[u8]>,
    /// Key ids of its tag keys (unsorted, each once) and their pair index.
    keys: Vec<(u32, u32)>,
    /// Its series without tags (at most one).
    tagless: Option<u32>,
}

struct Pair {
    measurement: u32,
    key: u32,
    /// Value ids, hashed by their bytes.
    values: HashTable<u32>,
}

fn hash(bytes: &[u8]) -> u64 {
    crate::lineproto::series_hash(bytes)
}

/// A set of series ids: `ids`, or every series but `ids` when `complement`.
struct Set {
    ids: Vec<u32>,
    complement: bool,
}

impl SeriesIndex {
    /// The number of series indexed.
    pub fn len(&self) -> usize {
        self.series_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.series_count == 0
    }

    /// The bytes this index holds on the heap (capacities; hash tables at one control byte per
    /// bucket). The small maps (measurements, keys) count their entries only.
    pub fn heap_bytes(&self) -> usize {
        fn vec<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        fn table(t: &HashTable<u32>) -> usize {
            // hashbrown: buckets = capacity * 8 / 7 rounded up to a power of two, 5 B each.
            let buckets = (t.capacity() * 8 / 7).next_power_of_two();
            buckets * 5
        }
        let names: usize = self
            .measurements
            .iter()
            .map(|m| m.name.len() * 2 + 64)
            .sum();
        let keys: usize = self.keys.iter().map(|k| k.len() * 2 + 48).sum();
        let pairs: usize = self.pairs.iter().map(|p| table(&p.values) + 16).sum();
        let lists: usize = self.lists.iter().map(vec).sum::<usize>() + vec(&self.lists);
        names
            + keys
            + pairs
            + lists
            + vec(&self.value_bytes)
            + vec(&self.value_start)
            + vec(&self.value_pair)
            + vec(&self.postings)
            + vec(&self.series_values)
            + table(&self.by_values)
    }

    fn value(&self, v: u32) -> &[u8] {
        let v = v as usize;
        match (self.value_start.get(v), self.value_start.get(v + 1)) {
            (Some(&a), Some(&b)) => self.value_bytes.get(a as usize..b as usize).unwrap_or(&[]),
            (Some(&a), None) => self.value_bytes.get(a as usize..).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The record of series `s` (marks included).
    fn record(&self, s: u32) -> &[u32] {
        record(&self.series_values, s)
    }

    /// The value ids of series `s`, in tag-key order (none for a series without tags).
    fn series(&self, s: u32) -> impl Iterator<Item = u32> + '_ {
        self.record(s)
            .iter()
            .filter(|&&e| e & TAGLESS == 0)
            .map(|&e| e & !END)
    }

    /// Every series id, in insertion order.
    fn all_series(&self) -> impl Iterator<Item = u32> + '_ {
        let ends = self
            .series_values
            .iter()
            .enumerate()
            .filter(|(_, &e)| e & END != 0);
        std::iter::once(0u32)
            .chain(ends.map(|(i, _)| i as u32 + 1))
            .take(self.len())
    }

    fn key_of_value(&self, v: u32) -> u32 {
        self.value_pair
            .get(v as usize)
            .and_then(|&p| self.pairs.get(p as usize))
            .map_or(u32::MAX, |p| p.key)
    }

    fn posting(&self, v: u32) -> &[u32] {
        match self.postings.get(v as usize) {
            Some(&p) if p & LIST != 0 => self
                .lists
                .get((p & !LIST) as usize)
                .map_or(&[], |l| l.as_slice()),
            Some(p) => std::slice::from_ref(p),
            None => &[],
        }
    }

    fn find_value(&self, pair: u32, bytes: &[u8]) -> Option<u32> {
        let p = self.pairs.get(pair as usize)?;
        p.values
            .find(hash(bytes), |&v| self.value(v) == bytes)
            .copied()
    }

    /// Inserts a series by its canonical escaped key (`measurement[,k=v...]`); false when it was
    /// indexed already (or the index is full: 2^31 series or 4 GiB of tag values).
    pub fn insert(&mut self, key: &[u8]) -> bool {
        let measurement = crate::shard::key::measurement(key);
        let tags = crate::shard::key::parse_tags(key);
        self.insert_parts(&measurement, &tags)
    }

    /// Inserts a series given its unescaped measurement and tags (sorted by key).
    pub fn insert_parts(&mut self, measurement: &[u8], tags: &[(Vec<u8>, Vec<u8>)]) -> bool {
        if self.series_values.len() + tags.len() + 1 >= (LIST - 1) as usize
            || self.value_start.len() >= ID_MAX as usize
            || self.measurements.len() >= ID_MAX as usize
        {
            return false;
        }
        let mut new = false;
        let mid = match self.measurement_ids.get(measurement) {
            Some(&m) => m,
            None => {
                new = true;
                let m = self.measurements.len() as u32;
                self.measurements.push(Measurement {
                    name: measurement.into(),
                    keys: Vec::new(),
                    tagless: None,
                });
                self.measurement_ids.insert(measurement.into(), m);
                m
            }
        };
        let sid = self.series_values.len() as u32;
        if tags.is_empty() {
            let Some(m) = self.measurements.get_mut(mid as usize) else {
                return false;
            };
            if m.tagless.is_some() {
                return false;
            }
            m.tagless = Some(sid);
            self.push_series(mid, &[]);
            return true;
        }
        let mut values = Vec::with_capacity(tags.len());
        for (k, v) in tags {
            let kid = match self.key_ids.get(k.as_slice()) {
                Some(&k) => k,
                None => {
                    let id = self.keys.len() as u32;
                    self.keys.push(k.as_slice().into());
                    self.key_ids.insert(k.as_slice().into(), id);
                    id
                }
            };
            let pair = self.pair(mid, kid);
            match self.find_value(pair, v) {
                Some(vid) => values.push(vid),
                None => {
                    let Ok(start) = u32::try_from(self.value_bytes.len()) else {
                        return false;
                    };
                    if self.value_bytes.len() + v.len() > u32::MAX as usize {
                        return false;
                    }
                    new = true;
                    let vid = self.value_start.len() as u32;
                    self.value_start.push(start);
                    self.value_bytes.extend_from_slice(v);
                    self.value_pair.push(pair);
                    self.postings.push(LIST - 1); // no series yet; set below
                    let (value_bytes, value_start) = (&self.value_bytes, &self.value_start);
                    let bytes_of = |v: u32| {
                        let a = value_start.get(v as usize).copied().unwrap_or(0) as usize;
                        let b = value_start
                            .get(v as usize + 1)
                            .map_or(value_bytes.len(), |&b| b as usize);
                        value_bytes.get(a..b).unwrap_or(&[])
                    };
                    if let Some(p) = self.pairs.get_mut(pair as usize) {
                        p.values.insert_unique(hash(v), vid, |&v| hash(bytes_of(v)));
                    }
                    values.push(vid);
                }
            }
        }
        if !new && self.contains(&values) {
            return false;
        }
        self.push_series(mid, &values);
        true
    }

    /// Whether a series with exactly these value ids is indexed.
    fn contains(&self, values: &[u32]) -> bool {
        let same = |s: u32| self.series(s).eq(values.iter().copied());
        match values
            .iter()
            .map(|&v| self.posting(v))
            .min_by_key(|p| p.len())
        {
            None => false,
            Some(rarest) if rarest.len() <= SHARED => rarest.iter().any(|&s| same(s)),
            Some(_) => self
                .by_values
                .find(hash_ids(values.iter().copied()), |&s| same(s))
                .is_some(),
        }
    }

    /// The fewest series any value of series `s` has (its rarest value's postings).
    fn rarest(&self, s: u32) -> usize {
        self.series(s)
            .map(|v| self.posting(v).len())
            .min()
            .unwrap_or(0)
    }

    /// Puts series `s` in `by_values` (once: it may be there already).
    fn hash_series(&mut self, s: u32) {
        let values: Vec<u32> = self.series(s).collect();
        let h = hash_ids(values.iter().copied());
        let records = &self.series_values;
        let same = |t: &u32| {
            record(records, *t)
                .iter()
                .map(|&e| e & !END)
                .eq(values.iter().copied())
        };
        if self.by_values.find(h, same).is_none() {
            self.by_values.insert_unique(h, s, |&t| {
                hash_ids(record(records, t).iter().map(|&e| e & !END))
            });
        }
    }

    fn pair(&mut self, mid: u32, kid: u32) -> u32 {
        let Some(m) = self.measurements.get_mut(mid as usize) else {
            return u32::MAX;
        };
        if let Some(&(_, p)) = m.keys.iter().find(|(k, _)| *k == kid) {
            return p;
        }
        let p = self.pairs.len() as u32;
        m.keys.push((kid, p));
        self.pairs.push(Pair {
            measurement: mid,
            key: kid,
            values: HashTable::new(),
        });
        p
    }

    fn push_series(&mut self, mid: u32, values: &[u32]) {
        let sid = self.series_values.len() as u32;
        match values.split_last() {
            Some((last, head)) => {
                self.series_values.extend_from_slice(head);
                self.series_values.push(last | END);
            }
            None => self.series_values.push(mid | END | TAGLESS),
        }
        self.series_count += 1;
        for &v in values {
            let Some(p) = self.postings.get_mut(v as usize) else {
                continue;
            };
            if *p == LIST - 1 {
                *p = sid;
            } else if *p & LIST == 0 {
                let list = LIST | self.lists.len() as u32;
                self.lists.push(vec![*p, sid]);
                *p = list;
            } else if let Some(l) = self.lists.get_mut((*p & !LIST) as usize) {
                l.push(sid);
                if l.len() == SHARED + 1 {
                    // Its series may now have only values this shared: hash those.
                    let now_shared: Vec<u32> = l.clone();
                    for t in now_shared {
                        if t != sid && self.rarest(t) > SHARED {
                            self.hash_series(t);
                        }
                    }
                }
            }
        }
        if !values.is_empty() && self.rarest(sid) > SHARED {
            self.hash_series(sid);
        }
    }

    /// The ids of every value of tag key `key` (over all measurements).
    fn values_of_key(&self, key: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let kid = self.key_ids.get(key).copied();
        self.pairs
            .iter()
            .filter(move |p| Some(p.key) == kid)
            .flat_map(|p| p.values.iter().copied())
    }

    /// The sorted union of the postings of `values`.
    fn union(&self, values: impl Iterator<Item = u32>) -> Vec<u32> {
        let mut out: Vec<u32> = values
            .flat_map(|v| self.posting(v).iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The sorted series whose tag `key` has one of `values` (one hash lookup per value and
    /// measurement that has the key).
    fn exact(&self, key: &[u8], values: &[Vec<u8>]) -> Vec<u32> {
        let kid = self.key_ids.get(key).copied();
        let pairs = (0..self.pairs.len() as u32)
            .filter(|&p| self.pairs.get(p as usize).map(|p| p.key) == kid);
        self.union(pairs.flat_map(|p| values.iter().filter_map(move |v| self.find_value(p, v))))
    }

    /// The series of the measurements whose name passes `f` (the `_name` pseudo tag).
    fn by_name(&self, f: impl Fn(&[u8]) -> bool) -> Vec<u32> {
        let pass: Vec<bool> = self.measurements.iter().map(|m| f(&m.name)).collect();
        self.all_series()
            .filter(|&s| {
                self.mid_of(s)
                    .is_some_and(|m| pass.get(m as usize) == Some(&true))
            })
            .collect()
    }

    fn eval(&self, e: &TagExpr) -> Set {
        let set = |ids, complement| Set { ids, complement };
        match e {
            TagExpr::Eq { key, value, negate } if key == NAME => {
                set(self.by_name(|m| m == value.as_slice()), *negate)
            }
            TagExpr::Regex { key, re, negate } if key == NAME => {
                set(self.by_name(|m| re.is_match(m)), *negate)
            }
            TagExpr::True => set(Vec::new(), true),
            TagExpr::False => set(Vec::new(), false),
            TagExpr::Eq { key, value, negate } => {
                let s = if value.is_empty() {
                    // `k = ''`: the series without the tag.
                    set(self.union(self.values_of_key(key)), true)
                } else {
                    set(self.exact(key, std::slice::from_ref(value)), false)
                };
                Set {
                    complement: s.complement != *negate,
                    ..s
                }
            }
            TagExpr::Regex { key, re, negate } => {
                let s = if let Some(literals) = literal_alternatives(re.as_str()) {
                    // `/^(a|b)$/` (Grafana's multi-value variable): hash lookups.
                    set(self.exact(key, &literals), false)
                } else if re.is_match(b"") {
                    // Series without the tag match too: every series but those whose value
                    // does not match.
                    let ids = self.union(
                        self.values_of_key(key)
                            .filter(|&v| !re.is_match(self.value(v))),
                    );
                    set(ids, true)
                } else {
                    let ids = self.union(
                        self.values_of_key(key)
                            .filter(|&v| re.is_match(self.value(v))),
                    );
                    set(ids, false)
                };
                Set {
                    complement: s.complement != *negate,
                    ..s
                }
            }
            TagExpr::And(a, b) => {
                let (a, b) = (self.eval(a), self.eval(b));
                match (a.complement, b.complement) {
                    (false, false) => set(intersect(&a.ids, &b.ids), false),
                    (false, true) => set(difference(&a.ids, &b.ids), false),
                    (true, false) => set(difference(&b.ids, &a.ids), false),
                    (true, true) => set(union(&a.ids, &b.ids), true),
                }
            }
            TagExpr::Or(a, b) => {
                let (a, b) = (self.eval(a), self.eval(b));
                match (a.complement, b.complement) {
                    (false, false) => set(union(&a.ids, &b.ids), false),
                    (false, true) => set(difference(&b.ids, &a.ids), true),
                    (true, false) => set(difference(&a.ids, &b.ids), true),
                    (true, true) => set(intersect(&a.ids, &b.ids), true),
                }
            }
        }
    }

    /// The sorted ids of the series that pass `expr`, of the measurements `measurement` accepts.
    pub fn lookup(&self, measurement: &dyn Fn(&[u8]) -> bool, expr: &TagExpr) -> Vec<u32> {
        let mids: Vec<bool> = self
            .measurements
            .iter()
            .map(|m| measurement(&m.name))
            .collect();
        let in_measurement = |s: u32| {
            self.mid_of(s)
                .is_some_and(|m| mids.get(m as usize) == Some(&true))
        };
        let set = self.eval(expr);
        if set.complement {
            self.all_series()
                .filter(|s| in_measurement(*s) && set.ids.binary_search(s).is_err())
                .collect()
        } else {
            set.ids.into_iter().filter(|&s| in_measurement(s)).collect()
        }
    }

    /// The measurement id of series `s`: its first value's, or the one of a tagless series.
    fn mid_of(&self, s: u32) -> Option<u32> {
        let first = *self.record(s).first()?;
        if first & TAGLESS != 0 {
            return Some(first & ID_MAX);
        }
        let pair = *self.value_pair.get((first & !END) as usize)?;
        self.pairs.get(pair as usize).map(|p| p.measurement)
    }

    /// The measurement name of series `s`.
    pub fn measurement_of(&self, s: u32) -> &[u8] {
        self.mid_of(s)
            .and_then(|m| self.measurements.get(m as usize))
            .map_or(&[], |m| &m.name)
    }

    /// The unescaped (key, value) tags of series `s`, in key order.
    pub fn tags_of(&self, s: u32) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.series(s).map(|v| {
            let k = self
                .keys
                .get(self.key_of_value(v) as usize)
                .map_or(&[][..], |k| k);
            (k, self.value(v))
        })
    }

    /// The canonical escaped key of series `s` (`measurement[,k=v...]`), as SHOW SERIES prints it.
    pub fn series_key(&self, s: u32) -> Vec<u8> {
        series_key(self.measurement_of(s), self.tags_of(s))
    }

    /// Every measurement name with at least one series (unsorted).
    pub fn measurement_names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.measurements.iter().map(|m| &*m.name)
    }

    /// The tag keys of a measurement (unsorted); `None` when it is not indexed.
    pub fn tag_keys(&self, measurement: &[u8]) -> Option<Vec<&[u8]>> {
        let m = self
            .measurements
            .get(*self.measurement_ids.get(measurement)? as usize)?;
        Some(
            m.keys
                .iter()
                .filter_map(|&(k, _)| self.keys.get(k as usize).map(|k| &**k))
                .collect(),
        )
    }

    /// The values of tag key `key` of a measurement (unsorted).
    pub fn tag_values(&self, measurement: &[u8], key: &[u8]) -> Vec<&[u8]> {
        let (Some(&mid), Some(&kid)) =
            (self.measurement_ids.get(measurement), self.key_ids.get(key))
        else {
            return Vec::new();
        };
        self.measurements
            .get(mid as usize)
            .and_then(|m| m.keys.iter().find(|(k, _)| *k == kid))
            .and_then(|&(_, p)| self.pairs.get(p as usize))
            .map_or_else(Vec::new, |p| {
                p.values.iter().map(|&v| self.value(v)).collect()
            })
    }
}

/// A series' key as SHOW SERIES writes it: the escaped measurement, then each tag (sorted by
/// key) as `,key=value`, escaped.
pub fn series_key<'a>(
    measurement: &[u8],
    tags: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::new();
    crate::lineproto::escape_measurement(&mut out, measurement);
    for (k, v) in tags {
        out.push(b',');
        crate::lineproto::escape_tag(&mut out, k);
        out.push(b'=');
        crate::lineproto::escape_tag(&mut out, v);
    }
    out
}

impl SeriesIndex {
    /// Adds this index's answer to `req` to `out`.
    pub fn show(&self, req: &ShowRequest, out: &mut ShowAnswer) {
        let measurement =
            |m: &[u8]| req.measurements.is_empty() || req.measurements.iter().any(|x| x.matches(m));
        if matches!(req.condition, TagExpr::True) && !matches!(req.what, ShowWhat::Series) {
            // Straight from the measurement and key tables.
            for m in self.measurements.iter().filter(|m| measurement(&m.name)) {
                let entry = out.entry(m.name.to_vec()).or_default();
                for &(kid, p) in &m.keys {
                    let Some(key) = self.keys.get(kid as usize) else {
                        continue;
                    };
                    match &req.what {
                        ShowWhat::TagKeys => {
                            entry.insert((key.to_vec(), Vec::new()));
                        }
                        ShowWhat::TagValues(km) if km.matches(key) => {
                            if let Some(pair) = self.pairs.get(p as usize) {
                                for &v in pair.values.iter() {
                                    entry.insert((key.to_vec(), self.value(v).to_vec()));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if matches!(req.what, ShowWhat::TagValues(_)) && entry.is_empty() {
                    out.remove(&*m.name);
                }
            }
            return;
        }
        for s in self.lookup(&measurement, &req.condition) {
            let m = self.measurement_of(s);
            match &req.what {
                ShowWhat::Measurements => {
                    out.entry(m.to_vec()).or_default();
                }
                ShowWhat::TagKeys => {
                    let entry = out.entry(m.to_vec()).or_default();
                    for (k, _) in self.tags_of(s) {
                        entry.insert((k.to_vec(), Vec::new()));
                    }
                }
                ShowWhat::TagValues(km) => {
                    for (k, v) in self.tags_of(s).filter(|(k, _)| km.matches(k)) {
                        out.entry(m.to_vec())
                            .or_default()
                            .insert((k.to_vec(), v.to_vec()));
                    }
                }
                ShowWhat::Series => {
                    out.entry(m.to_vec())
                        .or_default()
                        .insert((self.series_key(s), Vec::new()));
                }
            }
        }
    }
}

/// The strings a regex of the form `^lit$` or `^(lit|lit|...)$` matches exactly, when its
/// literals hold no regex syntax but `\`-escaped punctuation and none is empty.
fn literal_alternatives(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let inner = pattern.strip_prefix('^')?.strip_suffix('$')?;
    if inner.ends_with('\\') {
        return None; // `\$`: the `$` is escaped
    }
    let inner = match inner.strip_prefix('(') {
        Some(rest) => rest.strip_suffix(')')?,
        None => inner,
    };
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => {
                out.push(std::mem::take(&mut cur));
            }
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => {
                    let mut b = [0u8; 4];
                    cur.extend_from_slice(e.encode_utf8(&mut b).as_bytes());
                }
                _ => return None,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' => return None,
            c => {
                let mut b = [0u8; 4];
                cur.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(cur);
    if out.iter().any(|v| v.is_empty()) {
        return None;
    }
    Some(out)
}

/// The record at `s` of a series array (marks included).
fn record(series: &[u32], s: u32) -> &[u32] {
    let rest = series.get(s as usize..).unwrap_or(&[]);
    let n = rest
        .iter()
        .position(|&e| e & END != 0)
        .map_or(rest.len(), |i| i + 1);
    rest.get(..n).unwrap_or(&[])
}

/// A hash of a series' value ids (multiply-rotate, as FxHash).
fn hash_ids(ids: impl Iterator<Item = u32>) -> u64 {
    let mut h = 0u64;
    for v in ids {
        h = (h.rotate_left(5) ^ u64::from(v)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .copied()
        .filter(|x| large.binary_search(x).is_ok())
        .collect()
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter()
        .copied()
        .filter(|x| b.binary_search(x).is_err())
        .collect()
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests;
