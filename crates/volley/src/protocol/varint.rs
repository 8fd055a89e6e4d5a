//! Variable-length integers as Kafka encodes them (`ByteUtils` in the Java client).
//!
//! * unsigned varint / varlong: little-endian base-128, 7 bits per byte, high bit
//!   set on every byte but the last (at most 5 bytes for `u32`, 10 for `u64`);
//! * signed varint / varlong (`writeVarint` / `writeVarlong`): the zigzag
//!   encoding of an `i32` / `i64`, then the unsigned form, so small negative
//!   numbers stay short (`-1` is the single byte `0x01`).
//!
//! Readers take a cursor `&mut &[u8]`, advance it past the value on success and
//! leave it untouched on error. They never panic: a missing byte is
//! [`VarintError::Truncated`], a continuation bit on the 5th (varint) or 10th
//! (varlong) byte is [`VarintError::Overlong`]. Like Kafka's readers, bits of
//! that last byte beyond the integer's width are ignored.

use std::mem::MaybeUninit;

/// Maximum encoded length of a 32-bit varint.
pub const MAX_VARINT_LEN: usize = 5;
/// Maximum encoded length of a 64-bit varlong.
pub const MAX_VARLONG_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended before the last byte of the varint.
    #[error("truncated varint: input ended after {read} byte(s)")]
    Truncated {
        /// Bytes available (all with the continuation bit set).
        read: usize,
    },
    /// The varint has more bytes than its type allows.
    #[error("varint longer than the maximum of {max} bytes")]
    Overlong {
        /// The maximum length for the type (5 or 10).
        max: usize,
    },
}

/// Zigzag-encodes an `i32`: 0, -1, 1, -2, … map to 0, 1, 2, 3, ….
#[inline(always)]
pub const fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag32`].
#[inline(always)]
pub const fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Zigzag-encodes an `i64`.
#[inline(always)]
pub const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag64`].
#[inline(always)]
pub const fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encoded length of an unsigned varint (1..=5).
#[inline(always)]
pub const fn uvarint_size(v: u32) -> usize {
    // ceil(bits / 7) for bits = floor(log2(v | 1)) + 1, as (log2 * 9 + 73) / 64: a multiply-add
    // and a shift instead of a division (exact for every width; see `size_boundaries`).
    let log2 = u32::BITS - 1 - (v | 1).leading_zeros();
    ((log2 * 9 + 73) / 64) as usize
}

/// Encoded length of an unsigned varlong (1..=10).
#[inline(always)]
pub const fn uvarlong_size(v: u64) -> usize {
    // As `uvarint_size`.
    let log2 = u64::BITS - 1 - (v | 1).leading_zeros();
    ((log2 * 9 + 73) / 64) as usize
}

/// Encoded length of a signed (zigzag) varint, as Kafka's `sizeOfVarint`.
#[inline(always)]
pub const fn varint_size(v: i32) -> usize {
    uvarint_size(zigzag32(v))
}

/// Encoded length of a signed (zigzag) varlong, as Kafka's `sizeOfVarlong`.
#[inline(always)]
pub const fn varlong_size(v: i64) -> usize {
    uvarlong_size(zigzag64(v))
}

