//! Import: samples drawn elsewhere (vLLM's `run-batch`, an OpenAI-style completions
//! server, SGLang's `/generate`, or any script writing plain JSONL) verified here and
//! summarized into the same `EvalReport` a local run produces: pass@k, majority vote, the
//! power-law fit, the per-task table, JSON and CSV.
//!
//! The formats, detected from the file's first record (or named, `ImportFormat::parse`):
//! - `vllm`: `vllm run-batch` output, a line per request: `{"id", "custom_id", "response":
//!   {"status_code", "request_id", "body": {"choices": [{"index", "text", "finish_reason",
//!   "stop_reason"}], "usage"}}, "error"}` (vllm/entrypoints/openai/run_batch.py,
//!   `BatchRequestOutput`). `custom_id` is the export's `t{task}-c{config}` / `t{task}-greedy`.
//! - `openai`: completion responses `{"choices": [{"index", "text" (or "message":
//!   {"content"}), "finish_reason"}], "usage"}`, one JSON document or JSONL.
//! - `sglang`: `/generate` responses: `{"text", "meta_info": {"finish_reason": {"type",
//!   "matched"}, "completion_tokens"}}`, or a list of them (n > 1, or a batch of prompts:
//!   prompt-major, n each, as sglang's `TokenizerManager._handle_batch_request` expands them).
//! - `plain`: `{"task": INDEX | "prompt": TEXT | "custom_id": ID, "answer"?, "config"?,
//!   "greedy"?, "samples": [TEXT, …]}` a line.
//!
//! A response may come bare or in an envelope naming its task: `{"custom_id" | "prompt" |
//! "task", "response": …}` (the export's SGLang run line writes `{"custom_id", "response"}`).
//! Bare responses name nothing, so they go by position: one document's choices cover the
//! tasks in order (a request with every prompt: choice i·n + j is sample j of task i), and
//! in JSONL line r is task r.
//!
//! Matching: by custom id, task index, or prompt text — the task's own prompt or, when the
//! caller gives them, the chat-rendered prompts the export sent (`export::chat_prompt_text`).
//! A malformed record is skipped with a warning naming its line (or entry), and the rest is
//! kept; samples for unknown tasks and error responses are counted and listed; a file with
//! no usable record is an error. Bounds: `MAX_LINE_BYTES` a line, `MAX_SAMPLES_PER_TASK` per
//! task and configuration, `MAX_IMPORT_SAMPLES` in all.
//!
//! Memory: each sample is verified as it is read and kept as a 4-byte vote
//! (`report::Votes`); only the first `keep_texts` samples of a task and configuration keep
//! their text. Identical outputs within one record are verified once (the verifiers are
//! functions of the output and the answer).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use web_time::Instant;

mod formats;

pub use formats::ImportFormat;
use formats::{error_of, is_sglang_result, key_name, kind, plain_error, request_lane, samples_of, PlainLine, Raw};

use super::code::{self, SharedRunner};
use super::export::{parse_custom_id, LaneRef};
use super::metrics::VoteCode;
use super::report::{summarize_labeled, sweep_series, EvalReport, Sample, TaskConfig, TaskResult, Votes};
use super::run::{sweep_configs, MAX_CONFIGS};
use super::tasks::Task;
use super::verify::{Verdict, Verifier};
use crate::error::{shown, shown_text, Error, Result};
use crate::sampling::config::SamplerConfig;

/// The longest line (or whole-document file) read: 64 MiB, 10,000 samples of 6 KB.
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// The most samples of one task under one configuration.
pub const MAX_SAMPLES_PER_TASK: usize = 100_000;
/// The most samples in one import (4 bytes each once verified: 128 MiB).
pub const MAX_IMPORT_SAMPLES: u64 = 1 << 25;
/// The most tasks a file may define (plain format without a task set).
pub const MAX_FILE_TASKS: usize = 100_000;
/// Examples listed per kind of problem (every one is counted).
const LISTED: usize = 10;

/// What the samples answer and how to summarize them.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The task set; empty when the file defines it (plain format with prompt and answer).
    pub tasks: Vec<Task>,
    /// Each task's prompt as the export sent it (`export::chat_prompt_text`), matched
    /// besides the task's own prompt; empty when not known.
    pub rendered_prompts: Vec<String>,
    /// The configurations the samples were drawn with, as the export numbered them (custom
    /// id `c{i}` is configuration i; with `sweep`, each lane at each temperature, base-major).
    /// Empty: named from the file, or "imported".
    pub lanes: Vec<SamplerConfig>,
    pub sweep: Vec<f32>,
    pub verifier: Verifier,
    /// None: detected from the first record.
    pub format: Option<ImportFormat>,
    /// Samples per task and configuration kept with their text (the rest keep their vote).
    pub keep_texts: usize,
    pub vote_subsets: u32,
    /// Seeds the majority-vote subsets.
    pub seed: u64,
    /// The max_tokens the samples were drawn with, when known (0: not known).
    pub max_tokens: u32,
    /// Runs the tests of code tasks (`--verifier code`); it must finish at once
    /// (`code::verify_now`).
    pub code_runner: Option<SharedRunner>,
}

