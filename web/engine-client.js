// One engine per page for the embed and <sampler-compare>: a single worker (web/worker.js),
// one model download and upload, and runs taken in turn, whichever view asks. Views talk
// to it with promises and callbacks instead of the worker's raw messages. Nothing is
// created until the first request, so a page that is never run loads no wasm and no model.

let shared = null;

/** The page's engine (created on first use). */
export const sharedEngine = () => (shared ??= new EngineClient());

export class EngineClient {
  constructor() {
    this.worker = null;
    this.ready = null; // Promise<adapter info>
    this.model = null; // the model in the worker: {url, facts}
    this.queue = Promise.resolve();
    this.busy = 0; // tasks queued or running
    this.nextRunId = 1;
    this.current = null; // the run in the worker: {runId, handlers, resolve, reject}
    this.entries = new Map(); // runId → {cancelled} for runs not finished
    this.pending = new Map(); // inspect requests: "runId:lane:step" → {resolve, reject}
    this.loadHandlers = null; // {onProgress, resolve, reject} for the load in flight
  }

  /** Starts the worker and opens WebGPU; rejects with a reader-facing message. */
  start() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      if (globalThis.origin === 'null') {
        // A sandboxed frame without allow-same-origin: no worker, no cache can start here.
        reject(new Error('This frame is sandboxed without allow-same-origin; samplescope needs sandbox="allow-scripts allow-same-origin" to start its engine.'));
        return;
      }
      if (!globalThis.navigator?.gpu) {
        reject(new Error('This browser does not offer WebGPU. Try Chrome or Edge 113+, Safari 26 or Firefox 141+ (Windows).'));
        return;
      }
      this.onReady = { resolve, reject };
      this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'samplescope-engine' });
      this.worker.addEventListener('message', (e) => this.onMessage(e.data));
      this.worker.addEventListener('error', (e) => this.fail(new Error(`the engine could not start: ${e.message || 'worker error'}`)));
      this.worker.postMessage({ type: 'init' });
    });
    return this.ready;
  }

  /**
   * Runs a configuration on the model at `modelUrl`, after every run queued before it,
   * loading the model first unless the worker holds it already. `handlers`: onWaiting()
   * (another run or load is ahead of this one), onStart(runId),
   * onProgress(p) (model download and upload), onLaneStart(ev), onToken(ev), onLaneEnd(ev).
   * Returns {runId, done}; done resolves with the run-end event ({stopped}) or rejects
   * with a reader-facing error.
   */
  run(run, modelUrl, handlers = {}) {
    const runId = this.nextRunId++;
    const entry = { cancelled: false };
    this.entries.set(runId, entry);
    if (this.busy > 0) handlers.onWaiting?.();
    const done = this.enqueue(async () => {
      if (entry.cancelled) return { type: 'run-end', runId, stopped: true };
      await this.start();
      await this.ensureModel(modelUrl, (p) => handlers.onProgress?.(p));
      if (entry.cancelled) return { type: 'run-end', runId, stopped: true };
      return new Promise((resolve, reject) => {
        this.current = { runId, handlers, resolve, reject };
        handlers.onStart?.(runId);
        this.worker.postMessage({ type: 'run', runId, run });
      });
    });
    done.finally(() => this.entries.delete(runId)).catch(() => {});
    return { runId, done };
  }

  /** Loads the model at `url` unless the worker holds it; resolves with its facts. */
  async ensureModel(url, onProgress) {
    if (this.model?.url === url) return this.model.facts;
    this.model = null;
    const facts = await new Promise((resolve, reject) => {
      this.loadHandlers = { onProgress, resolve, reject };
      this.worker.postMessage({ type: 'load', source: { kind: 'url', url } });
    });
    this.model = { url, facts };
    return facts;
  }

  /** Stops a run: the one in the worker ends after its current step; a queued one never starts. */
  stop(runId) {
    const entry = this.entries.get(runId);
    if (entry) entry.cancelled = true;
    if (this.current?.runId === runId) this.worker.postMessage({ type: 'stop' });
  }

  /**
   * A stop that reached the worker before its run had started is undone by the start (the
   * engine clears its cancel flag there), so it is sent again with each event of a run
   * that was asked to stop, until the run ends (as the lab and the eval page do).
   */
  restop(run) {
    if (run && this.entries.get(run.runId)?.cancelled) this.worker.postMessage({ type: 'stop' });
  }

  /** The distribution behind one token of a run: resolves with {analysis, chosen}. */
  inspect(runId, lane, step) {
    return new Promise((resolve, reject) => {
      this.pending.set(`${runId}:${lane}:${step}`, { resolve, reject });
      this.worker.postMessage({ type: 'inspect', runId, lane, step });
    });
  }

  /** Runs `task` after everything queued before it; the queue survives failures. */
  enqueue(task) {
    this.busy += 1;
    const result = this.queue.then(task).finally(() => { this.busy -= 1; });
    this.queue = result.catch(() => {});
    return result;
  }

  fail(error) {
    this.onReady?.reject(error);
    this.loadHandlers?.reject(error);
    this.current?.reject(error);
    this.loadHandlers = null;
    this.current = null;
  }

  onMessage(m) {
    const run = this.current && m.runId === this.current.runId ? this.current : null;
    switch (m.type) {
      case 'ready': return this.onReady.resolve(m.adapter);
      case 'gpu-error': return this.onReady.reject(new Error(gpuMessage(m)));
      case 'progress': return this.loadHandlers?.onProgress(m);
      case 'loaded': {
        const h = this.loadHandlers;
        this.loadHandlers = null;
        return h?.resolve(m.facts);
      }
      case 'load-error': {
        const h = this.loadHandlers;
        this.loadHandlers = null;
        return h?.reject(new Error(`could not load the model: ${m.message}`));
      }
      case 'lane-start':
        this.restop(run);
        return run?.handlers.onLaneStart?.(m);
      case 'token':
        this.restop(run);
        return run?.handlers.onToken?.(m);
      case 'lane-end': return run?.handlers.onLaneEnd?.(m);
      case 'run-end':
        if (run) this.current = null;
        return run?.resolve(m);
      case 'run-error':
        if (run) this.current = null;
        return run?.reject(new Error(m.message));
      case 'inspection':
      case 'inspect-error': {
        const key = `${m.runId}:${m.lane}:${m.step}`;
        const p = this.pending.get(key);
        this.pending.delete(key);
        if (m.type === 'inspection') return p?.resolve(m);
        return p?.reject(new Error(m.message));
      }
      case 'error': {
        // A request failed outside its own reply (e.g. the engine is not ready).
        const e = new Error(m.message);
        if (this.loadHandlers) {
          const h = this.loadHandlers;
          this.loadHandlers = null;
          return h.reject(e);
        }
        if (this.current) {
          const c = this.current;
          this.current = null;
          return c.reject(e);
        }
        return console.warn(`samplescope engine: ${m.message}`);
      }
      default: return undefined;
    }
  }
}

function gpuMessage(m) {
  const why = {
    'no-navigator-gpu': 'This browser does not offer WebGPU.',
    'no-adapter': 'This browser supports WebGPU, but found no GPU adapter to run on.',
    'init-failed': 'WebGPU is present, but the engine could not open the GPU.',
  }[m.reason] ?? 'WebGPU could not be started.';
  return `${why} Try Chrome or Edge 113+ (on Linux with chrome://flags/#enable-unsafe-webgpu).${m.message ? ` Details: ${m.message}` : ''}`;
}
