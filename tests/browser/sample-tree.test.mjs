// The sample tree on WebGPU (SwiftShader), against the native CLI: in the lab, 8 samples of
// one lane's sampler (sample indices 0…7) equal `samplescope compare --same-dice false`
// with that lane's spec 8 times; every node of the drawn tree is a prefix of those token
// ids and its count is the number of samples that start with it (counted here from the
// CLI's ids, not from the page's tree); the probabilities at branch points are the
// engine's; and a click on a node opens the inspector at that step of a sample through it.
// On the eval page, the tree of one task of a run: its samples drawn again equal the run's
// report, text for text and in token counts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { DEFAULT_RUN, cloneRun, laneSpec } from '../../web/config.js';
import { addToken, buildSampleTree, emptySample, treeNodes } from '../../web/sample-tree.js';
import { env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const PROMPT = env.prompt || 'The three primary colors are';
const MAX_TOKENS = 6;
const SEED = 1234;
const N = 8;
const LANE = 1; // Top-p 0.9 in the default lanes
const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;

/** `samplescope compare --json …`: one object per lane. */
async function compare(args) {
  const out = await runCli(['compare', '--json', ...args]);
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

test('buildSampleTree: one node per distinct prefix, counted by the samples that start with it (node, no browser)', () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let round = 0; round < 50; round++) {
    // Few token ids and short lengths, so samples share prefixes and some end early.
    const n = 1 + rand(12);
    const samples = Array.from({ length: n }, (_, i) => {
      const s = emptySample(i);
      const len = 1 + rand(6);
      for (let step = 0; step < len; step++) {
        const id = rand(3);
        addToken(s, { step, tokenId: id, textDelta: `t${id}`, eog: false, heat: { prob: (id + 1) / 8 }, record: { token_prob: (id + 1) / 6 } });
      }
      return s;
    });
    const root = buildSampleTree(samples.toReversed());
    assert.equal(root.count, n);
    const expected = new Map();
    for (const s of samples) {
      for (let k = 1; k <= s.ids.length; k++) {
        const key = s.ids.slice(0, k).join(',');
        expected.set(key, [...(expected.get(key) ?? []), s.index]);
      }
    }
    const nodes = treeNodes(root);
    assert.deepEqual(new Set(nodes.map((x) => x.prefix.join(','))), new Set(expected.keys()));
    assert.equal(nodes.length, expected.size, 'no prefix twice');
    for (const x of nodes) {
      assert.deepEqual(x.samples, expected.get(x.prefix.join(',')));
      assert.equal(x.count, x.samples.length);
      assert.equal(x.ends, samples.filter((s) => s.ids.join(',') === x.prefix.join(',')).length);
      assert.equal(x.step, x.prefix.length - 1);
      assert.equal(x.p, (x.id + 1) / 8);
      assert.equal(x.q, (x.id + 1) / 6);
      assert.equal(x.children.reduce((a, c) => a + c.count, 0) + x.ends, x.count, 'a node’s samples go on or end there');
      for (let i = 1; i < x.children.length; i++) assert.ok(x.children[i - 1].count >= x.children[i].count, 'most samples first');
    }
  }
});

