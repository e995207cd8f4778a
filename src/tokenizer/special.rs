//! Splitting special tokens out of the text before the model runs: llama.cpp's
//! `tokenizer_st_partition`.
//!
//! llama.cpp takes the CONTROL, UNKNOWN and USER_DEFINED tokens longest first and, for each,
//! cuts every occurrence out of the text that is still unclaimed, left to right. So a longer
//! token wins over a shorter one that starts earlier ("abcd" with tokens "ab" and "bcd" is
//! "a" + `bcd`), which differs from the leftmost-longest matching of `tokenizers`'
//! AddedVocabulary. With special parsing off only USER_DEFINED tokens are cut out.
//!
//! One regex per token length (an alternation of the literals) finds the candidates, so a
//! text is scanned once per distinct length, not once per token (Gemma has 6,414 special
//! tokens but about 40 lengths). Tokens of equal length go in one pass, leftmost first;
//! llama.cpp's order among them is that of an unstable sort, so neither is "the" order,
//! and equal-length special tokens that overlap each other do not occur in real vocabularies.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use regex::bytes::{Regex, RegexBuilder};

use super::vocab::Vocab;
use super::TokenType;
use crate::error::{Error, Result};

/// A piece of the partitioned text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// Text for the model, a byte range of the input (never empty).
    Text(Range<usize>),
    /// A special token matched whole.
    Token(u32),
}

/// The tokens of one length that one mode matches.
struct Matcher {
    re: Regex,
    ids: HashMap<Box<[u8]>, u32>,
}

struct Group {
    len: usize,
    /// CONTROL, UNKNOWN and USER_DEFINED tokens (special parsing on).
    all: Option<Matcher>,
    /// USER_DEFINED tokens only (special parsing off).
    user: Option<Matcher>,
}

/// Per length: (all special tokens, user-defined ones), as (text, id), ids ascending.
type ByLen<'v> = BTreeMap<usize, (Vec<(&'v str, u32)>, Vec<(&'v str, u32)>)>;

pub(super) struct Specials {
    /// Longest first.
    groups: Vec<Group>,
}

fn matcher(len: usize, tokens: &[(&str, u32)]) -> Result<Option<Matcher>> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut ids = HashMap::with_capacity(tokens.len());
    let mut pattern = String::with_capacity(tokens.iter().map(|(t, _)| t.len() + 4).sum());
    for &(t, id) in tokens {
        // The lowest id wins among equal strings.
        if ids.contains_key(t.as_bytes()) {
            continue;
        }
        ids.insert(t.as_bytes().into(), id);
        if !pattern.is_empty() {
            pattern.push('|');
        }
        pattern.push_str(&regex::escape(t));
    }
    let re = RegexBuilder::new(&pattern)
        .size_limit(256 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|e| Error::Tokenizer(format!("special tokens of {len} bytes: {e}")))?;
    Ok(Some(Matcher { re, ids }))
}

impl Specials {
    pub(super) fn new(vocab: &Vocab, types: &[TokenType]) -> Result<Self> {
        let mut by_len: ByLen = BTreeMap::new();
        for (id, (t, ty)) in vocab.iter().zip(types).enumerate() {
            if t.is_empty() {
                continue;
            }
            let entry = by_len.entry(t.len()).or_default();
            match ty {
                TokenType::Control | TokenType::Unknown => entry.0.push((t, id as u32)),
                TokenType::UserDefined => {
                    entry.0.push((t, id as u32));
                    entry.1.push((t, id as u32));
                }
                _ => {}
            }
        }
        let mut groups = Vec::new();
        for (len, (all, user)) in by_len.into_iter().rev() {
            if all.is_empty() {
                continue;
            }
            groups.push(Group { len, all: matcher(len, &all)?, user: matcher(len, &user)? });
        }
        Ok(Self { groups })
    }

    /// `text` cut into special tokens and the text between them, in order.
    pub(super) fn split(&self, text: &str, parse_special: bool) -> Vec<Piece> {
        let t = text.as_bytes();
        // Claimed ranges, start → (end, token).
        let mut taken: BTreeMap<usize, (usize, u32)> = BTreeMap::new();
        for g in &self.groups {
            let Some(m) = (if parse_special { &g.all } else { &g.user }) else { continue };
            let mut pos = 0;
            while pos + g.len <= t.len() {
                let Some(found) = m.re.find_at(t, pos) else { break };
                let (s, e) = (found.start(), found.end());
                match first_overlap(&taken, s, e) {
                    None => {
                        if let Some(&id) = m.ids.get(&t[s..e]) {
                            taken.insert(s, (e, id));
                        }
                        pos = e;
                    }
                    // Every match starting before the claimed range's end overlaps it (all
                    // are `len` long), so the search goes on after it.
                    Some(end) => pos = end,
                }
            }
        }
        let mut out = Vec::with_capacity(taken.len() * 2 + 1);
        let mut at = 0;
        for (s, (e, id)) in taken {
            if s > at {
                out.push(Piece::Text(at..s));
            }
            out.push(Piece::Token(id));
            at = e;
        }
        if at < t.len() {
            out.push(Piece::Text(at..t.len()));
        }
        out
    }
}

/// The end of the first claimed range that meets `s..e`, if any.
fn first_overlap(taken: &BTreeMap<usize, (usize, u32)>, s: usize, e: usize) -> Option<usize> {
    if let Some((_, &(end, _))) = taken.range(..=s).next_back() {
        if end > s {
            return Some(end);
        }
    }
    taken.range(s + 1..e).next().map(|(_, &(end, _))| end)
}
