//! SentencePiece (`tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama, Gemma 3): llama.cpp's
//! `llm_tokenizer_spm`, written out here.
//!
//! Why not the `tokenizers` crate: its BPE merges by pair rank and replaces characters
//! missing from the vocabulary by bytes before merging, and its Unigram model is a Viterbi
//! search. llama.cpp instead merges, among all adjacent pairs whose concatenation is *any*
//! vocabulary string, the one with the highest score (ties: the leftmost), characters
//! missing from the vocabulary included, and falls back to `<0xXX>` bytes only for what is
//! left. Rebuilding that as BPE merges would mean listing every split of every one of
//! Gemma's 262,144 pieces and would still differ on ties; the loop itself is 60 lines.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::error::{Error, Result};

const NONE: usize = usize::MAX;

pub(super) struct Spm {
    /// `tokenizer.ggml.scores`, by id.
    scores: Vec<f32>,
    /// The token of each byte for the fallback: `<0xXX>`, else the byte itself as a token.
    byte_ids: Vec<Option<u32>>,
}

/// A symbol: a byte range of the text, linked to its neighbours (merged-away symbols have
/// `len == 0`).
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
}

/// A candidate merge of `left` and `right` (adjacent), whose text is `size` bytes long.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Bigram {
    /// The max-heap's top: the highest score, then the leftmost (llama.cpp's comparator).
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then_with(|| o.left.cmp(&self.left))
    }
}

impl Spm {
    pub(super) fn new(vocab: &Vocab, scores: Vec<f32>) -> Self {
        let mut byte_ids = vec![None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.get(format!("<0x{b:02X}>").as_bytes()).or_else(|| {
                // A lone byte is a vocabulary string only if it is ASCII.
                (b < 0x80).then(|| vocab.get(&[b as u8])).flatten()
            });
        }
        Self { scores, byte_ids }
    }

    /// Appends the ids of `text` (spaces already turned into ▁) to `out`.
    pub(super) fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let bytes = text.as_bytes();
        let mut sym: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            let next = if start + c.len_utf8() == text.len() { NONE } else { i + 1 };
            // `prev` of the first is `NONE` (0 - 1 wraps to it).
            sym.push(Symbol { start, len: c.len_utf8(), prev: i.wrapping_sub(1), next });
        }
        if sym.is_empty() {
            return Ok(());
        }

        let mut heap = BinaryHeap::with_capacity(sym.len());
        let try_add = |sym: &[Symbol], heap: &mut BinaryHeap<Bigram>, left: usize, right: usize| {
            if left == NONE || right == NONE {
                return;
            }
            let (start, end) = (sym[left].start, sym[right].start + sym[right].len);
            if let Some(id) = vocab.get(&bytes[start..end]) {
                let score = self.scores[id as usize];
                heap.push(Bigram { score, left, right, size: end - start });
            }
        };
        for i in 1..sym.len() {
            try_add(&sym, &mut heap, i - 1, i);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (sym[b.left], sym[b.right]);
            // Stale: one side was merged since.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            sym[b.left].len += r.len;
            sym[b.right].len = 0;
            sym[b.left].next = r.next;
            if r.next != NONE {
                sym[r.next].prev = b.left;
            }
            try_add(&sym, &mut heap, l.prev, b.left);
            try_add(&sym, &mut heap, b.left, r.next);
        }

        // llama.cpp's `resegment` would split a symbol missing from the vocabulary back into
        // the pair that formed it, but only pairs found in the vocabulary are merged, so the
        // only symbols missing from it are single characters: they become bytes.
        let mut i = 0;
        while i != NONE {
            let s = sym[i];
            let piece = &bytes[s.start..s.start + s.len];
            match vocab.get(piece) {
                Some(id) => out.push(id),
                None => {
                    for &b in piece {
                        out.push(self.byte_ids[b as usize].ok_or_else(|| {
                            Error::Tokenizer(format!(
                                "no token for byte 0x{b:02X}: the vocabulary has neither <0x{b:02X}> nor the byte itself"
                            ))
                        })?);
                    }
                }
            }
            i = s.next;
        }
        Ok(())
    }
}
