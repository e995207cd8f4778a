//! The forward pass: embed → N × (attention block, MLP block) → norm → logits → argmax.
//! Buffers and bind groups are made at load time. A decode step allocates nothing on the
//! GPU and makes no bind group: it copies its row infos from a table made once (per load for
//! single sequences, per `start_lanes` for lanes), rewrites the two row uniforms only when
//! the row counts change, records the same dispatches into one command buffer, submits it,
//! and asks for the picked ids (or the sampler's records) to be read back.
//!
//! Readbacks go through two staging buffers, so a step can be submitted before the previous
//! one is read back (`submit_lanes` / `submit_decode`, then `collect`, oldest first): the GPU
//! runs step t+1 while the CPU streams step t's text. `prefill`, `decode`, `start_lanes` and
//! `decode_lanes` are the step-by-step forms (submit, then collect).
//!
//! Rows are either one sequence (a prompt chunk, or one decode row) or lanes: B rows that
//! share the prompt's KV (slots = positions) and each own a region of the KV cache for
//! their continuation (see RowInfo). The KV caches grow on demand to fit the lanes.

use super::weights::{upload, Matrix, Qkv, Weights};
use super::{LlamaConfig, LoadOptions};
use std::cell::Cell;
use std::collections::VecDeque;

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
    scores: wgpu::Buffer,   // [M, H, n_ctx] attention scores
    logits: wgpu::Buffer,   // [M, V]
    /// [M] × 64 bytes each, MAP_READ: picked ids, or the sampler's records. Two, so that
    /// step t+1's copy does not wait for (or clobber) step t's readback.
    staging: [wgpu::Buffer; STAGING],
    solo_info: wgpu::Buffer, // [n_ctx] RowInfo::solo(p): the row infos of single sequences
}

/// Steps that can be in flight (submitted, not yet collected) at once.
pub const STAGING: usize = 2;

