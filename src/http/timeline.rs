//! The per-request timeline: when each step of a request's path happened, kept per core for the
//! last `[http] request-timeline` requests and answered by `GET /debug/requests`.
//!
//! A [`Timeline`] rides with the request (the connection stamps the head and the body, the write
//! handler the decode, the routing and the owners' apply, WAL write and sync, the connection the
//! answer). Stamps are nanoseconds since the head was read; a step a request did not take (a
//! `/ping` has no WAL) stays 0. Off (0 kept), a stamp is one branch and no clock read.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Instant;

/// The steps, in path order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The request head is parsed (the clock starts here).
    Head = 0,
    /// The whole body is read (and gunzipped).
    Body,
    /// Every line is decoded and its point is in its partition's batch.
    Decoded,
    /// The field-type claims are decided; the batches go to their owner cores.
    Routed,
    /// The last owner applied its batch to the memtable and queued its WAL record.
    Applied,
    /// The last owner's WAL write that holds the record completed.
    WalWritten,
    /// The last owner's fdatasync that made it durable completed (0 when the policy has none).
    Synced,
    /// The answer is written to the socket.
    Answered,
}

/// The steps' names in `GET /debug/requests`, in `Step` order.
pub const STEP_NAMES: [&str; 8] = [
    "head",
    "body",
    "decoded",
    "routed",
    "applied",
    "wal_written",
    "synced",
    "answered",
];

/// One request's stamps. `start` is `None` when the timeline is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline {
    start: Option<Instant>,
    at_ns: [u32; 8],
    /// The sync it waited for, as nanoseconds since this core's first timeline: requests that
    /// share a sync share this number.
    sync_id: u64,
}

/// One kept request: its stamps and the id of the sync it waited for.
type Kept = ([u32; 8], u64);

thread_local! {
    /// This core's last requests, oldest first, and how many it keeps (0: off).
    static KEPT: RefCell<(usize, VecDeque<Kept>)> = const { RefCell::new((0, VecDeque::new())) };
    /// The origin of `sync_id`s.
    static EPOCH: Instant = Instant::now();
}

/// Keeps the last `n` requests' timelines on this core (0: none, and no stamps are taken).
pub fn keep(n: usize) {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        k.0 = n;
        k.1 = VecDeque::with_capacity(n.min(1 << 16));
    });
}

/// Whether this core keeps timelines.
pub fn enabled() -> bool {
    KEPT.with(|k| k.borrow().0 > 0)
}

impl Timeline {
    /// A timeline started now when this core keeps timelines; else an inert one.
    pub fn start() -> Timeline {
        Timeline {
            start: enabled().then(Instant::now),
            at_ns: [0; 8],
            sync_id: 0,
        }
    }

    /// A timeline that takes no stamps (a write the server makes itself).
    pub fn off() -> Timeline {
        Timeline {
            start: None,
            at_ns: [0; 8],
            sync_id: 0,
        }
    }

    /// Whether stamps are taken.
    pub fn is_on(&self) -> bool {
        self.start.is_some()
    }

    /// Stamps `step` now.
    pub fn stamp(&mut self, step: Step) {
        if self.start.is_some() {
            self.stamp_at(step, Instant::now());
        }
    }

    /// Stamps `step` at `at` (a time taken elsewhere, e.g. on an owner core).
    pub fn stamp_at(&mut self, step: Step, at: Instant) {
        if let Some(start) = self.start {
            let ns = at.saturating_duration_since(start).as_nanos();
            self.at_ns[step as usize] = u32::try_from(ns).unwrap_or(u32::MAX);
            if step == Step::Synced {
                let since = EPOCH.with(|e| at.saturating_duration_since(*e).as_nanos());
                self.sync_id = u64::try_from(since).unwrap_or(u64::MAX);
            }
        }
    }

    /// Stamps the answer and keeps the timeline in this core's ring.
    pub fn finish(mut self) {
        if self.start.is_none() {
            return;
        }
        self.stamp(Step::Answered);
        KEPT.with(|k| {
            let mut k = k.borrow_mut();
            let (n, ring) = &mut *k;
            if *n == 0 {
                return;
            }
            while ring.len() >= *n {
                ring.pop_front();
            }
            ring.push_back((self.at_ns, self.sync_id));
        })
    }
}

/// This core's kept timelines as JSON: the step names, per step the median and 99th percentile
/// (of the requests that took it), how many distinct fdatasyncs the kept requests waited for
/// (requests per sync = kept requests / that), and every kept request's stamps, oldest first.
pub fn dump_json(core: usize) -> Vec<u8> {
    KEPT.with(|k| {
        let k = k.borrow();
        let (n, ring) = &*k;
        let mut out =
            format!(r#"{{"core":{core},"kept":{n},"unit":"ns since the head was read","steps":["#);
        let names: Vec<String> = STEP_NAMES.iter().map(|s| format!("\"{s}\"")).collect();
        out.push_str(&names.join(","));
        out.push_str(r#"],"p50":["#);
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for s in 0..STEP_NAMES.len() {
            let mut v: Vec<u32> = ring.iter().map(|r| r.0[s]).filter(|&x| x > 0).collect();
            v.sort_unstable();
            let pick = |q: f64| {
                if v.is_empty() {
                    0
                } else {
                    v[((v.len() - 1) as f64 * q).round() as usize]
                }
            };
            p50.push(pick(0.5).to_string());
            p99.push(pick(0.99).to_string());
        }
        out.push_str(&p50.join(","));
        out.push_str(r#"],"p99":["#);
        out.push_str(&p99.join(","));
        let syncs: std::collections::HashSet<u64> = ring
            .iter()
            .filter(|r| r.0[Step::Synced as usize] > 0)
            .map(|r| r.1)
            .collect();
        out.push_str(&format!(r#"],"syncs":{},"requests":["#, syncs.len()));
        let rows: Vec<String> = ring
            .iter()
            .map(|r| {
                let cells: Vec<String> = r.0.iter().map(u32::to_string).collect();
                format!("[{}]", cells.join(","))
            })
            .collect();
        out.push_str(&rows.join(","));
        out.push_str("]}\n");
        out.into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_takes_no_stamps_and_keeps_nothing() {
        keep(0);
        let mut t = Timeline::start();
        assert!(!t.is_on());
        t.stamp(Step::Body);
        t.finish();
        let json = String::from_utf8(dump_json(0)).unwrap();
        assert!(json.contains(r#""requests":[]"#), "{json}");
    }

    #[test]
    fn keeps_the_last_n_in_order_with_monotonic_stamps() {
        keep(2);
        for _ in 0..3 {
            let mut t = Timeline::start();
            assert!(t.is_on());
            t.stamp(Step::Body);
            t.stamp(Step::Decoded);
            t.finish();
        }
        let kept = KEPT.with(|k| k.borrow().1.clone());
        assert_eq!(kept.len(), 2);
        for (r, sync_id) in kept {
            assert!(r[Step::Body as usize] <= r[Step::Decoded as usize]);
            assert!(r[Step::Decoded as usize] <= r[Step::Answered as usize]);
            assert_eq!(r[Step::Synced as usize], 0, "not taken");
            assert_eq!(sync_id, 0);
        }
        let v: serde_json::Value = serde_json::from_slice(&dump_json(3)).unwrap();
        assert_eq!(v["core"], 3);
        assert_eq!(v["requests"].as_array().unwrap().len(), 2);
        assert_eq!(v["steps"][7], "answered");
        assert_eq!(v["syncs"], 0);
    }
}
