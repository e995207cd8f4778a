// @ts-check
// The eval page's controller (www/eval.html): the form, the model, a run with progress and
// cancel, and the results. The engine worker (web/worker.js, reached through
// web/engine-client.js) runs the Rust core; this thread only renders. State the tests can see is mirrored in <body data-*>:
// data-gpu = checking | ready | missing, data-model = none | loading | loaded | error,
// data-tasks = checking | ok | invalid, data-eval = idle | running | done | cancelled | error,
// data-import = idle | running | done | error (data-import-ms: the last import's time, file to charts;
// data-code-runs, data-code-timeouts: the last code import's programs run in Pyodide, and those cut off).

import { $, h, replace, download, formatBytes, toast } from './ui/dom.js';
import { buildSpec, cliCommand, DEFAULT_EVAL, SWEEP_PRESET, evalFormFromLink, evalLinkParams, isEvalLink } from './eval-config.js';
import { attachExport, attachSvgExport } from './ui/chart-export.js';
import { EvalCharts } from './ui/eval-charts.js';
import { fillSummary, fillTasks } from './ui/eval-tables.js';
import { EvalTree } from './eval-tree.js';
import { EngineClient } from './engine-client.js';
import { CodeRunner } from './code-runner.js';
import { DEFAULT_MODEL, LAST_MODEL_KEY, MODEL_CACHE, gpuErrorText, notServedHint } from './protocol.js';
import { modelButtons } from './ui/models.js';
import { setupFigures } from './figures.js';

/** The Figures section (web/figures.js), set up in start(). */
/** @type {ReturnType<typeof setupFigures> | null} */
let figureSection = null;

/** @typedef {import('./protocol.js').ModelSource} ModelSource */
/** @typedef {import('./protocol.js').LoadProgress} LoadProgress */
/** @typedef {import('./protocol.js').Loaded} Loaded */
/** @typedef {import('./protocol.js').Adapter} Adapter */
/** @typedef {import('./protocol.js').EvalPreview} EvalPreview */
/** @typedef {import('./protocol.js').EvalOutput} EvalOutput */

const CHECK_DELAY_MS = 250;
const defaultModelUrl = () => new URL(DEFAULT_MODEL.path, location.href).href;

const body = document.body.dataset;
const state = {
  modelLoaded: false,
  running: false,
  /** The eval request in flight (0: none). */
  runId: 0,
  /** The latest task check's request id: older answers are ignored. */
  previewId: 0,
  /** @type {string | null} */
  jsonlName: null,
  /** The last run's report: parsed, and the core's JSON/CSV text for the exports. */
  /** @type {any} */
  report: null,
  /** @type {EvalOutput | null} */
  raw: null,
  startedAt: 0,
  /** Cancel was pressed. */
  cancelling: false,
  /** @type {ModelSource | null} */
  loading: null,
  /** A sample file is being imported. */
  importing: false,
  /**
   * What the report on the page came from: the form and its spec (an import's, with the
   * file's name), for the figures' captions; `launched` is the run in flight's.
   * @type {{form: any, spec: any, from?: string} | null}
   */
  shown: null,
  /** @type {{form: any, spec: any} | null} */
  launched: null,
  /** The loaded model's name. */
  modelName: '',
};
/** The largest sample file the page reads (its text is copied into wasm memory, 4 GiB at most). */
const MAX_IMPORT_BYTES = 1 << 30;
const engine = new EngineClient();
/** Runs code tasks' tests in Pyodide (its worker starts on the first code import). */
/** @type {CodeRunner | null} */
let codeRunner = null;
/** The worker has started (also without WebGPU: it checks task sets then). */
let engineStarted = false;
const charts = new EvalCharts($('results'));
/** One task's samples as a prefix tree (web/eval-tree.js). */
const evalTree = new EvalTree(engine);

// ---- the form ------------------------------------------------------------------------------

