// Heat on WebGPU (SwiftShader): with distributions recorded, the heat toggle colours every
// token of every lane by a value the engine computed (Inspection.heat, in Rust): the
// token's probability under its lane's untruncated distribution, its surprise −log₂ p, or
// the step's entropy; a legend says which; tokens greedy would not have taken are marked.
// The values equal the inspector's own probabilities for the same token.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;

test('heat colours every token with the engine’s values, equal to the inspector’s', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'heat-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#toast'));
  await page.fill('#prompt', env.prompt || 'The three primary colors are');
  await page.fill('#max-tokens', '4');
  await page.fill('#seed', '1234');
  await page.check('#inspect-all');
  await page.click('#run');
  await waitForBody(page, 'run', ['running'], 10_000);
  await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);

  const tokens = () => page.locator('.lane .tok').evaluateAll((els) => els.map((e) => ({
    lane: Number(e.closest('.lane').dataset.lane), step: Number(e.dataset.step), id: Number(e.dataset.tokenId),
    p: e.dataset.p, surprise: e.dataset.surprise, entropy: e.dataset.entropy, argmax: Number(e.dataset.argmax),
    offArgmax: e.classList.contains('off-argmax'), background: e.style.background,
  })));

  await page.selectOption('#heat', 'probability');
  assert.equal(await page.getAttribute('#lanes', 'data-heat'), 'probability');
  assert.ok(await page.isVisible('#heat-legend'));
  assert.match(await page.textContent('#heat-legend'), /Heat: probability under the lane.*not greedy’s argmax/);
  const all = await tokens();
  assert.equal(all.length, 12, 'three lanes of four tokens');
  for (const x of all) {
    const where = `lane ${x.lane} step ${x.step}`;
    assert.ok(x.p !== undefined && x.background !== '', `${where}: coloured, with a value`);
    const p = Number(x.p);
    assert.ok(p > 0 && p <= 1, `${where}: p = ${p}`);
    assert.ok(Math.abs(Number(x.surprise) + Math.log2(p)) < 1e-9, `${where}: surprise is −log₂ p`);
    assert.ok(Number(x.entropy) >= 0, `${where}: entropy`);
    assert.equal(x.offArgmax, x.argmax !== x.id, `${where}: marked when greedy would have taken another token`);
    if (x.lane === 0) assert.equal(x.offArgmax, false, 'greedy always takes the argmax');
  }
  assert.ok(new Set(all.map((x) => x.background)).size > 1, 'different probabilities, different colours');

  // The inspector's numbers for the same tokens (its rows carry the engine's values).
  for (const x of all.filter((y) => y.step === 1 || y.step === 3)) {
    await page.click(`.lane[data-lane="${x.lane}"] .tok[data-step="${x.step}"]`);
    await page.waitForFunction(([l, s]) => {
      const el = document.getElementById('inspector');
      return el.dataset.state === 'ready' && el.dataset.lane === String(l) && el.dataset.step === String(s);
    }, [x.lane, x.step], { timeout: 120_000 });
    const rows = await page.locator('#candidates-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({ ...tr.dataset, chosen: tr.classList.contains('chosen') })));
    const chosen = rows.find((r) => r.chosen);
    assert.ok(chosen, `lane ${x.lane} step ${x.step}: the chosen token is among the candidates`);
    assert.equal(chosen.pre, x.p, `lane ${x.lane} step ${x.step}: heat p is the inspector's p before`);
    assert.equal(Number(rows[0].id), x.argmax, `lane ${x.lane} step ${x.step}: the argmax is the inspector's first candidate`);
  }

  console.log(`screenshot: ${await screenshot(page, 'heat-lanes.png')}`);
  await page.selectOption('#heat', 'entropy');
  const hot = await tokens();
  assert.match(await page.textContent('#heat-legend'), /entropy of the step/);
  assert.notDeepEqual(hot.map((x) => x.background), all.map((x) => x.background), 'entropy colours differ from probability colours');
  await page.selectOption('#heat', 'off');
  assert.ok((await tokens()).every((x) => x.background === ''), 'off: no colours');
  assert.ok(!(await page.isVisible('#heat-legend')));
});
