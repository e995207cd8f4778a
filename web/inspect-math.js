// The inspector's view of one step, in one shape whatever its source: `fromEngine` maps
// the engine's own record (the GPU sampler chain's thresholds and the top candidates),
// `analyzeStep` computes the same from raw logits with DESIGN.md's semantics ("Sampler
// semantics", steps 1–8) when a run did not record distributions. Pure functions over
// arrays: no DOM, no engine, so the tests run them under node.
//
// Every truncation keeps the tokens whose (scaled) logit z' is at or above some cut-off, so
// each active sampler is summarized by its cut-off logit and, for the chart, the matching
// probability under the distribution the truncation sees, p_i = softmax(z')_i.

import { PENALTY_LAST_N } from './config.js';

/**
 * @param {Float32Array|number[]} logits  raw logits for one step, length V
 * @param {object} opt
 * @param {number} opt.temperature        the lane's effective temperature (0: greedy)
 * @param {'first'|'last'} opt.position   where temperature applies
 * @param {object} opt.samplers           {top_k, top_p, min_p, top_n_sigma, repetition_penalty}
 * @param {number[]} [opt.history]        prompt + generated ids before this step (for the penalty)
 * @param {number} [opt.topN]             how many candidates to return (default 24)
 * @param {number} [opt.bins]             histogram bins (default 48)
 * @returns {{candidates, thresholds, survivors, vocab, histogram, greedy}}
 */
export function analyzeStep(logits, opt) {
  const V = logits.length;
  const s = opt.samplers ?? {};
  const T = opt.temperature;
  const topN = opt.topN ?? 24;
  const z = Float64Array.from(logits);

  // 1. repetition penalty over the distinct tokens of the last N of the history.
  const r = s.repetition_penalty;
  if (r !== undefined && r !== null && r !== 1) {
    const seen = new Set((opt.history ?? []).slice(-PENALTY_LAST_N));
    for (const id of seen) {
      if (id >= 0 && id < V) z[id] = z[id] > 0 ? z[id] / r : z[id] * r;
    }
  }
  const greedy = T === 0;
  // 3. temperature first: the truncations see z / T. (Greedy and "last" see z itself.)
  if (!greedy && opt.position !== 'last') for (let i = 0; i < V; i++) z[i] /= T;

  const alive = new Uint8Array(V).fill(1);
  const thresholds = [];
  const cut = (key, label, zmin) => {
    let kept = 0;
    for (let i = 0; i < V; i++) {
      if (alive[i] && z[i] < zmin) alive[i] = 0;
      kept += alive[i];
    }
    thresholds.push({ key, label, logit: zmin, kept });
  };
  const maxAlive = () => {
    let m = -Infinity;
    for (let i = 0; i < V; i++) if (alive[i] && z[i] > m) m = z[i];
    return m;
  };

  if (greedy) {
    // 2. argmax, ties to the lowest id: one survivor.
    let best = 0;
    for (let i = 1; i < V; i++) if (z[i] > z[best]) best = i;
    alive.fill(0);
    alive[best] = 1;
    thresholds.push({ key: 'greedy', label: 'greedy (argmax)', logit: z[best], kept: 1 });
  } else {
    const on = (k) => s[k] !== undefined && s[k] !== null;
    // 4. top-nσ: z ≥ max − n·σ, σ the population std of the logits in play.
    if (on('top_n_sigma')) {
      let n = 0, mean = 0, m2 = 0;
      for (let i = 0; i < V; i++) {
        if (!alive[i]) continue;
        n++;
        const d = z[i] - mean;
        mean += d / n;
        m2 += d * (z[i] - mean);
      }
      const sigma = Math.sqrt(m2 / n);
      cut('top_n_sigma', `top-nσ ${s.top_n_sigma}`, maxAlive() - s.top_n_sigma * sigma);
    }
    // 5. top-k: exactly k survive (z desc, then id asc).
    if (on('top_k')) {
      const order = aliveOrder(z, alive);
      const k = Math.min(s.top_k, order.length);
      for (let j = k; j < order.length; j++) alive[order[j]] = 0;
      thresholds.push({ key: 'top_k', label: `top-k ${s.top_k}`, logit: z[order[k - 1]], kept: k });
    }
    // 6. top-p: q = softmax over survivors; keep q ≥ τ*, τ* the q of the token that crosses p.
    if (on('top_p')) {
      const order = aliveOrder(z, alive);
      const lse = logSumExp(z, alive);
      let acc = 0;
      let zStar = z[order[order.length - 1]];
      for (const i of order) {
        acc += Math.exp(z[i] - lse);
        if (acc >= s.top_p) {
          zStar = z[i];
          break;
        }
      }
      cut('top_p', `top-p ${s.top_p}`, zStar);
    }
    // 7. min-p: z ≥ max(z) + ln(m), inclusive.
    if (on('min_p')) cut('min_p', `min-p ${s.min_p}`, maxAlive() + Math.log(s.min_p));
  }

  // Probabilities before truncation, softmax(z / T) over the whole vocabulary as the
  // engine's inspector reports them, and after it (8. "last" scales the survivors by 1/T;
  // softmax over them).
  const tLast = !greedy && opt.position === 'last' ? T : 1;
  const zz = tLast === 1 ? z : z.map((v) => v / tLast);
  const lseAll = logSumExp(zz, null);
  const post = new Float64Array(V);
  if (greedy) {
    post[alive.indexOf(1)] = 1;
  } else {
    const lseSurv = logSumExp(zz, alive);
    for (let i = 0; i < V; i++) post[i] = alive[i] ? Math.exp(zz[i] - lseSurv) : 0;
  }
  let survivors = 0;
  for (let i = 0; i < V; i++) survivors += alive[i];

  const top = topIndices(z, topN);
  const candidates = top.map((id, rank) => ({
    id,
    rank,
    logit: logits[id],
    z: z[id],
    pre: Math.exp(zz[id] - lseAll),
    post: post[id],
    survivor: alive[id] === 1,
  }));
  for (const t of thresholds) t.prob = Math.exp(t.logit / tLast - lseAll);
  return { candidates, thresholds, survivors, vocab: V, greedy, histogram: histogram(z, opt.bins ?? 48) };
}

