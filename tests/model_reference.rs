//! The default model (SmolLM2-135M-Instruct Q4_1) against ../shared/reference: the float64
//! forward pass of the same weights is the exact ground truth for an f32 engine, and
//! llama.cpp's own CPU run is checked with the looser bound its 8-bit activation rounding
//! needs (see the reference README).

mod common;

use samplescope::gguf::Gguf;
use samplescope::model::Model;
use samplescope::tokenizer::Tokenizer;
use samplescope::{Gpu, GpuOptions, LoadOptions, Variant};
use serde_json::Value;

/// Our f32 logits against float64 top-20 lists (README: "an f32 engine without activation
/// quantization should match f64_reference to about 1e-2").
const F64_TOL: f32 = 1e-2;
/// Against llama.cpp's CPU logits (±1 of Q8 activation noise).
const LLAMACPP_TOL: f32 = 1.0;
/// Int8 activations against float64. Measured here: see `int8_activations_match_float64_within_bound`
/// and docs/DESIGN.md ("Int8 activations") for how the bound was set.
const INT8_TOL: f32 = 1.0;
/// Compare argmax with llama.cpp only where its top-2 gap exceeds this.
const LLAMACPP_GAP: f64 = 1.0;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Max |ours[id] − ref| over a top-20 list of [id, logit] pairs.
fn top_diff(ours: &[f32], top: &Value) -> f32 {
    top.as_array()
        .unwrap()
        .iter()
        .map(|p| (ours[p[0].as_u64().unwrap() as usize] - p[1].as_f64().unwrap() as f32).abs())
        .fold(0.0, f32::max)
}

/// The model with f32 activations (the exact path) on the adapter's kernels, or with int8
/// activations in its Q4 and Q8 matmuls on the kernel variant `int8` names.
fn load_with(kv_f16: bool, int8: Option<Variant>) -> (Model, Vec<u8>) {
    let bytes = common::default_model_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    let gpu =
        pollster::block_on(Gpu::new(GpuOptions { int8: Some(int8.is_some()), variant: int8, ..GpuOptions::default() }))
            .expect("GPU adapter");
    let opts = LoadOptions { n_ctx: 128, max_rows: 64, kv_f16, ..LoadOptions::default() };
    let model = pollster::block_on(Model::load(gpu, &g, &opts)).unwrap();
    (model, bytes)
}

fn load(kv_f16: bool) -> (Model, Vec<u8>) {
    load_with(kv_f16, None)
}

#[test]
fn prompts_tokenize_to_llamacpp_ids() {
    let bytes = common::default_model_bytes();
    let tok = Tokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
    for p in common::reference()["prompts"].as_array().unwrap() {
        assert_eq!(tok.encode(p["text"].as_str().unwrap()).unwrap(), ids(&p["token_ids"]), "{}", p["text"]);
    }
}

/// Greedy decoding on our own path: logits within 1e-2 of float64 at all 9 steps and the
/// 8 greedy tokens equal to float64's, for all 8 prompts (f32 KV cache: no f16 anywhere).
#[test]
fn greedy_matches_float64_reference() {
    greedy_vs_f64(false, F64_TOL);
}

/// The default f16 KV cache rounds keys and values once (2^-11 relative): "a few tenths
/// only where you knowingly use f16" — we allow 0.1 and still require float64's tokens.
#[test]
fn greedy_with_f16_kv_matches_float64_reference() {
    greedy_vs_f64(true, 0.1);
}

fn greedy_vs_f64(kv_f16: bool, tol: f32) {
    let (mut model, _bytes) = load(kv_f16);
    let mut worst = 0f32;
    for (pi, p) in common::reference()["prompts"].as_array().unwrap().iter().enumerate() {
        let prompt = ids(&p["token_ids"]);
        let f64r = &p["f64_reference"];
        let want_ids = ids(&f64r["ids"]);
        let steps = f64r["steps"].as_array().unwrap();
        let mut got_ids = vec![common::step(&mut model, &prompt, 0)];
        for (i, step) in steps.iter().enumerate() {
            let logits = pollster::block_on(model.read_logits(1)).unwrap();
            let d = top_diff(&logits, &step["top"]);
            worst = worst.max(d);
            assert!(d <= tol, "kv_f16={kv_f16} prompt {pi} step {i}: max |logit - f64| = {d} > {tol}");
            // steps[i + 1] comes after feeding ids[i] (our pick).
            if i + 1 < steps.len() {
                got_ids.push(common::step(&mut model, &[got_ids[i]], (prompt.len() + i) as u32));
            }
        }
        got_ids.truncate(want_ids.len());
        assert_eq!(got_ids, want_ids, "prompt {pi}: greedy tokens vs float64");
    }
    eprintln!("kv_f16={kv_f16}: max |logit - f64 reference| over 8 prompts x 9 steps: {worst:.2e}");
}

