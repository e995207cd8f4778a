//! `samplescope eval`: repeated sampling with a verifier — N samples per task and sampler,
//! pass@k, majority vote, the power-law fit, temperature sweeps. The numbers come from
//! `samplescope::eval`, the same code the page runs.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use clap::Args;
use samplescope::eval::code::SharedRunner;
use samplescope::eval::export::chat_prompt_text;
use samplescope::eval::import::MAX_LINE_BYTES;
use samplescope::eval::presets::{self, Size};
use samplescope::eval::tasks::ArithmeticSpec;
use samplescope::eval::{
    lane_configs, run_eval_with, survivor_curve, CodeRunner, EvalOptions, EvalPlan, EvalSpec, ExportFormat,
    ImportFormat, ImportOptions, Imported, Importer, TaskSource, Verifier,
};
use samplescope::gguf::Gguf;
use samplescope::native::pyrun::{Limits, PyRunner};
use samplescope::tokenizer::Tokenizer;
use samplescope::{Engine, Error, Gpu, GpuOptions, LoadOptions, Result};

use crate::{read_model, ModelArg};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArg,
    /// `arithmetic:LEVEL:COUNT` (levels 1–4) or a JSONL file of {"prompt": ..., "answer": ...}.
    /// Needed, except for --import of a plain file whose lines carry prompt and answer.
    #[arg(long)]
    tasks: Option<String>,
    /// Samples per task and sampler (N, at most 1024); pass@k is reported for k = 1..N. 0: greedy
    /// only. A run holds at most 262,144 samples (tasks × (greedy + samplers × N)).
    #[arg(long, default_value_t = 8)]
    samples: u32,
    /// A sampler to evaluate: `top_p=0.9`, `min_p=0.1,temperature=1.5`, … (repeat)
    /// [default: top_p=0.9 and min_p=0.1]
    #[arg(long = "lane")]
    lanes: Vec<String>,
    /// Temperature of every lane that does not set its own.
    #[arg(long)]
    temperature: Option<f32>,
    /// Run every lane at each of these temperatures and tabulate pass@1 against them.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<f32>,
    /// Seeds the arithmetic tasks, every lane's dice and the majority-vote subsets.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// [default: 48]
    #[arg(long)]
    max_tokens: Option<u32>,
    /// numeric | exact | contains | regex:PATTERN | code (runs each task's `tests` on the
    /// sample with python3, in a sandbox that is not a security boundary: see the README)
    #[arg(long, default_value = "numeric")]
    verifier: String,
    /// With --verifier code: seconds of wall-clock and of CPU time per sample's tests.
    #[arg(long, default_value_t = 10)]
    code_timeout: u64,
    /// With --verifier code: MiB of address space per sample's tests.
    #[arg(long, default_value_t = 512)]
    code_memory: u64,
    /// The most lanes in one batch [default: as many as fit]
    #[arg(long, default_value_t = 0)]
    max_lanes: u32,
    /// Skip the greedy sample per task.
    #[arg(long)]
    no_greedy: bool,
    /// Also print a row per task: the answer, greedy's, each sampler's correct count and
    /// most frequent answers.
    #[arg(long)]
    per_task: bool,
    /// Write the whole report (every output, the curves, the fits) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the curves as CSV here, plus PATH's stem + `.tasks.csv` (per task) and, with
    /// --sweep, `.sweep.csv`.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Context length to allocate.
    #[arg(long, default_value_t = 1024)]
    ctx: u32,
    /// A string that ends a sample (repeat); the model's end-of-generation tokens always do.
    #[arg(long = "stop")]
    stop: Vec<String>,
    /// Write the study for another engine instead of running it: `vllm` (batch JSONL for
    /// `vllm run-batch`), `sglang` (a list of /generate requests) or `llamacpp` (sampler flags,
    /// a line per lane). Needs the model file only for its chat template; no GPU.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "PATH"])]
    export: Vec<String>,
    /// With --export vllm or sglang: the name the engine serves the model under (a Hugging
    /// Face id such as meta-llama/Llama-3.1-8B-Instruct).
    #[arg(long)]
    served_model: Option<String>,
    /// Verify and summarize samples drawn elsewhere instead of running: vLLM run-batch
    /// output, OpenAI-style completion responses, SGLang /generate responses, or plain JSONL
    /// {"task"|"prompt", "answer"?, "config"?, "samples": [...]}. Give the export's --tasks
    /// and --lane flags so that custom ids t{task}-c{config} name the same tasks and lanes.
    /// No GPU; the model file (when there is one) only renders prompts to match them.
    #[arg(long, value_name = "PATH")]
    import: Option<PathBuf>,
    /// With --import: vllm | openai | sglang | plain [default: detected from the first record]
    #[arg(long, value_name = "FORMAT")]
    import_format: Option<String>,
    /// With --import: samples per task and lane that keep their text in the report (every
    /// sample keeps its extracted answer and verdict).
    #[arg(long, default_value_t = 32)]
    keep_texts: usize,
    /// Run one of the seeds' figures instead of describing a run: min-p, top-n-sigma,
    /// greedy-vs-sampling or repeated-sampling (the eval page's Figures; src/eval/presets.rs).
    #[arg(long, conflicts_with_all = ["tasks", "lanes", "sweep", "import", "export", "csv"])]
    preset: Option<String>,
    /// With --preset: full (a few minutes on a CPU adapter) or small (the tests' size).
    #[arg(long, default_value = "full")]
    preset_size: String,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    if let Some(path) = a.import.clone() {
        return import(&a, &path);
    }
    if let Some(name) = &a.preset {
        return preset(&a, name);
    }
    let Some(tasks) = &a.tasks else {
        return Err(Error::Param("--tasks: give the task set (arithmetic:LEVEL:COUNT or a JSONL file)".into()));
    };
    let spec = EvalSpec {
        lanes: a.lanes.clone(),
        temperature: a.temperature,
        sweep: a.sweep.clone(),
        seed: a.seed,
        samples: a.samples,
        max_tokens: a.max_tokens.unwrap_or(48),
        verifier: a.verifier.clone(),
        greedy: !a.no_greedy,
        max_lanes: a.max_lanes,
        stop: a.stop.clone(),
        ..EvalSpec::new(task_source(tasks)?)
    };
    let (plan, opts) = spec.plan()?;
    match a.export.as_slice() {
        [] => {}
        [format, path] => return export(&a, &plan, &opts, format, Path::new(path)),
        _ => return Err(Error::Param("--export FORMAT PATH: give it once".into())),
    }
    let code_runner = code_runner(&a, &plan.verifier)?;
    let (mut engine, adapter) = load_engine(&a)?;
    eprintln!(
        "{} tasks × ({} samples × {} configs{}) on {adapter}, up to {} lanes a batch",
        plan.tasks.len(),
        a.samples,
        if plan.sweep.is_empty() { plan.configs.len() } else { plan.configs.len() * plan.sweep.len() },
        if opts.greedy { " + greedy" } else { "" },
        engine.model.lane_capacity(opts.max_tokens).min(if a.max_lanes > 0 { a.max_lanes } else { u32::MAX })
    );
    let runner = code_runner.as_ref().map(|r| r as &dyn CodeRunner);
    let report = run_with_progress(&mut engine, &plan, &opts, runner)?;
    print_report(&a, &report, &report.to_json())
}

