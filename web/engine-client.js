// @ts-check
// The one client of the engine worker (web/worker.js), for every page: the lab, the eval
// page, the bench page, the embed and <sampler-compare>. It speaks web/protocol.js: every
// request gets an id, its events go to the caller's callback, its reply settles a promise
// (rejected with an EngineError that has the protocol's code), and cancel names the request
// it cancels. The worker starts on the first request, so a page that never asks loads no
// wasm and no model.
//
// The embed and <sampler-compare> share one client per page (`sharedEngine`): one worker,
// one model download, and runs that take turns (`runWithModel`).

import { EngineError, NO_WEBGPU, SANDBOXED, TRY_BROWSERS, gpuErrorText } from './protocol.js';

/** @typedef {import('./protocol.js').RequestType} RequestType */
/** @typedef {import('./protocol.js').RequestParams} RequestParams */
/** @typedef {import('./protocol.js').RequestEvents} RequestEvents */
/** @typedef {import('./protocol.js').RequestResults} RequestResults */
/** @typedef {import('./protocol.js').Reply} Reply */
/** @typedef {import('./protocol.js').ModelSource} ModelSource */
/** @typedef {import('./protocol.js').LoadProgress} LoadProgress */
/** @typedef {import('./protocol.js').LaneStart} LaneStart */
/** @typedef {import('./protocol.js').TokenEvent} TokenEvent */
/** @typedef {import('./protocol.js').LaneEnd} LaneEnd */
/** @typedef {import('./config.js').RunConfig} RunConfig */

/**
 * A request in flight.
 * @template {RequestType} T
 * @typedef {object} Pending
 * @property {number} id
 * @property {Promise<RequestResults[T]>} done  the result, or an EngineError
 * @property {() => void} cancel
 */

/**
 * @typedef {object} RunHandlers
 * @property {(ev: LaneStart) => void} [onLaneStart]
 * @property {(ev: TokenEvent) => void} [onToken]
 * @property {(ev: LaneEnd) => void} [onLaneEnd]
 * @property {(ev: import('./protocol.js').Rebuild) => void} [onRebuild]  the GPU device was lost before: a new engine first
 */

/**
 * @typedef {object} QueuedRunHandlers
 * @property {() => void} [onWaiting]      another run or load is ahead of this one
 * @property {(p: LoadProgress) => void} [onProgress]  model download and upload
 * @property {(id: number) => void} [onStart]  the run request went to the worker
 */

/**
 * A run taken in turn (`runWithModel`).
 * @typedef {object} QueuedRun
 * @property {number | null} id   the run request's id, once it went to the worker (for inspect)
 * @property {Promise<{stopped: boolean}>} done  rejects with a reader-facing Error
 * @property {() => void} cancel  the run in the worker ends after its step; a queued one never starts
 */

/**
 * Why this page cannot start the engine at all (before any worker starts), or null.
 * @returns {EngineError | null}
 */
export function browserProblem() {
  // A sandboxed frame without allow-same-origin: no worker, no cache can start here.
  if (globalThis.origin === 'null') return new EngineError('sandboxed', SANDBOXED);
  if (!globalThis.navigator?.gpu) return new EngineError('no-navigator-gpu', NO_WEBGPU);
  return null;
}

export class EngineClient {
  constructor() {
    /** @type {Worker | null} */
    this.worker = null;
    /** Set when the worker failed to start: every request fails with it. */
    /** @type {EngineError | null} */
    this.broken = null;
    this.nextId = 1;
    /** @type {Map<number, {resolve: (r: any) => void, reject: (e: Error) => void, onEvent?: (e: any) => void}>} */
    this.pending = new Map();
    /** @type {Promise<RequestResults['init']> | null} */
    this.ready = null;
    /** The model in the worker, for `ensureModel`. */
    /** @type {{url: string, facts: import('./protocol.js').ModelFacts} | null} */
    this.model = null;
    /** @type {Promise<unknown>} */
    this.queue = Promise.resolve();
    this.busy = 0; // runWithModel tasks queued or running
  }

