//! Staging a write body: decode its lines, check each point's field types against this core's
//! schema cache, and split the points into per-partition batches, noting what is dropped and
//! which points wait for a schema owner's verdict.

use super::WriteError;
use crate::lineproto::{lines, DecodeOptions, ErrorKind, FieldType, Line, LineError, ReservedTime};
use crate::metrics::Reject;
use crate::runtime::Core;
use crate::shard::batch::{Batch, NewPoint, SchemaToken};
use crate::shard::key;
use crate::shard::schema::FieldClaim;
use hashbrown::HashMap;
use std::rc::Rc;

/// Lines decoded between two cooperative yields: a 25 MB body must not stall the core's other
/// connections (glommio's preemption timer is 100 ms; ~1000 lines take well under 1 ms).
const LINES_PER_YIELD: usize = 1024;

/// Parse errors spelled out in one answer; a body of a million bad lines gets a bounded answer.
pub(super) const PARSE_ERRORS_REPORTED_MAX: usize = 100;

/// The points of one request, split by partition, with what was refused on the way.
pub(super) struct Staged {
    pub(super) batches: Vec<Batch>,
    /// Per partition, per point: whether the point uses a field this core did not know.
    pub(super) unsure: Vec<Vec<bool>>,
    /// Per partition, for its unsure points in batch order: (line ordinal, index of its claim).
    pub(super) unsure_lines: Vec<Vec<(usize, usize)>>,
    /// The unsure points' claims in body order, each distinct claim once: an identical claim
    /// decided later gets the same verdict (a refusal may then name another field, but only the
    /// first refused point's reason is answered).
    pub(super) claims: Vec<FieldClaim>,
    pub(super) claimed: HashMap<FieldClaim, usize>,
    pub(super) dropped: usize,
    /// The reason answered for the dropped points, with its rank (see `drop_point`).
    pub(super) first_drop: Option<(DropRank, String)>,
    /// Points older than the retention policy allows (reported only when nothing else was).
    pub(super) beyond_retention: usize,
    pub(super) parse_errors: Vec<LineError>,
    pub(super) parse_error_count: usize,
    pub(super) lines_ok: usize,
    /// Points dropped, by reason (`Reject as usize`), for `lineshard_lines_rejected_total`.
    pub(super) rejected: [u64; Reject::ALL.len()],
}

impl Staged {
    /// `body_len`: the request body's length; a batch takes about as many bytes as the lines
    /// it holds, so each starts with room for its share (growing a megabyte buffer by doubling
    /// copies it again and again).
    pub(super) fn new(partitions: usize, body_len: usize) -> Self {
        let share = body_len / partitions.max(1);
        Staged {
            batches: (0..partitions)
                .map(|_| Batch::pooled(share + share / 4 + 256))
                .collect(),
            unsure: vec![Vec::new(); partitions],
            unsure_lines: vec![Vec::new(); partitions],
            claims: Vec::new(),
            claimed: HashMap::new(),
            dropped: 0,
            first_drop: None,
            beyond_retention: 0,
            parse_errors: Vec::new(),
            parse_error_count: 0,
            lines_ok: 0,
            rejected: [0; Reject::ALL.len()],
        }
    }

    /// The answer once every owner applied its points: the points dropped for a reason hide
    /// those beyond the retention policy, which hide the lines that did not parse (as 1.x).
    pub(super) fn outcome(self) -> Result<(), WriteError> {
        if let Some((_, reason)) = self.first_drop {
            return Err(WriteError::Partial {
                reason,
                dropped: self.dropped,
            });
        }
        if self.beyond_retention > 0 {
            return Err(WriteError::Partial {
                reason: "points beyond retention policy".into(),
                dropped: self.beyond_retention,
            });
        }
        if self.parse_error_count > 0 {
            // 1.x counts no parse failure in `dropped`.
            return Err(WriteError::Partial {
                reason: parse_error_text(&self),
                dropped: 0,
            });
        }
        Ok(())
    }

    /// Counts a dropped point; the answer names the reason of the lowest rank.
    pub(super) fn drop_point(
        &mut self,
        at: DropRank,
        why: Reject,
        reason: impl FnOnce() -> String,
    ) {
        self.dropped += 1;
        self.rejected[why as usize] += 1;
        if self
            .first_drop
            .as_ref()
            .map_or(true, |(first, _)| at < *first)
        {
            self.first_drop = Some((at, reason()));
        }
    }

