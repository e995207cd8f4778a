//! The model's hyper-parameters, read and checked from GGUF metadata. Every architecture is
//! the one forward pass (forward.rs) with the differences below as data; anything in the
//! metadata that would change the math and is not handled here is an error.

use crate::error::{shown, Error, Result};
use crate::gguf::{Gguf, TensorInfo};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 1–3 and everything llama.cpp runs as `llama` (SmolLM2, TinyLlama, …); Llama 3's
    /// RoPE frequency factors when the file has `rope_freqs.weight`.
    Llama,
    /// Qwen 2 / 2.5: biases on q, k and v; NEOX RoPE.
    Qwen2,
    /// Qwen 3: a per-head RMSNorm of q and k; NEOX RoPE; no biases.
    Qwen3,
    /// SmolLM3: llama, with RoPE left out of every fourth layer.
    SmolLM3,
    /// Gemma 3: √D embedding scale, q/k norms, post-norms, GELU, sliding-window layers.
    Gemma3,
}

/// Architectures by their `general.architecture` name.
const ARCHS: &[(&str, Arch)] = &[
    ("llama", Arch::Llama),
    ("qwen2", Arch::Qwen2),
    ("qwen3", Arch::Qwen3),
    ("smollm3", Arch::SmolLM3),
    ("gemma3", Arch::Gemma3),
];

/// The architectures this engine runs, by name (for messages and the README).
pub fn arch_names() -> Vec<&'static str> {
    ARCHS.iter().map(|(n, _)| *n).collect()
}

impl Arch {
    pub fn name(self) -> &'static str {
        ARCHS.iter().find(|(_, a)| *a == self).map_or("?", |(n, _)| n)
    }
}

/// The gated feed-forward's activation: act(gate) ⊙ up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// GELU, tanh approximation (ggml's `ggml_gelu`).
    GeluTanh,
}

/// What one layer's attention looks like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerAttention {
    /// Keys visible to a query: positions pos − window + 1 ..= pos; None: the whole prefix.
    pub window: Option<u32>,
    /// RoPE base; None: the layer does not rotate q and k (SmolLM3's every fourth).
    pub rope_base: Option<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_layer: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub n_rot: u32,
    pub vocab: u32,
    /// The context length the model was trained for.
    pub n_ctx_train: u32,
    pub rope_base: f32,
    /// RoPE rotates the pairs (i, i + n_rot/2) (llama.cpp's NEOX type) instead of (2i, 2i+1).
    pub rope_neox: bool,
    pub eps: f32,
    /// Multiplier of the embedding row (Gemma: √D).
    pub embd_scale: f32,
    /// Multiplier of q·k before the softmax.
    pub attn_scale: f32,
    /// Per-head RMSNorm of q and k before RoPE (attn_q_norm, attn_k_norm).
    pub qk_norm: bool,
    /// Biases added to q, k and v (attn_q.bias, attn_k.bias, attn_v.bias).
    pub qkv_bias: bool,
    /// Llama 3's RoPE frequency factors (`rope_freqs.weight`, n_rot/2 of them): pair i's
    /// angle is divided by factor i.
    pub rope_freqs: Option<Vec<f32>>,
    /// RMSNorm of the attention and feed-forward outputs before the residual adds
    /// (post_attention_norm, post_ffw_norm).
    pub post_norms: bool,
    pub act: Activation,
    /// Layers il with (il + 1) % n == 0 skip RoPE (SmolLM3: n = 4, llama.cpp's
    /// n_no_rope_layer_step).
    pub no_rope_every: Option<u32>,
    /// Sliding-window attention: the window, the layers that use it (il % pattern <
    /// pattern − 1) and their RoPE base; the other layers attend to everything.
    pub swa: Option<Swa>,
    /// Output matrix shared with the token embedding (no output.weight tensor).
    pub tied: bool,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Swa {
    pub window: u32,
    pub pattern: u32,
    pub rope_base: f32,
}

/// The metadata keys (after the architecture prefix) this engine reads. Any other key under
/// the prefix is an error naming it: a key the forward pass does not know may change the
/// math (a rope scaling type, a softcap, a scale), and it must never be skipped.
const KNOWN_KEYS: &[&str] = &[
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "block_count",
    "vocab_size",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.layer_norm_rms_epsilon",
    "attention.sliding_window",
    "rope.dimension_count",
    "rope.freq_base",
];

