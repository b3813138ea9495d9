//! The decoder's intrinsics: a 16-byte "equals any of these bytes" mask and a prefetch hint.
//! SSE2 is part of the x86_64 baseline, so no runtime detection is needed; other targets use
//! plain Rust.

/// Bit `k` of the result is set when `block[k]` equals one of `set`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn eq_any_mask<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    // SAFETY: SSE2 is always available on x86_64; `block` is 16 readable bytes and
    // `_mm_loadu_si128` has no alignment requirement.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr() as *const __m128i);
        let mut acc = _mm_setzero_si128();
        for b in set {
            acc = _mm_or_si128(acc, _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)));
        }
        _mm_movemask_epi8(acc) as u32
    }
}

/// Bit `k` of the result is set when `block[k]` equals one of `set`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn eq_any_mask<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    let mut m = 0u32;
    for (k, &c) in block.iter().enumerate() {
        m |= (set.contains(&c) as u32) << k;
    }
    m
}

/// Asks the CPU to bring the cache line holding `buf[at]` closer (a hint: no effect on results,
/// nothing happens when `at` is out of range). Used where a walk jumps through a large buffer in
/// an order known ahead of time (sealing reads a memtable's log series by series).
#[inline(always)]
pub(crate) fn prefetch(buf: &[u8], at: usize) {
    prefetch_hint::<HINT_READ>(buf, at);
}

/// `prefetch` with intent to write (`prefetchw`): a store to a line that is not cached first
/// reads it from memory (an RFO).
#[inline(always)]
pub(crate) fn prefetch_write(buf: &[u8], at: usize) {
    prefetch_hint::<HINT_WRITE>(buf, at);
}

#[cfg(target_arch = "x86_64")]
const HINT_READ: i32 = std::arch::x86_64::_MM_HINT_T0;
#[cfg(target_arch = "x86_64")]
const HINT_WRITE: i32 = std::arch::x86_64::_MM_HINT_ET0;
#[cfg(not(target_arch = "x86_64"))]
const HINT_READ: i32 = 0;
#[cfg(not(target_arch = "x86_64"))]
const HINT_WRITE: i32 = 1;

#[inline(always)]
fn prefetch_hint<const HINT: i32>(buf: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = buf.get(at) {
        // SAFETY: SSE is part of the x86_64 baseline; a prefetch never faults and `b` is a valid
        // reference anyway.
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(b as *const u8 as *const i8) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, at);
}
