//! The GPU sampler chain against the CPU reference chain on random rows (fresh data every
//! run), in both kernel variants: survivor sets, thresholds, greedy, determinism, same dice,
//! temperature → 0, and the sampled distribution (chi-square).

mod sampling_common;

use rand::{Rng, SeedableRng};
use samplescope::gpu::Variant;
use samplescope::sampling::{LaneParams, SamplerConfig};
use sampling_common::*;

/// Every config of `configs()` on every row kind of `KINDS`, one lane each, with random
/// penalty histories (some ids outside the vocabulary) and random steps.
fn survivors_match(variant: Variant) {
    survivors_match_on(variant, 3001, &KINDS);
}

/// As survivors_match, over rows of `v` tokens of the given kinds.
fn survivors_match_on(variant: Variant, v: usize, kinds: &[&str]) {
    let gpu = gpu();
    let mut rng = rand::rng();
    let cfgs = configs();
    let n = kinds.len() * cfgs.len();
    let mut h = Harness::new(&gpu, variant, v, n);
    let mut rows = Vec::with_capacity(n * v);
    let mut params = Vec::new();
    let mut hist = Vec::new();
    for l in 0..n {
        rows.extend(row(&mut rng, kinds[l % kinds.len()], v));
        params.push(LaneParams::new(&cfgs[l / kinds.len()], l as u32).unwrap());
        let len = rng.random_range(0..120);
        hist.push((0..len).map(|_| rng.random_range(0..v as u32 + 5)).collect::<Vec<u32>>());
    }
    let step = rng.random_range(0..1000);
    h.setup(&rows, &params, &hist, step);
    let t0 = std::time::Instant::now();
    h.run(1);
    let recs = h.records();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let masks = h.masks();
    let tokens = h.tokens(n);
    let mut seen = Seen::default();
    for l in 0..n {
        let cfg = &cfgs[l / kinds.len()];
        let what = format!("{variant:?} lane {l} ({}, {})", kinds[l % kinds.len()], cfg.to_spec());
        assert_eq!(recs[l].step, step, "{what}: step");
        assert_eq!(tokens[l], recs[l].token, "{what}: tokens buffer");
        check_lane(&what, &rows[l * v..(l + 1) * v], &hist[l], cfg, l as u32, &recs[l], &masks[l], &mut seen);
    }
    eprintln!(
        "{variant:?}: {n} lanes of {v} ({ms:.0} ms): max σ-threshold error {:.1e}, max top-p mass error {:.1e}, {} near-tie picks",
        seen.sigma_err, seen.top_p_err, seen.close_picks
    );
}

#[test]
fn survivors_match_reference_row() {
    survivors_match(Variant::Row);
}

#[test]
fn survivors_match_reference_cooperative() {
    survivors_match(Variant::Cooperative);
}

/// Rows with more tokens in one value bucket than the searches' candidate list holds (4096
/// at this vocabulary): constant rows, and half the tokens tied at the top, so top-k must
/// cut ties by id. The Row variant then finishes its searches over the whole row.
#[test]
fn survivors_match_when_the_candidate_list_overflows() {
    for variant in [Variant::Row, Variant::Cooperative] {
        survivors_match_on(variant, 9001, &["constant", "two_level", "logits"]);
    }
}

/// Gemma 3's vocabulary: 262,144 tokens a row (64× the candidate list), every sampler
/// configuration, both variants.
#[test]
fn survivors_match_at_a_262144_token_vocabulary() {
    for variant in [Variant::Row, Variant::Cooperative] {
        survivors_match_on(variant, 262_144, &["logits"]);
    }
}

