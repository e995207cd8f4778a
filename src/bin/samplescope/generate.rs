//! `samplescope generate` and `tokenize`: one continuation, streamed; a text's ids.

use std::io::Write;

use clap::Args;
use samplescope::engine::LaneSpec;
use samplescope::gguf::Gguf;
use samplescope::sampling::{Inspection, SamplerConfig, TemperaturePosition};
use samplescope::tokenizer::Tokenizer;
use samplescope::{Engine, GenerateOptions, Generation, Gpu, GpuOptions, LoadOptions, Result};

use crate::{read_model, ModelArg};

#[derive(Args)]
pub struct GenerateArgs {
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
    /// Token ids the lane starts with after the prompt, as if it had picked them (a fork, as
    /// the lab's "continue from here"): the first sampled token is token N of the output,
    /// drawn with step N's dice (docs/DESIGN.md, "Forks"). --max-tokens counts the rest.
    #[arg(long, value_name = "ID,ID,...", value_delimiter = ',')]
    force: Vec<u32>,
    #[command(flatten)]
    sampler: SamplerArgs,
}

/// The sampler (docs/DESIGN.md, "Sampler semantics"). Without temperature, top-k, top-p, min-p,
/// top-nσ or --sampler the pick is greedy.
#[derive(Args)]
pub struct SamplerArgs {
    /// Sampling temperature; 0 is greedy [default: 1 once any sampler flag is given]
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep the k most likely tokens (0 = off).
    #[arg(long)]
    top_k: Option<u32>,
    /// Keep the most likely tokens that reach this probability mass (1 = off).
    #[arg(long)]
    top_p: Option<f32>,
    /// Keep tokens at least this fraction as likely as the most likely one (0 = off).
    #[arg(long)]
    min_p: Option<f32>,
    /// Keep logits within n standard deviations of the max (top-nσ).
    #[arg(long)]
    top_n_sigma: Option<f32>,
    /// Divide positive (multiply negative) logits of recent tokens by this (1 = off).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// How many recent tokens (prompt included) the penalty looks at.
    #[arg(long)]
    penalty_last_n: Option<u32>,
    /// Scale by the temperature before truncating (first) or after (last, as llama.cpp).
    #[arg(long, value_parser = ["first", "last"])]
    temperature_position: Option<String>,
    /// Seed of the Philox dice.
    #[arg(long)]
    seed: Option<u64>,
    /// A whole sampler as a lane spec, e.g. "min_p=0.1,temperature=1.5"; the flags above
    /// override its settings.
    #[arg(long)]
    sampler: Option<String>,
    /// Print the candidates and thresholds behind generated token STEP (0 = the first).
    #[arg(long, value_name = "STEP")]
    inspect: Option<u32>,
}

