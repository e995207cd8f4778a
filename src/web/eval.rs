//! The eval runner for the page (www/eval.html): the same `EvalSpec` → plan → `run_eval` →
//! report path as `samplescope eval`, so the page and the CLI get the same numbers for the
//! same seed. Requests come in as the spec's JSON; reports go out as the CLI's JSON and CSV
//! text, which the page parses for its charts and offers for download unchanged.
//!
//!   `evalPreview(specJson)`                  the tasks and configurations a spec runs, or a JsError
//!   `evalTaskSamples(specJson, task, config)` what the runner decodes for one task and configuration
//!   `engine.runEval(specJson, onProgress, runCode)`
//!                                            runs it; onProgress({done, total, task, elapsedMs})
//!                                            per finished sample; `engine.stop()` cancels and the
//!                                            report keeps what finished. Resolves to
//!                                            {json, curvesCsv, tasksCsv, sweepCsv, cancelled}.
//!                                            Code tasks: `runCode(programs)` resolves to their
//!                                            outcomes (`JsRunner`; the page's Pyodide worker).
//!
//!   `evalImport(text, specJson)`            samples drawn elsewhere (`eval::import`): the file's
//!                                            text, and a spec naming the task set, verifier, seed
//!                                            and the export's lanes; resolves like runEval, plus
//!                                            `summary` (where the samples came from, what was
//!                                            skipped). Prompts are matched as the task set writes
//!                                            them (no tokenizer here), or by custom id.
//!   `evalImportPrograms(text, specJson)`    code tasks (`--verifier code`): the distinct Python
//!                                            programs the import needs run (`eval::code_replay`);
//!                                            the page runs them in its Pyodide worker and passes
//!                                            `{programs, outcomes}` as evalImport's third argument.
//!
//! Both check the spec through `EvalSpec::plan`, with the CLI's bounds (`eval::run::MAX_SAMPLES`,
//! `MAX_CONFIGS`, `MAX_TOTAL_SAMPLES`): a larger run is rejected with their message before
//! anything is allocated or run.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use js_sys::{Function, Object, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{js_err, js_msg, set, Lease, WebEngine};
use crate::error::Error;
use crate::eval::code::{CodeRunner, RunFuture, SharedRunner};
use crate::eval::code_replay::{ProgramRecorder, ReplayRunner};
use crate::eval::{import, run_eval_with, sweep_configs, EvalSpec, ImportOptions, Progress, RunOutcome};

/// What a spec would run, checked as the run would check it: `{tasks: [{prompt, answer}],
/// configs: [spec], samplesPerTask, totalSamples}`. Throws the core's message otherwise
/// (a JSONL task set's message names every bad line).
#[wasm_bindgen(js_name = evalPreview)]
pub fn eval_preview(spec_json: &str) -> Result<JsValue, JsValue> {
    let (plan, opts) = EvalSpec::from_json(spec_json).and_then(|s| s.plan()).map_err(js_err)?;
    let configs = if plan.sweep.is_empty() { plan.configs.clone() } else { sweep_configs(&plan.configs, &plan.sweep) };
    let per_task = opts.greedy as u64 + configs.len() as u64 * opts.samples as u64;
    let preview = serde_json::json!({
        "tasks": plan.tasks,
        "configs": configs.iter().map(|c| c.to_spec()).collect::<Vec<_>>(),
        "samplesPerTask": per_task,
        "totalSamples": per_task * plan.tasks.len() as u64,
    });
    JSON::parse(&preview.to_string())
}

/// The programs an import of code samples needs run (see the module docs): an array of
/// strings, each a whole harness program, each once.
#[wasm_bindgen(js_name = evalImportPrograms)]
pub fn eval_import_programs(text: &str, spec_json: &str) -> Result<Vec<String>, JsValue> {
    let spec = EvalSpec::from_json(spec_json).map_err(js_err)?;
    let recorder = Rc::new(ProgramRecorder::default());
    let opts = ImportOptions {
        code_runner: Some(SharedRunner(recorder.clone())),
        ..ImportOptions::from_spec(&spec).map_err(js_err)?
    };
    import(text, opts).map_err(js_err)?;
    Ok(recorder.take())
}

/// Code programs and how each run ended, from the page's Pyodide worker.
#[derive(serde::Deserialize)]
struct CodeRuns {
    programs: Vec<String>,
    outcomes: Vec<RunOutcome>,
}

/// Imports a sample file's text into the report a run gives (see the module docs); the same
/// `ImportOptions::from_spec` and `import` as `samplescope eval --import`. `code_runs`
/// (`{programs, outcomes}`, code tasks only) answers the code verifier.
#[wasm_bindgen(js_name = evalImport)]
pub fn eval_import(text: &str, spec_json: &str, code_runs: JsValue) -> Result<JsValue, JsValue> {
    let spec = EvalSpec::from_json(spec_json).map_err(js_err)?;
    let mut opts = ImportOptions::from_spec(&spec).map_err(js_err)?;
    if !code_runs.is_undefined() && !code_runs.is_null() {
        let runs: CodeRuns =
            serde_wasm_bindgen::from_value(code_runs).map_err(|e| js_msg(&format!("code outcomes: {e}")))?;
        let replay = ReplayRunner::new(runs.programs, runs.outcomes).map_err(js_err)?;
        opts.code_runner = Some(SharedRunner(Rc::new(replay)));
    }
    let imported = import(text, opts).map_err(js_err)?;
    let o = Object::new();
    set(&o, "json", imported.to_json());
    set(&o, "curvesCsv", imported.report.curves_csv());
    set(&o, "tasksCsv", imported.report.tasks_csv());
    set(&o, "sweepCsv", imported.report.sweep_csv());
    set(&o, "cancelled", false);
    set(&o, "summary", imported.summary());
    Ok(o.into())
}

