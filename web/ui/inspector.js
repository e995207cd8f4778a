// @ts-check
// The inspector: for one lane and step, the top candidates as bars (probability before
// truncation; survivors highlighted; the chosen token marked), each active sampler's
// cut-off drawn as a line, the survivor count, and a histogram of the whole vocabulary's
// logits. Charts are uPlot (vendored from npm into www/vendor); text goes in as text.

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { h, replace, visible } from './dom.js';
import { bars as barPaths, drawMarks } from './chart-export.js';

const LABEL_CHARS = 8;

export class Inspector {
  /**
   * @param {() => void} onClose
   * @param {Document|ShadowRoot} [scope] where the inspector's elements (by id) live
   */
  constructor(onClose, scope = document) {
    const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (scope.getElementById(id));
    this.$ = $;
    this.root = $('inspector');
    this.summary = $('inspector-summary');
    this.legend = $('candidates-legend');
    this.tbody = /** @type {HTMLTableElement} */ ($('candidates-table')).tBodies[0];
    this.plots = [];
    /**
     * The samplers' cut-off lines over each chart of `plots` (chart-export.js's marks), so
     * an exported figure shows them as the page does.
     * @type {import('./chart-export.js').Mark[][]}
     */
    this.marks = [];
    /**
     * "continue from here": when set, every candidate row gets a button that calls it with
     * the candidate's id (the lab makes a fork lane of it; the embed leaves it unset).
     * @type {((id: number) => void) | null}
     */
    this.onFork = null;
    $('inspector-close').addEventListener('click', () => { this.hide(); onClose(); });
    window.addEventListener('resize', () => this.resize());
  }

  /** A palette colour, read where the inspector lives (a shadow root's host has its own). */
  css(name) {
    return getComputedStyle(this.root).getPropertyValue(name).trim();
  }

  hide() {
    this.root.hidden = true;
    this.destroyPlots();
  }

  loading(laneName, step) {
    this.root.hidden = false;
    this.root.dataset.state = 'loading';
    replace(this.summary, `${laneName}, step ${step}: recomputing the distribution on the GPU…`);
  }

  error(message) {
    this.root.hidden = false;
    this.root.dataset.state = 'error';
    replace(this.summary, message);
  }

  /**
   * Shows one token's inspection (the worker's reply to `inspect`).
   * @param {number} lane
   * @param {string} laneName
   * @param {number} step
   * @param {import('../protocol.js').Inspected} inspected
   */
  show(lane, laneName, step, { view, chosen }) {
    this.root.hidden = false;
    this.root.dataset.state = 'ready';
    this.root.dataset.lane = String(lane);
    this.root.dataset.step = String(step);
    const a = view;
    const pick = a.candidates.find((c) => c.id === chosen);
    const pickText = pick ? `“${visible(pick.text)}”` : `token ${chosen}`;
    const cuts = a.thresholds.filter((t) => t.key !== 'greedy').map((t) => t.label);
    const mass = !a.greedy ? ` The survivors held ${pct(a.keptMass)} of the probability.` : '';
    replace(this.summary,
      `${laneName}, step ${step}: chose `, h('span', { className: 'mono' }, pickText), ` (id ${chosen}). `,
      h('strong', { 'data-survivors': a.survivors }, `${a.survivors.toLocaleString()} of ${a.vocab.toLocaleString()}`),
      ` tokens in play survive${a.greedy ? ' (greedy keeps only the argmax)' : cuts.length ? ` — ${cuts.join(', ')}` : ' (no truncation)'}.`,
      mass,
      pick ? '' : ' The chosen token is outside the top candidates shown.',
      h('span', { className: 'source', title: a.source === 'engine' ? 'recorded by the GPU sampler chain during the run' : 'this step recomputed (one prefill) and put through the lane’s GPU sampler chain' },
        a.source === 'engine' ? ' · recorded by the GPU chain' : ' · recomputed by the GPU chain'));
    this.destroyPlots();
    const thresholds = a.thresholds.filter((t) => t.key !== 'greedy');
    // The candidates' chart draws the cut-offs as probabilities, the histogram as logits.
    this.marks = [
      thresholds.map((t) => ({ axis: /** @type {const} */ ('y'), value: t.prob, text: t.label })),
      thresholds.map((t) => ({ axis: /** @type {const} */ ('x'), value: t.logit, text: t.label })),
    ];
    this.plots.push(this.candidatesChart(a, chosen, this.marks[0]), this.histogramChart(a, this.marks[1]));
    this.fillLegend(a);
    this.fillTable(a, chosen);
  }

