// The lab when things go wrong, on the real engine (WebGPU on SwiftShader):
// - a bad file after a good model: the load fails with a message, the page keeps showing
//   the model it has, and Run still works with it (issue 17: the engine used to drop its
//   model before the new one was ready);
// - a file chosen while the cached model is being restored: the page ends with a model
//   loaded, never in error with stale facts;
// - the GPU device destroyed mid-run: a clear message, the text so far kept, and the next
//   Run opens a new device and reloads the model from the browser cache (no network).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, saveLogs, skipReason, waitForBody, env } from './harness.mjs';

const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;
const BAD_GGUF = { name: 'broken.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('GGUF\x03\x00\x00\x00 this is not a model') };

test('the lab keeps working through bad files and a lost GPU device', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'reliability-console.log'));
  const page = await browser.page();
  const modelRequests = [];
  browser.context.on('request', (r) => { if (r.url().endsWith('.gguf')) modelRequests.push(r.url()); });
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#toast'));
  const facts = await page.textContent('#model-facts');

  const runTokens = async (n) => {
    await page.fill('#max-tokens', String(n));
    await page.click('#run');
    await waitForBody(page, 'run', ['running'], 10_000);
    await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
    return page.locator('.lane[data-lane="0"] [data-lane-text]').textContent();
  };
  await page.fill('#prompt', env.prompt);
  const before = await runTokens(4);
  assert.ok(before.length > 0);

  await t.test('a bad file after a good model: the message, and the old model still runs', async () => {
    await page.setInputFiles('#model-file', BAD_GGUF);
    await page.waitForFunction(() => !document.getElementById('toast').hidden && /Could not load broken\.gguf/.test(document.getElementById('toast').textContent), null, { timeout: 60_000 });
    const toast = await page.textContent('#toast');
    assert.match(toast, /still uses/, toast);
    assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 10_000), 'loaded');
    assert.ok(await page.isVisible('#model-facts'), 'the facts of the model in use are shown');
    assert.equal(await page.textContent('#model-facts'), facts);
    assert.ok(!(await page.isDisabled('#run')), 'Run is enabled');
    assert.equal(await runTokens(4), before, 'the same model runs as before');
  });

  await t.test('a file chosen while the cached model is restored: a model ends up loaded', async () => {
    await page.reload();
    await waitForBody(page, 'model', ['loading'], 60_000); // the cached model is being restored
    await page.setInputFiles('#model-file', BAD_GGUF);
    await page.waitForFunction(() => /Could not load broken\.gguf/.test(document.getElementById('toast').textContent), null, { timeout: LOAD_TIMEOUT });
    assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 10_000), 'loaded', await page.textContent('#toast'));
    const shown = await page.textContent('#model-facts');
    assert.match(shown, /from the browser cache/);
    assert.equal(shown.replace(/loaded.*$/, ''), facts.replace(/loaded.*$/, ''), 'the facts of the model the engine holds');
    assert.equal(await page.evaluate(() => document.body.dataset.modelSource), 'cache');
    assert.equal(await runTokens(4), before);
  });

  await t.test('the GPU device lost mid-run: a message, the text kept, and Run rebuilds the engine', async () => {
    await page.fill('#max-tokens', '48');
    await page.click('#run');
    await page.waitForSelector('.lane[data-lane="0"] .tok[data-step="2"]', { timeout: RUN_TIMEOUT });
    const answer = await page.evaluate(() => /** @type {any} */ (window).samplescope.engine.loseDevice());
    assert.deepEqual(answer, { lost: true });
    await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
    assert.equal(await page.evaluate(() => document.body.dataset.deviceLost), 'true');
    assert.match(await page.textContent('#toast'), /GPU device was lost/);
    assert.match(await page.textContent('#run-status'), /device was lost/);
    const kept = await page.locator('.lane[data-lane="0"] .tok').count();
    assert.ok(kept >= 3 && kept < 48, `the text so far is kept (${kept} tokens)`);
    assert.equal(await page.getAttribute('.lane[data-lane="0"]', 'data-stop'), 'error');
    assert.ok(!(await page.isDisabled('#run')), 'Run is enabled');

    modelRequests.length = 0;
    assert.equal(await runTokens(4), before, 'a new device, the same model, the same text');
    assert.deepEqual(modelRequests, [], 'the model came from the browser cache, not the network');
    assert.equal(await page.evaluate(() => document.body.dataset.deviceLost), undefined);
    assert.match(await page.textContent('#run-status'), /done in/);
  });
});
