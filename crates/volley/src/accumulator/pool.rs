//! The buffer pool: `buffer.memory` bytes shared by every batch of the producer.
//!
//! Buffers of exactly `batch.size` capacity are recycled on a free list; a batch that needs more
//! (a record larger than `batch.size`) gets an exact-size buffer that is dropped, not pooled,
//! when the batch completes. Memory is accounted in bytes of capacity: the sum of capacities of
//! buffers handed out plus those on the free list never exceeds `buffer.memory`.
//!
//! A caller that finds the pool exhausted waits (blocking, up to its deadline, or async) until
//! completed batches give memory back. Waiters are woken together and race for the memory;
//! the bound on each wait is what keeps this from starving anyone forever.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::lifecycle::{Ends, Lifecycle};
use crate::util::time;

#[derive(Debug)]
struct PoolState {
    /// Recycled buffers of `poolable` capacity, cleared.
    free: Vec<Vec<u8>>,
    /// Bytes neither handed out nor on the free list.
    unallocated: usize,
    /// Callers currently waiting for memory.
    waiters: usize,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct BufferPool {
    total: usize,
    poolable: usize,
    state: Mutex<PoolState>,
    /// Waiters wait on the producer's lifecycle, which `deallocate` notifies.
    lifecycle: Arc<Lifecycle>,
    /// Nanoseconds callers spent waiting for memory (`bufferpool-wait-time-ns-total`), added
    /// when a wait ends (only waits read the clock).
    wait_ns: AtomicU64,
}

impl BufferPool {
    /// A pool of `total` bytes recycling buffers of `poolable` bytes.
    pub(crate) fn new(total: usize, poolable: usize, lifecycle: Arc<Lifecycle>) -> BufferPool {
        BufferPool {
            total,
            poolable: poolable.max(1),
            state: Mutex::new(PoolState {
                free: Vec::new(),
                unallocated: total,
                waiters: 0,
            }),
            lifecycle,
            wait_ns: AtomicU64::new(0),
        }
    }

    /// `buffer.memory`.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Bytes available without waiting (free list plus unallocated).
    pub(crate) fn available(&self) -> usize {
        let s = self.state.lock();
        s.unallocated + s.free.len() * self.poolable
    }

    /// Callers waiting for memory now (Java's `waiting-threads`).
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiters
    }

    /// Total time callers waited for memory, in nanoseconds (Java's
    /// `bufferpool-wait-time-ns-total`; a wait in progress is not counted yet).
    pub(crate) fn wait_time_ns(&self) -> u64 {
        self.wait_ns.load(Ordering::Relaxed)
    }

    /// Whether someone is waiting for memory: the sender then treats every batch as ready, so
    /// that sending frees memory sooner (Java's `RecordAccumulator.exhausted`).
    pub(crate) fn has_waiters(&self) -> bool {
        self.state.lock().waiters > 0
    }

    /// Takes a buffer of at least `size` bytes without waiting, if memory allows.
    pub(crate) fn try_allocate(&self, size: usize) -> Option<Vec<u8>> {
        let mut s = self.state.lock();
        self.take(&mut s, size)
    }

    fn take(&self, s: &mut PoolState, size: usize) -> Option<Vec<u8>> {
        if size <= self.poolable {
            if let Some(buf) = s.free.pop() {
                return Some(buf);
            }
            if s.unallocated >= self.poolable {
                s.unallocated -= self.poolable;
                return Some(Vec::with_capacity(self.poolable));
            }
            // Free-list buffers can be released to make room only when none is left: fall
            // through to report exhaustion.
            return None;
        }
        // An exact-size buffer: release pooled buffers until enough is unallocated.
        while s.unallocated < size {
            let Some(_) = s.free.pop() else { break };
            s.unallocated += self.poolable;
        }
        if s.unallocated >= size {
            s.unallocated -= size;
            Some(Vec::with_capacity(size))
        } else {
            None
        }
    }

    fn check_size(&self, size: usize) -> Result<()> {
        if size > self.total {
            return Err(Error::RecordTooLarge {
                size,
                limit: self.total,
                limit_key: "buffer.memory",
            });
        }
        Ok(())
    }

