// @ts-check
// The protocol between the pages and the engine worker (web/worker.js), and the constants
// every page shares. Pages talk to the worker only through web/engine-client.js; the worker
// answers through `serve` below. No DOM and no engine here, so node's tests import it.
//
// Page → worker: a request `{type, id, …params}`, with an id unique per worker; or
// `{type: 'cancel', id}`, which cancels request `id` and nothing else (no reply of its own).
// Worker → page, for request `id`: any number of `{type: 'event', id, event}`, then exactly
// one `{type: 'result', id, result}` or `{type: 'error', id, error: {code, message}}`.
// Requests run one at a time, in the order they arrive; `cancel` is handled on arrival.
//
// Cancel semantics: a request cancelled while it runs ends after the engine's step in
// flight (a run's lanes end as 'cancelled'; an eval's report keeps what finished). A
// request cancelled before it started still wins: it starts and ends after its first
// step, as if cancelled right then. (The engine clears its stop flag when a run begins, so
// the worker applies such a cancel once the engine reports that first step.)

/** @typedef {import('../pkg/samplescope.js').EngineAdapter} EngineAdapter */
/** @typedef {import('../pkg/samplescope.js').ModelFacts} ModelFacts */
/** @typedef {import('../pkg/samplescope.js').LaneRecord} LaneRecord */
/** @typedef {import('../pkg/samplescope.js').Inspection} Inspection */
/** @typedef {import('../pkg/samplescope.js').StopReason} StopReason */
/** @typedef {import('../pkg/samplescope.js').EvalProgress} EvalProgress */
/** @typedef {import('../pkg/samplescope.js').EvalOutput} EvalOutput */
/** @typedef {import('../pkg/samplescope.js').EvalPreview} EvalPreview */
/** @typedef {import('../pkg/samplescope.js').EvalImportOutput} EvalImportOutput */
/** @typedef {import('./config.js').RunConfig} RunConfig */
/** @typedef {import('./inspect-view.js').InspectorView} InspectorView */

// The one list of the models the pages offer by name (xtask reads it too).
import BUILT_IN from './models.json' with { type: 'json' };

// ---- constants shared by the pages -------------------------------------------------------

/**
 * A model the pages offer by name. A share link or an embed may name one by its id
 * (`model=gemma`). `path`: its URL, relative to the page (or to the site of the
 * <sampler-compare> script), or absolute.
 * @typedef {{id: string, path: string, name: string, bytes: number, sha256: string}} KnownModel
 */

/**
 * The site's models manifest, beside web/: `cargo xtask build-web` writes it from
 * web/models.json, each model's `url` (relative to the manifest) a local copy or a
 * CORS-enabled URL elsewhere. Read once, when this module loads.
 */
export const MANIFEST_URL = new URL('../models/manifest.json', import.meta.url);

/**
 * The models of web/models.json at their local places (models/FILE beside the page): what a
 * page offers when the site has no manifest, and what node's tests see.
 * @type {readonly KnownModel[]}
 */
export const BUILT_IN_MODELS = BUILT_IN.models.map((m) => ({ id: m.id, path: `models/${m.file}`, name: m.name, bytes: m.bytes, sha256: m.sha256 }));

/**
 * A models manifest (`{version: 1, models: [{id, name, file, bytes, sha256, url}]}`) as the
 * pages' list, each `url` resolved against `base` (the manifest's own URL). Throws an error
 * that names the first bad field.
 * @param {any} json
 * @param {string} base
 * @returns {KnownModel[]}
 */
export function readManifest(json, base) {
  if (json?.version !== 1) throw new Error(`version: expected 1, got ${JSON.stringify(json?.version)}`);
  if (!Array.isArray(json.models) || json.models.length === 0) throw new Error('models: expected a non-empty list');
  const seen = new Set();
  return json.models.map((m, i) => {
    const field = (/** @type {string} */ k, /** @type {string} */ type) => {
      if (typeof m?.[k] !== type || m[k] === '') throw new Error(`models[${i}].${k}: expected a ${type}, got ${JSON.stringify(m?.[k])}`);
      return m[k];
    };
    const id = field('id', 'string');
    if (seen.has(id)) throw new Error(`models[${i}].id: "${id}" is listed twice`);
    seen.add(id);
    const bytes = field('bytes', 'number');
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`models[${i}].bytes: expected a positive integer, got ${bytes}`);
    const sha256 = field('sha256', 'string');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`models[${i}].sha256: expected 64 lowercase hex digits`);
    const url = new URL(field('url', 'string'), base);
    if (!['http:', 'https:'].includes(url.protocol)) throw new Error(`models[${i}].url: expected an http(s) URL, got ${url.protocol}`);
    return { id, path: url.href, name: field('name', 'string'), bytes, sha256 };
  });
}

