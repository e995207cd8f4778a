// Two <sampler-compare> elements on one page, on the real engine: nothing heavy loads until
// Run; pressing Run on both starts one worker and downloads the model once; the second
// waits its turn; both write text, the first equal to the native CLI's first tokens; a
// token of the first stays inspectable after the second ran.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env, launch, saveLogs, skipReason } from './harness.mjs';

const TOKENS = 3;
const RUN_TIMEOUT = 300_000;

test('two <sampler-compare> elements share one engine and one model download', { skip: skipReason ?? false, timeout: 600_000 }, async (t) => {
  const native = JSON.parse(await readFile(join(env.artifacts, 'native-lanes.json'), 'utf8')).lanes;
  const seed = process.env.SAMPLESCOPE_SEED;
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'sampler-compare-console.log'));
  // A page of the author's own site (same origin as samplescope's files).
  const url = new URL('__test/post.html', env.url).href;
  await browser.context.route(url, (route) => route.fulfill({
    status: 200,
    contentType: 'text/html',
    body: `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>A post</title>
<script type="module" src="../web/sampler-compare.js"></script>
<h1>Two comparisons</h1>
<sampler-compare id="a" prompt="${env.prompt}" temperature="1" seed="${seed}" max-tokens="${TOKENS}"
  lanes="Greedy:greedy; Top-p 0.9:top_p=0.9"></sampler-compare>
<p>Some prose between them.</p>
<sampler-compare id="b" temperature="1.5" seed="7" max-tokens="${TOKENS}" theme="dark" lanes="min_p=0.1">Once upon a time</sampler-compare>`,
  }));
  const requests = [];
  browser.context.on('request', (r) => requests.push(new URL(r.url()).pathname));
  let workers = 0;
  const page = await browser.page();
  page.on('worker', () => { workers += 1; });
  await page.goto(url);
  await page.locator('#a .sc[data-state="idle"]').waitFor({ timeout: 30_000 });
  await page.locator('#b .sc[data-state="idle"]').waitFor({ timeout: 30_000 });

  await t.test('the attributes configure each element; nothing heavy loads before Run', async () => {
    assert.equal(await page.locator('#a .sc-prompt-text').textContent(), env.prompt);
    assert.equal(await page.locator('#b .sc-prompt-text').textContent(), 'Once upon a time', 'the element’s text is its prompt');
    assert.deepEqual(await page.locator('#a .lane-name').allTextContents(), ['Greedy', 'Top-p 0.9']);
    assert.deepEqual(await page.locator('#b .lane-name').allTextContents(), ['Min-p 0.1']);
    assert.equal(await page.locator('#b').getAttribute('data-theme'), 'dark');
    assert.match(await page.locator('#a .sc-run').textContent(), /98\.4 MB/);
    assert.deepEqual(requests.filter((p) => /\.(wasm|gguf)$|worker\.js$/.test(p)), []);
    assert.equal(workers, 0);
  });

  await t.test('Run on both: one worker, one download, runs in turn, both write text', async () => {
    await page.click('#a .sc-run');
    await page.click('#b .sc-run');
    assert.equal(await page.locator('#b .sc').getAttribute('data-state'), 'waiting', `the second waits for the first: ${await page.locator('#b .sc-status').textContent()}`);
    for (const id of ['a', 'b']) {
      await page.locator(`#${id} .sc[data-state="done"], #${id} .sc[data-state="error"]`).waitFor({ timeout: RUN_TIMEOUT });
      assert.equal(await page.locator(`#${id} .sc`).getAttribute('data-state'), 'done', await page.locator(`#${id} .sc-status`).textContent());
    }
    assert.equal(requests.filter((p) => p.endsWith('.gguf')).length, 1, 'the model was downloaded once');
    assert.equal(requests.filter((p) => p.endsWith('/web/worker.js')).length, 1, 'one worker script');
    assert.equal(workers, 1, 'one worker');
    for (const [i, want] of native.slice(0, 2).entries()) {
      const ids = await page.locator(`#a .lane[data-lane="${i}"] .tok`).evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId)));
      assert.deepEqual(ids, want.ids.slice(0, TOKENS), `element a, lane ${i}: the native CLI's first tokens`);
    }
    const b = await page.locator('#b [data-lane-text]').textContent();
    assert.ok(b.length > 0, 'element b wrote text');
    assert.equal(await page.locator('#b .tok').count(), TOKENS);
  });

  await t.test('a token of the first element is still inspectable after the second ran', async () => {
    await page.click('#a .lane[data-lane="1"] .tok[data-step="1"]');
    await page.locator('#a #inspector[data-state="ready"], #a #inspector[data-state="error"]').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#a #inspector').getAttribute('data-state'), 'ready', await page.locator('#a #inspector-summary').textContent());
    assert.match(await page.locator('#a #inspector-summary').textContent(), /Top-p 0\.9, step 1/);
    assert.ok(await page.locator('#a #candidates-chart canvas').count() >= 1, 'the chart is drawn inside the element');
  });
});
