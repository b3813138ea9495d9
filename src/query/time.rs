//! Time and duration texts as InfluxDB prints and reads them.
//!
//! - `format_rfc3339_nano`: Go's `time.RFC3339Nano` in UTC (what `time.Time.MarshalJSON` writes):
//!   `2009-11-10T23:00:00Z`, `2009-11-10T23:00:00.5Z` (trailing zeros of the fraction dropped).
//! - `parse_time_literal`: InfluxQL's `StringLiteral.ToTimeLiteral` (influxql ast.go): a date
//!   `2006-01-02`, a date-time `2006-01-02 15:04:05.999999` (UTC), or RFC3339Nano with `Z`/offset.
//! - `parse_duration`: InfluxQL duration literals (`1h30m`, `10ms`, `1w`, `5µs`, parser.go ParseDuration).
//! - `format_go_duration`: Go's `time.Duration.String` (`0s`, `168h0m0s`, `1.5s`, `500ms`).
//!
//! Dates use the proleptic Gregorian calendar through Howard Hinnant's days/civil algorithms,
//! so times before 1970 (negative nanoseconds) work the same as after.

const NS_PER_SEC: i64 = 1_000_000_000;
const SEC_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 for a civil date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) for days since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Go's RFC3339Nano in UTC: `2006-01-02T15:04:05.999999999Z`, fraction without trailing zeros.
pub fn format_rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let frac = ns.rem_euclid(NS_PER_SEC);
    let days = secs.div_euclid(SEC_PER_DAY);
    let sod = secs.rem_euclid(SEC_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        year,
        month,
        day,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// A little cursor over ASCII digits and separators.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.i.checked_add(n)?;
        let part = self.s.get(self.i..end)?;
        let mut v = 0i64;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.i = end;
        Some(v)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&want)).then(|| self.i += 1)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// `.ddd…` fraction as nanoseconds (Go accepts any digit count; beyond 9 digits is cut).
    fn fraction(&mut self) -> Option<i64> {
        if self.byte(b'.').is_none() {
            return Some(0);
        }
        let start = self.i;
        let mut ns = 0i64;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if self.i - start < 9 {
                ns = ns * 10 + i64::from(c - b'0');
            }
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            ns *= 10;
        }
        Some(ns)
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

/// Date and clock: seconds since the epoch (local to the zone, not yet offset).
fn civil_seconds(c: &mut Cursor<'_>, with_clock: bool, sep: &[u8]) -> Option<(i64, i64)> {
    let year = c.digits(4)?;
    c.byte(b'-')?;
    let month = u32::try_from(c.digits(2)?).ok()?;
    c.byte(b'-')?;
    let day = u32::try_from(c.digits(2)?).ok()?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * SEC_PER_DAY;
    let mut frac = 0;
    if with_clock {
        let s = c.peek()?;
        if !sep.contains(&s) {
            return None;
        }
        c.i += 1;
        let (h, m) = (c.digits(2)?, {
            c.byte(b':')?;
            c.digits(2)?
        });
        c.byte(b':')?;
        let s = c.digits(2)?;
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        secs += h * 3600 + m * 60 + s;
        frac = c.fraction()?;
    }
    Some((secs, frac))
}

fn to_ns(secs: i64, frac: i64) -> Option<i64> {
    // i128: the earliest storable time has whole seconds below i64::MIN / 1e9.
    i64::try_from(i128::from(secs) * i128::from(NS_PER_SEC) + i128::from(frac)).ok()
}

/// RFC3339 with optional fraction and a `Z` or `±hh:mm` zone; nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let (secs, frac) = civil_seconds(&mut c, true, b"T")?;
    let offset = match c.peek()? {
        b'Z' => {
            c.i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            c.i += 1;
            let h = c.digits(2)?;
            c.byte(b':')?;
            let m = c.digits(2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    if !c.done() {
        return None;
    }
    to_ns(secs - offset, frac)
}

/// InfluxQL's time string: `2006-01-02`, `2006-01-02 15:04:05[.frac]` (UTC) or RFC3339Nano.
pub fn parse_time_literal(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let date_like = b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !date_like {
        return None;
    }
    if b.len() == 10 {
        let mut c = Cursor { s: b, i: 0 };
        let (secs, _) = civil_seconds(&mut c, false, b"")?;
        return to_ns(secs, 0);
    }
    let mut c = Cursor { s: b, i: 0 };
    if let Some((secs, frac)) = civil_seconds(&mut c, true, b" ") {
        if c.done() {
            return to_ns(secs, frac);
        }
    }
    parse_rfc3339(s)
}

/// Why an InfluxQL duration literal was refused; Display is InfluxDB's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration")]
    Invalid,
    #[error("overflowed duration {measure}{unit}: choose a smaller duration or INF")]
    Overflow { measure: i64, unit: String },
}

/// An InfluxQL duration literal (`10s`, `1h30m`, `-5m`, `3w`, `15µs`) in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        return Err(DurationError::Invalid);
    }
    let mut i = 0;
    let negative = chars.first() == Some(&'-');
    if negative {
        i += 1;
    }
    let mut total: i64 = 0;
    while i < chars.len() {
        let start = i;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
        if i >= chars.len() || i == start {
            return Err(DurationError::Invalid);
        }
        let digits: String = chars.get(start..i).unwrap_or_default().iter().collect();
        let n: i64 = digits.parse().map_err(|_| DurationError::Invalid)?;
        let next = chars.get(i + 1).copied();
        let (unit, mult, width): (&str, i64, usize) = match chars.get(i).copied() {
            Some('n') if next == Some('s') => ("ns", 1, 2),
            Some('u') => ("u", 1_000, 1),
            Some('µ') => ("µ", 1_000, 1),
            Some('m') if next == Some('s') => ("ms", 1_000_000, 2),
            Some('m') => ("m", 60 * NS_PER_SEC, 1),
            Some('s') => ("s", NS_PER_SEC, 1),
            Some('h') => ("h", 3600 * NS_PER_SEC, 1),
            Some('d') => ("d", 86_400 * NS_PER_SEC, 1),
            Some('w') => ("w", 7 * 86_400 * NS_PER_SEC, 1),
            _ => return Err(DurationError::Invalid),
        };
        let overflow = || DurationError::Overflow {
            measure: n,
            unit: unit.to_string(),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(overflow)?;
        i += width;
    }
    Ok(if negative { -total } else { total })
}

