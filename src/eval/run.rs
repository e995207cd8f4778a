//! The runner: for each task, one greedy sample and N samples per sampler configuration,
//! all as lanes of the task's prompt (chat template applied), batched up to the model's
//! lane capacity so that one prefill serves a whole batch.

use web_time::Instant;

use super::code::{self, CodeRunner};
use super::report::{summarize, EvalReport, Sample, SweepSeries, TaskConfig, TaskResult};
use super::rng::SplitMix;
use super::tasks::Task;
use super::verify::Verifier;
use crate::engine::{CancelFlag, Engine, GenerateOptions, LaneSpec};
use crate::error::{Error, Result};
use crate::sampling::config::SamplerConfig;

/// The most samples per task and configuration (N) decoded here: N samples are N lanes'
/// worth of decoding, minutes per task on this engine at 1024. (An import takes far more;
/// its metrics are linear in N, see `metrics`.)
pub const MAX_SAMPLES: u32 = 1024;

/// The most configurations a run evaluates (lanes × sweep temperatures): each is a column
/// of every table and a curve in the chart.
pub const MAX_CONFIGS: usize = 64;

/// The most samples in one run, tasks × (greedy + configurations × N). The report keeps
/// every output (its text, extracted answer and verdict, ~0.5 KB with its JSON), so this
/// bounds it at ~128 MB: what a browser tab can hold, and days of decoding on this engine.
pub const MAX_TOTAL_SAMPLES: u64 = 1 << 18;

/// What to run.
#[derive(Clone, Debug)]
pub struct EvalPlan {
    pub tasks: Vec<Task>,
    pub configs: Vec<SamplerConfig>,
    /// Temperatures to sweep: when not empty, every configuration runs once at each of
    /// these (its own temperature is replaced) and the report gets a sweep table.
    pub sweep: Vec<f32>,
    pub verifier: Verifier,
}

#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Samples per task and configuration (N).
    pub samples: u32,
    pub max_tokens: u32,
    /// Keys every lane's dice together with the configuration's own seed and the task's
    /// position (see `lane_seed`), and the majority-vote subsets.
    pub seed: u64,
    /// Also run one greedy sample per task.
    pub greedy: bool,
    /// The most lanes in one batch (0: as many as the model's KV budget fits).
    pub max_lanes: u32,
    /// Random subsets per k for the majority-vote curve (see `metrics::majority_vote_curve`).
    pub vote_subsets: u32,
    pub stop_strings: Vec<String>,
    /// Set it to stop: the batch in flight ends after its current step; its unfinished
    /// lanes are dropped, everything finished is kept and summarized.
    pub cancel: Option<CancelFlag>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            samples: 8,
            max_tokens: 48,
            seed: 0,
            greedy: true,
            max_lanes: 0,
            vote_subsets: 100,
            stop_strings: Vec::new(),
            cancel: None,
        }
    }
}

/// Where a run is: samples finished of the total, and the task being run.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub task: usize,
    pub elapsed_ms: f64,
}

/// Each configuration once per temperature, base-major (the order the report's sweep
/// table assumes).
pub fn sweep_configs(bases: &[SamplerConfig], temperatures: &[f32]) -> Vec<SamplerConfig> {
    bases
        .iter()
        .flat_map(|b| temperatures.iter().map(move |&t| SamplerConfig { temperature: t, ..b.clone() }))
        .collect()
}

/// The Philox seed of a configuration's lanes on task `task`. Tasks get unrelated dice (so
/// their samples are independent); configurations with the same `seed` share dice on a
/// task, so that they differ only in their sampler (docs/DESIGN.md's "same dice").
pub fn lane_seed(run_seed: u64, config_seed: u64, task: usize) -> u64 {
    SplitMix::keyed(&[run_seed, config_seed, task as u64]).next_u64()
}

/// Configuration `config`'s sampler on task `task` as the runner decodes its N samples
/// (sample indices 0…N−1 after the task's prompt, chat template applied): its seed is the
/// task's `lane_seed`. The page's sample tree draws a task's samples again with it.
pub fn task_sampler(config: &SamplerConfig, run_seed: u64, task: usize) -> SamplerConfig {
    SamplerConfig { seed: lane_seed(run_seed, config.seed, task), ..config.clone() }
}

/// Which result a lane feeds: the greedy sample, or sample `index` of configuration `config`.
#[derive(Clone, Copy)]
enum Slot {
    Greedy,
    Config(usize),
}

/// Runs `plan` on `engine`. `on_progress` hears every finished sample. Returns the report;
/// on cancel, the report of what finished (`cancelled` set). A plan with the code
/// verifier needs `run_eval_with` and a runner.
pub async fn run_eval(
    engine: &mut Engine,
    plan: &EvalPlan,
    opts: &EvalOptions,
    on_progress: impl FnMut(Progress),
) -> Result<EvalReport> {
    run_eval_with(engine, plan, opts, None, on_progress).await
}