    /// Counts a line that does not parse; the first `PARSE_ERRORS_REPORTED_MAX` are spelled out.
    fn parse_error(&mut self, line_no: usize, line: &[u8], kind: ErrorKind) {
        self.parse_error_count += 1;
        if self.parse_errors.len() < PARSE_ERRORS_REPORTED_MAX {
            self.parse_errors.push(LineError::new(line_no, line, kind));
        }
    }

    /// The index of this claim in `claims`, added if new.
    pub(super) fn claim(&mut self, claim: FieldClaim) -> usize {
        if let Some(&i) = self.claimed.get(&claim) {
            return i;
        }
        let i = self.claims.len();
        self.claimed.insert(claim.clone(), i);
        self.claims.push(claim);
        i
    }
}

/// Which dropped point's reason a partial write names: influxd 1.x names a conflict with a type
/// fixed earlier in the same body before any other reason, and otherwise the first dropped
/// point of the body. Ordered: (0 for a conflict within the body, else 1; line ordinal).
pub(super) type DropRank = (u8, usize);

/// The rank of a point dropped at line ordinal `n` for any reason but a conflict in the body.
pub(super) fn rank(n: usize) -> DropRank {
    (1, n)
}

/// The measurement and field count of the last line whose types were all known and agreed; its
/// field keys and types are the decoder's remembered shape ([`Line::remember_shape`]), which the
/// decoder checks each later line against as it scans the fields.
#[derive(Default)]
pub(super) struct SchemaMemo {
    measurement: Vec<u8>,
    /// Fields of the shape; 0 until a line is remembered.
    field_count: u16,
    /// Every field of the shape is a float, integer or unsigned (`Batch::push_fixed_values`).
    all_fixed: bool,
    /// Names this (measurement, field keys) shape in the batches (`Batch` leaves the keys of a
    /// point out when they repeat the previous point's); a new one per `remember`.
    token: SchemaToken,
}

impl SchemaMemo {
    fn matches(&self, measurement: &[u8], point: &Line<'_, '_>) -> bool {
        self.field_count != 0 && point.shape_matches() && self.measurement == measurement
    }

    fn remember(&mut self, measurement: &[u8], field_count: u16, point: &mut Line<'_, '_>) {
        self.measurement.clear();
        self.measurement.extend_from_slice(measurement);
        point.remember_shape();
        self.field_count = if point.shape_matches() {
            field_count
        } else {
            0
        };
        self.all_fixed = point.each_fixed_value(|_, _| true);
        self.token = SchemaToken(self.token.0 + 1);
    }
}

pub(super) fn conflict_text(
    field: &[u8],
    measurement: &[u8],
    ty: FieldType,
    existing: FieldType,
) -> String {
    format!(
        "field type conflict: input field \"{}\" on measurement \"{}\" is type {}, already exists as type {}",
        String::from_utf8_lossy(field),
        String::from_utf8_lossy(measurement),
        ty.name(),
        existing.name()
    )
}

/// What the type check of one point found.
struct FieldCheck {
    field_count: u16,
    /// The point's shape in the batches: the memo's token when the memo holds its shape,
    /// `NONE` otherwise.
    token: SchemaToken,
    /// The point uses a field this core does not know: it is kept, and waits for the verdict
    /// of its claim at the schema owner.
    unsure: bool,
    /// With `unsure`: the index of the point's claim in `Staged::claims`.
    claim: usize,
    /// Why the point is refused: a field whose type differs from the one this core knows.
    conflict: Option<String>,
}