#[wasm_bindgen]
impl WebEngine {
    /// Runs an eval spec on the loaded model (see the module docs).
    #[wasm_bindgen(js_name = runEval)]
    pub fn run_eval(&self, spec_json: String, on_progress: Function, run_code: Option<Function>) -> js_sys::Promise {
        let h = self.handles();
        let runner = run_code.map(JsRunner);
        future_to_promise(async move {
            let (plan, mut opts) = EvalSpec::from_json(&spec_json).and_then(|s| s.plan()).map_err(js_err)?;
            let mut lease = Lease::take(&h.engine, &h.busy)?;
            h.cancel.store(false, Ordering::Relaxed);
            opts.cancel = Some(h.cancel.clone());
            // A throwing callback cancels the run; its error is what the promise rejects with.
            let mut cb_error = None;
            let code_runner = runner.as_ref().map(|r| r as &dyn CodeRunner);
            let report = run_eval_with(lease.get(), &plan, &opts, code_runner, |p: Progress| {
                if cb_error.is_some() {
                    return;
                }
                let o = Object::new();
                set(&o, "done", p.done as f64);
                set(&o, "total", p.total as f64);
                set(&o, "task", p.task as f64);
                set(&o, "elapsedMs", p.elapsed_ms);
                if let Err(e) = on_progress.call1(&JsValue::NULL, &o) {
                    cb_error = Some(e);
                    h.cancel.store(true, Ordering::Relaxed);
                }
            })
            .await
            .map_err(js_err)?;
            if let Some(e) = cb_error {
                return Err(e);
            }
            let o = Object::new();
            set(&o, "json", report.to_json());
            set(&o, "curvesCsv", report.curves_csv());
            set(&o, "tasksCsv", report.tasks_csv());
            set(&o, "sweepCsv", report.sweep_csv());
            set(&o, "cancelled", report.cancelled);
            Ok(o.into())
        })
    }
}

/// What the runner decodes for task `task` and configuration `config` (an index into
/// evalPreview's `configs`) of a spec: `{prompt, chat, spec, samples, maxTokens}`, i.e. the
/// task's prompt (chat template applied), the configuration's lane spec with the task's seed
/// (`run::task_sampler`) and N, for the page's sample tree to draw those samples again: the
/// same sampler, seed and sample indices give the same tokens. Throws for an index out of
/// range and for a spec with stop strings (the lab's generation does not apply them).
#[wasm_bindgen(js_name = evalTaskSamples)]
pub fn eval_task_samples(spec_json: &str, task: u32, config: u32) -> Result<JsValue, JsValue> {
    use crate::eval::run::{run_configs, task_sampler};
    let (plan, opts) = EvalSpec::from_json(spec_json).and_then(|s| s.plan()).map_err(js_err)?;
    if !opts.stop_strings.is_empty() {
        return Err(super::js_msg("the sample tree cannot draw a run with stop strings again"));
    }
    let configs = run_configs(&plan);
    let t = plan.tasks.get(task as usize);
    let t = t.ok_or_else(|| super::js_msg(&format!("task {task}: the spec has {} tasks", plan.tasks.len())))?;
    let c = configs.get(config as usize);
    let c = c.ok_or_else(|| super::js_msg(&format!("configuration {config}: the spec has {}", configs.len())))?;
    let out = serde_json::json!({
        "prompt": t.prompt,
        "chat": true,
        "spec": task_sampler(c, opts.seed, task as usize).to_spec(),
        "samples": opts.samples,
        "maxTokens": opts.max_tokens,
    });
    JSON::parse(&out.to_string())
}

/// The page's code runner for local runs: a JS function from an array of programs to a
/// promise of their outcomes (the core's `RunOutcome` as JSON-like objects).
struct JsRunner(Function);

impl CodeRunner for JsRunner {
    fn run<'a>(&'a self, programs: &'a [String]) -> RunFuture<'a> {
        Box::pin(async move {
            let failed = |e: JsValue| {
                let why = e.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{e:?}"), |e| String::from(e.message()));
                Error::Param(format!("code runner: {why}"))
            };
            let list: js_sys::Array = programs.iter().map(|p| JsValue::from_str(p)).collect();
            let promise = self.0.call1(&JsValue::NULL, &list).map_err(failed)?;
            let value =
                wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise)).await.map_err(failed)?;
            serde_wasm_bindgen::from_value(value).map_err(|e| Error::Param(format!("code runner: its outcomes: {e}")))
        })
    }
}