function readForm() {
  const source = /** @type {HTMLInputElement} */ (document.querySelector('input[name="source"]:checked')).value;
  const int = (/** @type {string} */ id) => ($(id).value.trim() === '' ? NaN : Number($(id).value));
  return {
    source,
    level: int('level'),
    count: int('count'),
    jsonl: $('jsonl').value,
    jsonlName: state.jsonlName,
    verifier: $('verifier').value,
    regex: $('regex').value,
    samples: int('samples'),
    maxTokens: int('max-tokens'),
    temperature: int('temperature'),
    seed: int('seed'),
    greedy: $('greedy').checked,
    lanes: $('lanes').value,
    sweep: $('sweep').value,
  };
}

function fillForm(f) {
  /** @type {HTMLInputElement} */ (document.querySelector(`input[name="source"][value="${f.source}"]`)).checked = true;
  $('level').value = String(f.level);
  $('count').value = String(f.count);
  $('jsonl').value = f.jsonl;
  $('verifier').value = f.verifier;
  $('regex').value = f.regex;
  $('samples').value = String(f.samples);
  $('max-tokens').value = String(f.maxTokens);
  $('temperature').value = String(f.temperature);
  $('seed').value = String(f.seed);
  $('greedy').checked = f.greedy;
  $('lanes').value = f.lanes;
  $('sweep').value = f.sweep;
}

function showSourceFields() {
  const jsonl = readForm().source === 'jsonl';
  $('builtin-fields').hidden = jsonl;
  $('jsonl-fields').hidden = !jsonl;
  $('regex-label').hidden = $('verifier').value !== 'regex';
}

let checkTimer = null;
/** Re-checks the form after the user pauses typing. */
function scheduleCheck() {
  showSourceFields();
  clearTimeout(checkTimer);
  body.tasks = 'checking';
  checkTimer = setTimeout(check, CHECK_DELAY_MS);
}

/**
 * Checks the form here (every field), then asks the core to build the task set (a JSONL
 * set is parsed line by line there, as the CLI parses it) and shows what it says.
 */
function check() {
  const form = readForm();
  const { spec, taskErrors, formErrors } = buildSpec(form);
  replace($('form-errors'), ...formErrors.map((e) => h('li', {}, e)));
  $('cli-command').textContent = spec ? cliCommand(spec) : '(fix the form first)';
  if (taskErrors.length) return showTaskCheck({ ok: false, errors: taskErrors });
  // Only the tasks and what they must satisfy (the numeric verifier wants numbers), so
  // that a typo in a sampler line does not hide the task set's own errors.
  const tasks = buildSpec({ ...form, lanes: '', samples: 0, greedy: true, sweep: '', verifier: ['numeric', 'code'].includes(form.verifier) ? form.verifier : 'contains' });
  if (!tasks.spec) return showTaskCheck({ ok: false, errors: tasks.taskErrors });
  if (!engineStarted) return undefined;
  const req = engine.request('eval-preview', { spec: tasks.spec });
  state.previewId = req.id;
  req.done.then(
    (preview) => { if (req.id === state.previewId) showTaskCheck({ ok: true, preview }); },
    (e) => { if (req.id === state.previewId) showTaskCheck({ ok: false, errors: coreErrors(e.message) }); });
  return undefined;
}

/** The core's message for a bad task set: one list item per bad line. */
function coreErrors(message) {
  return message.replace(/^invalid parameter: /, '').split('\n').map((l) => l.trim()).filter(Boolean);
}

function showTaskCheck({ ok, errors = [], preview = null }) {
  body.tasks = ok ? 'ok' : 'invalid';
  const status = $('task-status');
  status.dataset.state = ok ? 'ok' : 'error';
  replace($('task-errors'), ...errors.map((e) => h('li', {}, e)));
  if (!ok) {
    replace(status, errors.length === 1 ? 'The task set has a problem:' : `The task set has ${errors.length} problems:`);
    replace($('task-list'));
    return;
  }
  const n = preview.tasks.length;
  replace(status, `${n.toLocaleString()} task${n === 1 ? '' : 's'} ready.`);
  const shown = preview.tasks.slice(0, 200);
  replace($('task-list'), ...shown.map((t) => h('li', {}, t.prompt, ' → ', h('span', { className: 'answer' }, t.answer))),
    n > shown.length ? h('li', { className: 'hint' }, `… and ${n - shown.length} more`) : null);
}

