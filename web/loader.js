// @ts-check
// Model bytes for the worker: from a URL (through Cache Storage, so a reload needs no
// network) or from a File the user picked or dropped, chunk by chunk as they arrive.
// Reports progress as {phase, loaded, total, rate} with rate in bytes per second.

import { MAX_MODEL_BYTES, MODEL_CACHE as CACHE_NAME } from './protocol.js';
import { formatSize, modelFileName } from './model-source.js';

/** @typedef {'download' | 'cache' | 'read' | 'upload'} Phase */
const PROGRESS_EVERY_MS = 100;

/**
 * A model's bytes as the engine reads them (WebEngine.loadStream): `pull()` resolves to the
 * next chunk, or to null at the end; `cancel()` stops the reading (a load that failed);
 * `size` is the file's size when known, `limit` the most bytes it may have.
 * @typedef {{pull: () => Promise<Uint8Array | null>, cancel: () => void, size: number | null, limit: number, fromCache: boolean, name: string}} ModelStream
 */

/**
 * Opens a model's bytes as a stream, so the engine can parse its header and start on the
 * GPU while the rest arrives. Every source is capped: MAX_MODEL_BYTES, and for a URL also
 * `source.maxBytes` (the size the reader agreed to). A file or an announced Content-Length
 * over the cap is refused before any byte is read; a body that runs past it is cut off
 * there, with an error. A download goes into the browser cache once it is complete.
 * @param {import('./protocol.js').ModelSource} source
 * @param {(p: {phase: Phase, loaded: number, total: number, rate: number}) => void} onProgress
 * @returns {Promise<ModelStream>}
 */
export async function openModel(source, onProgress) {
  if (source.kind === 'file') {
    const limit = { bytes: MAX_MODEL_BYTES, what: 'the size limit' };
    checkSize(source.file.name, source.file.size, limit);
    const { pull, cancel } = chunks(source.file.stream(), source.file.size, 'read', onProgress, limit);
    return { pull, cancel, size: source.file.size, limit: limit.bytes, fromCache: false, name: source.file.name };
  }
  const url = new URL(source.url, self.location.href).href;
  const name = modelFileName(url);
  const limit = source.maxBytes && source.maxBytes < MAX_MODEL_BYTES
    ? { bytes: source.maxBytes, what: 'the size it was announced with' }
    : { bytes: MAX_MODEL_BYTES, what: 'the size limit' };
  const cache = await openCache();
  const hit = cache && (await cache.match(url));
  if (hit?.body) {
    const total = Number(hit.headers.get('Content-Length')) || 0;
    const all = { bytes: MAX_MODEL_BYTES, what: 'the size limit' };
    const { pull, cancel } = chunks(hit.body, total, 'cache', onProgress, all);
    return { pull, cancel, size: total || null, limit: all.bytes, fromCache: true, name };
  }
  let response;
  try {
    response = await fetch(url, { mode: 'cors', credentials: 'omit' });
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e.message} (is the server running, and does it allow cross-origin requests?)`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status} ${response.statusText}`);
  if (!response.body) throw new Error(`could not fetch ${url}: the response has no body`);
  const total = Number(response.headers.get('Content-Length')) || 0;
  try {
    checkSize(name, total, limit);
  } catch (e) {
    await response.body.cancel().catch(() => {});
    throw e;
  }
  const { pull: next, cancel } = chunks(response.body, total, 'download', onProgress, limit);
  /** @type {Uint8Array<ArrayBuffer>[]} the download so far, for the cache */
  const kept = [];
  const pull = async () => {
    const chunk = await next();
    if (chunk) kept.push(/** @type {Uint8Array<ArrayBuffer>} a fetch body's chunk */ (chunk));
    else if (cache && kept.length) await store(cache, url, new Blob(kept), kept.reduce((n, c) => n + c.length, 0));
    if (!chunk) kept.length = 0;
    return chunk;
  };
  return { pull, cancel, size: total || null, limit: limit.bytes, fromCache: false, name };
}

/**
 * A model's bytes in one array (the bench fills the browser cache with it).
 * @param {import('./protocol.js').ModelSource} source
 * @param {(p: {phase: Phase, loaded: number, total: number, rate: number}) => void} onProgress
 */
