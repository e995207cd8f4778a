//! The vocabulary strings and a text → id index over them.
//!
//! A std `HashMap<String, u32>` would copy every string (262,144 of them for Gemma); this
//! open-addressing table holds only ids and compares against the strings in place.

use crate::gguf::StrArray;

const EMPTY: u32 = u32::MAX;

pub(super) struct Vocab {
    tokens: StrArray,
    slots: Vec<u32>,
    /// log2 of `slots.len()`.
    bits: u32,
    /// The longest token, in bytes: no longer text can be a token.
    max_len: usize,
}

/// FxHash-style over 8-byte words, then a 64-bit finalizer so the top bits are well mixed.
fn hash(b: &[u8]) -> u64 {
    let mut h = b.len() as u64;
    for chunk in b.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Vocab {
    /// Indexes `tokens` (fewer than `u32::MAX`). On duplicate strings the last id wins, as in
    /// llama.cpp's `token_to_id[word] = i`.
    pub(super) fn new(tokens: StrArray) -> Self {
        let n = tokens.len();
        let bits = (n.max(1) * 2).next_power_of_two().trailing_zeros().max(4);
        let mut v = Self { tokens, slots: vec![EMPTY; 1 << bits], bits, max_len: 0 };
        let mask = v.slots.len() - 1;
        for id in 0..n {
            let t = v.tokens.get(id).unwrap_or("").as_bytes();
            v.max_len = v.max_len.max(t.len());
            let mut i = (hash(t) >> (64 - v.bits)) as usize;
            loop {
                let s = v.slots[i];
                if s == EMPTY || v.tokens.get(s as usize).unwrap_or("").as_bytes() == t {
                    v.slots[i] = id as u32;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        v
    }

    /// The id of a vocabulary string.
    pub(super) fn get(&self, text: &[u8]) -> Option<u32> {
        if text.len() > self.max_len {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (hash(text) >> (64 - self.bits)) as usize;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if self.tokens.get(s as usize).unwrap_or("").as_bytes() == text {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
    }

    pub(super) fn text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize)
    }

    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.tokens.iter()
    }
}
