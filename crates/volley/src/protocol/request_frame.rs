//! A request frame as the driver writes it: every small field in one buffer, and the large byte
//! fields (a Produce request's record batches) referenced where they already lie, not copied.
//!
//! The bytes on the wire are exactly those of the flat frame (`i32 size | request header |
//! body`); only their place in memory differs. The driver writes a frame with vectored writes
//! ([`RequestFrame::into_buf`] is a [`Buf`] whose `chunks_vectored` yields the pieces in order,
//! so `AsyncWriteExt::write_all_buf` handles partial writes across them, and writes them one
//! after the other on a stream without vectored writes). A referenced piece stays alive as long
//! as the frame: the frame owns a reference count on it until it is written or dropped.

use std::fmt;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

/// Bytes a frame refers to instead of copying them (a closed batch's wire bytes). The owner
/// decides what happens when the last reference goes (a batch buffer goes back to its pool).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A complete request frame, size prefix included: inline bytes with referenced pieces between
/// them. See the module docs.
#[derive(Clone)]
pub struct RequestFrame {
    /// Every byte that is not referenced, in wire order (the size prefix first).
    inline: Bytes,
    /// `(at, piece)`: `piece` goes on the wire right after `inline[..at]`; `at` never
    /// decreases.
    refs: Vec<(usize, SharedBytes)>,
    /// Bytes on the wire, the size prefix included.
    len: usize,
}

impl RequestFrame {
    /// The frame's length on the wire, the size prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty (never, for a frame an encoder built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces are referenced rather than inline.
    pub fn referenced_pieces(&self) -> usize {
        self.refs.len()
    }

    /// The frame's pieces in wire order (empty ones included).
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..2 * self.refs.len() + 1).map(move |k| self.piece(k))
    }

    /// Piece `k`: even `k` are inline stretches, odd `k` referenced pieces.
    fn piece(&self, k: usize) -> &[u8] {
        let i = k / 2;
        if k % 2 == 1 {
            return (*self.refs[i].1).as_ref();
        }
        let from = if i == 0 { 0 } else { self.refs[i - 1].0 };
        let to = self.refs.get(i).map_or(self.inline.len(), |r| r.0);
        &self.inline[from..to]
    }

    /// The frame as one contiguous buffer (a copy when pieces are referenced): for decoders
    /// and tests, never on the write path.
    pub fn to_bytes(&self) -> Bytes {
        if self.refs.is_empty() {
            return self.inline.clone();
        }
        let mut out = BytesMut::with_capacity(self.len);
        for p in self.pieces() {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    /// A cursor over the frame's bytes for writing it (see the module docs).
    pub fn into_buf(self) -> FrameBuf {
        let mut b = FrameBuf {
            remaining: self.len,
            frame: self,
            piece: 0,
            pos: 0,
        };
        b.skip_empty();
        b
    }
}

impl From<Bytes> for RequestFrame {
    /// A frame whose bytes are all inline (every request but Produce).
    fn from(inline: Bytes) -> RequestFrame {
        RequestFrame {
            len: inline.len(),
            inline,
            refs: Vec::new(),
        }
    }
}

impl fmt::Debug for RequestFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestFrame")
            .field("len", &self.len)
            .field("inline", &self.inline.len())
            .field("referenced", &self.refs.len())
            .finish()
    }
}

/// The least a frame builder allocates for inline bytes at a time.
const INLINE_BLOCK: usize = 4096;

/// Builds a [`RequestFrame`]: inline bytes are written to a scratch [`BytesMut`] the caller
/// keeps between frames, referenced pieces are noted where they go, and the size prefix is
/// filled in at the end.
pub(crate) struct FrameBuilder<'a> {
    inline: &'a mut BytesMut,
    refs: Vec<(usize, SharedBytes)>,
    referenced: usize,
}

