//! A closed batch shared by its [`ProducerBatch`](super::batch::ProducerBatch) and by the
//! Produce request frames that carry its bytes (referenced, not copied: see
//! `protocol/request_frame.rs`).
//!
//! The batch's share of the buffer pool moves into the shared batch when the batch is closed,
//! and goes back to the pool when the last holder drops it: the batch when it resolves, or a
//! frame when its connection's writer has written it or dropped it (a connection closed, the
//! I/O thread's runtime gone). So the pool never hands out a buffer a socket may still read,
//! whatever ends first, and `buffer.memory` bounds the record bytes in flight as well as those
//! queued.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::protocol::record_batch::ClosedBatch;
use crate::protocol::request_frame::SharedBytes;

use super::pool::BufferPool;

/// See the module docs. Dereferences to the [`ClosedBatch`].
pub(crate) struct WireBatch(Arc<Held>);

struct Held {
    /// Always `Some` until dropped.
    closed: Option<ClosedBatch>,
    /// The pool and the bytes accounted to it for this batch, given back on drop.
    pool: Option<(Arc<BufferPool>, usize)>,
}

impl WireBatch {
    /// Shares `closed`; `pool`: the pool and the bytes accounted to it for the batch's buffer
    /// (`None` for a buffer from outside the pool, such as a split batch's).
    pub(crate) fn new(closed: ClosedBatch, pool: Option<(Arc<BufferPool>, usize)>) -> WireBatch {
        WireBatch(Arc::new(Held {
            closed: Some(closed),
            pool,
        }))
    }

    /// The wire bytes, for a request frame to reference: they stay alive (and out of the
    /// pool) until the frame is dropped.
    pub(crate) fn share(&self) -> SharedBytes {
        self.0.clone()
    }

    /// The batch to change in place (a retry's header rewrite after an epoch bump, see
    /// [`ClosedBatch::rewrite_producer_state`]). If a frame of an earlier attempt still holds
    /// the bytes (its connection's writer not dropped yet), the batch takes a copy first and
    /// leaves that frame its bytes, and the pool's share with them: they go back to the pool
    /// when that frame is dropped.
    pub(crate) fn make_mut(&mut self) -> &mut ClosedBatch {
        if Arc::get_mut(&mut self.0).is_none() {
            *self = WireBatch::new(self.copy_wire(), None);
        }
        let held = Arc::get_mut(&mut self.0).expect("unique after the copy");
        held.closed.as_mut().expect("held until dropped")
    }
}

impl Deref for WireBatch {
    type Target = ClosedBatch;

    fn deref(&self) -> &ClosedBatch {
        self.0.closed.as_ref().expect("held until dropped")
    }
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        self.closed.as_ref().expect("held until dropped").as_bytes()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let (Some(closed), Some((pool, accounted))) = (self.closed.take(), self.pool.take()) else {
            return;
        };
        // The wire buffer, or for a compressed batch the uncompressed one it kept: whichever
        // the pool can recycle (it keeps buffers of its poolable size; the other is freed).
        let (wire, spare) = closed.into_buffers();
        let buf = match spare {
            Some(s) if s.capacity() > wire.capacity() => s,
            _ => wire,
        };
        pool.deallocate(buf, accounted);
    }
}

impl fmt::Debug for WireBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireBatch")
            .field("bytes", &self.as_bytes().len())
            .field("holders", &Arc::strong_count(&self.0))
            .field("pool_bytes", &self.0.pool.as_ref().map_or(0, |p| p.1))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::compression::Compression;
    use crate::protocol::record_batch::{BatchBuilder, BatchParams};

    fn closed(pool: &BufferPool) -> ClosedBatch {
        let mut b = BatchBuilder::new(pool.try_allocate(100).expect("memory"), 1);
        b.append(1, Some(b"k"), Some(b"value"), &[]);
        b.close(
            &BatchParams {
                producer_id: 7,
                producer_epoch: 0,
                base_sequence: 0,
                ..BatchParams::default()
            },
            &Compression::None,
        )
        .expect("close")
    }

    // Failure: the pool takes a batch's buffer back while a request frame still references it
    // (the socket would read bytes another batch is writing), or never takes it back.
    // Invariant: the memory returns exactly when the last holder, batch or frame, drops it.
    #[test]
    fn the_pool_gets_the_buffer_back_from_the_last_holder() {
        let pool = Arc::new(BufferPool::new(100, 100, Arc::default()));
        let w = WireBatch::new(closed(&pool), Some((pool.clone(), 100)));
        assert_eq!(pool.available(), 0);
        let in_frame = w.share();
        drop(w); // the batch resolved (acks=0: before its frame was written)
        assert_eq!(pool.available(), 0, "a frame still holds the bytes");
        drop(in_frame);
        assert_eq!(pool.available(), 100);
        // The other order: the frame written first, then the batch resolved.
        let w = WireBatch::new(closed(&pool), Some((pool.clone(), 100)));
        drop(w.share());
        assert_eq!(pool.available(), 0);
        drop(w);
        assert_eq!(pool.available(), 100);
    }

    // Failure: a retry's header rewrite changes the bytes of an earlier attempt's frame that a
    // writer may still be writing. Invariant: the earlier frame keeps its bytes; the batch gets
    // the rewritten ones; the pool's share returns once, with the earlier frame.
    #[test]
    fn a_rewrite_while_a_frame_holds_the_bytes_copies_them() {
        let pool = Arc::new(BufferPool::new(100, 100, Arc::default()));
        let mut w = WireBatch::new(closed(&pool), Some((pool.clone(), 100)));
        let before = w.as_bytes().to_vec();
        let in_frame = w.share();
        w.make_mut()
            .rewrite_producer_state(7, 1, 40, false)
            .expect("rewrite");
        assert_eq!(
            (*in_frame).as_ref(),
            &before[..],
            "the frame's bytes unchanged"
        );
        assert_ne!(w.as_bytes(), &before[..]);
        let decoded = crate::protocol::record_batch::decode_batches(w.as_bytes()).expect("decode");
        assert_eq!(decoded[0].producer_epoch, 1);
        assert_eq!(decoded[0].base_sequence, 40);
        drop(w);
        assert_eq!(
            pool.available(),
            0,
            "the earlier frame still holds the pool's share"
        );
        drop(in_frame);
        assert_eq!(pool.available(), 100);
        // Unshared, the rewrite is in place.
        let mut w = WireBatch::new(closed(&pool), Some((pool.clone(), 100)));
        let at = w.as_bytes().as_ptr();
        w.make_mut()
            .rewrite_producer_state(7, 2, 0, false)
            .expect("rewrite");
        assert_eq!(w.as_bytes().as_ptr(), at);
        drop(w);
        assert_eq!(pool.available(), 100);
    }
}
