//! Compression codecs for record batches, framed exactly as the Kafka Java
//! client frames them.
//!
//! | codec  | id | framing written                                   | framing read                         |
//! |--------|----|---------------------------------------------------|--------------------------------------|
//! | none   | 0  | —                                                 | —                                    |
//! | gzip   | 1  | one gzip member (RFC 1952)                        | one or more gzip members             |
//! | snappy | 2  | snappy-java "xerial" stream, 32 KiB chunks        | xerial stream, or one raw snappy block |
//! | lz4    | 3  | LZ4 frame, 64 KiB independent blocks, no checksums | any LZ4 frame                        |
//! | zstd   | 4  | one zstd frame (with content size)                | one or more zstd frames              |
//!
//! Compression contexts (deflate state, zstd context, LZ4 hash table, snappy
//! encoder) are cached per thread, so compressing a batch allocates nothing
//! beyond growing the output buffer.
//!
//! Decompression is meant for untrusted input: every decoder stops with
//! [`CompressionError::LimitExceeded`] as soon as the output would exceed the
//! caller's limit, and never sizes an allocation from a length read off the
//! wire without checking it against that limit first. The one exception is the
//! zstd window, which (like zstd's and Kafka's default) may be up to 128 MiB of
//! lazily committed memory, as Java producers at high levels declare it.
//!
//! Each codec but `none` is a cargo feature of the same name (`gzip`, `snappy`, `lz4`,
//! `zstd`; all default). A codec whose feature is off neither compresses nor
//! decompresses: both fail with [`CompressionError::Disabled`].

#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
use std::cell::RefCell;
use std::fmt;
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
use std::io::Read;
use std::str::FromStr;

/// Lowest gzip level accepted by Kafka (`Deflater.BEST_SPEED`).
pub const GZIP_MIN_LEVEL: i32 = 1;
/// Highest gzip level accepted by Kafka (`Deflater.BEST_COMPRESSION`).
pub const GZIP_MAX_LEVEL: i32 = 9;
/// Kafka's default `compression.gzip.level`: `-1`, zlib's default (level 6).
pub const GZIP_DEFAULT_LEVEL: i32 = -1;
/// Lowest `compression.lz4.level` accepted by Kafka.
pub const LZ4_MIN_LEVEL: i32 = 1;
/// Highest `compression.lz4.level` accepted by Kafka.
pub const LZ4_MAX_LEVEL: i32 = 17;
/// Kafka's default `compression.lz4.level`.
pub const LZ4_DEFAULT_LEVEL: i32 = 9;
/// Lowest `compression.zstd.level` accepted by Kafka (`Zstd.minCompressionLevel()`).
pub const ZSTD_MIN_LEVEL: i32 = -131_072;
/// Highest `compression.zstd.level` accepted by Kafka (`Zstd.maxCompressionLevel()`).
pub const ZSTD_MAX_LEVEL: i32 = 22;
/// Kafka's default `compression.zstd.level`.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// The 8-byte magic that starts a snappy-java (xerial) stream: `0x82 "SNAPPY" 0x00`.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Length of the xerial stream header: magic, version (i32 BE), compatible version (i32 BE).
#[cfg(feature = "snappy")]
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial chunk; snappy-java's default block size.
#[cfg(feature = "snappy")]
const XERIAL_CHUNK_SIZE: usize = 32 * 1024;

/// LZ4 frame magic number (little-endian on the wire).
#[cfg(feature = "lz4")]
const LZ4_MAGIC: u32 = 0x184D_2204;
/// Uncompressed bytes per LZ4 block: Kafka's `BLOCKSIZE_64KB`.
#[cfg(feature = "lz4")]
const LZ4_BLOCK_SIZE: usize = 64 * 1024;
/// LZ4 frame descriptor written by Kafka's `Lz4BlockOutputStream`:
/// FLG = version 01, block independence, no block/content checksum, no content
/// size, no dictionary (0x60); BD = 64 KiB max block size (0x40); HC = second
/// byte of xxHash32(FLG, BD) with seed 0 (0x82).
#[cfg(feature = "lz4")]
const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// High bit of an LZ4 block size: the block is stored uncompressed.
#[cfg(feature = "lz4")]
const LZ4_UNCOMPRESSED_FLAG: u32 = 0x8000_0000;

/// Largest zstd window (log2) the decoder accepts: 2^27 = 128 MiB, zstd's
/// default limit and therefore what Kafka's Java consumer (zstd-jni) accepts.
/// It cannot be lower: Java producers at levels >= 20 declare a 128 MiB window
/// even for tiny batches, because they stream without a content size. The
/// window buffer is allocated lazily by the OS, so only the pages actually
/// written (bounded by the output limit) become resident.
#[cfg(feature = "zstd")]
const ZSTD_MAX_WINDOW_LOG: u32 = 27;

