//! The long soak on the default model: `cargo run --release --example soak [-- LANES TOKENS]`
//! (default 8 lanes × 4,096 tokens). Prints the memory samples (process RSS and the GPU
//! allocator's bytes) and fails if the GPU's allocation moves after the start or the
//! process grows by more than 64 MB. The short form runs in CI as tests/soak.rs.

use samplescope::{Engine, Gpu, GpuOptions, LoadOptions};

fn main() -> samplescope::Result<()> {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (lanes, tokens) = (args.first().copied().unwrap_or(8), args.get(1).copied().unwrap_or(4096));
    let path = samplescope::native::default_model_path().expect("a cache dir");
    let bytes = std::fs::read(&path).map_err(|e| samplescope::Error::Param(format!("{}: {e}", path.display())))?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let opts = LoadOptions { n_ctx: tokens + 64, max_rows: lanes.max(16), ..LoadOptions::default() };
    let mut engine = pollster::block_on(Engine::load(gpu, &bytes, &opts))?;
    drop(bytes);
    let prompt = engine.encode_prompt("Tell me a very long story about the sea.", true)?;
    println!("{lanes} lanes × {tokens} tokens on {}\n{}", path.display(), samplescope::soak::HEADER);
    let report = pollster::block_on(samplescope::soak::run(&mut engine, &prompt, lanes, tokens, 32, |s| {
        println!("{}", s.row())
    }))?;
    println!("{:.1} s", report.seconds);
    report.check(64 << 20)?;
    println!("flat: the GPU allocation did not move and the process grew by less than 64 MB");
    Ok(())
}
