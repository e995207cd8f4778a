//! Launcher for the GPU sampler chain (shaders/sample_*.wgsl): penalty → stats (greedy
//! pick, max, σ) → top-k search → top-p search → pick (min-p, Gumbel-max), over the logits
//! `[lanes, V]` the forward pass leaves on the GPU. The picked ids go to the `tokens` buffer
//! the next step's embedding reads; each lane also gets a 64-byte `LaneRecord`.
//!
//! Two variants (DESIGN.md, "Kernel variants"): `Variant::Row` splits each reduction into a
//! slice pass (NT invocations per lane, no barriers) and a combine pass (one invocation per
//! lane), the shape software adapters want; `Variant::Cooperative` runs each stage as one
//! workgroup per lane with shared-memory reductions. Both give the same survivor sets.

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use super::config::{SamplerConfig, TemperaturePosition, MAX_PENALTY_WINDOW};
use super::inspect::{inspect_row, Inspection};
use crate::error::{Error, Result};
use crate::gpu::shader::{Defines, Slot};
use crate::gpu::{Gpu, Variant};
use crate::kernels::{groups, Kernels};

const COMMON: &str = include_str!("../../shaders/sample_common.wgsl");
const PHILOX: &str = include_str!("../../shaders/sample_philox.wgsl");
const PENALTY: &str = include_str!("../../shaders/sample_penalty.wgsl");
const STATS: &str = include_str!("../../shaders/sample_stats.wgsl");
const SELECT: &str = include_str!("../../shaders/sample_select.wgsl");
const PICK: &str = include_str!("../../shaders/sample_pick.wgsl");

/// uniforms, logits, tokens, lane states, histograms, partials/masks, records.
const SIG: &[Slot] = &[Slot::Uniform, Slot::ReadWrite, Slot::ReadWrite, Slot::ReadWrite, Slot::ReadWrite, Slot::ReadWrite, Slot::ReadWrite];

/// History ring entries per lane (the longest penalty window).
pub const HCAP: u32 = MAX_PENALTY_WINDOW;
/// Invocations per lane in the Row variant's slice passes: enough to fill a CPU's SIMD lanes
/// and cores, few enough that each has a few hundred tokens (per-invocation overhead and
/// the atomics that flush its histogram cache dominate below that).
fn slices(vocab: u32) -> u32 {
    (vocab / 192).next_power_of_two().clamp(4, 256)
}
/// Workgroup size of the Cooperative variant.
const WG: u32 = 256;
/// Histogram words per lane (Row): 256 bins of (lo, hi), the candidate count, padding.
const HIST_WORDS: u32 = 520;
/// The searches' candidate lists hold at least this many tokens.
const LIST_MIN: u32 = 4096;
/// The lane parameters live in a uniform buffer (16 KiB in WebGPU's defaults).
pub const MAX_LANES: u32 = 255;

/// `LaneParams::flags` bits.
pub mod flags {
    pub const GREEDY: u32 = 1;
    pub const TEMP_LAST: u32 = 2;
    pub const SIGMA: u32 = 4;
    pub const TOP_K: u32 = 8;
    pub const TOP_P: u32 = 16;
    pub const MIN_P: u32 = 32;
    pub const PENALTY: u32 = 64;
}

/// One lane's sampler as the shaders read it (`LaneParams` in sample_common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct LaneParams {
    pub flags: u32,
    pub t_first: f32,
    pub t_last: f32,
    pub top_k: u32,
    pub top_p_fx: u32,
    pub ln_min_p: f32,
    pub n_sigma: f32,
    pub penalty: f32,
    pub penalty_last_n: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub sample_index: u32,
    pub _pad: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<LaneParams>() == 64);

