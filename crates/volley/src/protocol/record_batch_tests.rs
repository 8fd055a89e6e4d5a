//! Tests for `record_batch` (kept in a sibling file to keep the module short).

use super::*;
use crate::protocol::compression::{Compression, CompressionCodec};
use proptest::prelude::*;

const TS: i64 = 1_700_000_000_000;

/// Generated once with Kafka's own client (kafka-clients 4.4.0):
/// `MemoryRecords.withRecords(RecordBatch.MAGIC_VALUE_V2, 0L, Compression.NONE,
/// TimestampType.CREATE_TIME, -1L, (short) -1, -1, -1, false,
/// new SimpleRecord(1_700_000_000_000L, "k".getBytes(), "v".getBytes()))`,
/// buffer printed as hex by a single-file Java program (`java -cp <jars> Gen.java gen`).
const JAVA_TINY: &str =
    "00000000000000000000003affffffff02e99b8dd80000000000000000018bcfe568000000018bcfe56800\
                         ffffffffffffffffffffffffffff0000000110000000026b027600";

/// Same generator: `withRecords(MAGIC_VALUE_V2, 0L, Compression.NONE, CREATE_TIME,
/// 1234567L, (short) 7, 42, -1, true,
///   new SimpleRecord(ts, null, "value", [h1="x", h2=null]),
///   new SimpleRecord(ts - 5, "key2", null),
///   new SimpleRecord(ts + 300, new byte[0], new byte[0]))` with ts = 1_700_000_000_000.
const JAVA_HEADERS: &str = "000000000000000000000059ffffffff02dc8fa9ce0010000000020000018bcfe568000000018bcfe5692c\
                            000000000012d68700070000002a0000000328000000010a76616c7565040468310278046832011400090208\
                            6b65793201000e00d80404000000";

/// Batches compressed by Kafka's Java client (same generator, `tinyc` mode):
/// `withRecords(MAGIC_VALUE_V2, 0L, <codec>, CREATE_TIME, 77L, (short) 2, 5, -1, false,
///   new SimpleRecord(ts, "k", "v"),
///   new SimpleRecord(ts - 5, null, "hello hello hello hello", [h=null]))`.
/// The zstd level-22 frame declares a 128 MiB window (window descriptor 0x88).
const JAVA_COMPRESSED: [(CompressionCodec, &str); 5] = [
    (
        CompressionCodec::Gzip,
        "00000000000000000000005fffffffff02545797100001000000010000018bcfe568000000018bcfe56800000000\
         000000004d000200000005000000021f8b08000000000000ff1360606060ca662a637060e06462d4cb48cdc9c957\
         c020999832180149466eba2a000000",
    ),
    (
        CompressionCodec::Snappy,
        "000000000000000000000064ffffffff02e5996cec0002000000010000018bcfe568000000018bcfe56800000000\
         000000004d0002000000050000000282534e415050590000000001000000010000001f2a5010000000026b027600\
         40000902012e68656c6c6f204206000c02026801",
    ),
    (
        CompressionCodec::Lz4,
        "00000000000000000000005fffffffff02015d1cc10003000000010000018bcfe568000000018bcfe56800000000\
         000000004d0002000000050000000204224d186040821f000000fc0610000000026b02760040000902012e68656c\
         6c6f200600506f0202680100000000",
    ),
    (
        CompressionCodec::Zstd,
        "00000000000000000000005cffffffff021d749cf30004000000010000018bcfe568000000018bcfe56800000000\
         000000004d0002000000050000000228b52ffd0058fc0000c810000000026b02760040000902012e68656c6c6f20\
         020268010100331726010000",
    ),
    (
        CompressionCodec::Zstd,
        "00000000000000000000005cffffffff02f0a29af60004000000010000018bcfe568000000018bcfe56800000000\
         000000004d0002000000050000000228b52ffd0088fc0000c810000000026b02760040000902012e68656c6c6f20\
         020268010100331726010000",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Clone, Debug)]
struct Rec {
    ts: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn append(builder: &mut BatchBuilder, r: &Rec) -> i32 {
    let headers: Vec<RecordHeader<'_>> = r
        .headers
        .iter()
        .map(|(k, v)| RecordHeader {
            key: k,
            value: v.as_deref(),
        })
        .collect();
    builder.append(r.ts, r.key.as_deref(), r.value.as_deref(), &headers)
}

fn build(base: i64, recs: &[Rec]) -> BatchBuilder {
    let mut builder = BatchBuilder::new(Vec::new(), base);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(append(&mut builder, r), i as i32);
    }
    builder
}

