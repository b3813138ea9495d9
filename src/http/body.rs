//! Request bodies: a push decoder for `Transfer-Encoding: chunked`.
//!
//! Pure: no runtime, no I/O. It stops at `max + 1` output bytes, so a body never costs more than
//! the configured bound in memory.
use std::fmt;

use super::head::hex_value;

/// Longest chunk-size line (size + extensions) we accept; Go's limit is 4 KiB too.
const CHUNK_LINE_BYTES_MAX: usize = 4096;

/// Why a body could not be read. `Display` is the InfluxDB-facing text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than `body_bytes_max`, raw, de-chunked or decompressed: 413.
    TooLarge,
    /// Malformed chunked framing: 400, and the connection closes.
    BadChunk,
    /// Trailer section longer than the header limit: 431, and the connection closes.
    TrailerTooLarge,
    /// Go's gzip/flate error texts: 400.
    Gzip(&'static str),
}

impl BodyError {
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge => 413,
            BodyError::BadChunk | BodyError::Gzip(_) => 400,
            BodyError::TrailerTooLarge => 431,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("Request Entity Too Large"),
            // net/http's ErrLineTooLong / "malformed chunked encoding" texts.
            BodyError::BadChunk => f.write_str("malformed chunked encoding"),
            BodyError::TrailerTooLarge => f.write_str("Request Header Fields Too Large"),
            BodyError::Gzip(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for BodyError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size: extensions or optional whitespace, up to the line end.
    SizeRest,
    /// Saw CR at the end of a size line.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw CR at the end of a trailer line.
    TrailerLf,
    /// Saw CR on the final empty line.
    EndLf,
    Done,
}

/// Push decoder for chunked bodies: feed any split of the input, get the data appended to `out`.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Size of the chunk being read, then bytes of it still to copy.
    remaining: u64,
    /// Bytes of the current size line, bounded by `CHUNK_LINE_BYTES_MAX`.
    line_bytes: usize,
    /// Bytes of trailer section seen, bounded by `trailer_bytes_max`.
    trailer_bytes: usize,
    trailer_bytes_max: usize,
    /// Largest decoded body; 0 = unlimited.
    body_bytes_max: usize,
}