/// `run_eval` with a runner for code tasks: after each batch is decoded, its outputs'
/// test programs run on `code_runner` (the text verifiers do not use it).
pub async fn run_eval_with(
    engine: &mut Engine,
    plan: &EvalPlan,
    opts: &EvalOptions,
    code_runner: Option<&dyn CodeRunner>,
    mut on_progress: impl FnMut(Progress),
) -> Result<EvalReport> {
    check_size(plan, opts)?;
    let configs = run_configs(plan);
    check(plan, &configs, opts)?;
    let code_runner = match (&plan.verifier, code_runner) {
        (Verifier::Code, None) => {
            return Err(Error::Param(
                "the code verifier runs the tests with a code runner, and this front end gave none".into(),
            ))
        }
        (Verifier::Code, Some(r)) => Some(r),
        _ => None,
    };
    let mut cap = engine.model.lane_capacity(opts.max_tokens);
    if opts.max_lanes > 0 {
        cap = cap.min(opts.max_lanes);
    }
    if cap == 0 {
        return Err(Error::Param(format!("not even one lane of {} tokens fits the KV budget", opts.max_tokens)));
    }
    let per_task = opts.greedy as u64 + configs.len() as u64 * opts.samples as u64;
    let total = plan.tasks.len() as u64 * per_task;
    let gen_opts = GenerateOptions {
        max_tokens: opts.max_tokens,
        stop_at_eog: true,
        stop_strings: opts.stop_strings.clone(),
        inspect_top: 0,
        cancel: opts.cancel.clone(),
        pipeline: Default::default(),
    };
    let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed));
    let t0 = Instant::now();
    let (mut done, mut tokens) = (0u64, 0u64);
    let mut results = Vec::with_capacity(plan.tasks.len());
    for (ti, task) in plan.tasks.iter().enumerate() {
        if cancelled() {
            break;
        }
        let ids = engine.encode_prompt(&task.prompt, true)?;
        if ids.len() + opts.max_tokens as usize > engine.model.n_ctx as usize {
            return Err(Error::Context(format!(
                "task {ti}: {} prompt tokens + {} new tokens exceed the context of {}",
                ids.len(),
                opts.max_tokens,
                engine.model.n_ctx
            )));
        }
        let mut lanes: Vec<(Slot, LaneSpec)> = Vec::with_capacity(per_task as usize);
        if opts.greedy {
            lanes.push((Slot::Greedy, LaneSpec { sampler: SamplerConfig::greedy(), sample_index: 0 }));
        }
        for (ci, c) in configs.iter().enumerate() {
            let sampler = task_sampler(c, opts.seed, ti);
            lanes.extend(
                (0..opts.samples).map(|s| (Slot::Config(ci), LaneSpec { sampler: sampler.clone(), sample_index: s })),
            );
        }
        let mut result = TaskResult {
            index: ti,
            prompt: task.prompt.clone(),
            answer: task.answer.clone(),
            greedy: None,
            configs: vec![TaskConfig::default(); configs.len()],
            complete: false,
        };
        for chunk in lanes.chunks(cap as usize) {
            if cancelled() {
                break;
            }
            let specs: Vec<LaneSpec> = chunk.iter().map(|l| l.1.clone()).collect();
            let gens = engine
                .generate(&ids, &specs, &gen_opts, |ev| {
                    if ev.stop.is_some_and(|s| s != "cancelled") {
                        done += 1;
                        on_progress(Progress { done, total, task: ti, elapsed_ms: t0.elapsed().as_secs_f64() * 1e3 });
                    }
                })
                .await?;
            // Cut short: verifying a truncated output would count it wrong.
            let kept = |g: &crate::engine::Generation| g.stop != "cancelled";
            let mut code_verdicts = match code_runner {
                Some(r) => {
                    let outputs: Vec<&str> = gens.iter().filter(|g| kept(g)).map(|g| g.text.as_str()).collect();
                    code::verify(r, task, &outputs).await?.into_iter()
                }
                None => Vec::new().into_iter(),
            };
            for ((slot, spec), g) in chunk.iter().zip(gens) {
                tokens += g.ids.len() as u64;
                if !kept(&g) {
                    continue;
                }
                let v = match code_runner {
                    Some(_) => {
                        code_verdicts.next().ok_or_else(|| Error::Param("code runner: a verdict is missing".into()))?
                    }
                    None => plan.verifier.check(&g.text, &task.answer),
                };
                let sample = Sample {
                    sample_index: spec.sample_index,
                    output: g.text,
                    extracted: v.extracted,
                    pass: v.pass,
                    tokens: g.ids.len() as u32,
                    stop: g.stop.to_string(),
                };
                match *slot {
                    Slot::Greedy => result.greedy = Some(sample),
                    Slot::Config(ci) => {
                        let tc = &mut result.configs[ci];
                        tc.correct += sample.pass as u32;
                        tc.samples.push(sample);
                    }
                }
            }
        }
        result.complete = result.greedy.is_some() == opts.greedy
            && result.configs.iter().all(|tc| tc.samples.len() == opts.samples as usize);
        results.push(result);
    }
    let summaries = summarize(&results, &configs, opts.samples, opts.vote_subsets, opts.seed);
    let greedy: Vec<bool> =
        results.iter().filter(|t| t.complete).filter_map(|t| t.greedy.as_ref().map(|g| g.pass)).collect();
    let sweep = plan
        .configs
        .iter()
        .enumerate()
        .filter(|_| !plan.sweep.is_empty())
        .map(|(bi, base)| SweepSeries {
            spec: SamplerConfig { temperature: 1.0, ..base.clone() }.to_spec(),
            temperatures: plan.sweep.clone(),
            pass_at_1: (0..plan.sweep.len()).map(|ti| summaries[bi * plan.sweep.len() + ti].mean_accuracy).collect(),
        })
        .collect();
    Ok(EvalReport {
        verifier: plan.verifier.to_spec(),
        samples: opts.samples,
        max_tokens: opts.max_tokens,
        seed: opts.seed,
        cancelled: cancelled(),
        elapsed_ms: t0.elapsed().as_secs_f64() * 1e3,
        tokens,
        greedy_accuracy: (!greedy.is_empty())
            .then(|| greedy.iter().filter(|&&p| p).count() as f64 / greedy.len() as f64),
        greedy_tasks: greedy.len(),
        configs: summaries,
        sweep,
        tasks: results,
    })
}

