//! Decoder tests: round trips against `kafka-protocol`'s encoders at every version, and hostile
//! input (truncations, huge or negative lengths in every length field, random bytes).

use std::ops::RangeInclusive;
use std::time::Instant;

use kafka_protocol::messages::metadata_response::{
    MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiVersionsResponse, BrokerId,
    EndTxnResponse, FindCoordinatorResponse, GetTelemetrySubscriptionsResponse,
    InitProducerIdResponse, MetadataResponse, ProduceResponse, PushTelemetryResponse,
    SaslAuthenticateResponse, SaslHandshakeResponse, TopicName, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

use super::samples::{encode, encoded_sample, Gen, Sample};
use super::*;
use crate::protocol::varint::write_uvarint;

/// Seeds per version in the round-trip tests.
const SEEDS: u64 = 150;

/// Encodes a sample with `kafka-protocol`, decodes it with ours: equal, and every byte used.
/// With unknown tagged fields in the encoding, the decoder skips them and the rest is equal.
fn round_trip<T: Sample>() {
    for v in T::VERSIONS {
        for seed in 0..SEEDS {
            let expected = T::sample(&mut Gen::new(seed, false), v);
            let bytes = encode(&expected, v);
            let (got, used) = decode_body_at::<T>(&bytes, v)
                .unwrap_or_else(|e| panic!("{} v{v} seed {seed}: {e}", T::API));
            assert_eq!(got, expected, "{} v{v} seed {seed}", T::API);
            assert_eq!(used, bytes.len(), "{} v{v} seed {seed}", T::API);

            let with_unknown = T::sample(&mut Gen::new(seed, true), v);
            let bytes = encode(&with_unknown, v);
            let (got, used) = decode_body_at::<T>(&bytes, v)
                .unwrap_or_else(|e| panic!("{} v{v} seed {seed} (unknown tags): {e}", T::API));
            assert_eq!(got, expected, "{} v{v} seed {seed} (unknown tags)", T::API);
            assert_eq!(used, bytes.len());
        }
    }
}

#[test]
fn round_trip_produce() {
    round_trip::<ProduceResponse>();
}

#[test]
fn round_trip_metadata() {
    round_trip::<MetadataResponse>();
}

#[test]
fn round_trip_api_versions() {
    round_trip::<ApiVersionsResponse>();
}

#[test]
fn round_trip_init_producer_id() {
    round_trip::<InitProducerIdResponse>();
}

#[test]
fn round_trip_find_coordinator() {
    round_trip::<FindCoordinatorResponse>();
}

#[test]
fn round_trip_add_partitions_to_txn() {
    round_trip::<AddPartitionsToTxnResponse>();
}

#[test]
fn round_trip_add_offsets_to_txn() {
    round_trip::<AddOffsetsToTxnResponse>();
}

#[test]
fn round_trip_end_txn() {
    round_trip::<EndTxnResponse>();
}

#[test]
fn round_trip_txn_offset_commit() {
    round_trip::<TxnOffsetCommitResponse>();
}

/// The decoders cover at least what the client negotiates.
#[test]
fn decoders_cover_the_client_versions() {
    use crate::protocol::frame::CLIENT_VERSIONS;
    use kafka_protocol::messages::ApiKey;
    for &(key, lo, hi) in CLIENT_VERSIONS {
        let range = match key {
            ApiKey::Produce => ProduceResponse::VERSIONS,
            ApiKey::Metadata => MetadataResponse::VERSIONS,
            ApiKey::ApiVersions => ApiVersionsResponse::VERSIONS,
            ApiKey::InitProducerId => InitProducerIdResponse::VERSIONS,
            ApiKey::FindCoordinator => FindCoordinatorResponse::VERSIONS,
            ApiKey::AddPartitionsToTxn => AddPartitionsToTxnResponse::VERSIONS,
            ApiKey::AddOffsetsToTxn => AddOffsetsToTxnResponse::VERSIONS,
            ApiKey::EndTxn => EndTxnResponse::VERSIONS,
            ApiKey::TxnOffsetCommit => TxnOffsetCommitResponse::VERSIONS,
            ApiKey::SaslHandshake => SaslHandshakeResponse::VERSIONS,
            ApiKey::SaslAuthenticate => SaslAuthenticateResponse::VERSIONS,
            ApiKey::GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse::VERSIONS,
            ApiKey::PushTelemetry => PushTelemetryResponse::VERSIONS,
            other => panic!("no decoder for {other:?}"),
        };
        assert!(
            range.contains(&lo) && range.contains(&hi),
            "{key:?} {lo}..={hi} not within {range:?}"
        );
    }
}

// --- the same tests over every response type ----------------------------------------------------

/// A decode's outcome: the bytes used, and the length fields read.
type Decoded = (Result<usize>, Vec<LengthField>);

/// One response type, type-erased.
struct Api {
    name: &'static str,
    versions: RangeInclusive<i16>,
    sample: fn(&mut Gen, i16) -> Vec<u8>,
    /// Decodes, returning the bytes used and the length fields read.
    decode: fn(&[u8], i16) -> Decoded,
}

fn decode_erased<T: DecodeResponse>(b: &[u8], v: i16) -> Decoded {
    let (res, lengths) = decode_traced::<T>(b, v);
    (res.map(|(_, used)| used), lengths)
}

macro_rules! apis {
    ($($t:ty),*) => {
        vec![$(Api {
            name: <$t as DecodeResponse>::API,
            versions: <$t as DecodeResponse>::VERSIONS,
            sample: encoded_sample::<$t>,
            decode: decode_erased::<$t>,
        }),*]
    };
}

fn apis() -> Vec<Api> {
    apis![
        ProduceResponse,
        MetadataResponse,
        ApiVersionsResponse,
        InitProducerIdResponse,
        FindCoordinatorResponse,
        AddPartitionsToTxnResponse,
        AddOffsetsToTxnResponse,
        EndTxnResponse,
        TxnOffsetCommitResponse,
        SaslHandshakeResponse,
        SaslAuthenticateResponse,
        GetTelemetrySubscriptionsResponse,
        PushTelemetryResponse
    ]
}

/// A few small encoded samples of every type at every version: `(api, version, seed, bytes)`.
fn corpus(seeds: u64) -> Vec<(&'static Api, i16, u64, Vec<u8>)> {
    let apis: &'static [Api] = Box::leak(apis().into_boxed_slice());
    let mut out = Vec::new();
    for api in apis {
        for v in api.versions.clone() {
            for seed in 0..seeds {
                for unknown in [false, true] {
                    let bytes = (api.sample)(&mut Gen::small(seed, unknown), v);
                    out.push((api, v, seed, bytes));
                }
            }
        }
    }
    out
}

fn assert_decode_error(res: &Result<usize>, context: impl Fn() -> String) {
    match res {
        Err(ProtocolError::Decode { .. }) => {}
        other => panic!("{}: expected a decode error, got {other:?}", context()),
    }
}

// Every strict prefix of a valid body is a decode error (the decoder reads every byte of a valid
// body, so a shorter one runs out).
#[test]
fn every_truncation_is_an_error() {
    for (api, v, seed, bytes) in corpus(10) {
        for cut in 0..bytes.len() {
            let (res, _) = (api.decode)(&bytes[..cut], v);
            assert_decode_error(&res, || {
                format!(
                    "{} v{v} seed {seed}: cut at {cut} of {}",
                    api.name,
                    bytes.len()
                )
            });
        }
    }
}

/// Length values no valid body of a few kilobytes can carry, as encoded for `field`.
fn hostile_lengths(field: &LengthField) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if field.flexible {
        // Compact: the value is length + 1. u32::MAX (2^32 - 2 elements), 2^31 (2^31 - 1),
        // and, for arrays (never nullable here), 0 (null).
        let mut values = vec![u32::MAX, 1 << 31, (1 << 31) + 1];
        if field.array {
            values.push(0);
        }
        for v in values {
            let mut b = Vec::new();
            write_uvarint(&mut b, v);
            out.push(b);
        }
    } else if field.array {
        for v in [i32::MAX, -1, -2, i32::MIN] {
            out.push(v.to_be_bytes().to_vec());
        }
    } else {
        for v in [i16::MAX, -2, i16::MIN] {
            out.push(v.to_be_bytes().to_vec());
        }
    }
    out
}

