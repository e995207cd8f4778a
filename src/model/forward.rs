//! The forward pass, as a page to check against the Llama, Qwen and Gemma 3 papers top to
//! bottom (the steps only some families take are marked; model/config.rs says which model
//! has which):
//!
//! ```text
//! x = E[tokens] · s                       embedding lookup, s = √D (Gemma) or 1      [M, D]
//! for each layer:
//!     xn = rmsnorm(x) · g1
//!     q, k, v = Wq·xn, Wk·xn, Wv·xn                                      [M, H·hd], [M, KV] ×2
//!     q, k, v = q + bq, k + bk, v + bv                                   (Qwen2)
//!     q, k = rmsnorm_head(q) · gq, rmsnorm_head(k) · gk                  (Gemma, Qwen3)
//!     q, k = rope(q, pos), rope(k, pos); K, V cache ← k, v   (NEOX pairs: Gemma, Qwen;
//!                                        Llama 3: angles ÷ rope_freqs; SmolLM3: none in
//!                                        every fourth layer)
//!     att = softmax(q·Kᵀ · scale) · V   (causal, grouped-query; Gemma's local layers
//!                                        see only the last `window` positions)     [M, H·hd]
//!     x += Wo·att                       Gemma: x += rmsnorm(Wo·att) · g_post
//!     xn = rmsnorm(x) · g2
//!     hb = act(Wg·xn) ⊙ (Wu·xn)         act = silu, Gemma: gelu (tanh)                   [M, FF]
//!     x += Wd·hb                        Gemma: x += rmsnorm(Wd·hb) · g_post
//! xn = rmsnorm(x[last n_out rows]) · g
//! logits = Wout·xn  (or E·xn when tied)                                      [n_out, V]
//! tokens = sample(logits)   the sampler chain, one lane per output row        [n_out]
//! ```
//!
//! With int8 activations (`Gpu::int8`, the Q4 and Q8 matmuls) each such matmul's input is
//! first quantized to int8 blocks (kernels/quantize.rs) in `xq`.
//!
//! `build` makes every buffer and bind group once at load time; `record` encodes the same
//! dispatches every step. Which rows run, where their KV lives and how picks are read back
//! is the decode machinery's business (model/mod.rs, kv.rs, readback.rs).

use super::config::Activation;
use super::weights::{Matrix, Qkv, Weights};
use super::ModelConfig;
use crate::error::Result;
use crate::gpu::profile::Recorder;
use crate::kernels::attention::{Attention, AttnSpec};
use crate::kernels::embed::Embed;
use crate::kernels::matmul::{Epilogue, Matmul};
use crate::kernels::quantize::Quantize;
use crate::kernels::rmsnorm::RmsNorm;
use crate::kernels::rope::{rope_table, Rope, RopeStyle};
use crate::kernels::{Kernels, Rows};
use crate::sampling::gpu::{ChainBinding, SamplerChain, MAX_LANES};
use crate::sampling::{LaneParams, SamplerConfig};

/// Activations for up to M = `max_rows` rows. D = embedding, Q = heads × head dim, KV = kv
/// heads × head dim, FF = feed-forward width, V = vocabulary, L = sampler lanes (≤ M).
pub(super) struct Buffers {
    pub rows_all: wgpu::Buffer, // Rows { n: M, row0: 0 }
    pub rows_out: wgpu::Buffer, // Rows { n: rows wanting logits, row0: first of them }
    pub tokens: wgpu::Buffer,   // [M] u32: input ids; the sampler writes its picks here
    pub info: wgpu::Buffer,     // [M] RowInfo: each row's position and KV slots
    pub x: wgpu::Buffer,        // [M, D] residual stream
    pub xn: wgpu::Buffer,       // [M, D] normed
    pub q: wgpu::Buffer,        // [M, Q]
    pub k: wgpu::Buffer,        // [M, KV]
    pub v: wgpu::Buffer,        // [M, KV]
    pub att: wgpu::Buffer,      // [M, Q]
    pub hb: wgpu::Buffer,       // [M, FF]
    /// [M, max(D, Q, FF) / 32] int8 blocks: the input of the matmul that runs next, when it
    /// takes int8 activations (else 4 bytes, unused).
    pub xq: wgpu::Buffer,
    /// [M, D] a block's output before its post-norm (Gemma; else unused, 4 bytes).
    pub out: wgpu::Buffer,
    pub scores: wgpu::Buffer, // [M, H, n_ctx] attention scores
    pub logits: wgpu::Buffer, // [L, V]
    /// [n_ctx, n_rot / 2] (cos, sin) per RoPE base the layers use (None: no rotation).
    pub rope: Vec<(Option<f32>, wgpu::Buffer)>,
}