/// Keys that describe a feature this engine lacks and that are harmless at this value
/// (converters write some of them for every model).
const INERT_KEYS: &[(&str, u64)] = &[("expert_count", 0), ("expert_used_count", 0)];

impl ModelConfig {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_table(g, |t| g.tensor_data(t))
    }

    /// `from_gguf`, reading the one tensor a config holds (Llama 3's `rope_freqs.weight`)
    /// through `data`: a load that streams the file passes the bytes it has awaited.
    pub fn from_table<'d>(g: &Gguf, data: impl FnOnce(&TensorInfo) -> Result<&'d [u8]>) -> Result<Self> {
        let name = g.get_str("general.architecture").ok_or_else(|| Error::Model("no general.architecture".into()))?;
        let Some(&(arch_name, arch)) = ARCHS.iter().find(|(n, _)| *n == name) else {
            let names = arch_names().join(", ");
            return Err(Error::Unsupported(format!("architecture {} (supported: {names})", shown(name))));
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        // An optional key that is present must be a u32: a wrong type or range is an error,
        // never a silent fall back to the default.
        let opt_u = |k: &str| -> Result<Option<u32>> {
            match g.get(&key(k)) {
                None => Ok(None),
                Some(v) => v.as_u64().and_then(|x| u32::try_from(x).ok()).map(Some).ok_or_else(|| {
                    Error::Model(format!("{} = {} is not an integer in 0..=4294967295", key(k), shown(v)))
                }),
            }
        };
        let u = |k: &str| -> Result<u32> {
            opt_u(k)?.ok_or_else(|| Error::Model(format!("missing metadata {}", shown(&key(k)))))
        };
        let f = |k: &str, default: f32| -> Result<f32> {
            match g.get(&key(k)) {
                None => Ok(default),
                Some(v) => v
                    .as_f64()
                    .map(|x| x as f32)
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| Error::Model(format!("{} = {} is not a positive number", key(k), shown(v)))),
            }
        };
        check_keys(g, arch_name)?;
        let n_embd = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        let n_head_kv = opt_u("attention.head_count_kv")?.unwrap_or(n_head);
        let embd = g.tensor("token_embd.weight").ok_or_else(|| Error::Model("no token_embd.weight tensor".into()))?;
        let vocab = match opt_u("vocab_size")? {
            Some(v) => v,
            None => {
                let v = *embd.dims.get(1).ok_or_else(|| Error::Model("token_embd.weight is 1-D".into()))?;
                u32::try_from(v).map_err(|_| Error::Model(format!("vocab size {v}")))?
            }
        };
        if n_embd == 0 || n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(Error::Model(format!(
                "heads do not divide: embedding {n_embd}, heads {n_head}, kv heads {n_head_kv}"
            )));
        }
        // The head size is key_length when given (Gemma: 256 ≠ 640 / 4), else D / heads.
        let head_dim = match opt_u("attention.key_length")? {
            Some(hd) => hd,
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => return Err(Error::Model(format!("{n_head} heads do not divide embedding {n_embd}"))),
        };
        if let Some(vd) = opt_u("attention.value_length")?.filter(|&vd| vd != head_dim) {
            return Err(Error::Unsupported(format!("value length {vd} ≠ key length {head_dim}")));
        }
        let n_rot = opt_u("rope.dimension_count")?.unwrap_or(head_dim);
        let n_layer = u("block_count")?;
        let rope_base = f("rope.freq_base", 10000.0)?;
        let gemma = arch == Arch::Gemma3;
        let rope_freqs = match g.tensor("rope_freqs.weight") {
            Some(t) if arch == Arch::Llama => Some(rope_factors(t, data(t)?, n_rot)?),
            _ => None,
        };
        let swa = match (gemma, opt_u("attention.sliding_window")?) {
            // llama.cpp (llama-model.cpp, LLM_ARCH_GEMMA3): pattern 6, local layers at base 10⁴.
            (true, Some(window)) if window > 0 => Some(Swa { window, pattern: 6, rope_base: 10000.0 }),
            (true, _) => return Err(Error::Unsupported("gemma3 without attention.sliding_window".into())),
            (false, None) => None,
            (false, Some(w)) => {
                return Err(Error::Unsupported(format!("{} = {w} (not implemented)", key("attention.sliding_window"))))
            }
        };
        let cfg = ModelConfig {
            arch,
            n_layer,
            n_embd,
            n_ff: u("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            vocab,
            n_ctx_train: u("context_length")?,
            rope_base,
            // llama.cpp's llama_model_rope_type: NEOX for these three, normal for llama.
            rope_neox: matches!(arch, Arch::Gemma3 | Arch::Qwen2 | Arch::Qwen3),
            eps: f("attention.layer_norm_rms_epsilon", 1e-5)?,
            embd_scale: if gemma { (n_embd as f32).sqrt() } else { 1.0 },
            // llama.cpp scales Gemma 3 27B (62 layers) by (D / heads)^-½, the others by hd^-½.
            attn_scale: if gemma && n_layer == 62 {
                1.0 / ((n_embd / n_head) as f32).sqrt()
            } else {
                1.0 / (head_dim as f32).sqrt()
            },
            qk_norm: matches!(arch, Arch::Gemma3 | Arch::Qwen3),
            qkv_bias: arch == Arch::Qwen2,
            no_rope_every: (arch == Arch::SmolLM3).then_some(4),
            rope_freqs,
            post_norms: gemma,
            act: if gemma { Activation::GeluTanh } else { Activation::Silu },
            swa,
            tied: g.tensor("output.weight").is_none(),
            name: match g.get("general.name") {
                None => arch_name.to_string(),
                Some(v) => v
                    .as_str()
                    .ok_or_else(|| Error::Model(format!("general.name = {} is not a string", shown(v))))?
                    .to_string(),
            },
        };
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Unsupported(m));
        if self.n_layer == 0 || self.n_layer > 1024 {
            return bad(format!("{} layers", self.n_layer));
        }
        // Kernels read activations as vec4 and weights in 32-wide blocks.
        if self.n_embd == 0 || !self.n_embd.is_multiple_of(32) || !self.n_ff.is_multiple_of(32) || self.n_ff == 0 {
            return bad(format!("embedding {} / feed-forward {} not multiples of 32", self.n_embd, self.n_ff));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(4) || self.head_dim > 256 {
            return bad(format!("head dimension {} (need a multiple of 4, at most 256)", self.head_dim));
        }
        if self.n_rot == 0 || !self.n_rot.is_multiple_of(2) || self.n_rot > self.head_dim {
            return bad(format!("rope dimension {} for head dimension {}", self.n_rot, self.head_dim));
        }
        // Wo reads the attention output in 32-wide blocks.
        if !self.q_dim().is_multiple_of(32) {
            return bad(format!("{} heads × {} is not a multiple of 32", self.n_head, self.head_dim));
        }
        if self.vocab == 0 || self.n_ctx_train == 0 {
            return bad(format!("vocab {} / context {}", self.vocab, self.n_ctx_train));
        }
        Ok(())
    }

    /// Layer `il`'s attention: sliding window and RoPE base.
    pub fn layer_attention(&self, il: u32) -> LayerAttention {
        let la = match self.swa {
            Some(s) if il % s.pattern < s.pattern - 1 => {
                LayerAttention { window: Some(s.window), rope_base: Some(s.rope_base) }
            }
            _ => LayerAttention { window: None, rope_base: Some(self.rope_base) },
        };
        match self.no_rope_every {
            Some(n) if (il + 1).is_multiple_of(n) => LayerAttention { rope_base: None, ..la },
            _ => la,
        }
    }

    /// Width of q and of the attention output: heads × head size.
    pub fn q_dim(&self) -> u32 {
        self.n_head * self.head_dim
    }

    pub fn kv_dim(&self) -> u32 {
        self.n_head_kv * self.head_dim
    }

    pub fn heads(&self) -> crate::kernels::rope::Heads {
        crate::kernels::rope::Heads {
            n_head: self.n_head,
            n_head_kv: self.n_head_kv,
            head_dim: self.head_dim,
            n_rot: self.n_rot,
        }
    }
}

