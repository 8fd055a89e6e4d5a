//! Kafka's 32-bit murmur2 hash, bit-for-bit as the Java client computes it.
//!
//! The Java client (`org.apache.kafka.common.utils.Utils.murmur2`) hashes a key with MurmurHash2
//! (seed `0x9747b28c`) over Java `int`s: two's-complement wrapping multiplication, logical
//! (`>>>`) shifts, bytes read little-endian in groups of four, and a one-to-three byte tail
//! folded in before the final mix. Keyed records go to `toPositive(murmur2(key)) % partitions`
//! (`BuiltInPartitioner.partitionForKey`), so any difference here would route keys to other
//! partitions than Java producers do. Doing the arithmetic on `u32` with wrapping operations
//! gives exactly the bits Java's `int` arithmetic gives; the result is reinterpreted as `i32`.

/// The seed Kafka uses.
const SEED: u32 = 0x9747_b28c;
/// MurmurHash2's multiplier.
const M: u32 = 0x5bd1_e995;
/// MurmurHash2's shift.
const R: u32 = 24;

/// Kafka's murmur2 hash of `data` (Java `Utils.murmur2(byte[])`), as the signed `int` Java returns.
///
/// Reads the input in place: no allocation, one pass.
#[inline]
pub fn murmur2(data: &[u8]) -> i32 {
    // Java uses the array length as an `int`; arrays are shorter than 2^31 bytes, and the
    // truncation keeps the same low 32 bits for anything longer.
    let len = data.len() as u32;
    let mut h = SEED ^ len;

    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The tail (len % 4 bytes), folded in highest byte first as Java's fall-through switch does.
    let tail = chunks.remainder();
    if !tail.is_empty() {
        if tail.len() == 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`), so `i32::MIN` maps to 0
/// and negative numbers map to `n + 2^31` (this is not `abs`).
#[inline]
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's default partitioning gives a keyed record:
/// `to_positive(murmur2(key)) % num_partitions` (Java `BuiltInPartitioner.partitionForKey`).
///
/// # Panics
///
/// If `num_partitions` is not positive (Java throws `ArithmeticException` for 0 as well).
#[inline]
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    assert!(
        num_partitions > 0,
        "partition_for_key needs a positive partition count, got {num_partitions}"
    );
    to_positive(murmur2(key)) % num_partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Apache Kafka's own test suite,
    /// `clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java` (`testMurmur2`),
    /// which asserts them against `Utils.murmur2`.
    const KAFKA_UTILS_TEST_VECTORS: &[(&[u8], i32)] = &[
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107), // Java: new byte[] {'a', 'b', 'c'}
    ];

    #[test]
    fn matches_kafka_utils_test_vectors() {
        for (input, expected) in KAFKA_UTILS_TEST_VECTORS {
            assert_eq!(
                murmur2(input),
                *expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Values computed with `Utils.murmur2` of kafka-clients 4.4.0 (every tail length and bytes
    /// with the high bit set, which Java sees as negative `byte`s and masks with `& 0xff`).
    #[test]
    fn matches_java_on_tails_and_high_bytes() {
        let cases: &[(&[u8], i32)] = &[
            (b"", 275_646_681),
            (b"a", -1_563_381_124),
            (&[0xff], -311_467_685),
            (&[0x80, 0xff], -80_095_470),
            (&[0xff, 0xfe, 0xfd], 998_637_092),
            (&[0xff, 0xfe, 0xfd, 0xfc, 0xfb], 524_068_735),
            (b"key-0", 29_210_041),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), *expected, "murmur2({input:?})");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
        assert_eq!(to_positive(-973_932_308), -973_932_308 & 0x7fff_ffff);
    }

    #[test]
    fn partition_for_key_is_positive_hash_mod_count() {
        // "21" hashes to -973932308; its positive form is 1173551340.
        assert_eq!(partition_for_key(b"21", 7), 1_173_551_340 % 7);
        assert_eq!(partition_for_key(b"21", 1), 0);
        for n in 1..50 {
            for (key, _) in KAFKA_UTILS_TEST_VECTORS {
                let p = partition_for_key(key, n);
                assert!((0..n).contains(&p));
            }
        }
    }

    #[test]
    #[should_panic(expected = "positive partition count")]
    fn partition_for_key_rejects_zero_partitions() {
        partition_for_key(b"k", 0);
    }
}
