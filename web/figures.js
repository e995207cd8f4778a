// @ts-check
// The eval page's Figures: the seeds' figures, one click each (src/eval/presets.rs, read
// through the worker's `eval-presets`). A preset's eval parts run through the same `eval`
// request as the form's Run, one after the other; the top-nσ figure asks the worker for a
// survivor curve (`survivors`: the GPU chain's counts, one batched step). Before a run the
// page shows how long it may take: the preset's token budget over the model's measured rate
// (a short batched decode once a model is loaded and the figures are wanted, then each
// finished run's own rate).
//
// Link: eval.html#figure=NAME[&size=small][&embed=1] opens the page at that figure (the
// share link and the embed code carry it; size=small is the tests' size, the same code
// path). State for tests: <body data-figure = idle | running | done | cancelled | error>,
// and #figure-out's data-chart holds the arrays the charts drew (figure-charts.js).

import { $, h, replace, download, toast } from './ui/dom.js';
import { figureCharts } from './ui/figure-charts.js';
import { attachExport } from './ui/chart-export.js';
import { HEIGHT_MESSAGE } from './share.js';

/** @typedef {import('./engine-client.js').EngineClient} EngineClient */

const SPEED_PROMPT = 'The capital of France is';
const SPEED_LANES = 16;
const SPEED_TOKENS = 4;

/** The figure a link asks for: {name, size, embed}, or null. */
export function figureFromLink(hash = location.hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const name = p.get('figure');
  if (!name) return null;
  /** @type {'full' | 'small'} */
  const size = p.get('size') === 'small' ? 'small' : 'full';
  return { name, size, embed: p.get('embed') === '1' };
}

/** The link that opens the page at `name` (size small only when asked). */
export function figureLink(name, size, embed = false) {
  const p = new URLSearchParams({ figure: name });
  if (size === 'small') p.set('size', 'small');
  if (embed) p.set('embed', '1');
  return `${location.origin}${location.pathname}#${p}`;
}

