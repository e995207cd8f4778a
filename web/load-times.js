// @ts-check
// Where a model load's time went, as the lab and the bench page show it: the worker's own
// phases (the wasm module and the GPU device when the worker starts, the model's bytes from
// the cache, the network or a file), then the engine's (src/model/load_times.rs).

/** @typedef {import('../pkg/samplescope.js').LoadTimes} EngineLoadTimes */

/**
 * The worker's timings of one load, in ms: `wasm` and `device` only on the first load of a
 * worker (they happen once, when it starts), `read` opening the model's source (the cache
 * lookup, or the response's headers; the bytes then arrive during the engine's load, which
 * counts its waits for them as `copy`), `total` all of it.
 * @typedef {{wasm?: number, device?: number, read: number, total: number}} WorkerLoadTimes
 */

/** The engine's phases, in the order they run (LoadTimes::phases in Rust). */
const ENGINE_PHASES = /** @type {const} */ (['copy', 'parse', 'plan', 'pipelines', 'weights', 'bind', 'tokenizer', 'gpu']);

/**
 * Every phase of a load in the order it ran, in ms.
 * @param {WorkerLoadTimes} worker
 * @param {EngineLoadTimes} engine
 * @returns {[string, number][]}
 */
export function loadPhases(worker, engine) {
  /** @type {[string, number][]} */
  const out = [];
  if (worker.wasm !== undefined) out.push(['wasm', worker.wasm]);
  if (worker.device !== undefined) out.push(['device', worker.device]);
  out.push(['read', worker.read]);
  for (const p of ENGINE_PHASES) out.push([p, engine[p]]);
  return out;
}

/**
 * "load 3.72 s: wasm 0.31 · read 0.40 · weights 1.20 · …" (phases under 10 ms left out).
 * @param {number} totalMs
 * @param {[string, number][]} phases
 */
export function loadSummary(totalMs, phases) {
  const shown = phases.filter(([, ms]) => ms >= 10).map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)}`);
  return `load ${(totalMs / 1000).toFixed(2)} s: ${shown.join(' · ')}`;
}