/// The configurations a plan runs: its own, or each at every sweep temperature.
pub(crate) fn run_configs(plan: &EvalPlan) -> Vec<SamplerConfig> {
    if plan.sweep.is_empty() {
        plan.configs.clone()
    } else {
        sweep_configs(&plan.configs, &plan.sweep)
    }
}

/// What `run_eval` checks before any GPU work, for a front end to check a plan up front.
pub fn validate(plan: &EvalPlan, opts: &EvalOptions) -> Result<()> {
    check_size(plan, opts)?;
    check(plan, &run_configs(plan), opts)
}

/// Rejects a run larger than `MAX_SAMPLES`, `MAX_CONFIGS` or `MAX_TOTAL_SAMPLES` before
/// anything is allocated for it; the message names the limit and the product.
fn check_size(plan: &EvalPlan, opts: &EvalOptions) -> Result<()> {
    if opts.samples > MAX_SAMPLES {
        return Err(Error::Param(format!("samples = {}: at most {MAX_SAMPLES} per task and sampler", opts.samples)));
    }
    let n_configs = plan.configs.len().saturating_mul(plan.sweep.len().max(1));
    if n_configs > MAX_CONFIGS {
        return Err(Error::Param(format!(
            "{} sampler configurations × {} sweep temperatures = {n_configs}: at most {MAX_CONFIGS}",
            plan.configs.len(),
            plan.sweep.len().max(1)
        )));
    }
    let per_task = opts.greedy as u64 + n_configs as u64 * opts.samples as u64;
    let total = (plan.tasks.len() as u64).saturating_mul(per_task);
    if total > MAX_TOTAL_SAMPLES {
        return Err(Error::Param(format!(
            "{} tasks × {per_task} samples each = {total} samples: at most {MAX_TOTAL_SAMPLES} in one run",
            plan.tasks.len()
        )));
    }
    Ok(())
}

/// Rejects a plan that cannot run or cannot pass, before any GPU work.
fn check(plan: &EvalPlan, configs: &[SamplerConfig], opts: &EvalOptions) -> Result<()> {
    if plan.tasks.is_empty() {
        return Err(Error::Param("no tasks".into()));
    }
    if configs.is_empty() && !opts.greedy {
        return Err(Error::Param("nothing to run: no sampler configurations and no greedy sample".into()));
    }
    if !configs.is_empty() && opts.samples == 0 {
        return Err(Error::Param("samples must be at least 1".into()));
    }
    if opts.max_tokens == 0 {
        return Err(Error::Param("max_tokens must be at least 1".into()));
    }
    for c in configs {
        c.validate()?;
    }
    for (i, t) in plan.tasks.iter().enumerate() {
        plan.verifier.check_task(t).map_err(|e| Error::Param(format!("task {i}: {e}")))?;
    }
    Ok(())
}