async function readJsonlFile(file) {
  if (file.size > 20e6) return toast(`${file.name} is ${formatBytes(file.size)}; task sets over 20 MB are not supported.`);
  state.jsonlName = file.name;
  $('jsonl').value = await file.text();
  replace($('jsonl-name'), `from ${file.name}`);
  scheduleCheck();
}

function setupForm() {
  fillForm(DEFAULT_EVAL);
  for (const el of document.querySelectorAll('#setup input, #setup select, #setup textarea')) {
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) continue;
    if (el.type === 'file') continue;
    el.addEventListener('input', scheduleCheck);
    el.addEventListener('change', scheduleCheck);
  }
  // Typing replaces an uploaded file's text: its name no longer describes it.
  $('jsonl').addEventListener('input', () => {
    state.jsonlName = null;
    replace($('jsonl-name'), 'One {"prompt": …, "answer": …} object per line.');
  });
  $('jsonl-file').addEventListener('change', (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) readJsonlFile(file);
    input.value = '';
  });
  $('sweep-preset').addEventListener('click', () => {
    $('lanes').value = SWEEP_PRESET.lanes;
    $('sweep').value = SWEEP_PRESET.sweep;
    scheduleCheck();
  });
  setupImport();
  $('run').addEventListener('click', run);
  $('cancel').addEventListener('click', cancel);
  $('export-json').addEventListener('click', () => download('eval-report.json', state.raw?.json, 'application/json'));
  $('export-csv').addEventListener('click', () => download('eval-curves.csv', state.raw?.curvesCsv, 'text/csv'));
  $('export-tasks-csv').addEventListener('click', () => download('eval-curves.tasks.csv', state.raw?.tasksCsv, 'text/csv'));
  $('export-sweep-csv').addEventListener('click', () => download('eval-curves.sweep.csv', state.raw?.sweepCsv, 'text/csv'));
  showSourceFields();
}

function setRunEnabled() {
  $('run').disabled = state.running || state.importing || !state.modelLoaded || Boolean(figureSection?.running);
  /** @type {HTMLInputElement} */ ($('import-file')).disabled = state.running || state.importing;
  $('cancel').disabled = !state.running;
  figureSection?.refresh();
  for (const el of document.querySelectorAll('fieldset')) if (el.closest('#setup')) el.disabled = state.running;
}

// ---- runs ----------------------------------------------------------------------------------

function run() {
  const form = readForm();
  const { spec, errors } = buildSpec(form);
  if (!spec) {
    toast(errors.join('; '));
    return;
  }
  state.launched = { form, spec };
  state.running = true;
  state.cancelling = false;
  state.startedAt = performance.now();
  body.eval = 'running';
  setRunEnabled();
  $('eval-progress').hidden = false;
  progress({ done: 0, total: 0, elapsedMs: 0 });
  replace($('run-status'), 'starting…');
  const req = engine.evaluate(spec, (ev) => {
    if (req.id !== state.runId) return;
    if (ev.kind === 'code-programs') runCode(req.id, ev.programs);
    else if (ev.kind === 'eval-progress') progress(ev);
  });
  state.runId = req.id;
  req.done.then((report) => req.id === state.runId && evalEnded(report), (e) => req.id === state.runId && evalFailed(e));
}

/**
 * Runs an eval's code programs in the Pyodide worker and hands their outcomes (or why it
 * failed) back to the engine worker, where the eval waits for them.
 * @param {number} evalId @param {string[]} programs
 */
function runCode(evalId, programs) {
  codeRunner ??= new CodeRunner();
  replace($('run-status'), `running the tests of ${programs.length} code samples in Python (Pyodide, in a worker)…`);
  codeRunner.run(programs).then(
    (outcomes) => engine.request('code-outcomes', { evalId, outcomes }).done,
    (e) => engine.request('code-outcomes', { evalId, error: e.message }).done,
  ).catch((e) => console.warn(`samplescope: code outcomes: ${e.message}`));
}