impl LaneParams {
    /// The lane's parameters; `sample_index` is the third Philox counter word (the N lanes
    /// of a repeated-sampling run use 0..N with one seed).
    pub fn new(cfg: &SamplerConfig, sample_index: u32) -> Result<LaneParams> {
        cfg.validate()?;
        let mut f = 0;
        let on = |b: bool, bit: u32| if b { bit } else { 0 };
        if cfg.is_greedy() {
            f |= flags::GREEDY;
        } else {
            f |= on(cfg.temperature_position == TemperaturePosition::Last, flags::TEMP_LAST);
            f |= on(cfg.top_n_sigma.is_some(), flags::SIGMA);
            f |= on(cfg.top_k > 0, flags::TOP_K);
            f |= on(cfg.top_p < 1.0, flags::TOP_P);
            f |= on(cfg.min_p > 0.0, flags::MIN_P);
        }
        f |= on(cfg.penalty_on(), flags::PENALTY);
        Ok(LaneParams {
            flags: f,
            t_first: cfg.temperature_first(),
            t_last: cfg.temperature_last(),
            top_k: cfg.top_k,
            top_p_fx: ((cfg.top_p as f64) * 4_294_967_296.0).round().min(u32::MAX as f64) as u32,
            ln_min_p: cfg.ln_min_p(),
            n_sigma: cfg.top_n_sigma.unwrap_or(0.0),
            penalty: cfg.repetition_penalty,
            penalty_last_n: cfg.penalty_last_n,
            seed_lo: cfg.seed as u32,
            seed_hi: (cfg.seed >> 32) as u32,
            sample_index,
            _pad: [0; 4],
        })
    }

    pub fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }
}

/// What the chain reports per lane and step (`Record` in sample_common.wgsl). Thresholds are
/// working logits (penalized, divided by T when the temperature goes first); read them
/// through the accessors, which say which applied.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable, Serialize)]
pub struct LaneRecord {
    pub token: u32,
    /// Tokens left after truncation (1 for greedy; 0 when nothing was in play).
    pub survivors: u32,
    /// The largest working logit in play.
    pub max_logit: f32,
    /// The lane's `flags`, less the truncations that did not apply (all on the greedy path,
    /// top-k when k ≥ the tokens in play); thresholds that did not apply are 0.
    pub applied: u32,
    pub sigma: f32,
    pub top_k: f32,
    pub top_k_last_id: u32,
    pub top_p: f32,
    pub min_p: f32,
    /// The sampled token's working logit (its penalized logit for greedy).
    pub token_logit: f32,
    /// Its probability in the distribution it was drawn from (1 for greedy).
    pub token_prob: f32,
    /// The step whose dice were used (the lane's counter before this pick).
    pub step: u32,
    /// Tokens with a finite working logit.
    pub in_play: u32,
    #[serde(skip)]
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<LaneRecord>() == 64);

impl LaneRecord {
    fn on(&self, bit: u32) -> bool {
        self.applied & bit != 0
    }
    pub fn greedy(&self) -> bool {
        self.on(flags::GREEDY)
    }
    /// top-nσ: survivors have w ≥ this.
    pub fn sigma_threshold(&self) -> Option<f32> {
        self.on(flags::SIGMA).then_some(self.sigma)
    }
    /// top-k: the k-th value and the last id kept among its ties (u32::MAX: all). None when
    /// off or when k ≥ the tokens in play (nothing to cut).
    pub fn top_k_cut(&self) -> Option<(f32, u32)> {
        self.on(flags::TOP_K).then_some((self.top_k, self.top_k_last_id))
    }
    /// top-p: survivors have w ≥ this.
    pub fn top_p_threshold(&self) -> Option<f32> {
        self.on(flags::TOP_P).then_some(self.top_p)
    }
    /// min-p: max + ln(min_p).
    pub fn min_p_threshold(&self) -> Option<f32> {
        self.on(flags::MIN_P).then_some(self.min_p)
    }
}

/// Words of the lane state before the ring (`LaneState` in sample_common.wgsl).
const STATE_HEADER: usize = 32;
const STATE_WORDS: usize = STATE_HEADER + HCAP as usize;
const HEAD: usize = 5;
const LEN: usize = 6;
const STEP: usize = 7;

enum Passes {
    Row { stats: [wgpu::ComputePipeline; 2], k: [wgpu::ComputePipeline; 2], p: [wgpu::ComputePipeline; 2], pick: [wgpu::ComputePipeline; 2] },
    Cooperative { stats: wgpu::ComputePipeline, k: wgpu::ComputePipeline, p: wgpu::ComputePipeline, pick: wgpu::ComputePipeline },
}

/// The chain's pipelines for one vocabulary size and lane count.
pub struct SamplerChain {
    vocab: u32,
    max_lanes: u32,
    variant: Variant,
    nt: u32,
    part_words: u32,
    penalty: wgpu::ComputePipeline,
    mask: wgpu::ComputePipeline,
    passes: Passes,
}

