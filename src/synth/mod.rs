//! Synthetic GGUF models for tests, benches and browser tests: a real family's layout,
//! metadata keys and tokenizer kind (llama, qwen2, qwen3) at a size where a CPU reference
//! is instant, or at a released model's full shape for benchmarks.
//!
//! Weights are deterministic from `seed` *and the tensor name*, independent of the storage
//! type, so two specs that differ only in types hold the same underlying values and their
//! outputs can be compared. The PRNG is splitmix64 so the core needs no `rand`.

use crate::error::{Error, Result};
use crate::gguf::{Array, GgmlType, Value};
use crate::gguf_write::GgufWriter;
use crate::kernels::weights::{random_blocks, scale_blocks};
use crate::quant;

mod fixtures;
mod vocab;
pub use fixtures::{dequantized, fixture, FIXTURES};
#[cfg(test)]
use vocab::MERGES;
pub use vocab::{gpt2_byte_chars, trained_vocabulary, BOS_ID, CORPUS, EOS_ID, MIN_VOCAB, SPECIAL_TOKENS};
use vocab::{vocabulary, CHAT_TEMPLATE};

/// The architectures a synthetic model can have (`general.architecture`).
pub const ARCHS: [&str; 5] = ["llama", "qwen2", "qwen3", "smollm3", "gemma3"];

#[derive(Clone, Debug)]
pub struct SynthSpec {
    /// One of `ARCHS`: qwen2 adds q/k/v biases, qwen3 per-head q/k norms; smollm3 has
    /// llama's tensors (its difference, no RoPE in every fourth layer, is in the graph);
    /// gemma3 has qwen3's q/k norms, a norm after attention and after the FFN, and
    /// Gemma 3's sliding window of `GEMMA3_WINDOW` in its metadata.
    pub arch: &'static str,
    /// Llama 3's `rope_freqs.weight` (llama only).
    pub rope_freqs: bool,
    /// Head size when it is not n_embd / n_head (written as attention.key_length).
    pub head_dim: Option<usize>,
    /// `tokenizer.ggml.pre`.
    pub pre: &'static str,
    /// Merges trained on `CORPUS` (the vocabulary is then as large as they make it and
    /// `vocab` is ignored) instead of the small fixed list.
    pub trained_vocab: Option<usize>,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ctx: usize,
    /// At least `MIN_VOCAB` (the special tokens and the 256 byte tokens).
    pub vocab: usize,
    pub rope_base: f32,
    pub eps: f32,
    /// No `output.weight`: the logits use `token_embd.weight`, as SmolLM2 does.
    pub tied: bool,
    /// Type of the attention / FFN / output matrices.
    pub weight_type: GgmlType,
    pub embd_type: GgmlType,
    /// (tensor name, type) overrides of the two rules above, for any tensor.
    pub per_tensor: Vec<(String, GgmlType)>,
    pub seed: u64,
}

impl Default for SynthSpec {
    /// Small, but with GQA, a vocabulary that is not a power of two and the default
    /// model's types (Q4_1 matrices, tied Q8_0 embedding).
    fn default() -> Self {
        SynthSpec {
            arch: "llama",
            rope_freqs: false,
            head_dim: None,
            pre: "smollm",
            trained_vocab: None,
            n_layer: 2,
            n_embd: 64,
            n_ff: 128,
            n_head: 4,
            n_head_kv: 2,
            n_ctx: 64,
            vocab: 300,
            rope_base: 10000.0,
            eps: 1e-5,
            tied: true,
            weight_type: GgmlType::Q4_1,
            embd_type: GgmlType::Q8_0,
            per_tensor: Vec::new(),
            seed: 0x5eed,
        }
    }
}

/// The released models whose shapes `SynthSpec::shape` knows, for benchmarks: a step's speed
/// depends on the sizes and tensor types, not on the weights' values.
pub const SHAPES: [&str; 4] = ["smollm2-135m", "llama-3.2-1b", "qwen3-0.6b", "gemma-3-270m"];

