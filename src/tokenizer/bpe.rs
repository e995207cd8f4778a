//! Byte-level BPE merges exactly as llama.cpp's `llm_tokenizer_bpe_session::tokenize` does
//! them, for one pre-tokenized, byte-encoded word:
//!
//! - with `ignore_merges` (the Llama 3 names), a word that is a token is that token;
//! - otherwise each character starts as a symbol and the adjacent pair with the lowest merge
//!   rank merges first, the leftmost among equals, until no pair has a rank;
//! - a character the vocabulary lacks stays a symbol that no merge touches (load refuses
//!   merges of strings outside the vocabulary), so it keeps its neighbours apart, and at the
//!   end becomes the tokens of its single bytes, if any, else nothing.
//!
//! The `tokenizers` crate's BPE differs in the last point: it drops such a character before
//! merging, so its neighbours can merge across it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::vocab::Vocab;

/// The merges: (left id, right id) → (rank, merged id).
pub(super) struct Merges {
    pairs: HashMap<(u32, u32), (u32, u32)>,
    ignore_merges: bool,
}

struct Symbol {
    /// `None`: a character the vocabulary lacks.
    id: Option<u32>,
    start: usize,
    end: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Merges {
    /// `pairs` in rank order, each a pair of vocabulary ids and the id of their concatenation;
    /// a repeated pair keeps its first rank, as llama.cpp's `bpe_ranks.emplace` does.
    pub(super) fn new(pairs: impl IntoIterator<Item = (u32, u32, u32)>, ignore_merges: bool) -> Self {
        let mut map = HashMap::new();
        for (rank, (a, b, merged)) in pairs.into_iter().enumerate() {
            map.entry((a, b)).or_insert((rank as u32, merged));
        }
        Self { pairs: map, ignore_merges }
    }

    /// Appends the ids of `word` (byte-level text) to `out`.
    pub(super) fn encode_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(id) = vocab.get(word.as_bytes()) {
                out.push(id);
                return;
            }
        }
        let mut syms: Vec<Symbol> = Vec::with_capacity(word.len());
        for (i, (start, c)) in word.char_indices().enumerate() {
            let end = start + c.len_utf8();
            let next = (end < word.len()).then_some(i + 1);
            syms.push(Symbol { id: vocab.get(&word.as_bytes()[start..end]), start, end, prev: i.checked_sub(1), next });
        }

        // (rank, left, right, left id, right id): the ids tell a stale entry from a live one.
        let mut queue = BinaryHeap::new();
        let push = |queue: &mut BinaryHeap<_>, syms: &[Symbol], left: Option<usize>, right: Option<usize>| {
            let (Some(l), Some(r)) = (left, right) else { return };
            let (Some(a), Some(b)) = (syms[l].id, syms[r].id) else { return };
            if let Some(&(rank, _)) = self.pairs.get(&(a, b)) {
                queue.push(Reverse((rank, l, r, a, b)));
            }
        };
        for i in 1..syms.len() {
            push(&mut queue, &syms, Some(i - 1), Some(i));
        }
        while let Some(Reverse((_, l, r, a, b))) = queue.pop() {
            let (left, right) = (&syms[l], &syms[r]);
            if left.start == left.end || right.start == right.end || left.id != Some(a) || right.id != Some(b) {
                continue;
            }
            let merged = self.pairs[&(a, b)].1;
            let (right_end, right_next) = (right.end, right.next);
            syms[r].end = syms[r].start; // emptied
            let left = &mut syms[l];
            left.id = Some(merged);
            left.end = right_end;
            left.next = right_next;
            if let Some(n) = right_next {
                syms[n].prev = Some(l);
            }
            let prev = syms[l].prev;
            push(&mut queue, &syms, prev, Some(l));
            push(&mut queue, &syms, Some(l), right_next);
        }

        for s in syms.iter().filter(|s| s.start < s.end) {
            match s.id {
                Some(id) => out.push(id),
                None => out.extend(word.as_bytes()[s.start..s.end].iter().filter_map(|&b| vocab.get(&[b]))),
            }
        }
    }
}