/// The chain bound to one logits buffer and one tokens buffer, with its own per-lane
/// parameters, states (history ring, step counter), scratch and records.
pub struct ChainBinding {
    bg: wgpu::BindGroup,
    uniforms: wgpu::Buffer,
    logits: wgpu::Buffer,
    lanes: wgpu::Buffer,
    part: wgpu::Buffer,
    records: wgpu::Buffer,
    params: Vec<LaneParams>,
    /// Lanes the bound buffers hold: max_lanes, or fewer rows of logits or tokens.
    capacity: u32,
    vocab: u32,
}

impl SamplerChain {
    /// Builds the pipelines of the kernel variant `kern` was made for.
    pub fn new(kern: &Kernels, vocab: u32, max_lanes: u32) -> Result<Self> {
        Self::with_variant(kern, vocab, max_lanes, kern.variant())
    }

    pub fn with_variant(kern: &Kernels, vocab: u32, max_lanes: u32, variant: Variant) -> Result<Self> {
        if vocab == 0 || vocab >= 1 << 24 {
            return Err(Error::Param(format!("sampler chain: vocabulary of {vocab} tokens (must be 1 ..= 2^24 − 1)")));
        }
        if max_lanes == 0 || max_lanes > MAX_LANES {
            return Err(Error::Param(format!("sampler chain: {max_lanes} lanes (must be 1 ..= {MAX_LANES})")));
        }
        let id_bits = 32 - (vocab - 1).max(1).leading_zeros();
        let id_rounds = id_bits.div_ceil(8);
        let id_mask = if id_rounds >= 4 { u32::MAX } else { (1u32 << (8 * id_rounds)) - 1 };
        let nt = slices(vocab);
        // Stats partials, then the searches' candidate lists, then the survivor masks.
        let part_words = (nt * 7).max(vocab.div_ceil(32)).max(LIST_MIN);
        let coop = variant == Variant::Cooperative;
        let defs = |sel_p: bool| {
            Defines::new()
                .u32("V", vocab)
                .u32("MAX_LANES", max_lanes)
                .u32("HCAP", HCAP)
                .u32("NT", nt)
                .u32("WG", WG)
                .u32("ID_ROUNDS", id_rounds)
                .u32("IDMASK", id_mask)
                .u32("PART", part_words)
                .u32("HW", HIST_WORDS)
                .flag("COOP", coop)
                .flag("SEL_P", sel_p)
        };
        let make = |src: &str, entry: &str, sel_p: bool| kern.pipeline(&format!("sample_{entry}"), entry, &[COMMON, PHILOX, src], &defs(sel_p), SIG);
        let passes = if coop {
            Passes::Cooperative {
                stats: make(STATS, "stats_coop", false)?,
                k: make(SELECT, "select_coop", false)?,
                p: make(SELECT, "select_coop", true)?,
                pick: make(PICK, "pick_coop", false)?,
            }
        } else {
            Passes::Row {
                stats: [make(STATS, "stats_map", false)?, make(STATS, "stats_combine", false)?],
                k: [make(SELECT, "select_map", false)?, make(SELECT, "select_combine", false)?],
                p: [make(SELECT, "select_map", true)?, make(SELECT, "select_combine", true)?],
                pick: [make(PICK, "pick_map", false)?, make(PICK, "pick_combine", false)?],
            }
        };
        Ok(SamplerChain {
            vocab,
            max_lanes,
            variant,
            nt,
            part_words,
            penalty: make(PENALTY, "penalty", false)?,
            mask: make(PICK, "mask", false)?,
            passes,
        })
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    pub fn vocab(&self) -> u32 {
        self.vocab
    }

    /// Binds the chain to `logits` ([≥ lanes, V] f32; the penalty edits it in place) and
    /// `tokens` ([≥ lanes] u32; lane i's pick goes to tokens[i]).
    pub fn bind(&self, kern: &Kernels, logits: &wgpu::Buffer, tokens: &wgpu::Buffer) -> Result<ChainBinding> {
        let gpu = &kern.gpu;
        let n = self.max_lanes as u64;
        let rows = (logits.size() / (4 * self.vocab as u64)).min(tokens.size() / 4).min(n) as u32;
        if rows == 0 {
            return Err(Error::Param(format!(
                "sampler chain: logits buffer of {} bytes (one row needs {}) or tokens buffer of {} bytes",
                logits.size(),
                4 * self.vocab,
                tokens.size()
            )));
        }
        let uniforms = gpu.uniform_init("sampler_params", &vec![0u8; 16 + 64 * n as usize]);
        let lanes = gpu.storage("sampler_lanes", 4 * n * STATE_WORDS as u64)?;
        let hist_words = if self.variant == Variant::Row { n * HIST_WORDS as u64 } else { 4 };
        let hist = gpu.storage("sampler_hist", 4 * hist_words)?;
        let part = gpu.storage("sampler_part", 4 * n * self.part_words as u64)?;
        let records = gpu.storage("sampler_records", 64 * n)?;
        let bg = kern.bind(SIG, "sampler_chain", &[&uniforms, logits, tokens, &lanes, &hist, &part, &records])?;
        Ok(ChainBinding {
            bg,
            uniforms,
            logits: logits.clone(),
            lanes,
            part,
            records,
            params: Vec::new(),
            capacity: rows,
            vocab: self.vocab,
        })
    }

    /// Records one step of the chain for the lanes of the last `set_params`. Stages no lane
    /// uses are not recorded at all.
    pub fn record(&self, pass: &mut wgpu::ComputePass, b: &ChainBinding) {
        let n = b.params.len() as u32;
        if n == 0 {
            return;
        }
        let any = |bit: u32| b.params.iter().any(|p| p.has(bit));
        let all_greedy = b.params.iter().all(|p| p.has(flags::GREEDY));
        pass.set_bind_group(0, &b.bg, &[]);
        if any(flags::PENALTY) {
            let window = b.params.iter().filter(|p| p.has(flags::PENALTY)).map(|p| p.penalty_last_n).max().unwrap_or(0);
            pass.set_pipeline(&self.penalty);
            pass.dispatch_workgroups(groups(window, 64), n, 1);
        }
        match &self.passes {
            Passes::Row { stats, k, p, pick } => {
                let slices = |pass: &mut wgpu::ComputePass, pl: &wgpu::ComputePipeline| {
                    pass.set_pipeline(pl);
                    pass.dispatch_workgroups(groups(self.nt * n, 64), 1, 1);
                };
                let lanes = |pass: &mut wgpu::ComputePass, pl: &wgpu::ComputePipeline| {
                    pass.set_pipeline(pl);
                    pass.dispatch_workgroups(groups(n, 64), 1, 1);
                };
                slices(pass, &stats[0]);
                lanes(pass, &stats[1]);
                // Two rounds a search: round 1's combine finishes it (sample_select.wgsl).
                if !all_greedy && any(flags::TOP_K) {
                    for _ in 0..2 {
                        slices(pass, &k[0]);
                        lanes(pass, &k[1]);
                    }
                }
                if !all_greedy && any(flags::TOP_P) {
                    for _ in 0..2 {
                        slices(pass, &p[0]);
                        lanes(pass, &p[1]);
                    }
                }
                if !all_greedy {
                    slices(pass, &pick[0]);
                }
                lanes(pass, &pick[1]);
            }
            Passes::Cooperative { stats, k, p, pick } => {
                let each = |pass: &mut wgpu::ComputePass, pl: &wgpu::ComputePipeline| {
                    pass.set_pipeline(pl);
                    pass.dispatch_workgroups(n, 1, 1);
                };
                each(pass, stats);
                if !all_greedy && any(flags::TOP_K) {
                    each(pass, k);
                }
                if !all_greedy && any(flags::TOP_P) {
                    each(pass, p);
                }
                each(pass, pick);
            }
        }
    }

    /// Records the survivor bit sets of the last step into the binding's scratch (the
    /// logits must still be that step's).
    pub fn record_masks(&self, pass: &mut wgpu::ComputePass, b: &ChainBinding) {
        let n = b.params.len() as u32;
        if n == 0 {
            return;
        }
        pass.set_bind_group(0, &b.bg, &[]);
        pass.set_pipeline(&self.mask);
        pass.dispatch_workgroups(groups(self.vocab.div_ceil(32), 64), n, 1);
    }

    /// The survivor sets of the last step, one Vec<bool> per lane (tests, the inspector).
    pub async fn read_masks(&self, gpu: &Gpu, b: &ChainBinding) -> Result<Vec<Vec<bool>>> {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.record_masks(&mut pass, b);
        }
        gpu.queue.submit([enc.finish()]);
        let n = b.params.len();
        let words = self.part_words as usize;
        let bytes = gpu.read_storage(&b.part, 0, (4 * words * n) as u64).await?;
        let all: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok((0..n)
            .map(|l| (0..self.vocab as usize).map(|i| all[l * words + i / 32] >> (i % 32) & 1 == 1).collect())
            .collect())
    }

