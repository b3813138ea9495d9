//! `DELETE` and `DROP SERIES` (influxql `parseDeleteStatement`, `parseDropSeriesStatement`):
//! their FROM, their WHERE lowered into a tag predicate and a time range, and the statement
//! printed back as influxql's `String()` does (GET's warning, authorization errors).

use super::*;
use crate::query::ast::{BinOp, Expr, Source, VarType};
use crate::query::text::quote_ident;
use crate::query::time::parse_time_literal;
use crate::query::{Condition, DeleteStatement, TagExpr};

/// What a delete's WHERE selects: series by tags, and times.
struct Lowered {
    tags: TagExpr,
    time_min_ns: i64,
    time_max_ns: i64,
    has_time: bool,
    on_fields: bool,
}

impl Lowered {
    fn all() -> Lowered {
        Lowered {
            tags: TagExpr::True,
            time_min_ns: i64::MIN,
            time_max_ns: i64::MAX,
            has_time: false,
            on_fields: false,
        }
    }
}

impl Parser {
    /// After `DELETE`.
    pub(super) fn delete(&mut self) -> Result<Statement, ParseError> {
        self.delete_like("DELETE").map(Statement::Delete)
    }

    /// After `DROP SERIES`.
    pub(super) fn drop_series(&mut self) -> Result<Statement, ParseError> {
        self.delete_like("DROP SERIES").map(Statement::DropSeries)
    }

    /// `[FROM sources] [WHERE expr]`, at least one of them.
    fn delete_like(&mut self, head: &str) -> Result<DeleteStatement, ParseError> {
        let mut text = head.to_string();
        let save = self.i;
        let (tok, pos) = self.next();
        let mut sources = Vec::new();
        if tok.is_kw("FROM") {
            sources = self.delete_sources()?;
            let printed: Vec<String> = sources.iter().map(source_text).collect();
            text.push_str(" FROM ");
            text.push_str(&printed.join(", "));
        } else {
            self.i = save;
        }
        let mut lowered = Lowered::all();
        let (next, _) = self.peek();
        if next.is_kw("WHERE") {
            let (_, where_pos) = self.next();
            self.operators = 0;
            self.parens = 0;
            let expr = self.expr(1)?;
            lowered = self.lower_delete(&expr, where_pos)?;
            text.push_str(" WHERE ");
            text.push_str(&crate::query::select::text(&expr));
        } else if sources.is_empty() {
            return Err(self.expected(&tok, pos, &["FROM", "WHERE"]));
        }
        Ok(DeleteStatement {
            sources,
            condition: Condition {
                time_min_ns: lowered.time_min_ns,
                time_max_ns: lowered.time_max_ns,
                tags: lowered.tags,
            },
            has_time: lowered.has_time,
            on_fields: lowered.on_fields,
            text,
        })
    }

    /// influxql `parseSources(false)`: names and regexes, comma-separated; no subquery, and no
    /// database or retention policy (their errors are positioned at the statement's start,
    /// as 1.x reports them; a retention policy is named before a database).
    fn delete_sources(&mut self) -> Result<Vec<MeasurementMatch>, ParseError> {
        let mut out = Vec::new();
        loop {
            if self.s.peek_rune(self.i).0 == Some('(') {
                let (tok, pos) = self.next();
                return Err(self.expected(&tok, pos, &["identifier"]));
            }
            let Source::Measurement {
                database,
                retention_policy,
                measurement,
            } = self.source()?
            else {
                let (tok, pos) = self.next();
                return Err(self.expected(&tok, pos, &["identifier"]));
            };
            let at_start = |message: &str| ParseError::Message {
                message: message.to_string(),
                line: 1,
                col: 1,
            };
            if retention_policy.is_some() {
                return Err(at_start("retention policy not supported"));
            }
            if database.is_some() {
                return Err(at_start("database not supported"));
            }
            out.push(measurement);
            let save = self.i;
            if !self.next().0.is_punct(",") {
                self.i = save;
                return Ok(out);
            }
        }
    }

    /// A delete's WHERE: tag comparisons (`=`, `!=`, `<>`, `=~`, `!~`) under AND, OR and
    /// parentheses, and time bounds ANDed to them. A comparison with a field (`::field`, or a
    /// number or boolean) is noted: 1.x refuses it when the statement runs.
    fn lower_delete(&self, e: &Expr, pos: usize) -> Result<Lowered, ParseError> {
        match e {
            Expr::Paren(inner) => self.lower_delete(inner, pos),
            Expr::Binary {
                op: op @ (BinOp::And | BinOp::Or),
                lhs,
                rhs,
            } => {
                let (a, b) = (self.lower_delete(lhs, pos)?, self.lower_delete(rhs, pos)?);
                if *op == BinOp::Or && (a.has_time || b.has_time) {
                    return Err(self.unsupported("time in an OR in WHERE", pos));
                }
                let tags = if *op == BinOp::And {
                    a.tags.and(b.tags)
                } else {
                    a.tags.or(b.tags)
                };
                Ok(Lowered {
                    tags,
                    time_min_ns: a.time_min_ns.max(b.time_min_ns),
                    time_max_ns: a.time_max_ns.min(b.time_max_ns),
                    has_time: a.has_time || b.has_time,
                    on_fields: a.on_fields || b.on_fields,
                })
            }
            Expr::Binary { op, lhs, rhs } => self.delete_comparison(*op, lhs, rhs, pos),
            _ => Err(self.unsupported("this WHERE condition", pos)),
        }
    }

