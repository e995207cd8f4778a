//! The GPU forward pass against the CPU reference forward on tiny synthetic Llamas written
//! in-test: every supported tensor type, tied and separate outputs, both kernel variants,
//! chunked prefill, and decode steps fed the GPU's own greedy pick.

mod common;

use samplescope::gguf::{GgmlType, Gguf};
use samplescope::gpu::Variant;
use samplescope::model::cpu::CpuModel;
use samplescope::model::Model;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Gpu, GpuOptions, LoadOptions};

/// Bound: |gpu − cpu| ≤ 1e-3 · (1 + max|cpu logit|). The CPU accumulates in f64; the GPU in
/// f32 over rows of ≤ 128 terms through 2 layers, so differences are ~1e-5 relative; the
/// bound leaves room without letting a wrong index, scale or rotation through (those move
/// logits by O(1)).
fn assert_logits_close(what: &str, gpu: &[f32], cpu: &[f32]) {
    let top = cpu.iter().fold(0f32, |a, &b| a.max(b.abs()));
    let bound = 1e-3 * (1.0 + top);
    let worst = gpu.iter().zip(cpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= bound, "{what}: max |gpu - cpu| = {worst} > {bound}");
    // A constant-zero or constant output would pass a loose bound on tiny logits; make sure
    // the reference itself is not degenerate.
    assert!(top > 0.05, "{what}: reference logits are degenerate (max |logit| {top})");
}

fn check(spec: &SynthSpec, variant: Variant, max_rows: u32) {
    let bytes = synthetic_model(spec).expect("synthetic model");
    let g = Gguf::parse(&bytes).unwrap();
    let what = format!("{:?}/{:?} tied={} {:?} rows={max_rows}", spec.weight_type, spec.embd_type, spec.tied, variant);
    let gpu =
        pollster::block_on(Gpu::new(GpuOptions { variant: Some(variant), int8: Some(false), ..Default::default() }))
            .expect("GPU adapter");
    let opts = LoadOptions { n_ctx: 32, max_rows, kv_f16: false, ..LoadOptions::default() };
    let plan = Model::plan(&gpu, &g, &opts).unwrap();
    let mut model = pollster::block_on(Model::load(gpu, &g, &opts)).unwrap();
    // The plan, made from the tensor table alone, is what the upload then takes.
    assert_eq!((plan.weight_bytes, plan.kv_bytes), (model.weight_bytes, model.kv_bytes()), "{what}: plan");
    let mut cpu = CpuModel::from_gguf(&g).unwrap();

    let prompt = [5u32, 77, 260, 3, 140, 141, 9];
    let mut id = common::step(&mut model, &prompt, 0);
    let mut want = Vec::new();
    for &t in &prompt {
        want = cpu.step(t).unwrap();
    }
    let got = pollster::block_on(model.read_logits(1)).unwrap();
    assert_logits_close(&format!("{what} prefill"), &got, &want);
    assert_eq!(id, samplescope::sampling::cpu::greedy_pick(&got), "{what}: picked id is the argmax of the logits");

    for step in 0..4u32 {
        want = cpu.step(id).unwrap();
        id = common::step(&mut model, &[id], prompt.len() as u32 + step);
        let got = pollster::block_on(model.read_logits(1)).unwrap();
        assert_logits_close(&format!("{what} decode {step}"), &got, &want);
    }
}

#[test]
fn every_weight_type_matches_cpu_reference() {
    for ty in [GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::F16, GgmlType::F32] {
        let spec = SynthSpec { weight_type: ty, embd_type: ty, tied: ty != GgmlType::F16, ..SynthSpec::default() };
        check(&spec, Variant::Row, 16);
    }
}

/// GGUF files may quantize attn_v differently from q and k (llama.cpp's mixes do): that layer
/// runs three projections instead of one stacked dispatch, and must agree just the same.
#[test]
fn mixed_qkv_formats_match_cpu_reference() {
    let spec = SynthSpec { per_tensor: vec![("blk.1.attn_v.weight".into(), GgmlType::Q8_0)], ..SynthSpec::default() };
    check(&spec, Variant::Row, 16);
}

#[test]
fn cooperative_variant_and_chunked_prefill_match() {
    let spec = SynthSpec::default();
    check(&spec, Variant::Cooperative, 16);
    check(&spec, Variant::Row, 3);
    let untied = SynthSpec { tied: false, embd_type: GgmlType::Q4_0, ..SynthSpec::default() };
    check(&untied, Variant::Cooperative, 2);
}

