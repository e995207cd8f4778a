//! The tokenizer, built from a GGUF file's `tokenizer.ggml.*` metadata, for the two kinds of
//! `tokenizer.ggml.model` llama.cpp calls BPE and SPM:
//!
//! - `"gpt2"`, byte-level BPE (SmolLM2, Llama 3, Qwen2): the text split into words by the
//!   pre-tokenizer `tokenizer.ggml.pre` names, a port of llama.cpp's own splitters and regex
//!   sequence (pretok.rs, with llama.cpp's Unicode tables), each word byte-encoded and
//!   merged by llama.cpp's BPE loop (bpe.rs) over the GGUF vocabulary and merges;
//! - `"llama"`, SentencePiece (Llama 2, TinyLlama, Gemma 3): llama.cpp's score-ordered merge
//!   with byte fallback (spm.rs), spaces as ▁ and an optional leading space.
//!
//! Both first cut the CONTROL / UNKNOWN / USER_DEFINED tokens out of the text the way
//! llama.cpp does (special.rs), so that `<|im_start|>` or `<start_of_turn>` in a prompt is one
//! token. Decoding mirrors llama.cpp's `token_to_piece` exactly: each token has a byte string
//! (BPE: through the GPT-2 byte-to-unicode table; SPM: ▁ as a space, `<0xXX>` as that byte;
//! control and user-defined tokens as their raw text), pieces are concatenated and invalid
//! UTF-8 becomes U+FFFD.
//!
//! Nothing here touches the file system or spawns threads; it builds for wasm32.

mod bpe;
mod chat;
mod pretok;
mod special;
mod spm;
mod stream;
mod unicode_data;
mod vocab;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::error::{shown, Error, Result};
use crate::gguf::{Array, StrArray, Value};
use special::{Piece, Specials};
use spm::Spm;
use vocab::Vocab;

pub use chat::ChatMessage;
pub use stream::StreamDecoder;

/// GGUF metadata keys read here.
pub mod keys {
    pub const MODEL: &str = "tokenizer.ggml.model";
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    pub const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
    pub const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";
}

/// The kind of a vocabulary entry, as stored in `tokenizer.ggml.token_type` (llama.cpp's
/// `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::Undefined,
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }
}

/// Which pre-tokenizer a `tokenizer.ggml.pre` name selects: one of llama.cpp's
/// `regex_exprs` lists, split as its `unicode_regex_split` does (pretok.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// llama.cpp's `default` (also no `tokenizer.ggml.pre` at all): runs of punctuation and
    /// `$+<=>^~|` split off first, then the GPT-2 splitter, then numbers, then ASCII digits
    /// in threes. Not the plain GPT-2 regex.
    Default,
    /// The GPT-2 regex ("gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion").
    Gpt2,
    /// Every number isolated, then the GPT-2 regex ("smollm", "starcoder", "refact",
    /// "command-r", "codeshell", "exaone", "minerva-7b").
    DigitsGpt2,
    /// The Llama 3 regex, numbers in threes ("llama3", "llama-v3", "llama-bpe", "falcon3",
    /// "pixtral", "dbrx", "smaug-bpe").
    Llama3,
    /// The Qwen2 regex, one digit at a time ("qwen2", "deepseek-r1-qwen", "megrez",
    /// "stablelm2", "hunyuan").
    Qwen2,
    /// None: a SentencePiece vocabulary takes each text whole, spaces as ▁ (llama.cpp ignores
    /// `tokenizer.ggml.pre` for these).
    SentencePiece,
}

/// What llama.cpp's `llama_vocab::impl::load` derives from a `tokenizer.ggml.pre` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PreSpec {
    kind: PreTokenizerKind,
    /// Take a pre-token whole when the vocabulary has it, before any merge.
    ignore_merges: bool,
    /// `add_bos` when `tokenizer.ggml.add_bos_token` is absent.
    add_bos: bool,
}

