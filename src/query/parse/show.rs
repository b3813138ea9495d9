//! The SHOW statements that read the series index and the schema (influxql parser.go's
//! `parseShow*Statement`), and their WHERE clause lowered into a [`TagExpr`].

use super::*;
use crate::query::ast::{BinOp, Expr};
use crate::query::{KeyMatch, Show, ShowStatement, TagExpr};

impl Parser {
    /// After `SHOW`: `k` is the keyword just read.
    pub(super) fn show_meta(&mut self, k: &str) -> Result<ShowStatement, ParseError> {
        let mut stmt = ShowStatement {
            what: Show::Queries,
            database: None,
            sources: Vec::new(),
            condition: TagExpr::True,
            has_time: false,
            time_condition: None,
            condition_error: None,
            limit: 0,
            offset: 0,
            slimit: 0,
            soffset: 0,
        };
        match k {
            "QUERIES" => return Ok(stmt),
            "MEASUREMENTS" => {
                stmt.what = Show::Measurements;
                self.on(&mut stmt)?;
                if self.eat_kw("WITH") {
                    self.expect_kw("MEASUREMENT")?;
                    let (tok, pos) = self.next();
                    if !(tok.is_punct("=") || tok.is_punct("=~")) {
                        return Err(self.expected(&tok, pos, &["=", "=~"]));
                    }
                    stmt.sources.push(self.show_source()?);
                }
                self.condition(&mut stmt)?;
                self.ignore_order_by()?;
                self.limits(&mut stmt, false)?;
            }
            "MEASUREMENT" => {
                let exact = self.eat_kw("EXACT");
                let (tok, pos) = self.next();
                if !tok.is_kw("CARDINALITY") {
                    return Err(self.expected(&tok, pos, &["CARDINALITY"]));
                }
                stmt.what = Show::MeasurementCardinality { exact };
                self.cardinality_tail(&mut stmt)?;
            }
            "SERIES" => {
                let exact = self.eat_kw("EXACT");
                if self.eat_kw("CARDINALITY") {
                    stmt.what = Show::SeriesCardinality { exact };
                    self.cardinality_tail(&mut stmt)?;
                } else {
                    // 1.6.7 reads `SHOW SERIES EXACT` without CARDINALITY as SHOW SERIES.
                    stmt.what = Show::Series;
                    self.on(&mut stmt)?;
                    self.from(&mut stmt)?;
                    self.condition(&mut stmt)?;
                    self.ignore_order_by()?;
                    self.limits(&mut stmt, false)?;
                }
            }
            "TAG" => {
                let (tok, pos) = self.next();
                match tok {
                    Tok::Keyword("KEYS") => {
                        stmt.what = Show::TagKeys;
                        self.on(&mut stmt)?;
                        self.from(&mut stmt)?;
                        self.condition(&mut stmt)?;
                        self.ignore_order_by()?;
                        self.limits(&mut stmt, true)?;
                    }
                    Tok::Keyword("KEY") => {
                        let exact = self.exact_cardinality()?;
                        stmt.what = Show::TagKeyCardinality { exact };
                        self.cardinality_tail(&mut stmt)?;
                    }
                    Tok::Keyword("VALUES") => {
                        let exact = self.eat_kw("EXACT");
                        let cardinality = self.eat_kw("CARDINALITY");
                        if exact && !cardinality {
                            let (tok, pos) = self.next();
                            return Err(self.expected(&tok, pos, &["CARDINALITY"]));
                        }
                        self.on(&mut stmt)?;
                        self.from(&mut stmt)?;
                        let key = self.with_key()?;
                        self.condition(&mut stmt)?;
                        if cardinality {
                            stmt.what = Show::TagValuesCardinality { exact, key };
                            self.group_by_unsupported()?;
                            self.limits(&mut stmt, false)?;
                        } else {
                            stmt.what = Show::TagValues(key);
                            self.ignore_order_by()?;
                            self.limits(&mut stmt, false)?;
                        }
                    }
                    _ => return Err(self.expected(&tok, pos, &["KEYS", "VALUES", "KEY"])),
                }
            }
            "FIELD" => {
                let (tok, pos) = self.next();
                match tok {
                    Tok::Keyword("KEYS") => {
                        stmt.what = Show::FieldKeys;
                        self.on(&mut stmt)?;
                        self.from(&mut stmt)?;
                        self.ignore_order_by()?;
                        self.limits(&mut stmt, false)?;
                    }
                    Tok::Keyword("KEY") => {
                        let exact = self.exact_cardinality()?;
                        stmt.what = Show::FieldKeyCardinality { exact };
                        self.cardinality_tail(&mut stmt)?;
                    }
                    _ => return Err(self.expected(&tok, pos, &["KEYS", "KEY"])),
                }
            }
            _ => {}
        }
        Ok(stmt)
    }

