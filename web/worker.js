// @ts-check
// The engine's home: a module Web Worker that owns the wasm engine and the GPU device, so
// the pages' main threads only render. It speaks web/protocol.js (requests in, events and
// one reply out, run one at a time; `cancel` on arrival); pages reach it through
// web/engine-client.js. Each handler below returns its request's result or throws.

import init, { WebEngine, evalImport, evalImportPrograms, evalPresets, evalPreview, evalTaskSamples } from '../pkg/samplescope.js';
import { openModel } from './loader.js';
import { inspectorView } from './inspect-view.js';
import { DEFAULT_RUN, LIMITS, RUN_CHECKS, laneSampleIndex, laneSpec, validateLane, validateRun } from './config.js';
import { DEFAULT_N_CTX, EngineError, INSPECT_TOP, serve, stopOnCancel } from './protocol.js';

/** @typedef {import('./protocol.js').Handlers} Handlers */
/** @typedef {import('./config.js').RunConfig} RunConfig */
/** @typedef {import('../pkg/samplescope.js').Inspection} Inspection */
/** @typedef {import('./inspect-view.js').InspectorView} InspectorView */

/** @type {WebEngine | null} */
let engine = null;
/** The wasm module's exports (its linear memory, for `memory`). */
/** @type {{memory: WebAssembly.Memory} | null} */
let wasm = null;
/**
 * The last model that loaded (the one the engine holds): what a rebuilt engine reloads
 * after a lost device (a URL's bytes come from the browser cache, a file is read again).
 * @type {{source: import('./protocol.js').ModelSource, nCtx: number} | null}
 */
let lastLoad = null;
/**
 * How long this worker took to start (ms): the wasm module (compiled as it streams in) and
 * the GPU device. The first load's times carry it, since a reader waits for both.
 * @type {{wasm: number, device: number} | null}
 */
let startup = null;

/**
 * @typedef {object} KeptRun
 * @property {RunConfig} run
 * @property {string[]} specs         each lane's engine spec
 * @property {number[][]} lanes       each lane's generated ids
 * @property {Inspection[][]} inspections  each lane's recorded steps (a run with inspect)
 * @property {Map<string, {view: InspectorView, chosen: number}>} views  inspected tokens, by "lane:step"
 */

/**
 * Recent runs by request id. More than one, so that views sharing this worker (several
 * <sampler-compare> on a page) can still inspect their own run after another view's.
 * @type {Map<number, KeptRun>}
 */
const runs = new Map();
const KEEP_RUNS = 8;
/** Evals waiting for the page to run their code tasks' programs, by request id. */
/** @type {Map<number, {resolve: (outcomes: object[]) => void, reject: (e: Error) => void}>} */
const codeWaits = new Map();

const message = (/** @type {unknown} */ e) => (e instanceof Error ? e.message : String(e));

/**
 * The engine, or a not-ready error. When its GPU device was lost, first a new engine: a new
 * device, and the model it held loaded again (a `rebuild` event says so).
 * @param {{event: (e: any) => void}} [ctx]
 */
async function ready(ctx) {
  if (!engine) throw new EngineError('not-ready', 'WebGPU is not ready');
  const why = engine.deviceLost();
  if (why) await rebuild(why, ctx);
  return /** @type {WebEngine} */ (engine);
}

/**
 * @param {string} why
 * @param {{event: (e: any) => void}} [ctx]
 */
async function rebuild(why, ctx) {
  ctx?.event({ kind: 'rebuild', reason: why });
  const old = engine;
  engine = null;
  runs.clear();
  try {
    old?.free();
  } catch {
    // already unusable: nothing to free
  }
  try {
    engine = await WebEngine.create();
  } catch (e) {
    throw new EngineError('device-lost', `the GPU device was lost (${why}) and a new one could not be opened: ${message(e)}`);
  }
  if (!lastLoad) return;
  try {
    const m = await openModel(lastLoad.source, () => {});
    await engine.loadStream(m.pull, m.size, m.limit, { nCtx: lastLoad.nCtx }).catch((/** @type {unknown} */ e) => {
      m.cancel();
      throw e;
    });
  } catch (e) {
    lastLoad = null;
    throw new EngineError('load-failed', `the GPU device was lost (${why}); a new one is open, but the model could not be loaded again: ${message(e)}`);
  }
}

/**
 * `e` as the reply to send: a device-lost error when the GPU device was lost meanwhile (a
 * failed readback is often the first sign, before the browser reports the loss).
 * @param {WebEngine} eng
 * @param {unknown} e
 */