impl PreTokenizerKind {
    /// Maps a llama.cpp pre-tokenizer name; `None` for names this engine does not implement
    /// (llama.cpp itself refuses "gpt2": GPT-2's is "gpt-2").
    pub fn from_name(name: &str) -> Option<Self> {
        PreSpec::from_name(name).map(|p| p.kind)
    }

    fn steps(self) -> &'static [pretok::Step] {
        match self {
            Self::Default => pretok::DEFAULT,
            Self::Gpt2 => pretok::GPT2,
            Self::DigitsGpt2 => pretok::DIGITS_GPT2,
            Self::Llama3 => pretok::LLAMA3,
            Self::Qwen2 => pretok::QWEN2,
            Self::SentencePiece => &[],
        }
    }
}

/// The `tokenizer.ggml.pre` names llama.cpp 0.3.36 (llama-cpp-python) maps to these regex
/// lists, with the flags its `llama_vocab::impl::load` sets for them: (name, kind,
/// ignore_merges, add_bos). Names that also set `add_sep` ("roberta-bpe") or another flag that
/// changes the ids are left out. llama.cpp refuses "gpt2" (GPT-2's name is "gpt-2").
const PRE_NAMES: &[(&str, PreTokenizerKind, bool, bool)] = {
    use PreTokenizerKind::{DigitsGpt2, Gpt2, Llama3, Qwen2};
    &[
        ("default", PreTokenizerKind::Default, false, false),
        ("gpt-2", Gpt2, false, false),
        ("phi-2", Gpt2, false, false),
        ("mpt", Gpt2, false, false),
        ("olmo", Gpt2, false, false),
        ("jais", Gpt2, false, false),
        ("trillion", Gpt2, false, false),
        ("smollm", DigitsGpt2, false, false),
        ("starcoder", DigitsGpt2, false, false),
        ("refact", DigitsGpt2, false, false),
        ("command-r", DigitsGpt2, false, false),
        ("codeshell", DigitsGpt2, false, false),
        ("exaone", DigitsGpt2, false, false),
        ("minerva-7b", DigitsGpt2, false, false),
        ("llama3", Llama3, true, true),
        ("llama-v3", Llama3, true, true),
        ("llama-bpe", Llama3, true, true),
        ("falcon3", Llama3, true, true),
        ("pixtral", Llama3, true, true),
        ("dbrx", Llama3, false, false),
        ("smaug-bpe", Llama3, false, false),
        ("qwen2", Qwen2, false, false),
        ("deepseek-r1-qwen", Qwen2, false, false),
        ("megrez", Qwen2, false, false),
        ("stablelm2", Qwen2, false, false),
        ("hunyuan", Qwen2, false, false),
    ]
};

impl PreSpec {
    const DEFAULT: Self = Self { kind: PreTokenizerKind::Default, ignore_merges: false, add_bos: false };

    fn from_name(name: &str) -> Option<Self> {
        let &(_, kind, ignore_merges, add_bos) = PRE_NAMES.iter().find(|p| p.0 == name)?;
        Some(Self { kind, ignore_merges, add_bos })
    }
}

/// Which of llama.cpp's tokenizer kinds (`tokenizer.ggml.model`) a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// `"gpt2"`: byte-level BPE with merges.
    Bpe,
    /// `"llama"`: SentencePiece, pieces with scores and `<0xXX>` byte fallback.
    SentencePiece,
}

/// Token texts llama.cpp takes as the EOT token when `tokenizer.ggml.eot_token_id` is absent.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<end_of_utterance>",
];

/// Token texts llama.cpp treats as end-of-generation whatever their declared type
/// (`llama_vocab::impl::load`), plus `</s>` when it is a control token.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// How the text between special tokens becomes ids.
enum Encoder {
    /// llama.cpp's pre-tokenizer, byte encoding and merges (pretok.rs, bpe.rs).
    Bpe {
        merges: bpe::Merges,
        steps: &'static [pretok::Step],
        byte_chars: Box<[char; 256]>,
    },
    Spm(Spm),
}