/// Greedy lanes through the chain pick exactly the first maximum (cpu::greedy_pick) at the
/// default model's vocabulary size, with ties planted across slices, inside a slice, at the last id, and rows of −inf or NaN.
#[test]
fn greedy_is_argmax() {
    let gpu = gpu();
    let mut rng = rand::rng();
    let v = 49152;
    let n = 16;
    for variant in [Variant::Row, Variant::Cooperative] {
        let mut h = Harness::new(&gpu, variant, v, n);
        let mut rows = Vec::new();
        for l in 0..n {
            let mut r = row(&mut rng, "logits", v);
            let top = 50.0 + rng.random_range(0.0..1.0);
            match l % 6 {
                0 => {
                    r[rng.random_range(0..v / 2)] = top;
                    r[rng.random_range(v / 2..v)] = top;
                }
                1 => {
                    let i = rng.random_range(0..v - 1);
                    r[i] = top;
                    r[i + 1] = top;
                }
                2 => r[v - 1] = top,
                3 => r.iter_mut().for_each(|x| *x = f32::NEG_INFINITY),
                4 => r[rng.random_range(0..v)] = f32::NAN,
                _ => {}
            }
            rows.extend(r);
        }
        let params = vec![LaneParams::new(&SamplerConfig::greedy(), 0).unwrap(); n];
        h.setup(&rows, &params, &vec![vec![]; n], 0);
        h.run(1);
        let got = h.tokens(n);
        let want: Vec<u32> = rows.chunks(v).map(samplescope::sampling::cpu::greedy_pick).collect();
        assert_eq!(got, want, "{variant:?}");
    }
}

/// A binding takes no more lanes than its logits and tokens buffers hold, and the sampler
/// settings are validated on the way in.
#[test]
fn refuses_what_does_not_fit() {
    let gpu = gpu();
    let kern = samplescope::kernels::Kernels::new(gpu.clone());
    let chain = samplescope::sampling::SamplerChain::new(&kern, 100, 8).unwrap();
    let logits = gpu.storage("logits", 4 * 100 * 3).unwrap();
    let tokens = gpu.storage("tokens", 4 * 8).unwrap();
    let mut b = chain.bind(&kern, &logits, &tokens).unwrap();
    let p = LaneParams::new(&SamplerConfig::default(), 0).unwrap();
    assert!(b.set_params(&gpu, &[p; 3]).is_ok());
    let e = b.set_params(&gpu, &[p; 4]).unwrap_err().to_string();
    assert!(e.contains("4 lanes (this binding takes 1 ..= 3)"), "{e}");
    assert!(b.set_params(&gpu, &[]).is_err());
    assert!(b.set_history(&gpu, 3, &[1, 2], 0).is_err());
    assert!(LaneParams::new(&SamplerConfig { top_p: 0.0, ..Default::default() }, 0).is_err());
    assert!(samplescope::sampling::SamplerChain::new(&kern, 100, 256).is_err());
    assert!(chain.bind(&kern, &gpu.storage("small", 40).unwrap(), &tokens).is_err());
}

fn draws(h: &Harness, lane: usize) -> Vec<u32> {
    h.histories()[lane].0.clone()
}

/// The same seed gives the same tokens (across lanes of a batch and across runs); another
/// seed, or another sample index, gives other tokens.
#[test]
fn same_seed_same_tokens() {
    let gpu = gpu();
    let mut rng = rand::rng();
    let v = 3001;
    let steps = 40;
    let r = row(&mut rng, "logits", v);
    let cfg = |seed: u64| SamplerConfig { seed, ..SamplerConfig::parse("min_p=0.01,temperature=1.5").unwrap() };
    let params = [
        LaneParams::new(&cfg(7), 0).unwrap(),
        LaneParams::new(&cfg(7), 0).unwrap(),
        LaneParams::new(&cfg(8), 0).unwrap(),
        LaneParams::new(&cfg(7), 1).unwrap(),
    ];
    let rows: Vec<f32> = (0..4).flat_map(|_| r.clone()).collect();
    let mut runs = Vec::new();
    for variant in [Variant::Row, Variant::Row, Variant::Cooperative] {
        let mut h = Harness::new(&gpu, variant, v, 4);
        h.setup(&rows, &params, &vec![vec![]; 4], 0);
        h.run(steps);
        let d: Vec<Vec<u32>> = (0..4).map(|l| draws(&h, l)).collect();
        assert_eq!(d[0].len(), steps);
        assert_eq!(d[0], d[1], "{variant:?}: two lanes with seed 7");
        assert_ne!(d[0], d[2], "{variant:?}: seeds 7 and 8");
        assert_ne!(d[0], d[3], "{variant:?}: sample indices 0 and 1");
        runs.push(d);
    }
    assert_eq!(runs[0], runs[1], "two runs");
    assert_eq!(runs[0], runs[2], "Row and Cooperative variants");
}