/// A compression codec, identified on the wire by bits 0-2 of a record batch's
/// attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionCodec {
    /// No compression (id 0).
    None,
    /// gzip (id 1).
    Gzip,
    /// snappy (id 2).
    Snappy,
    /// LZ4 (id 3).
    Lz4,
    /// Zstandard (id 4).
    Zstd,
}

impl CompressionCodec {
    /// Every codec, in id order.
    pub const ALL: [CompressionCodec; 5] = [
        CompressionCodec::None,
        CompressionCodec::Gzip,
        CompressionCodec::Snappy,
        CompressionCodec::Lz4,
        CompressionCodec::Zstd,
    ];

    /// The codec id stored in the batch attributes (0-4).
    pub const fn id(self) -> u8 {
        match self {
            CompressionCodec::None => 0,
            CompressionCodec::Gzip => 1,
            CompressionCodec::Snappy => 2,
            CompressionCodec::Lz4 => 3,
            CompressionCodec::Zstd => 4,
        }
    }

    /// The codec for an attribute id, or `None` for ids 5-7 (and anything larger).
    pub const fn from_id(id: u8) -> Option<CompressionCodec> {
        match id {
            0 => Some(CompressionCodec::None),
            1 => Some(CompressionCodec::Gzip),
            2 => Some(CompressionCodec::Snappy),
            3 => Some(CompressionCodec::Lz4),
            4 => Some(CompressionCodec::Zstd),
            _ => None,
        }
    }

    /// Whether this build can compress and decompress with the codec: `none` always, the
    /// others when their cargo feature (`gzip`, `snappy`, `lz4`, `zstd`) is on.
    pub const fn is_enabled(self) -> bool {
        match self {
            CompressionCodec::None => true,
            CompressionCodec::Gzip => cfg!(feature = "gzip"),
            CompressionCodec::Snappy => cfg!(feature = "snappy"),
            CompressionCodec::Lz4 => cfg!(feature = "lz4"),
            CompressionCodec::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// Kafka's `compression.type` name: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub const fn name(self) -> &'static str {
        match self {
            CompressionCodec::None => "none",
            CompressionCodec::Gzip => "gzip",
            CompressionCodec::Snappy => "snappy",
            CompressionCodec::Lz4 => "lz4",
            CompressionCodec::Zstd => "zstd",
        }
    }

    /// Parses a `compression.type` name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Result<CompressionCodec, CompressionError> {
        CompressionCodec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| CompressionError::UnknownName(name.to_owned()))
    }

    /// Inclusive `(min, max)` of the levels Kafka accepts, or `None` for codecs
    /// without levels. Gzip additionally accepts `-1` (see [`Self::validate_level`]).
    pub const fn level_range(self) -> Option<(i32, i32)> {
        match self {
            CompressionCodec::None | CompressionCodec::Snappy => None,
            CompressionCodec::Gzip => Some((GZIP_MIN_LEVEL, GZIP_MAX_LEVEL)),
            CompressionCodec::Lz4 => Some((LZ4_MIN_LEVEL, LZ4_MAX_LEVEL)),
            CompressionCodec::Zstd => Some((ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL)),
        }
    }

    /// Kafka's default level for the codec, or `None` for codecs without levels.
    pub const fn default_level(self) -> Option<i32> {
        match self {
            CompressionCodec::None | CompressionCodec::Snappy => None,
            CompressionCodec::Gzip => Some(GZIP_DEFAULT_LEVEL),
            CompressionCodec::Lz4 => Some(LZ4_DEFAULT_LEVEL),
            CompressionCodec::Zstd => Some(ZSTD_DEFAULT_LEVEL),
        }
    }

    /// Checks `level` the way Kafka's config validators do: gzip `1..=9` or
    /// `-1`, lz4 `1..=17`, zstd `-131072..=22`. Codecs without levels reject
    /// every level.
    pub fn validate_level(self, level: i32) -> Result<(), String> {
        let ok = match self.level_range() {
            None => {
                return Err(format!("compression type {self} does not take a level"));
            }
            Some((min, max)) => {
                (min..=max).contains(&level)
                    || (self == CompressionCodec::Gzip && level == GZIP_DEFAULT_LEVEL)
            }
        };
        if ok {
            Ok(())
        } else if self == CompressionCodec::Gzip {
            Err(format!(
                "invalid gzip compression level {level}: must be between {GZIP_MIN_LEVEL} and \
                 {GZIP_MAX_LEVEL} or equal to {GZIP_DEFAULT_LEVEL}"
            ))
        } else {
            let (min, max) = self.level_range().unwrap_or((0, 0));
            Err(format!(
                "invalid {self} compression level {level}: must be between {min} and {max}"
            ))
        }
    }
}