    /// `[ON db]`.
    fn on(&mut self, stmt: &mut ShowStatement) -> Result<(), ParseError> {
        if self.eat_kw("ON") {
            stmt.database = Some(self.ident()?);
        }
        Ok(())
    }

    /// `[FROM source, ...]`.
    fn from(&mut self, stmt: &mut ShowStatement) -> Result<(), ParseError> {
        if !self.eat_kw("FROM") {
            return Ok(());
        }
        stmt.sources.push(self.show_source()?);
        loop {
            let save = self.i;
            if !self.next().0.is_punct(",") {
                self.i = save;
                return Ok(());
            }
            stmt.sources.push(self.show_source()?);
        }
    }

    /// `[ON db] [FROM ...] [WHERE ...] [GROUP BY ...] [LIMIT n] [OFFSET n]` of the cardinalities.
    fn cardinality_tail(&mut self, stmt: &mut ShowStatement) -> Result<(), ParseError> {
        self.on(stmt)?;
        self.from(stmt)?;
        self.condition(stmt)?;
        self.group_by_unsupported()?;
        self.limits(stmt, false)
    }

    fn group_by_unsupported(&mut self) -> Result<(), ParseError> {
        let (tok, pos) = self.peek();
        if tok.is_kw("GROUP") {
            return Err(self.unsupported("GROUP BY on a SHOW statement", pos));
        }
        Ok(())
    }