impl ImportOptions {
    pub fn new(tasks: Vec<Task>, verifier: Verifier) -> ImportOptions {
        ImportOptions {
            tasks,
            rendered_prompts: Vec::new(),
            lanes: Vec::new(),
            sweep: Vec::new(),
            verifier,
            format: None,
            keep_texts: 32,
            vote_subsets: 100,
            seed: 0,
            max_tokens: 0,
            code_runner: None,
        }
    }
}

impl ImportOptions {
    /// What an eval spec (the CLI's flags, the page's form) says about imported samples:
    /// its task set, verifier, seed, and lanes (with its sweep) when it names any — the same
    /// as the export's, so that custom ids name the same lanes. Its sample count and
    /// max_tokens are the file's business (max_tokens: unknown).
    pub fn from_spec(spec: &super::EvalSpec) -> Result<ImportOptions> {
        let lanes =
            if spec.lanes.is_empty() { Vec::new() } else { super::lane_configs(&spec.lanes, spec.temperature)? };
        if !spec.sweep.is_empty() && lanes.is_empty() {
            return Err(Error::Param("a sweep on import needs the export's lanes too".into()));
        }
        Ok(ImportOptions {
            lanes,
            sweep: spec.sweep.clone(),
            seed: spec.seed,
            ..ImportOptions::new(spec.load_tasks()?, Verifier::parse(&spec.verifier)?)
        })
    }
}

/// The one place an imported sample is checked, with the verifier a local run uses.
pub fn verify_sample(verifier: &Verifier, task: &Task, output: &str) -> Verdict {
    verifier.check(output, &task.answer)
}

/// Counted problems of one kind, with the first few examples.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Problems {
    /// Records (lines or entries) affected.
    pub records: usize,
    /// Samples in them.
    pub samples: u64,
    pub examples: Vec<String>,
}

impl Problems {
    fn add(&mut self, samples: u64, example: impl FnOnce() -> String) {
        self.records += 1;
        self.samples += samples;
        if self.examples.len() < LISTED {
            self.examples.push(example());
        }
    }
}

/// Where the time went (the scale benchmark prints these).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ImportTimes {
    /// Reading JSON.
    pub parse_ms: f64,
    /// Running the verifier and keeping votes.
    pub verify_ms: f64,
    /// pass@k, majority vote and the fit.
    pub summarize_ms: f64,
}

/// What an import read, besides the report.
#[derive(Clone, Debug, Serialize)]
pub struct ImportInfo {
    pub format: ImportFormat,
    /// Records read (lines, or entries of a JSON document), blank lines not counted.
    pub records: usize,
    /// Samples verified and kept.
    pub samples: u64,
    /// Distinct outputs verified (identical outputs within a record are verified once).
    pub verified: u64,
    /// Malformed or unusable records, each "line N: why".
    pub skipped: Problems,
    /// Samples for tasks (or configurations) the task set does not have.
    pub unknown: Problems,
    /// Responses that carry an error or a non-200 status.
    pub errors: Problems,
    /// Anything else the reader should know (unequal counts, missing configurations …).
    pub notes: Vec<String>,
    pub times: ImportTimes,
}

/// An imported report: the same `EvalReport` a local run gives, and what the import read.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    #[serde(flatten)]
    pub report: EvalReport,
    pub import: ImportInfo,
}

impl Imported {
    /// The report's JSON with an `"import"` section.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Lines saying where the samples came from and what was left out.
    pub fn summary(&self) -> String {
        let i = &self.import;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "imported {} samples from {} records of {} ({} distinct outputs verified)",
            i.samples,
            i.records,
            i.format.describe(),
            i.verified
        );
        let mut list = |what: &str, p: &Problems| {
            if p.records > 0 {
                let _ = writeln!(s, "{what}: {} records, {} samples", p.records, p.samples);
                for e in &p.examples {
                    let _ = writeln!(s, "  {e}");
                }
                if p.records > p.examples.len() {
                    let _ = writeln!(s, "  … and {} more", p.records - p.examples.len());
                }
            }
        };
        list("skipped", &i.skipped);
        list("unknown tasks or configurations", &i.unknown);
        list("error responses", &i.errors);
        for n in &i.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}

/// Imports a whole file's text: JSONL, or one JSON document (an object or a list).
pub fn import(text: &str, opts: ImportOptions) -> Result<Imported> {
    let mut im = Importer::new(opts)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if !first.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(first).is_err() {
        im.push_document(text)?;
    } else {
        for line in text.lines() {
            im.push_line(line)?;
        }
    }
    im.finish()
}

/// Which result of a task samples feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Greedy,
    Config(usize),
}

#[derive(Default)]
struct ConfigState {
    samples: Vec<Sample>,
    correct: u32,
    codes: Vec<VoteCode>,
    answers: HashMap<String, u32>,
}

#[derive(Default)]
struct TaskState {
    greedy: Option<Sample>,
    configs: Vec<ConfigState>,
}

/// A configuration's label: its spec and, where known, its settings.
struct ConfigLabel {
    spec: String,
    config: Option<SamplerConfig>,
}

