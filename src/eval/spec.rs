//! An eval run as its front ends describe it. The CLI's flags and the page's form both
//! become an `EvalSpec`, and `EvalSpec::plan` turns it into the runner's plan and options,
//! so both build the same tasks and sampler configurations from the same inputs — the
//! precondition for the same numbers from the same seed.

use serde::{Deserialize, Serialize};

use super::run::{validate, EvalOptions, EvalPlan};
use super::tasks::{parse_jsonl, ArithmeticSpec, Task};
use super::verify::Verifier;
use crate::error::{shown, Error, Result};
use crate::sampling::config::SamplerConfig;

/// The configurations a run evaluates when it names none.
pub const DEFAULT_LANES: [&str; 2] = ["top_p=0.9", "min_p=0.1"];

/// Where a run's tasks come from.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum TaskSource {
    /// `arithmetic:LEVEL:COUNT`: the built-in generator, seeded by the run's seed.
    Generated(String),
    /// A JSONL task set's text; `source` (a file name) prefixes its error messages.
    Jsonl {
        text: String,
        #[serde(default)]
        source: Option<String>,
    },
}

/// Everything that decides an eval run's numbers. JSON field names are camelCase (the
/// page's); missing fields take the CLI's defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvalSpec {
    pub tasks: TaskSource,
    /// Lane specs (`top_p=0.9`, `min_p=0.1,temperature=1.5`, …); empty: `DEFAULT_LANES`.
    #[serde(default)]
    pub lanes: Vec<String>,
    /// The temperature of every lane that does not set its own.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// When not empty, every lane runs at each of these temperatures (see `EvalPlan`).
    #[serde(default)]
    pub sweep: Vec<f32>,
    #[serde(default)]
    pub seed: u64,
    /// Samples per task and lane (N); 0 runs greedy only.
    #[serde(default = "default_samples")]
    pub samples: u32,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// `numeric`, `exact`, `contains` or `regex:PATTERN`.
    #[serde(default = "default_verifier")]
    pub verifier: String,
    #[serde(default = "default_greedy")]
    pub greedy: bool,
    /// The most lanes in one batch (0: as many as fit).
    #[serde(default)]
    pub max_lanes: u32,
    /// Strings that end a sample (besides the model's end-of-generation tokens).
    #[serde(default)]
    pub stop: Vec<String>,
}

fn default_samples() -> u32 {
    EvalOptions::default().samples
}
fn default_max_tokens() -> u32 {
    EvalOptions::default().max_tokens
}
fn default_verifier() -> String {
    "numeric".into()
}
fn default_greedy() -> bool {
    true
}

impl EvalSpec {
    /// A spec with the defaults for everything but the tasks.
    pub fn new(tasks: TaskSource) -> EvalSpec {
        EvalSpec {
            tasks,
            lanes: Vec::new(),
            temperature: None,
            sweep: Vec::new(),
            seed: 0,
            samples: default_samples(),
            max_tokens: default_max_tokens(),
            verifier: default_verifier(),
            greedy: default_greedy(),
            max_lanes: 0,
            stop: Vec::new(),
        }
    }

    pub fn from_json(json: &str) -> Result<EvalSpec> {
        serde_json::from_str(json).map_err(|e| Error::Param(format!("eval request: {e}")))
    }

    pub fn load_tasks(&self) -> Result<Vec<Task>> {
        match &self.tasks {
            TaskSource::Generated(spec) => match ArithmeticSpec::parse(spec)? {
                Some(a) => a.generate(self.seed),
                None => Err(Error::Param(format!("task spec {}: expected arithmetic:LEVEL:COUNT", shown(spec)))),
            },
            TaskSource::Jsonl { text, source } => parse_jsonl(text).map_err(|e| match (source, e) {
                (Some(name), Error::Param(msg)) => Error::Param(format!("{name}: {msg}")),
                (_, e) => e,
            }),
        }
    }

    /// The runner's plan and options, checked as `run_eval` would check them (tasks,
    /// lanes, verifier, every task's answer against the verifier) before any GPU work.
    pub fn plan(&self) -> Result<(EvalPlan, EvalOptions)> {
        let tasks = self.load_tasks()?;
        let specs: Vec<String> = if self.lanes.is_empty() {
            DEFAULT_LANES.iter().map(|s| s.to_string()).collect()
        } else {
            self.lanes.clone()
        };
        let configs = if self.samples == 0 { Vec::new() } else { lane_configs(&specs, self.temperature)? };
        let plan = EvalPlan { tasks, configs, sweep: self.sweep.clone(), verifier: Verifier::parse(&self.verifier)? };
        let opts = EvalOptions {
            samples: self.samples,
            max_tokens: self.max_tokens,
            seed: self.seed,
            greedy: self.greedy,
            max_lanes: self.max_lanes,
            stop_strings: self.stop.clone(),
            ..EvalOptions::default()
        };
        validate(&plan, &opts)?;
        Ok((plan, opts))
    }
}

