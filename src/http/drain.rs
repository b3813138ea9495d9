//! A core's drain: set once when the server shuts down gracefully. The accept loop stops
//! accepting, a connection answers what it already received with `Connection: close`, and an
//! idle connection waits [`DRAIN_IDLE_GRACE`] for a request already on its way before it closes.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use glommio::sync::Semaphore;

/// How long an idle keep-alive connection still waits for a request once the drain began: a
/// closed-loop client sends its next request right after the last answer, and that request must
/// get an answer (with `Connection: close`), not a reset.
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_millis(200);

/// The drain state of one core, shared by its accept loop and connections (`Rc`, one thread).
pub struct Drain {
    draining: Cell<bool>,
    /// Never has a permit; closed when the drain begins, which wakes every waiter at once (a
    /// waiter that goes away unlinks itself, so idle connections leave nothing behind).
    gate: Semaphore,
    /// Connections open on this core (shared with the core's `/metrics` counters).
    open: Rc<Cell<usize>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            draining: Cell::new(false),
            gate: Semaphore::new(0),
            open: Rc::default(),
        }
    }
}

impl Drain {
    /// A drain that keeps its count of open connections in `open`.
    pub fn counting(open: Rc<Cell<usize>>) -> Self {
        Drain {
            open,
            ..Drain::default()
        }
    }

    /// Begins the drain and wakes everything waiting for it.
    pub fn start(&self) {
        self.draining.set(true);
        self.gate.close();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Resolves once the drain began.
    pub async fn started(&self) {
        if !self.draining.get() {
            // Fails (closed) when the drain begins; it never succeeds: no permit exists.
            let _ = self.gate.acquire(1).await;
        }
    }

    /// Connections open on this core.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    pub(super) fn opened(&self) {
        self.open.set(self.open.get() + 1);
    }

    pub(super) fn closed(&self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}