/** Asks the engine to stop after the step in flight; the report keeps what finished. */
function cancel() {
  if (!state.running) return;
  state.cancelling = true;
  engine.cancel(state.runId);
  replace($('run-status'), 'cancelling after the step in flight…');
  $('cancel').disabled = true;
}

/** @param {{done: number, total: number, task?: number, elapsedMs: number}} p */
function progress({ done, total, task, elapsedMs }) {
  const frac = total > 0 ? done / total : 0;
  $('eval-progress-fill').style.width = `${(100 * frac).toFixed(1)}%`;
  const bar = $('eval-progress-bar');
  bar.setAttribute('aria-valuenow', String(done));
  bar.setAttribute('aria-valuemax', String(total));
  $('eval-progress').dataset.done = String(done);
  $('eval-progress').dataset.total = String(total);
  replace($('eval-progress-done'), total ? `${done.toLocaleString()} / ${total.toLocaleString()} samples${task === undefined ? '' : ` · task ${task + 1}`}` : 'preparing…');
  const eta = done > 0 && done < total ? (elapsedMs / done) * (total - done) : null;
  replace($('eval-progress-eta'), `${duration(elapsedMs)} elapsed${eta === null ? '' : ` · ETA ${duration(eta)}`}`);
  if (state.running && total && !state.cancelling) replace($('run-status'), 'running…');
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** @param {EvalOutput} report */
function evalEnded(report) {
  state.running = false;
  setRunEnabled();
  state.raw = report;
  state.report = JSON.parse(report.json);
  state.shown = state.launched;
  const r = state.report;
  const done = r.tasks.filter((t) => t.complete).length;
  const s = duration(performance.now() - state.startedAt);
  body.eval = r.cancelled ? 'cancelled' : 'done';
  replace($('run-status'), r.cancelled ? `cancelled after ${s}: ${done} of the run’s tasks finished and are shown` : `done in ${s}`);
  showResults(r);
}

/** @param {Error} e */
function evalFailed({ message }) {
  state.running = false;
  setRunEnabled();
  body.eval = 'error';
  $('eval-progress').hidden = true;
  replace($('run-status'), 'failed');
  replace($('form-errors'), ...coreErrors(message).map((e) => h('li', {}, e)));
  toast(message);
}

/** @param {any} r  a report (an import's has an `import` section); @param {string} [from] the imported file's name */
function showResults(r, from) {
  $('results').hidden = false;
  const complete = r.tasks.filter((t) => t.complete).length;
  if (r.import) {
    replace($('results-summary'), `Imported from ${from}: ${complete} task${complete === 1 ? '' : 's'} × ${r.samples} samples per configuration, `,
      `${r.import.samples.toLocaleString()} samples in all, verifier ${r.verifier}.`);
  } else replace($('results-summary'),
    `${complete} task${complete === 1 ? '' : 's'} × ${r.samples} samples per configuration, verifier ${r.verifier}, seed ${r.seed}, `,
    `max ${r.max_tokens} tokens — ${r.tokens.toLocaleString()} tokens in ${(r.elapsed_ms / 1000).toFixed(1)} s.`,
    r.cancelled ? ' Cancelled: only finished tasks count.' : '');
  $('export-sweep-csv').hidden = !r.sweep.length;
  fillSummary($('summary-table'), r);
  fillTasks($('task-table'), r);
  evalTree.show(r, r.import ? null : state.shown?.spec ?? null);
  charts.render(r, {
    passk: $('passk-chart'), vote: $('vote-chart'), sweep: $('sweep-chart'),
    legend: $('curve-legend'), sweepLegend: $('sweep-legend'), sweepBox: $('sweep-box'),
  });
}

// ---- importing samples drawn elsewhere -----------------------------------------------------

/**
 * Verifies and summarizes a sample file in the engine worker (`evalImport`, the same code as
 * `samplescope eval --import`) against the form's task set, lanes, seed and verifier, then
 * draws the report as a run's. Needs no model and no GPU.
 * @param {File} file
 */
function importFile(file) {
  if (state.running) return toast('Cancel the run before importing samples.');
  if (state.importing) return toast('An import is already under way.');
  if (file.size > MAX_IMPORT_BYTES) return importFailed(file.name, `the file is ${formatBytes(file.size)}; the page reads sample files up to ${formatBytes(MAX_IMPORT_BYTES)} (the command line streams larger ones)`);
  // The number of samples and greedy are the file's business, not the form's.
  const form = { ...readForm(), samples: 0, greedy: true };
  const { spec, errors } = buildSpec(form);
  if (!spec) return importFailed(file.name, `fix the form first: ${errors.join('; ')}`);
  const startedAt = performance.now();
  state.importing = true;
  body.import = 'running';
  setRunEnabled();
  $('import-summary').hidden = true;
  replace($('import-status'), `Importing ${file.name} (${formatBytes(file.size)})…`);
  importSamples(file, spec).then((out) => {
    state.importing = false;
    setRunEnabled();
    state.raw = out;
    state.report = JSON.parse(out.json);
    state.shown = { form, spec, from: file.name };
    showResults(state.report, file.name);
    $('import-summary').textContent = out.summary.trimEnd();
    $('import-summary').hidden = false;
    // Done once the charts have been painted: the time covers reading to drawing.
    requestAnimationFrame(() => {
      const ms = performance.now() - startedAt;
      body.importMs = ms.toFixed(0);
      replace($('import-status'), `Imported ${file.name} in ${(ms / 1000).toFixed(2)} s.`);
      body.import = 'done';
    });
  }, (e) => {
    state.importing = false;
    setRunEnabled();
    importFailed(file.name, e.message.replace(/^invalid parameter: /, ''));
  });
  return undefined;
}

/**
 * The import in the engine worker; for code tasks, first the tests of every distinct sample
 * in Python, in the Pyodide worker (web/code-runner.js: loaded only now, each program with
 * a time limit), whose outcomes the core turns into verdicts as the CLI's runs.
 * @param {File} file
 * @param {any} spec  the eval spec (eval-config.js)
 */
async function importSamples(file, spec) {
  if (spec.verifier !== 'code') return engine.evalImport(file, spec);
  const programs = await engine.evalImportPrograms(file, spec);
  codeRunner ??= new CodeRunner();
  const runner = codeRunner;
  const status = (/** @type {number} */ done) => replace($('import-status'),
    `Running the tests of ${file.name}’s code samples in Python (Pyodide, in a worker; at most ${runner.timeLimitMs / 1000} s each): ${done} of ${programs.length}…`);
  status(0);
  const timeouts = runner.timeouts;
  const outcomes = await runner.run(programs, status);
  body.codeRuns = String(programs.length);
  body.codeTimeouts = String(runner.timeouts - timeouts);
  return engine.evalImport(file, spec, { programs, outcomes });
}

/** @param {string} name @param {string} why */
function importFailed(name, why) {
  body.import = 'error';
  $('import-summary').hidden = true;
  replace($('import-status'), `Could not import ${name}: ${why}`);
  toast(`Could not import ${name}: ${why}`);
}

/** The file button, and a file dropped anywhere on the page. */
function setupImport() {
  $('import-file').addEventListener('change', (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) importFile(file);
    input.value = '';
  });
  const hasFiles = (/** @type {DragEvent} */ e) => e.dataTransfer?.types.includes('Files') ?? false;
  const veil = $('drop-veil');
  let depth = 0; // dragenter/dragleave pairs over child elements
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    veil.hidden = false;
  });
  document.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) veil.hidden = true;
  });
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // allows the drop
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // the browser would otherwise open the file
    depth = 0;
    veil.hidden = true;
    const file = e.dataTransfer?.files[0];
    if (file) importFile(file);
  });
}

