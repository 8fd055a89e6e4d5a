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

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::util::signal::Signal;

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
    freed: Signal,
}

impl BufferPool {
    /// A pool of `total` bytes recycling buffers of `poolable` bytes.
    pub(crate) fn new(total: usize, poolable: usize) -> BufferPool {
        BufferPool {
            total,
            poolable: poolable.max(1),
            state: Mutex::new(PoolState {
                free: Vec::new(),
                unallocated: total,
                waiters: 0,
            }),
            freed: Signal::default(),
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

    /// Takes a buffer of at least `size` bytes, blocking until `deadline` if memory is short.
    /// Fails with `RecordTooLarge` at once if `size` exceeds `buffer.memory`, and with a
    /// `Timeout` naming `max.block.ms` when the deadline passes.
    pub(crate) fn allocate(
        &self,
        size: usize,
        deadline: Option<Instant>,
        max_block: Duration,
    ) -> Result<Vec<u8>> {
        self.check_size(size)?;
        if let Some(b) = self.try_allocate(size) {
            return Ok(b);
        }
        // Only a wait reads the clock: the deadline is the caller's (when it already waited
        // for metadata) or `max.block.ms` from now.
        let deadline = deadline.unwrap_or_else(|| {
            let now = Instant::now();
            now.checked_add(max_block)
                .unwrap_or(now + Duration::from_secs(86_400 * 365))
        });
        loop {
            let seen = self.freed.generation();
            {
                let mut s = self.state.lock();
                if let Some(b) = self.take(&mut s, size) {
                    return Ok(b);
                }
                s.waiters += 1;
            }
            let moved = Instant::now() < deadline && self.freed.wait_blocking(seen, deadline);
            self.state.lock().waiters -= 1;
            if !moved && Instant::now() >= deadline {
                if let Some(b) = self.try_allocate(size) {
                    return Ok(b);
                }
                return Err(Error::Timeout {
                    operation: "waiting for buffer memory (buffer.memory full, max.block.ms)",
                    after: max_block,
                });
            }
        }
    }

    /// Like [`BufferPool::allocate`], awaiting instead of blocking. The caller bounds the wait.
    pub(crate) async fn allocate_async(&self, size: usize) -> Result<Vec<u8>> {
        self.check_size(size)?;
        loop {
            let seen = self.freed.generation();
            {
                let mut s = self.state.lock();
                if let Some(b) = self.take(&mut s, size) {
                    return Ok(b);
                }
                s.waiters += 1;
            }
            let guard = WaiterGuard(self);
            self.freed.wait_async(seen).await;
            drop(guard);
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
            self.freed.notify_all();
        }
    }

    /// The capacity that a buffer for `size` bytes is accounted at.
    pub(crate) fn accounted_size(&self, size: usize) -> usize {
        size.max(self.poolable)
    }
}

struct WaiterGuard<'a>(&'a BufferPool);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.state.lock().waiters -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_recycles_and_bounds_memory() {
        let pool = BufferPool::new(300, 100);
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
        let pool = BufferPool::new(100, 100);
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
        let pool = std::sync::Arc::new(BufferPool::new(100, 100));
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
}