/// Reads records one at a time (`push_line`, `push_document`), keeping only votes, then
/// summarizes (`finish`). `import` drives it over a text; the CLI over a file's lines.
pub struct Importer {
    opts: ImportOptions,
    format: Option<ImportFormat>,
    by_prompt: HashMap<String, usize>,
    file_tasks: bool,
    configs: Vec<ConfigLabel>,
    /// Whether `configs` came from the caller (fixed) or grow from the file.
    configs_given: bool,
    tasks: Vec<TaskState>,
    line: usize,
    /// Records seen with a usable sample.
    used: usize,
    bare: usize,
    pending: Option<(String, Vec<Raw<'static>>)>,
    tokens: u64,
    info: ImportInfo,
}

impl Importer {
    pub fn new(opts: ImportOptions) -> Result<Importer> {
        let file_tasks = opts.tasks.is_empty();
        if let (Verifier::Code, None) = (&opts.verifier, &opts.code_runner) {
            return Err(Error::Param("--verifier code: no code runner to run the tests with".into()));
        }
        for (i, t) in opts.tasks.iter().enumerate() {
            opts.verifier.check_task(t).map_err(|e| Error::Param(format!("task {i}: {e}")))?;
        }
        if !opts.rendered_prompts.is_empty() && opts.rendered_prompts.len() != opts.tasks.len() {
            return Err(Error::Param(format!(
                "{} rendered prompts for {} tasks",
                opts.rendered_prompts.len(),
                opts.tasks.len()
            )));
        }
        let configs_given = !opts.lanes.is_empty();
        let lanes = if opts.sweep.is_empty() { opts.lanes.clone() } else { sweep_configs(&opts.lanes, &opts.sweep) };
        if lanes.len() > MAX_CONFIGS {
            return Err(Error::Param(format!("{} configurations: at most {MAX_CONFIGS}", lanes.len())));
        }
        let configs = lanes.into_iter().map(|c| ConfigLabel { spec: c.to_spec(), config: Some(c) }).collect();
        // Rendered prompts first: a raw prompt equal to another task's rendered one is the
        // rarer reading. Duplicates keep the first task.
        let mut by_prompt = HashMap::new();
        for (i, p) in opts.rendered_prompts.iter().enumerate() {
            by_prompt.entry(p.clone()).or_insert(i);
        }
        for (i, t) in opts.tasks.iter().enumerate() {
            by_prompt.entry(t.prompt.clone()).or_insert(i);
        }
        let tasks = (0..opts.tasks.len()).map(|_| TaskState::default()).collect();
        let format = opts.format;
        Ok(Importer {
            opts,
            format,
            by_prompt,
            file_tasks,
            configs,
            configs_given,
            tasks,
            line: 0,
            used: 0,
            bare: 0,
            pending: None,
            tokens: 0,
            info: ImportInfo {
                format: format.unwrap_or(ImportFormat::Plain),
                records: 0,
                samples: 0,
                verified: 0,
                skipped: Problems::default(),
                unknown: Problems::default(),
                errors: Problems::default(),
                notes: Vec::new(),
                times: ImportTimes::default(),
            },
        })
    }

    /// Reads one line of a JSONL file (blank lines are skipped). Errors only when the
    /// import cannot go on (a bound passed); a bad line is a warning.
    pub fn push_line(&mut self, line: &str) -> Result<()> {
        self.line += 1;
        let at = format!("line {}", self.line);
        self.push_record(line, &at)
    }

    /// A line the caller could not read (longer than `MAX_LINE_BYTES`, not UTF-8): counted
    /// and listed as skipped, `why` after its number.
    pub fn skip_line(&mut self, why: &str) {
        self.line += 1;
        self.info.records += 1;
        let line = self.line;
        self.info.skipped.add(0, || format!("line {line}: {why}"));
    }

    /// Reads a whole JSON document: one response, or a list of records.
    pub fn push_document(&mut self, text: &str) -> Result<()> {
        if text.len() > MAX_LINE_BYTES {
            return Err(Error::Param(format!(
                "the file is one JSON document of {} bytes: at most {MAX_LINE_BYTES}; write it as JSONL",
                text.len()
            )));
        }
        let t0 = Instant::now();
        let v: Value = serde_json::from_str(text).map_err(|e| {
            Error::Param(format!("not JSONL (line 1 is not a JSON value) and not one JSON document: {e}"))
        })?;
        self.info.times.parse_ms += ms(t0);
        let format = self.format(&v, "the document")?;
        match v {
            Value::Array(items) if !(format == ImportFormat::Sglang && is_sglang_result(items.first())) => {
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("entry {}", i + 1);
                    self.info.records += 1;
                    self.value_record(item, &at)?;
                }
            }
            v => {
                self.info.records += 1;
                self.value_record(v, "the document")?;
            }
        }
        Ok(())
    }

