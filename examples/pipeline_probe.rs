//! Decode one step ahead against one step at a time, in one process, on the default model:
//! `cargo run --release --example pipeline_probe [-- LANES...]` (default 1 16).
//!
//! For each lane count it alternates the two loops (32 greedy tokens per lane, 8 rounds
//! each) and prints, per loop, the median wall time per step, the median CPU time of the
//! whole process per step (on a software adapter the "GPU" is this process's threads, so CPU
//! time is what a busy machine distorts least), and how long the calling thread spent inside
//! submit (encode + queue submit) and inside collect (waiting for the readback).

use samplescope::gguf::Gguf;
use samplescope::gpu::{Gpu, GpuOptions};
use samplescope::model::{LoadOptions, Model, Rows};
use samplescope::sampling::{LaneParams, SamplerConfig};
use std::time::{Duration, Instant};

mod common;
use common::cpu_ns;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Sample {
    wall_ms: f64,
    cpu_ms: f64,
    submit_ms: f64,
    collect_ms: f64,
}

/// `tokens − 1` decode steps of `b` lanes after a started prompt, per step.
fn decode(model: &mut Model, prompt: &[u32], b: u32, tokens: u32, pipeline: bool) -> samplescope::Result<Sample> {
    let greedy = LaneParams::new(&SamplerConfig::greedy(), 0)?;
    model.set_lanes(&vec![greedy; b as usize], prompt, 0)?;
    pollster::block_on(model.start_lanes(prompt, b, tokens))?;
    pollster::block_on(model.collect())?;
    let (mut submit, mut collect) = (Duration::ZERO, Duration::ZERO);
    let mut timed_submit = |model: &mut Model, step: u32| -> samplescope::Result<()> {
        let t = Instant::now();
        model.submit(Rows::Lanes { step, ids: None })?;
        submit += t.elapsed();
        Ok(())
    };
    let (t0, c0) = (Instant::now(), cpu_ns());
    if pipeline {
        timed_submit(model, 1)?;
    }
    for step in 1..tokens {
        if !pipeline {
            timed_submit(model, step)?;
        } else if step + 1 < tokens {
            timed_submit(model, step + 1)?;
        }
        let t = Instant::now();
        pollster::block_on(model.collect())?;
        collect += t.elapsed();
    }
    let steps = (tokens - 1) as f64;
    Ok(Sample {
        wall_ms: t0.elapsed().as_secs_f64() * 1e3 / steps,
        cpu_ms: (cpu_ns() - c0) as f64 / 1e6 / steps,
        submit_ms: submit.as_secs_f64() * 1e3 / steps,
        collect_ms: collect.as_secs_f64() * 1e3 / steps,
    })
}

fn main() -> samplescope::Result<()> {
    let lanes: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let lanes = if lanes.is_empty() { vec![1, 16] } else { lanes };
    let path = samplescope::native::default_model_path().expect("a cache dir");
    let bytes = std::fs::read(&path).map_err(|e| samplescope::Error::Param(format!("{}: {e}", path.display())))?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    println!("{} ({}), load average {}", gpu.facts.name, gpu.facts.backend, load_avg());
    let (tokens, rounds) = (32u32, 8);
    let opts = LoadOptions { n_ctx: 256, max_rows: 64, ..LoadOptions::default() };
    let mut model = pollster::block_on(Model::load(gpu, &Gguf::parse(&bytes)?, &opts))?;
    let prompt: Vec<u32> = (0..16).map(|i| 300 + i * 7919 % 40000).collect();
    decode(&mut model, &prompt, 1, 4, false)?; // warm-up: pipeline compilation
    println!(
        "{:<6} {:<12} {:>10} {:>10} {:>10} {:>11}",
        "lanes", "loop", "wall ms", "CPU ms", "submit ms", "collect ms"
    );
    for &b in &lanes {
        let mut runs: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            // Alternate which goes first, so a drifting load treats both alike.
            for k in [round % 2, 1 - round % 2] {
                runs[k].push(decode(&mut model, &prompt, b, tokens, k == 1)?);
            }
        }
        for (k, name) in ["step by step", "one ahead"].iter().enumerate() {
            let r = &runs[k];
            let m = |f: fn(&Sample) -> f64| median(r.iter().map(f).collect());
            println!(
                "{b:<6} {name:<12} {:>10.2} {:>10.2} {:>10.2} {:>11.2}",
                m(|s| s.wall_ms),
                m(|s| s.cpu_ms),
                m(|s| s.submit_ms),
                m(|s| s.collect_ms)
            );
        }
    }
    println!("load average {}", load_avg());
    Ok(())
}
