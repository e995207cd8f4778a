//! A mutation fuzzer on stable Rust over what a model file reaches before the GPU: the
//! GGUF reader, the Llama config, the tokenizer built from the metadata, the chat template
//! and the CPU reference model. Seeded and reproducible (SplitMix64), no external tool.
//!
//! - `corpus_never_panics` (every `cargo test`): each file in tests/fuzz-corpus/ (small
//!   files, each a case that once failed or that reaches a branch) through the target.
//! - `fuzz` (ignored; `cargo xtask test` runs it for 30 s, `cargo xtask fuzz --seconds N
//!   [--seed S]` for longer): mutates synthetic GGUF files (src/synth.rs) and the corpus,
//!   byte-level and structure-aware (a metadata key replaced with a hostile value), for
//!   SAMPLESCOPE_FUZZ_SECONDS from SAMPLESCOPE_FUZZ_SEED (default: the clock, printed).
//!
//! "Never panics and never allocates without bound": the target runs under `catch_unwind`,
//! and this test binary's global allocator counts live bytes: an input whose peak exceeds
//! `PEAK_LIMIT` fails like a panic. Either way the input is saved to
//! target/fuzz-failures/ with the seed and iteration. Before each input the current one is
//! written to target/fuzz-failures/current.gguf, so an abort (an allocation the system
//! refuses) still leaves it behind. A saved input belongs in tests/fuzz-corpus/ once fixed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use samplescope::gguf::{Array, Gguf, Value};
use samplescope::gguf_write::GgufWriter;
use samplescope::model::config::ModelConfig;
use samplescope::model::cpu::CpuModel;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::tokenizer::{ChatMessage, Tokenizer};

// ---------------------------------------------------------------------------------------
// Counting allocator: live bytes and their peak since the last reset.

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(new, Ordering::Relaxed) + new;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most bytes one input may have live at once above what was live before it. The
/// bounded consumers: metadata ≤ 64 MiB, chat output ≤ 8 MiB plus minijinja's 100 MB cap
/// on one `str * n`, tensors ≤ the (small) input dequantized.
const PEAK_LIMIT: usize = 256 << 20;

// ---------------------------------------------------------------------------------------
// The target.

/// What one input reaches; `Err` only for a broken promise (a panic or the peak limit).
fn run_target(bytes: &[u8]) -> Result<String, String> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let reached = catch_unwind(AssertUnwindSafe(|| target(bytes))).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("panic: {msg}")
    })?;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    if peak > PEAK_LIMIT {
        return Err(format!("peak of {} MiB for a {}-byte input", peak >> 20, bytes.len()));
    }
    Ok(reached)
}

/// How far the input got: "parse error", or the model's ("config error", "config", "cpu
/// model") and the tokenizer's ("tokenizer error", "tokenizer", "chat template") outcome.
fn target(bytes: &[u8]) -> String {
    let Ok(g) = Gguf::parse(bytes) else { return "parse error".into() };
    // Every accessor on every key, as front ends call them.
    for (k, v) in &g.metadata {
        let _ = (g.get_u64(k), g.get_f64(k), g.get_str(k), g.get_bool(k), v.as_i64(), format!("{v:?}").len());
        if let Some(a) = v.as_array() {
            let _ = (a.len(), a.int(0), a.get(a.len().saturating_sub(1)), a.heap_bytes());
        }
    }
    for t in &g.tensors {
        assert!(g.tensor_data(t).is_ok(), "a parsed file holds every tensor it lists");
    }
    let config = ModelConfig::from_gguf(&g);
    let mut reached = if config.is_ok() { "config" } else { "config error" };
    if let Ok(cfg) = &config {
        // The CPU reference model allocates its f32 weights: only for small ones.
        if (cfg.n_embd as u64) * (cfg.vocab as u64 + cfg.n_ff as u64 * 3) * cfg.n_layer as u64 <= 1 << 22 {
            if let Ok(mut m) = CpuModel::from_gguf(&g) {
                let _ = m.step(1);
                let _ = m.step(cfg.vocab);
                reached = "cpu model";
            }
        }
    }
    let Ok(tok) = Tokenizer::from_gguf(&g) else { return format!("{reached} / tokenizer error") };
    for text in ["Hello, world!", "", " 12345 <|im_start|>user\n\u{1F600}", "\u{0}\u{FFFD}é"] {
        if let Ok(ids) = tok.encode(text) {
            let _ = tok.decode(&ids);
        }
    }
    let n = tok.vocab_size() as u32;
    let _ = tok.decode(&[0, n.saturating_sub(1), n, u32::MAX]);
    let mut dec = tok.stream_decoder();
    for id in [0, 1, n / 2, n] {
        let _ = dec.push(id);
    }
    let msgs = [ChatMessage::system("s"), ChatMessage::user("Hi"), ChatMessage::assistant("ok")];
    match tok.apply_chat_template(&msgs, true) {
        Ok(_) => format!("{reached} / chat template"),
        Err(_) => format!("{reached} / tokenizer"),
    }
}

