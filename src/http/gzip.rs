//! A size-bounded gunzip of a whole request body.
//!
//! Pure: no runtime, no I/O. A body inflates in one call per gzip member with libdeflate (about
//! 1.5-2x zlib-ng's speed on the bodies clients send) into one buffer sized from the trailer; any
//! body that libdeflate refuses is inflated again by flate2, whose errors map to the texts Go's
//! `compress/gzip` gives, so only the speed depends on which inflater answered. The output never
//! exceeds `max + 1` bytes: a decompression bomb costs at most three times that in work
//! (libdeflate's growing room, then flate2's answer).
use std::cell::RefCell;
use std::ffi::c_void;
use std::io::Read;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

use super::body::BodyError;

/// Gunzips `compressed` (one or more gzip members, as Go's `gzip.Reader`), refusing to produce
/// more than `body_bytes_max` bytes (0 = unlimited). `buf` is a buffer to inflate into, reused:
/// its bytes up to `len()` are initialized, so only room beyond them is zeroed.
pub fn gunzip_bounded(
    compressed: &[u8],
    body_bytes_max: usize,
    buf: Vec<u8>,
) -> Result<Vec<u8>, BodyError> {
    // Go's gzip.NewReader reads the 10-byte header first: its errors come before any inflation.
    match compressed {
        [] => return Err(BodyError::Gzip("EOF")),
        [0x1f, 0x8b, 8, ..] if compressed.len() >= 10 => {}
        _ if compressed.len() < 10 && is_gzip_prefix(compressed) => {
            return Err(BodyError::Gzip("unexpected EOF"))
        }
        _ => return Err(BodyError::Gzip("gzip: invalid header")),
    }
    let bound = if body_bytes_max == 0 {
        usize::MAX
    } else {
        body_bytes_max
    };
    let mut out = buf;
    match inflate_members(compressed, bound, &mut out) {
        Inflated::Whole => return Ok(out),
        Inflated::TooLarge => return Err(BodyError::TooLarge),
        Inflated::Refused => {}
    }
    // libdeflate refused the body: flate2 says why in Go's words (or inflates what libdeflate is
    // stricter about, such as reserved header flags).
    out.clear();
    inflate_into(compressed, body_bytes_max, &mut out)?;
    Ok(out)
}

enum Inflated {
    Whole,
    /// More than the bound.
    TooLarge,
    /// Not gzip as libdeflate reads it (truncated, corrupt, trailing bytes), or a member that
    /// does not fit the bound.
    Refused,
}