#[test]
fn context_and_token_errors_are_values() {
    let bytes = synthetic_model(&SynthSpec::default()).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).unwrap();
    let mut model =
        pollster::block_on(Model::load(gpu, &g, &LoadOptions { n_ctx: 8, max_rows: 4, ..LoadOptions::default() }))
            .unwrap();
    let long: Vec<u32> = (0..9).collect();
    let step = |model: &mut Model, ids: &[u32], pos0| common::try_step(model, ids, pos0);
    assert!(matches!(step(&mut model, &long, 0), Err(samplescope::Error::Context(_))));
    assert!(matches!(step(&mut model, &[], 0), Err(samplescope::Error::Param(_))));
    assert!(matches!(step(&mut model, &[100_000], 0), Err(samplescope::Error::Param(_))));
    assert!(matches!(step(&mut model, &[1], 8), Err(samplescope::Error::Context(_))));
    // The model still works after the errors.
    assert!(step(&mut model, &[1, 2, 3], 0).is_ok());
}

/// A model that cannot fit the adapter's binding limit is refused before anything is
/// uploaded, with the tensor, its size and the limit named.
#[test]
fn binding_limits_are_checked_before_upload() {
    let bytes = synthetic_model(&SynthSpec::default()).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let opts = LoadOptions { n_ctx: 16, max_rows: 4, ..LoadOptions::default() };
    // The walk's first tensor, layer 0's attention norm, is 64 f32 = 256 bytes (and Q4_1
    // rows of 64 weights are 40): a 32-byte binding holds neither.
    let tiny = GpuOptions { variant: Some(Variant::Cooperative), max_storage_binding: Some(32), ..Default::default() };
    let gpu = pollster::block_on(Gpu::new(tiny)).unwrap();
    assert_eq!(gpu.facts.max_storage_binding, 32);
    let err = Model::plan(&gpu, &g, &opts).unwrap_err().to_string();
    assert!(
        err.contains("tensor blk.0.attn_norm.weight needs a buffer of 256 bytes")
            && err.contains("over this adapter's storage binding limit of 32 bytes"),
        "{err}"
    );
    let err = pollster::block_on(samplescope::Engine::load(gpu, &bytes, &opts)).err().unwrap().to_string();
    assert!(err.contains("blk.0.attn_norm.weight"), "{err}");
}

/// A model whose logits are all NaN (its final norm's gains overwritten with NaN) is an
/// error that names the lane and the token, from a run and from the inspector, instead of
/// a silent pick of id 0 with p = 1.
#[test]
fn non_finite_logits_are_an_error() {
    let mut bytes = synthetic_model(&SynthSpec::default()).unwrap();
    let (start, n) = {
        let g = Gguf::parse(&bytes).unwrap();
        let t = g.tensor("output_norm.weight").unwrap();
        assert_eq!(t.ty, GgmlType::F32);
        ((g.data_offset + t.offset) as usize, t.n_elements() as usize)
    };
    for i in 0..n {
        bytes[start + 4 * i..start + 4 * i + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).unwrap();
    let opts = LoadOptions { n_ctx: 32, max_rows: 8, ..LoadOptions::default() };
    let mut e = pollster::block_on(samplescope::Engine::load(gpu, &bytes, &opts)).unwrap();
    let lanes = samplescope::engine::lane_specs(
        &[
            samplescope::sampling::SamplerConfig::greedy(),
            samplescope::sampling::SamplerConfig::parse("top_p=0.9").unwrap(),
        ],
        false,
    );
    let gen = samplescope::GenerateOptions { max_tokens: 4, ..Default::default() };
    let err = pollster::block_on(e.generate(&[5, 6, 7], &lanes, &gen, |_| {})).unwrap_err().to_string();
    assert!(err.contains("lane 0, token 0") && err.contains("NaN"), "{err}");
    let err = pollster::block_on(e.inspect_step(&[5, 6, 7], &lanes[1], &[], 8)).unwrap_err().to_string();
    assert!(err.contains("lane 0, token 0") && err.contains("NaN"), "{err}");
}

/// A load says where its time went: no phase is negative, the phases that always work took
/// time, and the phases, which follow one another, sum to at most the total, itself at most
/// the caller's own clock around the load.
#[test]
fn load_times_cover_the_load() {
    let bytes = synthetic_model(&SynthSpec::default()).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).unwrap();
    let opts = LoadOptions { n_ctx: 32, max_rows: 8, ..LoadOptions::default() };
    let t0 = web_time::Instant::now();
    let e = pollster::block_on(samplescope::Engine::load(gpu, &bytes, &opts)).unwrap();
    let outer = t0.elapsed().as_secs_f64() * 1e3;
    let t = e.load;
    for (name, ms) in t.phases() {
        assert!(ms.is_finite() && ms >= 0.0, "{name}: {ms} ms");
    }
    assert_eq!(t.copy, 0.0, "only the page copies the file");
    for (name, ms) in [("pipelines", t.pipelines), ("weights", t.weights), ("tokenizer", t.tokenizer)] {
        assert!(ms > 0.0, "{name} took no time: {t:?}");
    }
    let sum: f64 = t.phases().iter().map(|(_, ms)| ms).sum();
    assert!(sum <= t.total + 1e-9 && t.total <= outer, "phases {sum} ms, total {} ms, outer {outer} ms", t.total);
    assert!(t.summary().starts_with("load "), "{}", t.summary());
}
