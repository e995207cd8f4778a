// @ts-check
// The charts of the eval page's Figures (web/figures.js), one drawer per preset figure
// (src/eval/presets.rs's Figure): each takes the core's numbers as they came (a report's
// JSON, a survivor curve), draws them with uPlot and returns the arrays it drew as `data`
// ({x, series: [{label, values}]} per chart), so a test can hold the chart to the report.

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { drawMarks } from './chart-export.js';

const HEIGHT = 300;
const LANE_COLORS = 8;

/**
 * @typedef {{label: string, values: (number | null)[], color: string, dash?: boolean, points?: boolean, line?: boolean}} Series
 * @typedef {{x: number[], series: {label: string, values: (number | null)[]}[]}} ChartData
 * @typedef {{axis: 'x' | 'y', value: number, text: string}} Mark
 * @typedef {{plot: any, data: ChartData, legend: {label: string, color: string, dash?: boolean}[], marks: Mark[]}} Drawn
 */

/** The colour of series i (lane 0's grey is greedy's, as in the lab). */
const colorVar = (i) => `--lane-${1 + (i % (LANE_COLORS - 1))}`;
const pct = (v) => `${Math.round(v * 100)}%`;

/**
 * @param {HTMLElement} root  for the page's colours (CSS custom properties)
 */
