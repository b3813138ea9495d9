//! The InfluxQL scanner (a port of influxql scanner.go, for the tokens this subset needs).
//!
//! Positions are rune indexes into the query, turned into Go's `line N, char M` by
//! [`Scanner::line_char`]. Keywords are matched case-insensitively; a keyword token carries no
//! literal, so errors print it upper-case (`found SELECT`) while identifiers keep their text.

/// One token kind. Keywords are stored upper-case.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Ws,
    Comment,
    Ident(String),
    Keyword(&'static str),
    Str(String),
    BadString(String),
    BadEscape(String),
    Integer(String),
    Number(String),
    Duration(String),
    Punct(&'static str),
    Illegal(String),
}

impl Tok {
    /// Go's `tokstr(tok, lit)`: the literal if there is one, else the token's name.
    pub(crate) fn text(&self) -> String {
        match self {
            Tok::Eof => "EOF".to_string(),
            Tok::Ws => "WS".to_string(),
            Tok::Comment => "COMMENT".to_string(),
            Tok::Keyword(k) | Tok::Punct(k) => (*k).to_string(),
            Tok::Ident(s)
            | Tok::Str(s)
            | Tok::BadString(s)
            | Tok::BadEscape(s)
            | Tok::Integer(s)
            | Tok::Number(s)
            | Tok::Duration(s)
            | Tok::Illegal(s) => s.clone(),
        }
    }

    pub(crate) fn is_kw(&self, k: &str) -> bool {
        matches!(self, Tok::Keyword(x) if *x == k)
    }

    pub(crate) fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(x) if *x == p)
    }
}

/// InfluxQL's reserved words (token.go keywordBeg..keywordEnd, plus AND, OR, TRUE, FALSE).
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "ORDER",
    "PASSWORD",
    "POLICY",
    "POLICIES",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHOW",
    "SHARD",
    "SHARDS",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
    "AND",
    "OR",
    "TRUE",
    "FALSE",
];

/// Whether `lit` is a reserved word (such identifiers must be quoted).
pub(crate) fn is_keyword(lit: &str) -> bool {
    keyword(lit).is_some()
}

fn keyword(lit: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(lit))
        .copied()
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n'
}

/// A scanner over the whole query; `scan(at)` is pure so the parser can rewind freely.
pub(crate) struct Scanner {
    chars: Vec<char>,
}

