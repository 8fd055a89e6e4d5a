//! Entry points for the fuzz targets (`fuzz/` at the repository root) and for the unit test that
//! replays their corpora. Not part of the public API: compiled only with `--cfg fuzzing` (what
//! `scripts/fuzz` builds with) and in this crate's own tests.
//!
//! Each entry takes arbitrary bytes, feeds them to one of the readers of outside bytes and
//! returns; it must never panic. The allocation caps the fuzz crate enforces are the constants
//! below: every reader promises that no single allocation exceeds them, whatever the input.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiVersionsRequest, EndTxnRequest,
    FindCoordinatorRequest, GetTelemetrySubscriptionsRequest, InitProducerIdRequest,
    MetadataRequest, ProduceRequest, PushTelemetryRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest, TxnOffsetCommitRequest,
};

use crate::protocol::compression::{decompress, CompressionCodec};
use crate::protocol::decode::{decode_body_at, DecodeResponse};
use crate::protocol::frame::{self, Request};
use crate::protocol::record_batch::{
    decode_batches_with_limit, ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD,
    RECORD_BATCH_OVERHEAD,
};
use crate::protocol::varint;
use crate::security::sasl::{oauthbearer, scram};

/// The largest single allocation a response decoder may make for a body of at most
/// [`MAX_INPUT`] bytes: arrays reserve at most `PREALLOC_LIMIT` elements up front and strings
/// take what their bytes take, so nothing grows with a count read from the wire.
pub const DECODE_ALLOC_CAP: usize = 1 << 20;

/// The longest input the fuzz targets are run with (`-max_len`); the caps assume it.
pub const MAX_INPUT: usize = 64 * 1024;

/// `max_response_size` given to the frame reader in [`frames`]: a frame prefix may ask for up to
/// this much, and the reader allocates it before reading the body (as it does for a broker).
pub const FRAME_MAX: usize = 2 << 20;

/// The decompression limit given to the record batch decoder and to [`decompress`].
pub const DECOMPRESS_LIMIT: usize = 1 << 20;

/// The largest single allocation while decompressing with a limit of [`DECOMPRESS_LIMIT`]:
/// `read_to_end` doubles its buffer up to twice the limit, and an LZ4 frame's block buffer
/// takes its block size whatever the limit: up to 4 MiB for the frame format Kafka writes, and
/// 8 MiB for the legacy format (magic `0x184C2102`) that `lz4_flex` also reads. Found by the
/// `decompress` and `record_batch` targets: a short legacy frame cost an 8 MiB buffer. Like
/// Java's `KafkaLZ4BlockInputStream`, `decompress` now refuses input that does not start with
/// the frame magic; a legacy frame concatenated after a valid one is still read by `lz4_flex`,
/// with this constant cost per decompression (in the producer only the split path decodes
/// batches, and only the producer's own).
pub const DECOMPRESS_ALLOC_CAP: usize = (8 << 20) + MAX_INPUT;

