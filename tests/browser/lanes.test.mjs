// The controls and the lane editor, against a stubbed engine worker (stub.mjs): what the
// page sends to the worker is exactly what the reader configured, and Stop stops a run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';
import { recordWorkerMessages, routeStubWorker } from './stub.mjs';

test('lanes can be added, edited and removed; a run sends the configuration', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'lanes-console.log'));
  await routeStubWorker(browser.context, { text: 'stub', tokens: ['Hello', ',', ' world'] });
  const page = await browser.page();
  await recordWorkerMessages(page);
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 30_000), 'loaded');

  const names = () => page.locator('.lane .lane-name').allTextContents();
  assert.deepEqual(await names(), ['Greedy', 'Top-p 0.9', 'Min-p 0.1']);

  // Add a top-nσ lane with its own temperature.
  await page.click('.add-lane');
  const editor = page.locator('.lane[data-lane="3"] .lane-editor');
  await editor.locator('input[aria-label="Lane name"]').fill('Top-nσ 1.5');
  await page.uncheck('#lane3-top_k');
  await page.check('#lane3-top_n_sigma');
  await editor.locator('input[aria-label="Top-nσ"]').fill('1.5');
  await editor.locator('.row').first().locator('input[type="checkbox"]').check();
  await editor.locator('.row').first().locator('input[type="number"]').fill('1.5');
  await editor.locator('button[type="submit"]').click();
  assert.deepEqual(await names(), ['Greedy', 'Top-p 0.9', 'Min-p 0.1', 'Top-nσ 1.5']);
  assert.equal(await page.textContent('.lane[data-lane="3"] .lane-desc'), 'T 1.5 (own) · nσ 1.5');

  // An out-of-range value is refused with a message that names it.
  await page.click('.lane[data-lane="1"] .lane-actions button:has-text("edit")');
  await page.locator('.lane[data-lane="1"] input[aria-label="Top-p (nucleus)"]').fill('2');
  await page.click('.lane[data-lane="1"] .lane-editor button[type="submit"]');
  assert.match(await page.textContent('.lane[data-lane="1"] .lane-editor .errors'), /top_p = 2: must be in \(0, 1\] \(1 = off\)/);
  await page.click('.lane[data-lane="1"] .lane-editor button:has-text("Cancel")');

  // Remove Min-p.
  await page.click('.lane[data-lane="2"] button[aria-label="Remove lane Min-p 0.1"]');
  assert.deepEqual(await names(), ['Greedy', 'Top-p 0.9', 'Top-nσ 1.5']);

  // Shared settings, then Ctrl+Enter.
  await page.locator('#temperature').evaluate((el) => { el.value = '0.7'; el.dispatchEvent(new Event('input')); });
  assert.equal(await page.textContent('#temperature-value'), '0.70');
  await page.selectOption('#temperature-position', 'last');
  assert.match(await page.textContent('#temperature-help'), /llama\.cpp/);
  await page.fill('#seed', '7');
  await page.uncheck('#same-dice');
  await page.check('#chat');
  await page.fill('#max-tokens', '5');
  await page.fill('#prompt', 'Why is the sky blue?');
  await page.keyboard.press('Control+Enter');
  assert.equal(await waitForBody(page, 'run', ['done'], 30_000), 'done');

  const runs = await page.evaluate(() => window.__posted.filter((m) => m.type === 'run'));
  assert.equal(runs.length, 1);
  assert.deepEqual(runs[0].run, {
    prompt: 'Why is the sky blue?', chat: true, maxTokens: 5, seed: 7, sameDice: false, inspect: true,
    temperature: 0.7, temperaturePosition: 'last',
    lanes: [
      { name: 'Greedy', temperature: 0, samplers: {} },
      { name: 'Top-p 0.9', temperature: null, samplers: { top_p: 0.9 } },
      { name: 'Top-nσ 1.5', temperature: 1.5, samplers: { top_n_sigma: 1.5 } },
    ],
  });
  for (let i = 0; i < 3; i++) {
    assert.equal(await page.textContent(`.lane[data-lane="${i}"] [data-lane-text]`), 'Hello, world');
    assert.equal(await page.textContent(`.lane[data-lane="${i}"] [data-stat="tokens"]`), '3 tokens');
  }
  assert.equal(await page.textContent('.lane[data-lane="2"] .lane-desc'), 'T 1.5 (own) · nσ 1.5');
  assert.equal(await page.textContent('.lane[data-lane="1"] .lane-desc'), 'T 0.7 · p 0.9');
});

test('Stop right after Run stops the run, even one the engine has not started yet', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'lanes-stop-console.log'));
  // The engine starts 300 ms after the request and clears its stop flag then: a cancel
  // that came before must still win (web/protocol.js), without being sent again.
  await routeStubWorker(browser.context, { tokens: ['a', 'b'], paced: { startMs: 300, stepMs: 20 } });
  const page = await browser.page();
  await recordWorkerMessages(page);
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 30_000), 'loaded');
  const max = 500;
  await page.fill('#max-tokens', String(max));
  await page.click('#run');
  await page.click('#stop');
  assert.equal(await waitForBody(page, 'run', ['done'], 30_000), 'done');
  assert.match(await page.textContent('#run-status'), /^stopped after/);
  for (let i = 0; i < 3; i++) {
    assert.equal(await page.getAttribute(`.lane[data-lane="${i}"]`, 'data-stop'), 'cancelled', `lane ${i}`);
    const n = await page.locator(`.lane[data-lane="${i}"] .tok`).count();
    assert.ok(n >= 1 && n < max, `lane ${i} stopped after ${n} tokens`);
  }
  assert.ok(!(await page.isDisabled('#run')) && await page.isDisabled('#stop'), 'Run is enabled again, Stop is not');
  const posted = await page.evaluate(() => window.__posted);
  const run = posted.find((m) => m.type === 'run');
  assert.deepEqual(posted.filter((m) => m.type === 'cancel'), [{ type: 'cancel', id: run.id }], 'one cancel, naming the run');
});
