//! How a `/query` answer is written: the parts a statement's answer is cut into, and their
//! encoding as JSON (compact or `pretty=true`) or CSV, as InfluxDB 1.x writes them
//! (services/httpd/handler.go `serveQuery`, response_writer.go; query/emitter.go).
//!
//! 1.x's executor hands the HTTP handler a stream of results (`query.Result`), several per
//! statement for a large or multi-series answer. With `chunked=true` each is written at once as
//! its own `{"results":[...]}` line; otherwise they are merged per statement (consecutive parts
//! of one series joined) and written as one body at the end. This module is that model:
//! - [`ResultPart`]: one `query.Result` (a statement id and a [`StatementResult`] whose
//!   `partial` flag says more parts of the statement follow);
//! - [`RowEmitter`]: cuts a SELECT-like answer into parts as 1.x's `Emitter` does: one part per
//!   series, a series longer than `chunk_size` split with `"partial":true` on every piece but
//!   its last; it holds at most `chunk_size` rows, so an engine that pushes rows as it reads them
//!   keeps an answer's memory bounded by the chunk size;
//! - [`Merger`]: the non-chunked merge (1.8's: a merged series takes its last part's flag);
//! - [`Encoder`]: one response object in the negotiated [`Format`].
//!
//! Differences from 1.6.7, on purpose (1.8 wins): a non-chunked series longer than
//! `chunk_size` is not left marked `"partial":true`; `Accept` is negotiated as 1.8 does (q
//! values, wildcards) and `Accept: application/csv` answers `Content-Type: application/csv`.
//! 1.x's CSV writer shows a Go `int` cell (SHOW RETENTION POLICIES' `replicaN`) as the cell
//! left over from the previous line; here it is the number.

use super::json::write_str;
use super::render::{write_result, Series, StatementResult, TimeFormat, Value};

/// 1.x's `DefaultChunkSize`: rows per part unless `chunk_size` says otherwise.
pub const DEFAULT_CHUNK_SIZE: usize = 10_000;

/// How results are encoded: the `Accept` header and `pretty=true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// `json.MarshalIndent(resp, "", "    ")`.
    JsonPretty,
    Csv,
}

impl Format {
    /// 1.8's content negotiation (response_writer.go `NewResponseWriter`, accept.go): the
    /// `Accept` clauses by falling q (stable), the first that matches JSON, CSV
    /// (`application/csv` or `text/csv`) or msgpack; JSON if none does. msgpack is not
    /// written: a client asking for it alone gets JSON, as from a 1.x without it.
    /// Returns the format and the `Content-Type` to send.
    pub fn negotiate<'a>(
        accept: impl IntoIterator<Item = &'a [u8]>,
        pretty: bool,
    ) -> (Format, &'static str) {
        let json = if pretty {
            Format::JsonPretty
        } else {
            Format::Json
        };
        const TYPES: [(&str, &str, &str); 3] = [
            ("application", "json", "application/json"),
            ("application", "csv", "application/csv"),
            ("text", "csv", "text/csv"),
        ];
        let mut clauses: Vec<(f64, String, String)> = Vec::new();
        for header in accept {
            let header = String::from_utf8_lossy(header);
            for part in header.split(',') {
                let mut params = part.split(';');
                let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
                let (ty, sub) = match media.split_once('/') {
                    Some((t, s)) if !t.is_empty() && !s.is_empty() && !s.contains('/') => {
                        (t.to_string(), s.to_string())
                    }
                    None if media == "*" => ("*".to_string(), "*".to_string()),
                    _ => continue,
                };
                let mut q = 1.0;
                for p in params {
                    if let Some((k, v)) = p.split_once('=') {
                        if k.trim().eq_ignore_ascii_case("q") {
                            q = v.trim().parse::<f64>().unwrap_or(0.0);
                        }
                    }
                }
                clauses.push((q, ty, sub));
            }
        }
        clauses.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        for (_, ty, sub) in &clauses {
            if ty == "application" && sub == "x-msgpack" {
                // 1.x would answer msgpack here; we answer the default.
                return (json, "application/json");
            }
            for (t, s, full) in TYPES {
                if (ty == "*" || ty == t) && (sub == "*" || sub == s) {
                    let f = if s == "csv" { Format::Csv } else { json };
                    return (f, full);
                }
            }
        }
        (json, "application/json")
    }
}