/// On llama.cpp's own greedy path (its ids fed back): logits within 1e-2 of float64's
/// `steps_on_llamacpp_path`, within 1.0 of llama.cpp's CPU logits, and llama.cpp's pick
/// wherever its top-2 gap is clear.
#[test]
fn llamacpp_path_matches_within_activation_noise() {
    let (mut model, _bytes) = load(false);
    for (pi, p) in common::reference()["prompts"].as_array().unwrap().iter().enumerate() {
        let prompt = ids(&p["token_ids"]);
        let greedy = &p["greedy"];
        let lc_ids = ids(&greedy["ids"]);
        let lc_steps = greedy["steps"].as_array().unwrap();
        let f64_steps = p["f64_reference"]["steps_on_llamacpp_path"].as_array().unwrap();
        for (i, f64_step) in f64_steps.iter().enumerate() {
            // The greedy sampler's pick on the GPU after the prompt, then after each of
            // llama.cpp's ids.
            let ours = match i {
                0 => common::step(&mut model, &prompt, 0),
                _ => common::step(&mut model, &[lc_ids[i - 1]], (prompt.len() + i - 1) as u32),
            };
            let logits = pollster::block_on(model.read_logits(1)).unwrap();
            let d64 = top_diff(&logits, &f64_step["top"]);
            assert!(d64 <= F64_TOL, "prompt {pi} step {i}: |logit - f64| = {d64} > {F64_TOL}");
            let top = &lc_steps[i]["top"];
            let dlc = top_diff(&logits, top);
            assert!(dlc <= LLAMACPP_TOL, "prompt {pi} step {i}: |logit - llama.cpp| = {dlc} > {LLAMACPP_TOL}");
            let gap = top[0][1].as_f64().unwrap() - top[1][1].as_f64().unwrap();
            if gap > LLAMACPP_GAP {
                assert_eq!(ours, lc_ids[i], "prompt {pi} step {i}: argmax vs llama.cpp (gap {gap:.2})");
            }
        }
    }
}

/// Int8 activations against float64, on float64's own tokens (fed back whatever we pick):
/// at every one of the 9 steps of all 8 prompts the top-20 logits within INT8_TOL, and our
/// greedy pick equal to float64's wherever its top-2 gap exceeds 2 · INT8_TOL (each logit
/// within the bound cannot swap a pair further apart than twice it). On the row kernels.
#[test]
fn int8_activations_match_float64_within_bound() {
    int8_vs_f64(Variant::Row, 8);
}

/// The same on the cooperative kernels (the same int8 numerics; only the order of the f32
/// sums differs), over the first 2 prompts: on lavapipe they run a step ~8× slower than the
/// row kernels (all 8 prompts took 72 s here, worst 0.684).
#[test]
fn int8_activations_on_cooperative_kernels_match_float64_within_bound() {
    int8_vs_f64(Variant::Cooperative, 2);
}

/// The int8 check above over the first `prompts` reference prompts.
fn int8_vs_f64(variant: Variant, prompts: usize) {
    let (mut model, _bytes) = load_with(false, Some(variant));
    assert!(model.kern.gpu.int8, "int8 activations on {}", model.kern.gpu.facts.name);
    let (mut worst, mut steps, mut checked, mut agree) = (0f32, 0, 0, 0);
    for (pi, p) in common::reference()["prompts"].as_array().unwrap().iter().take(prompts).enumerate() {
        let prompt = ids(&p["token_ids"]);
        let f64r = &p["f64_reference"];
        let want_ids = ids(&f64r["ids"]);
        for (i, step) in f64r["steps"].as_array().unwrap().iter().enumerate() {
            let ours = match i {
                0 => common::step(&mut model, &prompt, 0),
                _ => common::step(&mut model, &[want_ids[i - 1]], (prompt.len() + i - 1) as u32),
            };
            let logits = pollster::block_on(model.read_logits(1)).unwrap();
            let d = top_diff(&logits, &step["top"]);
            worst = worst.max(d);
            assert!(d <= INT8_TOL, "{variant:?} prompt {pi} step {i}: max |logit - f64| = {d} > {INT8_TOL}");
            let top = &step["top"];
            let gap = top[0][1].as_f64().unwrap() - top[1][1].as_f64().unwrap();
            steps += usize::from(i < want_ids.len());
            agree += usize::from(i < want_ids.len() && ours == want_ids[i]);
            if gap > 2.0 * INT8_TOL as f64 && i < want_ids.len() {
                assert_eq!(ours, want_ids[i], "{variant:?} prompt {pi} step {i}: greedy vs float64 (gap {gap:.2})");
                checked += 1;
            }
        }
    }
    eprintln!(
        "int8 ({variant:?}): max |logit - f64 reference| over {prompts} prompts x 9 steps: {worst:.3}; greedy equal \
         at {agree} of {steps} steps, {checked} of them with a gap over {}",
        2.0 * INT8_TOL
    );
}
