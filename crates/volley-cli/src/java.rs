//! Small ports of Java behaviour that the `perf` output depends on: `String.format`'s `%.Nf`
//! rounding and `java.util.SplittableRandom`.

/// Formats `x` like Java's `String.format("%.<prec>f", x)` in an English locale.
///
/// Java rounds the *shortest* decimal representation of the double (the digits of
/// `Double.toString`) half-up, where Rust's `{:.N}` rounds the exact binary value half-to-even:
/// `2.25` is `"2.3"` in Java and `"2.2"` in Rust, `1.005` is `"1.01"` in Java and `"1.00"` in
/// Rust. NaN and infinities print as Java prints them.
pub fn fixed(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let negative = x.is_sign_negative();
    // Shortest round-trip digits, e.g. "1.2345e3", "5e-1", "0e0".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i64 = exp.parse().expect("{:e} exponent is an integer");
    let mut digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // value = 0.d1 d2 d3 ... * 10^point
    let mut point = exp + 1;
    let keep = point + prec as i64;
    if keep < 0 {
        digits.clear();
    } else if (keep as usize) < digits.len() {
        let round_up = digits[keep as usize] >= 5;
        digits.truncate(keep as usize);
        if round_up {
            let mut i = digits.len();
            loop {
                if i == 0 {
                    digits.insert(0, 1);
                    point += 1;
                    break;
                }
                i -= 1;
                if digits[i] == 9 {
                    digits[i] = 0;
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    }
    let digit_at = |pos: i64| -> char {
        // pos 0 is the first digit after "0." scaled by `point`.
        if pos >= 0 && (pos as usize) < digits.len() {
            (b'0' + digits[pos as usize]) as char
        } else {
            '0'
        }
    };
    let mut out = String::with_capacity(24);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push('0');
    } else {
        for p in 0..point {
            out.push(digit_at(p));
        }
    }
    if prec > 0 {
        out.push('.');
        for k in 0..prec as i64 {
            out.push(digit_at(point + k));
        }
    }
    out
}

/// `java.util.SplittableRandom`, enough of it for `nextInt(bound)`: the same seed gives the
/// same sequence as Java (`new SplittableRandom(seed)`).
#[derive(Debug, Clone)]
pub struct SplittableRandom {
    seed: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl SplittableRandom {
    /// `new SplittableRandom(seed)`.
    pub fn new(seed: i64) -> SplittableRandom {
        SplittableRandom { seed: seed as u64 }
    }

    #[inline]
    fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(GOLDEN_GAMMA);
        self.seed
    }

    #[inline]
    fn mix32(z: u64) -> i32 {
        let z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        ((z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3) >> 32) as i32
    }

    /// `nextInt()`.
    #[inline]
    pub fn next_int(&mut self) -> i32 {
        Self::mix32(self.next_seed())
    }

    /// `nextInt(bound)` for `bound > 0` (Java's `RandomSupport.boundedNextInt`).
    #[inline]
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        debug_assert!(bound > 0);
        let mut r = self.next_int();
        let m = bound.wrapping_sub(1);
        if bound & m == 0 {
            r & m
        } else {
            let mut u = ((r as u32) >> 1) as i32;
            loop {
                r = u % bound;
                if u.wrapping_add(m).wrapping_sub(r) >= 0 {
                    return r;
                }
                u = ((self.next_int() as u32) >> 1) as i32;
            }
        }
    }
}

/// Letters drawn per speculative block of [`SplittableRandom::fill_uppercase`].
const LETTER_BLOCK: usize = 16;

/// The next [`LETTER_BLOCK`] letters `(char) (nextInt(26) + 65)` after internal seed `seed`,
/// each computed from its own seed (`seed + (k + 1) * GOLDEN_GAMMA`, as the sequential draws
/// would see it), so that the loop has no dependency between letters and vectorizes. Returns
/// false if any of those draws would be rejected by `nextInt(26)` (a draw in the top 24 of 2^31
/// values, about once in 10^8 letters), in which case the caller redoes the block one draw at a
/// time, since a rejection consumes an extra draw and shifts every later letter.
#[inline(always)]
fn letters_block(seed: u64, out: &mut [u8; LETTER_BLOCK]) -> bool {
    let mut rejected = 0u32;
    for (k, b) in out.iter_mut().enumerate() {
        let z = seed.wrapping_add(GOLDEN_GAMMA.wrapping_mul(k as u64 + 1));
        let z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
        let r = ((z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3) >> 32) as u32;
        // boundedNextInt with bound 26: u = r >>> 1; r = u % 26; reject if u + 25 - r < 0
        // (i32 overflow), i.e. if u - r > i32::MAX - 25.
        let u = r >> 1;
        let q = u % 26;
        rejected |= u32::from(u - q > i32::MAX as u32 - 25);
        *b = (q + 65) as u8;
    }
    rejected == 0
}

/// [`SplittableRandom::fill_uppercase`] in blocks of [`LETTER_BLOCK`]; inlined into each
/// target-feature variant so that each is vectorized for its instruction set.
#[inline(always)]
fn fill_uppercase_blocks(r: &mut SplittableRandom, out: &mut [u8]) {
    let mut blocks = out.chunks_exact_mut(LETTER_BLOCK);
    for block in &mut blocks {
        let block: &mut [u8; LETTER_BLOCK] = block.try_into().expect("a whole block");
        if letters_block(r.seed, block) {
            r.seed = r
                .seed
                .wrapping_add(GOLDEN_GAMMA.wrapping_mul(LETTER_BLOCK as u64));
        } else {
            r.fill_uppercase_scalar(block);
        }
    }
    r.fill_uppercase_scalar(blocks.into_remainder());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_uppercase_avx2(r: &mut SplittableRandom, out: &mut [u8]) {
    fill_uppercase_blocks(r, out)
}

/// AVX-512DQ has the 64-bit multiply that AVX2 lacks. (Its target features are stable from
/// Rust 1.89; build.rs sets `volley_avx512` then.)
#[cfg(all(target_arch = "x86_64", volley_avx512))]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn fill_uppercase_avx512(r: &mut SplittableRandom, out: &mut [u8]) {
    fill_uppercase_blocks(r, out)
}

/// The instruction sets [`SplittableRandom::fill_uppercase`] can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterKernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(all(target_arch = "x86_64", volley_avx512))]
    Avx512,
}

