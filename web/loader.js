// Model bytes for the worker: from a URL (through Cache Storage, so a reload needs no
// network) or from a File the user picked or dropped. Reports progress as
// {phase, loaded, total, rate} with rate in bytes per second.

const CACHE_NAME = 'samplescope-models-v1';
const PROGRESS_EVERY_MS = 100;

/**
 * @param {{kind: 'url', url: string} | {kind: 'file', file: File}} source
 * @param {(p: {phase: string, loaded: number, total: number, rate: number}) => void} onProgress
 * @returns {Promise<{bytes: Uint8Array, fromCache: boolean, name: string}>}
 */
export async function loadModelBytes(source, onProgress) {
  if (source.kind === 'file') {
    const bytes = await readStream(source.file.stream(), source.file.size, 'read', onProgress);
    return { bytes, fromCache: false, name: source.file.name };
  }
  const url = new URL(source.url, self.location.href).href;
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || url);
  const cache = await openCache();
  const hit = cache && (await cache.match(url));
  if (hit) {
    const total = Number(hit.headers.get('Content-Length')) || 0;
    const bytes = await readStream(hit.body, total, 'cache', onProgress);
    return { bytes, fromCache: true, name };
  }
  let response;
  try {
    response = await fetch(url, { mode: 'cors', credentials: 'omit' });
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e.message} (is the server running, and does it allow cross-origin requests?)`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('Content-Length')) || 0;
  const bytes = await readStream(response.body, total, 'download', onProgress);
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

/** Reads a byte stream into one Uint8Array, reporting progress at most every 100 ms. */
async function readStream(stream, total, phase, onProgress) {
  const reader = stream.getReader();
  const t0 = performance.now();
  let buf = new Uint8Array(total > 0 ? total : 1 << 20);
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
    if (loaded + value.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, loaded + value.length));
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
