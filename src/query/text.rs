//! Statements printed back as InfluxQL, as influxql's `String()` methods print them.
//!
//! Used for InfluxDB's warning on a GET that changes the catalog:
//! `deprecated use of 'CREATE DATABASE x' in a read only context, please use a POST request
//! instead` (query/result.go `ReadOnlyWarning`; coordinator/statement_executor.go adds it for
//! every statement that writes).

use super::scan::is_keyword;
use super::time::format_go_duration;
use super::Statement;

/// influxql `QuoteIdent` for one segment: bare when it is a plain identifier and not a keyword,
/// else double-quoted with `\n`, `\` and `"` escaped.
pub fn quote_ident(s: &str) -> String {
    let mut chars = s.chars();
    let plain = !is_keyword(s)
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// influxql `QuoteIdent` of several segments (`db.rp.m`): every segment but the last is quoted
/// unless empty; an empty first or last segment is `""`.
pub fn quote_segments(segments: &[String]) -> String {
    let last = segments.len().saturating_sub(1);
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let quoted = quote_ident(seg);
        let forced = (i < last && !seg.is_empty()) || ((i == 0 || i == last) && seg.is_empty());
        if forced && !quoted.starts_with('"') {
            out.push('"');
            out.push_str(&quoted);
            out.push('"');
        } else if seg.is_empty() && !forced {
            // A middle empty segment (`db..m`) is written as nothing.
        } else {
            out.push_str(&quoted);
        }
    }
    out
}

/// influxql `FormatDuration`: the largest unit that divides exactly (`1w`, `36h`, `90s`, `0s`).
pub fn format_influx_duration(d: i64) -> String {
    const UNITS: [(i64, &str); 8] = [
        (7 * 86_400_000_000_000, "w"),
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "u"),
        (1, "ns"),
    ];
    if d == 0 {
        return "0s".to_string();
    }
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| d % size == 0)
        .copied()
        .unwrap_or((1, "ns"));
    format!("{}{unit}", d / size)
}

