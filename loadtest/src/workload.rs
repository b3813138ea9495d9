//! Workloads and the pool of pre-built bodies.
//!
//! Bodies are built once, before the clock starts, with lineshard's own encoder. The send loop only
//! *rebases* a body: every row's timestamp sits in a fixed-width slot, and moving a body to its next
//! cycle adds one constant to every slot (a copy of 19 bytes per row in the common case). So the
//! generator costs next to nothing per request while every batch still carries new points.
//!
//! Row `i` of a connection's cycle is series `lo + i % hosts_c` at round `i / hosts_c`; one cycle spans
//! `rounds_per_cycle` rounds and cycle `c` is shifted by `c * rounds_per_cycle` rounds, so no two rows
//! a connection sends share (series, time), and connections own disjoint series.

use std::borrow::Cow;
use std::io::Write;

use clap::ValueEnum;
use flate2::{write::GzEncoder, Compression};
use lineshard::lineproto::{encode, FieldValue, PointRef, Precision};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// TSBS cpu-only: measurement `cpu`, 10 tags, 10 integer fields, one row per host every 10 s.
    TsbsCpu,
    /// One float field on a million series (a fresh `id` tag per series).
    HighCardinality,
    /// Many fields of every type: float, integer, string, boolean.
    Wide,
}

impl Workload {
    pub fn measurement(self) -> &'static str {
        match self {
            Workload::TsbsCpu => "cpu",
            Workload::HighCardinality => "hc",
            Workload::Wide => "wide",
        }
    }

    /// The series count used when `--hosts` is not given.
    pub fn default_hosts(self) -> u64 {
        match self {
            Workload::TsbsCpu => 1_000,
            Workload::HighCardinality => 1_000_000,
            Workload::Wide => 100,
        }
    }
}

/// What one connection generates.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub workload: Workload,
    /// This connection's series: `[series_lo, series_lo + series_count)`.
    pub series_lo: u64,
    pub series_count: u64,
    pub batch_rows: usize,
    /// Bodies in the pool (raised so that one cycle covers every series).
    pub pool_batches: usize,
    pub precision: Precision,
    /// First timestamp, in nanoseconds since the epoch.
    pub start_ns: i64,
    pub gzip: bool,
    pub seed: u64,
}

/// Round step: 10 s, as TSBS cpu-only.
pub const ROUND_NS: i64 = 10_000_000_000;

#[derive(Clone, Copy, Debug)]
struct Slot {
    offset: u32,
    base: i64,
}

/// One pre-built request body.
pub struct Body {
    bytes: Vec<u8>,
    gz: Option<Vec<u8>>,
    rows: usize,
    slots: Vec<Slot>,
    ts_width: usize,
    delta: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PoolError {
    NoSeries,
    TimestampWidth,
    Encode(lineshard::lineproto::EncodeError),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::NoSeries => {
                f.write_str("a connection got no series: raise --hosts or lower --connections")
            }
            PoolError::Encode(e) => write!(f, "a generated point cannot be encoded: {e}"),
            PoolError::TimestampWidth => {
                f.write_str("timestamp changed its digit count: pick another --start-epoch-s")
            }
        }
    }
}

impl Body {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Moves every timestamp to `base + delta` (no-op for gzip bodies, which are sent as built).
    pub fn rebase(&mut self, delta: i64) -> Result<(), PoolError> {
        if self.gz.is_some() || delta == self.delta {
            return Ok(());
        }
        let mut last = (i64::MIN, [0u8; 20]);
        for s in &self.slots {
            let v = s.base + delta;
            if v != last.0 {
                last = (
                    v,
                    fixed_digits(v, self.ts_width).ok_or(PoolError::TimestampWidth)?,
                );
            }
            let at = s.offset as usize;
            if let Some(dst) = self.bytes.get_mut(at..at + self.ts_width) {
                dst.copy_from_slice(&last.1[..self.ts_width]);
            }
        }
        self.delta = delta;
        Ok(())
    }

    /// The bytes to send for the first `rows` rows (all of a gzip body, which cannot be cut).
    pub fn payload(&self, rows: usize) -> (&[u8], usize) {
        if let Some(gz) = &self.gz {
            return (gz, self.rows);
        }
        if rows >= self.rows || rows == 0 {
            return (&self.bytes, self.rows);
        }
        let end = self.slots[rows - 1].offset as usize + self.ts_width + 1;
        (&self.bytes[..end], rows)
    }