/// One matmul as it runs: with int8 activations first the quantization of its input, then
/// a dispatch per part of its weight matrix (one unless the matrix is larger than a storage
/// binding; see weights.rs).
#[derive(Default)]
struct Op {
    quantize: Option<(Quantize, wgpu::BindGroup)>,
    parts: Vec<(Matmul, wgpu::BindGroup)>,
}

impl Op {
    /// Several matmuls of the same input (q, k, v as three): one quantization serves all.
    fn join(ops: impl IntoIterator<Item = Op>) -> Op {
        ops.into_iter().fold(Op::default(), |mut all, op| {
            all.quantize = all.quantize.or(op.quantize);
            all.parts.extend(op.parts);
            all
        })
    }
}

fn record_op(r: &mut Recorder, label: &'static str, op: &Op, m: u32) {
    if let Some((q, bg)) = &op.quantize {
        r.op("quantize x (int8)", |p| q.record(p, bg, m));
    }
    r.op(label, |p| op.parts.iter().for_each(|(mm, bg)| mm.record(p, bg, m)));
}

/// One layer's launchers and bind groups, in the order they run.
struct Layer {
    norm1: wgpu::BindGroup,
    /// q, k, v: one split dispatch, or three.
    qkv: Op,
    wo: Op,
    /// Gemma: rmsnorm(Wo·att) added to x.
    post_attn: Option<wgpu::BindGroup>,
    norm2: wgpu::BindGroup,
    gate_up: Op,
    down: Op,
    post_ffn: Option<wgpu::BindGroup>,
    /// Indexes into `Forward::attention` and `Buffers::rope`: the layer's kind of attention
    /// (full or windowed) and its RoPE base.
    kind: usize,
    table: usize,
}

/// One layer's rope-and-store and attention bound to its KV caches (kv.rs makes them).
pub(super) struct KvBinds {
    pub rope: wgpu::BindGroup,
    pub attn: wgpu::BindGroup,
}

pub(super) struct Forward {
    pub b: Buffers,
    pub rope: Rope,
    /// Per kind of layer (full attention, sliding window).
    attention: Vec<Attention>,
    pub chain: SamplerChain,
    pub chain_b: ChainBinding,
    layers: Vec<Layer>,
    /// A dispatch per part of the embedding table.
    embed: Vec<(Embed, wgpu::BindGroup)>,
    norm: RmsNorm,
    post_norm: Option<RmsNorm>,
    final_norm: wgpu::BindGroup,
    logits: Op,
    pub weight_bytes: u64,
    weights: Weights,
}