impl Statement {
    /// Whether InfluxDB treats the statement as a write (it warns when such a statement
    /// arrives by GET, and still executes it).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Statement::CreateDatabase(_)
                | Statement::DropDatabase { .. }
                | Statement::CreateRetentionPolicy(_)
                | Statement::AlterRetentionPolicy(_)
                | Statement::DropRetentionPolicy { .. }
                | Statement::CreateUser { .. }
                | Statement::DropUser { .. }
                | Statement::SetPassword { .. }
                | Statement::Grant { .. }
                | Statement::GrantAdmin { .. }
                | Statement::Revoke { .. }
                | Statement::RevokeAdmin { .. }
                | Statement::Delete(_)
                | Statement::DropSeries(_)
                | Statement::DropMeasurement { .. }
        )
    }

    /// The warning text InfluxDB 1.8 adds for a write statement sent by GET, or `None`.
    /// `DELETE` gets none (1.x's executor has no read-only check for it).
    pub fn read_only_warning(&self) -> Option<String> {
        if matches!(self, Statement::Delete(_)) {
            return None;
        }
        self.write_text().map(|s| {
            format!(
                "deprecated use of '{s}' in a read only context, please use a POST request instead"
            )
        })
    }

    /// The statement as influxql's `String()` prints it (write statements only).
    pub fn write_text(&self) -> Option<String> {
        let q = quote_ident;
        let fd = format_influx_duration;
        Some(match self {
            Statement::CreateDatabase(c) => {
                let mut s = format!("CREATE DATABASE {}", q(&c.name));
                if let Some(rp) = &c.rp {
                    s.push_str(" WITH");
                    if let Some(d) = rp.duration_ns {
                        // Go prints this one with time.Duration.String, not FormatDuration.
                        s.push_str(&format!(" DURATION {}", format_go_duration(d)));
                    }
                    if let Some(n) = rp.replication {
                        s.push_str(&format!(" REPLICATION {n}"));
                    }
                    if let Some(d) = rp.shard_duration_ns.filter(|d| *d > 0) {
                        s.push_str(&format!(" SHARD DURATION {}", format_go_duration(d)));
                    }
                    if let Some(n) = rp.name.as_deref().filter(|n| !n.is_empty()) {
                        s.push_str(&format!(" NAME {}", q(n)));
                    }
                }
                s
            }
            Statement::DropDatabase { name } => format!("DROP DATABASE {}", q(name)),
            Statement::CreateRetentionPolicy(c) => {
                let mut s = format!(
                    "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION {}",
                    q(&c.name),
                    q(&c.database),
                    fd(c.duration_ns),
                    c.replication
                );
                if c.shard_duration_ns > 0 {
                    s.push_str(&format!(" SHARD DURATION {}", fd(c.shard_duration_ns)));
                }
                if c.default {
                    s.push_str(" DEFAULT");
                }
                s
            }
            Statement::AlterRetentionPolicy(a) => {
                let mut s = format!(
                    "ALTER RETENTION POLICY {} ON {}",
                    q(&a.name),
                    q(&a.database)
                );
                if let Some(d) = a.duration_ns {
                    s.push_str(&format!(" DURATION {}", fd(d)));
                }
                if let Some(n) = a.replication {
                    s.push_str(&format!(" REPLICATION {n}"));
                }
                if let Some(d) = a.shard_duration_ns {
                    s.push_str(&format!(" SHARD DURATION {}", fd(d)));
                }
                if a.default {
                    s.push_str(" DEFAULT");
                }
                s
            }
            Statement::DropRetentionPolicy { name, database } => {
                format!("DROP RETENTION POLICY {} ON {}", q(name), q(database))
            }
            Statement::CreateUser { name, admin, .. } => {
                let all = if *admin { " WITH ALL PRIVILEGES" } else { "" };
                format!("CREATE USER {} WITH PASSWORD [REDACTED]{all}", q(name))
            }
            Statement::DropUser { name } => format!("DROP USER {}", q(name)),
            Statement::SetPassword { name, .. } => {
                format!("SET PASSWORD FOR {} = [REDACTED]", q(name))
            }
            Statement::Grant {
                privilege,
                database,
                user,
            } => format!("GRANT {privilege} ON {} TO {}", q(database), q(user)),
            Statement::GrantAdmin { user } => format!("GRANT ALL PRIVILEGES TO {}", q(user)),
            Statement::Revoke {
                privilege,
                database,
                user,
            } => format!("REVOKE {privilege} ON {} FROM {}", q(database), q(user)),
            Statement::RevokeAdmin { user } => format!("REVOKE ALL PRIVILEGES FROM {}", q(user)),
            Statement::Delete(d) | Statement::DropSeries(d) => d.text.clone(),
            Statement::DropMeasurement { name } => format!("DROP MEASUREMENT {}", q(name)),
            Statement::ShowDatabases
            | Statement::ShowRetentionPolicies { .. }
            | Statement::ShowUsers
            | Statement::ShowGrants { .. }
            | Statement::Show(_)
            | Statement::Select(_) => return None,
        })
    }

    /// The statement as influxql's `String()` prints it, for authorization errors. Exact for
    /// every statement but SELECT, which prints its sources only (`SELECT ... FROM cpu`).
    pub fn text(&self) -> String {
        if let Some(s) = self.write_text() {
            return s;
        }
        match self {
            Statement::ShowDatabases => "SHOW DATABASES".to_string(),
            Statement::ShowRetentionPolicies { database } => match database {
                Some(d) => format!("SHOW RETENTION POLICIES ON {}", quote_ident(d)),
                None => "SHOW RETENTION POLICIES".to_string(),
            },
            Statement::ShowUsers => "SHOW USERS".to_string(),
            Statement::ShowGrants { user } => format!("SHOW GRANTS FOR {}", quote_ident(user)),
            Statement::Show(s) => s.what.text().to_string(),
            Statement::Select(s) => {
                let sources: Vec<String> = s
                    .measurement_sources()
                    .into_iter()
                    .map(|(_, _, m)| match m {
                        super::MeasurementMatch::Name(n) => quote_ident(n),
                        super::MeasurementMatch::Regex(r) => format!("/{}/", r.as_str()),
                    })
                    .collect();
                format!("SELECT ... FROM {}", sources.join(", "))
            }
            _ => String::new(),
        }
    }
}