    /// Takes a buffer of at least `size` bytes, blocking until `deadline` (or `max_block` from
    /// the first wait) if memory is short. Fails with `RecordTooLarge` at once if `size` exceeds
    /// `buffer.memory`, with a `Timeout` naming `max.block.ms` when the deadline passes, and with
    /// `Closed` (or the fatal error) as soon as the producer closes or fails while it waits
    /// (Java's "Producer closed while allocating memory").
    pub(crate) fn allocate(
        &self,
        size: usize,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Vec<u8>> {
        let deadline = match self.allocate_now(size, deadline, max_block)? {
            Ok(b) => return Ok(b),
            Err(d) => d,
        };
        let waiter = Waiter::new(self);
        let r = self
            .lifecycle
            .wait_blocking(WAIT_ENDS, Some(deadline), || waiter.take(size));
        self.finish_wait(r, max_block)
    }

    /// Like [`BufferPool::allocate`], awaiting instead of blocking, on any executor.
    /// Cancellation-safe: a dropped call leaves the pool as it was.
    pub(crate) async fn allocate_async(
        &self,
        size: usize,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Vec<u8>> {
        let deadline = match self.allocate_now(size, deadline, max_block)? {
            Ok(b) => return Ok(b),
            Err(d) => d,
        };
        let waiter = Waiter::new(self);
        let r = self
            .lifecycle
            .wait_async(WAIT_ENDS, Some(deadline), || waiter.take(size))
            .await;
        self.finish_wait(r, max_block)
    }

    /// A buffer without waiting (`Ok(Ok)`), or the deadline to wait until (`Ok(Err)`): the
    /// caller's (when it already waited for metadata) or `max.block.ms` from now. Only a wait
    /// reads the clock.
    fn allocate_now(
        &self,
        size: usize,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<std::result::Result<Vec<u8>, Instant>> {
        self.check_size(size)?;
        Ok(match self.try_allocate(size) {
            Some(b) => Ok(b),
            None => Err(deadline.unwrap_or_else(|| time::deadline(Instant::now(), max_block))),
        })
    }

    fn finish_wait(&self, r: Result<Option<Vec<u8>>>, max_block: Duration) -> Result<Vec<u8>> {
        match r? {
            Some(b) => Ok(b),
            None => Err(Error::Timeout {
                operation: "waiting for buffer memory (buffer.memory full, max.block.ms)",
                after: max_block,
                cause: self.lifecycle.io_error(),
            }),
        }
    }

    /// Gives a buffer back. Buffers of exactly the poolable capacity go on the free list;
    /// others are dropped and their capacity returned as unallocated memory.
    pub(crate) fn deallocate(&self, mut buf: Vec<u8>, accounted: usize) {
        let waiters = {
            let mut s = self.state.lock();
            if accounted == self.poolable && buf.capacity() >= self.poolable {
                buf.clear();
                s.free.push(buf);
            } else {
                s.unallocated += accounted;
            }
            s.waiters
        };
        // A waiter registers (under the state lock) in the same critical section in which it
        // found the pool empty, so if none is registered here, none can miss this buffer.
        if waiters > 0 {
            self.lifecycle.notify();
        }
    }

    /// The capacity that a buffer for `size` bytes is accounted at.
    pub(crate) fn accounted_size(&self, size: usize) -> usize {
        size.max(self.poolable)
    }
}

/// How a wait for memory ends early.
const WAIT_ENDS: Ends = Ends::on_close("producer closed while allocating buffer memory");

/// A caller waiting for memory: counted in `waiters` from its first failed attempt until it is
/// dropped (so that a dropped async wait is uncounted too).
struct Waiter<'a> {
    pool: &'a BufferPool,
    /// An atomic only so that an async wait holding it is `Send`.
    counted: AtomicBool,
    started: Instant,
}

impl<'a> Waiter<'a> {
    fn new(pool: &'a BufferPool) -> Waiter<'a> {
        Waiter {
            pool,
            counted: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// A buffer if memory allows; otherwise registers as a waiter in the same critical section
    /// in which the pool was found short, so that `deallocate` cannot miss it.
    fn take(&self, size: usize) -> Option<Vec<u8>> {
        let mut s = self.pool.state.lock();
        let b = self.pool.take(&mut s, size);
        if b.is_none() && !self.counted.swap(true, Ordering::Relaxed) {
            s.waiters += 1;
        }
        b
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let waited = self.started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.pool.wait_ns.fetch_add(waited, Ordering::Relaxed);
        if self.counted.load(Ordering::Relaxed) {
            self.pool.state.lock().waiters -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_recycles_and_bounds_memory() {
        let pool = BufferPool::new(300, 100, Arc::default());
        let a = pool.try_allocate(10).unwrap();
        let b = pool.try_allocate(100).unwrap();
        let c = pool.try_allocate(50).unwrap();
        assert!(pool.try_allocate(1).is_none(), "300 bytes handed out");
        assert_eq!(pool.available(), 0);
        pool.deallocate(a, 100);
        assert_eq!(pool.available(), 100);
        let d = pool.try_allocate(100).unwrap();
        assert!(d.capacity() >= 100);
        // A large buffer releases free-list buffers to make room.
        pool.deallocate(b, 100);
        pool.deallocate(c, 100);
        let big = pool.try_allocate(200).unwrap();
        assert!(big.capacity() >= 200);
        assert_eq!(pool.available(), 0);
        pool.deallocate(big, 200);
        pool.deallocate(d, 100);
        assert_eq!(pool.available(), 300);
    }

    #[test]
    fn allocate_times_out_and_rejects_oversize() {
        let pool = BufferPool::new(100, 100, Arc::default());
        let _a = pool.try_allocate(100).unwrap();
        let start = Instant::now();
        let max = Duration::from_millis(50);
        let err = pool.allocate(10, Some(start + max), max).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(start.elapsed() >= max);
        assert!(matches!(
            pool.allocate(101, Some(Instant::now() + max), max),
            Err(Error::RecordTooLarge {
                limit_key: "buffer.memory",
                ..
            })
        ));
    }

    #[test]
    fn blocked_allocate_wakes_when_memory_returns() {
        let pool = Arc::new(BufferPool::new(100, 100, Arc::default()));
        let a = pool.try_allocate(100).unwrap();
        let p2 = pool.clone();
        let t = std::thread::spawn(move || {
            let max = Duration::from_secs(10);
            p2.allocate(100, Some(Instant::now() + max), max)
                .map(|b| b.capacity())
        });
        while !pool.has_waiters() {
            std::thread::yield_now();
        }
        pool.deallocate(a, 100);
        assert!(t.join().unwrap().unwrap() >= 100);
    }

    #[test]
    fn a_wait_for_memory_ends_when_the_producer_closes() {
        let lifecycle: Arc<Lifecycle> = Arc::default();
        let pool = Arc::new(BufferPool::new(100, 100, lifecycle.clone()));
        let _a = pool.try_allocate(100).unwrap();
        let p2 = pool.clone();
        let t = std::thread::spawn(move || {
            let max = Duration::from_secs(60);
            p2.allocate(100, None, max).map(|b| b.capacity())
        });
        while !pool.has_waiters() {
            std::thread::yield_now();
        }
        let start = Instant::now();
        lifecycle.begin_close();
        let r = t.join().unwrap();
        assert!(matches!(r, Err(Error::Closed(_))), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!pool.has_waiters());
    }

    #[test]
    fn a_dropped_async_wait_leaves_no_waiter() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = BufferPool::new(100, 100, Arc::default());
        let a = pool.try_allocate(100).unwrap();
        rt.block_on(async {
            let fut = pool.allocate_async(100, None, Duration::from_secs(60));
            tokio::pin!(fut);
            // One poll registers the waiter; then the future is dropped.
            let polled = futures_poll_once(fut.as_mut()).await;
            assert!(polled.is_none());
            assert!(pool.has_waiters());
        });
        assert!(!pool.has_waiters(), "the dropped wait is uncounted");
        pool.deallocate(a, 100);
        assert_eq!(pool.available(), 100);
    }

    /// Polls a future once.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