impl SamplerArgs {
    /// The lane's sampler.
    pub fn config(&self) -> Result<SamplerConfig> {
        let sampling = self.sampler.is_some()
            || self.temperature.is_some()
            || self.top_k.is_some()
            || self.top_p.is_some()
            || self.min_p.is_some()
            || self.top_n_sigma.is_some();
        let mut c = match &self.sampler {
            Some(spec) => SamplerConfig::parse(spec)?,
            None if sampling => SamplerConfig::default(),
            None => SamplerConfig::greedy(),
        };
        c.temperature = self.temperature.unwrap_or(c.temperature);
        c.top_k = self.top_k.unwrap_or(c.top_k);
        c.top_p = self.top_p.unwrap_or(c.top_p);
        c.min_p = self.min_p.unwrap_or(c.min_p);
        c.top_n_sigma = self.top_n_sigma.or(c.top_n_sigma);
        c.repetition_penalty = self.repetition_penalty.unwrap_or(c.repetition_penalty);
        c.penalty_last_n = self.penalty_last_n.unwrap_or(c.penalty_last_n);
        c.seed = self.seed.unwrap_or(c.seed);
        if let Some(p) = &self.temperature_position {
            c.temperature_position = TemperaturePosition::parse(p)?;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Top candidates shown by --inspect.
const INSPECT_TOP: usize = 20;

fn print_inspection(tok: &Tokenizer, step: u32, ins: &Inspection) {
    let r = &ins.record;
    let text = |id: u32| format!("{:?}", tok.token_text(id).unwrap_or_default());
    eprintln!(
        "\n[inspect step {step}: token {} {} (p = {:.4}), {} survivors of {} in play, max logit {:.3}]",
        r.token,
        text(r.token),
        r.token_prob,
        r.survivors,
        r.in_play,
        r.max_logit
    );
    let mut th = Vec::new();
    if let Some(t) = r.sigma_threshold() {
        th.push(format!("top-nσ ≥ {t:.3}"));
    }
    if let Some((t, last)) = r.top_k_cut() {
        th.push(if last == u32::MAX {
            format!("top-k ≥ {t:.3}")
        } else {
            format!("top-k ≥ {t:.3} (ties up to id {last})")
        });
    }
    if let Some(t) = r.top_p_threshold() {
        th.push(format!("top-p ≥ {t:.3}"));
    }
    if let Some(t) = r.min_p_threshold() {
        th.push(format!("min-p ≥ {t:.3}"));
    }
    if !th.is_empty() {
        eprintln!("thresholds (working logits): {}; kept mass {:.4}", th.join(", "), ins.kept_mass);
    }
    eprintln!("{:>4} {:>6}  {:<18} {:>9} {:>9} {:>9}  kept", "rank", "id", "token", "logit", "p before", "p after");
    for (i, c) in ins.candidates.iter().enumerate() {
        let mark = if c.id == r.token { " <" } else { "" };
        eprintln!(
            "{:>4} {:>6}  {:<18} {:>9.3} {:>9.5} {:>9.5}  {}{mark}",
            i + 1,
            c.id,
            text(c.id),
            c.logit,
            c.prob_before,
            c.prob_after,
            if c.kept { "yes" } else { "-" }
        );
    }
}

#[derive(Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    text: String,
    #[arg(long)]
    json: bool,
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let bytes = read_model(&a.model)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let adapter = gpu.facts.clone();
    let opts = LoadOptions { n_ctx: a.ctx, ..LoadOptions::default() };
    let mut engine = pollster::block_on(Engine::load(gpu, &bytes, &opts))?;
    drop(bytes);
    let ids = engine.encode_prompt(&a.prompt, a.chat)?;
    let sampler = a.sampler.config()?;
    let inspect_at = a.sampler.inspect;
    let inspect_top = if inspect_at.is_some() { INSPECT_TOP } else { 0 };
    let gen_opts = GenerateOptions {
        max_tokens: a.max_tokens,
        stop_at_eog: !a.ignore_eos,
        inspect_top,
        ..GenerateOptions::default()
    };
    let json = a.json;
    let mut stdout = std::io::stdout();
    let mut emit = |delta: &str| {
        if !json {
            let _ = stdout.write_all(delta.as_bytes());
            let _ = stdout.flush();
        }
    };
    let mut inspection = None;
    let lane = LaneSpec { sampler: sampler.clone(), sample_index: 0 };
    let g: Generation = pollster::block_on(engine.generate_forced(&ids, &a.force, &[lane], &gen_opts, |ev| {
        emit(ev.text);
        if Some(ev.index) == inspect_at {
            inspection = ev.inspection;
        }
    }))?
    .remove(0);
    if let Some(step) = inspect_at {
        match &inspection {
            Some(ins) if !json => print_inspection(&engine.tokenizer, step, ins),
            Some(_) => {}
            None => eprintln!("\n[--inspect {step}: the generation stopped after {} tokens]", g.ids.len()),
        }
    }
    if json {
        let v = serde_json::json!({
            "sampler": sampler.to_spec(),
            "inspect": inspection,
            "prompt": a.prompt,
            "prompt_ids": g.prompt_ids,
            "forced": a.force,
            "ids": g.ids,
            "text": g.text,
            "stop": g.stop,
            "timings": {
                "load_ms": engine.load.total,
                "load": engine.load,
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
            "\n[{} prompt + {}{} generated tokens | {} | prefill {:.1} tok/s | decode {:.2} tok/s | {} ({}, {} kernels)]",
            g.prompt_ids.len(),
            if a.force.is_empty() { String::new() } else { format!("{} forced + ", a.force.len()) },
            g.ids.len() - a.force.len(),
            engine.load.summary(),
            g.prefill_tok_s(),
            g.decode_tok_s(),
            adapter.name,
            adapter.backend,
            engine.model.kern.variant().name()
        );
    }
    Ok(())
}

pub fn tokenize(a: TokenizeArgs) -> Result<()> {
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