async function explain(eng, e) {
  if (e instanceof EngineError) return e;
  let why = eng.deviceLost();
  for (let i = 0; !why && i < 5; i++) {
    await new Promise((r) => setTimeout(r, 20));
    why = eng.deviceLost();
  }
  if (!why) return e;
  return new EngineError('device-lost', `the GPU device was lost (${why}); the next request opens a new device and loads the model again`);
}

/**
 * Runs `run`'s lanes (lane i with engine spec `specs[i]`) in one batched generation and
 * streams them as request `id`'s events; keeps the run for `inspect`. `run` is valid.
 * @param {number} id
 * @param {RunConfig} run
 * @param {string[]} specs
 * @param {import('./protocol.js').RequestContext<'run' | 'samples'>} ctx
 */
async function decode(id, run, specs, ctx) {
  const eng = await ready(ctx);
  let promptTokens;
  try {
    promptTokens = eng.encode(run.prompt, run.chat).length;
  } catch (e) {
    throw new EngineError('invalid', message(e));
  }
  const n = run.lanes.length;
  /** @type {KeptRun} */
  const r = { run, specs, lanes: run.lanes.map(() => []), inspections: run.lanes.map(() => []), views: new Map() };
  runs.set(id, r);
  for (const old of runs.keys()) if (runs.size > KEEP_RUNS) runs.delete(old);
  const firstAt = new Array(n).fill(0);
  const ended = new Array(n).fill(false);
  for (let lane = 0; lane < n; lane++) ctx.event({ kind: 'lane-start', lane, promptTokens });
  const checkCancel = stopOnCancel(() => eng.stop(), ctx);
  let cancelled = false;
  try {
    const samples = run.lanes.map((l, i) => laneSampleIndex(l, i, run));
    const forced = run.lanes.map((l) => Uint32Array.from(l.fork?.ids ?? []));
    await eng.generateForks(run.prompt, run.chat, run.maxTokens, specs, Uint32Array.from(samples), forced, run.inspect ? INSPECT_TOP : 0, (ev) => {
      checkCancel();
      const { lane, index: step } = ev;
      r.lanes[lane][step] = ev.tokenId;
      if (ev.inspection) r.inspections[lane][step] = ev.inspection;
      const now = performance.now();
      // The rate counts sampled tokens only (a fork's forced ones come at once).
      const given = run.lanes[lane].fork?.ids.length ?? 0;
      if (step === given) firstAt[lane] = now;
      ctx.event({ kind: 'token', lane, step, tokenId: ev.tokenId, textDelta: ev.text, eog: ev.stop === 'eog', record: ev.forced ? null : ev.record, forced: ev.forced, heat: ev.inspection?.heat ?? null });
      if (ev.stop) {
        ended[lane] = true;
        cancelled ||= ev.stop === 'cancelled';
        const s = (now - firstAt[lane]) / 1000;
        const sampled = step - given;
        ctx.event({ kind: 'lane-end', lane, tokens: step + 1, stop: ev.stop, tokPerS: sampled > 0 && s > 0 ? sampled / s : 0 });
      }
    });
  } catch (e) {
    const err = await explain(eng, e);
    for (let lane = 0; lane < n; lane++) {
      if (!ended[lane]) ctx.event({ kind: 'lane-end', lane, tokens: r.lanes[lane].length, tokPerS: 0, stop: 'error', message: message(err) });
    }
    throw err;
  }
  return { stopped: cancelled };
}

