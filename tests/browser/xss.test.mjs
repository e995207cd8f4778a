// Model output, model metadata, adapter names and prompts are data: a stubbed engine worker
// streams HTML-looking text through every channel, and the page must show it as text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';

const EVIL = '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">';
const EVIL2 = '<script>window.__pwned=99</script><b>bold?</b>';

// Speaks the worker protocol (web/worker.js) without an engine.
const STUB_WORKER = `
const EVIL = ${JSON.stringify(EVIL)};
const EVIL2 = ${JSON.stringify(EVIL2)};
self.onmessage = ({ data: m }) => {
  if (m.type === 'init') {
    postMessage({ type: 'ready', adapter: { name: EVIL, variant: 'row', features: [EVIL], maxStorageBinding: 1e9, software: true } });
  } else if (m.type === 'load') {
    postMessage({ type: 'progress', phase: 'download', loaded: 1, total: 2, rate: 1 });
    postMessage({ type: 'loaded', name: EVIL, kind: 'url', fromCache: false, facts: {
      name: EVIL, architecture: EVIL2, parameters: 1, quantTypes: { [EVIL]: 1 }, contextLength: 8, contextAllocated: 8,
      vocab: 3, layers: 1, embedding: 1, fileBytes: 2, weightBytes: 1, kvBytes: 1, loadMs: 1, hasChatTemplate: true } });
  } else if (m.type === 'run') {
    const { runId } = m;
    m.run.lanes.forEach((_, lane) => {
      postMessage({ type: 'lane-start', runId, lane });
      [EVIL, ' ', EVIL2].forEach((textDelta, step) => postMessage({ type: 'token', runId, lane, step, tokenId: step, textDelta, record: null }));
      postMessage({ type: 'lane-end', runId, lane, tokens: 3, ms: 1, tokPerS: 1, stop: 'max_tokens', message: lane === 1 ? EVIL : undefined });
    });
    postMessage({ type: 'run-end', runId, stopped: false });
  } else if (m.type === 'inspect') {
    const c = (id, text, survivor) => ({ id, rank: id, text, logit: 3 - id, z: 3 - id, pre: 0.5 / (id + 1), post: survivor ? 0.6 : 0, survivor });
    postMessage({ type: 'inspection', runId: m.runId, lane: m.lane, step: m.step, chosen: 0, analysis: {
      candidates: [c(0, EVIL, true), c(1, EVIL2, true), c(2, 'x', false)],
      thresholds: [{ key: 'min_p', label: EVIL, logit: 1.5, prob: 0.2, kept: 2 }],
      survivors: 2, vocab: 3, greedy: false, histogram: { edges: [0, 1, 2, 3], counts: [1, 1, 1] } } });
  }
};`;

test('HTML in model output, metadata and prompts stays text', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'xss-console.log'));
  await browser.context.route('**/web/worker.js', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/javascript',
      headers: { 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' },
      body: STUB_WORKER,
    }));
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
  assert.ok((await page.textContent('#candidates-table')).includes(EVIL2), 'the candidates are literal');
  assert.ok((await page.textContent('.lane[data-lane="1"] .lane-note')).includes(EVIL), 'lane notes are literal');
  assert.equal(await page.locator('main img, main script, main b').count(), 0, 'no element was created from model text');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
});
