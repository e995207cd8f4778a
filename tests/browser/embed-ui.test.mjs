// The embed page and <sampler-compare> as pages, against a stubbed engine worker
// (stub.mjs): invalid configurations show a message that names the problem (never a blank
// frame, never an engine start); HTML in prompts, lane names and model output stays text;
// the theme and editable-prompt options; the run sent to the engine is the configuration.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeConfig, encodeConfig, defaultConfig } from '../../web/share.js';
import { env, launch, saveLogs, screenshot, skipReason } from './harness.mjs';
import { recordWorkerMessages, routeStubWorker } from './stub.mjs';

const EVIL = '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">';
const EVIL2 = '<script>window.__pwned=99</script><b>bold?</b>';
const embed = (hash) => new URL(`embed.html${hash}`, env.url).href;

test('the embed page and the element, as pages', { skip: skipReason ?? false, timeout: 180_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'embed-ui-console.log'));
  await routeStubWorker(browser.context, { text: EVIL, tokens: [EVIL, ' ', EVIL2] });
  let workers = 0;
  browser.context.on('page', (p) => p.on('worker', () => { workers += 1; }));

  await t.test('invalid configurations show a message, not a blank frame', async () => {
    const cases = [
      ['#v=1&lane=Nucleus:top_q=0.9', /lane 1: unknown sampler "top_q"/],
      ['#v=1&temperature=-7&lane=a:top_p=1.5', /temperature = -7: must be finite and ≥ 0/, /lane 1: top_p = 1\.5: must be in \(0, 1\]/],
      ['#v=1&prompt=%E0%A4%A', /malformed encoding in prompt/],
      ['#v=2&prompt=hi', /format 2/],
      ['', /no configuration/],
    ];
    const page = await browser.context.newPage();
    for (const [hash, ...wants] of cases) {
      await page.goto('about:blank');
      await page.goto(embed(hash));
      await page.locator('#view[data-state="invalid"]').waitFor({ timeout: 10_000 });
      const text = await page.locator('.sc-error').textContent();
      for (const want of wants) assert.match(text, want, hash);
      assert.match(text, /cannot run/);
      assert.ok(await page.locator('.sc-error').isVisible());
      assert.ok((await page.locator('#view').boundingBox()).height > 60, 'the message takes room');
      assert.equal(await page.locator('.sc-run').count(), 0, 'no Run button');
    }
    await screenshot(page, 'embed-invalid.png');
    await page.close();
    assert.equal(workers, 0, 'an invalid configuration never starts the engine');
  });

  await t.test('HTML in the prompt, lane names and model output stays text', async () => {
    const c = defaultConfig();
    c.run.prompt = `${EVIL} tell me more`;
    c.run.lanes = [{ name: '<b>x</b>', temperature: 0, samplers: {} }, { name: 'Top-p', temperature: null, samplers: { top_p: 0.9 } }];
    const page = await browser.context.newPage();
    await page.goto(embed(`#${encodeConfig(c)}`));
    assert.equal(await page.locator('.sc-prompt-text').textContent(), c.run.prompt);
    assert.deepEqual(await page.locator('.lane-name').allTextContents(), ['<b>x</b>', 'Top-p']);
    await page.click('.sc-run');
    await page.locator('#view[data-state="done"]').waitFor({ timeout: 30_000 });
    await page.click('.lane[data-lane="0"] .tok[data-step="0"]');
    await page.locator('#inspector[data-state="ready"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('.lane[data-lane="0"] [data-lane-text]').textContent(), `${EVIL} ${EVIL2}`);
    assert.ok((await page.textContent('#candidates-table')).includes(EVIL));
    assert.equal(await page.locator('#view img, #view script, #view b').count(), 0, 'no element made from text');
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
    await page.close();
  });

  await t.test('options: dark theme, editable prompt; the engine gets the configuration', async () => {
    const c = defaultConfig();
    Object.assign(c.run, { maxTokens: 9, seed: 77, temperature: 1.5, temperaturePosition: 'last', sameDice: false, chat: true });
    c.view = { theme: 'dark', editable: true };
    const page = await browser.context.newPage();
    await recordWorkerMessages(page);
    await page.goto(embed(`#${encodeConfig(c, { view: true })}`));
    await page.locator('#view[data-state="idle"]').waitFor();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await page.locator('#view').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(30, 34, 39)');
    assert.match(await page.textContent('.sc-settings'), /temperature 1\.5, applied last · seed 77 · up to 9 tokens · independent dice · chat template/);
    await page.fill('.sc-prompt-input', 'An edited prompt');
    await page.click('.sc-run');
    await page.locator('#view[data-state="done"]').waitFor({ timeout: 30_000 });
    const run = await page.evaluate(() => window.__posted.find((m) => m.type === 'run').run);
    assert.deepEqual(run, { ...decodeConfig(`#${encodeConfig(c)}`).config.run, prompt: 'An edited prompt' });
    await screenshot(page, 'embed-dark.png');
    await page.close();
    // Read-only by default, and "auto" follows the reader's setting.
    const plain = await browser.context.newPage();
    await plain.emulateMedia({ colorScheme: 'dark' });
    await plain.goto(embed(`#${encodeConfig(defaultConfig())}`));
    await plain.locator('#view[data-state="idle"]').waitFor();
    assert.equal(await plain.locator('.sc-prompt-input').count(), 0);
    assert.equal(await plain.getAttribute('html', 'data-theme'), 'dark');
    await plain.emulateMedia({ colorScheme: 'light' });
    await plain.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    await plain.close();
  });

  await t.test('a model on another host: its host and the size it reports, asked before anything downloads', async () => {
    const requests = [];
    await browser.context.route('https://models.example/**', (route) => {
      const req = route.request();
      requests.push(`${req.method()} ${new URL(req.url()).pathname}`);
      const size = req.url().includes('huge') ? String(3e9) : '2000000';
      return route.fulfill({ status: 200, headers: { 'content-length': size, 'access-control-allow-origin': '*' }, body: '' });
    });
    const c = defaultConfig();
    c.model = { url: 'https://models.example/m%25zz/small.gguf', bytes: 1000 };
    const page = await browser.context.newPage();
    await recordWorkerMessages(page);
    await page.goto(embed(`#${encodeConfig(c)}`));
    await page.locator('#view[data-state="idle"]').waitFor();
    assert.equal(await page.textContent('.sc-run'), 'Run · downloads small.gguf from models.example (1.0 KB, the link says)');
    await page.click('.sc-run');
    await page.locator('#view[data-state="confirm"]').waitFor();
    await page.waitForFunction(() => document.querySelector('.sc-run').textContent === 'Download and run');
    assert.equal(await page.textContent('.sc-status'), 'small.gguf from models.example is 2.0 MB, as models.example reports it (the link says 1.0 KB); the download stops there.');
    assert.deepEqual(requests, ['HEAD /m%25zz/small.gguf'], 'only the size was asked');
    assert.equal(await page.evaluate(() => window.__posted.filter((m) => m.type === 'load').length), 0, 'nothing loads before the reader agrees');
    await page.click('.sc-run');
    await page.locator('#view[data-state="done"]').waitFor({ timeout: 30_000 });
    const load = await page.evaluate(() => window.__posted.find((m) => m.type === 'load'));
    assert.deepEqual(load.source, { kind: 'url', url: 'https://models.example/m%25zz/small.gguf', maxBytes: 2000000 }, 'the download is capped at the size agreed to');
    // Over the limit: said, and Run stays off.
    c.model = { url: 'https://models.example/huge.gguf', bytes: null };
    await page.goto(embed(`#${encodeConfig(c)}`));
    await page.locator('#view[data-state="idle"]').waitFor();
    await page.click('.sc-run');
    await page.locator('#view[data-state="refused"]').waitFor();
    assert.match(await page.textContent('.sc-status'), /^huge\.gguf from models\.example is 3\.0 GB \(as models\.example reports it\), over the 2\.1 GB limit: it cannot load here\.$/);
    assert.ok(await page.isDisabled('.sc-run'));
    await page.close();
  });

  await t.test('themes: the system picks light or dark unless the embed or element pins one', async () => {
    // lab.css's palette, as computed backgrounds: the lab's page, the embed's and the element's panel.
    const LIGHT = { page: 'rgb(246, 245, 241)', panel: 'rgb(255, 254, 251)' };
    const DARK = { page: 'rgb(22, 25, 29)', panel: 'rgb(30, 34, 39)' };
    const background = (locator) => locator.evaluate((el) => getComputedStyle(el).backgroundColor);
    const url = new URL('__test/themes.html', env.url).href;
    await browser.context.route(url, (route) => route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="../web/sampler-compare.js"></script>
<sampler-compare id="dark" theme="dark"></sampler-compare>
<sampler-compare id="light" theme="light"></sampler-compare>
<sampler-compare id="auto"></sampler-compare>`,
    }));
    const pinned = (theme) => {
      const c = defaultConfig();
      c.view.theme = theme;
      return embed(`#${encodeConfig(c, { view: true })}`);
    };
    for (const [system, want] of [['light', LIGHT], ['dark', DARK]]) {
      const other = want === LIGHT ? DARK : LIGHT;
      const page = await browser.context.newPage();
      await page.emulateMedia({ colorScheme: system });
      await page.goto(env.url);
      assert.equal(await background(page.locator('body')), want.page, `the lab, ${system} system`);
      for (const [theme, expect] of [['auto', want], [system, want], [system === 'light' ? 'dark' : 'light', other]]) {
        await page.goto(pinned(theme));
        await page.locator('#view[data-state="idle"]').waitFor();
        assert.equal(await background(page.locator('#view')), expect.panel, `the embed, theme ${theme}, ${system} system`);
      }
      await page.goto(url);
      for (const [id, expect] of [['dark', DARK], ['light', LIGHT], ['auto', want]]) {
        await page.locator(`#${id} .sc[data-state="idle"]`).waitFor();
        assert.equal(await background(page.locator(`#${id} .sc`)), expect.panel, `the element, theme ${id}, ${system} system`);
      }
      await page.close();
    }
  });

  await t.test('<sampler-compare>: bad attributes show a message; HTML attributes stay text', async () => {
    const url = new URL('__test/elements.html', env.url).href;
    const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    await browser.context.route(url, (route) => route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="../web/sampler-compare.js"></script>
<sampler-compare id="bad" lanes="greedy; top_q=0.5" max-tokens="2000" temperature-position="middle"></sampler-compare>
<sampler-compare id="evil" prompt="${attr(EVIL)}" lanes="${attr('<b>name</b>')}:min_p=0.1"></sampler-compare>
<sampler-compare id="text">${EVIL.replace(/</g, '&lt;')}</sampler-compare>`,
    }));
    const page = await browser.context.newPage();
    await page.goto(url);
    await page.locator('#bad .sc[data-state="invalid"]').waitFor({ timeout: 10_000 });
    const message = await page.locator('#bad .sc-error').textContent();
    assert.match(message, /lane 2: unknown sampler "top_q"/);
    assert.match(message, /max tokens must be between 1 and 1024 \(got 2000\)/);
    assert.match(message, /temperature position must be "first" or "last" \(got "middle"\)/);
    assert.match(message, /attributes/);
    assert.equal(await page.locator('#evil .sc-prompt-text').textContent(), EVIL);
    assert.equal(await page.locator('#evil .lane-name').textContent(), '<b>name</b>');
    assert.equal(await page.locator('#text .sc-prompt-text').textContent(), EVIL);
    await page.click('#evil .sc-run');
    await page.locator('#evil .sc[data-state="done"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#evil [data-lane-text]').textContent(), `${EVIL} ${EVIL2}`);
    const made = await page.evaluate(() => [...document.querySelectorAll('sampler-compare')]
      .reduce((n, el) => n + el.shadowRoot.querySelectorAll('img, script, b').length, 0));
    assert.equal(made, 0, 'no element made from text');
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
    // Changing an attribute re-renders the element.
    await page.locator('#bad').evaluate((el) => { el.setAttribute('lanes', 'greedy'); el.setAttribute('max-tokens', '5'); el.setAttribute('temperature-position', 'last'); });
    await page.locator('#bad .sc[data-state="idle"]').waitFor({ timeout: 10_000 });
    assert.deepEqual(await page.locator('#bad .lane-name').allTextContents(), ['Greedy']);
    await page.close();
  });
});

// The engine clears its stop flag when a run starts, so a cancel that reaches the worker
// before its run has started must still win (web/protocol.js), sent once.
test('the embed stops a run stopped before it started', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'embed-stop-console.log'));
  await routeStubWorker(browser.context, { tokens: ['a', 'b'], paced: { startMs: 300, stepMs: 20 } });
  const c = defaultConfig();
  const max = 500;
  c.run.maxTokens = max;
  const page = await browser.context.newPage();
  await recordWorkerMessages(page);
  await page.goto(embed(`#${encodeConfig(c)}`));
  await page.click('.sc-run');
  await page.locator('#view[data-state="running"]').waitFor({ timeout: 30_000 }); // the run request went out
  await page.click('.sc-stop');
  await page.locator('#view[data-state="done"]').waitFor({ timeout: 30_000 });
  assert.match(await page.locator('.sc-status').textContent(), /^stopped after/);
  const lanes = await page.locator('.lane').count();
  assert.ok(lanes >= 1);
  for (let i = 0; i < lanes; i++) {
    const n = await page.locator(`.lane[data-lane="${i}"] .tok`).count();
    assert.ok(n >= 1 && n < max, `lane ${i} stopped after ${n} tokens`);
  }
  const posted = await page.evaluate(() => window.__posted);
  const run = posted.find((m) => m.type === 'run');
  assert.deepEqual(posted.filter((m) => m.type === 'cancel'), [{ type: 'cancel', id: run.id }], 'one cancel, naming the run');
  await page.close();
});
