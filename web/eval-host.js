// The eval page's requests, handled in the engine worker (web/worker.js routes them here).
// The numbers come from the Rust core (src/eval through src/web/eval.rs): this file only
// forwards the spec, the progress and the report.

import init, { evalPreview } from '../pkg/samplescope.js';

const message = (e) => (e && e.message) || String(e);

/**
 * The tasks and configurations an eval spec runs, as the core checks them (a JSONL task
 * set's message names every bad line): {type: 'eval-preview', id, ok, preview | message}.
 * Needs no GPU, so it also answers on a browser without WebGPU.
 */
export async function previewEval({ id, spec }, post) {
  try {
    await init(); // the module once; later calls return at once
    post({ type: 'eval-preview', id, ok: true, preview: evalPreview(JSON.stringify(spec)) });
  } catch (e) {
    post({ type: 'eval-preview', id, ok: false, message: message(e) });
  }
}

/**
 * Runs an eval spec: eval-progress {done, total, task, elapsedMs} per finished sample, then
 * eval-end {report: {json, curvesCsv, tasksCsv, sweepCsv, cancelled}} or eval-error. A
 * `stop` message cancels; the report then holds the tasks that finished.
 */
export async function runEval(engine, { runId, spec }, post) {
  if (!engine) {
    post({ type: 'eval-error', runId, message: 'WebGPU is not ready' });
    return;
  }
  try {
    const report = await engine.runEval(JSON.stringify(spec), (p) => post({ type: 'eval-progress', runId, ...p }));
    post({ type: 'eval-end', runId, report });
  } catch (e) {
    post({ type: 'eval-error', runId, message: message(e) });
  }
}