// ---- GPU and model -------------------------------------------------------------------------

function gpuReady(a) {
  body.gpu = 'ready';
  const chip = $('gpu-chip');
  chip.dataset.state = 'ok';
  chip.textContent = `WebGPU · ${a.name || a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unnamed adapter'}`;
  for (const b of $('known-models').querySelectorAll('button')) b.disabled = false;
  $('model-file').disabled = false;
  autoLoad();
}

/**
 * @param {string} reason  a GPU_ERRORS code
 * @param {string} [detail]
 */
function gpuMissing(reason, detail) {
  body.gpu = 'missing';
  const chip = $('gpu-chip');
  chip.dataset.state = 'missing';
  chip.textContent = 'no WebGPU';
  $('gpu-missing').hidden = false;
  replace($('gpu-missing-reason'), gpuErrorText(reason), detail ? h('br') : null, detail ? h('small', {}, `Details: ${detail}`) : null);
}

/** @param {ModelSource} source */
function loadModel(source) {
  if (state.running) return toast('Cancel the run before loading another model.');
  body.model = 'loading';
  state.modelLoaded = false;
  setRunEnabled();
  $('model-progress').hidden = false;
  if (source.kind === 'url') localStorage.setItem(LAST_MODEL_KEY, source.url);
  replace($('model-status'), 'Loading…');
  state.loading = source;
  engine.load(source, modelProgress).then(
    (loaded) => {
      if (state.loading === source) modelLoaded(loaded);
      // The pipelines the load left for first use (sampler stages), made while the page is
      // idle; a failure needs no message here, as the first run meets it again and says so.
      engine.prepare().catch(() => {});
    },
    (e) => {
      if (state.loading !== source) return;
      body.model = 'error';
      $('model-progress').hidden = true;
      const text = `${e.message}.${source.kind === 'url' ? notServedHint(source.url, location.href, e.message) : ''}`;
      replace($('model-status'), `Could not load the model: ${text}`);
      toast(text);
    });
}