// ---------------------------------------------------------------------------------------
// Mutations.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const INTERESTING: [u64; 14] =
    [0, 1, 2, 3, 7, 8, 31, 32, 255, 256, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000_0000_0000, u64::MAX];

/// Templates that stress the renderer's limits.
const TEMPLATES: [&str; 8] = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'x' * 1000000 }}{% endfor %}",
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "{{ messages[0].content | indent(100000000000) }}",
    "{{ '%99999999999s' | format('x') }}",
    "{{ raise_exception('x' * 1000) }}",
    "{% for m in messages %}{{ m.role.strip().upper() }}{{ m.content.replace('', '--') }}{% endfor %}",
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}",
];

/// A hostile value for a metadata key: another type, an edge integer, a long string, a big
/// (but bounded) array.
fn hostile_value(r: &mut Rng) -> Value {
    match r.below(10) {
        0 => Value::I32(-(r.below(5) as i32) - 1),
        1 => Value::U64(*r.pick(&INTERESTING)),
        2 => Value::U32(*r.pick(&INTERESTING) as u32),
        3 => Value::F32(*r.pick(&[0.0, -1.0, f32::NAN, f32::INFINITY, 1e-30, 3e38])),
        4 => Value::String("x".repeat(r.below(1 << 16))),
        5 => Value::String(r.pick(&TEMPLATES).to_string()),
        6 => Value::Bool(r.below(2) == 1),
        7 => Value::Array(Array::U8(vec![r.below(256) as u8; r.below(1 << 20)])),
        8 => Value::Array(Array::from(vec!["Ġ"; r.below(1 << 12)])),
        _ => Value::Array(Array::I32(vec![r.below(8) as i32 - 1; r.below(1 << 12)])),
    }
}

fn mutate(r: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    // Structure-aware: one key of a parsable file set to a hostile value, or removed.
    if r.below(4) == 0 {
        if let Ok(g) = Gguf::parse(input) {
            let keys: Vec<&String> = g.metadata.keys().collect();
            if !keys.is_empty() {
                let key = r.pick(&keys).to_string();
                let v = if r.below(8) == 0 { None } else { Some(hostile_value(r)) };
                return GgufWriter::from_gguf(&g).set(&key, v).to_bytes();
            }
        }
    }
    let mut b = input.to_vec();
    for _ in 0..1 + r.below(4) {
        if b.is_empty() {
            b.push(0);
        }
        let at = r.below(b.len());
        match r.below(9) {
            0 => b[at] ^= 1 << r.below(8),
            1 => b[at] = *r.pick(&[0u8, 1, 0x7f, 0x80, 0xff]),
            2 | 3 => {
                // An interesting little-endian u32 or u64, where counts and lengths live.
                let v = *r.pick(&INTERESTING);
                let w = if r.below(2) == 0 { 4 } else { 8 };
                let bytes = v.to_le_bytes();
                for (i, &x) in bytes[..w].iter().enumerate() {
                    if let Some(y) = b.get_mut(at + i) {
                        *y = x;
                    }
                }
            }
            4 => {
                let n = r.below(64).min(b.len() - at);
                b.drain(at..at + n);
            }
            5 => {
                let n = r.below(64).min(b.len() - at);
                let chunk = b[at..at + n].to_vec();
                let to = r.below(b.len());
                b.splice(to..to, chunk);
            }
            6 => b.truncate(at),
            7 => {
                // Splice in a piece of another input.
                let other = r.pick(pool);
                if !other.is_empty() {
                    let from = r.below(other.len());
                    let n = r.below(256).min(other.len() - from).min(b.len() - at);
                    b[at..at + n].copy_from_slice(&other[from..from + n]);
                }
            }
            _ => b.insert(at, r.below(256) as u8),
        }
    }
    b
}

