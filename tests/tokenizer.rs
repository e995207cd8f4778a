//! The tokenizers of the default model (SmolLM2-135M-Instruct Q4_1, byte-level BPE) and of
//! Gemma 3 270M (SentencePiece) against llama.cpp's tokenization and detokenization in
//! ../shared/reference/.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use samplescope::gguf::{Gguf, Value};
use samplescope::tokenizer::{keys, ChatMessage, PreTokenizerKind, TokenType, Tokenizer, TokenizerKind};
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

// ---------------------------------------------------------------------------------------
// Gemma 3 270M: SentencePiece.

const GEMMA_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// The chat template of Hugging Face's google/gemma-3-*-it (tokenizer_config.json). The 270M
/// base model's GGUF carries none, so the test puts this one into its metadata.
const GEMMA3_CHAT_TEMPLATE: &str = "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n    {%- elif message['content'] is iterable -%}\n        {%- for item in message['content'] -%}\n            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n";

struct Gemma {
    tok: Tokenizer,
    metadata: BTreeMap<String, Value>,
    reference: Json,
}

/// The Gemma tokenizer and reference. Like the default model, a missing file fails with the
/// command that fetches it rather than skipping.
fn gemma() -> &'static Gemma {
    static G: OnceLock<Gemma> = OnceLock::new();
    G.get_or_init(|| {
        let path = samplescope::native::cache_dir().expect("no cache dir").join(GEMMA_FILE);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("cannot read the Gemma model at {}: {e}\nrun `cargo xtask fetch-model gemma` first", path.display())
        });
        let t0 = Instant::now();
        let gguf = Gguf::parse(&bytes).expect("Gemma parses");
        let t1 = Instant::now();
        let tok = Tokenizer::from_gguf(&gguf).expect("tokenizer builds from Gemma");
        eprintln!(
            "Gemma: GGUF parsed in {:.0} ms, tokenizer built in {:.0} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            t1.elapsed().as_secs_f64() * 1e3
        );
        let rpath = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/gemma-3-270m-q4_k_m.json");
        let text = std::fs::read_to_string(&rpath)
            .unwrap_or_else(|e| panic!("cannot read the llama.cpp reference at {}: {e}", rpath.display()));
        let reference = serde_json::from_str(&text).expect("reference JSON parses");
        Gemma { tok, metadata: gguf.metadata.clone(), reference }
    })
}

fn gemma_prompts(g: &Gemma) -> &[Json] {
    let p = g.reference["prompts"].as_array().expect("prompts array");
    assert_eq!(p.len(), 8, "the reference has 8 prompts");
    p
}

fn strs(v: &Json) -> Vec<&str> {
    v.as_array().expect("string array").iter().map(|s| s.as_str().expect("string")).collect()
}

/// Ids without BOS, special tokens parsed.
fn genc(g: &Gemma, text: &str) -> Vec<u32> {
    g.tok.encode_with(text, false, true).unwrap()
}

/// The decoded piece of each id.
fn pieces(g: &Gemma, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&id| g.tok.token_text(id).unwrap()).collect()
}

#[test]
fn gemma_metadata() {
    let g = gemma();
    let t = &g.tok;
    assert_eq!(t.kind(), TokenizerKind::SentencePiece);
    assert_eq!(t.pre_kind(), PreTokenizerKind::SentencePiece);
    assert_eq!(t.vocab_size(), 262_144);
    assert_eq!((t.bos_id(), t.eos_id(), t.eot_id()), (Some(2), Some(1), Some(106)));
    assert!(t.add_bos() && !t.add_eos() && !t.add_space_prefix());
    assert_eq!(t.eog_ids(), &[1, 106]);
    assert!(t.is_eog(1) && t.is_eog(106) && !t.is_eog(105) && !t.is_eog(212), "</s> is an HTML tag here");
    assert_eq!(t.token_type(105), Some(TokenType::Control));
    assert_eq!(t.token_type(107), Some(TokenType::UserDefined));
    assert_eq!(t.token_type(462), Some(TokenType::Byte));
    assert_eq!(t.token_raw(5279), Some("▁capital"));
    assert_eq!(t.token_text(5279).as_deref(), Some(" capital"));
    assert_eq!(t.token_id("<start_of_turn>"), Some(105));
    assert_eq!(t.token_text(138).as_deref(), Some("  "));
    assert_eq!(t.token_bytes(462), Some(&[0xE0u8][..]));
    assert_eq!(t.token_text(462).as_deref(), Some("\u{FFFD}"));
    assert!(t.token_text(262_144).is_none());
    // This base model's file has no chat template; asking for one says so.
    assert!(!t.has_chat_template());
    assert!(t.chat_prompt("hi").unwrap_err().to_string().contains("no tokenizer.chat_template"));
}

