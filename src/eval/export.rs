//! Export: the study an `EvalSpec` describes (tasks × sampler configurations × N samples,
//! max tokens, seed, stop strings) written as requests for an engine that runs it at scale
//! — vLLM's `run-batch`, SGLang's native `/generate`, llama.cpp's command line — instead of
//! run here. Import (src/eval/import.rs) reads their samples back into the same report,
//! matching on the `custom_id` every request carries (`t{task}-greedy`, `t{task}-c{config}`).
//!
//! What carries over and what does not (also printed with every export, and in the
//! README's "Run it at scale"):
//! - The samples themselves do not: samplescope draws its dice from Philox4x32-10 keyed per
//!   task and configuration (docs/DESIGN.md, "Sampler semantics"); no engine draws the same
//!   numbers. Each request gets a seed derived from the same key (`request_seed`), so a
//!   rerun on the same engine is reproducible and lanes that share dice here share a seed
//!   there, but the samples are the engine's, not samplescope's.
//! - vLLM gives child request i of an `n`-sample request the seed `seed + i`
//!   (vllm/v1/engine/parallel_sampling.py, `ParentRequest.get_child_sampling_params`), and
//!   rejects n > 1 at temperature 0 (`SamplingParams._verify_greedy_sampling`): the greedy
//!   sample is a request of its own, and a greedy lane with N > 1 is an error for vLLM.
//! - SGLang's results are batch-invariant only with `--enable-deterministic-inference`
//!   (docs.sglang.io, advanced_features/deterministic_inference).
//! - Neither vLLM nor SGLang has top-nσ, nor temperature after truncation; vLLM applies
//!   min_p before top_k/top_p (vllm/v1/sample: min-p is a built-in argmax-invariant logits
//!   processor, run before `TopKTopPSampler`), samplescope after. A lane that needs any of
//!   these is an error that names the setting, never a silently different sampler.
//! - vLLM and SGLang apply repetition_penalty to every prompt and output token, samplescope
//!   (and llama.cpp) to the last `penalty_last_n`: the same only while prompt + output fit
//!   the window. That is a note, not an error: the penalty itself is the same formula.

use serde_json::{json, Map, Value};

use super::run::{lane_seed, run_configs, EvalOptions, EvalPlan};
use crate::error::{shown, Error, Result};
use crate::sampling::config::{SamplerConfig, TemperaturePosition};
use crate::tokenizer::Tokenizer;

/// The engines a study exports to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// OpenAI batch JSONL for `vllm run-batch`, one `/v1/completions` request a line.
    Vllm,
    /// A JSON list of SGLang native `/generate` bodies, each with its `custom_id`.
    Sglang,
    /// llama.cpp command-line sampler flags, one line per lane.
    Llamacpp,
}

impl ExportFormat {
    pub const NAMES: [&'static str; 3] = ["vllm", "sglang", "llamacpp"];

    pub fn parse(s: &str) -> Result<ExportFormat> {
        match s {
            "vllm" => Ok(ExportFormat::Vllm),
            "sglang" => Ok(ExportFormat::Sglang),
            "llamacpp" | "llama.cpp" => Ok(ExportFormat::Llamacpp),
            _ => Err(Error::Param(format!("export format {}: expected one of {}", shown(s), Self::NAMES.join(", ")))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Vllm => "vllm",
            ExportFormat::Sglang => "sglang",
            ExportFormat::Llamacpp => "llamacpp",
        }
    }

    fn engine(self) -> &'static str {
        match self {
            ExportFormat::Vllm => "vLLM",
            ExportFormat::Sglang => "SGLang",
            ExportFormat::Llamacpp => "llama.cpp",
        }
    }
}

/// Which result of a task a request feeds: the greedy sample, or configuration `i` of the
/// run (after a sweep is multiplied out, in the report's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneRef {
    Greedy,
    Config(usize),
}

/// `t{task}-greedy` or `t{task}-c{config}`.
pub fn custom_id(task: usize, lane: LaneRef) -> String {
    match lane {
        LaneRef::Greedy => format!("t{task}-greedy"),
        LaneRef::Config(c) => format!("t{task}-c{c}"),
    }
}

