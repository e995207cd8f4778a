//! The CPU reference chain: docs/DESIGN.md "Sampler semantics" as plain loops in f64, the ground
//! truth the GPU chain is tested against. Each step is its own function so a test can check
//! the GPU's threshold for that step and then continue from it (`Overrides`).
//!
//! Working logits: w = penalized z / T when temperature goes first, else the penalized z.
//! A token is in play when its working logit is finite (NaN and ±inf never are); every
//! truncation acts on the tokens still in play and keeps the maximum.

use super::config::SamplerConfig;
use super::philox;

/// Step 1: z ← z / r if z > 0 else z · r, once for each distinct token among the last
/// `penalty_last_n` of `history` (ids outside the row are ignored).
pub fn penalize(z: &mut [f32], history: &[u32], cfg: &SamplerConfig) {
    if !cfg.penalty_on() {
        return;
    }
    let r = cfg.repetition_penalty;
    let window = &history[history.len().saturating_sub(cfg.penalty_last_n as usize)..];
    let mut seen = std::collections::HashSet::new();
    for &t in window {
        if (t as usize) < z.len() && seen.insert(t) {
            let v = z[t as usize];
            z[t as usize] = if v > 0.0 { v / r } else { v * r };
        }
    }
}

/// Step 3: the working logits (z / T when the temperature goes first).
pub fn working(z: &[f32], cfg: &SamplerConfig) -> Vec<f32> {
    let t = cfg.temperature_first();
    z.iter().map(|&v| v / t).collect()
}

pub fn in_play(w: f32) -> bool {
    w.is_finite()
}

/// The k-th largest value in (value desc, id asc) order and the ids it keeps among its ties.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopKCut {
    pub value: f32,
    /// Among tokens equal to `value`, those with id ≤ last_id survive; u32::MAX: all of them.
    pub last_id: u32,
}

impl TopKCut {
    pub fn keeps(&self, w: f32, id: u32) -> bool {
        w > self.value || (w == self.value && id <= self.last_id)
    }
}

/// The thresholds that applied, in working-logit space (None: that sampler is off).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    /// top-nσ: keep w ≥ this.
    pub sigma: Option<f32>,
    pub top_k: Option<TopKCut>,
    /// top-p: keep w ≥ this.
    pub top_p: Option<f32>,
    /// min-p: keep w ≥ max + ln(min_p).
    pub min_p: Option<f32>,
}

/// Thresholds to use instead of computing them (tests substitute the GPU's value after
/// checking that it is within tolerance, so the later steps see the same inputs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub sigma: Option<f32>,
    pub top_p: Option<f32>,
}

#[derive(Clone, Debug)]
pub struct Truncation {
    /// The largest working logit in play (−inf when none is).
    pub max: f32,
    pub in_play: u32,
    pub thresholds: Thresholds,
    pub mask: Vec<bool>,
    pub survivors: u32,
}

/// Step 4: max − n·σ, σ the population standard deviation of the logits in play.
pub fn sigma_threshold(w: &[f32], keep: &[bool], max: f32, n: f32) -> f32 {
    let vals = || w.iter().zip(keep).filter(|(_, &k)| k).map(|(&v, _)| v as f64);
    let count = vals().count() as f64;
    let mean = vals().sum::<f64>() / count;
    let var = vals().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
    (max as f64 - n as f64 * var.sqrt()) as f32
}

/// Step 5: the cut that keeps exactly min(k, count) tokens by (w desc, id asc).
pub fn top_k_cut(w: &[f32], keep: &[bool], k: u32) -> TopKCut {
    let mut order: Vec<u32> = (0..w.len() as u32).filter(|&i| keep[i as usize]).collect();
    order.sort_by(|&a, &b| w[b as usize].total_cmp(&w[a as usize]).then(a.cmp(&b)));
    let n = (k as usize).min(order.len());
    let last = order[n - 1];
    let value = w[last as usize];
    let all_ties_kept = order.get(n).is_none_or(|&next| w[next as usize] != value);
    TopKCut { value, last_id: if all_ties_kept { u32::MAX } else { last } }
}

/// Step 6: the smallest value v such that the softmax mass of {w ≥ v} reaches p — the
/// largest τ with Σ_{q_j ≥ τ} q_j ≥ p, as a logit — so the crossing token and all its ties
/// are kept. Masses exp(w − max) in f64.
pub fn top_p_threshold(w: &[f32], keep: &[bool], max: f32, p: f32) -> f32 {
    let mut order: Vec<usize> = (0..w.len()).filter(|&i| keep[i]).collect();
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]));
    let mass = |i: usize| (w[i] as f64 - max as f64).exp();
    let total: f64 = order.iter().map(|&i| mass(i)).sum();
    let target = p as f64 * total;
    let mut cum = 0.0;
    for (j, &i) in order.iter().enumerate() {
        cum += mass(i);
        let group_ends = order.get(j + 1).is_none_or(|&n| w[n] != w[i]);
        if group_ends && cum >= target {
            return w[i];
        }
    }
    w[*order.last().expect("the max is always in play")]
}