/** On start: load the last used model by URL when the browser cache already holds it. */
async function autoLoad() {
  const url = localStorage.getItem(LAST_MODEL_KEY) ?? defaultModelUrl();
  try {
    const cache = await caches.open(MODEL_CACHE);
    if (await cache.match(url)) loadModel({ kind: 'url', url });
  } catch {
    // no Cache Storage: wait for the user
  }
}

/** @param {LoadProgress} p */
function modelProgress(p) {
  const phase = { download: 'Downloading', cache: 'Reading from the browser cache', read: 'Reading the file', upload: 'Uploading to the GPU' }[p.phase] ?? p.phase;
  replace($('model-progress-phase'), phase);
  const frac = p.total > 0 ? Math.min(1, p.loaded / p.total) : 0;
  $('model-progress-fill').style.width = p.phase === 'upload' ? '100%' : `${(100 * frac).toFixed(1)}%`;
  const need = p.gpuBytes ? ` · needs ${formatBytes(p.gpuBytes)} of GPU memory` : '';
  replace($('model-progress-numbers'), (p.total ? `${formatBytes(p.loaded)} / ${formatBytes(p.total)}` : formatBytes(p.total)) + need);
}

/** @param {Loaded} loaded */
function modelLoaded({ facts, fromCache, name, kind }) {
  body.model = 'loaded';
  body.modelSource = fromCache ? 'cache' : kind === 'file' ? 'file' : 'network';
  state.modelLoaded = true;
  state.modelName = facts.name || name;
  $('model-progress').hidden = true;
  replace($('model-status'), h('strong', {}, facts.name || name), ` · ${facts.layers} layers · ${formatBytes(facts.fileBytes)} from `,
    fromCache ? 'the browser cache' : kind === 'file' ? 'a local file' : 'the network', facts.hasChatTemplate ? '' : ' · no chat template: prompts go in as they are');
  setRunEnabled();
  figureSection?.modelLoaded(facts.name || name);
}

function setupModel() {
  $('known-models').replaceChildren(...modelButtons((url) => loadModel({ kind: 'url', url }), true));
  $('model-file').addEventListener('change', (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) loadModel({ kind: 'file', file });
    input.value = '';
  });
}

// ---- share link and figures (web/ui/chart-export.js) ---------------------------------------

/** An opened eval link (eval-config.js's format) fills the form; the form's checks judge it. */
function restoreFromLink() {
  if (!isEvalLink(location.hash)) return;
  const { form, errors } = evalFormFromLink(location.hash);
  fillForm(form);
  showSourceFields();
  if (errors.length) toast(`Parts of this link were not understood and were left at their defaults: ${errors.join('; ')}`);
}

