// The eval page's UI against a stubbed engine worker (no model, no GPU work): the spec the
// form sends, field errors, progress with an ETA, Cancel, the results (tables, charts,
// exports) — and HTML in prompts, answers, outputs and extracted answers shown as text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { env, launch, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';
import { recordWorkerMessages } from './stub.mjs';

const EVIL = '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">';
const EVIL2 = '<script>window.__pwned=99</script><b>bold?</b>';

const sample = (i, pass, extracted) => ({ sample_index: i, output: `${EVIL2} ${i}`, extracted, pass, tokens: 8, stop: 'eog' });

/** A report shaped like the core's EvalReport JSON, with HTML wherever text goes. */
function report(cancelled) {
  const tasks = [0, 1].map((index) => ({
    index,
    prompt: `${EVIL} task ${index}`,
    answer: '<i>5</i>',
    greedy: sample(0, index === 0, `<b>${index}</b>`),
    configs: [{ samples: [sample(0, true, EVIL), sample(1, false, null), sample(2, false, '7'), sample(3, true, EVIL)], correct: 2 }],
    complete: !(cancelled && index === 1),
  }));
  return {
    verifier: 'numeric', samples: 4, max_tokens: 16, seed: 11, cancelled, elapsed_ms: 1234.5, tokens: 80,
    greedy_accuracy: 0.5, greedy_tasks: 2,
    configs: [{
      spec: `top_p=0.9 ${EVIL}`, config: {}, tasks: 2, mean_accuracy: 0.5,
      pass_at_k: [0.5, 0.8333, 1, 1], majority_vote: [0.5, 0.5, 0.75, 1], fit: { a: -0.69, b: -1.2, r2: 0.99, points: 2 },
    }],
    sweep: [{ spec: 'temperature=1,min_p=0.1', temperatures: [2, 0.5, 1], pass_at_1: [0.1, 0.5, null] }],
    tasks,
  };
}

const CSV = `config,k,pass_at_k,majority_vote,power_law_fit,greedy\n"top_p=0.9 ${EVIL.replace(/"/g, '""')}",1,0.5,0.5,,0.5\n`;

/** web/worker.js's eval requests, answered from fixtures by the real dispatcher (web/protocol.js). */
function stubBody() {
  const done = report(false);
  const stopped = report(true);
  const raw = (r) => ({ json: JSON.stringify(r, null, 2), curvesCsv: CSV, tasksCsv: 'task\n', sweepCsv: 'config,temperature,pass_at_1\n', cancelled: r.cancelled });
  return `
import { serve } from './protocol.js';
const DONE = ${JSON.stringify(raw(done))};
const STOPPED = ${JSON.stringify(raw(stopped))};
serve(self, {
  async init() { return { name: 'stub', features: [] }; },
  async load({ source }) { return { name: 'stub', kind: source.kind, fromCache: false, facts: { name: 'stub', layers: 1, fileBytes: 1, hasChatTemplate: true } }; },
  async 'eval-preview'({ spec }) {
    const n = Number(spec.tasks.generated?.split(':')[2] ?? 1);
    return { tasks: Array.from({ length: n }, (_, i) => ({ prompt: 'p' + i, answer: String(i) })), configs: [] };
  },
  eval(req, ctx) {
    return new Promise((resolve) => {
      const total = 20;
      let done = 0;
      const timer = setInterval(() => {
        done += 1;
        ctx.event({ kind: 'eval-progress', done, total, task: Math.floor(done / 10), elapsedMs: done * 1000 });
        if (done === total) { clearInterval(timer); resolve(DONE); }
      }, 60);
      ctx.onCancel(() => { clearInterval(timer); resolve(STOPPED); });
    });
  },
});`;
}

