//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
//! counter-based generator behind every sampled token. shaders/sample_philox.wgsl is the same
//! function; both are checked against Random123's known-answer vectors (and each other).
//!
//! The dice of token `i` at step `s` of sample `n` under seed `k`: counter (i, s, n, 0), key
//! (k low, k high), word 0 of the output, mapped to u ∈ (0, 1). The lane is not part of it,
//! so lanes with the same seed and sample index see the same dice ("same dice").

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9; // golden ratio
const W1: u32 = 0xBB67_AE85; // sqrt(3) - 1

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with `rounds` rounds (10 is the standard; 7 has KAT vectors too).
pub fn philox4x32(mut ctr: [u32; 4], mut key: [u32; 2], rounds: u32) -> [u32; 4] {
    for r in 0..rounds {
        if r > 0 {
            key[0] = key[0].wrapping_add(W0);
            key[1] = key[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, ctr[0]);
        let (hi1, lo1) = mulhilo(M1, ctr[2]);
        ctr = [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0];
    }
    ctr
}

pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox4x32(ctr, key, 10)
}

/// u ∈ (0, 1) from the top 23 bits: (m + 1/2) / 2^23, exactly representable in f32, so the
/// WGSL `u01` gives the same bits. Range [2^-24, 1 − 2^-24].
pub fn u01(x: u32) -> f32 {
    ((x >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
}

/// The raw Philox word of (seed, step, sample, token).
pub fn dice_bits(seed: u64, step: u32, sample: u32, token: u32) -> u32 {
    philox4x32_10([token, step, sample, 0], [seed as u32, (seed >> 32) as u32])[0]
}

/// The uniform of (seed, step, sample, token).
pub fn uniform(seed: u64, step: u32, sample: u32, token: u32) -> f32 {
    u01(dice_bits(seed, step, sample, token))
}

/// The Gumbel noise −ln(−ln u), in f64 (the reference; the GPU computes it in f32).
pub fn gumbel(u: f32) -> f64 {
    -(-(u as f64).ln()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<u32> {
        s.split_whitespace().map(|w| u32::from_str_radix(w, 16).unwrap()).collect()
    }

    /// Random123's kat_vectors for philox4x32 (checked against D. E. Shaw Research's
    /// ut_philox.cpp, which pastes them from the Random123 distribution):
    /// counter ×4, key ×2, then the expected output ×4.
    const KAT: [(u32, &str); 6] = [
        (7, "00000000 00000000 00000000 00000000 00000000 00000000   5f6fb709 0d893f64 4f121f81 4f730a48"),
        (7, "ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   5207ddc2 45165e59 4d8ee751 8c52f662"),
        (7, "243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   4dfccaba 190a87f0 c47362ba b6b5242a"),
        (10, "00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
        (10, "ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd"),
        (10, "243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1"),
    ];

    #[test]
    fn random123_known_answers() {
        for (rounds, line) in KAT {
            let v = parse(line);
            let got = philox4x32([v[0], v[1], v[2], v[3]], [v[4], v[5]], rounds);
            assert_eq!(got.to_vec(), v[6..10].to_vec(), "philox4x32-{rounds} {line}");
        }
    }

    #[test]
    fn u01_is_open_and_exact() {
        assert_eq!(u01(0), 0.5 / 8_388_608.0);
        assert_eq!(u01(u32::MAX), 1.0 - 0.5 / 8_388_608.0);
        assert!(u01(u32::MAX) < 1.0 && u01(0) > 0.0);
        // Exact: (2m + 1) / 2^24 fits the 24-bit significand.
        for x in [1u32 << 9, 12_345_678, 0xdead_beef, u32::MAX - 511] {
            let m = (x >> 9) as f64;
            assert_eq!(u01(x) as f64, (2.0 * m + 1.0) / 16_777_216.0);
        }
        assert!(gumbel(u01(u32::MAX)).is_finite() && gumbel(u01(0)).is_finite());
    }
}
