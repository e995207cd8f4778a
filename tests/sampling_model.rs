//! The sampler chain on real logits: rows of the default model (SmolLM2-135M-Instruct Q4_1,
//! V = 49152) after the llama.cpp reference prompts and a few greedy steps, every config of
//! `configs()` on every row, both kernel variants, checked against the CPU reference chain
//! with the bounds of tests/sampling_common.

mod common;
mod sampling_common;

use samplescope::gguf::Gguf;
use samplescope::gpu::Variant;
use samplescope::model::Model;
use samplescope::sampling::LaneParams;
use samplescope::LoadOptions;
use sampling_common::*;

/// (row, prompt ids + greedy continuation so far) pairs from the model.
fn model_rows(gpu: &samplescope::Gpu) -> (Vec<Vec<f32>>, Vec<Vec<u32>>) {
    let bytes = common::default_model_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    let opts = LoadOptions { n_ctx: 128, max_rows: 32, ..LoadOptions::default() };
    let mut model = pollster::block_on(Model::load(gpu.clone(), &g, &opts)).unwrap();
    let (mut rows, mut hists) = (Vec::new(), Vec::new());
    for p in common::reference()["prompts"].as_array().unwrap().iter().take(3) {
        let mut ids: Vec<u32> = p["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let mut next = common::step(&mut model, &ids, 0);
        for _ in 0..2 {
            rows.push(pollster::block_on(model.read_logits(1)).unwrap());
            hists.push(ids.clone());
            ids.push(next);
            next = common::step(&mut model, &[next], ids.len() as u32 - 1);
        }
    }
    (rows, hists)
}

#[test]
fn survivors_match_reference_on_model_logits() {
    let gpu = gpu();
    let t0 = std::time::Instant::now();
    let (rows, hists) = model_rows(&gpu);
    eprintln!("model rows: {:.1} s", t0.elapsed().as_secs_f64());
    let v = rows[0].len();
    let cfgs = configs();
    let n = rows.len() * cfgs.len();
    let mut flat = Vec::with_capacity(n * v);
    let (mut params, mut hist) = (Vec::new(), Vec::new());
    for l in 0..n {
        flat.extend_from_slice(&rows[l % rows.len()]);
        hist.push(hists[l % rows.len()].clone());
        params.push(LaneParams::new(&cfgs[l / rows.len()], l as u32).unwrap());
    }
    for variant in [Variant::Row, Variant::Cooperative] {
        let mut h = Harness::new(&gpu, variant, v, n);
        h.setup(&flat, &params, &hist, 5);
        let t1 = std::time::Instant::now();
        h.run(1);
        let recs = h.records();
        let masks = h.masks();
        eprintln!("{variant:?} chain: {:.1} s", t1.elapsed().as_secs_f64());
        let mut seen = Seen::default();
        for l in 0..n {
            let cfg = &cfgs[l / rows.len()];
            let what = format!("{variant:?} row {} ({})", l % rows.len(), cfg.to_spec());
            check_lane(&what, &flat[l * v..(l + 1) * v], &hist[l], cfg, l as u32, &recs[l], &masks[l], &mut seen);
        }
        eprintln!(
            "{variant:?}: {n} lanes of {v}: max σ-threshold error {:.1e}, max top-p mass error {:.1e}, {} near-tie picks",
            seen.sigma_err, seen.top_p_err, seen.close_picks
        );
    }
}
