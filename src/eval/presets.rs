//! The seeds' figures as named runs: each preset is one or more eval specs (or a survivor
//! curve) plus the figure that draws them, sized to finish in a few minutes on a CPU
//! adapter (`Size::Full`), or in well under a minute for tests (`Size::Small`, the same
//! code path with fewer tasks, samples, tokens and temperatures). `samplescope eval
//! --preset NAME` and the eval page's Figures section both read them from here.

use serde::Serialize;

use super::spec::{EvalSpec, TaskSource};
use super::survivors::SurvivorSpec;
use crate::error::{shown, Error, Result};

/// The presets' names, in the order the page shows them.
pub const NAMES: [&str; 4] = ["min-p", "top-n-sigma", "greedy-vs-sampling", "repeated-sampling"];

/// Pure sampling, top-p, min-p and top-nσ: the samplers the min-p and top-nσ papers compare.
const FOUR_SAMPLERS: [&str; 4] = ["temperature=1", "top_p=0.9", "min_p=0.1", "top_n_sigma=1"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A few minutes on a CPU adapter.
    Full,
    /// For tests: the same runs, small enough for a minute in headless Chromium.
    Small,
}

impl Size {
    pub fn parse(s: &str) -> Result<Size> {
        match s {
            "full" => Ok(Size::Full),
            "small" => Ok(Size::Small),
            _ => Err(Error::Param(format!("preset size {}: full or small", shown(s)))),
        }
    }
}

/// Which chart draws a preset's result (web/ui/figure-charts.js).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Figure {
    /// pass@1 against temperature, a line per sampler (the report's `sweep`).
    Sweep,
    /// Survivors against temperature, and the logit histogram with the max − nσ line.
    Survivors,
    /// Per task set: greedy, the mean sample (pass@1) and best-of-N (pass@N).
    GreedyVsSampling,
    /// Coverage (pass@k) against k on a log axis, with exp(a·k^b) extrapolated.
    Coverage,
}

