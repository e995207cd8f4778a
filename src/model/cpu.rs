//! A plain CPU forward pass (f32 weights, f64 accumulation), the reference the GPU forward
//! is checked against on small synthetic models. Slow and simple on purpose: llama2.c's
//! `forward()` shape, with the same kernel references the GPU kernel tests use.

use super::ModelConfig;
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kernels::attention::{attention_ref, AttnSpec};
use crate::kernels::rmsnorm::rmsnorm_ref;
use crate::kernels::rope::rope_ref;
use crate::kernels::RowInfo;
use crate::quant::dequantize;

struct Layer {
    attn_norm: Vec<f32>, // [D]
    wq: Vec<f32>,        // [D, D]   row n = output n
    wk: Vec<f32>,        // [KV, D]
    wv: Vec<f32>,        // [KV, D]
    wo: Vec<f32>,        // [D, D]
    ffn_norm: Vec<f32>,  // [D]
    gate: Vec<f32>,      // [FF, D]
    up: Vec<f32>,        // [FF, D]
    down: Vec<f32>,      // [D, FF]
}

pub struct CpuModel {
    pub cfg: ModelConfig,
    embd: Vec<f32>,     // [V, D]
    out_norm: Vec<f32>, // [D]
    output: Option<Vec<f32>>,
    layers: Vec<Layer>,
    kc: Vec<Vec<f32>>, // per layer [pos, KV]
    vc: Vec<Vec<f32>>,
}

/// The tensor as f32, after checking its dims (ggml order) are `dims`: the forward pass
/// below indexes by the config's sizes, so a file whose tensors disagree with its metadata
/// is an error here rather than a panic there.
fn load(g: &Gguf, name: &str, dims: &[u32]) -> Result<Vec<f32>> {
    let t = g.tensor(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))?;
    if t.dims.len() != dims.len() || t.dims.iter().zip(dims).any(|(&a, &b)| a != b as u64) {
        return Err(Error::Model(format!("tensor {name} has dims {:?}, expected {dims:?}", t.dims)));
    }
    dequantize(t.ty, g.tensor_data(t)?, t.n_elements() as usize)
}

/// y[n] = Σ_k w[n, k] · x[k]
fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks(x.len()).map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>() as f32).collect()
}

impl CpuModel {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let cfg = ModelConfig::from_gguf(g)?;
        // Gemma 3 is checked against ../shared/reference's float64 pass instead.
        if cfg.arch != super::config::Arch::Llama {
            return Err(Error::Unsupported(format!("the CPU reference model is llama only, not {}", cfg.arch.name())));
        }
        let (d, kv, ff, v) = (cfg.n_embd, cfg.kv_dim(), cfg.n_ff, cfg.vocab);
        let mut layers = Vec::new();
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: load(g, &n("attn_norm"), &[d])?,
                wq: load(g, &n("attn_q"), &[d, d])?,
                wk: load(g, &n("attn_k"), &[d, kv])?,
                wv: load(g, &n("attn_v"), &[d, kv])?,
                wo: load(g, &n("attn_output"), &[d, d])?,
                ffn_norm: load(g, &n("ffn_norm"), &[d])?,
                gate: load(g, &n("ffn_gate"), &[d, ff])?,
                up: load(g, &n("ffn_up"), &[d, ff])?,
                down: load(g, &n("ffn_down"), &[ff, d])?,
            });
        }
        let output = if cfg.tied { None } else { Some(load(g, "output.weight", &[d, v])?) };
        Ok(CpuModel {
            embd: load(g, "token_embd.weight", &[d, v])?,
            out_norm: load(g, "output_norm.weight", &[d])?,
            output,
            kc: vec![Vec::new(); layers.len()],
            vc: vec![Vec::new(); layers.len()],
            layers,
            cfg,
        })
    }

    /// Feeds one token at the next position and returns its logits [V]; a token outside
    /// the vocabulary is an error.
    pub fn step(&mut self, token: u32) -> Result<Vec<f32>> {
        let c = &self.cfg;
        if token >= c.vocab {
            return Err(Error::Param(format!("token {token} is outside the vocabulary of {}", c.vocab)));
        }
        let (d, kv) = (c.n_embd as usize, c.kv_dim() as usize);
        let pos = (self.kc[0].len() / kv) as u32;
        let mut x = self.embd[token as usize * d..][..d].to_vec();
        for (l, lw) in self.layers.iter().enumerate() {
            let xn = rmsnorm_ref(&x, &lw.attn_norm, c.eps);
            let mut q = matvec(&lw.wq, &xn);
            let mut k = matvec(&lw.wk, &xn);
            let v = matvec(&lw.wv, &xn);
            for head in q.chunks_mut(c.head_dim as usize).chain(k.chunks_mut(c.head_dim as usize)) {
                rope_ref(head, pos, c.n_rot, c.rope_base, c.rope_freqs.as_deref(), c.rope_neox);
            }
            self.kc[l].extend(k);
            self.vc[l].extend(v);
            let spec = AttnSpec { scale: c.attn_scale, window: None };
            let att = attention_ref(c.heads(), spec, &q, &self.kc[l], &self.vc[l], RowInfo::solo(pos));
            x.iter_mut().zip(matvec(&lw.wo, &att)).for_each(|(a, b)| *a += b);
            let xn = rmsnorm_ref(&x, &lw.ffn_norm, c.eps);
            let (g, u) = (matvec(&lw.gate, &xn), matvec(&lw.up, &xn));
            let h: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u).collect();
            x.iter_mut().zip(matvec(&lw.down, &h)).for_each(|(a, b)| *a += b);
        }
        let xn = rmsnorm_ref(&x, &self.out_norm, c.eps);
        Ok(matvec(self.output.as_ref().unwrap_or(&self.embd), &xn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Value;
    use crate::gguf_write::GgufWriter;
    use crate::synth::{synthetic_model, SynthSpec};

    #[test]
    fn shapes_that_disagree_with_the_config_are_errors() {
        let base = synthetic_model(&SynthSpec::default()).unwrap();
        let g = Gguf::parse(&base).unwrap();
        let mut m = CpuModel::from_gguf(&g).unwrap();
        assert_eq!(m.step(1).unwrap().len(), m.cfg.vocab as usize);
        let e = m.step(m.cfg.vocab).unwrap_err().to_string();
        assert!(e.contains("outside the vocabulary"), "{e}");
        // Twice the embedding width in the metadata: every matrix now disagrees. This once
        // loaded and panicked slicing the embedding in `step`.
        for (key, mult) in [("llama.embedding_length", 2), ("llama.feed_forward_length", 2), ("llama.vocab_size", 2)] {
            let v = g.get_u64(key).unwrap() as u32 * mult;
            let bytes = GgufWriter::from_gguf(&g).set(key, Some(Value::U32(v))).to_bytes();
            let e = CpuModel::from_gguf(&Gguf::parse(&bytes).unwrap()).err().expect("an error").to_string();
            assert!(e.contains("has dims") && e.contains("expected"), "{key}: {e}");
        }
    }
}