/// Same dice: lanes that share the seed, sample index, step and temperature but truncate
/// differently perturb each token by the same Gumbel noise, so when lane A keeps a subset of
/// lane B's tokens and B's pick is among them, A picks it too.
#[test]
fn same_dice_across_truncations() {
    let gpu = gpu();
    let mut rng = rand::rng();
    let v = 3001;
    let specs = [
        "temperature=1",
        "top_k=200",
        "top_k=20",
        "top_p=0.9",
        "top_p=0.5",
        "min_p=0.02",
        "min_p=0.2",
        "top_n_sigma=1",
    ];
    let n = specs.len();
    let r = row(&mut rng, "logits", v);
    let rows: Vec<f32> = (0..n).flat_map(|_| r.clone()).collect();
    let params: Vec<LaneParams> = specs
        .iter()
        .map(|s| LaneParams::new(&SamplerConfig { seed: 99, ..SamplerConfig::parse(s).unwrap() }, 3).unwrap())
        .collect();
    let mut h = Harness::new(&gpu, Variant::Row, v, n);
    h.setup(&rows, &params, &vec![vec![]; n], 0);
    let mut pairs = 0;
    for step in 0..30 {
        h.run(1);
        let recs = h.records();
        let masks = h.masks();
        for a in 0..n {
            for b in 0..n {
                let subset = (0..v).all(|i| !masks[a][i] || masks[b][i]);
                let pb = recs[b].token as usize;
                if a != b && subset && masks[a][pb] {
                    pairs += 1;
                    assert_eq!(
                        recs[a].token, recs[b].token,
                        "step {step}: {} ⊆ {} and both keep {pb}",
                        specs[a], specs[b]
                    );
                }
            }
        }
    }
    assert!(pairs > 100, "only {pairs} nested pairs");
}

/// temperature → 0+ converges to greedy: with the top two logits 0.05 apart, T ≤ 1e-3 puts
/// more than 50 between them after scaling, beyond the spread of the Gumbel noise
/// (u ∈ [2^-24, 1 − 2^-24] bounds it to [−2.8, 16.7]), so every pick is the argmax.
#[test]
fn tiny_temperature_is_greedy() {
    let gpu = gpu();
    let mut rng = rand::rng();
    let v = 3001;
    let temps = [1e-3f32, 1e-4, 1e-5, 1e-7];
    let n = 64;
    let mut rows = Vec::new();
    let mut params = Vec::new();
    for l in 0..n {
        let mut r = row(&mut rng, "logits", v);
        let (i, j) = (rng.random_range(0..v), rng.random_range(0..v));
        let m = r.iter().cloned().fold(f32::MIN, f32::max);
        r[j] = m + 1.0;
        r[i] = m + 1.05;
        rows.extend(r);
        let cfg = SamplerConfig { temperature: temps[l % temps.len()], seed: rng.random(), ..Default::default() };
        params.push(LaneParams::new(&cfg, l as u32).unwrap());
    }
    for variant in [Variant::Row, Variant::Cooperative] {
        let mut h = Harness::new(&gpu, variant, v, n);
        h.setup(&rows, &params, &vec![vec![]; n], 0);
        h.run(1);
        let got = h.tokens(n);
        let want: Vec<u32> = rows.chunks(v).map(samplescope::sampling::cpu::greedy_pick).collect();
        assert_eq!(got, want, "{variant:?}");
    }
}

/// ln Γ(x), Lanczos (g = 7, 9 terms), x > 0.
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let a = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma Q(a, x): series below a + 1, Lentz's continued
/// fraction above (Numerical Recipes, gammq).
fn gamma_q(a: f64, x: f64) -> f64 {
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut del, mut sum) = (a, 1.0 / a, 1.0 / a);
        while del.abs() > sum.abs() * 1e-15 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
        }
        1.0 - sum * front
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let (mut c, mut d) = (1.0 / tiny, 1.0 / b);
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < tiny { tiny } else { d };
            c = b + an / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        front * h
    }
}

