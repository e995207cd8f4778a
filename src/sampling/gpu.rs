//! Launcher for the GPU sampler chain (shaders/sample_*.wgsl): penalty → stats (greedy
//! pick, max, σ) → top-k search → top-p search → pick (min-p, Gumbel-max), over the logits
//! `[lanes, V]` the forward pass leaves on the GPU. The picked ids go to the `tokens` buffer
//! the next step's embedding reads; each lane also gets a 64-byte `LaneRecord`.
//!
//! Two variants (docs/DESIGN.md, "Kernel variants"): `Variant::Row` splits each reduction into a
//! slice pass (NT invocations per lane, no barriers) and a combine pass (one invocation per
//! lane), the shape software adapters want; `Variant::Cooperative` runs each stage as one
//! workgroup per lane with shared-memory reductions. Both give the same survivor sets.

use super::config::MAX_PENALTY_WINDOW;
use super::inspect::{inspect_row, Inspection};
use super::lane::{flags, LaneParams, LaneRecord};
use crate::error::{Error, Result};
use crate::gpu::profile::Dispatch;
use crate::gpu::shader::{Defines, LazyPipeline, Slot};
use crate::gpu::{Gpu, Variant};
use crate::kernels::{groups, Kernels};

const COMMON: &str = include_str!("../../shaders/sample_common.wgsl");
const PHILOX: &str = include_str!("../../shaders/sample_philox.wgsl");
const PENALTY: &str = include_str!("../../shaders/sample_penalty.wgsl");
const STATS: &str = include_str!("../../shaders/sample_stats.wgsl");
const SELECT: &str = include_str!("../../shaders/sample_select.wgsl");
const PICK: &str = include_str!("../../shaders/sample_pick.wgsl");

/// uniforms, logits, tokens, lane states, histograms, partials/masks, records.
const SIG: &[Slot] = &[
    Slot::Uniform,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::ReadWrite,
    Slot::ReadWrite,
];

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

/// Words of the lane state before the ring (`LaneState` in sample_common.wgsl).
const STATE_HEADER: usize = 32;
const STATE_WORDS: usize = STATE_HEADER + HCAP as usize;
const HEAD: usize = 5;
const LEN: usize = 6;
const STEP: usize = 7;

enum Passes {
    Row { stats: [LazyPipeline; 2], k: [LazyPipeline; 2], p: [LazyPipeline; 2], pick: [LazyPipeline; 2] },
    Cooperative { stats: LazyPipeline, k: LazyPipeline, p: LazyPipeline, pick: LazyPipeline },
}

