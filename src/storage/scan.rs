//! What a read asks of storage and what storage answers: the scan request (measurements, time
//! range, tag filters) and the rows of each matching series. The query engine builds the one and
//! consumes the other; storage owns both so that it depends on no query code.

use crate::lineproto::FieldValue;

/// A read of one (db, rp): the measurements and the condition (time range, tag filters).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub db: String,
    pub rp: String,
    pub measurements: MeasurementMatch,
    pub condition: Condition,
}

/// A field key in read results: shared, so that a scan of many points of a series names each
/// field once instead of allocating it per point.
pub type FieldKey = std::sync::Arc<[u8]>;

/// One point's fields: (field key, value).
pub type PointFields = Vec<(FieldKey, FieldValue<'static>)>;

/// The rows storage returns for one series of one measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRows {
    pub measurement: Vec<u8>,
    /// Tags sorted by key, unescaped.
    pub tags: Vec<(Vec<u8>, Vec<u8>)>,
    /// (time ns, fields) per point.
    pub points: Vec<(i64, PointFields)>,
}

/// A measurement name or a `/regex/` (unanchored, as in InfluxQL).
#[derive(Clone, Debug)]
pub enum MeasurementMatch {
    Name(String),
    Regex(regex::bytes::Regex),
}

impl PartialEq for MeasurementMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (MeasurementMatch::Name(a), MeasurementMatch::Name(b)) => a == b,
            (MeasurementMatch::Regex(a), MeasurementMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl MeasurementMatch {
    pub fn matches(&self, measurement: &[u8]) -> bool {
        match self {
            MeasurementMatch::Name(n) => n.as_bytes() == measurement,
            MeasurementMatch::Regex(re) => re.is_match(measurement),
        }
    }
}

/// The part of a WHERE clause pushed down into a scan: a time range and tag (in)equalities, all
/// ANDed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// Inclusive lower bound (ns).
    pub time_min_ns: i64,
    /// Exclusive upper bound (ns).
    pub time_max_ns: i64,
    pub tags: Vec<TagFilter>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition {
            time_min_ns: i64::MIN,
            time_max_ns: i64::MAX,
            tags: Vec::new(),
        }
    }
}

/// `key = 'value'` (or `!=` when `negate`). A series without the tag has the value `''`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub negate: bool,
}

impl Condition {
    /// Whether a series (its tags, sorted or not) passes the tag filters.
    pub fn matches_tags<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, tags: &[(K, V)]) -> bool {
        self.tags.iter().all(|f| {
            let value = tags
                .iter()
                .find(|(k, _)| k.as_ref() == f.key.as_slice())
                .map_or(&[][..], |(_, v)| v.as_ref());
            (value == f.value.as_slice()) != f.negate
        })
    }

    /// Whether a timestamp is inside `[time_min_ns, time_max_ns)`.
    pub fn matches_time(&self, t: i64) -> bool {
        self.time_min_ns <= t && t < self.time_max_ns
    }

    /// Both: the helper to push down into a storage scan.
    pub fn matches<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, tags: &[(K, V)], t: i64) -> bool {
        self.matches_time(t) && self.matches_tags(tags)
    }

    /// True when no time can match (e.g. `time > 10 AND time < 5`).
    pub fn is_empty_range(&self) -> bool {
        self.time_min_ns >= self.time_max_ns
    }
}
