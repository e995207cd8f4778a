// The embed page as a blog would use it, on the real engine: a host page on another origin
// (localhost vs the server's 127.0.0.1) pastes the lab's own embed snippet (a sandboxed
// iframe plus the height listener). Before Run the frame loads only its small assets; after
// Run its lanes equal the native CLI's first tokens and the lab's output for the same
// configuration opened from a share link; the parent gets the height messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConfig, embedSnippet, encodeConfig } from '../../web/share.js';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';

const TOKENS = 4; // short: the text check needs a few tokens, CI time does not
const LOAD_TIMEOUT = 240_000;

/** What the frame may load before Run: its page, styles and the small UI modules. */
const ALLOWED_BEFORE_RUN = new Set([
  '/embed.html', '/css/lab.css', '/css/embed.css', '/vendor/uplot/uPlot.min.css',
  '/web/embed.js', '/web/share.js', '/web/config.js', '/web/engine-client.js', '/web/protocol.js',
  '/web/lane-params.js', '/web/lane-params.json', '/web/model-source.js',
  '/web/ui/compare-view.js', '/web/ui/lanes.js', '/web/ui/dom.js',
  '/web/models.json', '/models/manifest.json', // the models list and this site's manifest of it
]);

test('the embed in a sandboxed cross-origin iframe', { skip: skipReason ?? false, timeout: 600_000 }, async (t) => {
  const native = JSON.parse(await readFile(join(env.artifacts, 'native-lanes.json'), 'utf8')).lanes;
  const config = defaultConfig();
  // The lab's default lanes (greedy, top-p 0.9, min-p 0.1: native-lanes.json's order).
  Object.assign(config.run, { prompt: env.prompt, maxTokens: TOKENS, seed: Number(process.env.SAMPLESCOPE_SEED) });
  const server = new URL(env.url);
  const host = `http://localhost:${server.port}/post.html`; // another origin, still a secure context
  const snippet = embedSnippet(new URL('embed.html', env.url).href, config);

  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'embed-console.log'));
  await browser.context.route(host, (route) => route.fulfill({
    status: 200,
    contentType: 'text/html',
    body: `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>A post</title><h1>A post about samplers</h1>
<script>window.__heights = []; addEventListener('message', (e) => { if (e.data && e.data.type === 'samplescope:height') __heights.push(e.data); });</script>
${snippet}
<p>The end.</p>`,
  }));
  // Chrome treats a page the test synthesizes as public, and public pages may not reach a
  // loopback server (Local Network Access) unless granted. A real blog and a real
  // samplescope host are both public, so this grant only undoes the test's set-up.
  await browser.context.grantPermissions(['local-network-access'], { origin: new URL(host).origin });
  const requests = [];
  browser.context.on('request', (r) => requests.push(r.url()));
  let workers = 0;
  const page = await browser.page();
  page.on('worker', () => { workers += 1; });
  await page.goto(host);
  const frame = page.frameLocator('iframe');
  await frame.locator('#view[data-state="idle"]').waitFor({ timeout: 30_000 });

  await t.test('before Run only the page’s own small assets load', async () => {
    assert.match(await frame.locator('.sc-run').textContent(), /^Run · downloads SmolLM2-135M \(98\.4 MB\)$/);
    await page.waitForTimeout(500); // anything eager would have started by now
    const ours = requests.filter((u) => u.startsWith(server.origin)).map((u) => new URL(u).pathname);
    assert.ok(ours.includes('/embed.html'));
    const extra = ours.filter((p) => !ALLOWED_BEFORE_RUN.has(p));
    assert.deepEqual(extra, [], 'nothing else (no wasm, no model, no worker)');
    assert.equal(workers, 0, 'no worker started');
    assert.equal(requests.filter((u) => !u.startsWith(server.origin) && u !== host).length, 0, 'no other host contacted');
  });

  let before;
  await t.test('the parent receives the height and the snippet fits the frame to it', async () => {
    await page.waitForFunction(() => window.__heights.length > 0, null, { timeout: 10_000 });
    const last = await page.evaluate(() => window.__heights.at(-1));
    assert.equal(last.v, 1);
    const content = await frame.locator('#view').evaluate((el) => Math.ceil(el.getBoundingClientRect().height));
    assert.equal(last.height, content);
    assert.equal(await page.locator('iframe').evaluate((f) => f.style.height), `${content}px`);
    assert.ok(await frame.locator('html').evaluate(() => document.documentElement.scrollHeight <= innerHeight + 1), 'no scrolling inside the frame');
    before = last.height;
  });

  await t.test('Run loads the engine and the model once, and the lanes stream', async () => {
    await frame.locator('.sc-run').click();
    await frame.locator('#view[data-state="done"], #view[data-state="error"]').waitFor({ timeout: LOAD_TIMEOUT });
    assert.equal(await frame.locator('#view').getAttribute('data-state'), 'done', await frame.locator('.sc-status').textContent());
    const paths = requests.map((u) => new URL(u).pathname);
    assert.equal(paths.filter((p) => p.endsWith('.gguf')).length, 1, 'one model download');
    assert.ok(paths.includes('/web/worker.js') && paths.some((p) => p.endsWith('.wasm')), 'the engine loaded on Run');
  });

  let embedded;
  await t.test('each lane equals the native CLI’s first tokens for the same sampler and seed', async () => {
    embedded = [];
    for (const [i, want] of native.entries()) {
      const lane = frame.locator(`.lane[data-lane="${i}"]`);
      const ids = await lane.locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId)));
      assert.deepEqual(ids, want.ids.slice(0, TOKENS), `lane ${i} ids`);
      embedded.push(await lane.locator('[data-lane-text]').textContent());
    }
  });

  await t.test('tokens are inspectable and the frame grows to show the inspector', async () => {
    await frame.locator('.lane[data-lane="2"] .tok[data-step="1"]').click();
    await frame.locator('#inspector[data-state="ready"], #inspector[data-state="error"]').waitFor({ timeout: 60_000 });
    assert.equal(await frame.locator('#inspector').getAttribute('data-state'), 'ready', await frame.locator('#inspector-summary').textContent());
    assert.match(await frame.locator('#inspector-summary').textContent(), /min-p 0\.1/);
    await page.waitForFunction((h) => window.__heights.at(-1).height > h + 200, before, { timeout: 10_000 });
    const h = await page.evaluate(() => window.__heights.at(-1).height);
    assert.equal(await page.locator('iframe').evaluate((f) => f.style.height), `${h}px`);
  });

  await t.test('the lab, opened from a share link of the same configuration, writes the same text', async () => {
    const lab = await browser.context.newPage();
    await lab.goto(`${env.url}#${encodeConfig(config)}`);
    assert.equal(await waitForBody(lab, 'gpu', ['ready', 'missing'], 60_000), 'ready');
    assert.equal(await lab.inputValue('#max-tokens'), String(TOKENS));
    await lab.click('#load-default');
    assert.equal(await waitForBody(lab, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded');
    await lab.click('#run');
    assert.equal(await waitForBody(lab, 'run', ['done'], LOAD_TIMEOUT), 'done');
    const texts = await lab.locator('[data-lane-text]').allTextContents();
    assert.deepEqual(texts, embedded);
    await lab.close();
  });
});
