//! InfluxQL behind `/query`: parse, plan and run, render (pure code, no runtime).
//!
//! The `/query` endpoint (`api::query`) calls [`parse`], runs catalog statements as catalog
//! changes on core 0, plans a SELECT ([`select::plan`]), gathers [`SeriesRows`] or per-core
//! partial aggregates from every core's storage, and writes the answer with [`output`] (parts,
//! chunking, JSON / CSV). Everything here answers as InfluxDB 1.x does (1.8 where the two
//! differ), with 1.x's error texts; what is not built yet is refused with a statement error that
//! says so ("... is not supported by lineshard yet"), never answered differently.
//!
//! - statements: the database, retention policy and user statements, `SELECT` (raw, arithmetic
//!   and casts, aggregates, selectors, transformations, subqueries, `GROUP BY` tags and time,
//!   `fill`, limits), the `SHOW` statements, `DELETE`, `DROP SERIES` and `DROP MEASUREMENT`.
//! - output: the v1 JSON shape (`{"results":[{"statement_id":0,...}]}`) written the way Go's
//!   `encoding/json` writes it (HTML escaping, Go float formatting), see `json.rs`; chunked
//!   answers, `pretty=true` and CSV in `output.rs`.

pub mod ast;
mod eval;
pub mod func;
mod json;
pub mod output;
mod parse;
mod render;
mod scan;
pub mod select;
mod text;
pub mod time;
pub mod tz;

pub use crate::storage::scan::{
    Condition, FieldKey, MeasurementMatch, PointFields, SeriesColumns, SeriesRows, TagExpr,
};
pub use eval::{DataType, RawExpr};
pub use parse::{parse, ParseError};
pub(crate) use render::{group_of, tags_id};
pub use render::{
    render_results, select_result, Message, PickedTagSets, RetentionPolicyRow, Series,
    StatementResult, TimeFormat, Value,
};
pub use text::{format_influx_duration, quote_ident, select_text};

/// The smallest and largest times InfluxDB stores (influxql.MinTime / MaxTime).
pub const TIME_MIN_NS: i64 = i64::MIN + 2;
pub const TIME_MAX_NS: i64 = i64::MAX - 1;

/// One parsed statement. Durations are nanoseconds, 0 = infinite (`INF`).
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    CreateDatabase(CreateDatabase),
    DropDatabase {
        name: String,
    },
    ShowDatabases,
    CreateRetentionPolicy(CreateRetentionPolicy),
    AlterRetentionPolicy(AlterRetentionPolicy),
    DropRetentionPolicy {
        name: String,
        database: String,
    },
    /// `database: None` = the request's `db` parameter (InfluxDB: `database name required`
    /// when that is empty too).
    ShowRetentionPolicies {
        database: Option<String>,
    },
    Select(ast::Select),
    /// The SHOW statements that read the series index or the schema, and SHOW QUERIES.
    Show(ShowStatement),
    /// `CREATE USER name WITH PASSWORD 'p' [WITH ALL PRIVILEGES]`.
    CreateUser {
        name: String,
        password: Password,
        admin: bool,
    },
    /// `DROP USER name`.
    DropUser {
        name: String,
    },
    /// `SET PASSWORD FOR name = 'p'`.
    SetPassword {
        name: String,
        password: Password,
    },
    /// `GRANT READ|WRITE|ALL [PRIVILEGES] ON db TO user`.
    Grant {
        privilege: Privilege,
        database: String,
        user: String,
    },
    /// `GRANT ALL [PRIVILEGES] TO user`.
    GrantAdmin {
        user: String,
    },
    /// `REVOKE READ|WRITE|ALL [PRIVILEGES] ON db FROM user`.
    Revoke {
        privilege: Privilege,
        database: String,
        user: String,
    },
    /// `REVOKE ALL [PRIVILEGES] FROM user`.
    RevokeAdmin {
        user: String,
    },
    ShowUsers,
    /// `SHOW GRANTS FOR user`.
    ShowGrants {
        user: String,
    },
    /// `DELETE [FROM m, /re/] [WHERE tags and time]`.
    Delete(DeleteStatement),
    /// `DROP SERIES [FROM m, /re/] [WHERE tags]`.
    DropSeries(DeleteStatement),
    /// `DROP MEASUREMENT name`.
    DropMeasurement {
        name: String,
    },
}

