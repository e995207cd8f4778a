// Page soak: 8 sampled lanes for many tokens on the real engine (WebGPU on SwiftShader),
// memory sampled along the way, growth bounded. CI runs the short form (96 tokens per
// lane); the long form is the same test with SAMPLESCOPE_SOAK_TOKENS=4096:
//
//   SAMPLESCOPE_SOAK_TOKENS=4096 cargo xtask test-browser    (or node --test on this file)
//
// Samples: the worker's wasm linear memory (where the engine's Rust heap lives: a leak per
// step shows here), the worker's JS heap (performance.memory, where Chrome exposes it) and
// performance.measureUserAgentSpecificMemory() of the page (the served page is cross-origin
// isolated; it counts the page and its worker). WebGPU exposes no GPU memory figure; the
// engine allocates its GPU buffers at load and the native soak (tests/soak.rs) checks the
// GPU allocator's bytes stay flat.
//
// Bound: from the first sample after the first token to the last, the wasm memory may grow
// by at most 16 MiB, the worker's JS heap by at most 16 MiB, and the user-agent figure by
// at most 64 MiB (it includes the page's own rendering and GC timing noise).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';

const TOKENS = Number(process.env.SAMPLESCOPE_SOAK_TOKENS || 96);
const LANES = 8;
const SAMPLE_EVERY_MS = 3000;
const MiB = 2 ** 20;
const BOUND = { wasmBytes: 16 * MiB, jsHeapBytes: 16 * MiB, uaBytes: 64 * MiB };
const SPECS = [
  'temperature=1,top_k=40,seed=1', 'temperature=1,top_p=0.9,seed=2', 'temperature=1,min_p=0.05,seed=3',
  'temperature=1,top_n_sigma=1,seed=4', 'temperature=1.3,repetition_penalty=1.1,seed=5', 'temperature=0.8,top_k=0,top_p=0.95,seed=6',
  'temperature=1,temperature_position=last,min_p=0.1,seed=7', 'temperature=1.5,top_k=100,top_p=0.98,seed=8',
];

test(`page soak: ${LANES} lanes × ${TOKENS} tokens with memory sampled`, { skip: skipReason ?? false, timeout: Math.max(900_000, TOKENS * 4_000) }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'soak-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  const nCtx = Math.max(1024, TOKENS + 64);
  await page.evaluate(async (n) => {
    const { engine } = /** @type {any} */ (window).samplescope;
    await engine.load({ kind: 'url', url: new URL('models/SmolLM2-135M-Instruct.Q4_1.gguf', location.href).href }, undefined, n);
  }, nCtx);

  // The run goes on in the worker while the page asks for samples (answered on arrival).
  await page.evaluate(({ tokens, lanes, specs }) => {
    const w = /** @type {any} */ (window);
    w.soak = { first: false, done: null, error: null };
    const req = w.samplescope.engine.bench({ prompt: 'Once upon a time, in a small village by the sea,', maxTokens: tokens, lanes, specs }, () => { w.soak.first = true; });
    req.done.then((r) => { w.soak.done = r; }, (e) => { w.soak.error = e.message; });
  }, { tokens: TOKENS, lanes: LANES, specs: SPECS });

  const samples = [];
  const t0 = Date.now();
  for (;;) {
    const state = await page.evaluate(() => /** @type {any} */ (window).soak);
    if (state.error) assert.fail(`the run failed: ${state.error}`);
    const s = await page.evaluate(async () => {
      const w = /** @type {any} */ (window);
      const worker = await w.samplescope.engine.memory();
      let ua = null;
      if (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory) {
        ua = await Promise.race([performance.measureUserAgentSpecificMemory().then((m) => m.bytes), new Promise((r) => setTimeout(() => r(null), 20_000))]);
      }
      return { ...worker, uaBytes: ua ?? worker.uaBytes, pageHeapBytes: /** @type {any} */ (performance).memory?.usedJSHeapSize ?? null };
    });
    samples.push({ s: Math.round((Date.now() - t0) / 1000), running: !state.done, started: state.first, ...s });
    if (state.done) break;
    await page.waitForTimeout(SAMPLE_EVERY_MS);
  }
  const result = await page.evaluate(() => /** @type {any} */ (window).soak.done);
  const fmt = (b) => (b === null || b === undefined ? '–' : `${(b / MiB).toFixed(1)} MiB`);
  console.log(`soak: ${LANES} lanes, up to ${TOKENS} tokens; tokens per lane: ${result.tokens.join(' ')}; stops: ${result.stops.join(' ')}; decode ${(result.decodeMs / 1000).toFixed(1)} s`);
  console.log('  t(s)  wasm        worker heap  UA memory   page heap');
  for (const x of samples) console.log(`  ${String(x.s).padStart(4)}  ${fmt(x.wasmBytes).padEnd(11)} ${fmt(x.jsHeapBytes).padEnd(12)} ${fmt(x.uaBytes).padEnd(11)} ${fmt(x.pageHeapBytes)}${x.started ? '' : '  (before the first token)'}`);
  await mkdir(env.artifacts, { recursive: true });
  await writeFile(join(env.artifacts, `soak-${TOKENS}.json`), JSON.stringify({ lanes: LANES, tokens: TOKENS, specs: SPECS, result, samples, bound: BOUND }, null, 2));

  assert.ok(Math.max(...result.tokens) >= Math.min(TOKENS, 32), `the lanes ran (${result.tokens.join(' ')})`);
  const steady = samples.filter((x) => x.started);
  assert.ok(steady.length >= 2, `at least two samples during the run (${steady.length}); sample more often for a short run`);
  for (const [key, bound] of Object.entries(BOUND)) {
    const xs = steady.map((x) => x[key]).filter((v) => typeof v === 'number');
    if (xs.length < 2) {
      console.log(`  ${key}: not exposed here`);
      continue;
    }
    const growth = xs.at(-1) - xs[0];
    console.log(`  ${key}: ${fmt(xs[0])} → ${fmt(xs.at(-1))} (growth ${fmt(growth)}, bound ${fmt(bound)})`);
    assert.ok(growth <= bound, `${key} grew by ${fmt(growth)} over the run (bound ${fmt(bound)})`);
  }
});