/// One result as 1.x's executor emits it (`query.Result`): a statement id and (part of) its
/// answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultPart {
    pub statement_id: usize,
    pub result: StatementResult,
}

impl ResultPart {
    pub fn new(statement_id: usize, result: StatementResult) -> Self {
        ResultPart {
            statement_id,
            result,
        }
    }

    /// Rows held, to decide whether encoding it is worth moving off the core's thread.
    pub fn rows(&self) -> usize {
        self.result.series.iter().map(|s| s.values.len()).sum()
    }
}

/// How a statement's answer is cut into parts, as each 1.x statement does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One part with every series (SHOW DATABASES, SHOW MEASUREMENTS, SHOW RETENTION
    /// POLICIES, SHOW USERS, cardinalities, catalog changes).
    Whole,
    /// One part per series, none flagged partial (SHOW TAG KEYS, SHOW TAG VALUES).
    PerSeries,
    /// Rows through a [`RowEmitter`] (SELECT; SHOW FIELD KEYS and SHOW SERIES, which 1.x
    /// rewrites to SELECTs).
    Rows,
}

/// Cuts a whole statement result into the parts 1.x emits for it. An error is one part.
pub fn split(
    statement_id: usize,
    mut result: StatementResult,
    shape: Shape,
    chunk_size: usize,
) -> Vec<ResultPart> {
    if result.error.is_some() || shape == Shape::Whole {
        return vec![ResultPart::new(statement_id, result)];
    }
    let messages = std::mem::take(&mut result.messages);
    let mut parts = Vec::new();
    match shape {
        Shape::Rows => {
            let mut e = RowEmitter::new(statement_id, chunk_size);
            for s in result.series {
                e.push(s, &mut parts);
            }
            e.finish(&mut parts);
        }
        _ => {
            parts.extend(result.series.into_iter().map(|s| {
                ResultPart::new(
                    statement_id,
                    StatementResult {
                        series: vec![s],
                        ..StatementResult::default()
                    },
                )
            }));
            if parts.is_empty() {
                parts.push(ResultPart::new(statement_id, StatementResult::ok()));
            }
        }
    }
    if let Some(last) = parts.last_mut() {
        last.result.messages = messages;
    }
    parts
}

/// 1.x's `query.Emitter`: rows in, parts out. Rows of the series last pushed are held until
/// the next rows show whether more follow (the part's `partial` flag); at most `chunk_size`
/// rows are held (0 = no limit).
#[derive(Debug)]
pub struct RowEmitter {
    statement_id: usize,
    chunk_size: usize,
    pending: Option<Series>,
    emitted: bool,
}

impl RowEmitter {
    pub fn new(statement_id: usize, chunk_size: usize) -> Self {
        RowEmitter {
            statement_id,
            chunk_size,
            pending: None,
            emitted: false,
        }
    }

