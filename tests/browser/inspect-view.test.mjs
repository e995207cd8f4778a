// What the inspector shows, from the engine's Inspection (web/inspect-view.js), and the
// lab's configuration rules (web/config.js). The sampler chain itself is the engine's,
// tested in Rust; here only the mapping to labels and bin edges. No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binEdges, inspectorView, thresholdLabel } from '../../web/inspect-view.js';
import { DEFAULT_RUN, cloneRun, laneSpec, validateRun } from '../../web/config.js';

/** An Inspection as src/web.rs serializes it (snake_case). */
function inspection() {
  const record = {
    token: 5, survivors: 2, in_play: 49152, max_logit: 2, token_logit: 2, token_prob: 0.5, step: 3, greedy: false,
    sigma: null, top_k: 0.5, top_p: null, min_p: 2 + Math.log(0.1),
  };
  return {
    lane: 1,
    record,
    candidates: [
      { id: 5, text: ' the', logit: 2, prob_before: 0.5, prob_after: 0.7, kept: true },
      { id: 1, text: ' a', logit: 1, prob_before: 0.2, prob_after: 0.3, kept: true },
      { id: 9, text: '<b>', logit: -1, prob_before: 0.02, prob_after: 0, kept: false },
    ],
    histogram: Array.from({ length: 64 }, (_, i) => i % 3),
    hist_lo: -8,
    hist_hi: 8,
    survivors: 2,
    kept_mass: 0.7,
    thresholds: [
      { key: 'top_k', logit: 0.5, prob: 0.11 },
      { key: 'min_p', logit: 2 + Math.log(0.1), prob: 0.05 },
    ],
  };
}

test('the view keeps the engine’s numbers and names each cut-off after the lane', () => {
  const lane = { name: 'mix', temperature: null, samplers: { top_k: 40, min_p: 0.1 } };
  const v = inspectorView(inspection(), lane, 'engine');
  assert.deepEqual(v.thresholds.map((t) => t.label), ['top-k 40', 'min-p 0.1']);
  assert.deepEqual(v.thresholds.map((t) => [t.key, t.logit, t.prob]), [['top_k', 0.5, 0.11], ['min_p', 2 + Math.log(0.1), 0.05]]);
  assert.deepEqual(v.candidates[2], { id: 9, rank: 2, text: '<b>', logit: -1, pre: 0.02, post: 0, survivor: false });
  assert.equal(v.survivors, 2);
  assert.equal(v.vocab, 49152);
  assert.equal(v.keptMass, 0.7);
  assert.equal(v.greedy, false);
  assert.equal(v.source, 'engine');
});

test('histogram edges span [hist_lo, hist_hi] in equal bins', () => {
  const v = inspectorView(inspection(), { name: 'x', samplers: {} }, 'recomputed');
  assert.equal(v.histogram.counts.length, 64);
  assert.equal(v.histogram.edges.length, 65);
  assert.equal(v.histogram.edges[0], -8);
  assert.equal(v.histogram.edges[64], 8);
  assert.equal(v.histogram.edges[32], 0);
  assert.deepEqual(binEdges(1, 2, 4), [1, 1.25, 1.5, 1.75, 2]);
});

test('threshold labels', () => {
  const s = { top_n_sigma: 1.5, top_k: 40, top_p: 0.9, min_p: 0.05 };
  assert.deepEqual(['greedy', 'top_n_sigma', 'top_k', 'top_p', 'min_p'].map((k) => thresholdLabel(k, s)),
    ['greedy (argmax)', 'top-nσ 1.5', 'top-k 40', 'top-p 0.9', 'min-p 0.05']);
  assert.equal(thresholdLabel('top_p', {}), 'top-p', 'a setting the lane lacks leaves the bare name');
});

test('configuration validation names the problem', () => {
  assert.deepEqual(validateRun(cloneRun(DEFAULT_RUN)), []);
  const bad = cloneRun(DEFAULT_RUN);
  bad.lanes[1].samplers = { top_q: 0.5 };
  bad.lanes[2].samplers = { min_p: 2 };
  bad.temperature = -5;
  const errors = validateRun(bad).join('\n');
  assert.match(errors, /unknown sampler "top_q"/);
  assert.match(errors, /min_p = 2: must be in \[0, 1\]/);
  assert.match(errors, /temperature = -5: must be finite and ≥ 0/);
  const hot = cloneRun(DEFAULT_RUN);
  hot.temperature = 5;
  assert.deepEqual(validateRun(hot), [], 'any temperature the engine takes (the slider stops at 3)');
});

test('lane specs in the engine’s text form; the penalty window is the engine’s default', () => {
  const run = { ...cloneRun(DEFAULT_RUN), temperature: 1.5, temperaturePosition: 'last', seed: 7 };
  assert.deepEqual(run.lanes.map((l) => laneSpec(l, run)), [
    'greedy',
    'temperature=1.5,temperature_position=last,top_p=0.9,seed=7',
    'temperature=1.5,temperature_position=last,min_p=0.1,seed=7',
  ]);
  const own = { name: 'x', temperature: 0.8, samplers: { top_n_sigma: 1, repetition_penalty: 1.1 } };
  assert.equal(laneSpec(own, run), 'temperature=0.8,temperature_position=last,repetition_penalty=1.1,top_n_sigma=1,seed=7');
});
