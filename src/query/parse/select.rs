//! SELECT and the expression grammar (influxql parser.go: parseSelectStatement, ParseExpr,
//! parseUnaryExpr, parseCall, parseDimensions, parseFill, parseLocation), with its error texts.

use super::*;
use crate::query::ast::{BinOp, Dimension, Expr, Field, Fill, Select, Source, Target, VarType};
use crate::query::text::quote_segments;

impl Parser {
    pub(super) fn select(&mut self) -> Result<Select, ParseError> {
        let mut fields = vec![self.field()?];
        while self.eat_punct_raw(",") {
            fields.push(self.field()?);
        }
        let (mut tok, mut pos) = self.next();
        let mut into = None;
        if tok.is_kw("INTO") {
            into = Some(self.target()?);
            (tok, pos) = self.next();
        }
        if !tok.is_kw("FROM") {
            return Err(self.expected(&tok, pos, &["FROM"]));
        }
        let mut sources = vec![self.source()?];
        while self.eat_punct(",") {
            sources.push(self.source()?);
        }
        let condition = if self.eat_kw("WHERE") {
            Some(self.expr(1)?)
        } else {
            None
        };
        let mut dimensions = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            dimensions.push(self.dimension()?);
            while self.eat_punct_raw(",") {
                dimensions.push(self.dimension()?);
            }
        }
        let fill = self.fill()?;
        let mut descending = false;
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            descending = self.order_by()?;
        }
        let limit = self.optional_int("LIMIT")?;
        let offset = self.optional_int("OFFSET")?;
        let slimit = self.optional_int("SLIMIT")?;
        let soffset = self.optional_int("SOFFSET")?;
        let tz = self.location()?;
        Ok(Select {
            fields,
            sources,
            condition,
            dimensions,
            fill,
            descending,
            limit,
            offset,
            slimit,
            soffset,
            tz,
            into,
        })
    }

    /// `INTO [db.][rp.]measurement` or `INTO db.rp.:MEASUREMENT` (influxql `parseTarget`).
    fn target(&mut self) -> Result<Target, ParseError> {
        let mut idents = vec![self.ident()?];
        loop {
            let save = self.i;
            if !self.next_raw().0.is_punct(".") {
                self.i = save;
                break;
            }
            match self.s.peek_rune(self.i).0 {
                Some('/') | Some(':') => break,
                Some('.') => idents.push(String::new()),
                _ => idents.push(self.ident()?),
            }
        }
        if idents.len() > 3 {
            // 1.x's error has no position: line 1, char 1.
            let msg = format!("too many segments in {}", quote_segments(&idents));
            return Err(self.message(msg, 0));
        }
        let mut measurement_ref = false;
        if idents.len() < 3 && self.s.peek_rune(self.i).0 == Some(':') {
            let (tok, pos) = self.next_raw();
            if !tok.is_punct(":") {
                return Err(self.expected(&tok, pos, &[":"]));
            }
            let (tok, pos) = self.next_raw();
            if !tok.is_kw("MEASUREMENT") {
                return Err(self.expected(&tok, pos, &["MEASUREMENT"]));
            }
            measurement_ref = true;
            idents.push(String::new());
        }
        let some = |s: String| (!s.is_empty()).then_some(s);
        let mut it = idents.into_iter();
        let (a, b, c) = (it.next(), it.next(), it.next());
        let (database, retention_policy, name) = match (a, b, c) {
            (Some(m), None, _) => (None, None, m),
            (Some(rp), Some(m), None) => (None, some(rp), m),
            (Some(db), Some(rp), Some(m)) => (some(db), some(rp), m),
            _ => (None, None, String::new()),
        };
        Ok(Target {
            database,
            retention_policy,
            measurement: (!measurement_ref).then_some(name),
        })
    }

    /// `,` directly after the previous token (Go's `p.Scan()`, no whitespace skipping).
    fn eat_punct_raw(&mut self, p: &str) -> bool {
        let save = self.i;
        if self.next_raw().0.is_punct(p) {
            return true;
        }
        self.i = save;
        false
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let save = self.i;
        if self.next().0.is_punct(p) {
            return true;
        }
        self.i = save;
        false
    }

    /// `KEYWORD <integer>` if the keyword is next; 0 if it is not.
    fn optional_int(&mut self, k: &str) -> Result<u64, ParseError> {
        if !self.eat_kw(k) {
            return Ok(0);
        }
        self.clause_int()
    }

    /// The integer after LIMIT/OFFSET. Go ignores strconv.ParseInt's error here, which
    /// saturates, so an overlong number means "as many as possible".
    pub(super) fn clause_int(&mut self) -> Result<u64, ParseError> {
        let (tok, pos) = self.next();
        let Tok::Integer(lit) = &tok else {
            return Err(self.expected(&tok, pos, &["integer"]));
        };
        Ok(lit.parse::<i64>().unwrap_or(i64::MAX).unsigned_abs())
    }

    /// `ORDER BY [time] ASC|DESC`: true for descending. Only time can be sorted on, and only
    /// one sort field is allowed (influxql: `only ORDER BY time supported at this time`).
    pub(super) fn order_by(&mut self) -> Result<bool, ParseError> {
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
        if !self.eat_punct(",") {
            return Ok(descending);
        }
        // influxql parses the next sort field, then refuses more than one.
        match self.next() {
            (Tok::Ident(_), _) => Err(only_time()),
            (tok, pos) => Err(self.expected(&tok, pos, &["identifier"])),
        }
    }

    /// `::type` after a variable or `*`.
    fn cast(&mut self) -> Result<Option<VarType>, ParseError> {
        let save = self.i;
        if !self.next_raw().0.is_punct("::") {
            self.i = save;
            return Ok(None);
        }
        let (tok, pos) = self.next_raw();
        let t = match &tok {
            Tok::Keyword("FIELD") => VarType::Field,
            Tok::Keyword("TAG") => VarType::Tag,
            Tok::Ident(t) => match t.to_ascii_lowercase().as_str() {
                "float" => VarType::Float,
                "integer" => VarType::Integer,
                "unsigned" => VarType::Unsigned,
                "string" => VarType::String,
                "boolean" => VarType::Boolean,
                _ => {
                    return Err(self.expected(
                        &tok,
                        pos,
                        &[
                            "float", "integer", "unsigned", "string", "boolean", "field", "tag",
                        ],
                    ))
                }
            },
            _ => {
                return Err(self.expected(
                    &tok,
                    pos,
                    &["float", "integer", "string", "boolean", "field", "tag"],
                ))
            }
        };
        Ok(Some(t))
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let expr = match self.try_regex()? {
            Some(re) => Expr::Regex(re),
            None => {
                let (_, pos) = self.peek();
                let expr = self.expr(1)?;
                let mut bad = None;
                expr.walk(&mut |e| {
                    if let Expr::Binary { op, .. } = e {
                        if op.is_boolean() && bad.is_none() {
                            bad = Some(*op);
                        }
                    }
                });
                if let Some(op) = bad {
                    let (line, col) = self.s.line_char(pos);
                    return Err(ParseError::Plain(format!(
                        "invalid operator {} in SELECT clause at line {line}, char {col}; \
                         operator is intended for WHERE clause",
                        op.text()
                    )));
                }
                expr
            }
        };
        let alias = if self.eat_kw("AS") {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Field { expr, alias })
    }

    /// A `/regex/` if one is next (after whitespace), else `None` (nothing consumed).
    pub(super) fn try_regex(&mut self) -> Result<Option<regex::bytes::Regex>, ParseError> {
        let (c, at) = self.s.peek_rune(self.i);
        if c != Some('/') {
            return Ok(None);
        }
        let (pattern, after) = self.s.scan_regex(at).map_err(|m| self.message(m, at))?;
        self.i = after;
        regex::bytes::Regex::new(&pattern).map(Some).map_err(|e| {
            // The regex crate's message spans lines; keep its last line, worded like Go's.
            let text = e.to_string();
            let last = text.lines().last().unwrap_or_default();
            let reason = last.strip_prefix("error: ").unwrap_or(last);
            self.message(format!("error parsing regexp: {reason}"), at)
        })
    }

    pub(super) fn regex(&mut self) -> Result<MeasurementMatch, ParseError> {
        match self.try_regex()? {
            Some(re) => Ok(MeasurementMatch::Regex(re)),
            None => {
                let (tok, pos) = self.next();
                Err(self.expected(&tok, pos, &["regex"]))
            }
        }
    }

    pub(super) fn source(&mut self) -> Result<Source, ParseError> {
        if let Some(re) = self.try_regex()? {
            return Ok(Source::Measurement {
                database: None,
                retention_policy: None,
                measurement: MeasurementMatch::Regex(re),
            });
        }
        if self.eat_punct("(") {
            self.parens += 1;
            if self.parens > WHERE_PARENS_MAX {
                let msg = format!("subqueries nested too deep (at most {WHERE_PARENS_MAX})");
                return Err(self.message(msg, self.i));
            }
            self.expect_kw("SELECT")?;
            let inner = self.select()?;
            let (tok, pos) = self.next();
            if !tok.is_punct(")") {
                return Err(self.expected(&tok, pos, &[")"]));
            }
            self.parens -= 1;
            return Ok(Source::Subquery(Box::new(inner)));
        }
        let (_, at) = self.s.peek_rune(self.i);
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
                // 1.x's error has no position: line 1, char 1.
                let msg = format!("too many segments in {}", quote_segments(&idents));
                return Err(self.message(msg, 0));
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
        Ok(Source::Measurement {
            database,
            retention_policy,
            measurement,
        })
    }

    fn dimension(&mut self) -> Result<Dimension, ParseError> {
        if let Some(re) = self.try_regex()? {
            return Ok(Dimension::Regex(re));
        }
        Ok(match self.expr(1)? {
            Expr::Var { name, .. } => Dimension::Tag(name),
            Expr::Wildcard(_) => Dimension::Wildcard,
            e => Dimension::Other(e),
        })
    }

    /// `fill(null|none|previous|linear|<number>)`, absent = null.
    fn fill(&mut self) -> Result<Fill, ParseError> {
        let (tok, _) = self.peek();
        if !matches!(&tok, Tok::Ident(f) if f.eq_ignore_ascii_case("fill")) {
            return Ok(Fill::Null);
        }
        let Expr::Call { args, .. } = self.expr(1)? else {
            return Err(ParseError::Plain("fill must be a function call".into()));
        };
        if args.len() != 1 {
            return Err(ParseError::Plain(
                "fill requires an argument, e.g.: 0, null, none, previous, linear".into(),
            ));
        }
        Ok(match &args[0] {
            Expr::Var { name, cast: None } if name == "null" => Fill::Null,
            Expr::Var { name, cast: None } if name == "none" => Fill::None,
            Expr::Var { name, cast: None } if name == "previous" => Fill::Previous,
            Expr::Var { name, cast: None } if name == "linear" => Fill::Linear,
            Expr::Int(v) => Fill::Int(*v),
            Expr::Float(v) => Fill::Float(*v),
            _ => {
                return Err(ParseError::Plain(
                    "expected number argument in fill()".into(),
                ))
            }
        })
    }

    /// `tz('Zone/Name')`.
    fn location(&mut self) -> Result<Option<String>, ParseError> {
        let (tok, _) = self.peek();
        if !matches!(&tok, Tok::Ident(f) if f.eq_ignore_ascii_case("tz")) {
            return Ok(None);
        }
        let Expr::Call { args, .. } = self.expr(1)? else {
            return Err(ParseError::Plain("tz must be a function call".into()));
        };
        if args.len() != 1 {
            return Err(ParseError::Plain("tz requires exactly one argument".into()));
        }
        let Expr::Str(name) = &args[0] else {
            return Err(ParseError::Plain("expected string argument in tz()".into()));
        };
        if !crate::query::tz::exists(name) {
            return Err(ParseError::Plain(format!(
                "unable to find time zone {name}"
            )));
        }
        Ok(Some(name.clone()))
    }

    /// An expression: operators by precedence, left-associative (influxql ParseExpr).
    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let save = self.i;
            let (tok, _) = self.next();
            let op = match &tok {
                Tok::Keyword(k @ ("AND" | "OR")) => BinOp::from_token(k),
                Tok::Punct(p) => BinOp::from_token(p),
                _ => None,
            };
            let Some(op) = op.filter(|op| op.precedence() >= min_prec) else {
                self.i = save;
                return Ok(lhs);
            };
            self.operators += 1;
            if self.operators > WHERE_OPERATORS_MAX {
                let msg =
                    format!("too many operators in an expression (at most {WHERE_OPERATORS_MAX})");
                return Err(self.message(msg, save));
            }
            let rhs = if matches!(op, BinOp::EqRegex | BinOp::NeqRegex) {
                match self.try_regex()? {
                    Some(re) => Expr::Regex(re),
                    None => {
                        let (tok, pos) = self.next();
                        return Err(self.expected(&tok, pos, &["regex"]));
                    }
                }
            } else {
                self.expr(op.precedence() + 1)?
            };
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
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
                Expr::Paren(Box::new(e))
            }
            Tok::Ident(name) => {
                let save = self.i;
                if self.next_raw().0.is_punct("(") {
                    return self.call(&name);
                }
                self.i = save;
                let mut name = name;
                // Segmented identifiers (`a.b`) name one variable.
                loop {
                    let save = self.i;
                    if !self.next_raw().0.is_punct(".") {
                        self.i = save;
                        break;
                    }
                    name.push('.');
                    name.push_str(&self.ident()?);
                }
                Expr::Var {
                    name,
                    cast: self.cast()?,
                }
            }
            Tok::Keyword("DISTINCT") => {
                let (t0, p0) = self.next_raw();
                match t0 {
                    Tok::Punct("(") => return self.call("distinct"),
                    Tok::Ws => match self.next() {
                        (Tok::Ident(f), _) => Expr::Distinct(f),
                        (t1, p1) => return Err(self.expected(&t1, p1, &["identifier"])),
                    },
                    _ => return Err(self.expected(&t0, p0, &["(", "identifier"])),
                }
            }
            Tok::Str(s) => Expr::Str(s),
            Tok::Integer(lit) => match lit.parse::<i64>() {
                Ok(v) => Expr::Int(v),
                Err(_) => match lit.parse::<u64>() {
                    Ok(v) => Expr::Unsigned(v),
                    Err(_) => return Err(self.message("unable to parse integer".into(), pos)),
                },
            },
            Tok::Number(lit) => match lit.parse::<f64>() {
                Ok(v) => Expr::Float(v),
                Err(_) => return Err(self.message("unable to parse number".into(), pos)),
            },
            Tok::Duration(lit) => {
                Expr::Duration(parse_duration(&lit).map_err(|e| ParseError::Plain(e.to_string()))?)
            }
            Tok::Keyword("TRUE") => Expr::Bool(true),
            Tok::Keyword("FALSE") => Expr::Bool(false),
            Tok::Punct("*") => {
                let save = self.i;
                if !self.next_raw().0.is_punct("::") {
                    self.i = save;
                    Expr::Wildcard(None)
                } else {
                    match self.next_raw() {
                        (Tok::Keyword("FIELD"), _) => Expr::Wildcard(Some(KeyKind::Field)),
                        (Tok::Keyword("TAG"), _) => Expr::Wildcard(Some(KeyKind::Tag)),
                        (tok, pos) => return Err(self.expected(&tok, pos, &["field", "tag"])),
                    }
                }
            }
            Tok::Punct(sign @ ("-" | "+")) => {
                let neg = sign == "-";
                let (t0, p0) = self.peek();
                match t0 {
                    Tok::Number(_)
                    | Tok::Integer(_)
                    | Tok::Duration(_)
                    | Tok::Punct("(")
                    | Tok::Ident(_) => {}
                    _ => {
                        self.next();
                        return Err(self.expected(
                            &t0,
                            p0,
                            &["identifier", "number", "duration", "("],
                        ));
                    }
                }
                match self.unary()? {
                    Expr::Float(v) => Expr::Float(if neg { -v } else { v }),
                    Expr::Int(v) => Expr::Int(if neg { v.wrapping_neg() } else { v }),
                    Expr::Unsigned(v) if neg => {
                        if v == 1u64 << 63 {
                            Expr::Int(i64::MIN)
                        } else {
                            return Err(ParseError::Plain(format!(
                                "constant -{v} underflows int64"
                            )));
                        }
                    }
                    Expr::Duration(v) => Expr::Duration(if neg { v.wrapping_neg() } else { v }),
                    e @ (Expr::Var { .. } | Expr::Call { .. } | Expr::Paren(_)) => Expr::Binary {
                        op: BinOp::Mul,
                        lhs: Box::new(Expr::Int(if neg { -1 } else { 1 })),
                        rhs: Box::new(e),
                    },
                    e => e,
                }
            }
            _ => return Err(self.expected(&tok, pos, OPERAND)),
        })
    }

    /// A call's arguments, after `name(`.
    fn call(&mut self, name: &str) -> Result<Expr, ParseError> {
        let name = name.to_ascii_lowercase();
        let mut args = Vec::new();
        match self.try_regex()? {
            Some(re) => args.push(Expr::Regex(re)),
            None => {
                if self.eat_punct_raw(")") {
                    return Ok(Expr::Call { name, args });
                }
                args.push(self.expr(1)?);
            }
        }
        while self.eat_punct(",") {
            match self.try_regex()? {
                Some(re) => args.push(Expr::Regex(re)),
                None => args.push(self.expr(1)?),
            }
        }
        let (tok, pos) = self.next_raw();
        if !tok.is_punct(")") {
            return Err(self.expected(&tok, pos, &[")"]));
        }
        Ok(Expr::Call { name, args })
    }
}
