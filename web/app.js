// The lab page's controller: checks WebGPU, starts the engine worker, loads a model, runs
// the lanes and opens the inspector. The main thread only renders; the worker computes.
// State the tests (and curious readers) can see is mirrored in <body data-*>:
// data-gpu = checking | ready | missing, data-model = none | loading | loaded | error,
// data-run = idle | running | done, data-model-source = cache | network | file.

import { $, h, replace, fillFacts, formatBytes, formatCount, toast } from './ui/dom.js';
import { Lanes } from './ui/lanes.js';
import { Inspector } from './ui/inspector.js';
import { DEFAULT_RUN, TEMPERATURE_POSITIONS, cloneRun, validateRun } from './config.js';
import { decodeConfig, embedSnippet, encodeConfig, hasConfig } from './share.js';

const DEFAULT_MODEL = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';
const LAST_MODEL_KEY = 'samplescope.lastModelUrl';
const MODEL_CACHE = 'samplescope-models-v1';
const PHASES = {
  download: 'Downloading',
  cache: 'Reading from the browser cache',
  read: 'Reading the file',
  upload: 'Uploading to the GPU and compiling shaders',
};

const state = {
  run: cloneRun(DEFAULT_RUN),
  runId: 0,
  running: false,
  /** Stop was pressed for the run in flight: `stop` is sent again as its tokens come (see stop()). */
  stopping: false,
  modelLoaded: false,
  inspecting: null,
  /** The model as a share link names it: {url, bytes} for a model loaded by URL. */
  model: null,
  /** A model URL that an opened share link asked for, until a model loads. */
  linkModel: null,
};
const body = document.body.dataset;
let worker = null;

const lanes = new Lanes($('lanes'), {
  onChange: (next) => { state.run.lanes = next; lanes.render(next, state.run); },
  onInspect: (lane, step) => inspect(lane, step),
});
const inspector = new Inspector(() => { state.inspecting = null; lanes.select(-1, -1); });

// ---- WebGPU --------------------------------------------------------------------------------

function gpuMissing(reason, detail) {
  body.gpu = 'missing';
  const chip = $('gpu-chip');
  chip.dataset.state = 'missing';
  chip.textContent = 'no WebGPU';
  $('gpu-missing').hidden = false;
  const text = {
    'no-navigator-gpu': 'This browser does not offer WebGPU (navigator.gpu is missing).',
    'no-adapter': 'This browser supports WebGPU, but it found no GPU adapter to run on.',
    'init-failed': 'WebGPU is present, but the engine could not open the GPU.',
  }[reason] ?? 'WebGPU could not be started.';
  replace($('gpu-missing-reason'), text, detail ? h('br') : null, detail ? h('small', {}, `Details: ${detail}`) : null);
  fillFacts($('gpu-facts'), [['status', 'unavailable — see above']]);
  for (const id of ['load-default', 'model-url']) $(id).disabled = true;
  $('model-file').disabled = true;
}

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
  for (const id of ['load-default', 'model-url']) $(id).disabled = false;
  $('model-file').disabled = false;
  autoLoad();
}

// ---- model ---------------------------------------------------------------------------------

function loadModel(source) {
  if (state.running) return toast('Stop the run before loading another model.');
  body.model = 'loading';
  state.modelLoaded = false;
  setRunEnabled();
  $('progress').hidden = false;
  $('model-facts').hidden = true;
  if (source.kind === 'url') localStorage.setItem(LAST_MODEL_KEY, source.url);
  state.loading = source;
  progress({ phase: source.kind === 'url' ? 'download' : 'read', loaded: 0, total: 0, rate: 0 });
  worker.postMessage({ type: 'load', source });
}

/**
 * On start: load the model an opened share link names, else the last used one, when the
 * browser cache already holds it.
 */
