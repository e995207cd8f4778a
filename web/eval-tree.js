// @ts-check
// The eval page's sample tree: one task's samples under one configuration, as a prefix
// tree (web/ui/sample-tree.js). The report keeps each sample's text, not its tokens, and a
// text's tokenization need not be the tokens the sampler drew; so the tree draws the
// samples again on the loaded model with what the runner used (the task's prompt with the
// chat template, the configuration's spec with the task's seed, sample indices 0…N−1: Rust's
// evalTaskSamples), which gives the same tokens, and checks each text against the report's.

import { $, h, replace } from './ui/dom.js';
import { SampleTreePanel } from './ui/sample-tree.js';
import { Inspector } from './ui/inspector.js';
import { inspectorPanel } from './ui/compare-view.js';
import { LIMITS, SAMPLER_KEYS } from './config.js';
import { parseLaneSpec } from './lane-params.js';

/** @typedef {import('./sample-tree.js').Sample} Sample */

export class EvalTree extends SampleTreePanel {
  /** @param {import('./engine-client.js').EngineClient} engine */
  constructor(engine) {
    super(engine, { view: $('tree-view'), button: $('tree-draw'), status: $('tree-status') });
    /** @type {any} the report on the page */
    this.report = null;
    /** @type {object | null} the spec it ran (null: imported) */
    this.spec = null;
    /** Samples the run has per task and configuration, and the drawn task and configuration. */
    this.drawing = { samples: 0, task: 0, config: 0 };
    /** @type {Inspector | null} */
    this.inspector = null;
  }

  /**
   * A new report on the page; `spec` is what ran it (null for an import: no tokens here).
   * @param {any} report
   * @param {object | null} spec
   */
  show(report, spec) {
    this.report = report;
    this.spec = spec;
    this.shown = null;
    this.view.clear();
    this.inspector?.hide();
    $('tree-draw').disabled = !spec || report.samples === 0;
    this.status(!spec ? 'imported samples: the tree needs samples drawn on this page (their tokens)' : report.samples === 0 ? 'greedy only: no samples to draw' : '');
    replace($('tree-task'), ...report.tasks.map((/** @type {any} */ t) => h('option', { value: String(t.index) }, `${t.index}. ${t.prompt.length > 50 ? `${t.prompt.slice(0, 49)}…` : t.prompt}`)));
    replace($('tree-config'), ...report.configs.map((/** @type {any} */ c, /** @type {number} */ i) => h('option', { value: String(i) }, c.spec)));
  }

  async request() {
    const task = Number($('tree-task').value);
    const config = Number($('tree-config').value);
    if (!this.spec) return null;
    let run;
    try {
      run = await this.engine.evalTask(this.spec, task, config);
    } catch (e) {
      this.status(e.message);
      return null;
    }
    this.drawing = { samples: run.samples, task, config };
    const n = Math.min(run.samples, LIMITS.treeSamples.max);
    const { values } = parseLaneSpec(run.spec);
    const samplers = Object.fromEntries(SAMPLER_KEYS.filter((k) => values.has(k)).map((k) => [k, /** @type {number} */ (values.get(k))]));
    const name = `task ${task} · configuration ${config + 1}`;
    return { params: { prompt: run.prompt, chat: run.chat, maxTokens: run.maxTokens, spec: run.spec, n, inspect: true, lane: { name, samplers } }, name };
  }

  /**
   * Checks each drawn sample's text against the report's for the same sample index.
   * @param {Sample[]} samples
   * @param {boolean} stopped
   */
  drawn(samples, stopped) {
    const { samples: all, task, config } = this.drawing;
    const kept = this.report.tasks.find((/** @type {any} */ t) => t.index === task)?.configs[config]?.samples ?? [];
    const texts = new Map(kept.map((/** @type {any} */ s) => [s.sample_index, s.output]));
    const text = (/** @type {Sample} */ s) => s.pieces.filter((_, i) => !s.eog[i]).join('');
    const compared = samples.filter((s) => texts.has(s.index));
    const differ = compared.filter((s) => texts.get(s.index) !== text(s));
    $('tree-view').dataset.compared = String(compared.length);
    $('tree-view').dataset.differ = String(differ.length);
    const more = all > samples.length ? ` (the first ${samples.length} of ${all})` : '';
    this.status(stopped ? `stopped: the tokens so far${more}`
      : differ.length ? `${differ.length} of ${compared.length} samples differ from the run’s texts (${differ.map((s) => `#${s.index}`).join(' ')}): another model or adapter than the run’s?${more}`
        : `${samples.length} samples${more}, each equal to the run’s text — click a node to inspect that step`);
  }

  takeInspector() {
    if (!this.inspector) {
      $('tree-inspector').append(inspectorPanel());
      this.inspector = new Inspector(() => this.view.selected?.classList.remove('selected'));
    }
    return this.inspector;
  }
}