/** @type {Handlers} */
const handlers = {
  /** Opens WebGPU: the adapter, or an error coded no-navigator-gpu | no-adapter | init-failed. */
  async init() {
    const gpu = self.navigator.gpu;
    if (!gpu) throw new EngineError('no-navigator-gpu', 'navigator.gpu is missing in the worker');
    let info;
    try {
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new EngineError('no-adapter', 'navigator.gpu.requestAdapter() returned null');
      /** @type {any} */
      const ai = adapter.info ?? {};
      info = {
        vendor: ai.vendor ?? '', architecture: ai.architecture ?? '', description: ai.description ?? '',
        fallback: Boolean(ai.isFallbackAdapter ?? /** @type {any} */ (adapter).isFallbackAdapter),
        webFeatures: [...adapter.features].sort(),
      };
    } catch (e) {
      throw e instanceof EngineError ? e : new EngineError('no-adapter', message(e));
    }
    try {
      const fresh = !engine;
      const t0 = performance.now();
      wasm ??= await init();
      const t1 = performance.now();
      engine ??= await WebEngine.create();
      if (fresh) startup = { wasm: t1 - t0, device: performance.now() - t1 };
    } catch (e) {
      throw new EngineError('init-failed', message(e));
    }
    return { ...info, ...engine.adapter() };
  },

  /**
   * Loads a model, with progress events. A model that fails leaves the one loaded before
   * (the engine swaps only a fully loaded model in); the message says which one that is.
   */
  async load({ source, nCtx }, ctx) {
    const eng = await ready(ctx);
    /** @type {import('./loader.js').ModelStream | undefined} */
    let m;
    try {
      const t0 = performance.now();
      // The engine parses the header as soon as it is in and uploads each tensor once its
      // bytes are: progress is the bytes, with the GPU memory needed once the plan is made.
      /** @type {number | undefined} */
      let gpuBytes;
      m = await openModel(source, (p) => ctx.event({ kind: 'progress', ...p, gpuBytes }));
      const read = performance.now() - t0;
      const n = nCtx ?? DEFAULT_N_CTX;
      const stream = m;
      let ended = false;
      const pull = async () => {
        const chunk = await stream.pull();
        if (!chunk && !ended) {
          ended = true;
          ctx.event({ kind: 'progress', phase: 'upload', loaded: 0, total: stream.size ?? 0, rate: 0, gpuBytes });
        }
        return chunk;
      };
      /** @param {import('../pkg/samplescope.js').LoadPlan} plan  checked against the adapter, nothing uploaded yet */
      const onPlan = (plan) => {
        gpuBytes = plan.weightBytes + plan.kvBytes;
      };
      const facts = await eng.loadStream(pull, m.size, m.limit, { nCtx: n }, onPlan);
      const { fromCache, name } = m;
      runs.clear();
      lastLoad = { source, nCtx: n };
      const times = { ...startup, read, total: performance.now() - t0 + (startup ? startup.wasm + startup.device : 0) };
      startup = null;
      return { facts, fromCache, name, kind: source.kind, times };
    } catch (e) {
      m?.cancel();
      const lost = await explain(eng, e);
      if (lost !== e) throw lost;
      const kept = eng.modelFacts();
      const still = kept ? ` (${kept.name || 'the model loaded before'} is still loaded)` : '';
      throw new EngineError('load-failed', `${message(e)}${still}`);
    }
  },

  /**
   * Every lane of a configuration in one batched generation (one forward pass per step for
   * all lanes, each lane's sampler chain on the GPU). Events: lane-start (all lanes), then
   * token as they come and lane-end per lane. With run.inspect, the engine also records the
   * distribution behind every token, kept here for `inspect`. A fork lane (lane.fork) starts
   * with its forced tokens, sent first as token events with `forced` set; it draws with its
   * parent's sample index (config.js's laneSampleIndex).
   */
  async run({ id, run }, ctx) {
    const errors = validateRun(run);
    if (errors.length) throw new EngineError('invalid', errors.join('; '));
    return decode(id, run, run.lanes.map((l) => laneSpec(l, run)), ctx);
  },

  /**
   * N samples of one sampler for the sample tree: N lanes of the lane spec `spec` after
   * `prompt`, with sample indices 0…N−1 (a run without same dice), kept like a run's for
   * `inspect` (by this request's id). `lane` names the lane and labels the inspector's
   * cut-offs. Events as for `run`.
   */
  async samples({ id, prompt, chat, maxTokens, spec, n, inspect, lane: given }, ctx) {
    const { min, max } = LIMITS.treeSamples;
    const lane = given && typeof given === 'object' ? given : { name: '', samplers: {} };
    if (!Number.isInteger(n) || n < min || n > max) throw new EngineError('invalid', `the number of samples must be a whole number from ${min} to ${max} (got ${String(n).slice(0, 20)})`);
    const errors = validateLane({ ...lane, fork: undefined });
    if (typeof spec !== 'string') errors.push('the samples need a lane spec');
    /** @type {RunConfig} */
    const run = {
      ...DEFAULT_RUN, prompt, chat, maxTokens, inspect, sameDice: false,
      lanes: Array.from({ length: n }, (_, i) => ({ ...lane, fork: undefined, name: `${lane.name} #${i}` })),
    };
    for (const key of ['prompt', 'chat', 'maxTokens', 'inspect']) RUN_CHECKS[key](run, errors);
    if (errors.length) throw new EngineError('invalid', errors.join('; '));
    return decode(id, run, run.lanes.map(() => spec), ctx);
  },

  /**
   * The distribution behind one token of a kept run: the engine's record of that step when
   * the run kept one, else the same Inspection recomputed by the engine (one prefill).
   */
  async inspect({ runId, lane, step }) {
    const r = runs.get(runId);
    if (!r || !r.lanes[lane] || step >= r.lanes[lane].length) {
      throw new EngineError('stale', 'that token belongs to an older run; run again to inspect it');
    }
    const key = `${lane}:${step}`;
    const kept = r.views.get(key);
    if (kept) return kept;
    const ids = r.lanes[lane];
    let ins = r.inspections[lane][step];
    const source = ins ? 'engine' : 'recomputed';
    if (!ins) {
      const sampleIndex = laneSampleIndex(r.run.lanes[lane], lane, r.run);
      const eng = await ready();
      try {
        ins = await eng.inspectStep(r.run.prompt, r.run.chat, r.specs[lane], sampleIndex, Uint32Array.from(ids.slice(0, step)), INSPECT_TOP);
      } catch (e) {
        throw await explain(eng, e);
      }
    }
    const result = { view: inspectorView(ins, r.run.lanes[lane], source), chosen: ids[step] };
    r.views.set(key, result);
    return result;
  },

  /**
   * The tasks and configurations of an eval spec as the core checks them (a JSONL task set's
   * message names every bad line). Needs no GPU, so it also answers without WebGPU.
   */
  async 'eval-preview'({ spec }) {
    await init(); // the module once; later calls return at once
    try {
      return evalPreview(JSON.stringify(spec));
    } catch (e) {
      throw new EngineError('invalid', message(e));
    }
  },

  /** What the eval runner decodes for one task and configuration of a spec (the sample tree draws it again). */
  async 'eval-task'({ spec, task, config }) {
    await init();
    try {
      return evalTaskSamples(JSON.stringify(spec), task, config);
    } catch (e) {
      throw new EngineError('invalid', message(e));
    }
  },

  /**
   * Verifies and summarizes a file of samples drawn elsewhere (vLLM, SGLang, OpenAI, plain
   * JSONL) against the spec's task set, as `samplescope eval --import` does. Needs no GPU.
   * The file is read here, so the page's thread never holds its text. Code tasks' verdicts
   * come from `codeRuns`, the outcomes of the programs `eval-import-programs` listed.
   */
  async 'eval-import'({ file, spec, codeRuns }) {
    await init();
    const text = await file.text();
    try {
      return evalImport(text, JSON.stringify(spec), codeRuns);
    } catch (e) {
      throw new EngineError('invalid', message(e));
    }
  },

  /**
   * The Python programs an import of code samples needs run (the page runs them in its
   * Pyodide worker, web/code-runner.js, which this worker cannot wait on mid-import).
   */
  async 'eval-import-programs'({ file, spec }) {
    await init();
    const text = await file.text();
    try {
      return evalImportPrograms(text, JSON.stringify(spec));
    } catch (e) {
      throw new EngineError('invalid', message(e));
    }
  },

  /** The eval page's Figures (src/eval/presets.rs) at size 'full' or 'small'. Needs no GPU. */
  async 'eval-presets'({ size }) {
    await init();
    try {
      return evalPresets(size);
    } catch (e) {
      throw new EngineError('invalid', message(e));
    }
  },

  /** The top-nσ figure: survivors against temperature at one step (src/eval/survivors.rs). */
  async survivors({ spec }, ctx) {
    const eng = await ready(ctx);
    try {
      return await eng.survivorCurve(JSON.stringify(spec));
    } catch (e) {
      throw await explain(eng, e);
    }
  },

  /**
   * Runs an eval spec on the Rust core (src/eval through src/web/eval.rs): an eval-progress
   * event per finished sample, then the report. Cancelled, the report holds the tasks that
   * finished.
   */
  async eval({ spec }, ctx) {
    const eng = await ready(ctx);
    const checkCancel = stopOnCancel(() => eng.stop(), ctx);
    // Code tasks: the page runs their programs in its Pyodide worker (web/code-runner.js)
    // and answers with `code-outcomes`.
    const runCode = (/** @type {string[]} */ programs) => new Promise((resolve, reject) => {
      codeWaits.set(ctx.id, { resolve, reject });
      ctx.event({ kind: 'code-programs', programs });
    });
    try {
      return await eng.runEval(JSON.stringify(spec), (p) => {
        checkCancel();
        ctx.event({ kind: 'eval-progress', ...p });
      }, /** @type {any} */ (spec).verifier === 'code' ? runCode : undefined);
    } catch (e) {
      throw await explain(eng, e);
    } finally {
      codeWaits.delete(ctx.id);
    }
  },

  /** The outcomes of an eval's `code-programs` event (answered on arrival, the eval waiting on it). */
  async 'code-outcomes'({ evalId, outcomes, error }) {
    const wait = codeWaits.get(evalId);
    if (!wait) throw new EngineError('stale', `no eval ${evalId} waits for code outcomes`);
    codeWaits.delete(evalId);
    if (outcomes) wait.resolve(outcomes);
    else wait.reject(new Error(error ?? 'no outcomes'));
    return {};
  },

  /**
   * One measurement for the benchmark page (www/bench.html): `lanes` greedy lanes of
   * `maxTokens` tokens on `prompt`, in one batched generation like `run`, without its lane
   * limit and per-token events (they would only add noise). With `promptTokens`, the
   * prompt is cut to the text of its first that-many tokens, checked to encode back to
   * exactly them. A first-token event when the first token is out (the page times it on its
   * own clock).
   */
  async bench({ prompt, promptTokens, maxTokens, lanes, specs }, ctx) {
    const t0 = performance.now();
    const eng = await ready(ctx);
    if (specs && specs.length !== lanes) throw new EngineError('invalid', `${specs.length} lane specs for ${lanes} lanes`);
    let promptIds = Array.from(eng.encode(prompt, false));
    if (promptTokens) {
      if (promptIds.length < promptTokens) throw new EngineError('invalid', `the prompt has ${promptIds.length} tokens, fewer than ${promptTokens}`);
      // The shortest start of the text, cut before a space where one fits, that encodes to
      // exactly that many tokens (a BOS the tokenizer adds included): the text, not the
      // ids, is what wllama is given, so it must stand on its own.
      const ends = [...prompt.matchAll(/ /g)].map((m) => m.index);
      const fits = (end) => eng.encode(prompt.slice(0, end), false).length === promptTokens;
      const end = ends.find(fits) ?? [...prompt].map((_, i) => i + 1).find(fits);
      if (end === undefined) throw new EngineError('invalid', `no start of the prompt encodes to exactly ${promptTokens} tokens; use another prompt`);
      prompt = prompt.slice(0, end);
      promptIds = Array.from(eng.encode(prompt, false));
    }
    const tokens = new Array(lanes).fill(0);
    const stops = new Array(lanes).fill(null);
    let firstMs = 0;
    let lastMs = 0;
    let gens;
    try {
      gens = await eng.generateLanes(prompt, false, maxTokens, specs ?? new Array(lanes).fill('greedy'), true, 0, (ev) => {
        const now = performance.now() - t0;
        if (!firstMs) {
          firstMs = now;
          ctx.event({ kind: 'first-token' });
        }
        lastMs = now;
        tokens[ev.lane] = ev.index + 1;
        if (ev.stop) stops[ev.lane] = ev.stop;
      });
    } catch (e) {
      throw await explain(eng, e);
    }
    const { prefillMs, decodeMs } = gens[0];
    return { prompt, promptIds, tokens, stops, prefillMs, decodeMs, firstMs, lastMs };
  },

  /**
   * Makes the pipelines the load left for first use (see WebEngine.makePipelines): the lab
   * and the eval page ask once a model is loaded, so their first Run does not wait for them.
   */
  async prepare(_req, ctx) {
    const eng = await ready(ctx);
    try {
      return { made: eng.makePipelines() };
    } catch (e) {
      throw await explain(eng, e);
    }
  },

  /** The worker's memory now (answered on arrival, also during a run): the soak test's samples. */
  async memory() {
    /** @type {any} */
    const perf = self.performance;
    let uaBytes = null;
    if (self.crossOriginIsolated && typeof perf.measureUserAgentSpecificMemory === 'function') {
      try {
        uaBytes = (await perf.measureUserAgentSpecificMemory()).bytes;
      } catch {
        // not allowed here
      }
    }
    return {
      wasmBytes: wasm ? wasm.memory.buffer.byteLength : 0,
      jsHeapBytes: perf.memory?.usedJSHeapSize ?? null,
      uaBytes,
    };
  },

  /** Destroys the GPU device, as a driver reset would lose it (answered on arrival; for the device-loss test). */
  async 'lose-device'() {
    engine?.debugLoseDevice();
    return { lost: Boolean(engine) };
  },
};

serve(/** @type {any} */ (self), handlers);
