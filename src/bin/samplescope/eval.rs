//! `samplescope eval`: repeated sampling with a verifier — N samples per task and sampler,
//! pass@k, majority vote, the power-law fit, temperature sweeps. The numbers come from
//! `samplescope::eval`, the same code the page runs.

use std::path::{Path, PathBuf};

use clap::Args;
use samplescope::eval::export::chat_prompt_text;
use samplescope::eval::tasks::ArithmeticSpec;
use samplescope::eval::{
    run_eval_with, CodeRunner, EvalOptions, EvalPlan, EvalSpec, ExportFormat, TaskSource, Verifier,
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
    #[arg(long)]
    tasks: String,
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
    #[arg(long, default_value_t = 48)]
    max_tokens: u32,
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
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let spec = EvalSpec {
        lanes: a.lanes.clone(),
        temperature: a.temperature,
        sweep: a.sweep.clone(),
        seed: a.seed,
        samples: a.samples,
        max_tokens: a.max_tokens,
        verifier: a.verifier.clone(),
        greedy: !a.no_greedy,
        max_lanes: a.max_lanes,
        stop: a.stop.clone(),
        ..EvalSpec::new(task_source(&a.tasks)?)
    };
    let (plan, opts) = spec.plan()?;
    match a.export.as_slice() {
        [] => {}
        [format, path] => return export(&a, &plan, &opts, format, Path::new(path)),
        _ => return Err(Error::Param("--export FORMAT PATH: give it once".into())),
    }
    let code_runner = code_runner(&a, &plan)?;
    let bytes = read_model(&a.model)?;
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default()))?;
    let adapter = gpu.facts.name.clone();
    let mut engine =
        pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: a.ctx, ..LoadOptions::default() }))?;
    drop(bytes);
    eprintln!(
        "{} tasks × ({} samples × {} configs{}) on {adapter}, up to {} lanes a batch",
        plan.tasks.len(),
        a.samples,
        if plan.sweep.is_empty() { plan.configs.len() } else { plan.configs.len() * plan.sweep.len() },
        if opts.greedy { " + greedy" } else { "" },
        engine.model.lane_capacity(a.max_tokens).min(if a.max_lanes > 0 { a.max_lanes } else { u32::MAX })
    );
    let runner = code_runner.as_ref().map(|r| r as &dyn CodeRunner);
    let report = pollster::block_on(run_eval_with(&mut engine, &plan, &opts, runner, |p| {
        let eta = if p.done > 0 { p.elapsed_ms / p.done as f64 * (p.total - p.done) as f64 / 1e3 } else { 0.0 };
        eprint!("\r  {}/{} samples, task {}, {:.0} s, ETA {eta:.0} s   ", p.done, p.total, p.task, p.elapsed_ms / 1e3);
    }))?;
    eprintln!();
    println!("{}", report.tables());
    if a.per_task {
        println!("{}", report.task_table());
    }
    if let Some(path) = &a.json {
        write(path, &report.to_json())?;
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
fn code_runner(a: &EvalArgs, plan: &EvalPlan) -> Result<Option<PyRunner>> {
    if !matches!(plan.verifier, Verifier::Code) {
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