/// Inflates every member of `compressed` into `out` with libdeflate, into room of the last
/// member's ISIZE (its length mod 2^32, in the trailer) when that fits the bound (a one-member
/// body, what clients send, is inflated once with no regrowth); else 8x the input; at most
/// [`ROOM_FIRST_MAX`]. A member that
/// does not fit is inflated again into twice the room, never more than `bound + 1`; one that
/// does not fit that is left to flate2, which stops at `bound + 1` bytes of output (libdeflate
/// cannot tell a member too large from a truncated one that it inflated past its end).
fn inflate_members(compressed: &[u8], bound: usize, out: &mut Vec<u8>) -> Inflated {
    let isize_hint = compressed
        .len()
        .checked_sub(4)
        .and_then(|at| compressed.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(|t| u32::from_le_bytes(t) as usize);
    let most = bound.saturating_add(1);
    let mut room = match isize_hint {
        Some(n) if n <= bound => n + 1,
        _ => compressed.len().saturating_mul(8),
    }
    .clamp(1, most.min(ROOM_FIRST_MAX));
    let (mut read, mut written) = (0, 0);
    INFLATER.with(|inflater| {
        let mut inflater = inflater.borrow_mut();
        let Some(inflater) = inflater.get_or_insert_with(Inflater::new) else {
            return Inflated::Refused;
        };
        while read < compressed.len() {
            if out.len() < room {
                out.resize(room, 0);
            }
            match inflater.member(&compressed[read..], &mut out[written..room]) {
                Member::Done { used, made } => {
                    read += used;
                    written += made;
                    if written > bound {
                        out.truncate(written);
                        return Inflated::TooLarge;
                    }
                }
                // No room at the bound: too large, or a truncated or corrupt member that
                // libdeflate inflated past its end before it could tell: flate2 says which.
                Member::NoRoom if room >= most => return Inflated::Refused,
                Member::NoRoom => room = room.saturating_mul(2).min(most),
                Member::Bad => return Inflated::Refused,
            }
        }
        out.truncate(written);
        Inflated::Whole
    })
}

/// The most room made before any member is inflated (a trailer may lie; a larger body grows its
/// room as it inflates).
const ROOM_FIRST_MAX: usize = 64 << 20;

/// libdeflate's decompressor (about 10 KiB of tables), one per thread.
struct Inflater(NonNull<libdeflate_decompressor>);

thread_local! {
    /// `None` inside when libdeflate could not allocate: flate2 inflates instead.
    static INFLATER: RefCell<Option<Option<Inflater>>> = const { RefCell::new(None) };
}

enum Member {
    /// `used` input bytes made `made` output bytes.
    Done {
        used: usize,
        made: usize,
    },
    NoRoom,
    Bad,
}

impl Inflater {
    fn new() -> Option<Inflater> {
        // SAFETY: no arguments; a null return (out of memory) is checked.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Inflater)
    }

    /// Inflates the gzip member at the start of `input` into `out`.
    fn member(&mut self, input: &[u8], out: &mut [u8]) -> Member {
        let (mut used, mut made) = (0usize, 0usize);
        // SAFETY: the decompressor is live and used by this thread only; the input and output
        // pointers and lengths come from slices, which libdeflate reads and writes only within;
        // the two result pointers are to locals.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
                out.len(),
                &mut used,
                &mut made,
            )
        };
        #[allow(non_upper_case_globals)]
        match result {
            libdeflate_result_LIBDEFLATE_SUCCESS if used > 0 && used <= input.len() => {
                Member::Done { used, made }
            }
            libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Member::NoRoom,
            _ => Member::Bad,
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Inflates with flate2 into `out`, reading at most `body_bytes_max + 1` bytes of output.
fn inflate_into(
    compressed: &[u8],
    body_bytes_max: usize,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let limit = if body_bytes_max == 0 {
        u64::MAX
    } else {
        body_bytes_max as u64 + 1
    };
    let mut decoder = flate2::bufread::MultiGzDecoder::new(compressed).take(limit);
    decoder
        .read_to_end(out)
        .map_err(|e| BodyError::Gzip(gzip_error_text(&e)))?;
    if body_bytes_max != 0 && out.len() > body_bytes_max {
        return Err(BodyError::TooLarge);
    }
    Ok(())
}

fn is_gzip_prefix(bytes: &[u8]) -> bool {
    let magic = [0x1f, 0x8b, 8];
    bytes.iter().zip(magic.iter()).all(|(a, b)| a == b)
}

/// Maps flate2's errors to the texts Go's compress/gzip and compress/flate give.
fn gzip_error_text(e: &std::io::Error) -> &'static str {
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "unexpected EOF"
    } else if text.contains("header") {
        "gzip: invalid header"
    } else if text.contains("checksum") {
        "gzip: invalid checksum"
    } else {
        "flate: corrupt input"
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
        gunzip_bounded(compressed, max, Vec::new())
    }

    /// What flate2 alone answers (the reference the libdeflate path must agree with).
    fn flate2_only(compressed: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        inflate_into(compressed, max, &mut out).map(|()| out)
    }

    fn gzip_level(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        enc.write_all(data).expect("write to vec");
        enc.finish().expect("finish to vec")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        gzip_level(data, 6)
    }

    #[test]
    fn gunzip_ok_and_multi_member() {
        let body = b"cpu value=1 1\ncpu value=2 2\n".repeat(50);
        assert_eq!(gunzip(&gzip(&body), 0), Ok(body.clone()));
        assert_eq!(gunzip(&gzip(&body), body.len()), Ok(body.clone()));
        let mut two = gzip(b"a\n");
        two.extend(gzip(b"b\n"));
        assert_eq!(gunzip(&two, 0), Ok(b"a\nb\n".to_vec()));
        assert_eq!(gunzip(&gzip(b""), 10), Ok(Vec::new()));
        // Members whose sizes the last trailer does not tell: the room grows, nothing is lost.
        let mut many = gzip(&body);
        many.extend(gzip(&body));
        many.extend(gzip(b"x\n"));
        let mut want = body.repeat(2);
        want.extend_from_slice(b"x\n");
        assert_eq!(gunzip(&many, 0), Ok(want.clone()));
        assert_eq!(gunzip(&many, want.len()), Ok(want.clone()));
        assert_eq!(gunzip(&many, want.len() - 1), Err(BodyError::TooLarge));
    }

    #[test]
    fn a_reused_buffer_gives_the_same_body() {
        let body = b"cpu value=1 1\n".repeat(100);
        let stale = vec![0xaa; 5000];
        assert_eq!(gunzip_bounded(&gzip(&body), 0, stale), Ok(body.clone()));
        let short = vec![0xaa; 10];
        assert_eq!(gunzip_bounded(&gzip(&body), 0, short), Ok(body));
    }

    #[test]
    fn a_lying_trailer_changes_nothing_but_the_room() {
        let body = b"cpu value=1 1\n".repeat(1000);
        let good = gzip(&body);
        // ISIZE says 1 byte: libdeflate checks it against what it made, so it refuses the body
        // and flate2 answers as Go does (which checks ISIZE too).
        let mut small = good.clone();
        let at = small.len() - 4;
        small[at..].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(gunzip(&small, 0), flate2_only(&small, 0));
        assert!(gunzip(&small, 0).is_err());
    }

    #[test]
    fn gunzip_errors_use_go_texts() {
        let good = gzip(&b"cpu value=1\n".repeat(100));
        let err = |input: &[u8]| gunzip(input, 0).err().map(|e| e.to_string());
        assert_eq!(err(b""), Some("EOF".into()));
        assert_eq!(err(b"cpu value=1\n"), Some("gzip: invalid header".into()));
        assert_eq!(err(&good[..5]), Some("unexpected EOF".into()));
        assert_eq!(err(&good[..good.len() / 2]), Some("unexpected EOF".into()));
        assert_eq!(err(&good[..good.len() - 4]), Some("unexpected EOF".into()));
        let mut bad_crc = good.clone();
        let at = bad_crc.len() - 6;
        bad_crc[at] ^= 0xff;
        assert_eq!(err(&bad_crc), Some("gzip: invalid checksum".into()));
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk after the member");
        assert_eq!(err(&trailing), Some("gzip: invalid header".into()));
        assert_eq!(gunzip(b"x", 0).err().map(|e| e.status()), Some(400));
    }

    #[test]
    fn gunzip_limit_exact_boundary() {
        let body = vec![b'x'; 1000];
        let gz = gzip(&body);
        assert_eq!(gunzip(&gz, 1000).map(|b| b.len()), Ok(1000));
        assert_eq!(gunzip(&gz, 999), Err(BodyError::TooLarge));
    }

    #[test]
    fn gunzip_bomb_stops_at_the_bound() {
        // ~1 MB of gzip that would inflate to 1 GiB of zeros: 1024 members of 1 MiB each (deflate's
        // ratio tops out near 1000:1, so this is as dense as one member, and quick to build).
        let member = gzip(&vec![0u8; 1 << 20]);
        let bomb = member.repeat(1024);
        assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
        let max = 4 << 20;
        let mut out = Vec::new();
        assert!(matches!(
            inflate_members(&bomb, max, &mut out),
            Inflated::Refused
        ));
        // What libdeflate inflated before giving up: room of no more than max + 1 bytes.
        assert!(out.len() <= max + 1, "{} bytes", out.len());
        assert!(out.capacity() <= 3 * max, "capacity {}", out.capacity());
        assert_eq!(gunzip(&bomb, max), Err(BodyError::TooLarge));
        // One member, one trailer telling its true size: refused before any inflation grows.
        let one = gzip(&vec![0u8; 64 << 20]);
        let mut out = Vec::new();
        assert!(matches!(
            inflate_members(&one, max, &mut out),
            Inflated::Refused
        ));
        assert!(out.capacity() <= 3 * max, "capacity {}", out.capacity());
        assert_eq!(gunzip(&one, max), Err(BodyError::TooLarge));
        // Whole members that together pass the bound.
        let two = gzip(&vec![b'x'; 3 << 20]).repeat(2);
        assert_eq!(gunzip(&two, max), Err(BodyError::TooLarge));
        // The flate2 path stops at max + 1 too.
        let mut out = Vec::new();
        assert_eq!(inflate_into(&bomb, max, &mut out), Err(BodyError::TooLarge));
        assert_eq!(out.len(), max + 1);
    }

    proptest::proptest! {
        /// Bodies of one to three members of any level, whole, cut short, with a flipped byte or
        /// with bytes after them: the answer (body or error text) is flate2's, under any bound.
        #[test]
        fn libdeflate_answers_as_flate2(
            parts in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..3000), 0u32..10), 1..4),
            cut in proptest::option::of(0usize..10_000),
            flip in proptest::option::of((0usize..10_000, 1u8..=255)),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..3),
            max in proptest::prop_oneof![proptest::strategy::Just(0usize), 1usize..10_000],
        ) {
            let mut body = Vec::new();
            for (symbols, level) in &parts {
                // Few distinct bytes: long matches, as in line protocol.
                let data: Vec<u8> = symbols.iter().map(|s| b"cpu=1\n"[*s as usize]).collect();
                body.extend(gzip_level(&data, *level));
            }
            if let Some(cut) = cut {
                body.truncate(cut % (body.len() + 1));
            }
            if let Some((at, x)) = flip {
                if !body.is_empty() {
                    let at = at % body.len();
                    body[at] ^= x;
                }
            }
            body.extend(&tail);
            let want = match body.as_slice() {
                [] => Err(BodyError::Gzip("EOF")),
                b if b.len() < 10 && is_gzip_prefix(b) => Err(BodyError::Gzip("unexpected EOF")),
                [0x1f, 0x8b, 8, ..] => flate2_only(&body, max),
                _ => Err(BodyError::Gzip("gzip: invalid header")),
            };
            proptest::prop_assert_eq!(gunzip(&body, max), want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            max in 0usize..1024,
        ) {
            let out = gunzip(&bytes, max);
            proptest::prop_assert!(max == 0 || out.map_or(true, |o| o.len() <= max));
        }
    }
}