const ALL: [Compression; 5] = [
    Compression::None,
    Compression::Gzip { level: None },
    Compression::Snappy,
    Compression::Lz4 { level: None },
    Compression::Zstd { level: None },
];

fn java_headers_records() -> Vec<Rec> {
    vec![
        Rec {
            ts: TS,
            key: None,
            value: Some(b"value".to_vec()),
            headers: vec![("h1".into(), Some(b"x".to_vec())), ("h2".into(), None)],
        },
        Rec {
            ts: TS - 5,
            key: Some(b"key2".to_vec()),
            value: None,
            headers: vec![],
        },
        Rec {
            ts: TS + 300,
            key: Some(vec![]),
            value: Some(vec![]),
            headers: vec![],
        },
    ]
}

fn assert_matches(
    batch: &DecodedBatch,
    recs: &[Rec],
    base: i64,
    params: &BatchParams,
    codec: CompressionCodec,
) {
    assert_eq!(batch.base_offset, 0);
    assert_eq!(batch.magic, 2);
    assert_eq!(batch.codec, codec);
    assert_eq!(batch.partition_leader_epoch, params.partition_leader_epoch);
    assert_eq!(batch.producer_id, params.producer_id);
    assert_eq!(batch.producer_epoch, params.producer_epoch);
    assert_eq!(batch.base_sequence, params.base_sequence);
    assert_eq!(batch.is_transactional(), params.transactional);
    assert!(!batch.is_control());
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batch.base_timestamp, base);
    assert_eq!(
        batch.max_timestamp,
        recs.iter().map(|r| r.ts).max().unwrap()
    );
    assert_eq!(batch.last_offset_delta, recs.len() as i32 - 1);
    assert_eq!(batch.records.len(), recs.len());
    for (i, (got, want)) in batch.records.iter().zip(recs).enumerate() {
        assert_eq!(got.offset_delta, i as i32);
        assert_eq!(got.attributes, 0);
        assert_eq!(got.timestamp, want.ts);
        assert_eq!(got.timestamp_delta, want.ts.wrapping_sub(base));
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        let headers: Vec<(String, Option<Vec<u8>>)> = got
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert_eq!(headers, want.headers);
    }
}

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn tiny_batch_byte_layout() {
    // Expected bytes written out field by field from the v2 spec.
    let mut expected = Vec::new();
    expected.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    expected.extend_from_slice(&58i32.to_be_bytes()); // batchLength = 70 - 12
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    expected.push(2); // magic
    expected.extend_from_slice(&[0; 4]); // crc, filled below
    expected.extend_from_slice(&0i16.to_be_bytes()); // attributes: no codec, CreateTime
    expected.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    expected.extend_from_slice(&TS.to_be_bytes()); // baseTimestamp
    expected.extend_from_slice(&TS.to_be_bytes()); // maxTimestamp
    expected.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    expected.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    expected.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    expected.extend_from_slice(&1i32.to_be_bytes()); // recordCount
    assert_eq!(expected.len(), RECORD_BATCH_OVERHEAD);
    expected.extend_from_slice(&[
        0x10, // length: zigzag(8)
        0x00, // attributes
        0x00, // timestampDelta 0
        0x00, // offsetDelta 0
        0x02, b'k', // keyLength zigzag(1), key
        0x02, b'v', // valueLength zigzag(1), value
        0x00, // header count 0
    ]);
    let crc = crc32c::crc32c(&expected[ATTRIBUTES_OFFSET..]);
    expected[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());

    let mut builder = BatchBuilder::new(vec![0xAA; 7], TS);
    assert_eq!(builder.append(TS, Some(b"k"), Some(b"v"), &[]), 0);
    assert_eq!(builder.estimated_size(), 70);
    let closed = builder
        .close(&BatchParams::NONE, &Compression::None)
        .unwrap();
    let bytes = closed.as_bytes();
    for (i, (got, want)) in bytes.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "byte {i}");
    }
    assert_eq!(bytes, &expected[..]);
    // And byte-identical to what Kafka's Java client writes.
    assert_eq!(bytes, &unhex(JAVA_TINY)[..]);
    assert_eq!(crc, 0xe99b_8dd8);
}