// ---------------------------------------------------------------------------------------
// Seeds and the corpus.

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    manifest().join("tests/fuzz-corpus")
}

fn failures_dir() -> PathBuf {
    manifest().join("target/fuzz-failures")
}

/// A tiny synthetic model: one layer, the smallest vocabulary, f32 weights.
fn tiny_spec() -> SynthSpec {
    SynthSpec {
        n_layer: 1,
        n_embd: 32,
        n_ff: 32,
        n_head: 2,
        n_head_kv: 1,
        n_ctx: 16,
        vocab: samplescope::synth::MIN_VOCAB,
        weight_type: samplescope::gguf::GgmlType::Q8_0,
        embd_type: samplescope::gguf::GgmlType::Q8_0,
        ..SynthSpec::default()
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut s = vec![synthetic_model(&tiny_spec()).unwrap()];
    s.extend(corpus().into_iter().map(|(_, b)| b));
    s
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "gguf"))
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The corpus as code: each file a case that once failed (issue 17) or reaches a branch.
/// `SAMPLESCOPE_WRITE_FUZZ_CORPUS=1 cargo test --test fuzz corpus` rewrites them.
fn corpus_cases() -> Vec<(&'static str, Vec<u8>)> {
    let base = synthetic_model(&tiny_spec()).unwrap();
    let g = Gguf::parse(&base).unwrap();
    let set = |k: &str, v: Option<Value>| GgufWriter::from_gguf(&g).set(k, v).to_bytes();
    let template = |t: &str| set("tokenizer.chat_template", Some(Value::String(t.into())));
    let mut huge_count = GgufWriter::new().metadata("a", Value::Array(Array::U8(vec![1; 16]))).to_bytes();
    // The array's count (after key, type 9, element type 0) claims 2^62 elements.
    let at = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 4;
    huge_count[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    vec![
        ("valid-tiny-llama", base.clone()),
        ("template-nested-loop", template(TEMPLATES[0])),
        ("template-output-bomb", template(TEMPLATES[1])),
        ("template-recursion", template(TEMPLATES[2])),
        ("template-indent-width", template(TEMPLATES[3])),
        (
            "bos-token-id-string-array",
            set("tokenizer.ggml.bos_token_id", Some(Value::Array(Array::from(vec!["<s>"; 512])))),
        ),
        ("embedding-length-zero", set("llama.embedding_length", Some(Value::U32(0)))),
        ("head-count-kv-negative", set("llama.attention.head_count_kv", Some(Value::I32(-2)))),
        ("embedding-length-doubled", set("llama.embedding_length", Some(Value::U32(64)))),
        ("vocab-size-past-embedding", set("llama.vocab_size", Some(Value::U32(100_000)))),
        ("token-type-wrong-length", set("tokenizer.ggml.token_type", Some(Value::Array(Array::I32(vec![1; 3]))))),
        ("tokens-not-strings", set("tokenizer.ggml.tokens", Some(Value::Array(Array::U8(vec![1; 300]))))),
        ("array-count-past-the-file", huge_count),
        ("truncated-in-tensor-table", base[..base.len() / 2].to_vec()),
    ]
}

fn save_failure(seed: u64, iter: u64, input: &[u8], why: &str) -> PathBuf {
    let dir = failures_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("seed{seed}-iter{iter}.gguf"));
    let _ = std::fs::write(&path, input);
    eprintln!("fuzz: {why}: input saved to {}", path.display());
    path
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn corpus_is_current() {
    let cases = corpus_cases();
    if std::env::var_os("SAMPLESCOPE_WRITE_FUZZ_CORPUS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, bytes) in &cases {
            std::fs::write(corpus_dir().join(format!("{name}.gguf")), bytes).unwrap();
        }
    }
    for (name, bytes) in &cases {
        let have = std::fs::read(corpus_dir().join(format!("{name}.gguf"))).unwrap_or_default();
        assert!(
            &have == bytes,
            "tests/fuzz-corpus/{name}.gguf differs from its case in tests/fuzz.rs; rewrite the corpus with \
             `SAMPLESCOPE_WRITE_FUZZ_CORPUS=1 cargo test --test fuzz corpus` (or keep a saved failure as a new file)"
        );
    }
}

