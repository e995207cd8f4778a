// The eval page imports samples drawn elsewhere (issue 19): a file dropped on the page or
// chosen with "Import samples…" goes through the real engine worker's `evalImport` (no model,
// no WebGPU) and gives the same report JSON as `samplescope eval --import` on the same file
// and flags; what was skipped is named by line, as text; errors are shown; the charts are
// drawn. Then the scale figure: 500 tasks × 10,000 samples, file to charts, printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, env, launch, runCli, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const run = promisify(execFile);
const EVIL = '<img src=x onerror="window.__pwned=1">';

/** The report without what depends on the clock. */
function comparable(json) {
  const r = typeof json === 'string' ? JSON.parse(json) : json;
  delete r.elapsed_ms;
  delete r.import.times;
  return r;
}

/** `samplescope eval --import FILE …flags --json OUT`, parsed. */
async function nativeImport(dir, file, flags) {
  const out = join(dir, 'native.json');
  await runCli(['eval', '--import', file, ...flags, '--json', out]);
  return JSON.parse(await readFile(out, 'utf8'));
}

/**
 * Plain JSONL for the page's tasks (their answers read from its task list): per task some
 * right and wrong answers, a malformed line 3, a record for a task the set lacks (line 6),
 * and HTML in a sample and a malformed line (shown as text).
 */
function plainFile(answers) {
  const lines = answers.map((a, task) => JSON.stringify({
    task,
    samples: [String(a), `The answer is ${a + 1}.`, task % 2 ? `= ${a}` : 'no idea', `${EVIL} ${a}`, String(a + task)],
  }));
  lines.splice(2, 0, `{"task": 1, "samples": ["${EVIL}" `);
  lines.splice(5, 0, JSON.stringify({ task: 99, samples: ['1', '2'] }));
  return `${lines.join('\n')}\n`;
}

test('the eval page imports a sample file: the CLI’s report, skipped lines by number, charts', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  await access(CLI).catch(() => assert.fail(`${CLI} is missing: build it with cargo build (cargo xtask test does)`));
  const dir = await mkdtemp(join(tmpdir(), 'samplescope-import-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // No WebGPU at all: the import needs neither a GPU nor a model.
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-import-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000), 'missing');
  assert.equal(await page.getAttribute('body', 'data-model'), 'none');

  await page.fill('#count', '6');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
  const answers = (await page.locator('#task-list .answer').allTextContents()).map(Number);
  assert.equal(answers.length, 6);
  const path = join(dir, 'samples.jsonl');
  await writeFile(path, plainFile(answers));

  await t.test('with the page’s two default lanes the plain records name none: a clear error', async () => {
    await page.setInputFiles('#import-file', path);
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 30_000), 'error');
    assert.match(await page.textContent('#import-status'), /^Could not import samples\.jsonl: .*name no configuration and 2 were given/);
    assert.ok(await page.isHidden('#results'), 'no report');
  });

  await t.test('dropped on the page with one lane: the CLI’s report', async () => {
    await page.fill('#lanes', 'top_p=0.9');
    await page.fill('#seed', '0');
    const text = await readFile(path, 'utf8');
    const drop = await page.evaluateHandle((t) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], 'samples.jsonl', { type: 'application/json' }));
      return dt;
    }, text);
    await page.dispatchEvent('main', 'dragenter', { dataTransfer: drop });
    assert.ok(await page.isVisible('#drop-veil'), 'the drop zone shows while a file is over the page');
    await page.dispatchEvent('#setup', 'drop', { dataTransfer: drop });
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 30_000), 'done', await page.textContent('#import-status'));
    assert.ok(await page.isHidden('#drop-veil'));

    const native = await nativeImport(dir, path, ['--tasks', 'arithmetic:1:6', '--seed', '0', '--lane', 'top_p=0.9', '--temperature', '1', '--verifier', 'numeric']);
    // The page's report as its JSON export gives it.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    const pageReport = JSON.parse(await readFile(await dl.path(), 'utf8'));
    assert.deepEqual(comparable(pageReport), comparable(native));
    // The hand check that the comparison is not of two empty reports.
    assert.equal(pageReport.import.samples, 30);
    assert.equal(pageReport.samples, 5);
    assert.equal(pageReport.tasks.reduce((n, t) => n + t.configs[0].correct, 0), 6 + 3 + 6 + 1, 'the answer, "= answer" on odd tasks, the HTML one (its last number), a + task on task 0');

    const summary = await page.textContent('#import-summary');
    assert.match(summary, /skipped: 1 records/);
    assert.match(summary, /line 3: not a plain record/);
    assert.match(summary, /unknown tasks or configurations: 1 records, 2 samples/);
    assert.match(summary, /line 6/);
    assert.match(await page.textContent('#results-summary'), /^Imported from samples\.jsonl: 6 tasks × 5 samples per configuration, 30 samples in all, verifier numeric\./);
    for (const id of ['passk-chart', 'vote-chart']) assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} drawn`);
    assert.equal(await page.locator('#summary-table tr[data-config="0"] td').first().textContent(), 'top_p=0.9');
    assert.equal(await page.locator('#task-table tbody tr[data-task]').count(), 6);
    assert.equal(await page.locator('main img, main script').count(), 0, 'no element was made from the file');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await screenshot(page, 'eval-import.png');
  });

  await t.test('the file button: a file that is not samples says why', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, 'hello\nworld\n');
    await page.setInputFiles('#import-file', bad);
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 30_000), 'error');
    assert.match(await page.textContent('#import-status'), /^Could not import bad\.jsonl: .*line 1/);
  });
});

/** eval-scale's file: 500 level-2 tasks × 10,000 samples, plain JSONL. */
test('scale: 500 tasks × 10,000 samples imported, verified and charted in the page', { skip: skipReason ?? false, timeout: 300_000 }, async (t) => {
  await access(CLI).catch(() => assert.fail(`${CLI} is missing`));
  const dir = await mkdtemp(join(tmpdir(), 'samplescope-import-scale-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'scale.jsonl');
  await runCli(['eval-scale', '--runs', '1', '--file', path]);
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-import-scale-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000);
  await page.selectOption('#level', '2');
  await page.fill('#count', '500');
  await page.fill('#lanes', '');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
  const runs = Number(process.env.SAMPLESCOPE_IMPORT_RUNS || 3);
  const times = [];
  for (let i = 0; i < runs; i++) {
    await page.setInputFiles('#import-file', path);
    assert.equal(await waitForBody(page, 'import', ['done', 'error'], 120_000), 'done', await page.textContent('#import-status'));
    times.push(Number(await page.getAttribute('body', 'data-import-ms')));
    await page.evaluate(() => { document.body.dataset.import = 'idle'; });
  }
  assert.match(await page.textContent('#import-summary'), /^imported 5000000 samples from 500 records/);
  assert.equal(await page.locator('#passk-chart canvas').count(), 1);
  const [size] = (await run('du', ['-m', path])).stdout.split('\t');
  console.log(`page import at 500 × 10,000 (${size} MB file), file to charts: ${times.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}`
    + ` · ${cpus().length} × ${cpus()[0]?.model ?? '?'} · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
});