    /// The inspector's view of the last step of `lane`: its top `top` candidates (≤ 64) with
    /// probabilities before and after truncation, and a 64-bin histogram of its working
    /// logits. Reads the lane's row (4·V bytes) and survivor set: on request, not per step,
    /// and before the next forward pass overwrites the logits.
    pub async fn inspect(&self, gpu: &Gpu, b: &ChainBinding, lane: u32, top: usize) -> Result<Inspection> {
        if lane as usize >= b.params.len() {
            return Err(Error::Param(format!("inspect: lane {lane} of {}", b.params.len())));
        }
        Ok(self.inspect_rows(gpu, b, lane, 1, top).await?.remove(0))
    }

    /// `inspect` for every lane of the last step, with one mask pass and one readback.
    pub async fn inspect_all(&self, gpu: &Gpu, b: &ChainBinding, top: usize) -> Result<Vec<Inspection>> {
        self.inspect_rows(gpu, b, 0, b.params.len() as u32, top).await
    }

    async fn inspect_rows(&self, gpu: &Gpu, b: &ChainBinding, first: u32, n: u32, top: usize) -> Result<Vec<Inspection>> {
        let masks = self.read_masks(gpu, b).await?;
        let v = self.vocab as u64;
        let rows: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu.read_storage(&b.logits, 4 * v * first as u64, 4 * v * n as u64).await?);
        let recs = b.read_records(gpu).await?;
        Ok((first..first + n)
            .zip(rows.chunks(v as usize))
            .map(|(l, row)| inspect_row(row, &masks[l as usize], &b.params[l as usize], recs[l as usize], l, top.min(64)))
            .collect())
    }
}

