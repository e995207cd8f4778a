//! The Llama hyper-parameters, read and checked from GGUF metadata.

use crate::error::{Error, Result};
use crate::gguf::Gguf;

#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
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
    pub eps: f32,
    /// Output matrix shared with the token embedding (no output.weight tensor).
    pub tied: bool,
    pub name: String,
}

/// Architectures whose tensors and RoPE match llama.cpp's `llama` graph.
const ARCHS: &[&str] = &["llama"];

impl LlamaConfig {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.get_str("general.architecture").ok_or_else(|| Error::Model("no general.architecture".into()))?;
        if !ARCHS.contains(&arch) {
            return Err(Error::Unsupported(format!("architecture {arch:?} (supported: {})", ARCHS.join(", "))));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let u = |k: &str| -> Result<u32> {
            let v = g.require_u64(&key(k))?;
            u32::try_from(v).map_err(|_| Error::Model(format!("{} = {v} is out of range", key(k))))
        };
        let n_embd = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        let n_head_kv = match g.get_u64(&key("attention.head_count_kv")) {
            Some(v) => u32::try_from(v).map_err(|_| Error::Model(format!("head_count_kv {v}")))?,
            None => n_head,
        };
        let embd = g.tensor("token_embd.weight").ok_or_else(|| Error::Model("no token_embd.weight tensor".into()))?;
        let vocab = match g.get_u64(&key("vocab_size")) {
            Some(v) => v,
            None => *embd.dims.get(1).ok_or_else(|| Error::Model("token_embd.weight is 1-D".into()))?,
        };
        let vocab = u32::try_from(vocab).map_err(|_| Error::Model(format!("vocab size {vocab}")))?;
        if n_head == 0 || n_head_kv == 0 || n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(Error::Model(format!(
                "heads do not divide: embedding {n_embd}, heads {n_head}, kv heads {n_head_kv}"
            )));
        }
        let head_dim = n_embd / n_head;
        let n_rot = match g.get_u64(&key("rope.dimension_count")) {
            Some(v) => u32::try_from(v).map_err(|_| Error::Model(format!("rope.dimension_count {v}")))?,
            None => head_dim,
        };
        let f = |k: &str, default: f32| -> Result<f32> {
            match g.get(&key(k)) {
                None => Ok(default),
                Some(v) => v
                    .as_f64()
                    .map(|x| x as f32)
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| Error::Model(format!("{} = {v:?} is not a positive number", key(k)))),
            }
        };
        let cfg = LlamaConfig {
            n_layer: u("block_count")?,
            n_embd,
            n_ff: u("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            vocab,
            n_ctx_train: u("context_length")?,
            rope_base: f("rope.freq_base", 10000.0)?,
            eps: f("attention.layer_norm_rms_epsilon", 1e-5)?,
            tied: g.tensor("output.weight").is_none(),
            name: g.get_str("general.name").unwrap_or(arch).to_string(),
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
        if self.n_embd % 32 != 0 || self.n_ff % 32 != 0 || self.n_ff == 0 {
            return bad(format!("embedding {} / feed-forward {} not multiples of 32", self.n_embd, self.n_ff));
        }
        if self.head_dim % 4 != 0 || self.head_dim > 256 {
            return bad(format!("head dimension {} (need a multiple of 4, at most 256)", self.head_dim));
        }
        if self.n_rot % 2 != 0 || self.n_rot > self.head_dim {
            return bad(format!("rope dimension {} for head dimension {}", self.n_rot, self.head_dim));
        }
        if self.vocab == 0 || self.n_ctx_train == 0 {
            return bad(format!("vocab {} / context {}", self.vocab, self.n_ctx_train));
        }
        Ok(())
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