/// `gemma3.attention.sliding_window` of a synthetic gemma3 (Gemma 3 270M's).
pub const GEMMA3_WINDOW: u32 = 512;

impl SynthSpec {
    /// A released model's sizes and tensor types (as its GGUF says) with random weights:
    /// - `smollm2-135m`: SmolLM2-135M-Instruct Q4_1, the default model (Q4_1 matrices, a
    ///   tied Q8_0 embedding of 49,152 tokens);
    /// - `llama-3.2-1b`: Llama 3.2 1B as llama.cpp's Q4_K_M mix (Q4_K matrices; Q6_K for
    ///   attn_v and ffn_down in the layers llama.cpp gives more bits; a tied Q6_K embedding
    ///   of 128,256 tokens), with Llama 3's RoPE factors;
    /// - `qwen3-0.6b`: Qwen3 0.6B in Q8_0, as Qwen publishes it (head size 128 with D =
    ///   1024, q/k norms, a tied embedding of 151,936 tokens);
    /// - `gemma-3-270m`: Gemma 3 270M as llama.cpp's Q4_K_M mix (Q5_0 for the 640-wide
    ///   rows no K-quant fits, Q4_K attn_output, Q4_K ffn_down, and in the layers llama.cpp
    ///   gives more bits Q6_K ffn_down and Q8_0 attn_v; a tied Q8_0 embedding of 262,144
    ///   tokens; head size 256 with D = 640, one KV head).
    pub fn shape(name: &str) -> Result<SynthSpec> {
        let base = SynthSpec { eps: 1e-5, tied: true, ..SynthSpec::default() };
        match name {
            "smollm2-135m" => Ok(SynthSpec {
                n_layer: 30,
                n_embd: 576,
                n_ff: 1536,
                n_head: 9,
                n_head_kv: 3,
                n_ctx: 8192,
                vocab: 49_152,
                rope_base: 100_000.0,
                ..base
            }),
            "llama-3.2-1b" => {
                let n_layer = 16;
                // llama.cpp's use_more_bits (src/llama-quant.cpp) for Q4_K_M.
                let more = |i: usize| i < n_layer / 8 || i >= 7 * n_layer / 8 || (i - n_layer / 8) % 3 == 2;
                let per_tensor = (0..n_layer)
                    .filter(|&i| more(i))
                    .flat_map(|i| ["attn_v", "ffn_down"].map(|t| (format!("blk.{i}.{t}.weight"), GgmlType::Q6K)))
                    .collect();
                Ok(SynthSpec {
                    rope_freqs: true,
                    pre: "llama-bpe",
                    n_layer,
                    n_embd: 2048,
                    n_ff: 8192,
                    n_head: 32,
                    n_head_kv: 8,
                    n_ctx: 131_072,
                    vocab: 128_256,
                    rope_base: 500_000.0,
                    weight_type: GgmlType::Q4K,
                    embd_type: GgmlType::Q6K,
                    per_tensor,
                    ..base
                })
            }
            "qwen3-0.6b" => Ok(SynthSpec {
                arch: "qwen3",
                pre: "qwen2",
                head_dim: Some(128),
                n_layer: 28,
                n_embd: 1024,
                n_ff: 3072,
                n_head: 16,
                n_head_kv: 8,
                n_ctx: 40_960,
                vocab: 151_936,
                rope_base: 1_000_000.0,
                eps: 1e-6,
                weight_type: GgmlType::Q8_0,
                embd_type: GgmlType::Q8_0,
                ..base
            }),
            "gemma-3-270m" => {
                let n_layer = 18;
                let more = |i: usize| i < n_layer / 8 || i >= 7 * n_layer / 8 || (i - n_layer / 8) % 3 == 2;
                let per_tensor = (0..n_layer)
                    .flat_map(|i| {
                        let t = |t: &str| format!("blk.{i}.{t}.weight");
                        let down = if more(i) { GgmlType::Q6K } else { GgmlType::Q4K };
                        let v = more(i).then(|| (t("attn_v"), GgmlType::Q8_0));
                        [(t("attn_output"), GgmlType::Q4K), (t("ffn_down"), down)].into_iter().chain(v)
                    })
                    .collect();
                Ok(SynthSpec {
                    arch: "gemma3",
                    head_dim: Some(256),
                    n_layer,
                    n_embd: 640,
                    n_ff: 2048,
                    n_head: 4,
                    n_head_kv: 1,
                    n_ctx: 32_768,
                    vocab: 262_144,
                    rope_base: 1_000_000.0,
                    eps: 1e-6,
                    weight_type: GgmlType::Q5_0,
                    embd_type: GgmlType::Q8_0,
                    per_tensor,
                    ..base
                })
            }
            other => Err(Error::Param(format!("unknown model shape {other:?} (known: {})", SHAPES.join(", ")))),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.n_embd / self.n_head.max(1))
    }

