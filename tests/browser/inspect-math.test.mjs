// The inspector's sampler math (web/inspect-math.js) against DESIGN.md's semantics, on
// small hand-made distributions and on fresh random ones. No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeStep, histogram, topIndices } from '../../web/inspect-math.js';
import { validateRun, DEFAULT_RUN, cloneRun } from '../../web/config.js';

const step = (logits, samplers, opts = {}) =>
  analyzeStep(Float32Array.from(logits), { temperature: 1, position: 'first', samplers, topN: logits.length, ...opts });
const kept = (a) => a.candidates.filter((c) => c.survivor).map((c) => c.id).sort((x, y) => x - y);

test('greedy keeps the argmax, ties to the lowest id', () => {
  const a = step([1, 3, 3, 2], {}, { temperature: 0 });
  assert.deepEqual(kept(a), [1]);
  assert.equal(a.survivors, 1);
  assert.equal(a.greedy, true);
});

test('top-k keeps exactly k (z desc, then id asc)', () => {
  assert.deepEqual(kept(step([5, 1, 4, 4, 4, 0], { top_k: 3 })), [0, 2, 3]);
});

test('top-p keeps the token that crosses p and every tie at the boundary', () => {
  // probabilities ∝ e^z: 0.5, 0.25, 0.25 (ties), tiny
  const z = [Math.log(0.5), Math.log(0.25), Math.log(0.25), Math.log(1e-9)];
  assert.deepEqual(kept(step(z, { top_p: 0.6 })), [0, 1, 2]);
  assert.deepEqual(kept(step(z, { top_p: 0.45 })), [0]);
  assert.deepEqual(kept(step(z, { top_p: 1 })), [0, 1, 2, 3]);
});

test('min-p is inclusive: z ≥ max + ln m', () => {
  // ln(e^-2) == -2 exactly, so the token at the cut-off is kept and the one below it is not.
  assert.deepEqual(kept(step([0, -2, -2.001, -5], { min_p: Math.exp(-2) })), [0, 1]);
});

test('top-nσ keeps z ≥ max − nσ and ignores temperature', () => {
  const z = [0, 1, 2, 3, 10];
  // σ (population) of z = 3.5214; 10 − 1·σ = 6.48
  assert.deepEqual(kept(step(z, { top_n_sigma: 1 })), [4]);
  assert.deepEqual(kept(step(z, { top_n_sigma: 2.5 })), [2, 3, 4]);
  for (const T of [0.3, 1, 2.7]) assert.deepEqual(kept(step(z, { top_n_sigma: 2.5 }, { temperature: T })), [2, 3, 4]);
});

test('temperature first flattens what top-p sees; last does not', () => {
  const z = [2, 1, 0, -1];
  const first = step(z, { top_p: 0.8 }, { temperature: 3, position: 'first' });
  const last = step(z, { top_p: 0.8 }, { temperature: 3, position: 'last' });
  assert.ok(first.survivors > last.survivors, `${first.survivors} > ${last.survivors}`);
  const sum = (a) => a.candidates.reduce((s, c) => s + c.post, 0);
  assert.ok(Math.abs(sum(first) - 1) < 1e-9 && Math.abs(sum(last) - 1) < 1e-9);
});

test('the repetition penalty divides positive and multiplies negative logits', () => {
  const a = step([2, -1, 1.9], {}, { history: [0, 1, 0], samplers: { repetition_penalty: 2 } });
  const z = Object.fromEntries(a.candidates.map((c) => [c.id, c.z]));
  assert.deepEqual([z[0], z[1], z[2]], [1, -2, Math.fround(1.9)]);
});

test('each threshold is the probability cut-off of its sampler', () => {
  const z = Array.from({ length: 500 }, () => Math.random() * 8 - 4);
  const a = step(z, { top_k: 50, min_p: 0.05 });
  for (const t of a.thresholds) {
    for (const c of a.candidates) if (c.survivor) assert.ok(c.pre >= t.prob * (1 - 1e-12), `${t.key}: survivor ${c.id} below the cut-off`);
  }
  assert.equal(a.survivors, a.candidates.filter((c) => c.survivor).length);
});

test('topIndices and histogram on random data', () => {
  const z = Float32Array.from({ length: 5000 }, () => Math.random() * 20 - 10);
  const want = [...z.keys()].sort((a, b) => z[b] - z[a] || a - b).slice(0, 17);
  assert.deepEqual(topIndices(z, 17), want);
  const hist = histogram(z, 10);
  assert.equal(hist.counts.reduce((a, b) => a + b, 0), z.length);
  assert.equal(hist.edges.length, 11);
});

test('configuration validation names the problem', () => {
  assert.deepEqual(validateRun(cloneRun(DEFAULT_RUN)), []);
  const bad = cloneRun(DEFAULT_RUN);
  bad.lanes[1].samplers = { top_q: 0.5 };
  bad.lanes[2].samplers = { min_p: 2 };
  bad.temperature = 5;
  const errors = validateRun(bad).join('\n');
  assert.match(errors, /unknown sampler "top_q"/);
  assert.match(errors, /min_p must be between 0 and 1/);
  assert.match(errors, /temperature must be between 0 and 3/);
});

test('lane specs in the engine’s text form', async () => {
  const { laneSpec } = await import('../../web/config.js');
  const run = { ...cloneRun(DEFAULT_RUN), temperature: 1.5, temperaturePosition: 'last', seed: 7 };
  assert.deepEqual(run.lanes.map((l) => laneSpec(l, run)), [
    'greedy',
    'temperature=1.5,temperature_position=last,top_p=0.9,seed=7',
    'temperature=1.5,temperature_position=last,min_p=0.1,seed=7',
  ]);
  const own = { name: 'x', temperature: 0.8, samplers: { top_n_sigma: 1, repetition_penalty: 1.1 } };
  assert.equal(laneSpec(own, run), 'temperature=0.8,temperature_position=last,repetition_penalty=1.1,top_n_sigma=1,penalty_last_n=64,seed=7');
});

test('the engine’s inspection maps to cut-offs in probability space', async () => {
  const { fromEngine } = await import('../../web/inspect-math.js');
  const minP = 2 + Math.log(0.1);
  const ins = {
    candidates: [
      { id: 5, logit: 2, pre: 0.5, post: 0.7, survivor: true },
      { id: 1, logit: 1, pre: 0.2, post: 0.3, survivor: true },
      { id: 9, logit: -1, pre: 0.02, post: 0, survivor: false },
    ],
    histogram: Uint32Array.from([1, 0, 2]), histLo: -1, histHi: 2, survivors: 2, keptMass: 0.7,
    record: { greedy: false, maxLogit: 2, inPlay: 3, sigma: null, topK: null, topP: null, minP },
  };
  const a = fromEngine(ins, { temperature: 1, position: 'first', samplers: { min_p: 0.1 } });
  assert.equal(a.thresholds.length, 1);
  assert.equal(a.thresholds[0].label, 'min-p 0.1');
  assert.ok(Math.abs(a.thresholds[0].prob - 0.05) < 1e-12, `${a.thresholds[0].prob}`);
  assert.deepEqual(a.histogram.edges, [-1, 0, 1, 2]);
  assert.equal(a.survivors, 2);
  assert.equal(a.vocab, 3);
  // Temperature last: probabilities are softmax(w / T), so the cut-off scales by 1/T too.
  const b = fromEngine(ins, { temperature: 2, position: 'last', samplers: { min_p: 0.1 } });
  assert.ok(Math.abs(b.thresholds[0].prob - Math.exp(Math.log(0.1) / 2) * 0.5) < 1e-12);
});
