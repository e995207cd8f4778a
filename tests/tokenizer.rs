//! The tokenizer of the default model (SmolLM2-135M-Instruct Q4_1) against llama.cpp's
//! tokenization and detokenization in ../shared/reference/.

mod common;

use std::sync::OnceLock;

use samplescope::gguf::Gguf;
use samplescope::tokenizer::{ChatMessage, PreTokenizerKind, Tokenizer};
use serde_json::Value as Json;

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let bytes = common::default_model_bytes();
        let gguf = Gguf::parse(&bytes).expect("default model parses");
        Tokenizer::from_gguf(&gguf).expect("tokenizer builds from the default model")
    })
}

fn reference() -> &'static Json {
    static REF: OnceLock<Json> = OnceLock::new();
    REF.get_or_init(common::reference)
}

fn prompts() -> &'static [Json] {
    let p = reference()["prompts"].as_array().expect("prompts array");
    assert_eq!(p.len(), 8, "the reference has 8 prompts");
    p
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().expect("id array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

fn enc(text: &str) -> Vec<u32> {
    tokenizer().encode(text).unwrap()
}

const SMOLLM_SYSTEM: &str =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

#[test]
fn metadata() {
    let t = tokenizer();
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(t.bos_id(), Some(1));
    assert_eq!(t.eos_id(), Some(2));
    assert!(!t.add_bos());
    assert_eq!(t.pre_name(), Some("smollm"));
    assert_eq!(t.pre_kind(), PreTokenizerKind::DigitsGpt2);
    assert!(t.is_eog(0), "<|endoftext|>");
    assert!(t.is_eog(2), "<|im_end|>");
    assert!(!t.is_eog(1), "<|im_start|>");
    assert!(!t.is_eog(198));
    assert_eq!(t.eog_ids(), &[0, 2]);
    assert_eq!(t.token_text(1).as_deref(), Some("<|im_start|>"));
    assert_eq!(t.token_text(198).as_deref(), Some("\n"));
    assert_eq!(t.token_raw(198), Some("Ċ"));
    assert!(t.token_text(49152).is_none());
}

#[test]
fn encode_matches_llama_cpp() {
    for (i, p) in prompts().iter().enumerate() {
        let text = p["text"].as_str().unwrap();
        let want = ids(&p["token_ids"]);
        assert_eq!(enc(text), want, "prompt {i}: {text:?}");
        // The raw vocabulary strings agree too.
        let strs: Vec<&str> = p["token_strs"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let ours: Vec<&str> = want.iter().map(|&id| tokenizer().token_raw(id).unwrap()).collect();
        assert_eq!(ours, strs, "prompt {i}");
        // And decoding the prompt's ids gives the prompt back.
        assert_eq!(tokenizer().decode(&want).unwrap(), text, "prompt {i}");
    }
}

#[test]
fn decode_matches_llama_cpp() {
    for (i, p) in prompts().iter().enumerate() {
        let g = &p["greedy"];
        assert_eq!(tokenizer().decode(&ids(&g["ids"])).unwrap(), g["text"].as_str().unwrap(), "prompt {i}");
        if let (Some(v_ids), Some(v_text)) = (p.get("vulkan_greedy_ids"), p.get("vulkan_greedy_text")) {
            assert_eq!(tokenizer().decode(&ids(v_ids)).unwrap(), v_text.as_str().unwrap(), "prompt {i} (vulkan)");
        }
    }
}

#[test]
fn stream_decoder_matches_llama_cpp() {
    for (i, p) in prompts().iter().enumerate() {
        let g = &p["greedy"];
        let mut s = tokenizer().stream_decoder();
        let mut out = String::new();
        for id in ids(&g["ids"]) {
            out.push_str(&s.push(id));
        }
        out.push_str(&s.finish());
        assert_eq!(out, g["text"].as_str().unwrap(), "prompt {i}");
    }
}

#[test]
fn first_eog_matches_reference() {
    for (i, p) in prompts().iter().enumerate() {
        let g = &p["greedy"];
        let ours = ids(&g["ids"]).iter().position(|&id| tokenizer().is_eog(id));
        let theirs = g["first_eog_index"].as_u64().map(|x| x as usize);
        assert_eq!(ours, theirs, "prompt {i}");
    }
}

#[test]
fn tokenization_notes() {
    let t = tokenizer();
    // "assistant" is `ass` + `istant`.
    assert_eq!(enc("assistant"), vec![520, 9531]);
    // Every digit is its own token.
    assert_eq!(enc("2024"), vec![34, 32, 34, 36]);
    assert_eq!(enc(" 1234567890").len(), 11);
    // ` ü` is two byte-ish tokens (` \xC3` + `\xBC`: the vocabulary has no ` ü`, and `ü`
    // alone is 7170); ` é` is one token.
    assert_eq!(enc(" ümlauts"), vec![5549, 137, 3566, 40455]);
    assert_eq!(t.token_raw(5549), Some("ĠÃ"));
    assert_eq!(enc("ü"), vec![7170]);
    assert_eq!(enc(" é"), vec![26411]);
    assert_eq!(t.decode(&[26411]).unwrap(), " é");
    // `\n    """` is `\n   ` + ` """`.
    let v = enc("\n    \"\"\"");
    assert_eq!(v, vec![472, 1620]);
    assert_eq!(t.token_text(472).as_deref(), Some("\n   "));
    assert_eq!(t.token_text(1620).as_deref(), Some(" \"\"\""));
    // `\t` is 197; "tabs" is `t` + `abs`.
    assert_eq!(enc("\t"), vec![197]);
    assert_eq!(enc("tabs"), vec![100, 7366]);
    assert_eq!(t.token_text(100).as_deref(), Some("t"));
    // Two leading spaces: ` ` + ` leading`.
    assert_eq!(enc("  leading"), vec![216, 2899]);
    // ` ü` streams: the space comes out, the first byte of ü waits for the second.
    let mut s = t.stream_decoder();
    assert_eq!(s.push(5549), " ");
    assert_eq!(s.pending(), &[0xC3]);
    assert_eq!(s.push(137), "ü");
    assert_eq!(s.finish(), "");
    assert_eq!(t.token_text(5549).as_deref(), Some(" \u{FFFD}"));
    assert_eq!(t.token_text(137).as_deref(), Some("\u{FFFD}"));
}

#[test]
fn special_tokens_parse_whole_unless_disabled() {
    let t = tokenizer();
    assert_eq!(enc("<|im_start|><|im_end|><|endoftext|>"), vec![1, 2, 0]);
    assert_eq!(enc("<repo_name>x"), vec![3, t.encode("x").unwrap()[0]]);
    let plain = t.encode_with("<|im_end|>", true, false).unwrap();
    assert!(!plain.contains(&2) && plain.len() > 1, "{plain:?}");
    assert_eq!(t.decode(&plain).unwrap(), "<|im_end|>");
}

#[test]
fn chat_template_renders_smollm2_format() {
    let t = tokenizer();
    assert!(t.has_chat_template());
    // With no system message, SmolLM2's template inserts its default system prompt.
    let user1 = "What is 17 + 25?";
    let rendered = t.chat_prompt(user1).unwrap();
    assert_eq!(rendered, format!("{SMOLLM_SYSTEM}<|im_start|>user\n{user1}<|im_end|>\n<|im_start|>assistant\n"));
    // The reference prompt 1 is the same conversation without the system turn.
    let p1 = prompts()[1]["text"].as_str().unwrap();
    assert_eq!(rendered, format!("{SMOLLM_SYSTEM}{p1}"));
    let ids1 = enc(&rendered);
    let want_tail = ids(&prompts()[1]["token_ids"]);
    assert_eq!(&ids1[ids1.len() - want_tail.len()..], &want_tail[..]);
    assert_eq!(ids1[..ids1.len() - want_tail.len()], enc(SMOLLM_SYSTEM)[..]);

    // With an explicit system message it renders reference prompt 7 exactly.
    let msgs = [ChatMessage::system("You are a helpful assistant."), ChatMessage::user("List three colors.")];
    let r7 = t.apply_chat_template(&msgs, true).unwrap();
    assert_eq!(r7, prompts()[7]["text"].as_str().unwrap());
    assert_eq!(enc(&r7), ids(&prompts()[7]["token_ids"]));

    // Without the generation prompt, the assistant header is absent; a multi-turn history renders in order.
    let msgs = [ChatMessage::user("Hi"), ChatMessage::assistant("Hello!"), ChatMessage::user("Bye")];
    assert_eq!(
        t.apply_chat_template(&msgs, false).unwrap(),
        format!(
            "{SMOLLM_SYSTEM}<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n\
             <|im_start|>user\nBye<|im_end|>\n"
        )
    );
}
