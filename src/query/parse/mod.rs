//! The InfluxQL parser for the subset (structure and error texts of influxql parser.go).
//!
//! Error texts are InfluxDB's (`found X, expected Y at line 1, char N`, with the same expected
//! lists as influxql's parse tree), so a typo gets the answer an InfluxDB user knows. Valid
//! InfluxQL outside the subset is [`ParseError::Unsupported`], never a misleading syntax error.

use super::scan::{Scanner, Tok};
use super::time::parse_duration;
use super::{
    AlterRetentionPolicy, CreateDatabase, CreateRetentionPolicy, KeyKind, MeasurementMatch,
    Password, Privilege, RetentionPolicySpec, Statement,
};

/// Why a query was refused. Display is the text after InfluxDB's `error parsing query: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `found X, expected A, B at line L, char C`.
    #[error("found {found}, expected {} at line {line}, char {col}", expected.join(", "))]
    Expected {
        found: String,
        expected: Vec<&'static str>,
        line: usize,
        col: usize,
    },
    /// A positioned message (`invalid value 0: must be 1 <= n <= 2147483647 at line 1, char 67`).
    #[error("{message} at line {line}, char {col}")]
    Message {
        message: String,
        line: usize,
        col: usize,
    },
    /// An error InfluxDB reports without a position (`invalid timestamp string`).
    #[error("{0}")]
    Plain(String),
    /// Valid InfluxQL that this subset does not implement.
    #[error("{what} is not supported by lineshard at line {line}, char {col}")]
    Unsupported {
        what: String,
        line: usize,
        col: usize,
    },
}

const TOP: &[&str] = &[
    "SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE", "ALTER", "SET",
    "KILL",
];
const SHOW: &[&str] = &[
    "CONTINUOUS",
    "DATABASES",
    "DIAGNOSTICS",
    "FIELD",
    "GRANTS",
    "MEASUREMENT",
    "MEASUREMENTS",
    "QUERIES",
    "RETENTION",
    "SERIES",
    "SHARD",
    "SHARDS",
    "STATS",
    "SUBSCRIPTIONS",
    "TAG",
    "USERS",
];
const CREATE: &[&str] = &[
    "CONTINUOUS",
    "DATABASE",
    "USER",
    "RETENTION",
    "SUBSCRIPTION",
];
const DROP: &[&str] = &[
    "CONTINUOUS",
    "DATABASE",
    "MEASUREMENT",
    "RETENTION",
    "SERIES",
    "SHARD",
    "SUBSCRIPTION",
    "USER",
];
const OPERAND: &[&str] = &["identifier", "string", "number", "bool"];

/// Bounds on a WHERE expression. Parsing and lowering recurse over it (and dropping a boxed
/// tree recurses too), so a hostile query must not nest deeper than a small stack allows.
/// Real conditions (a time range and a few tags) use a handful of operators.
const WHERE_OPERATORS_MAX: usize = 256;
const WHERE_PARENS_MAX: usize = 64;

/// Parse one or more `;`-separated statements. `now()` is resolved when a statement runs
/// (the planner's `now_ns`), not here; but a DELETE's time bounds are lowered here, with
/// `now_ns`.
pub fn parse(q: &str, now_ns: i64) -> Result<Vec<Statement>, ParseError> {
    let mut p = Parser {
        s: Scanner::new(q),
        i: 0,
        now_ns,
        operators: 0,
        parens: 0,
    };
    let mut out = Vec::new();
    let mut after_semicolon = true;
    loop {
        let save = p.i;
        let (tok, pos) = p.next();
        match tok {
            Tok::Eof => return Ok(out),
            Tok::Punct(";") => after_semicolon = true,
            _ if !after_semicolon => return Err(p.expected(&tok, pos, &[";"])),
            _ => {
                p.i = save;
                out.push(p.statement()?);
                after_semicolon = false;
            }
        }
    }
}

struct Parser {
    s: Scanner,
    i: usize,
    /// `now()` in a DELETE's WHERE.
    now_ns: i64,
    /// Binary operators and open parentheses in the current WHERE (see the limits above).
    operators: usize,
    parens: usize,
}

impl Parser {
    /// The next token that is not whitespace or a comment.
    fn next(&mut self) -> (Tok, usize) {
        loop {
            let (tok, pos, after) = self.s.scan(self.i);
            self.i = after;
            if !matches!(tok, Tok::Ws | Tok::Comment) {
                return (tok, pos);
            }
        }
    }

    /// The next token without whitespace skipping (Go's `p.Scan()`).
    fn next_raw(&mut self) -> (Tok, usize) {
        let (tok, pos, after) = self.s.scan(self.i);
        self.i = after;
        (tok, pos)
    }

