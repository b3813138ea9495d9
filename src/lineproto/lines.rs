//! Splitting a body into lines exactly as 1.x `scanLine` does.

use super::scan::scan_line;

/// Splits `body` into lines as 1.x does: on `\n`, except a `\n` inside a quoted string field
/// value (or right after a backslash), which belongs to the line. Yields
/// `(line_no, line)` with `line_no` 1-based and counting physical lines (a line holding a
/// quoted newline advances the count by two), and `line` without its `\n`. Blank lines are
/// yielded too; [`super::Decoder::decode`] returns `Ok(None)` for them.
pub fn lines(body: &[u8]) -> Lines<'_> {
    Lines {
        body,
        pos: 0,
        line_no: 1,
    }
}

/// Iterator returned by [`lines`].
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    body: &'a [u8],
    pos: usize,
    line_no: usize,
}

impl<'a> Lines<'a> {
    /// Byte offset of the next line in the body.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos;
        let rest = self.body.get(pos..).filter(|r| !r.is_empty())?;
        let no = self.line_no;
        // Fast path: the next `\n` comes before any `"` and is not preceded by a backslash,
        // so no quote or escape can hide it from `scanLine`.
        if let Some(off) = memchr::memchr2(b'\n', b'"', rest) {
            if rest[off] == b'\n' && (off == 0 || rest[off - 1] != b'\\') {
                self.pos = pos + off + 1;
                self.line_no = no + 1;
                return Some((no, &rest[..off]));
            }
        } else {
            self.pos = self.body.len();
            self.line_no = no + 1;
            return Some((no, rest));
        }
        let end = scan_line(self.body, pos);
        let mut line = self.body.get(pos..end).unwrap_or_default();
        self.pos = end + 1;
        self.line_no = no + 1 + memchr::memchr_iter(b'\n', line).count();
        // A body that ends inside a quote keeps its final newline in the block; 1.x strips it.
        if let [head @ .., b'\n'] = line {
            line = head;
        }
        Some((no, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &[u8]) -> Vec<(usize, &[u8])> {
        lines(body).collect()
    }

    #[test]
    fn splits_on_unquoted_newlines() {
        let body = b"a x=1\n\nb x=2\r\nc x=3";
        let got = split(body);
        assert_eq!(
            got,
            vec![(1, &b"a x=1"[..]), (2, b""), (3, b"b x=2\r"), (4, b"c x=3")]
        );
        assert_eq!(split(b"a x=1\n"), vec![(1, &b"a x=1"[..])]);
        assert!(split(b"").is_empty());
    }

    #[test]
    fn quoted_newline_stays_in_line() {
        let body = b"cpu s=\"a\nb\",v=1 1\nnext x=1\n";
        let got = split(body);
        assert_eq!(
            got,
            vec![(1, &b"cpu s=\"a\nb\",v=1 1"[..]), (3, b"next x=1")]
        );
    }

    #[test]
    fn backslash_newline_joins_lines() {
        let got = split(b"cpu x=1 \\\nnext x=1\nlast x=1");
        assert_eq!(
            got,
            vec![(1, &b"cpu x=1 \\\nnext x=1"[..]), (3, b"last x=1")]
        );
    }

    #[test]
    fn unterminated_quote_at_end_drops_final_newline() {
        assert_eq!(split(b"cpu s=\"abc\n"), vec![(1, &b"cpu s=\"abc"[..])]);
    }

    #[test]
    fn quotes_in_tags_do_not_start_strings() {
        let got = split(b"cpu,t=\"a x=1\nb x=2");
        assert_eq!(got, vec![(1, &b"cpu,t=\"a x=1"[..]), (2, b"b x=2")]);
    }
}
