//! The producer's lifecycle: one object that says whether the producer is running, closing or
//! stopped (and whether it hit a fatal error), and that every wait in the API selects on.
//!
//! ```text
//!   Running ──close()──▶ Closing ──drained──▶ Stopped
//!      │                    │                    ▲
//!      └──close timeout / forced────▶ ForceClosing ─┘  (everything left fails with Closed)
//!   a fatal error can be set once, in any state; it does not change the state
//! ```
//!
//! User threads wait here for whatever the I/O thread produces (fresh metadata, freed buffer
//! memory, a transactional result, the I/O thread's end): each wait passes a `poll` closure
//! that returns the awaited value when it is there, and the wait also ends as soon as the
//! lifecycle reaches the state its [`Ends`] names, or a fatal error is set. Everything that can
//! make a waiter's `poll` succeed calls [`Lifecycle::notify`], and so does every state change:
//! no wait can miss a close. (mini-redis's `Shutdown` is the model: one signal that every
//! waiter selects on.)
//!
//! Async waits need no runtime of the caller's and none of Volley's: their deadlines are kept
//! here and fired by the I/O thread ([`Lifecycle::fire_timers`]), and once the producer has
//! stopped every wait ends by its state check before it would need a timer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::util::time::{self, FOREVER};

/// Where the producer is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum State {
    /// Accepting records.
    Running = 0,
    /// `close` was called (or the last handle dropped): no new records; what is queued and in
    /// flight is delivered.
    Closing = 1,
    /// A forced close: everything unresolved fails with `Error::Closed`.
    ForceClosing = 2,
    /// The I/O thread has exited; every record has resolved.
    Stopped = 3,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Running,
            1 => State::Closing,
            2 => State::ForceClosing,
            _ => State::Stopped,
        }
    }
}

/// When a wait ends early (besides its own answer and its deadline).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    /// The wait ends with `Error::Closed(closed)` once the state is at least this.
    pub at: State,
    /// The wait ends with the fatal error once one is set.
    pub on_fatal: bool,
    /// The `Error::Closed` message.
    pub closed: &'static str,
    /// The wait ends with the authentication error of a connection attempt that failed while
    /// it waited (Java's metadata "fatal" authentication exception): a send or transactional
    /// call fails with it at once instead of waiting out `max.block.ms`.
    pub on_auth_failure: bool,
}

impl Ends {
    /// A wait for something a new record needs (metadata, buffer memory): ends at close, as
    /// Java's `send` ends with "Producer closed while send in progress".
    pub(crate) const fn on_close(closed: &'static str) -> Ends {
        Ends {
            at: State::Closing,
            on_fatal: true,
            closed,
            on_auth_failure: true,
        }
    }

    /// A wait for a result the I/O thread still works on during a graceful close
    /// (transactional calls): ends at a forced close or stop.
    pub(crate) const fn on_stop(closed: &'static str) -> Ends {
        Ends {
            at: State::ForceClosing,
            on_fatal: true,
            closed,
            on_auth_failure: true,
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    state: AtomicU8,
    fatal: OnceLock<Error>,
    /// The last error the I/O thread met connecting to a broker, cleared when a connection
    /// succeeds: the cause reported by a wait that times out (no broker reachable).
    io_error: Mutex<Option<Error>>,
    /// The last authentication failure (SASL or TLS) of a connection attempt, cleared when a
    /// connection succeeds, and how many there have been (a wait ends on a new one).
    auth_failure: Mutex<Option<Error>>,
    auth_failures: AtomicU64,
    /// Bumped (under `lock`) by every `notify`; a blocking waiter checks it under `lock`.
    generation: AtomicU64,
    lock: Mutex<()>,
    cond: Condvar,
    notify: Notify,
    /// Deadlines of async waits, fired by the I/O thread.
    timers: Mutex<BinaryHeap<Reverse<Instant>>>,
    /// Wakes the I/O thread (new work, commands, an earlier timer).
    io_wakeup: Arc<Notify>,
    /// When the I/O thread will next poll the sender at the latest: 0 while it is awake (or
    /// about to poll), else 1 + nanoseconds from `base` to its wait's deadline (`u64::MAX`:
    /// no deadline). See [`Lifecycle::wake_io_unless_due_by`].
    io_due: AtomicU64,
    /// The origin of `io_due`.
    base: Instant,
    /// The I/O thread, once it runs: callbacks, interceptors and the delivery handler run on it,
    /// and a wait there would wait for itself.
    io_thread: OnceLock<std::thread::ThreadId>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            state: AtomicU8::new(State::Running as u8),
            fatal: OnceLock::new(),
            io_error: Mutex::new(None),
            auth_failure: Mutex::new(None),
            auth_failures: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            notify: Notify::new(),
            timers: Mutex::new(BinaryHeap::new()),
            io_wakeup: Arc::new(Notify::new()),
            io_due: AtomicU64::new(IO_AWAKE),
            base: Instant::now(),
            io_thread: OnceLock::new(),
        }
    }
}

