//! The forward pass: embed → N × (attention block, MLP block) → norm → logits → argmax.
//! Buffers and bind groups are made at load time; a step writes two small uniforms and the
//! row infos, records the same dispatches, and reads back only the picked token ids.
//!
//! Rows are either one sequence (a prompt chunk, or one decode row) or lanes: B rows that
//! share the prompt's KV (slots = positions) and each own a region of the KV cache for
//! their continuation (see RowInfo). The KV caches grow on demand to fit the lanes.

use super::weights::{upload, Matrix, Qkv, Weights};
use super::{LlamaConfig, LoadOptions};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::gpu::profile::{KernelTimes, Recorder, Timer};
use crate::gpu::Gpu;
use crate::kernels::argmax::Argmax;
use crate::kernels::attention::Attention;
use crate::kernels::embed::Embed;
use crate::kernels::matmul::{Epilogue, Matmul};
use crate::kernels::rmsnorm::RmsNorm;
use crate::kernels::rope::{rope_table, Rope};
use crate::kernels::{Kernels, RowInfo, Rows};
use crate::sampling::gpu::{ChainBinding, LaneParams, LaneRecord, SamplerChain, MAX_LANES};
use crate::sampling::inspect::Inspection;

/// Activations, sized for `max_rows` rows (M) and `max_rows` output rows.
struct Buffers {
    rows_all: wgpu::Buffer, // Rows { n: M, row0: 0 }
    rows_out: wgpu::Buffer, // Rows { n: rows wanting logits, row0: first of them }
    tokens: wgpu::Buffer,   // [M] u32: input ids; argmax writes the picked ids here
    info: wgpu::Buffer,     // [M] RowInfo
    x: wgpu::Buffer,        // [M, D] residual stream
    xn: wgpu::Buffer,       // [M, D] normed
    q: wgpu::Buffer,        // [M, D]
    k: wgpu::Buffer,        // [M, KV]
    v: wgpu::Buffer,        // [M, KV]
    att: wgpu::Buffer,      // [M, D]
    hb: wgpu::Buffer,       // [M, FF]
    logits: wgpu::Buffer,   // [M, V]
    staging: wgpu::Buffer,  // [M] × 64 bytes, MAP_READ: picked ids, or the sampler's records
}

/// One layer's launchers and bind groups, in the order they run.
struct Layer {
    norm1: wgpu::BindGroup,
    /// q, k, v = Wq·xn, Wk·xn, Wv·xn: one split dispatch, or three.
    qkv: Vec<(Matmul, wgpu::BindGroup)>,
    wo: (Matmul, wgpu::BindGroup),
    norm2: wgpu::BindGroup,
    gate_up: (Matmul, wgpu::BindGroup),
    down: (Matmul, wgpu::BindGroup),
}

/// One layer's KV caches [slots, KV] and the bind groups that use them (remade on growth).
struct KvLayer {
    rope: wgpu::BindGroup,
    attn: wgpu::BindGroup,
    _caches: (wgpu::Buffer, wgpu::Buffer),
}

pub struct Model {
    pub cfg: LlamaConfig,
    pub kern: Kernels,
    pub n_ctx: u32,
    pub max_rows: u32,
    pub weight_bytes: u64,
    pub kv_f16: bool,
    kv_budget: u64,
    /// KV slots per layer now allocated (≥ n_ctx).
    kv_slots: u32,
    b: Buffers,
    table: wgpu::Buffer,
    layers: Vec<Layer>,
    kv: Vec<KvLayer>,
    /// Lanes: the shared prompt length and the KV slots each lane owns.
    lane_prefix: u32,
    lane_stride: u32,
    embed: (Embed, wgpu::BindGroup),
    norm: RmsNorm,
    rope: Rope,
    attention: Attention,
    final_norm: wgpu::BindGroup,
    logits: (Matmul, wgpu::BindGroup),
    argmax: (Argmax, wgpu::BindGroup),
    /// The sampler chain over the same logits and tokens; used instead of the argmax
    /// while `sampling` (set_samplers), one lane per output row.
    chain: SamplerChain,
    chain_b: ChainBinding,
    sampling: bool,
    /// The sampler's records of the last step (empty on the argmax path).
    pub last_records: Vec<LaneRecord>,
    _weights: Weights,
}