/// A tokenizer built from GGUF metadata: byte-level BPE or SentencePiece.
pub struct Tokenizer {
    encoder: Encoder,
    /// CONTROL, UNKNOWN and USER_DEFINED tokens, cut out of the text before the encoder runs.
    specials: Specials,
    pre_kind: PreTokenizerKind,
    pre_name: Option<String>,
    /// Raw vocabulary strings, indexed by id, and the reverse map.
    vocab: Vocab,
    types: Vec<TokenType>,
    /// Decoded bytes of every token, concatenated; token `i` is `piece_bytes[piece_ends[i-1]..piece_ends[i]]`.
    piece_bytes: Vec<u8>,
    piece_ends: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    eog: Vec<u32>,
    chat_template: Option<String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind())
            .field("vocab_size", &self.vocab.len())
            .field("pre", &self.pre_name)
            .field("pre_kind", &self.pre_kind)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("add_space_prefix", &self.add_space_prefix)
            .field("eog", &self.eog)
            .field("has_chat_template", &self.chat_template.is_some())
            .finish_non_exhaustive()
    }
}

fn tok_err(msg: impl Into<String>) -> Error {
    Error::Tokenizer(msg.into())
}

/// An optional token id key: absent is `None`; present but not an id in range is an error.
fn optional_id(m: &BTreeMap<String, Value>, key: &str, n_vocab: usize) -> Result<Option<u32>> {
    let Some(v) = m.get(key) else { return Ok(None) };
    let id = v.as_u64().ok_or_else(|| tok_err(format!("{key} is not a non-negative integer: {}", shown(v))))?;
    if id >= n_vocab as u64 {
        return Err(tok_err(format!("{key} = {id} is out of range (vocabulary has {n_vocab} tokens)")));
    }
    Ok(Some(id as u32))
}

fn optional_bool(m: &BTreeMap<String, Value>, key: &str) -> Result<Option<bool>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| tok_err(format!("{key} is not a bool: {}", shown(v)))),
    }
}

fn string_array<'m>(m: &'m BTreeMap<String, Value>, key: &str) -> Result<Vec<&'m str>> {
    let v = m.get(key).ok_or_else(|| tok_err(format!("missing {key}")))?;
    let arr = v.as_array().ok_or_else(|| tok_err(format!("{key} is not an array but a {}", v.type_name())))?;
    let strings =
        arr.as_strings().ok_or_else(|| tok_err(format!("{key} is an array of {}, not of strings", arr.type_name())))?;
    Ok(strings.iter().collect())
}

/// GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100.. in byte order.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        table[b as usize] = if printable {
            b as char
        } else {
            n += 1;
            char::from_u32(255 + n).expect("U+0100..U+0143 are chars")
        };
    }
    table
}

/// Inverse of `byte_to_char_table`, indexed by code point (all mapped chars are < U+0144).
fn char_to_byte_table() -> Vec<Option<u8>> {
    let mut inv = vec![None; 0x144];
    for (b, c) in byte_to_char_table().iter().enumerate() {
        inv[*c as usize] = Some(b as u8);
    }
    inv
}

/// A normal token's bytes: each char through the byte-level table. A token with a char outside
/// the table is taken as its raw UTF-8 (what the `tokenizers` ByteLevel decoder does).
fn byte_level_decode(token: &str, inv: &[Option<u8>], out: &mut Vec<u8>) {
    let start = out.len();
    for c in token.chars() {
        match inv.get(c as usize).copied().flatten() {
            Some(b) => out.push(b),
            None => {
                out.truncate(start);
                out.extend_from_slice(token.as_bytes());
                return;
            }
        }
    }
}

