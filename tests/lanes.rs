//! Lanes: B continuations of one prompt in one batched forward, sharing the prompt's KV.
//! On a tiny synthetic model (fast on lavapipe) with both KV precisions.

mod common;

use samplescope::gguf::Gguf;
use samplescope::model::{Model, Rows};
use samplescope::sampling::{LaneParams, SamplerConfig};
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Error, Gpu, GpuOptions, LoadOptions};

fn try_model(kv_f16: bool, kv_budget: u64) -> samplescope::Result<Model> {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 128, ..SynthSpec::default() }).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    let opts = LoadOptions { n_ctx: 64, max_rows: 32, kv_f16, kv_budget };
    pollster::block_on(Model::load(gpu, &g, &opts))
}

fn model(kv_f16: bool, kv_budget: u64) -> Model {
    try_model(kv_f16, kv_budget).unwrap()
}

const PROMPT: [u32; 6] = [7, 100, 42, 42, 250, 3];

/// Sets `b` greedy lanes (or one, for the shared sequence).
fn greedy(m: &mut Model, b: u32) {
    let lanes = vec![LaneParams::new(&SamplerConfig::greedy(), 0).unwrap(); b as usize];
    m.set_lanes(&lanes, &PROMPT, 0).unwrap();
}

/// Starts `b` lanes of `n` tokens; their first picks.
fn start(m: &mut Model, b: u32, n: u32) -> samplescope::Result<Vec<u32>> {
    greedy(m, b);
    pollster::block_on(m.start_lanes(&PROMPT, b, n))?;
    Ok(pollster::block_on(m.collect())?.ids)
}

/// Greedy lanes of a B-lane run produce exactly the tokens of the shared sequence (prompt,
/// then each pick fed back at the next position, no lanes) for B = 1, 3 and 16: the batched rows compute each row in the same
/// order, and the shared prefix holds the same keys and values.
#[test]
fn greedy_lanes_equal_a_single_sequence() {
    for kv_f16 in [false, true] {
        let mut m = model(kv_f16, 1 << 30);
        let n = 10u32;
        let mut solo = vec![common::step(&mut m, &PROMPT, 0)];
        for i in 0..n - 1 {
            solo.push(common::step(&mut m, &[solo[i as usize]], PROMPT.len() as u32 + i));
        }
        for b in [1u32, 3, 16] {
            let mut lanes: Vec<Vec<u32>> = start(&mut m, b, n).unwrap().into_iter().map(|t| vec![t]).collect();
            for step in 1..n {
                m.submit(Rows::Lanes { step, ids: None }).unwrap();
                for (lane, id) in lanes.iter_mut().zip(pollster::block_on(m.collect()).unwrap().ids) {
                    lane.push(id);
                }
            }
            for lane in &lanes {
                assert_eq!(lane, &solo, "kv_f16={kv_f16} B={b}: a lane differs from the single sequence");
            }
            greedy(&mut m, 1);
        }
    }
}

/// The lanes' first logits (prompt prefix shared, last prompt token in each lane's row)
/// equal the logits of a plain prefill of the whole prompt, within the kernel bound
/// (1e-3 relative to the largest logit, as in model_synthetic.rs).
#[test]
fn shared_prefix_gives_the_prefill_logits() {
    let mut m = model(false, 1 << 30);
    common::step(&mut m, &PROMPT, 0);
    let want = pollster::block_on(m.read_logits(1)).unwrap();
    let b = 4u32;
    start(&mut m, b, 8).unwrap();
    let got = pollster::block_on(m.read_logits(b)).unwrap();
    let top = want.iter().fold(0f32, |a, &x| a.max(x.abs()));
    for (lane, row) in got.chunks(want.len()).enumerate() {
        let worst = row.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-3 * (1.0 + top), "lane {lane}: max diff {worst}");
    }
}

/// Asking for more lanes than the KV budget holds is a clear error, and the model still
/// works afterwards.
#[test]
fn too_many_lanes_is_an_error_not_a_device_loss() {
    // A budget below the context itself fails at load, clearly.
    assert!(matches!(try_model(true, 1000), Err(Error::Param(_))));
    // The 64 shared slots plus room for exactly 3 lanes of 8 tokens (+1 slot each).
    let per_slot = model(true, 1 << 30).kv_bytes_per_slot();
    let mut m = model(true, per_slot * 64);
    let mut m2 = model(true, per_slot * (64 + 3 * 9));
    assert_eq!(m2.lane_capacity(8), 3);
    assert!(matches!(start(&mut m2, 4, 8), Err(Error::Param(_))));
    assert_eq!(start(&mut m2, 3, 8).unwrap().len(), 3);
    assert_eq!(m.lane_capacity(8), 0);
    assert!(start(&mut m, 1, 8).is_err());
    assert!(matches!(start(&mut m2, 3, 200), Err(Error::Param(_) | Error::Context(_))));
    greedy(&mut m2, 1);
    assert!(common::try_step(&mut m2, &PROMPT, 0).is_ok());
}
