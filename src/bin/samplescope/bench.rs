//! `samplescope bench`: the benchmark table and its JSON.

use std::path::PathBuf;

use clap::Args;
use samplescope::{Engine, Error, Gpu, GpuOptions, LoadOptions, Result};

use crate::{read_model, ModelArg};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Instead of a file, a released model's shape with random weights, made in memory
    /// (smollm2-135m, gemma-3-270m, llama-3.2-1b, qwen3-0.6b): speed depends on sizes and
    /// formats, not values.
    #[arg(long, conflicts_with = "model")]
    synthetic: Option<String>,
    /// Lane counts to measure decode at.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    lanes: Vec<u32>,
    #[arg(long, default_value_t = 128)]
    prompt_tokens: u32,
    /// Greedy tokens per lane.
    #[arg(long, visible_alias = "decode-tokens", default_value_t = 128)]
    tokens: u32,
    /// Runs per figure (the model load too); each figure is their median with min – max.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Decode loop: `on` submits step t+1 before reading step t back, `off` runs one step at
    /// a time, `auto` (as the engine) is `on` except on a software adapter.
    #[arg(long, default_value = "auto")]
    pipeline: String,
    /// Force a kernel variant (row | cooperative) instead of the adapter's choice.
    #[arg(long)]
    variant: Option<String>,
    /// Matmul activations: `f32` (the engine's default) or `int8` (quantized per 32-value
    /// block, packed 4×8-bit dot products; Q4 and Q8 matrices, either kernel variant).
    #[arg(long, default_value = "f32")]
    activations: String,
    /// Where to write the JSON report [default: results/bench-<unix time>.json]
    #[arg(long)]
    out: Option<PathBuf>,
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

