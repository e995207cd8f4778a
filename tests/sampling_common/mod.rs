//! Shared by the sampler tests: a chain on its own logits/tokens buffers, one-step runs,
//! random rows of several shapes, and the check of one lane against the CPU reference.
#![allow(dead_code)]

use rand::Rng;
use samplescope::gpu::Variant;
use samplescope::kernels::Kernels;
use samplescope::sampling::cpu::greedy_pick;
use samplescope::sampling::cpu::{self, Overrides};
use samplescope::sampling::{ChainBinding, LaneParams, LaneRecord, SamplerChain, SamplerConfig};
use samplescope::{Gpu, GpuOptions};

/// top-nσ: |GPU − CPU threshold| ≤ SIGMA_TOL · (|max| + n·σ). The GPU sums in f32 (Welford
/// per slice, Chan's merge), the CPU in f64.
pub const SIGMA_TOL: f64 = 1e-6;
/// top-p: the GPU threshold must be the exact answer for some target within TOP_P_TOL
/// (relative) of p · total: f32 exp on the GPU (a few ulp) against f64 exp on the CPU.
pub const TOP_P_TOL: f64 = 1e-6;
/// The GPU's Gumbel-max pick must equal the CPU's unless the CPU's best and second-best
/// perturbed values are closer than this (f32 logs on the GPU).
pub const PICK_MARGIN: f64 = 1e-4;

pub fn gpu() -> Gpu {
    pollster::block_on(Gpu::new(GpuOptions::default())).expect("a GPU adapter (lavapipe)")
}

pub struct Harness {
    pub kern: Kernels,
    pub chain: SamplerChain,
    pub bind: ChainBinding,
    pub logits: wgpu::Buffer,
    pub tokens: wgpu::Buffer,
    pub vocab: usize,
}

impl Harness {
    pub fn new(gpu: &Gpu, variant: Variant, vocab: usize, lanes: usize) -> Harness {
        let kern = Kernels::new(gpu.clone());
        let chain = SamplerChain::with_variant(&kern, vocab as u32, lanes as u32, variant).unwrap();
        let logits = gpu.storage("logits", (4 * vocab * lanes) as u64).unwrap();
        let tokens = gpu.storage("tokens", 4 * lanes as u64).unwrap();
        let bind = chain.bind(&kern, &logits, &tokens).unwrap();
        Harness { kern, chain, bind, logits, tokens, vocab }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.kern.gpu
    }

    /// Sets lanes, histories (step 0 unless given) and the logits, without running.
    pub fn setup(&mut self, rows: &[f32], params: &[LaneParams], histories: &[Vec<u32>], step: u32) {
        let gpu = self.kern.gpu.clone();
        self.bind.set_params(&gpu, params).unwrap();
        for (l, h) in histories.iter().enumerate() {
            self.bind.set_history(&gpu, l as u32, h, step).unwrap();
        }
        gpu.queue.write_buffer(&self.logits, 0, bytemuck::cast_slice(rows));
    }

    /// Records `steps` chain steps in one submission (the logits stay as they are).
    pub fn run(&self, steps: usize) {
        let gpu = &self.kern.gpu;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..steps {
                self.chain.record(&mut pass, &self.bind);
            }
        }
        gpu.queue.submit([enc.finish()]);
    }

    pub fn records(&self) -> Vec<LaneRecord> {
        pollster::block_on(self.bind.read_records(self.gpu())).unwrap()
    }

    pub fn masks(&self) -> Vec<Vec<bool>> {
        pollster::block_on(self.chain.read_masks(self.gpu(), &self.bind)).unwrap()
    }

    pub fn tokens(&self, n: usize) -> Vec<u32> {
        let b = pollster::block_on(self.gpu().read_storage(&self.tokens, 0, 4 * n as u64)).unwrap();
        bytemuck::pod_collect_to_vec(&b)
    }

    pub fn histories(&self) -> Vec<(Vec<u32>, u32)> {
        pollster::block_on(self.bind.read_histories(self.gpu())).unwrap()
    }
}

