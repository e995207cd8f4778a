// Gemma 3 270M in the lab on WebGPU (SwiftShader): the second model the page offers loads
// from its button (K-quants, SentencePiece, a 262,144-token vocabulary, tables split over
// bindings), says what it needs on the GPU before the upload, runs the default greedy,
// top-p and min-p lanes equal to the native CLI's (xtask wrote native-lanes-gemma.json),
// opens the inspector at V = 262,144, and a share link names it by its id.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deprioritizeGpuProcess, env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';

const LOAD_TIMEOUT = 300_000;
const RUN_TIMEOUT = 300_000;

test('Gemma 3 270M in the lab on WebGPU', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const native = JSON.parse(await readFile(join(env.artifacts, 'native-lanes-gemma.json'), 'utf8'));
  const seed = Number(process.env.SAMPLESCOPE_SEED);
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'gemma-console.log'));
  const page = await browser.page();
  // Every text the progress line shows, to see the GPU estimate that comes before upload.
  await page.addInitScript(() => {
    window.__progress = [];
    addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('progress-numbers');
      new MutationObserver(() => window.__progress.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    });
  });
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await deprioritizeGpuProcess(browser);

  await t.test('loads from its button, with the GPU memory it needs shown first', async () => {
    assert.equal(await page.textContent('#load-gemma'), 'Load Gemma 3 270M (253.1 MB)');
    await page.click('#load-gemma');
    const state = await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT);
    assert.equal(state, 'loaded', `model load failed: ${await page.textContent('#toast')}`);
    const facts = await page.textContent('#model-facts');
    for (const want of ['gemma3', 'Q4_K', 'Q6_K', 'Q5_0', '262,144', '32,768 tokens trained']) {
      assert.ok(facts.includes(want), `model facts mention ${want}: ${facts}`);
    }
    const shown = await page.evaluate(() => window.__progress);
    const need = shown.find((s) => /needs [\d.]+ MB of GPU memory/.test(s));
    assert.ok(need, `the upload showed the GPU memory needed: ${JSON.stringify(shown.slice(-5))}`);
    // Weights (about 315 MB as the engine packs them) and the KV cache at load.
    const mb = Number(need.match(/needs ([\d.]+) MB/)[1]);
    assert.ok(mb > 250 && mb < 500, `GPU memory estimate ${mb} MB`);
  });

  await t.test('greedy, top-p and min-p lanes equal the native CLI', async () => {
    await page.fill('#prompt', native.prompt);
    await page.fill('#max-tokens', String(native.maxTokens));
    await page.fill('#seed', String(seed));
    assert.ok(await page.isDisabled('#chat'), 'no chat template in this GGUF: chat mode is off');
    await deprioritizeGpuProcess(browser);
    await page.click('#run');
    await waitForBody(page, 'run', ['running'], 10_000);
    await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
    for (const [i, want] of native.lanes.entries()) {
      const lane = page.locator(`.lane[data-lane="${i}"]`);
      const name = await lane.locator('.lane-name').textContent();
      const ids = await lane.locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId)));
      assert.deepEqual(ids, want.ids, `${name}: token ids`);
      assert.equal(await lane.locator('[data-lane-text]').textContent(), want.text, `${name}: text`);
    }
  });

  await t.test('the inspector works at a 262,144-token vocabulary', async () => {
    await page.click('.lane[data-lane="2"] .tok[data-step="1"]');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('inspector').dataset.state), null, { timeout: 120_000 });
    assert.equal(await page.getAttribute('#inspector', 'data-state'), 'ready', await page.textContent('#inspector-summary'));
    assert.match(await page.textContent('#inspector-summary'), /min-p 0\.1/);
    const ids = await page.locator('.lane[data-lane="2"] .tok').evaluateAll((els) => els.map((e) => e.dataset.tokenId));
    assert.equal(await page.locator('#candidates-table tr.chosen td:nth-child(3)').textContent(), ids[1]);
    assert.ok(await page.locator('#histogram-chart canvas').count() >= 1, 'histogram drawn');
  });

  await t.test('a share link names the model by its id', async () => {
    await page.click('#share');
    const link = await page.inputValue('#share-text');
    assert.match(link, /[#&]model=gemma(&|$)/, link);
  });
});