/// Checks every field of a point whose shape is not the memo's against the types this core
/// knows for (`db`, `rp`). A
/// point that uses a field this core does not know is kept, unsure, and its fields are claimed
/// at the schema owner, which decides it (`recheck`). A point whose types are all known and
/// agree becomes the memo's shape.
fn check_fields(
    core: &Core,
    db: &str,
    rp: &str,
    measurement: &[u8],
    point: &mut Line<'_, '_>,
    st: &mut Staged,
    memo: &mut SchemaMemo,
) -> FieldCheck {
    let mut conflict = None;
    let mut unsure = false;
    let mut claim = 0;
    let schema = core.schema();
    let mut count = 0u16;
    for (k, v) in point.fields() {
        count = count.saturating_add(1);
        let ty = v.field_type();
        match schema.get(db, rp, measurement, &k) {
            Some(t) if t != ty => {
                conflict.get_or_insert_with(|| conflict_text(&k, measurement, ty, t));
            }
            Some(_) => {}
            None => unsure = true,
        }
    }
    drop(schema);
    if unsure {
        // Claimed whole, known fields too: a point with a conflict is then refused at the
        // owner, and its answer names the first conflicting field in line order.
        conflict = None;
        claim = st.claim(FieldClaim {
            measurement: measurement.to_vec(),
            fields: point
                .fields()
                .map(|(k, v)| (k.into_owned(), v.field_type()))
                .collect(),
        });
    }
    let mut token = SchemaToken::NONE;
    if conflict.is_none() && !unsure {
        memo.remember(measurement, count, point);
        token = memo.token;
    }
    FieldCheck {
        field_count: count,
        token,
        unsure,
        claim,
        conflict,
    }
}

/// Appends a checked point to its partition's batch, values only when its shape repeats the
/// previous point's there; the partition.
#[inline(always)]
fn append_point(
    batches: &mut [Batch],
    dbrp: u64,
    point: &mut Line<'_, '_>,
    measurement: &[u8],
    time_ns: i64,
    check: &FieldCheck,
    memo: &SchemaMemo,
) -> usize {
    // Hash and key id first: `series_key` holds `point` borrowed.
    let series_hash = point.series_hash();
    let key_id = point.key_id();
    let head = NewPoint {
        series_key: point.series_key(),
        series_hash,
        key_id,
        measurement,
        time_ns,
        field_count: check.field_count,
        token: check.token,
    };
    let part = key::partition_of(series_hash, dbrp, batches.len());
    let b = &mut batches[part];
    if b.begin_point(head) {
        // The token is the memo's: its points have the memo's field types.
        let fixed = memo.all_fixed
            && b.push_fixed_values(check.field_count, |slots| {
                point.each_fixed_value(|ty, bits| slots.put(ty, bits))
            });
        if !fixed {
            point.for_each_value(|v| b.push_value(v));
        }
    } else {
        for (k, v) in point.fields() {
            b.push_field(&k, &v);
        }
    }
    part
}

/// The refusal of a point that uses the reserved name `time` as `kind` says.
fn reserved_time_text(kind: ReservedTime, measurement: &[u8]) -> String {
    let m = String::from_utf8_lossy(measurement);
    match kind {
        ReservedTime::Tag => {
            format!("invalid tag key: input tag \"time\" on measurement \"{m}\" is invalid")
        }
        ReservedTime::OnlyField => {
            format!("invalid field name: input field \"time\" on measurement \"{m}\" is invalid")
        }
    }
}