test('a sample tree of 8: the native CLI’s samples, counts by prefix, the inspector at a node', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'sample-tree-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#toast'));

  await page.fill('#prompt', PROMPT);
  await page.fill('#max-tokens', String(MAX_TOKENS));
  await page.fill('#seed', String(SEED));
  await page.selectOption('#tree-lane', String(LANE));
  await page.fill('#tree-n', String(N));
  await page.click('#tree-draw');
  assert.equal(await waitForBody(page, 'tree', ['done', 'error'], RUN_TIMEOUT), 'done', await page.textContent('#tree-status'));

  const samples = await page.locator('.tree-samples li').evaluateAll((lis) => lis.map((li) => ({
    index: Number(li.dataset.sample), ids: li.dataset.ids.split(',').map(Number), text: li.querySelector('.tree-sample-text').textContent,
  })));
  const nodes = await page.locator('.tree-node').evaluateAll((gs) => gs.map((g) => ({
    step: Number(g.dataset.step), id: Number(g.dataset.id), count: Number(g.dataset.count), prefix: g.dataset.prefix,
    samples: g.dataset.samples, sample: Number(g.dataset.sample), p: g.dataset.p, q: g.dataset.q, branch: g.classList.contains('branch'),
    meta: g.querySelector('.meta').textContent,
  })));

  const run = { ...cloneRun(DEFAULT_RUN), seed: SEED };
  const spec = laneSpec(run.lanes[LANE], run);
  const native = await compare(['--prompt', PROMPT, '--max-tokens', String(MAX_TOKENS), '--same-dice', 'false', ...Array.from({ length: N }, () => ['--lane', spec]).flat()]);

  await t.test('the samples are the native CLI’s, sample indices 0…7', () => {
    assert.equal(samples.length, N);
    assert.deepEqual(samples.map((s) => s.index), [...Array(N).keys()]);
    assert.equal(native.length, N);
    native.forEach((l, i) => {
      assert.deepEqual(samples[i].ids, l.ids, `sample ${i}'s ids`);
      assert.equal(samples[i].text, l.text, `sample ${i}'s text`);
    });
    assert.ok(new Set(native.map((l) => l.ids.join(','))).size > 1, 'top-p at T 1 draws more than one distinct sample here (else the tree has no branch)');
  });

  await t.test('every node is a prefix of the samples, counted by how many start with it', async () => {
    /** prefix → the samples that start with it, from the CLI's ids. */
    const expected = new Map();
    native.forEach((l, i) => {
      for (let k = 1; k <= l.ids.length; k++) {
        const key = l.ids.slice(0, k).join(',');
        expected.set(key, [...(expected.get(key) ?? []), i]);
      }
    });
    assert.equal(nodes.length, expected.size, 'one node per distinct prefix');
    for (const n of nodes) {
      const through = expected.get(n.prefix);
      assert.ok(through, `node ${n.prefix} is a prefix of a sample`);
      assert.equal(n.count, through.length, `count at ${n.prefix}`);
      assert.equal(n.samples, through.join(','), `samples through ${n.prefix}`);
      assert.equal(n.step, n.prefix.split(',').length - 1);
      assert.equal(n.id, Number(n.prefix.split(',').at(-1)));
      assert.ok(n.meta.startsWith(String(n.count)), `the node shows its count: ${n.meta}`);
    }
    const first = nodes.filter((n) => n.step === 0);
    assert.equal(first.reduce((a, n) => a + n.count, 0), N, 'the first step’s branches hold every sample');
    const widths = await page.locator('.tree-edges path').evaluateAll((ps) => ps.map((p) => [Number(p.dataset.count), Number(p.getAttribute('stroke-width'))]));
    for (const [a, wa] of widths) for (const [b, wb] of widths) if (a > b) assert.ok(wa > wb, 'wider branches for more samples');
  });

  await t.test('branch points show the probabilities the branches were drawn with', () => {
    const branches = nodes.filter((n) => n.branch);
    assert.ok(branches.length >= 2, 'the tree branches');
    for (const n of branches) {
      const q = Number(n.q);
      assert.ok(q > 0 && q <= 1, `q at ${n.prefix}: ${n.q}`);
      assert.ok(n.meta.includes(`${(q * 100).toFixed(1)}%`) || q < 0.001, `shown: ${n.meta}`);
      assert.ok(Number(n.p) > 0 && Number(n.p) <= 1, `p before truncation at ${n.prefix}`);
    }
  });

  await t.test('a click on a node opens the inspector at that step of a sample through it', async () => {
    const branches = nodes.filter((n) => n.branch);
    for (const n of [branches.at(-1), branches[0]]) {
      await page.click(`.tree-node[data-prefix="${n.prefix}"] circle`);
      await page.waitForFunction(([l, s]) => {
        const el = document.getElementById('inspector');
        return el.dataset.state === 'error' || (el.dataset.state === 'ready' && el.dataset.lane === String(l) && el.dataset.step === String(s));
      }, [n.sample, n.step], { timeout: 120_000 });
      assert.equal(await page.getAttribute('#inspector', 'data-state'), 'ready', await page.textContent('#inspector-summary'));
      assert.match(await page.textContent('#inspector-summary'), new RegExp(`sample #${n.sample}, step ${n.step}: chose`));
      const rows = await page.locator('#candidates-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({ ...tr.dataset, chosen: tr.classList.contains('chosen') })));
      const chosen = rows.find((r) => r.chosen);
      assert.ok(chosen, 'the chosen token is among the candidates');
      assert.equal(Number(chosen.id), n.id, 'the inspector’s chosen token is the node’s');
      assert.equal(chosen.pre, n.p, 'the node’s p before truncation is the inspector’s');
      assert.ok(Math.abs(Number(chosen.post) - Number(n.q)) <= 1e-6 + 1e-5 * Number(n.q), `drawn with ${n.q}, inspector's p after ${chosen.post}`);
      assert.equal(await page.locator('#candidates-table .fork-btn').count(), 0, 'a sample is not a lane: no fork buttons');
    }
    console.log(`screenshot: ${await screenshot(page, 'sample-tree.png')}`);
  });
});

