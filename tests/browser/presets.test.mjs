// One of the eval page's Figures end to end, at the tests' size: the min-p preset (pass@1
// against temperature for four samplers) opened from its link `#figure=min-p&size=small`
// (the same presets and code path as the full size, with 2 tasks, 2 samples, T = 0.5 and 3,
// 12 tokens; src/eval/presets.rs). Before it starts the page says how long it may take; the
// chart's data must equal the figure's report, and the report must equal the native CLI's
// `samplescope eval --preset min-p --preset-size small` on the same preset.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const RUN_TIMEOUT = 480_000;

/**
 * A report without what may differ between the page and the CLI on the same numbers: the
 * time, and the text of untruncated samples. Pure sampling at T = 3 draws from the whole
 * vocabulary, where a logit that differs in its last bits between SwiftShader and lavapipe
 * can flip a Gumbel-max pick between two near-equal tokens; a truncated lane's pick, and
 * every sample's verdict, must still agree.
 */
function numbers(report) {
  const r = JSON.parse(JSON.stringify({ ...report, elapsed_ms: undefined, tokens: undefined }));
  const pure = r.configs.map(({ config: c }) => c.top_p === 1 && c.min_p === 0 && c.top_k === 0 && c.top_n_sigma === null);
  for (const task of r.tasks) {
    task.configs.forEach((c, i) => {
      if (pure[i]) for (const s of c.samples) for (const k of ['output', 'extracted', 'stop', 'tokens']) delete s[k];
    });
  }
  return r;
}

test('a figure preset end to end (min-p, small)', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const dir = resolve(env.artifacts, 'presets');
  await mkdir(dir, { recursive: true });
  const native = runCli(['eval', '--preset', 'min-p', '--preset-size', 'small', '--json', 'native-min-p.json'], { cwd: dir });
  native.catch(() => {});
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'presets-console.log'));
  const page = await browser.page();
  const link = new URL('eval.html#figure=min-p&size=small', env.url).href;
  await page.goto(link);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready', browser.logs.join('\n'));
  await page.waitForSelector('#figure-min-p');
  assert.equal(await page.locator('#figure-buttons button').count(), 4, 'a button per preset');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 240_000), 'loaded', await page.textContent('#model-status'));

  // The estimate before it starts: the budget (2 tasks × 4 samplers × 2 temperatures × 2
  // samples × 12 tokens) over the rate measured on this model.
  const estimate = page.locator('[data-preset="min-p"] .estimate');
  await page.waitForFunction(() => /tok\/s/.test(document.querySelector('[data-preset="min-p"] .estimate')?.textContent ?? ''), null, { timeout: 120_000 });
  const est = await estimate.textContent();
  assert.match(est, /^at most ~\d+ (s|min \d\d s) \(384 tokens at \d+ tok\/s\)$/, est);
  console.log(`estimate: ${est}`);

  const started = performance.now();
  await page.click('#figure-min-p');
  assert.equal(await waitForBody(page, 'figure', ['done', 'error', 'cancelled'], RUN_TIMEOUT), 'done', await page.textContent('#figure-status'));
  console.log(`page: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const progress = await page.locator('#figure-progress').evaluate((el) => [el.dataset.done, el.dataset.total]);
  assert.deepEqual(progress, ['32', '32'], 'progress reached 2 tasks × 8 configurations × 2 samples');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#figure-json')]);
  const got = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(got.preset, 'min-p');
  const report = got.parts[0].report;

  await t.test('the chart draws the report’s numbers', async () => {
    const [chart] = JSON.parse(await page.locator('#figure-out').evaluate((el) => el.dataset.chart));
    assert.deepEqual(chart.x, [0.5, 3]);
    assert.equal(report.sweep.length, 4);
    assert.deepEqual(chart.series.map((s) => s.label), ['pure sampling', 'top_p=0.9', 'min_p=0.1', 'top_n_sigma=1']);
    report.sweep.forEach((s, i) => {
      assert.deepEqual(s.temperatures, [0.5, 3]);
      assert.deepEqual(chart.series[i].values, s.pass_at_1, s.spec);
    });
    assert.equal(await page.locator('#figure-charts canvas').count(), 1);
  });

  await t.test('the report equals the native CLI’s on the same preset', async () => {
    console.log(await native);
    const want = JSON.parse(await readFile(join(dir, 'native-min-p.json'), 'utf8'));
    assert.deepEqual({ ...want, parts: undefined }, { ...got, parts: undefined });
    assert.equal(want.parts.length, 1);
    assert.equal(want.parts[0].label, got.parts[0].label);
    assert.deepEqual(numbers(report), numbers(want.parts[0].report));
  });

  await t.test('caption, share link and embed code reproduce it', async () => {
    const caption = await page.textContent('#figure-caption');
    assert.match(caption, /^pass@1 against temperature \(0\.5, 3\) for pure sampling, top-p 0\.9, min-p 0\.1 and top-nσ 1/);
    assert.match(caption, /2 problems .* 2 samples per sampler and temperature, at most 12 tokens each, seed 0\. Model: smollm2/i);
    assert.equal(await page.inputValue('#figure-link'), link);
    const embed = await page.inputValue('#figure-embed');
    assert.ok(embed.startsWith(`<iframe src="${link.replace(/&/g, '&amp;')}&amp;embed=1"`), embed);
    assert.equal(await page.locator('#figure-exports button').count(), 2, 'SVG and PNG');
    await screenshot(page, 'presets-min-p.png');
    // The embed layout: only that figure's button, no form.
    const embedPage = page;
    await embedPage.goto('about:blank');
    await embedPage.goto(`${link}&embed=1`);
    await embedPage.waitForSelector('#figure-min-p');
    assert.equal(await embedPage.locator('#figure-buttons button').count(), 1);
    assert.ok(!(await embedPage.isVisible('#setup')), 'the form is hidden in an embed');
  });
});
