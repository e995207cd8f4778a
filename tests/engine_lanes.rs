//! Engine::generate on a tiny synthetic model: lanes are isolated (each lane of a
//! B-lane run equals the same config run alone), runs are deterministic per seed, and
//! lanes finish independently; an inspection recomputed for any step equals the recorded one.

use samplescope::engine::{lane_specs, LaneSpec};
use samplescope::sampling::config::SamplerConfig;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, GenerateOptions, Gpu, GpuOptions, LoadOptions};

fn engine() -> Engine {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: 128, max_rows: 32, ..LoadOptions::default() }))
        .unwrap()
}

fn cfg(spec: &str) -> SamplerConfig {
    SamplerConfig::parse(spec).unwrap()
}

fn run(e: &mut Engine, prompt: &[u32], lanes: &[LaneSpec], max_tokens: u32) -> Vec<Vec<u32>> {
    let opts = GenerateOptions { max_tokens, ..GenerateOptions::default() };
    let gens = pollster::block_on(e.generate(prompt, lanes, &opts, |_| {})).unwrap();
    gens.into_iter().map(|g| g.ids).collect()
}

const MIXED: [&str; 6] = [
    "greedy",
    "top_p=0.9,temperature=1.5,seed=3",
    "min_p=0.1,temperature=1.5,seed=3",
    "top_k=5,seed=4",
    "top_n_sigma=1.0,temperature=2.0,seed=5",
    "temperature=1.0,repetition_penalty=1.3,seed=6",
];

#[test]
fn each_lane_equals_its_config_run_alone() {
    let mut e = engine();
    let prompt = e.encode_prompt("hello there", false).unwrap();
    for b in [1usize, 3, 16] {
        let samplers: Vec<SamplerConfig> = (0..b).map(|i| cfg(MIXED[i % MIXED.len()])).collect();
        // Sample indices differ per lane (same_dice off) so that equal configs diverge.
        let lanes = lane_specs(&samplers, false);
        let together = run(&mut e, &prompt, &lanes, 12);
        for (i, lane) in lanes.iter().enumerate() {
            let alone = run(&mut e, &prompt, std::slice::from_ref(lane), 12);
            assert_eq!(together[i], alone[0], "B={b} lane {i} ({}) differs from its run alone", MIXED[i % MIXED.len()]);
        }
        if b == 16 {
            let lens: Vec<usize> = together.iter().map(Vec::len).collect();
            eprintln!("lane lengths at B=16: {lens:?}");
        }
    }
}

#[test]
fn seeds_are_deterministic_and_matter() {
    let mut e = engine();
    let prompt = e.encode_prompt("once", false).unwrap();
    let lanes = |seed: u64| lane_specs(&[cfg(&format!("temperature=1.5,min_p=0.05,seed={seed}"))], true);
    let a = run(&mut e, &prompt, &lanes(7), 24);
    assert_eq!(a, run(&mut e, &prompt, &lanes(7), 24), "same seed, same tokens");
    assert_ne!(a, run(&mut e, &prompt, &lanes(8), 24), "another seed, other tokens");
}

#[test]
fn lanes_stop_independently_and_report_it() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let lanes = lane_specs(&[cfg("greedy"), cfg("temperature=2.0,seed=1")], true);
    let opts = GenerateOptions { max_tokens: 30, stop_strings: vec!["e".into()], ..GenerateOptions::default() };
    let mut events = [0u32; 2];
    let mut stops = [None; 2];
    let gens = pollster::block_on(e.generate(&prompt, &lanes, &opts, |ev| {
        assert!(stops[ev.lane as usize].is_none(), "event after the lane stopped");
        events[ev.lane as usize] += 1;
        stops[ev.lane as usize] = ev.stop;
    }))
    .unwrap();
    for (i, g) in gens.iter().enumerate() {
        assert_eq!(events[i] as usize, g.ids.len());
        assert_eq!(stops[i], Some(g.stop));
        assert!(!g.text.contains('e'), "lane {i} text {:?} kept the stop string", g.text);
        assert!(g.stop != "max_tokens" || g.ids.len() == 30);
    }
}

