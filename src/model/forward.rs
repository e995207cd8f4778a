//! The forward pass, as a page to check against the Llama paper top to bottom:
//!
//! ```text
//! x = E[tokens]                                          embedding lookup     [M, D]
//! for each layer:
//!     xn = rmsnorm(x) · g1
//!     q, k, v = Wq·xn, Wk·xn, Wv·xn                                           [M, D], [M, KV] ×2
//!     q, k = rope(q, pos), rope(k, pos); K, V cache ← k, v
//!     att = softmax(q·Kᵀ / √hd) · V    (causal, grouped-query)              [M, D]
//!     x += Wo·att
//!     xn = rmsnorm(x) · g2
//!     hb = silu(Wg·xn) ⊙ (Wu·xn)                                              [M, FF]
//!     x += Wd·hb
//! xn = rmsnorm(x[last n_out rows]) · g
//! logits = Wout·xn  (or E·xn when tied)                                       [n_out, V]
//! tokens = sample(logits)   the sampler chain, one lane per output row         [n_out]
//! ```
//!
//! `build` makes every buffer and bind group once at load time; `record` encodes the same
//! dispatches every step. Which rows run, where their KV lives and how picks are read back
//! is the decode machinery's business (model/mod.rs, kv.rs, readback.rs).

use super::weights::{upload, Matrix, Qkv, Weights};
use super::LlamaConfig;
use crate::error::Result;
use crate::gguf::Gguf;
use crate::gpu::profile::Recorder;
use crate::kernels::attention::Attention;
use crate::kernels::embed::Embed;
use crate::kernels::matmul::{Epilogue, Matmul};
use crate::kernels::rmsnorm::RmsNorm;
use crate::kernels::rope::{rope_table, Rope};
use crate::kernels::{Kernels, Rows};
use crate::sampling::gpu::{ChainBinding, SamplerChain, MAX_LANES};

/// Activations for up to M = `max_rows` rows. D = embedding, KV = kv heads × head dim,
/// FF = feed-forward width, V = vocabulary.
pub(super) struct Buffers {
    pub rows_all: wgpu::Buffer, // Rows { n: M, row0: 0 }
    pub rows_out: wgpu::Buffer, // Rows { n: rows wanting logits, row0: first of them }
    pub tokens: wgpu::Buffer,   // [M] u32: input ids; the sampler writes its picks here
    pub info: wgpu::Buffer,     // [M] RowInfo: each row's position and KV slots
    pub x: wgpu::Buffer,        // [M, D] residual stream
    pub xn: wgpu::Buffer,       // [M, D] normed
    pub q: wgpu::Buffer,        // [M, D]
    pub k: wgpu::Buffer,        // [M, KV]
    pub v: wgpu::Buffer,        // [M, KV]
    pub att: wgpu::Buffer,      // [M, D]
    pub hb: wgpu::Buffer,       // [M, FF]
    pub scores: wgpu::Buffer,   // [M, H, n_ctx] attention scores
    pub logits: wgpu::Buffer,   // [M, V]
    pub rope: wgpu::Buffer,     // [n_ctx, n_rot / 2] (cos, sin)
}

type Op = (Matmul, wgpu::BindGroup);

/// One layer's launchers and bind groups, in the order they run.
struct Layer {
    norm1: wgpu::BindGroup,
    /// q, k, v: one split dispatch, or three.
    qkv: Vec<Op>,
    wo: Op,
    norm2: wgpu::BindGroup,
    gate_up: Op,
    down: Op,
}

/// One layer's rope-and-store and attention bound to its KV caches (kv.rs makes them).
pub(super) struct KvBinds {
    pub rope: wgpu::BindGroup,
    pub attn: wgpu::BindGroup,
}

pub(super) struct Forward {
    pub b: Buffers,
    pub rope: Rope,
    pub attention: Attention,
    pub chain: SamplerChain,
    pub chain_b: ChainBinding,
    layers: Vec<Layer>,
    embed: (Embed, wgpu::BindGroup),
    norm: RmsNorm,
    final_norm: wgpu::BindGroup,
    logits: Op,
    pub weight_bytes: u64,
    _weights: Weights,
}