#[test]
fn chi_square_helpers() {
    // Q(k/2, x/2) is the chi-square survival function: known quantiles.
    let sf = |df: f64, x: f64| gamma_q(df / 2.0, x / 2.0);
    assert!((sf(1.0, 3.841_458_8) - 0.05).abs() < 1e-6);
    assert!((sf(10.0, 18.307_038) - 0.05).abs() < 1e-6);
    assert!((sf(100.0, 149.449_21) - 0.001).abs() < 1e-6);
    assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
}

/// Pearson's chi-square of counts against probabilities: bins with an expected count of at
/// least 5, the rest pooled into one. Returns (statistic, degrees of freedom, p-value).
fn chi_square(counts: &[u64], probs: &[f64], total: u64) -> (f64, usize, f64) {
    let (mut stat, mut bins) = (0.0, 0usize);
    let (mut pool_o, mut pool_e) = (0.0, 0.0);
    for (&o, &p) in counts.iter().zip(probs) {
        let e = p * total as f64;
        if e >= 5.0 {
            stat += (o as f64 - e).powi(2) / e;
            bins += 1;
        } else {
            assert!(p > 0.0 || o == 0, "a token with probability 0 was drawn");
            pool_o += o as f64;
            pool_e += e;
        }
    }
    if pool_e > 0.0 {
        stat += (pool_o - pool_e).powi(2) / pool_e;
        bins += 1;
    }
    let df = bins - 1;
    (stat, df, gamma_q(df as f64 / 2.0, stat / 2.0))
}

/// The empirical distribution of ≥ 20,000 GPU draws matches the reference truncated softmax
/// (chi-square p > 0.001) for top-p, min-p, top-k and top-nσ at T = 0.7, 1 and 2 (and two
/// temperature-last configs). A fixed row and fixed seeds, so the test is deterministic;
/// draws vary the sample index (18 lanes per config) and the step (1120 steps).
#[test]
fn sampled_distribution_matches_truncated_softmax() {
    let gpu = gpu();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_101);
    let v = 256;
    let r: Vec<f32> = (0..v).map(|_| normal(&mut rng) * 1.5).collect();
    let mut specs = Vec::new();
    for t in ["0.7", "1", "2"] {
        for s in ["top_p=0.9", "min_p=0.05", "top_k=20", "top_n_sigma=1"] {
            specs.push(format!("{s},temperature={t}"));
        }
    }
    specs.push("top_p=0.8,temperature=2,temperature_position=last".into());
    specs.push("min_p=0.1,temperature=0.7,temperature_position=last".into());
    let per = 18;
    let n = specs.len() * per;
    let cfgs: Vec<SamplerConfig> = specs
        .iter()
        .enumerate()
        .map(|(c, s)| SamplerConfig { seed: 1000 + c as u64, ..SamplerConfig::parse(s).unwrap() })
        .collect();
    let params: Vec<LaneParams> = (0..n).map(|l| LaneParams::new(&cfgs[l / per], (l % per) as u32).unwrap()).collect();
    let rows: Vec<f32> = (0..n).flat_map(|_| r.clone()).collect();
    let mut h = Harness::new(&gpu, Variant::Row, v, n);
    h.setup(&rows, &params, &vec![vec![]; n], 0);
    let t0 = std::time::Instant::now();
    h.run(1);
    let masks = h.masks();
    let mut counts = vec![vec![0u64; v]; specs.len()];
    let half = 560;
    for round in 0..2 {
        h.run(if round == 0 { half - 1 } else { half });
        for (l, (ids, step)) in h.histories().into_iter().enumerate() {
            assert_eq!(step as usize, half * (round + 1));
            for &id in &ids[ids.len() - half..] {
                counts[l / per][id as usize] += 1;
            }
        }
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let total = (per * 2 * half) as u64;
    for (c, cfg) in cfgs.iter().enumerate() {
        let w = samplescope::sampling::cpu::working(&r, cfg);
        let t = samplescope::sampling::cpu::truncate(&w, cfg, &Default::default());
        for m in &masks[c * per..(c + 1) * per] {
            assert_eq!(m, &t.mask, "{}: survivor set", specs[c]);
        }
        let probs = samplescope::sampling::cpu::sampling_probs(&w, &t.mask, t.max, cfg);
        let (stat, df, p) = chi_square(&counts[c], &probs, total);
        eprintln!("{:<52} {:>3} survivors  chi2 {stat:7.1} df {df:3}  p {p:.3}", specs[c], t.survivors);
        assert!(p > 0.001, "{}: chi2 {stat} with {df} df, p = {p}", specs[c]);
    }
    eprintln!("{n} lanes x {} steps of a {v}-token row: {ms:.0} ms", 2 * half);
}

