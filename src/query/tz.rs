//! Time zones for `tz('...')`: the names Go's `time.LoadLocation` accepts, read from the
//! system's zoneinfo database, and 1.x's use of them: GROUP BY time buckets aligned to local
//! time (`IteratorOptions.Window` and the fill iterator's step, 1.8), time strings without a
//! zone read as local time, and RFC3339 times written with the zone's offset.

/// Where the IANA database lives (Debian's `tzdata`).
const ZONEINFO: &str = "/usr/share/zoneinfo";

const NS_PER_SEC: i64 = 1_000_000_000;

/// Whether `name` is a zone 1.x would load: `""`/`UTC`/`Local` or a file of the database.
pub fn exists(name: &str) -> bool {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return true;
    }
    // Go refuses names that escape the database directory.
    if name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
        return false;
    }
    std::path::Path::new(ZONEINFO).join(name).is_file()
}

/// A zone's offsets from UTC over time.
#[derive(Debug)]
pub struct Zone(tz::TimeZone);

impl Zone {
    /// The zone of `tz('name')`; `None` for UTC (`""`, `UTC`) or a name that does not load.
    pub fn load(name: &str) -> Option<Zone> {
        if name.is_empty() || name == "UTC" || !exists(name) {
            return None;
        }
        let file = if name == "Local" { "localtime" } else { name };
        tz::TimeZone::from_posix_tz(file).ok().map(Zone)
    }

    /// The offset from UTC at `t_ns`, in ns (Go's `Time.Zone()`).
    pub fn offset_ns(&self, t_ns: i64) -> i64 {
        self.0
            .find_local_time_type(t_ns.div_euclid(NS_PER_SEC))
            .map_or(0, |l| i64::from(l.ut_offset()) * NS_PER_SEC)
    }

    /// The start of the GROUP BY time bucket holding `t` (1.8's `Window` with a location): the
    /// bucket is aligned in local time, and a bucket that spans an offset change smaller than
    /// the interval is moved by it.
    pub fn window(&self, t: i64, every: i64, offset: i64) -> i64 {
        let t = t.saturating_sub(offset);
        let zone = self.offset_ns(t);
        let dt = t.saturating_add(zone).rem_euclid(every);
        let mut start = if crate::query::TIME_MIN_NS.saturating_add(dt) >= t {
            crate::query::TIME_MIN_NS
        } else {
            t - dt
        };
        start = start.saturating_add(offset);
        let o = zone - self.offset_ns(start);
        if o != 0 && o.abs() < every {
            start = start.saturating_add(o);
        }
        start
    }

    /// The bucket after the one starting at `t`, `offset` being the zone's offset at `t` (the
    /// fill iterator's step across an offset change); returns it with its offset.
    pub fn next_window(&self, t: i64, every: i64, offset: i64) -> (i64, i64) {
        let mut next = t.saturating_add(every);
        let now = self.offset_ns(next - 1);
        if now != offset {
            let diff = offset - now;
            if diff.abs() < every {
                next = next.saturating_add(diff);
            }
        }
        (next, now)
    }

    /// A time string without a zone (`2006-01-02 15:04:05`) read as this zone's local time
    /// (`civil_ns`: the same wall time read as UTC).
    pub fn local_to_utc(&self, civil_ns: i64) -> i64 {
        let guess = civil_ns.saturating_sub(self.offset_ns(civil_ns));
        civil_ns.saturating_sub(self.offset_ns(guess))
    }

    /// RFC3339 with nanoseconds as Go writes a time in this zone (`-06:00`, `Z` at offset 0).
    pub fn format_rfc3339_nano(&self, t_ns: i64) -> String {
        let off = self.offset_ns(t_ns);
        let local = crate::query::time::format_rfc3339_nano(t_ns.saturating_add(off));
        let Some(stem) = local.strip_suffix('Z') else {
            return local;
        };
        if off == 0 {
            return local;
        }
        let mins = (off / NS_PER_SEC / 60).abs();
        let sign = if off < 0 { '-' } else { '+' };
        format!("{stem}{sign}{:02}:{:02}", mins / 60, mins % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * NS_PER_SEC;

    #[test]
    fn chicago_days_follow_local_midnight_across_dst() {
        let z = Zone::load("America/Chicago").expect("tzdata");
        // 1970-01-01T00:00Z is 1969-12-31T18:00-06:00: its day starts at 06:00Z the day before.
        assert_eq!(z.window(0, 24 * H, 0), -18 * H);
        assert_eq!(z.format_rfc3339_nano(-18 * H), "1969-12-31T00:00:00-06:00");
        // 2020-03-08 (DST starts at 08:00Z): that local day has 23 hours.
        let mar8 = 1_583_647_200 * NS_PER_SEC; // 2020-03-08T06:00:00Z, local midnight
        assert_eq!(z.window(mar8 + 12 * H, 24 * H, 0), mar8);
        let (next, _) = z.next_window(mar8, 24 * H, z.offset_ns(mar8));
        assert_eq!(next, mar8 + 23 * H);
        assert_eq!(z.format_rfc3339_nano(next), "2020-03-09T00:00:00-05:00");
        assert_eq!(z.local_to_utc(1_583_625_600 * NS_PER_SEC), mar8); // '2020-03-08' local
    }

    #[test]
    fn utc_is_no_zone() {
        assert!(Zone::load("UTC").is_none());
        assert!(Zone::load("").is_none());
        assert!(Zone::load("Nowhere/Atlantis").is_none());
        let k = Zone::load("Asia/Kolkata").expect("tzdata");
        assert_eq!(k.format_rfc3339_nano(0), "1970-01-01T05:30:00+05:30");
        assert_eq!(k.window(0, H, 0), -H / 2);
    }
}
