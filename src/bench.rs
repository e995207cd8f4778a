//! The benchmark behind `samplescope bench` (and the page's, later): prefill and decode
//! rates for 1..B lanes, time to first token, and GPU time per kernel family. Every figure
//! is the median of `runs` runs with min and max. Platform-neutral: it only awaits.

use serde::Serialize;
use web_time::Instant;

use crate::error::Result;
use crate::model::Model;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub prompt_tokens: u32,
    pub decode_tokens: u32,
    pub lanes: Vec<u32>,
    pub runs: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { prompt_tokens: 128, decode_tokens: 128, lanes: vec![1, 4, 16, 64], runs: 3 }
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
        Stat { median, min: v.first().copied().unwrap_or(f64::NAN), max: v.last().copied().unwrap_or(f64::NAN), runs: n }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LaneRate {
    pub lanes: u32,
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

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub prompt_tokens: u32,
    pub decode_tokens: u32,
    pub prefill_tok_s: Stat,
    pub time_to_first_token_ms: Stat,
    pub decode: Vec<LaneRate>,
    /// GPU time per kernel family for one single-lane decode step (empty without timestamps).
    pub kernels: Vec<KernelRow>,
    pub weight_bytes: u64,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A deterministic prompt of `n` ordinary token ids.
fn prompt(n: u32, vocab: u32) -> Vec<u32> {
    (0..n).map(|i| 300 + (i * 7919) % vocab.saturating_sub(300).max(1)).map(|t| t.min(vocab - 1)).collect()
}

/// Runs the benchmark. `progress` hears a line per measurement (the runs are slow on a
/// software adapter; the CLI prints them as they come).
pub async fn run(model: &mut Model, opts: &BenchOptions, mut progress: impl FnMut(&str)) -> Result<BenchReport> {
    let ids = prompt(opts.prompt_tokens, model.cfg.vocab);
    // Warm-up: the first dispatches of each pipeline pay for shader compilation.
    model.prefill(&ids[..ids.len().min(8)], 0).await?;
    model.decode(ids.len().min(8) as u32).await?;

    let (mut prefill, mut ttft) = (Vec::new(), Vec::new());
    for run in 0..opts.runs {
        let t = Instant::now();
        model.prefill(&ids, 0).await?;
        let ms = ms_since(t);
        prefill.push(ids.len() as f64 / (ms / 1e3));
        ttft.push(ms);
        progress(&format!("prefill {} tokens, run {}: {:.1} tok/s", ids.len(), run + 1, ids.len() as f64 / (ms / 1e3)));
    }

    let mut decode = Vec::new();
    for &b in &opts.lanes {
        let cap = model.lane_capacity(opts.decode_tokens);
        if b > cap {
            progress(&format!("B = {b}: skipped, this adapter and KV budget fit {cap} lanes of {} tokens", opts.decode_tokens));
            continue;
        }
        let mut rates = Vec::new();
        for run in 0..opts.runs {
            model.start_lanes(&ids, b, opts.decode_tokens).await?;
            let t = Instant::now();
            for step in 1..opts.decode_tokens {
                model.decode_lanes(b, step).await?;
            }
            let ms = ms_since(t);
            let rate = (b * (opts.decode_tokens - 1)) as f64 / (ms / 1e3);
            progress(&format!("decode B = {b}, run {}: {rate:.2} tok/s aggregate", run + 1));
            rates.push(rate);
        }
        decode.push(LaneRate { lanes: b, aggregate_tok_s: Stat::of(rates) });
    }

    let mut kernels = Vec::new();
    if model.kern.gpu.facts.has_timestamps {
        model.prefill(&ids, 0).await?;
        let times = model.profile_step(1, ids.len() as u32).await?;
        let total: f64 = times.iter().map(|t| t.2).sum();
        kernels = times
            .into_iter()
            .map(|(k, calls, ms)| KernelRow { kernel: k.to_string(), calls, ms, share: if total > 0.0 { ms / total } else { 0.0 } })
            .collect();
    }
    Ok(BenchReport {
        prompt_tokens: ids.len() as u32,
        decode_tokens: opts.decode_tokens,
        prefill_tok_s: Stat::of(prefill),
        time_to_first_token_ms: Stat::of(ttft),
        decode,
        kernels,
        weight_bytes: model.weight_bytes,
    })
}