impl Forward {
    /// Every pipeline, buffer and bind group of the pass over the weights `w` (uploaded, or
    /// the plan's stand-ins, which make the same pipelines: see `Model::load_with`).
    pub fn build(
        kern: &Kernels,
        cfg: &ModelConfig,
        w: Weights,
        n_ctx: u32,
        max_rows: u32,
        kv_f16: bool,
    ) -> Result<Self> {
        let gpu = &kern.gpu;
        let (d, q, kv, ff, v, m) = (
            cfg.n_embd as u64,
            cfg.q_dim() as u64,
            cfg.kv_dim() as u64,
            cfg.n_ff as u64,
            cfg.vocab as u64,
            max_rows as u64,
        );
        let lanes = max_rows.min(MAX_LANES);
        // One attention and RoPE table per kind of layer (Gemma: local and global).
        let mut kinds: Vec<AttnSpec> = Vec::new();
        let mut bases: Vec<Option<f32>> = Vec::new();
        let mut layer_kind = Vec::with_capacity(cfg.n_layer as usize);
        for il in 0..cfg.n_layer {
            let la = cfg.layer_attention(il);
            let spec = AttnSpec { scale: cfg.attn_scale, window: la.window };
            let kind = kinds.iter().position(|k| *k == spec).unwrap_or_else(|| {
                kinds.push(spec);
                kinds.len() - 1
            });
            if !bases.contains(&la.rope_base) {
                bases.push(la.rope_base);
            }
            layer_kind.push((kind, bases.iter().position(|b| *b == la.rope_base).unwrap_or(0)));
        }
        let attention: Vec<Attention> =
            kinds.iter().map(|&spec| Attention::new(kern, cfg.heads(), spec, kv_f16, n_ctx)).collect::<Result<_>>()?;
        let rope = bases
            .iter()
            .map(|&base| {
                let factors = cfg.rope_freqs.as_deref();
                // No RoPE: the identity rotation (cos 1, sin 0) through the same kernel.
                let table: Vec<f32> = match base {
                    Some(base) => rope_table(n_ctx, cfg.n_rot, base, factors).into_iter().flatten().collect(),
                    None => [1.0, 0.0].repeat((n_ctx * cfg.n_rot / 2) as usize),
                };
                Ok((base, gpu.storage_init("rope_table", bytemuck::cast_slice(&table))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let b = Buffers {
            rows_all: gpu.uniform_init("rows_all", bytemuck::bytes_of(&Rows::default())),
            rows_out: gpu.uniform_init("rows_out", bytemuck::bytes_of(&Rows::default())),
            tokens: gpu.storage("tokens", 4 * m)?,
            info: gpu.storage("row_info", 16 * m)?,
            x: gpu.storage("x", 4 * m * d)?,
            xn: gpu.storage("xn", 4 * m * d)?,
            q: gpu.storage("q", 4 * m * q)?,
            k: gpu.storage("k", 4 * m * kv)?,
            v: gpu.storage("v", 4 * m * kv)?,
            att: gpu.storage("att", 4 * m * q)?,
            hb: gpu.storage("hb", 4 * m * ff)?,
            xq: gpu.storage("xq", if gpu.int8 { Quantize::bytes(d.max(q).max(ff) as u32, max_rows) } else { 4 })?,
            out: gpu.storage("block_out", if cfg.post_norms { 4 * m * d } else { 4 })?,
            scores: gpu.storage("attention_scores", attention[0].scratch_bytes(max_rows))?,
            logits: gpu.storage("logits", 4 * lanes as u64 * v)?,
            rope,
        };
        let norm = RmsNorm::new(kern, cfg.n_embd, cfg.eps)?;
        let post_norm = if cfg.post_norms { Some(RmsNorm::adding(kern, cfg.n_embd, cfg.eps)?) } else { None };
        let (cd, cq, ckv, cff) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), cfg.n_ff);
        let gelu = cfg.act == Activation::GeluTanh;
        // y (+)= W·x over `rows`, a dispatch per part of W; `acc` adds to y (the residual),
        // `glu` is act(gate) ⊙ up. With int8 activations x is quantized into xq first.
        let mm = |w: &Matrix,
                  k: u32,
                  n: u32,
                  acc: bool,
                  glu: bool,
                  rows: &wgpu::Buffer,
                  x: &wgpu::Buffer,
                  y: &wgpu::Buffer| {
            let parts = w
                .parts
                .iter()
                .map(|p| {
                    let columns = (w.parts.len() > 1).then_some((n, p.rows.start));
                    let np = if glu { n } else { p.rows.end - p.rows.start };
                    let epi = Epilogue { accumulate: acc, glu, gelu: glu && gelu, columns, split: None };
                    let op = Matmul::with(kern, w.fmt, k, np, epi)?;
                    let bg = op.bind(kern, rows, &p.buf, p.quants(), if op.int8() { &b.xq } else { x }, y)?;
                    Ok((op, bg))
                })
                .collect::<Result<Vec<_>>>()?;
            let quantize = match parts.iter().any(|(op, _)| op.int8()) {
                true => {
                    let q = Quantize::new(kern, k)?;
                    let bg = q.bind(kern, rows, x, &b.xq)?;
                    Some((q, bg))
                }
                false => None,
            };
            Ok::<Op, crate::Error>(Op { quantize, parts })
        };
        let ra = &b.rows_all;
        // Without post-norms a block's output adds straight into x.
        let (block_out, add) = if cfg.post_norms { (&b.out, false) } else { (&b.x, true) };
        let mut layers = Vec::with_capacity(w.layers.len());
        for (lw, &(kind, table)) in w.layers.iter().zip(&layer_kind) {
            let qkv = match &lw.qkv {
                Qkv::Stacked(wqkv) => {
                    let part = wqkv.whole()?;
                    let epi = Epilogue { split: Some([cq, ckv]), ..Default::default() };
                    let op = Matmul::with(kern, wqkv.fmt, cd, cq + 2 * ckv, epi)?;
                    let x = if op.int8() { &b.xq } else { &b.xn };
                    let bg = op.bind_split(kern, ra, &part.buf, part.quants(), x, [&b.q, &b.k, &b.v])?;
                    let quantize = match op.int8() {
                        true => {
                            let q = Quantize::new(kern, cd)?;
                            let qbg = q.bind(kern, ra, &b.xn, &b.xq)?;
                            Some((q, qbg))
                        }
                        false => None,
                    };
                    Op { quantize, parts: vec![(op, bg)] }
                }
                Qkv::Separate(w) => Op::join([
                    mm(&w[0], cd, cq, false, false, ra, &b.xn, &b.q)?,
                    mm(&w[1], cd, ckv, false, false, ra, &b.xn, &b.k)?,
                    mm(&w[2], cd, ckv, false, false, ra, &b.xn, &b.v)?,
                ]),
            };
            let post = |g: &Option<wgpu::Buffer>| match (&post_norm, g) {
                (Some(pn), Some(g)) => pn.bind(kern, ra, &b.out, g, &b.x).map(Some),
                _ => Ok(None),
            };
            layers.push(Layer {
                norm1: norm.bind(kern, ra, &b.x, &lw.attn_norm, &b.xn)?,
                qkv,
                wo: mm(&lw.wo, cq, cd, add, false, ra, &b.att, block_out)?,
                post_attn: post(&lw.post_attn_norm)?,
                norm2: norm.bind(kern, ra, &b.x, &lw.ffn_norm, &b.xn)?,
                gate_up: mm(&lw.gate_up, cd, cff, false, true, ra, &b.xn, &b.hb)?,
                down: mm(&lw.down, cff, cd, add, false, ra, &b.hb, block_out)?,
                post_ffn: post(&lw.post_ffn_norm)?,
                kind,
                table,
            });
        }
        let embed = w
            .embd
            .parts
            .iter()
            .map(|p| {
                let e = Embed::part(kern, w.embd.fmt, cd, cfg.vocab, cfg.embd_scale, p.rows.clone())?;
                let bg = e.bind(kern, ra, &b.tokens, &p.buf, p.quants(), &b.x)?;
                Ok((e, bg))
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = norm.bind(kern, &b.rows_out, &b.x, &w.out_norm, &b.xn)?;
        let out = w.output.as_ref().unwrap_or(&w.embd);
        let logits = mm(out, cd, cfg.vocab, false, false, &b.rows_out, &b.xn, &b.logits)?;
        let chain = SamplerChain::new(kern, cfg.vocab, lanes)?;
        let chain_b = chain.bind(kern, &b.logits, &b.tokens)?;
        let style = RopeStyle { neox: cfg.rope_neox, qk_norm: cfg.qk_norm.then_some(cfg.eps), bias: cfg.qkv_bias };
        Ok(Forward {
            rope: Rope::new(kern, cfg.heads(), style, kv_f16)?,
            attention,
            chain,
            chain_b,
            layers,
            embed,
            norm,
            post_norm,
            final_norm,
            logits,
            weight_bytes: w.bytes,
            weights: w,
            b,
        })
    }

    /// Binds layer `il`'s rope-and-store and attention to its caches `k_cache`, `v_cache`.
    pub fn bind_kv(
        &self,
        kern: &Kernels,
        il: usize,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
    ) -> Result<KvBinds> {
        let b = &self.b;
        let layer = &self.layers[il];
        let attention = &self.attention[layer.kind];
        let rope_table = &b.rope[layer.table].1;
        let params = self.weights.layers[il].rope_params.as_ref();
        Ok(KvBinds {
            rope: self.rope.bind(
                kern,
                [&b.rows_all, &b.info, rope_table, &b.q, &b.k, &b.v, k_cache, v_cache],
                params,
            )?,
            attn: attention.bind(kern, [&b.rows_all, &b.info, &b.q, k_cache, v_cache, &b.att, &b.scores])?,
        })
    }

    /// Makes the pipelines a first token needs, and no others: a prompt of several rows, its
    /// last row's logits, then a decode step of one row, picked by a greedy lane (the lane
    /// `Model::load_with` sets). It records those steps into an encoder that is never
    /// submitted, so the rule for which pipeline a step uses stays in the launchers' `record`.
    /// The rest (B > 1 logits, the other sampler stages, the inspector's masks) are made by
    /// the step that first records them. On the stand-in weights the pass makes the same
    /// pipelines; its KV caches here are one slot of `slot_bytes` per layer, as nothing runs.
    pub fn make_first_token_pipelines(&mut self, kern: &Kernels, slot_bytes: u64) -> Result<()> {
        let gpu = &kern.gpu;
        let slot = slot_bytes;
        let kv = (0..self.layers.len())
            .map(|il| self.bind_kv(kern, il, &gpu.storage("k_cache", slot)?, &gpu.storage("v_cache", slot)?))
            .collect::<Result<Vec<_>>>()?;
        self.chain_b.set_params(gpu, &[LaneParams::new(&SamplerConfig::greedy(), 0)?])?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let mut rec = Recorder::new(&mut enc);
        self.record(&mut rec, kv.iter(), 2, 2, 1);
        self.record(&mut rec, kv.iter(), 1, 3, 1);
        rec.finish();
        Ok(())
    }

    /// Records one forward pass over `m` rows at positions below `t_end`, with each layer's
    /// KV in `kv`. The last `n_out` rows (0: none, for early prompt chunks) get logits, and
    /// the sampler chain picks one token per output row (lane i samples row i).
    pub fn record<'a>(&self, r: &mut Recorder, kv: impl Iterator<Item = &'a KvBinds>, m: u32, t_end: u32, n_out: u32) {
        r.op("embed", |p| self.embed.iter().for_each(|(e, bg)| e.record(p, bg, m)));
        for (l, kv) in self.layers.iter().zip(kv) {
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm1, m));
            record_op(r, "matmul q,k,v", &l.qkv, m);
            r.op("rope + kv store", |p| self.rope.record(p, &kv.rope, m));
            r.op("attention", |p| self.attention[l.kind].record(p, &kv.attn, m, t_end));
            record_op(r, "matmul o (+x)", &l.wo, m);
            if let (Some(pn), Some(bg)) = (&self.post_norm, &l.post_attn) {
                r.op("rmsnorm (+x)", |p| pn.record(p, bg, m));
            }
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm2, m));
            record_op(r, "matmul gate·up", &l.gate_up, m);
            record_op(r, "matmul down (+x)", &l.down, m);
            if let (Some(pn), Some(bg)) = (&self.post_norm, &l.post_ffn) {
                r.op("rmsnorm (+x)", |p| pn.record(p, bg, m));
            }
        }
        if n_out > 0 {
            r.op("rmsnorm", |p| self.norm.record(p, &self.final_norm, n_out));
            record_op(r, "matmul logits", &self.logits, n_out);
            r.op("sampler chain", |p| self.chain.record(p, &self.chain_b));
        }
    }
}