impl Scanner {
    pub(crate) fn new(q: &str) -> Self {
        Scanner {
            chars: q.chars().collect(),
        }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// Go's `Pos` for a rune index, 1-based as printed.
    ///
    /// EOF sits one past the end, or two when the query ends in a bare identifier, keyword,
    /// whitespace or `--` comment: Go's scanner consumes one EOF read there, and its reader
    /// counts the first EOF as a character (influxql scanner.go `reader.read`).
    pub(crate) fn line_char(&self, pos: usize) -> (usize, usize) {
        let mut line = 1;
        let mut ch = 1;
        for c in self.chars.iter().take(pos) {
            if *c == '\n' {
                line += 1;
                ch = 1;
            } else {
                ch += 1;
            }
        }
        if pos >= self.chars.len() && self.eof_read_twice() {
            ch += 1;
        }
        (line, ch)
    }

    fn eof_read_twice(&self) -> bool {
        let Some(&last) = self.chars.last() else {
            return false;
        };
        if is_ws(last) {
            return true;
        }
        let last_line = self.chars.rsplit(|c| *c == '\n').next().unwrap_or_default();
        let line: String = last_line.iter().collect();
        if line.contains("--") && !line.contains('\'') && !line.contains('"') {
            return true;
        }
        if !is_ident_char(last) {
            return false;
        }
        let run_start = self
            .chars
            .iter()
            .rposition(|c| !is_ident_char(*c))
            .map_or(0, |i| i + 1);
        // A run starting with a digit is a number or duration: its scan unreads the EOF.
        self.chars
            .get(run_start)
            .is_some_and(|c| !c.is_ascii_digit())
    }

    /// The token starting at `i`: (token, its position, index after it).
    pub(crate) fn scan(&self, i: usize) -> (Tok, usize, usize) {
        let Some(c) = self.at(i) else {
            return (Tok::Eof, i, i);
        };
        if is_ws(c) {
            let mut j = i;
            while self.at(j).is_some_and(is_ws) {
                j += 1;
            }
            return (Tok::Ws, i, j);
        }
        if is_letter(c) || c == '_' || c == '"' {
            return self.scan_ident(i);
        }
        if c.is_ascii_digit() || (c == '.' && self.at(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            return self.scan_number(i);
        }
        if c == '\'' {
            return self.scan_string(i);
        }
        self.scan_punct(i, c)
    }

    fn scan_punct(&self, i: usize, c: char) -> (Tok, usize, usize) {
        let next = self.at(i + 1);
        let two = |t: &'static str| (Tok::Punct(t), i, i + 2);
        let one = |t: &'static str| (Tok::Punct(t), i, i + 1);
        match (c, next) {
            ('-', Some('-')) => {
                let mut j = i;
                while self.at(j).is_some_and(|c| c != '\n') {
                    j += 1;
                }
                (Tok::Comment, i, j)
            }
            ('/', Some('*')) => match self.comment_end(i + 2) {
                Some(j) => (Tok::Comment, i, j),
                None => (Tok::Illegal(String::new()), i, self.chars.len()),
            },
            ('=', Some('~')) => two("=~"),
            ('!', Some('=')) => two("!="),
            ('!', Some('~')) => two("!~"),
            ('<', Some('=')) => two("<="),
            ('<', Some('>')) => two("!="),
            ('>', Some('=')) => two(">="),
            (':', Some(':')) => two("::"),
            _ => match c {
                '+' => one("+"),
                '-' => one("-"),
                '*' => one("*"),
                '/' => one("/"),
                '%' => one("%"),
                '&' => one("&"),
                '|' => one("|"),
                '^' => one("^"),
                '=' => one("="),
                '<' => one("<"),
                '>' => one(">"),
                '(' => one("("),
                ')' => one(")"),
                ',' => one(","),
                ';' => one(";"),
                ':' => one(":"),
                '.' => one("."),
                _ => (Tok::Illegal(c.to_string()), i, i + 1),
            },
        }
    }

    fn comment_end(&self, mut j: usize) -> Option<usize> {
        loop {
            match (self.at(j)?, self.at(j + 1)) {
                ('*', Some('/')) => return Some(j + 2),
                _ => j += 1,
            }
        }
    }

    fn scan_ident(&self, i: usize) -> (Tok, usize, usize) {
        let mut lit = String::new();
        let mut j = i;
        loop {
            match self.at(j) {
                Some('"') => {
                    return match self.scan_quoted(j) {
                        (Tok::Str(s), _, end) => (Tok::Ident(s), i, end),
                        other => other,
                    }
                }
                Some(c) if is_ident_char(c) => {
                    lit.push(c);
                    j += 1;
                }
                _ => break,
            }
        }
        match keyword(&lit) {
            Some(k) => (Tok::Keyword(k), i, j),
            None => (Tok::Ident(lit), i, j),
        }
    }

    fn scan_string(&self, i: usize) -> (Tok, usize, usize) {
        self.scan_quoted(i)
    }

    /// Go's `ScanString`: `\n \\ \" \'` escapes; a newline or EOF inside is a bad string.
    fn scan_quoted(&self, i: usize) -> (Tok, usize, usize) {
        let Some(end_quote) = self.at(i) else {
            return (Tok::BadString(String::new()), i, i);
        };
        let mut buf = String::new();
        let mut j = i + 1;
        loop {
            match self.at(j) {
                Some(c) if c == end_quote => return (Tok::Str(buf), i, j + 1),
                None | Some('\n') => return (Tok::BadString(buf), i, j),
                Some('\\') => {
                    let esc = match self.at(j + 1) {
                        Some('n') => '\n',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('\'') => '\'',
                        other => {
                            let mut s = String::from('\\');
                            s.extend(other);
                            return (Tok::BadEscape(s), j, j + 2);
                        }
                    };
                    buf.push(esc);
                    j += 2;
                }
                Some(c) => {
                    buf.push(c);
                    j += 1;
                }
            }
        }
    }

    fn digits(&self, mut j: usize, buf: &mut String) -> usize {
        while let Some(c) = self.at(j).filter(char::is_ascii_digit) {
            buf.push(c);
            j += 1;
        }
        j
    }

    fn scan_number(&self, i: usize) -> (Tok, usize, usize) {
        let mut buf = String::new();
        let mut j = self.digits(i, &mut buf);
        if self.at(j) == Some('.') {
            if self.at(j + 1).is_some_and(|c| c.is_ascii_digit()) {
                buf.push('.');
                j = self.digits(j + 1, &mut buf);
            } else {
                j += 1;
            }
            return (Tok::Number(buf), i, j);
        }
        let unit = |c: char| is_letter(c) || c == 'µ';
        if self.at(j).is_some_and(unit) {
            while let Some(c) = self.at(j).filter(|c| unit(*c) || c.is_ascii_digit()) {
                buf.push(c);
                j += 1;
            }
            return (Tok::Duration(buf), i, j);
        }
        (Tok::Integer(buf), i, j)
    }

    /// A `/regex/` at `i` (Go's `ScanDelimited` with `\/` as the only escape; other escapes
    /// pass through). Returns the pattern and the index after it, or the error text.
    pub(crate) fn scan_regex(&self, i: usize) -> Result<(String, usize), String> {
        let mut buf = String::new();
        let mut j = i + 1;
        loop {
            match self.at(j) {
                Some('/') => return Ok((buf, j + 1)),
                None => return Err(format!("bad regex: {buf}")),
                Some('\n') => return Err("bad regex: ".to_string()),
                Some('\\') if self.at(j + 1) == Some('/') => {
                    buf.push('/');
                    j += 2;
                }
                Some(c) => {
                    buf.push(c);
                    j += 1;
                }
            }
        }
    }

    /// The first rune at or after `i` that is not whitespace (Go's `peekRune` after
    /// `consumeWhitespace`).
    pub(crate) fn peek_rune(&self, mut i: usize) -> (Option<char>, usize) {
        while self.at(i).is_some_and(is_ws) {
            i += 1;
        }
        (self.at(i), i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(q: &str) -> Vec<Tok> {
        let s = Scanner::new(q);
        let mut i = 0;
        let mut out = Vec::new();
        loop {
            let (t, _, next) = s.scan(i);
            if t == Tok::Eof {
                return out;
            }
            if t != Tok::Ws {
                out.push(t);
            }
            i = next;
        }
    }

    #[test]
    fn scans_the_subset() {
        assert_eq!(
            toks(r#"select "a b"."c\"d", x_1 from 'it''s"#),
            vec![
                Tok::Keyword("SELECT"),
                Tok::Ident("a b".into()),
                Tok::Punct("."),
                Tok::Ident("c\"d".into()),
                Tok::Punct(","),
                Tok::Ident("x_1".into()),
                Tok::Keyword("FROM"),
                Tok::Str("it".into()),
                Tok::BadString("s".into()),
            ]
        );
        assert_eq!(
            toks("1h30m 10 3.14 >= <> != ; -- c\n/* x */ µ"),
            vec![
                Tok::Duration("1h30m".into()),
                Tok::Integer("10".into()),
                Tok::Number("3.14".into()),
                Tok::Punct(">="),
                Tok::Punct("!="),
                Tok::Punct("!="),
                Tok::Punct(";"),
                Tok::Comment,
                Tok::Comment,
                Tok::Illegal("µ".into()),
            ]
        );
        assert_eq!(
            toks(r"'a\q'"),
            vec![Tok::BadEscape(r"\q".into()), Tok::BadString("".into())]
        );
    }

    #[test]
    fn positions_as_go_prints_them() {
        let s = Scanner::new("ab\ncd");
        assert_eq!(s.line_char(0), (1, 1));
        assert_eq!(s.line_char(3), (2, 1));
        assert_eq!(s.line_char(5), (2, 4)); // EOF after a bare identifier: one more
        assert_eq!(Scanner::new("a 10").line_char(4), (1, 5));
        assert_eq!(Scanner::new("a \"x\"").line_char(5), (1, 6));
        assert_eq!(Scanner::new("a ").line_char(2), (1, 4));
        assert_eq!(Scanner::new("a\n").line_char(2), (2, 2));
    }

    #[test]
    fn regex_escapes() {
        let s = Scanner::new(r"/a\/b\d/ x");
        assert_eq!(s.scan_regex(0), Ok((r"a/b\d".to_string(), 8)));
        assert!(Scanner::new("/abc").scan_regex(0).is_err());
    }
}
