// The eval page verifies code tasks (issue 19, item 4): samples imported for the example code
// task set (tests/data/code_tasks.jsonl), a passing, a failing, a looping, a crashing and an
// endlessly allocating one per task, run their tests in Python inside the page's Pyodide
// worker (web/code-worker.js), never in the page's own context. The report equals `samplescope eval --import --verifier
// code`'s (python3 in the CLI's sandbox); the looping samples hit the time limit, their worker
// is replaced and the run goes on; and Pyodide is fetched from the site only when code
// samples need running. Then a local run of the code tasks on the page's model (WebGPU on
// SwiftShader) against the CLI's run of the command the page shows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI, env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const TASKS = resolve('tests/data/code_tasks.jsonl');

/** The report without what depends on the clock. */
function comparable(json) {
  const r = typeof json === 'string' ? JSON.parse(json) : json;
  delete r.elapsed_ms;
  delete r.import.times;
  return r;
}

/**
 * Per task of code_tasks.jsonl: [passing, failing, looping, crashing] samples and the crash's
 * status; each task also gets ENDLESS, which allocates without end.
 */
const SAMPLES = [
  // add: HumanEval's shape, the sample continues the prompt.
  { samples: ['    return a + b\n', '    return a - b\n', '    while True:\n        pass\n', "    raise RuntimeError('boom')\n"], crash: 'RuntimeError' },
  // is_even: a prose prompt, plain asserts; the samples are whole programs.
  {
    samples: ['```python\ndef is_even(n):\n    return n % 2 == 0\n```', 'def is_even(n):\n    return n % 2 == 1\n',
      'def is_even(n):\n    while True:\n        n += 1\n', 'def is_even(n):\n    return 1 / 0\n'],
    crash: 'ZeroDivisionError',
  },
  // largest
  { samples: ['    return max(xs)\n', '    return min(xs)\n', '    i = 0\n    while i >= 0:\n        i += 1\n', '    return xs[len(xs)]\n'], crash: 'IndexError' },
];

/** A sample that allocates without end (its function's body, or a whole program): MemoryError at the cap. */
const ENDLESS = ['    xs = []\n    while True:\n        xs.append(bytearray(1 << 20))\n',
  'def is_even(n):\n    xs = []\n    while True:\n        xs.append(bytearray(1 << 20))\n',
  '    xs = []\n    while True:\n        xs.append(bytearray(1 << 20))\n'];

test('code tasks: the page runs the tests in Pyodide in a worker and gives the CLI’s report', { skip: skipReason ?? false, timeout: 300_000 }, async (t) => {
  await access(CLI).catch(() => assert.fail(`${CLI} is missing: build it with cargo build (cargo xtask test does)`));
  const dir = await mkdtemp(join(tmpdir(), 'samplescope-code-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-code-console.log'));
  /** Every URL the page and its workers asked for. */
  const requests = [];
  browser.context.on('request', (r) => requests.push(r.url()));
  const pyodideRequests = () => requests.filter((u) => /\/pyodide\/|code-worker/.test(u));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000);
  await page.fill('#lanes', 'top_p=0.9');
  await page.fill('#seed', '0');

  await t.test('a numeric import loads no Python', async () => {
    await page.fill('#count', '2');
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
    const path = join(dir, 'numeric.jsonl');
    await writeFile(path, `${JSON.stringify({ task: 0, samples: ['1', '2'] })}\n`);
    await page.setInputFiles('#import-file', path);
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 30_000), 'done', await page.textContent('#import-status'));
    assert.ok(requests.some((u) => u.includes('samplescope_bg')), 'the engine worker’s requests are seen');
    assert.deepEqual(pyodideRequests(), [], 'nothing of Pyodide is fetched without code tasks');
  });

  await t.test('code samples: the CLI’s verdicts, timeouts for the loops, the run goes on', async () => {
    await page.check('input[name="source"][value="jsonl"]');
    await page.fill('#jsonl', await readFile(TASKS, 'utf8'));
    await page.selectOption('#verifier', 'code');
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
    assert.deepEqual(pyodideRequests(), [], 'choosing the task set runs nothing yet');
    const path = join(dir, 'code.jsonl');
    await writeFile(path, SAMPLES.map(({ samples }, task) => JSON.stringify({ task, samples: [...samples, ENDLESS[task]] })).join('\n'));
    await page.evaluate(() => { document.body.dataset.import = 'idle'; });
    const t0 = Date.now();
    await page.setInputFiles('#import-file', path);
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 240_000), 'done', await page.textContent('#import-status'));
    const seconds = (Date.now() - t0) / 1000;

    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    const pageReport = JSON.parse(await readFile(await dl.path(), 'utf8'));
    const out = join(dir, 'native.json');
    await runCli(['eval', '--import', path, '--tasks', TASKS, '--verifier', 'code', '--seed', '0', '--lane', 'top_p=0.9', '--temperature', '1', '--json', out]);
    const native = JSON.parse(await readFile(out, 'utf8'));
    assert.deepEqual(comparable(pageReport), comparable(native));

    // By hand: each task's verdicts in order, one of four correct.
    assert.equal(pageReport.verifier, 'code');
    for (const [i, { crash }] of SAMPLES.entries()) {
      const c = pageReport.tasks[i].configs[0];
      const got = c.samples.map((/** @type {any} */ s) => s.extracted);
      assert.deepEqual(got, ['pass', 'AssertionError', 'timeout', crash, 'MemoryError'], `task ${i}`);
      assert.equal(c.correct, 1, `task ${i}`);
    }
    assert.equal(await page.getAttribute('body', 'data-code-runs'), '15');
    assert.equal(await page.getAttribute('body', 'data-code-timeouts'), '3', 'each loop ended at the time limit');
    // Three loops at 10 s each, plus loading Pyodide four times: the limit held.
    assert.ok(seconds < 3 * 10 + 4 * 30, `${seconds} s`);
    console.log(`code import: 15 samples (3 loops at the 10 s limit, 3 endless allocations) in ${seconds.toFixed(1)} s`);

    // Pyodide came from the site, by the worker.
    const fetched = pyodideRequests();
    const origin = new URL(env.url).origin;
    for (const f of ['code-worker', 'pyodide.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip']) {
      assert.ok(fetched.some((u) => u.includes(f)), `${f} fetched: ${fetched.join(' ')}`);
    }
    assert.ok(fetched.every((u) => u.startsWith(origin)), `from the site only: ${fetched.join(' ')}`);
    assert.equal(await page.evaluate(() => typeof (/** @type {any} */ (globalThis)).loadPyodide), 'undefined', 'not in the page’s context');
    await screenshot(page, 'eval-code.png');
  });
});