#[test]
fn gemma_encode_matches_llama_cpp() {
    let g = gemma();
    for (i, p) in gemma_prompts(g).iter().enumerate() {
        let text = p["text"].as_str().unwrap();
        let want = ids(&p["token_ids"]);
        let got = g.tok.encode(text).unwrap();
        assert!(got == want, "prompt {i}: {:?}\n ours {got:?}\n llama.cpp {want:?}", &text[..text.len().min(80)]);
        // Special parsing off changes nothing here (no control text in the prompts).
        assert_eq!(g.tok.encode_with(text, true, false).unwrap(), want, "prompt {i}");
        assert_eq!(pieces(g, &want), strs(&p["token_strs"]), "prompt {i}");
        assert_eq!(g.tok.decode(&want[1..]).unwrap(), text, "prompt {i}");
    }
}

#[test]
fn gemma_decode_matches_llama_cpp() {
    let g = gemma();
    for (i, p) in gemma_prompts(g).iter().enumerate() {
        let gr = &p["greedy"];
        let want = gr["text"].as_str().unwrap();
        let gids = ids(&gr["ids"]);
        assert_eq!(g.tok.decode(&gids).unwrap(), want, "prompt {i}");
        assert_eq!(pieces(g, &gids), strs(&gr["token_strs"]), "prompt {i}");
        let mut s = g.tok.stream_decoder();
        let mut out: String = gids.iter().map(|&id| s.push(id)).collect();
        out.push_str(&s.finish());
        assert_eq!(out, want, "prompt {i}");
        // The greedy text re-encodes to ids that decode to it again.
        assert_eq!(g.tok.decode(&genc(g, want)).unwrap(), want, "prompt {i}");
    }
}

#[test]
fn gemma_tokenization_notes() {
    let g = gemma();
    // No space prefix: "The" is 818 at the start, " capital" is 5279.
    assert_eq!(g.tok.encode("The capital").unwrap(), vec![2, 818, 5279]);
    // A space before a number is its own token; digits are single tokens.
    assert_eq!(genc(g, " 17"), vec![236743, 236770, 236832]);
    assert_eq!(genc(g, "2024"), vec![236778, 236771, 236778, 236812]);
    // User-defined runs are cut out first; the piece after them starts without ▁.
    assert_eq!(genc(g, "\n    \"\"\"Return"), vec![107, 140, 12234, 13293]);
    let leading = genc(g, "  leading");
    assert_eq!(leading[0], 138);
    assert_eq!(leading[1..], genc(g, "leading")[..]);
    assert_eq!(genc(g, "\n\n\n"), vec![109]);
    assert_eq!(genc(g, &"\n".repeat(40)), vec![137, 115], "31 + 9 newlines");
    assert_eq!(genc(g, &" ".repeat(40)), vec![167, 145], "31 + 9 spaces");
    assert_eq!(genc(g, "\t"), vec![255_968]);
    assert_eq!(genc(g, "\t\t"), vec![255_969]);
    assert_eq!(genc(g, "<table>"), vec![168]);
    // Byte fallback for a character without a piece.
    assert_eq!(genc(g, "\u{0FFF}"), vec![462, 429, 429]);
    assert_eq!(g.tok.decode(&[462, 429, 429]).unwrap(), "\u{0FFF}");
    // Whole pieces for CJK and emoji.
    assert_eq!(genc(g, "日本の"), vec![76444]);
    assert_eq!(genc(g, "😀").len(), 1);
    assert_eq!(pieces(g, &genc(g, "ü é")), vec!["ü", " é"]);
}

#[test]
fn gemma_special_tokens_parse_whole_unless_disabled() {
    let g = gemma();
    let t = &g.tok;
    assert_eq!(t.encode("<start_of_turn>").unwrap(), vec![2, 105]);
    assert_eq!(genc(g, "<start_of_turn>user\nHi<end_of_turn>\n")[..4], [105, 2364, 107, 10979]);
    // Without special parsing: `<`, `start`, `_`, `of`, `_`, `turn`, `>` (8 ids with BOS).
    let plain = t.encode_with("<start_of_turn>", true, false).unwrap();
    assert_eq!(plain, [2, 236820, 3041, 236779, 1340, 236779, 887, 236813]);
    let plain = &plain[1..];
    assert!(plain.iter().all(|&id| t.token_type(id) == Some(TokenType::Normal)), "{plain:?}");
    assert_eq!(t.decode(plain).unwrap(), "<start_of_turn>");
    // User-defined tokens are split out either way.
    assert_eq!(t.encode_with("a\n\nb", false, false).unwrap()[1], 108);
    assert_eq!(t.encode_with("<b>x</b>", false, false).unwrap(), genc(g, "<b>x</b>"));
    assert_eq!(genc(g, "<b>x</b>")[0], 200);
}

