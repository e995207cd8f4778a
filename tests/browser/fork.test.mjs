// Forks on WebGPU (SwiftShader), against the native CLI: in the lab, "continue from here"
// on a candidate that is neither the argmax nor the token the lane took makes a new lane
// whose token at that step is the candidate, and whose every token equals
// `samplescope generate --force <the lane's ids up to the step, then the candidate>` with
// the same sampler and seed (the engine's rule: the dice continue at step N). A fork can be
// forked again; both survive a share link (the fork=… key) and an embed, and decode the
// same there; a fork with an id outside the vocabulary is refused with a message naming it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, cloneRun, laneSpec } from '../../web/config.js';
import { decodeConfig } from '../../web/share.js';
import { env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const PROMPT = env.prompt || 'The three primary colors are';
const MAX_TOKENS = 6;
const SEED = 1234;
const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;

/** `samplescope generate --json …`, parsed. */
async function generate(args) {
  return JSON.parse(await runCli(['generate', '--json', ...args]));
}

/** A lane's token ids and text as the page shows them. */
const laneTokens = async (page, lane) => ({
  ids: await page.locator(`.lane[data-lane="${lane}"] .tok`).evaluateAll((els) => els.map((e) => Number(e.dataset.tokenId))),
  text: await page.locator(`.lane[data-lane="${lane}"] [data-lane-text]`).textContent(),
});

/** Clicks token `step` of `lane` and waits until the inspector shows it. */
async function inspect(page, lane, step) {
  await page.click(`.lane[data-lane="${lane}"] .tok[data-step="${step}"]`);
  await page.waitForFunction(([l, s]) => {
    const el = document.getElementById('inspector');
    return el.dataset.state === 'error' || (el.dataset.state === 'ready' && el.dataset.lane === String(l) && el.dataset.step === String(s));
  }, [lane, step], { timeout: 120_000 });
  assert.equal(await page.getAttribute('#inspector', 'data-state'), 'ready', await page.textContent('#inspector-summary'));
}

/**
 * The inspector's rows as {rank, id, chosen}; picks the most likely candidate that is
 * neither the argmax (rank 1) nor the token the lane took, and forks from it.
 */
async function forkFromNonGreedy(page) {
  const rows = await page.locator('#candidates-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    rank: Number(tr.cells[0].textContent), id: Number(tr.cells[2].textContent), chosen: tr.classList.contains('chosen'),
  })));
  const pick = rows.find((r) => r.rank > 1 && !r.chosen);
  assert.ok(pick, `a candidate besides the argmax and the chosen one: ${JSON.stringify(rows)}`);
  const lanes = await page.locator('.lane').count();
  await page.click(`#candidates-table tbody tr:nth-child(${pick.rank}) .fork-btn`);
  // The fork is a lane of its own, run alone: done when it has stopped.
  await page.locator(`.lane[data-lane="${lanes}"][data-stop]`).waitFor({ timeout: RUN_TIMEOUT });
  await waitForBody(page, 'run', ['done'], 30_000);
  return pick.id;
}