/// One eval run of a preset, named for its part of the figure (a task set).
#[derive(Clone, Debug, Serialize)]
pub struct PresetPart {
    pub label: String,
    pub spec: EvalSpec,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preset {
    pub name: &'static str,
    pub title: &'static str,
    /// The paper whose figure this reproduces.
    pub after: &'static str,
    pub figure: Figure,
    pub size: Size,
    /// What the figure shows and how it was made (the page adds the model and the link).
    pub caption: String,
    /// The eval runs, in order (empty for a survivor curve).
    pub parts: Vec<PresetPart>,
    pub survivors: Option<SurvivorSpec>,
    /// Coverage: the largest k the fitted curve is drawn to.
    pub extrapolate_to: Option<u32>,
    /// The most tokens the preset can generate (every sample to its max tokens): the page's
    /// time estimate divides it by the model's measured rate.
    pub token_budget: u64,
}

fn arithmetic(level: u32, count: u32) -> TaskSource {
    TaskSource::Generated(format!("arithmetic:{level}:{count}"))
}

fn spec(tasks: TaskSource, lanes: &[&str], samples: u32, max_tokens: u32) -> EvalSpec {
    EvalSpec { lanes: lanes.iter().map(|s| s.to_string()).collect(), samples, max_tokens, ..EvalSpec::new(tasks) }
}

/// The most tokens a spec's run generates; checks the spec as a run would.
fn budget(spec: &EvalSpec) -> Result<u64> {
    let (plan, opts) = spec.plan()?;
    let configs = plan.configs.len() as u64 * plan.sweep.len().max(1) as u64;
    Ok(plan.tasks.len() as u64 * (opts.greedy as u64 + configs * opts.samples as u64) * opts.max_tokens as u64)
}

fn plural(n: u32, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// The preset `name` at `size`; an unknown name's error lists the known ones.
pub fn preset(name: &str, size: Size) -> Result<Preset> {
    let small = size == Size::Small;
    let pick = |full: u32, test: u32| if small { test } else { full };
    let mut p = match name {
        "min-p" => {
            let (count, n, max) = (pick(3, 2), pick(4, 2), pick(24, 12));
            let sweep = if small { vec![0.5, 3.0] } else { vec![0.5, 1.0, 1.5, 2.0, 3.0] };
            let s =
                EvalSpec { sweep: sweep.clone(), greedy: false, ..spec(arithmetic(1, count), &FOUR_SAMPLERS, n, max) };
            Preset {
                name: "min-p",
                title: "pass@1 against temperature",
                after:
                    "Nguyen et al., “Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs” (2024)",
                figure: Figure::Sweep,
                size,
                caption: format!(
                    "pass@1 against temperature ({}) for pure sampling, top-p 0.9, min-p 0.1 and top-nσ 1, the \
                     temperature applied first: {} (level 1 arithmetic), {} per sampler and temperature, at most \
                     {max} tokens each, seed 0.",
                    sweep.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
                    plural(count, "problem"),
                    plural(n, "sample"),
                ),
                parts: vec![PresetPart { label: "arithmetic level 1".into(), spec: s }],
                survivors: None,
                extrapolate_to: None,
                token_budget: 0,
            }
        }
        "top-n-sigma" => {
            let temperatures = if small { vec![0.5, 1.0, 2.0] } else { vec![0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0] };
            let s = SurvivorSpec {
                prompt: "Write a short story about a lighthouse keeper.".into(),
                chat: true,
                samplers: ["top_p=0.9", "min_p=0.1", "top_n_sigma=1"].map(String::from).to_vec(),
                temperatures,
            };
            let lanes = s.lanes()?.len() as u64;
            Preset {
                name: "top-n-sigma",
                title: "survivors against temperature",
                after: "Tang et al., “Top-nσ: Not All Logits Are You Need” (2024)",
                figure: Figure::Survivors,
                size,
                caption: format!(
                    "Tokens kept by top-p 0.9, min-p 0.1 and top-nσ 1 at the first step after “{}” (chat), \
                     the temperature applied first, at T = {}. Below: the step's logits at T = 1 and top-nσ's \
                     threshold max − σ. Dividing by T scales max − nσ with the logits, so top-nσ keeps the same \
                     tokens at every temperature.",
                    s.prompt,
                    s.temperatures.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
                ),
                parts: Vec::new(),
                survivors: Some(s),
                extrapolate_to: None,
                token_budget: lanes,
            }
        }
        "greedy-vs-sampling" => {
            let (count, n, max) = (pick(3, 1), pick(8, 2), pick(32, 12));
            let levels = if small { 1..=2 } else { 1..=4 };
            let parts = levels
                .map(|l| PresetPart {
                    label: format!("arithmetic level {l}"),
                    spec: spec(arithmetic(l, count), &["temperature=1"], n, max),
                })
                .collect::<Vec<_>>();
            Preset {
                name: "greedy-vs-sampling",
                title: "greedy against sampling",
                after: "Song et al., “The Good, the Bad, and the Greedy: Evaluation of LLMs Should Not Ignore Non-Determinism” (2024)",
                figure: Figure::GreedyVsSampling,
                size,
                caption: format!(
                    "Per task set ({} each): the greedy answer's accuracy, the mean sample's (pass@1) and \
                     best-of-{n} (pass@{n}: at least one of the {} right), sampling at temperature 1, at most \
                     {max} tokens, seed 0.",
                    plural(count, "problem"),
                    plural(n, "sample"),
                ),
                parts,
                survivors: None,
                extrapolate_to: None,
                token_budget: 0,
            }
        }
        "repeated-sampling" => {
            let (count, n, max) = (pick(4, 2), pick(32, 4), pick(32, 12));
            let to = pick(1024, 64);
            Preset {
                name: "repeated-sampling",
                title: "coverage against k",
                after:
                    "Brown et al., “Large Language Monkeys: Scaling Inference Compute with Repeated Sampling” (2024)",
                figure: Figure::Coverage,
                size,
                caption: format!(
                    "Coverage (pass@k, the chance that at least one of k samples is right) against k on a log \
                     axis: {} (level 2 arithmetic), {} each at temperature 1, at most {max} tokens, seed 0; \
                     dashed: the fitted exp(a·k^b), extrapolated to k = {to}.",
                    plural(count, "problem"),
                    plural(n, "sample"),
                ),
                parts: vec![PresetPart {
                    label: "arithmetic level 2".into(),
                    spec: spec(arithmetic(2, count), &["temperature=1"], n, max),
                }],
                survivors: None,
                extrapolate_to: Some(to),
                token_budget: 0,
            }
        }
        _ => {
            return Err(Error::Param(format!("preset {}: one of {}", shown(name), NAMES.join(", "))));
        }
    };
    for part in &p.parts {
        p.token_budget += budget(&part.spec)?;
    }
    Ok(p)
}

/// Every preset at `size`, in `NAMES` order.
pub fn presets(size: Size) -> Result<Vec<Preset>> {
    NAMES.iter().map(|n| preset(n, size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_plans_at_both_sizes_and_small_is_smaller() {
        for name in NAMES {
            let full = preset(name, Size::Full).unwrap();
            let small = preset(name, Size::Small).unwrap();
            assert_eq!((full.name, small.figure), (name, full.figure));
            assert!(small.token_budget < full.token_budget, "{name}: {} vs {}", small.token_budget, full.token_budget);
            assert_eq!(full.parts.is_empty(), full.survivors.is_some(), "{name}: eval parts or a survivor curve");
            // A few minutes at the page's ~20–40 tok/s on a CPU adapter (docs/BENCHMARKS.md).
            assert!(full.token_budget <= 6_000, "{name}: {} tokens", full.token_budget);
        }
    }

    #[test]
    fn the_min_p_preset_is_the_papers_sweep() {
        let p = preset("min-p", Size::Full).unwrap();
        let (plan, _) = p.parts[0].spec.plan().unwrap();
        assert_eq!(plan.sweep, [0.5, 1.0, 1.5, 2.0, 3.0]);
        let specs: Vec<String> = plan.configs.iter().map(|c| c.to_spec()).collect();
        assert_eq!(specs.len(), 4);
        assert!(
            plan.configs[1].top_p == 0.9 && plan.configs[2].min_p == 0.1 && plan.configs[3].top_n_sigma == Some(1.0)
        );
        // tasks × configs × temperatures × N × max tokens, no greedy sample.
        assert_eq!(p.token_budget, 3 * 4 * 5 * 4 * 24);
    }

    #[test]
    fn unknown_names_and_sizes_are_errors_that_list_the_choices() {
        let e = preset("min_p", Size::Full).unwrap_err().to_string();
        assert!(e.contains("min-p, top-n-sigma, greedy-vs-sampling, repeated-sampling"), "{e}");
        assert!(Size::parse("tiny").unwrap_err().to_string().contains("full or small"));
    }

    #[test]
    fn a_presets_spec_round_trips_through_the_pages_json() {
        for p in presets(Size::Small).unwrap() {
            for part in &p.parts {
                let json = serde_json::to_string(&part.spec).unwrap();
                let back = EvalSpec::from_json(&json).unwrap();
                assert_eq!(serde_json::to_string(&back).unwrap(), json);
            }
        }
    }
}