#[test]
fn cancel_stops_every_lane() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let cancel = samplescope::engine::CancelFlag::default();
    let opts = GenerateOptions {
        max_tokens: 50,
        stop_at_eog: false,
        cancel: Some(cancel.clone()),
        ..GenerateOptions::default()
    };
    let lanes = lane_specs(&[cfg("greedy"), cfg("temperature=1.0,seed=2")], true);
    let gens = pollster::block_on(e.generate(&prompt, &lanes, &opts, |ev| {
        if ev.index == 4 {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }))
    .unwrap();
    for g in gens {
        assert_eq!(g.stop, "cancelled");
        assert!(g.ids.len() <= 7, "{} tokens after cancel at 5", g.ids.len());
    }
}

#[test]
fn every_token_of_every_lane_carries_its_own_inspection() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let lanes = lane_specs(&[cfg("greedy"), cfg("min_p=0.1,temperature=1.5,seed=3"), cfg("top_k=3,seed=4")], false);
    let opts = GenerateOptions { max_tokens: 5, stop_at_eog: false, inspect_top: 8, ..GenerateOptions::default() };
    let mut seen = 0;
    pollster::block_on(e.generate(&prompt, &lanes, &opts, |ev| {
        let ins = ev.inspection.as_ref().expect("an inspection per token");
        assert_eq!(ins.lane, ev.lane);
        assert_eq!(ins.record.token, ev.id, "lane {} token {}", ev.lane, ev.index);
        assert!(ins.candidates.iter().any(|c| c.id == ev.id && c.kept) || ins.candidates.len() == 8);
        seen += 1;
    }))
    .unwrap();
    assert_eq!(seen, 15);
}

/// `inspect_step` (one prefill of prompt + the lane's tokens so far, one sampler step at
/// that step's dice) gives the inspection a run records, for every step of every lane:
/// the same pick, survivors, candidates (ids, texts, kept) and thresholds; logits and
/// probabilities within 1e-4 (a prefill row and a lane row sum in the same order per row,
/// but the recorded path reads the KV the lane wrote one step at a time).
#[test]
fn recomputed_inspection_equals_the_recorded_one() {
    let mut e = engine();
    let prompt = e.encode_prompt("abc", false).unwrap();
    let samplers = [cfg("greedy"), cfg("min_p=0.1,temperature=1.5,seed=3"), cfg("top_p=0.8,top_k=9,seed=4")];
    let lanes = lane_specs(&samplers, false);
    let opts = GenerateOptions { max_tokens: 5, stop_at_eog: false, inspect_top: 8, ..GenerateOptions::default() };
    let mut recorded = Vec::new();
    let gens =
        pollster::block_on(e.generate(&prompt, &lanes, &opts, |ev| recorded.push(ev.inspection.unwrap()))).unwrap();
    for want in &recorded {
        let (lane, step) = (want.lane as usize, want.record.step as usize);
        let prefix = &gens[lane].ids[..step];
        let got = pollster::block_on(e.inspect_step(&prompt, &lanes[lane], prefix, 8)).unwrap();
        let what = format!("lane {lane} step {step}");
        assert_eq!(got.record.token, want.record.token, "{what}: pick");
        assert_eq!((got.record.step, got.survivors), (want.record.step, want.survivors), "{what}");
        let ids = |i: &samplescope::sampling::Inspection| {
            i.candidates.iter().map(|c| (c.id, c.text.clone(), c.kept)).collect::<Vec<_>>()
        };
        assert_eq!(ids(&got), ids(want), "{what}: candidates");
        assert!(want.candidates.iter().all(|c| !c.text.is_empty() || c.id < 3), "{what}: candidates carry their text");
        for (g, w) in got.candidates.iter().zip(&want.candidates) {
            assert!(
                (g.logit - w.logit).abs() < 1e-4 && (g.prob_after - w.prob_after).abs() < 1e-4,
                "{what}: {g:?} {w:?}"
            );
        }
        let keys = |i: &samplescope::sampling::Inspection| i.thresholds.iter().map(|t| t.key).collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(want), "{what}: thresholds");
        assert!(!want.thresholds.is_empty(), "{what}: every lane here truncates");
    }
    assert_eq!(recorded.len(), 15);
    // Out-of-range requests are errors, not panics.
    assert!(pollster::block_on(e.inspect_step(&prompt, &lanes[0], &[], 0)).is_err());
    assert!(pollster::block_on(e.inspect_step(&prompt, &lanes[0], &[100_000], 8)).is_err());
}