impl<'a> FrameBuilder<'a> {
    /// Starts a frame in `scratch` (cleared), with room for `inline` bytes and `refs`
    /// referenced pieces; the size prefix is written as a placeholder.
    pub(crate) fn new(scratch: &'a mut BytesMut, inline: usize, refs: usize) -> FrameBuilder<'a> {
        scratch.clear();
        let need = inline + 4;
        if scratch.capacity() < need {
            // Frames take their inline bytes from blocks of `INLINE_BLOCK`: one allocation
            // serves many small frames (a block is freed once its last frame is dropped).
            scratch.reserve(need.max(INLINE_BLOCK));
        }
        scratch.extend_from_slice(&[0; 4]);
        FrameBuilder {
            inline: scratch,
            refs: Vec::with_capacity(refs),
            referenced: 0,
        }
    }

    /// The inline buffer, to append fields to.
    pub(crate) fn inline(&mut self) -> &mut BytesMut {
        self.inline
    }

    /// Puts `piece` on the wire here, without copying it.
    pub(crate) fn reference(&mut self, piece: SharedBytes) {
        self.referenced += (*piece).as_ref().len();
        self.refs.push((self.inline.len(), piece));
    }

    /// Fills in the size prefix and returns the frame. The caller keeps frames within
    /// `max.request.size` (an `i32`).
    pub(crate) fn finish(self) -> RequestFrame {
        let len = self.inline.len() + self.referenced;
        let size = (len - 4) as i32;
        self.inline[..4].copy_from_slice(&size.to_be_bytes());
        RequestFrame {
            inline: self.inline.split().freeze(),
            refs: self.refs,
            len,
        }
    }
}

/// A [`RequestFrame`] being written: a [`Buf`] over its pieces in wire order. It owns the
/// frame, so the referenced pieces live until it is dropped.
pub struct FrameBuf {
    frame: RequestFrame,
    /// The piece the next byte comes from (see `RequestFrame::piece`).
    piece: usize,
    /// Bytes of that piece already taken.
    pos: usize,
    remaining: usize,
}

impl FrameBuf {
    /// Moves past finished and empty pieces, so that `chunk` is empty only at the end.
    fn skip_empty(&mut self) {
        let pieces = 2 * self.frame.refs.len() + 1;
        while self.piece < pieces && self.pos >= self.frame.piece(self.piece).len() {
            self.piece += 1;
            self.pos = 0;
        }
    }
}

impl Buf for FrameBuf {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        if self.remaining == 0 {
            return &[];
        }
        &self.frame.piece(self.piece)[self.pos..]
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a frame");
        self.remaining -= cnt;
        while cnt > 0 {
            let left = self.frame.piece(self.piece).len() - self.pos;
            if cnt < left {
                self.pos += cnt;
                break;
            }
            cnt -= left;
            self.piece += 1;
            self.pos = 0;
        }
        self.skip_empty();
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        if self.remaining == 0 {
            return 0;
        }
        let pieces = 2 * self.frame.refs.len() + 1;
        let mut n = 0;
        let mut pos = self.pos;
        for k in self.piece..pieces {
            if n == dst.len() {
                break;
            }
            let p = &self.frame.piece(k)[pos..];
            pos = 0;
            if !p.is_empty() {
                dst[n] = IoSlice::new(p);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    fn piece(b: &[u8]) -> SharedBytes {
        Arc::new(b.to_vec())
    }

    /// A frame of inline bytes `0..` around pieces of the given lengths (zero-length ones
    /// included), with the flat bytes it stands for.
    fn sample(lens: &[usize]) -> (RequestFrame, Vec<u8>) {
        let mut scratch = BytesMut::new();
        let mut b = FrameBuilder::new(&mut scratch, 16, lens.len());
        let mut flat = vec![0u8; 4];
        for (i, &len) in lens.iter().enumerate() {
            // Inline stretches of 0, 1, 2, ... bytes between the pieces.
            for j in 0..(i % 3) {
                b.inline().put_u8(j as u8);
                flat.push(j as u8);
            }
            let p: Vec<u8> = (0..len).map(|x| (x * 7 + i) as u8).collect();
            flat.extend_from_slice(&p);
            b.reference(piece(&p));
        }
        b.inline().put_slice(b"end");
        flat.extend_from_slice(b"end");
        let size = (flat.len() - 4) as i32;
        flat[..4].copy_from_slice(&size.to_be_bytes());
        (b.finish(), flat)
    }

    // Failure: a piece skipped, repeated or put out of order, the size prefix wrong, or bytes
    // lost when a write stops inside a piece or between pieces. Invariant: the frame's bytes are
    // the flat frame's, however they are taken.
    #[test]
    fn a_frame_reads_back_as_its_flat_bytes_whatever_the_write_sizes() {
        for lens in [
            &[][..],
            &[5],
            &[0],
            &[3, 0, 0, 9],
            &[1, 1, 1, 1, 1, 1, 1],
            &[100, 0, 37, 2],
        ] {
            let (frame, flat) = sample(lens);
            assert_eq!(frame.len(), flat.len(), "{lens:?}");
            assert_eq!(&frame.to_bytes()[..], &flat[..], "{lens:?}");
            // Writes of every size from 1 byte up, vectored with few or many slices.
            for step in 1..=flat.len().min(40) {
                for slots in [1, 2, 3, 64] {
                    let mut buf = frame.clone().into_buf();
                    let mut got = Vec::new();
                    while buf.has_remaining() {
                        let mut io = vec![IoSlice::new(&[]); slots];
                        let n = buf.chunks_vectored(&mut io);
                        assert!(n > 0, "slices while bytes remain");
                        let mut take = step;
                        for s in &io[..n] {
                            assert!(!s.is_empty(), "an empty slice");
                            let k = take.min(s.len());
                            got.extend_from_slice(&s[..k]);
                            take -= k;
                            if take == 0 {
                                break;
                            }
                        }
                        let took = step - take;
                        buf.advance(took);
                    }
                    assert_eq!(got, flat, "{lens:?} step {step} slots {slots}");
                    assert_eq!(buf.chunk(), &[] as &[u8]);
                }
            }
            // Chunk by chunk (a stream without vectored writes).
            let mut buf = frame.into_buf();
            let mut got = Vec::new();
            while buf.has_remaining() {
                let c = buf.chunk().to_vec();
                assert!(!c.is_empty());
                got.extend_from_slice(&c);
                buf.advance(c.len());
            }
            assert_eq!(got, flat, "{lens:?}");
        }
    }

    /// A writer that takes at most `max` bytes per call, vectored or not, so that writes stop
    /// mid-piece.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        vectored: bool,
        calls: usize,
    }

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            self.calls += 1;
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut left = self.max;
            self.calls += 1;
            for b in bufs {
                let n = b.len().min(left);
                self.out.extend_from_slice(&b[..n]);
                left -= n;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(self.max - left))
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    // Failure: tokio's `write_all_buf` over a frame loses or repeats bytes on partial writes,
    // or a writer without vectored writes gets a copy of the frame in one piece. Invariant: the
    // stream receives the flat frame; vectored, a write that takes everything takes the frame
    // in one call.
    #[test]
    fn write_all_buf_writes_the_flat_frame_through_partial_and_plain_writes() {
        use tokio::io::AsyncWriteExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (frame, flat) = sample(&[100, 0, 37, 2, 5]);
        for vectored in [true, false] {
            for max in [1, 3, 50, 1 << 20] {
                let mut w = Trickle {
                    out: Vec::new(),
                    max,
                    vectored,
                    calls: 0,
                };
                rt.block_on(w.write_all_buf(&mut frame.clone().into_buf()))
                    .unwrap();
                assert_eq!(w.out, flat, "vectored {vectored} max {max}");
                if vectored && max == 1 << 20 {
                    assert_eq!(w.calls, 1, "one vectored write for the whole frame");
                }
                if !vectored && max == 1 << 20 {
                    // One write per non-empty piece: inline, 100, inline, 37, inline, 2, 5, end.
                    let pieces = frame.pieces().filter(|p| !p.is_empty()).count();
                    assert_eq!(w.calls, pieces);
                }
            }
        }
    }

    // Failure: a referenced piece freed (or handed back to its pool) while a frame still holds
    // it. Invariant: the piece lives exactly as long as the last frame or cursor holding it.
    #[test]
    fn a_referenced_piece_lives_as_long_as_the_frame() {
        let p: SharedBytes = Arc::new(vec![1u8, 2, 3]);
        let mut scratch = BytesMut::new();
        let mut b = FrameBuilder::new(&mut scratch, 8, 1);
        b.reference(p.clone());
        let frame = b.finish();
        assert_eq!(Arc::strong_count(&p), 2);
        let copy = frame.clone();
        let mut buf = frame.into_buf();
        buf.advance(5);
        assert_eq!(Arc::strong_count(&p), 3);
        drop(copy);
        assert_eq!(Arc::strong_count(&p), 2);
        drop(buf);
        assert_eq!(Arc::strong_count(&p), 1);
    }
}