    /// Rows held, not yet in a part.
    pub fn held_rows(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.values.len())
    }

    /// Rows of one series (the whole series or a consecutive piece of it: a push with the
    /// same name and tags as the last continues it). Parts that are complete go to `out`.
    pub fn push(&mut self, s: Series, out: &mut Vec<ResultPart>) {
        if s.values.is_empty() {
            return;
        }
        let Series {
            name,
            tags,
            columns,
            values,
            partial: _,
            tag_columns,
        } = s;
        let same = self
            .pending
            .as_ref()
            .is_some_and(|p| p.name == name && p.tags == tags);
        if !same {
            if let Some(p) = self.pending.take() {
                self.emit(p, true, out);
            }
        }
        let pending = self.pending.get_or_insert_with(|| Series {
            name,
            tags,
            columns,
            values: Vec::new(),
            partial: false,
            tag_columns,
        });
        if self.chunk_size == 0 {
            if pending.values.is_empty() {
                pending.values = values;
            } else {
                pending.values.extend(values);
            }
            return;
        }
        let mut rows = values.into_iter().peekable();
        while rows.peek().is_some() {
            if pending.values.len() >= self.chunk_size {
                let next = Series {
                    name: pending.name.clone(),
                    tags: pending.tags.clone(),
                    columns: pending.columns.clone(),
                    values: Vec::with_capacity(self.chunk_size.min(1024)),
                    partial: false,
                    tag_columns: pending.tag_columns.clone(),
                };
                let mut full = std::mem::replace(pending, next);
                full.partial = true;
                out.push(part(self.statement_id, full, true));
                self.emitted = true;
            }
            let room = self.chunk_size - pending.values.len();
            pending.values.extend(rows.by_ref().take(room));
        }
    }

    /// The last part (not flagged partial), or an empty result if there were no rows.
    pub fn finish(mut self, out: &mut Vec<ResultPart>) {
        match self.pending.take() {
            Some(p) => self.emit(p, false, out),
            None if !self.emitted => {
                out.push(ResultPart::new(self.statement_id, StatementResult::ok()))
            }
            None => {}
        }
    }

    fn emit(&mut self, s: Series, more: bool, out: &mut Vec<ResultPart>) {
        out.push(part(self.statement_id, s, more));
        self.emitted = true;
    }
}

fn part(statement_id: usize, s: Series, more: bool) -> ResultPart {
    ResultPart::new(
        statement_id,
        StatementResult {
            series: vec![s],
            partial: more,
            ..StatementResult::default()
        },
    )
}

/// The non-chunked answer: parts merged per statement as 1.8's handler merges them.
#[derive(Debug, Default)]
pub struct Merger {
    results: Vec<ResultPart>,
}

impl Merger {
    pub fn push(&mut self, p: ResultPart) {
        let Some(cr) = self
            .results
            .last_mut()
            .filter(|l| l.statement_id == p.statement_id)
        else {
            self.results.push(p);
            return;
        };
        if p.result.error.is_some() {
            // A later error replaces the statement's answer (so a "not executed" that follows
            // a failed statement replaces its error, as in 1.x).
            *cr = p;
            return;
        }
        let StatementResult {
            series,
            messages,
            partial,
            ..
        } = p.result;
        let mut series = series.into_iter().peekable();
        if let Some(last) = cr.result.series.last_mut() {
            while let Some(s) = series.next_if(|s| s.name == last.name && s.tags == last.tags) {
                last.values.extend(s.values);
                last.partial = s.partial;
            }
        }
        cr.result.series.extend(series);
        cr.result.messages.extend(messages);
        cr.result.partial = partial;
    }

    pub fn finish(self) -> Vec<ResultPart> {
        self.results
    }
}

/// Writes response objects (`{"results":[...]}` or `{"error":...}`) in one format. CSV keeps
/// state across the objects of one answer (the statement and columns whose header is out).
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    time: TimeFormat,
    csv_statement: Option<usize>,
}

impl Encoder {
    pub fn new(format: Format, time: TimeFormat) -> Self {
        Encoder {
            format,
            time,
            csv_statement: None,
        }
    }

