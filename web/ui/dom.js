// @ts-check
// The one way the UI makes elements. Text always goes in as text (text nodes and
// textContent), never as HTML: model output, file names, URLs and lane names are data.

/**
 * h('div', {className: 'x', dataset: {step: 3}, title: 'y', on: {click: f}}, 'text', child…)
 * Properties other than className / dataset / on / style are set as attributes, except
 * inline event handlers (on…), which are refused.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'className') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, f] of Object.entries(v)) el.addEventListener(ev, f);
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else if (k === 'value' || k === 'checked' || k === 'disabled') el[k] = v;
    else if (/^on/i.test(k)) throw new Error(`h(): refusing inline handler attribute ${k}`);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * The page's element with this id. Its kind (input, select, table…) is the page's markup's
 * to say, so its own properties (value, checked, tBodies…) are typed loosely.
 * @param {string} id
 * @returns {HTMLElement & Record<string, any>}
 */
export const $ = (id) => /** @type {HTMLElement & Record<string, any>} */ (document.getElementById(id));

/** @type {ReturnType<typeof setTimeout> | undefined} */
let toastTimer;
/**
 * Shows a message in the page's #toast for 8 s; a newer message replaces it.
 * @param {string} text
 */
export function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

/**
 * Saves `data` as a file named `name` (the browser's download): a Blob, or text of MIME type
 * `type`. Nothing happens when there is no data.
 * @param {string} name
 * @param {Blob | string | undefined} data
 * @param {string} [type]
 */
export function download(name, data, type = 'text/plain') {
  if (data === undefined) return;
  const url = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** "98.4 MB" (one rule for sizes: model-source.js's). */
export { formatSize as formatBytes } from '../model-source.js';

/** "135M" */
export function formatCount(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** A definition list from [term, value] pairs; values may be nodes or text. */
export function fillFacts(dl, pairs) {
  replace(dl, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A token's text with invisible characters made visible, for tables and tooltips. */
export function visible(text) {
  return text.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/^ | $/g, '␣');
}
