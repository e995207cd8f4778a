// Model families in the lab on WebGPU (SwiftShader): a Qwen 3 and a Llama 3.2 of their
// released shapes (full width and vocabulary, two layers, random weights: xtask writes them
// with `samplescope synth SHAPE --layers 2` into www/models) load from the URL field, show
// their architecture and vocabulary, and run the default greedy, top-p and min-p lanes equal
// to the native CLI's, token for token (xtask wrote native-lanes-{qwen3,llama}.json). Random
// weights decode reserved control tokens: expected, the ids are what is compared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deprioritizeGpuProcess, env, launch, saveLogs, skipReason, waitForBody } from './harness.mjs';

const LOAD_TIMEOUT = 180_000;
const RUN_TIMEOUT = 240_000;

/** Each model's native reference in env.artifacts and what its facts must say. */
const FAMILIES = [
  {
    name: 'Qwen 3 (0.6B shape)', json: 'native-lanes-qwen3.json',
    facts: { architecture: 'qwen3', vocabulary: '151,936' }, mentions: ['Q8_0', '2 layers, width 1024', '40,960 tokens trained'],
  },
  {
    name: 'Llama 3.2 (1B shape)', json: 'native-lanes-llama.json',
    facts: { architecture: 'llama', vocabulary: '128,256' }, mentions: ['Q4_K', 'Q6_K', '2 layers, width 2048', '131,072 tokens trained'],
  },
];

/** The model facts as {term: text}. */
const readFacts = (page) => page.$$eval('#model-facts dt', (dts) => Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])));

test('Qwen 3 and Llama 3.2 shapes in the lab on WebGPU', { skip: skipReason ?? false, timeout: 600_000 }, async (t) => {
  const seed = Number(process.env.SAMPLESCOPE_SEED);
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'families-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await deprioritizeGpuProcess(browser);

  for (const family of FAMILIES) {
    const native = JSON.parse(await readFile(join(env.artifacts, family.json), 'utf8'));

    await t.test(`${family.name}: loads from its URL`, async () => {
      // An absolute URL: the field is <input type="url">, which refuses a relative one.
      await page.fill('#model-url', new URL(`models/${native.model}`, env.url).href);
      await page.click('#url-form button[type="submit"]');
      await waitForBody(page, 'model', ['loading'], 10_000);
      const state = await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT);
      assert.equal(state, 'loaded', `model load failed: ${await page.textContent('#toast')}`);
      const facts = await readFacts(page);
      for (const [term, want] of Object.entries(family.facts)) assert.equal(facts[term], want, `model facts: ${term}`);
      const text = Object.values(facts).join(' · ');
      for (const want of family.mentions) assert.ok(text.includes(want), `model facts mention ${want}: ${text}`);
    });

    await t.test(`${family.name}: greedy, top-p and min-p lanes equal the native CLI`, async () => {
      await page.fill('#prompt', native.prompt);
      await page.fill('#max-tokens', String(native.maxTokens));
      await page.fill('#seed', String(seed));
      if (!(await page.isDisabled('#chat'))) await page.uncheck('#chat');
      await deprioritizeGpuProcess(browser);
      await page.click('#run');
      await waitForBody(page, 'run', ['running'], 10_000);
      await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
      for (const [i, want] of native.lanes.entries()) {
        const lane = page.locator(`.lane[data-lane="${i}"]`);
        const name = await lane.locator('.lane-name').textContent();
        const ids = await lane.locator('.tok').evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId)));
        assert.deepEqual(ids, want.ids, `${name}: token ids`);
        assert.equal(await lane.locator('[data-lane-text]').textContent(), want.text, `${name}: text`);
      }
    });
  }
});
