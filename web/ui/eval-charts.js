// @ts-check
// The eval page's charts (uPlot, vendored like the lab's inspector): pass@k and majority
// vote against k on a log-k axis, one curve per configuration with greedy as a flat line
// and the fitted exp(a·k^b) dashed; and pass@1 against temperature for a sweep. Labels go
// into the page's own legends as text.

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { h, replace } from './dom.js';

const HEIGHT = 280;
const LANE_COLORS = 8;

/** The colour of configuration i (lane 0's grey is greedy's, as in the lab). */
const colorVar = (i) => `--lane-${1 + (i % (LANE_COLORS - 1))}`;

const pct = (v) => (v == null ? '—' : `${(100 * v).toFixed(1)}%`);

export class EvalCharts {
  constructor(root) {
    this.root = root;
    this.plots = [];
    /**
     * The charts shown now by name (pass@k, majority vote, the temperature sweep), for the
     * figure exports.
     * @type {{passk?: any, vote?: any, sweep?: any}}
     */
    this.named = {};
    window.addEventListener('resize', () => {
      for (const p of this.plots) p.setSize({ width: p.root.parentElement.clientWidth, height: HEIGHT });
    });
  }

  css(name) {
    return getComputedStyle(this.root).getPropertyValue(name).trim();
  }

  destroy() {
    for (const p of this.plots) p.destroy();
    this.plots = [];
    this.named = {};
  }

  /** Draws every chart of `report` (the core's EvalReport JSON, parsed). */
  render(report, { passk, vote, sweep, legend, sweepLegend, sweepBox }) {
    this.destroy();
    const n = Math.max(1, report.samples);
    const ks = Array.from({ length: n }, (_, i) => i + 1);
    const configs = report.configs;
    const greedy = report.greedy_accuracy;
    const fits = configs.map((c) => (c.fit ? ks.map((k) => Math.exp(c.fit.a * k ** c.fit.b)) : null));
    const curve = (values) => ks.map((k) => values[k - 1] ?? null);
    const passSeries = configs.map((c, i) => ({ label: c.spec, color: this.css(colorVar(i)), values: curve(c.pass_at_k) }));
    const fitSeries = configs.flatMap((c, i) => (fits[i] ? [{ label: `${c.spec} fit`, color: this.css(colorVar(i)), values: fits[i], dash: true }] : []));
    const greedyLine = greedy == null ? [] : [{ label: 'greedy', color: this.css('--lane-0'), values: ks.map(() => greedy), width: 2.5 }];
    this.named.passk = this.kChart(passk, ks, [...greedyLine, ...passSeries, ...fitSeries]);
    this.plots.push(this.named.passk);
    const voteSeries = configs.map((c, i) => ({ label: c.spec, color: this.css(colorVar(i)), values: curve(c.majority_vote) }));
    this.named.vote = this.kChart(vote, ks, [...greedyLine, ...voteSeries]);
    this.plots.push(this.named.vote);
    const sw = (color, text, dashed) => h('span', {}, h('span', { className: dashed ? 'swatch dashed' : 'swatch', style: dashed ? {} : { background: color } }), text);
    replace(legend,
      greedy == null ? null : sw(this.css('--lane-0'), `greedy ${pct(greedy)}`),
      ...configs.map((c, i) => sw(this.css(colorVar(i)), c.spec)),
      fitSeries.length ? sw(null, 'fitted exp(a·k^b)', true) : null);
    sweepBox.hidden = !report.sweep.length;
    if (report.sweep.length) {
      this.named.sweep = this.sweepChart(sweep, report.sweep);
      this.plots.push(this.named.sweep);
      replace(sweepLegend, ...report.sweep.map((s, i) => sw(this.css(colorVar(i)), `${s.spec.replace(/^temperature=1(,|$)/, '') || 'pure sampling'}`)));
    } else {
      replace(sweepLegend);
    }
  }

  /** Curves over k = 1…N on a log₂ axis, y from 0 to 100%. */
  kChart(el, ks, series) {
    const ink = this.css('--muted');
    const n = ks[ks.length - 1];
    /** @type {import('uplot').Options} */
    const opts = {
      width: el.clientWidth || 560,
      height: HEIGHT,
      legend: { show: false },
      cursor: { points: { size: 6 }, drag: { x: false, y: false } },
      scales: {
        x: { time: false, distr: 3, log: 2, range: () => [1, Math.max(2, n)] },
        y: { range: [0, 1] },
      },
      axes: [
        { stroke: ink, grid: { stroke: this.css('--faint') }, size: 36, label: 'k', labelSize: 18, splits: () => powersOfTwo(n), values: (u, v) => v.map(String) },
        { stroke: ink, grid: { stroke: this.css('--faint') }, size: 48, values: (u, v) => v.map((x) => `${Math.round(x * 100)}%`) },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? (s.dash ? 1.5 : 2),
          dash: s.dash ? [6, 4] : undefined,
          points: { show: !s.dash && s.label !== 'greedy' && ks.length <= 64, size: 4 },
          value: (u, v) => pct(v),
        })),
      ],
    };
    return new uPlot(opts, [ks, ...series.map((s) => s.values)], el);
  }

  /** pass@1 against temperature, one line per base configuration. */
  sweepChart(el, sweep) {
    const ink = this.css('--muted');
    // uPlot wants x ascending; the sweep keeps the order it was given.
    const order = sweep[0].temperatures.map((t, i) => [t, i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
    const temps = order.map((i) => sweep[0].temperatures[i]);
    /** @type {import('uplot').Options} */
    const opts = {
      width: el.clientWidth || 560,
      height: HEIGHT,
      legend: { show: false },
      cursor: { points: { size: 6 }, drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [
        { stroke: ink, grid: { stroke: this.css('--faint') }, size: 36, label: 'temperature', labelSize: 18, splits: () => temps },
        { stroke: ink, grid: { stroke: this.css('--faint') }, size: 48, values: (u, v) => v.map((x) => `${Math.round(x * 100)}%`) },
      ],
      series: [{}, ...sweep.map((s, i) => ({ label: s.spec, stroke: this.css(colorVar(i)), width: 2, points: { show: true, size: 6 } }))],
    };
    return new uPlot(opts, [temps, ...sweep.map((s) => order.map((i) => s.pass_at_1[i] ?? null))], el);
  }
}

/** 1, 2, 4, … up to n, and n itself: the k ticks of a log₂ axis. */
export function powersOfTwo(n) {
  const out = [];
  for (let k = 1; k <= n; k *= 2) out.push(k);
  if (out[out.length - 1] !== n) out.push(n);
  return out;
}
