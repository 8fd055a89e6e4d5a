//! A generation counter that blocking threads and async tasks can both wait on.
//!
//! Used where a user's thread (or task) waits for something the I/O thread produces: fresh
//! metadata, freed buffer memory. Waiting is always bounded by a deadline from the caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Read without the lock (the hot path only reads it); changed under `lock`, so that a
    /// blocking waiter, which checks it under `lock`, cannot miss a change.
    generation: AtomicU64,
    lock: Mutex<()>,
    cond: Condvar,
    notify: Notify,
}

impl Signal {
    /// The current generation; pass it to a wait to wait for the next change.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        {
            let _l = self.lock.lock();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    /// Blocks until the generation moves past `seen` or `deadline` passes. Returns whether it
    /// moved.
    pub(crate) fn wait_blocking(&self, seen: u64, deadline: Instant) -> bool {
        let mut l = self.lock.lock();
        while self.generation() == seen {
            if self.cond.wait_until(&mut l, deadline).timed_out() {
                return self.generation() != seen;
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
            if self.generation() != seen {
                return;
            }
            notified.await;
        }
    }
}
