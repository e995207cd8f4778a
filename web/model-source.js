// @ts-check
// What a reader is told about a model before it downloads: its file name (decoded safely),
// its host when that is not the page's, and the size the server reports (HEAD,
// Content-Length) against the size limit. No DOM, so the worker and node's tests use it too.

import { MAX_MODEL_BYTES } from './protocol.js';

/**
 * The last path segment of a model URL, %-decoded where that is valid (a broken escape such
 * as `%zz` is shown as written, never thrown).
 * @param {string} url  an absolute URL
 */
export function modelFileName(url) {
  let last = url;
  try {
    last = new URL(url).pathname.split('/').pop() || url;
  } catch {
    // not a URL: show it as given
  }
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * "98.4 MB", "2.1 GB" (powers of 1000, as the pages show sizes).
 * @param {number} n
 */
export function formatSize(n) {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log10(n) / 3));
  return `${(n / 1000 ** i).toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Whether `url` is on another origin than `page`.
 * @param {string} url
 * @param {string} page
 */
export function isCrossOrigin(url, page) {
  try {
    return new URL(url, page).origin !== new URL(page).origin;
  } catch {
    return true;
  }
}

/**
 * @typedef {object} ModelProbe
 * @property {string} url           absolute
 * @property {string} name          the file name
 * @property {string} host          the URL's host (with port)
 * @property {boolean} crossOrigin  not the page's origin
 * @property {number | null} bytes  the size the server reports (HEAD Content-Length), or null
 * @property {boolean} tooBig       bytes is over MAX_MODEL_BYTES
 * @property {string | null} error  why the server gave no size (network, CORS, HTTP status)
 */

const HEAD_TIMEOUT_MS = 15_000;

/**
 * Asks the model's server for its size (a HEAD request: no body is downloaded). Never throws.
 * @param {string} url
 * @param {string} page   the page's URL (relative model URLs resolve against it)
 * @param {typeof fetch} [fetchFn]
 * @returns {Promise<ModelProbe>}
 */
export async function probeModel(url, page, fetchFn = globalThis.fetch) {
  let abs;
  try {
    abs = new URL(url, page);
  } catch {
    return { url, name: url, host: '', crossOrigin: true, bytes: null, tooBig: false, error: 'not a valid URL' };
  }
  const base = { url: abs.href, name: modelFileName(abs.href), host: abs.host, crossOrigin: isCrossOrigin(abs.href, page) };
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), HEAD_TIMEOUT_MS);
  try {
    const r = await fetchFn(abs.href, { method: 'HEAD', mode: 'cors', credentials: 'omit', signal: ctl.signal });
    if (!r.ok) return { ...base, bytes: null, tooBig: false, error: `HTTP ${r.status}` };
    const bytes = contentLength(r.headers.get('Content-Length'));
    return { ...base, bytes, tooBig: bytes !== null && bytes > MAX_MODEL_BYTES, error: bytes === null ? 'no Content-Length' : null };
  } catch (e) {
    const why = ctl.signal.aborted ? `no answer in ${HEAD_TIMEOUT_MS / 1000} s` : e instanceof Error ? e.message : String(e);
    return { ...base, bytes: null, tooBig: false, error: why };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Content-Length header as a byte count (null when absent or not a plain number).
 * @param {string | null} v
 */
export function contentLength(v) {
  if (v === null || !/^\s*\d{1,16}\s*$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * What to tell the reader about a probed model, in one sentence, and whether it may load.
 * @param {ModelProbe} p
 * @param {number | null} [linkBytes]  the size the link or attribute claims
 * @returns {{text: string, allowed: boolean, maxBytes: number}}
 */
export function describeProbe(p, linkBytes = null) {
  const where = p.crossOrigin ? ` from ${p.host}` : '';
  const limit = formatSize(MAX_MODEL_BYTES);
  if (p.tooBig && p.bytes !== null) {
    return { text: `${p.name}${where} is ${formatSize(p.bytes)} (as ${p.host} reports it), over the ${limit} limit: it cannot load here.`, allowed: false, maxBytes: 0 };
  }
  if (p.bytes === null) {
    return {
      text: `${p.name}${where}: ${p.host} did not report its size (${p.error}); the download stops at ${limit}.`,
      allowed: true, maxBytes: MAX_MODEL_BYTES,
    };
  }
  const claimed = linkBytes && linkBytes !== p.bytes ? ` (the link says ${formatSize(linkBytes)})` : '';
  return {
    text: `${p.name}${where} is ${formatSize(p.bytes)}, as ${p.host} reports it${claimed}; the download stops there.`,
    allowed: true, maxBytes: p.bytes,
  };
}