fn load_engine(a: &EvalArgs) -> Result<(Engine, String)> {
    let bytes = read_model(&a.model)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let adapter = gpu.facts.name.clone();
    let engine =
        pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: a.ctx, ..LoadOptions::default() }))?;
    Ok((engine, adapter))
}

fn run_with_progress(
    engine: &mut Engine,
    plan: &EvalPlan,
    opts: &EvalOptions,
    runner: Option<&dyn CodeRunner>,
) -> Result<samplescope::eval::EvalReport> {
    let report = pollster::block_on(run_eval_with(engine, plan, opts, runner, |p| {
        let eta = if p.done > 0 { p.elapsed_ms / p.done as f64 * (p.total - p.done) as f64 / 1e3 } else { 0.0 };
        eprint!("\r  {}/{} samples, task {}, {:.0} s, ETA {eta:.0} s   ", p.done, p.total, p.task, p.elapsed_ms / 1e3);
    }))?;
    eprintln!();
    Ok(report)
}

/// `--preset NAME`: each of the preset's eval runs in turn (their tables, and with --json
/// `{"preset", "size", "parts": [{"label", "report"}]}`), or its survivor curve (a table,
/// and with --json the curve), exactly as the eval page's Figures section runs them.
fn preset(a: &EvalArgs, name: &str) -> Result<()> {
    let p = presets::preset(name, Size::parse(&a.preset_size)?)?;
    eprintln!("{}: {} (after {})", p.name, p.title, p.after);
    let (mut engine, adapter) = load_engine(a)?;
    eprintln!("on {adapter}, at most {} tokens", p.token_budget);
    let json = if let Some(spec) = &p.survivors {
        let curve = pollster::block_on(survivor_curve(&mut engine, spec))?;
        println!("{}", curve.table());
        curve.to_json()
    } else {
        let mut parts = Vec::new();
        for part in &p.parts {
            let (plan, opts) = part.spec.plan()?;
            eprintln!("{}", part.label);
            let report = run_with_progress(&mut engine, &plan, &opts, None)?;
            println!("## {}\n{}", part.label, report.tables());
            let report: serde_json::Value = serde_json::from_str(&report.to_json()).expect("the report's own JSON");
            parts.push(serde_json::json!({ "label": part.label, "report": report }));
        }
        serde_json::to_string_pretty(&serde_json::json!({ "preset": p.name, "size": p.size, "parts": parts }))
            .expect("JSON values serialize")
    };
    println!("{}", p.caption);
    if let Some(path) = &a.json {
        write(path, &json)?;
        eprintln!("JSON written to {}", path.display());
    }
    Ok(())
}

