// Model output, model metadata, adapter names and prompts are data: a stubbed engine worker
// (stub.mjs) streams HTML-looking text through every channel; the page must show it as text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';
import { routeStubWorker } from './stub.mjs';

const EVIL = '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">';
const EVIL2 = '<script>window.__pwned=99</script><b>bold?</b>';

test('HTML in model output, metadata and prompts stays text', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'xss-console.log'));
  await routeStubWorker(browser.context, { text: EVIL, tokens: [EVIL, ' ', EVIL2] });
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 30_000), 'loaded');
  await page.fill('#prompt', `${EVIL} tell me more`);
  await page.click('#run');
  assert.equal(await waitForBody(page, 'run', ['done'], 30_000), 'done');
  await page.click('.lane[data-lane="0"] .tok[data-step="0"]');
  await page.waitForFunction(() => document.getElementById('inspector').dataset.state === 'ready', null, { timeout: 30_000 });

  const text = await page.locator('.lane[data-lane="0"] [data-lane-text]').textContent();
  assert.equal(text, `${EVIL} ${EVIL2}`, 'the lane shows the output literally');
  assert.ok((await page.locator('.lane[data-lane="0"] .prompt-echo').textContent()).startsWith(EVIL), 'the prompt echo is literal');
  assert.ok((await page.textContent('#gpu-facts')).includes(EVIL), 'the adapter name is literal');
  assert.ok((await page.textContent('#model-facts')).includes(EVIL), 'the model name is literal');
  assert.ok((await page.textContent('#candidates-table')).includes(EVIL), 'the candidates are literal');
  assert.ok((await page.textContent('.lane[data-lane="1"] .lane-note')).includes(EVIL), 'lane notes are literal');
  assert.equal(await page.locator('main img, main script, main b').count(), 0, 'no element was created from model text');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
});