    /// Width of q and of the attention output: heads × head size.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim()
    }

    fn validate(&self) -> Result<()> {
        let err = |m: String| Err(Error::Param(format!("synthetic model: {m}")));
        let s = self;
        if [s.n_layer, s.n_embd, s.n_ff, s.n_head, s.n_head_kv, s.n_ctx].contains(&0) {
            return err(format!("every size must be positive: {s:?}"));
        }
        if !ARCHS.contains(&s.arch) || (s.rope_freqs && s.arch != "llama") {
            return err(format!(
                "architecture {:?} (rope_freqs {}); known: {}",
                s.arch,
                s.rope_freqs,
                ARCHS.join(", ")
            ));
        }
        if (s.head_dim.is_none() && !s.n_embd.is_multiple_of(s.n_head)) || !s.head_dim().is_multiple_of(2) {
            return err(format!("n_embd {} / n_head {} must be an even head size", s.n_embd, s.n_head));
        }
        if !s.n_head.is_multiple_of(s.n_head_kv) {
            return err(format!("n_head {} is not a multiple of n_head_kv {}", s.n_head, s.n_head_kv));
        }
        if s.vocab < MIN_VOCAB {
            return err(format!("vocab {} < {MIN_VOCAB} (special + byte tokens)", s.vocab));
        }
        let sizes = [s.n_layer, s.n_embd, s.n_ff, s.n_ctx, s.vocab];
        if sizes.iter().any(|&n| n > u32::MAX as usize) {
            return err("sizes must fit in u32".into());
        }
        if !(s.rope_base > 0.0 && s.rope_base.is_finite() && s.eps > 0.0 && s.eps.is_finite()) {
            return err(format!("rope_base {} and eps {} must be positive", s.rope_base, s.eps));
        }
        Ok(())
    }
}