/**
 * A figure's caption: what the report on the page ran (or imported), the command that
 * reproduces it natively, and the link that opens this page with the same form.
 * @returns {import('./ui/chart-export.js').Caption}
 */
function figureCaption() {
  const r = state.report;
  const shown = state.shown;
  if (!r || !shown) return { text: 'samplescope eval' };
  const { spec, form, from } = shown;
  const { params, complete } = evalLinkParams(form);
  const tasks = spec.tasks.generated ? `built-in ${spec.tasks.generated}` : `tasks from ${spec.tasks.jsonl.source || 'a pasted JSONL set'}`;
  const done = r.tasks.filter((t) => t.complete).length;
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  const lines = [
    `samplescope eval · ${from ? `samples imported from ${from}` : state.modelName || 'the loaded model'} · ${done} task${done === 1 ? '' : 's'} (${tasks}) × ${r.samples} samples per configuration · verifier ${r.verifier}`,
    `configurations: ${r.configs.map((c) => c.spec).join('; ') || 'none'} · temperature ${spec.temperature}${spec.sweep.length ? ` · sweep ${spec.sweep.join(', ')}` : ''} · seed ${spec.seed}`
      + `${from ? '' : ` · up to ${r.max_tokens} tokens`}${r.greedy_accuracy == null ? '' : ` · greedy ${pct(r.greedy_accuracy)}`}${r.cancelled ? ' · cancelled: finished tasks only' : ''}`,
    from ? '' : `the same run natively: ${cliCommand(spec)}`,
    complete ? '' : 'The task set is not in the link (too large, or from a file): load it to reproduce.',
  ];
  return { text: lines.filter(Boolean).join('\n'), link: `${location.origin}${location.pathname}#${params}` };
}

/** SVG / PNG buttons on each chart's caption. */
function setupExports() {
  const figures = [
    { id: 'passk-chart', key: 'passk', title: 'pass@k against k (log scale), averaged over tasks — dashed: fitted exp(a·k^b)' },
    { id: 'vote-chart', key: 'vote', title: 'Majority-vote accuracy against k' },
    { id: 'sweep-chart', key: 'sweep', title: 'pass@1 (mean accuracy of one sample) against temperature' },
  ];
  for (const { id, key, title } of figures) {
    const where = /** @type {HTMLElement} */ ($(id).parentElement.querySelector('figcaption'));
    attachExport(where, () => charts.named[key] ?? null, { name: `samplescope-eval-${key}`, title, caption: figureCaption });
  }
  // One task's sample tree (web/eval-tree.js): the task and configuration its menus name.
  const treeSvg = () => /** @type {SVGSVGElement | null} */ ($('tree-view').querySelector('svg.tree-svg'));
  const picked = () => `task ${$('tree-task').selectedOptions[0]?.textContent ?? ''}, configuration ${$('tree-config').selectedOptions[0]?.textContent ?? ''}`;
  attachSvgExport(/** @type {HTMLElement} */ ($('eval-tree').querySelector('.tree-head')), treeSvg, {
    name: 'samplescope-eval-sample-tree',
    title: () => `${treeSvg()?.getAttribute('aria-label') ?? 'Sample tree'}: ${picked()}`,
    caption: () => {
      const c = figureCaption();
      return { ...c, text: `Sample tree of ${picked()}\n${c.text}` };
    },
  });
}

// ---- start ---------------------------------------------------------------------------------

function start() {
  setupForm();
  restoreFromLink();
  setupExports();
  setupModel();
  figureSection = setupFigures({
    engine,
    blocked: () => (!state.modelLoaded ? 'Load a model first.' : state.running ? 'Wait for the run above, or cancel it.' : state.importing ? 'Wait for the import to finish.' : null),
    onRunning: setRunEnabled,
  });
  setRunEnabled();
  // The worker starts even without WebGPU: the core checks task sets there.
  engineStarted = true;
  engine.start().then(gpuReady, (e) => gpuMissing(e.code, e.message));
  check();
}

start();
