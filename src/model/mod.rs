//! The model on the GPU: the forward pass (forward.rs), the KV cache and lanes (kv.rs), the
//! readback ring (readback.rs), and the decode machinery that drives them.
//!
//! Its surface is `submit(rows)` + `collect()`. A step is either a run of tokens of the
//! shared sequence (a prompt, in chunks of `max_rows`) or one token of every lane. Every
//! output row is picked on the GPU by its lane's sampler (greedy is a sampler too; `load`
//! sets one greedy lane), and the picks stay on the GPU as the next step's inputs. `collect`
//! returns the oldest step's picks and sampler records; up to two steps may be in flight.
//!
//! A decode step allocates nothing on the GPU and makes no bind group: it copies its row
//! infos from a table made once, rewrites the two row uniforms only when the row counts
//! change, records the same dispatches into one command buffer and submits it.

mod arriving;
pub mod config;
pub mod cpu;
mod forward;
mod kv;
mod load_times;
mod readback;
mod weights;

use std::cell::Cell;

pub use arriving::{Arriving, Chunks, Tensors};
pub use config::ModelConfig;
use load_times::Laps;
pub use load_times::LoadTimes;
pub use readback::RING;

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::gpu::profile::{KernelTimes, Recorder, Timer};
use crate::gpu::Gpu;
use crate::kernels::{Kernels, RowInfo, Rows as RowCounts};
use crate::sampling::inspect::Inspection;
use crate::sampling::SamplerConfig;
use crate::sampling::{LaneParams, LaneRecord};
use forward::Forward;
use kv::KvCache;
use readback::Readback;

/// Load-time choices.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Context length to allocate the KV cache for (capped by the model's own).
    pub n_ctx: u32,
    /// Most rows one forward call takes: prompt chunk length and the most lanes.
    pub max_rows: u32,
    /// Keep the KV cache as f16 pairs (half the memory, as llama.cpp does) instead of f32.
    pub kv_f16: bool,
    /// The most bytes the KV caches of all layers may take together; it bounds the lanes.
    pub kv_budget: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { n_ctx: 1024, max_rows: 128, kv_f16: true, kv_budget: 1 << 30 }
    }
}

/// What one `submit` runs.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Tokens of the shared sequence at positions pos0.. (a prompt, or forced tokens), in
    /// chunks of `max_rows`. With `sample`, lane 0's sampler picks after the last token and
    /// `collect` returns that pick (only one lane may be set); without, nothing is read back.
    Sequence { ids: &'a [u32], pos0: u32, sample: bool },
    /// One token of every lane `start_lanes` set up, its `step`-th own (step ≥ 1; step 0 is
    /// the last prompt token, which `start_lanes` submits), fed `ids` (one per lane) or, with
    /// None, what the previous step picked on the GPU.
    Lanes { step: u32, ids: Option<&'a [u32]> },
}

/// What `collect` read back: one pick and one sampler record per output row.
#[derive(Clone, Debug, Default)]
pub struct Picks {
    pub ids: Vec<u32>,
    pub records: Vec<LaneRecord>,
}

/// The rows of one forward call, as the GPU sees them.
enum RowSet<'a> {
    /// m rows of the shared sequence from pos0 (their infos come from the solo table).
    Solo { pos0: u32, m: u32 },
    /// Every lane at its `step`-th own token (from the lane table).
    Lanes { step: u32 },
    /// Any rows, written per call (profiling; not the decode loop).
    Given(&'a [RowInfo]),
}

/// What loading a model will take on this GPU, worked out before anything is uploaded.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub weight_bytes: u64,
    /// The KV cache allocated at load (n_ctx positions; lanes add to it as they run).
    pub kv_bytes: u64,
    /// The largest single weight buffer: its tensor and bytes.
    pub largest: (String, u64),
}

pub struct Model {
    pub cfg: ModelConfig,
    pub kern: Kernels,
    pub n_ctx: u32,
    pub max_rows: u32,
    pub weight_bytes: u64,
    pub kv_f16: bool,
    fwd: Forward,
    kv: KvCache,
    readback: Readback,
    /// (m, n_out) the row uniforms now hold.
    rows_set: Cell<Option<(u32, u32)>>,
    /// Forward calls with outputs submitted since load (tests count speculative steps).
    steps_submitted: u64,
}

