// @ts-check
// The compact comparison of the embed page and <sampler-compare>: the prompt, the lanes,
// and a Run button that says what it will download. Nothing heavy is touched until Run:
// the engine (worker + wasm) and the model come from the page's shared engine client, and
// the inspector (with its chart library) is imported on the first token clicked.
// State for tests and host pages: data-state on the view's root element =
// invalid | idle | confirm (a model from another host: its size asked, the reader's yes
// awaited) | refused (over the size limit) | waiting | loading | running | done | error.

import { h, replace, formatBytes } from './dom.js';
import { Lanes } from './lanes.js';
import { TEMPERATURE_POSITIONS, cloneRun, validateRun } from '../config.js';
import { modelLabel, modelUrl } from '../share.js';
import { MODEL_CACHE } from '../protocol.js';
import { describeProbe, isCrossOrigin, probeModel } from '../model-source.js';

/** @type {Record<string, string>} */
const PHASES = {
  download: 'Downloading the model',
  cache: 'Reading the model from the browser cache',
  read: 'Reading the model',
  upload: 'Uploading the model to the GPU and compiling shaders',
};

export class CompareView {
  /**
   * @param {HTMLElement} root        an empty element to fill
   * @param {object} opt
   * @param {Document|ShadowRoot} opt.scope  where element ids are unique (for the inspector)
   * @param {{config: any, errors: string[]}} opt.parsed  share.js's reading of the configuration
   * @param {string} opt.modelBase   URL that a relative model address is resolved against
   * @param {() => import('../engine-client.js').EngineClient} opt.engine
   * @param {string} opt.fixHint      what to tell an author whose configuration is invalid
   */
  constructor(root, { scope, parsed, modelBase, engine, fixHint }) {
    this.root = root;
    this.fixHint = fixHint;
    this.scope = scope;
    this.modelBase = modelBase;
    this.engine = engine;
    /** The last run, taken in turn on the page's shared engine. */
    /** @type {import('../engine-client.js').QueuedRun | null} */
    this.job = null;
    /** @type {import('../config.js').RunConfig | null} */
    this.runCfg = null;
    this.running = false;
    /** @type {import('./inspector.js').Inspector | null} */
    this.inspector = null;
    this.render(parsed);
  }

  /** Draws the view for a configuration (or its errors); stops nothing that is running. */
  render({ config, errors }) {
    this.config = config;
    if (errors.length) return this.renderErrors(errors);
    const run = config.run;
    this.prompt = config.view.editable
      ? h('textarea', { className: 'sc-prompt-input', rows: 3, spellcheck: 'false', 'aria-label': 'Prompt', value: run.prompt })
      : h('div', { className: 'sc-prompt-text' }, run.prompt);
    const settings = [
      run.temperature === 0 ? 'temperature 0' : `temperature ${run.temperature}, applied ${run.temperaturePosition}`,
      `seed ${run.seed}`,
      `up to ${run.maxTokens} tokens`,
      run.sameDice ? 'same dice' : 'independent dice',
      run.chat ? 'chat template' : null,
    ].filter(Boolean).join(' · ');
    this.runButton = h('button', { type: 'button', className: 'primary sc-run', on: { click: () => this.run() } }, 'Run');
    this.stopButton = h('button', { type: 'button', className: 'sc-stop', hidden: true, on: { click: () => this.stop() } }, 'Stop');
    this.status = h('span', { className: 'status sc-status', 'aria-live': 'polite' });
    this.bar = h('div', { className: 'bar-fill' });
    this.progress = h('div', { className: 'bar sc-progress', hidden: true }, this.bar);
    const lanesEl = h('section', { className: 'lanes sc-lanes', 'aria-label': 'Lanes' });
    replace(this.root,
      h('div', { className: 'sc-prompt' }, h('div', { className: 'sc-label' }, 'Prompt'), this.prompt),
      h('p', { className: 'sc-settings', title: TEMPERATURE_POSITIONS[run.temperaturePosition] }, settings),
      lanesEl,
      h('div', { className: 'run-row sc-run-row' }, this.runButton, this.stopButton, this.status),
      this.progress,
      inspectorPanel(),
      h('p', { className: 'sc-foot' },
        'The model runs in this page on WebGPU, downloaded once into the browser cache. Click a token to see the distribution behind it.'));
    this.lanes = new Lanes(lanesEl, { onChange: () => {}, onInspect: (lane, step) => this.inspect(lane, step) }, { editable: false });
    this.lanes.render(run.lanes, run);
    this.inspector = null;
    this.pendingMaxBytes = undefined;
    this.setState('idle');
    this.describeModel();
  }