impl fmt::Display for CompressionCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CompressionCodec {
    type Err = CompressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CompressionCodec::from_name(s)
    }
}

/// A codec plus its optional level: what a producer compresses batches with.
///
/// `level: None` means Kafka's default for the codec. The LZ4 level is
/// accepted and validated for config compatibility but **ignored**: `lz4_flex`
/// has a single (fast) compression mode, equivalent to Kafka's level 1. The
/// output is still a standard LZ4 frame that any reader decodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records are stored uncompressed.
    #[default]
    None,
    /// gzip; level `1..=9`, or `-1` / `None` for zlib's default (6).
    Gzip {
        /// Compression level; `None` means [`GZIP_DEFAULT_LEVEL`].
        level: Option<i32>,
    },
    /// snappy, written in snappy-java's xerial framing.
    Snappy,
    /// LZ4 frame; the level (`1..=17`) is validated but ignored.
    Lz4 {
        /// Compression level; validated, then ignored.
        level: Option<i32>,
    },
    /// Zstandard; level `-131072..=22`, `None` for the default (3).
    Zstd {
        /// Compression level; `None` means [`ZSTD_DEFAULT_LEVEL`].
        level: Option<i32>,
    },
}

impl Compression {
    /// The codec with its default level.
    pub const fn from_codec(codec: CompressionCodec) -> Compression {
        match codec {
            CompressionCodec::None => Compression::None,
            CompressionCodec::Gzip => Compression::Gzip { level: None },
            CompressionCodec::Snappy => Compression::Snappy,
            CompressionCodec::Lz4 => Compression::Lz4 { level: None },
            CompressionCodec::Zstd => Compression::Zstd { level: None },
        }
    }

    /// The codec with an explicit level, validated like Kafka's config does.
    /// For `none` and `snappy` the level is ignored (Kafka has no level
    /// setting for them).
    pub fn with_level(codec: CompressionCodec, level: Option<i32>) -> Result<Compression, String> {
        let compression = match codec {
            CompressionCodec::None => Compression::None,
            CompressionCodec::Snappy => Compression::Snappy,
            CompressionCodec::Gzip => Compression::Gzip { level },
            CompressionCodec::Lz4 => Compression::Lz4 { level },
            CompressionCodec::Zstd => Compression::Zstd { level },
        };
        compression.validate()?;
        Ok(compression)
    }

    /// Parses a Kafka `compression.type` name (ASCII case-insensitive) into the
    /// codec with its default level.
    pub fn from_name(name: &str) -> Result<Compression, CompressionError> {
        CompressionCodec::from_name(name).map(Compression::from_codec)
    }

    /// The codec.
    pub const fn codec(&self) -> CompressionCodec {
        match self {
            Compression::None => CompressionCodec::None,
            Compression::Gzip { .. } => CompressionCodec::Gzip,
            Compression::Snappy => CompressionCodec::Snappy,
            Compression::Lz4 { .. } => CompressionCodec::Lz4,
            Compression::Zstd { .. } => CompressionCodec::Zstd,
        }
    }

    /// The configured level, if any.
    pub const fn level(&self) -> Option<i32> {
        match self {
            Compression::None | Compression::Snappy => None,
            Compression::Gzip { level }
            | Compression::Lz4 { level }
            | Compression::Zstd { level } => *level,
        }
    }

    /// The configured level, or Kafka's default for the codec; `None` for codecs
    /// without levels.
    pub const fn effective_level(&self) -> Option<i32> {
        match self.level() {
            Some(level) => Some(level),
            None => self.codec().default_level(),
        }
    }

    /// Checks the level against Kafka's ranges (see
    /// [`CompressionCodec::validate_level`]). An unset level is always valid.
    pub fn validate(&self) -> Result<(), String> {
        match self.level() {
            None => Ok(()),
            Some(level) => self.codec().validate_level(level),
        }
    }