/// The chain's pipelines for one vocabulary size and lane count.
pub struct SamplerChain {
    vocab: u32,
    max_lanes: u32,
    variant: Variant,
    nt: u32,
    part_words: u32,
    penalty: LazyPipeline,
    mask: LazyPipeline,
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
        let make = |src: &str, entry: &str, sel_p: bool| {
            kern.pipeline(&format!("sample_{entry}"), entry, &[COMMON, PHILOX, src], &defs(sel_p), SIG)
        };
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
    pub fn record<P: Dispatch>(&self, pass: &mut P, b: &ChainBinding) {
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
                let slices = |pass: &mut P, pl: &LazyPipeline| {
                    pass.set_pipeline(pl);
                    pass.dispatch_workgroups(groups(self.nt * n, 64), 1, 1);
                };
                let lanes = |pass: &mut P, pl: &LazyPipeline| {
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
                let each = |pass: &mut P, pl: &LazyPipeline| {
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
    pub fn record_masks(&self, pass: &mut impl Dispatch, b: &ChainBinding) {
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

    /// One mask pass and one readback for lanes first..first + n: the survivor bit sets, the
    /// logits rows and the records are copied into one staging buffer in one submission.
    async fn inspect_rows(
        &self,
        gpu: &Gpu,
        b: &ChainBinding,
        first: u32,
        n: u32,
        top: usize,
    ) -> Result<Vec<Inspection>> {
        let lanes = b.params.len() as u64;
        let (v, words) = (self.vocab as u64, self.part_words as u64);
        let mask_bytes = 4 * words * lanes;
        let row_bytes = 4 * v * n as u64;
        let staging = gpu.readback_buffer("inspect", mask_bytes + row_bytes + b.records_bytes());
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.record_masks(&mut pass, b);
        }
        enc.copy_buffer_to_buffer(&b.part, 0, &staging, 0, mask_bytes);
        enc.copy_buffer_to_buffer(&b.logits, 4 * v * first as u64, &staging, mask_bytes, row_bytes);
        enc.copy_buffer_to_buffer(&b.records, 0, &staging, mask_bytes + row_bytes, b.records_bytes());
        gpu.queue.submit([enc.finish()]);
        let bytes = gpu.read_mapped(&staging, staging.size()).await?;
        let (masks, rest) = bytes.split_at(mask_bytes as usize);
        let (rows, recs) = rest.split_at(row_bytes as usize);
        let masks: Vec<u32> = bytemuck::pod_collect_to_vec(masks);
        let rows: Vec<f32> = bytemuck::pod_collect_to_vec(rows);
        let recs: Vec<LaneRecord> = bytemuck::pod_collect_to_vec(&recs[..b.records_bytes() as usize]);
        Ok((first..first + n)
            .zip(rows.chunks(v as usize))
            .map(|(l, row)| {
                let bits = &masks[(l as u64 * words) as usize..];
                let mask: Vec<bool> = (0..v as usize).map(|i| bits[i / 32] >> (i % 32) & 1 == 1).collect();
                inspect_row(row, &mask, &b.params[l as usize], recs[l as usize], l, top.min(64))
            })
            .collect())
    }
}

impl ChainBinding {
    /// Sets the lanes of the next steps: lane i samples row i of the logits into tokens[i].
    pub fn set_params(&mut self, gpu: &Gpu, lanes: &[LaneParams]) -> Result<()> {
        if lanes.is_empty() || lanes.len() > self.capacity as usize {
            return Err(Error::Param(format!(
                "sampler chain: {} lanes (this binding takes 1 ..= {})",
                lanes.len(),
                self.capacity
            )));
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

    /// The most lanes this binding takes.
    pub fn capacity(&self) -> u32 {
        self.capacity
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
            p.set_pipeline(pipe.get());
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

    /// The WGSL Gumbel noise against the f64 one, on every u within 2^-8 of 1 (where the
    /// winners of a large vocabulary draw theirs, and where −ln u loses its digits if taken
    /// from u), and on random words. Bound: 2e-5 absolute, a few f32 ulps of g ≈ 16.6 at the
    /// end of the range; the logits' own rounding (ulp of 30 ≈ 2e-6) is of the same order.
    #[test]
    fn wgsl_gumbel_matches_f64() {
        let kern = kernels(Variant::Row);
        let test = "@group(0) @binding(0) var<storage, read> input: array<u32>;
                    @group(0) @binding(1) var<storage, read_write> out: array<f32>;
                    @compute @workgroup_size(64)
                    fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
                        let i = gid.x;
                        if (i >= arrayLength(&input)) { return; }
                        out[i] = gumbel_of_bits(input[i]);
                    }";
        let sig = [Slot::Read, Slot::ReadWrite];
        let pipe = kern.pipeline("gumbel_test", "main", &[PHILOX, test], &Defines::new(), &sig).unwrap();
        let mut rng = rand::rng();
        // Every top-23-bit value m ≥ 2^23 − 2^15, then random words; the low 9 bits random.
        let mut input: Vec<u32> = (0..1u32 << 15).map(|q| ((0x7f_ffff - q) << 9) | rng.random_range(0..512)).collect();
        input.extend((0..1u32 << 15).map(|_| rng.random::<u32>()));
        input.extend([0, u32::MAX, 0x8000_0000, 0x7fff_ffff]);
        let n = input.len();
        let inb = buf_u32(&kern, &input);
        let outb = buf_u32(&kern, &vec![0u32; n]);
        let bg = kern.bind(&sig, "gumbel_test", &[&inb, &outb]).unwrap();
        run(&kern, |p| {
            p.set_pipeline(pipe.get());
            p.set_bind_group(0, &bg, &[]);
            p.dispatch_workgroups(groups(n as u32, 64), 1, 1);
        });
        let got: Vec<f32> = bytemuck::cast_slice(&read(&kern, &outb, n)).to_vec();
        let (mut worst, mut at) = (0f64, 0u32);
        for (&x, &g) in input.iter().zip(&got) {
            let err = (g as f64 - philox::gumbel(philox::u01(x))).abs();
            if err > worst || err.is_nan() {
                (worst, at) = (err, x);
            }
        }
        eprintln!("Gumbel: max error {worst:.2e} at u = 1 − {:.3e}", 1.0 - philox::u01(at) as f64);
        assert!(worst <= 2e-5, "Gumbel noise off by {worst:.2e} at u = {}", philox::u01(at));
    }

    /// Every pipeline of both variants builds (naga validates the WGSL), each made at once
    /// rather than on first use, inside an error scope.
    #[test]
    fn pipelines_build() {
        for variant in [Variant::Row, Variant::Cooperative] {
            let kern = kernels(variant);
            let made = pollster::block_on(kern.gpu.checked("the sampler's pipelines", async {
                for vocab in [1, 300, 49152] {
                    SamplerChain::new(&kern, vocab, 4).unwrap();
                }
                kern.make_all_pipelines();
            }));
            made.unwrap_or_else(|e| panic!("{variant:?}: {e}"));
            assert!(kern.pipelines().iter().all(|p| p.made_ms.is_some()));
        }
    }
}
