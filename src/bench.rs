//! The benchmark behind `samplescope bench` (and the page's, later): prefill and decode
//! rates for 1..B lanes, time to first token, and GPU time per kernel family. Every figure
//! is the median of `runs` runs with min and max. Platform-neutral: it only awaits.

use serde::Serialize;
use web_time::Instant;

use crate::engine::Pipeline;
use crate::error::{Error, Result};
use crate::gpu::profile::Counts;
use crate::model::{Model, Rows};
use crate::sampling::config::SamplerConfig;
use crate::sampling::LaneParams;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub prompt_tokens: u32,
    pub decode_tokens: u32,
    pub lanes: Vec<u32>,
    pub runs: u32,
    /// The decode loop's order of submits and readbacks, as in the engine (`Pipeline`).
    pub pipeline: Pipeline,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            prompt_tokens: 128,
            decode_tokens: 128,
            lanes: vec![1, 4, 16, 64],
            runs: 3,
            pipeline: Pipeline::Auto,
        }
    }
}

/// Median, min and max of repeated measurements.
#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stat {
    pub fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat {
            median,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
            runs: n,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LaneRate {
    pub lanes: u32,
    /// KV cache bytes each lane owns (the shared prompt's are counted once, elsewhere).
    pub kv_bytes_per_lane: u64,
    /// Tokens per second summed over the lanes.
    pub aggregate_tok_s: Stat,
}

#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    pub kernel: String,
    pub calls: u32,
    pub ms: f64,
    pub share: f64,
}

/// The full sampler chain's GPU time against the whole decode step.
#[derive(Clone, Debug, Serialize)]
pub struct SamplerShare {
    pub lanes: u32,
    pub chain_ms: f64,
    pub step_ms: f64,
    pub share: f64,
    /// Profiled steps the one above is the median (by share) of.
    pub profiled_steps: u32,
    /// Bytes read back per lane per step (the record).
    pub readback_bytes_per_lane: u32,
}

/// How close one decode step at B = 1 runs to the memory-bandwidth bound.
#[derive(Clone, Debug, Serialize)]
pub struct Bandwidth {
    /// Bytes one step must read at least: every weight once, plus the KV cache up to the
    /// prompt's end (activations are a few KB and left out).
    pub step_bytes: u64,
    /// GPU time of that step (the kernel table's total).
    pub step_ms: f64,
    /// step_bytes / step_ms.
    pub achieved_gb_s: f64,
    /// A buffer-to-buffer copy on the adapter (read + write counted once each), the best of
    /// a few: the bound a step could reach.
    pub copy_gb_s: f64,
    /// achieved / copy.
    pub fraction: f64,
}

/// The two floors a B = 1 decode step cannot beat, and the step's figures against them.
#[derive(Clone, Debug, Serialize)]
pub struct Floors {
    /// Bytes one step must read at least (as `Bandwidth::step_bytes`).
    pub step_bytes: u64,
    /// The adapter's copy bandwidth (as `Bandwidth::copy_gb_s`).
    pub copy_gb_s: f64,
    /// step_bytes ÷ copy_gb_s.
    pub bandwidth_floor_ms: f64,
    /// Dispatch calls one greedy B = 1 decode step records, counted as it records them.
    pub dispatches: u32,
    /// The step's ops (kernel families as the profile labels them; one op may dispatch
    /// several times, the sampler chain up to ~30).
    pub ops: u32,
    /// Whether `dispatches` was counted; false while the kernels record through the plain
    /// `wgpu::ComputePass` (see gpu::profile), and then the floor uses the ops, a lower bound.
    pub counted: bool,
    /// One empty dispatch on the adapter.
    pub dispatch_cost: crate::gpu::profile::DispatchCost,
    /// (dispatches, or ops when not counted) × dispatch_cost.us.
    pub dispatch_floor_ms: f64,
    /// Wall time of a B = 1 decode step (1 / the median B = 1 rate), when B = 1 was run.
    pub decode_step_ms: Option<f64>,
    /// GPU time of a B = 1 step (the kernel table's total), with timestamp queries.
    pub gpu_step_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub prompt_tokens: u32,
    pub decode_tokens: u32,
    /// Whether the decode loop ran one step ahead (`BenchOptions::pipeline` on this adapter).
    pub pipelined: bool,
    pub prefill_tok_s: Stat,
    pub time_to_first_token_ms: Stat,
    pub decode: Vec<LaneRate>,
    /// GPU time per kernel family for one single-lane decode step (empty without timestamps).
    pub kernels: Vec<KernelRow>,
    /// Penalty + top-nσ + top-k + top-p + min-p + sample, at 1 and 16 lanes.
    pub sampler_share: Vec<SamplerShare>,
    pub weight_bytes: u64,
    /// None without timestamp queries.
    pub bandwidth: Option<Bandwidth>,
    /// Bandwidth and dispatch floors of a B = 1 step.
    pub floors: Floors,
}