    fn peek(&mut self) -> (Tok, usize) {
        let save = self.i;
        let t = self.next();
        self.i = save;
        t
    }

    /// Consume the next token if it is keyword `k`.
    fn eat_kw(&mut self, k: &str) -> bool {
        let save = self.i;
        if self.next().0.is_kw(k) {
            return true;
        }
        self.i = save;
        false
    }

    fn expected(&self, tok: &Tok, pos: usize, expected: &[&'static str]) -> ParseError {
        let (line, col) = self.s.line_char(pos);
        ParseError::Expected {
            found: tok.text(),
            expected: expected.to_vec(),
            line,
            col,
        }
    }

    fn message(&self, message: String, pos: usize) -> ParseError {
        let (line, col) = self.s.line_char(pos);
        ParseError::Message { message, line, col }
    }

    fn unsupported(&self, what: impl Into<String>, pos: usize) -> ParseError {
        let (line, col) = self.s.line_char(pos);
        ParseError::Unsupported {
            what: what.into(),
            line,
            col,
        }
    }

    fn expect_kw(&mut self, k: &'static str) -> Result<(), ParseError> {
        let (tok, pos) = self.next();
        if tok.is_kw(k) {
            Ok(())
        } else {
            Err(self.expected(&tok, pos, &[k]))
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.next() {
            (Tok::Ident(s), _) => Ok(s),
            (tok, pos) => Err(self.expected(&tok, pos, &["identifier"])),
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let (tok, pos) = self.next();
        match tok {
            Tok::Keyword("SELECT") => self.select().map(Statement::Select),
            Tok::Keyword("SHOW") => self.show(),
            Tok::Keyword("CREATE") => self.create(),
            Tok::Keyword("DROP") => self.drop(),
            Tok::Keyword("DELETE") => self.delete(),
            Tok::Keyword("ALTER") => {
                self.expect_kw("RETENTION")?;
                self.expect_kw("POLICY")?;
                self.alter_rp().map(Statement::AlterRetentionPolicy)
            }
            Tok::Keyword("SET") => self.set_password(),
            Tok::Keyword("GRANT") => self.grant(),
            Tok::Keyword("REVOKE") => self.revoke(),
            Tok::Keyword(k) if TOP.contains(&k) => Err(self.unsupported(k, pos)),
            _ => Err(self.expected(&tok, pos, TOP)),
        }
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        let (tok, pos) = self.next();
        match tok {
            Tok::Keyword("DATABASES") => Ok(Statement::ShowDatabases),
            Tok::Keyword("RETENTION") => {
                self.expect_kw("POLICIES")?;
                let database = if self.eat_kw("ON") {
                    Some(self.ident()?)
                } else {
                    None
                };
                Ok(Statement::ShowRetentionPolicies { database })
            }
            Tok::Keyword("USERS") => Ok(Statement::ShowUsers),
            Tok::Keyword(
                k @ ("MEASUREMENTS" | "MEASUREMENT" | "TAG" | "FIELD" | "SERIES" | "QUERIES"),
            ) => self.show_meta(k).map(Statement::Show),
            Tok::Keyword("GRANTS") => {
                self.expect_kw("FOR")?;
                Ok(Statement::ShowGrants {
                    user: self.ident()?,
                })
            }
            Tok::Keyword(k) if SHOW.contains(&k) => Err(self.unsupported(format!("SHOW {k}"), pos)),
            _ => Err(self.expected(&tok, pos, SHOW)),
        }
    }

    fn create(&mut self) -> Result<Statement, ParseError> {
        let (tok, pos) = self.next();
        match tok {
            Tok::Keyword("DATABASE") => self.create_database().map(Statement::CreateDatabase),
            Tok::Keyword("RETENTION") => {
                self.expect_kw("POLICY")?;
                self.create_rp().map(Statement::CreateRetentionPolicy)
            }
            Tok::Keyword("USER") => self.create_user(),
            Tok::Keyword(k) if CREATE.contains(&k) => {
                Err(self.unsupported(format!("CREATE {k}"), pos))
            }
            _ => Err(self.expected(&tok, pos, CREATE)),
        }
    }

    fn drop(&mut self) -> Result<Statement, ParseError> {
        let (tok, pos) = self.next();
        match tok {
            Tok::Keyword("DATABASE") => Ok(Statement::DropDatabase {
                name: self.ident()?,
            }),
            Tok::Keyword("RETENTION") => {
                self.expect_kw("POLICY")?;
                let name = self.ident()?;
                self.expect_kw("ON")?;
                let database = self.ident()?;
                Ok(Statement::DropRetentionPolicy { name, database })
            }
            Tok::Keyword("USER") => Ok(Statement::DropUser {
                name: self.ident()?,
            }),
            Tok::Keyword("SERIES") => self.drop_series(),
            Tok::Keyword("MEASUREMENT") => Ok(Statement::DropMeasurement {
                name: self.ident()?,
            }),
            Tok::Keyword(k) if DROP.contains(&k) => Err(self.unsupported(format!("DROP {k}"), pos)),
            _ => Err(self.expected(&tok, pos, DROP)),
        }
    }

    /// A quoted string (influxql `parseString`).
    fn string(&mut self) -> Result<String, ParseError> {
        match self.next() {
            (Tok::Str(s), _) => Ok(s),
            (tok, pos) => Err(self.expected(&tok, pos, &["string"])),
        }
    }

    /// `CREATE USER name WITH PASSWORD 'p' [WITH ALL PRIVILEGES]`.
    fn create_user(&mut self) -> Result<Statement, ParseError> {
        let name = self.ident()?;
        self.expect_kw("WITH")?;
        self.expect_kw("PASSWORD")?;
        let password = Password(self.string()?);
        let admin = self.eat_kw("WITH");
        if admin {
            self.expect_kw("ALL")?;
            self.expect_kw("PRIVILEGES")?;
        }
        Ok(Statement::CreateUser {
            name,
            password,
            admin,
        })
    }

    /// `SET PASSWORD FOR name = 'p'`.
    fn set_password(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("PASSWORD")?;
        self.expect_kw("FOR")?;
        let name = self.ident()?;
        let (tok, pos) = self.next();
        if !tok.is_punct("=") {
            return Err(self.expected(&tok, pos, &["="]));
        }
        let password = Password(self.string()?);
        Ok(Statement::SetPassword { name, password })
    }

    /// influxql `parsePrivilege`: READ, WRITE or ALL [PRIVILEGES].
    fn privilege(&mut self) -> Result<Privilege, ParseError> {
        match self.next() {
            (Tok::Keyword("READ"), _) => Ok(Privilege::Read),
            (Tok::Keyword("WRITE"), _) => Ok(Privilege::Write),
            (Tok::Keyword("ALL"), _) => {
                self.eat_kw("PRIVILEGES");
                Ok(Privilege::All)
            }
            (tok, pos) => Err(self.expected(&tok, pos, &["READ", "WRITE", "ALL [PRIVILEGES]"])),
        }
    }

    /// `GRANT p ON db TO user` or `GRANT ALL [PRIVILEGES] TO user`.
    fn grant(&mut self) -> Result<Statement, ParseError> {
        let privilege = self.privilege()?;
        let (tok, pos) = self.next();
        if tok.is_kw("ON") {
            let database = self.ident()?;
            self.expect_kw("TO")?;
            let user = self.ident()?;
            return Ok(Statement::Grant {
                privilege,
                database,
                user,
            });
        }
        match (tok.is_kw("TO"), privilege) {
            (true, Privilege::All) => Ok(Statement::GrantAdmin {
                user: self.ident()?,
            }),
            (false, Privilege::All) => Err(self.expected(&tok, pos, &["ON", "TO"])),
            _ => Err(self.expected(&tok, pos, &["ON"])),
        }
    }

    /// `REVOKE p ON db FROM user` or `REVOKE ALL [PRIVILEGES] FROM user`.
    fn revoke(&mut self) -> Result<Statement, ParseError> {
        let privilege = self.privilege()?;
        let (tok, pos) = self.next();
        if tok.is_kw("ON") {
            let database = self.ident()?;
            self.expect_kw("FROM")?;
            let user = self.ident()?;
            return Ok(Statement::Revoke {
                privilege,
                database,
                user,
            });
        }
        match (tok.is_kw("FROM"), privilege) {
            (true, Privilege::All) => Ok(Statement::RevokeAdmin {
                user: self.ident()?,
            }),
            (false, Privilege::All) => Err(self.expected(&tok, pos, &["ON", "FROM"])),
            _ => Err(self.expected(&tok, pos, &["ON"])),
        }
    }

    /// `DURATION` value: a duration literal or `INF` (= 0).
    fn duration(&mut self) -> Result<i64, ParseError> {
        match self.next() {
            (Tok::Keyword("INF"), _) => Ok(0),
            (Tok::Duration(lit), pos) => {
                parse_duration(&lit).map_err(|e| self.message(e.to_string(), pos))
            }
            (tok, pos) => Err(self.expected(&tok, pos, &["duration"])),
        }
    }

    /// `SHARD DURATION` value: like [`Self::duration`] but `INF` is refused.
    fn shard_duration(&mut self) -> Result<i64, ParseError> {
        let (tok, pos) = self.peek();
        if tok.is_kw("INF") {
            return Err(self.message("invalid duration INF for shard duration".into(), pos));
        }
        self.duration()
    }

    /// `REPLICATION n`: Go's `ParseInt(1, math.MaxInt32)`.
    fn replication(&mut self) -> Result<u32, ParseError> {
        let (tok, pos) = self.next();
        let Tok::Integer(lit) = &tok else {
            return Err(self.expected(&tok, pos, &["integer"]));
        };
        let Ok(n) = lit.parse::<i64>() else {
            let msg = format!("strconv.Atoi: parsing {lit:?}: value out of range");
            return Err(self.message(msg, pos));
        };
        match u32::try_from(n) {
            Ok(v) if (1..=2_147_483_647).contains(&v) => Ok(v),
            _ => Err(self.message(
                format!("invalid value {n}: must be 1 <= n <= 2147483647"),
                pos,
            )),
        }
    }

    fn create_database(&mut self) -> Result<CreateDatabase, ParseError> {
        let name = self.ident()?;
        if !self.eat_kw("WITH") {
            return Ok(CreateDatabase { name, rp: None });
        }
        let (tok, pos) = self.peek();
        if !["DURATION", "NAME", "REPLICATION", "SHARD"]
            .iter()
            .any(|k| tok.is_kw(k))
        {
            return Err(self.expected(&tok, pos, &["DURATION", "NAME", "REPLICATION", "SHARD"]));
        }
        let mut spec = RetentionPolicySpec::default();
        if self.eat_kw("DURATION") {
            spec.duration_ns = Some(self.duration()?);
        }
        if self.eat_kw("REPLICATION") {
            spec.replication = Some(self.replication()?);
        }
        if self.eat_kw("SHARD") {
            self.expect_kw("DURATION")?;
            // Go's CREATE DATABASE does not refuse INF here (it means "default").
            spec.shard_duration_ns = Some(self.duration()?);
        }
        if self.eat_kw("NAME") {
            spec.name = Some(self.ident()?);
        }
        Ok(CreateDatabase {
            name,
            rp: Some(spec),
        })
    }

    fn create_rp(&mut self) -> Result<CreateRetentionPolicy, ParseError> {
        let name = self.ident()?;
        self.expect_kw("ON")?;
        let database = self.ident()?;
        self.expect_kw("DURATION")?;
        let duration_ns = self.duration()?;
        self.expect_kw("REPLICATION")?;
        let replication = self.replication()?;
        let mut shard_duration_ns = 0;
        if self.eat_kw("SHARD") {
            self.expect_kw("DURATION")?;
            shard_duration_ns = self.shard_duration()?;
        }
        let default = self.eat_kw("DEFAULT");
        Ok(CreateRetentionPolicy {
            name,
            database,
            duration_ns,
            replication,
            shard_duration_ns,
            default,
        })
    }

    fn alter_rp(&mut self) -> Result<AlterRetentionPolicy, ParseError> {
        let name = match self.next() {
            (Tok::Keyword("DEFAULT"), _) => "default".to_string(),
            (Tok::Ident(s), _) => s,
            (tok, pos) => return Err(self.expected(&tok, pos, &["identifier"])),
        };
        self.expect_kw("ON")?;
        let database = self.ident()?;
        let mut stmt = AlterRetentionPolicy {
            name,
            database,
            duration_ns: None,
            replication: None,
            shard_duration_ns: None,
            default: false,
        };
        let mut found: Vec<&'static str> = Vec::new();
        loop {
            let save = self.i;
            let (tok, pos) = self.next();
            let kw = match tok {
                Tok::Keyword(k @ ("DURATION" | "REPLICATION" | "SHARD" | "DEFAULT")) => k,
                _ if found.is_empty() => {
                    let want = &["DURATION", "REPLICATION", "SHARD", "DEFAULT"];
                    return Err(self.expected(&tok, pos, want));
                }
                _ => {
                    self.i = save;
                    return Ok(stmt);
                }
            };
            if found.contains(&kw) {
                return Err(self.message(format!("found duplicate {kw} option"), pos));
            }
            found.push(kw);
            match kw {
                "DURATION" => stmt.duration_ns = Some(self.duration()?),
                "REPLICATION" => stmt.replication = Some(self.replication()?),
                "SHARD" => {
                    self.expect_kw("DURATION")?;
                    stmt.shard_duration_ns = Some(self.shard_duration()?);
                }
                _ => stmt.default = true,
            }
        }
    }
}

mod delete;
mod select;
mod show;
#[cfg(test)]
mod tests;
