//! What the randomised differential tests share: the oracle (`influxd.rs`) behind a plain
//! request helper, and the seeded generator.

use super::HttpResponse;
use std::net::SocketAddr;

#[allow(unused_imports)]
pub use super::influxd::{start_influxd, start_influxd_with, Influxd};

/// One request without extra headers on a fresh connection.
pub fn raw(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> HttpResponse {
    super::influxd::raw(addr, method, target, &[], body)
}

/// A small deterministic generator; the seed is printed on failure.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `LINESHARD_TEST_SEED` replays a failed run; otherwise the clock.
pub fn seed() -> u64 {
    if let Some(s) = std::env::var("LINESHARD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