/// The adapter's copy bandwidth in GB/s (bytes read + bytes written per second): the best of
/// 5 copies of a 64 MiB buffer, timed on the host around submit and wait.
pub async fn copy_bandwidth(gpu: &crate::gpu::Gpu) -> Result<f64> {
    const BYTES: u64 = 64 << 20;
    let (src, dst) = (gpu.storage("bw_src", BYTES)?, gpu.storage("bw_dst", BYTES)?);
    let mut best = f64::MAX;
    for _ in 0..6 {
        let t = Instant::now();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&src, 0, &dst, 0, BYTES);
        gpu.queue.submit([enc.finish()]);
        // A tiny readback waits for the copy on every platform (wait_idle is a no-op on the web).
        gpu.read_storage(&dst, 0, 4).await?;
        best = best.min(ms_since(t));
    }
    Ok(2.0 * BYTES as f64 / (best / 1e3) / 1e9)
}

/// Every sampler of the chain on at once (the "full chain").
pub fn full_chain() -> SamplerConfig {
    SamplerConfig {
        temperature: 1.0,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        top_n_sigma: Some(2.0),
        repetition_penalty: 1.1,
        ..SamplerConfig::default()
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A deterministic prompt of `n` ordinary token ids.
fn prompt(n: u32, vocab: u32) -> Vec<u32> {
    (0..n).map(|i| 300 + (i * 7919) % vocab.saturating_sub(300).max(1)).map(|t| t.min(vocab - 1)).collect()
}

impl BenchOptions {
    /// Checks the sizes and returns the context the model needs (prompt + decode tokens +
    /// the 8 warm-up positions), in u64 arithmetic: `--prompt-tokens 4294967295` once
    /// wrapped the u32 sum and then built a 17 GB prompt.
    pub fn context(&self) -> Result<u32> {
        if self.prompt_tokens == 0 || self.decode_tokens < 2 || self.runs == 0 {
            return Err(Error::Param(format!(
                "bench: prompt_tokens = {}, decode_tokens = {}, runs = {}: need ≥ 1, ≥ 2 and ≥ 1",
                self.prompt_tokens, self.decode_tokens, self.runs
            )));
        }
        let n = self.prompt_tokens as u64 + self.decode_tokens as u64 + 8;
        if n > MAX_BENCH_CONTEXT as u64 {
            return Err(Error::Context(format!(
                "bench: {} prompt + {} decode tokens: at most {MAX_BENCH_CONTEXT} together",
                self.prompt_tokens, self.decode_tokens
            )));
        }
        if self.lanes.is_empty() || self.lanes.contains(&0) {
            return Err(Error::Param("bench: lanes must be at least 1 each".into()));
        }
        Ok(n as u32)
    }
}

/// The ops and dispatches one greedy B = 1 decode step records (as the decode loop records
/// it), after the prompt `ids`, with room for `lane_tokens` tokens.
pub async fn step_counts(model: &mut Model, ids: &[u32], lane_tokens: u32) -> Result<Counts> {
    model.set_lanes(&[LaneParams::new(&SamplerConfig::greedy(), 0)?], ids, 0)?;
    model.start_lanes(ids, 1, lane_tokens).await?;
    model.collect().await?;
    model.submit(Rows::Lanes { step: 1, ids: None })?;
    let counts = crate::gpu::profile::last_counts();
    model.collect().await?;
    Ok(counts)
}

/// The longest context a bench asks for (Llama 3's 128k; the model's own is usually less).
pub const MAX_BENCH_CONTEXT: u32 = 1 << 17;

/// Runs the benchmark. `progress` hears a line per measurement (the runs are slow on a
/// software adapter; the CLI prints them as they come).
pub async fn run(model: &mut Model, opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<BenchReport> {
    let need = opts.context()?;
    if need > model.n_ctx {
        return Err(Error::Context(format!(
            "bench: {} prompt + {} decode tokens (+ 8) need a context of {need}; the model holds {}",
            opts.prompt_tokens, opts.decode_tokens, model.n_ctx
        )));
    }
    let ids = prompt(opts.prompt_tokens, model.cfg.vocab);
    // Greedy lanes, as `generate` runs them; one for the prompt.
    let greedy = |b: u32| (0..b).map(|_| LaneParams::new(&SamplerConfig::greedy(), 0)).collect::<Result<Vec<_>>>();
    model.set_lanes(&greedy(1)?, &ids, 0)?;
    let prompt_step = |model: &mut Model, ids: &[u32]| -> Result<()> {
        model.discard();
        model.submit(Rows::Sequence { ids, pos0: 0, sample: true })
    };
    // Warm-up: the first dispatches of each pipeline pay for shader compilation.
    prompt_step(model, &ids[..ids.len().min(8)])?;
    model.collect().await?;
    model.submit(Rows::Sequence { ids: &ids[..1], pos0: ids.len().min(8) as u32, sample: true })?;
    model.collect().await?;

    let (mut prefill, mut ttft) = (Vec::new(), Vec::new());
    for run in 0..opts.runs {
        let t = Instant::now();
        prompt_step(model, &ids)?;
        model.collect().await?;
        let ms = ms_since(t);
        prefill.push(ids.len() as f64 / (ms / 1e3));
        ttft.push(ms);
        progress(&format!("prefill {} tokens, run {}: {:.1} tok/s", ids.len(), run + 1, ids.len() as f64 / (ms / 1e3)));
    }

    let mut decode = Vec::new();
    let one_ahead = opts.pipeline.one_ahead(&model.kern.gpu);
    for &b in &opts.lanes {
        let cap = model.lane_capacity(opts.decode_tokens);
        if b > cap {
            progress(&format!(
                "B = {b}: skipped, this adapter and KV budget fit {cap} lanes of {} tokens",
                opts.decode_tokens
            ));
            continue;
        }
        let mut rates = Vec::new();
        model.set_lanes(&greedy(b)?, &ids, 0)?;
        for run in 0..opts.runs {
            model.start_lanes(&ids, b, opts.decode_tokens).await?;
            model.collect().await?;
            let t = Instant::now();
            // As Engine::generate: one step ahead (submit step + 1, then read step back), or
            // one step at a time.
            let ahead = one_ahead as u32;
            for step in 1..opts.decode_tokens + ahead {
                if step < opts.decode_tokens {
                    model.submit(Rows::Lanes { step, ids: None })?;
                }
                if step > ahead {
                    model.collect().await?;
                }
            }
            let ms = ms_since(t);
            let rate = b as f64 * (opts.decode_tokens - 1) as f64 / (ms / 1e3);
            progress(&format!("decode B = {b}, run {}: {rate:.2} tok/s aggregate", run + 1));
            rates.push(rate);
        }
        decode.push(LaneRate {
            lanes: b,
            kv_bytes_per_lane: model.lane_kv_bytes(opts.decode_tokens),
            aggregate_tok_s: Stat::of(rates),
        });
    }

    let counts = step_counts(model, &ids, opts.decode_tokens).await?;

    let mut kernels = Vec::new();
    if model.kern.gpu.facts.has_timestamps {
        model.set_lanes(&greedy(1)?, &ids, 0)?;
        prompt_step(model, &ids)?;
        model.collect().await?;
        let times = model.profile_step(1, ids.len() as u32).await?;
        let total: f64 = times.iter().map(|t| t.2).sum();
        kernels = times
            .into_iter()
            .map(|(k, calls, ms)| KernelRow {
                kernel: k.to_string(),
                calls,
                ms,
                share: if total > 0.0 { ms / total } else { 0.0 },
            })
            .collect();
    }
    let step_bytes = model.weight_bytes + ids.len() as u64 * model.kv_bytes_per_slot();
    let copy_gb_s = copy_bandwidth(&model.kern.gpu).await?;
    let dispatch_cost = crate::gpu::profile::empty_dispatch_cost(&model.kern.gpu).await?;
    let counted = counts.dispatches > 0;
    let n = if counted { counts.dispatches } else { counts.ops };
    progress(&format!(
        "copy bandwidth {copy_gb_s:.1} GB/s; an empty dispatch costs {:.2} µs ({}); a B = 1 step records {n} {}",
        dispatch_cost.us,
        dispatch_cost.timed_by,
        if counted { "dispatches" } else { "ops (dispatches not counted)" }
    ));
    let gpu_step_ms = (!kernels.is_empty()).then(|| kernels.iter().map(|k| k.ms).sum::<f64>());
    let mut bandwidth = None;
    if let Some(step_ms) = gpu_step_ms {
        let achieved_gb_s = step_bytes as f64 / (step_ms / 1e3) / 1e9;
        progress(&format!("a decode step reads {:.1} MB in {step_ms:.1} ms", step_bytes as f64 / 1e6));
        bandwidth =
            Some(Bandwidth { step_bytes, step_ms, achieved_gb_s, copy_gb_s, fraction: achieved_gb_s / copy_gb_s });
    }
    let floors = Floors {
        step_bytes,
        copy_gb_s,
        bandwidth_floor_ms: step_bytes as f64 / (copy_gb_s * 1e9) * 1e3,
        dispatches: counts.dispatches,
        ops: counts.ops,
        counted,
        dispatch_floor_ms: n as f64 * dispatch_cost.us / 1e3,
        dispatch_cost,
        decode_step_ms: decode
            .iter()
            .find(|d| d.lanes == 1)
            .map(|d| 1e3 / d.aggregate_tok_s.median)
            .filter(|ms| ms.is_finite()),
        gpu_step_ms,
    };
    let mut sampler_share = Vec::new();
    if model.kern.gpu.facts.has_timestamps {
        let max_rows = model.max_rows;
        for b in [1u32, 16].into_iter().filter(|&b| b <= max_rows) {
            let lanes = (0..b).map(|i| LaneParams::new(&full_chain(), i)).collect::<Result<Vec<_>>>()?;
            model.set_lanes(&lanes, &ids, 0)?;
            // The first dispatch of a pipeline pays for its compilation: time the ones after
            // it, and take the step of median share (one profiled step varies by ±30% on a
            // busy CPU adapter).
            let mut steps = Vec::new();
            for i in 0..=opts.runs.max(3) {
                match model.profile_step(b, ids.len() as u32).await {
                    Ok(_) if i == 0 => {}
                    Ok(times) => {
                        let step_ms: f64 = times.iter().map(|t| t.2).sum();
                        let chain_ms: f64 = times.iter().filter(|t| t.0 == "sampler chain").map(|t| t.2).sum();
                        steps.push((chain_ms, step_ms));
                    }
                    Err(e) => return Err(e),
                }
            }
            steps.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
            let (chain_ms, step_ms) = steps[steps.len() / 2];
            progress(&format!(
                "sampler chain at B = {b}: {chain_ms:.2} ms of a {step_ms:.1} ms step (median share of {})",
                steps.len()
            ));
            sampler_share.push(SamplerShare {
                lanes: b,
                chain_ms,
                step_ms,
                share: if step_ms > 0.0 { chain_ms / step_ms } else { 0.0 },
                profiled_steps: steps.len() as u32,
                readback_bytes_per_lane: 64,
            });
        }
    }
    Ok(BenchReport {
        sampler_share,
        prompt_tokens: ids.len() as u32,
        decode_tokens: opts.decode_tokens,
        pipelined: one_ahead,
        prefill_tok_s: Stat::of(prefill),
        time_to_first_token_ms: Stat::of(ttft),
        decode,
        kernels,
        weight_bytes: model.weight_bytes,
        bandwidth,
        floors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_without_overflow() {
        let o = |p: u32, d: u32| BenchOptions { prompt_tokens: p, decode_tokens: d, ..BenchOptions::default() };
        assert_eq!(o(128, 128).context().unwrap(), 264);
        // u32::MAX + 128 + 8 once wrapped to 135.
        let e = o(u32::MAX, 128).context().unwrap_err().to_string();
        assert!(e.contains("4294967295 prompt + 128 decode tokens: at most 131072"), "{e}");
        assert!(o(128, u32::MAX).context().is_err());
        assert!(o(0, 128).context().is_err());
        assert!(o(128, 1).context().unwrap_err().to_string().contains("decode_tokens = 1"));
        let e = BenchOptions { lanes: vec![1, 0], ..BenchOptions::default() }.context().unwrap_err();
        assert!(e.to_string().contains("lanes"), "{e}");
    }

    /// What the dispatch floor counts: a B = 1 greedy step of the synthetic default model
    /// records, per layer, rmsnorm, q·k·v (one split matmul: the types match), rope, attention
    /// (scores, mix), o, rmsnorm, gate·up, down; then the embedding before and the final norm,
    /// the logits and the greedy chain (row variant: stats slices + lanes, pick lanes;
    /// cooperative: stats, pick) after.
    #[test]
    fn a_step_records_what_the_forward_pass_records() {
        use crate::gguf::Gguf;
        use crate::gpu::{Gpu, GpuOptions, Variant};
        use crate::model::LoadOptions;
        use crate::synth::{synthetic_model, SynthSpec};
        let spec = SynthSpec::default();
        let bytes = synthetic_model(&spec).unwrap();
        let g = Gguf::parse(&bytes).unwrap();
        for variant in [Variant::Row, Variant::Cooperative] {
            let gpu = pollster::block_on(Gpu::new(GpuOptions { variant: Some(variant), ..Default::default() }))
                .expect("a GPU adapter (lavapipe)");
            let opts = LoadOptions { n_ctx: 32, max_rows: 4, ..LoadOptions::default() };
            let mut model = pollster::block_on(Model::load(gpu, &g, &opts)).unwrap();
            let c = pollster::block_on(step_counts(&mut model, &[5, 77, 260, 3], 4)).unwrap();
            let n_layer = spec.n_layer as u32;
            assert_eq!(c.ops, 1 + 8 * n_layer + 3, "{variant:?}: ops");
            let chain = if variant == Variant::Row { 3 } else { 2 };
            assert_eq!(c.dispatches, 1 + 9 * n_layer + 2 + chain, "{variant:?}: dispatches");
        }
    }
}
