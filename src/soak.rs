//! The native soak: one long run of B lanes, with the process's resident memory and the
//! GPU memory the device has allocated sampled along the way, to show that a long run does
//! not grow. `tests/soak.rs` runs a short one on a synthetic model in CI; `cargo run
//! --release --example soak -- --lanes 8 --tokens 4096` runs the long one on the default
//! model. Not built for wasm (it reads /proc; the page has its own soak test).

use crate::engine::{lane_specs, Engine, GenerateOptions};
use crate::error::{Error, Result};
use crate::sampling::SamplerConfig;

/// Memory after `token` tokens of every lane.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub token: u32,
    /// Resident set size of this process (0 where /proc is unavailable).
    pub rss_bytes: u64,
    /// Bytes the device's allocator has handed out (None where the backend has no report).
    pub gpu_bytes: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct SoakReport {
    pub lanes: u32,
    pub tokens: u32,
    pub samples: Vec<Sample>,
    pub seconds: f64,
}

/// The resident set size of this process, from /proc/self/statm (Linux), else 0.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).map_or(0, |pages| pages * 4096)
}

/// Runs `lanes` sampled lanes (temperature 1, top-p 0.95, min-p 0.02, a repetition penalty:
/// every stage of the chain) of `tokens` tokens each, never stopping early, and samples
/// memory `samples` times along the way; `on_sample` hears each sample as it is taken.
pub async fn run(
    engine: &mut Engine,
    prompt: &[u32],
    lanes: u32,
    tokens: u32,
    samples: u32,
    mut on_sample: impl FnMut(&Sample),
) -> Result<SoakReport> {
    let cfg = SamplerConfig::parse("temperature=1,top_p=0.95,min_p=0.02,repetition_penalty=1.05,seed=7")?;
    let specs = lane_specs(&vec![cfg; lanes as usize], false);
    let opts = GenerateOptions { max_tokens: tokens, stop_at_eog: false, ..GenerateOptions::default() };
    let gpu = engine.model.kern.gpu.clone();
    let every = (tokens / samples.max(1)).max(1);
    let sample = |token| Sample {
        token,
        rss_bytes: rss_bytes(),
        gpu_bytes: gpu.device.generate_allocator_report().map(|r| r.total_allocated_bytes),
    };
    let mut out = vec![sample(0)];
    on_sample(&out[0]);
    let t0 = std::time::Instant::now();
    let gens = engine
        .generate(prompt, &specs, &opts, |ev| {
            let n = ev.index + 1;
            if ev.lane == lanes - 1 && (n % every == 0 || n == tokens) {
                out.push(sample(n));
                on_sample(&out[out.len() - 1]);
            }
        })
        .await?;
    if let Some(g) = gens.iter().find(|g| g.ids.len() != tokens as usize) {
        return Err(Error::Model(format!("a lane stopped after {} of {tokens} tokens ({})", g.ids.len(), g.stop)));
    }
    Ok(SoakReport { lanes, tokens, samples: out, seconds: t0.elapsed().as_secs_f64() })
}

impl SoakReport {
    /// Memory from the first decoded sample on (the KV cache and the lanes are allocated
    /// by then) to the end: the GPU's must not change at all (a decode step allocates
    /// nothing on the GPU), the process's must grow by at most `rss_slack` bytes.
    pub fn check(&self, rss_slack: u64) -> Result<()> {
        let after_start = &self.samples[1.min(self.samples.len() - 1)..];
        let (first, last) = (after_start[0], after_start[after_start.len() - 1]);
        let gpu: Vec<u64> = after_start.iter().filter_map(|s| s.gpu_bytes).collect();
        if gpu.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::Model(format!("GPU memory changed during the run: {gpu:?}")));
        }
        let grew = last.rss_bytes.saturating_sub(first.rss_bytes);
        if grew > rss_slack {
            return Err(Error::Model(format!(
                "resident memory grew by {:.1} MB from token {} to token {} (allowed {:.1} MB)",
                grew as f64 / 1e6,
                first.token,
                last.token,
                rss_slack as f64 / 1e6
            )));
        }
        Ok(())
    }

    /// One line per sample: tokens, RSS MB, GPU MB.
    pub fn table(&self) -> String {
        let mut s = format!("{} lanes × {} tokens in {:.1} s\n{HEADER}\n", self.lanes, self.tokens, self.seconds);
        self.samples.iter().for_each(|x| s.push_str(&format!("{}\n", x.row())));
        s
    }
}

/// The column names of `Sample::row`.
pub const HEADER: &str = "  token    RSS MB    GPU MB";

impl Sample {
    /// Tokens, RSS MB, GPU MB.
    pub fn row(&self) -> String {
        let mb = |b: u64| format!("{:.1}", b as f64 / 1e6);
        format!("  {:>5} {:>9} {:>9}", self.token, mb(self.rss_bytes), self.gpu_bytes.map_or("-".to_string(), mb))
    }
}