test('forks in the lab equal the native CLI with the same forced tokens, and survive links and embeds', { skip: skipReason ?? false, timeout: 1_200_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'fork-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#toast'));

  const run = { ...cloneRun(DEFAULT_RUN), seed: SEED };
  const topP = laneSpec(run.lanes[1], run);
  await page.fill('#prompt', PROMPT);
  await page.fill('#max-tokens', String(MAX_TOKENS));
  await page.fill('#seed', String(SEED));
  await page.click('#run');
  await waitForBody(page, 'run', ['running'], 10_000);
  await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
  const parent = await laneTokens(page, 1);
  assert.equal(parent.ids.length, MAX_TOKENS);

  let first;
  await t.test('a fork from a non-greedy candidate: that token, then the native CLI’s continuation', async () => {
    const step = 2;
    await inspect(page, 1, step);
    const id = await forkFromNonGreedy(page);
    assert.equal(await page.locator('.lane').count(), 4);
    const fork = await laneTokens(page, 3);
    const forced = [...parent.ids.slice(0, step), id];
    assert.deepEqual(fork.ids.slice(0, step + 1), forced, 'the parent’s tokens, then the candidate');
    assert.equal(await page.getAttribute('.lane[data-lane="3"] .tok.fork-point', 'data-token-id'), String(id));
    assert.equal(await page.locator('.lane[data-lane="3"] .tok.forced').count(), step + 1);
    assert.match(await page.textContent('.lane[data-lane="3"] [data-fork]'), /forked from lane 2 \(Top-p 0\.9\) at step 2/);
    const native = await generate(['--prompt', PROMPT, '--sampler', topP, '--max-tokens', String(MAX_TOKENS), '--force', forced.join(',')]);
    assert.deepEqual(native.forced, forced);
    assert.deepEqual(fork.ids, native.ids, 'every token equals the native CLI’s');
    assert.equal(fork.text, native.text);
    if (native.stop === 'max_tokens') assert.equal(fork.ids.length, step + 1 + MAX_TOKENS, 'max tokens counts the tokens after the fork');
    assert.equal(await page.getAttribute('.lane[data-lane="3"]', 'data-stop'), native.stop);
    // The other lanes kept their text.
    assert.deepEqual(await laneTokens(page, 1), parent);
    first = { forced, ids: fork.ids };
  });

  let second;
  await t.test('a fork can be forked again', async () => {
    const step = first.forced.length + 1;
    await inspect(page, 3, step);
    const id = await forkFromNonGreedy(page);
    const fork = await laneTokens(page, 4);
    const forced = [...first.ids.slice(0, step), id];
    assert.deepEqual(fork.ids.slice(0, step + 1), forced);
    assert.match(await page.textContent('.lane[data-lane="4"] [data-fork]'), /forked from lane 4 \(Top-p 0\.9 ↪2\) at step 4/);
    const native = await generate(['--prompt', PROMPT, '--sampler', topP, '--max-tokens', String(MAX_TOKENS), '--force', forced.join(',')]);
    assert.deepEqual(fork.ids, native.ids);
    second = { forced, ids: fork.ids };
    console.log(`screenshot: ${await screenshot(page, 'fork-lanes.png')}`);
  });

  let link;
  await t.test('a share link carries the forks, and the opened link decodes them the same', async () => {
    await page.click('#share');
    link = await page.inputValue('#share-text');
    assert.ok(link.includes(`&fork=4:2:0:${first.forced.join(',')}`), link);
    assert.ok(link.includes(`&fork=5:4:0:${second.forced.join(',')}`), link);
    const other = await browser.context.newPage();
    await other.goto(link);
    assert.equal(await waitForBody(other, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', 'the cached model loads');
    assert.match(await other.textContent('.lane[data-lane="4"] [data-fork]'), /forked from lane 4/);
    await other.click('#run');
    await waitForBody(other, 'run', ['running'], 10_000);
    await waitForBody(other, 'run', ['done'], RUN_TIMEOUT);
    assert.deepEqual((await laneTokens(other, 1)).ids, parent.ids, 'the parent again');
    assert.deepEqual((await laneTokens(other, 3)).ids, first.ids, 'the first fork again, in a run of all lanes');
    assert.deepEqual((await laneTokens(other, 4)).ids, second.ids, 'the fork of the fork again');
    await other.close();
  });

  await t.test('an embed of the link runs the forks the same', async () => {
    const embed = await browser.context.newPage();
    const hash = new URL(link).hash;
    await embed.goto(new URL(`embed.html${hash}`, env.url).href);
    await embed.click('.sc-run');
    await embed.waitForFunction(() => document.querySelectorAll('.lane[data-stop]').length === 5, null, { timeout: RUN_TIMEOUT });
    assert.deepEqual((await laneTokens(embed, 3)).ids, first.ids);
    assert.deepEqual((await laneTokens(embed, 4)).ids, second.ids);
    await embed.close();
  });

  await t.test('a fork with an id outside the vocabulary is refused, named', async () => {
    const { config } = decodeConfig(new URL(link).hash);
    assert.equal(config.run.lanes.length, 5);
    const bad = link.replace(`&fork=4:2:0:${first.forced.join(',')}`, '&fork=4:2:0:1,99999999');
    const other = await browser.context.newPage();
    await other.goto(bad);
    assert.equal(await waitForBody(other, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded');
    await other.click('#run');
    await waitForBody(other, 'run', ['done'], RUN_TIMEOUT);
    assert.match(await other.textContent('#toast'), /lane 4: forced token 2 of 2 is id 99999999, outside the vocabulary/);
    await other.close();
  });
});