impl Model {
    /// Checks the model against this adapter's limits and says what it will take, without
    /// uploading a weight: a tensor that cannot fit is named here, before any upload.
    pub fn plan(gpu: &Gpu, g: &Gguf<'_>, opts: &LoadOptions) -> Result<LoadPlan> {
        Self::plan_for(gpu, g, &ModelConfig::from_gguf(g)?, opts)
    }

    fn plan_for(gpu: &Gpu, g: &Gguf<'_>, cfg: &ModelConfig, opts: &LoadOptions) -> Result<LoadPlan> {
        let (w, _) = weights::plan(gpu, g, cfg)?;
        Self::plan_from(&w, cfg, opts)
    }

    fn plan_from(w: &weights::WeightPlan, cfg: &ModelConfig, opts: &LoadOptions) -> Result<LoadPlan> {
        let (n_ctx, _) = Self::sizes(cfg, opts)?;
        Ok(LoadPlan {
            weight_bytes: w.bytes,
            kv_bytes: 2 * n_ctx as u64 * cfg.n_layer as u64 * KvCache::slot_bytes(cfg.kv_dim(), opts.kv_f16),
            largest: w.largest.clone(),
        })
    }

    /// (n_ctx, max_rows) as loaded: the options capped by the model's trained context.
    fn sizes(cfg: &ModelConfig, opts: &LoadOptions) -> Result<(u32, u32)> {
        if opts.n_ctx == 0 || opts.max_rows == 0 {
            return Err(Error::Param("n_ctx and max_rows must be positive".into()));
        }
        let n_ctx = opts.n_ctx.min(cfg.n_ctx_train);
        Ok((n_ctx, opts.max_rows.min(n_ctx)))
    }

    pub async fn load(gpu: Gpu, g: &Gguf<'_>, opts: &LoadOptions) -> Result<Model> {
        Self::load_reporting(gpu, g, opts, |_| {}).await
    }

    /// `load`, telling `on_plan` what the model will take once the plan has passed and
    /// before anything is uploaded (the page shows it during the upload).
    pub async fn load_reporting(
        gpu: Gpu,
        g: &Gguf<'_>,
        opts: &LoadOptions,
        on_plan: impl FnOnce(&LoadPlan),
    ) -> Result<Model> {
        Ok(Self::load_with(gpu, g, &mut Tensors::File, opts, on_plan, || ()).await?.0)
    }

