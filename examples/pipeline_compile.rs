//! Which compute pipelines a load makes, which later steps make on first use, and how long
//! each took to create: `cargo run --example pipeline_compile [-- --eager]` on the default
//! model. Natively the driver compiles inside the create call, so on SwiftShader
//! (`VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`) the times are close to what
//! the browser's GPU process spends. `--eager` makes every pipeline right after the load (as
//! loads did before pipelines were made on first use), for the comparison.

use samplescope::gguf::Gguf;
use samplescope::gpu::{Gpu, GpuOptions};
use samplescope::model::{LoadOptions, Model, Rows, Tensors};
use samplescope::sampling::{LaneParams, SamplerConfig};
use std::collections::HashSet;
use web_time::Instant;

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Prints the pipelines made since the last call (each with its create time) and their sum.
fn report(model: &Model, phase: &str, seen: &mut HashSet<String>) {
    let mut sum = 0.0;
    let mut lines = Vec::new();
    for p in model.kern.pipelines() {
        if let Some(ms) = p.made_ms {
            if seen.insert(p.key.clone()) {
                sum += ms;
                let short: String = p.key.split(',').take(3).collect::<Vec<_>>().join(",");
                lines.push(format!("    {ms:7.1} ms  {short}"));
            }
        }
    }
    println!("{phase}: {} pipelines, {sum:.0} ms", lines.len());
    lines.iter().for_each(|l| println!("{l}"));
}

fn run(model: &mut Model, lanes: &[LaneParams], prompt: &[u32], tokens: u32) -> samplescope::Result<Vec<u32>> {
    model.set_lanes(lanes, prompt, 0)?;
    pollster::block_on(model.start_lanes(prompt, lanes.len() as u32, tokens))?;
    let mut ids = pollster::block_on(model.collect())?.ids;
    for step in 1..tokens {
        model.submit(Rows::Lanes { step, ids: None })?;
        ids.extend(pollster::block_on(model.collect())?.ids);
    }
    Ok(ids)
}

fn main() -> samplescope::Result<()> {
    let eager = std::env::args().any(|a| a == "--eager");
    let path = samplescope::native::default_model_path().expect("the default model (cargo xtask fetch-model)");
    let bytes = std::fs::read(&path).expect("read the model");
    let g = Gguf::parse(&bytes)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    println!("{} · load average {}", gpu.facts.name, load_avg());
    let t = Instant::now();
    let (mut model, _, times) =
        pollster::block_on(Model::load_with(gpu, &g, &mut Tensors::File, &LoadOptions::default(), |_| {}, || ()))?;
    if eager {
        model.kern.make_all_pipelines();
    }
    println!(
        "load {:.0} ms (pipelines phase {:.0} ms){}",
        t.elapsed().as_secs_f64() * 1e3,
        times.pipelines,
        if eager { ", then every pipeline" } else { "" }
    );
    let mut seen = HashSet::new();
    report(&model, "made at load", &mut seen);
    let prompt: Vec<u32> = (0..16).map(|i| 100 + 37 * i).collect();
    let greedy = LaneParams::new(&SamplerConfig::greedy(), 0)?;
    run(&mut model, &[greedy], &prompt, 2)?;
    report(&model, "first token and a decode step, greedy B = 1", &mut seen);
    run(&mut model, &vec![greedy; 4], &prompt, 2)?;
    report(&model, "greedy B = 4", &mut seen);
    let mut cfg = SamplerConfig { min_p: 0.05, ..SamplerConfig::default() };
    run(&mut model, &[LaneParams::new(&cfg, 0)?], &prompt, 2)?;
    report(&model, "min-p", &mut seen);
    (cfg.top_k, cfg.top_p, cfg.repetition_penalty, cfg.penalty_last_n) = (40, 0.9, 1.1, 64);
    run(&mut model, &[LaneParams::new(&cfg, 0)?], &prompt, 2)?;
    report(&model, "top-k, top-p, penalty", &mut seen);
    pollster::block_on(model.inspect_all(8))?;
    report(&model, "inspector", &mut seen);
    let all = model.kern.pipelines();
    println!(
        "never made: {} of {}; load average {}",
        all.iter().filter(|p| p.made_ms.is_none()).count(),
        all.len(),
        load_avg()
    );
    Ok(())
}
