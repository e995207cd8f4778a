// @ts-check
// The lab page's controller: checks WebGPU, starts the engine worker, loads a model, runs
// the lanes and opens the inspector. The main thread only renders; the worker computes.
// State the tests (and curious readers) can see is mirrored in <body data-*>:
// data-gpu = checking | ready | missing, data-model = none | loading | loaded | error,
// data-run = idle | running | done, data-model-source = cache | network | file.

import { $, h, replace, fillFacts, formatBytes, formatCount, toast } from './ui/dom.js';
import { HEAT_MODES, Lanes, heatColor } from './ui/lanes.js';
import { Inspector } from './ui/inspector.js';
import { DEFAULT_RUN, LIMITS, TEMPERATURE_POSITIONS, cloneRun, describeLane, laneSampleIndex, validateLane, validateRun } from './config.js';
import { decodeConfig, embedSnippet, encodeConfig, hasConfig, modelUrl } from './share.js';
import { EngineClient } from './engine-client.js';
import { LabTree } from './lab-tree.js';
import { DEFAULT_MODEL, LAST_MODEL_KEY, MODEL_CACHE, gpuErrorText, knownModel, notServedHint } from './protocol.js';
import { modelButtons } from './ui/models.js';
import { loadPhases, loadSummary } from './load-times.js';
import { describeProbe, isCrossOrigin, modelFileName, probeModel } from './model-source.js';
import { attachExport, attachSvgExport, exportButtons, lanesPng } from './ui/chart-export.js';

/** @typedef {import('./protocol.js').ModelSource} ModelSource */
/** @typedef {import('./protocol.js').LoadProgress} LoadProgress */
/** @typedef {import('./protocol.js').Loaded} Loaded */
/** @typedef {import('./protocol.js').Adapter} Adapter */

/** @type {Record<string, string>} */
const PHASES = {
  download: 'Downloading',
  cache: 'Reading from the browser cache',
  read: 'Reading the file',
  upload: 'Uploading to the GPU and compiling shaders',
};

const state = {
  run: cloneRun(DEFAULT_RUN),
  /** The last run request's id (0: none yet); its tokens are the ones on the page. */
  runId: 0,
  running: false,
  /** Stop was pressed for the run in flight. */
  stopping: false,
  runStart: 0,
  modelLoaded: false,
  /** @type {{runId: number, lane: number, step: number} | null} */
  inspecting: null,
  /**
   * The configuration of the lanes on the page as they ran (the controls may have changed
   * since): what a fork continues.
   * @type {import('./config.js').RunConfig | null}
   */
  shown: null,
  /**
   * Where each shown lane's tokens live in the worker: the run request and its lane there
   * (a fork runs as a request of its own).
   * @type {{runId: number, lane: number}[]}
   */
  laneRuns: [],
  /**
   * The model as a share link names it: {url, bytes} for a model loaded by URL.
   * @type {{url?: string, bytes?: number | null, file?: boolean} | null}
   */
  model: null,
  /** A model URL that an opened share link asked for, until a model loads. */
  /** @type {string | null} */
  linkModel: null,
  /** The size that link claims for its model (shown beside the size its server reports). */
  /** @type {number | null} */
  linkModelBytes: null,
  /** @type {ModelSource | null} */
  loading: null,
  /**
   * The model the worker holds (the last load that succeeded, even one a later choice
   * superseded), with its source: what the page shows again when a newer load fails.
   * @type {{loaded: Loaded, source: ModelSource} | null}
   */
  held: null,
  /** The last run failed because the GPU device was lost: the next Run rebuilds the engine. */
  deviceLost: false,
};
const body = document.body.dataset;
const engine = new EngineClient();
/** For tests and curious readers in the console: the page's engine client. */
/** @type {any} */ (window).samplescope = { engine };
const defaultModelUrl = () => new URL(DEFAULT_MODEL.path, location.href).href;

const lanes = new Lanes($('lanes'), {
  onChange: (next) => { state.run.lanes = next; lanes.render(next, state.run); setRunEnabled(); },
  onInspect: (lane, step) => inspect(lane, step),
});
const inspector = new Inspector(() => { state.inspecting = null; lanes.select(-1, -1); });
/** The sample tree (web/lab-tree.js): a node it inspects takes the inspector from the lanes. */
const labTree = new LabTree(engine, {
  inspector, readRun: () => readControls(),
  claimInspector: () => { state.inspecting = null; lanes.select(-1, -1); },
  ownsInspector: () => state.inspecting === null,
});