/**
 * The site's manifest, or the built-in list when this module is not served over http(s)
 * (node's tests), runs outside a page (the engine's worker, which names models by URL only:
 * a module worker drops the messages that arrive while its imports' top-level awaits wait
 * on the network), or the manifest cannot be read (said on the console, naming why).
 * @returns {Promise<readonly KnownModel[]>}
 */
async function siteModels() {
  if (!['http:', 'https:'].includes(MANIFEST_URL.protocol) || !globalThis.document) return BUILT_IN_MODELS;
  try {
    const r = await fetch(MANIFEST_URL, { cache: 'no-cache', credentials: 'omit', signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return readManifest(await r.json(), MANIFEST_URL.href);
  } catch (e) {
    console.error(`samplescope: the models manifest ${MANIFEST_URL.href} cannot be used (${e instanceof Error ? e.message : e}); the pages offer the built-in models at models/ instead.`);
    return BUILT_IN_MODELS;
  }
}

/**
 * The models the pages offer by name, as this site's models/manifest.json lists them. The
 * first is the model a page uses when it names none.
 * @type {readonly KnownModel[]}
 */
export const MODELS = await siteModels();
export const DEFAULT_MODEL = MODELS[0];

/**
 * The known model `ref` names: by id, or by its URL (resolved against `base`); else null.
 * @param {string} ref
 * @param {string} base
 */
export function knownModel(ref, base) {
  const byId = MODELS.find((m) => m.id === ref);
  if (byId) return byId;
  try {
    const url = new URL(ref, base).href;
    return MODELS.find((m) => new URL(m.path, base).href === url) ?? null;
  } catch {
    return null;
  }
}
/**
 * What to add to a load error when a known model is not on this site (HTTP 404): how the
 * demo server gets it. Empty otherwise.
 * @param {string} url  the model's URL
 * @param {string} base  the page's URL
 * @param {string} message  the load error
 */
export function notServedHint(url, base, message) {
  const known = knownModel(url, base);
  if (!known || !/HTTP 404\b/.test(message)) return '';
  return ` This site does not serve ${known.name}; on a \`cargo xtask demo\` server, \`cargo xtask fetch-model ${known.id}\` adds it (then restart the demo).`;
}

/** The Cache Storage that holds downloaded models (web/loader.js). */
export const MODEL_CACHE = 'samplescope-models-v1';
/** localStorage key: the URL of the last model loaded by URL (the lab and the eval page). */
export const LAST_MODEL_KEY = 'samplescope.lastModelUrl';
/** Context the engine allocates for a model unless a request asks otherwise. */
export const DEFAULT_N_CTX = 1024;
/** Candidates behind every token, recorded during a run or recomputed for the inspector. */
export const INSPECT_TOP = 32;
/**
 * The largest model file a page loads, in bytes (2 GiB): the engine holds the whole file in
 * wasm32 memory (4 GiB of address space at most) next to its own tables while it uploads.
 * A download stops as soon as it passes this (or the size the reader agreed to).
 */
export const MAX_MODEL_BYTES = 2 ** 31;

/** What to use instead, for a browser without WebGPU. */
export const TRY_BROWSERS = 'Try Chrome or Edge 113+ (on Linux with chrome://flags/#enable-unsafe-webgpu), Safari 26 or Firefox 141+ (Windows).';
/** The page's own check, before any worker starts. */
export const NO_WEBGPU = `This browser does not offer WebGPU. ${TRY_BROWSERS}`;
/** A sandboxed frame without allow-same-origin can start no worker and no cache. */
export const SANDBOXED = 'This frame is sandboxed without allow-same-origin; samplescope needs sandbox="allow-scripts allow-same-origin" to start its engine.';

/**
 * Why WebGPU could not start, by the error code of a failed `init`.
 * @type {Record<string, string>}
 */
export const GPU_ERRORS = {
  'no-navigator-gpu': 'This browser does not offer WebGPU (navigator.gpu is missing).',
  'no-adapter': 'This browser supports WebGPU, but it found no GPU adapter to run on.',
  'init-failed': 'WebGPU is present, but the engine could not open the GPU.',
};
/** @param {string} code */
export const gpuErrorText = (code) => GPU_ERRORS[code] ?? 'WebGPU could not be started.';

// ---- requests ------------------------------------------------------------------------------

/**
 * Where a model's bytes come from. `maxBytes`: stop the download past this many bytes (the
 * size a reader agreed to; MAX_MODEL_BYTES always applies).
 * @typedef {{kind: 'url', url: string, maxBytes?: number} | {kind: 'file', file: File}} ModelSource
 */

/**
 * Each request type's parameters (the request is `{type, id, ...params}`).
 * @typedef {object} RequestParams
 * @property {{}} init                 opens WebGPU and the engine
 * @property {{source: ModelSource, nCtx?: number}} load
 * @property {{run: RunConfig}} run    every lane of a configuration, in one batched generation
 * @property {SamplesParams} samples  N samples of one sampler (the sample tree), in one batched generation
 * @property {{runId: number, lane: number, step: number}} inspect  a token of run `runId` (a run or samples request's id)
 * @property {{spec: object}} eval-preview  the eval page's task check (needs no GPU)
 * @property {{spec: object, task: number, config: number}} eval-task  what the eval runner decodes for one task and configuration (needs no GPU)
 * @property {{file: Blob, spec: object, codeRuns?: import('../pkg/samplescope.js').CodeRuns}} eval-import  samples drawn elsewhere, against the spec's tasks (needs no GPU); codeRuns: the code programs' outcomes
 * @property {{file: Blob, spec: object}} eval-import-programs  the Python programs an import of code samples needs run
 * @property {{evalId: number, outcomes?: object[], error?: string}} code-outcomes  answered on arrival: the outcomes of an eval's code-programs event (or why there are none)
 * @property {{spec: object}} eval
 * @property {{size: 'full' | 'small'}} eval-presets  the Figures' presets (needs no GPU)
 * @property {{spec: object}} survivors  the top-nσ figure's survivor curve
 * @property {{}} prepare              makes the pipelines the load left for their first use
 * @property {BenchParams} bench       one measurement for the bench page
 * @property {{}} memory               answered on arrival: the worker's memory now (the soak test)
 * @property {{}} lose-device          answered on arrival: destroys the GPU device (the device-loss test)
 */

/**
 * N lanes of the engine lane spec `spec` after `prompt`, with sample indices 0…N−1; `lane`
 * names them and labels the inspector's cut-offs (its samplers), `inspect` records the
 * distribution behind every token. Inspect a sample by the request's id and its index.
 * @typedef {object} SamplesParams
 * @property {string} prompt
 * @property {boolean} chat
 * @property {number} maxTokens
 * @property {string} spec
 * @property {number} n
 * @property {boolean} inspect
 * @property {import('./config.js').LaneConfig} lane
 */

/** Requests the worker answers on arrival, even while another request runs. */
export const IMMEDIATE = ['memory', 'lose-device', 'code-outcomes'];

/**
 * @typedef {object} BenchParams
 * @property {string} prompt
 * @property {number} [promptTokens]  cut the prompt to the text of its first that-many tokens
 * @property {number} maxTokens
 * @property {number} lanes           greedy lanes
 * @property {string[]} [specs]       lane specs instead (one per lane; the soak test)
 */

/** @typedef {keyof RequestParams} RequestType */

/**
 * @template {RequestType} T
 * @typedef {{type: T, id: number} & RequestParams[T]} Request
 */

/** @typedef {{type: 'cancel', id: number}} CancelMessage */

// ---- events --------------------------------------------------------------------------------

/**
 * `gpuBytes`: in the upload phase, once the engine has checked the model against the
 * adapter's limits, the GPU memory it needs (weights and the KV cache at load).
 * @typedef {{kind: 'progress', phase: 'download' | 'cache' | 'read' | 'upload', loaded: number, total: number, rate: number, gpuBytes?: number}} LoadProgress
 */
/** @typedef {{kind: 'lane-start', lane: number, promptTokens: number}} LaneStart */
/**
 * @typedef {object} TokenEvent
 * @property {'token'} kind
 * @property {number} lane
 * @property {number} step
 * @property {number} tokenId
 * @property {string} textDelta
 * @property {boolean} eog       the end-of-generation token (shown, not text)
 * @property {LaneRecord | null} record  null for a forced token
 * @property {boolean} [forced]  a fork's given token (config.js's LaneFork), not sampled
 * @property {import('../pkg/samplescope.js').Heat | null} [heat]  with recorded distributions: the token's heat (Rust's Inspection.heat)
 */
/**
 * @typedef {object} LaneEnd
 * @property {'lane-end'} kind
 * @property {number} lane
 * @property {number} tokens
 * @property {StopReason | 'error'} stop
 * @property {number} tokPerS
 * @property {string} [message]  why, for stop = 'error'
 */
/** @typedef {{kind: 'eval-progress'} & EvalProgress} EvalProgressEvent */
/**
 * An eval of code tasks needs these Python programs run (the page runs them in its Pyodide
 * worker and answers with a `code-outcomes` request naming the eval's id).
 * @typedef {{kind: 'code-programs', programs: string[]}} CodePrograms
 */
/** @typedef {{kind: 'first-token'}} FirstToken */
/**
 * Before a request runs on a fresh engine, because the GPU device was lost earlier: a new
 * device is being opened and the model reloaded (from the browser cache or the file).
 * @typedef {{kind: 'rebuild', reason: string}} Rebuild
 */

/**
 * The events each request type may send before its reply.
 * @typedef {object} RequestEvents
 * @property {never} init
 * @property {LoadProgress | Rebuild} load
 * @property {LaneStart | TokenEvent | LaneEnd | Rebuild} run
 * @property {LaneStart | TokenEvent | LaneEnd | Rebuild} samples
 * @property {never} inspect
 * @property {never} eval-preview
 * @property {never} eval-task
 * @property {never} eval-import
 * @property {never} eval-presets
 * @property {Rebuild} survivors
 * @property {never} eval-import-programs
 * @property {EvalProgressEvent | CodePrograms | Rebuild} eval
 * @property {never} code-outcomes
 * @property {Rebuild} prepare
 * @property {FirstToken | Rebuild} bench
 * @property {never} memory
 * @property {never} lose-device
 */

// ---- results and errors --------------------------------------------------------------------

/** @typedef {EngineAdapter & {vendor: string, architecture: string, description: string, fallback: boolean, webFeatures: string[]}} Adapter */

/**
 * @typedef {object} Loaded
 * @property {ModelFacts} facts
 * @property {boolean} fromCache
 * @property {string} name       the file's name
 * @property {'url' | 'file'} kind
 * @property {import('./load-times.js').WorkerLoadTimes} times  the worker's timings (the engine's: facts.load)
 */

/**
 * @typedef {object} Inspected
 * @property {InspectorView} view  what the inspector shows
 * @property {number} chosen        the token the lane took at that step
 */

/**
 * @typedef {object} BenchResult
 * @property {string} prompt     the prompt as measured (cut to promptTokens)
 * @property {number[]} promptIds
 * @property {number[]} tokens   tokens per lane
 * @property {(StopReason | null)[]} stops
 * @property {number} prefillMs  the engine's
 * @property {number} decodeMs   the engine's
 * @property {number} firstMs    since the request started, at the first token
 * @property {number} lastMs     … and at the last
 */

/**
 * Each request type's result.
 * @typedef {object} RequestResults
 * @property {Adapter} init
 * @property {Loaded} load
 * @property {{stopped: boolean}} run   stopped: the run was cancelled
 * @property {{stopped: boolean}} samples
 * @property {Inspected} inspect
 * @property {EvalPreview} eval-preview
 * @property {import('../pkg/samplescope.js').EvalTaskSamples} eval-task
 * @property {EvalImportOutput} eval-import
 * @property {string[]} eval-import-programs
 * @property {{}} code-outcomes
 * @property {EvalOutput} eval
 * @property {import('../pkg/samplescope.js').Preset[]} eval-presets
 * @property {import('../pkg/samplescope.js').SurvivorCurve} survivors
 * @property {{made: number}} prepare  made: how many pipelines it made
 * @property {BenchResult} bench
 * @property {MemorySample} memory
 * @property {{lost: boolean}} lose-device  lost: there was a device to destroy
 */

/**
 * The worker's memory at one moment (null where the browser does not say).
 * @typedef {object} MemorySample
 * @property {number} wasmBytes      the wasm instance's linear memory
 * @property {number | null} jsHeapBytes  the worker's used JS heap (performance.memory)
 * @property {number | null} uaBytes  performance.measureUserAgentSpecificMemory() (cross-origin isolated pages)
 */

/**
 * Why a request failed: `code` for programs, `message` for readers.
 *   no-navigator-gpu | no-adapter | init-failed   init: no WebGPU (see GPU_ERRORS)
 *   not-ready     the engine has not started (or has no model)
 *   invalid       the request's parameters are wrong (message names them)
 *   load-failed   the model could not be read or loaded (a model loaded before stays loaded)
 *   device-lost   the GPU device was lost; the next request opens a new one and reloads the model
 *   stale         inspect: that run is no longer kept
 *   unknown-request
 *   failed        anything else the engine reported
 * @typedef {{code: string, message: string}} ErrorInfo
 */

/**
 * @typedef {{type: 'event', id: number, event: RequestEvents[RequestType]}
 *   | {type: 'result', id: number, result: RequestResults[RequestType]}
 *   | {type: 'error', id: number | null, error: ErrorInfo}} Reply
 */

/** An error with a protocol code, as the client rejects with and handlers throw. */
export class EngineError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/**
 * An error as the protocol carries it.
 * @param {unknown} e
 * @returns {ErrorInfo}
 */
export function errorInfo(e) {
  if (e instanceof EngineError) return { code: e.code, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'failed', message };
}

// ---- the worker's side ---------------------------------------------------------------------

/**
 * What a handler gets besides its request.
 * @template {RequestType} T
 * @typedef {object} RequestContext
 * @property {number} id
 * @property {(event: RequestEvents[T]) => void} event  sends an event for this request
 * @property {boolean} cancelled  a cancel for this request has arrived (before or since it started)
 * @property {(f: () => void) => void} onCancel  f runs when a cancel arrives while this request runs
 */

/**
 * @typedef {{[T in RequestType]: (req: Request<T>, ctx: RequestContext<T>) => Promise<RequestResults[T]>}} Handlers
 */

/**
 * Answers the protocol on `scope` (the worker's global): each request goes to its handler,
 * one at a time (IMMEDIATE ones on arrival); the handler's result or error becomes the reply.
 * @param {{postMessage: (m: Reply) => void, onmessage: ((ev: MessageEvent) => void) | null}} scope
 * @param {Partial<Handlers>} handlers
 */
export function serve(scope, handlers) {
  /** Requests queued or running, by id: whether cancelled, and the running one's hooks. */
  const open = new Map();
  let queue = Promise.resolve();
  /** @param {Reply} m */
  const post = (m) => scope.postMessage(m);

  scope.onmessage = (ev) => {
    const msg = ev.data;
    const id = typeof msg?.id === 'number' ? msg.id : null;
    if (msg?.type === 'cancel') {
      const entry = open.get(id);
      if (!entry || entry.cancelled) return; // finished already, or cancelled twice
      entry.cancelled = true;
      for (const f of entry.hooks) f();
      return;
    }
    const handler = handlers[/** @type {RequestType} */ (msg?.type)];
    if (id !== null && handler && IMMEDIATE.includes(msg.type)) {
      // Answered now, beside whatever request runs (a sample or a test hook, no engine call).
      /** @type {(req: any, ctx: any) => Promise<any>} */
      const answer = handler;
      Promise.resolve()
        .then(() => answer(msg, { id, event: () => {}, cancelled: false, onCancel: () => {} }))
        .then((result) => post({ type: 'result', id, result }), (e) => post({ type: 'error', id, error: errorInfo(e) }));
      return;
    }
    if (id === null || !handler) {
      const what = id === null ? 'a request without a numeric id' : `unknown request ${JSON.stringify(msg?.type)}`;
      post({ type: 'error', id, error: { code: 'unknown-request', message: what } });
      return;
    }
    if (open.has(id)) {
      post({ type: 'error', id, error: { code: 'invalid', message: `request id ${id} is already in use` } });
      return;
    }
    const entry = { cancelled: false, hooks: /** @type {(() => void)[]} */ ([]) };
    open.set(id, entry);
    /** @type {RequestContext<any>} */
    const ctx = {
      id,
      event: (event) => post({ type: 'event', id, event }),
      get cancelled() { return entry.cancelled; },
      onCancel: (f) => { entry.hooks.push(f); },
    };
    queue = queue
      .then(async () => {
        try {
          const result = await handler(msg, ctx);
          post({ type: 'result', id, result });
        } catch (e) {
          post({ type: 'error', id, error: errorInfo(e) }); // also when the result cannot be posted
        } finally {
          open.delete(id);
        }
      })
      .catch((e) => console.error(`samplescope worker: ${errorInfo(e).message}`));
  };
}

/**
 * Ties an engine run to its request's cancel: `stop` runs at once when a cancel arrives
 * while the request runs, and, for a cancel that arrived earlier (before the request or
 * the engine's run began; the engine clears its stop flag when a run begins), at the
 * run's first event. Returns the function the handler calls with every engine event.
 * @param {() => void} stop  the engine's stop
 * @param {{cancelled: boolean, onCancel: (f: () => void) => void}} ctx
 */
export function stopOnCancel(stop, ctx) {
  ctx.onCancel(stop);
  let first = true;
  return () => {
    if (!first) return;
    first = false;
    if (ctx.cancelled) stop();
  };
}