export async function loadModelBytes(source, onProgress) {
  const m = await openModel(source, onProgress);
  return { bytes: await collect(m.pull, m.size ?? 0), fromCache: m.fromCache, name: m.name };
}

/** Whether a URL's model is in the browser cache (for the UI). */
export async function isCached(url) {
  const cache = await openCache();
  return Boolean(cache && (await cache.match(new URL(url, self.location.href).href)));
}

/** Drops every cached model. */
export async function clearCache() {
  if (self.caches) await self.caches.delete(CACHE_NAME);
}

async function openCache() {
  try {
    return self.caches ? await self.caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. storage disabled: work without a cache
  }
}

/**
 * @param {Cache} cache
 * @param {string} url
 * @param {Blob} body
 * @param {number} length
 */
async function store(cache, url, body, length) {
  try {
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(length) };
    await cache.put(url, new Response(body, { headers }));
  } catch (e) {
    // Quota exceeded or private mode: the model still loads, it just is not cached.
    console.warn(`samplescope: could not cache ${url}: ${e.message}`);
  }
}

/**
 * @param {string} name
 * @param {number} size
 * @param {{bytes: number, what: string}} limit
 */
function checkSize(name, size, limit) {
  if (size > limit.bytes) {
    throw new Error(`${name} is ${formatSize(size)}, over ${limit.what} of ${formatSize(limit.bytes)}: not loaded`);
  }
}

/**
 * Reads a byte stream into one Uint8Array, reporting progress at most every 100 ms, and
 * stops (cancelling the stream) as soon as it passes `limit.bytes`.
 * @param {ReadableStream<Uint8Array>} stream
 * @param {number} total  the announced size (0: unknown)
 * @param {Phase} phase
 * @param {(p: {phase: Phase, loaded: number, total: number, rate: number}) => void} onProgress
 * @param {{bytes: number, what: string}} [limit]
 */
export async function readStream(stream, total, phase, onProgress, limit = { bytes: MAX_MODEL_BYTES, what: 'the size limit' }) {
  return collect(chunks(stream, total, phase, onProgress, limit).pull, total > 0 && total <= limit.bytes ? total : 0);
}

/**
 * A byte stream as a `pull()` of its chunks (null at the end), reporting progress at most
 * every 100 ms; a chunk that takes it past `limit.bytes` cancels the stream and throws.
 * `cancel()` stops it from outside.
 * @param {ReadableStream<Uint8Array>} stream
 * @param {number} total  the announced size (0: unknown)
 * @param {Phase} phase
 * @param {(p: {phase: Phase, loaded: number, total: number, rate: number}) => void} onProgress
 * @param {{bytes: number, what: string}} limit
 * @returns {{pull: () => Promise<Uint8Array | null>, cancel: () => void}}
 */
function chunks(stream, total, phase, onProgress, limit) {
  const reader = stream.getReader();
  const t0 = performance.now();
  let loaded = 0;
  let last = 0;
  let ended = false;
  const report = () => {
    const s = (performance.now() - t0) / 1000;
    onProgress({ phase, loaded, total, rate: s > 0 ? loaded / s : 0 });
  };
  report();
  const cancel = () => {
    ended = true;
    reader.cancel().catch(() => {});
  };
  const pull = async () => {
    if (ended) return null;
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      report();
      return null;
    }
    if (loaded + value.length > limit.bytes) {
      cancel();
      throw new Error(`the download passed ${limit.what} of ${formatSize(limit.bytes)} and was stopped there`);
    }
    loaded += value.length;
    if (performance.now() - last > PROGRESS_EVERY_MS) {
      last = performance.now();
      report();
    }
    return value;
  };
  return { pull, cancel };
}

/**
 * Every chunk of `pull` in one array.
 * @param {() => Promise<Uint8Array | null>} pull
 * @param {number} size  the expected size (0: unknown), reserved at once
 */
async function collect(pull, size) {
  let buf = new Uint8Array(size > 0 ? size : 1 << 20);
  let loaded = 0;
  for (let chunk = await pull(); chunk; chunk = await pull()) {
    if (loaded + chunk.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, loaded + chunk.length));
      bigger.set(buf.subarray(0, loaded));
      buf = bigger;
    }
    buf.set(chunk, loaded);
    loaded += chunk.length;
  }
  return loaded === buf.length ? buf : buf.slice(0, loaded);
}