/// `DELETE` or `DROP SERIES`: which series of the request's database, and which times. Both
/// act on every retention policy of the database (1.x refuses a database or retention policy
/// in their FROM).
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteStatement {
    /// The FROM measurements; empty = every measurement.
    pub sources: Vec<MeasurementMatch>,
    /// The WHERE: a predicate on tags and a time range (unbounded without one).
    pub condition: Condition,
    /// The WHERE names `time` (`DROP SERIES` refuses that when it runs).
    pub has_time: bool,
    /// The WHERE compares a field (`::field`, or a number or boolean): 1.x refuses that when
    /// it runs (`fields not supported in WHERE clause during deletion`).
    pub on_fields: bool,
    /// The statement as influxql's `String()` prints it.
    pub text: String,
}

pub use crate::catalog::users::Privilege;
pub use crate::storage::KeyMatch;

/// `SHOW MEASUREMENTS|TAG KEYS|TAG VALUES|FIELD KEYS|SERIES|... CARDINALITY|QUERIES` with its
/// clauses. `database: None` = the request's `db`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowStatement {
    pub what: Show,
    pub database: Option<String>,
    /// `FROM` sources, or the `WITH MEASUREMENT` of SHOW MEASUREMENTS; empty = all.
    pub sources: Vec<Source>,
    /// `WHERE` on tags (time conditions read as true; `_name` is the measurement).
    pub condition: TagExpr,
    /// The WHERE clause names `time`.
    pub has_time: bool,
    /// The WHERE clause as written, when it names `time` (SHOW SERIES reads its time range).
    pub time_condition: Option<ast::Expr>,
    /// A WHERE clause that parses but that 1.x refuses when it runs the statement (`invalid tag
    /// comparison operator`): the statement's error.
    pub condition_error: Option<String>,
    /// 0 = no limit.
    pub limit: u64,
    pub offset: u64,
    pub slimit: u64,
    pub soffset: u64,
}

/// Which SHOW statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Show {
    Measurements,
    TagKeys,
    TagValues(KeyMatch),
    FieldKeys,
    Series,
    SeriesCardinality { exact: bool },
    MeasurementCardinality { exact: bool },
    TagKeyCardinality { exact: bool },
    TagValuesCardinality { exact: bool, key: KeyMatch },
    FieldKeyCardinality { exact: bool },
    Queries,
}

impl Show {
    /// The statement's leading words.
    pub fn text(&self) -> &'static str {
        match self {
            Show::Measurements => "SHOW MEASUREMENTS",
            Show::TagKeys => "SHOW TAG KEYS",
            Show::TagValues(_) => "SHOW TAG VALUES",
            Show::FieldKeys => "SHOW FIELD KEYS",
            Show::Series => "SHOW SERIES",
            Show::SeriesCardinality { .. } => "SHOW SERIES CARDINALITY",
            Show::MeasurementCardinality { .. } => "SHOW MEASUREMENT CARDINALITY",
            Show::TagKeyCardinality { .. } => "SHOW TAG KEY CARDINALITY",
            Show::TagValuesCardinality { .. } => "SHOW TAG VALUES CARDINALITY",
            Show::FieldKeyCardinality { .. } => "SHOW FIELD KEY CARDINALITY",
            Show::Queries => "SHOW QUERIES",
        }
    }
}

/// A password from a statement: kept out of `Debug` output (influxql prints `[REDACTED]`).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `CREATE DATABASE name [WITH ...]`; `rp` is `Some` when `WITH` was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateDatabase {
    pub name: String,
    pub rp: Option<RetentionPolicySpec>,
}

/// The `WITH` options of `CREATE DATABASE`; `None` = the server default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicySpec {
    pub duration_ns: Option<i64>,
    pub replication: Option<u32>,
    pub shard_duration_ns: Option<i64>,
    pub name: Option<String>,
}

