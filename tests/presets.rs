//! The top-nσ preset's survivor curve on a synthetic model: each count, taken from the GPU
//! chain's masks, equals the CPU reference chain's on the same logits row, and top-nσ's
//! count does not move with the temperature when the temperature applies first (while
//! top-p's and min-p's do, on this row).

use samplescope::eval::presets::{preset, Size};
use samplescope::eval::{survivor_curve, SurvivorSpec};
use samplescope::sampling::config::SamplerConfig;
use samplescope::sampling::cpu;
use samplescope::synth::{synthetic_model, SynthSpec};
use samplescope::{Engine, Gpu, GpuOptions, LoadOptions};

fn engine() -> Engine {
    let bytes = synthetic_model(&SynthSpec { n_ctx: 256, ..SynthSpec::default() }).unwrap();
    let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("GPU adapter");
    pollster::block_on(Engine::load(gpu, &bytes, &LoadOptions { n_ctx: 128, max_rows: 32, ..LoadOptions::default() }))
        .unwrap()
}

#[test]
fn survivors_equal_the_cpu_reference_and_top_n_sigma_ignores_temperature() {
    let mut e = engine();
    let full = preset("top-n-sigma", Size::Full).unwrap().survivors.unwrap();
    // The preset's samplers and temperatures, on a prompt the synthetic vocabulary encodes.
    let spec = SurvivorSpec { prompt: "hello there".into(), chat: false, ..full };
    let curve = pollster::block_on(survivor_curve(&mut e, &spec)).unwrap();
    let z = pollster::block_on(e.model.read_logits(1)).unwrap();
    assert_eq!(curve.in_play as usize, z.iter().filter(|v| v.is_finite()).count());
    for s in &curve.series {
        for (t, &got) in curve.temperatures.iter().zip(&s.survivors) {
            let cfg = SamplerConfig { temperature: *t, ..SamplerConfig::parse(&s.spec).unwrap() };
            let want = cpu::truncate(&cpu::working(&z, &cfg), &cfg, &cpu::Overrides::default()).survivors;
            assert_eq!(got, want, "{} at T = {t}", s.spec);
        }
    }
    let by = |key: &str| &curve.series.iter().find(|s| s.spec.starts_with(key)).unwrap().survivors;
    let sigma = by("top_n_sigma");
    assert!(sigma.iter().all(|&n| n == sigma[0]), "top-nσ moved with T: {sigma:?}");
    for key in ["top_p", "min_p"] {
        let n = by(key);
        assert!(n.windows(2).all(|w| w[0] <= w[1]), "{key} should keep more as T rises: {n:?}");
        assert!(n.last() > n.first(), "{key} kept {n:?} from T = 0.25 to 3");
    }
    // The histogram lane: top-nσ at T = 1, its threshold max − σ over the logits in play.
    let sigma_cut = curve.at_t1.thresholds.iter().find(|t| t.key == "top_n_sigma").expect("top-nσ's threshold");
    let cfg = SamplerConfig::parse("top_n_sigma=1").unwrap();
    let cpu_cut = cpu::truncate(&cpu::working(&z, &cfg), &cfg, &cpu::Overrides::default()).thresholds.sigma.unwrap();
    assert!((sigma_cut.logit - cpu_cut).abs() < 1e-4, "{} vs {cpu_cut}", sigma_cut.logit);
    assert_eq!(curve.at_t1.histogram.iter().sum::<u32>(), curve.in_play);
    assert_eq!(curve.at_t1.survivors, sigma[0]);
}
