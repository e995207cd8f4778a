// The engine's home: a module Web Worker that owns the wasm engine and the GPU device, so
// the page's main thread only renders. The page talks to it with the messages below
// (each handler documents its replies); requests run one at a time, except `stop`, which is
// handled as soon as it arrives.

import init, { WebEngine } from '../pkg/samplescope.js';
import { loadModelBytes } from './loader.js';
import { analyzeStep, fromEngine } from './inspect-math.js';
import { laneSpec, laneTemperature, validateRun } from './config.js';
import { previewEval, runEval } from './eval-host.js';

/** Candidates the engine records behind every token when the run asks for inspection. */
const INSPECT_TOP = 32;

let engine = null;
/**
 * Recent runs by runId: configuration, prompt ids and every lane's generated ids. More
 * than one, so that views sharing this worker (several <sampler-compare> on a page) can
 * still inspect their own run after another view's.
 */
const runs = new Map();
const KEEP_RUNS = 8;
let queue = Promise.resolve();

const post = (msg) => self.postMessage(msg);
const message = (e) => (e && e.message) || String(e);

self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'stop') {
    engine?.stop(); // the engine ends every lane after the step in flight
    return;
  }
  const handler = HANDLERS[msg.type];
  if (!handler) {
    post({ type: 'error', message: `unknown request ${JSON.stringify(msg.type)}` });
    return;
  }
  queue = queue.then(() => handler(msg)).catch((e) => post({ type: 'error', message: message(e) }));
};

