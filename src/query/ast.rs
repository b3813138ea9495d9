//! The InfluxQL syntax tree of a SELECT (influxql ast.go's shapes): expressions, fields,
//! sources, dimensions, fill. The parser builds it; `plan` checks it as 1.x's compiler does
//! and decides how it runs.

use super::KeyKind;
use crate::storage::scan::MeasurementMatch;

/// A type cast on a variable reference (`name::float`, `::field`, `::tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    /// `::field`: any field type.
    Field,
    Tag,
}

impl VarType {
    /// Whether the cast names a field (any type) rather than a tag.
    pub fn kind(self) -> KeyKind {
        match self {
            VarType::Tag => KeyKind::Tag,
            _ => KeyKind::Field,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VarType::Float => "float",
            VarType::Integer => "integer",
            VarType::Unsigned => "unsigned",
            VarType::String => "string",
            VarType::Boolean => "boolean",
            VarType::Field => "field",
            VarType::Tag => "tag",
        }
    }
}

/// A binary operator, by InfluxQL precedence (OR lowest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Neq,
    EqRegex,
    NeqRegex,
    Lt,
    Lte,
    Gt,
    Gte,
    Add,
    Sub,
    BitOr,
    BitXor,
    Mul,
    Div,
    Mod,
    BitAnd,
}

impl BinOp {
    pub fn from_token(t: &str) -> Option<BinOp> {
        Some(match t {
            "OR" => BinOp::Or,
            "AND" => BinOp::And,
            "=" => BinOp::Eq,
            "!=" | "<>" => BinOp::Neq,
            "=~" => BinOp::EqRegex,
            "!~" => BinOp::NeqRegex,
            "<" => BinOp::Lt,
            "<=" => BinOp::Lte,
            ">" => BinOp::Gt,
            ">=" => BinOp::Gte,
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "|" => BinOp::BitOr,
            "^" => BinOp::BitXor,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "&" => BinOp::BitAnd,
            _ => return None,
        })
    }

    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq
            | BinOp::Neq
            | BinOp::EqRegex
            | BinOp::NeqRegex
            | BinOp::Lt
            | BinOp::Lte
            | BinOp::Gt
            | BinOp::Gte => 4,
            BinOp::Add | BinOp::Sub | BinOp::BitOr | BinOp::BitXor => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::BitAnd => 6,
        }
    }

    /// The operator as InfluxQL prints it.
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Or => "OR",
            BinOp::And => "AND",
            BinOp::Eq => "=",
            BinOp::Neq => "!=",
            BinOp::EqRegex => "=~",
            BinOp::NeqRegex => "!~",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::BitAnd => "&",
        }
    }

    /// Comparisons and logic (what 1.x refuses in a SELECT list).
    pub fn is_boolean(self) -> bool {
        self.precedence() <= 4
    }
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    Var {
        name: String,
        cast: Option<VarType>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Paren(Box<Expr>),
    Int(i64),
    Unsigned(u64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A duration literal, ns.
    Duration(i64),
    Regex(regex::bytes::Regex),
    /// `*`, `*::field`, `*::tag`.
    Wildcard(Option<KeyKind>),
    /// `DISTINCT f` (without parentheses).
    Distinct(String),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        use Expr::*;
        match (self, other) {
            (Var { name, cast }, Var { name: n, cast: c }) => name == n && cast == c,
            (Call { name, args }, Call { name: n, args: a }) => name == n && args == a,
            (
                Binary { op, lhs, rhs },
                Binary {
                    op: o,
                    lhs: l,
                    rhs: r,
                },
            ) => op == o && lhs == l && rhs == r,
            (Paren(a), Paren(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Unsigned(a), Unsigned(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Duration(a), Duration(b)) => a == b,
            (Regex(a), Regex(b)) => a.as_str() == b.as_str(),
            (Wildcard(a), Wildcard(b)) => a == b,
            (Distinct(a), Distinct(b)) => a == b,
            _ => false,
        }
    }
}

impl Expr {
    pub fn var(name: &str) -> Expr {
        Expr::Var {
            name: name.to_string(),
            cast: None,
        }
    }

    /// The expression without its outer parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(e) => e.unparen(),
            e => e,
        }
    }

    /// Whether this is the `time` variable.
    pub fn is_time(&self) -> bool {
        matches!(self.unparen(), Expr::Var { name, .. } if name.eq_ignore_ascii_case("time"))
    }

    /// Visit every node, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            Expr::Paren(e) => e.walk(f),
            _ => {}
        }
    }

    /// Whether any node satisfies `p`.
    pub fn any(&self, mut p: impl FnMut(&Expr) -> bool) -> bool {
        let mut found = false;
        self.walk(&mut |e| found = found || p(e));
        found
    }
}

/// One entry of the SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// One FROM source.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// `[db.][rp.]name` or `/regex/`; `None` = the request's default.
    Measurement {
        database: Option<String>,
        retention_policy: Option<String>,
        measurement: MeasurementMatch,
    },
    Subquery(Box<Select>),
}

/// One GROUP BY entry (`time(...)` is an `Other` call until the planner reads it).
#[derive(Clone, Debug)]
pub enum Dimension {
    Tag(String),
    Regex(regex::bytes::Regex),
    Wildcard,
    /// Anything else (refused by the compiler with 1.x's text).
    Other(Expr),
}

impl PartialEq for Dimension {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Dimension::Tag(a), Dimension::Tag(b)) => a == b,
            (Dimension::Regex(a), Dimension::Regex(b)) => a.as_str() == b.as_str(),
            (Dimension::Wildcard, Dimension::Wildcard) => true,
            (Dimension::Other(a), Dimension::Other(b)) => a == b,
            _ => false,
        }
    }
}

/// `fill(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    Null,
    None,
    Previous,
    Linear,
    Int(i64),
    Float(f64),
}

/// A whole SELECT statement as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub fields: Vec<Field>,
    pub sources: Vec<Source>,
    pub condition: Option<Expr>,
    pub dimensions: Vec<Dimension>,
    pub fill: Fill,
    /// `ORDER BY time DESC`.
    pub descending: bool,
    pub limit: u64,
    pub offset: u64,
    pub slimit: u64,
    pub soffset: u64,
    /// `tz('...')`: the zone's name as written.
    pub tz: Option<String>,
    /// `SELECT ... INTO target`.
    pub into: Option<Target>,
}

/// Where `SELECT ... INTO` writes: `[db.][rp.]measurement`; `measurement: None` is
/// `:MEASUREMENT` (each row's own measurement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub measurement: Option<String>,
}

/// A measurement source of a statement: (database, retention policy, measurement).
pub type MeasurementSource<'a> = (&'a Option<String>, &'a Option<String>, &'a MeasurementMatch);

impl Select {
    /// Every measurement the statement reads, subqueries included.
    pub fn measurement_sources(&self) -> Vec<MeasurementSource<'_>> {
        let mut out = Vec::new();
        for s in &self.sources {
            match s {
                Source::Measurement {
                    database,
                    retention_policy,
                    measurement,
                } => out.push((database, retention_policy, measurement)),
                Source::Subquery(inner) => out.extend(inner.measurement_sources()),
            }
        }
        out
    }
}