const duration = (s) => (s < 60 ? `${Math.max(1, Math.round(s))} s` : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`);

/**
 * @param {{engine: EngineClient, blocked: () => string | null, onRunning: (running: boolean) => void}} o
 *   blocked(): why a figure cannot start now (no model, a run or import in flight), or null
 */
export function setupFigures({ engine, blocked, onRunning }) {
  const body = document.body.dataset;
  const link = figureFromLink();
  const size = link?.size ?? 'full';
  const charts = figureCharts($('figures'));
  const state = {
    /** @type {any[]} */
    presets: [],
    /** Aggregate decode rate, tokens per second (null: not measured yet). */
    /** @type {number | null} */
    rate: null,
    running: false,
    cancelled: false,
    /** The request in flight, for Cancel. */
    reqId: 0,
    /** @type {any[]} */
    plots: [],
    /** What the figure on the page came from, for its exports. */
    /** @type {any} */
    shown: null,
    /** The loaded model's name, for captions. */
    model: '',
    loaded: false,
    measuring: false,
    /** The figures are wanted: opened by a figure link, or the pointer or focus was in the section. */
    seen: false,
  };
  body.figure = 'idle';
  if (link?.embed) body.embed = '1';

  function estimate(p) {
    if (state.rate === null) return `at most ${p.tokenBudget.toLocaleString()} tokens`;
    return `at most ~${duration(p.tokenBudget / state.rate)} (${p.tokenBudget.toLocaleString()} tokens at ${state.rate.toFixed(0)} tok/s)`;
  }

  function renderButtons() {
    const shown = link?.embed ? state.presets.filter((p) => p.name === link.name) : state.presets;
    replace($('figure-buttons'), ...shown.map((p) => h('div', { className: 'figure-choice', dataset: { preset: p.name } },
      h('button', { type: 'button', id: `figure-${p.name}`, className: link?.name === p.name ? 'primary' : undefined, on: { click: () => run(p) } }, p.title),
      h('span', { className: 'hint' }, ` after ${p.after} · `, h('span', { className: 'estimate' }, estimate(p))))));
    refresh();
  }

  function refresh() {
    const why = blocked();
    for (const b of $('figure-buttons').querySelectorAll('button')) /** @type {HTMLButtonElement} */ (b).disabled = state.running || why !== null;
    $('figure-cancel').disabled = !state.running;
  }

  /** A short batched decode: the rate the estimates divide by until a run measures its own. */
  async function measure() {
    if (state.rate !== null || state.measuring) return;
    state.measuring = true;
    try {
      const r = await engine.bench({ prompt: SPEED_PROMPT, maxTokens: SPEED_TOKENS, lanes: SPEED_LANES }).done;
      // The engine's decode time after each lane's first token (a run is mostly decode).
      const tokens = r.tokens.reduce((a, b) => a + b, 0) - r.tokens.length;
      if (state.rate === null && r.decodeMs > 0 && tokens > 0) state.rate = tokens / (r.decodeMs / 1000);
      renderButtons();
    } catch (e) {
      console.warn(`figures: no speed measurement (${e.message}); the buttons give the token budget`);
    } finally {
      state.measuring = false;
    }
  }

  function setRunning(running) {
    state.running = running;
    onRunning(running);
    refresh();
  }

  /** @param {{done: number, total: number}} p */
  function progress({ done, total }, startedAt) {
    $('figure-progress').hidden = false;
    $('figure-progress').dataset.done = String(done);
    $('figure-progress').dataset.total = String(total);
    $('figure-progress-fill').style.width = `${total ? (100 * done) / total : 0}%`;
    const s = (performance.now() - startedAt) / 1000;
    const eta = done > 0 && done < total ? ` · ETA ${duration((s / done) * (total - done))}` : '';
    replace($('figure-progress-label'), `${done.toLocaleString()} / ${total.toLocaleString()} samples · ${duration(s)} elapsed${eta}`);
  }

  /** @param {any} p  a preset */
  async function run(p) {
    const why = blocked();
    if (why) return toast(why);
    if (state.running) return undefined;
    state.cancelled = false;
    setRunning(true);
    body.figure = 'running';
    const startedAt = performance.now();
    replace($('figure-status'), `${p.title}: running (${estimate(p)})…`);
    try {
      let result;
      if (p.survivors) {
        const req = engine.request('survivors', { spec: p.survivors });
        state.reqId = req.id;
        result = { curve: await req.done };
      } else {
        // Each part's sample count (the core's preview), so progress spans the whole preset.
        const totals = [];
        for (const part of p.parts) totals.push((await engine.evalPreview(part.spec)).totalSamples);
        const total = totals.reduce((a, b) => a + b, 0);
        const parts = [];
        let before = 0;
        let tokens = 0;
        let ms = 0;
        for (const [i, part] of p.parts.entries()) {
          if (state.cancelled) break;
          const req = engine.evaluate(part.spec, (ev) => { if (ev.kind === 'eval-progress') progress({ done: before + ev.done, total }, startedAt); });
          state.reqId = req.id;
          const out = await req.done;
          const report = JSON.parse(out.json);
          parts.push({ label: part.label, report });
          tokens += report.tokens;
          ms += report.elapsed_ms;
          before += totals[i];
          if (report.cancelled) state.cancelled = true;
        }
        if (ms > 0 && tokens > 0) state.rate = tokens / (ms / 1000);
        result = { parts };
      }
      const secs = (performance.now() - startedAt) / 1000;
      show(p, result);
      body.figure = state.cancelled ? 'cancelled' : 'done';
      replace($('figure-status'), state.cancelled ? `${p.title}: cancelled after ${duration(secs)}; what finished is shown` : `${p.title}: done in ${duration(secs)}`);
    } catch (e) {
      body.figure = 'error';
      replace($('figure-status'), `${p.title}: failed: ${e.message}`);
      toast(e.message);
    } finally {
      setRunning(false);
      renderButtons();
    }
    return undefined;
  }

  function cancel() {
    if (!state.running) return;
    state.cancelled = true;
    engine.cancel(state.reqId);
    replace($('figure-status'), 'cancelling after the step in flight…');
    $('figure-cancel').disabled = true;
  }

  /** The figure's JSON, as `samplescope eval --preset NAME --json` writes it. */
  function resultJson(p, result) {
    if (result.curve) return JSON.stringify(result.curve, null, 2);
    return JSON.stringify({ preset: p.name, size: p.size, parts: result.parts }, null, 2);
  }

  function show(p, result) {
    for (const plot of state.plots) plot.destroy();
    const out = $('figure-out');
    out.hidden = false;
    replace($('figure-title'), `${p.title} — after ${p.after}`);
    const boxes = [h('div', { className: 'chart' })];
    if (result.curve) boxes.push(h('div', { className: 'chart' }));
    replace($('figure-charts'), ...boxes);
    /** @type {import('./ui/figure-charts.js').Drawn[]} */
    let drawn;
    if (result.curve) drawn = [charts.survivors(boxes[0], result.curve), charts.histogram(boxes[1], result.curve)];
    else if (p.figure === 'sweep') drawn = [charts.sweep(boxes[0], result.parts[0].report)];
    else if (p.figure === 'coverage') drawn = [charts.coverage(boxes[0], result.parts[0].report, p.extrapolateTo)];
    else drawn = [charts.greedyVsSampling(boxes[0], result.parts)];
    state.plots = drawn.map((d) => d.plot);
    out.dataset.chart = JSON.stringify(drawn.map((d) => d.data));
    out.dataset.preset = p.name;
    const caption = `${p.caption} Model: ${state.model}.${state.cancelled ? ' Cancelled: only what finished is shown.' : ''}`;
    const share = figureLink(p.name, p.size);
    const embed = embedCode(p);
    replace($('figure-caption'), caption);
    replace($('figure-legend'), ...drawn.flatMap((d) => d.legend).map((l) => h('span', {},
      h('span', { className: l.dash ? 'swatch dashed' : 'swatch', style: l.dash ? {} : { background: l.color } }), l.label)));
    /** @type {HTMLInputElement} */ ($('figure-link')).value = share;
    /** @type {HTMLTextAreaElement} */ ($('figure-embed')).value = embed;
    state.shown = { p, json: resultJson(p, result) };
    const exports = $('figure-exports');
    replace(exports);
    drawn.forEach((d, i) => attachExport(exports, d.plot, {
      name: `samplescope-${p.name}${drawn.length > 1 ? `-${i + 1}` : ''}`,
      title: `${p.title} — after ${p.after}`,
      caption: () => ({ text: caption, link: share }),
      legend: () => d.legend,
      marks: () => d.marks,
    }));
  }

  /** An iframe of this page at the figure, in its embed layout (model, the figure, nothing else). */
  function embedCode(p) {
    const src = figureLink(p.name, p.size, true);
    const a = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    return [
      `<iframe src="${a(src)}" title="samplescope: ${a(p.title)}" sandbox="allow-scripts allow-same-origin allow-downloads"`,
      `  style="width: 100%; height: 760px; border: 0;" loading="lazy"></iframe>`,
    ].join('\n');
  }

  $('figure-cancel').addEventListener('click', cancel);
  $('figure-json').addEventListener('click', () => state.shown && download(`samplescope-${state.shown.p.name}.json`, state.shown.json, 'application/json'));
  $('figure-copy-link').addEventListener('click', () => navigator.clipboard?.writeText(/** @type {HTMLInputElement} */ ($('figure-link')).value).catch(() => {}));
  if (link?.embed && window.parent !== window) {
    // As the lab's embed does: the parent may fit the frame to the page.
    new ResizeObserver(() => window.parent.postMessage({ type: HEIGHT_MESSAGE, height: document.documentElement.scrollHeight }, '*'))
      .observe(document.body);
  }

  // The rate is measured once a model is loaded and the figures are wanted (a figure link, or
  // the pointer or focus in the section), so a page used only for its form never runs it.
  const want = () => {
    state.seen = true;
    if (state.loaded) measure();
  };
  if (link) state.seen = true;
  for (const ev of ['pointerenter', 'focusin']) $('figures').addEventListener(ev, want);

  engine.request('eval-presets', { size }).done.then((list) => {
    state.presets = list;
    renderButtons();
    if (link && !list.some((p) => p.name === link.name)) toast(`This link names a figure the page does not have: "${link.name.slice(0, 40)}"`);
    if (link) $('figures').scrollIntoView();
  }, (e) => replace($('figure-status'), `The figures could not be read: ${e.message}`));

  return {
    /** A model loaded (`name`): its rate is unknown until measured again. */
    modelLoaded(name) {
      state.model = name;
      state.rate = null;
      state.loaded = true;
      renderButtons();
      if (state.seen) measure();
    },
    refresh,
    get running() { return state.running; },
  };
}