/// influxql `SelectStatement.String()` after `NormalizeStatement`: every measurement (of the
/// sources, subqueries and the INTO target) names its database (`db` when it names none) and
/// retention policy (`default_rp` of its database when it names none).
pub fn select_text(
    s: &super::ast::Select,
    db: &str,
    default_rp: &dyn Fn(&str) -> String,
) -> String {
    use super::ast::{Dimension, Fill, Source};
    use super::select::text;
    let measurement = |d: &Option<String>, r: &Option<String>, name: String| {
        let d = d.clone().unwrap_or_else(|| db.to_string());
        let r = r.clone().unwrap_or_else(|| default_rp(&d));
        let mut out = String::new();
        if !d.is_empty() {
            out.push_str(&quote_ident(&d));
            out.push('.');
        }
        if !r.is_empty() {
            out.push_str(&quote_ident(&r));
        }
        if !d.is_empty() || !r.is_empty() {
            out.push('.');
        }
        out.push_str(&name);
        out
    };
    let fields: Vec<String> = s
        .fields
        .iter()
        .map(|f| match &f.alias {
            Some(a) => format!("{} AS {}", text(&f.expr), quote_ident(a)),
            None => text(&f.expr),
        })
        .collect();
    let mut out = format!("SELECT {}", fields.join(", "));
    if let Some(t) = &s.into {
        let name = t
            .measurement
            .as_deref()
            .map(quote_ident)
            .unwrap_or_default();
        out.push_str(" INTO ");
        out.push_str(&measurement(&t.database, &t.retention_policy, name));
        if t.measurement.is_none() {
            out.push_str(":MEASUREMENT");
        }
    }
    let sources: Vec<String> = s
        .sources
        .iter()
        .map(|src| match src {
            Source::Measurement {
                database,
                retention_policy,
                measurement: m,
            } => {
                let name = match m {
                    super::MeasurementMatch::Name(n) => quote_ident(n),
                    super::MeasurementMatch::Regex(r) => {
                        format!("/{}/", r.as_str().replace('/', "\\/"))
                    }
                };
                measurement(database, retention_policy, name)
            }
            Source::Subquery(inner) => format!("({})", select_text(inner, db, default_rp)),
        })
        .collect();
    out.push_str(" FROM ");
    out.push_str(&sources.join(", "));
    if let Some(c) = &s.condition {
        out.push_str(" WHERE ");
        out.push_str(&text(c));
    }
    if !s.dimensions.is_empty() {
        let dims: Vec<String> = s
            .dimensions
            .iter()
            .map(|d| match d {
                Dimension::Tag(t) => quote_ident(t),
                Dimension::Regex(r) => format!("/{}/", r.as_str().replace('/', "\\/")),
                Dimension::Wildcard => "*".into(),
                Dimension::Other(e) => text(e),
            })
            .collect();
        out.push_str(" GROUP BY ");
        out.push_str(&dims.join(", "));
    }
    match s.fill {
        Fill::Null => {}
        Fill::None => out.push_str(" fill(none)"),
        Fill::Previous => out.push_str(" fill(previous)"),
        Fill::Linear => out.push_str(" fill(linear)"),
        Fill::Int(v) => out.push_str(&format!(" fill({v})")),
        Fill::Float(v) => out.push_str(&format!(" fill({v})")),
    }
    if s.descending {
        out.push_str(" ORDER BY time DESC");
    }
    for (kw, n) in [
        ("LIMIT", s.limit),
        ("OFFSET", s.offset),
        ("SLIMIT", s.slimit),
        ("SOFFSET", s.soffset),
    ] {
        if n > 0 {
            out.push_str(&format!(" {kw} {n}"));
        }
    }
    if let Some(tz) = &s.tz {
        out.push_str(&format!(" tz('{tz}')"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn text(q: &str) -> Option<String> {
        parse(q, 0).ok()?.first()?.write_text()
    }

    #[test]
    fn quoting_and_durations() {
        assert_eq!(quote_ident("db1"), "db1");
        assert_eq!(quote_ident("my db"), "\"my db\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(format_influx_duration(0), "0s");
        assert_eq!(format_influx_duration(604_800_000_000_000), "1w");
        assert_eq!(format_influx_duration(36 * 3_600_000_000_000), "36h");
        assert_eq!(format_influx_duration(90_000_000_000), "90s");
        assert_eq!(format_influx_duration(1_500), "1500ns");
        assert_eq!(format_influx_duration(2_000), "2u");
    }

    #[test]
    fn statements_print_as_influxql() {
        assert_eq!(
            text("create database x").as_deref(),
            Some("CREATE DATABASE x")
        );
        assert_eq!(
            text("CREATE DATABASE \"a b\" WITH DURATION 1d REPLICATION 1 SHARD DURATION 1h NAME r")
                .as_deref(),
            Some("CREATE DATABASE \"a b\" WITH DURATION 24h0m0s REPLICATION 1 SHARD DURATION 1h0m0s NAME r")
        );
        assert_eq!(
            text("create retention policy r on d duration 7d replication 1 shard duration 1d default")
                .as_deref(),
            Some("CREATE RETENTION POLICY r ON d DURATION 1w REPLICATION 1 SHARD DURATION 1d DEFAULT")
        );
        assert_eq!(
            text("alter retention policy default on d duration inf").as_deref(),
            Some("ALTER RETENTION POLICY \"default\" ON d DURATION 0s")
        );
        assert_eq!(
            text("drop retention policy r on d").as_deref(),
            Some("DROP RETENTION POLICY r ON d")
        );
        assert_eq!(text("drop database x").as_deref(), Some("DROP DATABASE x"));
        assert_eq!(text("show databases"), None);
        assert_eq!(
            text("create user \"a b\" with password 'secret' with all privileges").as_deref(),
            Some("CREATE USER \"a b\" WITH PASSWORD [REDACTED] WITH ALL PRIVILEGES")
        );
        assert_eq!(
            text("set password for bob = 'x'").as_deref(),
            Some("SET PASSWORD FOR bob = [REDACTED]")
        );
        assert_eq!(
            text("grant all on db to bob").as_deref(),
            Some("GRANT ALL PRIVILEGES ON db TO bob")
        );
        assert_eq!(
            text("revoke write on db from bob").as_deref(),
            Some("REVOKE WRITE ON db FROM bob")
        );
        assert_eq!(
            text("grant all privileges to bob").as_deref(),
            Some("GRANT ALL PRIVILEGES TO bob")
        );
        assert_eq!(
            text("revoke all from bob").as_deref(),
            Some("REVOKE ALL PRIVILEGES FROM bob")
        );
        assert_eq!(text("drop user bob").as_deref(), Some("DROP USER bob"));
        assert_eq!(text("show users"), None);
        let w = parse("CREATE DATABASE x", 0)
            .ok()
            .and_then(|v| v.first()?.read_only_warning());
        assert_eq!(
            w.as_deref(),
            Some("deprecated use of 'CREATE DATABASE x' in a read only context, please use a POST request instead")
        );
    }
}
