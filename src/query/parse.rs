//! The InfluxQL parser for the subset (structure and error texts of influxql parser.go).
//!
//! Error texts are InfluxDB's (`found X, expected Y at line 1, char N`, with the same expected
//! lists as influxql's parse tree), so a typo gets the answer an InfluxDB user knows. Valid
//! InfluxQL outside the subset is [`ParseError::Unsupported`], never a misleading syntax error.

use super::scan::{Scanner, Tok};
use super::time::{parse_duration, parse_time_literal};
use super::{
    AlterRetentionPolicy, Condition, CreateDatabase, CreateRetentionPolicy, KeyKind,
    MeasurementMatch, Password, Privilege, RetentionPolicySpec, SelectField, SelectStatement,
    Source, Statement, TagExpr,
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

/// Parse one or more `;`-separated statements. `now_ns` is the value of `now()`.
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
    now_ns: i64,
    /// Binary operators and open parentheses in the current WHERE (see the limits above).
    operators: usize,
    parens: usize,
}

/// A WHERE expression before it is lowered into a [`Condition`].
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Var(String, Option<KeyKind>),
    Str(String),
    Int(i64),
    Float(f64),
    Dur(i64),
    Bool(bool),
    Now,
    Regex,
    Bin(&'static str, Box<Expr>, Box<Expr>),
}