#[test]
fn corpus_never_panics() {
    let files = corpus();
    assert!(files.len() >= corpus_cases().len(), "tests/fuzz-corpus/ is missing files");
    let mut reached = std::collections::BTreeMap::new();
    for (name, bytes) in &files {
        let t0 = Instant::now();
        let r = run_target(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(t0.elapsed() < Duration::from_secs(20), "{name} took {:?}", t0.elapsed());
        reached.insert(name.as_str(), r);
    }
    // The cases reach what they were written for.
    assert_eq!(reached["valid-tiny-llama.gguf"], "cpu model / chat template");
    assert_eq!(reached["template-nested-loop.gguf"], "cpu model / tokenizer");
    assert_eq!(reached["template-output-bomb.gguf"], "cpu model / tokenizer");
    assert_eq!(reached["embedding-length-zero.gguf"], "config error / chat template");
    assert_eq!(reached["head-count-kv-negative.gguf"], "config error / chat template");
    assert_eq!(reached["embedding-length-doubled.gguf"], "config / chat template");
    assert_eq!(reached["bos-token-id-string-array.gguf"], "cpu model / tokenizer error");
    assert_eq!(reached["array-count-past-the-file.gguf"], "parse error");
}

#[test]
#[ignore = "time-boxed: cargo xtask test runs it for 30 s, cargo xtask fuzz for longer"]
fn fuzz() {
    let seconds: u64 = std::env::var("SAMPLESCOPE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = std::env::var("SAMPLESCOPE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    });
    let pool = seeds();
    let mut rng = Rng(seed);
    let dir = failures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let current = dir.join("current.gguf");
    eprintln!("fuzz: seed {seed}, {seconds} s, {} seed inputs (reproduce: SAMPLESCOPE_FUZZ_SEED={seed})", pool.len());
    let t0 = Instant::now();
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    let mut iter = 0u64;
    let mut failures = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        let mut input = rng.pick(&pool).clone();
        // Stacked mutations now and then: deeper changes from one valid file.
        for _ in 0..1 + rng.below(3) {
            input = mutate(&mut rng, &input, &pool);
        }
        std::fs::write(&current, &input).unwrap();
        let started = Instant::now();
        match run_target(&input) {
            Ok(r) => *counts.entry(r).or_default() += 1,
            Err(e) => failures.push(save_failure(seed, iter, &input, &e)),
        }
        if started.elapsed() > Duration::from_secs(20) {
            failures.push(save_failure(seed, iter, &input, &format!("took {:?}", started.elapsed())));
        }
        iter += 1;
    }
    let _ = std::fs::remove_file(&current);
    eprintln!("fuzz: {iter} inputs in {:.0?}, reached: {counts:?}", t0.elapsed());
    assert!(failures.is_empty(), "fuzz (seed {seed}) found {} failing inputs: {failures:?}", failures.len());
}