#[test]
fn matches_java_batch_with_headers_nulls_and_negative_delta() {
    let recs = java_headers_records();
    let params = BatchParams {
        producer_id: 1_234_567,
        producer_epoch: 7,
        base_sequence: 42,
        transactional: true,
        ..BatchParams::NONE
    };
    let closed = build(TS, &recs).close(&params, &Compression::None).unwrap();
    assert_eq!(closed.as_bytes(), &unhex(JAVA_HEADERS)[..]);
    let decoded = decode_batches(&unhex(JAVA_HEADERS)).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_matches(&decoded[0], &recs, TS, &params, CompressionCodec::None);
}

#[test]
fn decodes_batches_compressed_by_java() {
    let recs = vec![
        Rec {
            ts: TS,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![],
        },
        Rec {
            ts: TS - 5,
            key: None,
            value: Some(b"hello hello hello hello".to_vec()),
            headers: vec![("h".into(), None)],
        },
    ];
    let params = BatchParams {
        producer_id: 77,
        producer_epoch: 2,
        base_sequence: 5,
        ..BatchParams::NONE
    };
    for (codec, hex) in JAVA_COMPRESSED {
        let bytes = unhex(hex);
        let decoded = decode_batches(&bytes).unwrap_or_else(|e| panic!("{codec}: {e}"));
        assert_eq!(decoded.len(), 1);
        assert_matches(&decoded[0], &recs, TS, &params, codec);
        // Java's maxTimestamp is the largest record timestamp, as ours.
        assert_eq!(decoded[0].max_timestamp, TS);
    }
}

#[test]
fn compressed_batches_round_trip_and_return_buffers() {
    let recs = java_headers_records();
    for compression in ALL {
        let builder = build(TS, &recs);
        let uncompressed = builder.estimated_size();
        let closed = builder
            .close_into(&BatchParams::NONE, &compression, Vec::with_capacity(4096))
            .unwrap();
        assert_eq!(closed.codec(), compression.codec());
        assert_eq!(closed.record_count(), 3);
        assert_eq!(closed.uncompressed_size(), uncompressed);
        assert_eq!(closed.max_timestamp(), TS + 300);
        let attrs = i16::from_be_bytes([closed.as_bytes()[21], closed.as_bytes()[22]]);
        assert_eq!(
            attrs & ATTR_COMPRESSION_MASK,
            i16::from(compression.codec().id())
        );
        let decoded = decode_batches(closed.as_bytes()).unwrap();
        assert_matches(
            &decoded[0],
            &recs,
            TS,
            &BatchParams::NONE,
            compression.codec(),
        );
        let (wire, spare) = closed.into_buffers();
        let spare = spare.expect("a spare buffer is always handed back here");
        if compression == Compression::None {
            assert_eq!(wire.len(), uncompressed);
            assert_eq!(spare.capacity(), 4096);
        } else {
            assert_eq!(spare.len(), uncompressed, "uncompressed buffer returned");
        }
    }
}

#[test]
fn empty_batch_is_rejected() {
    let err = BatchBuilder::new(Vec::new(), 0).close(&BatchParams::NONE, &Compression::None);
    assert!(matches!(err, Err(BatchError::Empty)));
}

#[test]
fn builder_accessors_and_size_bounds() {
    let mut builder = BatchBuilder::new(Vec::with_capacity(1024), TS);
    assert!(builder.is_empty());
    assert_eq!(builder.estimated_size(), RECORD_BATCH_OVERHEAD);
    assert_eq!(builder.max_timestamp(), TS);
    let headers = [RecordHeader {
        key: "trace-id",
        value: Some(&[1, 2, 3]),
    }];
    let value = vec![7u8; 300];
    for (i, ts) in [TS + 10, TS - 1_000_000, i64::MIN, i64::MAX]
        .into_iter()
        .enumerate()
    {
        let exact = builder.record_size(ts, Some(b"key"), Some(&value), &headers);
        let bound = BatchBuilder::record_size_upper_bound(Some(3), Some(300), &headers);
        assert!(exact <= bound, "{exact} > {bound}");
        let before = builder.estimated_size();
        assert_eq!(
            builder.append(ts, Some(b"key"), Some(&value), &headers),
            i as i32
        );
        assert_eq!(builder.estimated_size() - before, exact);
    }
    assert_eq!(builder.record_count(), 4);
    assert!(!builder.is_empty());
    assert_eq!(builder.max_timestamp(), i64::MAX);
    assert_eq!(builder.base_timestamp(), TS);
    let bound_null = BatchBuilder::record_size_upper_bound(None, None, &[]);
    assert_eq!(bound_null, 1 + 1 + 10 + 5 + 1 + 1 + 1);
}