/// `CREATE RETENTION POLICY name ON db DURATION d REPLICATION n [SHARD DURATION d] [DEFAULT]`.
/// `shard_duration_ns` 0 = not given (InfluxDB then derives it from the duration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRetentionPolicy {
    pub name: String,
    pub database: String,
    pub duration_ns: i64,
    pub replication: u32,
    pub shard_duration_ns: i64,
    pub default: bool,
}

/// `ALTER RETENTION POLICY name ON db [DURATION d] [REPLICATION n] [SHARD DURATION d] [DEFAULT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterRetentionPolicy {
    pub name: String,
    pub database: String,
    pub duration_ns: Option<i64>,
    pub replication: Option<u32>,
    pub shard_duration_ns: Option<i64>,
    pub default: bool,
}

/// A raw SELECT (no aggregate) as the planner hands it to [`select_result`].
#[derive(Clone, Debug, PartialEq)]
pub struct SelectStatement {
    pub fields: Vec<SelectField>,
    pub sources: Vec<Source>,
    pub condition: Condition,
    /// `GROUP BY` tags: one output series per (measurement, values of these tags).
    pub group_by: GroupTags,
    /// The field keys (with their type names) and tag keys of the sources' measurements, as
    /// the schema and the series index know them: what `*` and `/re/` list, as 1.x lists every
    /// key of its shards (an all-null column included). `None`: the keys of the rows read.
    pub known_keys: Option<KnownKeys>,
    /// Output series kept per measurement (`SLIMIT`; 0 = all) after skipping `SOFFSET`.
    pub slimit: u64,
    pub soffset: u64,
    /// The tag sets SLIMIT and SOFFSET picked from the series index, when the engine did (then
    /// they are what is answered); `None`: they count the series that keep a row.
    pub picked: Option<std::sync::Arc<render::PickedTagSets>>,
    /// Rows per output series; 0 = no limit (as in InfluxQL).
    pub limit: u64,
    /// Rows skipped per output series before LIMIT applies.
    pub offset: u64,
    /// `ORDER BY time DESC`.
    pub descending: bool,
    /// `SELECT time AS t`: the name of the time column (default `time`).
    pub time_alias: Option<String>,
}

impl SelectStatement {
    /// Whether any FROM source names this measurement (the database and retention policy of
    /// each source are the caller's to resolve).
    pub fn matches_measurement(&self, measurement: &[u8]) -> bool {
        self.sources
            .iter()
            .any(|s| s.measurement.matches(measurement))
    }
}

/// The keys of a raw SELECT's measurements: fields with their type names, tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownKeys {
    pub fields: Vec<(Vec<u8>, &'static str)>,
    pub tags: Vec<Vec<u8>>,
}

/// The tags a raw SELECT groups by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GroupTags {
    #[default]
    None,
    /// Named tags (a name that is no tag of the measurement groups as the empty value).
    Keys(Vec<String>),
    /// `GROUP BY *`: every tag key of the measurement.
    All,
    /// `GROUP BY /re/`: the measurement's tag keys that match.
    Regex(Pattern),
}

/// A regex that compares by its text (for statements' `PartialEq`).
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::bytes::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

/// One entry of the SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectField {
    /// `*`, `*::field` or `*::tag`.
    Wildcard(Option<KeyKind>),
    /// `/re/`: the fields (and tags) whose key matches, as `*` would list them.
    Regex(Pattern),
    /// `name [::field|::tag] [AS alias]`.
    Key {
        name: String,
        kind: Option<KeyKind>,
        alias: Option<String>,
    },
    /// Arithmetic over a point's fields, or a field read with a type cast (`f * 2`,
    /// `i::float`); `name` is the column's name without an alias (influxql `Field.Name()`).
    Expr {
        expr: RawExpr,
        name: String,
        alias: Option<String>,
    },
}

/// Whether a name refers to a field or a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Field,
    Tag,
}

/// One `FROM` source. `None` database / retention policy = the request's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub measurement: MeasurementMatch,
}