  renderErrors(errors) {
    replace(this.root, h('div', { className: 'sc-error', role: 'alert' },
      h('strong', {}, 'This comparison cannot run: its configuration is invalid.'),
      h('ul', {}, ...errors.map((e) => h('li', {}, e))),
      h('p', {}, this.fixHint)));
    this.setState('invalid');
  }

  setState(state) {
    this.root.dataset.state = state;
  }

  /**
   * The Run button names the model, its host when that is not this page's, its size, and
   * whether it is already cached. (A size from another host is the link's claim until Run
   * asks that host: see `run`.)
   */
  async describeModel() {
    const { name, bytes } = modelLabel(this.config, this.modelBase);
    const url = modelUrl(this.config, this.modelBase);
    this.foreign = isCrossOrigin(url, globalThis.location?.href ?? this.modelBase) ? new URL(url).host : null;
    this.agreed = null;
    this.cached = false;
    const size = bytes ? `${formatBytes(bytes)}${this.foreign ? ', the link says' : ''}` : 'size unknown';
    const from = this.foreign ? ` from ${this.foreign}` : '';
    const button = this.runButton;
    replace(button, `Run · downloads ${name}${from} (${size})`);
    try {
      const cache = await caches.open(MODEL_CACHE);
      this.cached = Boolean(await cache.match(url));
    } catch {
      // no Cache Storage here (e.g. an opaque origin): say "downloads"
    }
    if (this.cached && button === this.runButton && !this.job) replace(button, `Run · ${name}${from} (${bytes ? formatBytes(bytes) : 'size unknown'}, cached)`);
  }

  /**
   * A model on another host, not cached: first that host's own word on the size (HEAD, no
   * download) and the reader's yes; then the run, its download capped at that size.
   */
  async confirmForeignModel() {
    const url = modelUrl(this.config, this.modelBase);
    this.setState('confirm');
    this.runButton.disabled = true;
    this.say(`Asking ${this.foreign} for the size of the model…`);
    const probe = await probeModel(url, globalThis.location?.href ?? this.modelBase);
    const { text, allowed, maxBytes } = describeProbe(probe, this.config.model.bytes);
    this.runButton.disabled = false;
    if (!allowed) {
      this.setState('refused');
      this.runButton.disabled = true;
      return this.say(text, true);
    }
    this.pendingMaxBytes = maxBytes;
    replace(this.runButton, 'Download and run');
    this.say(text);
  }

  run() {
    if (this.running) return;
    if (this.foreign && !this.cached && this.agreed === null) {
      if (this.pendingMaxBytes === undefined) return void this.confirmForeignModel();
      this.agreed = this.pendingMaxBytes;
    }
    const cfg = cloneRun(this.config.run);
    if (this.config.view.editable) cfg.prompt = this.prompt.value;
    const errors = validateRun(cfg);
    if (errors.length) return this.say(errors.join('; '), true);
    this.running = true;
    this.runButton.disabled = true;
    this.stopButton.hidden = false;
    this.stopButton.disabled = false;
    this.inspector?.hide();
    this.setState('loading');
    this.say('Starting WebGPU…');
    const t0 = performance.now();
    const job = this.engine().runWithModel(cfg, modelUrl(this.config, this.modelBase), {
      onWaiting: () => { this.setState('waiting'); this.say('Waiting for the other comparison on this page to finish…'); },
      onProgress: (p) => this.showProgress(p),
      onStart: () => {
        this.progress.hidden = true;
        this.setState('running');
        this.say('running…');
        this.lanes.startRun(cfg);
      },
      onLaneStart: (m) => this.lanes.laneStart(m.lane),
      onToken: (m) => this.lanes.token(m.lane, m.step, m.tokenId, m.textDelta, m.eog, m.forced, m.heat),
      onLaneEnd: (m) => this.lanes.laneEnd(m.lane, m),
    }, this.agreed ? { maxBytes: this.agreed } : {});
    this.job = job;
    this.runCfg = cfg;
    job.done.then((end) => {
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      this.finish('done', end.stopped ? `stopped after ${s} s` : `done in ${s} s — click any token to inspect it`);
    }, (e) => this.finish('error', e.message, true));
  }

