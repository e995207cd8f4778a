//! The native CLI: the same core as the browser page, on wgpu (Vulkan/Metal/DX12, or Mesa
//! lavapipe on a machine without a GPU). One module per subcommand.

mod bench;
mod compare;
mod eval;
mod eval_scale;
mod generate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use samplescope::{Error, Result};

#[derive(Parser)]
#[command(
    name = "samplescope",
    version,
    about = "Small quantized LLMs on WebGPU/wgpu with the samplers as shader passes"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a continuation (greedy, or with the sampler flags), streaming the text.
    Generate(generate::GenerateArgs),
    /// Decode one prompt with several samplers side by side, in one batched run.
    Compare(compare::CompareArgs),
    /// Print the token ids of a text.
    Tokenize(generate::TokenizeArgs),
    /// Measure prefill and decode rates for 1..B lanes and GPU time per kernel; prints a
    /// table and writes JSON.
    Bench(bench::BenchArgs),
    /// Repeated sampling with a verifier: N samples per task and sampler, pass@k, majority
    /// vote, the power-law fit, temperature sweeps; prints tables and writes JSON/CSV.
    Eval(eval::EvalArgs),
    /// The import at scale: writes a 500 tasks × 10,000 samples file, imports it as `eval
    /// --import` does, and reports the time to parse, verify and summarize, and peak memory.
    EvalScale(eval_scale::EvalScaleArgs),
    /// The GPU adapter wgpu picks here, the kernel variant it gets and its limits.
    Adapter,
    /// Write a synthetic GGUF model: a llama.cpp fixture model (tests/llamacpp) or a released
    /// model's full shape with random weights.
    Synth(SynthArgs),
}

#[derive(Args)]
struct SynthArgs {
    /// A fixture (llama3, qwen2, qwen3, smollm3, smollm, gpt2, default) or a shape (smollm2-135m,
    /// llama-3.2-1b, qwen3-0.6b)
    name: String,
    /// Where to write the GGUF
    out: PathBuf,
    /// Store every tensor dequantized to F32 (llama.cpp then multiplies without rounding
    /// activations to 8 bits)
    #[arg(long)]
    dequantized: bool,
    /// Keep only this many layers of a shape (full width, fewer layers: a model the page
    /// loads quickly with the real tables)
    #[arg(long)]
    layers: Option<usize>,
}

fn synth(a: SynthArgs) -> Result<()> {
    use samplescope::synth;
    let spec = if synth::FIXTURES.contains(&a.name.as_str()) {
        synth::fixture(&a.name)?
    } else {
        synth::SynthSpec::shape(&a.name)?
    };
    let mut spec = synth::SynthSpec { n_layer: a.layers.unwrap_or(spec.n_layer), ..spec };
    let n_layer = spec.n_layer;
    let layer_of = |name: &str| name.strip_prefix("blk.")?.split('.').next()?.parse::<usize>().ok();
    spec.per_tensor.retain(|(name, _)| layer_of(name).is_none_or(|i| i < n_layer));
    let mut bytes = synth::synthetic_model(&spec)?;
    if a.dequantized {
        bytes = synth::dequantized(&bytes)?;
    }
    std::fs::write(&a.out, &bytes).map_err(|e| Error::Param(format!("cannot write {}: {e}", a.out.display())))?;
    println!("{}: {} ({} bytes)", a.name, a.out.display(), bytes.len());
    Ok(())
}

#[derive(Args)]
pub struct ModelArg {
    /// GGUF model file [default: the cached default model, see `cargo xtask fetch-model`]
    #[arg(long)]
    pub model: Option<PathBuf>,
}

pub fn read_model(arg: &ModelArg) -> Result<Vec<u8>> {
    let path = match &arg.model {
        Some(p) => p.clone(),
        None => samplescope::native::default_model_path()
            .ok_or_else(|| Error::Param("no --model and no HOME to find the default model".into()))?,
    };
    std::fs::read(&path).map_err(|e| {
        let hint = if arg.model.is_none() { "\n(run `cargo xtask fetch-model` to get the default model)" } else { "" };
        Error::Param(format!("cannot read {}: {e}{hint}", path.display()))
    })
}

fn adapter() -> Result<()> {
    let gpu = pollster::block_on(samplescope::Gpu::new(samplescope::GpuOptions::default()))?;
    let f = &gpu.facts;
    let limits = gpu.device.limits();
    println!("adapter   {} ({}, {})", f.name, f.backend, f.device_type);
    println!("driver    {}", if f.driver.is_empty() { "-" } else { &f.driver });
    println!("kernels   {} variant{}", gpu.variant.name(), if f.software { " (software adapter)" } else { "" });
    let on = |b: bool, name: &str| if b { name.to_string() } else { format!("no {name}") };
    println!(
        "features  {}, {}, {}",
        on(f.has_subgroups, "subgroups"),
        on(f.has_f16, "shader-f16"),
        on(f.has_timestamps, "timestamp-query")
    );
    println!(
        "limits    storage binding {} MiB, buffer {} MiB, 2D texture {} texels",
        f.max_storage_binding >> 20,
        limits.max_buffer_size >> 20,
        limits.max_texture_dimension_2d
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Generate(a) => generate::generate(a),
        Cmd::Compare(a) => compare::compare(a),
        Cmd::Tokenize(a) => generate::tokenize(a),
        Cmd::Bench(a) => bench::bench(a),
        Cmd::Eval(a) => eval::eval(a),
        Cmd::EvalScale(a) => eval_scale::eval_scale(a),
        Cmd::Adapter => adapter(),
        Cmd::Synth(a) => synth(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