impl ChainBinding {
    /// Sets the lanes of the next steps: lane i samples row i of the logits into tokens[i].
    pub fn set_params(&mut self, gpu: &Gpu, lanes: &[LaneParams]) -> Result<()> {
        if lanes.is_empty() || lanes.len() > self.capacity as usize {
            return Err(Error::Param(format!("sampler chain: {} lanes (this binding takes 1 ..= {})", lanes.len(), self.capacity)));
        }
        let mut bytes = vec![0u8; 16];
        bytes[..4].copy_from_slice(&(lanes.len() as u32).to_le_bytes());
        bytes.extend_from_slice(bytemuck::cast_slice(lanes));
        gpu.queue.write_buffer(&self.uniforms, 0, &bytes);
        self.params = lanes.to_vec();
        Ok(())
    }

    pub fn params(&self) -> &[LaneParams] {
        &self.params
    }

    /// Starts a lane: its penalty window holds the last tokens of `history` (the prompt, or
    /// the prompt and what was generated so far) and its next pick uses step `step`.
    pub fn set_history(&self, gpu: &Gpu, lane: u32, history: &[u32], step: u32) -> Result<()> {
        if lane >= self.capacity {
            return Err(Error::Param(format!("sampler chain: lane {lane} of {}", self.capacity)));
        }
        let tail = &history[history.len().saturating_sub(HCAP as usize)..];
        let mut words = vec![0u32; STATE_WORDS];
        words[HEAD] = tail.len() as u32 % HCAP;
        words[LEN] = tail.len() as u32;
        words[STEP] = step;
        words[STATE_HEADER..STATE_HEADER + tail.len()].copy_from_slice(tail);
        gpu.queue.write_buffer(&self.lanes, 4 * (lane as u64) * STATE_WORDS as u64, bytemuck::cast_slice(&words));
        Ok(())
    }

    /// The per-lane records of the last step, `[lanes]` × 64 bytes: copy the first
    /// 64 · lanes bytes to a MAP_READ buffer to read them back.
    pub fn records_buffer(&self) -> &wgpu::Buffer {
        &self.records
    }

