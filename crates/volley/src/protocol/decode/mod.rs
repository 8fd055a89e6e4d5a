//! Bounded decoders for the responses this client reads.
//!
//! Responses are decoded here rather than by the `kafka-protocol` crate's `Decodable`, which
//! reserves memory for an array as soon as it has read the array's count from the wire: a
//! twenty-byte frame announcing 2³² − 1 elements makes the allocator abort the process, which no
//! `catch_unwind` can turn into an error. The decoders here produce the same `kafka-protocol`
//! response structs, but every length read from the wire is checked against the bytes that are
//! left before anything is allocated for it:
//!
//! * an array's count must fit in what remains, at the smallest encoded size of one element;
//!   only then is a `Vec` reserved, and never for more than [`PREALLOC_LIMIT`] elements up front
//!   (longer arrays grow as their elements decode, that is, as the bytes for them are read);
//! * a string's length must fit in what remains, and its bytes must be UTF-8;
//! * an unsigned varint is at most five bytes long;
//! * a tagged field's size must fit in what remains; tags this client knows are decoded within
//!   that size, others are skipped.
//!
//! Every failure is a [`ProtocolError::Decode`] naming the API, the version, the field and the
//! byte offset; nothing panics on any input. Bytes after a complete body are ignored.
//!
//! The layouts follow Kafka's JSON message definitions
//! (`clients/src/main/resources/common/message/*Response.json`); fields absent at a version keep
//! the struct's default, which is the schema's default, as `kafka-protocol` does.

use std::fmt::Display;
use std::ops::RangeInclusive;

use kafka_protocol::protocol::StrBytes;

use super::varint::read_uvarint;
use crate::error::ProtocolError;

mod responses;
#[cfg(test)]
pub(crate) mod samples;
#[cfg(test)]
mod tests;

/// The most elements reserved up front for one array, whatever its (validated) count.
pub const PREALLOC_LIMIT: usize = 1024;

/// A response body this crate can decode.
pub trait DecodeResponse: Sized {
    /// The API's name, for errors.
    const API: &'static str;
    /// The versions the decoder knows.
    const VERSIONS: RangeInclusive<i16>;
    /// The first flexible version (compact strings and arrays, tagged fields).
    const FIRST_FLEXIBLE: i16;

    /// Decodes the body from `r` at `version`, which is in [`Self::VERSIONS`]; `r` is already
    /// set to the version's encoding (flexible or not).
    fn decode_fields(r: &mut Reader<'_>, version: i16) -> Result<Self>;
}

/// Decodes a response body (what follows the response header) of type `T` at `version`.
/// Bytes after the body are ignored.
pub fn decode_body<T: DecodeResponse>(body: &[u8], version: i16) -> Result<T> {
    decode_body_at::<T>(body, version).map(|(v, _)| v)
}

/// [`decode_body`], also returning how many bytes the body took.
pub fn decode_body_at<T: DecodeResponse>(body: &[u8], version: i16) -> Result<(T, usize)> {
    let mut r = Reader::new(body, T::API, version);
    let v = decode_with::<T>(&mut r, version)?;
    Ok((v, r.position()))
}

/// Checks the version, sets the encoding and decodes.
fn decode_with<T: DecodeResponse>(r: &mut Reader<'_>, version: i16) -> Result<T> {
    if !T::VERSIONS.contains(&version) {
        return Err(r.error(
            "version",
            format_args!(
                "this client decodes versions {}..={} only",
                T::VERSIONS.start(),
                T::VERSIONS.end()
            ),
        ));
    }
    r.flexible = version >= T::FIRST_FLEXIBLE;
    T::decode_fields(r, version)
}

/// [`decode_body_at`], also returning the length fields read (for the hostile-input tests).
#[cfg(test)]
pub(crate) fn decode_traced<T: DecodeResponse>(
    body: &[u8],
    version: i16,
) -> (Result<(T, usize)>, Vec<LengthField>) {
    let mut r = Reader::new(body, T::API, version);
    let res = decode_with::<T>(&mut r, version).map(|v| (v, r.position()));
    (res, r.take_lengths())
}

/// A checked cursor over a response: every read fails with [`ProtocolError::Decode`] instead of
/// running past the end, and every length is validated before it is used.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Reads stop here (the end of `buf`, or of a tagged field).
    end: usize,
    what: &'static str,
    version: i16,
    flexible: bool,
    /// Length fields read so far, for the hostile-input tests.
    #[cfg(test)]
    lengths: Vec<LengthField>,
}