impl Forward {
    pub fn build(kern: &Kernels, cfg: &LlamaConfig, g: &Gguf, n_ctx: u32, max_rows: u32, kv_f16: bool) -> Result<Self> {
        let gpu = &kern.gpu;
        let w = upload(gpu, g, cfg)?;
        let (d, kv, ff, v, m) =
            (cfg.n_embd as u64, cfg.kv_dim() as u64, cfg.n_ff as u64, cfg.vocab as u64, max_rows as u64);
        let attention = Attention::new(kern, cfg.heads(), kv_f16, n_ctx)?;
        let rope: Vec<f32> = rope_table(n_ctx, cfg.n_rot, cfg.rope_base).into_iter().flatten().collect();
        let b = Buffers {
            rows_all: gpu.uniform_init("rows_all", bytemuck::bytes_of(&Rows::default())),
            rows_out: gpu.uniform_init("rows_out", bytemuck::bytes_of(&Rows::default())),
            tokens: gpu.storage("tokens", 4 * m)?,
            info: gpu.storage("row_info", 16 * m)?,
            x: gpu.storage("x", 4 * m * d)?,
            xn: gpu.storage("xn", 4 * m * d)?,
            q: gpu.storage("q", 4 * m * d)?,
            k: gpu.storage("k", 4 * m * kv)?,
            v: gpu.storage("v", 4 * m * kv)?,
            att: gpu.storage("att", 4 * m * d)?,
            hb: gpu.storage("hb", 4 * m * ff)?,
            scores: gpu.storage("attention_scores", attention.scratch_bytes(max_rows))?,
            logits: gpu.storage("logits", 4 * m * v)?,
            rope: gpu.storage_init("rope_table", bytemuck::cast_slice(&rope))?,
        };
        let norm = RmsNorm::new(kern, cfg.n_embd, cfg.eps)?;
        let (cd, ckv, cff) = (cfg.n_embd, cfg.kv_dim(), cfg.n_ff);
        // y (+)= W·x over `rows`; `acc` adds to y (the residual), `glu` is silu(gate) ⊙ up.
        let mm = |w: &Matrix, k: u32, n: u32, acc: bool, glu: bool, x: &wgpu::Buffer, y: &wgpu::Buffer| -> Result<Op> {
            let op = Matmul::new(kern, w.fmt, k, n, acc, glu)?;
            let bg = op.bind(kern, &b.rows_all, &w.buf, w.quants(), x, y)?;
            Ok((op, bg))
        };
        let mut layers = Vec::with_capacity(w.layers.len());
        for lw in &w.layers {
            let qkv = match &lw.qkv {
                Qkv::Stacked(wqkv) => {
                    let epi = Epilogue { split: Some([cd, ckv]), ..Default::default() };
                    let op = Matmul::with(kern, wqkv.fmt, cd, cd + 2 * ckv, epi)?;
                    let bg = op.bind_split(kern, &b.rows_all, &wqkv.buf, wqkv.quants(), &b.xn, [&b.q, &b.k, &b.v])?;
                    vec![(op, bg)]
                }
                Qkv::Separate(w) => vec![
                    mm(&w[0], cd, cd, false, false, &b.xn, &b.q)?,
                    mm(&w[1], cd, ckv, false, false, &b.xn, &b.k)?,
                    mm(&w[2], cd, ckv, false, false, &b.xn, &b.v)?,
                ],
            };
            layers.push(Layer {
                norm1: norm.bind(kern, &b.rows_all, &b.x, &lw.attn_norm, &b.xn)?,
                qkv,
                wo: mm(&lw.wo, cd, cd, true, false, &b.att, &b.x)?,
                norm2: norm.bind(kern, &b.rows_all, &b.x, &lw.ffn_norm, &b.xn)?,
                gate_up: mm(&lw.gate_up, cd, cff, false, true, &b.xn, &b.hb)?,
                down: mm(&lw.down, cff, cd, true, false, &b.hb, &b.x)?,
            });
        }
        let embed = Embed::new(kern, w.embd.fmt, cfg.n_embd, cfg.vocab)?;
        let embed_bg = embed.bind(kern, &b.rows_all, &b.tokens, &w.embd.buf, w.embd.quants(), &b.x)?;
        let final_norm = norm.bind(kern, &b.rows_out, &b.x, &w.out_norm, &b.xn)?;
        let out = w.output.as_ref().unwrap_or(&w.embd);
        let logits_op = Matmul::new(kern, out.fmt, cd, cfg.vocab, false, false)?;
        let logits_bg = logits_op.bind(kern, &b.rows_out, &out.buf, out.quants(), &b.xn, &b.logits)?;
        let chain = SamplerChain::new(kern, cfg.vocab, max_rows.min(MAX_LANES))?;
        let chain_b = chain.bind(kern, &b.logits, &b.tokens)?;
        Ok(Forward {
            rope: Rope::new(kern, cfg.heads(), kv_f16)?,
            attention,
            chain,
            chain_b,
            layers,
            embed: (embed, embed_bg),
            norm,
            final_norm,
            logits: (logits_op, logits_bg),
            weight_bytes: w.bytes,
            _weights: w,
            b,
        })
    }

    /// Binds one layer's rope-and-store and attention to its caches `k_cache`, `v_cache`.
    pub fn bind_kv(&self, kern: &Kernels, k_cache: &wgpu::Buffer, v_cache: &wgpu::Buffer) -> Result<KvBinds> {
        let b = &self.b;
        Ok(KvBinds {
            rope: self.rope.bind(kern, [&b.rows_all, &b.info, &b.rope, &b.q, &b.k, &b.v, k_cache, v_cache])?,
            attn: self.attention.bind(kern, [&b.rows_all, &b.info, &b.q, k_cache, v_cache, &b.att, &b.scores])?,
        })
    }

    /// Records one forward pass over `m` rows at positions below `t_end`, with each layer's
    /// KV in `kv`. The last `n_out` rows (0: none, for early prompt chunks) get logits, and
    /// the sampler chain picks one token per output row (lane i samples row i).
    pub fn record<'a>(&self, r: &mut Recorder, kv: impl Iterator<Item = &'a KvBinds>, m: u32, t_end: u32, n_out: u32) {
        r.op("embed", |p| self.embed.0.record(p, &self.embed.1, m));
        for (l, kv) in self.layers.iter().zip(kv) {
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm1, m));
            r.op("matmul q,k,v", |p| l.qkv.iter().for_each(|(op, bg)| op.record(p, bg, m)));
            r.op("rope + kv store", |p| self.rope.record(p, &kv.rope, m));
            r.op("attention", |p| self.attention.record(p, &kv.attn, m, t_end));
            r.op("matmul o (+x)", |p| l.wo.0.record(p, &l.wo.1, m));
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm2, m));
            r.op("matmul gate·up", |p| l.gate_up.0.record(p, &l.gate_up.1, m));
            r.op("matmul down (+x)", |p| l.down.0.record(p, &l.down.1, m));
        }
        if n_out > 0 {
            r.op("rmsnorm", |p| self.norm.record(p, &self.final_norm, n_out));
            r.op("matmul logits", |p| self.logits.0.record(p, &self.logits.1, n_out));
            r.op("sampler chain", |p| self.chain.record(p, &self.chain_b));
        }
    }
}