/// The inverse of `custom_id`; `None` for anything it did not write.
pub fn parse_custom_id(id: &str) -> Option<(usize, LaneRef)> {
    let (task, lane) = id.strip_prefix('t')?.split_once('-')?;
    let number = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten();
    let task = number(task)?;
    let lane = match lane {
        "greedy" => LaneRef::Greedy,
        _ => LaneRef::Config(number(lane.strip_prefix('c')?)?),
    };
    Some((task, lane))
}

/// The seed a request for configuration seed `config_seed` on task `task` carries: the
/// top 31 bits of the Philox key samplescope would use (`run::lane_seed`), so that it fits
/// every engine's seed type (llama.cpp's is a u32 with 0xFFFFFFFF meaning "random"; vLLM's
/// an int64, and it adds the child index to it).
pub fn request_seed(run_seed: u64, config_seed: u64, task: usize) -> u64 {
    lane_seed(run_seed, config_seed, task) >> 33
}

/// The prompt text samplescope feeds for task text `user` in chat mode (as `run_eval`
/// does): the model's chat template with one user message and the generation prompt. As
/// `Tokenizer::encode_chat` does, a leading BOS text is dropped where the tokenizer adds
/// BOS itself (and a trailing EOS where it adds EOS): the engines' tokenizers add it again
/// for `/v1/completions` and `/generate`, so the tokens they see are the ones samplescope
/// feeds.
pub fn chat_prompt_text(tok: &Tokenizer, user: &str) -> Result<String> {
    let rendered = tok.chat_prompt(user)?;
    let special =
        |on: bool, id: Option<u32>| id.filter(|_| on).and_then(|i| tok.token_raw(i)).filter(|t| !t.is_empty());
    let mut text = rendered.as_str();
    if let Some(bos) = special(tok.add_bos(), tok.bos_id()) {
        text = text.strip_prefix(bos).unwrap_or(text);
    }
    if let Some(eos) = special(tok.add_eos(), tok.eos_id()) {
        text = text.strip_suffix(eos).unwrap_or(text);
    }
    Ok(text.to_string())
}

/// A written-out study.
#[derive(Clone, Debug)]
pub struct Export {
    pub format: ExportFormat,
    /// The file's contents.
    pub text: String,
    /// Requests (vllm: lines; sglang: list entries) or, for llamacpp, lanes.
    pub requests: usize,
    /// The shell line(s) that run it.
    pub run: String,
    /// What does not carry over, for this study and engine.
    pub notes: Vec<String>,
}

/// The lanes of every task, in order: greedy (when the run has it), then each
/// configuration (a sweep multiplied out), with its text for messages.
fn lanes(plan: &EvalPlan, opts: &EvalOptions) -> Vec<(LaneRef, SamplerConfig, u32)> {
    let mut out = Vec::new();
    if opts.greedy {
        out.push((LaneRef::Greedy, SamplerConfig::greedy(), 1));
    }
    out.extend(run_configs(plan).into_iter().enumerate().map(|(i, c)| (LaneRef::Config(i), c, opts.samples)));
    out
}

fn lane_name(lane: LaneRef, c: &SamplerConfig) -> String {
    match lane {
        LaneRef::Greedy => "the greedy sample".into(),
        LaneRef::Config(i) => format!("lane {} ({})", i + 1, c.to_spec()),
    }
}

/// Whether the temperature's place changes the result: only at T ≠ 1 and only for the
/// truncations measured on probabilities (top_p, min_p); top_k and top-nσ are invariant.
fn position_matters(c: &SamplerConfig) -> bool {
    !c.is_greedy() && c.temperature != 1.0 && (c.top_p < 1.0 || c.min_p > 0.0)
}