    /// One `{"results":[...]}` object (a chunk, or the whole non-chunked answer).
    pub fn results(&mut self, parts: &[ResultPart], out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => self.csv_results(parts, out),
            Format::Json => {
                json_results(parts, self.time, out);
                out.push(b'\n');
            }
            Format::JsonPretty => {
                let mut compact = Vec::new();
                json_results(parts, self.time, &mut compact);
                indent(&compact, out);
                out.push(b'\n');
            }
        }
    }

    /// A request-level error (`{"error":"..."}`; CSV: an `error` column).
    pub fn error(&mut self, msg: &str, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv => {
                csv_record(out, ["error"]);
                csv_record(out, [msg]);
            }
            Format::Json | Format::JsonPretty => {
                let mut compact = Vec::with_capacity(msg.len() + 12);
                compact.extend_from_slice(b"{\"error\":");
                write_str(&mut compact, msg);
                compact.push(b'}');
                if self.format == Format::JsonPretty {
                    indent(&compact, out);
                } else {
                    out.extend_from_slice(&compact);
                }
                out.push(b'\n');
            }
        }
    }

    /// 1.x's `csvFormatter`: a `name,tags,<columns>` header when a statement with series starts
    /// or the columns change between its series, a blank line before every header but the
    /// first; results without series (errors included) are not written.
    fn csv_results(&mut self, parts: &[ResultPart], out: &mut Vec<u8>) {
        for p in parts {
            let series = &p.result.series;
            let Some(first) = series.first() else {
                continue;
            };
            if self.csv_statement != Some(p.statement_id) {
                if self.csv_statement.is_some() {
                    out.push(b'\n');
                }
                self.csv_statement = Some(p.statement_id);
                self.csv_header(&first.columns, out);
            }
            for (i, s) in series.iter().enumerate() {
                if i > 0 && series[i - 1].columns != s.columns {
                    out.push(b'\n');
                    self.csv_header(&s.columns, out);
                }
                let name = s.name.clone().unwrap_or_default();
                let tags = csv_tags(&s.tags);
                for row in &s.values {
                    let cells = row.iter().map(|v| csv_cell(v, self.time));
                    let fields: Vec<String> = [name.clone(), tags.clone()]
                        .into_iter()
                        .chain(cells)
                        .collect();
                    csv_record(out, fields.iter().map(String::as_str));
                }
            }
        }
    }

    fn csv_header(&self, columns: &[String], out: &mut Vec<u8>) {
        let names = ["name", "tags"]
            .into_iter()
            .chain(columns.iter().map(String::as_str));
        csv_record(out, names);
    }
}

fn json_results(parts: &[ResultPart], time: TimeFormat, out: &mut Vec<u8>) {
    if parts.is_empty() {
        // `results` is omitempty in 1.x's Response.
        out.extend_from_slice(b"{}");
        return;
    }
    out.extend_from_slice(b"{\"results\":[");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_result(out, p.statement_id, &p.result, time);
    }
    out.extend_from_slice(b"]}");
}