/// The byte of a SentencePiece byte token `<0xXX>`.
fn parse_byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// `tokenizer.ggml.scores` of a SentencePiece vocabulary: one finite-or-infinite number per token.
fn scores(m: &BTreeMap<String, Value>, n_vocab: usize) -> Result<Vec<f32>> {
    let key = keys::SCORES;
    let v = m.get(key).ok_or_else(|| tok_err(format!("missing {key}, which a SentencePiece vocabulary needs")))?;
    let arr = v.as_array().ok_or_else(|| tok_err(format!("{key} is not an array but a {}", v.type_name())))?;
    if arr.len() != n_vocab {
        return Err(tok_err(format!("{key} has {} entries but {} has {n_vocab}", arr.len(), keys::TOKENS)));
    }
    let scores: Vec<f32> = match arr {
        Array::F32(v) => v.clone(),
        Array::F64(v) => v.iter().map(|&x| x as f32).collect(),
        Array::I32(v) => v.iter().map(|&x| x as f32).collect(),
        _ => return Err(tok_err(format!("{key} is an array of {}, not of f32", arr.type_name()))),
    };
    if let Some(i) = scores.iter().position(|x| x.is_nan()) {
        return Err(tok_err(format!("{key}[{i}] is NaN")));
    }
    Ok(scores)
}

/// The merges of `tokenizer.ggml.merges`, as vocabulary ids.
fn bpe_merges(m: &BTreeMap<String, Value>, vocab: &Vocab, ignore_merges: bool) -> Result<bpe::Merges> {
    // Merges: "a b", split at the first space after the first byte (llama.cpp's rule).
    // Duplicate pairs keep their first (highest-priority) rank, as in llama.cpp.
    let merge_strs = match m.get(keys::MERGES) {
        None => Vec::new(),
        Some(_) => string_array(m, keys::MERGES)?,
    };
    let mut pairs = Vec::with_capacity(merge_strs.len());
    let mut merged = String::new();
    for (i, s) in merge_strs.iter().enumerate() {
        let pos = s.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(p, _)| p).ok_or_else(|| {
            tok_err(format!("{}[{i}] = {} is not two tokens separated by a space", keys::MERGES, shown(s)))
        })?;
        let (a, b) = (&s[..pos], &s[pos + 1..]);
        if b.is_empty() {
            return Err(tok_err(format!("{}[{i}] = {} has an empty second token", keys::MERGES, shown(s))));
        }
        let id = |part: &str| {
            vocab.get(part.as_bytes()).ok_or_else(|| {
                tok_err(format!("{}[{i}] = {}: {} is not in the vocabulary", keys::MERGES, shown(s), shown(part)))
            })
        };
        let (ia, ib) = (id(a)?, id(b)?);
        merged.clear();
        merged.push_str(a);
        merged.push_str(b);
        let im = vocab.get(merged.as_bytes()).ok_or_else(|| {
            tok_err(format!(
                "{}[{i}] = {}: the merged token {} is not in the vocabulary",
                keys::MERGES,
                shown(s),
                shown(&merged)
            ))
        })?;
        pairs.push((ia, ib, im));
    }
    Ok(bpe::Merges::new(pairs, ignore_merges))
}

impl Tokenizer {
    /// Builds the tokenizer from a parsed GGUF file.
    pub fn from_gguf(g: &crate::gguf::Gguf) -> Result<Self> {
        Self::from_metadata(&g.metadata)
    }