/// Errors for what `format`'s engine cannot express; each names the setting and the lane.
fn check_expressible(format: ExportFormat, lane: LaneRef, c: &SamplerConfig, n: u32) -> Result<()> {
    let engine = format.engine();
    let fail = |what: String| Err(Error::Param(format!("{}: {what}", lane_name(lane, c))));
    if format == ExportFormat::Llamacpp {
        return Ok(());
    }
    if c.is_greedy() {
        // vLLM's SamplingParams._verify_greedy_sampling: "n must be 1 when using greedy sampling".
        if format == ExportFormat::Vllm && n > 1 {
            return fail(format!(
                "temperature=0 with {n} samples: vLLM takes one greedy sample a request (n must be 1); the run's \
                 own greedy sample (on unless --no-greedy) is that one, so drop the greedy lane"
            ));
        }
        return Ok(());
    }
    if let Some(n) = c.top_n_sigma {
        return fail(format!(
            "top_n_sigma={n}: {engine} has no top-nσ sampler; export it with --export llamacpp, or drop top_n_sigma"
        ));
    }
    if c.temperature_position == TemperaturePosition::Last && position_matters(c) {
        return fail(format!(
            "temperature_position=last: {engine} scales by the temperature before top_p/min_p, which changes what \
             they keep at temperature {}; use temperature_position=first, or --export llamacpp",
            c.temperature
        ));
    }
    if format == ExportFormat::Vllm && c.top_p < 1.0 && c.min_p > 0.0 {
        return fail(format!(
            "top_p={} with min_p={}: vLLM applies min_p before top_p (samplescope after), so the two keep \
             different tokens; evaluate them in separate lanes, or use --export sglang",
            c.top_p, c.min_p
        ));
    }
    Ok(())
}

/// Settings samplescope has and the engine's request has no field for, as flat
/// string/number pairs (vLLM's `vllm_xargs` takes only those).
fn samplescope_args(c: &SamplerConfig, opts: &EvalOptions, task: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("samplescope_lane".into(), json!(c.to_spec()));
    m.insert("samplescope_temperature_position".into(), json!(c.temperature_position.name()));
    m.insert("samplescope_top_n_sigma".into(), json!(c.top_n_sigma.unwrap_or(-1.0)));
    m.insert("samplescope_penalty_last_n".into(), json!(c.penalty_last_n));
    // Lanes with the same value here share dice on a task in samplescope ("same dice").
    m.insert("samplescope_same_dice".into(), json!(c.seed.to_string()));
    // The Philox key itself, as text: a u64 does not survive a JSON double.
    m.insert("samplescope_philox_seed".into(), json!(lane_seed(opts.seed, c.seed, task).to_string()));
    m
}

fn penalty(c: &SamplerConfig) -> f32 {
    if c.penalty_on() {
        c.repetition_penalty
    } else {
        1.0
    }
}

/// An f32 setting as the decimal a reader wrote (0.9, not 0.8999999761581421).
fn num(x: f32) -> Value {
    let v: f64 = format!("{x}").parse().expect("an f32's Display parses as f64");
    json!(v)
}