impl LetterKernel {
    /// The fastest one this CPU has.
    pub fn detect() -> LetterKernel {
        #[cfg(all(target_arch = "x86_64", volley_avx512))]
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            return LetterKernel::Avx512;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            return LetterKernel::Avx2;
        }
        LetterKernel::Scalar
    }

    /// Every kernel this CPU can run (for tests).
    #[cfg(test)]
    fn available() -> Vec<LetterKernel> {
        let mut v = vec![LetterKernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            v.push(LetterKernel::Avx2);
        }
        #[cfg(all(target_arch = "x86_64", volley_avx512))]
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            v.push(LetterKernel::Avx512);
        }
        v
    }
}

impl SplittableRandom {
    /// Kafka's `generateRandomPayload` for `--record-size`: `out[i] = (char) (nextInt(26) + 65)`
    /// for each byte in turn, the very same letters and the same state afterwards, computed
    /// several letters at a time with `kernel`'s vector instructions (from
    /// [`LetterKernel::detect`]).
    #[inline]
    pub fn fill_uppercase(&mut self, out: &mut [u8], kernel: LetterKernel) {
        match kernel {
            LetterKernel::Scalar => self.fill_uppercase_scalar(out),
            // SAFETY: LetterKernel::detect (or available) found the CPU features.
            #[cfg(target_arch = "x86_64")]
            LetterKernel::Avx2 => unsafe { fill_uppercase_avx2(self, out) },
            // SAFETY: as above.
            #[cfg(all(target_arch = "x86_64", volley_avx512))]
            LetterKernel::Avx512 => unsafe { fill_uppercase_avx512(self, out) },
        }
    }