    pub fn records_bytes(&self) -> u64 {
        64 * self.params.len() as u64
    }

    pub async fn read_records(&self, gpu: &Gpu) -> Result<Vec<LaneRecord>> {
        let bytes = gpu.read_storage(&self.records, 0, self.records_bytes()).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Each lane's history ring, oldest first, and its next step (tests, resuming).
    pub async fn read_histories(&self, gpu: &Gpu) -> Result<Vec<(Vec<u32>, u32)>> {
        let n = self.params.len();
        let bytes = gpu.read_storage(&self.lanes, 0, (4 * STATE_WORDS * n) as u64).await?;
        let w: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok((0..n)
            .map(|l| {
                let s = &w[l * STATE_WORDS..(l + 1) * STATE_WORDS];
                let (head, len) = (s[HEAD] as usize, s[LEN] as usize);
                let ring = &s[STATE_HEADER..];
                let start = (head + HCAP as usize - len) % HCAP as usize;
                ((0..len).map(|j| ring[(start + j) % HCAP as usize]).collect(), s[STEP])
            })
            .collect())
    }

    pub fn vocab(&self) -> u32 {
        self.vocab
    }
}

#[cfg(test)]
mod tests {
    use super::super::philox;
    use super::*;
    use crate::kernels::testutil::*;
    use rand::Rng;

    /// The WGSL Philox and dice against the Rust ones on random counters and keys: every
    /// output word equal, and u01 equal to the bit.
    #[test]
    fn wgsl_philox_matches_rust() {
        let kern = kernels(Variant::Row);
        let test = "@group(0) @binding(0) var<storage, read> input: array<vec4<u32>>;   // [n, 2]: counter, key
                    @group(0) @binding(1) var<storage, read_write> out: array<vec4<u32>>; // [n, 2]: philox, (u bits, 0, 0, 0)
                    @compute @workgroup_size(64)
                    fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
                        let i = gid.x;
                        if (i >= arrayLength(&input) / 2u) { return; }
                        let r = philox4x32_10(input[2u * i], input[2u * i + 1u].xy);
                        out[2u * i] = r;
                        out[2u * i + 1u] = vec4<u32>(bitcast<u32>(u01(r.x)), 0u, 0u, 0u);
                    }";
        let sig = [Slot::Read, Slot::ReadWrite];
        let pipe = kern.pipeline("philox_test", "main", &[PHILOX, test], &Defines::new(), &sig).unwrap();
        let mut rng = rand::rng();
        let n = 1000;
        let mut input = Vec::new();
        for i in 0..n {
            // A few all-zero and all-ones words among the random ones.
            let pick = |rng: &mut rand::rngs::ThreadRng| match i % 7 {
                0 => 0,
                1 => u32::MAX,
                _ => rng.random(),
            };
            input.extend([pick(&mut rng), pick(&mut rng), pick(&mut rng), pick(&mut rng)]);
            input.extend([pick(&mut rng), pick(&mut rng), 0, 0]);
        }
        let inb = buf_u32(&kern, &input);
        let outb = buf_u32(&kern, &vec![0u32; 8 * n]);
        let bg = kern.bind(&sig, "philox_test", &[&inb, &outb]).unwrap();
        run(&kern, |p| {
            p.set_pipeline(&pipe);
            p.set_bind_group(0, &bg, &[]);
            p.dispatch_workgroups(groups(n as u32, 64), 1, 1);
        });
        let got: Vec<u32> = bytemuck::cast_slice(&read(&kern, &outb, 8 * n)).to_vec();
        for i in 0..n {
            let c = &input[8 * i..8 * i + 6];
            let want = philox::philox4x32_10([c[0], c[1], c[2], c[3]], [c[4], c[5]]);
            assert_eq!(&got[8 * i..8 * i + 4], &want, "counter {:08x?} key {:08x?}", &c[..4], &c[4..6]);
            assert_eq!(f32::from_bits(got[8 * i + 4]), philox::u01(want[0]));
        }
    }

    /// Every pipeline of both variants builds (naga validates the WGSL).
    #[test]
    fn pipelines_build() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            for vocab in [1, 300, 49152] {
                SamplerChain::new(&kern, vocab, 4).unwrap();
            }
        }
    }
}