    /// Timestamps (precision units) of the first `rows` rows after the current rebase: (min, max).
    pub fn ts_range(&self, rows: usize) -> Option<(i64, i64)> {
        let n = rows.min(self.slots.len());
        let it = self.slots[..n].iter().map(|s| s.base + self.delta);
        let min = it.clone().min()?;
        Some((min, it.max()?))
    }
}

/// `v` written in exactly `width` decimal digits, or `None` if it does not have that many.
fn fixed_digits(v: i64, width: usize) -> Option<[u8; 20]> {
    if v < 0 || width == 0 || width > 19 {
        return None;
    }
    let mut out = [0u8; 20];
    let mut x = v as u64;
    for i in (0..width).rev() {
        out[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    let top_ok = out[0] != b'0' || width == 1;
    (x == 0 && top_ok).then_some(out)
}

/// A connection's pool: bodies in send order plus the timestamp shift of one cycle.
pub struct Pool {
    pub bodies: Vec<Body>,
    /// Added to every timestamp (precision units) per completed cycle.
    pub cycle_delta: i64,
}

impl Pool {
    pub fn build(spec: &PoolSpec) -> Result<Pool, PoolError> {
        if spec.series_count == 0 || spec.batch_rows == 0 {
            return Err(PoolError::NoSeries);
        }
        let b = spec.batch_rows as u64;
        let min_batches = spec.series_count.div_ceil(b);
        let batches = (spec.pool_batches.max(1) as u64).max(min_batches);
        let cycle_rows = batches * b;
        let rounds_per_cycle = cycle_rows.div_ceil(spec.series_count) as i64;
        let mult = spec.precision.multiplier_ns();
        let step = ROUND_NS / mult;
        let start = spec.start_ns / mult;
        let ts_width = digits(start);
        // high-cardinality spreads a round's rows over its 10 s (one timestamp per series), so that
        // `--verify` can cut the stored rows into small time windows; TSBS keeps one time per round.
        let spread = match spec.workload {
            Workload::HighCardinality => step / spec.series_count as i64,
            _ => 0,
        };
        let mut rng = Rng(spec.seed | 1);
        let mut bodies = Vec::with_capacity(batches as usize);
        for j in 0..batches {
            let mut body = Body {
                bytes: Vec::new(),
                gz: None,
                rows: 0,
                slots: Vec::new(),
                ts_width,
                delta: 0,
            };
            for r in 0..b {
                let i = j * b + r;
                let series = spec.series_lo + i % spec.series_count;
                let ts = start
                    + (i / spec.series_count) as i64 * step
                    + (i % spec.series_count) as i64 * spread;
                if digits(ts) != ts_width {
                    return Err(PoolError::TimestampWidth);
                }
                encode_row(spec.workload, series, ts, &mut rng, &mut body.bytes)?;
                let offset = body.bytes.len() - 1 - ts_width;
                body.slots.push(Slot {
                    offset: offset as u32,
                    base: ts,
                });
                body.rows += 1;
            }
            if spec.gzip {
                body.gz = Some(gzip(&body.bytes));
            }
            bodies.push(body);
        }
        Ok(Pool {
            bodies,
            cycle_delta: rounds_per_cycle * step,
        })
    }
}

fn digits(v: i64) -> usize {
    v.max(1).to_string().len()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// xorshift64*: deterministic field values without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const CPU_FIELDS: [&str; 10] = lineshard::tsbs::CPU_FIELDS;
const REGIONS: [&str; 3] = ["us-west-1", "eu-central-1", "ap-northeast-1"];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const ENVS: [&str; 3] = ["production", "staging", "test"];

/// Appends one row of `workload` for `series` at `ts` (in precision units).
pub fn encode_row(
    workload: Workload,
    series: u64,
    ts: i64,
    rng: &mut Rng,
    out: &mut Vec<u8>,
) -> Result<(), PoolError> {
    match workload {
        Workload::TsbsCpu => encode_cpu(series, ts, rng, out),
        Workload::HighCardinality => encode_hc(series, ts, rng, out),
        Workload::Wide => encode_wide(series, ts, rng, out),
    }
    .map_err(PoolError::Encode)
}

type EncodeResult = Result<(), lineshard::lineproto::EncodeError>;

fn encode_cpu(series: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) -> EncodeResult {
    let s = series as usize;
    let host = format!("host_{series}");
    let dc = format!("{}{}", REGIONS[s % 3], ["a", "b", "c"][s / 3 % 3]);
    let rack = (s % 100).to_string();
    let team = ["SF", "NYC", "LON", "CHI"][s % 4];
    let service = (s % 20).to_string();
    let version = (s % 2).to_string();
    let tags: [(&[u8], &[u8]); 10] = [
        (b"hostname", host.as_bytes()),
        (b"region", REGIONS[s % 3].as_bytes()),
        (b"datacenter", dc.as_bytes()),
        (b"rack", rack.as_bytes()),
        (b"os", OSES[s % 3].as_bytes()),
        (b"arch", ARCHES[s % 2].as_bytes()),
        (b"team", team.as_bytes()),
        (b"service", service.as_bytes()),
        (b"service_version", version.as_bytes()),
        (b"service_environment", ENVS[s % 3].as_bytes()),
    ];
    let fields: Vec<(&[u8], FieldValue<'_>)> = CPU_FIELDS
        .iter()
        .map(|f| (f.as_bytes(), FieldValue::Integer(rng.below(101) as i64)))
        .collect();
    encode(
        out,
        &PointRef {
            measurement: b"cpu",
            tags: &tags,
            fields: &fields,
            timestamp: Some(ts),
        },
    )
}

fn encode_hc(series: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) -> EncodeResult {
    let id = format!("id_{series}");
    let shard = (series % 16).to_string();
    let tags: [(&[u8], &[u8]); 2] = [(b"id", id.as_bytes()), (b"shard", shard.as_bytes())];
    let v = rng.below(1_000_000) as f64 / 100.0;
    let fields = [(&b"value"[..], FieldValue::Float(v))];
    encode(
        out,
        &PointRef {
            measurement: b"hc",
            tags: &tags,
            fields: &fields,
            timestamp: Some(ts),
        },
    )
}

/// 10 floats, 10 integers, 5 strings, 5 booleans.
pub const WIDE_FIELDS: usize = 30;

fn encode_wide(series: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) -> EncodeResult {
    let host = format!("host_{series}");
    let tags: [(&[u8], &[u8]); 1] = [(b"host", host.as_bytes())];
    let names: Vec<String> = (0..10)
        .map(|i| format!("f{i}"))
        .chain((0..10).map(|i| format!("i{i}")))
        .chain((0..5).map(|i| format!("s{i}")))
        .chain((0..5).map(|i| format!("b{i}")))
        .collect();
    let words = ["ok", "warn \"quoted\"", "path\\to", "a,b=c d", "idle"];
    let mut fields: Vec<(&[u8], FieldValue<'_>)> = Vec::with_capacity(WIDE_FIELDS);
    for (k, name) in names.iter().enumerate() {
        let v = match k {
            0..=9 => FieldValue::Float(rng.below(100_000) as f64 / 7.0),
            10..=19 => FieldValue::Integer(rng.below(1 << 40) as i64 - (1 << 39)),
            20..=24 => FieldValue::String(Cow::Borrowed(words[rng.below(5) as usize].as_bytes())),
            _ => FieldValue::Boolean(rng.below(2) == 1),
        };
        fields.push((name.as_bytes(), v));
    }
    encode(
        out,
        &PointRef {
            measurement: b"wide",
            tags: &tags,
            fields: &fields,
            timestamp: Some(ts),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn spec(
        workload: Workload,
        series: u64,
        batch: usize,
        pool: usize,
        precision: Precision,
    ) -> PoolSpec {
        PoolSpec {
            workload,
            series_lo: 100,
            series_count: series,
            batch_rows: batch,
            pool_batches: pool,
            precision,
            start_ns: 1_451_606_400_000_000_000,
            gzip: false,
            seed: 7,
        }
    }

    /// Decodes a body with lineshard's own decoder (every line must decode); the precision is
    /// the body's own.
    fn points(body: &[u8], precision: Precision) -> Vec<lineshard::lineproto::OwnedPoint> {
        let opts = lineshard::lineproto::DecodeOptions {
            precision,
            default_time_ns: 0,
            accept_unsigned: false,
            strip_cr: false,
        };
        let (points, errors) = lineshard::lineproto::decode_body(body, &opts);
        assert!(errors.is_empty(), "does not decode: {}", errors[0]);
        points
    }

    /// Returns (series keys, (series, time) pairs, rows).
    type Decoded = (HashSet<Vec<u8>>, HashSet<(Vec<u8>, i64)>, usize);

    fn decode(body: &[u8]) -> Decoded {
        let pts = points(body, Precision::Nanosecond);
        let series = pts.iter().map(|p| p.series_key.clone()).collect();
        let pairs = pts
            .iter()
            .map(|p| (p.series_key.clone(), p.timestamp_ns))
            .collect();
        (series, pairs, pts.len())
    }

    #[test]
    fn tsbs_cpu_decodes_with_ten_tags_ten_integer_fields_and_all_hosts() {
        let pool =
            Pool::build(&spec(Workload::TsbsCpu, 250, 100, 4, Precision::Nanosecond)).unwrap();
        let mut all = HashSet::new();
        for b in &pool.bodies {
            for p in points(&b.bytes, Precision::Nanosecond) {
                assert_eq!(p.measurement, b"cpu");
                assert_eq!(p.tags.len(), 10);
                assert_eq!(p.fields.len(), 10);
                assert!(p
                    .fields
                    .iter()
                    .all(|(_, v)| matches!(v, lineshard::lineproto::FieldValue::Integer(0..=100))));
            }
            let (s, _, rows) = decode(&b.bytes);
            assert_eq!(rows, 100);
            all.extend(s);
        }
        assert_eq!(all.len(), 250, "the promised series count");
    }

    #[test]
    fn high_cardinality_and_wide_decode_with_the_promised_series_and_types() {
        let pool = Pool::build(&spec(
            Workload::HighCardinality,
            3000,
            1000,
            1,
            Precision::Second,
        ))
        .unwrap();
        assert_eq!(
            pool.bodies.len(),
            3,
            "the pool grows until it covers every series"
        );
        let series: HashSet<Vec<u8>> = pool
            .bodies
            .iter()
            .flat_map(|b| decode(&b.bytes).0)
            .collect();
        assert_eq!(series.len(), 3000);

        let pool = Pool::build(&spec(Workload::Wide, 10, 50, 1, Precision::Millisecond)).unwrap();
        for p in points(&pool.bodies[0].bytes, Precision::Millisecond) {
            assert_eq!(p.fields.len(), WIDE_FIELDS);
            use lineshard::lineproto::FieldValue as F;
            let count = |f: fn(&F<'_>) -> bool| p.fields.iter().filter(|(_, v)| f(v)).count();
            assert_eq!(count(|v| matches!(v, F::Float(_))), 10);
            assert_eq!(count(|v| matches!(v, F::Integer(_))), 10);
            assert_eq!(count(|v| matches!(v, F::String(_))), 5);
            assert_eq!(count(|v| matches!(v, F::Boolean(_))), 5);
        }
        assert_eq!(decode(&pool.bodies[0].bytes).0.len(), 10);
    }

    #[test]
    fn rebased_cycles_carry_new_points_and_still_decode() {
        let mut pool =
            Pool::build(&spec(Workload::TsbsCpu, 7, 5, 2, Precision::Nanosecond)).unwrap();
        let mut seen = HashSet::new();
        for cycle in 0..3i64 {
            for b in pool.bodies.iter_mut() {
                b.rebase(pool.cycle_delta * cycle).unwrap();
                let (_, points, rows) = decode(&b.bytes);
                assert_eq!(points.len(), rows);
                for p in points {
                    assert!(seen.insert(p.clone()), "point {p:?} sent twice");
                }
            }
        }
        assert_eq!(seen.len(), 3 * 2 * 5);
        // 10 rows over 7 hosts span 2 rounds of 10 s.
        assert_eq!(pool.cycle_delta, 2 * ROUND_NS);
    }

    #[test]
    fn payload_cuts_at_a_line_boundary_and_reports_its_time_range() {
        let pool = Pool::build(&spec(Workload::TsbsCpu, 2, 6, 1, Precision::Second)).unwrap();
        let b = &pool.bodies[0];
        let (bytes, rows) = b.payload(3);
        assert_eq!(rows, 3);
        assert_eq!(decode(bytes).2, 3);
        assert!(bytes.ends_with(b"\n"));
        assert_eq!(b.ts_range(3), Some((1_451_606_400, 1_451_606_410)));
        assert_eq!(b.payload(0).1, 6);
    }

    #[test]
    fn gzip_bodies_inflate_to_the_plain_body() {
        let mut s = spec(Workload::Wide, 4, 20, 1, Precision::Nanosecond);
        s.gzip = true;
        let pool = Pool::build(&s).unwrap();
        let (gz, rows) = pool.bodies[0].payload(5);
        assert_eq!(rows, 20, "a gzip body is sent whole");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut plain).unwrap();
        assert_eq!(plain, pool.bodies[0].bytes);
    }

    #[test]
    fn fixed_width_digits() {
        assert_eq!(&fixed_digits(1234, 4).unwrap()[..4], b"1234");
        assert_eq!(fixed_digits(12345, 4), None);
        assert_eq!(fixed_digits(123, 4), None);
        assert_eq!(fixed_digits(-1, 4), None);
        assert_eq!(
            Pool::build(&spec(Workload::Wide, 0, 5, 1, Precision::Second)).err(),
            Some(PoolError::NoSeries)
        );
    }
}
