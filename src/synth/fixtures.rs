//! The synthetic models llama.cpp is run on to make tests/llamacpp's fixtures: one per
//! architecture and BPE pre-tokenizer, small, in the formats each family ships (Q4_K_M's
//! mix of Q4_K and Q6_K, Q8_0). The fixture script (tests/llamacpp/make_fixtures.py) writes
//! them with `samplescope synth`, and the tests regenerate the same bytes here; each fixture
//! records the file's sha256, so a change to a model here shows as a stale fixture.

use super::SynthSpec;
use crate::error::{Error, Result};
use crate::gguf::{GgmlType, Gguf};
use crate::gguf_write::GgufWriter;
use crate::quant;

/// The fixtures by name.
pub const FIXTURES: [&str; 7] = ["llama3", "qwen2", "qwen3", "smollm3", "smollm", "gpt2", "default"];

/// Merges in each fixture's trained vocabulary.
const MERGES: usize = 400;

/// Llama.cpp's Q4_K_M: Q4_K matrices with Q6_K for attn_v and ffn_down in layer 0 (the
/// first eighth of the layers, where `use_more_bits` gives more).
fn q4_k_m(n_layer: usize) -> Vec<(String, GgmlType)> {
    (0..n_layer.div_ceil(8))
        .flat_map(|i| ["attn_v", "ffn_down"].map(|t| (format!("blk.{i}.{t}.weight"), GgmlType::Q6K)))
        .collect()
}

/// The fixture model `name`.
pub fn fixture(name: &str) -> Result<SynthSpec> {
    // K-quant rows are 256 wide: the matrices' row lengths (D, H·hd, FF) are multiples of it.
    let k_quant = SynthSpec {
        trained_vocab: Some(MERGES),
        n_layer: 2,
        n_embd: 256,
        n_ff: 512,
        n_head: 4,
        n_head_kv: 2,
        n_ctx: 256,
        weight_type: GgmlType::Q4K,
        per_tensor: q4_k_m(2),
        ..SynthSpec::default()
    };
    // The pre-tokenizer fixtures: a small llama, Q4_1 and Q8_0 as the default model.
    let small = |pre| SynthSpec { pre, trained_vocab: Some(MERGES), seed: 7, ..SynthSpec::default() };
    Ok(match name {
        // Llama 3.x: rope_freqs, the llama-bpe pre-tokenizer, an untied output (Q6_K).
        "llama3" => SynthSpec {
            rope_freqs: true,
            pre: "llama-bpe",
            rope_base: 500_000.0,
            tied: false,
            embd_type: GgmlType::Q4K,
            per_tensor: [q4_k_m(2), vec![("output.weight".into(), GgmlType::Q6K)]].concat(),
            seed: 1,
            ..k_quant
        },
        // Qwen 2.5: q/k/v biases, NEOX RoPE, a tied Q6_K embedding.
        "qwen2" => SynthSpec {
            arch: "qwen2",
            pre: "qwen2",
            rope_base: 1_000_000.0,
            eps: 1e-6,
            embd_type: GgmlType::Q6K,
            seed: 2,
            ..k_quant
        },
        // Qwen 3 in Q8_0: per-head q/k norms, a head size that is not D / H (q is 512 wide
        // for D = 256), NEOX RoPE.
        "qwen3" => SynthSpec {
            arch: "qwen3",
            pre: "qwen2",
            head_dim: Some(64),
            n_head: 8,
            rope_base: 1_000_000.0,
            eps: 1e-6,
            weight_type: GgmlType::Q8_0,
            embd_type: GgmlType::Q8_0,
            per_tensor: Vec::new(),
            seed: 3,
            ..k_quant
        },
        // SmolLM3: four layers, so that the last one runs without RoPE; Llama 3's tokenizer.
        // RoPE base 10⁴ rather than the release's 5·10⁶, so that rotating that layer or not
        // shows in the logits at a few dozen positions.
        "smollm3" => SynthSpec {
            arch: "smollm3",
            pre: "llama-bpe",
            n_layer: 4,
            per_tensor: q4_k_m(4),
            rope_base: 10_000.0,
            seed: 4,
            ..k_quant
        },
        "smollm" => small("smollm"),
        "gpt2" => small("gpt-2"), // llama.cpp knows GPT-2 as "gpt-2" only
        "default" => small("default"),
        other => return Err(Error::Param(format!("unknown fixture {other:?} (known: {})", FIXTURES.join(", ")))),
    })
}

/// The same file with every tensor dequantized to F32. llama.cpp's CPU multiplies F32
/// weights by F32 activations, so on this file its logits carry no 8-bit rounding.
pub fn dequantized(bytes: &[u8]) -> Result<Vec<u8>> {
    let g = Gguf::parse(bytes)?;
    let w = GgufWriter::from_gguf(&g).map_tensors(|_, dims, ty, data| {
        let n = dims.iter().product::<u64>() as usize;
        let x = quant::dequantize(ty, &data, n)?;
        Ok::<_, Error>((GgmlType::F32, x.iter().flat_map(|v| v.to_le_bytes()).collect()))
    })?;
    Ok(w.set("general.file_type", Some(crate::gguf::Value::U32(0))).to_bytes())
}