#[test]
fn gemma_round_trips() {
    let g = gemma();
    for text in [
        "",
        " ",
        "Hello, world!",
        "日本語のテキストと中文，还有한국어。",
        "Ça déjà été naïve — Ærøskøbing, Straße, São Paulo, Ελληνικά, русский",
        "emoji: 😀 👍🏽 🇫🇷 👩‍👩‍👧 and rare \u{0FFF}\u{10FFFD}\u{E000}",
        "def f(x):\n\tif x:\n\t\treturn x  # two spaces\n    else:\n        pass\n",
        "digits 0123456789 3.14159 1,000,000",
        "\n\n\n",
        "many     spaces      here                                              end",
        "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
        "<table><tr><td>x</td></tr></table> <strong>b</strong>",
        "tabs\tand\r\nCRLF\r\n and a NUL \u{0} char",
    ] {
        for special in [true, false] {
            let ids = g.tok.encode_with(text, false, special).unwrap();
            assert_eq!(g.tok.decode(&ids).unwrap(), text, "special {special}: {text:?} → {ids:?}");
        }
    }
}

#[test]
fn gemma_long_input_is_fast() {
    let g = gemma();
    // The 1034-token prompt 7, repeated to ~100 KB, and 100 KB of one letter and of newlines.
    let p7 = gemma_prompts(g)[7]["text"].as_str().unwrap();
    let long = p7.repeat(100_000 / p7.len() + 1);
    for text in [long, "a".repeat(100_000), "\n \t".repeat(33_000)] {
        let t0 = Instant::now();
        let ids = g.tok.encode(&text).unwrap();
        let dt = t0.elapsed();
        eprintln!("{} bytes: {} tokens in {:.0} ms", text.len(), ids.len(), dt.as_secs_f64() * 1e3);
        assert!(dt.as_secs_f64() < 10.0, "{} bytes took {dt:?}", text.len());
        assert!(g.tok.decode(&ids[1..]).unwrap() == text, "{} bytes do not round-trip", text.len());
    }
}

#[test]
fn gemma_chat_template() {
    let g = gemma();
    let mut m = g.metadata.clone();
    m.insert(keys::CHAT_TEMPLATE.into(), Value::String(GEMMA3_CHAT_TEMPLATE.into()));
    let t = Tokenizer::from_metadata(&m).unwrap();
    // The template writes BOS itself, then one turn per message, "assistant" as "model".
    assert!(GEMMA3_CHAT_TEMPLATE.starts_with("{{ bos_token }}"));
    let msg = "What is 17 + 25?";
    let rendered = t.chat_prompt(&format!("  {msg}\n")).unwrap();
    assert_eq!(rendered, format!("<bos><start_of_turn>user\n{msg}<end_of_turn>\n<start_of_turn>model\n"));
    let msgs = [
        ChatMessage::system("Be brief."),
        ChatMessage::user("Hi"),
        ChatMessage::assistant("Hello!"),
        ChatMessage::user("Bye"),
    ];
    assert_eq!(
        t.apply_chat_template(&msgs, false).unwrap(),
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
         <start_of_turn>user\nBye<end_of_turn>\n"
    );
    let e = t.apply_chat_template(&[ChatMessage::assistant("x")], true).unwrap_err().to_string();
    assert!(e.contains("Conversation roles must alternate"), "{e}");

    // Encoded: exactly one BOS, then the turn tokens.
    let ids = t.encode_chat_prompt(msg).unwrap();
    assert_eq!(ids.iter().filter(|&&id| id == 2).count(), 1, "{ids:?}");
    assert_eq!(ids[..4], [2, 105, 2364, 107]);
    assert_eq!(ids[ids.len() - 5..], [106, 107, 105, 4368, 107]);
    assert_eq!(ids, t.encode(&rendered["<bos>".len()..]).unwrap());
    assert_eq!(t.decode(&ids).unwrap(), rendered);
}