/// Each lane spec with the shared temperature filled in where it sets none. Seeds stay as
/// given (default 0): the run's seed keys every lane's dice, so lanes with the same own
/// seed share dice on a task and differ only in their sampler. Errors name the lane.
pub fn lane_configs(specs: &[String], temperature: Option<f32>) -> Result<Vec<SamplerConfig>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let lane = |e: Error| Error::Param(format!("lane {} ({}): {e}", i + 1, shown(s)));
            let (mut c, keys) = SamplerConfig::parse_keys(s).map_err(lane)?;
            let sets_temperature = keys.contains(&"temperature");
            if let (Some(t), false, false) = (temperature, c.is_greedy(), sets_temperature) {
                c.temperature = t;
            }
            c.validate().map_err(lane)?;
            Ok(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_temperature_fills_only_what_a_lane_leaves_open() {
        let c = lane_configs(&["greedy".into(), "top_p=0.9".into(), "min_p=0.1,temperature=0.7".into()], Some(1.5))
            .unwrap();
        assert!(c[0].is_greedy());
        assert_eq!(c[1].temperature, 1.5);
        assert_eq!(c[2].temperature, 0.7);
        // However it is spaced: `temperature = 0.5` was once replaced by the shared one.
        let c = lane_configs(&["temperature = 0.5, min_p=0.1".into(), " temperature=0.25".into()], Some(1.5)).unwrap();
        assert_eq!((c[0].temperature, c[1].temperature), (0.5, 0.25));
        let err = lane_configs(&["min_p=0.1".into(), "top_p=2".into()], None).unwrap_err().to_string();
        assert!(err.contains("lane 2") && err.contains("top_p"), "{err}");
    }

    #[test]
    fn json_fields_and_defaults() {
        let s = EvalSpec::from_json(
            r#"{"tasks": {"generated": "arithmetic:1:3"}, "samples": 4, "maxTokens": 8, "sweep": [0.5, 1]}"#,
        )
        .unwrap();
        assert_eq!((s.samples, s.max_tokens, s.seed, s.greedy), (4, 8, 0, true));
        let (plan, opts) = s.plan().unwrap();
        assert_eq!(plan.tasks.len(), 3);
        assert_eq!(plan.configs.iter().map(|c| c.to_spec()).collect::<Vec<_>>(), DEFAULT_LANES);
        assert_eq!((opts.samples, opts.max_tokens), (4, 8));
        let err =
            EvalSpec::from_json(r#"{"tasks": {"generated": "arithmetic:1:3"}, "sampels": 4}"#).unwrap_err().to_string();
        assert!(err.contains("sampels"), "{err}");
    }

    #[test]
    fn run_sizes_are_bounded_before_anything_is_allocated() {
        use crate::eval::run::{MAX_CONFIGS, MAX_SAMPLES, MAX_TOTAL_SAMPLES};
        let err = |json: &str| EvalSpec::from_json(json).and_then(|s| s.plan()).unwrap_err().to_string();
        // `samplescope eval --samples 4294967295` aborted on a 618 GB allocation.
        let e = err(r#"{"tasks": {"generated": "arithmetic:1:3"}, "samples": 4294967295}"#);
        assert!(e.contains(&format!("samples = 4294967295: at most {MAX_SAMPLES}")), "{e}");
        let mut s = EvalSpec::new(TaskSource::Generated("arithmetic:1:2".into()));
        s.sweep = (1..=40).map(|i| i as f32 / 10.0).collect();
        let e = s.plan().unwrap_err().to_string();
        assert!(
            e.contains(&format!("2 sampler configurations × 40 sweep temperatures = 80: at most {MAX_CONFIGS}")),
            "{e}"
        );
        let mut s = EvalSpec::new(TaskSource::Generated("arithmetic:1:10000".into()));
        s.samples = 1000;
        let e = s.plan().unwrap_err().to_string();
        assert!(
            e.contains(&format!("10000 tasks × 2001 samples each = 20010000 samples: at most {MAX_TOTAL_SAMPLES}")),
            "{e}"
        );
        // A huge sweep list is refused before the configurations are multiplied out.
        let e = err(&format!(
            r#"{{"tasks": {{"generated": "arithmetic:1:1"}}, "sweep": [{}]}}"#,
            vec!["1"; 200_000].join(",")
        ));
        assert!(e.contains("at most 64"), "{e}");
        // The limits themselves are allowed.
        s.samples = MAX_SAMPLES;
        s.tasks = TaskSource::Generated("arithmetic:1:100".into());
        s.plan().unwrap();
    }

    #[test]
    fn the_same_inputs_give_the_same_tasks_as_the_generator() {
        let mut s = EvalSpec::new(TaskSource::Generated("arithmetic:2:5".into()));
        s.seed = 9;
        assert_eq!(s.load_tasks().unwrap(), super::super::tasks::arithmetic(2, 5, 9).unwrap());
    }

    #[test]
    fn errors_name_the_source_and_the_problem() {
        let jsonl = |text: &str, source: Option<&str>| {
            EvalSpec::new(TaskSource::Jsonl { text: text.into(), source: source.map(String::from) })
                .plan()
                .unwrap_err()
                .to_string()
        };
        let e = jsonl("{\"prompt\": \"a\", \"answer\": 1}\n{\"prompt\": \"b\"}\n", Some("my.jsonl"));
        assert!(e.contains(": my.jsonl: task set: line 2: missing field \"answer\""), "{e}");
        // Parses as a task set but cannot pass the numeric verifier.
        let e = jsonl("{\"prompt\": \"a\", \"answer\": \"blue\"}\n", None);
        assert!(e.contains("task 0") && e.contains("not a single number"), "{e}");
        let e = EvalSpec::new(TaskSource::Generated("tasks.jsonl".into())).plan().unwrap_err().to_string();
        assert!(e.contains("arithmetic:LEVEL:COUNT"), "{e}");
        let mut s = EvalSpec::new(TaskSource::Generated("arithmetic:1:2".into()));
        s.verifier = "regex:(".into();
        assert!(s.plan().unwrap_err().to_string().contains("verifier regex"));
        s.verifier = "numeric".into();
        s.sweep = vec![-1.0];
        assert!(s.plan().unwrap_err().to_string().contains("temperature"));
    }
}