async function autoLoad() {
  const url = state.linkModel ?? localStorage.getItem(LAST_MODEL_KEY) ?? new URL(DEFAULT_MODEL, location.href).href;
  try {
    const cache = await caches.open(MODEL_CACHE);
    if (await cache.match(url)) return loadModel({ kind: 'url', url });
  } catch {
    // no Cache Storage (e.g. disabled): wait for the user
  }
  if (state.linkModel) toast(`This link uses the model at ${state.linkModel}: press “Load URL” to download it.`);
}

let uploadTimer = null;
function progress(p) {
  clearInterval(uploadTimer);
  const bar = $('progress-fill').parentElement;
  replace($('progress-phase'), PHASES[p.phase] ?? p.phase);
  if (p.phase === 'upload') {
    bar.classList.add('indeterminate');
    const t0 = performance.now();
    const tick = () => replace($('progress-numbers'), `${formatBytes(p.total)} · ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    tick();
    uploadTimer = setInterval(tick, 500);
    return;
  }
  bar.classList.remove('indeterminate');
  const frac = p.total > 0 ? Math.min(1, p.loaded / p.total) : 0;
  $('progress-fill').style.width = `${(frac * 100).toFixed(1)}%`;
  const rate = p.rate > 0 ? ` · ${formatBytes(p.rate)}/s` : '';
  replace($('progress-numbers'), `${formatBytes(p.loaded)}${p.total ? ` / ${formatBytes(p.total)}` : ''}${rate}`);
}

function modelLoaded({ facts, fromCache, name }, source) {
  clearInterval(uploadTimer);
  body.model = 'loaded';
  body.modelSource = source;
  state.modelLoaded = true;
  state.model = state.loading?.kind === 'url' ? { url: state.loading.url, bytes: facts.fileBytes } : { file: true };
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
    ['loaded', `${formatBytes(facts.fileBytes)} from ${fromCache ? 'the browser cache' : source === 'file' ? 'a local file' : 'the network'} · GPU upload ${(facts.loadMs / 1000).toFixed(1)} s`],
  ]);
  $('model-facts').hidden = false;
  $('chat').disabled = !facts.hasChatTemplate;
  if (!facts.hasChatTemplate) $('chat').checked = false;
  setRunEnabled();
}

function setupModelPanel() {
  $('load-default').addEventListener('click', () => loadModel({ kind: 'url', url: new URL(DEFAULT_MODEL, location.href).href }));
  $('model-file').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) loadModel({ kind: 'file', file });
    e.target.value = '';
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
    loadModel({ kind: 'url', url: url.href });
  });
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
}

function run() {
  const cfg = readControls();
  const errors = validateRun(cfg);
  if (errors.length) return toast(errors.join('; '));
  state.runId += 1;
  state.running = true;
  state.runStart = performance.now();
  body.run = 'running';
  inspector.hide();
  setRunEnabled();
  replace($('run-status'), 'running…');
  lanes.startRun(cfg);
  worker.postMessage({ type: 'run', runId: state.runId, run: cfg });
}

/**
 * Asks the engine to end every lane after the token in flight. A `stop` that reaches the
 * worker before the run has started (while it finishes an earlier request) would be undone
 * by the run's start (the engine clears its cancel flag then), so it is repeated with each
 * lane-start and token of the run until the run ends.
 */
function stop() {
  if (!state.running) return;
  state.stopping = true;
  worker.postMessage({ type: 'stop' });
  replace($('run-status'), 'stopping after the token in flight…');
  setRunEnabled();
}

function runEnded(ev) {
  state.running = false;
  state.stopping = false;
  body.run = 'done';
  lanes.endRun();
  setRunEnabled();
  const s = ((performance.now() - state.runStart) / 1000).toFixed(1);
  replace($('run-status'), ev.stopped ? `stopped after ${s} s` : `done in ${s} s — click any token to inspect it`);
}

function inspect(lane, step) {
  if (!state.runId) return;
  state.inspecting = { runId: state.runId, lane, step };
  lanes.select(lane, step);
  inspector.loading(state.run.lanes[lane]?.name ?? `lane ${lane + 1}`, step);
  if (state.running) replace($('inspector-summary'), 'The inspector will compute this step when the run finishes (or press Stop).');
  worker.postMessage({ type: 'inspect', runId: state.runId, lane, step });
}

// ---- share links and embeds (web/share.js) -------------------------------------------------

/** An opened share link (#v=1&…) replaces the defaults; a bad one says why and keeps them. */
function restoreFromLink() {
  if (!hasConfig(location.hash)) return;
  const { config, errors } = decodeConfig(location.hash);
  if (errors.length) {
    toast(`This link’s configuration is invalid, so the page shows its defaults: ${errors.join('; ')}`);
    return;
  }
  state.run = config.run;
  if (config.model.url) {
    state.linkModel = new URL(config.model.url, location.href).href;
    $('model-url').value = state.linkModel;
  }
}

/**
 * The current configuration as a link to this page ('link') or as the embed page's
 * <iframe> snippet ('embed'), shown in the share box and copied to the clipboard.
 */
async function share(kind, { copy = true } = {}) {
  const run = readControls();
  const errors = validateRun(run);
  if (errors.length) return toast(errors.join('; '));
  const notes = [];
  let model = { url: null, bytes: null };
  const isDefault = (url) => url === new URL(DEFAULT_MODEL, location.href).href;
  if (state.model?.file) notes.push('The model came from a local file, which a link cannot carry: the link uses the default model.');
  else if (state.model?.url && !isDefault(state.model.url)) model = state.model;
  else if (state.linkModel && !isDefault(state.linkModel)) model = { url: state.linkModel, bytes: null };
  const config = {
    run, model,
    view: { theme: $('embed-theme').value, editable: $('embed-editable').checked },
  };
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

// ---- worker events -------------------------------------------------------------------------

function onWorkerMessage({ data: m }) {
  const current = m.runId === undefined || m.runId === state.runId;
  if (current && state.stopping && (m.type === 'lane-start' || m.type === 'token')) worker.postMessage({ type: 'stop' });
  switch (m.type) {
    case 'ready': return gpuReady(m.adapter);
    case 'gpu-error': return gpuMissing(m.reason, m.message);
    case 'progress': return progress(m);
    case 'loaded': return modelLoaded(m, m.fromCache ? 'cache' : m.kind === 'file' ? 'file' : 'network');
    case 'load-error':
      clearInterval(uploadTimer);
      body.model = 'error';
      $('progress').hidden = true;
      return toast(`Could not load the model: ${m.message}`);
    case 'lane-start': return current && lanes.laneStart(m.lane);
    case 'token': return current && lanes.token(m.lane, m.step, m.tokenId, m.textDelta, m.eog);
    case 'lane-end': return current && lanes.laneEnd(m.lane, m);
    case 'run-end': return current && runEnded(m);
    case 'run-error':
      if (current) runEnded({ stopped: true });
      return toast(m.message);
    case 'inspection': {
      const want = state.inspecting;
      if (want && want.runId === m.runId && want.lane === m.lane && want.step === m.step) {
        inspector.show(m.lane, state.run.lanes[m.lane]?.name ?? `lane ${m.lane + 1}`, m.step, m);
      }
      return;
    }
    case 'inspect-error': return inspector.error(m.message);
    case 'error': return toast(m.message);
    default: return undefined;
  }
}

// ---- start ---------------------------------------------------------------------------------

function start() {
  body.gpu = 'checking';
  body.model = 'none';
  body.run = 'idle';
  restoreFromLink();
  setupControls();
  setupModelPanel();
  lanes.render(state.run.lanes, state.run);
  if (!navigator.gpu) return gpuMissing('no-navigator-gpu');
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'samplescope-engine' });
  worker.addEventListener('message', onWorkerMessage);
  worker.addEventListener('error', (e) => gpuMissing('init-failed', e.message || 'the engine worker failed to start'));
  worker.postMessage({ type: 'init' });
}

start();
