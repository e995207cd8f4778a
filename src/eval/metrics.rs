//! The lab's statistics: pass@k (the unbiased estimator of the Codex paper), majority-vote
//! accuracy against k, and the exponentiated power law c(k) ≈ exp(a·k^b) fitted to a
//! coverage curve (Large Language Monkeys).

use serde::Serialize;

use super::rng::SplitMix;

/// pass@k of one task with `c` correct among `n` samples: the probability that k samples
/// drawn without replacement from the n include a correct one, 1 − C(n−c, k)/C(n, k).
/// Computed as 1 − Π_{i=n−c+1..n} (1 − k/i), which never forms a binomial, so it stays
/// exact to rounding for any n. None when k is not in 1..=n or c > n.
pub fn pass_at_k(n: u32, c: u32, k: u32) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        // Fewer wrong samples than k: every k-subset holds a correct one.
        return Some(1.0);
    }
    let miss: f64 = (n - c + 1..=n).map(|i| 1.0 - k as f64 / i as f64).product();
    Some(1.0 - miss)
}

/// pass@k averaged over tasks, for k = 1..=n where n is the smallest sample count among
/// the tasks given as (n, c); empty when there are no tasks or a task has no samples.
pub fn pass_at_k_curve(counts: &[(u32, u32)]) -> Vec<f64> {
    let n = counts.iter().map(|&(n, _)| n).min().unwrap_or(0);
    (1..=n)
        .map(|k| counts.iter().map(|&(n, c)| pass_at_k(n, c, k).unwrap_or(0.0)).sum::<f64>() / counts.len() as f64)
        .collect()
}

/// The most frequent answer among `answers` in the order given; `None` entries (nothing
/// extracted) do not vote. Ties go to the answer whose first vote came first. Returns the
/// position of the winner's first vote, or None when nobody voted.
pub fn majority_vote<'a>(answers: impl IntoIterator<Item = Option<&'a str>>) -> Option<usize> {
    // (answer, votes, position of its first vote), in order of first appearance.
    let mut tally: Vec<(&str, u32, usize)> = Vec::new();
    for (pos, a) in answers.into_iter().enumerate() {
        let Some(a) = a else { continue };
        match tally.iter_mut().find(|t| t.0 == a) {
            Some(t) => t.1 += 1,
            None => tally.push((a, 1, pos)),
        }
    }
    // max_by_key keeps the last maximum, so walk from the back to keep the first.
    tally.iter().rev().max_by_key(|t| t.1).map(|t| t.2)
}

/// One sample as the vote sees it: its extracted answer and whether it passed.
pub type Vote<'a> = (Option<&'a str>, bool);

/// Majority-vote accuracy against k = 1..=n, averaged over tasks (n: the smallest sample
/// count). At each k, a task scores the expected accuracy of the vote over a uniformly
/// random k-subset of its samples (taken in sample order, so a tie goes to the tied answer
/// with the lowest sample index — for exchangeable samples a fair pick among them):
/// exactly, by enumerating every subset, when there are at most `subsets` of them (always
/// at k = 1 and k = n for n ≤ subsets); otherwise as the mean over `subsets` random
/// subsets drawn from `seed`, the task's position and k, so the curve is reproducible.
/// The vote is right when the winner's sample passed (for the verifiers here equal
/// extractions pass or fail together).
pub fn majority_vote_curve(tasks: &[Vec<Vote>], subsets: u32, seed: u64) -> Vec<f64> {
    let n = tasks.iter().map(Vec::len).min().unwrap_or(0);
    let subsets = subsets.max(1);
    (1..=n)
        .map(|k| {
            let total: f64 = tasks
                .iter()
                .enumerate()
                .map(|(t, votes)| {
                    let mut score = 0.0;
                    let mut count = 0u64;
                    let mut tally = |idx: &[usize]| {
                        let winner = majority_vote(idx.iter().map(|&i| votes[i].0));
                        score += winner.map_or(0.0, |w| votes[idx[w]].1 as u8 as f64);
                        count += 1;
                    };
                    if binomial(votes.len(), k) <= subsets as f64 {
                        for_each_combination(votes.len(), k, &mut tally);
                    } else {
                        let mut rng = SplitMix::keyed(&[seed, t as u64, k as u64]);
                        for _ in 0..subsets {
                            tally(&random_subset(&mut rng, votes.len(), k));
                        }
                    }
                    score / count as f64
                })
                .sum();
            total / tasks.len() as f64
        })
        .collect()
}