/// Go's `json.Indent(dst, compact, "", "    ")`: a newline and indentation after `{`, `[` and
/// `,`, a space after `:`, empty `{}` and `[]` kept closed. `compact` has no whitespace
/// outside strings.
fn indent(compact: &[u8], out: &mut Vec<u8>) {
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(b"    ");
        }
    }
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    for &c in compact {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        if need_indent && c != b']' && c != b'}' {
            need_indent = false;
            depth += 1;
            newline(out, depth);
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                need_indent = true;
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
}

/// `models.NewTags(tags).HashKey()` without its leading comma: `k=v,k2=v2` in key order, `,`
/// ` ` and `=` escaped with a backslash, empty values left out.
fn csv_tags(tags: &[(String, String)]) -> String {
    fn esc(s: &str, out: &mut String) {
        for c in s.chars() {
            if matches!(c, ',' | ' ' | '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut sorted: Vec<&(String, String)> = tags.iter().filter(|(_, v)| !v.is_empty()).collect();
    sorted.sort();
    let mut out = String::new();
    for (k, v) in sorted {
        if !out.is_empty() {
            out.push(',');
        }
        esc(k, &mut out);
        out.push('=');
        esc(v, &mut out);
    }
    out
}

/// One CSV cell as 1.x writes it: null empty, floats `strconv.FormatFloat(f, 'f', -1, 64)`
/// (never an exponent), times as integers (ns unless `epoch` says otherwise).
fn csv_cell(v: &Value, time: TimeFormat) -> String {
    match v {
        Value::Null => String::new(),
        Value::Time(ns) => match time {
            TimeFormat::Rfc3339 => ns.to_string(),
            TimeFormat::Epoch(d) => (ns / d.max(1)).to_string(),
        },
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.is_nan() => "NaN".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "+Inf" } else { "-Inf" }.into(),
        Value::Float(f) => format!("{f}"),
        Value::Bool(b) => b.to_string(),
    }
}

/// One record as Go's `encoding/csv` writes it: comma-separated, `\n`-terminated; a field is
/// quoted (inner quotes doubled) if it holds a comma, a quote, CR or LF, is `\.`, or starts
/// with a space character.
fn csv_record<'a>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let quote = !f.is_empty()
            && (f == "\\."
                || f.contains([',', '"', '\r', '\n'])
                || f.chars().next().is_some_and(char::is_whitespace));
        if !quote {
            out.extend_from_slice(f.as_bytes());
            continue;
        }
        out.push(b'"');
        for c in f.split_inclusive('"') {
            out.extend_from_slice(c.as_bytes());
            if c.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, tags: &[(&str, &str)], times: std::ops::Range<i64>) -> Series {
        Series {
            name: Some(name.into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            columns: vec!["time".into(), "v".into()],
            values: times.map(|t| vec![Value::Time(t), Value::Int(t)]).collect(),
            partial: false,
            tag_columns: Vec::new(),
        }
    }

    fn json_lines(parts: &[ResultPart], format: Format, time: TimeFormat) -> String {
        let mut enc = Encoder::new(format, time);
        let mut out = Vec::new();
        for p in parts {
            enc.results(std::slice::from_ref(p), &mut out);
        }
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn rows_are_cut_as_1x_cuts_them() {
        // influxd 1.6.7, chunk_size=2: a (3 rows) b (1) c (2).
        let r = StatementResult {
            series: vec![
                series("m", &[("h", "a")], 1..4),
                series("m", &[("h", "b")], 1..2),
                series("m", &[("h", "c")], 1..3),
            ],
            ..StatementResult::default()
        };
        let parts = split(1, r, Shape::Rows, 2);
        let got = json_lines(&parts, Format::Json, TimeFormat::Epoch(1));
        let want = r#"{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"h":"a"},"columns":["time","v"],"values":[[1,1],[2,2]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"h":"a"},"columns":["time","v"],"values":[[3,3]]}],"partial":true}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"h":"b"},"columns":["time","v"],"values":[[1,1]]}],"partial":true}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"h":"c"},"columns":["time","v"],"values":[[1,1],[2,2]]}]}]}
"#;
        assert_eq!(got, want);
        // Merged (non-chunked), the answer is the whole result again, no flag left.
        let mut m = Merger::default();
        parts.into_iter().for_each(|p| m.push(p));
        let merged = m.finish();
        assert_eq!(merged.len(), 1);
        assert!(!merged[0].result.partial);
        assert!(merged[0].result.series.iter().all(|s| !s.partial));
        assert_eq!(merged[0].result.series[0].values.len(), 3);
    }

    #[test]
    fn no_rows_is_one_empty_result() {
        let parts = split(0, StatementResult::ok(), Shape::Rows, 10);
        assert_eq!(
            json_lines(&parts, Format::Json, TimeFormat::Rfc3339),
            "{\"results\":[{\"statement_id\":0}]}\n"
        );
        let parts = split(3, StatementResult::ok(), Shape::PerSeries, 10);
        assert_eq!(parts, vec![ResultPart::new(3, StatementResult::ok())]);
    }

    #[test]
    fn the_emitter_holds_at_most_a_chunk() {
        let mut e = RowEmitter::new(0, 7);
        let mut out = Vec::new();
        let mut emitted_rows = 0;
        // One long series pushed in uneven pieces, then another.
        for piece in 0..200i64 {
            let start = piece * 13;
            e.push(series("m", &[], start..start + 13), &mut out);
            assert!(e.held_rows() <= 7, "{}", e.held_rows());
            for p in out.drain(..) {
                assert!(p.rows() <= 7);
                assert!(p.result.partial && p.result.series[0].partial);
                emitted_rows += p.rows();
            }
        }
        e.push(series("n", &[], 0..3), &mut out);
        e.finish(&mut out);
        emitted_rows += out.iter().map(ResultPart::rows).sum::<usize>();
        assert_eq!(emitted_rows, 200 * 13 + 3);
        let last = out.last().expect("parts");
        assert!(!last.result.partial && !last.result.series[0].partial);
    }

    #[test]
    fn a_later_error_replaces_the_statement() {
        let mut m = Merger::default();
        m.push(ResultPart::new(0, StatementResult::ok()));
        m.push(ResultPart::new(
            1,
            StatementResult::error("database not found: x"),
        ));
        m.push(ResultPart::new(1, StatementResult::error("not executed")));
        let got = json_lines(&m.finish()[..], Format::Json, TimeFormat::Rfc3339);
        assert_eq!(
            got,
            "{\"results\":[{\"statement_id\":0}]}\n{\"results\":[{\"statement_id\":1,\"error\":\"not executed\"}]}\n"
        );
    }

    #[test]
    fn pretty_is_go_marshal_indent() {
        let r = StatementResult {
            series: vec![Series {
                name: Some("m".into()),
                columns: vec!["time".into(), "s".into()],
                values: vec![vec![Value::Time(1), Value::Str("a,[{\"}]: b".into())]],
                ..Series::default()
            }],
            ..StatementResult::default()
        };
        let got = json_lines(
            &[ResultPart::new(0, r)],
            Format::JsonPretty,
            TimeFormat::Epoch(1),
        );
        let want = r#"{
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "m",
                    "columns": [
                        "time",
                        "s"
                    ],
                    "values": [
                        [
                            1,
                            "a,[{\"}]: b"
                        ]
                    ]
                }
            ]
        }
    ]
}
"#;
        assert_eq!(got, want);
        let mut out = Vec::new();
        Encoder::new(Format::JsonPretty, TimeFormat::Rfc3339).error("bad <q>", &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\n    \"error\": \"bad \\u003cq\\u003e\"\n}\n"
        );
    }

    #[test]
    fn csv_as_1x_writes_it() {
        let esc = Series {
            name: Some("esc".into()),
            tags: vec![("t k".into(), "a,b=c".into()), ("u".into(), "x".into())],
            columns: vec!["time".into(), "f".into(), "g".into(), "h".into()],
            values: vec![
                vec![
                    Value::Time(5),
                    Value::Str("he said \"hi\", ok".into()),
                    Value::Float(1e-7),
                    Value::Float(1e21),
                ],
                vec![
                    Value::Time(6),
                    Value::Str(" lead".into()),
                    Value::Float(2.0),
                    Value::Null,
                ],
            ],
            partial: false,
            tag_columns: Vec::new(),
        };
        let dbs = StatementResult::databases(["db"]);
        let parts = vec![
            ResultPart::new(
                0,
                StatementResult {
                    series: vec![esc],
                    ..StatementResult::default()
                },
            ),
            ResultPart::new(1, StatementResult::error("ignored")),
            ResultPart::new(2, dbs.clone()),
            ResultPart::new(2, dbs),
        ];
        let got = json_lines(&parts, Format::Csv, TimeFormat::Rfc3339);
        let want = "name,tags,time,f,g,h\n\
            esc,\"t\\ k=a\\,b\\=c,u=x\",5,\"he said \"\"hi\"\", ok\",0.0000001,1000000000000000000000\n\
            esc,\"t\\ k=a\\,b\\=c,u=x\",6,\" lead\",2,\n\
            \n\
            name,tags,name\n\
            databases,,db\n\
            databases,,db\n";
        assert_eq!(got, want);
        let mut out = Vec::new();
        Encoder::new(Format::Csv, TimeFormat::Rfc3339).error("error parsing query: x, y", &mut out);
        assert_eq!(out, b"error\n\"error parsing query: x, y\"\n");
    }

    #[test]
    fn accept_is_negotiated_as_1_8() {
        let n = |h: &str| Format::negotiate([h.as_bytes()], false);
        assert_eq!(n(""), (Format::Json, "application/json"));
        assert_eq!(n("application/csv"), (Format::Csv, "application/csv"));
        assert_eq!(n("text/csv"), (Format::Csv, "text/csv"));
        assert_eq!(n("*/*"), (Format::Json, "application/json"));
        assert_eq!(n("text/*"), (Format::Csv, "text/csv"));
        assert_eq!(
            n("application/json;q=0.5, text/csv"),
            (Format::Csv, "text/csv")
        );
        assert_eq!(n("text/html"), (Format::Json, "application/json"));
        assert_eq!(
            Format::negotiate([&b"application/json"[..]], true),
            (Format::JsonPretty, "application/json")
        );
    }
}