/// The tables, and the JSON and CSV files asked for: the same for a run and an import.
fn print_report(a: &EvalArgs, report: &samplescope::eval::EvalReport, json: &str) -> Result<()> {
    println!("{}", report.tables());
    if a.per_task {
        println!("{}", report.task_table());
    }
    if let Some(path) = &a.json {
        write(path, json)?;
        eprintln!("JSON written to {}", path.display());
    }
    if let Some(path) = &a.csv {
        write(path, &report.curves_csv())?;
        let tasks_path = sibling(path, "tasks");
        write(&tasks_path, &report.tasks_csv())?;
        eprintln!("CSV written to {} and {}", path.display(), tasks_path.display());
        if !report.sweep.is_empty() {
            let sweep_path = sibling(path, "sweep");
            write(&sweep_path, &report.sweep_csv())?;
            eprintln!("sweep CSV written to {}", sweep_path.display());
        }
    }
    Ok(())
}

/// `--export FORMAT PATH`: the prompts as the run would feed them (the model's chat
/// template, so the model file is read but no GPU is opened), written for another engine.
fn export(a: &EvalArgs, plan: &EvalPlan, opts: &EvalOptions, format: &str, path: &Path) -> Result<()> {
    let format = ExportFormat::parse(format)?;
    let model = match (format, &a.served_model) {
        (ExportFormat::Llamacpp, _) => a
            .model
            .model
            .clone()
            .or_else(samplescope::native::default_model_path)
            .map_or("MODEL.gguf".into(), |p| p.display().to_string()),
        (_, Some(name)) => name.clone(),
        (_, None) => {
            return Err(Error::Param(format!(
                "--export {}: name the model the engine serves with --served-model (e.g. a Hugging Face id)",
                format.name()
            )))
        }
    };
    let bytes = read_model(&a.model)?;
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes)?)?;
    drop(bytes);
    let prompts = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| chat_prompt_text(&tok, &t.prompt).map_err(|e| Error::Param(format!("task {i}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let out = samplescope::eval::export(plan, opts, &prompts, format, &model, &path.display().to_string())?;
    write(path, &out.text)?;
    let what = if format == ExportFormat::Llamacpp { "lanes" } else { "requests" };
    println!("{} {what} for {} written to {}", out.requests, format.name(), path.display());
    println!("run it:\n{}", out.run);
    println!("what does not carry over:");
    for n in &out.notes {
        println!("  - {n}");
    }
    Ok(())
}

/// With the code verifier, the python3 runner (an error before the model loads when there
/// is no python3), and a line saying what its sandbox is.
fn code_runner(a: &EvalArgs, verifier: &Verifier) -> Result<Option<PyRunner>> {
    if !matches!(verifier, Verifier::Code) {
        return Ok(None);
    }
    if a.code_timeout == 0 || a.code_memory == 0 {
        return Err(Error::Param("--code-timeout and --code-memory must be at least 1".into()));
    }
    let limits = Limits {
        wall: std::time::Duration::from_secs(a.code_timeout),
        cpu_secs: a.code_timeout,
        memory_bytes: a.code_memory.saturating_mul(1 << 20),
        ..Limits::default()
    };
    let r = PyRunner::new(limits)?;
    eprintln!(
        "code verifier: running model-written code with {} ({} s, {} MiB, {}; see the README for what this does not prevent)",
        r.python().display(),
        a.code_timeout,
        a.code_memory,
        if r.network_isolated() { "a network namespace of its own" } else { "sockets refused by an audit hook only" }
    );
    Ok(Some(r))
}

/// `--import PATH`: the task set and lanes from the flags (as the export had them), the
/// samples from the file, the report as a run's.
fn import(a: &EvalArgs, path: &Path) -> Result<()> {
    let opts = import_options(a)?;
    let imported = import_file(path, opts)?;
    println!("{}: {}", path.display(), imported.summary().trim_end());
    print_report(a, &imported.report, &imported.to_json())
}

fn import_options(a: &EvalArgs) -> Result<ImportOptions> {
    let verifier = Verifier::parse(&a.verifier)?;
    let base = match &a.tasks {
        Some(spec) => {
            let spec = EvalSpec {
                lanes: a.lanes.clone(),
                temperature: a.temperature,
                sweep: a.sweep.clone(),
                seed: a.seed,
                verifier: a.verifier.clone(),
                ..EvalSpec::new(task_source(spec)?)
            };
            let o = ImportOptions::from_spec(&spec)?;
            let prompts = rendered_prompts(a, &o.tasks)?;
            ImportOptions { rendered_prompts: prompts, ..o }
        }
        None if !a.sweep.is_empty() && a.lanes.is_empty() => {
            return Err(Error::Param("--sweep with --import: give the export's --lane flags too".into()))
        }
        None => ImportOptions {
            lanes: if a.lanes.is_empty() { Vec::new() } else { lane_configs(&a.lanes, a.temperature)? },
            sweep: a.sweep.clone(),
            seed: a.seed,
            ..ImportOptions::new(Vec::new(), verifier.clone())
        },
    };
    Ok(ImportOptions {
        format: a.import_format.as_deref().map(ImportFormat::parse).transpose()?,
        keep_texts: a.keep_texts,
        max_tokens: a.max_tokens.unwrap_or(0),
        code_runner: code_runner(a, &verifier)?.map(|r| SharedRunner(std::rc::Rc::new(r))),
        ..base
    })
}

/// The prompts as the export sent them (the model's chat template), when a model file is
/// there to render them; the tasks' own prompts are matched either way.
fn rendered_prompts(a: &EvalArgs, tasks: &[samplescope::eval::Task]) -> Result<Vec<String>> {
    let path = a.model.model.clone().or_else(samplescope::native::default_model_path);
    let bytes = match path.as_ref().map(std::fs::read) {
        Some(Ok(b)) => b,
        Some(Err(e)) if a.model.model.is_some() => {
            return Err(Error::Param(format!("--model {}: {e}", a.model.model.as_ref().unwrap().display())))
        }
        _ => {
            eprintln!("no model file: prompts are matched as the task set writes them, not chat-rendered");
            return Ok(Vec::new());
        }
    };
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes)?)?;
    tasks
        .iter()
        .enumerate()
        .map(|(i, t)| chat_prompt_text(&tok, &t.prompt).map_err(|e| Error::Param(format!("task {i}: {e}"))))
        .collect()
}