  /**
   * Sends a request; its events go to `onEvent`.
   * @template {RequestType} T
   * @param {T} type
   * @param {RequestParams[T]} params
   * @param {(event: RequestEvents[T]) => void} [onEvent]
   * @returns {Pending<T>}
   */
  request(type, params, onEvent) {
    const id = this.nextId++;
    /** @type {Promise<RequestResults[T]>} */
    const done = new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      this.pending.set(id, { resolve, reject, onEvent });
      try {
        this.connect().postMessage({ ...params, type, id });
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
    return { id, done, cancel: () => this.cancel(id) };
  }

  /**
   * Cancels request `id` (queued or running; see protocol.js); nothing once it has ended.
   * @param {number} id
   */
  cancel(id) {
    if (this.pending.has(id)) this.worker?.postMessage({ type: 'cancel', id });
  }

  /** Opens WebGPU in the worker (once): the adapter, or an EngineError coded as GPU_ERRORS. */
  start() {
    return (this.ready ??= this.request('init', {}).done);
  }

  /**
   * Loads a model; progress events go to `onProgress`.
   * @param {ModelSource} source
   * @param {(p: LoadProgress) => void} [onProgress]
   * @param {number} [nCtx]
   */
  async load(source, onProgress, nCtx) {
    /** @param {any} ev */
    const onEvent = (ev) => { if (ev.kind === 'progress') onProgress?.(ev); };
    const loaded = await this.request('load', nCtx ? { source, nCtx } : { source }, onEvent).done;
    // A failed load leaves the worker's model (and this record of it) as it was.
    this.model = source.kind === 'url' ? { url: absolute(source.url), facts: loaded.facts } : null;
    return loaded;
  }

  /**
   * Makes the pipelines the load left for their first use, while the page is idle (the
   * browser compiles them in its GPU process), so the first Run does not wait for them.
   * @returns {Promise<{made: number}>}
   */
  prepare() {
    return this.request('prepare', {}).done;
  }

  /**
   * Runs every lane of a configuration.
   * @param {RunConfig} run
   * @param {RunHandlers} [handlers]
   * @returns {Pending<'run'>}
   */
  run(run, handlers = {}) {
    return this.request('run', { run }, laneEvents(handlers));
  }

  /**
   * N samples of one sampler (the sample tree); its lanes are the samples 0…N−1.
   * @param {import('./protocol.js').SamplesParams} params
   * @param {RunHandlers} [handlers]
   * @returns {Pending<'samples'>}
   */
  samples(params, handlers = {}) {
    return this.request('samples', params, laneEvents(handlers));
  }

  /**
   * The distribution behind one token of run `runId` (a run request's id).
   * @param {number} runId
   * @param {number} lane
   * @param {number} step
   */
  inspect(runId, lane, step) {
    return this.request('inspect', { runId, lane, step }).done;
  }

  /** @param {object} spec the eval spec (eval-config.js) */
  evalPreview(spec) {
    return this.request('eval-preview', { spec }).done;
  }

  /**
   * What the eval runner decodes for task `task` and configuration `config` of `spec`.
   * @param {object} spec the eval spec (eval-config.js)
   * @param {number} task
   * @param {number} config
   */
  evalTask(spec, task, config) {
    return this.request('eval-task', { spec, task, config }).done;
  }

  /**
   * Imports a sample file against the spec's task set and verifier (no model, no GPU).
   * @param {Blob} file
   * @param {object} spec the eval spec (eval-config.js)
   * @param {import('../pkg/samplescope.js').CodeRuns} [codeRuns]  code tasks: the outcomes of `evalImportPrograms`' programs
   */
  evalImport(file, spec, codeRuns) {
    return this.request('eval-import', codeRuns ? { file, spec, codeRuns } : { file, spec }).done;
  }

  /**
   * The Python programs an import of code samples needs run.
   * @param {Blob} file
   * @param {object} spec the eval spec (eval-config.js)
   */
  evalImportPrograms(file, spec) {
    return this.request('eval-import-programs', { file, spec }).done;
  }

  /**
   * @param {object} spec the eval spec (eval-config.js)
   * @param {(p: import('./protocol.js').RequestEvents['eval']) => void} [onProgress]  progress, and code tasks' programs to run
   */
  evaluate(spec, onProgress) {
    return this.request('eval', { spec }, onProgress);
  }

  /**
   * @param {import('./protocol.js').BenchParams} params
   * @param {() => void} [onFirstToken]
   */
  bench(params, onFirstToken) {
    return this.request('bench', params, () => onFirstToken?.());
  }

  /** Ends the worker; pending requests fail. */
  terminate() {
    this.worker?.terminate();
    this.fail(new EngineError('failed', 'the engine was shut down'));
  }

  /**
   * Loads the model at `url` unless the worker holds it; resolves with its facts.
   * @param {string} url
   * @param {(p: LoadProgress) => void} [onProgress]
   * @param {number} [maxBytes]  stop the download past this size (the size the reader agreed to)
   */
  async ensureModel(url, onProgress, maxBytes) {
    if (this.model?.url === url) return this.model.facts;
    const { facts } = await this.load(maxBytes ? { kind: 'url', url, maxBytes } : { kind: 'url', url }, onProgress);
    this.model = { url, facts };
    return facts;
  }

  /** The worker's memory now (answered even during a run). */
  memory() {
    return this.request('memory', {}).done;
  }

  /** Destroys the worker's GPU device, as a driver reset would (for the device-loss test). */
  loseDevice() {
    return this.request('lose-device', {}).done;
  }

  /**
   * Runs a configuration on the model at `modelUrl`, after every run queued here before it,
   * starting the engine and loading the model first when needed. Errors are reader-facing.
   * @param {RunConfig} run
   * @param {string} modelUrl
   * @param {RunHandlers & QueuedRunHandlers} [handlers]
   * @param {{maxBytes?: number}} [opts]  maxBytes: the model's download stops past this size
   * @returns {QueuedRun}
   */
  runWithModel(run, modelUrl, handlers = {}, opts = {}) {
    let cancelled = false;
    /** @type {QueuedRun} */
    const job = {
      id: null,
      done: Promise.resolve({ stopped: true }),
      cancel: () => {
        cancelled = true;
        if (job.id !== null) this.cancel(job.id);
      },
    };
    if (this.busy > 0) handlers.onWaiting?.();
    job.done = this.enqueue(async () => {
      if (cancelled) return { stopped: true };
      const problem = browserProblem();
      if (problem) throw problem;
      try {
        await this.start();
      } catch (e) {
        const detail = e.message ? ` Details: ${e.message}` : '';
        throw new EngineError(e.code ?? 'failed', `${gpuErrorText(e.code)} ${TRY_BROWSERS}${detail}`);
      }
      try {
        await this.ensureModel(modelUrl, handlers.onProgress, opts.maxBytes);
      } catch (e) {
        throw new EngineError(e.code ?? 'failed', `could not load the model: ${e.message}`);
      }
      if (cancelled) return { stopped: true };
      const req = this.run(run, handlers);
      job.id = req.id;
      handlers.onStart?.(req.id);
      return req.done;
    });
    return job;
  }

  /**
   * Runs `task` after everything queued before it; the queue survives failures.
   * @template R
   * @param {() => Promise<R>} task
   * @returns {Promise<R>}
   */
  enqueue(task) {
    this.busy += 1;
    const result = this.queue.then(task).finally(() => { this.busy -= 1; });
    this.queue = result.catch(() => {});
    return result;
  }

  /** The worker, started on first use. */
  connect() {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'samplescope-engine' });
    let heard = false;
    worker.addEventListener('message', (e) => {
      heard = true;
      this.onReply(e.data);
    });
    worker.addEventListener('error', (e) => {
      // Before any reply: the worker's script did not load or run, so nothing will answer.
      if (!heard) this.fail(new EngineError('init-failed', `the engine could not start: ${e.message || 'worker error'}`));
      else console.warn(`samplescope engine: ${e.message}`);
    });
    this.worker = worker;
    return worker;
  }

  /**
   * Every pending request fails with `error`, and so does every later one.
   * @param {EngineError} error
   */
  fail(error) {
    this.broken = error;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** @param {Reply} m */
  onReply(m) {
    const p = m.id === null ? undefined : this.pending.get(m.id);
    if (!p) {
      if (m.type === 'error') console.warn(`samplescope engine: ${m.error.message}`);
      return;
    }
    if (m.type === 'event') {
      p.onEvent?.(m.event);
      return;
    }
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve(m.result);
    else p.reject(new EngineError(m.error.code, m.error.message));
  }
}

/**
 * A run's events to its handlers.
 * @param {RunHandlers} handlers
 * @returns {(ev: import('./protocol.js').RequestEvents['run']) => void}
 */
const laneEvents = (handlers) => (ev) => {
  if (ev.kind === 'rebuild') handlers.onRebuild?.(ev);
  else if (ev.kind === 'lane-start') handlers.onLaneStart?.(ev);
  else if (ev.kind === 'token') handlers.onToken?.(ev);
  else if (ev.kind === 'lane-end') handlers.onLaneEnd?.(ev);
};

/**
 * A URL resolved against the page (as given where there is no page, e.g. in node's tests).
 * @param {string} url
 */
function absolute(url) {
  try {
    return new URL(url, globalThis.location?.href).href;
  } catch {
    return url;
  }
}

/** @type {EngineClient | null} */
let shared = null;

/** The page's shared client, for the embed and <sampler-compare> (created on first use). */
export const sharedEngine = () => (shared ??= new EngineClient());
