//! The native CLI: the same core as the browser page, on wgpu (Vulkan/Metal/DX12, or Mesa
//! lavapipe on a machine without a GPU).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use samplescope::gguf::Gguf;
use samplescope::tokenizer::Tokenizer;
use samplescope::{Engine, Error, GenerateOptions, Gpu, GpuOptions, LoadOptions, Result};

#[derive(Parser)]
#[command(name = "samplescope", version, about = "A quantized Llama on WebGPU/wgpu with the samplers as shader passes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a continuation (greedy), streaming the text.
    Generate(GenerateArgs),
    /// Print the token ids of a text.
    Tokenize(TokenizeArgs),
}

#[derive(Args)]
struct ModelArg {
    /// GGUF model file [default: the cached default model, see `cargo xtask fetch-model`]
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    chat: bool,
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Keep going past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Context length to allocate.
    #[arg(long, default_value_t = 1024)]
    ctx: u32,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    text: String,
    #[arg(long)]
    json: bool,
}

fn read_model(arg: &ModelArg) -> Result<Vec<u8>> {
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

fn generate(a: GenerateArgs) -> Result<()> {
    let bytes = read_model(&a.model)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let adapter = gpu.facts.clone();
    let opts = LoadOptions { n_ctx: a.ctx, ..LoadOptions::default() };
    let mut engine = pollster::block_on(Engine::load(gpu, &bytes, &opts))?;
    drop(bytes);
    let ids = engine.encode_prompt(&a.prompt, a.chat)?;
    let gen_opts = GenerateOptions { max_tokens: a.max_tokens, stop_at_eog: !a.ignore_eos };
    let json = a.json;
    let mut stdout = std::io::stdout();
    let g = pollster::block_on(engine.generate_greedy(&ids, &gen_opts, |delta| {
        if !json {
            let _ = stdout.write_all(delta.as_bytes());
            let _ = stdout.flush();
        }
    }))?;
    if json {
        let v = serde_json::json!({
            "prompt": a.prompt,
            "prompt_ids": g.prompt_ids,
            "ids": g.ids,
            "text": g.text,
            "stop": g.stop,
            "timings": {
                "load_ms": engine.load_ms,
                "prefill_ms": g.prefill_ms,
                "prefill_tok_s": g.prefill_tok_s(),
                "decode_ms": g.decode_ms,
                "decode_tok_s": g.decode_tok_s(),
            },
            "adapter": { "name": adapter.name, "backend": adapter.backend, "type": adapter.device_type, "variant": engine.model.kern.variant().name() },
        });
        println!("{v}");
    } else {
        eprintln!(
            "\n[{} prompt + {} generated tokens | load {:.0} ms | prefill {:.1} tok/s | decode {:.2} tok/s | {} ({}, {} kernels)]",
            g.prompt_ids.len(),
            g.ids.len(),
            engine.load_ms,
            g.prefill_tok_s(),
            g.decode_tok_s(),
            adapter.name,
            adapter.backend,
            engine.model.kern.variant().name()
        );
    }
    Ok(())
}

fn tokenize(a: TokenizeArgs) -> Result<()> {
    let bytes = read_model(&a.model)?;
    let g = Gguf::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&g)?;
    let ids = tok.encode(&a.text)?;
    if a.json {
        let pieces: Vec<String> = ids.iter().map(|&i| tok.token_text(i).unwrap_or_default()).collect();
        println!("{}", serde_json::json!({ "ids": ids, "pieces": pieces }));
    } else {
        println!("{}", ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Generate(a) => generate(a),
        Cmd::Tokenize(a) => tokenize(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
