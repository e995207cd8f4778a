//! splitmix64: a tiny deterministic generator for the task generator and the vote subsets.
//! Not `rand`, so that the core has no RNG dependency and every platform draws the same
//! numbers from the same seed.

pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// A generator keyed by several words (seed, level, index, …): each word is folded in
    /// through a full mixing step so that nearby keys give unrelated streams.
    pub(crate) fn keyed(words: &[u64]) -> SplitMix {
        let mut s = SplitMix(0x5eed_5a3b_1e5c_0be5);
        for &w in words {
            s.0 ^= w;
            s.next_u64();
        }
        s
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in lo..=hi (the modulo bias is below 2^-40 for the small ranges used here).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}