/// Every `{arch}.*` key is one this engine reads, or an inert one at its inert value.
fn check_keys(g: &Gguf, arch_name: &str) -> Result<()> {
    let prefix = format!("{arch_name}.");
    for (k, v) in g.metadata.iter() {
        let Some(rest) = k.strip_prefix(&prefix) else { continue };
        if KNOWN_KEYS.contains(&rest) {
            continue;
        }
        match INERT_KEYS.iter().find(|(n, _)| *n == rest) {
            Some(&(_, inert)) if v.as_u64() == Some(inert) => continue,
            _ => {
                return Err(Error::Unsupported(format!(
                    "metadata {} = {} (this engine's {arch_name} graph does not implement it)",
                    shown(k),
                    shown(v)
                )))
            }
        }
    }
    Ok(())
}

/// `rope_freqs.weight`: n_rot/2 positive f32 factors.
fn rope_factors(t: &TensorInfo, bytes: &[u8], n_rot: u32) -> Result<Vec<f32>> {
    let n = n_rot / 2;
    if t.dims != [n as u64] {
        return Err(Error::Model(format!("tensor rope_freqs.weight has dims {:?}, expected [{n}]", t.dims)));
    }
    let f = crate::kernels::weights::to_f32(t.ty, bytes, n as usize)
        .map_err(|e| Error::Unsupported(format!("rope_freqs.weight: {e}")))?;
    match f.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        Some(x) => Err(Error::Model(format!("rope_freqs.weight holds {x}, not a positive factor"))),
        None => Ok(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Array, Value};
    use crate::gguf_write::GgufWriter;
    use crate::synth::{synthetic_model, SynthSpec};

    /// The synthetic model's config error with `key` set to `value` (None: removed).
    fn with(key: &str, value: Option<Value>) -> Result<ModelConfig> {
        let base = synthetic_model(&SynthSpec::default()).unwrap();
        let bytes = GgufWriter::from_gguf(&Gguf::parse(&base).unwrap()).set(key, value).to_bytes();
        ModelConfig::from_gguf(&Gguf::parse(&bytes).unwrap())
    }

    fn err(key: &str, value: Value) -> String {
        with(key, Some(value)).unwrap_err().to_string()
    }

    #[test]
    fn the_synthetic_model_is_valid() {
        let c = with("general.name", None).unwrap();
        assert_eq!(c.name, "llama");
    }

    #[test]
    fn zero_sizes_fail_at_config_time() {
        // embedding_length = 0 once passed and failed later as a shader division by zero.
        assert!(err("llama.embedding_length", Value::U32(0)).contains("embedding 0"));
        assert!(err("llama.attention.head_count", Value::U32(0)).contains("heads 0"));
        assert!(err("llama.attention.head_count_kv", Value::U32(0)).contains("kv heads 0"));
        assert!(err("llama.feed_forward_length", Value::U32(0)).contains("feed-forward 0"));
        assert!(err("llama.rope.dimension_count", Value::U32(0)).contains("rope dimension 0"));
        assert!(err("llama.block_count", Value::U32(0)).contains("0 layers"));
    }

    #[test]
    fn invalid_optional_keys_are_errors_not_defaults() {
        let e = err("llama.attention.head_count_kv", Value::I32(-2));
        assert!(e.contains("llama.attention.head_count_kv = I32(-2) is not an integer"), "{e}");
        let e = err("llama.attention.head_count_kv", Value::String("4".into()));
        assert!(e.contains("head_count_kv = String(\"4\")"), "{e}");
        assert!(err("llama.vocab_size", Value::F32(1.0)).contains("llama.vocab_size = F32(1.0)"));
        assert!(err("llama.vocab_size", Value::U64(1 << 40)).contains("llama.vocab_size"));
        assert!(err("llama.rope.dimension_count", Value::Bool(true)).contains("rope.dimension_count"));
        assert!(err("llama.rope.freq_base", Value::String("x".into())).contains("not a positive number"));
        assert!(err("llama.attention.layer_norm_rms_epsilon", Value::F32(-1.0)).contains("not a positive"));
        let e = err("general.name", Value::Array(Array::U8(vec![0; 1 << 16])));
        assert!(e.contains("general.name = Array(U8([0, 0") && e.len() < 300, "{e}");
        let e = with("llama.embedding_length", None).unwrap_err().to_string();
        assert!(e.contains("missing metadata \"llama.embedding_length\""), "{e}");
    }
}