test('code tasks: a local run on the page’s model verifies in Pyodide as the CLI does with python3', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  await access(CLI).catch(() => assert.fail(`${CLI} is missing`));
  const dir = await mkdtemp(join(tmpdir(), 'samplescope-code-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await copyFile(TASKS, join(dir, 'code_tasks.jsonl'));
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-code-run-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready', browser.logs.join('\n'));
  await page.check('input[name="source"][value="jsonl"]');
  await page.setInputFiles('#jsonl-file', TASKS);
  await page.waitForFunction(() => document.getElementById('jsonl-name').textContent === 'from code_tasks.jsonl');
  await page.selectOption('#verifier', 'code');
  await page.fill('#samples', '2');
  await page.fill('#lanes', 'top_p=0.9');
  await page.fill('#temperature', '1');
  await page.fill('#seed', '0');
  await page.fill('#max-tokens', '48');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
  const command = (await page.textContent('#cli-command')).trim();
  assert.equal(command, 'samplescope eval --tasks code_tasks.jsonl --samples 2 --lane top_p=0.9 --temperature 1 --seed 0 --max-tokens 48 --verifier code --json report.json');
  const args = command.split(' ').slice(1);
  args[args.length - 1] = 'native.json';
  const native = runCli(args, { cwd: dir });
  native.catch(() => {});

  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 240_000), 'loaded', await page.textContent('#model-status'));
  await page.click('#run');
  assert.equal(await waitForBody(page, 'eval', ['done', 'error', 'cancelled'], 600_000), 'done', await page.textContent('#run-status'));
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const got = JSON.parse(await readFile(await dl.path(), 'utf8'));
  await native;
  const want = JSON.parse(await readFile(join(dir, 'native.json'), 'utf8'));
  const numbers = (/** @type {any} */ r) => ({ ...r, elapsed_ms: undefined });
  assert.deepEqual(numbers(got), numbers(want));
  // Each sample got its test run: a status, never the runner's own failure.
  const statuses = got.tasks.flatMap((/** @type {any} */ x) => [x.greedy, ...x.configs[0].samples]).map((/** @type {any} */ s) => s.extracted);
  assert.equal(statuses.length, 9);
  for (const s of statuses) assert.match(s, /^(pass|timeout|[A-Za-z_.]*(Error|Exception|Exit|Interrupt)|exit \d+)$/, s);
  console.log(`local code run: ${statuses.join(', ')}`);
});