    /// Compresses `input` and **appends** the framed result to `out` (existing
    /// contents of `out` are kept). `Compression::None` appends `input` as is.
    ///
    /// Fails only for an invalid level, an input too large for the codec
    /// (snappy: 4 GiB per stream), or a codec whose cargo feature is off
    /// ([`CompressionError::Disabled`]).
    pub fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        self.validate()
            .map_err(|reason| CompressionError::InvalidLevel {
                codec: self.codec(),
                reason,
            })?;
        disabled_check(self.codec())?;
        match *self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip { level } => gzip_compress(input, level, out),
            Compression::Snappy => snappy_compress(input, out),
            Compression::Lz4 { .. } => lz4_compress(input, out),
            Compression::Zstd { level } => {
                zstd_compress(input, level.unwrap_or(ZSTD_DEFAULT_LEVEL), out)
            }
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level() {
            Some(level) => write!(f, "{}(level {level})", self.codec()),
            None => write!(f, "{}", self.codec()),
        }
    }
}

impl FromStr for Compression {
    type Err = CompressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::from_name(s)
    }
}

/// Errors from compressing, decompressing or parsing codec names.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// `compression.type` is not one of `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    #[error("unknown compression type {0:?} (expected none, gzip, snappy, lz4 or zstd)")]
    UnknownName(String),
    /// The level is outside Kafka's accepted range for the codec.
    #[error("{codec}: {reason}")]
    InvalidLevel {
        /// The codec.
        codec: CompressionCodec,
        /// What is wrong with the level.
        reason: String,
    },
    /// Decompressed output would exceed the caller's limit.
    #[error("decompressed {codec} data exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// The codec.
        codec: CompressionCodec,
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed data is malformed or truncated.
    #[error("corrupt {codec} data: {reason}")]
    Corrupt {
        /// The codec.
        codec: CompressionCodec,
        /// What the decoder reported.
        reason: String,
    },
    /// The codec's cargo feature is off in this build of Volley.
    #[error(
        "the {0} codec is not compiled in: enable the `{0}` cargo feature of volley-kafka \
         (a default feature)"
    )]
    Disabled(CompressionCodec),
    /// The codec failed while compressing.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec.
        codec: CompressionCodec,
        /// What the encoder reported.
        reason: String,
    },
}

/// [`CompressionError::Disabled`] for a codec whose cargo feature is off.
fn disabled_check(codec: CompressionCodec) -> Result<(), CompressionError> {
    if codec.is_enabled() {
        Ok(())
    } else {
        Err(CompressionError::Disabled(codec))
    }
}

#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
fn corrupt(codec: CompressionCodec, reason: impl fmt::Display) -> CompressionError {
    CompressionError::Corrupt {
        codec,
        reason: reason.to_string(),
    }
}

#[cfg(any(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]
fn compress_failed(codec: CompressionCodec, reason: impl fmt::Display) -> CompressionError {
    CompressionError::Compress {
        codec,
        reason: reason.to_string(),
    }
}

/// Decompresses `input` (framed as described in the [module docs](self)) into a
/// new vector, failing with [`CompressionError::LimitExceeded`] if the output
/// would be larger than `limit` bytes.
pub fn decompress(
    codec: CompressionCodec,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    decompress_into(codec, input, limit, &mut out)?;
    Ok(out)
}

/// Like [`decompress`], but **appends** to `out` and returns the number of bytes
/// appended; `limit` bounds the appended bytes. On error `out` may hold a
/// partial result after its original contents.
pub fn decompress_into(
    codec: CompressionCodec,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, CompressionError> {
    disabled_check(codec)?;
    let start = out.len();
    match codec {
        CompressionCodec::None => {
            if input.len() > limit {
                return Err(CompressionError::LimitExceeded { codec, limit });
            }
            out.extend_from_slice(input);
        }
        CompressionCodec::Gzip => gzip_decompress(input, limit, out)?,
        CompressionCodec::Snappy => snappy_decompress(input, limit, out)?,
        CompressionCodec::Lz4 => lz4_decompress(input, limit, out)?,
        CompressionCodec::Zstd => zstd_decompress(input, limit, out)?,
    }
    Ok(out.len() - start)
}

// A codec whose cargo feature is off: `compress` and `decompress_into` refuse it before these
// are reached (`disabled_check`); they only keep the dispatch above free of `cfg`s.
#[cfg(not(feature = "gzip"))]
use disabled::{gzip_compress, gzip_decompress};
#[cfg(not(feature = "lz4"))]
use disabled::{lz4_compress, lz4_decompress};
#[cfg(not(feature = "snappy"))]
use disabled::{snappy_compress, snappy_decompress};
#[cfg(not(feature = "zstd"))]
use disabled::{zstd_compress, zstd_decompress};

#[cfg(not(all(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
)))]
#[allow(dead_code)] // only the disabled codecs' functions are used
mod disabled {
    use super::{CompressionCodec, CompressionError};