/** Ids still alive, by z descending then id ascending. */
function aliveOrder(z, alive) {
  const ids = [];
  for (let i = 0; i < z.length; i++) if (alive[i]) ids.push(i);
  return ids.sort((a, b) => z[b] - z[a] || a - b);
}

/** log Σ exp(z_i) over the alive ids (all when alive is null). */
export function logSumExp(z, alive) {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) if ((!alive || alive[i]) && z[i] > m) m = z[i];
  if (m === -Infinity) return m;
  let s = 0;
  for (let i = 0; i < z.length; i++) if (!alive || alive[i]) s += Math.exp(z[i] - m);
  return m + Math.log(s);
}

/** The n largest ids by z (ties: lower id first), without sorting the whole vocabulary. */
export function topIndices(z, n) {
  const best = []; // ids, z descending
  for (let i = 0; i < z.length; i++) {
    if (!(z[i] > -Infinity)) continue; // NaN and −∞ are never candidates
    if (best.length === n && !(z[i] > z[best[n - 1]])) continue; // ties keep the lower id
    let j = best.length < n ? best.length : n - 1;
    while (j > 0 && z[best[j - 1]] < z[i]) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** Equal-width histogram of the finite values: {edges: [lo..hi] (bins+1), counts}. */
export function histogram(z, bins) {
  let lo = Infinity, hi = -Infinity;
  for (const v of z) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return { edges: [], counts: [] };
  if (hi === lo) hi = lo + 1;
  const w = (hi - lo) / bins;
  const counts = new Array(bins).fill(0);
  for (const v of z) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * w);
  return { edges, counts };
}

/**
 * The engine's inspection of one token (web.rs `inspection`: candidates with working
 * logits and probabilities before/after truncation, the record's thresholds as working
 * logits, a histogram) in analyzeStep's shape, for a lane with `opt.temperature`,
 * `opt.position` and `opt.samplers`.
 */
export function fromEngine(ins, opt) {
  const r = ins.record;
  const greedy = r.greedy;
  const tLast = !greedy && opt.position === 'last' ? opt.temperature : 1;
  // prob_before(w) = exp((w − max) / tLast) / S, and the top candidate has w = max.
  const top = ins.candidates[0];
  const prob = (w) => Math.exp((w - r.maxLogit) / tLast) * (top ? top.pre : 1);
  const s = opt.samplers ?? {};
  const thresholds = [];
  if (greedy) thresholds.push({ key: 'greedy', label: 'greedy (argmax)', logit: r.maxLogit });
  const add = (key, label, w) => { if (w !== null && w !== undefined) thresholds.push({ key, label, logit: w }); };
  add('top_n_sigma', `top-nσ ${s.top_n_sigma}`, r.sigma);
  add('top_k', `top-k ${s.top_k}`, r.topK);
  add('top_p', `top-p ${s.top_p}`, r.topP);
  add('min_p', `min-p ${s.min_p}`, r.minP);
  for (const t of thresholds) t.prob = prob(t.logit);
  const candidates = ins.candidates.map((c, rank) => ({
    id: c.id, rank, logit: c.logit, z: c.logit, pre: c.pre, post: c.post, survivor: c.survivor,
  }));
  const counts = Array.from(ins.histogram);
  const w = (ins.histHi - ins.histLo) / Math.max(1, counts.length);
  const edges = Array.from({ length: counts.length + 1 }, (_, i) => ins.histLo + i * w);
  return { candidates, thresholds, survivors: ins.survivors, vocab: r.inPlay, greedy, histogram: { edges, counts }, keptMass: ins.keptMass };
}
