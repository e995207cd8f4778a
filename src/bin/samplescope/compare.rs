//! `samplescope compare`: lanes side by side, one batched run.

use clap::Args;
use samplescope::engine::lane_specs;
use samplescope::sampling::config::SamplerConfig;
use samplescope::{Engine, Error, GenerateOptions, Generation, Gpu, GpuOptions, LoadOptions, Result};

use crate::{read_model, ModelArg};

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    model: ModelArg,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// A lane's sampler: `greedy`, `top_p=0.9`, `min_p=0.1,temperature=0.7`, … (repeat).
    #[arg(long = "lane", required = true)]
    lanes: Vec<String>,
    /// Temperature of every sampled lane that does not set its own.
    #[arg(long)]
    temperature: Option<f32>,
    /// Seed of every lane that does not set its own.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lanes share the dice (sample index 0): lanes that differ only in truncation see the
    /// same random numbers. `--same-dice false` gives lane i sample index i.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    same_dice: bool,
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Keep going past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// One JSON object per lane (a line each) instead of columns.
    #[arg(long)]
    json: bool,
    /// Token ids every lane starts with after the prompt, as if it had picked them (see
    /// `generate --force`); --max-tokens counts the rest.
    #[arg(long, value_name = "ID,ID,...", value_delimiter = ',')]
    force: Vec<u32>,
}

pub fn compare(a: CompareArgs) -> Result<()> {
    let samplers = lane_configs(&a.lanes, a.temperature, a.seed)?;
    let bytes = read_model(&a.model)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let lanes = samplers.len() as u32;
    let opts = LoadOptions { max_rows: lanes.max(128), ..LoadOptions::default() };
    let mut engine = pollster::block_on(Engine::load(gpu, &bytes, &opts))?;
    drop(bytes);
    let ids = engine.encode_prompt(&a.prompt, a.chat)?;
    let gen_opts =
        GenerateOptions { max_tokens: a.max_tokens, stop_at_eog: !a.ignore_eos, ..GenerateOptions::default() };
    let labels = samplers.iter().map(SamplerConfig::to_spec).collect();
    let r = run(&mut engine, &ids, &a.force, &samplers, labels, a.same_dice, &gen_opts)?;
    if a.json {
        for (i, (label, g)) in r.labels.iter().zip(&r.gens).enumerate() {
            let v = serde_json::json!({
                "lane": i,
                "sampler": label,
                "same_dice": a.same_dice,
                "prompt": a.prompt,
                "forced": a.force,
                "ids": g.ids,
                "text": g.text,
                "stop": g.stop,
                "decode_tok_s_aggregate": g.decode_tok_s() * r.gens.len() as f64,
            });
            println!("{v}");
        }
    } else {
        print_side_by_side(&r);
        let g = &r.gens[0];
        let m = &engine.model;
        eprintln!(
            "[{} lanes in one batch | prefill {:.1} tok/s | decode {:.2} tok/s per lane, {:.2} aggregate | KV {:.2} MB per lane ({}), {:.1} MB shared prompt context | most lanes at this length: {}]",
            r.gens.len(),
            g.prefill_tok_s(),
            g.decode_tok_s(),
            g.decode_tok_s() * r.gens.len() as f64,
            m.lane_kv_bytes(a.max_tokens) as f64 / 1e6,
            if m.kv_f16 { "f16" } else { "f32" },
            (m.n_ctx as u64 * m.kv_bytes_per_slot()) as f64 / 1e6,
            m.lane_capacity(a.max_tokens)
        );
    }
    Ok(())
}

/// The lanes' configs: each `--lane` spec, with the shared temperature and seed filled in
/// where the spec does not set them.
fn lane_configs(specs: &[String], temperature: Option<f32>, seed: u64) -> Result<Vec<SamplerConfig>> {
    if specs.is_empty() {
        return Err(Error::Param("give at least one --lane (e.g. --lane greedy --lane top_p=0.9)".into()));
    }
    specs
        .iter()
        .map(|s| {
            let (mut c, keys) = SamplerConfig::parse_keys(s)?;
            let has = |k: &str| keys.contains(&k);
            if !c.is_greedy() && !has("temperature") {
                if let Some(t) = temperature {
                    c.temperature = t;
                }
            }
            if !has("seed") {
                c.seed = seed;
            }
            c.validate()?;
            Ok(c)
        })
        .collect()
}

struct CompareRun {
    labels: Vec<String>,
    gens: Vec<Generation>,
}

fn run(
    engine: &mut Engine,
    prompt: &[u32],
    forced: &[u32],
    samplers: &[SamplerConfig],
    labels: Vec<String>,
    same_dice: bool,
    opts: &GenerateOptions,
) -> Result<CompareRun> {
    let lanes = lane_specs(samplers, same_dice);
    let mut n = 0usize;
    let gens = pollster::block_on(engine.generate_forced(prompt, forced, &lanes, opts, |_| {
        n += 1;
        if n.is_multiple_of(lanes.len()) {
            eprint!(".");
        }
    }))?;
    eprintln!();
    Ok(CompareRun { labels, gens })
}

/// Wraps `text` to `width` columns, keeping its own line breaks visible as breaks.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for ch in para.chars() {
            if line.chars().count() == width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(if ch == '\t' { ' ' } else { ch });
        }
        lines.push(line);
    }
    lines
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&w: &usize| w >= 20).unwrap_or(100)
}

/// Columns when the terminal fits at least 24 characters a lane, else one lane after another.
fn print_side_by_side(r: &CompareRun) {
    let n = r.gens.len();
    let width = terminal_width();
    let col = (width.saturating_sub(3 * (n - 1))) / n;
    let footer = |g: &Generation| format!("[{} tokens, {}]", g.ids.len(), g.stop);
    if col < 24 {
        for (label, g) in r.labels.iter().zip(&r.gens) {
            println!("── {label} ──");
            println!("{}", g.text);
            println!("{}\n", footer(g));
        }
        return;
    }
    let cols: Vec<Vec<String>> = r
        .labels
        .iter()
        .zip(&r.gens)
        .map(|(label, g)| {
            let mut c = wrap(label, col);
            c.push("─".repeat(col));
            c.extend(wrap(&g.text, col));
            c.push(String::new());
            c.extend(wrap(&footer(g), col));
            c
        })
        .collect();
    let rows = cols.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| {
                let s = c.get(i).map(String::as_str).unwrap_or("");
                format!("{s}{}", " ".repeat(col.saturating_sub(s.chars().count())))
            })
            .collect();
        println!("{}", cells.join(" │ ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_breaks_and_width() {
        assert_eq!(wrap("abcdef\ngh", 4), vec!["abcd", "ef", "gh"]);
        assert_eq!(wrap("", 4), vec![""]);
    }

    #[test]
    fn shared_temperature_and_seed_fill_only_what_a_lane_leaves_open() {
        let c = lane_configs(
            &["greedy".into(), "top_p=0.9".into(), "min_p=0.1,temperature=0.7,seed=9".into()],
            Some(1.5),
            1,
        )
        .unwrap();
        assert!(c[0].is_greedy());
        assert_eq!((c[1].temperature, c[1].seed), (1.5, 1));
        assert_eq!((c[2].temperature, c[2].seed), (0.7, 9));
        // Spaces around `=` still count as setting it (they were once overridden).
        let c = lane_configs(&["temperature = 0.5, seed = 3".into()], Some(1.5), 1).unwrap();
        assert_eq!((c[0].temperature, c[0].seed), (0.5, 3));
        assert!(lane_configs(&[], None, 1).is_err());
        assert!(lane_configs(&["top_p=2".into()], None, 1).is_err());
    }
}