/// Streams a sample file into the importer a line at a time, so that the file's text is
/// never held whole (lines over `MAX_LINE_BYTES` are skipped without being kept). A file
/// whose first line is not a complete JSON value is one JSON document, read whole.
pub fn import_file(path: &Path, opts: ImportOptions) -> Result<Imported> {
    let cannot = |e: std::io::Error| Error::Param(format!("--import {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut im = Importer::new(opts)?;
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        buf.clear();
        let n = r.by_ref().take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            let rest = skip_line(&mut r).map_err(cannot)?;
            im.skip_line(&format!("{} bytes, longer than {MAX_LINE_BYTES}", buf.len() + rest));
            continue;
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            im.skip_line("not UTF-8 text");
            continue;
        };
        let line = if first { line.trim_start_matches('\u{feff}') } else { line };
        if first && !line.trim().is_empty() {
            first = false;
            if serde_json::from_str::<serde::de::IgnoredAny>(line).is_err() {
                let mut text = line.to_string();
                r.by_ref().take(MAX_LINE_BYTES as u64).read_to_string(&mut text).map_err(cannot)?;
                im.push_document(&text)?;
                break;
            }
        }
        im.push_line(line)?;
    }
    im.finish()
}

/// Reads past the rest of a line without keeping it; returns its bytes.
fn skip_line(r: &mut impl BufRead) -> std::io::Result<usize> {
    let mut skipped = 0;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(skipped);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(skipped + i);
            }
            None => {
                let len = chunk.len();
                r.consume(len);
                skipped += len;
            }
        }
    }
}

/// A task spec: the arithmetic generator, or a JSONL file (read here; the core parses it).
fn task_source(spec: &str) -> Result<TaskSource> {
    if ArithmeticSpec::parse(spec)?.is_some() {
        return Ok(TaskSource::Generated(spec.to_string()));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| {
        Error::Param(format!("--tasks {spec}: cannot read it ({e}); expected arithmetic:LEVEL:COUNT or a JSONL file"))
    })?;
    Ok(TaskSource::Jsonl { text, source: Some(spec.to_string()) })
}

/// `out/run.csv` → `out/run.tasks.csv`.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    let stem = path.file_stem().map_or("eval".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.{tag}.csv"))
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Param(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Error::Param(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_siblings() {
        assert_eq!(sibling(Path::new("out/run.csv"), "tasks"), PathBuf::from("out/run.tasks.csv"));
        assert_eq!(sibling(Path::new("run"), "sweep"), PathBuf::from("run.sweep.csv"));
    }
}