export function figureCharts(root) {
  const css = (/** @type {string} */ name) => getComputedStyle(root).getPropertyValue(name).trim();
  const axis = (label, values, extra = {}) => ({
    stroke: css('--muted'), grid: { stroke: css('--faint') }, size: 48, label, labelSize: 18, values, ...extra,
  });

  /**
   * @param {HTMLElement} el
   * @param {number[]} x
   * @param {Series[]} series
   * @param {{x: object, y: object, axes: object[], marks?: Mark[]}} o
   * @returns {Drawn}
   */
  function draw(el, x, series, o) {
    const marks = o.marks ?? [];
    /** @type {import('uplot').Options} */
    const opts = {
      width: el.clientWidth || 560,
      height: HEIGHT,
      legend: { show: false },
      cursor: { points: { size: 6 }, drag: { x: false, y: false } },
      scales: { x: { time: false, ...o.x }, y: o.y },
      axes: /** @type {any} */ (o.axes),
      series: [{}, ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.line === false ? 0 : s.dash ? 1.5 : 2,
        dash: s.dash ? [6, 4] : undefined,
        paths: s.line === false ? () => null : undefined,
        points: { show: s.points ?? !s.dash, size: s.line === false ? 10 : 6, fill: s.color },
      }))],
      hooks: { draw: [(u) => drawMarks(u, marks, css('--ink') || '#333')] },
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)], el);
    return {
      plot,
      data: { x, series: series.map((s) => ({ label: s.label, values: s.values })) },
      legend: series.map((s) => ({ label: s.label, color: s.color, dash: s.dash })),
      marks,
    };
  }

  const percentAxis = () => axis('', (u, v) => v.map(pct));

  return {
    /**
     * min-p: pass@1 against temperature, a line per sampler (the report's `sweep`).
     * @param {HTMLElement} el @param {any} report
     */
    sweep(el, report) {
      const sweep = report.sweep;
      // uPlot wants x ascending; the sweep keeps the order it was given.
      const order = sweep[0].temperatures.map((t, i) => [t, i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
      const x = order.map((i) => sweep[0].temperatures[i]);
      const series = sweep.map((s, i) => ({
        label: s.spec.replace(/^temperature=1(,|$)/, '') || 'pure sampling',
        values: order.map((j) => s.pass_at_1[j] ?? null),
        color: css(colorVar(i)),
      }));
      return draw(el, x, series, {
        x: {}, y: { range: [0, 1] },
        axes: [axis('temperature', undefined, { splits: () => x }), percentAxis()],
      });
    },

    /**
     * greedy vs sampling: per task set (x = its index), greedy, the mean sample (pass@1)
     * and best-of-N (pass@N), as dots.
     * @param {HTMLElement} el @param {{label: string, report: any}[]} parts
     */
    greedyVsSampling(el, parts) {
      const x = parts.map((_, i) => i);
      const n = parts[0].report.samples;
      const c = (p) => p.report.configs[0];
      const series = [
        { label: 'greedy', values: parts.map((p) => p.report.greedy_accuracy ?? null), color: css('--lane-0'), line: false },
        { label: 'mean sample (pass@1)', values: parts.map((p) => c(p)?.pass_at_k[0] ?? null), color: css(colorVar(0)), line: false },
        { label: `best of ${n} (pass@${n})`, values: parts.map((p) => c(p)?.pass_at_k[n - 1] ?? null), color: css(colorVar(1)), line: false },
      ];
      const names = parts.map((p) => p.label.replace(/^arithmetic /, ''));
      return draw(el, x, series, {
        x: { range: [-0.5, parts.length - 0.5] }, y: { range: [0, 1] },
        axes: [axis('task set', (u, v) => v.map((i) => names[i] ?? ''), { splits: () => x }), percentAxis()],
      });
    },

    /**
     * repeated sampling: coverage (pass@k) for k = 1…N on a log₂ axis, and the fitted
     * exp(a·k^b) from k = 1 to `to` (dashed). x: 1…N, then doublings to `to`.
     * @param {HTMLElement} el @param {any} report @param {number} to
     */
    coverage(el, report, to) {
      const n = report.samples;
      const x = Array.from({ length: n }, (_, i) => i + 1);
      for (let k = 2 * n; k < to; k *= 2) x.push(k);
      if (x[x.length - 1] < to) x.push(to);
      const series = report.configs.flatMap((cfg, i) => {
        const color = css(colorVar(i));
        const measured = { label: `${cfg.spec} coverage`, values: x.map((k) => (k <= n ? cfg.pass_at_k[k - 1] ?? null : null)), color };
        const fit = cfg.fit ? [{ label: `${cfg.spec} fit exp(${cfg.fit.a.toFixed(3)}·k^${cfg.fit.b.toFixed(3)})`, values: x.map((k) => Math.exp(cfg.fit.a * k ** cfg.fit.b)), color, dash: true }] : [];
        return [measured, ...fit];
      });
      return draw(el, x, series, {
        x: { distr: 3, log: 2, range: () => [1, to] }, y: { range: [0, 1] },
        axes: [axis('k (samples)', (u, v) => v.map(String), { splits: () => x.filter((k) => (k & (k - 1)) === 0) }), percentAxis()],
      });
    },

    /**
     * top-nσ: survivors against temperature (log y), a line per sampler.
     * @param {HTMLElement} el @param {any} curve  the core's SurvivorCurve
     */
    survivors(el, curve) {
      const x = curve.temperatures;
      const series = curve.series.map((s, i) => ({ label: s.spec, values: s.survivors, color: css(colorVar(i + 1)) }));
      return draw(el, x, series, {
        x: {}, y: { distr: 3, log: 10 },
        axes: [axis('temperature', undefined, { splits: () => x }), axis('tokens kept', (u, v) => v.map((c) => c.toLocaleString()))],
      });
    },

    /**
     * top-nσ: the step's logits at T = 1 as a histogram (log counts) with the maximum and
     * top-nσ's threshold max − nσ marked.
     * @param {HTMLElement} el @param {any} curve
     */
    histogram(el, curve) {
      const ins = curve.at_t1;
      const bins = ins.histogram.length;
      const w = (ins.hist_hi - ins.hist_lo) / bins;
      const x = ins.histogram.map((_, i) => ins.hist_lo + (i + 0.5) * w);
      const series = [{ label: 'tokens per logit bin', values: ins.histogram.map((c) => (c > 0 ? c : null)), color: css(colorVar(0)) }];
      const sigma = ins.thresholds.find((t) => t.key === 'top_n_sigma');
      /** @type {Mark[]} */
      const marks = [{ axis: 'x', value: ins.hist_hi, text: 'max' }];
      if (sigma) marks.push({ axis: 'x', value: sigma.logit, text: `max − nσ (${ins.survivors} kept)` });
      return draw(el, x, series, {
        x: { range: [ins.hist_lo, ins.hist_hi] }, y: { distr: 3, log: 10 },
        axes: [axis('logit at T = 1', (u, v) => v.map((l) => l.toFixed(1))), axis('tokens', (u, v) => v.map((c) => c.toLocaleString()))],
        marks,
      });
    },
  };
}