// ---- WebGPU --------------------------------------------------------------------------------

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
  fillFacts($('gpu-facts'), [['status', 'unavailable — see above']]);
  setLoading(false);
}

/** @param {Adapter} a */
function gpuReady(a) {
  body.gpu = 'ready';
  const name = a.name || a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const chip = $('gpu-chip');
  chip.dataset.state = 'ok';
  chip.textContent = `WebGPU · ${name}`;
  const tag = (on, text) => h('span', { className: on ? 'tag' : 'tag off', title: on ? 'in use' : 'not available on this adapter' }, text);
  const features = new Set(a.features);
  fillFacts($('gpu-facts'), [
    ['adapter', name],
    ['type', a.software || a.fallback ? 'software (CPU)' : 'hardware GPU'],
    ['kernels', `${a.variant} variant`],
    ['features', [tag(features.has('subgroups'), 'subgroups'), tag(features.has('shader-f16'), 'shader-f16'), tag(features.has('timestamp-query'), 'timestamps')]],
    ['max binding', formatBytes(a.maxStorageBinding)],
  ]);
  setLoading(true);
  autoLoad();
}

// ---- model ---------------------------------------------------------------------------------

/** Whether the model panel's ways to load a model are usable (they need a GPU). */
function setLoading(on) {
  for (const el of [...$('known-models').querySelectorAll('button'), $('model-url'), $('model-file')]) el.disabled = !on;
}

/** @param {ModelSource} source */
function loadModel(source) {
  if (state.running) return toast('Stop the run before loading another model.');
  $('model-confirm').hidden = true;
  body.model = 'loading';
  state.modelLoaded = false;
  setRunEnabled();
  $('progress').hidden = false;
  $('model-facts').hidden = true;
  if (source.kind === 'url') localStorage.setItem(LAST_MODEL_KEY, source.url);
  state.loading = source;
  progress({ kind: 'progress', phase: source.kind === 'url' ? 'download' : 'read', loaded: 0, total: 0, rate: 0 });
  engine.load(source, progress).then(
    (loaded) => {
      // Loads run in order in the worker: this one now holds the GPU, shown or not.
      state.held = { loaded, source };
      if (state.loading === source) modelLoaded(loaded, source);
      prepareRuns();
    },
    (e) => {
      if (state.loading !== source) return;
      clearInterval(uploadTimer);
      $('progress').hidden = true;
      state.loading = null;
      const what = source.kind === 'file' ? source.file.name : modelFileName(source.url);
      const hint = source.kind === 'url' ? notServedHint(source.url, location.href, e.message) : '';
      if (state.held) {
        // The worker kept the model it had: show it again, and Run stays usable.
        modelLoaded(state.held.loaded, state.held.source);
        toast(`Could not load ${what}: ${e.message}.${hint} The page still uses ${state.held.loaded.facts.name || state.held.loaded.name}.`);
      } else {
        body.model = 'error';
        toast(`Could not load ${what}: ${e.message}.${hint}`);
      }
    });
}

/**
 * A model URL on another host than this page's: first its host and the size its server
 * reports (a HEAD request, no download), then the download only when the reader agrees,
 * capped at that size. Same-origin URLs load at once.
 * @param {string} url  absolute
 */
async function loadUrlChecked(url) {
  if (!isCrossOrigin(url, location.href)) return loadModel({ kind: 'url', url });
  const box = $('model-confirm');
  box.hidden = false;
  box.dataset.state = 'checking';
  replace($('model-confirm-text'), `Asking ${new URL(url).host} for the size of ${modelFileName(url)}…`);
  $('model-confirm-yes').hidden = true;
  const probe = await probeModel(url, location.href);
  if (box.hidden) return; // cancelled meanwhile
  const { text, allowed, maxBytes } = describeProbe(probe, state.linkModelBytes);
  box.dataset.state = allowed ? 'ask' : 'refused';
  replace($('model-confirm-text'), allowed ? `${text} Download it?` : text);
  const yes = $('model-confirm-yes');
  yes.hidden = !allowed;
  yes.onclick = () => loadModel({ kind: 'url', url, maxBytes });
}

/**
 * On start: load the model an opened share link names, else the last used one, when the
 * browser cache already holds it.
 */
