//! Proptest generators for points the encoder accepts (shared by the lineproto unit tests).

use std::borrow::Cow;

use proptest::prelude::*;

use super::{escape_tag, FieldValue, PointRef, MAX_NANO_TIME, MIN_NANO_TIME};

/// An owned random point; [`GenPoint::with_ref`] lends it as a [`PointRef`].
#[derive(Clone, Debug)]
pub(crate) struct GenPoint {
    pub measurement: Vec<u8>,
    pub tags: Vec<(Vec<u8>, Vec<u8>)>,
    pub fields: Vec<(Vec<u8>, FieldValue<'static>)>,
    pub timestamp: Option<i64>,
}

impl GenPoint {
    pub fn with_ref<R>(&self, f: impl FnOnce(&PointRef<'_>) -> R) -> R {
        let tags: Vec<(&[u8], &[u8])> = self
            .tags
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        let fields: Vec<(&[u8], FieldValue<'_>)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_slice(), v.clone()))
            .collect();
        f(&PointRef {
            measurement: &self.measurement,
            tags: &tags,
            fields: &fields,
            timestamp: self.timestamp,
        })
    }

    /// Tags as the decoder reports them: sorted by escaped key.
    pub fn sorted_tags(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut t = self.tags.clone();
        t.sort_by_cached_key(|(k, _)| {
            let mut e = Vec::new();
            escape_tag(&mut e, k);
            e
        });
        t
    }
}

/// Bytes biased towards the ones the grammar cares about.
fn name_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop::sample::select(b"abcxyz_019".to_vec()),
        4 => prop::sample::select(b",= \"\\\t#-.\r".to_vec()),
        1 => any::<u8>(),
    ]
}

/// Makes a random byte string a name the encoder accepts.
fn fix_name(mut s: Vec<u8>, field_key: bool) -> Vec<u8> {
    s.retain(|&b| b != b'\n');
    if field_key {
        let mut out = Vec::with_capacity(s.len() + 2);
        for (i, &b) in s.iter().enumerate() {
            out.push(b);
            if b == b'\\' && matches!(s.get(i + 1), Some(b',' | b'=' | b' ')) {
                out.push(b'x');
            }
        }
        s = out;
    }
    if s.is_empty() || s.last() == Some(&b'\\') {
        s.push(b'n');
    }
    if s == b"time" {
        s.push(b'2');
    }
    if matches!(s[0], b'#' | b'\t' | 0) {
        s.insert(0, b'm');
    }
    s
}

fn name(field_key: bool) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(name_byte(), 0..12).prop_map(move |s| fix_name(s, field_key))
}

fn value() -> impl Strategy<Value = FieldValue<'static>> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(FieldValue::Float),
        (-1000i64..1000).prop_map(|v| FieldValue::Float(v as f64 / 8.0)),
        any::<i64>().prop_map(FieldValue::Integer),
        any::<u64>().prop_map(FieldValue::Unsigned),
        any::<bool>().prop_map(FieldValue::Boolean),
        prop::collection::vec(prop_oneof![name_byte(), Just(b'\n')], 0..12)
            .prop_map(|s| FieldValue::String(Cow::Owned(s))),
    ]
}

/// A point the encoder accepts, with unique tag and field keys.
pub(crate) fn point() -> impl Strategy<Value = GenPoint> {
    (
        name(false),
        prop::collection::vec((name(false), name(false)), 0..6),
        prop::collection::vec((name(true), value()), 1..6),
        prop::option::of(MIN_NANO_TIME..=MAX_NANO_TIME),
    )
        .prop_map(|(measurement, mut tags, mut fields, timestamp)| {
            let mut seen = std::collections::HashSet::new();
            tags.retain(|(k, _)| seen.insert(k.clone()));
            let mut seen = std::collections::HashSet::new();
            fields.retain(|(k, _)| seen.insert(k.clone()));
            GenPoint {
                measurement,
                tags,
                fields,
                timestamp,
            }
        })
}