/// `Lifecycle::io_due` while the I/O thread is awake.
const IO_AWAKE: u64 = 0;

impl Lifecycle {
    /// The current state.
    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Whether the producer accepts records (the send path's check: one atomic load).
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Running as u8
    }

    /// Moves the state forward to `to` (never back). Returns whether it moved.
    fn advance(&self, to: State) -> bool {
        let moved = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s < to as u8).then_some(to as u8)
            })
            .is_ok();
        if moved {
            self.notify();
        }
        moved
    }

    /// Running → Closing. Returns whether this call closed the producer.
    pub(crate) fn begin_close(&self) -> bool {
        self.advance(State::Closing)
    }

    /// → ForceClosing (unless already stopped).
    pub(crate) fn force_close(&self) -> bool {
        self.advance(State::ForceClosing)
    }

    /// The I/O thread has exited.
    pub(crate) fn mark_stopped(&self) {
        self.advance(State::Stopped);
    }

    /// Sets the fatal error, once; later calls keep the first. Returns the error in force.
    pub(crate) fn set_fatal(&self, e: Error) -> Error {
        let e = match e {
            Error::Fatal(_) => e,
            e => Error::Fatal(Box::new(e)),
        };
        let set = self.fatal.get_or_init(|| e).clone();
        self.notify();
        set
    }

    /// The fatal error, if one is set.
    pub(crate) fn fatal(&self) -> Option<&Error> {
        self.fatal.get()
    }

    /// Records (or with `None`, clears) the last connection error of the I/O thread.
    pub(crate) fn set_io_error(&self, e: Option<Error>) {
        *self.io_error.lock() = e;
    }

    /// The last connection error of the I/O thread, if the last attempt failed.
    pub(crate) fn io_error(&self) -> Option<Box<Error>> {
        self.io_error.lock().clone().map(Box::new)
    }

    /// Records an authentication failure of a connection attempt and wakes every wait, so
    /// that those that end on one ([`Ends::on_auth_failure`]) fail with it.
    pub(crate) fn set_auth_failure(&self, e: Error) {
        *self.auth_failure.lock() = Some(e);
        self.auth_failures.fetch_add(1, Ordering::AcqRel);
        self.notify();
    }

    /// A connection authenticated: the producer works again (later waits do not fail).
    pub(crate) fn clear_auth_failure(&self) {
        *self.auth_failure.lock() = None;
    }

    /// `Err` with the authentication failure if one happened since `seen` (a count of
    /// [`Lifecycle::auth_failures`]) and `ends` says a wait ends on it.
    fn check_auth(&self, ends: Ends, seen: u64) -> Result<()> {
        if ends.on_auth_failure && self.auth_failures.load(Ordering::Acquire) != seen {
            if let Some(e) = self.auth_failure.lock().clone() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// `Err` if a wait with these `ends` must end now.
    pub(crate) fn check(&self, ends: Ends) -> Result<()> {
        if ends.on_fatal {
            if let Some(e) = self.fatal() {
                return Err(e.clone());
            }
        }
        if self.state() >= ends.at {
            return Err(Error::Closed(ends.closed));
        }
        Ok(())
    }

    /// Records the calling thread as the producer's I/O thread (once, as it starts).
    pub(crate) fn set_io_thread(&self) {
        let _ = self.io_thread.set(std::thread::current().id());
    }

    /// Whether the calling thread is the producer's I/O thread (a callback, an interceptor's
    /// `on_acknowledgement` or the delivery handler).
    pub(crate) fn on_io_thread(&self) -> bool {
        self.io_thread
            .get()
            .is_some_and(|t| *t == std::thread::current().id())
    }

    /// `Err(IllegalState)` on the I/O thread: what a wait there waits for (metadata, buffer
    /// memory, a transactional result) only the I/O thread can bring, so it would stall the
    /// producer for the whole wait (Java's network thread does, up to `max.block.ms`).
    fn refuse_on_io_thread(&self) -> Result<()> {
        if self.on_io_thread() {
            return Err(Error::IllegalState(
                "a call from a callback on the producer's I/O thread cannot wait for metadata, \
                 buffer memory or a transactional result (only that thread brings them): \
                 make it from another thread"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Wakes every waiter (they re-check their condition).
    pub(crate) fn notify(&self) {
        {
            let _l = self.lock.lock();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    /// Blocks until `poll` gives a value (`Ok(Some)`), `deadline` passes (`Ok(None)`; `None`
    /// waits without a bound), or `ends` says the wait is over (`Err`). `poll` runs first,
    /// and again after every notification. On the I/O thread it does not wait: `IllegalState`
    /// unless the first `poll` gives a value.
    pub(crate) fn wait_blocking<T>(
        &self,
        ends: Ends,
        deadline: Option<Instant>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        let auth_seen = self.auth_failures.load(Ordering::Acquire);
        loop {
            let seen = self.generation.load(Ordering::Acquire);
            if let Some(v) = poll() {
                return Ok(Some(v));
            }
            self.check(ends)?;
            self.check_auth(ends, auth_seen)?;
            self.refuse_on_io_thread()?;
            let now = Instant::now();
            let d = deadline.unwrap_or_else(|| time::deadline(now, FOREVER));
            if now >= d {
                return Ok(None);
            }
            let mut l = self.lock.lock();
            while self.generation.load(Ordering::Acquire) == seen {
                if self.cond.wait_until(&mut l, d).timed_out() {
                    break;
                }
            }
        }
    }

    /// [`Lifecycle::wait_blocking`] for async callers, on any executor. Cancellation-safe: a
    /// dropped wait leaves at most a timer entry behind, which fires harmlessly.
    pub(crate) async fn wait_async<T>(
        &self,
        ends: Ends,
        deadline: Option<Instant>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        let mut timer_set = false;
        let auth_seen = self.auth_failures.load(Ordering::Acquire);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the checks, so a notify between them and the await is not lost.
            notified.as_mut().enable();
            if let Some(v) = poll() {
                return Ok(Some(v));
            }
            self.check(ends)?;
            self.check_auth(ends, auth_seen)?;
            self.refuse_on_io_thread()?;
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(None);
                }
                if !timer_set {
                    timer_set = true;
                    self.add_timer(d);
                }
            }
            notified.await;
        }
    }

    fn add_timer(&self, at: Instant) {
        let earliest = {
            let mut t = self.timers.lock();
            let earliest = t.peek().is_none_or(|Reverse(e)| at < *e);
            t.push(Reverse(at));
            earliest
        };
        if earliest {
            self.io_wakeup.notify_one();
        }
    }

    /// The earliest deadline of an async wait (the I/O thread wakes for it).
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers.lock().peek().map(|Reverse(t)| *t)
    }

    /// Fires the deadlines that have passed: their waiters wake and see the time.
    pub(crate) fn fire_timers(&self, now: Instant) {
        let fired = {
            let mut t = self.timers.lock();
            let mut fired = false;
            while t.peek().is_some_and(|Reverse(at)| *at <= now) {
                t.pop();
                fired = true;
            }
            fired
        };
        if fired {
            self.notify();
        }
    }

    /// Wakes the I/O thread.
    pub(crate) fn wake_io(&self) {
        self.io_wakeup.notify_one();
    }

    /// The I/O thread is awake: it is about to poll the sender (which looks at every partition
    /// queue). Called before each poll.
    pub(crate) fn io_awake(&self) {
        self.io_due.store(IO_AWAKE, Ordering::SeqCst);
    }

    /// The I/O thread is about to wait, until `deadline` at the latest (`None`: until woken),
    /// and will poll the sender then. Called after the poll, before the wait.
    pub(crate) fn io_waiting_until(&self, deadline: Option<Instant>) {
        let due = deadline.map_or(u64::MAX, |d| self.due_nanos(d));
        self.io_due.store(due, Ordering::SeqCst);
    }

    fn due_nanos(&self, t: Instant) -> u64 {
        let n = t.saturating_duration_since(self.base).as_nanos();
        u64::try_from(n)
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
            .min(u64::MAX - 1)
    }

    /// Wakes the I/O thread unless it is already due to poll the sender by `by`: a new batch
    /// that is sendable only at `by` (its `linger.ms` end) needs no wake-up when the I/O thread
    /// will look at the queues before then anyway (it then sets its timer for the batch).
    ///
    /// Sound only for work the next poll is sure to see: the caller has put it in a queue that
    /// an earlier poll already visited (so every later poll visits it too), under that queue's
    /// lock, before this call. Then either the I/O thread's next poll locks the queue after
    /// the caller did and sees the work, or it locked it first; but then its `io_awake` store,
    /// made before that poll, happened before the caller's load here, which therefore reads
    /// `IO_AWAKE` or a later deadline, published after that poll, and the argument repeats
    /// for the poll at that deadline. A wake-up is never lost; only spared.
    pub(crate) fn wake_io_unless_due_by(&self, by: Instant) {
        let due = self.io_due.load(Ordering::SeqCst);
        if due == IO_AWAKE || due > self.due_nanos(by) {
            self.io_wakeup.notify_one();
        }
    }

    /// What the I/O thread waits on for wake-ups.
    pub(crate) fn io_wakeup(&self) -> &Arc<Notify> {
        &self.io_wakeup
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn states_only_move_forward() {
        let l = Lifecycle::default();
        assert!(l.is_running());
        assert!(l.begin_close());
        assert!(!l.begin_close(), "a second close is not the first");
        assert_eq!(l.state(), State::Closing);
        assert!(l.force_close());
        l.mark_stopped();
        assert!(!l.force_close());
        assert_eq!(l.state(), State::Stopped);
    }

    #[test]
    fn fatal_is_set_once() {
        let l = Lifecycle::default();
        let first = l.set_fatal(Error::IllegalState("first".into()));
        let second = l.set_fatal(Error::IllegalState("second".into()));
        assert!(first.to_string().contains("first"));
        assert!(second.to_string().contains("first"), "{second}");
        assert!(matches!(l.check(Ends::on_stop("x")), Err(Error::Fatal(_))));
    }

    #[test]
    fn a_blocking_wait_ends_at_close() {
        let l = Arc::new(Lifecycle::default());
        let l2 = l.clone();
        let t = std::thread::spawn(move || {
            l2.wait_blocking(Ends::on_close("closed while waiting"), None, || None::<()>)
        });
        std::thread::sleep(Duration::from_millis(50));
        l.begin_close();
        let r = t.join().unwrap();
        assert!(
            matches!(r, Err(Error::Closed("closed while waiting"))),
            "{r:?}"
        );
    }

    #[test]
    fn a_blocking_wait_times_out_and_sees_its_value() {
        let l = Lifecycle::default();
        let d = Instant::now() + Duration::from_millis(20);
        assert!(matches!(
            l.wait_blocking(Ends::on_close("x"), Some(d), || None::<()>),
            Ok(None)
        ));
        assert!(Instant::now() >= d);
        assert!(matches!(
            l.wait_blocking(Ends::on_close("x"), Some(d), || Some(7)),
            Ok(Some(7))
        ));
    }

    #[test]
    fn async_waits_end_at_close_and_at_their_fired_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let l = Arc::new(Lifecycle::default());
        // A deadline is fired by whoever plays the I/O thread.
        let d = Instant::now() + Duration::from_millis(30);
        let l2 = l.clone();
        let firer = std::thread::spawn(move || {
            while l2.next_timer().is_none() {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(40));
            l2.fire_timers(Instant::now());
        });
        let r = rt.block_on(l.wait_async(Ends::on_close("x"), Some(d), || None::<()>));
        assert!(matches!(r, Ok(None)), "{r:?}");
        firer.join().unwrap();
        let l3 = l.clone();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            l3.begin_close();
        });
        let r = rt.block_on(l.wait_async(Ends::on_close("closing"), None, || None::<()>));
        assert!(matches!(r, Err(Error::Closed("closing"))), "{r:?}");
        closer.join().unwrap();
    }
}