/// The mass Σ exp(w − max) over kept tokens with w ≥ v (or > v when `strict`), for tests
/// that check a top-p threshold against its target.
pub fn mass_at(w: &[f32], keep: &[bool], max: f32, v: f32, strict: bool) -> f64 {
    w.iter()
        .zip(keep)
        .filter(|(&x, &k)| k && if strict { x > v } else { x >= v })
        .map(|(&x, _)| (x as f64 - max as f64).exp())
        .sum()
}

/// Steps 4–7 on working logits: which tokens survive, and the thresholds.
pub fn truncate(w: &[f32], cfg: &SamplerConfig, ov: &Overrides) -> Truncation {
    let mut keep: Vec<bool> = w.iter().map(|&v| in_play(v)).collect();
    let in_play_n = keep.iter().filter(|&&k| k).count() as u32;
    let max = w.iter().zip(&keep).filter(|(_, &k)| k).map(|(&v, _)| v).fold(f32::NEG_INFINITY, f32::max);
    let mut th = Thresholds::default();
    if in_play_n > 0 {
        if let Some(n) = cfg.top_n_sigma {
            let t = ov.sigma.unwrap_or_else(|| sigma_threshold(w, &keep, max, n));
            th.sigma = Some(t);
            keep.iter_mut().zip(w).for_each(|(k, &v)| *k &= v >= t);
        }
        // As on the GPU, top-k is skipped when it could not cut (k ≥ tokens in play).
        if cfg.top_k > 0 && cfg.top_k < in_play_n {
            let cut = top_k_cut(w, &keep, cfg.top_k);
            th.top_k = Some(cut);
            keep.iter_mut().enumerate().for_each(|(i, k)| *k &= cut.keeps(w[i], i as u32));
        }
        if cfg.top_p < 1.0 {
            let t = ov.top_p.unwrap_or_else(|| top_p_threshold(w, &keep, max, cfg.top_p));
            th.top_p = Some(t);
            keep.iter_mut().zip(w).for_each(|(k, &v)| *k &= v >= t);
        }
        if cfg.min_p > 0.0 {
            let t = max + cfg.ln_min_p();
            th.min_p = Some(t);
            keep.iter_mut().zip(w).for_each(|(k, &v)| *k &= v >= t);
        }
    }
    let survivors = keep.iter().filter(|&&k| k).count() as u32;
    Truncation { max, in_play: in_play_n, thresholds: th, mask: keep, survivors }
}

/// Step 2: greedy is the first maximum (ties to the lowest id); NaN never wins, and a row
/// with nothing above −∞ gives id 0.
pub fn greedy_pick(z: &[f32]) -> u32 {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, &v) in z.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0 as u32
}

/// Step 9: Gumbel-max over the survivors with the Philox dice; ties to the lowest id.
/// Returns the token and the gap between the best and second-best perturbed values (a
/// tiny gap means f32 rounding on the GPU may pick the other one).
pub fn gumbel_pick(w: &[f32], mask: &[bool], cfg: &SamplerConfig, step: u32, sample: u32) -> (u32, f64) {
    let t = cfg.temperature_last() as f64;
    let (mut best, mut second, mut id) = (f64::NEG_INFINITY, f64::NEG_INFINITY, 0u32);
    for (i, (&v, &k)) in w.iter().zip(mask).enumerate() {
        if !k {
            continue;
        }
        let g = philox::gumbel(philox::uniform(cfg.seed, step, sample, i as u32));
        let s = v as f64 / t + g;
        if s > best {
            second = best;
            best = s;
            id = i as u32;
        } else if s > second {
            second = s;
        }
    }
    (id, best - second)
}

