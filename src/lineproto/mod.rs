//! Line protocol: the decoder and encoder (pure; imports no runtime).
//!
//! Grammar and error texts follow InfluxDB 1.x `models/points.go` (1.8/1.11).

mod encode;

pub use encode::{encode, escape_field_key, escape_measurement, escape_string_value, escape_tag};

use std::borrow::Cow;

/// Timestamp precision of a write request (`precision=` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
}

impl Precision {
    /// Nanoseconds per unit.
    pub fn multiplier_ns(self) -> i64 {
        match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
            Precision::Minute => 60_000_000_000,
            Precision::Hour => 3_600_000_000_000,
        }
    }

    /// The `/write` (v1) spelling: `""`, `n`, `ns`, `u`, `ms`, `s`, `m`, `h` (1.8 handler.go).
    pub fn from_v1(s: &str) -> Option<Self> {
        Some(match s {
            "" | "n" | "ns" => Precision::Nanosecond,
            "u" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            "m" => Precision::Minute,
            "h" => Precision::Hour,
            _ => return None,
        })
    }

    /// The `/api/v2/write` spelling: `""`, `ns`, `us`, `ms`, `s`.
    pub fn from_v2(s: &str) -> Option<Self> {
        Some(match s {
            "" | "ns" => Precision::Nanosecond,
            "us" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            _ => return None,
        })
    }

    /// Truncate a nanosecond time to this precision (server-assigned times).
    pub fn truncate(self, ns: i64) -> i64 {
        let m = self.multiplier_ns();
        ns - ns.rem_euclid(m)
    }
}

/// A field value. Strings are opaque bytes, as in InfluxDB 1.x (no UTF-8 check).
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Cow<'a, [u8]>),
    Boolean(bool),
}

impl FieldValue<'_> {
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Float(_) => FieldType::Float,
            FieldValue::Integer(_) => FieldType::Integer,
            FieldValue::Unsigned(_) => FieldType::Unsigned,
            FieldValue::String(_) => FieldType::String,
            FieldValue::Boolean(_) => FieldType::Boolean,
        }
    }

    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Float(v) => FieldValue::Float(v),
            FieldValue::Integer(v) => FieldValue::Integer(v),
            FieldValue::Unsigned(v) => FieldValue::Unsigned(v),
            FieldValue::String(s) => FieldValue::String(Cow::Owned(s.into_owned())),
            FieldValue::Boolean(v) => FieldValue::Boolean(v),
        }
    }
}

/// The type of a field, named as InfluxQL names it in error texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldType {
    Float = 0,
    Integer = 1,
    Unsigned = 2,
    String = 3,
    Boolean = 4,
}

impl FieldType {
    /// `float`, `integer`, `unsigned`, `string`, `boolean` (influxql.DataType names).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => FieldType::Float,
            1 => FieldType::Integer,
            2 => FieldType::Unsigned,
            3 => FieldType::String,
            4 => FieldType::Boolean,
            _ => return None,
        })
    }
}

/// A point with unescaped names, for encoding (load generator, tests).
#[derive(Clone, Debug, PartialEq)]
pub struct PointRef<'a> {
    pub measurement: &'a [u8],
    pub tags: &'a [(&'a [u8], &'a [u8])],
    pub fields: &'a [(&'a [u8], FieldValue<'a>)],
    /// In units of the request's precision; `None` lets the server assign its time.
    pub timestamp: Option<i64>,
}
