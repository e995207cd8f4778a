//! A tiny synthetic Llama GGUF for tests, benches and browser tests: the real model's
//! layout, metadata keys and tokenizer kind at a size where a CPU reference is instant.
//!
//! Weights are deterministic from `seed` *and the tensor name*, independent of the storage
//! type, so two specs that differ only in types hold the same underlying values and their
//! outputs can be compared. The PRNG is splitmix64 so the core needs no `rand`.

use crate::error::{Error, Result};
use crate::gguf::{Array, GgmlType, Value};
use crate::gguf_write::GgufWriter;
use crate::kernels::weights::random_blocks;
use crate::quant;

#[derive(Clone, Debug)]
pub struct SynthSpec {
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
pub const SHAPES: [&str; 2] = ["smollm2-135m", "llama-3.2-1b"];

impl SynthSpec {
    /// A released model's sizes and tensor types (as its GGUF says) with random weights:
    /// - `smollm2-135m`: SmolLM2-135M-Instruct Q4_1, the default model (Q4_1 matrices, a
    ///   tied Q8_0 embedding of 49,152 tokens);
    /// - `llama-3.2-1b`: Llama 3.2 1B as llama.cpp's Q4_K_M mix (Q4_K matrices; Q6_K for
    ///   attn_v and ffn_down in the layers llama.cpp gives more bits; a tied Q6_K embedding
    ///   of 128,256 tokens). Without `rope_freqs`: the engine refuses Llama 3's RoPE factors
    ///   until it implements them, and they cost nothing at run time.
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
                    n_layer,
                    n_embd: 2048,
                    n_ff: 8192,
                    n_head: 32,
                    n_head_kv: 8,
                    n_ctx: 8192,
                    vocab: 128_256,
                    rope_base: 500_000.0,
                    weight_type: GgmlType::Q4K,
                    embd_type: GgmlType::Q6K,
                    per_tensor,
                    ..base
                })
            }
            other => Err(Error::Param(format!("unknown model shape {other:?} (known: {})", SHAPES.join(", ")))),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head.max(1)
    }

    fn validate(&self) -> Result<()> {
        let err = |m: String| Err(Error::Param(format!("synthetic model: {m}")));
        let s = self;
        if [s.n_layer, s.n_embd, s.n_ff, s.n_head, s.n_head_kv, s.n_ctx].contains(&0) {
            return err(format!("every size must be positive: {s:?}"));
        }
        if !s.n_embd.is_multiple_of(s.n_head) || !s.head_dim().is_multiple_of(2) {
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

/// SmolLM2's first three special tokens, at the same ids.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
pub const BOS_ID: u32 = 1;
pub const EOS_ID: u32 = 2;
pub const MIN_VOCAB: usize = SPECIAL_TOKENS.len() + 256;

/// SmolLM2's first merges, in rank order: each one's parts are bytes or earlier merges,
/// so any prefix is a valid merge list.
#[rustfmt::skip]
const MERGES: [&str; 48] = [
    "Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ", "r e", "o n", "e r", "Ġt he", "a t", "Ġ s", "Ġ o",
    "e n", "Ġ c", "e s", "Ġ w", "n d", "i t", "o r", "i s", "a l", "Ġ p", "in g", "Ġ f",
    "a n", "e d", "Ġ b", "o u", "a r", "Ġ in", "Ġo f", "Ġ m", "Ġa nd", "i on", "i c", "Ġ d",
    "Ġt o", "ĠĠ ĠĠ", "l e", "r o", "a s", "en t", "Ġ h", "Ġt h", "c t", "Ġ e", "Ġ re", "e l",
];

const CHAT_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + \
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
fn vocabulary(vocab: usize) -> (Vec<String>, Vec<i32>, Vec<String>) {
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

fn plan(s: &SynthSpec) -> Vec<Plan> {
    let (e, f, v, kv) = (s.n_embd as u64, s.n_ff as u64, s.vocab as u64, (s.n_head_kv * s.head_dim()) as u64);
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
    let logit_amp = 3.0 * (3.0 / e as f32).sqrt();
    let mut p =
        vec![Plan { name: "token_embd.weight".into(), dims: vec![e, v], ty: s.embd_type, amp: logit_amp, center: 0.0 }];
    p.push(norm("output_norm.weight".into()));
    if !s.tied {
        p.push(Plan { amp: logit_amp, ..mat("output.weight".into(), [e, v]) });
    }
    for i in 0..s.n_layer {
        let b = |t: &str| format!("blk.{i}.{t}.weight");
        p.push(norm(b("attn_norm")));
        p.push(mat(b("attn_q"), [e, e]));
        p.push(mat(b("attn_k"), [e, kv]));
        p.push(mat(b("attn_v"), [e, kv]));
        p.push(mat(b("attn_output"), [e, e]));
        p.push(norm(b("ffn_norm")));
        p.push(mat(b("ffn_gate"), [e, f]));
        p.push(mat(b("ffn_up"), [e, f]));
        p.push(mat(b("ffn_down"), [f, e]));
    }
    p
}

/// A complete llama-architecture GGUF file for `spec`.
pub fn synthetic_llama(spec: &SynthSpec) -> Result<Vec<u8>> {
    spec.validate()?;
    let mut tensors = plan(spec);
    for (name, ty) in &spec.per_tensor {
        let t = tensors.iter_mut().find(|t| &t.name == name);
        let t = t.ok_or_else(|| Error::Param(format!("synthetic model: override for unknown tensor {name:?}")))?;
        t.ty = *ty;
    }

    let (tokens, types, merges) = vocabulary(spec.vocab);
    let u = |n: usize| Value::U32(n as u32);
    let strings = |v: Vec<String>| Value::Array(Array::from(v));
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String("llama".into()))
        .metadata("general.name", Value::String("samplescope synthetic llama".into()))
        .metadata("general.file_type", Value::U32(file_type(spec.weight_type)))
        .metadata("general.quantization_version", Value::U32(2))
        .metadata("llama.block_count", u(spec.n_layer))
        .metadata("llama.context_length", u(spec.n_ctx))
        .metadata("llama.embedding_length", u(spec.n_embd))
        .metadata("llama.feed_forward_length", u(spec.n_ff))
        .metadata("llama.attention.head_count", u(spec.n_head))
        .metadata("llama.attention.head_count_kv", u(spec.n_head_kv))
        .metadata("llama.rope.freq_base", Value::F32(spec.rope_base))
        .metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(spec.eps))
        .metadata("llama.rope.dimension_count", u(spec.head_dim()))
        .metadata("llama.vocab_size", u(spec.vocab))
        .metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata("tokenizer.ggml.pre", Value::String("smollm".into()))
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
        let data = if quant::QUANTIZABLE_TYPES.contains(&t.ty) {
            let mut x = uniform(spec.seed, &t.name, n, t.amp);
            x.iter_mut().for_each(|v| *v += t.center);
            quant::quantize(t.ty, &x)
                .map_err(|e| Error::Param(format!("synthetic model: tensor {} as {}: {e}", t.name, t.ty)))?
        } else {
            // No quantizer for this type here: random blocks (a benchmark's weights).
            let mut state = spec.seed ^ name_hash(&t.name);
            random_blocks(t.ty, n, &mut || splitmix64(&mut state))
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
        let count = |s: &SynthSpec| plan(s).iter().map(|t| t.dims.iter().product::<u64>()).sum::<u64>();
        let smol = SynthSpec::shape("smollm2-135m").unwrap();
        let llama = SynthSpec::shape("llama-3.2-1b").unwrap();
        assert_eq!(count(&smol), 134_515_008);
        assert_eq!(count(&llama), 1_235_814_400);
        let q6: Vec<usize> =
            (0..16).filter(|i| llama.per_tensor.iter().any(|(n, _)| n == &format!("blk.{i}.attn_v.weight"))).collect();
        assert_eq!(q6, [0, 1, 4, 7, 10, 13, 14, 15], "llama.cpp's Q4_K_M gives these layers Q6_K");
        assert!(SynthSpec::shape("gpt-5").unwrap_err().to_string().contains("smollm2-135m, llama-3.2-1b"));

        let path = crate::native::default_model_path().expect("HOME");
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (cargo xtask fetch-model)", path.display()));
        let real = Gguf::parse(&bytes).unwrap();
        let mut want: Vec<(String, Vec<u64>, GgmlType)> =
            real.tensors.iter().map(|t| (t.name.clone(), t.dims.clone(), t.ty)).collect();
        let mut got: Vec<(String, Vec<u64>, GgmlType)> = plan(&smol)
            .into_iter()
            .map(|t| {
                let ty = smol.per_tensor.iter().find(|(n, _)| n == &t.name).map_or(t.ty, |o| o.1);
                (t.name, t.dims, ty)
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want);
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
        let bytes = synthetic_llama(&SynthSpec::default()).unwrap();
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
            let bytes = synthetic_llama(&spec).unwrap();
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
        let (ba, bb) = (synthetic_llama(&a).unwrap(), synthetic_llama(&b).unwrap());
        let (ga, gb) = (Gguf::parse(&ba).unwrap(), Gguf::parse(&bb).unwrap());
        let name = "blk.1.ffn_up.weight";
        assert_eq!(ga.tensor_data(ga.tensor(name).unwrap()), gb.tensor_data(gb.tensor(name).unwrap()));
        assert_eq!(synthetic_llama(&a).unwrap(), ba, "deterministic");
        let c = synthetic_llama(&SynthSpec { seed: 1, ..a }).unwrap();
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
            let e = synthetic_llama(&s).unwrap_err().to_string();
            assert!(e.contains("synthetic model"), "{e}");
        }
        // Non-multiple-of-32 rows are fine when nothing is quantized.
        let f = SynthSpec { n_embd: 48, n_head: 4, weight_type: GgmlType::F16, embd_type: GgmlType::F32, ..d };
        Gguf::parse(&synthetic_llama(&f).unwrap()).unwrap();
    }
}
