//! SELECT and its WHERE clause.

use super::*;

impl Parser {
    pub(super) fn select(&mut self) -> Result<SelectStatement, ParseError> {
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

    pub(super) fn regex(&mut self) -> Result<MeasurementMatch, ParseError> {
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

    pub(super) fn source(&mut self) -> Result<Source, ParseError> {
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
    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
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
        match self.regex()? {
            MeasurementMatch::Regex(re) => Ok(Expr::Regex(re.as_str().to_string())),
            MeasurementMatch::Name(n) => Ok(Expr::Regex(regex::escape(&n))),
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
