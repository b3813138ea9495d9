//! Byte and bit leaves of the segment format: varints, zigzag, frame bit-packing, a bounded
//! cursor over a block, and the MSB-first bit stream used by the Gorilla float codec.
//!
//! Every reader here returns `Err(SegmentError::Corrupt)` instead of panicking on short or
//! inconsistent input: blocks are CRC-checked before they get here, but the decoders do not
//! rely on that.

use super::SegmentError;

/// Values per bit-packed frame: large enough that the width byte costs < 0.01 B/value, small
/// enough that one outlier only widens its own 128 neighbours.
pub(super) const FRAME_VALUES: usize = 128;

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// LEB128 unsigned varint (1..=10 bytes).
pub(super) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Calls `f::<W>(args)` with `W` the width `w` as a constant, for `w` in
/// 1..=[`GROUP_WIDTH_MAX`]; nothing for another width.
macro_rules! with_width {
    ($w:expr, $f:ident $args:tt) => {
        with_width!(@arms $w, $f $args; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22
            23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51
            52 53 54 55 56)
    };
    (@arms $w:expr, $f:ident $args:tt; $($n:literal)*) => {
        match $w {
            $($n => $f::<$n> $args,)*
            _ => {}
        }
    };
}

/// Bit-packs `values` in frames of [`FRAME_VALUES`]: per frame one width byte (0..=64, the
/// bits of the frame's largest value), then `ceil(n * width / 8)` bytes, LSB first.
pub(super) fn pack(out: &mut Vec<u8>, values: &[u64]) {
    for frame in values.chunks(FRAME_VALUES) {
        let max = frame.iter().fold(0u64, |a, &v| a | v);
        let width = 64 - max.leading_zeros();
        out.push(width as u8);
        if width == 0 {
            continue;
        }
        if width == 64 {
            for &v in frame {
                out.extend_from_slice(&v.to_le_bytes());
            }
            continue;
        }
        // Whole groups of eight values through a loop made for their width, then the rest.
        let whole = if width <= GROUP_WIDTH_MAX {
            frame.len() / 8 * 8
        } else {
            0
        };
        pack_groups(width as usize, &frame[..whole], out);
        pack_bits(out, &frame[whole..], width);
    }
}

/// Appends `values` (each below `2^width`, `width` 1..=63) bit-packed LSB first:
/// `ceil(n * width / 8)` bytes, written eight at a time into a pre-sized tail.
fn pack_bits(out: &mut Vec<u8>, values: &[u64], width: u32) {
    let start = out.len();
    let nbytes = (values.len() * width as usize).div_ceil(8);
    out.resize(start + nbytes, 0);
    let dst = &mut out[start..];
    let mut pos = 0;
    // Bits not yet written, `nbits` (< 64) of them; a value that crosses a word boundary
    // leaves its top bits here (`v >> (width - nbits)`: width < 64, and nothing is left
    // when nbits is 0, since v < 2^width).
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    for &v in values {
        acc |= v << nbits;
        nbits += width;
        if nbits >= 64 {
            if let Some(d) = dst.get_mut(pos..pos + 8) {
                d.copy_from_slice(&acc.to_le_bytes());
            }
            pos += 8;
            nbits -= 64;
            acc = v >> (width - nbits);
        }
    }
    for b in dst.iter_mut().skip(pos) {
        *b = acc as u8;
        acc >>= 8;
    }
}

/// Appends groups of eight values (`values.len()` a multiple of 8, each value below `2^w`,
/// `w` 1..=[`GROUP_WIDTH_MAX`]) bit-packed LSB first, `w` bytes a group: the layout of
/// [`pack_bits`] and of Parquet's bit-packing. Other widths append nothing.
pub(crate) fn pack_groups(w: usize, values: &[u64], out: &mut Vec<u8>) {
    with_width!(w, pack_groups_of(values, out));
}

/// [`pack_groups`] for one width: every shift and offset a constant.
fn pack_groups_of<const W: usize>(values: &[u64], out: &mut Vec<u8>) {
    out.reserve(values.len() / 8 * W);
    for g in values.chunks_exact(8) {
        // A value shifted by at most 7 bits lies within the 8 bytes from the byte it starts
        // in; the bits past the group's `W` bytes stay zero.
        let mut bytes = [0u8; 64];
        for (k, &v) in g.iter().enumerate() {
            let bit = k * W;
            let at = bit / 8;
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            let word = u64::from_le_bytes(word) | (v << (bit % 8));
            bytes[at..at + 8].copy_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&bytes[..W]);
    }
}

