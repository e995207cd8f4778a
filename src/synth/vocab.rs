//! The synthetic models' vocabularies: byte-level BPE as GPT-2, Llama 3, Qwen and SmolLM
//! files store it (`tokenizer.ggml.tokens` in GPT-2's byte-to-unicode alphabet, merges in
//! rank order), either the small fixed one the tests' ids rely on or one trained with the
//! `tokenizers` crate's BPE trainer on `CORPUS`.

use crate::error::{Error, Result};

/// SmolLM2's first three special tokens, at the same ids.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
pub const BOS_ID: u32 = 1;
pub const EOS_ID: u32 = 2;
pub const MIN_VOCAB: usize = SPECIAL_TOKENS.len() + 256;

/// SmolLM2's first merges, in rank order: each one's parts are bytes or earlier merges,
/// so any prefix is a valid merge list.
#[rustfmt::skip]
pub(super) const MERGES: [&str; 48] = [
    "Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ", "r e", "o n", "e r", "Ġt he", "a t", "Ġ s", "Ġ o",
    "e n", "Ġ c", "e s", "Ġ w", "n d", "i t", "o r", "i s", "a l", "Ġ p", "in g", "Ġ f",
    "a n", "e d", "Ġ b", "o u", "a r", "Ġ in", "Ġo f", "Ġ m", "Ġa nd", "i on", "i c", "Ġ d",
    "Ġt o", "ĠĠ ĠĠ", "l e", "r o", "a s", "en t", "Ġ h", "Ġt h", "c t", "Ġ e", "Ġ re", "e l",
];

pub(super) const CHAT_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + \
message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// GPT-2's `bytes_to_unicode`, in its order: the printable bytes map to themselves, the
/// rest to U+0100 upwards. Returns (byte, char) pairs in vocabulary order.
pub fn gpt2_byte_chars() -> Vec<(u8, char)> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    let mut out: Vec<(u8, char)> = (0..=255u8).filter(|&b| printable(b)).map(|b| (b, b as char)).collect();
    let rest = (0..=255u8).filter(|&b| !printable(b));
    out.extend(rest.enumerate().map(|(n, b)| (b, char::from_u32(256 + n as u32).unwrap_or('?'))));
    out
}

/// (tokens, token types, merges): specials (type 3), bytes and merges (type 1), then
/// `<|reserved_N|>` controls up to `vocab`. Merges beyond what fits are dropped.
pub(super) fn vocabulary(vocab: usize) -> (Vec<String>, Vec<i32>, Vec<String>) {
    let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    let mut types = vec![3; tokens.len()];
    tokens.extend(gpt2_byte_chars().into_iter().map(|(_, c)| c.to_string()));
    let n_merges = MERGES.len().min(vocab - tokens.len());
    let merges: Vec<String> = MERGES[..n_merges].iter().map(|m| m.to_string()).collect();
    tokens.extend(merges.iter().map(|m| m.replace(' ', "")));
    types.resize(tokens.len(), 1);
    for i in 0..vocab - tokens.len() {
        tokens.push(format!("<|reserved_{i}|>"));
        types.push(3);
    }
    (tokens, types, merges)
}

/// Text the trained vocabulary learns from: the strings that separate one pre-tokenizer
/// from another (digit runs, contractions in both cases, CJK, emoji, runs of spaces, tabs
/// and newlines, punctuation runs, code), each repeated so its pairs merge. The whole of
/// each line is one training word, so merges cross the boundaries the pre-tokenizers draw
/// and a tokenizer that splits in the wrong place gives different ids.
pub const CORPUS: &str = "\
The year 2024 had 365 days; 1234567 is a number, 3.14159 and 1,000,000 too.
I'm sure you're right, they'll say we've done it, and she'd agree: it's fine.
I'M SURE YOU'RE RIGHT, THEY'LL SAY WE'VE DONE IT. Don't, can't, won't.
    def main():\n        return x  +  y   # two  spaces   three
你好，世界。日本語のテキストと中文的文本。한국어 문장도 있습니다.
Emoji: 👋🏽 🇫🇷 ✓ ✨ 🚀🚀 — and naïve café résumé façade.
Runs of spaces:  a  b   c    d     e and tabs\t\tx\ty and newlines\n\n\nz\r\n\r\nw.
Punctuation!!! ??? ... $+<=>^~| --- (a) [b] {c} <tag> \"quoted\" 'single'.
The year 2024 had 365 days; 1234567 is a number, 3.14159 and 1,000,000 too.
I'm sure you're right, they'll say we've done it, and she'd agree: it's fine.
    def main():\n        return x  +  y   # two  spaces   three
你好，世界。日本語のテキストと中文的文本。한국어 문장도 있습니다.
Emoji: 👋🏽 🇫🇷 ✓ ✨ 🚀🚀 — and naïve café résumé façade.
Runs of spaces:  a  b   c    d     e and tabs\t\tx\ty and newlines\n\n\nz\r\n\r\nw.
Punctuation!!! ??? ... $+<=>^~| --- (a) [b] {c} <tag> \"quoted\" 'single'.
the cat sat on the mat and the dog sat on the log in the sun at 12:30 or 09:45.
";

/// A vocabulary of `SPECIAL_TOKENS`, the 256 byte tokens and up to `n_merges` merges
/// learned from `CORPUS` by `tokenizers`' BPE trainer, in rank order: (tokens, token
/// types, merges). Deterministic: the trainer breaks ties between equally frequent pairs
/// by the pair's ids.
pub fn trained_vocabulary(n_merges: usize) -> Result<(Vec<String>, Vec<i32>, Vec<String>)> {
    use tokenizers::models::bpe::{BpeTrainer, BPE};
    use tokenizers::Trainer;
    let err = |e: tokenizers::Error| Error::Param(format!("training the synthetic vocabulary: {e}"));
    let chars = gpt2_byte_chars();
    let mut map = ['\0'; 256];
    chars.iter().for_each(|&(b, c)| map[b as usize] = c);
    let words: Vec<String> =
        CORPUS.split_inclusive('\n').map(|line| line.bytes().map(|b| map[b as usize]).collect()).collect();
    let mut trainer = BpeTrainer::builder()
        .show_progress(false)
        .vocab_size(256 + n_merges)
        .min_frequency(2)
        .initial_alphabet(chars.iter().map(|&(_, c)| c).collect())
        .limit_alphabet(256)
        .build();
    trainer.feed(words.iter(), |w| Ok(vec![w.to_owned()])).map_err(err)?;
    let mut bpe = BPE::default();
    trainer.train(&mut bpe).map_err(err)?;
    // The merges in rank order, as the model serializes them ("a b" or ["a", "b"]).
    let json = serde_json::to_value(&bpe).map_err(|e| Error::Param(format!("synthetic vocabulary: {e}")))?;
    let merges: Vec<String> = json["merges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| match m {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Array(p) => Some(format!("{} {}", p.first()?.as_str()?, p.get(1)?.as_str()?)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    let mut types = vec![3; tokens.len()];
    tokens.extend(chars.iter().map(|&(_, c)| c.to_string()));
    // Two merges can make the same text; the vocabulary holds it once.
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    tokens.extend(merges.iter().map(|m| m.replace(' ', "")).filter(|t| seen.insert(t.clone())));
    types.resize(tokens.len(), 1);
    Ok((tokens, types, merges))
}