/// The inspector after a GPU step: candidates in (logit desc, id asc) order, `kept` equal to
/// the GPU survivor set, probabilities that are softmaxes (before: over all tokens in play;
/// after: over the survivors, summing with the rest of the survivors to 1), the sampled
/// token's probability equal to the record's, and a histogram that counts every token in play.
#[test]
fn inspector_matches_the_step() {
    let gpu = gpu();
    let mut rng = rand::rng();
    let v = 3001;
    let specs = [
        "top_k=40,top_p=0.95,min_p=0.02,temperature=1.3",
        "greedy",
        "top_n_sigma=1,temperature=0.8,temperature_position=last",
    ];
    let n = specs.len();
    let rows: Vec<f32> = (0..n).flat_map(|_| row(&mut rng, "neg_inf", v)).collect();
    let params: Vec<LaneParams> =
        specs.iter().map(|s| LaneParams::new(&SamplerConfig::parse(s).unwrap(), 0).unwrap()).collect();
    let mut h = Harness::new(&gpu, Variant::Row, v, n);
    h.setup(&rows, &params, &vec![vec![]; n], 0);
    h.run(1);
    let masks = h.masks();
    let recs = h.records();
    let all = pollster::block_on(h.chain.inspect_all(h.gpu(), &h.bind, 64)).unwrap();
    for lane in 0..n {
        let ins = pollster::block_on(h.chain.inspect(h.gpu(), &h.bind, lane as u32, 64)).unwrap();
        assert_eq!(
            serde_json::to_string(&ins).unwrap(),
            serde_json::to_string(&all[lane]).unwrap(),
            "inspect vs inspect_all"
        );
        let what = specs[lane];
        assert_eq!(ins.record, recs[lane], "{what}");
        if lane == 1 {
            let r = &recs[lane];
            assert!(
                r.greedy()
                    && r.sigma_threshold().is_none()
                    && r.top_p_threshold().is_none()
                    && r.min_p_threshold().is_none()
            );
            assert_eq!((r.sigma, r.top_k, r.top_p, r.min_p), (0.0, 0.0, 0.0, 0.0), "unused thresholds are 0");
        }
        assert_eq!(ins.candidates.len(), 64, "{what}");
        assert_eq!(ins.survivors, masks[lane].iter().filter(|&&k| k).count() as u32, "{what}");
        let in_play = rows[lane * v..(lane + 1) * v].iter().filter(|x| x.is_finite()).count() as u32;
        assert_eq!(ins.histogram.iter().sum::<u32>(), in_play, "{what}");
        for pair in ins.candidates.windows(2) {
            assert!(
                pair[0].logit > pair[1].logit || (pair[0].logit == pair[1].logit && pair[0].id < pair[1].id),
                "{what}: order"
            );
        }
        let mut after = 0.0;
        for c in &ins.candidates {
            assert_eq!(c.kept, masks[lane][c.id as usize], "{what}: token {}", c.id);
            assert_eq!(c.kept, c.prob_after > 0.0, "{what}: token {}", c.id);
            after += c.prob_after;
            if c.id == recs[lane].token {
                assert!(
                    (c.prob_after - recs[lane].token_prob as f64).abs() < 1e-5,
                    "{what}: {} vs {}",
                    c.prob_after,
                    recs[lane].token_prob
                );
            }
        }
        // The top 64 hold every survivor here (top-k 40; σ and greedy keep fewer).
        assert!((after - 1.0).abs() < 1e-9 && ins.survivors <= 64, "{what}: {after}");
        let before: f64 = ins.candidates.iter().map(|c| c.prob_before).sum();
        assert!(before <= 1.0 + 1e-9 && ins.kept_mass <= 1.0 + 1e-9 && ins.kept_mass > 0.0, "{what}");
    }
}
