//! The inspector's view of one lane's step, computed on the CPU from what the GPU chain
//! left: the lane's (penalized) logits row, its survivor set and its record.

use serde::Serialize;

use super::lane::{flags, LaneParams, LaneRecord};

/// Bins of the logit histogram.
pub const HIST_BINS: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub id: u32,
    /// The token's decoded piece (filled by the engine, which holds the tokenizer).
    pub text: String,
    /// Working logit (penalized, divided by T when the temperature goes first).
    pub logit: f32,
    /// softmax(z / T) over every token in play: the distribution without truncation.
    pub prob_before: f64,
    /// The distribution the token was drawn from (0 for tokens truncated away).
    pub prob_after: f64,
    pub kept: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub lane: u32,
    pub record: LaneRecord,
    /// The highest working logits, (logit desc, id asc), at most 64.
    pub candidates: Vec<Candidate>,
    /// Counts of the working logits in play over [hist_lo, hist_hi] (the min and max).
    pub histogram: Vec<u32>,
    pub hist_lo: f32,
    pub hist_hi: f32,
    pub survivors: u32,
    /// The untruncated probability of the survivors (Σ prob_before over them).
    pub kept_mass: f64,
    /// The cut-offs that applied, in chain order.
    pub thresholds: Vec<Threshold>,
    /// The picked token's probability and surprise and the step's entropy (the lab's heat).
    pub heat: Heat,
}

/// How likely the picked token was and how uncertain the step: all under the lane's
/// untruncated distribution (`prob_before`: softmax of the working logits at the lane's
/// temperature, penalties applied; T = 1 for greedy), so a greedy lane has heat too.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Heat {
    /// The picked token's `prob_before`.
    pub prob: f64,
    /// −log₂ `prob`, in bits.
    pub surprise_bits: f64,
    /// −Σ p log₂ p over every token in play, in bits.
    pub entropy_bits: f64,
    /// The argmax of the working logits (ties → lowest id): what greedy would pick here.
    pub argmax: u32,
}

/// One truncation's cut-off: survivors have a working logit ≥ `logit`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    /// "greedy", "top_n_sigma", "top_k", "top_p" or "min_p" (the SamplerConfig names).
    pub key: &'static str,
    pub logit: f32,
    /// The untruncated probability (as `prob_before`) of a token at that logit.
    pub prob: f64,
}