  candidatesChart(a, chosen, marks) {
    const cs = a.candidates;
    const x = cs.map((_, i) => i);
    const only = (pred) => cs.map((c) => (pred(c) ? c.pre : null));
    const bars = barPaths({ size: [0.75, 40], align: 0 });
    const colors = { survivor: this.css('--survivor'), cut: this.css('--cut'), chosen: this.css('--chosen'), ink: this.css('--muted'), grid: this.css('--faint') };
    const el = this.$('candidates-chart');
    /** @type {import('uplot').Options} */
    const opts = {
      width: el.clientWidth || 600,
      height: 260,
      legend: { show: false },
      cursor: { show: true, points: { show: false }, drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.6, cs.length - 0.4] }, y: { range: (u, lo, hi) => [0, Math.max(hi, ...marks.map((m) => m.value)) * 1.08] } },
      axes: [
        {
          stroke: colors.ink, grid: { show: false }, ticks: { show: false }, rotate: -50, size: 70, space: 8, incrs: [1],
          values: (u, splits) => splits.map((i) => (cs[i] ? label(cs[i].text) : '')),
          font: `11px ${this.css('--mono') || 'monospace'}`,
        },
        { stroke: colors.ink, grid: { stroke: colors.grid }, size: 48, values: (u, vals) => vals.map((v) => `${+(v * 100).toFixed(1)}%`) },
      ],
      series: [
        {},
        { label: 'survivor', fill: colors.survivor, stroke: colors.survivor, paths: bars, points: { show: false } },
        { label: 'cut', fill: colors.cut, stroke: colors.cut, paths: bars, points: { show: false } },
        { label: 'chosen', fill: colors.chosen, stroke: colors.chosen, paths: bars, points: { show: false } },
      ],
      hooks: { draw: [(u) => drawMarks(u, marks, colors.ink)] },
    };
    const data = [x, only((c) => c.survivor && c.id !== chosen), only((c) => !c.survivor && c.id !== chosen), only((c) => c.id === chosen)];
    return new uPlot(opts, data, el);
  }

  histogramChart(a, marks) {
    const { edges, counts } = a.histogram;
    const centers = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
    const el = this.$('histogram-chart');
    const ink = this.css('--muted');
    const lo = edges[0], hi = edges[edges.length - 1];
    /** @type {import('uplot').Options} */
    const opts = {
      width: el.clientWidth || 400,
      height: 260,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [lo, hi] }, y: { distr: 3, range: (u, l, h2) => [1, Math.max(10, h2 * 1.5)] } },
      axes: [
        { stroke: ink, grid: { show: false }, size: 36 },
        { stroke: ink, grid: { stroke: this.css('--faint') }, size: 48, splits: decades },
      ],
      series: [{}, { label: 'tokens per logit bin', fill: this.css('--cut'), stroke: this.css('--cut'), paths: barPaths({ size: [1, 100], gap: 1 }), points: { show: false } }],
      hooks: { draw: [(u) => drawMarks(u, marks, ink)] },
    };
    return new uPlot(opts, [centers, counts.map((n) => (n > 0 ? n : null))], el);
  }

  fillLegend(a) {
    const sw = (color, text) => h('span', {}, h('span', { className: 'swatch', style: { background: color } }), text);
    replace(this.legend,
      sw(this.css('--survivor'), 'survives'), sw(this.css('--cut'), 'cut'), sw(this.css('--chosen'), 'chosen'),
      a.thresholds.some((t) => t.key !== 'greedy') ? h('span', {}, '– – sampler cut-off') : null);
  }

  fillTable(a, chosen) {
    const maxPost = Math.max(...a.candidates.map((c) => c.post), 1e-9);
    replace(this.tbody, ...a.candidates.map((c) => h('tr', { className: [c.survivor ? 'survivor' : 'cut', c.id === chosen ? 'chosen' : ''].join(' ').trim(), dataset: { id: c.id, pre: c.pre, post: c.post } },
      h('td', {}, String(c.rank + 1)),
      h('td', { className: 'tokcell' }, visible(c.text)),
      h('td', {}, String(c.id)),
      h('td', {}, c.logit.toFixed(2)),
      h('td', {}, pct(c.pre)),
      h('td', {}, h('span', { className: 'pbar', style: { width: `${Math.round((60 * c.post) / maxPost)}px` } }), ' ', c.survivor ? pct(c.post) : '—'),
      h('td', {}, c.id === chosen ? '★ chosen' : c.survivor ? '✓' : ''),
      this.onFork ? h('td', {}, h('button', {
        type: 'button', className: 'ghost fork-btn', dataset: { id: c.id },
        title: `A new lane: this lane's tokens up to this step, then “${visible(c.text)}” (id ${c.id}), decoded on with the same sampler and dice`,
        on: { click: () => this.onFork?.(c.id) },
      }, '↪ continue from here')) : null,
    )));
  }

  resize() {
    for (const p of this.plots) p.setSize({ width: p.root.parentElement.clientWidth, height: 260 });
  }

  destroyPlots() {
    for (const p of this.plots) p.destroy();
    this.plots = [];
    this.marks = [];
  }
}

function pct(p) {
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  if (p >= 1e-7) return `${(p * 100).toPrecision(2)}%`;
  return p > 0 ? `${(p * 100).toExponential(1)}%` : '0%';
}

/** Log-axis splits at powers of ten only (uPlot's default adds every 2×, 3×, … tick). */
function decades(u, axisIdx, min, max) {
  const out = [];
  for (let v = 1; v <= max * 1.0001; v *= 10) if (v >= min / 1.0001) out.push(v);
  return out;
}

function label(text) {
  const t = visible(text);
  return t.length > LABEL_CHARS ? `${t.slice(0, LABEL_CHARS - 1)}…` : t;
}