    /// `ORDER BY` is parsed and, as in 1.x, has no effect on SHOW answers' order.
    fn ignore_order_by(&mut self) -> Result<(), ParseError> {
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            self.order_by()?;
        }
        Ok(())
    }

    /// `[LIMIT n] [OFFSET n]` and, for SHOW TAG KEYS, `[SLIMIT n] [SOFFSET n]`.
    fn limits(&mut self, stmt: &mut ShowStatement, series: bool) -> Result<(), ParseError> {
        if self.eat_kw("LIMIT") {
            stmt.limit = self.clause_int()?;
        }
        if self.eat_kw("OFFSET") {
            stmt.offset = self.clause_int()?;
        }
        if series {
            if self.eat_kw("SLIMIT") {
                stmt.slimit = self.clause_int()?;
            }
            if self.eat_kw("SOFFSET") {
                stmt.soffset = self.clause_int()?;
            }
        }
        Ok(())
    }

    /// `WITH KEY = k | != k | =~ /re/ | !~ /re/ | IN (k, ...)`.
    fn with_key(&mut self) -> Result<KeyMatch, ParseError> {
        self.expect_kw("WITH")?;
        self.expect_kw("KEY")?;
        let (tok, pos) = self.next();
        match tok {
            Tok::Keyword("IN") => {
                let (tok, pos) = self.next();
                if !tok.is_punct("(") {
                    return Err(self.expected(&tok, pos, &["("]));
                }
                let mut keys = vec![self.ident()?.into_bytes()];
                loop {
                    let (tok, pos) = self.next();
                    if tok.is_punct(")") {
                        return Ok(KeyMatch::In(keys));
                    }
                    if !tok.is_punct(",") {
                        return Err(self.expected(&tok, pos, &[")"]));
                    }
                    keys.push(self.ident()?.into_bytes());
                }
            }
            Tok::Punct("=") => Ok(KeyMatch::Eq(self.ident()?.into_bytes())),
            Tok::Punct("!=") => Ok(KeyMatch::Ne(self.ident()?.into_bytes())),
            Tok::Punct(op @ ("=~" | "!~")) => {
                let (c, _) = self.s.peek_rune(self.i);
                if c != Some('/') {
                    let (tok, pos) = self.next();
                    return Err(self.expected(&tok, pos, &["regex"]));
                }
                match self.regex()? {
                    MeasurementMatch::Regex(re) => Ok(KeyMatch::Regex(re, op == "!~")),
                    MeasurementMatch::Name(n) => Ok(KeyMatch::Eq(n.into_bytes())),
                }
            }
            _ => Err(self.expected(&tok, pos, &["IN", "=", "=~"])),
        }
    }

    /// `[EXACT] CARDINALITY` after `SHOW TAG KEY` / `SHOW FIELD KEY`: whether EXACT was given.
    fn exact_cardinality(&mut self) -> Result<bool, ParseError> {
        let exact = self.eat_kw("EXACT");
        let (tok, pos) = self.next();
        if !tok.is_kw("CARDINALITY") {
            let want: &[&str] = if exact {
                &["CARDINALITY"]
            } else {
                &["EXACT", "CARDINALITY"]
            };
            return Err(self.expected(&tok, pos, want));
        }
        Ok(exact)
    }

    /// A FROM source of a SHOW statement: a measurement, never a subquery.
    fn show_source(&mut self) -> Result<crate::query::Source, ParseError> {
        let (_, at) = self.s.peek_rune(self.i);
        match self.source()? {
            crate::query::ast::Source::Measurement {
                database,
                retention_policy,
                measurement,
            } => Ok(crate::query::Source {
                database,
                retention_policy,
                measurement,
            }),
            crate::query::ast::Source::Subquery(_) => {
                Err(self.unsupported("a subquery in SHOW", at))
            }
        }
    }

    /// `[WHERE expr]` on tags.
    fn condition(&mut self, stmt: &mut ShowStatement) -> Result<(), ParseError> {
        let (tok, pos) = self.peek();
        if !tok.is_kw("WHERE") {
            return Ok(());
        }
        self.next();
        let expr = self.expr(1)?;
        let mut lowering = Lowering::default();
        stmt.condition = self.lower_tags(&expr, pos, &mut lowering)?;
        stmt.has_time = lowering.has_time;
        if stmt.has_time {
            stmt.time_condition = Some(expr);
        }
        stmt.condition_error = lowering.error;
        Ok(())
    }

    /// A WHERE expression as a predicate on tags: `=`, `!=`, `=~`, `!~` between a name and a
    /// string or regex, `AND`, `OR`; a condition on `time` reads as true (and is noted). What
    /// 1.x refuses only when it runs the statement is noted as the statement's error.
    fn lower_tags(&self, e: &Expr, pos: usize, out: &mut Lowering) -> Result<TagExpr, ParseError> {
        let (op, l, r) = match e {
            Expr::Paren(inner) => return self.lower_tags(inner, pos, out),
            Expr::Binary { op, lhs, rhs } => (*op, lhs.unparen(), rhs.unparen()),
            Expr::Var { name, .. } => {
                out.error(format!("invalid condition expression: {name}"));
                return Ok(TagExpr::True);
            }
            _ => return Err(self.unsupported("this WHERE condition", pos)),
        };
        match op {
            BinOp::And => Ok(self
                .lower_tags(l, pos, out)?
                .and(self.lower_tags(r, pos, out)?)),
            BinOp::Or => Ok(self
                .lower_tags(l, pos, out)?
                .or(self.lower_tags(r, pos, out)?)),
            _ if l.is_time() || r.is_time() => {
                out.has_time = true;
                Ok(TagExpr::True)
            }
            BinOp::Eq | BinOp::Neq => match (l, r) {
                (Expr::Var { name: k, .. }, Expr::Str(v))
                | (Expr::Str(v), Expr::Var { name: k, .. }) => Ok(TagExpr::Eq {
                    key: k.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                    negate: op == BinOp::Neq,
                }),
                _ => Err(self.unsupported("this WHERE condition", pos)),
            },
            BinOp::EqRegex | BinOp::NeqRegex => match (l, r) {
                (Expr::Var { name: k, .. }, Expr::Regex(re)) => Ok(TagExpr::Regex {
                    key: k.as_bytes().to_vec(),
                    re: re.clone(),
                    negate: op == BinOp::NeqRegex,
                }),
                _ => Err(self.unsupported("this WHERE condition", pos)),
            },
            BinOp::Lt | BinOp::Lte | BinOp::Gt | BinOp::Gte => {
                out.error("invalid tag comparison operator".to_string());
                Ok(TagExpr::True)
            }
            _ => Err(self.unsupported(format!("operator {} in WHERE", op.text()), pos)),
        }
    }
}

/// What lowering a SHOW statement's WHERE found besides the tag predicate.
#[derive(Default)]
struct Lowering {
    has_time: bool,
    error: Option<String>,
}

