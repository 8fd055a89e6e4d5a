//! A generation counter that blocking threads and async tasks can both wait on.
//!
//! Used where a user's thread (or task) waits for something the I/O thread produces: fresh
//! metadata, freed buffer memory. Waiting is always bounded by a deadline from the caller.

use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    generation: Mutex<u64>,
    cond: Condvar,
    notify: Notify,
}

impl Signal {
    /// The current generation; pass it to a wait to wait for the next change.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        *self.generation.lock() += 1;
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    /// Blocks until the generation moves past `seen` or `deadline` passes. Returns whether it
    /// moved.
    pub(crate) fn wait_blocking(&self, seen: u64, deadline: Instant) -> bool {
        let mut g = self.generation.lock();
        while *g == seen {
            if self.cond.wait_until(&mut g, deadline).timed_out() {
                return *g != seen;
            }
        }
        true
    }

    /// Waits (async) until the generation moves past `seen`. The caller bounds it with a
    /// timeout.
    pub(crate) async fn wait_async(&self, seen: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a notify between the check and the await is not lost.
            notified.as_mut().enable();
            if *self.generation.lock() != seen {
                return;
            }
            notified.await;
        }
    }
}
