// @ts-check
// The lab's sample tree panel: one lane's sampler (as the controls set it now), N samples
// with sample indices 0…N−1 after the prompt (docs/DESIGN.md, "Sample tree"), drawn by
// web/ui/sample-tree.js; a node opens the lab's inspector at that step of that sample.

import { $, h, replace } from './ui/dom.js';
import { SampleTreePanel } from './ui/sample-tree.js';
import { LIMITS, laneSpec, validateRun } from './config.js';

/**
 * @typedef {object} LabTreeOptions
 * @property {import('./ui/inspector.js').Inspector} inspector
 * @property {() => import('./config.js').RunConfig} readRun  the controls' configuration now
 * @property {() => void} claimInspector  a tree node takes the inspector (the lanes let go of it)
 * @property {() => boolean} ownsInspector  no lane token was clicked since
 */

export class LabTree extends SampleTreePanel {
  /**
   * @param {import('./engine-client.js').EngineClient} engine
   * @param {LabTreeOptions} o
   */
  constructor(engine, o) {
    super(engine, { view: $('tree-view'), button: $('tree-draw'), status: $('tree-status') });
    this.o = o;
    $('tree-n').min = String(LIMITS.treeSamples.min);
    $('tree-n').max = String(LIMITS.treeSamples.max);
  }

  /**
   * The lanes a tree can sample, as the lane list names them now; drawing needs a model.
   * @param {import('./config.js').LaneConfig[]} lanes
   * @param {boolean} modelLoaded
   */
  update(lanes, modelLoaded) {
    const select = $('tree-lane');
    const keep = select.value;
    replace(select, ...lanes.map((l, i) => h('option', { value: String(i) }, `${i + 1}. ${l.name}`)));
    if (Number(keep) < lanes.length) select.value = keep;
    $('tree-draw').disabled = !modelLoaded;
  }

  async request() {
    const run = this.o.readRun();
    const lane = run.lanes[Number($('tree-lane').value)];
    const n = Number($('tree-n').value);
    const { min, max } = LIMITS.treeSamples;
    const errors = validateRun(run);
    if (!lane) errors.push('choose a lane');
    if (!Number.isInteger(n) || n < min || n > max) errors.push(`N must be a whole number from ${min} to ${max}`);
    if (errors.length || !lane) {
      this.status(errors.join('; '));
      return null;
    }
    // A fork lane's sampler, from the prompt: its forced tokens are no prefix of the samples.
    const params = { prompt: run.prompt, chat: run.chat, maxTokens: run.maxTokens, spec: laneSpec(lane, run), n, inspect: run.inspect, lane: { ...lane, fork: undefined } };
    return { params, name: lane.name };
  }

  takeInspector() {
    this.o.claimInspector();
    this.o.inspector.onFork = null; // a fork continues a lane of the lab, not a sample
    return this.o.inspector;
  }

  ownsInspector() {
    return this.o.ownsInspector();
  }
}