pub fn normal(rng: &mut impl Rng) -> f32 {
    let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Row shapes the tests cover.
pub const KINDS: [&str; 7] = ["logits", "ties", "neg_inf", "peaked", "flat", "constant", "nan"];

/// A random row of `kind`: logit-like (a Gaussian bulk and a tail of a few high tokens),
/// values on a 0.25 grid (many ties, across and inside slices), 40 % −inf, one token far
/// above the rest, nearly flat, exactly constant, or with NaN and +-inf sprinkled in; or
/// (not in KINDS) two values, half the tokens tied at the top.
pub fn row(rng: &mut impl Rng, kind: &str, v: usize) -> Vec<f32> {
    let mut r: Vec<f32> = (0..v).map(|_| normal(rng) * 2.5 - 3.0).collect();
    for _ in 0..(v / 200).max(3) {
        let i = rng.random_range(0..v);
        r[i] = rng.random_range(3.0..12.0);
    }
    match kind {
        "ties" => r.iter_mut().for_each(|x| *x = (*x * 4.0).round() / 4.0),
        "neg_inf" => r.iter_mut().for_each(|x| {
            if rng.random_bool(0.4) {
                *x = f32::NEG_INFINITY
            }
        }),
        "peaked" => r[rng.random_range(0..v)] = 40.0,
        "flat" => r.iter_mut().for_each(|x| *x = 1.0 + *x * 1e-3),
        "constant" => r.iter_mut().for_each(|x| *x = 0.5),
        "two_level" => r.iter_mut().for_each(|x| *x = if rng.random_bool(0.5) { 1.0 } else { -2.0 }),
        "nan" => {
            for _ in 0..5 {
                let i = rng.random_range(0..v);
                r[i] = f32::NAN;
            }
            let i = rng.random_range(0..v);
            r[i] = f32::NEG_INFINITY;
        }
        _ => {}
    }
    r
}

/// What a lane check saw, for the test's summary line.
#[derive(Default, Debug)]
pub struct Seen {
    pub lanes: usize,
    pub sigma_err: f64,
    pub top_p_err: f64,
    pub close_picks: usize,
}

/// Checks one lane's GPU result against the CPU reference (see the constants above):
/// greedy picks equal argmax exactly; the top-nσ and top-p thresholds within tolerance; then,
/// with the GPU's values for those two substituted, the CPU chain's top-k cut, min-p
/// threshold, survivor set and count must equal the GPU's exactly, and the pick must be
/// the CPU's Gumbel-max pick unless that one is a near tie.
#[allow(clippy::too_many_arguments)]
pub fn check_lane(
    what: &str,
    z: &[f32],
    history: &[u32],
    cfg: &SamplerConfig,
    sample: u32,
    rec: &LaneRecord,
    gpu_mask: &[bool],
    seen: &mut Seen,
) {
    seen.lanes += 1;
    let step = rec.step;
    let mut zp = z.to_vec();
    cpu::penalize(&mut zp, history, cfg);
    let n_gpu = gpu_mask.iter().filter(|&&k| k).count() as u32;
    assert_eq!(rec.survivors, if cfg.is_greedy() { 1 } else { n_gpu }, "{what}: record.survivors vs the GPU mask");
    if cfg.is_greedy() {
        let want = greedy_pick(&zp);
        assert_eq!(rec.token, want, "{what}: greedy pick vs argmax");
        assert!(gpu_mask[want as usize] && n_gpu == 1, "{what}: greedy mask");
        return;
    }
    let w = cpu::working(&zp, cfg);
    let plain = cpu::truncate(&w, cfg, &Overrides::default());
    assert_eq!(rec.in_play, plain.in_play, "{what}: tokens in play");
    if plain.in_play == 0 {
        assert_eq!((rec.token, rec.survivors), (greedy_pick(&zp), 0), "{what}: nothing in play → argmax");
        return;
    }
    assert_eq!(rec.max_logit, plain.max, "{what}: max");
    let mut ov = Overrides::default();
    if let Some(n) = cfg.top_n_sigma {
        let c = plain.thresholds.sigma.unwrap() as f64;
        let g = rec.sigma_threshold().expect("GPU applied top-nσ") as f64;
        let scale = plain.max.abs() as f64 + (plain.max as f64 - c).abs().max(n as f64 * 1e-3);
        let err = (g - c).abs() / scale;
        seen.sigma_err = seen.sigma_err.max(err);
        assert!(err <= SIGMA_TOL, "{what}: σ threshold gpu {g} cpu {c}: error {err:.2e} of scale {scale}");
        ov.sigma = Some(g as f32);
    }
    if cfg.top_p < 1.0 {
        // The tokens top-p sees: after σ (the GPU's) and top-k.
        let before_p = SamplerConfig { top_p: 1.0, min_p: 0.0, ..cfg.clone() };
        let keep = cpu::truncate(&w, &before_p, &ov).mask;
        let g = rec.top_p_threshold().expect("GPU applied top-p");
        let total = cpu::mass_at(&w, &keep, plain.max, f32::NEG_INFINITY, false);
        let target = cfg.top_p as f64 * total;
        let at = cpu::mass_at(&w, &keep, plain.max, g, false);
        let above = cpu::mass_at(&w, &keep, plain.max, g, true);
        // g is right for the target t iff mass(> g) < t ≤ mass(≥ g).
        let err = ((target - at) / target).max((above - target) / target).max(0.0);
        seen.top_p_err = seen.top_p_err.max(err);
        assert!(
            err <= TOP_P_TOL && keep.iter().zip(&w).any(|(&k, &x)| k && x == g),
            "{what}: top-p threshold {g}: mass ≥ it {at}, > it {above}, target {target} (error {err:.2e})"
        );
        ov.top_p = Some(g);
    }
    let t = cpu::truncate(&w, cfg, &ov);
    if let Some(cut) = t.thresholds.top_k {
        assert_eq!(rec.top_k_cut(), Some((cut.value, cut.last_id)), "{what}: top-k cut");
    } else {
        assert_eq!(rec.top_k_cut(), None, "{what}: top-k should not cut");
    }
    assert_eq!(rec.min_p_threshold(), t.thresholds.min_p, "{what}: min-p threshold");
    if t.mask != gpu_mask {
        let diff: Vec<usize> = (0..w.len()).filter(|&i| t.mask[i] != gpu_mask[i]).take(10).collect();
        let show: Vec<String> =
            diff.iter().map(|&i| format!("{i}: w {} cpu {} gpu {}", w[i], t.mask[i], gpu_mask[i])).collect();
        panic!(
            "{what}: survivor sets differ ({} cpu, {} gpu): {show:?}; thresholds {:?}, record {rec:?}",
            t.survivors, n_gpu, t.thresholds
        );
    }
    assert!(gpu_mask[rec.token as usize], "{what}: the pick {} is not a survivor", rec.token);
    let (want, margin) = cpu::gumbel_pick(&w, &t.mask, cfg, step, sample);
    if margin < PICK_MARGIN {
        seen.close_picks += 1;
    } else {
        assert_eq!(rec.token, want, "{what}: Gumbel-max pick (margin {margin:.2e})");
    }
}

/// Configurations exercising each sampler alone and mixed.
pub fn configs() -> Vec<SamplerConfig> {
    [
        "greedy",
        "temperature=1",
        "temperature=0.7,top_k=1",
        "top_k=7",
        "top_k=40,temperature=2",
        "top_k=2000",
        "top_p=0.1",
        "top_p=0.5,temperature=0.7",
        "top_p=0.9",
        "top_p=0.999,temperature=2",
        "min_p=0.05",
        "min_p=0.3,temperature=2",
        "min_p=0.1,temperature=1.5,temperature_position=last",
        "top_n_sigma=0.5",
        "top_n_sigma=1,temperature=2",
        "top_n_sigma=3",
        "repetition_penalty=1.3",
        "greedy,repetition_penalty=2",
        "top_k=40,top_p=0.95,top_n_sigma=1.0,repetition_penalty=1.1,temperature_position=last",
        "top_k=100,top_p=0.8,min_p=0.02,temperature=0.7",
        "top_n_sigma=1.5,top_p=0.9,temperature=2,seed=3",
        "top_k=5,top_p=0.3,min_p=0.2,top_n_sigma=2,temperature=0.5,seed=12345678901",
    ]
    .iter()
    .map(|s| SamplerConfig::parse(s).unwrap())
    .collect()
}