/// Go's `time.Duration.String()` (one implementation, in the catalog).
pub use crate::duration::format_go_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_format_examples() {
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_257_894_000_000_000_000),
            "2009-11-10T23:00:00Z"
        );
        assert_eq!(
            format_rfc3339_nano(1_257_894_000_500_000_000),
            "2009-11-10T23:00:00.5Z"
        );
        assert_eq!(
            format_rfc3339_nano(1_257_894_000_000_000_001),
            "2009-11-10T23:00:00.000000001Z"
        );
        assert_eq!(format_rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_rfc3339_nano(i64::MIN + 2),
            "1677-09-21T00:12:43.145224194Z"
        );
        assert_eq!(
            format_rfc3339_nano(i64::MAX - 1),
            "2262-04-11T23:47:16.854775806Z"
        );
        assert_eq!(
            format_rfc3339_nano(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn rfc3339_round_trips() {
        let samples = [
            0,
            1,
            -1,
            999_999_999,
            -999_999_999,
            1_600_000_000_123_456_789,
            -2_208_988_800_000_000_000, // 1900-01-01
            -5_000_000_000_000_000_001,
            i64::MIN + 2,
            i64::MAX - 1,
        ];
        for ns in samples {
            let s = format_rfc3339_nano(ns);
            assert_eq!(parse_rfc3339(&s), Some(ns), "{s}");
        }
        let mut ns = -9_000_000_000_000_000_000i64;
        while ns < 9_000_000_000_000_000_000 {
            let s = format_rfc3339_nano(ns);
            assert_eq!(parse_rfc3339(&s), Some(ns), "{s}");
            ns += 12_345_678_901_234_567;
        }
    }

    #[test]
    fn rfc3339_parse_offsets_and_errors() {
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.1Z"), Some(100_000_000));
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
            Some(123_456_789)
        );
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-13-01T00:00:00Z",
            "1970-02-30T00:00:00Z",
            "2019-02-29T00:00:00Z",
            "1970-01-01T24:00:00Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zx",
            "1970-01-01 00:00:00Z",
            "197a-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("2020-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn time_literal_forms() {
        let day = 1_577_836_800_000_000_000; // 2020-01-01
        assert_eq!(parse_time_literal("2020-01-01"), Some(day));
        assert_eq!(
            parse_time_literal("2020-01-01 00:00:01"),
            Some(day + 1_000_000_000)
        );
        assert_eq!(
            parse_time_literal("2020-01-01 00:00:00.25"),
            Some(day + 250_000_000)
        );
        assert_eq!(parse_time_literal("2020-01-01T00:00:00Z"), Some(day));
        assert_eq!(parse_time_literal("2020-01-01T02:00:00+02:00"), Some(day));
        assert_eq!(
            parse_time_literal("1960-01-01"),
            Some(-315_619_200_000_000_000)
        );
        for bad in [
            "2020-1-01",
            "now",
            "2020-01-01T00:00:00",
            "2020-01-01x",
            "2020-01-32",
        ] {
            assert_eq!(parse_time_literal(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        let s = NS_PER_SEC;
        assert_eq!(parse_duration("1ns"), Ok(1));
        assert_eq!(parse_duration("1u"), Ok(1_000));
        assert_eq!(parse_duration("1µ"), Ok(1_000));
        assert_eq!(parse_duration("1ms"), Ok(1_000_000));
        assert_eq!(parse_duration("10s"), Ok(10 * s));
        assert_eq!(parse_duration("2m"), Ok(120 * s));
        assert_eq!(parse_duration("1h30m"), Ok(5400 * s));
        assert_eq!(parse_duration("1d"), Ok(86_400 * s));
        assert_eq!(parse_duration("1w"), Ok(604_800 * s));
        assert_eq!(parse_duration("-5m"), Ok(-300 * s));
        for bad in ["", "1", "s", "1x", "1n", "1h5", "1.5h"] {
            assert_eq!(parse_duration(bad), Err(DurationError::Invalid), "{bad}");
        }
        assert_eq!(
            parse_duration("15251w").map_err(|e| e.to_string()),
            Err("overflowed duration 15251w: choose a smaller duration or INF".to_string())
        );
    }

    #[test]
    fn go_duration_strings() {
        let s = NS_PER_SEC;
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(1), "1ns");
        assert_eq!(format_go_duration(1_500), "1.5µs");
        assert_eq!(format_go_duration(500_000_000), "500ms");
        assert_eq!(format_go_duration(1_500_000_000), "1.5s");
        assert_eq!(format_go_duration(90 * s), "1m30s");
        assert_eq!(format_go_duration(3600 * s), "1h0m0s");
        assert_eq!(format_go_duration(168 * 3600 * s), "168h0m0s");
        assert_eq!(format_go_duration(-90 * s), "-1m30s");
        assert_eq!(format_go_duration(3601 * s + 1), "1h0m1.000000001s");
    }
}