    fn delete_comparison(
        &self,
        op: BinOp,
        l: &Expr,
        r: &Expr,
        pos: usize,
    ) -> Result<Lowered, ParseError> {
        let mut out = Lowered::all();
        if l.is_time() || r.is_time() {
            let (t, op) = if l.is_time() {
                (self.delete_time(r, pos)?, op)
            } else {
                let flipped = match op {
                    BinOp::Lt => BinOp::Gt,
                    BinOp::Lte => BinOp::Gte,
                    BinOp::Gt => BinOp::Lt,
                    BinOp::Gte => BinOp::Lte,
                    other => other,
                };
                (self.delete_time(l, pos)?, flipped)
            };
            let (min, max) = match op {
                BinOp::Gt => (t.saturating_add(1), i64::MAX),
                BinOp::Gte => (t, i64::MAX),
                BinOp::Lt => (i64::MIN, t),
                BinOp::Lte => (i64::MIN, t.saturating_add(1)),
                BinOp::Eq => (t, t.saturating_add(1)),
                other => return Err(self.unsupported(format!("time {}", other.text()), pos)),
            };
            out.time_min_ns = min;
            out.time_max_ns = max;
            out.has_time = true;
            return Ok(out);
        }
        let literal = |e: &Expr| !matches!(e.unparen(), Expr::Var { .. } | Expr::Binary { .. });
        let (key, cast, value) = match (l.unparen(), r.unparen()) {
            (Expr::Var { name, cast }, v) | (v, Expr::Var { name, cast }) if literal(v) => {
                (name, cast, v)
            }
            _ => return Err(self.unsupported("this WHERE condition", pos)),
        };
        if cast.is_some_and(|c| c != VarType::Tag) {
            out.on_fields = true;
            return Ok(out);
        }
        let key = key.as_bytes().to_vec();
        out.tags = match (op, value) {
            (BinOp::Eq | BinOp::Neq, Expr::Str(v)) => TagExpr::Eq {
                key,
                value: v.as_bytes().to_vec(),
                negate: op == BinOp::Neq,
            },
            (BinOp::EqRegex | BinOp::NeqRegex, Expr::Regex(re)) => TagExpr::Regex {
                key,
                re: re.clone(),
                negate: op == BinOp::NeqRegex,
            },
            (
                _,
                Expr::Int(_)
                | Expr::Unsigned(_)
                | Expr::Float(_)
                | Expr::Bool(_)
                | Expr::Duration(_),
            ) => {
                out.on_fields = true;
                TagExpr::True
            }
            _ => {
                let what = format!("tag comparison with {}", op.text());
                return Err(self.unsupported(what, pos));
            }
        };
        Ok(out)
    }

    /// A time operand: a time string, ns integer, duration since the epoch, `now()`, and
    /// sums/differences of those (`now() - 1h`).
    fn delete_time(&self, e: &Expr, pos: usize) -> Result<i64, ParseError> {
        match e {
            Expr::Paren(inner) => self.delete_time(inner, pos),
            Expr::Str(s) => parse_time_literal(s)
                .ok_or_else(|| ParseError::Plain("invalid timestamp string".into())),
            Expr::Int(v) | Expr::Duration(v) => Ok(*v),
            Expr::Unsigned(v) => Ok(i64::try_from(*v).unwrap_or(i64::MAX)),
            Expr::Float(v) => Ok(*v as i64),
            Expr::Call { name, args } if args.is_empty() && name.eq_ignore_ascii_case("now") => {
                Ok(self.now_ns)
            }
            Expr::Binary {
                op: op @ (BinOp::Add | BinOp::Sub),
                lhs,
                rhs,
            } => {
                let (a, b) = (self.delete_time(lhs, pos)?, self.delete_time(rhs, pos)?);
                Ok(if *op == BinOp::Add {
                    a.saturating_add(b)
                } else {
                    a.saturating_sub(b)
                })
            }
            _ => Err(self.unsupported("this time expression", pos)),
        }
    }
}

fn source_text(m: &MeasurementMatch) -> String {
    match m {
        MeasurementMatch::Name(n) => quote_ident(n),
        MeasurementMatch::Regex(re) => format!("/{}/", re.as_str().replace('/', "\\/")),
    }
}

#[cfg(test)]
mod tests {
    use crate::query::{parse, DeleteStatement, MeasurementMatch, Statement, TagExpr};

