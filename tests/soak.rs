//! The soak in CI: 8 lanes × 1,024 tokens on a small synthetic model (every stage of the
//! sampler chain on), memory sampled 16 times: the GPU's allocation must not move once the
//! run has started and the process may grow by at most 16 MB (the lanes' own text and ids
//! are ~0.1 MB; a leak of one staging buffer or bind group per step would be far more).
//! The long form on the default model: `cargo run --release --example soak`.

use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, Gpu, GpuOptions, LoadOptions};

#[test]
fn eight_lanes_run_long_without_growing() {
    let spec = SynthSpec { n_ctx: 2048, ..SynthSpec::default() };
    let bytes = synthetic_model(&spec).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    let opts = LoadOptions { n_ctx: 1100, max_rows: 16, ..LoadOptions::default() };
    let mut e = pollster::block_on(Engine::load(gpu, &bytes, &opts)).unwrap();
    let prompt = e.encode_prompt("a long soak", false).unwrap();
    let report = pollster::block_on(samplescope::soak::run(&mut e, &prompt, 8, 1024, 16, |_| {})).unwrap();
    eprintln!("{}", report.table());
    assert!(report.samples.len() >= 16, "{} samples", report.samples.len());
    assert!(report.samples.iter().skip(1).all(|s| s.gpu_bytes.is_some()), "lavapipe reports its allocations");
    report.check(16 << 20).unwrap();
}