#[test]
fn rewrite_producer_state_updates_fields_and_crc() {
    let recs = java_headers_records();
    for compression in ALL {
        let mut closed = build(TS, &recs)
            .close(&BatchParams::NONE, &compression)
            .unwrap();
        closed.rewrite_producer_state(99, 3, 1000, true).unwrap();
        let batch = &decode_batches(closed.as_bytes()).unwrap()[0];
        assert_eq!(
            (batch.producer_id, batch.producer_epoch, batch.base_sequence),
            (99, 3, 1000)
        );
        assert!(batch.is_transactional());
        assert_eq!(batch.codec, compression.codec());
        closed.rewrite_producer_state(100, 4, 0, false).unwrap();
        let batch = &decode_batches(closed.as_bytes()).unwrap()[0];
        assert_eq!(
            (batch.producer_id, batch.producer_epoch, batch.base_sequence),
            (100, 4, 0)
        );
        assert!(!batch.is_transactional());
    }
    let mut short = vec![0u8; 60];
    assert!(rewrite_producer_state(&mut short, 1, 1, 1, false).is_err());
    let mut bytes = unhex(JAVA_TINY);
    bytes.push(0);
    let before = bytes.clone();
    assert!(rewrite_producer_state(&mut bytes, 1, 1, 1, false).is_err());
    assert_eq!(bytes, before, "untouched on error");
    let mut bytes = unhex(JAVA_TINY);
    bytes[MAGIC_OFFSET] = 1;
    assert!(rewrite_producer_state(&mut bytes, 1, 1, 1, false).is_err());
}

#[test]
fn concatenated_batches_and_large_records() {
    let big_compressible: Vec<u8> = (0..300_000u32).map(|i| (i % 97) as u8).collect();
    let big_random: Vec<u8> = (0..150_000u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect();
    let recs = vec![
        Rec {
            ts: TS,
            key: Some(big_random.clone()),
            value: Some(big_compressible),
            headers: vec![("big".into(), Some(big_random))],
        },
        Rec {
            ts: TS + 1,
            key: None,
            value: None,
            headers: vec![],
        },
    ];
    let mut all = Vec::new();
    for compression in ALL {
        let closed = build(TS, &recs)
            .close(&BatchParams::NONE, &compression)
            .unwrap();
        all.extend_from_slice(closed.as_bytes());
    }
    let decoded = decode_batches(&all).unwrap();
    assert_eq!(decoded.len(), ALL.len());
    let mut position = 0;
    for (batch, compression) in decoded.iter().zip(ALL) {
        assert_eq!(batch.position, position);
        position += batch.size_in_bytes();
        assert_matches(batch, &recs, TS, &BatchParams::NONE, compression.codec());
    }
    // The decompression budget covers the whole call: enough for the gzip
    // batch's ~600 kB, not for the snappy one after it as well.
    let err = decode_batches_with_limit(&all, 1_000_000).unwrap_err();
    match err {
        DecodeError::Decompression { position, .. } => assert_eq!(position, decoded[2].position),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn hostile_headers_are_rejected_without_huge_allocations() {
    let closed = build(TS, &java_headers_records())
        .close(&BatchParams::NONE, &Compression::None)
        .unwrap();
    let fix_crc = |b: &mut Vec<u8>| {
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    };
    // recordCount = i32::MAX with three records' worth of bytes.
    let mut b = closed.as_bytes().to_vec();
    b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut b);
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::InvalidRecord { index: 3, .. })
    ));
    // Negative record count.
    b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
    fix_crc(&mut b);
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::InvalidRecordCount { .. })
    ));
    // Fewer records declared than present.
    b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&2i32.to_be_bytes());
    fix_crc(&mut b);
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::TrailingBytes { .. })
    ));
    // Unknown codec id 7.
    let mut b = closed.as_bytes().to_vec();
    b[ATTRIBUTES_OFFSET + 1] |= 7;
    fix_crc(&mut b);
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::UnknownCodec { id: 7, .. })
    ));
    // batchLength pointing far past the input, and below the header size.
    let mut b = closed.as_bytes().to_vec();
    b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::Truncated { .. })
    ));
    b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::InvalidBatchLength { .. })
    ));
    // Magic 1.
    let mut b = closed.as_bytes().to_vec();
    b[MAGIC_OFFSET] = 1;
    assert!(matches!(
        decode_batches(&b),
        Err(DecodeError::UnsupportedMagic { magic: 1, .. })
    ));
    // A record whose key length claims 1 GiB.
    let mut b = closed.as_bytes().to_vec();
    let mut huge = Vec::new();
    crate::protocol::varint::write_varint(&mut huge, 1 << 30);
    b.truncate(RECORDS_OFFSET);
    b.extend_from_slice(&[0x14, 0, 0, 0]); // length 10, attrs, ts delta, offset delta
    b.extend_from_slice(&huge);
    b.resize(RECORDS_OFFSET + 11, 0);
    b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&1i32.to_be_bytes());
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
    fix_crc(&mut b);
    let err = decode_batches(&b).unwrap_err();
    assert!(
        matches!(err, DecodeError::InvalidRecord { field: "key", .. }),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Property tests

fn bytes_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(Vec::new())),
        6 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Some),
        1 => proptest::collection::vec(any::<u8>(), 64..3000).prop_map(Some),
        1 => (1usize..40_000, any::<u8>()).prop_map(|(n, b)| Some(vec![b; n])),
    ]
}