    type Out<'a> = &'a mut Vec<u8>;
    pub(super) fn gzip_compress(_: &[u8], _: Option<i32>, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Gzip))
    }
    pub(super) fn gzip_decompress(_: &[u8], _: usize, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Gzip))
    }
    pub(super) fn snappy_compress(_: &[u8], _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Snappy))
    }
    pub(super) fn snappy_decompress(_: &[u8], _: usize, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Snappy))
    }
    pub(super) fn lz4_compress(_: &[u8], _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Lz4))
    }
    pub(super) fn lz4_decompress(_: &[u8], _: usize, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Lz4))
    }
    pub(super) fn zstd_compress(_: &[u8], _: i32, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Zstd))
    }
    pub(super) fn zstd_decompress(_: &[u8], _: usize, _: Out) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled(CompressionCodec::Zstd))
    }
}

/// Reads `reader` to the end into `out`, failing once more than `limit` bytes arrive.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn read_limited<R: Read>(
    codec: CompressionCodec,
    reader: R,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let start = out.len();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() - start > limit {
        return Err(CompressionError::LimitExceeded { codec, limit });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// gzip

#[cfg(feature = "gzip")]
fn gzip_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let codec = CompressionCodec::Gzip;
    read_limited(codec, flate2::read::MultiGzDecoder::new(input), limit, out)
}

#[cfg(feature = "gzip")]
thread_local! {
    /// Raw-deflate compressor reused across batches on this thread, with its level.
    static DEFLATE: RefCell<Option<(u32, flate2::Compress)>> = const { RefCell::new(None) };
}

/// Writes one gzip member: 10-byte header, raw deflate stream, CRC-32 and size trailer.
#[cfg(feature = "gzip")]
fn gzip_compress(
    input: &[u8],
    level: Option<i32>,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    const CODEC: CompressionCodec = CompressionCodec::Gzip;
    let level = match level.unwrap_or(GZIP_DEFAULT_LEVEL) {
        GZIP_DEFAULT_LEVEL => 6,
        level => level as u32,
    };
    // magic, CM = deflate, FLG = 0, MTIME = 0, XFL = 0, OS = unknown
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let deflate = match &mut *slot {
            Some((cached, deflate)) if *cached == level => {
                deflate.reset();
                deflate
            }
            slot => {
                &mut slot
                    .insert((
                        level,
                        flate2::Compress::new(flate2::Compression::new(level), false),
                    ))
                    .1
            }
        };
        // Deflate never expands by more than ~5 bytes per 16 KiB stored block.
        out.reserve(input.len() + input.len() / 1024 + 64);
        let mut rest = input;
        loop {
            let before = deflate.total_in();
            let status = deflate
                .compress_vec(rest, out, flate2::FlushCompress::Finish)
                .map_err(|e| compress_failed(CODEC, e))?;
            rest = &rest[(deflate.total_in() - before) as usize..];
            if status == flate2::Status::StreamEnd {
                return Ok(());
            }
            out.reserve(4096.max(rest.len() / 4));
        }
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input length modulo 2^32.
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------
// snappy

#[cfg(feature = "snappy")]
thread_local! {
    static SNAPPY: RefCell<Option<snap::raw::Encoder>> = const { RefCell::new(None) };
}

/// Writes a snappy-java (xerial) stream: 16-byte header, then for every 32 KiB
/// of input a big-endian i32 compressed length followed by a raw snappy block.
#[cfg(feature = "snappy")]
fn snappy_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    const CODEC: CompressionCodec = CompressionCodec::Snappy;
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
    SNAPPY.with(|cell| {
        let mut slot = cell.borrow_mut();
        let encoder = slot.get_or_insert_with(snap::raw::Encoder::new);
        for chunk in input.chunks(XERIAL_CHUNK_SIZE) {
            let len_at = out.len();
            let bound = snap::raw::max_compress_len(chunk.len());
            out.resize(len_at + 4 + bound, 0);
            let n = encoder
                .compress(chunk, &mut out[len_at + 4..])
                .map_err(|e| compress_failed(CODEC, e))?;
            // n <= max_compress_len(32 KiB) so it always fits an i32.
            out[len_at..len_at + 4].copy_from_slice(&(n as i32).to_be_bytes());
            out.truncate(len_at + 4 + n);
        }
        Ok(())
    })
}