    /// Builds the tokenizer from GGUF metadata.
    pub fn from_metadata(m: &BTreeMap<String, Value>) -> Result<Self> {
        let model_name = match m.get(keys::MODEL) {
            None => return Err(tok_err(format!("missing {}", keys::MODEL))),
            Some(v) => v.as_str().ok_or_else(|| tok_err(format!("{} is not a string: {}", keys::MODEL, shown(v))))?,
        };
        let kind = match model_name {
            "gpt2" => TokenizerKind::Bpe,
            "llama" => TokenizerKind::SentencePiece,
            _ => {
                let what = match model_name {
                    "bert" => " (WordPiece)",
                    "t5" => " (Unigram)",
                    "rwkv" => " (RWKV)",
                    _ => "",
                };
                return Err(Error::Unsupported(format!(
                    "tokenizer model {}{what}: only \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece) are \
                     supported",
                    shown(model_name)
                )));
            }
        };
        let spm = kind == TokenizerKind::SentencePiece;

        // Pre-tokenizer (BPE only: llama.cpp ignores it for SentencePiece).
        let pre_name = match m.get(keys::PRE) {
            None => None,
            Some(v) => Some(
                v.as_str().ok_or_else(|| tok_err(format!("{} is not a string: {}", keys::PRE, shown(v))))?.to_owned(),
            ),
        };
        let pre = match (spm, pre_name.as_deref()) {
            (true, _) => PreSpec { kind: PreTokenizerKind::SentencePiece, ignore_merges: false, add_bos: true },
            // llama.cpp warns and takes "default".
            (false, None) => PreSpec::DEFAULT,
            (false, Some(name)) => PreSpec::from_name(name).ok_or_else(|| {
                let hint = if name == "gpt2" { " (llama.cpp refuses it too: GPT-2's is \"gpt-2\")" } else { "" };
                let names: Vec<&str> = PRE_NAMES.iter().map(|p| p.0).collect();
                Error::Unsupported(format!(
                    "pre-tokenizer {} ({}) is not implemented{hint}; supported: {}",
                    shown(name),
                    keys::PRE,
                    names.join(", ")
                ))
            })?,
        };
        let pre_kind = pre.kind;

        // Vocabulary and token types.
        let tokens: StrArray = {
            let v = m.get(keys::TOKENS).ok_or_else(|| tok_err(format!("missing {}", keys::TOKENS)))?;
            let arr = v
                .as_array()
                .ok_or_else(|| tok_err(format!("{} is not an array but a {}", keys::TOKENS, v.type_name())))?;
            arr.as_strings()
                .ok_or_else(|| tok_err(format!("{} is an array of {}, not of strings", keys::TOKENS, arr.type_name())))?
                .clone()
        };
        let n_vocab = tokens.len();
        if n_vocab == 0 {
            return Err(tok_err(format!("{} is empty", keys::TOKENS)));
        }
        if n_vocab >= u32::MAX as usize {
            return Err(tok_err(format!("{} has {n_vocab} entries, more than u32 ids allow", keys::TOKENS)));
        }
        let mut types = match m.get(keys::TOKEN_TYPE) {
            None => vec![TokenType::Normal; n_vocab],
            Some(v) => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| tok_err(format!("{} is not an array but a {}", keys::TOKEN_TYPE, v.type_name())))?;
                if arr.len() != n_vocab {
                    return Err(tok_err(format!(
                        "{} has {} entries but {} has {n_vocab}",
                        keys::TOKEN_TYPE,
                        arr.len(),
                        keys::TOKENS
                    )));
                }
                (0..arr.len())
                    .map(|i| {
                        arr.int(i).and_then(|t| u64::try_from(t).ok()).and_then(TokenType::from_u64).ok_or_else(|| {
                            let v = arr.get(i).map_or(String::new(), |v| shown(&v));
                            tok_err(format!("{}[{i}] is not a token type (0..=6): {v}", keys::TOKEN_TYPE))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };

        // Special ids. Without the keys llama.cpp takes 1 and 2 for SentencePiece's BOS and EOS,
        // and 11 for both in a BPE vocabulary (Falcon's `<|endoftext|>`), if in range.
        let (bos_default, eos_default) = if spm { (1, 2) } else { (11, 11) };
        let default_id = |id: u32| ((id as usize) < n_vocab).then_some(id);
        let bos = optional_id(m, keys::BOS_ID, n_vocab)?.or_else(|| default_id(bos_default));
        let eos = optional_id(m, keys::EOS_ID, n_vocab)?.or_else(|| default_id(eos_default));
        let mut eot = optional_id(m, keys::EOT_ID, n_vocab)?;
        let eom = optional_id(m, keys::EOM_ID, n_vocab)?;
        // llama.cpp's defaults: BOS for SentencePiece and the Llama 3 names (not dbrx or
        // smaug-bpe); a leading space for SentencePiece (Gemma 3's file turns it off).
        let add_bos = optional_bool(m, keys::ADD_BOS)?.unwrap_or(pre.add_bos);
        let add_eos = optional_bool(m, keys::ADD_EOS)?.unwrap_or(false);
        let add_space_prefix = optional_bool(m, keys::ADD_SPACE_PREFIX)?.unwrap_or(spm);
        if add_bos && bos.is_none() {
            return Err(tok_err(format!("{} is true but there is no {}", keys::ADD_BOS, keys::BOS_ID)));
        }
        if add_eos && eos.is_none() {
            return Err(tok_err(format!("{} is true but there is no {}", keys::ADD_EOS, keys::EOS_ID)));
        }

        // End-of-generation set, as llama.cpp builds it. Tokens with an EOG text are made
        // CONTROL (llama.cpp overrides their type too). Without an EOT key llama.cpp takes a
        // token with an EOT text (whichever its hash map yields first; here the lowest id).
        let mut eog: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        for (i, t) in tokens.iter().enumerate() {
            if EOG_TEXTS.contains(&t) {
                eog.push(i as u32);
                types[i] = TokenType::Control;
            } else if t == "</s>" && types[i] == TokenType::Control {
                eog.push(i as u32);
            }
            if eot.is_none() && EOT_TEXTS.contains(&t) {
                eot = Some(i as u32);
            }
        }
        eog.extend(eot);
        eog.sort_unstable();
        eog.dedup();

        let vocab = Vocab::new(tokens);
        let encoder = if spm {
            Encoder::Spm(Spm::new(&vocab, scores(m, n_vocab)?))
        } else {
            let merges = bpe_merges(m, &vocab, pre.ignore_merges)?;
            Encoder::Bpe { merges, steps: pre_kind.steps(), byte_chars: Box::new(byte_to_char_table()) }
        };
        let specials = Specials::new(&vocab, &types)?;

        // Decoded bytes of every token (llama.cpp's token_to_piece with special = true).
        let inv = char_to_byte_table();
        let mut piece_bytes = Vec::with_capacity(vocab.iter().map(str::len).sum());
        let mut piece_ends = Vec::with_capacity(n_vocab);
        for (i, (t, ty)) in vocab.iter().zip(&types).enumerate() {
            match (ty, spm) {
                (TokenType::Control | TokenType::Unknown | TokenType::UserDefined, _) => {
                    piece_bytes.extend_from_slice(t.as_bytes())
                }
                (TokenType::Normal, false) => byte_level_decode(t, &inv, &mut piece_bytes),
                (TokenType::Normal, true) => {
                    let mut rest = t;
                    while let Some(p) = rest.find('\u{2581}') {
                        piece_bytes.extend_from_slice(&rest.as_bytes()[..p]);
                        piece_bytes.push(b' ');
                        rest = &rest[p + '\u{2581}'.len_utf8()..];
                    }
                    piece_bytes.extend_from_slice(rest.as_bytes());
                }
                (TokenType::Byte, true) => piece_bytes.push(parse_byte_token(t).ok_or_else(|| {
                    tok_err(format!("{}[{i}] = {} has type BYTE but is not <0xXX>", keys::TOKENS, shown(t)))
                })?),
                // llama.cpp renders nothing for these (and for byte tokens in a BPE vocabulary).
                (TokenType::Undefined | TokenType::Unused, _) | (TokenType::Byte, false) => {}
            }
            let end = u32::try_from(piece_bytes.len()).map_err(|_| tok_err("vocabulary text exceeds 4 GiB"))?;
            piece_ends.push(end);
        }

        let chat_template = match m.get(keys::CHAT_TEMPLATE) {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| Error::ChatTemplate(format!("{} is not a string", keys::CHAT_TEMPLATE)))?
                    .to_owned(),
            ),
        };

        Ok(Self {
            encoder,
            specials,
            pre_kind,
            pre_name,
            vocab,
            types,
            piece_bytes,
            piece_ends,
            bos,
            eos,
            eot,
            eom,
            add_bos,
            add_eos,
            add_space_prefix,
            eog,
            chat_template,
        })
    }

    /// Tokenizes `text` the way `llama_tokenize(text, add_special = true, parse_special = true)`
    /// does: special tokens such as `<|im_start|>` are matched whole, BOS is prepended iff
    /// `tokenizer.ggml.add_bos_token` is true (EOS appended iff `add_eos_token` is).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_with(text, true, true)
    }