    /// `fill_uppercase` one `nextInt(26)` at a time, as Java does.
    pub fn fill_uppercase_scalar(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = (self.next_int_bounded(26) + 65) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_matches_java_string_format() {
        // Expected values printed by Java 17's String.format.
        let cases: &[(f64, [&str; 4])] = &[
            (2.25, ["2.3", "2.25", "2.250000", "2.250"]),
            (0.125, ["0.1", "0.13", "0.125000", "0.125"]),
            (1.005, ["1.0", "1.01", "1.005000", "1.005"]),
            (0.05, ["0.1", "0.05", "0.050000", "0.050"]),
            (2.5, ["2.5", "2.50", "2.500000", "2.500"]),
            (0.15, ["0.2", "0.15", "0.150000", "0.150"]),
            (
                1234567.891,
                ["1234567.9", "1234567.89", "1234567.891000", "1234567.891"],
            ),
            (0.0, ["0.0", "0.00", "0.000000", "0.000"]),
            (1e-7, ["0.0", "0.00", "0.000000", "0.000"]),
            (99.95, ["100.0", "99.95", "99.950000", "99.950"]),
            (9.995, ["10.0", "10.00", "9.995000", "9.995"]),
            (0.45, ["0.5", "0.45", "0.450000", "0.450"]),
            (
                1e20,
                [
                    "100000000000000000000.0",
                    "100000000000000000000.00",
                    "100000000000000000000.000000",
                    "100000000000000000000.000",
                ],
            ),
        ];
        for (x, want) in cases {
            let got = [fixed(*x, 1), fixed(*x, 2), fixed(*x, 6), fixed(*x, 3)];
            assert_eq!(&got, want, "x = {x}");
        }
        assert_eq!(fixed(f64::NAN, 2), "NaN");
        assert_eq!(fixed(f64::INFINITY, 6), "Infinity");
        assert_eq!(fixed(0.96, 1), "1.0");
        assert_eq!(fixed(0.04, 1), "0.0");
        assert_eq!(fixed(7.0, 0), "7");
    }

    #[test]
    fn splittable_random_matches_java() {
        // Java: new SplittableRandom(0), 30 x (char) (nextInt(26) + 65).
        let mut r = SplittableRandom::new(0);
        let s: String = (0..30)
            .map(|_| (r.next_int_bounded(26) + 65) as u8 as char)
            .collect();
        assert_eq!(s, "YQHHNEBSEPDNSEIFGAMSUJXKOLTXSP");
        let mut r = SplittableRandom::new(-7);
        let v: Vec<i32> = (0..5).map(|_| r.next_int_bounded(1000)).collect();
        assert_eq!(v, [221, 872, 421, 434, 493]);
        let mut r = SplittableRandom::new(42);
        let v: Vec<i32> = (0..5).map(|_| r.next_int_bounded(1 << 20)).collect();
        assert_eq!(v, [504910, 279721, 677282, 946376, 412987]);
        let mut r = SplittableRandom::new(1);
        let v: Vec<i32> = (0..5).map(|_| r.next_int_bounded(i32::MAX)).collect();
        assert_eq!(v, [123372926, 1525588302, 317000881, 898013737, 612578211]);
    }

    #[test]
    fn fill_uppercase_is_java_letter_by_letter() {
        // Internal seeds whose first draw nextInt(26) rejects (found by search), moved back so
        // that the rejection falls at every position of a block and of the tail.
        let rejecting: [u64; 3] = [342_071_749, 391_290_257, 509_903_850];
        let mut seeds: Vec<u64> = (0..200u64)
            .map(|s| s.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .collect();
        for r in rejecting {
            let mut first = SplittableRandom::new(r as i64);
            let u = (first.next_int() as u32) >> 1;
            assert!(
                u - u % 26 > i32::MAX as u32 - 25,
                "seed {r} does not reject"
            );
            for back in 0..40u64 {
                seeds.push(r.wrapping_sub(GOLDEN_GAMMA.wrapping_mul(back)));
            }
        }
        for kernel in LetterKernel::available() {
            for &seed in &seeds {
                for len in [0, 1, 15, 16, 17, 40, 100, 237] {
                    let mut want = SplittableRandom::new(seed as i64);
                    let mut got = want.clone();
                    let mut a = vec![0u8; len];
                    let mut b = vec![0u8; len];
                    want.fill_uppercase_scalar(&mut a);
                    got.fill_uppercase(&mut b, kernel);
                    assert_eq!(a, b, "{kernel:?}, seed {seed}, len {len}");
                    assert_eq!(want.next_int(), got.next_int(), "{kernel:?}, seed {seed}");
                }
            }
        }
        // Java: new SplittableRandom(0), 30 x (char) (nextInt(26) + 65).
        let mut r = SplittableRandom::new(0);
        let mut b = [0u8; 30];
        r.fill_uppercase(&mut b, LetterKernel::detect());
        assert_eq!(&b, b"YQHHNEBSEPDNSEIFGAMSUJXKOLTXSP");
    }
}
