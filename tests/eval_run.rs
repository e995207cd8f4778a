//! The eval runner end to end on a tiny synthetic model (lavapipe): 3 tasks × 8 samples
//! give identical numbers twice for a seed and whatever the batch size, the greedy sample
//! is what greedy generation gives, and a cancel keeps what finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use samplescope::engine::LaneSpec;
use samplescope::eval::{run_eval, EvalOptions, EvalPlan, EvalReport, Task, Verifier};
use samplescope::sampling::config::SamplerConfig;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, GenerateOptions, Gpu, GpuOptions, LoadOptions};

fn engine() -> Engine {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: 256, max_rows: 32, ..LoadOptions::default() }))
        .unwrap()
}

/// The synthetic model writes random text, so a numeric verifier would fail everything;
/// "contains a common letter" passes some samples and not others, which exercises the
/// counts, the curves and the vote.
fn plan() -> EvalPlan {
    let tasks = ["e", "a", "o"]
        .iter()
        .map(|a| Task { prompt: format!("say {a}"), answer: a.to_string(), ..Task::default() })
        .collect();
    let configs = ["temperature=1.0", "top_p=0.9,temperature=1.5", "min_p=0.1,temperature=1.5"];
    EvalPlan {
        tasks,
        configs: configs.iter().map(|s| SamplerConfig::parse(s).unwrap()).collect(),
        sweep: Vec::new(),
        verifier: Verifier::parse("contains").unwrap(),
    }
}

fn opts(max_lanes: u32) -> EvalOptions {
    EvalOptions { samples: 8, max_tokens: 6, seed: 11, max_lanes, ..EvalOptions::default() }
}

/// The report without its timing, for comparisons.
fn numbers(r: &EvalReport) -> String {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_ms");
    v.to_string()
}

#[test]
fn runs_are_deterministic_per_seed_and_batching_does_not_matter() {
    let mut e = engine();
    let mut seen = Vec::new();
    let a = pollster::block_on(run_eval(&mut e, &plan(), &opts(0), |p| seen.push((p.done, p.total)))).unwrap();
    assert_eq!(seen.len(), 3 * (1 + 3 * 8), "one progress report per finished sample");
    assert_eq!(seen.last(), Some(&(75, 75)));
    assert!(!a.cancelled && a.tasks.len() == 3 && a.configs.len() == 3);
    for c in &a.configs {
        assert_eq!((c.tasks, c.pass_at_k.len(), c.majority_vote.len()), (3, 8, 8));
        assert!(c.pass_at_k.windows(2).all(|w| w[0] <= w[1] + 1e-12), "{}: {:?}", c.spec, c.pass_at_k);
    }
    let correct: u32 = a.tasks.iter().flat_map(|t| &t.configs).map(|tc| tc.correct).sum();
    assert!(correct > 0 && correct < 3 * 3 * 8, "the letter test should pass some samples: {correct}");
    eprintln!("{}", a.tables());
    eprintln!("{}", a.task_table());

    let b = pollster::block_on(run_eval(&mut e, &plan(), &opts(0), |_| {})).unwrap();
    assert_eq!(numbers(&a), numbers(&b), "same seed, same numbers");
    // Batches of 5 lanes instead of all 25 of a task at once: lanes are isolated, so the
    // same samples come out.
    let c = pollster::block_on(run_eval(&mut e, &plan(), &opts(5), |_| {})).unwrap();
    assert_eq!(numbers(&a), numbers(&c), "the batch size changes nothing");
    let d = pollster::block_on(run_eval(&mut e, &plan(), &EvalOptions { seed: 12, ..opts(0) }, |_| {})).unwrap();
    assert_ne!(numbers(&a), numbers(&d), "another seed, other samples");

    // The greedy lane is a lone greedy generation of the chat prompt.
    for t in &a.tasks {
        let ids = e.encode_prompt(&t.prompt, true).unwrap();
        let greedy = LaneSpec { sampler: SamplerConfig::greedy(), sample_index: 0 };
        let opts = GenerateOptions { max_tokens: 6, ..Default::default() };
        let g = pollster::block_on(e.generate(&ids, &[greedy], &opts, |_| {})).unwrap().remove(0);
        assert_eq!(t.greedy.as_ref().unwrap().output, g.text);
    }
    // CSV: a header and one row per config and k; one per task and config.
    assert_eq!(a.curves_csv().lines().count(), 1 + 3 * 8);
    assert_eq!(a.tasks_csv().lines().count(), 1 + 3 * 3);
}

#[test]
fn a_sweep_runs_every_config_at_every_temperature() {
    let mut e = engine();
    let mut p = plan();
    p.configs.truncate(2);
    p.tasks.truncate(1);
    let o = EvalOptions { samples: 4, greedy: false, ..opts(0) };
    p.sweep = vec![0.5, 2.0];
    let r = pollster::block_on(run_eval(&mut e, &p, &o, |_| {})).unwrap();
    assert_eq!(r.configs.len(), 4);
    assert_eq!(r.configs[1].config.temperature, 2.0);
    assert_eq!(r.sweep.len(), 2);
    assert_eq!(r.sweep[1].spec, "top_p=0.9");
    assert_eq!(r.sweep[1].pass_at_1[0], r.configs[2].mean_accuracy);
    assert_eq!(r.greedy_accuracy, None);
    assert_eq!(r.sweep_csv().lines().count(), 1 + 4);
}

#[test]
fn cancel_keeps_finished_tasks() {
    let mut e = engine();
    let flag = Arc::new(AtomicBool::new(false));
    // Batches of 9 lanes: the task's first batch finishes, then the flag goes up.
    let o = EvalOptions { cancel: Some(flag.clone()), ..opts(9) };
    let per_task = 1 + 3 * 8;
    let r = pollster::block_on(run_eval(&mut e, &plan(), &o, |p| {
        if p.done == per_task + 2 {
            flag.store(true, Ordering::Relaxed);
        }
    }))
    .unwrap();
    assert!(r.cancelled);
    assert_eq!(r.tasks.len(), 2, "the task in flight is kept, the next is never started");
    assert_eq!(r.tasks[0].configs.iter().map(|tc| tc.samples.len()).sum::<usize>(), 24);
    let partial: usize = r.tasks[1].configs.iter().map(|tc| tc.samples.len()).sum();
    assert!(partial < 24, "the second task stopped early: {partial}");
    assert!(r.tasks[0].complete && !r.tasks[1].complete);
    for c in &r.configs {
        assert_eq!(c.tasks, 1, "only the finished task counts, for every config");
    }
    assert_eq!(r.greedy_tasks, 1);
    let full = pollster::block_on(run_eval(&mut e, &plan(), &opts(9), |_| {})).unwrap();
    let first = |r: &EvalReport| serde_json::to_string(&r.tasks[0]).unwrap();
    assert_eq!(first(&r), first(&full), "what finished is what an uncancelled run gives");
}
