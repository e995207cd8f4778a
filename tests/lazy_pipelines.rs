//! A load makes only the pipelines of its first token (a prompt, then greedy B = 1); every
//! other one is made by the step that first records it. These tests check that the steps
//! that make them (B > 1, each sampler stage, the inspector's masks) give exactly what a
//! model with every pipeline made at load gives. On a tiny synthetic model (lavapipe).

use samplescope::gguf::Gguf;
use samplescope::model::{Model, Picks, Rows};
use samplescope::sampling::{LaneParams, SamplerConfig};
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Gpu, GpuOptions, LoadOptions};

const PROMPT: [u32; 6] = [7, 100, 42, 42, 250, 3];

fn load(eager: bool) -> Model {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 128, ..SynthSpec::default() }).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    let opts = LoadOptions { n_ctx: 64, max_rows: 32, ..LoadOptions::default() };
    let model = pollster::block_on(Model::load(gpu, &g, &opts)).unwrap();
    if eager {
        model.kern.make_all_pipelines();
    }
    model
}

/// `tokens` steps of `lanes` after the prompt: every step's picks and records.
fn run(m: &mut Model, lanes: &[LaneParams], tokens: u32) -> Vec<Picks> {
    m.set_lanes(lanes, &PROMPT, 0).unwrap();
    pollster::block_on(m.start_lanes(&PROMPT, lanes.len() as u32, tokens)).unwrap();
    let mut out = vec![pollster::block_on(m.collect()).unwrap()];
    for step in 1..tokens {
        m.submit(Rows::Lanes { step, ids: None }).unwrap();
        out.push(pollster::block_on(m.collect()).unwrap());
    }
    out
}

fn unmade(m: &Model) -> usize {
    m.kern.pipelines().iter().filter(|p| p.made_ms.is_none()).count()
}

/// Greedy B = 1, then B = 4 lanes with every sampler stage (top-k, top-p, min-p, top-nσ,
/// the penalty, Gumbel picks), then the inspector: the same tokens, records and inspections
/// on a model that made its pipelines on first use as on one that made them all at load.
#[test]
fn pipelines_made_on_first_use_give_what_eager_ones_give() {
    let (mut lazy, mut eager) = (load(false), load(true));
    assert_eq!(unmade(&eager), 0);
    let at_load = unmade(&lazy);
    assert!(at_load > 0, "the load made every pipeline");

    let greedy = LaneParams::new(&SamplerConfig::greedy(), 0).unwrap();
    let a = run(&mut lazy, &[greedy], 4);
    assert_eq!(unmade(&lazy), at_load, "the first tokens made a pipeline the load should have");
    assert_eq!(
        a.iter().map(|p| &p.ids).collect::<Vec<_>>(),
        run(&mut eager, &[greedy], 4).iter().map(|p| &p.ids).collect::<Vec<_>>()
    );

    let cfgs = [
        SamplerConfig { top_k: 5, seed: 1, ..SamplerConfig::default() },
        SamplerConfig { top_p: 0.8, temperature: 0.7, seed: 2, ..SamplerConfig::default() },
        SamplerConfig { min_p: 0.1, top_n_sigma: Some(1.5), seed: 3, ..SamplerConfig::default() },
        SamplerConfig { repetition_penalty: 1.3, penalty_last_n: 8, ..SamplerConfig::greedy() },
    ];
    let lanes: Vec<LaneParams> = cfgs.iter().enumerate().map(|(i, c)| LaneParams::new(c, i as u32).unwrap()).collect();
    let (a, b) = (run(&mut lazy, &lanes, 5), run(&mut eager, &lanes, 5));
    for (step, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(a.ids, b.ids, "step {step}: tokens");
        assert_eq!(a.records, b.records, "step {step}: sampler records");
    }
    let inspect = |m: &Model| serde_json::to_string(&pollster::block_on(m.inspect_all(8)).unwrap()).unwrap();
    assert_eq!(inspect(&lazy), inspect(&eager), "inspections");
    assert_eq!(unmade(&lazy), 0, "the steps above use every pipeline: each was made on first use");
}
