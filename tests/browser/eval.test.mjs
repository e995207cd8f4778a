// The eval page on WebGPU (SwiftShader) against the native CLI: the same small run (3 JSONL
// tasks × 8 samples of min-p 0.1 plus greedy, 8 tokens) from the page and from
// `samplescope eval` — the command the page itself displays — must give the same report,
// every output and number alike. Also: the core's JSONL errors, line by line, and prompts
// with HTML shown as text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const RUN_TIMEOUT = 420_000;

// Short prompts (a short prefill) that the model answers right sometimes, so pass@k, the
// vote and the fit are all non-trivial; many lanes stop early at end-of-generation.
const TASKS = [
  { prompt: 'What is 2 + 3? Reply with only the number.', answer: 5 },
  { prompt: 'What is 9 - 4? Reply with only the number.', answer: 5 },
  { prompt: 'What is 6 + 7? Reply with only the number.', answer: 13 },
];
const FORM = { samples: '8', lanes: 'min_p=0.1', temperature: '1', seed: '3', maxTokens: '8' };

/** The report without what may differ between two runs of the same numbers: the time. */
const numbers = (report) => ({ ...report, elapsed_ms: undefined });

test('the eval page on WebGPU', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const dir = resolve(env.artifacts, 'eval');
  await mkdir(dir, { recursive: true });
  const tasksFile = join(dir, 'eval-tasks.jsonl');
  await writeFile(tasksFile, TASKS.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready', browser.logs.join('\n'));

  await t.test('a bad JSONL task set is refused line by line, by the core’s parser', async () => {
    await page.check('input[name="source"][value="jsonl"]');
    await page.fill('#jsonl', [
      '{"prompt": "What is 1 + 1?", "answer": 2}',
      '{"prompt": "no answer"}',
      '',
      'this is not JSON',
      '["a", "list"]',
      '{"prompt": 7, "answer": 1}',
    ].join('\n'));
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'invalid');
    const errors = await page.locator('#task-errors li').allTextContents();
    assert.equal(errors.length, 4, errors.join('\n'));
    assert.match(errors[0], /line 2: missing field "answer"/);
    assert.match(errors[1], /^line 4: not valid JSON/);
    assert.match(errors[2], /^line 5: expected an object/);
    assert.match(errors[3], /^line 6: "prompt" must be a string, got a number/);
    assert.match(await page.textContent('#task-status'), /4 problems/);
    // Parses, but the numeric verifier cannot check a word.
    await page.fill('#jsonl', '{"prompt": "Colour of the sky?", "answer": "blue"}');
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'invalid');
    assert.match(await page.textContent('#task-errors'), /task 0: answer "blue" is not a single number/);
    await page.selectOption('#verifier', 'contains');
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok');
    await page.selectOption('#verifier', 'numeric');
  });

  await t.test('prompts with HTML are listed as text', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
    await page.fill('#jsonl', JSON.stringify({ prompt: evil, answer: 1 }));
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok');
    assert.equal(await page.locator('#task-list li').first().textContent(), `${evil} → 1`);
    assert.equal(await page.locator('main img, main b').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  });

  // Configure the run as a reader would, then run the command the page shows natively
  // while the page loads the model.
  await page.setInputFiles('#jsonl-file', tasksFile);
  await page.waitForFunction(() => document.getElementById('jsonl-name').textContent === 'from eval-tasks.jsonl');
  await page.fill('#samples', FORM.samples);
  await page.fill('#lanes', FORM.lanes);
  await page.fill('#temperature', FORM.temperature);
  await page.fill('#seed', FORM.seed);
  await page.fill('#max-tokens', FORM.maxTokens);
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok');
  assert.match(await page.textContent('#task-status'), /^3 tasks ready/);
  const command = (await page.textContent('#cli-command')).trim();
  assert.equal(command, 'samplescope eval --tasks eval-tasks.jsonl --samples 8 --lane min_p=0.1 --temperature 1 --seed 3 --max-tokens 8 --verifier numeric --json report.json');
  const args = command.split(' ').slice(1);
  args[args.length - 1] = 'native-report.json';
  const cliStart = performance.now();
  const native = runCli(args, { cwd: dir }); // the page's command line, split
  native.catch(() => {}); // awaited below; keeps an early failure from going unhandled

  await t.test('loads the default model', async () => {
    await page.click('#load-default');
    assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 240_000), 'loaded', await page.textContent('#model-status'));
  });

  await t.test('the page’s report equals the CLI’s for the same seed', async () => {
    console.log(await native);
    console.log(`native CLI: done ${((performance.now() - cliStart) / 1000).toFixed(1)} s after it started`);
    const want = JSON.parse(await readFile(join(dir, 'native-report.json'), 'utf8'));
    const pageStart = performance.now();
    await page.click('#run');
    assert.equal(await waitForBody(page, 'eval', ['done', 'error', 'cancelled'], RUN_TIMEOUT), 'done', await page.textContent('#run-status'));
    console.log(`page run: ${((performance.now() - pageStart) / 1000).toFixed(1)} s`);
    const progress = await page.locator('#eval-progress').evaluate((el) => [el.dataset.done, el.dataset.total]);
    assert.deepEqual(progress, ['27', '27'], 'progress reached done = total (3 × (8 + greedy))');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    const got = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.deepEqual(numbers(got), numbers(want));
    // The page shows those numbers: the table row and the per-task counts.
    const c = want.configs[0];
    const pct = (v) => `${(100 * v).toFixed(1)}%`;
    const row = await page.locator('#summary-table tr[data-config="0"] td').allTextContents();
    assert.equal(row[0], 'min_p=0.1');
    assert.deepEqual(row.slice(2, 6), [1, 2, 4, 8].map((k) => pct(c.pass_at_k[k - 1])));
    const counts = await page.locator('#task-table td[data-config="0"] .count').allTextContents();
    assert.deepEqual(counts, want.tasks.map((x) => `${x.configs[0].correct}/8`));
    assert.ok((await page.locator('#passk-chart canvas').count()) === 1 && (await page.locator('#vote-chart canvas').count()) === 1, 'both charts drawn');
    // The CSV export is the core's text, as the CLI writes it.
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const lines = (await readFile(await csv.path(), 'utf8')).trim().split('\n');
    assert.equal(lines[0], 'config,k,pass_at_k,majority_vote,power_law_fit,greedy');
    assert.equal(lines.length, 1 + 8);
    console.log(`page = CLI: pass@1 ${pct(c.pass_at_k[0])} → pass@8 ${pct(c.pass_at_k[7])}, greedy ${pct(want.greedy_accuracy)}, fit ${JSON.stringify(c.fit)}`);
    await screenshot(page, 'eval-after-run.png');
  });

  await t.test('Cancel reaches the engine while the run is in flight', async () => {
    await page.click('#run');
    await waitForBody(page, 'eval', ['running'], 10_000);
    await page.click('#cancel');
    // Without the worker handling `stop` mid-run, the run would finish all 27 samples.
    assert.equal(await waitForBody(page, 'eval', ['done', 'error', 'cancelled'], RUN_TIMEOUT), 'cancelled', await page.textContent('#run-status'));
    assert.match(await page.textContent('#run-status'), /^cancelled after/);
    assert.match(await page.textContent('#results-summary'), /Cancelled: only finished tasks count/);
    const done = Number(await page.locator('#eval-progress').evaluate((el) => el.dataset.done));
    assert.ok(done < 27, `cancelled after ${done} of 27 samples`);
    assert.ok(!(await page.isDisabled('#run')), 'Run is enabled again');
  });
});