/// A submitted step whose picks are on their way to a staging buffer.
struct InFlight {
    slot: usize,
    len: u64,
    /// The staging buffer holds `LaneRecord`s (else bare ids).
    records: bool,
    index: wgpu::SubmissionIndex,
    mapped: futures_channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

/// The rows of one forward call.
#[derive(Clone, Copy)]
enum RowSet<'a> {
    /// One sequence at positions pos0 .. pos0 + m (slot = position).
    Solo { pos0: u32, m: u32 },
    /// Lanes 0..n at their `step`-th own token (the table `start_lanes` wrote).
    Lanes { n: u32, step: u32 },
    /// Any rows, written with write_buffer (profiling; not the decode loop).
    Given(&'a [RowInfo]),
}

impl RowSet<'_> {
    fn len(&self) -> u32 {
        match *self {
            RowSet::Solo { m, .. } => m,
            RowSet::Lanes { n, .. } => n,
            RowSet::Given(rows) => rows.len() as u32,
        }
    }
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
    /// [lane_stride steps][lane_count lanes] RowInfo, written by `start_lanes` (grown only).
    lane_info: Option<wgpu::Buffer>,
    lane_count: u32,
    /// (m, n_out) the row uniforms now hold.
    rows_set: Cell<Option<(u32, u32)>>,
    /// Steps submitted and not collected, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Forward calls with outputs submitted since load (tests count speculative steps).
    steps_submitted: u64,
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
        let attention = Attention::new(&kern, cfg.heads(), opts.kv_f16, n_ctx)?;
        let b = Buffers {
            scores: gpu.storage("attention_scores", attention.scratch_bytes(max_rows))?,
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
            staging: [gpu.readback_buffer("staging0", 64 * m), gpu.readback_buffer("staging1", 64 * m)],
            solo_info: {
                let rows: Vec<RowInfo> = (0..n_ctx).map(RowInfo::solo).collect();
                gpu.storage_init("solo_row_info", bytemuck::cast_slice(&rows))?
            },
        };
        let table: Vec<f32> = rope_table(n_ctx, cfg.n_rot, cfg.rope_base).into_iter().flatten().collect();
        let table = gpu.storage_init("rope_table", bytemuck::cast_slice(&table))?;
        let norm = RmsNorm::new(&kern, cfg.n_embd, cfg.eps)?;
        let rope = Rope::new(&kern, cfg.heads(), opts.kv_f16)?;
        let mm = |mat: &Matrix, k: u32, n: u32, acc: bool, glu: bool, x: &wgpu::Buffer, y: &wgpu::Buffer, rows: &wgpu::Buffer| -> Result<(Matmul, wgpu::BindGroup)> {
            let op = Matmul::new(&kern, mat.fmt, k, n, acc, glu)?;
            let bg = op.bind(&kern, rows, &mat.buf, mat.quants(), x, y)?;
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
                        let bg = op.bind_split(&kern, &b.rows_all, &mat.buf, mat.quants(), &b.xn, [&b.q, &b.k, &b.v])?;
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
        let embed_bg = embed_op.bind(&kern, &b.rows_all, &b.tokens, &w.embd.buf, w.embd.quants(), &b.x)?;
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
            lane_info: None,
            lane_count: 0,
            rows_set: Cell::new(None),
            in_flight: VecDeque::new(),
            steps_submitted: 0,
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

    /// Records one forward pass over `m` rows at positions below `t_end` whose logits are
    /// wanted for the last `n_out` rows (0: none, for early prefill chunks), then the greedy
    /// pick into `tokens`.
    fn record(&self, r: &mut Recorder, m: u32, t_end: u32, n_out: u32) {
        r.op("embed", |p| self.embed.0.record(p, &self.embed.1, m)); //             x = E[tokens]
        for (l, kv) in self.layers.iter().zip(&self.kv) {
            r.op("rmsnorm", |p| self.norm.record(p, &l.norm1, m)); //              xn = norm(x)
            r.op("matmul q,k,v", |p| {
                for (op, bg) in &l.qkv {
                    op.record(p, bg, m); //                                          q, k, v = Wq·xn, Wk·xn, Wv·xn
                }
            });
            r.op("rope + kv store", |p| self.rope.record(p, &kv.rope, m)); //      rope(q, k); cache ← k, v
            r.op("attention", |p| self.attention.record(p, &kv.attn, m, t_end)); // att = softmax(q·K)·V
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

    /// Checks `rows` and stages the per-call inputs: the row infos (a copy recorded into
    /// `enc` from a table, so no write and no staging allocation per step), the ids if given,
    /// and the two row uniforms when they change. Returns the row count and 1 + the largest
    /// position.
    fn prepare(&self, enc: &mut wgpu::CommandEncoder, rows: RowSet, ids: Option<&[u32]>, n_out: u32) -> Result<(u32, u32)> {
        let m = rows.len();
        if m == 0 || m > self.max_rows || n_out > m {
            return Err(Error::Param(format!("{m} rows (max {}), {n_out} outputs", self.max_rows)));
        }
        let check = |r: RowInfo| -> Result<()> {
            if r.pos >= self.n_ctx {
                return Err(Error::Context(format!("position {} is past the context of {} tokens", r.pos, self.n_ctx)));
            }
            if r.slot(r.pos) >= self.kv_slots {
                return Err(Error::Param(format!("KV slot {} is past the {} allocated", r.slot(r.pos), self.kv_slots)));
            }
            Ok(())
        };
        let t_end = match rows {
            RowSet::Solo { pos0, m } => {
                (0..m).try_for_each(|i| check(RowInfo::solo(pos0.saturating_add(i))))?;
                pos0 + m
            }
            RowSet::Lanes { n, step } => {
                if step >= self.lane_stride || n > self.lane_count {
                    return Err(Error::Param(format!(
                        "lane step {step} of {n} lanes: start_lanes set up {} lanes of steps 0..{}",
                        self.lane_count, self.lane_stride
                    )));
                }
                (0..n).try_for_each(|b| check(self.lane_row(b, step)))?;
                self.lane_row(0, step).pos + 1 // every lane is at the same position
            }
            RowSet::Given(rows) => {
                rows.iter().try_for_each(|&r| check(r))?;
                rows.iter().map(|r| r.pos + 1).max().unwrap_or(0)
            }
        };
        let q = &self.kern.gpu.queue;
        if let Some(ids) = ids {
            if let Some(&bad) = ids.iter().find(|&&t| t >= self.cfg.vocab) {
                return Err(Error::Param(format!("token id {bad} is outside the vocabulary of {}", self.cfg.vocab)));
            }
            q.write_buffer(&self.b.tokens, 0, bytemuck::cast_slice(ids));
        }
        let info_bytes = 16 * m as u64;
        match rows {
            RowSet::Solo { pos0, .. } => enc.copy_buffer_to_buffer(&self.b.solo_info, 16 * pos0 as u64, &self.b.info, 0, info_bytes),
            RowSet::Lanes { step, .. } => {
                let table = self.lane_info.as_ref().expect("start_lanes wrote the lane table");
                enc.copy_buffer_to_buffer(table, 16 * (step * self.lane_count) as u64, &self.b.info, 0, info_bytes)
            }
            RowSet::Given(rows) => q.write_buffer(&self.b.info, 0, bytemuck::cast_slice(rows)),
        }
        if self.rows_set.get() != Some((m, n_out)) {
            q.write_buffer(&self.b.rows_all, 0, bytemuck::bytes_of(&Rows::new(m, 0)));
            q.write_buffer(&self.b.rows_out, 0, bytemuck::bytes_of(&Rows::new(n_out, m - n_out)));
            self.rows_set.set(Some((m, n_out)));
        }
        Ok((m, t_end))
    }

    /// GPU time per kernel family for one greedy decode step of `n_lanes` rows at position
    /// `pos` (each dispatch in its own timed pass). Needs timestamp queries.
    pub async fn profile_step(&self, n_lanes: u32, pos: u32) -> Result<KernelTimes> {
        let rows: Vec<RowInfo> = (0..n_lanes).map(|_| RowInfo::solo(pos)).collect();
        let gpu = &self.kern.gpu;
        let timer = Timer::new(gpu, 16 + 12 * self.cfg.n_layer)?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let (m, t_end) = self.prepare(&mut enc, RowSet::Given(&rows), Some(&vec![0; n_lanes as usize]), n_lanes)?;
        let mut rec = Recorder::timed(&mut enc, &timer.queries);
        self.record(&mut rec, m, t_end, n_lanes);
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
                            attn: self.attention.bind(&self.kern, [&b.rows_all, &b.info, &b.q, &kc, &vc, &b.att, &b.scores])?,
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

    /// Encodes and submits one forward over `rows` (their inputs: `ids`, or with None the ids
    /// the previous call picked on the GPU, row for row). With `n_out` > 0 it also copies the
    /// picks of the last `n_out` rows (or the sampler's records) to a free staging buffer and
    /// asks for it to be mapped: `collect` reads them. Nothing is allocated on the GPU here
    /// but the command buffer, which WebGPU makes single-use.
    fn submit(&mut self, rows: RowSet, ids: Option<&[u32]>, n_out: u32) -> Result<()> {
        if n_out > 0 && self.in_flight.len() >= STAGING {
            return Err(Error::Param(format!("{STAGING} steps are already in flight: collect one first")));
        }
        if self.sampling && n_out != 0 && n_out as usize != self.chain_b.params().len() {
            return Err(Error::Param(format!("{n_out} output rows but {} sampler lanes", self.chain_b.params().len())));
        }
        let gpu = self.kern.gpu.clone();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let (m, t_end) = self.prepare(&mut enc, rows, ids, n_out)?;
        let mut rec = Recorder::new(&mut enc);
        self.record(&mut rec, m, t_end, n_out);
        rec.finish();
        if n_out == 0 {
            gpu.queue.submit([enc.finish()]);
            return Ok(());
        }
        let slot = (0..STAGING).find(|&s| self.in_flight.iter().all(|f| f.slot != s)).expect("a staging buffer is free");
        // 64 bytes per lane: the record holds the id and what the inspector shows.
        let (src, len) =
            if self.sampling { (self.chain_b.records_buffer(), 64 * n_out as u64) } else { (&self.b.tokens, 4 * n_out as u64) };
        let staging = &self.b.staging[slot];
        enc.copy_buffer_to_buffer(src, 0, staging, 0, len);
        let index = gpu.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..len).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.in_flight.push_back(InFlight { slot, len, records: self.sampling, index, mapped: rx });
        self.steps_submitted += 1;
        Ok(())
    }

    /// Waits for the oldest step in flight (only for it: natively the device is polled up to
    /// its submission, so a step submitted after it keeps running) and returns its picks; on
    /// the sampler path its records become `last_records`.
    pub async fn collect(&mut self) -> Result<Vec<u32>> {
        let f = self.in_flight.pop_front().ok_or_else(|| Error::Param("collect: no step in flight".into()))?;
        self.kern.gpu.wait_for(f.index)?;
        match f.mapped.await {
            Err(_) => return Err(Error::Gpu("readback was dropped (device lost?)".into())),
            Ok(Err(e)) => return Err(Error::Gpu(format!("readback failed: {e}"))),
            Ok(Ok(())) => {}
        }
        let buf = &self.b.staging[f.slot];
        let ids = match buf.slice(..f.len).get_mapped_range() {
            Err(e) => Err(Error::Gpu(format!("readback map: {e}"))),
            Ok(view) if f.records => {
                self.last_records = bytemuck::pod_collect_to_vec(&view[..]);
                Ok(self.last_records.iter().map(|r| r.token).collect())
            }
            Ok(view) => Ok(bytemuck::pod_collect_to_vec(&view[..])),
        };
        buf.unmap();
        ids
    }

    /// Steps submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Forward calls with outputs submitted since load (each decode step is one).
    pub fn steps_submitted(&self) -> u64 {
        self.steps_submitted
    }

    /// Drops the steps in flight unread: their readbacks are cancelled and their staging
    /// buffers freed. Their GPU work still runs, and writes only what such a step writes
    /// (its rows' own KV slots, the activations, the picks, the sampler's lane states).
    pub fn discard(&mut self) {
        for mut f in self.in_flight.drain(..) {
            // A map that failed left the buffer unmapped (unmapping it again is an error);
            // a pending or completed one is cancelled or released by unmap.
            if !matches!(f.mapped.try_recv(), Ok(Some(Err(_))) | Err(_)) {
                self.b.staging[f.slot].unmap();
            }
        }
    }

    /// One forward, step by step: submit, then collect (nothing else may be in flight).
    async fn run(&mut self, rows: RowSet<'_>, ids: Option<&[u32]>, n_out: u32) -> Result<Vec<u32>> {
        if !self.in_flight.is_empty() {
            return Err(Error::Param(format!("{} steps are in flight: collect or discard them first", self.in_flight.len())));
        }
        self.submit(rows, ids, n_out)?;
        if n_out == 0 {
            return Ok(Vec::new());
        }
        self.collect().await
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

    /// Submits `ids` at positions pos0.. in chunks of `max_rows`, the last chunk wanting the
    /// logits (and the pick) of its last row only if `want_last`.
    fn submit_prompt(&mut self, ids: &[u32], pos0: u32, want_last: bool) -> Result<()> {
        let step = self.max_rows as usize;
        let mut start = 0;
        while start < ids.len() {
            let chunk = &ids[start..(start + step).min(ids.len())];
            let last = start + chunk.len() == ids.len();
            self.submit(RowSet::Solo { pos0: pos0 + start as u32, m: chunk.len() as u32 }, Some(chunk), (last && want_last) as u32)?;
            start += chunk.len();
        }
        Ok(())
    }

    /// Submits the prefill of `ids` at positions pos0.. (in chunks of `max_rows`); `collect`
    /// returns the greedy next token, which also stays on the GPU as the input of the next
    /// decode step. Steps still in flight are discarded first (a new sequence starts).
    pub fn submit_prefill(&mut self, ids: &[u32], pos0: u32) -> Result<()> {
        self.check_prompt(ids, pos0)?;
        self.discard();
        self.submit_prompt(ids, pos0, true)
    }

    /// Prefills `ids` at positions pos0.. (in chunks of `max_rows`) and returns the greedy
    /// next token, which also stays on the GPU as the input of the next `decode`.
    pub async fn prefill(&mut self, ids: &[u32], pos0: u32) -> Result<u32> {
        self.submit_prefill(ids, pos0)?;
        Ok(self.collect().await?[0])
    }

    /// Submits one greedy decode step at `pos`, fed the token the previous step picked on the
    /// GPU (that step may still be in flight); `collect` returns its pick.
    pub fn submit_decode(&mut self, pos: u32) -> Result<()> {
        self.submit(RowSet::Solo { pos0: pos, m: 1 }, None, 1)
    }

    /// One greedy decode step at `pos`, fed the token the previous step picked on the GPU.
    pub async fn decode(&mut self, pos: u32) -> Result<u32> {
        Ok(self.run(RowSet::Solo { pos0: pos, m: 1 }, None, 1).await?[0])
    }

    /// Submits the start of `n_lanes` continuations of one prompt: the prompt but its last
    /// token is prefilled once into the shared KV; then every lane feeds the last prompt
    /// token as its own first row (so each lane gets the prompt's logits in its own row);
    /// `collect` returns the lanes' first ids. `lane_tokens` is how many tokens each lane may
    /// add. Steps still in flight are discarded first.
    pub async fn submit_start_lanes(&mut self, ids: &[u32], n_lanes: u32, lane_tokens: u32) -> Result<()> {
        self.check_prompt(ids, 0)?;
        self.discard();
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
        self.submit_prompt(prefix, 0, false)?;
        self.lane_prefix = prefix.len() as u32;
        self.lane_stride = per_lane;
        self.write_lane_table(n_lanes)?;
        self.submit(RowSet::Lanes { n: n_lanes, step: 0 }, Some(&vec![last[0]; n_lanes as usize]), n_lanes)
    }

    /// `submit_start_lanes`, then `collect`: the lanes' first ids.
    pub async fn start_lanes(&mut self, ids: &[u32], n_lanes: u32, lane_tokens: u32) -> Result<Vec<u32>> {
        self.submit_start_lanes(ids, n_lanes, lane_tokens).await?;
        self.collect().await
    }

    /// The row info of lane `b` at its `step`-th own token: position prefix + step, its KV
    /// at slots n_ctx + b · stride + 0..stride.
    fn lane_row(&self, b: u32, step: u32) -> RowInfo {
        RowInfo::lane(self.lane_prefix + step, self.lane_prefix, self.n_ctx + b * self.lane_stride)
    }

    /// Writes the row infos of every step of `n_lanes` lanes, [step][lane], in one write
    /// per start (the table grows only when a start needs more).
    fn write_lane_table(&mut self, n_lanes: u32) -> Result<()> {
        let rows: Vec<RowInfo> =
            (0..self.lane_stride).flat_map(|step| (0..n_lanes).map(move |b| (b, step))).map(|(b, step)| self.lane_row(b, step)).collect();
        let bytes: &[u8] = bytemuck::cast_slice(&rows);
        let gpu = &self.kern.gpu;
        if self.lane_info.as_ref().is_none_or(|t| t.size() < bytes.len() as u64) {
            self.lane_info = Some(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("lane_row_info"),
                size: (bytes.len() as u64).max(16),
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        gpu.queue.write_buffer(self.lane_info.as_ref().expect("just made"), 0, bytes);
        self.lane_count = n_lanes;
        Ok(())
    }

    fn check_lane_step(&self, step: u32) -> Result<()> {
        if step == 0 || step >= self.lane_stride {
            return Err(Error::Param(format!("lane step {step} outside 1..{}", self.lane_stride)));
        }
        Ok(())
    }

    /// Submits one decode step of every lane (step ≥ 1 counts the lanes' own tokens), fed
    /// the ids the previous step picked on the GPU (that step may still be in flight);
    /// `collect` returns the picks. Steps past `lane_tokens` are refused: a lane never
    /// writes outside its own KV slots.
    pub fn submit_lanes(&mut self, n_lanes: u32, step: u32) -> Result<()> {
        self.check_lane_step(step)?;
        self.submit(RowSet::Lanes { n: n_lanes, step }, None, n_lanes)
    }

    /// One decode step of every lane (step ≥ 1 counts the lanes' own tokens), fed the ids
    /// the previous step picked on the GPU.
    pub async fn decode_lanes(&mut self, n_lanes: u32, step: u32) -> Result<Vec<u32>> {
        self.check_lane_step(step)?;
        self.run(RowSet::Lanes { n: n_lanes, step }, None, n_lanes).await
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

    /// The inspector's view of every lane at the last submitted step, with one mask pass and
    /// one readback of the lanes' logits rows (so submit no step after the one to inspect).
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
    /// histogram): reads that lane's logits row, so call it before submitting the next step.
    pub async fn inspect(&self, lane: u32, top: usize) -> Result<Inspection> {
        if !self.sampling {
            return Err(Error::Param("inspect needs the sampler chain (set_samplers)".into()));
        }
        self.chain.inspect(&self.kern.gpu, &self.chain_b, lane, top).await
    }

    /// The logits of the last submitted forward call's output rows, [n_out, V] (tests,
    /// inspector).
    pub async fn read_logits(&self, n_out: u32) -> Result<Vec<f32>> {
        self.kern.gpu.read_f32(&self.b.logits, (n_out * self.cfg.vocab) as usize).await
    }
}