/// A bounded reader over one block's payload.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(super) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }

    pub(super) fn u8(&mut self) -> Result<u8, SegmentError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(SegmentError::Corrupt("short block"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SegmentError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(SegmentError::Corrupt("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(SegmentError::Corrupt("short block"))?;
        self.pos = end;
        Ok(s)
    }

    pub(super) fn uvarint(&mut self) -> Result<u64, SegmentError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(SegmentError::Corrupt("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(SegmentError::Corrupt("varint overflow"))
    }

    pub(super) fn ivarint(&mut self) -> Result<i64, SegmentError> {
        self.uvarint().map(unzigzag)
    }

    /// A varint that must fit a `usize` (a length or a count).
    pub(super) fn len(&mut self) -> Result<usize, SegmentError> {
        usize::try_from(self.uvarint()?).map_err(|_| SegmentError::Corrupt("length overflow"))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], SegmentError> {
        let n = self.len()?;
        self.take(n)
    }

    /// Reads `n` values written by [`pack`], appending them to `out`.
    pub(super) fn unpack(&mut self, n: usize, out: &mut Vec<u64>) -> Result<(), SegmentError> {
        let mut left = n;
        while left > 0 {
            let count = left.min(FRAME_VALUES);
            let width = u32::from(self.u8()?);
            if width > 64 {
                return Err(SegmentError::Corrupt("bit width above 64"));
            }
            let bytes = self.take((count * width as usize).div_ceil(8))?;
            unpack_frame(bytes, width, count, out);
            left -= count;
        }
        Ok(())
    }
}

/// `bytes` holds exactly `ceil(count * width / 8)` bytes (checked by the caller).
fn unpack_frame(bytes: &[u8], width: u32, count: usize, out: &mut Vec<u64>) {
    if width == 0 {
        out.resize(out.len() + count, 0);
        return;
    }
    let w = width as usize;
    let mut done = 0;
    // Eight values of `w` bits fill exactly `w` bytes: whole groups of eight go through a loop
    // made for their width.
    if width <= GROUP_WIDTH_MAX {
        let groups = count / 8;
        let base = out.len();
        out.resize(base + groups * 8, 0);
        unpack_groups(w, &bytes[..groups * w], &mut out[base..]);
        done = groups * 8;
        if done == count {
            return;
        }
    }
    // The rest a byte at a time, from the byte the next value starts in (a group ends on a
    // byte boundary).
    let start = done * w;
    let mut it = bytes[start / 8..].iter();
    let mut acc: u128 = 0;
    let mut nbits: u32 = 0;
    if start % 8 != 0 {
        acc = u128::from(it.next().copied().unwrap_or(0) >> (start % 8));
        nbits = 8 - (start % 8) as u32;
    }
    unpack_bytes(it, width, count - done, acc, nbits, out);
}

/// The widest values [`unpack_groups`] takes: a value of at most 56 bits, shifted by at most 7,
/// lies within the 8 bytes from the byte it starts in.
pub(crate) const GROUP_WIDTH_MAX: u32 = 56;

/// Unpacks groups of eight values of `w` bits (1..=[`GROUP_WIDTH_MAX`]), `w` bytes each, from
/// `bytes` into `out` (eight values a group).
fn unpack_groups(w: usize, bytes: &[u8], out: &mut [u64]) {
    with_width!(w, unpack_groups_of(bytes, out));
}

/// [`unpack_groups`] for one width: every shift and offset a constant, no bounds check per value.
fn unpack_groups_of<const W: usize>(bytes: &[u8], out: &mut [u64]) {
    let mask = (1u64 << W) - 1;
    for (src, dst) in bytes.chunks_exact(W).zip(out.chunks_exact_mut(8)) {
        // The group's bytes and zeros after them: each value's 8-byte window lies inside.
        let mut group = [0u8; 64];
        group[..W].copy_from_slice(src);
        for (k, v) in dst.iter_mut().enumerate() {
            let bit = k * W;
            let at = bit / 8;
            let word = u64::from_le_bytes([
                group[at],
                group[at + 1],
                group[at + 2],
                group[at + 3],
                group[at + 4],
                group[at + 5],
                group[at + 6],
                group[at + 7],
            ]);
            *v = (word >> (bit % 8)) & mask;
        }
    }
}

/// Reads `count` values of `width` bits from `it`, after the `nbits` bits pending in `acc`.
fn unpack_bytes(
    mut it: std::slice::Iter<'_, u8>,
    width: u32,
    count: usize,
    mut acc: u128,
    mut nbits: u32,
    out: &mut Vec<u64>,
) {
    let mask: u128 = (1u128 << width) - 1;
    for _ in 0..count {
        while nbits < width {
            let b = it.next().copied().unwrap_or(0);
            acc |= u128::from(b) << nbits;
            nbits += 8;
        }
        out.push((acc & mask) as u64);
        acc >>= width;
        nbits -= width;
    }
}

/// Bits written most-significant first (the Gorilla paper's order), flushed 8 bytes at a time.
#[derive(Default)]
pub(super) struct BitWriter {
    out: Vec<u8>,
    /// The low `nbits` (< 64) bits are pending, oldest highest.
    acc: u128,
    nbits: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `v` (`n <= 64`).
    pub(super) fn write(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        self.acc = (self.acc << n) | u128::from(v);
        self.nbits += n;
        if self.nbits >= 64 {
            self.nbits -= 64;
            self.out
                .extend_from_slice(&((self.acc >> self.nbits) as u64).to_be_bytes());
            self.acc &= (1u128 << self.nbits) - 1;
        }
    }

    /// The bytes, the last one padded with zero bits.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let bytes = self.nbits.div_ceil(8) as usize;
        let word = ((self.acc << (bytes as u32 * 8 - self.nbits)) as u64).to_be_bytes();
        self.out
            .extend_from_slice(word.get(8 - bytes..).unwrap_or_default());
        self.out
    }
}

pub(super) struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// Bytes touched so far (the last one possibly partly).
    pub(super) fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }

    pub(super) fn bit(&mut self) -> Result<bool, SegmentError> {
        Ok(self.read(1)? == 1)
    }

    /// Reads `n <= 64` bits: one 16-byte big-endian window load (zero past the end).
    pub(super) fn read(&mut self, n: u32) -> Result<u64, SegmentError> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Ok(0);
        }
        if self.pos + n as usize > self.buf.len() * 8 {
            return Err(SegmentError::Corrupt("short bit stream"));
        }
        let at = self.pos / 8;
        let window = match self.buf.get(at..at + 16) {
            Some(w) => <[u8; 16]>::try_from(w).unwrap_or_default(),
            None => {
                // Within 16 bytes of the end: copy what is left, zero the rest.
                let mut w = [0u8; 16];
                let src = self.buf.get(at..).unwrap_or_default();
                w.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
                w
            }
        };
        let x = u128::from_be_bytes(window) << (self.pos % 8);
        self.pos += n as usize;
        Ok((x >> (128 - n)) as u64)
    }
}