// Every array count and string length of every sample, replaced by 2^31 - 1, 2^32 - 2, a
// negative value or (arrays) null, gives a decode error, and at once: nothing is reserved for
// the announced count.
#[test]
fn hostile_lengths_in_every_position_are_errors() {
    let start = Instant::now();
    let mut cases = 0usize;
    for (api, v, seed, bytes) in corpus(6) {
        let (res, fields) = (api.decode)(&bytes, v);
        assert_eq!(res.ok(), Some(bytes.len()), "{} v{v} seed {seed}", api.name);
        for field in &fields {
            for hostile in hostile_lengths(field) {
                let mut b = bytes[..field.start].to_vec();
                b.extend_from_slice(&hostile);
                b.extend_from_slice(&bytes[field.start + field.len..]);
                let (res, _) = (api.decode)(&b, v);
                assert_decode_error(&res, || {
                    format!(
                        "{} v{v} seed {seed}: {field:?} replaced by {hostile:02x?}",
                        api.name
                    )
                });
                cases += 1;
            }
        }
    }
    assert!(cases > 10_000, "only {cases} cases");
    assert!(
        start.elapsed().as_secs() < 60,
        "{cases} cases took {:?}",
        start.elapsed()
    );
}

// The counts of the bodies in tests/bad_input.rs, and a count in every array of a v0 and a v12
// Metadata response, straight from bytes.
#[test]
fn hostile_counts_from_bytes() {
    // ApiVersions v3: error 0, api_keys compact count u32::MAX.
    let b = [0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let e = decode_body::<ApiVersionsResponse>(&b, 3).unwrap_err();
    assert!(e.to_string().contains("api_keys"), "{e}");
    // ApiVersions v0: i32::MAX api keys.
    let b = [0x00, 35, 0x7f, 0xff, 0xff, 0xff];
    assert!(decode_body::<ApiVersionsResponse>(&b, 0).is_err());
    // Metadata v12: throttle time, brokers compact count u32::MAX.
    let b = [0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let e = decode_body::<MetadataResponse>(&b, 12).unwrap_err();
    assert!(e.to_string().contains("brokers"), "{e}");
    // A varint of six bytes.
    let b = [0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let e = decode_body::<MetadataResponse>(&b, 12).unwrap_err();
    assert!(e.to_string().contains("varint"), "{e}");
    // A varint of five bytes of value 0: a null array, not allowed.
    let b = [0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x00];
    let e = decode_body::<ApiVersionsResponse>(&b, 3).unwrap_err();
    assert!(e.to_string().contains("null"), "{e}");
}

// Tagged fields: an unknown one is skipped by its size; a size past the end, a count that
// cannot fit, or a known field that does not decode within its size are errors.
#[test]
fn tagged_field_sections() {
    // ApiVersions v3: error 0, no api keys, throttle 0, then the tagged fields.
    let head = [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00];
    let body = |tags: &[u8]| [&head[..], tags].concat();
    // Unknown tag 9 of 2 bytes, then ZkMigrationReady (tag 3) = true.
    let r = decode_body::<ApiVersionsResponse>(&body(&[2, 9, 2, 0xaa, 0xbb, 3, 1, 1]), 3).unwrap();
    assert!(r.zk_migration_ready);
    assert!(r.unknown_tagged_fields.is_empty());
    // A known field with trailing bytes within its size: the rest of its size is skipped.
    let r = decode_body::<ApiVersionsResponse>(&body(&[1, 3, 2, 1, 0xff]), 3).unwrap();
    assert!(r.zk_migration_ready);
    for bad in [
        &[1, 9, 5, 0xff][..],                            // size past the end
        &[0x7f][..],                                     // 127 fields in no bytes
        &[1, 1, 4, 0, 0, 0, 0][..],                      // finalized epoch (i64) in 4 bytes
        &[1, 0, 1, 0xff, 0x0f][..], // features count u32::MAX - 1, inside a 1-byte field
        &[1, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..], // over-long size varint
    ] {
        let res = decode_body::<ApiVersionsResponse>(&body(bad), 3);
        assert!(
            matches!(res, Err(ProtocolError::Decode { .. })),
            "{bad:02x?}: {res:?}"
        );
    }
}

// Strings: invalid UTF-8 and null where the schema does not allow it are errors; null where
// it does is `None`.
#[test]
fn string_checks() {
    // FindCoordinator v1: throttle, error code, error message (nullable), node id, host, port.
    let body = |msg: &[u8], host: &[u8]| {
        [
            &[0, 0, 0, 0, 0, 0][..],
            msg,
            &[0, 0, 0, 1],
            host,
            &[0, 0, 0, 9],
        ]
        .concat()
    };
    let r = decode_body::<FindCoordinatorResponse>(&body(&[0xff, 0xff], &[0, 1, b'h']), 1).unwrap();
    assert_eq!(r.error_message, None);
    assert_eq!(r.host.as_str(), "h");
    assert_eq!(r.port, 9);
    for (msg, host) in [
        (&[0xff, 0xff][..], &[0xff, 0xff][..]), // null host
        (&[0, 2, 0xc3, 0x28][..], &[0, 0][..]), // invalid UTF-8 in the message
        (&[0xff, 0xff][..], &[0, 1, 0x80][..]), // invalid UTF-8 in the host
        (&[0xff, 0xfe][..], &[0, 0][..]),       // length -2
    ] {
        let res = decode_body::<FindCoordinatorResponse>(&body(msg, host), 1);
        assert!(
            matches!(res, Err(ProtocolError::Decode { .. })),
            "{msg:02x?} {host:02x?}: {res:?}"
        );
    }
}

// Versions outside a decoder's range are errors, not guesses.
#[test]
fn unknown_versions_are_errors() {
    for api in apis() {
        for v in [
            -1,
            api.versions.start() - 1,
            api.versions.end() + 1,
            i16::MAX,
        ] {
            if api.versions.contains(&v) {
                continue;
            }
            let (res, _) = (api.decode)(&[0; 64], v);
            assert_decode_error(&res, || format!("{} v{v}", api.name));
        }
    }
}

// Trailing bytes after a complete body are ignored.
#[test]
fn trailing_bytes_are_ignored() {
    for (api, v, seed, mut bytes) in corpus(3) {
        let len = bytes.len();
        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let (res, _) = (api.decode)(&bytes, v);
        assert_eq!(res.ok(), Some(len), "{} v{v} seed {seed}", api.name);
    }
}

// Arrays longer than the up-front reservation still decode (they grow as they are read).
#[test]
fn long_arrays_decode() {
    for v in [4, 12] {
        let mut expected = MetadataResponse::default();
        let mut topic = MetadataResponseTopic::default();
        topic.name = Some(TopicName(StrBytes::from_static_str("t")));
        topic.partitions = (0..3 * PREALLOC_LIMIT as i32)
            .map(|i| {
                let mut p = MetadataResponsePartition::default();
                p.partition_index = i;
                p.replica_nodes = (0..5).map(BrokerId).collect();
                p
            })
            .collect();
        expected.topics = vec![topic];
        let bytes = encode(&expected, v);
        let got = decode_body::<MetadataResponse>(&bytes, v).unwrap();
        assert_eq!(got, expected, "v{v}");
    }
}

// Random bytes, and valid bodies with a few random bytes changed, never make a decoder panic.
proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for api in apis() {
            for v in api.versions.clone() {
                let _ = (api.decode)(&bytes, v);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_bodies_never_panic(
        seed in 0u64..1000,
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let apis = apis();
        let api = which.get(&apis);
        let versions: Vec<i16> = api.versions.clone().collect();
        let v = versions[seed as usize % versions.len()];
        let mut bytes = (api.sample)(&mut Gen::new(seed, seed % 2 == 0), v);
        if !bytes.is_empty() {
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
        }
        let _ = (api.decode)(&bytes, v);
    }
}