pub fn inspect_row(z: &[f32], mask: &[bool], p: &LaneParams, record: LaneRecord, lane: u32, top: usize) -> Inspection {
    let greedy = p.has(flags::GREEDY);
    let w: Vec<f32> = z.iter().map(|&v| v / p.t_first).collect();
    let t_last = p.t_last as f64;
    let play: Vec<usize> = (0..w.len()).filter(|&i| w[i].is_finite()).collect();
    let (lo, hi) = play.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &i| (a.min(w[i]), b.max(w[i])));
    let e = |i: usize| ((w[i] as f64 - hi as f64) / t_last).exp();
    let before_sum: f64 = play.iter().map(|&i| e(i)).sum();
    let after_sum: f64 = play.iter().filter(|&&i| mask[i]).map(|&i| e(i)).sum();
    let prob_after = |i: usize| {
        if !mask[i] {
            0.0
        } else if greedy {
            1.0
        } else {
            e(i) / after_sum
        }
    };
    let mut order = play.clone();
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    let candidates = order
        .iter()
        .take(top)
        .map(|&i| Candidate {
            id: i as u32,
            text: String::new(),
            logit: w[i],
            prob_before: e(i) / before_sum,
            prob_after: prob_after(i),
            kept: mask[i],
        })
        .collect();
    let entropy_bits = -play.iter().map(|&i| e(i) / before_sum).filter(|&q| q > 0.0).map(|q| q * q.log2()).sum::<f64>();
    let token = record.token as usize;
    let prob = if token < w.len() && w[token].is_finite() { e(token) / before_sum } else { 0.0 };
    let heat = Heat { prob, surprise_bits: -prob.log2(), entropy_bits, argmax: order.first().map_or(0, |&i| i as u32) };
    let mut histogram = vec![0u32; HIST_BINS];
    let span = (hi - lo) as f64;
    for &i in &play {
        let b = if span > 0.0 { (((w[i] - lo) as f64 / span) * HIST_BINS as f64) as usize } else { 0 };
        histogram[b.min(HIST_BINS - 1)] += 1;
    }
    let cuts = [
        ("greedy", greedy.then_some(record.max_logit)),
        ("top_n_sigma", record.sigma_threshold()),
        ("top_k", record.top_k_cut().map(|(v, _)| v)),
        ("top_p", record.top_p_threshold()),
        ("min_p", record.min_p_threshold()),
    ];
    let thresholds = cuts
        .into_iter()
        .filter_map(|(key, w)| w.map(|w| (key, w)))
        .map(|(key, w)| Threshold { key, logit: w, prob: ((w as f64 - hi as f64) / t_last).exp() / before_sum })
        .collect();
    Inspection {
        thresholds,
        lane,
        record,
        candidates,
        histogram,
        hist_lo: lo,
        hist_hi: hi,
        survivors: mask.iter().filter(|&&k| k).count() as u32,
        kept_mass: after_sum / before_sum,
        heat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SamplerConfig;

    #[test]
    fn probabilities_and_histogram() {
        let z = [2.0, 0.0, 2.0, f32::NEG_INFINITY, -2.0];
        let mask = [true, true, true, false, false];
        let p = LaneParams::new(&SamplerConfig::parse("temperature=2").unwrap(), 0).unwrap();
        let ins = inspect_row(&z, &mask, &p, LaneRecord::default(), 0, 3);
        // w = z / 2 = [1, 0, 1, -inf, -1].
        assert_eq!(ins.candidates.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 2, 1]);
        let sum_before: f64 = [1.0f64, 0.0, 1.0, -1.0].iter().map(|v| v.exp()).sum();
        assert!((ins.candidates[0].prob_before - 1f64.exp() / sum_before).abs() < 1e-12);
        let sum_after: f64 = [1.0f64, 0.0, 1.0].iter().map(|v| v.exp()).sum();
        assert!((ins.candidates[2].prob_after - 1.0 / sum_after).abs() < 1e-12);
        assert_eq!(ins.histogram.iter().sum::<u32>(), 4);
        assert_eq!((ins.hist_lo, ins.hist_hi), (-1.0, 1.0));
        assert_eq!((ins.histogram[0], ins.histogram[32], ins.histogram[63]), (1, 1, 2));
        assert_eq!(ins.survivors, 3);
    }

    #[test]
    fn heat_is_the_picked_tokens_untruncated_probability_and_the_steps_entropy() {
        let z = [2.0, 0.0, 2.0, f32::NEG_INFINITY, -2.0];
        let mask = [true, true, false, false, false];
        let p = LaneParams::new(&SamplerConfig::parse("temperature=2,top_k=2").unwrap(), 0).unwrap();
        let record = LaneRecord { token: 1, ..LaneRecord::default() };
        let ins = inspect_row(&z, &mask, &p, record, 0, 5);
        let w = [1.0f64, 0.0, 1.0, -1.0];
        let sum: f64 = w.iter().map(|v| v.exp()).sum();
        let q: Vec<f64> = w.iter().map(|v| v.exp() / sum).collect();
        assert!((ins.heat.prob - q[1]).abs() < 1e-12);
        assert_eq!(ins.heat.prob, ins.candidates.iter().find(|c| c.id == 1).unwrap().prob_before);
        assert!((ins.heat.surprise_bits + q[1].log2()).abs() < 1e-12);
        let h: f64 = -q.iter().map(|x| x * x.log2()).sum::<f64>();
        assert!((ins.heat.entropy_bits - h).abs() < 1e-12);
        assert_eq!(ins.heat.argmax, 0, "ties go to the lowest id");
        // A picked token outside what is in play has probability 0 and infinite surprise.
        let ins = inspect_row(&z, &mask, &p, LaneRecord { token: 3, ..LaneRecord::default() }, 0, 5);
        assert_eq!((ins.heat.prob, ins.heat.surprise_bits), (0.0, f64::INFINITY));
    }
}
