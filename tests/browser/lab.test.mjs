// The lab end to end on WebGPU (SwiftShader): load the default model from the local server,
// run the three default lanes with a fixed seed, compare every lane with the native CLI
// (xtask wrote its output for the same lane specs), inspect tokens, take a screenshot,
// stop a run, then reload and check the model comes from the browser cache.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { DEFAULT_RUN, cloneRun, laneSpec } from '../../web/config.js';
import { join } from 'node:path';
import { deprioritizeGpuProcess, env, launch, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

/** Clicks token `step` of `lane` and waits until the inspector shows it. */
async function clickToken(page, lane, step) {
  await page.click(`.lane[data-lane="${lane}"] .tok[data-step="${step}"]`);
  await page.waitForFunction(([l, s]) => {
    const el = document.getElementById('inspector');
    return el.dataset.state === 'error' || (el.dataset.state === 'ready' && el.dataset.lane === String(l) && el.dataset.step === String(s));
  }, [lane, step], { timeout: 120_000 });
  assert.equal(await page.getAttribute('#inspector', 'data-state'), 'ready', await page.textContent('#inspector-summary'));
}

const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;

test('the lab page on WebGPU', { skip: skipReason ?? false, timeout: 600_000 }, async (t) => {
  const native = JSON.parse(await readFile(join(env.artifacts, 'native-lanes.json'), 'utf8')).lanes;
  const seed = Number(process.env.SAMPLESCOPE_SEED);
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.page();
  t.after(() => saveLogs(browser, 'lab-console.log'));

  // Long main-thread tasks, observed from the start of the page.
  await page.addInitScript(() => {
    window.__longtasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  const modelRequests = [];
  browser.context.on('request', (r) => {
    if (r.url().endsWith('.gguf')) modelRequests.push(r.url());
  });

  await page.goto(env.url);
  const gpu = await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000);
  assert.equal(gpu, 'ready', `WebGPU should be available: ${browser.logs.join('\n')}`);
  const adapter = await page.textContent('#gpu-facts');
  assert.match(adapter, /adapter/);
  assert.ok((await deprioritizeGpuProcess(browser)) > 0 || process.platform !== 'linux', 'found the GPU process');

  await t.test('loads the default model from the local server', async () => {
    await page.click('#load-default');
    const state = await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT);
    assert.equal(state, 'loaded', `model load failed: ${await page.textContent('#toast')}`);
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'network');
    assert.ok(modelRequests.length >= 1, 'the model was fetched over the network');
    const facts = await page.textContent('#model-facts');
    for (const want of ['llama', 'Q4_1', '8,192 tokens trained', '49,152']) assert.ok(facts.includes(want), `model facts mention ${want}: ${facts}`);
    // The load's breakdown: the worker's phases and the engine's, which follow one another.
    const load = await page.evaluate(() => [...document.querySelectorAll('#model-facts dt')].find((dt) => dt.textContent === 'load time')?.nextElementSibling?.textContent);
    const m = load?.match(/^load ([\d.]+) s: (.+)$/);
    assert.ok(m, `model facts show the load's breakdown: ${load}`);
    const phases = m[2].split(' · ').map((p) => p.split(' '));
    // The bytes stream in during the engine's load: their waits are `copy`.
    for (const want of ['copy', 'weights', 'tokenizer']) assert.ok(phases.some(([name]) => name === want), `the breakdown has ${want}: ${load}`);
    const sum = phases.reduce((a, [, s]) => a + Number(s), 0);
    assert.ok(sum > 0 && sum <= Number(m[1]) + 0.005 * phases.length, `the phases (${sum} s) fit in the load (${m[1]} s)`);
    // The load makes only its first token's pipelines; the page then has the rest made
    // while idle (the runs below use them and must still equal the CLI).
    await page.waitForFunction(() => document.body.dataset.pipelines !== undefined, null, { timeout: 60_000 });
    const made = Number(await page.evaluate(() => document.body.dataset.pipelines));
    assert.ok(made > 0, `the lab made the pipelines the load left (${made})`);
  });

  let runWindow;
  await t.test('the page derives the lane specs the native reference used', () => {
    const run = { ...cloneRun(DEFAULT_RUN), seed };
    assert.deepEqual(run.lanes.map((l) => laneSpec(l, run)), process.env.SAMPLESCOPE_LANE_SPECS.split('\n'));
  });

  await t.test('every lane equals the native CLI for the same sampler and seed', async () => {
    await page.fill('#prompt', env.prompt);
    await page.fill('#max-tokens', String(env.maxTokens));
    await page.fill('#seed', String(seed));
    await deprioritizeGpuProcess(browser); // threads started since the first call
    const t0 = await page.evaluate(() => performance.now());
    await page.focus('#prompt');
    await page.keyboard.press('Control+Enter'); // Ctrl+Enter runs
    await waitForBody(page, 'run', ['running'], 10_000);
    await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
    runWindow = [t0, await page.evaluate(() => performance.now())];
    for (const [i, want] of native.entries()) {
      const lane = page.locator(`.lane[data-lane="${i}"]`);
      const name = await lane.locator('.lane-name').textContent();
      const text = await lane.locator('[data-lane-text]').textContent();
      const ids = await lane.locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId)));
      assert.equal(text, want.text, `${name}: text`);
      assert.deepEqual(ids, want.ids, `${name}: token ids`);
      assert.equal(await lane.getAttribute('data-stop'), want.stop, `${name}: stop`);
      assert.match(await lane.locator('[data-stat="tokens"]').textContent(), new RegExp(`^${want.ids.length} tokens`));
      assert.match(await lane.locator('[data-stat="rate"]').textContent(), /\d tok\/s/);
    }
  });

  await t.test('no main-thread task over 100 ms during generation', async () => {
    const tasks = await page.evaluate(() => window.__longtasks);
    const [a, b] = runWindow;
    const long = tasks.filter((x) => x.duration > 100 && x.start + x.duration >= a && x.start <= b);
    assert.deepEqual(long, [], `long tasks during the run: ${JSON.stringify(long)}`);
  });

  await t.test('the inspector shows candidates and thresholds', async () => {
    const open = async (lane, step) => {
      await clickToken(page, lane, step);
      const ids = await page.locator(`.lane[data-lane="${lane}"] .tok`).evaluateAll((els) => els.map((e) => e.dataset.tokenId));
      assert.equal(await page.locator('#candidates-table tr.chosen td:nth-child(3)').textContent(), ids[step], 'the chosen row is the token clicked');
      assert.ok(await page.locator('#candidates-chart canvas').count() >= 1, 'candidates chart drawn');
      assert.ok(await page.locator('#histogram-chart canvas').count() >= 1, 'histogram drawn');
      assert.equal(await page.locator(`.lane[data-lane="${lane}"] .tok.selected`).getAttribute('data-step'), String(step));
      return { summary: await page.textContent('#inspector-summary'), survivors: Number(await page.getAttribute('#inspector [data-survivors]', 'data-survivors')) };
    };
    // Greedy: one survivor, recorded by the GPU chain during the run.
    const g = await open(0, 2);
    assert.match(g.summary, /step 2: chose/);
    assert.match(g.summary, /recorded by the GPU chain/);
    assert.equal(g.survivors, 1, 'greedy keeps one token');
    assert.ok((await page.locator('#candidates-table tbody tr').count()) >= 10);
    // Min-p: its cut-off is named, and the survivors are exactly the rows marked as such.
    const m = await open(2, 1);
    assert.match(m.summary, /min-p 0\.1/);
    assert.ok(m.survivors >= 1, `min-p survivors: ${m.survivors}`);
    const rows = await page.locator('#candidates-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.className));
    const shownSurvivors = rows.filter((c) => c.includes('survivor')).length;
    assert.equal(shownSurvivors, Math.min(m.survivors, rows.length), 'survivor rows match the survivor count');
  });

  await t.test('a run that did not record gets the same inspection, recomputed by the engine', async () => {
    const ids = () => page.locator('#candidates-table tbody tr td:nth-child(3)').allTextContents();
    const survivors = async () => Number(await page.getAttribute('#inspector [data-survivors]', 'data-survivors'));
    const show = async (lane, step) => {
      await clickToken(page, lane, step);
      return { summary: await page.textContent('#inspector-summary'), survivors: await survivors(), ids: (await ids()).slice(0, 3) };
    };
    const recorded = await show(2, 1);
    await page.uncheck('#inspect-all');
    await page.fill('#max-tokens', '2');
    await page.click('#run');
    await waitForBody(page, 'run', ['running'], 10_000);
    await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
    const recomputed = await show(2, 1);
    assert.match(recomputed.summary, /recomputed by the GPU chain/);
    assert.match(recomputed.summary, /min-p 0\.1/);
    assert.equal(recomputed.survivors, recorded.survivors, 'the same survivors');
    assert.deepEqual(recomputed.ids, recorded.ids, 'the same top candidates');
    await page.check('#inspect-all');
  });

  await t.test('a screenshot after the run', async () => {
    const path = await screenshot(page, 'lab-after-run.png');
    console.log(`screenshot: ${path}`);
  });

  await t.test('Stop ends a run after the current token', async () => {
    await page.fill('#max-tokens', '64');
    await page.click('#run');
    await page.waitForSelector('.lane[data-lane="0"] .tok[data-step="1"]', { timeout: 120_000 });
    await page.click('#stop');
    await waitForBody(page, 'run', ['done'], 60_000);
    assert.equal(await page.getAttribute('.lane[data-lane="0"]', 'data-stop'), 'cancelled');
    const n = await page.locator('.lane[data-lane="0"] .tok').count();
    assert.ok(n >= 2 && n < 64, `stopped after ${n} tokens`);
    assert.match(await page.textContent('#run-status'), /stopped/);
    assert.ok(!(await page.isDisabled('#run')), 'Run is enabled again');
  });

  await t.test('a reload loads the model from the browser cache', async () => {
    modelRequests.length = 0;
    await page.reload();
    const state = await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT);
    assert.equal(state, 'loaded');
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'cache');
    assert.deepEqual(modelRequests, [], 'no network request for the model');
    assert.match(await page.textContent('#model-facts'), /from the browser cache/);
  });

  await t.test('a GGUF from the file picker loads', async () => {
    await page.setInputFiles('#model-file', 'www/models/SmolLM2-135M-Instruct.Q4_1.gguf');
    await waitForBody(page, 'model', ['loading'], 10_000);
    const state = await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT);
    assert.equal(state, 'loaded', await page.textContent('#toast'));
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'file');
    assert.match(await page.textContent('#model-facts'), /from a local file/);
  });
});