    /// `load_reporting` with the tensors' bytes from `src` (the file in memory, or arriving),
    /// that also runs `meanwhile` (the engine's tokenizer) and says where the time went
    /// (`LoadTimes`: plan, pipelines, weights, bind, tokenizer for `meanwhile`, gpu; and copy,
    /// the waits for bytes, which are taken out of the phase they fell in).
    pub async fn load_with<R>(
        gpu: Gpu,
        g: &Gguf<'_>,
        src: &mut Tensors<'_>,
        opts: &LoadOptions,
        on_plan: impl FnOnce(&LoadPlan),
        meanwhile: impl FnOnce() -> R,
    ) -> Result<(Model, R, LoadTimes)> {
        let mut t = LoadTimes::default();
        let mut laps = Laps::start();
        let waited = src.waited();
        let cfg = src.config(g).await?;
        let (plan, stand_ins) = weights::plan(&gpu, g, &cfg)?;
        on_plan(&Self::plan_from(&plan, &cfg, opts)?);
        let (n_ctx, max_rows) = Self::sizes(&cfg, opts)?;
        let kern = Kernels::new(gpu.clone());
        t.plan = laps.lap() - (src.waited() - waited);
        // Shader compilation and buffer creation report errors through the error scope.
        let (fwd, kv, r) = gpu
            .checked("loading the model", async {
                // The pass built on the plan's stand-ins sets up every pipeline the real one
                // uses (the cache keeps them) and makes those of the first token, first: the
                // browser compiles them in its GPU process (most of a load on SwiftShader)
                // while the weights are repacked and the tokenizer built here. The others are
                // made on first use. Its buffers are dropped at once.
                let mut stand_in = Forward::build(&kern, &cfg, stand_ins, n_ctx, max_rows, opts.kv_f16)?;
                stand_in.make_first_token_pipelines(&kern, KvCache::slot_bytes(cfg.kv_dim(), opts.kv_f16))?;
                drop(stand_in);
                t.pipelines = laps.lap();
                let before = src.waited();
                let w = weights::upload(&gpu, g, src, &cfg).await?;
                t.weights = laps.lap() - (src.waited() - before);
                let fwd = Forward::build(&kern, &cfg, w, n_ctx, max_rows, opts.kv_f16)?;
                let kv = KvCache::new(&kern, n_ctx, cfg.n_layer, cfg.kv_dim(), opts.kv_f16, opts.kv_budget)?;
                t.bind = laps.lap();
                let r = meanwhile();
                t.tokenizer = laps.lap();
                Ok::<_, Error>((fwd, kv, r))
            })
            .await??;
        t.gpu = laps.lap();
        let readback = Readback::new(&gpu, fwd.chain_b.capacity());
        let mut model = Model {
            n_ctx,
            max_rows,
            weight_bytes: fwd.weight_bytes,
            kv_f16: opts.kv_f16,
            fwd,
            kv,
            readback,
            rows_set: Cell::new(None),
            steps_submitted: 0,
            cfg,
            kern,
        };
        model.kv.ensure(&model.kern, &model.fwd, n_ctx).await?;
        model.set_lanes(&[LaneParams::new(&SamplerConfig::greedy(), 0)?], &[], 0)?;
        t.gpu += laps.lap();
        t.copy = src.waited() - waited;
        Ok((model, r, t))
    }

    /// From now on output row i is picked by the sampler of `lanes[i]`, its penalty window
    /// starting as the tail of `history` and its dice at step `step`. Call before the prompt.
    pub fn set_lanes(&mut self, lanes: &[LaneParams], history: &[u32], step: u32) -> Result<()> {
        let gpu = &self.kern.gpu;
        self.fwd.chain_b.set_params(gpu, lanes)?;
        (0..lanes.len() as u32).try_for_each(|lane| self.fwd.chain_b.set_history(gpu, lane, history, step))
    }

    /// Starts `n_lanes` continuations of `prompt` that may each add `lane_tokens` tokens:
    /// sets up their KV slots and rows, submits the prompt but its last token into the
    /// shared KV, then step 0 of every lane, fed the last prompt token (so each lane gets the
    /// prompt's logits in its own row); `collect` returns the lanes' first picks. Steps in
    /// flight are discarded first (a new run starts).
    pub async fn start_lanes(&mut self, prompt: &[u32], n_lanes: u32, lane_tokens: u32) -> Result<()> {
        self.discard();
        let (&last, prefix) = prompt.split_last().ok_or_else(|| Error::Param("empty prompt".into()))?;
        self.kv.start_lanes(&self.kern, &self.fwd, prefix.len() as u32, n_lanes, lane_tokens, self.max_rows).await?;
        if !prefix.is_empty() {
            self.submit(Rows::Sequence { ids: prefix, pos0: 0, sample: false })?;
        }
        self.submit(Rows::Lanes { step: 0, ids: Some(&vec![last; n_lanes as usize]) })
    }

    /// Encodes and submits `rows`. Nothing is allocated on the GPU here but the command
    /// buffers, which WebGPU makes single-use.
    pub fn submit(&mut self, rows: Rows) -> Result<()> {
        match rows {
            Rows::Sequence { ids, pos0, sample } => {
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
                for (i, chunk) in ids.chunks(self.max_rows as usize).enumerate() {
                    let start = pos0 + (i * self.max_rows as usize) as u32;
                    let last = start as usize + chunk.len() == pos0 as usize + ids.len();
                    let rows = RowSet::Solo { pos0: start, m: chunk.len() as u32 };
                    self.submit_rows(rows, Some(chunk), (last && sample) as u32)?;
                }
                Ok(())
            }
            Rows::Lanes { step, ids } => {
                let t = &self.kv.lanes;
                if step >= t.stride {
                    return Err(Error::Param(format!("lane step {step} outside 0..{}", t.stride)));
                }
                self.submit_rows(RowSet::Lanes { step }, ids, t.count)
            }
        }
    }