fn rec_strategy(base: i64) -> impl Strategy<Value = Rec> {
    let ts = prop_oneof![
        8 => (-100_000i64..100_000).prop_map(move |d| base.wrapping_add(d)),
        1 => any::<i64>(),
    ];
    let header = ("\\PC{0,12}", bytes_strategy());
    (
        ts,
        bytes_strategy(),
        bytes_strategy(),
        proptest::collection::vec(header, 0..4),
    )
        .prop_map(|(ts, key, value, headers)| Rec {
            ts,
            key,
            value,
            headers,
        })
}

fn batch_strategy() -> impl Strategy<Value = (i64, Vec<Rec>)> {
    prop_oneof![Just(TS), Just(0i64), any::<i64>()].prop_flat_map(|base| {
        (
            Just(base),
            proptest::collection::vec(rec_strategy(base), 1..12),
        )
    })
}

fn params_strategy() -> impl Strategy<Value = BatchParams> {
    (
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        any::<i32>(),
    )
        .prop_map(
            |(
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                partition_leader_epoch,
            )| BatchParams {
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                partition_leader_epoch,
                timestamp_type: TimestampType::CreateTime,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_round_trip_every_codec((base, recs) in batch_strategy(), params in params_strategy()) {
        for compression in ALL {
            let closed = build(base, &recs).close(&params, &compression).unwrap();
            let bytes = closed.as_bytes();
            let stored = u32::from_be_bytes(bytes[CRC_OFFSET..CRC_OFFSET + 4].try_into().unwrap());
            prop_assert_eq!(compute_crc(bytes), Some(stored));
            let len = i32::from_be_bytes(bytes[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].try_into().unwrap());
            prop_assert_eq!(len as usize + LOG_OVERHEAD, bytes.len());
            let decoded = decode_batches(bytes).unwrap();
            prop_assert_eq!(decoded.len(), 1);
            assert_matches(&decoded[0], &recs, base, &params, compression.codec());
        }
    }

    #[test]
    fn prop_rewrite_keeps_crc_valid(
        (base, recs) in batch_strategy(),
        pid: i64, epoch: i16, seq: i32, txn: bool,
        codec in 0usize..5,
    ) {
        let mut closed = build(base, &recs).close(&BatchParams::NONE, &ALL[codec]).unwrap();
        closed.rewrite_producer_state(pid, epoch, seq, txn).unwrap();
        let bytes = closed.as_bytes();
        let stored = u32::from_be_bytes(bytes[CRC_OFFSET..CRC_OFFSET + 4].try_into().unwrap());
        prop_assert_eq!(compute_crc(bytes), Some(stored));
        let params = BatchParams { producer_id: pid, producer_epoch: epoch, base_sequence: seq, transactional: txn, ..BatchParams::NONE };
        assert_matches(&decode_batches(bytes).unwrap()[0], &recs, base, &params, ALL[codec].codec());
    }

    #[test]
    fn prop_corruption_is_detected(
        (base, recs) in batch_strategy(),
        codec in 0usize..5,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let closed = build(base, &recs).close(&BatchParams::NONE, &ALL[codec]).unwrap();
        let mut bytes = closed.as_bytes().to_vec();
        // Everything from the CRC field on is covered (the CRC itself included).
        let i = CRC_OFFSET + at.index(bytes.len() - CRC_OFFSET);
        bytes[i] ^= flip;
        let err = decode_batches(&bytes).unwrap_err();
        prop_assert!(matches!(err, DecodeError::CrcMismatch { .. }), "byte {}: {}", i, err);
    }

    #[test]
    fn prop_truncations_fail_cleanly((base, recs) in batch_strategy(), codec in 0usize..5, cut in any::<prop::sample::Index>()) {
        let closed = build(base, &recs).close(&BatchParams::NONE, &ALL[codec]).unwrap();
        let bytes = closed.as_bytes();
        let n = cut.index(bytes.len());
        if n == 0 {
            prop_assert!(decode_batches(&bytes[..0]).unwrap().is_empty());
        } else {
            prop_assert!(decode_batches(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_batches(&bytes);
    }

    /// Garbage behind a valid header and CRC reaches the record parser and the
    /// decompressors.
    #[test]
    fn prop_garbage_records_with_valid_crc_never_panic(
        section in proptest::collection::vec(any::<u8>(), 0..600),
        codec_id in 0i16..8,
        count in prop_oneof![0i32..20, any::<i32>()],
    ) {
        let mut b = vec![0u8; RECORD_BATCH_OVERHEAD];
        b.extend_from_slice(&section);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
        b[MAGIC_OFFSET] = 2;
        b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&codec_id.to_be_bytes());
        b[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
        let crc = compute_crc(&b).unwrap();
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let _ = decode_batches_with_limit(&b, 1 << 20);
    }

    /// Mutating a valid batch's records and fixing the CRC must not panic either.
    #[test]
    fn prop_mutated_records_with_fixed_crc_never_panic(
        (base, recs) in batch_strategy(),
        codec in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let closed = build(base, &recs).close(&BatchParams::NONE, &ALL[codec]).unwrap();
        let mut b = closed.as_bytes().to_vec();
        let section = b.len() - RECORDS_OFFSET;
        for (at, byte) in edits {
            b[RECORDS_OFFSET + at.index(section)] = byte;
        }
        let crc = compute_crc(&b).unwrap();
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let _ = decode_batches_with_limit(&b, 4 << 20);
    }
}

// Regression: with a null key and no headers, Java refuses a 1,048,490-byte value under the
// default max.request.size (its estimate is 1,048,577), where Volley used to accept up to
// 1,048,491 (it used its own, tighter bound).
#[test]
fn java_batch_estimate_of_the_max_request_size_boundary() {
    let est = |v| estimate_batch_size_upper_bound(None, Some(v), &[]);
    assert_eq!(est(1_048_489), 1_048_576);
    assert_eq!(est(1_048_490), 1_048_577);
    // 61 (batch header) + 21 (MAX_RECORD_OVERHEAD) + 1 (null key) + 1 (null value) + 1 (no headers).
    assert_eq!(estimate_batch_size_upper_bound(None, None, &[]), 85);
    assert_eq!(estimate_batch_size_upper_bound(Some(0), Some(0), &[]), 85);
}

#[test]
fn java_batch_estimate_counts_varint_lengths_and_headers() {
    let est = estimate_batch_size_upper_bound;
    // Lengths 63 and 64 take 1 and 2 varint bytes; 8191 and 8192 take 2 and 3.
    assert_eq!(est(Some(63), None, &[]) - est(None, None, &[]), 63);
    assert_eq!(est(Some(64), None, &[]) - est(None, None, &[]), 65);
    assert_eq!(est(None, Some(8191), &[]) - est(None, None, &[]), 8192);
    assert_eq!(est(None, Some(8192), &[]) - est(None, None, &[]), 8194);
    // A header: key length + key + value length (+ value); a null value is 1 byte.
    let null = [RecordHeader {
        key: "ключ",
        value: None,
    }];
    assert_eq!(est(None, None, &null) - est(None, None, &[]), 1 + 8 + 1);
    let valued = [RecordHeader {
        key: "k",
        value: Some(&[0; 100]),
    }];
    assert_eq!(
        est(None, None, &valued) - est(None, None, &[]),
        1 + 1 + 2 + 100
    );
    // 64 headers: the count takes 2 bytes.
    let many = vec![
        RecordHeader {
            key: "",
            value: None
        };
        64
    ];
    assert_eq!(est(None, None, &many) - est(None, None, &[]), 1 + 64 * 2);
}

// The batch's own bound (fullness, buffer size) is unchanged and never above Java's estimate,
// so a record that passes the size check always fits the buffer the pool may give it.
#[test]
fn in_batch_bound_stays_within_javas_estimate_and_above_the_exact_size() {
    let headers_sets: [&[RecordHeader<'_>]; 3] = [
        &[],
        &[RecordHeader {
            key: "h",
            value: Some(b"v"),
        }],
        &[
            RecordHeader {
                key: "a",
                value: None,
            },
            RecordHeader {
                key: "bb",
                value: None,
            },
        ],
    ];
    let lens: Vec<Option<usize>> = std::iter::once(None)
        .chain([0, 1, 63, 64, 8191, 8192].map(Some))
        .collect();
    for headers in headers_sets {
        for &key_len in &lens {
            for &value_len in lens.iter().chain(&[Some(1_048_489), Some(1_048_576)]) {
                let b = RecordSizeBounds::of(key_len, value_len, headers);
                assert_eq!(
                    b.in_batch,
                    BatchBuilder::record_size_upper_bound(key_len, value_len, headers)
                );
                assert_eq!(
                    b.batch_estimate,
                    estimate_batch_size_upper_bound(key_len, value_len, headers)
                );
                assert!(
                    RECORD_BATCH_OVERHEAD + b.in_batch <= b.batch_estimate,
                    "{b:?}"
                );
                let key = key_len.map(|n| vec![1u8; n]);
                let value = value_len.map(|n| vec![2u8; n]);
                let mut builder = BatchBuilder::new(Vec::new(), TS);
                for ts in [TS, i64::MAX, 0] {
                    let exact = builder.record_size(ts, key.as_deref(), value.as_deref(), headers);
                    assert!(exact <= b.in_batch, "{exact} > {b:?}");
                    builder.append(ts, key.as_deref(), value.as_deref(), headers);
                }
                // A batch of one record is never larger than Java's estimate.
                let mut one = BatchBuilder::new(Vec::new(), TS);
                one.append(TS, key.as_deref(), value.as_deref(), headers);
                assert!(one.estimated_size() <= b.batch_estimate);
            }
        }
    }
}

// A failed batch's records section (`RecordsSection`) reads each record on its own, from an
// open builder or a closed (compressed) batch, and refuses bad bytes without panicking.
#[test]
fn records_section_reads_each_record_and_refuses_bad_bytes() {
    let mut b = BatchBuilder::new(Vec::new(), 1000);
    b.append(1000, Some(b"k0"), Some(b"v0"), &[]);
    let h = [RecordHeader {
        key: "h",
        value: None,
    }];
    b.append(1007, None, Some(b"v1"), &h);
    let open = RecordsSection::of_builder(&b).unwrap();
    assert_eq!(open.len(), 2);
    let closed = b
        .close(&BatchParams::default(), &Compression::Gzip { level: None })
        .unwrap();
    let closed = RecordsSection::of_batch(closed.as_bytes()).unwrap();
    for s in [&open, &closed] {
        let r1 = s.record(1).unwrap();
        assert_eq!(
            (r1.timestamp, r1.key.as_deref(), r1.value.as_deref()),
            (1007, None, Some(&b"v1"[..]))
        );
        assert_eq!(r1.headers.len(), 1);
        assert_eq!(s.record(0).unwrap().key.as_deref(), Some(&b"k0"[..]));
        assert!(s.record(2).is_none());
    }
    assert!(RecordsSection::of_batch(&[1, 2, 3]).is_err());
    // A header declaring more records than the section holds.
    let mut wire = closed_bytes_with_count(5);
    assert!(RecordsSection::of_batch(&wire).is_err());
    wire.truncate(RECORD_BATCH_OVERHEAD);
    assert!(RecordsSection::of_batch(&wire).is_err());
}

fn closed_bytes_with_count(count: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(Vec::new(), 0);
    b.append(0, None, Some(b"x"), &[]);
    let c = b
        .close(&BatchParams::default(), &Compression::None)
        .unwrap();
    let mut wire = c.as_bytes().to_vec();
    wire[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
    wire
}