    fn push_record(&mut self, line: &str, at: &str) -> Result<()> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        self.info.records += 1;
        if line.len() > MAX_LINE_BYTES {
            self.info.skipped.add(0, || format!("{at}: {} bytes, longer than {MAX_LINE_BYTES}", line.len()));
            return Ok(());
        }
        let t0 = Instant::now();
        if self.format.is_none() {
            match serde_json::from_str::<Value>(line) {
                Ok(v) => {
                    self.format(&v, at)?;
                }
                Err(e) => {
                    self.info.skipped.add(0, || format!("{at}: not valid JSON ({e})"));
                    return Ok(());
                }
            }
        }
        if self.format == Some(ImportFormat::Plain) {
            let parsed = PlainLine::deserialize(&mut serde_json::Deserializer::from_str(line));
            self.info.times.parse_ms += ms(t0);
            return match parsed {
                Ok(p) => self.plain(p, at),
                Err(e) => {
                    self.info.skipped.add(0, || format!("{at}: {}", plain_error(&e)));
                    Ok(())
                }
            };
        }
        let v = serde_json::from_str::<Value>(line);
        self.info.times.parse_ms += ms(t0);
        match v {
            Ok(v) => self.value_record(v, at),
            Err(e) => {
                self.info.skipped.add(0, || format!("{at}: not valid JSON ({e})"));
                Ok(())
            }
        }
    }

    /// The file's format: the one given, or detected from this first record.
    fn format(&mut self, v: &Value, at: &str) -> Result<ImportFormat> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        let f = ImportFormat::detect(v).ok_or_else(|| {
            Error::Param(format!(
                "{at}: not a format import reads (vLLM batch output, OpenAI completions, SGLang /generate \
                 responses, or plain {{\"prompt\"|\"task\", \"samples\": [...]}}); name it with --import-format"
            ))
        })?;
        if self.file_tasks && f != ImportFormat::Plain {
            return Err(Error::Param(format!(
                "{} carries no answers: give the task set the samples answer (--tasks)",
                f.describe()
            )));
        }
        self.format = Some(f);
        self.info.format = f;
        Ok(f)
    }

    fn value_record(&mut self, v: Value, at: &str) -> Result<()> {
        let format = self.format.unwrap_or(ImportFormat::Plain);
        if format == ImportFormat::Plain {
            return match PlainLine::deserialize(&v) {
                Ok(p) => self.plain(p, at),
                Err(e) => {
                    self.info.skipped.add(0, || format!("{at}: {}", plain_error(&e)));
                    Ok(())
                }
            };
        }
        // A bare SGLang result list (n > 1, or a batch of prompts) is one response.
        if format == ImportFormat::Sglang && (is_sglang_result(Some(&v)) || v.is_array()) {
            return self.bare(&v, at);
        }
        let Value::Object(o) = &v else {
            self.info.skipped.add(0, || format!("{at}: expected a JSON object, got {}", kind(&v)));
            return Ok(());
        };
        if format == ImportFormat::Openai && o.contains_key("choices") {
            return self.bare(&v, at);
        }
        let Some(response) = o.get("response") else {
            let want = if format == ImportFormat::Vllm { "\"custom_id\" and \"response\"" } else { "\"response\"" };
            self.info.skipped.add(0, || format!("{at}: no {want}: not a {} record", format.name()));
            return Ok(());
        };
        let key = match self.key(o) {
            Ok(k) => k,
            Err(why) => {
                self.info.skipped.add(0, || format!("{at}: {why}"));
                return Ok(());
            }
        };
        // vLLM: a failed request has "error", or a response without status 200.
        if let Some(msg) = error_of(o.get("error"), response) {
            let id = key_name(o);
            self.info.errors.add(0, || format!("{at} ({id}): {}", shown_text(&msg)));
            return Ok(());
        }
        let payload = response.get("body").filter(|_| response.get("status_code").is_some()).unwrap_or(response);
        let raws = match samples_of(payload, format) {
            Ok(r) => r,
            Err(why) => {
                self.info.skipped.add(0, || format!("{at}: {why}"));
                return Ok(());
            }
        };
        if let Some(t) = payload.pointer("/usage/completion_tokens").and_then(Value::as_u64) {
            self.tokens += t;
        }
        match key {
            Key::Task(t, slot) => self.add(t, slot, raws, at),
            Key::Unknown(what) => {
                self.info.unknown.add(raws.len() as u64, || format!("{at}: {what}"));
                Ok(())
            }
        }
    }

    /// A response that names no task: by position (see the module docs).
    fn bare(&mut self, v: &Value, at: &str) -> Result<()> {
        if let Some(msg) = error_of(None, v) {
            self.info.errors.add(0, || format!("{at}: {}", shown_text(&msg)));
            return Ok(());
        }
        let raws = match samples_of(v, self.format.unwrap_or(ImportFormat::Openai)) {
            Ok(r) => r,
            Err(why) => {
                self.info.skipped.add(0, || format!("{at}: {why}"));
                return Ok(());
            }
        };
        if let Some(t) = v.pointer("/usage/completion_tokens").and_then(Value::as_u64) {
            self.tokens += t;
        }
        let owned: Vec<Raw<'static>> = raws
            .into_iter()
            .map(|r| Raw { text: Cow::Owned(r.text.into_owned()), index: r.index, stop: r.stop, tokens: r.tokens })
            .collect();
        self.bare += 1;
        // The first waits: alone in the file it may cover every task.
        if self.bare == 1 {
            self.pending = Some((at.to_string(), owned));
            return Ok(());
        }
        if let Some((first_at, first)) = self.pending.take() {
            self.bare_task(0, first, &first_at)?;
        }
        self.bare_task(self.bare - 1, owned, at)
    }

    fn bare_task(&mut self, task: usize, raws: Vec<Raw<'_>>, at: &str) -> Result<()> {
        if task >= self.tasks.len() {
            let n = self.tasks.len();
            self.info.unknown.add(raws.len() as u64, || format!("{at}: response {} of a file for {n} tasks", task + 1));
            return Ok(());
        }
        match self.unnamed_config() {
            Ok(slot) => self.add(task, slot, raws, at),
            Err(why) => {
                self.info.skipped.add(raws.len() as u64, || format!("{at}: {why}"));
                Ok(())
            }
        }
    }

    /// The task and slot a keyed record feeds.
    fn key(&mut self, o: &Map<String, Value>) -> std::result::Result<Key, String> {
        let lane_hint = request_lane(o);
        if let Some(id) = o.get("custom_id") {
            let Some(id) = id.as_str() else { return Err(format!("\"custom_id\" must be a string, got {}", kind(id))) };
            return Ok(self.custom_id(id, lane_hint));
        }
        let task = if let Some(t) = o.get("task") {
            let Some(t) = t.as_u64() else { return Err(format!("\"task\" must be a task index, got {}", kind(t))) };
            if t as usize >= self.tasks.len() {
                return Ok(Key::Unknown(format!("task {t} (the task set has {})", self.tasks.len())));
            }
            t as usize
        } else if let Some(p) = o.get("prompt").or_else(|| o.get("text")) {
            let Some(p) = p.as_str() else { return Err(format!("\"prompt\" must be a string, got {}", kind(p))) };
            match self.by_prompt.get(p) {
                Some(&t) => t,
                None => return Ok(Key::Unknown(format!("prompt {}", shown(p)))),
            }
        } else {
            return Err("names no task: expected \"custom_id\", \"task\" or \"prompt\" beside \"response\"".into());
        };
        let config = o.get("config").and_then(Value::as_str).map(str::to_string).or(lane_hint);
        Ok(match config {
            Some(spec) => match self.config_by_spec(&spec) {
                Ok(c) => Key::Task(task, Slot::Config(c)),
                Err(why) => Key::Unknown(why),
            },
            None => match self.unnamed_config() {
                Ok(slot) => Key::Task(task, slot),
                Err(why) => return Err(why),
            },
        })
    }

    fn custom_id(&mut self, id: &str, lane_hint: Option<String>) -> Key {
        let Some((task, lane)) = parse_custom_id(id) else {
            return Key::Unknown(format!("custom_id {} (not t{{task}}-c{{config}} or t{{task}}-greedy)", shown(id)));
        };
        if task >= self.tasks.len() {
            return Key::Unknown(format!("custom_id {id}: task {task} (the task set has {})", self.tasks.len()));
        }
        match lane {
            LaneRef::Greedy => Key::Task(task, Slot::Greedy),
            LaneRef::Config(c) if c < self.configs.len() && self.configs_given => Key::Task(task, Slot::Config(c)),
            LaneRef::Config(c) if self.configs_given => Key::Unknown(format!(
                "custom_id {id}: configuration {c}, but {} were given (--lane)",
                self.configs.len()
            )),
            LaneRef::Config(c) if c >= MAX_CONFIGS => {
                Key::Unknown(format!("custom_id {id}: configuration {c}: at most {MAX_CONFIGS}"))
            }
            LaneRef::Config(c) => {
                while self.configs.len() <= c {
                    let i = self.configs.len();
                    self.configs.push(ConfigLabel { spec: format!("imported c{i}"), config: None });
                }
                // The request's own settings, when the record carries them, name it.
                if let (Some(spec), None) = (lane_hint, &self.configs[c].config) {
                    if let Ok(cfg) = SamplerConfig::parse(&spec) {
                        self.configs[c] = ConfigLabel { spec: cfg.to_spec(), config: Some(cfg) };
                    }
                }
                Key::Task(task, Slot::Config(c))
            }
        }
    }

    /// The configuration a lane spec names (its canonical spec).
    fn config_by_spec(&mut self, spec: &str) -> std::result::Result<usize, String> {
        let cfg = SamplerConfig::parse(spec).map_err(|e| format!("config {}: {e}", shown(spec)))?;
        let canon = cfg.to_spec();
        if let Some(i) = self.configs.iter().position(|c| c.spec == canon) {
            return Ok(i);
        }
        if self.configs_given {
            let given: Vec<&str> = self.configs.iter().map(|c| c.spec.as_str()).collect();
            return Err(format!("config {canon}, not one of the lanes given ({})", given.join("; ")));
        }
        if self.configs.len() >= MAX_CONFIGS {
            return Err(format!("config {canon}: at most {MAX_CONFIGS} configurations"));
        }
        self.configs.push(ConfigLabel { spec: canon, config: Some(cfg) });
        Ok(self.configs.len() - 1)
    }

    /// The slot of samples that name no configuration: the one lane given, or "imported".
    fn unnamed_config(&mut self) -> std::result::Result<Slot, String> {
        if self.configs_given {
            return match self.configs.len() {
                1 => Ok(Slot::Config(0)),
                n => Err(format!(
                    "the samples name no configuration and {n} were given (--lane): add \"custom_id\" or \"config\" \
                     to the records, or give only the lane they were drawn with"
                )),
            };
        }
        if let Some(i) = self.configs.iter().position(|c| c.spec == "imported") {
            return Ok(Slot::Config(i));
        }
        if self.configs.len() >= MAX_CONFIGS {
            return Err(format!("at most {MAX_CONFIGS} configurations"));
        }
        self.configs.push(ConfigLabel { spec: "imported".into(), config: None });
        Ok(Slot::Config(self.configs.len() - 1))
    }

    fn plain(&mut self, p: PlainLine<'_>, at: &str) -> Result<()> {
        let n = p.samples.len() as u64 + p.greedy.is_some() as u64;
        let task = if let Some(id) = &p.custom_id {
            match self.custom_id(&id.0, p.config.as_ref().map(|c| c.0.to_string())) {
                Key::Task(t, slot) => Some((t, slot)),
                Key::Unknown(what) => {
                    self.info.unknown.add(n, || format!("{at}: {what}"));
                    return Ok(());
                }
            }
        } else {
            None
        };
        let (task, slot) = match task {
            Some(ts) => ts,
            None => {
                let t = match self.plain_task(&p, at) {
                    Ok(Some(t)) => t,
                    Ok(None) => return Ok(()),
                    Err(why) => {
                        self.info.skipped.add(n, || format!("{at}: {why}"));
                        return Ok(());
                    }
                };
                let slot = match &p.config {
                    Some(spec) => self.config_by_spec(&spec.0).map(Slot::Config),
                    None => self.unnamed_config(),
                };
                match slot {
                    Ok(s) => (t, s),
                    Err(why) => {
                        self.info.unknown.add(n, || format!("{at}: {why}"));
                        return Ok(());
                    }
                }
            }
        };
        if let Some(g) = p.greedy {
            let raw = Raw { text: g.0, index: 0, stop: String::new(), tokens: 0 };
            self.add(task, Slot::Greedy, vec![raw], at)?;
        }
        if slot == Slot::Greedy {
            // A greedy custom id: its samples are the greedy one.
            let raws =
                p.samples.into_iter().take(1).map(|t| Raw { text: t.0, index: 0, stop: String::new(), tokens: 0 });
            return self.add(task, Slot::Greedy, raws.collect(), at);
        }
        let raws = p
            .samples
            .into_iter()
            .enumerate()
            .map(|(i, t)| Raw { text: t.0, index: i as u32, stop: String::new(), tokens: 0 })
            .collect();
        self.add(task, slot, raws, at)
    }

    /// The task a plain line names: its index, or its prompt (a new task when the file
    /// defines them). Ok(None): already reported as unknown.
    fn plain_task(&mut self, p: &PlainLine<'_>, at: &str) -> std::result::Result<Option<usize>, String> {
        let n = p.samples.len() as u64;
        if let Some(t) = p.task {
            if (t as usize) < self.tasks.len() {
                return Ok(Some(t as usize));
            }
            let len = self.tasks.len();
            self.info.unknown.add(n, || format!("{at}: task {t} (the task set has {len})"));
            return Ok(None);
        }
        let Some(prompt) = &p.prompt else {
            return Err("names no task: expected \"task\", \"prompt\" or \"custom_id\"".into());
        };
        let answer = match &p.answer {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(x)) => Some(x.to_string()),
            Some(other) => return Err(format!("\"answer\" must be a number or a string, got {}", kind(other))),
        };
        if let Some(&t) = self.by_prompt.get(prompt.0.as_ref()) {
            if let Some(a) = answer.filter(|a| a.trim() != self.opts.tasks[t].answer.trim()) {
                let want = self.opts.tasks[t].answer.clone();
                self.info.notes.push(format!(
                    "{at}: answer {} differs from task {t}'s {}; the task's is used",
                    shown(&a),
                    shown(&want)
                ));
            }
            return Ok(Some(t));
        }
        if !self.file_tasks {
            self.info.unknown.add(n, || format!("{at}: prompt {}", shown(prompt.0.as_ref())));
            return Ok(None);
        }
        let Some(answer) = answer else {
            return Err("a new prompt without \"answer\" (give the task set with --tasks, or an answer)".into());
        };
        if self.tasks.len() >= MAX_FILE_TASKS {
            return Err(format!("more than {MAX_FILE_TASKS} tasks"));
        }
        self.opts.verifier.check_answer(&answer)?;
        // Through serde, not a literal: a task's other fields take their defaults.
        let task: Task = serde_json::from_value(serde_json::json!({"prompt": prompt.0, "answer": answer}))
            .map_err(|e| format!("task: {e}"))?;
        self.by_prompt.insert(task.prompt.clone(), self.tasks.len());
        self.opts.tasks.push(task);
        self.tasks.push(TaskState::default());
        Ok(Some(self.tasks.len() - 1))
    }

    /// Verifies `raws` and keeps their votes (and the first few texts).
    fn add(&mut self, task: usize, slot: Slot, raws: Vec<Raw<'_>>, at: &str) -> Result<()> {
        let t0 = Instant::now();
        let n = raws.len();
        if n == 0 {
            self.info.skipped.add(0, || format!("{at}: no samples"));
            return Ok(());
        }
        self.info.samples += n as u64;
        if self.info.samples > MAX_IMPORT_SAMPLES {
            return Err(Error::Param(format!("{at}: more than {MAX_IMPORT_SAMPLES} samples in one import")));
        }
        self.used += 1;
        let keep = self.opts.keep_texts;
        let verifier = &self.opts.verifier;
        let task_def = &self.opts.tasks[task];
        let state = &mut self.tasks[task];
        // The code verifier runs a record's distinct outputs as one batch (in parallel);
        // every verdict below is then looked up.
        let code: HashMap<String, Verdict> = match (verifier, &self.opts.code_runner) {
            (Verifier::Code, Some(r)) => {
                let mut texts: Vec<&str> = raws.iter().map(|r| r.text.as_ref()).collect();
                texts.sort_unstable();
                texts.dedup();
                let verdicts = code::verify_now(&*r.0, task_def, &texts)?;
                texts.into_iter().map(String::from).zip(verdicts).collect()
            }
            _ => HashMap::new(),
        };
        let check = |text: &str| code.get(text).cloned().unwrap_or_else(|| verify_sample(verifier, task_def, text));
        let mut memo: HashMap<&str, VoteCode> = HashMap::new();
        let mut verified = 0u64;
        let mut verdict = |text: &str| -> Verdict {
            verified += 1;
            check(text)
        };
        match slot {
            Slot::Greedy => {
                if let Some(r) = raws.into_iter().next() {
                    let v = verdict(&r.text);
                    state.greedy = Some(sample(r, v));
                }
            }
            Slot::Config(c) => {
                if state.configs.len() <= c {
                    state.configs.resize_with(c + 1, ConfigState::default);
                }
                let cs = &mut state.configs[c];
                if cs.codes.len() + n > MAX_SAMPLES_PER_TASK {
                    return Err(Error::Param(format!(
                        "{at}: task {task}, configuration {}: more than {MAX_SAMPLES_PER_TASK} samples \
                         (at most that many per task and configuration)",
                        self.configs.get(c).map_or("?", |l| l.spec.as_str())
                    )));
                }
                cs.codes.reserve(n);
                for r in &raws {
                    // A repeated output costs one lookup: its vote code, no verdict copied.
                    let code = match memo.get(r.text.as_ref()) {
                        Some(&code) => code,
                        None => {
                            let v = verdict(&r.text);
                            let id = match v.extracted {
                                None => 0,
                                Some(a) => match cs.answers.get(a.as_str()) {
                                    Some(&i) => i,
                                    None => {
                                        let i = cs.answers.len() as u32 + 1;
                                        cs.answers.insert(a, i);
                                        i
                                    }
                                },
                            };
                            let code = (id << 1) | v.pass as u32;
                            memo.insert(r.text.as_ref(), code);
                            code
                        }
                    };
                    cs.codes.push(code);
                    cs.correct += code & 1;
                }
                drop(memo);
                for r in raws.into_iter().take(keep.saturating_sub(cs.samples.len())) {
                    let v = check(&r.text);
                    cs.samples.push(sample(r, v));
                }
            }
        }
        self.info.verified += verified;
        self.info.times.verify_ms += ms(t0);
        Ok(())
    }

    /// Summarizes what was read into the report.
    pub fn finish(mut self) -> Result<Imported> {
        if let Some((at, raws)) = self.pending.take() {
            self.single_bare(raws, &at)?;
        }
        let t0 = Instant::now();
        if self.used == 0 {
            let mut why = String::new();
            for (what, p) in
                [("skipped", &self.info.skipped), ("unknown", &self.info.unknown), ("errors", &self.info.errors)]
            {
                if let Some(e) = p.examples.first() {
                    let _ = write!(why, "; {what}: {} records, first {e}", p.records);
                }
            }
            return Err(Error::Param(format!("no usable samples in {} records{why}", self.info.records)));
        }
        // Configurations without a single sample would leave every task incomplete.
        let used: Vec<bool> = (0..self.configs.len())
            .map(|c| self.tasks.iter().any(|t| t.configs.get(c).is_some_and(|cs| !cs.codes.is_empty())))
            .collect();
        for (c, _) in used.iter().enumerate().filter(|u| !*u.1) {
            self.info.notes.push(format!(
                "configuration {c} ({}) has no samples in the file and is left out",
                self.configs[c].spec
            ));
        }
        let has_greedy = self.tasks.iter().any(|t| t.greedy.is_some());
        let keep: Vec<usize> = (0..self.configs.len()).filter(|&c| used[c]).collect();
        let mut results = Vec::with_capacity(self.tasks.len());
        let mut missing = Vec::new();
        for (i, (state, task)) in self.tasks.into_iter().zip(&self.opts.tasks).enumerate() {
            let mut configs: Vec<Option<ConfigState>> = state.configs.into_iter().map(Some).collect();
            let tcs: Vec<TaskConfig> = keep
                .iter()
                .map(|&c| {
                    let cs = configs.get_mut(c).and_then(Option::take).unwrap_or_default();
                    let mut answers = vec![String::new(); cs.answers.len()];
                    for (a, id) in cs.answers {
                        answers[id as usize - 1] = a;
                    }
                    TaskConfig { samples: cs.samples, correct: cs.correct, votes: Votes { answers, codes: cs.codes } }
                })
                .collect();
            let complete = tcs.iter().all(|tc| tc.count() > 0) && (state.greedy.is_some() || !has_greedy);
            if !complete {
                missing.push(i);
            }
            results.push(TaskResult {
                index: i,
                prompt: task.prompt.clone(),
                answer: task.answer.clone(),
                greedy: state.greedy,
                configs: tcs,
                complete,
            });
        }
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(LISTED).map(usize::to_string).collect();
            self.info.notes.push(format!(
                "{} of {} tasks lack samples for some configuration{} and are left out of the summaries: {}{}",
                missing.len(),
                results.len(),
                if has_greedy { " or the greedy sample" } else { "" },
                shown.join(", "),
                if missing.len() > LISTED { ", …" } else { "" }
            ));
        }
        let labels: Vec<(String, Option<SamplerConfig>)> =
            keep.iter().map(|&c| (self.configs[c].spec.clone(), self.configs[c].config.clone())).collect();
        let counts: Vec<usize> =
            results.iter().filter(|t| t.complete).flat_map(|t| t.configs.iter().map(TaskConfig::count)).collect();
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        if lo != hi {
            self.info.notes.push(format!(
                "tasks have {lo} to {hi} samples per configuration: pass@k uses each task's own n, and the curves \
                 go to k = {lo}"
            ));
        }
        if !self.configs_given && labels.iter().any(|l| l.1.is_none()) {
            self.info.notes.push(
                "the file does not say how some configurations were sampled (\"imported\"): give the export's \
                 --lane flags to name them"
                    .into(),
            );
        }
        let summaries = summarize_labeled(&results, &labels, self.opts.vote_subsets, self.opts.seed);
        let sweep = if self.configs_given && keep.len() == self.configs.len() {
            sweep_series(&self.opts.lanes, &self.opts.sweep, &summaries)
        } else {
            Vec::new()
        };
        let greedy: Vec<bool> =
            results.iter().filter(|t| t.complete).filter_map(|t| t.greedy.as_ref().map(|g| g.pass)).collect();
        self.info.times.summarize_ms = ms(t0);
        let t = &self.info.times;
        let report = EvalReport {
            verifier: self.opts.verifier.to_spec(),
            samples: lo as u32,
            max_tokens: self.opts.max_tokens,
            seed: self.opts.seed,
            cancelled: false,
            elapsed_ms: t.parse_ms + t.verify_ms + t.summarize_ms,
            tokens: self.tokens,
            greedy_accuracy: (!greedy.is_empty())
                .then(|| greedy.iter().filter(|&&p| p).count() as f64 / greedy.len() as f64),
            greedy_tasks: greedy.len(),
            configs: summaries,
            sweep,
            tasks: results,
        };
        Ok(Imported { report, import: self.info })
    }

    /// The only bare response of the file: it covers every task in order (n each), or is
    /// task 0's when there is one task.
    fn single_bare(&mut self, raws: Vec<Raw<'static>>, at: &str) -> Result<()> {
        let tasks = self.tasks.len();
        if tasks <= 1 || raws.len() < tasks {
            return self.bare_task(0, raws, at);
        }
        if !raws.len().is_multiple_of(tasks) {
            let len = raws.len();
            self.info.skipped.add(len as u64, || {
                format!(
                    "{at}: a response with {len} samples and no task names, for {tasks} tasks: not n for each \
                     (name the task with \"custom_id\", \"task\" or \"prompt\")"
                )
            });
            return Ok(());
        }
        let n = raws.len() / tasks;
        let mut by_task: Vec<Vec<Raw<'static>>> = (0..tasks).map(|_| Vec::with_capacity(n)).collect();
        for r in raws {
            let t = r.index as usize / n;
            if let Some(v) = by_task.get_mut(t) {
                v.push(Raw { index: r.index % n as u32, ..r });
            }
        }
        for (t, rs) in by_task.into_iter().enumerate() {
            if !rs.is_empty() {
                self.bare_task(t, rs, at)?;
            }
        }
        Ok(())
    }
}

enum Key {
    Task(usize, Slot),
    Unknown(String),
}

fn sample(r: Raw<'_>, v: Verdict) -> Sample {
    Sample {
        sample_index: r.index,
        output: r.text.into_owned(),
        extracted: v.extracted,
        pass: v.pass,
        tokens: r.tokens,
        stop: r.stop,
    }
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}
