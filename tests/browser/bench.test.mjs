// The benchmark page (www/bench.html) works: a tiny run of our engine reports every figure,
// the page is cross-origin isolated (wllama's threads need it), wllama's copied module
// loads, and a bad setup is refused with a message. The real benchmark is `cargo xtask
// bench`, not a test: tests never assert on speed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';
import { runBenchPage } from './bench-run.mjs';

const positive = (s, what) => {
  assert.equal(s.runs, 1, `${what}: one run`);
  for (const k of ['median', 'min', 'max']) assert.ok(Number.isFinite(s[k]) && s[k] > 0, `${what}.${k} = ${s[k]}`);
};

test('a tiny run of our engine on the bench page reports every figure', { skip: skipReason ?? false, timeout: 240_000 }, async () => {
  const lines = [];
  const r = await runBenchPage({
    url: env.url,
    query: 'runs=1&promptTokens=4&tokens=4&lanes=1&engines=samplescope',
    timeoutMs: 200_000,
    onLine: (l) => lines.push(l),
  });
  assert.deepEqual(r.errors, [], lines.join('\n'));
  assert.equal(r.browser.crossOriginIsolated, true, 'the server sends COOP and COEP');
  const ours = r.samplescope;
  assert.equal(ours.prompt_tokens, 4);
  assert.equal(ours.prompt.ids.length, 4);
  positive(ours.load_ms, 'load_ms');
  positive(ours.first_token_ms, 'first_token_ms');
  const phases = ours.load_phases.map((p) => p.phase);
  for (const want of ['wasm', 'read', 'weights', 'tokenizer', 'gpu']) assert.ok(phases.includes(want), `load phases: ${phases}`);
  assert.ok(ours.load_phases.reduce((a, p) => a + p.median, 0) <= ours.load_ms.median, 'the phases fit in the load');
  positive(ours.prefill_tok_s, 'prefill_tok_s');
  positive(ours.ttft_ms, 'ttft_ms');
  assert.equal(ours.decode.length, 1);
  positive(ours.decode[0].decode_tok_s, 'decode_tok_s');
  assert.equal(ours.decode[0].min_tokens, 4, 'four greedy tokens');
  assert.ok(ours.adapter?.label, 'the adapter is named');
  assert.equal(r.wllama, null, 'wllama was not asked for');
  assert.ok(lines.some((l) => l.startsWith('samplescope run 1, B = 1: prefill')), lines.join('\n'));
});

test('the bench page refuses a bad setup and can load wllama', { skip: skipReason ?? false, timeout: 60_000 }, async (t) => {
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'bench-page-console.log'));
  const page = await browser.page();
  await page.goto(new URL('bench.html?auto=1&lanes=1,0', env.url).href);
  assert.equal(await waitForBody(page, 'bench', ['error', 'done'], 20_000), 'error');
  assert.match(await page.textContent('#log'), /lanes: "0" is not a lane count from 1 to 128/);
  assert.ok(await page.isDisabled('#start'), 'nothing to start with a bad setup');

  // wllama, copied from node_modules by build-web, is the version package-lock.json pins.
  const lock = JSON.parse(await readFile('package-lock.json', 'utf8'));
  const pinned = lock.packages['node_modules/@wllama/wllama'].version;
  const got = await page.evaluate(async () => {
    const pkg = await (await fetch('bench-assets/wllama/package.json')).json();
    const { Wllama } = await import('./bench-assets/wllama/index.js');
    return { version: pkg.version, llama: Wllama.getLibllamaVersion(), isolated: self.crossOriginIsolated };
  });
  assert.equal(got.version, pinned);
  assert.match(got.llama, /^b\d+/);
  assert.equal(got.isolated, true);
});
