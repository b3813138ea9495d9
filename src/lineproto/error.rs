//! Parse errors, worded as InfluxDB 1.x words them (`models/points.go`, `models/time.go`).

use std::fmt;

/// Why one line was rejected. `Display` is the 1.x reason text, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `missing measurement`: the line starts with a comma.
    MissingMeasurement,
    /// `missing fields`: the key (measurement and tags) runs to the end of the line.
    MissingFields,
    /// `missing tag key`
    MissingTagKey,
    /// `missing tag value`
    MissingTagValue,
    /// `invalid tag format`: an unescaped `=` inside a tag value.
    InvalidTagFormat,
    /// `duplicate tags`: two tags with the same (escaped) key.
    DuplicateTags,
    /// `missing field key`
    MissingFieldKey,
    /// `missing field value`
    MissingFieldValue,
    /// `invalid field format`: a field without `=`, an empty field, or bytes after a string's
    /// closing quote.
    InvalidFieldFormat,
    /// `unbalanced quotes`
    UnbalancedQuotes,
    /// `bad timestamp`: a non-digit in the timestamp.
    BadTimestamp,
    /// `invalid number`
    InvalidNumber,
    /// `invalid boolean`
    InvalidBoolean,
    /// `invalid float`: a float that does not parse or overflows.
    InvalidFloat,
    /// `point is invalid`: bytes other than spaces after the timestamp.
    PointIsInvalid,
    /// `max key length exceeded: N > 65535` (series key, or series key + 4 + field key).
    MaxKeyLength(usize),
    /// `time outside range -9223372036854775806 - 9223372036854775806`
    TimeOutsideRange,
    /// `unable to parse integer N: strconv.ParseInt: parsing "N": value out of range`
    IntegerOutOfRange(String),
    /// `unable to parse unsigned N: strconv.ParseUint: parsing "N": value out of range`
    /// (only when unsigned values are accepted).
    UnsignedOutOfRange(String),
    /// `strconv.ParseInt: parsing "N": value out of range`: a timestamp beyond int64.
    TimestampOutOfRange(String),
    /// `strconv.ParseInt: parsing "-": invalid syntax`: a timestamp that is a lone `-`.
    TimestampSyntax(String),
    /// `invalid value: field-key=K`: a field key ends in a backslash, so 1.x's field walk takes
    /// its `=` as escaped and finds no `=` after it; `K` is the rest of the fields section.
    FieldKeyRunsOn(String),
}

/// Smallest and largest valid timestamps in ns (`models.MinNanoTime`, `MaxNanoTime`): the two
/// lowest and the highest int64 are sentinels inside InfluxDB.
pub const MIN_NANO_TIME: i64 = i64::MIN + 2;
/// See [`MIN_NANO_TIME`].
pub const MAX_NANO_TIME: i64 = i64::MAX - 1;
/// `models.MaxKeyLength`.
pub const MAX_KEY_LENGTH: usize = 65535;

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        let s = match self {
            MissingMeasurement => "missing measurement",
            MissingFields => "missing fields",
            MissingTagKey => "missing tag key",
            MissingTagValue => "missing tag value",
            InvalidTagFormat => "invalid tag format",
            DuplicateTags => "duplicate tags",
            MissingFieldKey => "missing field key",
            MissingFieldValue => "missing field value",
            InvalidFieldFormat => "invalid field format",
            UnbalancedQuotes => "unbalanced quotes",
            BadTimestamp => "bad timestamp",
            InvalidNumber => "invalid number",
            InvalidBoolean => "invalid boolean",
            InvalidFloat => "invalid float",
            PointIsInvalid => "point is invalid",
            MaxKeyLength(n) => return write!(f, "max key length exceeded: {n} > {MAX_KEY_LENGTH}"),
            TimeOutsideRange => {
                return write!(f, "time outside range {MIN_NANO_TIME} - {MAX_NANO_TIME}")
            }
            IntegerOutOfRange(n) => {
                return write!(
                    f,
                    "unable to parse integer {n}: strconv.ParseInt: parsing \"{n}\": value out of range"
                )
            }
            UnsignedOutOfRange(n) => {
                return write!(
                    f,
                    "unable to parse unsigned {n}: strconv.ParseUint: parsing \"{n}\": value out of range"
                )
            }
            TimestampOutOfRange(n) => {
                return write!(f, "strconv.ParseInt: parsing \"{n}\": value out of range")
            }
            TimestampSyntax(n) => return write!(f, "strconv.ParseInt: parsing \"{n}\": invalid syntax"),
            FieldKeyRunsOn(k) => return write!(f, "invalid value: field-key={k}"),
        };
        f.write_str(s)
    }
}

impl std::error::Error for ErrorKind {}

/// One rejected line: `unable to parse '<line>': <reason>`, as 1.x reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based number of the (physical) line the point starts on.
    pub line_no: usize,
    /// The line as 1.x prints it: leading whitespace stripped, no newline.
    pub line: Vec<u8>,
    pub kind: ErrorKind,
}

impl LineError {
    /// Builds the error for `line` (leading spaces, tabs and NULs are stripped, as 1.x does).
    pub fn new(line_no: usize, line: &[u8], kind: ErrorKind) -> Self {
        let start = super::scan::skip_ws(line, 0);
        let line = line.get(start..).unwrap_or_default().to_vec();
        LineError {
            line_no,
            line,
            kind,
        }
    }

    /// Appends the message with the line's raw bytes (no UTF-8 replacement), for response bodies.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"unable to parse '");
        out.extend_from_slice(&self.line);
        out.extend_from_slice(b"': ");
        out.extend_from_slice(self.kind.to_string().as_bytes());
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unable to parse '{}': {}",
            String::from_utf8_lossy(&self.line),
            self.kind
        )
    }
}

impl std::error::Error for LineError {}