    fn one(q: &str) -> Statement {
        let mut v = parse(q, 1_000).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    fn del(q: &str) -> DeleteStatement {
        match one(q) {
            Statement::Delete(d) | Statement::DropSeries(d) => d,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn err(q: &str) -> String {
        parse(q, 0).unwrap_err().to_string()
    }

    #[test]
    fn forms_and_their_conditions() {
        let d = del("DELETE FROM cpu, /^m/ WHERE host = 'a' AND time >= 10 AND time < 20");
        assert_eq!(d.sources.len(), 2);
        assert!(matches!(&d.sources[1], MeasurementMatch::Regex(r) if r.as_str() == "^m"));
        assert_eq!((d.condition.time_min_ns, d.condition.time_max_ns), (10, 20));
        assert!(d.has_time && !d.on_fields);
        assert!(matches!(
            d.condition.tags,
            TagExpr::Eq { negate: false, .. }
        ));
        let d = del("drop series where (a <> 'x' or b =~ /y/) and c !~ /z/");
        assert!(d.sources.is_empty() && !d.has_time);
        assert!(d.condition.tags.matches(&[("a", "x"), ("b", "yy")]));
        assert!(!d.condition.tags.matches(&[("a", "x"), ("b", "q")]));
        assert!(!d.condition.tags.matches(&[("a", "q"), ("c", "zz")]));
        assert_eq!(d.condition.time_min_ns, i64::MIN);
        assert_eq!(d.condition.time_max_ns, i64::MAX);
        assert!(del("DELETE FROM cpu WHERE v = 1").on_fields);
        assert!(del("DELETE FROM cpu WHERE v::field = 'x'").on_fields);
        assert!(!del("DELETE FROM cpu WHERE host::tag = 'x'").on_fields);
        let d = del("DELETE WHERE time > now() - 1u");
        assert_eq!(
            d.condition.time_min_ns, 1,
            "now() (1000 ns) - 1u, exclusive"
        );
        assert!(matches!(
            one("DROP MEASUREMENT \"we ird\""),
            Statement::DropMeasurement { name } if name == "we ird"
        ));
    }

    #[test]
    fn printed_as_influxql_prints_them() {
        let text = |q: &str| one(q).write_text().unwrap();
        assert_eq!(
            text("drop series where a='b' and (c='d')"),
            "DROP SERIES WHERE a = 'b' AND (c = 'd')"
        );
        assert_eq!(
            text("DROP SERIES FROM \"select\", /a\\/b/ WHERE a = 'it\\'s' OR \"x y\" !~ /q/"),
            "DROP SERIES FROM \"select\", /a\\/b/ WHERE a = 'it\\'s' OR \"x y\" !~ /q/"
        );
        assert_eq!(
            text("DROP MEASUREMENT \"we ird\""),
            "DROP MEASUREMENT \"we ird\""
        );
        assert_eq!(one("DELETE FROM cpu").read_only_warning(), None);
        assert_eq!(
            one("DROP SERIES FROM cpu").read_only_warning().unwrap(),
            "deprecated use of 'DROP SERIES FROM cpu' in a read only context, please use a POST request instead"
        );
    }

    #[test]
    fn errors_as_1x_words_them() {
        assert_eq!(
            err("DELETE"),
            "found EOF, expected FROM, WHERE at line 1, char 8"
        );
        assert_eq!(
            err("DELETE FROM"),
            "found EOF, expected identifier at line 1, char 13"
        );
        assert_eq!(
            err("DELETE WHERE"),
            "found EOF, expected identifier, string, number, bool at line 1, char 14"
        );
        assert_eq!(
            err("DROP SERIES"),
            "found EOF, expected FROM, WHERE at line 1, char 13"
        );
        assert_eq!(
            err("DELETE FROM db.rp.cpu"),
            "retention policy not supported at line 1, char 1"
        );
        assert_eq!(
            err("DROP SERIES FROM two.cpu"),
            "retention policy not supported at line 1, char 1"
        );
        assert_eq!(
            err("DROP SERIES FROM db..cpu"),
            "database not supported at line 1, char 1"
        );
        assert_eq!(
            err("DROP MEASUREMENT"),
            "found EOF, expected identifier at line 1, char 18"
        );
        assert_eq!(
            err("DROP MEASUREMENT /x/"),
            "found /, expected identifier at line 1, char 18"
        );
        assert_eq!(
            err("DELETE FROM cpu WHERE host = 'zz' garbage"),
            "found garbage, expected ; at line 1, char 35"
        );
        assert_eq!(
            err("DELETE FROM cpu WHERE host = 'zz' LIMIT 1"),
            "found LIMIT, expected ; at line 1, char 35"
        );
        assert_eq!(
            err("DELETE FROM (SELECT * FROM cpu)"),
            "found (, expected identifier at line 1, char 13"
        );
    }
}
