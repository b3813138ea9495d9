//! Go-style durations (`10s`, `3m`, `1h0m0s`, `1.5ms`), shared by the config file, the catalog's error
//! texts and `/query` output (`SHOW RETENTION POLICIES` prints `168h0m0s`).
//!
//! `format_go_duration` matches Go's `time.Duration.String`, and `parse_go_duration` matches
//! `time.ParseDuration` (the parser InfluxDB 1.x uses for its TOML config). InfluxQL duration literals
//! (`7d`, `2w`, integers only) are a different grammar and live in the query module.

use std::fmt;

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// Why a duration string was rejected; `Display` follows Go's `time: ...` texts without the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or out of the i64 nanosecond range.
    Invalid(String),
    /// A number without a unit, such as `10`.
    MissingUnit(String),
    /// A unit other than ns, us, µs, ms, s, m, h.
    UnknownUnit { unit: String, input: String },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Invalid(s) => write!(f, "invalid duration {s:?}"),
            DurationError::MissingUnit(s) => write!(f, "missing unit in duration {s:?}"),
            DurationError::UnknownUnit { unit, input } => {
                write!(f, "unknown unit {unit:?} in duration {input:?}")
            }
        }
    }
}

impl std::error::Error for DurationError {}

/// Formats nanoseconds as Go's `time.Duration.String` does: `0s`, `500ms`, `1.5µs`, `1m30s`,
/// `168h0m0s`, `-2s`.
pub fn format_go_duration(ns: i64) -> String {
    let magnitude = ns.unsigned_abs();
    let sign = if ns < 0 { "-" } else { "" };
    if magnitude == 0 {
        return "0s".to_string();
    }
    if magnitude < NS_PER_S {
        let (unit, prec) = if magnitude < NS_PER_US {
            ("ns", 0)
        } else if magnitude < NS_PER_MS {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (int, frac) = split_fraction(magnitude, prec);
        return format!("{sign}{int}{frac}{unit}");
    }
    let (secs, frac) = split_fraction(magnitude, 9);
    let (hours, mins, secs) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        format!("{sign}{hours}h{mins}m{secs}{frac}s")
    } else if mins > 0 {
        format!("{sign}{mins}m{secs}{frac}s")
    } else {
        format!("{sign}{secs}{frac}s")
    }
}

/// Splits `v` into `v / 10^prec` and the fraction as `.ddd` without trailing zeros ("" when zero).
fn split_fraction(v: u64, prec: u32) -> (u64, String) {
    let scale = 10u64.pow(prec);
    let frac = v % scale;
    if frac == 0 {
        return (v / scale, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (v / scale, format!(".{}", digits.trim_end_matches('0')))
}

/// Parses a Go duration string (`time.ParseDuration`) into nanoseconds: `300ms`, `-1.5h`, `2h45m`, `0`.
pub fn parse_go_duration(input: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let (neg, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (term_ns, after) = parse_term(rest, input)?;
        total = total.checked_add(term_ns).ok_or_else(invalid)?;
        rest = after;
    }
    if neg {
        0i64.checked_sub_unsigned(total).ok_or_else(invalid)
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

/// A duration given on a command line: a Go duration (`10s`, `2m`, `1h30m`, `250ms`) or a plain
/// number of seconds (`10`, `0.5`), as load testers write them. Negative durations are refused.
pub fn parse_duration_arg(input: &str) -> Result<std::time::Duration, String> {
    let s = input.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("invalid duration {input:?}: not a number of seconds >= 0"));
    }
    match parse_go_duration(s) {
        Ok(ns) if ns >= 0 => Ok(std::time::Duration::from_nanos(ns as u64)),
        Ok(_) => Err(format!("invalid duration {input:?}: negative")),
        Err(e) => Err(format!("{e} (use e.g. 10s, 2m, 1h30m, 250ms, or seconds)")),
    }
}

/// One `<number>[.<fraction>]<unit>` term; returns its nanoseconds and the rest of the string.
fn parse_term<'a>(s: &'a str, input: &str) -> Result<(u64, &'a str), DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let int_digits = &s[..int_len];
    let mut rest = &s[int_len..];
    let mut frac_digits = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        frac_digits = &after_dot[..frac_len];
        rest = &after_dot[frac_len..];
    } else if int_len == 0 {
        return Err(invalid());
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(invalid());
    }
    let unit_len = rest
        .bytes()
        .take_while(|c| *c != b'.' && !c.is_ascii_digit())
        .count();
    if unit_len == 0 {
        return Err(DurationError::MissingUnit(input.to_string()));
    }
    let unit = &rest[..unit_len];
    let unit_ns = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
        unit: unit.to_string(),
        input: input.to_string(),
    })?;
    let int: u64 = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().map_err(|_| invalid())?
    };
    let whole = int.checked_mul(unit_ns).ok_or_else(invalid)?;
    let total = whole
        .checked_add(fraction_nanos(frac_digits, unit_ns))
        .ok_or_else(invalid)?;
    Ok((total, &rest[unit_len..]))
}