/// Decodes the body into per-partition batches, checking types against what this core knows.
// The line loop counts lines itself: `enumerate()`'s `next` is not inlined into it.
#[allow(clippy::explicit_counter_loop)]
pub(super) async fn stage(
    core: &Rc<Core>,
    db: &str,
    rp: &str,
    opts: &DecodeOptions,
    retention_min_ns: i64,
    body: &[u8],
) -> Staged {
    let mut st = Staged::new(core.partition_count() as usize, body.len());
    let dbrp = key::db_rp_hash(db, rp);
    let mut decoder = core.take_decoder();
    decoder.forget_shape();
    let mut memo = SchemaMemo::default();
    let mut next_n = 0usize;
    for (line_no, line) in lines(body) {
        let n = next_n;
        next_n += 1;
        if n % LINES_PER_YIELD == LINES_PER_YIELD - 1 {
            glommio::yield_if_needed().await;
        }
        // Per-line limits (config [http] max-line-bytes, max-tags/fields-per-line): the line is
        // dropped with a partial-write reason; an over-long line is not even decoded.
        if let Some(reason) = line_too_long(core.config(), line_no, line) {
            st.drop_point(rank(n), Reject::Limit, || reason);
            continue;
        }
        let mut point = match decoder.decode(line, opts) {
            Ok(None) => continue,
            Ok(Some(p)) => p,
            Err(kind) => {
                st.parse_error(line_no, line, kind);
                continue;
            }
        };
        st.lines_ok += 1;
        if let Some(reason) = too_many_keys(core.config(), line_no, &point) {
            st.drop_point(rank(n), Reject::Limit, || reason);
            continue;
        }
        let measurement = point.measurement();
        if let Some(kind) = point.reserved_time() {
            st.drop_point(rank(n), Reject::Invalid, || {
                reserved_time_text(kind, &measurement)
            });
            continue;
        }
        let ts = point.timestamp_ns();
        if ts < retention_min_ns {
            st.beyond_retention += 1;
            continue;
        }
        // Most lines repeat the previous line's measurement and fields: `memo` answers those
        // without a lookup.
        let check = if memo.matches(&measurement, &point) {
            FieldCheck {
                field_count: memo.field_count,
                token: memo.token,
                unsure: false,
                claim: 0,
                conflict: None,
            }
        } else {
            check_fields(core, db, rp, &measurement, &mut point, &mut st, &mut memo)
        };
        if let Some(text) = check.conflict {
            st.drop_point(rank(n), Reject::TypeConflict, || text);
            continue;
        }
        let part = append_point(
            &mut st.batches,
            dbrp,
            &mut point,
            &measurement,
            ts,
            &check,
            &memo,
        );
        st.unsure[part].push(check.unsure);
        if check.unsure {
            st.unsure_lines[part].push((n, check.claim));
        }
    }
    core.return_decoder(decoder);
    st
}

pub(super) fn parse_error_text(st: &Staged) -> String {
    let mut s = st
        .parse_errors
        .iter()
        .map(|e| format!("{e} (line {})", e.line_no))
        .collect::<Vec<_>>()
        .join("\n");
    let more = st.parse_error_count - st.parse_errors.len();
    if more > 0 {
        s.push_str(&format!(
            "\n... and {more} more lines that could not be parsed"
        ));
    }
    s
}

/// The refusal of a body none of whose lines parse, if it is one: 1.x gives it before it looks
/// at the consistency level and the retention policy.
pub(super) async fn unparsable(
    core: &Core,
    opts: &DecodeOptions,
    body: &[u8],
) -> Option<WriteError> {
    let mut st = Staged::new(0, 0);
    let mut decoder = crate::lineproto::Decoder::default();
    for (n, (line_no, line)) in lines(body).enumerate() {
        if n % LINES_PER_YIELD == LINES_PER_YIELD - 1 {
            glommio::yield_if_needed().await;
        }
        if line_too_long(core.config(), line_no, line).is_some() {
            st.lines_ok += 1;
            continue;
        }
        match decoder.decode(line, opts) {
            Ok(None) => {}
            Ok(Some(_)) => st.lines_ok += 1,
            Err(kind) => st.parse_error(line_no, line, kind),
        }
    }
    (st.lines_ok == 0 && st.parse_error_count > 0)
        .then(|| WriteError::Unparsable(parse_error_text(&st)))
}

/// Why a line is longer than `[http] max-line-bytes` allows (0 = no bound), or `None`.
fn line_too_long(cfg: &crate::config::Config, line_no: usize, line: &[u8]) -> Option<String> {
    let max = cfg.http.max_line_bytes;
    let len = line.len() as u64;
    (max != 0 && len > max)
        .then(|| format!("line {line_no} exceeds max-line-bytes ({len} > {max})"))
}

/// Why a decoded line has more tags or fields than `[http] max-tags-per-line` /
/// `max-fields-per-line` allow, or `None`.
fn too_many_keys(
    cfg: &crate::config::Config,
    line_no: usize,
    point: &Line<'_, '_>,
) -> Option<String> {
    let (tags, fields) = (point.tag_count(), point.field_count());
    let (tags_max, fields_max) = (cfg.http.max_tags_per_line, cfg.http.max_fields_per_line);
    if tags > tags_max {
        return Some(format!(
            "line {line_no} has {tags} tags, above max-tags-per-line ({tags_max})"
        ));
    }
    if fields > fields_max {
        return Some(format!(
            "line {line_no} has {fields} fields, above max-fields-per-line ({fields_max})"
        ));
    }
    None
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