/// Writes the study `plan` and `opts` describe for `format`. `prompts[i]` is task i's
/// prompt exactly as the engine should see it (`chat_prompt_text`); `model` the name the
/// engine serves the model under (vllm, sglang) or the GGUF path (llamacpp); `path` the
/// file the export goes to, for the run line.
pub fn export(
    plan: &EvalPlan,
    opts: &EvalOptions,
    prompts: &[String],
    format: ExportFormat,
    model: &str,
    path: &str,
) -> Result<Export> {
    super::run::validate(plan, opts)?;
    if prompts.len() != plan.tasks.len() {
        return Err(Error::Param(format!("{} prompts for {} tasks", prompts.len(), plan.tasks.len())));
    }
    let lanes = lanes(plan, opts);
    for (lane, c, n) in &lanes {
        check_expressible(format, *lane, c, *n)?;
    }
    let mut notes =
        vec!["samples will not match samplescope's: it draws its dice from Philox4x32-10 keyed per task and lane; \
         each request carries a seed derived from that key (same dice here, same seed there), but the engine \
         draws its own numbers"
            .to_string()];
    let windowed = lanes.iter().any(|(_, c, _)| c.penalty_on());
    let (text, requests, run) = match format {
        ExportFormat::Vllm | ExportFormat::Sglang => {
            let mut out = Vec::with_capacity(prompts.len() * lanes.len());
            for (ti, prompt) in prompts.iter().enumerate() {
                for (lane, c, n) in &lanes {
                    let id = custom_id(ti, *lane);
                    let seed = request_seed(opts.seed, c.seed, ti);
                    let top_k = if c.top_k == 0 { -1 } else { c.top_k as i64 };
                    let line = if format == ExportFormat::Vllm {
                        // Body fields: vLLM's CompletionRequest (vllm/entrypoints/openai/
                        // protocol.py), whose `vllm_xargs` becomes SamplingParams.extra_args
                        // (docs.vllm.ai, "vLLM Custom Arguments"); top_k -1 is off there.
                        // The envelope: OpenAI's batch input (custom_id, method, url, body),
                        // which `vllm run-batch` reads (vllm/entrypoints/openai/run_batch.py).
                        json!({
                            "custom_id": id,
                            "method": "POST",
                            "url": "/v1/completions",
                            "body": {
                                "model": model,
                                "prompt": prompt,
                                "n": n,
                                "temperature": num(c.temperature),
                                "top_p": num(c.top_p),
                                "top_k": top_k,
                                "min_p": num(c.min_p),
                                "repetition_penalty": num(penalty(c)),
                                "seed": seed,
                                "max_tokens": opts.max_tokens,
                                "stop": opts.stop_strings,
                                "vllm_xargs": samplescope_args(c, opts, ti),
                            },
                        })
                    } else {
                        // SGLang's native /generate body (GenerateReqInput: text,
                        // sampling_params) and SamplingParams (sglang/srt/sampling/
                        // sampling_params.py; docs.sglang.io, basic_usage/sampling_params):
                        // max_new_tokens, top_k -1 off, n, sampling_seed, custom_params.
                        json!({
                            "custom_id": id,
                            "body": {
                                "text": prompt,
                                "sampling_params": {
                                    "temperature": num(c.temperature),
                                    "top_p": num(c.top_p),
                                    "top_k": top_k,
                                    "min_p": num(c.min_p),
                                    "repetition_penalty": num(penalty(c)),
                                    "max_new_tokens": opts.max_tokens,
                                    "stop": opts.stop_strings,
                                    "n": n,
                                    "sampling_seed": seed,
                                    "custom_params": samplescope_args(c, opts, ti),
                                },
                            },
                        })
                    };
                    out.push(line);
                }
            }
            let count = out.len();
            if format == ExportFormat::Vllm {
                notes.push(
                    "vLLM gives child i of an n-sample request the seed seed + i: requests of different tasks \
                     may overlap in seeds only if their 31-bit seeds lie within n of each other"
                        .into(),
                );
                notes.push(
                    "vLLM results are batch-invariant only with VLLM_BATCH_INVARIANT=1 in the environment".into(),
                );
                let text: String = out.iter().map(|l| format!("{l}\n")).collect();
                (text, count, format!("vllm run-batch -i {path} -o results.jsonl --model {model}"))
            } else {
                notes.push(
                    "SGLang's samples are batch-invariant (the same for the same seed whatever else runs) only \
                     with --enable-deterministic-inference, where sampling_seed takes effect"
                        .into(),
                );
                let text = serde_json::to_string_pretty(&out).expect("JSON values serialize") + "\n";
                let run = format!(
                    "python3 -m sglang.launch_server --model-path {model} --enable-deterministic-inference &\n\
                     python3 -c 'import json, sys, urllib.request as u\n\
                     for r in json.load(open(sys.argv[1])):\n    \
                     q = u.Request(\"http://127.0.0.1:30000/generate\", json.dumps(r[\"body\"]).encode(), \
                     {{\"Content-Type\": \"application/json\"}})\n    \
                     print(json.dumps({{\"custom_id\": r[\"custom_id\"], \"response\": json.load(u.urlopen(q))}}))' \
                     {path} > results.jsonl"
                );
                (text, count, run)
            }
        }
        ExportFormat::Llamacpp => {
            let lines: Vec<String> = lanes.iter().map(|(_, c, _)| llamacpp_flags(c, opts)).collect();
            notes.push(
                "llama.cpp runs one prompt a process: give each task's prompt with -p (or -f) and repeat the \
                 command N times with seeds seed, seed + 1, …; the --seed shown is task 0's (each task's is in the \
                 vllm and sglang exports)"
                    .into(),
            );
            if !opts.stop_strings.is_empty() {
                notes.push(format!(
                    "stop strings {:?}: llama.cpp's CLI has no flag for them (llama-server's /completion takes \
                     \"stop\"); outputs may run on past them",
                    opts.stop_strings
                ));
            }
            let legend: Vec<String> = lanes
                .iter()
                .enumerate()
                .map(|(i, (lane, c, _))| format!("{}: {}", i + 1, lane_name(*lane, c)))
                .collect();
            notes.push(format!("line by line: {}", legend.join("; ")));
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            // xargs reads the quoted --samplers list as one word, as a shell would.
            let run = format!(
                "sed -n 1p {path} | xargs llama-completion -m {model} -no-cnv -f PROMPT.txt   # line i: lane i"
            );
            (text, lines.len(), run)
        }
    };
    if windowed && format != ExportFormat::Llamacpp {
        notes.push(format!(
            "{} applies repetition_penalty to every prompt and output token, samplescope to the last \
             penalty_last_n only: the same while prompt + output fit the window",
            format.engine()
        ));
    }
    Ok(Export { format, text, requests, run, notes })
}