/// llama.cpp's `general.file_type` for a model whose matrices are `ty`.
fn file_type(ty: GgmlType) -> u32 {
    match ty {
        GgmlType::F16 => 1,
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q8_0 => 7,
        GgmlType::BF16 => 32,
        _ => 0,
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a tensor's name, so its values do not depend on which other tensors exist.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// `n` values uniform in (-amp, amp), from (seed, name) only.
fn uniform(seed: u64, name: &str, n: usize, amp: f32) -> Vec<f32> {
    let mut state = seed ^ name_hash(name);
    (0..n).map(|_| ((splitmix64(&mut state) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amp).collect()
}

/// One tensor to generate: values are `center + uniform(-amp, amp)`, stored as `ty`.
struct Plan {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    amp: f32,
    center: f32,
}

fn plan(s: &SynthSpec, v: u64) -> Vec<Plan> {
    let (e, f, kv, q, hd) =
        (s.n_embd as u64, s.n_ff as u64, (s.n_head_kv * s.head_dim()) as u64, s.q_dim() as u64, s.head_dim() as u64);
    // Uniform(-a, a) has std a/sqrt(3): matrices get std 1/sqrt(fan_in) so each layer keeps
    // activations O(1); the embedding and output get std 3/sqrt(n_embd) so logits have
    // std ~3, a distribution with a clear head and a long tail for the samplers.
    let mat = |name: String, dims: [u64; 2]| Plan {
        name,
        amp: (3.0 / dims[0] as f32).sqrt(),
        dims: dims.to_vec(),
        ty: s.weight_type,
        center: 0.0,
    };
    let norm = |name: String| Plan { name, dims: vec![e], ty: GgmlType::F32, amp: 0.1, center: 1.0 };
    let vector =
        |name: String, n: u64, amp: f32, center: f32| Plan { name, dims: vec![n], ty: GgmlType::F32, amp, center };
    let logit_amp = 3.0 * (3.0 / e as f32).sqrt();
    let mut p =
        vec![Plan { name: "token_embd.weight".into(), dims: vec![e, v], ty: s.embd_type, amp: logit_amp, center: 0.0 }];
    p.push(norm("output_norm.weight".into()));
    if s.rope_freqs {
        p.push(Plan { name: "rope_freqs.weight".into(), dims: vec![hd / 2], ty: GgmlType::F32, amp: 0.0, center: 1.0 });
    }
    if !s.tied {
        p.push(Plan { amp: logit_amp, ..mat("output.weight".into(), [e, v]) });
    }
    for i in 0..s.n_layer {
        let b = |t: &str| format!("blk.{i}.{t}.weight");
        p.push(norm(b("attn_norm")));
        p.push(mat(b("attn_q"), [e, q]));
        p.push(mat(b("attn_k"), [e, kv]));
        p.push(mat(b("attn_v"), [e, kv]));
        if s.arch == "qwen2" {
            // Biases of the size of the projections' outputs, so that leaving them out shows.
            let bias = |t: &str| format!("blk.{i}.{t}.bias");
            p.push(vector(bias("attn_q"), q, 1.0, 0.0));
            p.push(vector(bias("attn_k"), kv, 1.0, 0.0));
            p.push(vector(bias("attn_v"), kv, 1.0, 0.0));
        }
        if s.arch == "qwen3" || s.arch == "gemma3" {
            p.push(vector(b("attn_q_norm"), hd, 0.5, 1.0));
            p.push(vector(b("attn_k_norm"), hd, 0.5, 1.0));
        }
        p.push(mat(b("attn_output"), [q, e]));
        p.push(norm(b("ffn_norm")));
        p.push(mat(b("ffn_gate"), [e, f]));
        p.push(mat(b("ffn_up"), [e, f]));
        p.push(mat(b("ffn_down"), [f, e]));
        if s.arch == "gemma3" {
            p.push(norm(b("post_attention_norm")));
            p.push(norm(b("post_ffw_norm")));
        }
    }
    p
}

/// Llama 3's RoPE frequency factors (the "llama3" rope scaling of its config, as the GGUF
/// converter turns it into `rope_freqs.weight`): factor 32, low/high frequency factors 1
/// and 4, over an original context of `old_ctx`.
pub fn llama3_rope_factors(head_dim: usize, base: f32, old_ctx: f32) -> Vec<f32> {
    let (factor, low, high) = (32.0f64, 1.0f64, 4.0f64);
    let (low_wavelen, high_wavelen) = (old_ctx as f64 / low, old_ctx as f64 / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = (base as f64).powf(-2.0 * i as f64 / head_dim as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let f = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (old_ctx as f64 / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            f as f32
        })
        .collect()
}

/// A complete GGUF file for `spec`.
pub fn synthetic_model(spec: &SynthSpec) -> Result<Vec<u8>> {
    spec.validate()?;
    let (tokens, types, merges) = match spec.trained_vocab {
        Some(n) => trained_vocabulary(n)?,
        None => vocabulary(spec.vocab),
    };
    let mut tensors = plan(spec, tokens.len() as u64);
    for (name, ty) in &spec.per_tensor {
        let t = tensors.iter_mut().find(|t| &t.name == name);
        let t = t.ok_or_else(|| Error::Param(format!("synthetic model: override for unknown tensor {name:?}")))?;
        t.ty = *ty;
    }

    let u = |n: usize| Value::U32(n as u32);
    let strings = |v: Vec<String>| Value::Array(Array::from(v));
    let a = spec.arch;
    let k = |key: &str| format!("{a}.{key}");
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String(a.into()))
        .metadata("general.name", Value::String(format!("samplescope synthetic {a}")))
        .metadata("general.file_type", Value::U32(file_type(spec.weight_type)))
        .metadata("general.quantization_version", Value::U32(2))
        .metadata(k("block_count"), u(spec.n_layer))
        .metadata(k("context_length"), u(spec.n_ctx))
        .metadata(k("embedding_length"), u(spec.n_embd))
        .metadata(k("feed_forward_length"), u(spec.n_ff))
        .metadata(k("attention.head_count"), u(spec.n_head))
        .metadata(k("attention.head_count_kv"), u(spec.n_head_kv))
        .metadata(k("rope.freq_base"), Value::F32(spec.rope_base))
        .metadata(k("attention.layer_norm_rms_epsilon"), Value::F32(spec.eps))
        .metadata(k("rope.dimension_count"), u(spec.head_dim()))
        .metadata(k("vocab_size"), u(tokens.len()));
    if a == "gemma3" {
        w = w.metadata(k("attention.sliding_window"), Value::U32(GEMMA3_WINDOW));
    }
    if spec.head_dim.is_some() {
        w = w
            .metadata(k("attention.key_length"), u(spec.head_dim()))
            .metadata(k("attention.value_length"), u(spec.head_dim()));
    }
    w = w
        .metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata("tokenizer.ggml.pre", Value::String(spec.pre.into()))
        .metadata("tokenizer.ggml.tokens", strings(tokens))
        .metadata("tokenizer.ggml.token_type", Value::Array(Array::I32(types)))
        .metadata("tokenizer.ggml.merges", strings(merges))
        .metadata("tokenizer.ggml.bos_token_id", Value::U32(BOS_ID))
        .metadata("tokenizer.ggml.eos_token_id", Value::U32(EOS_ID))
        .metadata("tokenizer.ggml.unknown_token_id", Value::U32(0))
        .metadata("tokenizer.ggml.padding_token_id", Value::U32(EOS_ID))
        .metadata("tokenizer.ggml.add_bos_token", Value::Bool(false))
        .metadata("tokenizer.ggml.add_space_prefix", Value::Bool(false))
        .metadata("tokenizer.chat_template", Value::String(CHAT_TEMPLATE.into()));

    for t in tensors {
        let (block, _) = t.ty.block();
        if !t.dims[0].is_multiple_of(block) {
            return Err(Error::Param(format!(
                "synthetic model: {} row length {} is not a multiple of the {} block size {block}",
                t.name, t.dims[0], t.ty
            )));
        }
        let n = t.dims.iter().product::<u64>() as usize;
        let data = if t.name == "rope_freqs.weight" {
            let old_ctx = (spec.n_ctx as f32).min(8192.0);
            llama3_rope_factors(spec.head_dim(), spec.rope_base, old_ctx).iter().flat_map(|f| f.to_le_bytes()).collect()
        } else if quant::QUANTIZABLE_TYPES.contains(&t.ty) {
            let mut x = uniform(spec.seed, &t.name, n, t.amp);
            x.iter_mut().for_each(|v| *v += t.center);
            quant::quantize(t.ty, &x)
                .map_err(|e| Error::Param(format!("synthetic model: tensor {} as {}: {e}", t.name, t.ty)))?
        } else {
            // No quantizer for this type here: random blocks, their scales set so the values
            // have the plan's RMS (amp/√3, as the uniform values would), measured on up to
            // 64 blocks.
            let mut state = spec.seed ^ name_hash(&t.name);
            let mut data = random_blocks(t.ty, n, &mut || splitmix64(&mut state));
            let (be, bb) = t.ty.block();
            let blocks = (n / be as usize).min(64);
            let head = quant::dequantize(t.ty, &data[..blocks * bb as usize], blocks * be as usize)?;
            let rms = (head.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / head.len().max(1) as f64).sqrt();
            if rms > 0.0 {
                scale_blocks(t.ty, &mut data, (t.amp as f64 / 3f64.sqrt() / rms) as f32);
            }
            data
        };
        w = w.tensor(t.name, &t.dims, t.ty, data);
    }
    Ok(w.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Gguf;
    use std::collections::HashSet;

    /// Each shape has its model's parameter count (Hugging Face's figures), and SmolLM2's has
    /// the default model's tensor table: every name, dims and type.
    #[test]
    fn shapes_are_their_models() {
        // Parameters as Hugging Face counts them: rope_freqs is a derived table.
        let count = |s: &SynthSpec| {
            let p = plan(s, s.vocab as u64);
            p.iter().filter(|t| t.name != "rope_freqs.weight").map(|t| t.dims.iter().product::<u64>()).sum::<u64>()
        };
        let smol = SynthSpec::shape("smollm2-135m").unwrap();
        let llama = SynthSpec::shape("llama-3.2-1b").unwrap();
        assert_eq!(count(&smol), 134_515_008);
        assert_eq!(count(&llama), 1_235_814_400);
        // Qwen3-0.6B: 0.44B without the embedding, 0.6B with it.
        let qwen = SynthSpec::shape("qwen3-0.6b").unwrap();
        assert_eq!(count(&qwen) - 151_936 * 1024, 440_467_456);
        let q6: Vec<usize> =
            (0..16).filter(|i| llama.per_tensor.iter().any(|(n, _)| n == &format!("blk.{i}.attn_v.weight"))).collect();
        assert_eq!(q6, [0, 1, 4, 7, 10, 13, 14, 15], "llama.cpp's Q4_K_M gives these layers Q6_K");
        assert!(SynthSpec::shape("gpt-5")
            .unwrap_err()
            .to_string()
            .contains("smollm2-135m, llama-3.2-1b, qwen3-0.6b, gemma-3-270m"));
        // Gemma 3 270M: 268,098,176 parameters.
        let gemma = SynthSpec::shape("gemma-3-270m").unwrap();
        assert_eq!(count(&gemma), 268_098_176);

        // SmolLM2's and Gemma's tensor tables are their files': every name, dims and type.
        let table = |path: std::path::PathBuf, s: &SynthSpec| {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (cargo xtask fetch-model)", path.display()));
            let real = Gguf::parse(&bytes).unwrap();
            let mut want: Vec<(String, Vec<u64>, GgmlType)> =
                real.tensors.iter().map(|t| (t.name.clone(), t.dims.clone(), t.ty)).collect();
            let mut got: Vec<(String, Vec<u64>, GgmlType)> = plan(s, s.vocab as u64)
                .into_iter()
                .map(|t| {
                    let ty = s.per_tensor.iter().find(|(n, _)| n == &t.name).map_or(t.ty, |o| o.1);
                    (t.name, t.dims, ty)
                })
                .collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            got.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "{}", path.display());
        };
        table(crate::native::default_model_path().expect("HOME"), &smol);
        let cache = crate::native::cache_dir().expect("HOME");
        table(cache.join(crate::native::GEMMA_MODEL_FILE), &gemma);
    }

    #[test]
    fn vocabulary_is_consistent() {
        for vocab in [MIN_VOCAB, 300, 400] {
            let (tokens, types, merges) = vocabulary(vocab);
            assert_eq!(tokens.len(), vocab);
            assert_eq!(types.len(), vocab);
            assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), vocab, "tokens are unique");
            let known: HashSet<&str> = tokens.iter().map(String::as_str).collect();
            for m in &merges {
                let (a, b) = m.split_once(' ').unwrap();
                assert!(known.contains(a) && known.contains(b) && known.contains(m.replace(' ', "").as_str()), "{m}");
            }
        }
        let chars = gpt2_byte_chars();
        assert_eq!(chars.len(), 256);
        assert_eq!(chars[0], (b'!', '!'));
        assert!(chars.contains(&(b' ', 'Ġ')) && chars.contains(&(b'\n', 'Ċ')));
        assert_eq!(chars.iter().map(|c| c.0).collect::<HashSet<_>>().len(), 256);
    }

    #[test]
    fn tokenizer_and_chat_template_work() {
        use crate::tokenizer::{ChatMessage, Tokenizer};
        let bytes = synthetic_model(&SynthSpec::default()).unwrap();
        let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let text = "the cat\nsat on the mat, 12 ✓";
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), text);
        let the = 259 + MERGES.iter().position(|m| *m == "Ġt he").unwrap() as u32;
        assert_eq!(ids.iter().filter(|&&i| i == the).count(), 1, "{ids:?}"); // " the", not "the"
        assert!(ids.len() < text.len(), "merges apply: {ids:?}");
        let prompt = tok.apply_chat_template(&[ChatMessage::user("hi")], true).unwrap();
        assert_eq!(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        assert_eq!(tok.encode(&prompt).unwrap()[0], BOS_ID);
        assert_eq!(tok.eos_id(), Some(EOS_ID));
    }

    #[test]
    fn every_type_builds_and_parses() {
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            let spec = SynthSpec { weight_type: ty, embd_type: ty, tied: false, ..Default::default() };
            let bytes = synthetic_model(&spec).unwrap();
            let g = Gguf::parse(&bytes).unwrap();
            assert_eq!(g.tensors.len(), 3 + 9 * spec.n_layer);
            assert_eq!(g.tensor("blk.1.ffn_down.weight").unwrap().ty, ty);
            assert_eq!(g.tensor("blk.1.attn_k.weight").unwrap().dims, [64, 32]);
        }
    }

    #[test]
    fn values_depend_on_seed_and_name_only() {
        let a = SynthSpec { weight_type: GgmlType::F32, ..Default::default() };
        let b = SynthSpec { per_tensor: vec![("blk.0.attn_q.weight".into(), GgmlType::Q8_0)], ..a.clone() };
        let (ba, bb) = (synthetic_model(&a).unwrap(), synthetic_model(&b).unwrap());
        let (ga, gb) = (Gguf::parse(&ba).unwrap(), Gguf::parse(&bb).unwrap());
        let name = "blk.1.ffn_up.weight";
        assert_eq!(
            ga.tensor_data(ga.tensor(name).unwrap()).unwrap(),
            gb.tensor_data(gb.tensor(name).unwrap()).unwrap()
        );
        assert_eq!(synthetic_model(&a).unwrap(), ba, "deterministic");
        let c = synthetic_model(&SynthSpec { seed: 1, ..a }).unwrap();
        assert_ne!(c, ba);
    }

    #[test]
    fn bad_specs_are_errors() {
        let d = SynthSpec::default();
        let bad = [
            SynthSpec { n_embd: 48, ..d.clone() }, // 48 is not a multiple of 32 (Q4_1)
            SynthSpec { n_ff: 100, weight_type: GgmlType::Q8_0, ..d.clone() },
            SynthSpec { n_head: 3, ..d.clone() },
            SynthSpec { n_head_kv: 3, ..d.clone() },
            SynthSpec { vocab: 258, ..d.clone() },
            SynthSpec { n_layer: 0, ..d.clone() },
            SynthSpec { weight_type: GgmlType::Q6K, ..d.clone() },
            SynthSpec { per_tensor: vec![("blk.9.attn_q.weight".into(), GgmlType::F32)], ..d.clone() },
            SynthSpec { eps: 0.0, ..d.clone() },
        ];
        for s in bad {
            let e = synthetic_model(&s).unwrap_err().to_string();
            assert!(e.contains("synthetic model"), "{e}");
        }
        // Non-multiple-of-32 rows are fine when nothing is quantized.
        let f = SynthSpec { n_embd: 48, n_head: 4, weight_type: GgmlType::F16, embd_type: GgmlType::F32, ..d };
        Gguf::parse(&synthetic_model(&f).unwrap()).unwrap();
    }
}