/// C(n, k) as a float (only compared against a small bound, so rounding does not matter).
fn binomial(n: usize, k: usize) -> f64 {
    (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product()
}

/// Calls `f` with every k-subset of 0..n in lexicographic order.
fn for_each_combination(n: usize, k: usize, f: &mut impl FnMut(&[usize])) {
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        f(&idx);
        // Advance the rightmost index that still has room, reset the ones after it.
        let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) else { return };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// A uniformly random k-subset of 0..n (partial Fisher–Yates), sorted.
fn random_subset(rng: &mut SplitMix, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.range(i as u64, n as u64 - 1) as usize;
        all.swap(i, j);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

// The fit's logarithms and exponentials come from the `libm` crate, not the platform's
// math library: glibc and the wasm build's libm differ in the last bit of `ln`/`exp`, and
// the page must report the same numbers as the CLI, bit for bit.

/// c(k) ≈ exp(a·k^b) fitted to a coverage curve. For a curve that rises toward 1, a < 0
/// and b < 0; r2 is the coefficient of determination of the straight-line fit
/// log(−log c) = log(−a) + b·log k, over the `points` used.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PowerLawFit {
    pub a: f64,
    pub b: f64,
    pub r2: f64,
    pub points: usize,
}

impl PowerLawFit {
    pub fn predict(&self, k: f64) -> f64 {
        libm::exp(self.a * libm::pow(k, self.b))
    }
}

/// Least squares of log(−log c) on log k over the points (k, c) with k > 0 and 0 < c < 1.
/// The others carry no information about the law: c = 0 (never solved) and c = 1 (already
/// saturated) have no finite log(−log c). None when fewer than two such points remain or
/// they all share one k. When all the used points have the same c the line is flat: b = 0,
/// a = log c, and r2 = 1 (the fit is exact; the usual formula would divide 0 by 0).
pub fn power_law_fit(points: &[(f64, f64)]) -> Option<PowerLawFit> {
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter(|&&(k, c)| k > 0.0 && c > 0.0 && c < 1.0 && k.is_finite())
        .map(|&(k, c)| (libm::log(k), libm::log(-libm::log(c))))
        .collect();
    let m = xy.len() as f64;
    if xy.len() < 2 {
        return None;
    }
    let (mx, my) = (xy.iter().map(|p| p.0).sum::<f64>() / m, xy.iter().map(|p| p.1).sum::<f64>() / m);
    let sxx: f64 = xy.iter().map(|p| sq(p.0 - mx)).sum();
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = xy.iter().map(|p| sq(p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let intercept = my - b * mx;
    let ss_res: f64 = xy.iter().map(|p| sq(p.1 - intercept - b * p.0)).sum();
    let r2 = if syy == 0.0 { 1.0 } else { 1.0 - ss_res / syy };
    Some(PowerLawFit { a: -libm::exp(intercept), b, r2, points: xy.len() })
}

fn sq(x: f64) -> f64 {
    x * x
}

/// The fit of a pass@k curve indexed from k = 1.
pub fn fit_curve(curve: &[f64]) -> Option<PowerLawFit> {
    let pts: Vec<(f64, f64)> = curve.iter().enumerate().map(|(i, &c)| ((i + 1) as f64, c)).collect();
    power_law_fit(&pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_all_there_once() {
        let mut seen = Vec::new();
        for_each_combination(5, 3, &mut |c| seen.push(c.to_vec()));
        assert_eq!(seen.len(), 10);
        assert_eq!(seen[0], [0, 1, 2]);
        assert_eq!(seen[9], [2, 3, 4]);
        let mut one = 0;
        for_each_combination(4, 4, &mut |_| one += 1);
        assert_eq!(one, 1);
        assert_eq!(binomial(32, 2), 496.0);
    }

    #[test]
    fn random_subsets_are_sorted_and_distinct() {
        let mut rng = SplitMix::keyed(&[1]);
        for _ in 0..100 {
            let s = random_subset(&mut rng, 10, 4);
            assert!(s.windows(2).all(|w| w[0] < w[1]) && s.len() == 4 && s[3] < 10);
        }
    }
}