    /// `llama_tokenize` with both flags: `add_special` adds BOS/EOS per the model's
    /// `add_bos_token` / `add_eos_token`; `parse_special = false` treats control tokens'
    /// text as plain text (user-defined tokens are still matched, as in llama.cpp). Use that
    /// for untrusted text that must not inject `<|im_end|>` and friends.
    pub fn encode_with(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        let pieces = if text.is_empty() { Vec::new() } else { self.specials.split(text, parse_special) };
        match &self.encoder {
            Encoder::Bpe { merges, steps, byte_chars } => {
                let mut word = String::new();
                for piece in pieces {
                    let range = match piece {
                        Piece::Token(id) => {
                            ids.push(id);
                            continue;
                        }
                        Piece::Text(range) => range,
                    };
                    for w in pretok::split(&text[range], steps) {
                        word.clear();
                        word.extend(w.bytes().map(|b| byte_chars[b as usize]));
                        merges.encode_word(&self.vocab, &word, &mut ids);
                    }
                }
            }
            Encoder::Spm(spm) => {
                // llama.cpp: a space before each text that starts the input or follows a special
                // token (if add_space_prefix), then every space as ▁.
                let mut after_special = true;
                let mut buf = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Token(id) => {
                            ids.push(id);
                            after_special = true;
                        }
                        Piece::Text(range) => {
                            buf.clear();
                            if self.add_space_prefix && after_special {
                                buf.push('\u{2581}');
                            }
                            buf.extend(text[range].chars().map(|c| if c == ' ' { '\u{2581}' } else { c }));
                            spm.encode(&self.vocab, &buf, &mut ids)?;
                            after_special = false;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    /// The bytes a token renders to (special tokens as their text); `None` if out of range.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let end = *self.piece_ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.piece_ends[i - 1] as usize };
        Some(&self.piece_bytes[start..end])
    }

    /// Detokenizes like `llama_detokenize(remove_special = false, unparse_special = true)`:
    /// special tokens appear as their text, invalid UTF-8 becomes U+FFFD, and with
    /// `add_space_prefix` (Llama 2, not Gemma 3) the first token's leading space is dropped,
    /// undoing the one `encode` added. An id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    /// The raw bytes of `ids`, concatenated as `decode` does (may be incomplete UTF-8).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let mut piece = self.token_bytes(id).ok_or_else(|| self.out_of_range(id))?;
            if i == 0 && self.add_space_prefix {
                piece = piece.strip_prefix(b" ").unwrap_or(piece);
            }
            out.extend_from_slice(piece);
        }
        Ok(out)
    }

    fn out_of_range(&self, id: u32) -> Error {
        tok_err(format!("token id {id} is out of range (vocabulary has {} tokens)", self.vocab.len()))
    }

    /// Number of entries in `tokenizer.ggml.tokens`.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// BPE or SentencePiece (`tokenizer.ggml.model`).
    pub fn kind(&self) -> TokenizerKind {
        match self.encoder {
            Encoder::Bpe { .. } => TokenizerKind::Bpe,
            Encoder::Spm(_) => TokenizerKind::SentencePiece,
        }
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// `tokenizer.ggml.eot_token_id`, else a token whose text llama.cpp takes for EOT
    /// (`<end_of_turn>`, `<|eot_id|>`, `<|im_end|>`, …; the lowest id if several).
    pub fn eot_id(&self) -> Option<u32> {
        self.eot
    }

    /// `tokenizer.ggml.eom_token_id`, if the file sets it.
    pub fn eom_id(&self) -> Option<u32> {
        self.eom
    }

    /// Whether `encode` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// Whether SentencePiece text gets a leading space (`tokenizer.ggml.add_space_prefix`).
    pub fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// End of generation: llama.cpp's set (eos, eot, eom and the tokens whose text is
    /// `<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, `<|end|>`, …, plus a control `</s>`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// The end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// The decoded piece of one token (lossy: a lone byte of a multi-byte character shows
    /// as U+FFFD), for the inspector.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.token_bytes(id).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The vocabulary string of a token as stored in the GGUF (BPE: byte-level alphabet, `Ġ`
    /// for a space; SentencePiece: `▁` for a space, `<0xE3>` for a byte).
    pub fn token_raw(&self, id: u32) -> Option<&str> {
        self.vocab.text(id)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The id of a vocabulary string (raw, as `token_raw` gives it), e.g. `"<|im_end|>"`.
    pub fn token_id(&self, raw: &str) -> Option<u32> {
        self.vocab.get(raw.as_bytes())
    }

    /// `tokenizer.ggml.pre`, if present.
    pub fn pre_name(&self) -> Option<&str> {
        self.pre_name.as_deref()
    }

    pub fn pre_kind(&self) -> PreTokenizerKind {
        self.pre_kind
    }

    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// The raw `tokenizer.chat_template`.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    fn special_text(&self, id: Option<u32>) -> String {
        id.and_then(|i| self.token_raw(i)).unwrap_or("").to_owned()
    }

    /// Renders the GGUF's `tokenizer.chat_template` with minijinja (variables `messages`,
    /// `add_generation_prompt`, `bos_token`, `eos_token`; HF's `trim_blocks` and
    /// `lstrip_blocks`). A model without a template is an `Error::ChatTemplate`.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.chat_template.as_deref().ok_or_else(|| {
            Error::ChatTemplate(format!(
                "this model has no {}; format the prompt yourself or pick a chat model",
                keys::CHAT_TEMPLATE
            ))
        })?;
        chat::render(
            template,
            messages,
            add_generation_prompt,
            &self.special_text(self.bos),
            &self.special_text(self.eos),
        )
    }

    /// One user message plus the generation prompt.
    pub fn chat_prompt(&self, user: &str) -> Result<String> {
        self.apply_chat_template(&[ChatMessage::user(user)], true)
    }

    /// The chat rendered and tokenized, with one BOS: templates such as Gemma's write
    /// `{{ bos_token }}` themselves, so, as llama.cpp's `common_chat_templates_apply` does, a
    /// leading BOS text is dropped when `encode` adds BOS (and a trailing EOS text when it adds EOS).
    pub fn encode_chat(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<Vec<u32>> {
        let rendered = self.apply_chat_template(messages, add_generation_prompt)?;
        let mut text = rendered.as_str();
        let special =
            |on: bool, id: Option<u32>| id.filter(|_| on).and_then(|i| self.token_raw(i)).filter(|t| !t.is_empty());
        if let Some(bos) = special(self.add_bos, self.bos) {
            text = text.strip_prefix(bos).unwrap_or(text);
        }
        if let Some(eos) = special(self.add_eos, self.eos) {
            text = text.strip_suffix(eos).unwrap_or(text);
        }
        self.encode(text)
    }

    /// `chat_prompt` tokenized by `encode_chat`: what a chat-mode prompt feeds the model.
    pub fn encode_chat_prompt(&self, user: &str) -> Result<Vec<u32>> {
        self.encode_chat(&[ChatMessage::user(user)], true)
    }

    /// A decoder that turns ids into text as they arrive.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(self)
    }
}
