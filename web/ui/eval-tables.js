// @ts-check
// The eval page's tables: per configuration (pass@k and majority vote at a few k, the
// power-law fit), and per task (correct count and extracted answers, every output on
// demand). Prompts, outputs and answers are model or user text: they go in as text only.

import { h, replace } from './dom.js';
import { powersOfTwo } from './eval-charts.js';

const pct = (v) => (v == null ? '—' : `${(100 * v).toFixed(1)}%`);
const num = (v, d = 3) => (v == null ? '—' : v.toFixed(d));

/** One row per configuration (greedy first), the same columns as the CLI's table. */
export function fillSummary(table, report) {
  const ks = report.samples > 0 ? powersOfTwo(report.samples) : [];
  replace(table.tHead, h('tr', {},
    h('th', {}, 'configuration'), h('th', {}, 'tasks'),
    ...ks.map((k) => h('th', { className: 'num' }, `pass@${k}`)),
    ...ks.map((k) => h('th', { className: 'num' }, `maj@${k}`)),
    h('th', { className: 'num', title: 'c(k) ≈ exp(a·k^b)' }, 'fit a'), h('th', { className: 'num' }, 'b'), h('th', { className: 'num' }, 'R²')));
  const rows = [];
  if (report.tasks.some((t) => t.greedy)) {
    rows.push(h('tr', { dataset: { config: 'greedy' } },
      h('td', { className: 'spec' }, 'greedy'), h('td', {}, String(report.greedy_tasks)),
      h('td', { className: 'num' }, pct(report.greedy_accuracy)),
      h('td', { className: 'hint', colSpan: String(Math.max(1, 2 * ks.length + 2)) }, 'one sample per task (argmax), the same at every k')));
  }
  report.configs.forEach((c, i) => rows.push(h('tr', { dataset: { config: String(i) } },
    h('td', { className: 'spec' }, c.spec), h('td', {}, String(c.tasks)),
    ...ks.map((k) => h('td', { className: 'num' }, pct(c.pass_at_k[k - 1]))),
    ...ks.map((k) => h('td', { className: 'num' }, pct(c.majority_vote[k - 1]))),
    h('td', { className: 'num' }, num(c.fit?.a)), h('td', { className: 'num' }, num(c.fit?.b)), h('td', { className: 'num' }, num(c.fit?.r2)))));
  replace(table.tBodies[0], ...rows);
}

/** "15×3 12×2 ∅×1": the extracted answers by frequency (ties: first seen first). */
export function tally(samples) {
  const counts = new Map();
  for (const s of samples) {
    const a = s.extracted ?? '∅';
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function verdict(sample) {
  if (!sample) return '—';
  return h('span', { className: sample.pass ? 'pass' : 'fail' }, `${sample.extracted ?? '∅'} ${sample.pass ? '✓' : '✗'}`);
}

/** One row per task; a task's outputs are listed when its prompt is opened. */
export function fillTasks(table, report) {
  const specs = report.configs.map((c) => c.spec);
  replace(table.tHead, h('tr', {},
    h('th', {}, '#'), h('th', {}, 'prompt'), h('th', {}, 'answer'), h('th', {}, 'greedy'),
    ...specs.map((s) => h('th', { className: 'spec' }, s))));
  replace(table.tBodies[0], ...report.tasks.map((t) => {
    const details = h('details', {}, h('summary', {}, t.prompt));
    details.addEventListener('toggle', () => {
      if (details.open && details.childElementCount === 1) details.append(outputs(t, specs));
    }, { once: false });
    return h('tr', { dataset: { task: String(t.index), complete: String(t.complete) } },
      h('td', {}, String(t.index)),
      h('td', { className: 'prompt' }, details),
      h('td', { className: 'answer' }, t.answer),
      h('td', { dataset: { greedy: '' } }, verdict(t.greedy)),
      ...t.configs.map((tc, ci) => h('td', { dataset: { config: String(ci) } },
        h('span', { className: 'count' }, `${tc.correct}/${tc.samples.length}`), ' ',
        h('span', { className: 'answers' }, tally(tc.samples).map(([a, n]) => `${a}×${n}`).join(' ')))));
  }));
}

function outputs(task, specs) {
  const item = (label, s) => h('li', { className: s.pass ? 'pass-row' : 'fail-row' },
    h('span', { className: 'cfg' }, `${label} → `), verdict(s), h('span', { className: 'cfg' }, ` (${s.stop}): `), s.output);
  return h('ol', { className: 'outputs' },
    task.greedy ? item('greedy', task.greedy) : null,
    ...task.configs.flatMap((tc, ci) => tc.samples.map((s) => item(`${specs[ci]} #${s.sample_index}`, s))));
}
