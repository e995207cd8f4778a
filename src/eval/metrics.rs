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
/// the tasks given as (n, c); empty when there are no tasks or a task has no samples. Each
/// task's n may differ: its own n enters its estimator. One pass per task: the miss
/// probability C(n−c, k)/C(n, k) = Π_{i<k} (n−c−i)/(n−i) grows by one factor a step, so the
/// curve costs O(n) per task, not the O(n·c) of calling `pass_at_k` at every k (10,000
/// samples a task are imported, see `import`).
pub fn pass_at_k_curve(counts: &[(u32, u32)]) -> Vec<f64> {
    let n = counts.iter().map(|&(n, _)| n).min().unwrap_or(0) as usize;
    let mut sum = vec![0.0; n];
    for &(nt, c) in counts {
        if c > nt {
            continue;
        }
        let (nt, wrong) = (nt as f64, (nt - c) as f64);
        let mut miss = 1.0;
        for (i, s) in sum.iter_mut().enumerate() {
            // Reaches exactly 0 once k exceeds the wrong samples, and stays there.
            miss *= (wrong - i as f64).max(0.0) / (nt - i as f64);
            *s += 1.0 - miss;
        }
    }
    sum.iter().map(|s| s / counts.len() as f64).collect()
}

/// The most frequent answer among `answers` in the order given; `None` entries (nothing
/// extracted) do not vote. Ties go to the answer whose first vote came first. Returns the
/// position of the winner's first vote, or None when nobody voted.
pub fn majority_vote<T: PartialEq>(answers: impl IntoIterator<Item = Option<T>>) -> Option<usize> {
    // (answer, votes, position of its first vote), in order of first appearance.
    let mut tally: Vec<(T, u32, usize)> = Vec::new();
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

/// A vote packed in a u32, as an import keeps every sample's: `code >> 1` is 0 when nothing
/// was extracted, else 1 + the index of the answer among the task's distinct answers;
/// `code & 1` is whether the sample passed.
pub type VoteCode = u32;

/// `votes` packed as `VoteCode`s, answers numbered in order of first appearance.
pub fn encode_votes(votes: &[Vote]) -> Vec<VoteCode> {
    let mut seen: Vec<&str> = Vec::new();
    votes
        .iter()
        .map(|&(a, pass)| {
            let id = a.map_or(0, |a| match seen.iter().position(|s| *s == a) {
                Some(i) => i + 1,
                None => {
                    seen.push(a);
                    seen.len()
                }
            });
            ((id as u32) << 1) | pass as u32
        })
        .collect()
}

/// Majority-vote accuracy against k = 1..=n, averaged over tasks (n: the smallest sample
/// count); see `majority_vote_curve_coded`.
pub fn majority_vote_curve(tasks: &[Vec<Vote>], subsets: u32, seed: u64) -> Vec<f64> {
    let coded: Vec<Vec<VoteCode>> = tasks.iter().map(|v| encode_votes(v)).collect();
    let refs: Vec<&[VoteCode]> = coded.iter().map(Vec::as_slice).collect();
    majority_vote_curve_coded(&refs, subsets, seed)
}

/// The most steps (one sample added to one random order) the random orders of one curve
/// take before fewer orders are drawn: 500 tasks × 10,000 samples at 100 orders would be
/// 5·10^8 steps, seconds; the curve's error over that many tasks is small at 10 orders.
pub const VOTE_STEPS: u64 = 1 << 25;

/// The fewest random orders a curve draws, whatever its size.
pub const MIN_ORDERS: u32 = 10;

/// Majority-vote accuracy against k = 1..=n, averaged over tasks (n: the smallest sample
/// count). At each k, a task scores the expected accuracy of the vote over a uniformly
/// random k-subset of its own samples (taken in sample order, so a tie goes to the tied
/// answer with the lowest sample index — for exchangeable samples a fair pick among them):
/// - exactly, by enumerating every subset, when there are at most `subsets` of them (so
///   always at k = n for the task with the fewest samples), and at k = 1 (the share of
///   samples that extracted an answer and passed);
/// - otherwise as the mean over random orders of the task's samples: the first k of a
///   uniformly random order are a uniformly random k-subset, so one order scores every k at
///   once, O(n) per order where drawing subsets per k would cost O(n²). `subsets` orders,
///   fewer (never below `MIN_ORDERS`) when tasks × n × subsets passes `VOTE_STEPS`. They are
///   drawn from `seed` and the task's position, so the curve is reproducible.
///
/// The vote is right when the winner's first sample in the subset passed (for the
/// verifiers here equal extractions pass or fail together).
pub fn majority_vote_curve_coded(tasks: &[&[VoteCode]], subsets: u32, seed: u64) -> Vec<f64> {
    let n = tasks.iter().map(|t| t.len()).min().unwrap_or(0);
    if n == 0 {
        return Vec::new();
    }
    let subsets = subsets.max(1);
    let steps_per_order = (tasks.len() as u64 * n as u64).max(1);
    let orders = ((VOTE_STEPS / steps_per_order).min(subsets as u64) as u32).max(MIN_ORDERS.min(subsets));
    let mut sum = vec![0.0; n];
    for (t, codes) in tasks.iter().enumerate() {
        for (s, v) in sum.iter_mut().zip(task_vote_curve(codes, n, subsets, orders, seed, t)) {
            *s += v;
        }
    }
    sum.iter().map(|s| s / tasks.len() as f64).collect()
}

/// One task's vote accuracy for k = 1..=kmax (see `majority_vote_curve_coded`).
fn task_vote_curve(codes: &[VoteCode], kmax: usize, subsets: u32, orders: u32, seed: u64, t: usize) -> Vec<f64> {
    let len = codes.len();
    let exact = |k: usize| binomial_at_most(len, k, subsets as f64);
    let mut wins = vec![0u32; kmax];
    if (2..=kmax).any(|k| !exact(k)) {
        random_orders(codes, kmax, orders, &mut SplitMix::keyed(&[seed, t as u64, u64::MAX]), &mut wins);
    }
    (1..=kmax)
        .map(|k| {
            if k == 1 {
                codes.iter().filter(|&&c| c >> 1 != 0 && c & 1 == 1).count() as f64 / len as f64
            } else if exact(k) {
                let (mut score, mut count) = (0u64, 0u64);
                for_each_combination(len, k, &mut |idx| {
                    score += coded_winner(codes, idx).map_or(0, |w| codes[w] & 1) as u64;
                    count += 1;
                });
                score as f64 / count as f64
            } else {
                wins[k - 1] as f64 / orders as f64
            }
        })
        .collect()
}

/// The sample whose answer wins the vote among `idx` (in order): the most votes, ties to
/// the answer seen first; its first sample in `idx`. None when nobody voted.
fn coded_winner(codes: &[VoteCode], idx: &[usize]) -> Option<usize> {
    let w = majority_vote(idx.iter().map(|&i| codes[i] >> 1).map(|a| (a != 0).then_some(a)))?;
    Some(idx[w])
}

/// Adds, for each k ≤ kmax, how many of `orders` random orders of the samples have a
/// passing winner among their first k. The leader is kept as samples arrive: only the
/// answer that just got a vote can overtake it (more votes, or as many and a lower first
/// sample index, the tie rule of a subset read in sample order).
fn random_orders(codes: &[VoteCode], kmax: usize, orders: u32, rng: &mut SplitMix, wins: &mut [u32]) {
    let answers = codes.iter().map(|&c| (c >> 1) as usize).max().unwrap_or(0) + 1;
    let mut perm: Vec<u32> = (0..codes.len() as u32).collect();
    let (mut count, mut first) = (vec![0u32; answers], vec![u32::MAX; answers]);
    for _ in 0..orders {
        count.fill(0);
        first.fill(u32::MAX);
        let mut leader = 0usize;
        for (i, win) in wins.iter_mut().enumerate().take(kmax) {
            // Fisher–Yates, one position at a time: perm[..=i] is a random (i+1)-subset.
            let j = i + below(rng, (codes.len() - i) as u64) as usize;
            perm.swap(i, j);
            let s = perm[i];
            let a = (codes[s as usize] >> 1) as usize;
            if a != 0 {
                count[a] += 1;
                first[a] = first[a].min(s);
                if a != leader
                    && (leader == 0
                        || count[a] > count[leader]
                        || (count[a] == count[leader] && first[a] < first[leader]))
                {
                    leader = a;
                }
            }
            if leader != 0 {
                *win += codes[first[leader] as usize] & 1;
            }
        }
    }
}

/// Uniform in 0..n by a multiply-high (no division in the inner loop; bias below n/2^64).
fn below(rng: &mut SplitMix, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}

/// C(n, k) as a float (the tests' reference for `binomial_at_most`).
#[cfg(test)]
fn binomial(n: usize, k: usize) -> f64 {
    (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product()
}

/// Whether C(n, k) ≤ bound, in O(1) steps for a small bound: the partial products of
/// C(n, min(k, n − k)) only grow, so the first one past the bound decides.
fn binomial_at_most(n: usize, k: usize, bound: f64) -> bool {
    let k = k.min(n - k);
    let mut c = 1.0;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
        if c > bound {
            return false;
        }
    }
    true
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
        for (n, k) in [(32, 2), (10, 5), (12, 11), (7, 0), (100, 3)] {
            assert_eq!(binomial_at_most(n, k, 500.0), binomial(n, k) <= 500.0, "C({n},{k})");
        }
    }

    #[test]
    fn random_orders_agree_with_enumeration_and_its_tie_rule() {
        // Right answer "1" at samples 0..5, wrong "2" at 5..10, nothing at 10 and 11: ties
        // are frequent and go to "1" (lower index), so a wrong tie rule would shift every
        // even k by about half the tie probability.
        let codes: Vec<VoteCode> = (0..12)
            .map(|i| {
                if i < 5 {
                    3
                } else if i < 10 {
                    4
                } else {
                    0
                }
            })
            .collect();
        let exact = task_vote_curve(&codes, 12, 10_000, 10_000, 0, 0);
        let orders = 20_000;
        let sampled = task_vote_curve(&codes, 12, 1, orders, 0, 0);
        assert_eq!(exact[0], 5.0 / 12.0);
        assert_eq!(sampled[0], exact[0], "k = 1 is exact either way");
        assert_eq!(sampled[11], 1.0, "all 12: 5–5, the tie goes to sample 0's answer");
        // 4σ of a mean of 20,000 votes is below 0.015.
        for k in 2..12 {
            assert!((sampled[k - 1] - exact[k - 1]).abs() < 0.015, "k={k}: {} vs {}", sampled[k - 1], exact[k - 1]);
        }
        assert!(exact[1] > 0.5, "ties favour \"1\": {exact:?}");
    }
}