/// The sampling distribution over the survivors: softmax of w / T_last.
pub fn sampling_probs(w: &[f32], mask: &[bool], max: f32, cfg: &SamplerConfig) -> Vec<f64> {
    let t = cfg.temperature_last() as f64;
    let e: Vec<f64> =
        w.iter().zip(mask).map(|(&v, &k)| if k { ((v as f64 - max as f64) / t).exp() } else { 0.0 }).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// The whole chain for one lane and step.
#[derive(Clone, Debug)]
pub struct Reference {
    pub token: u32,
    /// The penalized logits.
    pub z: Vec<f32>,
    /// The working logits (penalized, divided by T when the temperature goes first).
    pub w: Vec<f32>,
    pub truncation: Truncation,
    /// Best minus second-best perturbed value (∞ for greedy).
    pub margin: f64,
}

pub fn reference(z: &[f32], history: &[u32], cfg: &SamplerConfig, step: u32, sample: u32) -> Reference {
    let mut zp = z.to_vec();
    penalize(&mut zp, history, cfg);
    if cfg.is_greedy() {
        let token = greedy_pick(&zp);
        let mask = (0..zp.len()).map(|i| i == token as usize).collect();
        let in_play_n = zp.iter().filter(|v| v.is_finite()).count() as u32;
        let max = zp.iter().filter(|v| v.is_finite()).copied().fold(f32::NEG_INFINITY, f32::max);
        let truncation = Truncation { max, in_play: in_play_n, thresholds: Thresholds::default(), mask, survivors: 1 };
        return Reference { token, w: zp.clone(), z: zp, truncation, margin: f64::INFINITY };
    }
    let w = working(&zp, cfg);
    let truncation = truncate(&w, cfg, &Overrides::default());
    let (token, margin) = if truncation.survivors == 0 {
        (greedy_pick(&zp), f64::INFINITY)
    } else {
        gumbel_pick(&w, &truncation.mask, cfg, step, sample)
    };
    Reference { token, z: zp, w, truncation, margin }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(spec: &str) -> SamplerConfig {
        SamplerConfig::parse(spec).unwrap()
    }

    fn kept(t: &Truncation) -> Vec<usize> {
        t.mask.iter().enumerate().filter(|(_, &k)| k).map(|(i, _)| i).collect()
    }

    #[test]
    fn penalty_counts_each_distinct_token_once() {
        let mut z = vec![2.0, -2.0, 1.0, 4.0];
        // 3 is outside the window of 3; 0 appears twice but is penalized once; 9 is ignored.
        penalize(&mut z, &[3, 0, 1, 0, 9], &cfg("repetition_penalty=2,penalty_last_n=4"));
        assert_eq!(z, vec![1.0, -4.0, 1.0, 4.0]);
    }

    #[test]
    fn top_k_is_exact_with_ties() {
        let w = [1.0, 3.0, 3.0, 2.0, 3.0, f32::NEG_INFINITY];
        let c = cfg("top_k=2");
        let t = truncate(&w, &c, &Overrides::default());
        assert_eq!(kept(&t), vec![1, 2]);
        assert_eq!(t.thresholds.top_k, Some(TopKCut { value: 3.0, last_id: 2 }));
        let t = truncate(&w, &cfg("top_k=3"), &Overrides::default());
        assert_eq!(t.thresholds.top_k, Some(TopKCut { value: 3.0, last_id: u32::MAX }));
        assert_eq!(t.in_play, 5);
    }

    #[test]
    fn top_p_keeps_the_crossing_token_and_its_ties() {
        // q ∝ e^w; the top token alone has about 0.64 of the mass.
        let w = [0.0, 2.0, 0.0, 0.0, -1.0];
        let t = truncate(&w, &cfg("top_p=0.5"), &Overrides::default());
        assert_eq!(kept(&t), vec![1]);
        let t = truncate(&w, &cfg("top_p=0.7"), &Overrides::default());
        assert_eq!(kept(&t), vec![0, 1, 2, 3]);
        assert_eq!(t.thresholds.top_p, Some(0.0));
    }

    #[test]
    fn min_p_and_sigma() {
        let w = [0.0, 1.0, 2.0, 3.0];
        let t = truncate(&w, &cfg("min_p=0.3"), &Overrides::default());
        // ln 0.3 ≈ −1.204: keep w ≥ 1.796.
        assert_eq!(kept(&t), vec![2, 3]);
        // σ of 0..3 is √1.25 ≈ 1.118: keep w ≥ 3 − 1.118.
        let t = truncate(&w, &cfg("top_n_sigma=1"), &Overrides::default());
        assert_eq!(kept(&t), vec![2, 3]);
    }

    #[test]
    fn greedy_and_temperature_position() {
        let z = [1.0, 5.0, 5.0, -1.0];
        let r = reference(&z, &[], &SamplerConfig::greedy(), 0, 0);
        assert_eq!(r.token, 1);
        // min_p=0.5 at T = 4 first keeps w ≥ max − 0.69, i.e. z ≥ 5 − 2.77.
        let first = reference(&z, &[], &cfg("min_p=0.5,temperature=4"), 0, 0);
        let last = reference(&z, &[], &cfg("min_p=0.5,temperature=4,temperature_position=last"), 0, 0);
        assert_eq!(kept(&first.truncation), vec![1, 2]);
        assert_eq!(kept(&last.truncation), vec![1, 2]);
        // min_p=0.05 at T = 4 first: w ≥ 1.25 − 3.0 keeps everything; last: z ≥ 5 − 3.0.
        let r = reference(&z, &[], &cfg("min_p=0.05,temperature=4"), 0, 0);
        assert_eq!(kept(&r.truncation), vec![0, 1, 2, 3]);
        let r = reference(&z, &[], &cfg("min_p=0.05,temperature=4,temperature_position=last"), 0, 0);
        assert_eq!(kept(&r.truncation), vec![1, 2]);
    }
}