/// One lane's llama.cpp flags (common/arg.cpp): the sampler chain in samplescope's order
/// (`--samplers`, names from common/sampling.cpp's `common_sampler_types_from_names`,
/// `;`-separated) with every setting given, so that none of llama.cpp's defaults (top_k 40,
/// top_p 0.95, min_p 0.05) applies. The seed is task 0's (`request_seed`).
pub fn llamacpp_flags(c: &SamplerConfig, opts: &EvalOptions) -> String {
    let mut chain: Vec<&str> = Vec::new();
    if c.penalty_on() {
        chain.push("penalties");
    }
    let first = c.is_greedy() || c.temperature_position == TemperaturePosition::First;
    if first {
        chain.push("temperature");
    }
    if c.top_n_sigma.is_some() && !c.is_greedy() {
        chain.push("top_n_sigma");
    }
    if c.top_k > 0 && !c.is_greedy() {
        chain.push("top_k");
    }
    if c.top_p < 1.0 && !c.is_greedy() {
        chain.push("top_p");
    }
    if c.min_p > 0.0 && !c.is_greedy() {
        chain.push("min_p");
    }
    if !first {
        chain.push("temperature");
    }
    format!(
        "--samplers '{}' --temp {} --top-k {} --top-p {} --min-p {} --top-nsigma {} --repeat-penalty {} \
         --repeat-last-n {} --seed {} -n {}",
        chain.join(";"),
        c.temperature,
        c.top_k,
        c.top_p,
        c.min_p,
        c.top_n_sigma.unwrap_or(-1.0),
        penalty(c),
        if c.penalty_on() { c.penalty_last_n } else { 0 },
        request_seed(opts.seed, c.seed, 0),
        opts.max_tokens
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_round_trip_and_reject_strangers() {
        for (t, l) in [(0, LaneRef::Greedy), (7, LaneRef::Config(0)), (123, LaneRef::Config(63))] {
            assert_eq!(parse_custom_id(&custom_id(t, l)), Some((t, l)));
        }
        for bad in ["", "t", "t1", "t-c1", "t1-c", "t1-x1", "x1-c1", "t+1-c1", "t1-c1-", "t1-greedy2", "1-c1"] {
            assert_eq!(parse_custom_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn seeds_fit_every_engine() {
        for t in 0..1000 {
            let s = request_seed(u64::MAX, 3, t);
            assert!(s < 1 << 31, "{s}");
        }
        assert_ne!(request_seed(0, 0, 0), request_seed(0, 0, 1));
        assert_ne!(request_seed(0, 0, 0), request_seed(0, 1, 0));
    }
}