impl Model {
    pub async fn load(gpu: Gpu, g: &Gguf<'_>, opts: &LoadOptions) -> Result<Model> {
        let cfg = LlamaConfig::from_gguf(g)?;
        if opts.n_ctx == 0 || opts.max_rows == 0 {
            return Err(Error::Param("n_ctx and max_rows must be positive".into()));
        }
        let n_ctx = opts.n_ctx.min(cfg.n_ctx_train);
        let max_rows = opts.max_rows.min(n_ctx);
        // Shader compilation and buffer creation report errors through the error scope.
        let mut model =
            gpu.checked("loading the model", || Self::build(Kernels::new(gpu.clone()), cfg, g, n_ctx, max_rows, opts)).await??;
        model.kv_budget = opts.kv_budget;
        model.ensure_kv_slots(n_ctx).await?;
        Ok(model)
    }

    fn build(kern: Kernels, cfg: LlamaConfig, g: &Gguf, n_ctx: u32, max_rows: u32, opts: &LoadOptions) -> Result<Model> {
        let gpu = kern.gpu.clone();
        let w = upload(&gpu, g, &cfg)?;
        let (d, kv, ff, v, m) = (cfg.n_embd as u64, cfg.kv_dim() as u64, cfg.n_ff as u64, cfg.vocab as u64, max_rows as u64);
        let f = 4u64;
        let b = Buffers {
            rows_all: gpu.uniform_init("rows_all", bytemuck::bytes_of(&Rows::default())),
            rows_out: gpu.uniform_init("rows_out", bytemuck::bytes_of(&Rows::default())),
            tokens: gpu.storage("tokens", 4 * m)?,
            info: gpu.storage("row_info", 16 * m)?,
            x: gpu.storage("x", f * m * d)?,
            xn: gpu.storage("xn", f * m * d)?,
            q: gpu.storage("q", f * m * d)?,
            k: gpu.storage("k", f * m * kv)?,
            v: gpu.storage("v", f * m * kv)?,
            att: gpu.storage("att", f * m * d)?,
            hb: gpu.storage("hb", f * m * ff)?,
            logits: gpu.storage("logits", f * m * v)?,
            staging: gpu.readback_buffer("staging", 64 * m),
        };
        let table: Vec<f32> = rope_table(n_ctx, cfg.n_rot, cfg.rope_base).into_iter().flatten().collect();
        let table = gpu.storage_init("rope_table", bytemuck::cast_slice(&table))?;
        let norm = RmsNorm::new(&kern, cfg.n_embd, cfg.eps)?;
        let rope = Rope::new(&kern, cfg.heads(), opts.kv_f16)?;
        let attention = Attention::new(&kern, cfg.heads(), opts.kv_f16)?;
        let mm = |mat: &Matrix, k: u32, n: u32, acc: bool, glu: bool, x: &wgpu::Buffer, y: &wgpu::Buffer, rows: &wgpu::Buffer| -> Result<(Matmul, wgpu::BindGroup)> {
            let op = Matmul::new(&kern, mat.fmt, k, n, acc, glu)?;
            let bg = op.bind(&kern, rows, &mat.buf, x, y)?;
            Ok((op, bg))
        };
        let (cd, ckv, cff) = (cfg.n_embd, cfg.kv_dim(), cfg.n_ff);
        let mut layers = Vec::with_capacity(w.layers.len());
        for lw in &w.layers {
            layers.push(Layer {
                norm1: norm.bind(&kern, &b.rows_all, &b.x, &lw.attn_norm, &b.xn)?,
                qkv: match &lw.qkv {
                    Qkv::Stacked(mat) => {
                        let epi = Epilogue { split: Some([cd, ckv]), ..Default::default() };
                        let op = Matmul::with(&kern, mat.fmt, cd, cd + 2 * ckv, epi)?;
                        let bg = op.bind_split(&kern, &b.rows_all, &mat.buf, &b.xn, [&b.q, &b.k, &b.v])?;
                        vec![(op, bg)]
                    }
                    Qkv::Separate([wq, wk, wv]) => vec![
                        mm(wq, cd, cd, false, false, &b.xn, &b.q, &b.rows_all)?,
                        mm(wk, cd, ckv, false, false, &b.xn, &b.k, &b.rows_all)?,
                        mm(wv, cd, ckv, false, false, &b.xn, &b.v, &b.rows_all)?,
                    ],
                },
                wo: mm(&lw.wo, cd, cd, true, false, &b.att, &b.x, &b.rows_all)?,
                norm2: norm.bind(&kern, &b.rows_all, &b.x, &lw.ffn_norm, &b.xn)?,
                gate_up: mm(&lw.gate_up, cd, cff, false, true, &b.xn, &b.hb, &b.rows_all)?,
                down: mm(&lw.down, cff, cd, true, false, &b.hb, &b.x, &b.rows_all)?,
            });
        }
        let embed_op = Embed::new(&kern, w.embd.fmt, cfg.n_embd, cfg.vocab)?;
        let embed_bg = embed_op.bind(&kern, &b.rows_all, &b.tokens, &w.embd.buf, &b.x)?;
        let final_norm = norm.bind(&kern, &b.rows_out, &b.x, &w.out_norm, &b.xn)?;
        let out_mat = w.output.as_ref().unwrap_or(&w.embd);
        let logits = mm(out_mat, cd, cfg.vocab, false, false, &b.xn, &b.logits, &b.rows_out)?;
        let am = Argmax::new(&kern, cfg.vocab)?;
        let scratch = gpu.storage("argmax_scratch", am.scratch_bytes(max_rows))?;
        let am_bg = am.bind(&kern, &b.rows_out, &b.logits, &scratch, &b.tokens)?;
        let chain = SamplerChain::new(&kern, cfg.vocab, max_rows.min(MAX_LANES))?;
        let chain_b = chain.bind(&kern, &b.logits, &b.tokens)?;
        Ok(Model {
            chain,
            chain_b,
            sampling: false,
            last_records: Vec::new(),
            weight_bytes: w.bytes,
            kv_f16: opts.kv_f16,
            kv_budget: opts.kv_budget,
            kv_slots: 0,
            table,
            kv: Vec::new(),
            lane_prefix: 0,
            lane_stride: 0,
            cfg,
            kern,
            n_ctx,
            max_rows,
            b,
            layers,
            embed: (embed_op, embed_bg),
            norm,
            rope,
            attention,
            final_norm,
            logits,
            argmax: (am, am_bg),
            _weights: w,
        })
    }