/// Decodes a xerial stream (including concatenated streams), or, if the input
/// does not start with the xerial magic, a single raw snappy block — the same
/// fallback snappy-java's `SnappyInputStream` applies.
#[cfg(feature = "snappy")]
fn snappy_decompress(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    const CODEC: CompressionCodec = CompressionCodec::Snappy;
    let start = out.len();
    let mut decoder = snap::raw::Decoder::new();
    let mut block = |data: &[u8], out: &mut Vec<u8>| -> Result<(), CompressionError> {
        let len = snap::raw::decompress_len(data).map_err(|e| corrupt(CODEC, e))?;
        if len > limit - (out.len() - start) {
            return Err(CompressionError::LimitExceeded {
                codec: CODEC,
                limit,
            });
        }
        let at = out.len();
        out.resize(at + len, 0);
        let n = decoder
            .decompress(data, &mut out[at..])
            .map_err(|e| corrupt(CODEC, e))?;
        out.truncate(at + n);
        Ok(())
    };
    if !input.starts_with(&XERIAL_MAGIC) {
        return block(input, out);
    }
    let Some(mut rest) = input.get(XERIAL_HEADER_LEN..) else {
        return Err(corrupt(CODEC, "truncated xerial header"));
    };
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            // Another stream concatenated to this one.
            if rest.len() < XERIAL_HEADER_LEN {
                return Err(corrupt(CODEC, "truncated xerial header"));
            }
            rest = &rest[XERIAL_HEADER_LEN..];
            continue;
        }
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(CODEC, "truncated xerial chunk length"));
        };
        let len = i32::from_be_bytes(*len);
        let len =
            usize::try_from(len).map_err(|_| corrupt(CODEC, "negative xerial chunk length"))?;
        if len > tail.len() {
            return Err(corrupt(
                CODEC,
                "xerial chunk longer than the remaining input",
            ));
        }
        let (chunk, tail) = tail.split_at(len);
        block(chunk, out)?;
        rest = tail;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// lz4

/// Reads an LZ4 frame. Only the frame format, as Java's KafkaLZ4BlockInputStream: `lz4_flex`
/// also reads the legacy format, whose decoder takes an 8 MiB buffer up front.
#[cfg(feature = "lz4")]
fn lz4_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let codec = CompressionCodec::Lz4;
    if input.get(..4) != Some(&LZ4_MAGIC.to_le_bytes()[..]) {
        return Err(corrupt(
            codec,
            "not an LZ4 frame (no frame magic 0x184D2204)",
        ));
    }
    read_limited(codec, lz4_flex::frame::FrameDecoder::new(input), limit, out)
}

/// What LZ4 compression keeps per thread between batches: the match tables (a small one with
/// 16-bit positions for blocks under 64 KiB, as liblz4 uses for such inputs, and a large one
/// for a full 64 KiB block) and an output buffer zeroed once, so a batch's compression clears
/// only its table and copies only the compressed bytes, instead of zeroing the block's worst
/// case in the batch buffer each time.
#[cfg(feature = "lz4")]
struct Lz4Context {
    small: lz4_flex::block::CompressTable,
    large: lz4_flex::block::CompressTable,
    scratch: Vec<u8>,
}

#[cfg(feature = "lz4")]
thread_local! {
    static LZ4: RefCell<Option<Lz4Context>> = const { RefCell::new(None) };
}

/// Writes an LZ4 frame exactly like Kafka's `Lz4BlockOutputStream`: magic,
/// descriptor [`LZ4_DESCRIPTOR`], 64 KiB independent blocks (stored raw with
/// the high size bit set when compression does not shrink them), end mark.
#[cfg(feature = "lz4")]
fn lz4_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    const CODEC: CompressionCodec = CompressionCodec::Lz4;
    out.extend_from_slice(&LZ4_MAGIC.to_le_bytes());
    out.extend_from_slice(&LZ4_DESCRIPTOR);
    LZ4.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ctx = slot.get_or_insert_with(|| Lz4Context {
            small: lz4_flex::block::CompressTable::small(),
            large: lz4_flex::block::CompressTable::large(),
            scratch: vec![0; lz4_flex::block::get_maximum_output_size(LZ4_BLOCK_SIZE)],
        });
        for block in input.chunks(LZ4_BLOCK_SIZE) {
            // The small table's positions are 16-bit: only for blocks it can address.
            let table = if block.len() < u16::MAX as usize {
                &mut ctx.small
            } else {
                &mut ctx.large
            };
            let n = lz4_flex::block::compress_into_with_table(block, &mut ctx.scratch, table)
                .map_err(|e| compress_failed(CODEC, e))?;
            if n < block.len() {
                out.extend_from_slice(&(n as u32).to_le_bytes());
                out.extend_from_slice(&ctx.scratch[..n]);
            } else {
                let size = block.len() as u32 | LZ4_UNCOMPRESSED_FLAG;
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(block);
            }
        }
        Ok::<(), CompressionError>(())
    })?;
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}

// ---------------------------------------------------------------------------
// zstd