fn precedence(op: &str) -> u8 {
    match op {
        "OR" => 1,
        "AND" => 2,
        "=" | "!=" | "=~" | "!~" | "<" | "<=" | ">" | ">=" => 3,
        "+" | "-" | "|" | "^" => 4,
        "*" | "/" | "%" | "&" => 5,
        _ => 0,
    }
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

    fn select(&mut self) -> Result<SelectStatement, ParseError> {
        let mut fields = Vec::new();
        let mut time_alias = None;
        loop {
            match self.select_field()? {
                SelectField::Key { name, alias, .. } if name == "time" => {
                    time_alias = alias.or(time_alias);
                }
                f => fields.push(f),
            }
            let save = self.i;
            if !self.next().0.is_punct(",") {
                self.i = save;
                break;
            }
        }
        let (tok, pos) = self.next();
        if tok.is_kw("INTO") {
            return Err(self.unsupported("SELECT INTO", pos));
        }
        if !tok.is_kw("FROM") {
            return Err(self.expected(&tok, pos, &["FROM"]));
        }
        let mut sources = vec![self.source()?];
        loop {
            let save = self.i;
            if !self.next().0.is_punct(",") {
                self.i = save;
                break;
            }
            sources.push(self.source()?);
        }
        let mut condition = Condition::default();
        let (tok, pos) = self.peek();
        if tok.is_kw("WHERE") {
            self.next();
            self.operators = 0;
            self.parens = 0;
            let expr = self.expr(1)?;
            self.lower(&expr, pos, &mut condition)?;
        }
        let mut stmt = SelectStatement {
            fields,
            sources,
            condition,
            limit: 0,
            offset: 0,
            descending: false,
            time_alias,
        };
        self.select_tail(&mut stmt)?;
        if stmt.fields.is_empty() {
            return Err(ParseError::Plain(
                "at least 1 non-time field must be queried".into(),
            ));
        }
        Ok(stmt)
    }

    /// The clauses after WHERE, in InfluxQL's order: GROUP BY and fill() (unsupported),
    /// ORDER BY time [ASC|DESC], LIMIT n, OFFSET n, SLIMIT/SOFFSET/tz() (unsupported).
    fn select_tail(&mut self, stmt: &mut SelectStatement) -> Result<(), ParseError> {
        let (tok, pos) = self.peek();
        match tok {
            Tok::Keyword("GROUP") => return Err(self.unsupported("GROUP BY", pos)),
            Tok::Ident(ref f) if f.eq_ignore_ascii_case("fill") => {
                return Err(self.unsupported("fill()", pos))
            }
            _ => {}
        }
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            stmt.descending = self.order_by()?;
        }
        if self.eat_kw("LIMIT") {
            stmt.limit = self.clause_int()?;
        }
        if self.eat_kw("OFFSET") {
            stmt.offset = self.clause_int()?;
        }
        let (tok, pos) = self.peek();
        match tok {
            Tok::Keyword(k @ ("SLIMIT" | "SOFFSET")) => Err(self.unsupported(k, pos)),
            Tok::Ident(ref f) if f.eq_ignore_ascii_case("tz") => Err(self.unsupported("tz()", pos)),
            _ => Ok(()),
        }
    }

    /// The integer after LIMIT/OFFSET. Go ignores strconv.ParseInt's error here, which
    /// saturates, so an overlong number means "as many as possible".
    fn clause_int(&mut self) -> Result<u64, ParseError> {
        let (tok, pos) = self.next();
        let Tok::Integer(lit) = &tok else {
            return Err(self.expected(&tok, pos, &["integer"]));
        };
        Ok(lit.parse::<i64>().unwrap_or(i64::MAX).unsigned_abs())
    }

    /// `ORDER BY [time] ASC|DESC`: true for descending. Only time can be sorted on, and only
    /// one sort field is allowed (influxql: `only ORDER BY time supported at this time`).
    fn order_by(&mut self) -> Result<bool, ParseError> {
        let only_time = || ParseError::Plain("only ORDER BY time supported at this time".into());
        let (tok, pos) = self.next();
        let descending = match tok {
            Tok::Keyword(k @ ("ASC" | "DESC")) => k == "DESC",
            Tok::Ident(name) if name == "time" => {
                if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                }
            }
            Tok::Ident(_) => return Err(only_time()),
            _ => return Err(self.expected(&tok, pos, &["identifier", "ASC", "DESC"])),
        };
        let save = self.i;
        if !self.next().0.is_punct(",") {
            self.i = save;
            return Ok(descending);
        }
        // influxql parses the next sort field, then refuses more than one.
        match self.next() {
            (Tok::Ident(_), _) => Err(only_time()),
            (tok, pos) => Err(self.expected(&tok, pos, &["identifier"])),
        }
    }

    fn key_kind(&mut self) -> Result<Option<KeyKind>, ParseError> {
        let save = self.i;
        if !self.next_raw().0.is_punct("::") {
            self.i = save;
            return Ok(None);
        }
        let (tok, pos) = self.next_raw();
        match &tok {
            Tok::Keyword("FIELD") => Ok(Some(KeyKind::Field)),
            Tok::Keyword("TAG") => Ok(Some(KeyKind::Tag)),
            Tok::Ident(t)
                if ["float", "integer", "unsigned", "string", "boolean"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(t)) =>
            {
                Ok(Some(KeyKind::Field))
            }
            _ => Err(self.expected(
                &tok,
                pos,
                &["float", "integer", "string", "boolean", "field", "tag"],
            )),
        }
    }

    fn select_field(&mut self) -> Result<SelectField, ParseError> {
        let (c, at) = self.s.peek_rune(self.i);
        if c == Some('/') {
            return Err(self.unsupported("a regex in the SELECT list", at));
        }
        let (tok, pos) = self.next();
        let field = match tok {
            Tok::Punct("*") => {
                let save = self.i;
                if !self.next_raw().0.is_punct("::") {
                    self.i = save;
                    SelectField::Wildcard(None)
                } else {
                    match self.next_raw() {
                        (Tok::Keyword("FIELD"), _) => SelectField::Wildcard(Some(KeyKind::Field)),
                        (Tok::Keyword("TAG"), _) => SelectField::Wildcard(Some(KeyKind::Tag)),
                        (tok, pos) => return Err(self.expected(&tok, pos, &["field", "tag"])),
                    }
                }
            }
            Tok::Ident(name) => {
                let save = self.i;
                if self.next_raw().0.is_punct("(") {
                    return Err(self.unsupported(format!("function {name}()"), pos));
                }
                self.i = save;
                let kind = self.key_kind()?;
                SelectField::Key {
                    name,
                    kind,
                    alias: None,
                }
            }
            Tok::Keyword("DISTINCT") => return Err(self.unsupported("DISTINCT", pos)),
            Tok::Str(_)
            | Tok::Integer(_)
            | Tok::Number(_)
            | Tok::Duration(_)
            | Tok::Keyword("TRUE" | "FALSE")
            | Tok::Punct("(" | "-" | "+") => {
                return Err(self.unsupported("an expression in the SELECT list", pos))
            }
            _ => return Err(self.expected(&tok, pos, OPERAND)),
        };
        let (tok, pos) = self.peek();
        if let Tok::Punct(op) = tok {
            if precedence(op) > 0 {
                return Err(self.unsupported("an expression in the SELECT list", pos));
            }
        }
        if !self.eat_kw("AS") {
            return Ok(field);
        }
        let alias = self.ident()?;
        Ok(match field {
            SelectField::Key { name, kind, .. } => SelectField::Key {
                name,
                kind,
                alias: Some(alias),
            },
            SelectField::Wildcard(_) => return Err(self.unsupported("an alias for *", pos)),
        })
    }

    fn regex(&mut self) -> Result<MeasurementMatch, ParseError> {
        let (_, at) = self.s.peek_rune(self.i);
        let (pattern, after) = self.s.scan_regex(at).map_err(|m| self.message(m, at))?;
        self.i = after;
        regex::bytes::Regex::new(&pattern)
            .map(MeasurementMatch::Regex)
            .map_err(|e| {
                // The regex crate's message spans lines; keep its last line, worded like Go's.
                let text = e.to_string();
                let last = text.lines().last().unwrap_or_default();
                let reason = last.strip_prefix("error: ").unwrap_or(last);
                self.message(format!("error parsing regexp: {reason}"), at)
            })
    }

    fn source(&mut self) -> Result<Source, ParseError> {
        let (c, at) = self.s.peek_rune(self.i);
        if c == Some('/') {
            return Ok(Source {
                database: None,
                retention_policy: None,
                measurement: self.regex()?,
            });
        }
        if c == Some('(') {
            return Err(self.unsupported("a subquery", at));
        }
        let mut idents = vec![self.ident()?];
        let mut regex = None;
        loop {
            let save = self.i;
            if !self.next_raw().0.is_punct(".") {
                self.i = save;
                break;
            }
            match self.s.peek_rune(self.i).0 {
                Some('/') => {
                    regex = Some(self.regex()?);
                    break;
                }
                Some('.') => idents.push(String::new()),
                _ => idents.push(self.ident()?),
            }
            if idents.len() > 3 {
                let segs: Vec<String> = idents.iter().map(|s| format!("{s:?}")).collect();
                let msg = format!("too many segments in {}", segs.join("."));
                return Err(self.message(msg, at));
            }
        }
        let some = |s: String| (!s.is_empty()).then_some(s);
        let mut it = idents.into_iter();
        let (a, b, c) = (it.next(), it.next(), it.next());
        let (database, retention_policy, measurement) = match (regex, a, b, c) {
            (Some(re), Some(rp), None, _) => (None, some(rp), re),
            (Some(re), Some(db), Some(rp), _) => (some(db), some(rp), re),
            (None, Some(m), None, _) => (None, None, MeasurementMatch::Name(m)),
            (None, Some(rp), Some(m), None) => (None, some(rp), MeasurementMatch::Name(m)),
            (None, Some(db), Some(rp), Some(m)) => (some(db), some(rp), MeasurementMatch::Name(m)),
            _ => return Err(self.unsupported("this source", at)),
        };
        Ok(Source {
            database,
            retention_policy,
            measurement,
        })
    }

    /// Precedence climbing over InfluxQL's binary operators.
    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let save = self.i;
            let (tok, _) = self.next();
            let op = match tok {
                Tok::Keyword(k @ ("AND" | "OR")) => k,
                Tok::Punct(p) if precedence(p) > 0 => p,
                _ => {
                    self.i = save;
                    return Ok(lhs);
                }
            };
            let prec = precedence(op);
            if prec < min_prec {
                self.i = save;
                return Ok(lhs);
            }
            self.operators += 1;
            if self.operators > WHERE_OPERATORS_MAX {
                let msg = format!("too many operators in WHERE (at most {WHERE_OPERATORS_MAX})");
                return Err(self.message(msg, save));
            }
            let rhs = if op == "=~" || op == "!~" {
                self.regex_operand()?
            } else {
                self.expr(prec + 1)?
            };
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn regex_operand(&mut self) -> Result<Expr, ParseError> {
        let (c, _) = self.s.peek_rune(self.i);
        if c != Some('/') {
            let (tok, pos) = self.next();
            return Err(self.expected(&tok, pos, &["regex"]));
        }
        self.regex()?;
        Ok(Expr::Regex)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let (tok, pos) = self.next();
        Ok(match tok {
            Tok::Punct("(") => {
                self.parens += 1;
                if self.parens > WHERE_PARENS_MAX {
                    let msg = format!("parentheses nested too deep (at most {WHERE_PARENS_MAX})");
                    return Err(self.message(msg, pos));
                }
                let e = self.expr(1)?;
                let (tok, pos) = self.next();
                if !tok.is_punct(")") {
                    return Err(self.expected(&tok, pos, &[")"]));
                }
                self.parens -= 1;
                e
            }
            Tok::Ident(name) => {
                let save = self.i;
                if self.next_raw().0.is_punct("(") {
                    let (tok, pos2) = self.next();
                    if name.eq_ignore_ascii_case("now") && tok.is_punct(")") {
                        return Ok(Expr::Now);
                    }
                    let _ = pos2;
                    return Err(self.unsupported(format!("function {name}()"), pos));
                }
                self.i = save;
                Expr::Var(name, self.key_kind()?)
            }
            Tok::Str(s) => Expr::Str(s),
            Tok::Integer(lit) => match lit.parse::<i64>() {
                Ok(v) => Expr::Int(v),
                Err(_) => return Err(self.message("unable to parse integer".into(), pos)),
            },
            Tok::Number(lit) => match lit.parse::<f64>() {
                Ok(v) => Expr::Float(v),
                Err(_) => return Err(self.message("unable to parse number".into(), pos)),
            },
            Tok::Duration(lit) => {
                Expr::Dur(parse_duration(&lit).map_err(|e| ParseError::Plain(e.to_string()))?)
            }
            Tok::Keyword("TRUE") => Expr::Bool(true),
            Tok::Keyword("FALSE") => Expr::Bool(false),
            Tok::Punct(sign @ ("-" | "+")) => {
                let neg = |v: i64| if sign == "-" { v.saturating_neg() } else { v };
                match self.next() {
                    (Tok::Integer(lit), p) => match lit.parse::<i64>() {
                        Ok(v) => Expr::Int(neg(v)),
                        Err(_) => return Err(self.message("unable to parse integer".into(), p)),
                    },
                    (Tok::Number(lit), p) => match lit.parse::<f64>() {
                        Ok(v) if sign == "-" => Expr::Float(-v),
                        Ok(v) => Expr::Float(v),
                        Err(_) => return Err(self.message("unable to parse number".into(), p)),
                    },
                    (Tok::Duration(lit), _) => Expr::Dur(neg(
                        parse_duration(&lit).map_err(|e| ParseError::Plain(e.to_string()))?
                    )),
                    (tok, p) => {
                        return Err(self.expected(&tok, p, &["identifier", "number", "duration"]))
                    }
                }
            }
            _ => return Err(self.expected(&tok, pos, OPERAND)),
        })
    }

    /// Fold a WHERE expression into `cond`; `pos` (the WHERE) positions unsupported shapes.
    fn lower(&self, e: &Expr, pos: usize, cond: &mut Condition) -> Result<(), ParseError> {
        let Expr::Bin(op, l, r) = e else {
            return Err(self.unsupported("this WHERE condition", pos));
        };
        match *op {
            "AND" => {
                self.lower(l, pos, cond)?;
                self.lower(r, pos, cond)
            }
            "OR" => Err(self.unsupported("OR in WHERE", pos)),
            "=" | "!=" | "<" | "<=" | ">" | ">=" => self.comparison(op, l, r, pos, cond),
            _ => Err(self.unsupported(format!("operator {op} in WHERE"), pos)),
        }
    }

    fn comparison(
        &self,
        op: &str,
        l: &Expr,
        r: &Expr,
        pos: usize,
        cond: &mut Condition,
    ) -> Result<(), ParseError> {
        let is_time = |e: &Expr| matches!(e, Expr::Var(n, _) if n.eq_ignore_ascii_case("time"));
        if is_time(l) {
            let t = self.time_value(r, pos)?;
            return self.time_bound(op, t, pos, cond);
        }
        if is_time(r) {
            let t = self.time_value(l, pos)?;
            let flipped = match op {
                "<" => ">",
                "<=" => ">=",
                ">" => "<",
                ">=" => "<=",
                other => other,
            };
            return self.time_bound(flipped, t, pos, cond);
        }
        let (key, value) = match (l, r) {
            (Expr::Var(k, kind), Expr::Str(v)) | (Expr::Str(v), Expr::Var(k, kind))
                if *kind != Some(KeyKind::Field) =>
            {
                (k, v)
            }
            _ => return Err(self.unsupported("a WHERE condition on a field", pos)),
        };
        let negate = match op {
            "=" => false,
            "!=" => true,
            _ => return Err(self.unsupported(format!("tag comparison with {op}"), pos)),
        };
        let tags = std::mem::replace(&mut cond.tags, TagExpr::True);
        cond.tags = tags.and(TagExpr::Eq {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            negate,
        });
        Ok(())
    }

    fn time_bound(
        &self,
        op: &str,
        t: i64,
        pos: usize,
        cond: &mut Condition,
    ) -> Result<(), ParseError> {
        let (min, max) = match op {
            ">" => (Some(t.saturating_add(1)), None),
            ">=" => (Some(t), None),
            "<" => (None, Some(t)),
            "<=" => (None, Some(t.saturating_add(1))),
            "=" => (Some(t), Some(t.saturating_add(1))),
            _ => return Err(self.unsupported(format!("time {op}"), pos)),
        };
        if let Some(min) = min {
            cond.time_min_ns = cond.time_min_ns.max(min);
        }
        if let Some(max) = max {
            cond.time_max_ns = cond.time_max_ns.min(max);
        }
        Ok(())
    }

    /// A time operand: a time string, ns integer, duration since the epoch, `now()`, and
    /// sums/differences of those (`now() - 1h`, `'2020-01-01' + 30m`).
    fn time_value(&self, e: &Expr, pos: usize) -> Result<i64, ParseError> {
        match e {
            Expr::Str(s) => parse_time_literal(s)
                .ok_or_else(|| ParseError::Plain("invalid timestamp string".into())),
            Expr::Int(v) | Expr::Dur(v) => Ok(*v),
            Expr::Float(v) => Ok(*v as i64),
            Expr::Now => Ok(self.now_ns),
            Expr::Bin(op @ ("+" | "-"), l, r) => {
                let (a, b) = (self.time_value(l, pos)?, self.time_value(r, pos)?);
                Ok(if *op == "+" {
                    a.saturating_add(b)
                } else {
                    a.saturating_sub(b)
                })
            }
            _ => Err(self.unsupported("this time expression", pos)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{TIME_MAX_NS, TIME_MIN_NS};

    const NOW: i64 = 1_600_000_000_000_000_000;
    const H: i64 = 3_600_000_000_000;

    fn one(q: &str) -> Statement {
        match parse(q, NOW) {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("{q}: {other:?}"),
        }
    }

    fn err(q: &str) -> String {
        match parse(q, NOW) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{q}: parsed as {v:?}"),
        }
    }

    fn select(q: &str) -> SelectStatement {
        match one(q) {
            Statement::Select(s) => s,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn catalog_statements() {
        assert_eq!(one("show databases"), Statement::ShowDatabases);
        assert_eq!(
            one(r#"CREATE DATABASE "my db""#),
            Statement::CreateDatabase(CreateDatabase {
                name: "my db".into(),
                rp: None
            })
        );
        assert_eq!(
            one("create database x with duration 1d replication 1 shard duration 1h name rp1"),
            Statement::CreateDatabase(CreateDatabase {
                name: "x".into(),
                rp: Some(RetentionPolicySpec {
                    duration_ns: Some(24 * H),
                    replication: Some(1),
                    shard_duration_ns: Some(H),
                    name: Some("rp1".into()),
                })
            })
        );
        assert_eq!(
            one("CREATE DATABASE x WITH REPLICATION 1"),
            Statement::CreateDatabase(CreateDatabase {
                name: "x".into(),
                rp: Some(RetentionPolicySpec {
                    replication: Some(1),
                    ..Default::default()
                })
            })
        );
        assert_eq!(
            one("DROP DATABASE x"),
            Statement::DropDatabase { name: "x".into() }
        );
        assert_eq!(
            one("CREATE RETENTION POLICY rp ON db DURATION INF REPLICATION 1 SHARD DURATION 2h DEFAULT"),
            Statement::CreateRetentionPolicy(CreateRetentionPolicy {
                name: "rp".into(),
                database: "db".into(),
                duration_ns: 0,
                replication: 1,
                shard_duration_ns: 2 * H,
                default: true,
            })
        );
        assert_eq!(
            one("ALTER RETENTION POLICY DEFAULT ON db DEFAULT DURATION 1w"),
            Statement::AlterRetentionPolicy(AlterRetentionPolicy {
                name: "default".into(),
                database: "db".into(),
                duration_ns: Some(168 * H),
                replication: None,
                shard_duration_ns: None,
                default: true,
            })
        );
        assert_eq!(
            one("drop retention policy \"1h.cpu\" on db"),
            Statement::DropRetentionPolicy {
                name: "1h.cpu".into(),
                database: "db".into()
            }
        );
        assert_eq!(
            one("SHOW RETENTION POLICIES"),
            Statement::ShowRetentionPolicies { database: None }
        );
        assert_eq!(
            one("SHOW RETENTION POLICIES ON \"db\""),
            Statement::ShowRetentionPolicies {
                database: Some("db".into())
            }
        );
    }

    #[test]
    fn several_statements_and_comments() {
        let v = parse(
            "CREATE DATABASE \"a;b\"; -- c;\nSHOW DATABASES;;/* ; */ DROP DATABASE x;",
            NOW,
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            v,
            Ok(vec![
                Statement::CreateDatabase(CreateDatabase {
                    name: "a;b".into(),
                    rp: None
                }),
                Statement::ShowDatabases,
                Statement::DropDatabase { name: "x".into() },
            ])
        );
        assert_eq!(parse("", NOW), Ok(vec![]));
        assert_eq!(parse(" ; ", NOW), Ok(vec![]));
    }

    #[test]
    fn influxdb_error_texts() {
        // Expected texts are from influxql parser_test.go (the 1.x parser).
        let cases = [
            ("SELEC * FROM m", "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"),
            ("SELECT", "found EOF, expected identifier, string, number, bool at line 1, char 8"),
            ("SELECT field1 FROM myseries LIMIT", "found EOF, expected integer at line 1, char 35"),
            ("SELECT field1 AS", "found EOF, expected identifier at line 1, char 18"),
            ("SHOW RETENTION", "found EOF, expected POLICIES at line 1, char 16"),
            ("SHOW RETENTION ON", "found ON, expected POLICIES at line 1, char 16"),
            ("SHOW RETENTION POLICIES ON", "found EOF, expected identifier at line 1, char 28"),
            ("SHOW FOO", "found FOO, expected CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS at line 1, char 6"),
            ("DROP FOO", "found FOO, expected CONTINUOUS, DATABASE, MEASUREMENT, RETENTION, SERIES, SHARD, SUBSCRIPTION, USER at line 1, char 6"),
            ("CREATE FOO", "found FOO, expected CONTINUOUS, DATABASE, USER, RETENTION, SUBSCRIPTION at line 1, char 8"),
            ("CREATE DATABASE", "found EOF, expected identifier at line 1, char 17"),
            ("CREATE DATABASE \"testdb\" WITH", "found EOF, expected DURATION, NAME, REPLICATION, SHARD at line 1, char 31"),
            ("CREATE DATABASE \"testdb\" WITH DURATION", "found EOF, expected duration at line 1, char 40"),
            ("CREATE DATABASE \"testdb\" WITH REPLICATION", "found EOF, expected integer at line 1, char 43"),
            ("CREATE DATABASE \"testdb\" WITH NAME", "found EOF, expected identifier at line 1, char 36"),
            ("CREATE DATABASE \"testdb\" WITH SHARD", "found EOF, expected DURATION at line 1, char 37"),
            ("DROP DATABASE", "found EOF, expected identifier at line 1, char 15"),
            ("DROP RETENTION", "found EOF, expected POLICY at line 1, char 16"),
            ("DROP RETENTION POLICY \"1h.cpu\"", "found EOF, expected ON at line 1, char 31"),
            ("CREATE RETENTION POLICY policy1 ON testdb", "found EOF, expected DURATION at line 1, char 43"),
            ("CREATE RETENTION POLICY policy1 ON testdb DURATION bad", "found bad, expected duration at line 1, char 52"),
            ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h", "found EOF, expected REPLICATION at line 1, char 54"),
            ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 3.14", "found 3.14, expected integer at line 1, char 67"),
            ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 0", "invalid value 0: must be 1 <= n <= 2147483647 at line 1, char 67"),
            ("CREATE RETENTION POLICY policy1 ON testdb DURATION 1h REPLICATION 2 SHARD DURATION INF", "invalid duration INF for shard duration at line 1, char 84"),
            ("ALTER", "found EOF, expected RETENTION at line 1, char 7"),
            ("ALTER RETENTION POLICY policy1 ON testdb", "found EOF, expected DURATION, REPLICATION, SHARD, DEFAULT at line 1, char 42"),
            ("ALTER RETENTION POLICY policy1 ON testdb REPLICATION 1 REPLICATION 2", "found duplicate REPLICATION option at line 1, char 56"),
            ("ALTER RETENTION POLICY policy1 ON testdb DURATION 15251w", "overflowed duration 15251w: choose a smaller duration or INF at line 1, char 51"),
            ("ALTER RETENTION POLICY policy1 ON testdb DURATION INF SHARD DURATION INF", "invalid duration INF for shard duration at line 1, char 70"),
            ("SHOW DATABASES x", "found x, expected ; at line 1, char 16"),
            ("CREATE DATABASE select", "found SELECT, expected identifier at line 1, char 17"),
            ("SELECT * FROM", "found EOF, expected identifier at line 1, char 15"),
            ("SELECT * m", "found m, expected FROM at line 1, char 10"),
            ("SELECT *\nFROM", "found EOF, expected identifier at line 2, char 6"),
            ("SELECT * FROM m WHERE time > now() - 1h)", "found ), expected ; at line 1, char 40"),
            ("SELECT * FROM m WHERE (time > 0", "found EOF, expected ) at line 1, char 32"),
            ("SELECT * FROM m WHERE time > '2020-13-01'", "invalid timestamp string"),
            ("SELECT time FROM m", "at least 1 non-time field must be queried"),
            ("SELECT field1 FROM myseries ORDER", "found EOF, expected BY at line 1, char 35"),
            ("SELECT field1 FROM myseries ORDER BY", "found EOF, expected identifier, ASC, DESC at line 1, char 38"),
            ("SELECT field1 FROM myseries ORDER BY time ASC,", "found EOF, expected identifier at line 1, char 47"),
            ("SELECT field1 FROM myseries OFFSET", "found EOF, expected integer at line 1, char 36"),
            ("SELECT v FROM m ORDER BY v", "only ORDER BY time supported at this time"),
        ];
        for (q, want) in cases {
            assert_eq!(err(q), want, "{q}");
        }
    }

    #[test]
    fn user_statement_error_texts() {
        // From influxql parser_test.go (1.x), every user-statement case.
        let cases = [
            ("SHOW GRANTS", "found EOF, expected FOR at line 1, char 13"),
            (
                "SHOW GRANTS FOR",
                "found EOF, expected identifier at line 1, char 17",
            ),
            (
                "DROP USER",
                "found EOF, expected identifier at line 1, char 11",
            ),
            (
                "CREATE USER testuser",
                "found EOF, expected WITH at line 1, char 22",
            ),
            (
                "CREATE USER testuser WITH",
                "found EOF, expected PASSWORD at line 1, char 27",
            ),
            (
                "CREATE USER testuser WITH PASSWORD",
                "found EOF, expected string at line 1, char 36",
            ),
            (
                "CREATE USER testuser WITH PASSWORD 'pwd' WITH",
                "found EOF, expected ALL at line 1, char 47",
            ),
            (
                "CREATE USER testuser WITH PASSWORD 'pwd' WITH ALL",
                "found EOF, expected PRIVILEGES at line 1, char 51",
            ),
            (
                "GRANT",
                "found EOF, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 7",
            ),
            (
                "GRANT BOGUS",
                "found BOGUS, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 7",
            ),
            ("GRANT READ", "found EOF, expected ON at line 1, char 12"),
            (
                "GRANT READ FROM",
                "found FROM, expected ON at line 1, char 12",
            ),
            (
                "GRANT READ ON",
                "found EOF, expected identifier at line 1, char 15",
            ),
            (
                "GRANT READ ON TO",
                "found TO, expected identifier at line 1, char 15",
            ),
            (
                "GRANT READ ON testdb",
                "found EOF, expected TO at line 1, char 22",
            ),
            (
                "GRANT READ ON testdb TO",
                "found EOF, expected identifier at line 1, char 25",
            ),
            ("GRANT READ TO", "found TO, expected ON at line 1, char 12"),
            ("GRANT WRITE", "found EOF, expected ON at line 1, char 13"),
            (
                "GRANT WRITE FROM",
                "found FROM, expected ON at line 1, char 13",
            ),
            (
                "GRANT WRITE ON",
                "found EOF, expected identifier at line 1, char 16",
            ),
            (
                "GRANT WRITE ON TO",
                "found TO, expected identifier at line 1, char 16",
            ),
            (
                "GRANT WRITE ON testdb",
                "found EOF, expected TO at line 1, char 23",
            ),
            (
                "GRANT WRITE ON testdb TO",
                "found EOF, expected identifier at line 1, char 26",
            ),
            ("GRANT WRITE TO", "found TO, expected ON at line 1, char 13"),
            ("GRANT ALL", "found EOF, expected ON, TO at line 1, char 11"),
            (
                "GRANT ALL PRIVILEGES",
                "found EOF, expected ON, TO at line 1, char 22",
            ),
            (
                "GRANT ALL FROM",
                "found FROM, expected ON, TO at line 1, char 11",
            ),
            (
                "GRANT ALL PRIVILEGES FROM",
                "found FROM, expected ON, TO at line 1, char 22",
            ),
            (
                "GRANT ALL ON",
                "found EOF, expected identifier at line 1, char 14",
            ),
            (
                "GRANT ALL PRIVILEGES ON",
                "found EOF, expected identifier at line 1, char 25",
            ),
            (
                "GRANT ALL ON TO",
                "found TO, expected identifier at line 1, char 14",
            ),
            (
                "GRANT ALL PRIVILEGES ON TO",
                "found TO, expected identifier at line 1, char 25",
            ),
            (
                "GRANT ALL ON testdb",
                "found EOF, expected TO at line 1, char 21",
            ),
            (
                "GRANT ALL PRIVILEGES ON testdb",
                "found EOF, expected TO at line 1, char 32",
            ),
            (
                "GRANT ALL ON testdb FROM",
                "found FROM, expected TO at line 1, char 21",
            ),
            (
                "GRANT ALL PRIVILEGES ON testdb FROM",
                "found FROM, expected TO at line 1, char 32",
            ),
            (
                "GRANT ALL ON testdb TO",
                "found EOF, expected identifier at line 1, char 24",
            ),
            (
                "GRANT ALL PRIVILEGES ON testdb TO",
                "found EOF, expected identifier at line 1, char 35",
            ),
            (
                "GRANT ALL TO",
                "found EOF, expected identifier at line 1, char 14",
            ),
            (
                "GRANT ALL PRIVILEGES TO",
                "found EOF, expected identifier at line 1, char 25",
            ),
            (
                "REVOKE",
                "found EOF, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 8",
            ),
            (
                "REVOKE BOGUS",
                "found BOGUS, expected READ, WRITE, ALL [PRIVILEGES] at line 1, char 8",
            ),
            ("REVOKE READ", "found EOF, expected ON at line 1, char 13"),
            ("REVOKE READ TO", "found TO, expected ON at line 1, char 13"),
            (
                "REVOKE READ ON",
                "found EOF, expected identifier at line 1, char 16",
            ),
            (
                "REVOKE READ ON FROM",
                "found FROM, expected identifier at line 1, char 16",
            ),
            (
                "REVOKE READ ON testdb",
                "found EOF, expected FROM at line 1, char 23",
            ),
            (
                "REVOKE READ ON testdb FROM",
                "found EOF, expected identifier at line 1, char 28",
            ),
            (
                "REVOKE READ FROM",
                "found FROM, expected ON at line 1, char 13",
            ),
            ("REVOKE WRITE", "found EOF, expected ON at line 1, char 14"),
            (
                "REVOKE WRITE TO",
                "found TO, expected ON at line 1, char 14",
            ),
            (
                "REVOKE WRITE ON",
                "found EOF, expected identifier at line 1, char 17",
            ),
            (
                "REVOKE WRITE ON FROM",
                "found FROM, expected identifier at line 1, char 17",
            ),
            (
                "REVOKE WRITE ON testdb",
                "found EOF, expected FROM at line 1, char 24",
            ),
            (
                "REVOKE WRITE ON testdb FROM",
                "found EOF, expected identifier at line 1, char 29",
            ),
            (
                "REVOKE WRITE FROM",
                "found FROM, expected ON at line 1, char 14",
            ),
            (
                "REVOKE ALL",
                "found EOF, expected ON, FROM at line 1, char 12",
            ),
            (
                "REVOKE ALL PRIVILEGES",
                "found EOF, expected ON, FROM at line 1, char 23",
            ),
            (
                "REVOKE ALL TO",
                "found TO, expected ON, FROM at line 1, char 12",
            ),
            (
                "REVOKE ALL PRIVILEGES TO",
                "found TO, expected ON, FROM at line 1, char 23",
            ),
            (
                "REVOKE ALL ON",
                "found EOF, expected identifier at line 1, char 15",
            ),
            (
                "REVOKE ALL PRIVILEGES ON",
                "found EOF, expected identifier at line 1, char 26",
            ),
            (
                "REVOKE ALL ON FROM",
                "found FROM, expected identifier at line 1, char 15",
            ),
            (
                "REVOKE ALL PRIVILEGES ON FROM",
                "found FROM, expected identifier at line 1, char 26",
            ),
            (
                "REVOKE ALL ON testdb",
                "found EOF, expected FROM at line 1, char 22",
            ),
            (
                "REVOKE ALL PRIVILEGES ON testdb",
                "found EOF, expected FROM at line 1, char 33",
            ),
            (
                "REVOKE ALL ON testdb TO",
                "found TO, expected FROM at line 1, char 22",
            ),
            (
                "REVOKE ALL PRIVILEGES ON testdb TO",
                "found TO, expected FROM at line 1, char 33",
            ),
            (
                "REVOKE ALL ON testdb FROM",
                "found EOF, expected identifier at line 1, char 27",
            ),
            (
                "REVOKE ALL PRIVILEGES ON testdb FROM",
                "found EOF, expected identifier at line 1, char 38",
            ),
            (
                "REVOKE ALL FROM",
                "found EOF, expected identifier at line 1, char 17",
            ),
            (
                "REVOKE ALL PRIVILEGES FROM",
                "found EOF, expected identifier at line 1, char 28",
            ),
            ("SET PASSWORD", "found EOF, expected FOR at line 1, char 14"),
            (
                "SET PASSWORD something",
                "found something, expected FOR at line 1, char 14",
            ),
            (
                "SET PASSWORD FOR",
                "found EOF, expected identifier at line 1, char 18",
            ),
            (
                "SET PASSWORD FOR dejan",
                "found EOF, expected = at line 1, char 24",
            ),
            (
                "SET PASSWORD FOR dejan =",
                "found EOF, expected string at line 1, char 25",
            ),
            (
                "SET PASSWORD FOR dejan = bla",
                "found bla, expected string at line 1, char 26",
            ),
        ];
        for (q, want) in cases {
            assert_eq!(err(q), want, "{q}");
        }
    }

    #[test]
    fn user_statements() {
        assert_eq!(
            one("CREATE USER \"root\" WITH PASSWORD 'p w' WITH ALL PRIVILEGES"),
            Statement::CreateUser {
                name: "root".into(),
                password: Password("p w".into()),
                admin: true
            }
        );
        assert_eq!(
            one("create user bob with password 'x'"),
            Statement::CreateUser {
                name: "bob".into(),
                password: Password("x".into()),
                admin: false
            }
        );
        assert_eq!(
            one("DROP USER bob"),
            Statement::DropUser { name: "bob".into() }
        );
        assert_eq!(
            one("SET PASSWORD FOR bob = 'y'"),
            Statement::SetPassword {
                name: "bob".into(),
                password: Password("y".into())
            }
        );
        assert_eq!(
            one("GRANT WRITE ON db TO bob"),
            Statement::Grant {
                privilege: Privilege::Write,
                database: "db".into(),
                user: "bob".into()
            }
        );
        assert_eq!(
            one("GRANT ALL ON db TO bob"),
            Statement::Grant {
                privilege: Privilege::All,
                database: "db".into(),
                user: "bob".into()
            }
        );
        assert_eq!(
            one("GRANT ALL PRIVILEGES TO bob"),
            Statement::GrantAdmin { user: "bob".into() }
        );
        assert_eq!(
            one("REVOKE READ ON db FROM bob"),
            Statement::Revoke {
                privilege: Privilege::Read,
                database: "db".into(),
                user: "bob".into()
            }
        );
        assert_eq!(
            one("REVOKE ALL FROM bob"),
            Statement::RevokeAdmin { user: "bob".into() }
        );
        assert_eq!(one("SHOW USERS"), Statement::ShowUsers);
        assert_eq!(
            one("SHOW GRANTS FOR bob"),
            Statement::ShowGrants { user: "bob".into() }
        );
        let shown = format!("{:?}", one("CREATE USER a WITH PASSWORD 'secret'"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn unsupported_influxql_is_named() {
        for (q, what) in [
            ("SHOW MEASUREMENTS", "SHOW MEASUREMENTS"),
            ("DROP MEASUREMENT m", "DROP MEASUREMENT"),
            ("SELECT mean(v) FROM m", "function mean()"),
            ("SELECT v FROM m GROUP BY host", "GROUP BY"),
            ("SELECT v FROM m fill(none)", "fill()"),
            ("SELECT v FROM m LIMIT 1 SLIMIT 1", "SLIMIT"),
            ("SELECT v FROM m WHERE a = 'x' OR b = 'y'", "OR in WHERE"),
            (
                "SELECT v FROM m WHERE v > 1",
                "a WHERE condition on a field",
            ),
            ("SELECT v FROM m WHERE host =~ /a/", "operator =~ in WHERE"),
            ("SELECT v + 1 FROM m", "an expression in the SELECT list"),
            ("DELETE FROM m", "DELETE"),
        ] {
            let e = err(q);
            assert!(
                e.starts_with(&format!("{what} is not supported")),
                "{q}: {e}"
            );
        }
    }

    #[test]
    fn select_fields_and_sources() {
        let s = select(
            r#"SELECT *, "f 2"::field AS x, t::tag, time FROM m, "d"."r"."m2", d..m3, r./^c/, /x\/y/ LIMIT 5"#,
        );
        assert_eq!(
            s.fields,
            vec![
                SelectField::Wildcard(None),
                SelectField::Key {
                    name: "f 2".into(),
                    kind: Some(KeyKind::Field),
                    alias: Some("x".into())
                },
                SelectField::Key {
                    name: "t".into(),
                    kind: Some(KeyKind::Tag),
                    alias: None
                },
            ]
        );
        assert_eq!((s.limit, s.offset, s.descending), (5, 0, false));
        let src: Vec<(Option<&str>, Option<&str>, String)> = s
            .sources
            .iter()
            .map(|s| {
                let m = match &s.measurement {
                    MeasurementMatch::Name(n) => n.clone(),
                    MeasurementMatch::Regex(r) => format!("/{}/", r.as_str()),
                };
                (s.database.as_deref(), s.retention_policy.as_deref(), m)
            })
            .collect();
        assert_eq!(
            src,
            vec![
                (None, None, "m".to_string()),
                (Some("d"), Some("r"), "m2".to_string()),
                (Some("d"), None, "m3".to_string()),
                (None, Some("r"), "/^c/".to_string()),
                (None, None, "/x/y/".to_string()),
            ]
        );
        assert_eq!(s.condition, Condition::default());
        let s = select("SELECT v FROM m ORDER BY time DESC LIMIT 2 OFFSET 3");
        assert_eq!((s.limit, s.offset, s.descending), (2, 3, true));
        let s = select("SELECT v FROM m ORDER BY asc");
        assert!(!s.descending);
        assert_eq!(
            err("SELECT v FROM m ORDER BY DESC, time ASC"),
            "only ORDER BY time supported at this time"
        );
        let s = select("select time as t, v from m");
        assert_eq!(s.time_alias.as_deref(), Some("t"));
        assert!(matches!(&s.sources[0].measurement, MeasurementMatch::Name(n) if n == "m"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert_eq!(
            err("SELECT * FROM /cp[u/"),
            "error parsing regexp: unclosed character class at line 1, char 15"
        );
        assert_eq!(
            err("SELECT * FROM /cpu"),
            "bad regex: cpu at line 1, char 15"
        );
    }

    #[test]
    fn where_time_bounds() {
        let c = |q: &str| select(q).condition;
        let day = 1_577_836_800_000_000_000; // 2020-01-01
        assert_eq!(
            c("SELECT v FROM m WHERE time >= '2020-01-01T00:00:00Z' AND time < 1600000000000000000"),
            Condition {
                time_min_ns: day,
                time_max_ns: NOW,
                tags: TagExpr::True
            }
        );
        let w = c("SELECT v FROM m WHERE time > now() - 1h AND time <= '2020-01-01'");
        assert_eq!((w.time_min_ns, w.time_max_ns), (NOW - H + 1, day + 1));
        let w = c("SELECT v FROM m WHERE (10 < time AND (time = 20))");
        assert_eq!((w.time_min_ns, w.time_max_ns), (20, 21));
        let w = c("SELECT v FROM m WHERE time > 1h AND time < now() + 30m");
        assert_eq!((w.time_min_ns, w.time_max_ns), (H + 1, NOW + H / 2));
        let w = c("SELECT v FROM m WHERE time >= -1s");
        assert_eq!(w.time_min_ns, -1_000_000_000);
        let w = c("SELECT v FROM m WHERE time <= 9223372036854775807");
        assert_eq!(w.time_max_ns, i64::MAX);
        assert!(TIME_MIN_NS > w.time_min_ns && TIME_MAX_NS < w.time_max_ns);
        let w = c("SELECT v FROM m WHERE time > 5 AND time < 3");
        assert!(w.is_empty_range());
    }

    #[test]
    fn hostile_where_is_bounded() {
        let deep = format!(
            "SELECT v FROM m WHERE {}time > 0{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert_eq!(
            err(&deep),
            "parentheses nested too deep (at most 64) at line 1, char 87"
        );
        let long = format!(
            "SELECT v FROM m WHERE time > 0{}",
            " AND time > 0".repeat(100_000)
        );
        assert!(
            err(&long).starts_with("too many operators in WHERE (at most 256) at line 1, char ")
        );
        let ok = format!(
            "SELECT v FROM m WHERE {}time > 0{}",
            "(".repeat(64),
            ")".repeat(64)
        );
        assert!(parse(&ok, NOW).is_ok());
        let ok = format!(
            "SELECT v FROM m WHERE time > 0{}",
            " AND time > 0".repeat(127)
        );
        assert!(parse(&ok, NOW).is_ok()); // 127 ANDs + 128 comparisons = 255 operators
        let over = format!(
            "SELECT v FROM m WHERE time > 0{}",
            " AND time > 0".repeat(128)
        );
        assert!(parse(&over, NOW).is_err());
    }

    #[test]
    fn where_tags() {
        let w = select("SELECT v FROM m WHERE host = 'a' AND \"re gion\" != 'x y' AND 'b' = dc")
            .condition;
        assert_eq!(
            w.tags,
            TagExpr::Eq {
                key: b"host".to_vec(),
                value: b"a".to_vec(),
                negate: false
            }
            .and(TagExpr::Eq {
                key: b"re gion".to_vec(),
                value: b"x y".to_vec(),
                negate: true
            })
            .and(TagExpr::Eq {
                key: b"dc".to_vec(),
                value: b"b".to_vec(),
                negate: false
            })
        );
        let tags: &[(&[u8], &[u8])] = &[(b"dc", b"b"), (b"host", b"a")];
        assert!(w.matches_tags(tags));
        assert!(w.matches(tags, 5));
        let tags: &[(&[u8], &[u8])] = &[(b"dc", b"b"), (b"host", b"a"), (b"re gion", b"x y")];
        assert!(!w.matches_tags(tags));
        let tags: &[(&[u8], &[u8])] = &[(b"host", b"a")];
        assert!(!w.matches_tags(tags));
        let empty = select("SELECT v FROM m WHERE host = ''").condition;
        let none: &[(&[u8], &[u8])] = &[];
        assert!(empty.matches_tags(none));
    }

    proptest::proptest! {
        /// Any text, and any sequence of InfluxQL-ish pieces, parses or errors: never a panic.
        #[test]
        fn parse_never_panics(q in "\\PC{0,80}") {
            let _ = parse(&q, NOW);
        }

        #[test]
        fn parse_token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
            "SELECT", "*", "FROM", "WHERE", "time", ">", ">=", "<", "=", "!=", "AND", "OR", "(", ")",
            "now()", "-", "+", "1h", "10", "3.5", "'2020-01-01'", "'x", "\"m\"", "\"db\".", ".",
            "..", "/re/", "/", "LIMIT", "OFFSET", "ORDER", "BY", "DESC", ";", ",", "::", "tag",
            "field", "AS", "CREATE", "DATABASE", "WITH", "DURATION", "INF", "REPLICATION",
            "SHARD", "NAME", "RETENTION", "POLICY", "POLICIES", "ON", "DEFAULT", "ALTER", "DROP",
            "SHOW", "DATABASES", "host", "--", "/*", "*/", "\\", "µ", "\n",
        ]), 0..24)) {
            let q = parts.join(" ");
            let _ = parse(&q, NOW);
            let _ = parse(&parts.concat(), NOW);
        }
    }
}