async function autoLoad() {
  const url = state.linkModel ?? localStorage.getItem(LAST_MODEL_KEY) ?? defaultModelUrl();
  try {
    const cache = await caches.open(MODEL_CACHE);
    if (await cache.match(url)) return loadModel({ kind: 'url', url });
  } catch {
    // no Cache Storage (e.g. disabled): wait for the user
  }
  if (state.linkModel) {
    const where = isCrossOrigin(state.linkModel, location.href) ? ` from ${new URL(state.linkModel).host}` : '';
    toast(`This link uses the model ${modelFileName(state.linkModel)}${where}: press “Load URL” to see its size and download it.`);
  }
}

/** @type {ReturnType<typeof setInterval> | undefined} */
let uploadTimer;
/** @param {LoadProgress} p */
function progress(p) {
  clearInterval(uploadTimer);
  const bar = $('progress-fill').parentElement;
  replace($('progress-phase'), PHASES[p.phase] ?? p.phase);
  if (p.phase === 'upload') {
    bar.classList.add('indeterminate');
    const t0 = performance.now();
    const need = p.gpuBytes ? ` · needs ${formatBytes(p.gpuBytes)} of GPU memory` : '';
    const tick = () => replace($('progress-numbers'), `${formatBytes(p.total)}${need} · ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    tick();
    uploadTimer = setInterval(tick, 500);
    return;
  }
  bar.classList.remove('indeterminate');
  const frac = p.total > 0 ? Math.min(1, p.loaded / p.total) : 0;
  $('progress-fill').style.width = `${(frac * 100).toFixed(1)}%`;
  const rate = p.rate > 0 ? ` · ${formatBytes(p.rate)}/s` : '';
  const need = p.gpuBytes ? ` · needs ${formatBytes(p.gpuBytes)} of GPU memory` : '';
  replace($('progress-numbers'), `${formatBytes(p.loaded)}${p.total ? ` / ${formatBytes(p.total)}` : ''}${rate}${need}`);
}

/**
 * @param {Loaded} loaded
 * @param {ModelSource} from
 */
function modelLoaded({ facts, fromCache, name, kind, times }, from) {
  const source = fromCache ? 'cache' : kind === 'file' ? 'file' : 'network';
  clearInterval(uploadTimer);
  body.model = 'loaded';
  body.modelSource = source;
  state.modelLoaded = true;
  state.loading = null;
  state.model = from.kind === 'url' ? { url: from.url, bytes: facts.fileBytes } : { file: true };
  state.linkModel = null;
  $('progress').hidden = true;
  const quant = Object.entries(facts.quantTypes).sort((a, b) => b[1] - a[1])
    .map(([t, n]) => h('span', { className: 'tag', title: `${n} tensors` }, `${t} ×${n}`));
  fillFacts($('model-facts'), [
    ['name', facts.name || name],
    ['architecture', facts.architecture],
    ['parameters', `${formatCount(facts.parameters)} (${facts.layers} layers, width ${facts.embedding})`],
    ['tensor types', quant],
    ['context', `${facts.contextLength.toLocaleString()} tokens trained · ${facts.contextAllocated.toLocaleString()} allocated`],
    ['vocabulary', facts.vocab.toLocaleString()],
    ['GPU memory', `${formatBytes(facts.weightBytes)} weights + ${formatBytes(facts.kvBytes)} KV cache`],
    ['loaded', `${formatBytes(facts.fileBytes)} from ${fromCache ? 'the browser cache' : source === 'file' ? 'a local file' : 'the network'}`],
    ['load time', loadSummary(times.total, loadPhases(times, facts.load))],
  ]);
  $('model-facts').hidden = false;
  $('chat').disabled = !facts.hasChatTemplate;
  if (!facts.hasChatTemplate) $('chat').checked = false;
  setRunEnabled();
}

/**
 * Has the worker make the pipelines the load left for first use (the lab's default run
 * uses the sampler stages and the inspector's), while the reader looks at the page; the
 * body's data-pipelines says how many it made. A failure needs no message of its own: the
 * first Run meets it again and reports it.
 */
function prepareRuns() {
  delete body.pipelines;
  engine.prepare().then(({ made }) => { body.pipelines = String(made); }, () => {});
}

function setupModelPanel() {
  $('known-models').replaceChildren(...modelButtons((url) => loadModel({ kind: 'url', url })));
  $('model-file').addEventListener('change', (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) loadModel({ kind: 'file', file });
    input.value = '';
  });
  $('url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const raw = $('model-url').value.trim();
    let url;
    try {
      url = new URL(raw, location.href);
    } catch {
      return toast('That is not a valid URL.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return toast('Model URLs must start with https:// or http://');
    loadUrlChecked(url.href);
  });
  $('model-confirm-no').addEventListener('click', () => { $('model-confirm').hidden = true; });
  const zone = $('model-panel');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); $('drop-zone').classList.add('dragging'); });
  zone.addEventListener('dragleave', () => $('drop-zone').classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    $('drop-zone').classList.remove('dragging');
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    if (!file.name.toLowerCase().endsWith('.gguf')) return toast(`${file.name} is not a .gguf file.`);
    if (body.gpu === 'ready') loadModel({ kind: 'file', file });
  });
}

// ---- controls and runs ---------------------------------------------------------------------

function setupControls() {
  const r = state.run;
  $('prompt').value = r.prompt;
  $('chat').checked = r.chat;
  $('max-tokens').value = r.maxTokens;
  $('seed').value = r.seed;
  $('same-dice').checked = r.sameDice;
  $('inspect-all').checked = r.inspect;
  if (r.temperature > Number($('temperature').max)) $('temperature').max = String(r.temperature); // a link may go past the slider
  $('temperature').value = r.temperature;
  $('temperature-position').value = r.temperaturePosition;
  const showTemperature = () => {
    state.run.temperature = Number($('temperature').value);
    replace($('temperature-value'), state.run.temperature.toFixed(2));
    if (!state.running) lanes.render(state.run.lanes, state.run);
  };
  const showPosition = () => {
    state.run.temperaturePosition = $('temperature-position').value;
    replace($('temperature-help'), TEMPERATURE_POSITIONS[state.run.temperaturePosition]);
  };
  $('temperature').addEventListener('input', showTemperature);
  $('temperature-position').addEventListener('change', showPosition);
  showTemperature();
  showPosition();
  $('heat').addEventListener('change', () => showHeat($('heat').value));
  $('run').addEventListener('click', run);
  $('share').addEventListener('click', () => share('link'));
  $('embed-code').addEventListener('click', () => share('embed'));
  $('embed-theme').addEventListener('change', () => share('embed', { copy: false }));
  $('embed-editable').addEventListener('change', () => share('embed', { copy: false }));
  $('share-close').addEventListener('click', () => { $('share-box').hidden = true; });
  $('stop').addEventListener('click', stop);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (!$('run').disabled) run();
    }
  });
}

/**
 * Colours the lanes' tokens by `mode` (lanes.js's HEAT_MODES, values from the engine's
 * Inspection.heat) and shows its legend.
 * @param {string} mode
 */
function showHeat(mode) {
  lanes.setHeat(mode);
  const m = HEAT_MODES[mode];
  const legend = $('heat-legend');
  legend.hidden = !m;
  if (!m) return;
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => h('span', { className: 'heat-stop', style: { background: heatColor(t) } }));
  replace(legend,
    h('strong', {}, `Heat: ${m.label}`), ' ', m.low, ' ', h('span', { className: 'heat-bar' }, ...stops), ' ', m.high, ' · ',
    h('span', { className: 'tok off-argmax heat-sample' }, 'abc'), ' not greedy’s argmax · uncoloured: no recorded distribution (a fork’s forced tokens, or “record distributions” off)',
    mode === 'probability' || mode === 'surprise' ? ' · p is the token’s probability under its lane’s untruncated distribution (the inspector’s “p before”)' : '');
}

function readControls() {
  const r = state.run;
  r.prompt = $('prompt').value;
  r.chat = $('chat').checked;
  r.maxTokens = Number($('max-tokens').value);
  r.seed = Number($('seed').value);
  r.sameDice = $('same-dice').checked;
  r.inspect = $('inspect-all').checked;
  r.temperature = Number($('temperature').value);
  r.temperaturePosition = $('temperature-position').value;
  return cloneRun(r);
}

function setRunEnabled() {
  $('run').disabled = state.running || !state.modelLoaded;
  $('stop').disabled = !state.running || state.stopping;
  labTree.update(state.run.lanes, state.modelLoaded);
}

function run() {
  const cfg = readControls();
  const errors = validateRun(cfg);
  if (errors.length) return toast(errors.join('; '));
  state.running = true;
  state.stopping = false;
  state.runStart = performance.now();
  body.run = 'running';
  inspector.hide();
  setRunEnabled();
  replace($('run-status'), 'running…');
  lanes.startRun(cfg);
  if (state.deviceLost) replace($('run-status'), 'opening a new GPU device and loading the model again…');
  state.shown = cfg;
  const req = launch(cfg, (lane) => lane);
  state.laneRuns = cfg.lanes.map((_, lane) => ({ runId: req.id, lane }));
}

/**
 * Sends `cfg` to the worker and streams its lanes into the page, lane i of the request into
 * card `card(i)`.
 * @param {import('./config.js').RunConfig} cfg
 * @param {(lane: number) => number} card
 */
function launch(cfg, card) {
  const req = engine.run(cfg, {
    onRebuild: () => current() && replace($('run-status'), 'the GPU device was lost before: opening a new one and loading the model again…'),
    onLaneStart: (m) => {
      if (!current()) return;
      if (state.deviceLost) replace($('run-status'), 'running…');
      state.deviceLost = false;
      lanes.laneStart(card(m.lane));
    },
    onToken: (m) => current() && lanes.token(card(m.lane), m.step, m.tokenId, m.textDelta, m.eog, m.forced, m.heat),
    onLaneEnd: (m) => current() && lanes.laneEnd(card(m.lane), m),
  });
  state.runId = req.id;
  const current = () => state.runId === req.id;
  req.done.then((end) => current() && runEnded(end), (e) => {
    if (e.code === 'device-lost') {
      // The lanes keep the text they had; the worker rebuilds the engine on the next Run.
      state.deviceLost = true;
      body.deviceLost = 'true';
      if (current()) runEnded({ stopped: true, lost: true });
      toast('The GPU device was lost during the run (the browser or the driver reset it). The text so far is kept; press Run to start again on a new device, with the model reloaded from the browser cache.');
      return;
    }
    if (current()) runEnded({ stopped: true });
    toast(e.message);
  });
  return req;
}

/**
 * "continue from here" on candidate `id` of the inspected token: a new lane, the inspected
 * lane's tokens up to that step and then `id`, decoded on by the engine with the same
 * sampler and the same dice (its sample index; the step counter continues as the lane's
 * would: docs/DESIGN.md, "Forks"). Only the new lane runs; the others keep their text.
 * @param {number} id
 */
function fork(id) {
  const at = state.inspecting;
  const shown = state.shown;
  if (!at || !shown) return;
  if (state.running) return toast('Wait for the run to end (or press Stop) before forking.');
  if (shown.lanes.length >= LIMITS.lanes.max) return toast(`At most ${LIMITS.lanes.max} lanes: remove one to make room for a fork.`);
  const parent = shown.lanes[at.lane];
  const ids = lanes.tokenIds(at.lane);
  if (!parent || ids.length <= at.step || state.laneRuns[at.lane]?.runId !== at.runId) {
    return toast('That lane has changed since it ran: run again to fork it.');
  }
  const i = shown.lanes.length;
  const suffix = ` ↪${at.step}`;
  /** @type {import('./config.js').LaneConfig} */
  const lane = {
    ...JSON.parse(JSON.stringify(parent)),
    name: `${parent.name.slice(0, LIMITS.nameLength - suffix.length)}${suffix}`,
    fork: { parent: at.lane, sample: laneSampleIndex(parent, at.lane, shown), ids: [...ids.slice(0, at.step), id] },
  };
  const errors = validateLane(lane, i);
  if (errors.length) return toast(errors.join('; '));
  shown.lanes.push(lane);
  state.run.lanes = [...state.run.lanes.slice(0, i), lane];
  lanes.appendLane(state.run.lanes, shown);
  state.running = true;
  state.stopping = false;
  state.runStart = performance.now();
  body.run = 'running';
  lanes.freeze();
  setRunEnabled();
  replace($('run-status'), `forking ${parent.name} at step ${at.step}…`);
  const req = launch({ ...cloneRun(shown), lanes: [lane] }, () => i);
  state.laneRuns[i] = { runId: req.id, lane: 0 };
}

/**
 * Asks the engine to end every lane after the token in flight (a run that has not started
 * yet in the worker ends after its first token).
 */
function stop() {
  if (!state.running) return;
  state.stopping = true;
  engine.cancel(state.runId);
  replace($('run-status'), 'stopping after the token in flight…');
  setRunEnabled();
}

/** @param {{stopped: boolean, lost?: boolean}} ev */
function runEnded(ev) {
  state.running = false;
  state.stopping = false;
  body.run = 'done';
  if (!ev.lost) delete body.deviceLost;
  lanes.endRun();
  setRunEnabled();
  const s = ((performance.now() - state.runStart) / 1000).toFixed(1);
  replace($('run-status'), ev.lost ? `the GPU device was lost after ${s} s — the text so far is kept; Run starts again on a new device`
    : ev.stopped ? `stopped after ${s} s` : `done in ${s} s — click any token to inspect it`);
}

/**
 * @param {number} lane
 * @param {number} step
 */
function inspect(lane, step) {
  const where = state.laneRuns[lane];
  if (!where) return;
  const want = { runId: where.runId, lane, step };
  state.inspecting = want;
  inspector.onFork = (id) => fork(id);
  const name = state.run.lanes[lane]?.name ?? `lane ${lane + 1}`;
  lanes.select(lane, step);
  inspector.loading(name, step);
  if (state.running) replace($('inspector-summary'), 'The inspector will compute this step when the run finishes (or press Stop).');
  engine.inspect(where.runId, where.lane, step).then(
    (m) => { if (state.inspecting === want) inspector.show(lane, name, step, m); },
    (e) => { if (state.inspecting === want) inspector.error(e.message); });
}

// ---- share links and embeds (web/share.js) -------------------------------------------------

/**
 * An opened share link (#v=1&…) replaces the defaults. A link with bad parts (a lane the
 * engine would refuse, a value out of range) still opens: those parts are reported and left
 * at their defaults (a bad lane left out), the rest kept. Only a link that cannot be read
 * at all (broken encoding, a newer format) leaves the page at its defaults.
 */
function restoreFromLink() {
  if (!hasConfig(location.hash)) return;
  const { partial, errors } = decodeConfig(location.hash);
  if (!partial) {
    toast(`This link’s configuration cannot be read, so the page shows its defaults: ${errors.join('; ')}`);
    return;
  }
  if (errors.length) toast(`Parts of this link are invalid and were left out (the rest is as the link says): ${errors.join('; ')}`);
  const config = partial;
  state.run = config.run;
  if (config.model.url) {
    state.linkModel = modelUrl(config, location.href);
    state.linkModelBytes = config.model.bytes;
    $('model-url').value = state.linkModel;
  }
}

/**
 * `run` with the model in use as a share link names it (share.js's Config), and notes on
 * what a link cannot carry.
 * @param {import('./config.js').RunConfig} run
 */
function shareConfig(run) {
  const notes = [];
  /** @type {{url?: string | null, bytes?: number | null}} */
  let model = { url: null, bytes: null };
  const isDefault = (/** @type {string} */ url) => url === defaultModelUrl();
  /** A model the pages offer goes in by its id (model=gemma), any other by its URL. */
  const asLink = (/** @type {string} */ url, /** @type {number | null} */ bytes) => {
    const known = knownModel(url, location.href);
    return known ? { url: known.id, bytes: null } : { url, bytes };
  };
  if (state.model?.file) notes.push('The model came from a local file, which a link cannot carry: the link uses the default model.');
  else if (state.model?.url && !isDefault(state.model.url)) model = asLink(state.model.url, state.model.bytes ?? null);
  else if (state.linkModel && !isDefault(state.linkModel)) model = asLink(state.linkModel, null);
  const config = {
    run, model,
    view: { theme: $('embed-theme').value, editable: $('embed-editable').checked },
  };
  return { config, notes };
}

/** The link that opens this page with `run` and the model in use (share.js's format). */
function shareLink(run) {
  return `${location.origin}${location.pathname}#${encodeConfig(shareConfig(run).config)}`;
}

/**
 * "Share" and "Copy embed code": the current configuration as a link to this page ('link')
 * or as the embed page's <iframe> snippet ('embed'), shown in the share box and copied.
 */
async function share(kind, { copy = true } = {}) {
  const run = readControls();
  const errors = validateRun(run);
  if (errors.length) return toast(errors.join('; '));
  const { config, notes } = shareConfig(run);
  const page = `${location.origin}${location.pathname}`;
  let text;
  if (kind === 'link') {
    const params = encodeConfig(config);
    text = `${page}#${params}`;
    history.replaceState(null, '', `#${params}`);
  } else {
    text = embedSnippet(new URL('embed.html', page).href, config);
    notes.push('Paste it into a page’s HTML. The script line lets the frame fit its content; without it the frame stays 420 px tall.');
  }
  $('share-box').hidden = false;
  $('share-box').dataset.kind = kind;
  $('embed-options').hidden = kind !== 'embed';
  replace($('share-title'), kind === 'link' ? 'Link to this configuration' : 'Embed code for this configuration');
  $('share-text').value = text;
  $('share-text').rows = kind === 'embed' ? 6 : 3;
  replace($('share-note'), notes.join(' '));
  if (!copy) return;
  try {
    await navigator.clipboard.writeText(text);
    toast(kind === 'link' ? 'Link copied.' : 'Embed code copied.');
  } catch {
    $('share-text').select();
    toast('Copy it from the box below (the clipboard is not available here).');
  }
}

// ---- figures out (web/ui/chart-export.js) --------------------------------------------------

/**
 * A figure's caption: a run (by default the one the lanes show, as it ran), the model, and
 * its share link.
 * @param {import('./config.js').RunConfig} [run]
 * @param {string} [lead]  a first line of the figure's own
 * @returns {import('./ui/chart-export.js').Caption}
 */
function figureCaption(run = state.shown ?? readControls(), lead = '') {
  const model = state.held ? state.held.loaded.facts.name || state.held.loaded.name : 'no model loaded';
  const prompt = run.prompt.replace(/\s+/g, ' ').trim();
  const lines = [
    lead,
    `samplescope · ${model} · prompt “${prompt.length > 140 ? `${prompt.slice(0, 139)}…` : prompt}”${run.chat ? ' (chat template)' : ''}`,
    `temperature ${run.temperature}, applied ${run.temperaturePosition} · seed ${run.seed}${run.sameDice ? ', same dice' : ''} · up to ${run.maxTokens} tokens`,
    `lanes: ${run.lanes.map((l) => `${l.name} (${describeLane(l, run)})`).join('; ')}`,
  ];
  return { text: lines.filter(Boolean).join('\n'), link: shareLink(run) };
}

/** SVG / PNG buttons on the inspector's two charts and a PNG button for the lanes. */
function setupExports() {
  const inspected = () => {
    const at = state.inspecting;
    return at ? `${state.run.lanes[at.lane]?.name ?? `lane ${at.lane + 1}`}, step ${at.step}` : '';
  };
  const figures = [
    { chart: 'candidates-chart', name: 'samplescope-candidates' },
    { chart: 'histogram-chart', name: 'samplescope-histogram' },
  ];
  figures.forEach(({ chart, name }, i) => {
    const caption = /** @type {HTMLElement} */ ($(chart).parentElement.querySelector('figcaption'));
    const title = caption.textContent;
    attachExport(caption, () => inspector.plots[i] ?? null, {
      name,
      title: () => `${title} — ${inspected()}`,
      caption: () => figureCaption(),
      marks: () => inspector.marks[i] ?? [],
    });
  });
  const lanesBox = h('span', { className: 'export-lanes', title: 'The lanes as an image, with the configuration and its share link' }, 'Lanes as ');
  exportButtons(lanesBox, 'samplescope-lanes', { png: () => lanesPng($('lanes'), { caption: figureCaption() }) });
  $('share').parentElement.prepend(lanesBox);
  // The sample tree: drawn with the controls' configuration and one lane's sampler.
  const treeSvg = () => /** @type {SVGSVGElement | null} */ ($('tree-view').querySelector('svg.tree-svg'));
  const treeLane = () => $('tree-lane').selectedOptions[0]?.textContent ?? '';
  attachSvgExport(/** @type {HTMLElement} */ ($('tree-title').parentElement), treeSvg, {
    name: 'samplescope-sample-tree',
    title: () => `${treeSvg()?.getAttribute('aria-label') ?? 'Sample tree'}: the sampler of lane ${treeLane()}`,
    caption: () => figureCaption(readControls(), `Sample tree: ${$('tree-n').value} samples (sample indices 0…N−1) of lane ${treeLane()}`),
  });
}

// ---- start ---------------------------------------------------------------------------------

function start() {
  body.gpu = 'checking';
  body.model = 'none';
  body.run = 'idle';
  restoreFromLink();
  setupControls();
  setupModelPanel();
  setupExports();
  lanes.render(state.run.lanes, state.run);
  if (!navigator.gpu) return gpuMissing('no-navigator-gpu');
  engine.start().then(gpuReady, (e) => gpuMissing(e.code, e.message));
}

start();