#[cfg(feature = "zstd")]
fn zstd_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let codec = CompressionCodec::Zstd;
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, e))?;
    decoder
        .window_log_max(ZSTD_MAX_WINDOW_LOG)
        .map_err(|e| corrupt(codec, e))?;
    read_limited(codec, decoder, limit, out)
}

#[cfg(feature = "zstd")]
thread_local! {
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Writes one zstd frame (content size recorded in the header) after `out`'s
/// current contents, without zero-filling the destination.
#[cfg(feature = "zstd")]
fn zstd_compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), CompressionError> {
    const CODEC: CompressionCodec = CompressionCodec::Zstd;
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some((cached, compressor)) if *cached == level => compressor,
            slot => {
                let compressor =
                    zstd::bulk::Compressor::new(level).map_err(|e| compress_failed(CODEC, e))?;
                &mut slot.insert((level, compressor)).1
            }
        };
        let start = out.len();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        let mut cursor = std::io::Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        compressor
            .compress_to_buffer(input, &mut cursor)
            .map_err(|e| compress_failed(CODEC, e))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {

    // Failure: a legacy LZ4 frame (magic 0x184C2102, which Java refuses) decoded, at the cost
    // of an 8 MiB buffer for a few bytes of input (found by the fuzz targets). Invariant: only
    // the LZ4 frame format is read; anything else is a typed Corrupt error.
    #[test]
    #[cfg(feature = "lz4")]
    fn lz4_reads_only_the_frame_format() {
        let legacy = [
            0x02, 0x21, 0x4C, 0x18, 0x05, 0x00, 0x00, 0x00, 0x50, b'h', b'e', b'l', b'l',
        ];
        for input in [&legacy[..], &[][..], &[0x04, 0x22][..]] {
            match decompress(CompressionCodec::Lz4, input, 1 << 20) {
                Err(CompressionError::Corrupt { reason, .. }) => {
                    assert!(reason.contains("not an LZ4 frame"), "{reason}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        let mut frame = Vec::new();
        Compression::from_codec(CompressionCodec::Lz4)
            .compress(b"hello hello hello", &mut frame)
            .unwrap();
        assert_eq!(
            decompress(CompressionCodec::Lz4, &frame, 1 << 20).unwrap(),
            b"hello hello hello"
        );
    }
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial.
        (0..len)
            .map(|i| ((i * 7) % 251) as u8 ^ ((i / 100) as u8))
            .collect()
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// The codecs of this build, at several levels.
    fn all() -> Vec<Compression> {
        let all = vec![
            Compression::None,
            Compression::Gzip { level: None },
            Compression::Gzip { level: Some(1) },
            Compression::Gzip { level: Some(9) },
            Compression::Snappy,
            Compression::Lz4 { level: None },
            Compression::Zstd { level: None },
            Compression::Zstd { level: Some(-5) },
            Compression::Zstd { level: Some(19) },
        ];
        all.into_iter().filter(|c| c.codec().is_enabled()).collect()
    }

    // Invariant: with a codec's cargo feature off, compressing and decompressing with it are
    // typed `Disabled` errors (never a panic), and the message names the feature.
    #[test]
    fn disabled_codecs_are_typed_errors() {
        for codec in CompressionCodec::ALL {
            let compressed = Compression::from_codec(codec).compress(b"x", &mut Vec::new());
            let decompressed = decompress(codec, b"x", 1 << 10);
            if codec.is_enabled() {
                assert!(compressed.is_ok(), "{codec}");
                continue;
            }
            for err in [compressed.unwrap_err(), decompressed.unwrap_err()] {
                assert!(
                    matches!(err, CompressionError::Disabled(c) if c == codec),
                    "{err}"
                );
                assert!(
                    err.to_string()
                        .contains(&format!("`{codec}` cargo feature")),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn round_trip_all_codecs() {
        for c in all() {
            for len in [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 64 * 1024, 200_000] {
                for data in [sample(len), random(len, len as u64 + 3)] {
                    let mut out = b"prefix".to_vec();
                    c.compress(&data, &mut out).unwrap();
                    assert_eq!(&out[..6], b"prefix");
                    let back = decompress(c.codec(), &out[6..], data.len()).unwrap();
                    assert_eq!(back, data, "{c} len {len}");
                    if !data.is_empty() {
                        let err = decompress(c.codec(), &out[6..], data.len() - 1).unwrap_err();
                        assert!(
                            matches!(err, CompressionError::LimitExceeded { .. }),
                            "{c}: {err}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn names_ids_and_levels() {
        for codec in CompressionCodec::ALL {
            assert_eq!(CompressionCodec::from_id(codec.id()), Some(codec));
            assert_eq!(codec.name().parse::<CompressionCodec>().unwrap(), codec);
        }
        assert_eq!(CompressionCodec::from_id(5), None);
        assert_eq!(
            Compression::from_name("ZSTD").unwrap(),
            Compression::Zstd { level: None }
        );
        assert!(Compression::from_name("brotli").is_err());
        assert_eq!(
            Compression::Gzip { level: None }.effective_level(),
            Some(-1)
        );
        assert_eq!(Compression::Lz4 { level: None }.effective_level(), Some(9));
        assert_eq!(Compression::Zstd { level: None }.effective_level(), Some(3));
        assert!(Compression::Gzip { level: Some(-1) }.validate().is_ok());
        assert!(Compression::Gzip { level: Some(0) }.validate().is_err());
        assert!(Compression::Gzip { level: Some(10) }.validate().is_err());
        assert!(Compression::Lz4 { level: Some(17) }.validate().is_ok());
        assert!(Compression::Lz4 { level: Some(18) }.validate().is_err());
        assert!(Compression::Zstd {
            level: Some(-131_072)
        }
        .validate()
        .is_ok());
        assert!(Compression::Zstd {
            level: Some(-131_073)
        }
        .validate()
        .is_err());
        assert!(Compression::Zstd { level: Some(23) }.validate().is_err());
        assert!(Compression::with_level(CompressionCodec::Snappy, Some(99)).is_ok());
        let err = Compression::Gzip { level: Some(12) }.compress(b"x", &mut Vec::new());
        assert!(matches!(err, Err(CompressionError::InvalidLevel { .. })));
    }

    #[test]
    #[cfg(feature = "gzip")]
    fn gzip_is_a_standard_gzip_member() {
        let data = sample(10_000);
        let mut out = Vec::new();
        Compression::Gzip { level: None }
            .compress(&data, &mut out)
            .unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    #[cfg(feature = "lz4")]
    fn lz4_descriptor_matches_kafka_and_frame_spec() {
        // lz4_flex computes the header checksum itself; our constant must agree.
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        std::io::Write::write_all(&mut enc, b"hello").unwrap();
        let reference = enc.finish().unwrap();
        assert_eq!(&reference[..4], &LZ4_MAGIC.to_le_bytes());
        assert_eq!(&reference[4..7], &LZ4_DESCRIPTOR);
        let mut ours = Vec::new();
        Compression::Lz4 { level: None }
            .compress(b"hello", &mut ours)
            .unwrap();
        assert_eq!(&ours[..7], &reference[..7]);
    }

    #[test]
    #[cfg(feature = "snappy")]
    fn snappy_xerial_layout_and_raw_fallback() {
        let data = sample(70_000);
        let mut out = Vec::new();
        Compression::Snappy.compress(&data, &mut out).unwrap();
        assert_eq!(&out[..8], &XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let first = i32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
        let chunk = snap::raw::Decoder::new()
            .decompress_vec(&out[20..20 + first])
            .unwrap();
        assert_eq!(chunk, &data[..XERIAL_CHUNK_SIZE]);
        // Raw snappy block (what some non-Java clients write).
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(CompressionCodec::Snappy, &raw, usize::MAX).unwrap(),
            data
        );
        // Concatenated xerial streams.
        let mut twice = out.clone();
        twice.extend_from_slice(&out);
        let back = decompress(CompressionCodec::Snappy, &twice, usize::MAX).unwrap();
        assert_eq!(back.len(), 2 * data.len());
    }

    #[test]
    #[cfg(all(feature = "snappy", feature = "zstd"))]
    fn hostile_inputs_fail_cleanly() {
        // A raw snappy header declaring ~4 GiB must not allocate it.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(decompress(CompressionCodec::Snappy, &huge, 1 << 20).is_err());
        // A zstd frame header declaring a 2^40-byte window/content.
        let mut zstd_bomb = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe4];
        zstd_bomb.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(decompress(CompressionCodec::Zstd, &zstd_bomb, 1 << 20).is_err());
        // A real zstd bomb: 100 MB of zeros, limit 1 MB.
        let zeros = vec![0u8; 100 << 20];
        let mut bomb = Vec::new();
        Compression::Zstd { level: Some(1) }
            .compress(&zeros, &mut bomb)
            .unwrap();
        let err = decompress(CompressionCodec::Zstd, &bomb, 1 << 20).unwrap_err();
        assert!(matches!(
            err,
            CompressionError::LimitExceeded { .. } | CompressionError::Corrupt { .. }
        ));
        for codec in CompressionCodec::ALL {
            for len in 0..64 {
                let junk = random(len, 99 + len as u64);
                let _ = decompress(codec, &junk, 1 << 16);
            }
        }
    }
}