    /// Waits for the oldest step in flight and returns its picks and sampler records. A
    /// lane whose logits were all NaN or infinite is an error: its pick would be id 0
    /// with probability 1, from a model that produced no distribution.
    pub async fn collect(&mut self) -> Result<Picks> {
        let records = self.readback.collect(&self.kern.gpu).await?;
        if let Some((lane, r)) = records.iter().enumerate().find(|(_, r)| r.in_play == 0) {
            return Err(Error::Model(format!(
                "lane {lane}, token {}: every logit is NaN or infinite (broken weights, or an adapter that \
                 miscomputes this model)",
                r.step
            )));
        }
        Ok(Picks { ids: records.iter().map(|r| r.token).collect(), records })
    }

    /// Drops the steps in flight unread. Their GPU work still runs, and writes only what
    /// such a step writes (its rows' own KV slots, the activations, the picks, the
    /// sampler's lane states).
    pub fn discard(&mut self) {
        self.readback.discard();
    }

    /// Steps submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.readback.len()
    }

    /// Forward calls with outputs submitted since load (each decode step is one).
    pub fn steps_submitted(&self) -> u64 {
        self.steps_submitted
    }

    /// One forward call: stage its inputs, record it, submit it (with the records' copy
    /// to a staging buffer when it has outputs).
    fn submit_rows(&mut self, rows: RowSet, ids: Option<&[u32]>, n_out: u32) -> Result<()> {
        let lanes = self.fwd.chain_b.params().len();
        if n_out > 0 {
            self.readback.check_free()?;
            if n_out as usize != lanes {
                return Err(Error::Param(format!("{n_out} output rows but {lanes} sampler lanes")));
            }
        }
        let gpu = self.kern.gpu.clone();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let (m, t_end) = self.prepare(&mut enc, rows, ids, n_out)?;
        let mut rec = Recorder::new(&mut enc);
        self.fwd.record(&mut rec, self.kv.binds(), m, t_end, n_out);
        rec.finish();
        if n_out == 0 {
            gpu.queue.submit([enc.finish()]);
            return Ok(());
        }
        self.readback.submit(&gpu, enc, self.fwd.chain_b.records_buffer(), n_out)?;
        self.steps_submitted += 1;
        Ok(())
    }

    /// Checks `rows` and stages the per-call inputs: the row infos (copied in `enc` from a
    /// table), the ids if given, and the row uniforms when the counts change. Returns the
    /// row count and 1 + the largest position.
    fn prepare(
        &self,
        enc: &mut wgpu::CommandEncoder,
        rows: RowSet,
        ids: Option<&[u32]>,
        n_out: u32,
    ) -> Result<(u32, u32)> {
        let (kv, t) = (&self.kv, &self.kv.lanes);
        // Row i's info, without collecting them: a decode step allocates nothing.
        let (m, row): (u32, &dyn Fn(u32) -> RowInfo) = match rows {
            RowSet::Solo { pos0, m } => (m, &move |i| RowInfo::solo(pos0.saturating_add(i))),
            RowSet::Lanes { step } => (t.count, &move |b| t.row(self.n_ctx, b, step)),
            RowSet::Given(rows) => (rows.len() as u32, &|i| rows[i as usize]),
        };
        if m == 0 || m > self.max_rows || n_out > m {
            return Err(Error::Param(format!("{m} rows (max {}), {n_out} outputs", self.max_rows)));
        }
        (0..m).try_for_each(|i| kv.check(row(i)))?;
        if ids.is_some_and(|ids| ids.len() != m as usize) {
            return Err(Error::Param(format!("{} ids for {m} rows", ids.map_or(0, <[u32]>::len))));
        }
        let q = &self.kern.gpu.queue;
        if let Some(ids) = ids {
            if let Some(&bad) = ids.iter().find(|&&t| t >= self.cfg.vocab) {
                return Err(Error::Param(format!("token id {bad} is outside the vocabulary of {}", self.cfg.vocab)));
            }
            q.write_buffer(&self.fwd.b.tokens, 0, bytemuck::cast_slice(ids));
        }
        let info = &self.fwd.b.info;
        match rows {
            RowSet::Solo { pos0, .. } => {
                enc.copy_buffer_to_buffer(&kv.solo_rows, 16 * pos0 as u64, info, 0, 16 * m as u64)
            }
            RowSet::Lanes { step } => {
                let table = t.rows.as_ref().ok_or_else(|| Error::Param("no lanes: call start_lanes first".into()))?;
                enc.copy_buffer_to_buffer(table, 16 * (step * t.count) as u64, info, 0, 16 * m as u64)
            }
            RowSet::Given(rows) => q.write_buffer(info, 0, bytemuck::cast_slice(rows)),
        }
        if self.rows_set.get() != Some((m, n_out)) {
            q.write_buffer(&self.fwd.b.rows_all, 0, bytemuck::bytes_of(&RowCounts::new(m, 0)));
            q.write_buffer(&self.fwd.b.rows_out, 0, bytemuck::bytes_of(&RowCounts::new(n_out, m - n_out)));
            self.rows_set.set(Some((m, n_out)));
        }
        Ok((m, (0..m).map(|i| row(i).pos + 1).max().unwrap_or(0)))
    }

    /// The inspector's view of every lane at the last submitted step, with one mask pass
    /// and one readback of the lanes' logits rows: call it before submitting the next step.
    pub async fn inspect_all(&self, top: usize) -> Result<Vec<Inspection>> {
        self.fwd.chain.inspect_all(&self.kern.gpu, &self.fwd.chain_b, top).await
    }

    /// The (penalized) logits of the last forward call's output rows, [n_out, V] (tests).
    pub async fn read_logits(&self, n_out: u32) -> Result<Vec<f32>> {
        self.kern.gpu.read_f32(&self.fwd.b.logits, (n_out * self.cfg.vocab) as usize).await
    }

    /// GPU time per kernel family for one decode step of `n_lanes` rows at position `pos`
    /// with the lanes of the last `set_lanes` (each dispatch in its own timed pass). Needs
    /// timestamp queries.
    pub async fn profile_step(&self, n_lanes: u32, pos: u32) -> Result<KernelTimes> {
        let rows: Vec<RowInfo> = (0..n_lanes).map(|_| RowInfo::solo(pos)).collect();
        let gpu = &self.kern.gpu;
        let timer = Timer::new(gpu, 16 + 12 * self.cfg.n_layer)?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        let (m, t_end) = self.prepare(&mut enc, RowSet::Given(&rows), Some(&vec![0; n_lanes as usize]), n_lanes)?;
        let mut rec = Recorder::timed(&mut enc, &timer.queries);
        self.fwd.record(&mut rec, self.kv.binds(), m, t_end, n_lanes);
        let labels = rec.finish();
        timer.read(gpu, enc, &labels).await
    }

    /// Bytes of KV cache per slot (one position), all layers together.
    pub fn kv_bytes_per_slot(&self) -> u64 {
        self.kv.bytes_per_slot()
    }

    /// Bytes of KV cache now allocated.
    pub fn kv_bytes(&self) -> u64 {
        self.kv.bytes()
    }

    /// KV cache bytes one lane owns for `lane_tokens` tokens of its own (the prompt's KV is
    /// shared and counted once, in the n_ctx slots).
    pub fn lane_kv_bytes(&self, lane_tokens: u32) -> u64 {
        (lane_tokens as u64 + 1) * self.kv.bytes_per_slot()
    }

    /// The most lanes that can each generate `lane_tokens` tokens after a shared prompt.
    pub fn lane_capacity(&self, lane_tokens: u32) -> u32 {
        self.kv.lane_capacity(lane_tokens, self.max_rows)
    }
}
