//! Byte-level BPE pre-tokenizers against llama.cpp: the ids llama.cpp 0.3.36 gives the hard
//! strings of tests/llamacpp/make_fixtures.py (digits, contractions in both cases, CJK, emoji,
//! runs of spaces, tabs and newlines, special tokens) with each fixture's
//! `tokenizer.ggml.pre`, for a vocabulary whose merges cross the boundaries pre-tokenizers
//! draw. No GPU.

mod common;

use samplescope::gguf::Gguf;
use samplescope::synth::FIXTURES;
use samplescope::tokenizer::Tokenizer;

#[test]
fn ids_equal_llamacpp_for_every_pre_tokenizer() {
    let mut failures = Vec::new();
    for name in FIXTURES {
        let (fx, bytes) = common::llamacpp_fixture(name);
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let pre = tok.pre_name().unwrap_or("-").to_string();
        for t in fx["tokens"].as_array().unwrap() {
            let text = t["text"].as_str().unwrap();
            let want = common::json_ids(&t["ids"]);
            let got = tok.encode_with(text, false, true).unwrap();
            if got != want {
                failures.push(format!("{name} (pre {pre}) {text:?}:\n  ours      {got:?}\n  llama.cpp {want:?}"));
            }
            assert_eq!(tok.decode(&want).unwrap(), text, "{name}: llama.cpp's ids decode to the text");
        }
    }
    assert!(failures.is_empty(), "{} strings differ:\n{}", failures.len(), failures.join("\n"));
}