impl ChunkedDecoder {
    pub fn new(body_bytes_max: usize, trailer_bytes_max: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            remaining: 0,
            line_bytes: 0,
            trailer_bytes: 0,
            trailer_bytes_max,
            body_bytes_max,
        }
    }

    /// True once the last chunk and the trailer section are complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to `out`; returns how many input bytes were consumed.
    /// Stops consuming at the end of the body, so bytes of a pipelined next request are left over.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                i += self.copy_data(&input[i..], out)?;
                continue;
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
        }
        Ok(i)
    }

    fn copy_data(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        if self.body_bytes_max != 0 && out.len() + n > self.body_bytes_max {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&input[..n]);
        self.remaining -= n as u64;
        if self.remaining == 0 {
            self.state = State::DataCr;
        }
        Ok(n)
    }

    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        self.state = match self.state {
            State::Size => self.size_byte(b)?,
            State::SizeRest => self.size_rest_byte(b)?,
            State::SizeLf if b == b'\n' => self.end_size_line()?,
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size,
            State::TrailerStart if b == b'\r' => State::EndLf,
            State::TrailerStart if b == b'\n' => State::Done,
            State::TrailerStart | State::TrailerLine => self.trailer_byte(b)?,
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::EndLf if b == b'\n' => State::Done,
            _ => return Err(BodyError::BadChunk),
        };
        Ok(())
    }

    fn size_byte(&mut self, b: u8) -> Result<State, BodyError> {
        self.line_bytes += 1;
        if self.line_bytes > CHUNK_LINE_BYTES_MAX {
            return Err(BodyError::BadChunk);
        }
        if let Some(digit) = hex_value(b) {
            // 16 hex digits overflow u64 only past 0xffff_ffff_ffff_ffff; refuse anything above 2^60.
            if self.remaining >> 60 != 0 {
                return Err(BodyError::BadChunk);
            }
            self.remaining = self.remaining << 4 | u64::from(digit);
            return Ok(State::Size);
        }
        if self.line_bytes == 1 {
            return Err(BodyError::BadChunk); // no digits at all
        }
        self.size_rest_byte(b)
    }

    fn size_rest_byte(&mut self, b: u8) -> Result<State, BodyError> {
        self.line_bytes += 1;
        if self.line_bytes > CHUNK_LINE_BYTES_MAX {
            return Err(BodyError::BadChunk);
        }
        match b {
            b'\r' => Ok(State::SizeLf),
            // Go's chunk reader accepts a bare LF as the line end.
            b'\n' => self.end_size_line(),
            b'\0' => Err(BodyError::BadChunk),
            _ => Ok(State::SizeRest), // ";ext=val" or trailing whitespace, ignored as in Go
        }
    }

    fn end_size_line(&mut self) -> Result<State, BodyError> {
        self.line_bytes = 0;
        if self.remaining == 0 {
            return Ok(State::TrailerStart);
        }
        Ok(State::Data)
    }

    fn trailer_byte(&mut self, b: u8) -> Result<State, BodyError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.trailer_bytes_max {
            return Err(BodyError::TrailerTooLarge);
        }
        match b {
            b'\r' => Ok(State::TrailerLf),
            b'\n' => Ok(State::TrailerStart),
            _ => Ok(State::TrailerLine),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], max: usize) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = ChunkedDecoder::new(max, 1024);
        let mut out = Vec::new();
        let n = d.feed(input, &mut out)?;
        if !d.is_done() {
            return Err(BodyError::BadChunk);
        }
        Ok((out, n))
    }

    /// Feeds one byte at a time; must give the same answer as one feed.
    fn decode_bytewise(input: &[u8], max: usize) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = ChunkedDecoder::new(max, 1024);
        let mut out = Vec::new();
        let mut consumed = 0;
        for b in input {
            if d.is_done() {
                break;
            }
            consumed += d.feed(std::slice::from_ref(b), &mut out)?;
        }
        if !d.is_done() {
            return Err(BodyError::BadChunk);
        }
        Ok((out, consumed))
    }

    #[test]
    fn chunked_table_whole_and_bytewise() {
        type Case = (&'static [u8], Result<&'static [u8], BodyError>);
        let cases: &[Case] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", Ok(b"hello")),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Ok(b"hello world"),
            ),
            (b"A\r\n0123456789\r\n0\r\n\r\n", Ok(b"0123456789")),
            (b"a;name=val\r\n0123456789\r\n0\r\n\r\n", Ok(b"0123456789")),
            (b"5\nhello\r\n0\n\n", Ok(b"hello")),
            (b"0\r\n\r\n", Ok(b"")),
            (b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", Ok(b"abc")),
            (b"0005\r\nhello\r\n0\r\n\r\n", Ok(b"hello")),
            (b"x\r\nhello\r\n0\r\n\r\n", Err(BodyError::BadChunk)),
            (b"\r\n", Err(BodyError::BadChunk)),
            (b"5\r\nhelloXX0\r\n\r\n", Err(BodyError::BadChunk)),
            (b"5\r\nhello\rX", Err(BodyError::BadChunk)),
            (b"fffffffffffffffff\r\n", Err(BodyError::BadChunk)),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Ok(b"hello world"),
            ),
            (b"5\r\nhel", Err(BodyError::BadChunk)), // incomplete: not done
        ];
        for (input, expect) in cases {
            let expect = expect.clone().map(|b| (b.to_vec(), input.len()));
            assert_eq!(
                decode_all(input, 0),
                expect,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(
                decode_bytewise(input, 0),
                expect,
                "bytewise {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn chunked_leaves_pipelined_bytes() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let (out, n) = decode_all(input, 0).expect("valid");
        assert_eq!(out, b"abc");
        assert_eq!(&input[n..], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn chunked_every_split_point() {
        let input: &[u8] = b"4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\nT: v\r\n\r\n";
        for cut in 0..=input.len() {
            let mut d = ChunkedDecoder::new(0, 1024);
            let mut out = Vec::new();
            let a = d.feed(&input[..cut], &mut out).expect("first half");
            let b = d.feed(&input[a..], &mut out).expect("second half");
            assert_eq!(a + b, input.len(), "cut {cut}");
            assert!(d.is_done(), "cut {cut}");
            assert_eq!(out, b"abcdefg", "cut {cut}");
        }
    }

    #[test]
    fn chunked_body_limit() {
        let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            decode_all(input, 11).map(|(o, _)| o),
            Ok(b"hello world".to_vec())
        );
        assert_eq!(decode_all(input, 10), Err(BodyError::TooLarge));
        assert_eq!(decode_bytewise(input, 10), Err(BodyError::TooLarge));
        // A huge announced chunk is refused as its bytes arrive, not allocated up front.
        let mut d = ChunkedDecoder::new(100, 1024);
        let mut out = Vec::new();
        assert_eq!(d.feed(b"ffffffff\r\n", &mut out), Ok(10));
        assert_eq!(d.feed(&[b'a'; 101], &mut out), Err(BodyError::TooLarge));
        assert!(out.capacity() <= 200);
    }

    #[test]
    fn chunked_limits_on_lines() {
        let mut long_ext = b"5;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'x', CHUNK_LINE_BYTES_MAX));
        long_ext.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_all(&long_ext, 0), Err(BodyError::BadChunk));
        let mut long_trailer = b"0\r\nX: ".to_vec();
        long_trailer.extend(std::iter::repeat_n(b'y', 2000));
        long_trailer.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            decode_all(&long_trailer, 0),
            Err(BodyError::TrailerTooLarge)
        );
    }

    fn encode_chunked(data: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            out.extend_from_slice(format!("{n:x}{}\r\n", if ext { ";e=1" } else { "" }).as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        out.extend_from_slice(if trailer {
            b"0\r\nT: x\r\n\r\n".as_slice()
        } else {
            b"0\r\n\r\n"
        });
        out
    }

    proptest::proptest! {
        #[test]
        fn chunked_round_trip_any_split(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            sizes in proptest::collection::vec(1usize..200, 1..8),
            feeds in proptest::collection::vec(1usize..100, 1..20),
            ext in proptest::bool::ANY,
            trailer in proptest::bool::ANY,
        ) {
            let wire = encode_chunked(&data, &sizes, ext, trailer);
            let mut d = ChunkedDecoder::new(0, 1024);
            let mut out = Vec::new();
            let mut at = 0;
            for step in feeds.iter().cycle() {
                if d.is_done() || at >= wire.len() {
                    break;
                }
                let end = (at + step).min(wire.len());
                at += d.feed(&wire[at..end], &mut out).expect("valid encoding");
            }
            proptest::prop_assert!(d.is_done());
            proptest::prop_assert_eq!(at, wire.len());
            proptest::prop_assert_eq!(out, data);
        }

        #[test]
        fn chunked_arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            max in 0usize..64,
        ) {
            let mut d = ChunkedDecoder::new(max, 64);
            let mut out = Vec::new();
            if let Ok(n) = d.feed(&bytes, &mut out) {
                proptest::prop_assert!(n <= bytes.len());
            }
            proptest::prop_assert!(max == 0 || out.len() <= max);
        }
    }
}