pub fn bench(a: BenchArgs) -> Result<()> {
    use samplescope::bench::{run, BenchOptions, Stat};
    use samplescope::gpu::Variant;
    use samplescope::Pipeline;
    let variant = match a.variant.as_deref() {
        None => None,
        Some("row") => Some(Variant::Row),
        Some("cooperative") => Some(Variant::Cooperative),
        Some(v) => return Err(Error::Param(format!("--variant {v}: use row or cooperative"))),
    };
    let int8 = match a.activations.as_str() {
        "int8" => Some(true),
        "f32" => Some(false),
        v => return Err(Error::Param(format!("--activations {v}: use f32 or int8"))),
    };
    let bo = BenchOptions {
        prompt_tokens: a.prompt_tokens,
        decode_tokens: a.tokens,
        lanes: a.lanes.clone(),
        runs: a.runs.max(1),
        pipeline: Pipeline::parse(&a.pipeline)?,
    };
    // Checked before the model loads: sizes, and the context in u64 (it once wrapped a u32).
    let n_ctx = bo.context()?.max(256);
    let bytes = match &a.synthetic {
        Some(shape) => {
            let t = web_time::Instant::now();
            let bytes = samplescope::synth::synthetic_model(&samplescope::synth::SynthSpec::shape(shape)?)?;
            eprintln!(
                "  synthetic {shape}: {:.1} MB of GGUF made in {:.1} s",
                bytes.len() as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            bytes
        }
        None => read_model(&a.model)?,
    };
    let gpu = pollster::block_on(Gpu::new(GpuOptions { variant, int8, ..Default::default() }))?;
    let facts = gpu.facts.clone();
    let max_lanes = a.lanes.iter().copied().max().unwrap_or(1);
    let opts = LoadOptions { n_ctx, max_rows: max_lanes.max(128), ..LoadOptions::default() };
    let load_before = load_avg();
    let mut load_ms = Vec::new();
    let mut engine = None;
    for run in 0..a.runs.max(1) {
        drop(engine.take()); // the previous copy's GPU memory first
        let t = web_time::Instant::now();
        let e = pollster::block_on(Engine::load(gpu.clone(), &bytes, &opts))?;
        load_ms.push(t.elapsed().as_secs_f64() * 1e3);
        eprintln!("  load, run {}: {:.0} ms ({})", run + 1, load_ms[load_ms.len() - 1], e.load.summary());
        engine = Some(e);
    }
    let mut engine = engine.expect("at least one run");
    let load = Stat::of(load_ms);
    let report = pollster::block_on(run(&mut engine.model, &bo, |line| eprintln!("  {line}")))?;
    let load_after = load_avg();
    let variant = engine.model.kern.variant().name();
    let activations = if engine.model.kern.gpu.int8 { "int8" } else { "f32" };
    println!(
        "\nsamplescope bench — {} ({}, {} kernels, {activations} activations, {} decode), load average {load_before} → {load_after}",
        facts.name,
        facts.backend,
        variant,
        if report.pipelined { "pipelined" } else { "step-by-step" }
    );
    println!(
        "model {}{}: {:.1} MB of weights on the GPU, load {:.0} ms ({:.0} – {:.0})",
        engine.model.cfg.name,
        a.synthetic.as_ref().map(|s| format!(" (shape of {s}, random weights)")).unwrap_or_default(),
        report.weight_bytes as f64 / 1e6,
        load.median,
        load.min,
        load.max
    );
    println!("{:<34} {:>12} {:>21}", "measure", "median", "min – max");
    let row = |name: String, s: &samplescope::bench::Stat, unit: &str| {
        println!("{name:<34} {:>8.2} {unit:<3} {:>9.2} – {:<9.2}", s.median, s.min, s.max);
    };
    row(format!("prefill {} tokens", report.prompt_tokens), &report.prefill_tok_s, "t/s");
    row("time to first token".into(), &report.time_to_first_token_ms, "ms");
    let base = report.decode.first().filter(|d| d.lanes == 1).map(|d| d.aggregate_tok_s.median);
    for d in &report.decode {
        let ratio = base.map(|b| format!("  ({:.1}× B=1)", d.aggregate_tok_s.median / b)).unwrap_or_default();
        row(format!("decode B={} ({} tok/lane) aggregate", d.lanes, report.decode_tokens), &d.aggregate_tok_s, "t/s");
        if d.lanes != 1 && !ratio.is_empty() {
            println!("{:>34}{ratio}", "");
        }
    }
    if !report.kernels.is_empty() {
        let total: f64 = report.kernels.iter().map(|k| k.ms).sum();
        println!("\nGPU time per kernel family, one decode step at B=1 (timestamp queries, {total:.1} ms in all):");
        println!("{:<22} {:>6} {:>10} {:>7}", "kernel", "calls", "ms", "share");
        for k in &report.kernels {
            println!("{:<22} {:>6} {:>10.3} {:>6.1}%", k.kernel, k.calls, k.ms, 100.0 * k.share);
        }
    }
    if let Some(bw) = &report.bandwidth {
        println!(
            "\nBandwidth bound: a B=1 step reads at least {:.1} MB (weights + KV) in {:.1} ms = {:.2} GB/s; \
             the adapter copies at {:.1} GB/s, so the step runs at {:.1}% of the bound",
            bw.step_bytes as f64 / 1e6,
            bw.step_ms,
            bw.achieved_gb_s,
            bw.copy_gb_s,
            100.0 * bw.fraction
        );
    }
    let f = &report.floors;
    let against = |ms: f64| {
        format!(
            "{:.1}× the bandwidth floor, {:.1}× the dispatch floor",
            ms / f.bandwidth_floor_ms,
            ms / f.dispatch_floor_ms
        )
    };
    println!("\nFloors of a B=1 decode step (it can beat neither):");
    println!(
        "  bandwidth floor: {:.1} MB (weights + KV) at the adapter's copy bandwidth of {:.1} GB/s = {:.2} ms",
        f.step_bytes as f64 / 1e6,
        f.copy_gb_s,
        f.bandwidth_floor_ms
    );
    println!(
        "  dispatch floor: {} {} × {:.2} µs = {:.2} ms (an empty dispatch, {} of {} in one pass{})",
        if f.counted { f.dispatches } else { f.ops },
        if f.counted { "dispatches" } else { "ops (dispatches not counted: a lower bound)" },
        f.dispatch_cost.us,
        f.dispatch_floor_ms,
        f.dispatch_cost.timed_by,
        f.dispatch_cost.per_pass,
        f.dispatch_cost
            .timestamp_us
            .map(|_| format!("; wall clock {:.2} µs", f.dispatch_cost.wall_us))
            .unwrap_or_default()
    );
    if let Some(ms) = f.decode_step_ms {
        println!("  decode B=1 (wall): {ms:.2} ms a step = {}", against(ms));
    }
    if let Some(ms) = f.gpu_step_ms {
        println!("  GPU time of a step (kernel table, a pass per op): {ms:.2} ms = {}", against(ms));
    }
    if !report.sampler_share.is_empty() {
        let n = report.sampler_share[0].profiled_steps;
        println!(
            "\nSampler chain (penalty + top-nσ + top-k + top-p + min-p + sample: {}), GPU time per step (the step of median share of {n} profiled):",
            samplescope::bench::full_chain().to_spec()
        );
        println!("{:<8} {:>10} {:>10} {:>7} {:>16}", "lanes", "chain ms", "step ms", "share", "readback/lane");
        for s in &report.sampler_share {
            println!(
                "{:<8} {:>10.2} {:>10.1} {:>6.1}% {:>14} B",
                s.lanes,
                s.chain_ms,
                s.step_ms,
                100.0 * s.share,
                s.readback_bytes_per_lane
            );
        }
    }
    let json = serde_json::json!({
        "adapter": { "name": facts.name, "backend": facts.backend, "type": facts.device_type, "driver": facts.driver },
        "variant": variant,
        "activations": activations,
        "model": engine.model.cfg.name,
        "synthetic": a.synthetic,
        "load_ms": load.median,
        "load": load,
        "load_average": { "before": load_before, "after": load_after },
        "report": report,
    });
    let out = a.out.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("results/bench-{secs}.json"))
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Param(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap_or_default())
        .map_err(|e| Error::Param(format!("cannot write {}: {e}", out.display())))?;
    println!("\nJSON written to {}", out.display());
    Ok(())
}
