// Share links from the lab, against a stubbed engine worker (stub.mjs): a configuration
// set in the lab, shared as a link and opened in a fresh page, is the same configuration
// (controls, lanes, model URL, and the run the page sends to the engine); "Copy embed
// code" carries it too; a bad link says what is wrong and keeps the defaults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeConfig } from '../../web/share.js';
import { env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';
import { recordWorkerMessages, routeStubWorker } from './stub.mjs';

const PROMPT = 'Tom & Jerry #1: 50% + "quotes" = <b>fun</b>?\nSecond line, émoji 😀';
const MODEL = 'https://models.example/some%20dir/custom.gguf';

/** Everything the lab shows about its configuration. */
const controls = (page) => page.evaluate(() => {
  const v = (id) => document.getElementById(id);
  return {
    prompt: v('prompt').value, chat: v('chat').checked, maxTokens: v('max-tokens').value, seed: v('seed').value,
    sameDice: v('same-dice').checked, record: v('inspect-all').checked, temperature: v('temperature').value,
    position: v('temperature-position').value, modelUrl: v('model-url').value,
    lanes: [...document.querySelectorAll('.lane')].map((l) => [l.querySelector('.lane-name').textContent, l.querySelector('.lane-desc').textContent]),
  };
});

async function runAndCapture(page) {
  await page.click('#run');
  assert.equal(await waitForBody(page, 'run', ['done'], 30_000), 'done');
  const runs = await page.evaluate(() => window.__posted.filter((m) => m.type === 'run'));
  return runs.at(-1).run;
}

test('a share link round-trips the lab’s whole configuration', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'share-link-console.log'));
  await routeStubWorker(browser.context, { text: 'stub', tokens: ['a', 'b'] });
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(env.url).origin });
  const page = await browser.page();
  await recordWorkerMessages(page);
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');

  // A model by URL, then every setting away from its default.
  // The model's host answers the size check (HEAD) before anything downloads.
  await browser.context.route('https://models.example/**', (route) => route.fulfill({
    status: 200, headers: { 'content-length': '123456789', 'access-control-allow-origin': '*' }, body: '',
  }));
  await page.fill('#model-url', MODEL);
  await page.click('#url-form button[type="submit"]');
  await page.locator('#model-confirm[data-state="ask"]').waitFor({ timeout: 30_000 });
  assert.match(await page.textContent('#model-confirm-text'), /^custom\.gguf from models\.example is 123\.5 MB, as models\.example reports it; the download stops there\. Download it\?$/);
  await page.click('#model-confirm-yes');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 30_000), 'loaded');
  await page.click('.add-lane');
  const editor = page.locator('.lane[data-lane="3"] .lane-editor');
  await editor.locator('input[aria-label="Lane name"]').fill('Top-nσ: wide, hot');
  await page.uncheck('#lane3-top_k');
  await page.check('#lane3-top_n_sigma');
  await editor.locator('input[aria-label="Top-nσ"]').fill('2.5');
  await page.check('#lane3-repetition_penalty');
  await editor.locator('.row').first().locator('input[type="checkbox"]').check();
  await editor.locator('.row').first().locator('input[type="number"]').fill('2.2');
  await editor.locator('button[type="submit"]').click();
  await page.click('.lane[data-lane="0"] button[aria-label="Remove lane Greedy"]');
  await page.fill('#prompt', PROMPT);
  await page.check('#chat');
  await page.fill('#max-tokens', '77');
  await page.fill('#seed', '4000000000');
  await page.uncheck('#same-dice');
  await page.uncheck('#inspect-all');
  await page.locator('#temperature').evaluate((el) => { el.value = '2.35'; el.dispatchEvent(new Event('input')); });
  await page.selectOption('#temperature-position', 'last');
  const want = await controls(page);
  const sent = await runAndCapture(page);

  await page.click('#share');
  const link = await page.inputValue('#share-text');
  assert.ok(link.startsWith(`${env.url}#v=1&`), link);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, 'Share copied the link');
  assert.equal(await page.evaluate(() => location.href), link, 'the address bar shows the link too');
  assert.match(link, /&lane=Top-p\+0\.9:top_p=0\.9&/, 'lanes read like the CLI’s lane specs');
  assert.match(link, /&model=https:\/\/models\.example\/some%2520dir\/custom\.gguf&model_size=2$/);

  await t.test('the link opens the same configuration', async () => {
    const other = await browser.context.newPage();
    await recordWorkerMessages(other);
    await other.goto(link);
    assert.equal(await waitForBody(other, 'gpu', ['ready', 'missing'], 60_000), 'ready');
    assert.deepEqual(await controls(other), want);
    await other.click('#url-form button[type="submit"]'); // the link's model, from the URL field
    await other.locator('#model-confirm[data-state="ask"]').waitFor({ timeout: 30_000 });
    // The host's own size, beside the size the link claims (the file the first page loaded: the stub's 2 bytes).
    assert.match(await other.textContent('#model-confirm-text'), /^custom\.gguf from models\.example is 123\.5 MB, as models\.example reports it \(the link says 2 B\)/);
    assert.equal(await other.evaluate(() => window.__posted.filter((m) => m.type === 'load').length), 0, 'nothing loads before the reader agrees');
    await other.click('#model-confirm-yes');
    assert.equal(await waitForBody(other, 'model', ['loaded', 'error'], 30_000), 'loaded');
    const load = await other.evaluate(() => window.__posted.find((m) => m.type === 'load'));
    assert.equal(load.source.url, MODEL);
    assert.equal(load.source.maxBytes, 123456789, 'the download is capped at the size the host reported');
    assert.deepEqual(await runAndCapture(other), sent, 'the engine gets the identical run');
    await other.close();
  });

  await t.test('“Copy embed code” carries the same configuration and the embed options', async () => {
    await page.click('#embed-code');
    await page.selectOption('#embed-theme', 'dark');
    await page.check('#embed-editable');
    const snippet = await page.inputValue('#share-text');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()).then((c) => c.startsWith('<iframe')), true);
    assert.match(snippet, /^<iframe src="[^"]+embed\.html#v=1&amp;/);
    assert.match(snippet, /sandbox="allow-scripts allow-same-origin"/);
    const src = /src="([^"]+)"/.exec(snippet)[1].replace(/&amp;/g, '&');
    const { config, errors } = decodeConfig(new URL(src).hash);
    assert.deepEqual(errors, []);
    assert.deepEqual(config.run, sent);
    assert.deepEqual(config.view, { theme: 'dark', editable: true });
    assert.equal(config.model.url, MODEL);
  });

  await t.test('a link with an invalid lane reports it and keeps the rest', async () => {
    const bad = await browser.context.newPage();
    await bad.goto(`${env.url}#v=1&prompt=hi&lane=x:top_q=0.5&lane=Nucleus:top_p=0.8&lane=Off:top_k=0&max_tokens=5000&temperature=4`);
    assert.equal(await waitForBody(bad, 'gpu', ['ready', 'missing'], 60_000), 'ready');
    const toast = await bad.textContent('#toast');
    assert.match(toast, /left out/);
    assert.match(toast, /lane 1: unknown sampler "top_q"/);
    assert.match(toast, /max tokens must be between 1 and 1024 \(got 5000\)/);
    assert.doesNotMatch(toast, /temperature =/, 'temperature 4 is valid, as on the CLI');
    assert.equal(await bad.inputValue('#prompt'), 'hi', 'the rest of the link is kept');
    assert.equal(await bad.inputValue('#max-tokens'), '32', 'the bad value is left at its default');
    assert.equal(await bad.inputValue('#temperature'), '4');
    assert.deepEqual(await bad.locator('.lane .lane-name').allTextContents(), ['Nucleus', 'Off'], 'the bad lane is left out; top_k=0 (off) is a lane');
    await bad.close();
  });

  await t.test('a link that cannot be read at all names the problem and keeps the defaults', async () => {
    const bad = await browser.context.newPage();
    await bad.goto(`${env.url}#v=1&prompt=%E0%A4%A&lane=x:top_q=0.5`);
    assert.equal(await waitForBody(bad, 'gpu', ['ready', 'missing'], 60_000), 'ready');
    assert.match(await bad.textContent('#toast'), /cannot be read.*malformed encoding in prompt/);
    assert.equal(await bad.inputValue('#prompt'), 'The three primary colors are');
    assert.deepEqual(await bad.locator('.lane .lane-name').allTextContents(), ['Greedy', 'Top-p 0.9', 'Min-p 0.1']);
    await bad.close();
  });
});