  finish(state, text, isError = false) {
    this.running = false;
    this.progress.hidden = true;
    this.lanes.endRun();
    this.runButton.disabled = false;
    replace(this.runButton, 'Run again');
    this.stopButton.hidden = true;
    this.setState(state);
    this.say(text, isError);
  }

  stop() {
    this.stopButton.disabled = true;
    this.job?.cancel();
  }

  say(text, isError = false) {
    this.status.classList.toggle('sc-status-error', isError);
    this.status.setAttribute('role', isError ? 'alert' : 'status');
    replace(this.status, text);
  }

  showProgress(p) {
    this.setState('loading');
    this.progress.hidden = false;
    this.progress.classList.toggle('indeterminate', p.phase === 'upload');
    const frac = p.total > 0 ? Math.min(1, p.loaded / p.total) : 0;
    this.bar.style.width = p.phase === 'upload' ? '' : `${(frac * 100).toFixed(1)}%`;
    const numbers = p.phase === 'upload' ? '' : ` · ${formatBytes(p.loaded)}${p.total ? ` / ${formatBytes(p.total)}` : ''}`;
    this.say(`${PHASES[p.phase] ?? p.phase}${numbers}…`);
  }

  /**
   * @param {number} lane
   * @param {number} step
   */
  async inspect(lane, step) {
    const job = this.job;
    if (job?.id == null) return;
    const name = this.runCfg.lanes[lane]?.name ?? `lane ${lane + 1}`;
    try {
      if (!this.inspector) {
        const { Inspector } = await import('./inspector.js');
        this.inspector = new Inspector(() => this.lanes.select(-1, -1), this.scope);
      }
      this.lanes.select(lane, step);
      this.inspector.loading(name, step);
      const view = await this.engine().inspect(job.id, lane, step);
      if (job === this.job) this.inspector.show(lane, name, step, view);
    } catch (e) {
      if (this.inspector) this.inspector.error(e.message);
      else this.say(`The inspector could not open: ${e.message}`, true);
    }
  }
}

/** The inspector's markup (the ids web/ui/inspector.js looks up within its scope). */
export function inspectorPanel() {
  return h('section', { className: 'panel inspector', id: 'inspector', hidden: true, 'aria-label': 'Inspector' },
    h('div', { className: 'inspector-head' },
      h('h2', {}, 'Inspector'),
      h('button', { type: 'button', className: 'ghost', id: 'inspector-close', 'aria-label': 'Close the inspector' }, '✕')),
    h('p', { className: 'inspector-summary', id: 'inspector-summary' }),
    h('div', { className: 'inspector-body' },
      h('figure', { className: 'chart-box' },
        h('figcaption', {}, 'Top candidates: probability before truncation'),
        h('div', { id: 'candidates-chart', className: 'chart' }),
        h('div', { className: 'legend', id: 'candidates-legend' })),
      h('figure', { className: 'chart-box' },
        h('figcaption', {}, 'Logit histogram (whole vocabulary, log count)'),
        h('div', { id: 'histogram-chart', className: 'chart' }))),
    h('table', { className: 'candidates', id: 'candidates-table' },
      h('thead', {}, h('tr', {}, ...['#', 'token', 'id', 'logit', 'p before', 'p after', ''].map((t) => h('th', {}, t)))),
      h('tbody')));
}

/**
 * Applies a theme to `el` as data-theme="light"|"dark" (lab.css's palette); "auto"
 * follows the reader's system setting, live. Returns a function that stops following it.
 */
export function applyTheme(el, theme) {
  const media = globalThis.matchMedia?.('(prefers-color-scheme: dark)');
  const set = () => { el.dataset.theme = theme === 'auto' ? (media?.matches ? 'dark' : 'light') : theme; };
  set();
  if (theme !== 'auto' || !media) return () => {};
  media.addEventListener('change', set);
  return () => media.removeEventListener('change', set);
}