/// `0.<digits>` of `unit_ns`, truncated to whole nanoseconds (Go keeps at most ~19 significant digits).
fn fraction_nanos(digits: &str, unit_ns: u64) -> u64 {
    let mut f: u64 = 0;
    let mut scale: f64 = 1.0;
    for d in digits.bytes().take(18) {
        f = f * 10 + u64::from(d - b'0');
        scale *= 10.0;
    }
    if f == 0 {
        return 0;
    }
    (f as f64 * (unit_ns as f64 / scale)) as u64
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => NS_PER_US,
        "ms" => NS_PER_MS,
        "s" => NS_PER_S,
        "m" => 60 * NS_PER_S,
        "h" => 3600 * NS_PER_S,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_durations() {
        use std::time::Duration;
        let ok = |s: &str| parse_duration_arg(s).unwrap();
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("10"), Duration::from_secs(10));
        assert_eq!(ok("0.5"), Duration::from_millis(500));
        assert_eq!(ok("0"), Duration::ZERO);
        for bad in ["", "-1", "-2s", "10x", "s", "nan", "1e400", "ten"] {
            assert!(parse_duration_arg(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_duration_arg("10x").unwrap_err(),
            "unknown unit \"x\" in duration \"10x\" (use e.g. 10s, 2m, 1h30m, 250ms, or seconds)"
        );
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (500 * NS_PER_MS as i64, "500ms"),
            (1_500_000, "1.5ms"),
            (NS_PER_S as i64, "1s"),
            (1_500_000_000, "1.5s"),
            (90 * NS_PER_S as i64, "1m30s"),
            (3600 * NS_PER_S as i64, "1h0m0s"),
            (168 * 3600 * NS_PER_S as i64, "168h0m0s"),
            (-2 * NS_PER_S as i64, "-2s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ];
        for (ns, want) in cases {
            assert_eq!(format_go_duration(*ns), *want, "ns={ns}");
        }
    }

    #[test]
    fn parses_like_go() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("10s", 10 * NS_PER_S as i64),
            ("3m", 180 * NS_PER_S as i64),
            ("100ms", 100 * NS_PER_MS as i64),
            ("1h0m0s", 3600 * NS_PER_S as i64),
            ("2h45m", (2 * 3600 + 45 * 60) * NS_PER_S as i64),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("1.s", NS_PER_S as i64),
            ("-1.5h", -5_400_000_000_000),
            ("+7us", 7_000),
            ("7µs", 7_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s), Ok(*want), "input={s}");
        }
    }

    #[test]
    fn rejects_like_go() {
        let invalid = ["", "-", "s", ".s", "9223372036854775808ns", "3000000h"];
        for s in invalid {
            assert_eq!(
                parse_go_duration(s),
                Err(DurationError::Invalid(s.to_string())),
                "{s}"
            );
        }
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            r#"missing unit in duration "10""#
        );
        assert_eq!(
            parse_go_duration("1..5s"),
            Err(DurationError::MissingUnit("1..5s".to_string()))
        );
        assert_eq!(
            parse_go_duration("7d").unwrap_err().to_string(),
            r#"unknown unit "d" in duration "7d""#
        );
    }

    #[test]
    fn format_then_parse_is_identity() {
        for ns in [
            1,
            999,
            1_001,
            59 * NS_PER_S as i64 + 7,
            86_400 * NS_PER_S as i64,
            -42,
        ] {
            assert_eq!(parse_go_duration(&format_go_duration(ns)), Ok(ns));
        }
    }
}