    /// Records one forward pass over `m` rows whose logits are wanted for the last `n_out`
    /// rows (0: none, for early prefill chunks), then the greedy pick into `tokens`.
    fn record(&self, r: &mut Recorder, m: u32, n_out: u32) {
        r.op("embed", |p| self.embed.0.record(p, &self.embed.1, m)); //             x = E[tokens]
        for (l, kv) in self.layers.iter().zip(&self.kv) {
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm1, m)); //              xn = norm(x)
            r.op("matmul q,k,v", |p| {
                for (op, bg) in &l.qkv {
                    op.record(p, bg, m); //                                          q, k, v = Wq·xn, Wk·xn, Wv·xn
                }
            });
            r.op("rope + kv store", |p| self.rope.record(p, &kv.rope, m)); //      rope(q, k); cache ← k, v
            r.op("attention", |p| self.attention.record(p, &kv.attn, m)); //       att = softmax(q·K)·V
            r.op("matmul o (+x)", |p| l.wo.0.record(p, &l.wo.1, m)); //            x += Wo·att
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm2, m)); //              xn = norm(x)
            r.op("matmul gate·up", |p| l.gate_up.0.record(p, &l.gate_up.1, m)); // hb = silu(Wg·xn) ⊙ (Wu·xn)
            r.op("matmul down (+x)", |p| l.down.0.record(p, &l.down.1, m)); //     x += Wd·hb
        }
        if n_out > 0 {
            r.op("rmsnorm", |p| self.norm.record(p, &self.final_norm, n_out)); //   xn = norm(x[last n_out rows])
            r.op("matmul logits", |p| self.logits.0.record(p, &self.logits.1, n_out)); // logits = E·xn
            if self.sampling {
                r.op("sampler chain", |p| self.chain.record(p, &self.chain_b)); //   tokens = sample(logits)
            } else {
                r.op("argmax", |p| self.argmax.0.record(p, &self.argmax.1, n_out)); // tokens = argmax(logits)
            }
        }
    }

    /// Writes the per-call inputs: row infos, optional ids, and the two row uniforms.
    fn prepare(&self, rows: &[RowInfo], ids: Option<&[u32]>, n_out: u32) -> Result<u32> {
        let m = rows.len() as u32;
        if m == 0 || m > self.max_rows || n_out > m {
            return Err(Error::Param(format!("{m} rows (max {}), {n_out} outputs", self.max_rows)));
        }
        for r in rows {
            if r.pos >= self.n_ctx {
                return Err(Error::Context(format!("position {} is past the context of {} tokens", r.pos, self.n_ctx)));
            }
            if r.slot(r.pos) >= self.kv_slots {
                return Err(Error::Param(format!("KV slot {} is past the {} allocated", r.slot(r.pos), self.kv_slots)));
            }
        }
        let q = &self.kern.gpu.queue;
        if let Some(ids) = ids {
            if let Some(&bad) = ids.iter().find(|&&t| t >= self.cfg.vocab) {
                return Err(Error::Param(format!("token id {bad} is outside the vocabulary of {}", self.cfg.vocab)));
            }
            q.write_buffer(&self.b.tokens, 0, bytemuck::cast_slice(ids));
        }
        q.write_buffer(&self.b.info, 0, bytemuck::cast_slice(rows));
        q.write_buffer(&self.b.rows_all, 0, bytemuck::bytes_of(&Rows::new(m, 0)));
        q.write_buffer(&self.b.rows_out, 0, bytemuck::bytes_of(&Rows::new(n_out, m - n_out)));
        Ok(m)
    }

    /// GPU time per kernel family for one greedy decode step of `n_lanes` rows at position
    /// `pos` (each dispatch in its own timed pass). Needs timestamp queries.
    pub async fn profile_step(&self, n_lanes: u32, pos: u32) -> Result<KernelTimes> {
        let rows: Vec<RowInfo> = (0..n_lanes).map(|_| RowInfo::solo(pos)).collect();
        let m = self.prepare(&rows, Some(&vec![0; n_lanes as usize]), n_lanes)?;
        let gpu = &self.kern.gpu;
        let timer = Timer::new(gpu, 16 + 12 * self.cfg.n_layer)?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let mut rec = Recorder::timed(&mut enc, &timer.queries);
        self.record(&mut rec, m, n_lanes);
        let labels = rec.finish();
        timer.read(gpu, enc, &labels).await
    }

    /// Bytes of KV cache per slot, all layers together.
    pub fn kv_bytes_per_slot(&self) -> u64 {
        let per_value = if self.kv_f16 { 2 } else { 4 };
        2 * per_value * self.cfg.kv_dim() as u64 * self.cfg.n_layer as u64
    }

    pub fn kv_bytes(&self) -> u64 {
        self.kv_slots as u64 * self.kv_bytes_per_slot()
    }

    /// The most KV slots the adapter's binding limit and the KV budget allow.
    pub fn max_kv_slots(&self) -> u64 {
        let per_layer_slot = self.kv_bytes_per_slot() / 2 / self.cfg.n_layer as u64;
        (self.kern.gpu.facts.max_storage_binding / per_layer_slot).min(self.kv_budget / self.kv_bytes_per_slot())
    }

    /// KV cache bytes one lane owns for `lane_tokens` tokens of its own (the prompt's KV is
    /// shared and counted once, in the n_ctx slots).
    pub fn lane_kv_bytes(&self, lane_tokens: u32) -> u64 {
        (lane_tokens as u64 + 1) * self.kv_bytes_per_slot()
    }

    /// The most lanes that can each generate `lane_tokens` tokens after a shared prompt.
    pub fn lane_capacity(&self, lane_tokens: u32) -> u32 {
        let free = self.max_kv_slots().saturating_sub(self.n_ctx as u64);
        let by_kv = free / (lane_tokens as u64 + 1).max(1);
        by_kv.min(self.max_rows as u64) as u32
    }

    /// Grows every layer's KV caches to `slots` (contents are lost: call before a prefill).
    async fn ensure_kv_slots(&mut self, slots: u32) -> Result<()> {
        if slots <= self.kv_slots {
            return Ok(());
        }
        if slots as u64 > self.max_kv_slots() {
            return Err(Error::Param(format!(
                "{slots} KV slots do not fit: the adapter's binding limit and the KV budget allow {}",
                self.max_kv_slots()
            )));
        }
        let gpu = self.kern.gpu.clone();
        let bytes = slots as u64 * self.kv_bytes_per_slot() / 2 / self.cfg.n_layer as u64;
        self.kv.clear();
        let kv = gpu
            .checked("allocating the KV cache", || -> Result<Vec<KvLayer>> {
                let b = &self.b;
                (0..self.cfg.n_layer)
                    .map(|_| {
                        let (kc, vc) = (gpu.storage("k_cache", bytes)?, gpu.storage("v_cache", bytes)?);
                        Ok(KvLayer {
                            rope: self.rope.bind(&self.kern, [&b.rows_all, &b.info, &self.table, &b.q, &b.k, &b.v, &kc, &vc])?,
                            attn: self.attention.bind(&self.kern, [&b.rows_all, &b.info, &b.q, &kc, &vc, &b.att])?,
                            _caches: (kc, vc),
                        })
                    })
                    .collect()
            })
            .await??;
        self.kv = kv;
        self.kv_slots = slots;
        Ok(())
    }

    /// Runs one forward over `rows` (their inputs: `ids`, or with None the ids the previous
    /// call picked on the GPU, row for row) and returns the greedy ids of the last `n_out`.
    async fn run(&mut self, rows: &[RowInfo], ids: Option<&[u32]>, n_out: u32) -> Result<Vec<u32>> {
        let m = self.prepare(rows, ids, n_out)?;
        if self.sampling && n_out != 0 && n_out as usize != self.chain_b.params().len() {
            return Err(Error::Param(format!("{n_out} output rows but {} sampler lanes", self.chain_b.params().len())));
        }
        let q = &self.kern.gpu.queue;
        let mut enc = self.kern.gpu.device.create_command_encoder(&Default::default());
        let mut rec = Recorder::new(&mut enc);
        self.record(&mut rec, m, n_out);
        rec.finish();
        if n_out == 0 {
            q.submit([enc.finish()]);
            return Ok(Vec::new());
        }
        if self.sampling {
            // 64 bytes per lane: the record holds the id and what the inspector shows.
            let len = 64 * n_out as u64;
            enc.copy_buffer_to_buffer(self.chain_b.records_buffer(), 0, &self.b.staging, 0, len);
            q.submit([enc.finish()]);
            let bytes = self.kern.gpu.read_mapped(&self.b.staging, len).await?;
            self.last_records = bytemuck::pod_collect_to_vec(&bytes);
            return Ok(self.last_records.iter().map(|r| r.token).collect());
        }
        enc.copy_buffer_to_buffer(&self.b.tokens, 0, &self.b.staging, 0, 4 * n_out as u64);
        q.submit([enc.finish()]);
        let bytes = self.kern.gpu.read_mapped(&self.b.staging, 4 * n_out as u64).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    fn check_prompt(&self, ids: &[u32], pos0: u32) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::Param("empty prompt".into()));
        }
        if pos0 as usize + ids.len() > self.n_ctx as usize {
            return Err(Error::Context(format!(
                "the prompt ends at position {} but the context holds {} tokens",
                pos0 as usize + ids.len(),
                self.n_ctx
            )));
        }
        Ok(())
    }

    /// Runs `ids` at positions pos0.. in chunks of `max_rows`, wanting the logits of the
    /// last row only if `want_last`.
    async fn prefill_rows(&mut self, ids: &[u32], pos0: u32, want_last: bool) -> Result<Option<u32>> {
        let step = self.max_rows as usize;
        let mut start = 0;
        while start < ids.len() {
            let chunk = &ids[start..(start + step).min(ids.len())];
            let last = start + chunk.len() == ids.len();
            let rows: Vec<RowInfo> = (0..chunk.len()).map(|i| RowInfo::solo(pos0 + (start + i) as u32)).collect();
            let out = self.run(&rows, Some(chunk), (last && want_last) as u32).await?;
            if let (true, Some(&id)) = (last, out.first()) {
                return Ok(Some(id));
            }
            start += chunk.len();
        }
        Ok(None)
    }

    /// Prefills `ids` at positions pos0.. (in chunks of `max_rows`) and returns the greedy
    /// next token, which also stays on the GPU as the input of the next `decode`.
    pub async fn prefill(&mut self, ids: &[u32], pos0: u32) -> Result<u32> {
        self.check_prompt(ids, pos0)?;
        self.prefill_rows(ids, pos0, true).await?.ok_or_else(|| Error::Gpu("prefill produced no token".into()))
    }

    /// One greedy decode step at `pos`, fed the token the previous step picked on the GPU.
    pub async fn decode(&mut self, pos: u32) -> Result<u32> {
        Ok(self.run(&[RowInfo::solo(pos)], None, 1).await?[0])
    }

    /// Starts `n_lanes` continuations of one prompt: the prompt but its last token is
    /// prefilled once into the shared KV; then every lane feeds the last prompt token as
    /// its own first row (so each lane gets the prompt's logits in its own row) and the
    /// lanes' first ids are returned. `lane_tokens` is how many tokens each lane may add.
    pub async fn start_lanes(&mut self, ids: &[u32], n_lanes: u32, lane_tokens: u32) -> Result<Vec<u32>> {
        self.check_prompt(ids, 0)?;
        let cap = self.lane_capacity(lane_tokens);
        if n_lanes == 0 || n_lanes > cap {
            return Err(Error::Param(format!(
                "{n_lanes} lanes of {lane_tokens} tokens: this adapter and KV budget fit 1 to {cap} (max rows {})",
                self.max_rows
            )));
        }
        if ids.len() + lane_tokens as usize > self.n_ctx as usize {
            return Err(Error::Context(format!(
                "{} prompt tokens + {lane_tokens} new tokens exceed the context of {}",
                ids.len(),
                self.n_ctx
            )));
        }
        let per_lane = lane_tokens + 1;
        self.ensure_kv_slots(self.n_ctx + n_lanes * per_lane).await?;
        let (prefix, last) = ids.split_at(ids.len() - 1);
        self.prefill_rows(prefix, 0, false).await?;
        self.lane_prefix = prefix.len() as u32;
        self.lane_stride = per_lane;
        let rows = self.lane_rows(n_lanes, 0);
        self.run(&rows, Some(&vec![last[0]; n_lanes as usize]), n_lanes).await
    }

    /// The row infos of `n_lanes` lanes at their `step`-th own token.
    fn lane_rows(&self, n_lanes: u32, step: u32) -> Vec<RowInfo> {
        (0..n_lanes).map(|b| RowInfo::lane(self.lane_prefix + step, self.lane_prefix, self.n_ctx + b * self.lane_stride)).collect()
    }

    /// One decode step of every lane (step ≥ 1 counts the lanes' own tokens), fed the ids
    /// the previous step picked on the GPU.
    pub async fn decode_lanes(&mut self, n_lanes: u32, step: u32) -> Result<Vec<u32>> {
        if step == 0 || step >= self.lane_stride {
            return Err(Error::Param(format!("lane step {step} outside 1..{}", self.lane_stride)));
        }
        let rows = self.lane_rows(n_lanes, step);
        self.run(&rows, None, n_lanes).await
    }

    /// From now on each output row i is picked by the sampler of `lanes[i]` (on the GPU,
    /// with its penalty window starting as the tail of `history`, and step 0) instead of
    /// the argmax. Call before `prefill`/`start_lanes`.
    pub fn set_samplers(&mut self, lanes: &[LaneParams], history: &[u32]) -> Result<()> {
        let gpu = self.kern.gpu.clone();
        self.chain_b.set_params(&gpu, lanes)?;
        for lane in 0..lanes.len() as u32 {
            self.chain_b.set_history(&gpu, lane, history, 0)?;
        }
        self.sampling = true;
        Ok(())
    }

    /// The inspector's view of every lane at the last step, with one mask pass and one
    /// readback of the lanes' logits rows.
    pub async fn inspect_all(&self, top: usize) -> Result<Vec<Inspection>> {
        if !self.sampling {
            return Err(Error::Param("inspect needs the sampler chain (set_samplers)".into()));
        }
        self.chain.inspect_all(&self.kern.gpu, &self.chain_b, top).await
    }

    /// Back to the plain greedy argmax.
    pub fn set_greedy(&mut self) {
        self.sampling = false;
        self.last_records.clear();
    }

    /// The inspector's view of `lane` at the last step (top candidates, thresholds,
    /// histogram): reads that lane's logits row, so call it before the next step.
    pub async fn inspect(&self, lane: u32, top: usize) -> Result<Inspection> {
        if !self.sampling {
            return Err(Error::Param("inspect needs the sampler chain (set_samplers)".into()));
        }
        self.chain.inspect(&self.kern.gpu, &self.chain_b, lane, top).await
    }

    /// The logits of the last forward call's output rows, [n_out, V] (tests, inspector).
    pub async fn read_logits(&self, n_out: u32) -> Result<Vec<f32>> {
        self.kern.gpu.read_f32(&self.b.logits, (n_out * self.cfg.vocab) as usize).await
    }
}
