// @ts-check
// What the inspector shows for one token, from the engine's Inspection of that step (the
// GPU sampler chain's own candidates, cut-offs and histogram, recorded during the run or
// recomputed for the step: the same object either way). Nothing here samples or truncates:
// it only names the cut-offs after the lane's settings and turns the histogram's range into
// bin edges. Pure, so node's tests import it.

/** @typedef {import('../pkg/samplescope.js').Inspection} Inspection */
/** @typedef {import('../pkg/samplescope.js').ThresholdKey} ThresholdKey */
/** @typedef {import('./config.js').LaneConfig} LaneConfig */

/**
 * @typedef {object} ViewCandidate
 * @property {number} id
 * @property {number} rank     0 for the most likely
 * @property {string} text     the token's piece
 * @property {number} logit    working logit
 * @property {number} pre      probability before truncation
 * @property {number} post     probability after truncation (0 when cut)
 * @property {boolean} survivor
 */

/**
 * @typedef {object} ViewThreshold
 * @property {ThresholdKey} key
 * @property {string} label    e.g. "top-k 40", from the lane's settings
 * @property {number} logit    the working-logit cut-off
 * @property {number} prob     the untruncated probability of a token at the cut-off
 */

/**
 * @typedef {object} InspectorView
 * @property {ViewCandidate[]} candidates
 * @property {ViewThreshold[]} thresholds  in chain order; 'greedy' is the argmax
 * @property {number} survivors
 * @property {number} vocab      tokens in play before truncation
 * @property {boolean} greedy
 * @property {{edges: number[], counts: number[]}} histogram  counts.length + 1 edges
 * @property {number} keptMass   the survivors' share of the probability
 * @property {'engine' | 'recomputed'} source  recorded during the run, or recomputed for the step
 */

/**
 * A threshold's label from the lane's setting for it.
 * @param {ThresholdKey} key
 * @param {Record<string, number | null | undefined>} samplers
 */
export function thresholdLabel(key, samplers) {
  const v = samplers[key];
  const with_ = (/** @type {string} */ name) => (v === undefined || v === null ? name : `${name} ${v}`);
  switch (key) {
    case 'greedy': return 'greedy (argmax)';
    case 'top_n_sigma': return with_('top-nσ');
    case 'top_k': return with_('top-k');
    case 'top_p': return with_('top-p');
    case 'min_p': return with_('min-p');
    default: return String(key);
  }
}

/**
 * Equal-width bin edges for `bins` bins over [lo, hi].
 * @param {number} lo
 * @param {number} hi
 * @param {number} bins
 */
export function binEdges(lo, hi, bins) {
  const w = (hi - lo) / Math.max(1, bins);
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * w));
}

/**
 * The inspector's view of an Inspection, for a lane with `lane`'s settings.
 * @param {Inspection} ins
 * @param {LaneConfig} lane
 * @param {'engine' | 'recomputed'} source
 * @returns {InspectorView}
 */
export function inspectorView(ins, lane, source) {
  const samplers = lane.samplers ?? {};
  const counts = Array.from(ins.histogram);
  return {
    candidates: ins.candidates.map((c, rank) => ({
      id: c.id, rank, text: c.text, logit: c.logit, pre: c.prob_before, post: c.prob_after, survivor: c.kept,
    })),
    thresholds: ins.thresholds.map((t) => ({ key: t.key, label: thresholdLabel(t.key, samplers), logit: t.logit, prob: t.prob })),
    survivors: ins.survivors,
    vocab: ins.record.in_play,
    greedy: ins.record.greedy,
    histogram: { edges: binEdges(ins.hist_lo, ins.hist_hi, counts.length), counts },
    keptMass: ins.kept_mass,
    source,
  };
}