test('the eval page: form, progress, cancel, results, text only', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-ui-console.log'));
  await browser.context.route('**/web/worker.js', (route) => route.fulfill({
    status: 200,
    contentType: 'text/javascript',
    headers: { 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' },
    body: stubBody(),
  }));
  const page = await browser.page();
  await recordWorkerMessages(page);
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000), 'ready');
  assert.equal(await page.getAttribute('#to-lab', 'href'), 'index.html');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], 30_000), 'loaded');
  const evals = () => page.evaluate(() => window.__posted.filter((m) => m.type === 'eval'));

  await t.test('field errors name the field, and Run sends nothing', async () => {
    await page.fill('#lanes', 'top_p=0.9\ntop_p=2\nwarp=9');
    await page.fill('#sweep', '1, hot');
    await page.waitForFunction(() => document.querySelectorAll('#form-errors li').length === 3);
    const errors = await page.locator('#form-errors li').allTextContents();
    assert.deepEqual(errors, [
      'configuration 2: top_p = 2: must be in (0, 1] (1 = off)',
      'configuration 3: unknown sampler "warp" (known: temperature, temperature_position, top_k, top_p, min_p, top_n_sigma, repetition_penalty, penalty_last_n, seed)',
      'sweep temperature "hot" must be a number above 0 and at most 3',
    ]);
    assert.match(await page.textContent('#cli-command'), /fix the form first/);
    await page.click('#run');
    assert.match(await page.textContent('#toast'), /configuration 2: top_p/);
    assert.deepEqual(await evals(), []);
  });

  await t.test('the form becomes the core’s EvalSpec, and the matching CLI command', async () => {
    await page.selectOption('#level', '2');
    await page.fill('#count', '5');
    await page.fill('#lanes', 'top_p=0.9\n# a comment\nmin_p=0.1,temperature=1.5');
    await page.fill('#samples', '4');
    await page.fill('#temperature', '0.7');
    await page.fill('#seed', '11');
    await page.fill('#max-tokens', '16');
    await page.uncheck('#greedy');
    await page.selectOption('#verifier', 'regex');
    await page.fill('#regex', 'answer: (\\d+)');
    await page.fill('#sweep', '0.5 1, 2');
    assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 10_000), 'ok');
    assert.equal(await page.textContent('#task-status'), '5 tasks ready.');
    assert.equal(await page.textContent('#cli-command'),
      "samplescope eval --tasks arithmetic:2:5 --samples 4 --lane top_p=0.9 --lane min_p=0.1,temperature=1.5 --temperature 0.7 --sweep 0.5,1,2 --seed 11 --max-tokens 16 --verifier 'regex:answer: (\\d+)' --no-greedy --json report.json");
    await page.click('#run');
    const [sent] = await evals();
    assert.deepEqual(sent.spec, {
      tasks: { generated: 'arithmetic:2:5' },
      lanes: ['top_p=0.9', 'min_p=0.1,temperature=1.5'],
      temperature: 0.7,
      sweep: [0.5, 1, 2],
      seed: 11,
      samples: 4,
      maxTokens: 16,
      verifier: 'regex:answer: (\\d+)',
      greedy: false,
    });
    assert.ok(await page.isDisabled('#run') && !(await page.isDisabled('#cancel')), 'Run off and Cancel on while running');
    assert.ok(await page.evaluate(() => document.getElementById('task-group').disabled), 'the form is locked while running');
    await page.waitForFunction(() => document.getElementById('eval-progress-eta').textContent.includes('ETA'));
    assert.match(await page.textContent('#eval-progress-done'), /^\d+ \/ 20 samples · task \d+$/);
    assert.equal(await waitForBody(page, 'eval', ['done', 'cancelled', 'error'], 30_000), 'done');
    assert.deepEqual(await page.locator('#eval-progress').evaluate((el) => [el.dataset.done, el.dataset.total]), ['20', '20']);
  });

  await t.test('results: tables, charts and exports, all text', async () => {
    assert.ok(await page.isVisible('#results'));
    const rows = await page.locator('#summary-table tbody tr').allTextContents();
    assert.equal(rows.length, 2, 'greedy and one configuration');
    const row = await page.locator('#summary-table tr[data-config="0"] td').allTextContents();
    assert.deepEqual(row.slice(0, 8), [`top_p=0.9 ${EVIL}`, '2', '50.0%', '83.3%', '100.0%', '50.0%', '50.0%', '100.0%']);
    assert.deepEqual(row.slice(8), ['-0.690', '-1.200', '0.990']);
    for (const id of ['passk-chart', 'vote-chart', 'sweep-chart']) assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} drawn`);
    assert.ok(await page.isVisible('#sweep-box'), 'the sweep chart is shown for a sweep');
    assert.match(await page.textContent('#curve-legend'), /greedy 50\.0%/);
    assert.ok((await page.textContent('#curve-legend')).includes(EVIL), 'the legend shows the spec literally');
    const task = page.locator('#task-table tr[data-task="0"]');
    assert.equal(await task.locator('td.answer').textContent(), '<i>5</i>');
    assert.equal(await task.locator('td[data-greedy]').textContent(), '<b>0</b> ✓');
    assert.equal(await task.locator('td[data-config="0"]').textContent(), `2/4 ${EVIL}×2 ∅×1 7×1`);
    await task.locator('summary').click();
    await task.locator('.outputs li').nth(4).waitFor(); // filled on the details' toggle event
    const outputs = await task.locator('.outputs li').allTextContents();
    assert.equal(outputs.length, 5, 'greedy and four samples');
    assert.ok(outputs[0].endsWith(`${EVIL2} 0`), outputs[0]);
    assert.equal(await page.locator('main img, main script, main b, main i').count(), 0, 'no element was made from report text');
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.equal(csv.suggestedFilename(), 'eval-curves.csv');
    assert.equal(await readFile(await csv.path(), 'utf8'), CSV, 'the CSV is the core’s text, unchanged');
    assert.ok(await page.isVisible('#export-sweep-csv'));
    await screenshot(page, 'eval-ui-results.png');
  });

  await t.test('Cancel keeps what finished', async () => {
    await page.click('#run');
    await page.waitForFunction(() => Number(document.getElementById('eval-progress').dataset.done) >= 2);
    await page.click('#cancel');
    assert.equal(await waitForBody(page, 'eval', ['done', 'cancelled', 'error'], 10_000), 'cancelled');
    // One cancel, naming the eval request, and nothing else sent since the eval.
    const posted = await page.evaluate(() => window.__posted);
    const evalAt = posted.findLastIndex((m) => m.type === 'eval');
    assert.deepEqual(posted.slice(evalAt + 1), [{ type: 'cancel', id: posted[evalAt].id }]);
    assert.match(await page.textContent('#run-status'), /^cancelled after .*: 1 of the run’s tasks finished/);
    assert.match(await page.textContent('#results-summary'), /Cancelled: only finished tasks count/);
    assert.equal(await page.getAttribute('#task-table tr[data-task="1"]', 'data-complete'), 'false');
    assert.ok(!(await page.isDisabled('#run')), 'Run is enabled again');
  });
});

test('without WebGPU the eval page says why and still checks task sets', { skip: skipReason ?? false, timeout: 60_000 }, async (t) => {
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'eval-nogpu-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000), 'missing');
  assert.match(await page.textContent('#gpu-missing-reason'), /WebGPU/);
  assert.ok(await page.isDisabled('#run') && await page.isDisabled('#load-default'));
  // The real worker's core parses the task set without a GPU.
  await page.check('input[name="source"][value="jsonl"]');
  await page.fill('#jsonl', '{"prompt": "1 + 1?", "answer": 2}\n{"prompt": "2 + 2?"}');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'invalid');
  assert.match(await page.textContent('#task-errors'), /line 2: missing field "answer"/);
});