test('the eval page’s tree of one task: the run’s samples drawn again, text for text', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'sample-tree-eval-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.check('input[name="source"][value="jsonl"]');
  await page.fill('#jsonl', [
    { prompt: 'What is 2 + 3? Reply with only the number.', answer: 5 },
    { prompt: 'What is 9 - 4? Reply with only the number.', answer: 5 },
  ].map((x) => JSON.stringify(x)).join('\n'));
  await page.fill('#samples', String(N));
  await page.fill('#lanes', 'min_p=0.05');
  await page.fill('#temperature', '1.5');
  await page.fill('#seed', '5');
  await page.fill('#max-tokens', String(MAX_TOKENS));
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#task-errors'));
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#model-status'));
  await page.click('#run');
  assert.equal(await waitForBody(page, 'eval', ['done', 'error', 'cancelled'], RUN_TIMEOUT), 'done', await page.textContent('#run-status'));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const report = JSON.parse(await readFile(await download.path(), 'utf8'));

  await page.selectOption('#tree-task', '1');
  await page.selectOption('#tree-config', '0');
  await page.click('#tree-draw');
  assert.equal(await waitForBody(page, 'tree', ['done', 'error'], RUN_TIMEOUT), 'done', await page.textContent('#tree-status'));
  const samples = await page.locator('.tree-samples li').evaluateAll((lis) => lis.map((li) => ({
    index: Number(li.dataset.sample), ids: li.dataset.ids.split(',').map(Number), text: li.querySelector('.tree-sample-text').textContent,
  })));
  const kept = report.tasks[1].configs[0].samples;
  assert.equal(samples.length, N);
  assert.equal(kept.length, N);
  for (const k of kept) assert.equal(samples[k.sample_index].text, k.output, `sample ${k.sample_index}: the tree's text is the run's`);
  for (const s of samples) assert.equal(s.ids.length, kept.find((k) => k.sample_index === s.index).tokens, `sample ${s.index}: as many tokens as the run's`);
  assert.match(await page.textContent('#tree-status'), new RegExp(`${N} samples, each equal to the run’s text`));
  const nodes = await page.locator('.tree-node').evaluateAll((gs) => gs.map((g) => ({ prefix: g.dataset.prefix, count: Number(g.dataset.count), sample: Number(g.dataset.sample), step: Number(g.dataset.step) })));
  for (const n of nodes) assert.equal(n.count, samples.filter((s) => `${s.ids.join(',')},`.startsWith(`${n.prefix},`)).length, `count at ${n.prefix}`);
  const n = nodes.find((x) => x.step === 1) ?? nodes[0];
  await page.click(`.tree-node[data-prefix="${n.prefix}"] circle`);
  await page.waitForFunction(([l, s]) => {
    const el = document.getElementById('inspector');
    return el && (el.dataset.state === 'error' || (el.dataset.state === 'ready' && el.dataset.lane === String(l) && el.dataset.step === String(s)));
  }, [n.sample, n.step], { timeout: 120_000 });
  assert.equal(await page.getAttribute('#inspector', 'data-state'), 'ready', await page.textContent('#inspector-summary'));
  console.log(`screenshot: ${await screenshot(page, 'sample-tree-eval.png')}`);
});