/// A fuzz target: its name, its entry and the largest single allocation it may make.
pub type Target = (&'static str, fn(&[u8]), usize);

/// The targets, by name, with their single-allocation caps.
pub const TARGETS: &[Target] = &[
    ("response", response, DECODE_ALLOC_CAP),
    ("frames", frames, FRAME_MAX + DECODE_ALLOC_CAP),
    ("record_batch", record_batches, DECOMPRESS_ALLOC_CAP),
    ("decompress", decompress_any, DECOMPRESS_ALLOC_CAP),
    ("varint", varints, DECODE_ALLOC_CAP),
    ("properties", properties, DECODE_ALLOC_CAP),
    ("sasl", sasl, DECODE_ALLOC_CAP),
    (
        "tls_stores",
        crate::security::tls::fuzz_stores,
        DECODE_ALLOC_CAP,
    ),
];

/// Decodes `body` as the response type `T` at `version`; a decoded body never claims more
/// bytes than it was given.
fn decode_one<T: DecodeResponse>(body: &[u8], version: i16) {
    if let Ok((_, used)) = decode_body_at::<T>(body, version) {
        assert!(
            used <= body.len(),
            "{} v{version} used {used} bytes",
            T::API
        );
    }
}

/// The version `selector` picks among `T`'s versions, or one past the last (to exercise the
/// version check).
fn version_of<T: DecodeResponse>(selector: u8) -> i16 {
    let (first, last) = (*T::VERSIONS.start(), *T::VERSIONS.end());
    first + (i16::from(selector) % (last - first + 2))
}

/// Calls `$f::<Request type>(args)` for the API `selector` picks among every response this
/// client decodes.
macro_rules! for_api {
    ($selector:expr, $f:ident ( $($arg:expr),* )) => {
        match $selector % 13 {
            0 => $f::<ProduceRequest>($($arg),*),
            1 => $f::<MetadataRequest>($($arg),*),
            2 => $f::<ApiVersionsRequest>($($arg),*),
            3 => $f::<InitProducerIdRequest>($($arg),*),
            4 => $f::<FindCoordinatorRequest>($($arg),*),
            5 => $f::<AddPartitionsToTxnRequest>($($arg),*),
            6 => $f::<AddOffsetsToTxnRequest>($($arg),*),
            7 => $f::<EndTxnRequest>($($arg),*),
            8 => $f::<TxnOffsetCommitRequest>($($arg),*),
            9 => $f::<SaslHandshakeRequest>($($arg),*),
            10 => $f::<SaslAuthenticateRequest>($($arg),*),
            11 => $f::<GetTelemetrySubscriptionsRequest>($($arg),*),
            _ => $f::<PushTelemetryRequest>($($arg),*),
        }
    };
}

/// `[api, version, body...]`: one response body decoded at one version.
pub fn response(data: &[u8]) {
    let [api, version, body @ ..] = data else {
        return;
    };
    fn one<R: Request>(version: u8, body: &[u8]) {
        decode_one::<R::Response>(body, version_of::<R::Response>(version));
    }
    for_api!(api, one(*version, body));
}

/// `[api, version, stream...]`: size-prefixed frames read from a byte stream by the
/// connection's frame reader (limit [`FRAME_MAX`]), each decoded as a response (header and body)
/// of the chosen API until the stream ends or a frame is refused.
pub fn frames(data: &[u8]) {
    let [api, version, stream @ ..] = data else {
        return;
    };
    let mut stream: &[u8] = stream;
    fn one<R: Request>(version: u8, frame: bytes::Bytes) {
        let version = version_of::<R::Response>(version);
        let Ok(correlation_id) = frame::response_correlation_id(&frame) else {
            return;
        };
        if R::KEY == kafka_protocol::messages::ApiKey::ApiVersions {
            let _ = frame::decode_api_versions(frame, version, correlation_id);
        } else {
            let _ = frame::decode_response::<R>(frame, version, correlation_id);
        }
    }
    loop {
        let read = crate::io::connection::read_frame(&mut stream, FRAME_MAX, "fuzz");
        match ready(read) {
            Ok(frame) => for_api!(api, one(*version, frame)),
            Err(_) => return,
        }
    }
}

/// Runs a future that never waits (one reading from a byte slice) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("a read from a byte slice never waits"),
    }
}

/// Concatenated v2 record batches, decoded with a decompression limit of
/// [`DECOMPRESS_LIMIT`]. Each batch's CRC is set right first (where its length says the batch
/// is), so that the fuzzer gets past the checksum to the records.
pub fn record_batches(data: &[u8]) {
    let fixed = fix_crcs(data);
    let _ = decode_batches_with_limit(&fixed, DECOMPRESS_LIMIT);
    // And as given: a wrong CRC must be an error, not a panic.
    let _ = decode_batches_with_limit(data, DECOMPRESS_LIMIT);
}