const HANDLERS = {
  /** Opens WebGPU: {type: 'ready', adapter} or {type: 'gpu-error', reason, message}. */
  async init() {
    if (!self.navigator.gpu) {
      post({ type: 'gpu-error', reason: 'no-navigator-gpu', message: 'navigator.gpu is missing in the worker' });
      return;
    }
    let info = {};
    try {
      const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) {
        post({ type: 'gpu-error', reason: 'no-adapter', message: 'navigator.gpu.requestAdapter() returned null' });
        return;
      }
      const ai = adapter.info ?? {};
      info = {
        vendor: ai.vendor ?? '', architecture: ai.architecture ?? '', description: ai.description ?? '',
        fallback: Boolean(ai.isFallbackAdapter ?? adapter.isFallbackAdapter),
        webFeatures: [...adapter.features].sort(),
      };
    } catch (e) {
      post({ type: 'gpu-error', reason: 'no-adapter', message: message(e) });
      return;
    }
    try {
      await init();
      engine = await WebEngine.create();
    } catch (e) {
      post({ type: 'gpu-error', reason: 'init-failed', message: message(e) });
      return;
    }
    post({ type: 'ready', adapter: { ...info, ...engine.adapter() } });
  },

  /** Loads a model: progress events, then {type: 'loaded', facts, fromCache, name, kind}. */
  async load({ source, nCtx }) {
    if (!engine) throw new Error('WebGPU is not ready');
    try {
      const { bytes, fromCache, name } = await loadModelBytes(source, (p) => post({ type: 'progress', ...p }));
      post({ type: 'progress', phase: 'upload', loaded: 0, total: bytes.length, rate: 0 });
      const facts = await engine.load(bytes, { nCtx: nCtx ?? 1024 });
      runs.clear();
      post({ type: 'loaded', facts, fromCache, name, kind: source.kind });
    } catch (e) {
      post({ type: 'load-error', message: message(e) });
    }
  },

  /** The eval page (www/eval.html): see web/eval-host.js. */
  'eval-preview': (msg) => previewEval(msg, post),
  eval: (msg) => runEval(engine, msg, post),

  /**
   * Runs every lane of a configuration in one batched generation (the engine's
   * generate_lanes: one forward pass per step for all lanes, each lane's sampler chain on
   * the GPU). Events: lane-start (all lanes), token {lane, step, tokenId, textDelta, eog,
   * record} as they come, lane-end per lane, then run-end (or run-error). With
   * run.inspect, the engine also records the distribution behind every token, kept here
   * for `inspect`.
   */
  async run({ runId, run }) {
    if (!engine) throw new Error('WebGPU is not ready');
    const errors = validateRun(run);
    if (errors.length) {
      post({ type: 'run-error', runId, message: errors.join('; ') });
      return;
    }
    let promptIds;
    try {
      promptIds = Array.from(engine.encode(run.prompt, run.chat));
    } catch (e) {
      post({ type: 'run-error', runId, message: message(e) });
      return;
    }
    const n = run.lanes.length;
    const r = { runId, run, promptIds, lanes: run.lanes.map(() => []), inspections: run.lanes.map(() => []), cache: new Map() };
    runs.set(runId, r);
    for (const old of runs.keys()) if (runs.size > KEEP_RUNS) runs.delete(old);
    const firstAt = new Array(n).fill(0);
    const ended = new Array(n).fill(false);
    for (let lane = 0; lane < n; lane++) post({ type: 'lane-start', runId, lane, promptTokens: promptIds.length });
    let cancelled = false;
    try {
      const specs = run.lanes.map((l) => laneSpec(l, run));
      await engine.generateLanes(run.prompt, run.chat, run.maxTokens, specs, run.sameDice, run.inspect ? INSPECT_TOP : 0, (ev) => {
        const { lane, index: step } = ev;
        r.lanes[lane][step] = ev.tokenId;
        if (ev.inspection) r.inspections[lane][step] = ev.inspection;
        const now = performance.now();
        if (step === 0) firstAt[lane] = now;
        post({ type: 'token', runId, lane, step, tokenId: ev.tokenId, textDelta: ev.text, eog: ev.stop === 'eog', record: ev.record });
        if (ev.stop) {
          ended[lane] = true;
          cancelled ||= ev.stop === 'cancelled';
          const s = (now - firstAt[lane]) / 1000;
          post({ type: 'lane-end', runId, lane, tokens: step + 1, stop: ev.stop, tokPerS: step > 0 && s > 0 ? step / s : 0 });
        }
      });
    } catch (e) {
      for (let lane = 0; lane < n; lane++) {
        if (!ended[lane]) post({ type: 'lane-end', runId, lane, tokens: r.lanes[lane].length, tokPerS: 0, stop: 'error', message: message(e) });
      }
      post({ type: 'run-error', runId, message: message(e) });
      return;
    }
    post({ type: 'run-end', runId, stopped: cancelled });
  },

  /** The distribution behind one token: {type: 'inspection', runId, lane, step, analysis}. */
  async inspect({ runId, lane, step }) {
    const r = runs.get(runId);
    if (!r || !r.lanes[lane] || step >= r.lanes[lane].length) {
      post({ type: 'inspect-error', runId, lane, step, message: 'that token belongs to an older run; run again to inspect it' });
      return;
    }
    const key = `${lane}:${step}`;
    let view = r.cache.get(key);
    if (!view) {
      const ids = r.lanes[lane];
      const cfg = r.run.lanes[lane];
      const opt = {
        temperature: laneTemperature(cfg, r.run),
        position: r.run.temperaturePosition,
        samplers: cfg.samplers,
        history: [...r.promptIds, ...ids.slice(0, step)],
      };
      try {
        // The engine's own record of this step when the run kept one; otherwise the
        // step's logits recomputed (one prefill) and the chain applied here.
        const recorded = r.inspections[lane][step];
        const analysis = recorded
          ? fromEngine(recorded, opt)
          : analyzeStep(await engine.inspect(r.run.prompt, r.run.chat, Uint32Array.from(ids.slice(0, step))), opt);
        analysis.source = recorded ? 'engine' : 'recomputed';
        const texts = engine.tokenTexts(Uint32Array.from(analysis.candidates.map((c) => c.id)));
        analysis.candidates.forEach((c, i) => { c.text = texts[i]; });
        view = { analysis, chosen: ids[step] };
        r.cache.set(key, view);
      } catch (e) {
        post({ type: 'inspect-error', runId, lane, step, message: message(e) });
        return;
      }
    }
    post({ type: 'inspection', runId, lane, step, ...view });
  },

  /**
   * One measurement for the benchmark page (www/bench.html): `lanes` greedy lanes of
   * `maxTokens` tokens on `prompt`, in one batched generation like the lab's `run`, without
   * the lab's lane limit and per-token messages (they would only add noise). With
   * `promptTokens`, the prompt is cut to the text of its first that-many tokens, checked to
   * encode back to exactly them. Replies bench-first when the first token is out (the page
   * times the first token from its own clock), then bench-result {prompt, promptIds, tokens
   * and stops per lane, prefillMs and decodeMs (the engine's), firstMs and lastMs (since the
   * request, at the first and the last token)}, or bench-error.
   */
  async bench({ runId, prompt, promptTokens, maxTokens, lanes }) {
    const t0 = performance.now();
    try {
      if (!engine) throw new Error('WebGPU is not ready');
      let promptIds = Array.from(engine.encode(prompt, false));
      if (promptTokens) {
        if (promptIds.length < promptTokens) throw new Error(`the prompt has ${promptIds.length} tokens, fewer than ${promptTokens}`);
        const cut = engine.tokenTexts(Uint32Array.from(promptIds.slice(0, promptTokens))).join('');
        const back = Array.from(engine.encode(cut, false));
        if (back.length !== promptTokens || back.some((id, i) => id !== promptIds[i])) {
          throw new Error(`the prompt's first ${promptTokens} tokens do not encode back to themselves; use another prompt`);
        }
        prompt = cut;
        promptIds = back;
      }
      const tokens = new Array(lanes).fill(0);
      const stops = new Array(lanes).fill(null);
      let firstMs = 0;
      let lastMs = 0;
      const gens = await engine.generateLanes(prompt, false, maxTokens, new Array(lanes).fill('greedy'), true, 0, (ev) => {
        const now = performance.now() - t0;
        if (!firstMs) {
          firstMs = now;
          post({ type: 'bench-first', runId });
        }
        lastMs = now;
        tokens[ev.lane] = ev.index + 1;
        if (ev.stop) stops[ev.lane] = ev.stop;
      });
      const { prefillMs, decodeMs } = gens[0];
      post({ type: 'bench-result', runId, prompt, promptIds, tokens, stops, prefillMs, decodeMs, firstMs, lastMs });
    } catch (e) {
      post({ type: 'bench-error', runId, message: message(e) });
    }
  },
};
