//! The native CLI: the same core as the browser page, on wgpu (Vulkan/Metal/DX12, or Mesa
//! lavapipe on a machine without a GPU). One module per subcommand.

mod bench;
mod compare;
mod eval;
mod generate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use samplescope::{Error, Result};

#[derive(Parser)]
#[command(name = "samplescope", version, about = "A quantized Llama on WebGPU/wgpu with the samplers as shader passes")]
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Generate(a) => generate::generate(a),
        Cmd::Compare(a) => compare::compare(a),
        Cmd::Tokenize(a) => generate::tokenize(a),
        Cmd::Bench(a) => bench::bench(a),
        Cmd::Eval(a) => eval::eval(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