/// `data` with the CRC-32C of every batch it can delimit recomputed.
pub fn fix_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut pos = 0;
    while let Some(header) = out.get(pos..pos + RECORD_BATCH_OVERHEAD) {
        let length = i32::from_be_bytes(
            header[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|l| (pos + LOG_OVERHEAD).checked_add(l))
            .filter(|end| *end <= out.len() && *end >= pos + RECORD_BATCH_OVERHEAD)
        else {
            break;
        };
        let crc = crc32c::crc32c(&out[pos + ATTRIBUTES_OFFSET..end]);
        out[pos + CRC_OFFSET..pos + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
    out
}

/// `[codec, compressed...]`: one decompression with the limit [`DECOMPRESS_LIMIT`]; what
/// comes out is never longer than the limit.
pub fn decompress_any(data: &[u8]) {
    let [codec, input @ ..] = data else {
        return;
    };
    let codec = CompressionCodec::ALL[usize::from(*codec) % CompressionCodec::ALL.len()];
    if let Ok(out) = decompress(codec, input, DECOMPRESS_LIMIT) {
        assert!(
            out.len() <= DECOMPRESS_LIMIT,
            "{codec:?}: {} bytes",
            out.len()
        );
    }
}

/// Every varint reader over the input; a value read is written back to the same value, in
/// the size the size function gives.
pub fn varints(data: &[u8]) {
    round_trips(
        data,
        varint::read_uvarint,
        varint::write_uvarint,
        varint::uvarint_size,
    );
    round_trips(
        data,
        varint::read_varint,
        varint::write_varint,
        varint::varint_size,
    );
    round_trips(
        data,
        varint::read_uvarlong,
        varint::write_uvarlong,
        varint::uvarlong_size,
    );
    round_trips(
        data,
        varint::read_varlong,
        varint::write_varlong,
        varint::varlong_size,
    );
}

/// Reads values with `read` until it fails, checking each against `write` and `size`.
fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
    data: &[u8],
    read: fn(&mut &[u8]) -> Result<T, varint::VarintError>,
    write: fn(&mut Vec<u8>, T),
    size: fn(T) -> usize,
) {
    let mut rest = data;
    while let Ok(v) = read(&mut rest) {
        let mut buf = Vec::new();
        write(&mut buf, v);
        assert_eq!(read(&mut &buf[..]), Ok(v));
        assert_eq!(buf.len(), size(v));
    }
}

/// A `.properties` file: parsed, then validated as a producer configuration (the value
/// parsers, the JAAS line, the host lists).
pub fn properties(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs = crate::config::parse_properties(&text);
    let _ = crate::ProducerConfig::from_properties(pairs);
}

/// `[kind, bytes...]`: the SASL answers a broker (or a token endpoint) sends, and the JAAS
/// configuration line.
pub fn sasl(data: &[u8]) {
    let [kind, rest @ ..] = data else {
        return;
    };
    match kind % 6 {
        0 => scram::fuzz_server_first(rest),
        1 => scram::fuzz_server_final(rest),
        2 => oauthbearer::fuzz_challenges(rest),
        3 => {
            let _ = crate::security::sasl::jaas::parse(&String::from_utf8_lossy(rest));
        }
        4 => scram::fuzz_session(rest),
        _ => {
            #[cfg(feature = "oauth-oidc")]
            crate::security::sasl::oidc::fuzz_token_response(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The committed corpora (`fuzz/corpus/<target>/`) replayed through every target, so that
    //! `cargo test` runs what the fuzzer found interesting; and their seeds, written with
    //! `VOLLEY_WRITE_FUZZ_CORPUS=1 cargo test -p volley-kafka --lib fuzzing::` (valid responses from
    //! the decoder tests' samples at every version, frames, batches of every codec, ...).

    use std::path::{Path, PathBuf};

    use kafka_protocol::protocol::HeaderVersion;

    use super::*;
    use crate::protocol::compression::Compression;
    use crate::protocol::decode::samples::{encoded_sample, Gen, Sample};
    use crate::protocol::record_batch::{BatchBuilder, BatchParams, RecordHeader};

    fn corpus_dir(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target)
    }

    /// Every committed input of every target, run through it: no panic.
    #[test]
    fn corpora_replay_without_panics() {
        for (name, entry, _) in TARGETS {
            let dir = corpus_dir(name);
            let files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|f| f.expect("a directory entry").path())
                .collect();
            assert!(files.len() >= 5, "{name}: only {} inputs", files.len());
            for f in files {
                let data = std::fs::read(&f).expect("a corpus file");
                assert!(data.len() <= MAX_INPUT, "{}: too long", f.display());
                entry(&data);
            }
        }
    }

    /// `(api selector, version selector, header length, header and body)` of small samples of
    /// every response at every version.
    fn response_seeds() -> Vec<(u8, u8, usize, Vec<u8>)> {
        fn one<R: Request>(api: u8, out: &mut Vec<(u8, u8, usize, Vec<u8>)>)
        where
            R::Response: Sample,
        {
            let versions = <R::Response as DecodeResponse>::VERSIONS;
            for v in versions.clone() {
                for seed in 0..2 {
                    let mut g = Gen::small(seed, seed == 1);
                    let body = encoded_sample::<R::Response>(&mut g, v);
                    let header_flexible = R::Response::header_version(v) >= 1;
                    let mut frame = 7i32.to_be_bytes().to_vec();
                    if header_flexible {
                        frame.push(0);
                    }
                    frame.extend_from_slice(&body);
                    let selector = (v - versions.start()) as u8;
                    let header_len = frame.len() - body.len();
                    out.push((api, selector, header_len, frame));
                }
            }
        }
        let mut out = Vec::new();
        for api in 0..13u8 {
            for_api!(api, one(api, &mut out));
        }
        out
    }

    fn batch(codec: CompressionCodec, records: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(Vec::new(), 1_700_000_000_000);
        for i in 0..records {
            let key = format!("key-{i}");
            let headers = [RecordHeader {
                key: "h",
                value: Some(b"v"),
            }];
            let headers = if i % 2 == 0 { &headers[..] } else { &[] };
            let value = (i % 3 != 0).then_some(&b"some value"[..]);
            b.append(
                1_700_000_000_000 + i as i64,
                Some(key.as_bytes()),
                value,
                headers,
            );
        }
        b.close(&BatchParams::NONE, &Compression::from_codec(codec))
            .expect("a batch")
            .as_bytes()
            .to_vec()
    }

    fn write(target: &str, name: &str, data: &[u8]) {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        std::fs::write(dir.join(name), data).expect("a seed");
    }

    /// Writes the seed corpora when `VOLLEY_WRITE_FUZZ_CORPUS` is set (a no-op otherwise).
    #[test]
    fn write_seed_corpora() {
        if std::env::var_os("VOLLEY_WRITE_FUZZ_CORPUS").is_none() {
            return;
        }
        for (i, (api, version, header_len, frame)) in response_seeds().into_iter().enumerate() {
            // The body alone for `response`, the size-prefixed header and body for `frames`.
            let mut response = vec![api, version];
            response.extend_from_slice(&frame[header_len..]);
            write("response", &format!("seed-{api}-{version}-{i}"), &response);
            let mut frames = vec![api, version];
            frames.extend_from_slice(&(frame.len() as i32).to_be_bytes());
            frames.extend_from_slice(&frame);
            write("frames", &format!("seed-{api}-{version}-{i}"), &frames);
        }
        for codec in CompressionCodec::ALL {
            let one = batch(codec, 3);
            write("record_batch", &format!("seed-{}", codec.name()), &one);
            let mut two = batch(codec, 1);
            two.extend_from_slice(&batch(codec, 5));
            write("record_batch", &format!("seed-{}-two", codec.name()), &two);
            let mut compressed = vec![codec.id()];
            Compression::from_codec(codec)
                .compress(
                    b"records records records records 0123456789",
                    &mut compressed,
                )
                .expect("compresses");
            write("decompress", &format!("seed-{}", codec.name()), &compressed);
        }
        for (i, v) in [
            &[0u8][..],
            &[0x7f],
            &[0x80, 0x01],
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
            &[0xff; 10],
            &[0x96, 0x01, 0x01, 0xfe, 0xff, 0x03],
        ]
        .iter()
        .enumerate()
        {
            write("varint", &format!("seed-{i}"), v);
        }
        for (i, text) in [
            "bootstrap.servers=127.0.0.1:9092\nlinger.ms=10\ncompression.type=lz4\n",
            "# comment\n! other\nacks = all\nretries: 5\nclient.id  volley\\\n   -1\n",
            "key\\=with\\:seps=\\u0041\\t\\n\nbatch.size=16384\r\nbuffer.memory=33554432\r",
            "bootstrap.servers=a:1,b:2\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"alice\" password=\"alice-secret\";\n",
            "bootstrap.servers=h:9\ntransactional.id=t\nenable.idempotence=true\n\
             max.in.flight.requests.per.connection=5\ndelivery.timeout.ms=120000\n\
             partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner\n",
        ]
        .iter()
        .enumerate()
        {
            write("properties", &format!("seed-{i}"), text.as_bytes());
        }
        let sasl: [(u8, &[u8]); 9] = [
            (0, b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            (0, b"r=abc,s=QSXCR+Q6sek8bf92,i=4096,x=ext"),
            (1, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            (1, b"e=invalid-proof"),
            (2, b"{\"status\":\"invalid_token\",\"scope\":\"kafka\"}\x00\x00"),
            (3, b"org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";"),
            (4, b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\x00v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            (5, b"{\"access_token\":\"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjoxOTAwMDAwMDAwfQ.\",\"expires_in\":3600}"),
            (5, b"{\"error\":\"invalid_client\",\"error_description\":\"bad secret\"}"),
        ];
        for (i, (kind, msg)) in sasl.iter().enumerate() {
            let mut input = vec![*kind];
            input.extend_from_slice(msg);
            write("sasl", &format!("seed-{i}"), &input);
        }
    }
}