/// Where a length (array count or string length) was read, for the hostile-input tests.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct LengthField {
    pub start: usize,
    pub len: usize,
    pub flexible: bool,
    pub array: bool,
}

type Result<T> = std::result::Result<T, ProtocolError>;

impl<'a> Reader<'a> {
    /// A reader over `buf`, for errors naming `what` at `version`; non-flexible until
    /// [`Reader::set_flexible`].
    pub fn new(buf: &'a [u8], what: &'static str, version: i16) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
            what,
            version,
            flexible: false,
            #[cfg(test)]
            lengths: Vec::new(),
        }
    }

    /// Switches between the flexible encoding (compact lengths, tagged fields) and the classic.
    pub fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    /// Whether the flexible encoding is in use.
    pub fn is_flexible(&self) -> bool {
        self.flexible
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// A decode error about `field` at the current position.
    pub fn error(&self, field: &str, reason: impl Display) -> ProtocolError {
        ProtocolError::Decode {
            what: self.what,
            reason: format!("v{} {field} at byte {}: {reason}", self.version, self.pos),
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(
                field,
                format_args!("needs {n} bytes, {} left", self.remaining()),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// Reads an `int8`.
    pub fn i8(&mut self, field: &str) -> Result<i8> {
        self.fixed(field).map(i8::from_be_bytes)
    }

    /// Reads a `bool` (one byte, nonzero is true, as Kafka's readers do).
    pub fn bool(&mut self, field: &str) -> Result<bool> {
        self.i8(field).map(|b| b != 0)
    }

    /// Reads an `int16`.
    pub fn i16(&mut self, field: &str) -> Result<i16> {
        self.fixed(field).map(i16::from_be_bytes)
    }

    /// Reads a `uint16`.
    pub fn u16(&mut self, field: &str) -> Result<u16> {
        self.fixed(field).map(u16::from_be_bytes)
    }

    /// Reads an `int32`.
    pub fn i32(&mut self, field: &str) -> Result<i32> {
        self.fixed(field).map(i32::from_be_bytes)
    }

    /// Reads an `int64`.
    pub fn i64(&mut self, field: &str) -> Result<i64> {
        self.fixed(field).map(i64::from_be_bytes)
    }

    /// Reads a `uuid` (16 bytes) into any type built from its bytes (`kafka-protocol`'s `Uuid`).
    pub fn uuid<U: TryFrom<Vec<u8>>>(&mut self, field: &str) -> Result<U> {
        let bytes: [u8; 16] = self.fixed(field)?;
        U::try_from(bytes.to_vec()).map_err(|_| self.error(field, "not a uuid"))
    }

    /// Reads an unsigned varint of at most five bytes.
    pub fn uvarint(&mut self, field: &str) -> Result<u32> {
        let mut rest = &self.buf[self.pos..self.end];
        let before = rest.len();
        let v = read_uvarint(&mut rest).map_err(|e| self.error(field, e))?;
        self.pos += before - rest.len();
        Ok(v)
    }

    /// Reads a length prefix: `int16` (strings) or `int32` (arrays) in the classic encoding,
    /// an unsigned varint of length + 1 in the flexible one. `None` is null (−1, or 0 compact).
    fn length(&mut self, field: &str, array: bool) -> Result<Option<usize>> {
        let start = self.pos;
        let n: i64 = if self.flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if array {
            i64::from(self.i32(field)?)
        } else {
            i64::from(self.i16(field)?)
        };
        #[cfg(test)]
        self.lengths.push(LengthField {
            start,
            len: self.pos - start,
            flexible: self.flexible,
            array,
        });
        match n {
            -1 => Ok(None),
            n if n < 0 => {
                self.pos = start;
                Err(self.error(field, format_args!("negative length {n}")))
            }
            // Fits: at most u32::MAX - 1.
            n => Ok(Some(n as usize)),
        }
    }

    /// Reads a nullable string.
    pub fn nullable_string(&mut self, field: &str) -> Result<Option<StrBytes>> {
        let Some(n) = self.length(field, false)? else {
            return Ok(None);
        };
        let bytes = self.take(n, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(StrBytes::from_string(s.to_owned()))),
            Err(e) => {
                self.pos -= n;
                Err(self.error(field, format_args!("string is not UTF-8: {e}")))
            }
        }
    }

    /// Reads a `bytes` field (non-nullable; int32 length, or a compact length when flexible).
    pub fn bytes(&mut self, field: &str) -> Result<bytes::Bytes> {
        let start = self.pos;
        let Some(n) = self.length(field, true)? else {
            self.pos = start;
            return Err(self.error(field, "null in non-nullable bytes"));
        };
        Ok(bytes::Bytes::copy_from_slice(self.take(n, field)?))
    }

    /// Reads a string that may not be null.
    pub fn string(&mut self, field: &str) -> Result<StrBytes> {
        let start = self.pos;
        match self.nullable_string(field)? {
            Some(s) => Ok(s),
            None => {
                self.pos = start;
                Err(self.error(field, "null in a non-nullable string"))
            }
        }
    }

    /// Reads an array's count, which may not be null, and checks that `count` elements of at
    /// least `min_size` bytes each fit in what remains.
    pub fn array_len(&mut self, field: &str, min_size: usize) -> Result<usize> {
        let start = self.pos;
        let Some(count) = self.length(field, true)? else {
            self.pos = start;
            return Err(self.error(field, "null in a non-nullable array"));
        };
        let min_size = min_size.max(1);
        match count.checked_mul(min_size) {
            Some(need) if need <= self.remaining() => Ok(count),
            _ => {
                let left = self.remaining();
                self.pos = start;
                Err(self.error(
                    field,
                    format_args!(
                        "array of {count} elements of at least {min_size} bytes \
                         cannot fit in the {left} bytes left"
                    ),
                ))
            }
        }
    }

    /// Reads an array whose elements take at least `min_size` bytes each, decoding each with
    /// `element`.
    pub fn array<T>(
        &mut self,
        field: &str,
        min_size: usize,
        mut element: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let count = self.array_len(field, min_size)?;
        let mut out = Vec::with_capacity(count.min(PREALLOC_LIMIT));
        for _ in 0..count {
            #[cfg(test)]
            let start = self.pos;
            out.push(element(self)?);
            // The smallest size must be a true lower bound, or valid bodies would be refused.
            #[cfg(test)]
            assert!(
                self.pos - start >= min_size,
                "{} v{} {field}: an element of {} bytes, below the minimum {min_size}",
                self.what,
                self.version,
                self.pos - start
            );
        }
        Ok(out)
    }

    /// Reads an array of `int32` values, converted with `From`.
    pub fn i32_array<T: From<i32>>(&mut self, field: &str) -> Result<Vec<T>> {
        self.array(field, 4, |r| r.i32(field).map(T::from))
    }

    /// Reads a tagged-field section (flexible versions only; a no-op otherwise). `known` is
    /// called with each tag and a reader limited to that field's bytes; it returns whether it
    /// decoded the field. Fields it does not know are skipped.
    pub fn tagged_fields(
        &mut self,
        field: &str,
        mut known: impl FnMut(u32, &mut Reader<'a>) -> Result<bool>,
    ) -> Result<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(field)?;
        // Each field takes at least two bytes: its tag and its size.
        if u64::from(count) * 2 > self.remaining() as u64 {
            return Err(self.error(
                field,
                format_args!(
                    "{count} tagged fields cannot fit in the {} bytes left",
                    self.remaining()
                ),
            ));
        }
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            if size > self.remaining() {
                return Err(self.error(
                    field,
                    format_args!(
                        "tagged field {tag} of {size} bytes, {} left",
                        self.remaining()
                    ),
                ));
            }
            let mut sub = Reader {
                buf: self.buf,
                pos: self.pos,
                end: self.pos + size,
                what: self.what,
                version: self.version,
                flexible: self.flexible,
                #[cfg(test)]
                lengths: Vec::new(),
            };
            let res = known(tag, &mut sub);
            #[cfg(test)]
            self.lengths.append(&mut sub.lengths);
            res?;
            self.pos += size;
        }
        Ok(())
    }

    /// Skips a tagged-field section (flexible versions only).
    pub fn skip_tagged_fields(&mut self, field: &str) -> Result<()> {
        self.tagged_fields(field, |_, _| Ok(false))
    }

    /// The smallest encoded size of a string's length prefix.
    pub fn min_string(&self) -> usize {
        if self.flexible {
            1
        } else {
            2
        }
    }

    /// The smallest encoded size of an array's count.
    pub fn min_array(&self) -> usize {
        if self.flexible {
            1
        } else {
            4
        }
    }

    /// The smallest encoded size of a tagged-field section.
    pub fn min_tags(&self) -> usize {
        usize::from(self.flexible)
    }

    #[cfg(test)]
    pub(crate) fn take_lengths(&mut self) -> Vec<LengthField> {
        std::mem::take(&mut self.lengths)
    }
}