/// Appends an unsigned varint.
#[inline]
pub fn write_uvarint(buf: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

/// Appends an unsigned varlong.
#[inline]
pub fn write_uvarlong(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; MAX_VARLONG_LEN];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

/// Appends a signed (zigzag) varint, as Kafka's `writeVarint`.
#[inline]
pub fn write_varint(buf: &mut Vec<u8>, v: i32) {
    write_uvarint(buf, zigzag32(v));
}

/// Appends a signed (zigzag) varlong, as Kafka's `writeVarlong`.
#[inline]
pub fn write_varlong(buf: &mut Vec<u8>, v: i64) {
    write_uvarlong(buf, zigzag64(v));
}

/// Reads an unsigned varint (at most 5 bytes) and advances `input` past it.
#[inline]
pub fn read_uvarint(input: &mut &[u8]) -> Result<u32, VarintError> {
    let bytes = *input;
    let mut value = 0u32;
    for i in 0..MAX_VARINT_LEN {
        let Some(&b) = bytes.get(i) else {
            return Err(VarintError::Truncated { read: i });
        };
        // At i == 4 the top 3 payload bits fall off the u32, as in Kafka.
        value |= u32::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *input = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(VarintError::Overlong {
        max: MAX_VARINT_LEN,
    })
}

/// Reads an unsigned varlong (at most 10 bytes) and advances `input` past it.
#[inline]
pub fn read_uvarlong(input: &mut &[u8]) -> Result<u64, VarintError> {
    let bytes = *input;
    let mut value = 0u64;
    for i in 0..MAX_VARLONG_LEN {
        let Some(&b) = bytes.get(i) else {
            return Err(VarintError::Truncated { read: i });
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *input = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(VarintError::Overlong {
        max: MAX_VARLONG_LEN,
    })
}

/// Reads a signed (zigzag) varint, as Kafka's `readVarint`.
#[inline]
pub fn read_varint(input: &mut &[u8]) -> Result<i32, VarintError> {
    read_uvarint(input).map(unzigzag32)
}

/// Reads a signed (zigzag) varlong, as Kafka's `readVarlong`.
#[inline]
pub fn read_varlong(input: &mut &[u8]) -> Result<i64, VarintError> {
    read_uvarlong(input).map(unzigzag64)
}

/// Sequential writer into reserved, uninitialised memory (a `Vec`'s spare
/// capacity), used to encode a record in one pass without zero-filling or
/// per-byte capacity checks. Every method initialises each byte it advances
/// over, so the first [`written`](Self::written) bytes are initialised; writes
/// past the end of the slice panic (slice indexing) rather than corrupt memory.
pub(crate) struct SpareWriter<'a> {
    out: &'a mut [MaybeUninit<u8>],
    pos: usize,
}

impl<'a> SpareWriter<'a> {
    /// A writer at the start of `out`.
    #[inline(always)]
    pub(crate) fn new(out: &'a mut [MaybeUninit<u8>]) -> Self {
        SpareWriter { out, pos: 0 }
    }

    /// Bytes written (and initialised) so far.
    #[inline(always)]
    pub(crate) fn written(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    pub(crate) fn byte(&mut self, b: u8) {
        self.out[self.pos] = MaybeUninit::new(b);
        self.pos += 1;
    }

    #[inline(always)]
    pub(crate) fn uvarint(&mut self, v: u32) {
        self.uvarlong(u64::from(v));
    }

    /// One and two bytes (nearly every length, delta and count in a record) take one bounds
    /// check and no loop.
    #[inline(always)]
    pub(crate) fn uvarlong(&mut self, v: u64) {
        if v < 0x80 {
            self.byte(v as u8);
        } else if v < 0x4000 {
            let dst = &mut self.out[self.pos..self.pos + 2];
            dst[0] = MaybeUninit::new(v as u8 | 0x80);
            dst[1] = MaybeUninit::new((v >> 7) as u8);
            self.pos += 2;
        } else {
            self.uvarlong_long(v);
        }
    }

    #[inline(never)]
    fn uvarlong_long(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline(always)]
    pub(crate) fn bytes(&mut self, src: &[u8]) {
        let dst = &mut self.out[self.pos..self.pos + src.len()];
        // SAFETY: `dst` is exactly `src.len()` elements long, `MaybeUninit<u8>`
        // has the layout of `u8`, and the regions cannot overlap (`dst` is a
        // unique borrow, `src` a shared one).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len());
        }
        self.pos += src.len();
    }

    /// A Kafka nullable bytes field: zigzag varint length (-1 for `None`), then the bytes.
    #[inline(always)]
    pub(crate) fn nullable(&mut self, field: Option<&[u8]>) {
        match field {
            None => self.byte(1), // zigzag(-1)
            Some(bytes) => {
                self.uvarint(zigzag32(bytes.len() as i32));
                self.bytes(bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // Values from Kafka's ByteUtilsTest.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (8191, &[0xfe, 0x7f]),
            (-8192, &[0xff, 0x7f]),
            (8192, &[0x80, 0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, expected) in cases {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            assert_eq!(buf, expected, "{v}");
            assert_eq!(varint_size(v), expected.len());
            let mut cur = expected;
            assert_eq!(read_varint(&mut cur), Ok(v));
            assert!(cur.is_empty());
        }
        let mut buf = Vec::new();
        write_varlong(&mut buf, i64::MIN);
        assert_eq!(
            buf,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(varlong_size(i64::MIN), 10);
        assert_eq!(varlong_size(i64::MAX), 10);
        assert_eq!(varlong_size(0), 1);
    }

    #[test]
    fn size_boundaries() {
        for shift in 0..32 {
            for v in [1u32 << shift, (1u32 << shift).wrapping_sub(1)] {
                let mut buf = Vec::new();
                write_uvarint(&mut buf, v);
                assert_eq!(uvarint_size(v), buf.len(), "{v}");
            }
        }
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift).wrapping_sub(1)] {
                let mut buf = Vec::new();
                write_uvarlong(&mut buf, v);
                assert_eq!(uvarlong_size(v), buf.len(), "{v}");
            }
        }
    }

    /// What `SpareWriter` writes into a slice of exactly the encoded size.
    fn spare_written(v: u64) -> Vec<u8> {
        let mut out = vec![MaybeUninit::new(0xAAu8); uvarlong_size(v)];
        let mut w = SpareWriter::new(&mut out);
        w.uvarlong(v);
        assert_eq!(w.written(), out.len());
        // SAFETY: every element was initialised by `vec!`.
        out.iter().map(|b| unsafe { b.assume_init() }).collect()
    }

    #[test]
    fn spare_writer_matches_write_uvarlong_at_every_width() {
        for shift in 0..64 {
            for v in [
                1u64 << shift,
                (1u64 << shift).wrapping_sub(1),
                0x3fff,
                0x4000,
                0x7f,
                0x80,
            ] {
                let mut buf = Vec::new();
                write_uvarlong(&mut buf, v);
                assert_eq!(spare_written(v), buf, "{v}");
            }
        }
    }

    #[test]
    fn errors() {
        let mut cur: &[u8] = &[];
        assert_eq!(
            read_varint(&mut cur),
            Err(VarintError::Truncated { read: 0 })
        );
        let mut cur: &[u8] = &[0x80, 0x80];
        assert_eq!(
            read_varint(&mut cur),
            Err(VarintError::Truncated { read: 2 })
        );
        assert_eq!(cur.len(), 2, "cursor untouched on error");
        let mut cur: &[u8] = &[0xff; 5];
        assert_eq!(
            read_uvarint(&mut cur),
            Err(VarintError::Overlong { max: 5 })
        );
        let mut cur: &[u8] = &[0xff; 11];
        assert_eq!(
            read_uvarlong(&mut cur),
            Err(VarintError::Overlong { max: 10 })
        );
        // Kafka ignores excess bits in the last byte.
        let mut cur: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(read_uvarint(&mut cur), Ok(u32::MAX));
    }

    #[test]
    fn spare_writer_matches_vec_writers() {
        let mut buf: Vec<u8> = b"head".to_vec();
        let mut expected = buf.clone();
        write_uvarint(&mut expected, 300);
        write_uvarlong(&mut expected, u64::MAX);
        write_varint(&mut expected, 2);
        expected.extend_from_slice(b"ab");
        write_varint(&mut expected, -1);
        let total = expected.len() - buf.len();
        buf.reserve(total);
        let start = buf.len();
        let written = {
            let mut w = SpareWriter::new(&mut buf.spare_capacity_mut()[..total]);
            w.uvarint(300);
            w.uvarlong(u64::MAX);
            w.nullable(Some(b"ab"));
            w.nullable(None);
            w.written()
        };
        assert_eq!(written, total);
        // SAFETY: the writer initialised `written` bytes of the spare capacity.
        unsafe { buf.set_len(start + written) };
        assert_eq!(buf, expected);
    }

    proptest! {
        #[test]
        fn varint_round_trip(v: i32, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            prop_assert_eq!(buf.len(), varint_size(v));
            buf.extend_from_slice(&tail);
            let mut cur = &buf[..];
            prop_assert_eq!(read_varint(&mut cur), Ok(v));
            prop_assert_eq!(cur, &tail[..]);
        }

        #[test]
        fn varlong_round_trip(v: i64) {
            let mut buf = Vec::new();
            write_varlong(&mut buf, v);
            prop_assert_eq!(buf.len(), varlong_size(v));
            let mut cur = &buf[..];
            prop_assert_eq!(read_varlong(&mut cur), Ok(v));
            prop_assert!(cur.is_empty());
            // Every strict prefix is truncated.
            for n in 0..buf.len() {
                let mut cur = &buf[..n];
                let truncated = matches!(read_varlong(&mut cur), Err(VarintError::Truncated { .. }));
                prop_assert!(truncated, "prefix of length {} not reported as truncated", n);
            }
        }

        #[test]
        fn spare_writer_matches_write_uvarlong(v: u64, small in 0u64..0x4000) {
            for v in [v, small] {
                let mut buf = Vec::new();
                write_uvarlong(&mut buf, v);
                prop_assert_eq!(spare_written(v), buf);
            }
        }

        #[test]
        fn uvarint_round_trip(v: u32, w: u64) {
            let mut buf = Vec::new();
            write_uvarint(&mut buf, v);
            write_uvarlong(&mut buf, w);
            let mut cur = &buf[..];
            prop_assert_eq!(read_uvarint(&mut cur), Ok(v));
            prop_assert_eq!(read_uvarlong(&mut cur), Ok(w));
            prop_assert!(cur.is_empty());
        }

        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut a = &bytes[..];
            let _ = read_varint(&mut a);
            let mut b = &bytes[..];
            let _ = read_varlong(&mut b);
        }
    }
}