impl Lowering {
    fn error(&mut self, e: String) {
        self.error.get_or_insert(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Statement;

    fn show(q: &str) -> ShowStatement {
        match parse(q, 0) {
            Ok(mut v) if v.len() == 1 => match v.remove(0) {
                Statement::Show(s) => s,
                other => panic!("{q}: {other:?}"),
            },
            other => panic!("{q}: {other:?}"),
        }
    }

    fn err(q: &str) -> String {
        match parse(q, 0) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{q}: parsed as {v:?}"),
        }
    }

    #[test]
    fn clauses() {
        let s = show(
            r#"SHOW TAG VALUES ON "db" FROM "rp"."cpu", mem WITH KEY IN ("a", b) WHERE ("x" = 'y' OR z =~ /^q$/) AND time > now() - 1h LIMIT 5 OFFSET 2"#,
        );
        assert_eq!(
            s.what,
            Show::TagValues(KeyMatch::In(vec![b"a".to_vec(), b"b".to_vec()]))
        );
        assert_eq!(s.database.as_deref(), Some("db"));
        assert_eq!(s.sources.len(), 2);
        assert_eq!(s.sources[0].retention_policy.as_deref(), Some("rp"));
        assert!(s.has_time);
        assert!(matches!(s.condition, TagExpr::Or(..)));
        assert_eq!((s.limit, s.offset), (5, 2));

        let s = show("SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)cp/ LIMIT 100");
        assert_eq!(s.what, Show::Measurements);
        assert!(matches!(
            s.sources[0].measurement,
            MeasurementMatch::Regex(_)
        ));
        assert_eq!(s.limit, 100);

        let s = show("SHOW TAG KEYS FROM cpu WHERE host <> 'a' SLIMIT 1 SOFFSET 2");
        assert_eq!(s.what, Show::TagKeys);
        assert_eq!((s.slimit, s.soffset), (1, 2));
        assert!(matches!(s.condition, TagExpr::Eq { negate: true, .. }));

        for (q, what) in [
            (
                "SHOW SERIES EXACT CARDINALITY",
                Show::SeriesCardinality { exact: true },
            ),
            (
                "SHOW SERIES CARDINALITY",
                Show::SeriesCardinality { exact: false },
            ),
            ("SHOW SERIES EXACT", Show::Series),
            (
                "SHOW MEASUREMENT CARDINALITY",
                Show::MeasurementCardinality { exact: false },
            ),
            (
                "SHOW TAG KEY EXACT CARDINALITY",
                Show::TagKeyCardinality { exact: true },
            ),
            (
                "SHOW FIELD KEY CARDINALITY",
                Show::FieldKeyCardinality { exact: false },
            ),
            ("SHOW FIELD KEYS", Show::FieldKeys),
            ("SHOW QUERIES", Show::Queries),
            (
                "SHOW TAG VALUES EXACT CARDINALITY WITH KEY != k",
                Show::TagValuesCardinality {
                    exact: true,
                    key: KeyMatch::Ne(b"k".to_vec()),
                },
            ),
        ] {
            assert_eq!(show(q).what, what, "{q}");
        }
    }

    #[test]
    fn statement_errors_wait_for_execution() {
        let s = show("SHOW SERIES WHERE v > 0");
        assert_eq!(
            s.condition_error.as_deref(),
            Some("invalid tag comparison operator")
        );
        let s = show("SHOW SERIES WHERE host");
        assert_eq!(
            s.condition_error.as_deref(),
            Some("invalid condition expression: host")
        );
    }

    #[test]
    fn syntax_errors_are_influxql_texts() {
        assert_eq!(
            err("SHOW TAG VALUES"),
            "found EOF, expected WITH at line 1, char 17"
        );
        assert_eq!(
            err("SHOW TAG VALUES WITH KEY"),
            "found EOF, expected IN, =, =~ at line 1, char 26"
        );
        assert_eq!(
            err("SHOW MEASUREMENT"),
            "found EOF, expected CARDINALITY at line 1, char 18"
        );
        assert_eq!(
            err("SHOW TAG KEY"),
            "found EOF, expected EXACT, CARDINALITY at line 1, char 14"
        );
        assert_eq!(
            err("SHOW MEASUREMENTS WITH MEASUREMENT > x"),
            "found >, expected =, =~ at line 1, char 36"
        );
    }
}