/// Booleans, LSB first, `ceil(n / 8)` bytes.
pub(super) fn put_bools(out: &mut Vec<u8>, bools: impl Iterator<Item = bool>) {
    let mut byte = 0u8;
    let mut n = 0;
    for b in bools {
        byte |= u8::from(b) << (n % 8);
        n += 1;
        if n % 8 == 0 {
            out.push(byte);
            byte = 0;
        }
    }
    if n % 8 != 0 {
        out.push(byte);
    }
}

pub(super) fn get_bools(cur: &mut Cursor<'_>, n: usize) -> Result<Vec<bool>, SegmentError> {
    let bytes = cur.take(n.div_ceil(8))?;
    Ok((0..n)
        .map(|i| bytes.get(i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zigzag_extremes() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let bytes = [0xff; 10];
        assert!(Cursor::new(&bytes).uvarint().is_err());
        let mut max = Vec::new();
        put_uvarint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(Cursor::new(&max).uvarint().ok(), Some(u64::MAX));
    }

    #[test]
    fn width_zero_frame_is_one_byte() {
        let mut out = Vec::new();
        pack(&mut out, &[0; 300]);
        assert_eq!(out, vec![0, 0, 0]);
    }

    /// The byte-at-a-time packer the format was defined with: `pack` must give the same bytes.
    fn pack_reference(out: &mut Vec<u8>, values: &[u64]) {
        for frame in values.chunks(FRAME_VALUES) {
            let max = frame.iter().fold(0u64, |a, &v| a | v);
            let width = 64 - max.leading_zeros();
            out.push(width as u8);
            if width == 0 {
                continue;
            }
            let mut acc: u128 = 0;
            let mut nbits: u32 = 0;
            for &v in frame {
                acc |= u128::from(v) << nbits;
                nbits += width;
                while nbits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    nbits -= 8;
                }
            }
            if nbits > 0 {
                out.push(acc as u8);
            }
        }
    }

    proptest! {
        #[test]
        fn pack_writes_the_reference_bytes(values in prop::collection::vec(prop_oneof![any::<u64>(), 0u64..4, 0u64..100_000, 0u64..(1 << 33)], 0..600)) {
            let (mut a, mut b) = (vec![7u8], vec![7u8]);
            pack(&mut a, &values);
            pack_reference(&mut b, &values);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn varint_round_trip(v: u64, w: i64) {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            put_uvarint(&mut out, zigzag(w));
            let mut c = Cursor::new(&out);
            prop_assert_eq!(c.uvarint().ok(), Some(v));
            prop_assert_eq!(c.ivarint().ok(), Some(w));
            prop_assert!(c.is_empty());
        }

        #[test]
        fn unpack_frame_reads_what_a_byte_at_a_time_reads(width in 0u32..=64, values in prop::collection::vec(any::<u64>(), 0..=FRAME_VALUES)) {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = values.into_iter().map(|v| v & mask).collect();
            let mut bytes = Vec::new();
            let (mut acc, mut nbits) = (0u128, 0u32);
            for &v in &values {
                acc |= u128::from(v) << nbits;
                nbits += width;
                while nbits >= 8 {
                    bytes.push(acc as u8);
                    acc >>= 8;
                    nbits -= 8;
                }
            }
            if nbits > 0 {
                bytes.push(acc as u8);
            }
            let mut back = vec![1, 2];
            unpack_frame(&bytes, width, values.len(), &mut back);
            let mut slow = vec![1, 2];
            if width == 0 {
                slow.resize(2 + values.len(), 0);
            } else {
                unpack_bytes(bytes.iter(), width, values.len(), 0, 0, &mut slow);
            }
            prop_assert_eq!(&back[2..], &values[..]);
            prop_assert_eq!(back, slow);
        }

        #[test]
        fn pack_round_trip(values in prop::collection::vec(prop_oneof![any::<u64>(), 0u64..4, 0u64..100_000], 0..600)) {
            let mut out = Vec::new();
            pack(&mut out, &values);
            let mut c = Cursor::new(&out);
            let mut back = Vec::new();
            c.unpack(values.len(), &mut back).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, values);
            prop_assert!(c.is_empty());
        }

        #[test]
        fn pack_round_trip_at_every_width(
            width in 0u32..=64,
            seeds in prop::collection::vec(any::<u64>(), 0..600),
            before in 0usize..3,
        ) {
            // Every value of a frame at most `width` bits, the widest exactly: the frames are
            // that wide. Unpacked after `before` values already in the buffer.
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = seeds
                .iter()
                .enumerate()
                .map(|(i, s)| if i % FRAME_VALUES == 0 { mask } else { s & mask })
                .collect();
            let mut out = Vec::new();
            pack(&mut out, &values);
            let mut c = Cursor::new(&out);
            let mut back = vec![7u64; before];
            c.unpack(values.len(), &mut back).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back[..before], &vec![7u64; before][..]);
            prop_assert_eq!(&back[before..], &values[..]);
            prop_assert!(c.is_empty());
        }

        #[test]
        fn bits_round_trip(items in prop::collection::vec((any::<u64>(), 0u32..=64), 0..100)) {
            let mut w = BitWriter::default();
            for &(v, n) in &items {
                w.write(v, n);
            }
            let bytes = w.finish();
            let mut r = BitReader::new(&bytes);
            for &(v, n) in &items {
                let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                prop_assert_eq!(r.read(n).ok(), Some(want));
            }
            prop_assert_eq!(r.bytes_used(), bytes.len());
        }

        #[test]
        fn bools_round_trip(bools in prop::collection::vec(any::<bool>(), 0..100)) {
            let mut out = Vec::new();
            put_bools(&mut out, bools.iter().copied());
            let mut c = Cursor::new(&out);
            prop_assert_eq!(get_bools(&mut c, bools.len()).ok(), Some(bools));
            prop_assert!(c.is_empty());
        }
    }
}
