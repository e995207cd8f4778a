// @ts-check
// Model bytes for the worker: from a URL (through Cache Storage, so a reload needs no
// network) or from a File the user picked or dropped. Reports progress as
// {phase, loaded, total, rate} with rate in bytes per second.

import { MAX_MODEL_BYTES, MODEL_CACHE as CACHE_NAME } from './protocol.js';
import { formatSize, modelFileName } from './model-source.js';

/** @typedef {'download' | 'cache' | 'read' | 'upload'} Phase */
const PROGRESS_EVERY_MS = 100;

/**
 * Every source is capped: MAX_MODEL_BYTES, and for a URL also `source.maxBytes` (the size
 * the reader agreed to). A file or an announced Content-Length over the cap is refused
 * before any byte is read; a body that runs past it is cut off there, with an error.
 * @param {import('./protocol.js').ModelSource} source
 * @param {(p: {phase: Phase, loaded: number, total: number, rate: number}) => void} onProgress
 * @returns {Promise<{bytes: Uint8Array, fromCache: boolean, name: string}>}
 */
export async function loadModelBytes(source, onProgress) {
  if (source.kind === 'file') {
    const limit = { bytes: MAX_MODEL_BYTES, what: 'the size limit' };
    checkSize(source.file.name, source.file.size, limit);
    const bytes = await readStream(source.file.stream(), source.file.size, 'read', onProgress, limit);
    return { bytes, fromCache: false, name: source.file.name };
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
    const bytes = await readStream(hit.body, total, 'cache', onProgress, { bytes: MAX_MODEL_BYTES, what: 'the size limit' });
    return { bytes, fromCache: true, name };
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
  const bytes = await readStream(response.body, total, 'download', onProgress, limit);
  if (cache) await store(cache, url, bytes);
  return { bytes, fromCache: false, name };
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

async function store(cache, url, bytes) {
  try {
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) };
    await cache.put(url, new Response(bytes, { headers }));
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
  const reader = stream.getReader();
  const t0 = performance.now();
  let buf = new Uint8Array(total > 0 && total <= limit.bytes ? total : 1 << 20);
  let loaded = 0;
  let last = 0;
  const report = () => {
    const s = (performance.now() - t0) / 1000;
    onProgress({ phase, loaded, total, rate: s > 0 ? loaded / s : 0 });
  };
  report();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > limit.bytes) {
      await reader.cancel().catch(() => {});
      throw new Error(`the download passed ${limit.what} of ${formatSize(limit.bytes)} and was stopped there`);
    }
    if (loaded + value.length > buf.length) {
      const bigger = new Uint8Array(Math.min(limit.bytes, Math.max(buf.length * 2, loaded + value.length)));
      bigger.set(buf.subarray(0, loaded));
      buf = bigger;
    }
    buf.set(value, loaded);
    loaded += value.length;
    if (performance.now() - last > PROGRESS_EVERY_MS) {
      last = performance.now();
      report();
    }
  }
  report();
  return loaded === buf.length ? buf : buf.slice(0, loaded);
}
