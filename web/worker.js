// The engine's home: a module Web Worker that owns the wasm engine and the GPU device, so
// the page's main thread only renders. The page talks to it with the messages below
// (each handler documents its replies); requests run one at a time, except `stop`, which is
// handled as soon as it arrives.

import init, { WebEngine } from '../pkg/samplescope.js';
import { loadModelBytes } from './loader.js';
import { analyzeStep } from './inspect-math.js';
import { isGreedy, laneTemperature, validateRun } from './config.js';

let engine = null;
/** The last run: its configuration, prompt ids and every lane's generated ids. */
let lastRun = null;
let stopRequested = false;
let queue = Promise.resolve();

const post = (msg) => self.postMessage(msg);
const message = (e) => (e && e.message) || String(e);

self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'stop') {
    stopRequested = true;
    engine?.stop();
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
      lastRun = null;
      post({ type: 'loaded', facts, fromCache, name, kind: source.kind });
    } catch (e) {
      post({ type: 'load-error', message: message(e) });
    }
  },

  /**
   * Runs every lane of a configuration. Events: lane-start, token {lane, step, tokenId,
   * textDelta, record}, lane-end, then run-end (or run-error).
   *
   * Until the engine's batched lanes API (one decode step for all lanes, per-lane sampler
   * chains on the GPU) lands, greedy lanes run one after another through `generate`, and
   * sampled lanes report that the engine cannot sample yet.
   */
  async run({ runId, run }) {
    if (!engine) throw new Error('WebGPU is not ready');
    const errors = validateRun(run);
    if (errors.length) {
      post({ type: 'run-error', runId, message: errors.join('; ') });
      return;
    }
    stopRequested = false;
    let promptIds;
    try {
      promptIds = Array.from(engine.encode(run.prompt, run.chat));
    } catch (e) {
      post({ type: 'run-error', runId, message: message(e) });
      return;
    }
    lastRun = { runId, run, promptIds, lanes: run.lanes.map(() => []), cache: new Map() };
    for (let lane = 0; lane < run.lanes.length; lane++) {
      const cfg = run.lanes[lane];
      if (stopRequested) {
        post({ type: 'lane-end', runId, lane, tokens: 0, ms: 0, tokPerS: 0, stop: 'stopped' });
        continue;
      }
      if (!isGreedy(cfg, run)) {
        post({
          type: 'lane-end', runId, lane, tokens: 0, ms: 0, tokPerS: 0, stop: 'unsupported',
          message: 'This build of the engine decodes greedily only; sampled lanes arrive with the GPU sampler chain.',
        });
        continue;
      }
      post({ type: 'lane-start', runId, lane, promptTokens: promptIds.length });
      const ids = lastRun.lanes[lane];
      const t0 = performance.now();
      try {
        const out = await engine.generate(run.prompt, run.chat, run.maxTokens, (textDelta, tokenId, step) => {
          if (step === ids.length) ids.push(tokenId);
          post({ type: 'token', runId, lane, step, tokenId, textDelta, record: null });
        });
        const ms = performance.now() - t0;
        const decoded = Math.max(0, out.ids.length - 1);
        post({
          type: 'lane-end', runId, lane, tokens: out.ids.length, ms, stop: out.stop,
          prefillMs: out.prefillMs, decodeMs: out.decodeMs,
          tokPerS: out.decodeMs > 0 ? (decoded * 1000) / out.decodeMs : 0,
        });
      } catch (e) {
        post({ type: 'lane-end', runId, lane, tokens: ids.length, ms: performance.now() - t0, tokPerS: 0, stop: 'error', message: message(e) });
      }
    }
    post({ type: 'run-end', runId, stopped: stopRequested });
  },

  /** The distribution behind one token: {type: 'inspection', runId, lane, step, analysis}. */
  async inspect({ runId, lane, step }) {
    const r = lastRun;
    if (!r || r.runId !== runId || !r.lanes[lane] || step >= r.lanes[lane].length) {
      post({ type: 'inspect-error', runId, lane, step, message: 'that token belongs to an older run; run again to inspect it' });
      return;
    }
    const key = `${lane}:${step}`;
    let view = r.cache.get(key);
    if (!view) {
      const ids = r.lanes[lane];
      const cfg = r.run.lanes[lane];
      try {
        const logits = await engine.inspect(r.run.prompt, r.run.chat, Uint32Array.from(ids.slice(0, step)));
        const analysis = analyzeStep(logits, {
          temperature: laneTemperature(cfg, r.run),
          position: r.run.temperaturePosition,
          samplers: cfg.samplers,
          history: [...r.promptIds, ...ids.slice(0, step)],
        });
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
};
