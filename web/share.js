// @ts-check
// Configurations as text, for share links, embeds and <sampler-compare> attributes.
//
// Format 1 is form-style `key=value` pairs joined by `&` (URLSearchParams reads it), put in
// a URL's fragment so that the prompt never reaches a server's logs:
//
//   #v=1&prompt=Once+upon+a+time&chat=0&max_tokens=32&seed=42&temperature=1.5
//    &temperature_position=first&same_dice=1&record=1
//    &lane=Greedy:greedy&lane=Top-p+0.9:top_p=0.9&lane=Min-p+0.1:min_p=0.1
//    [&fork=4:2:0:791,253,4563]
//    [&model=https://…/model.gguf&model_size=98362432][&theme=dark&editable=1]
//
// `model` is a GGUF's URL, or the id of a model the pages offer (protocol.js's MODELS:
// `model=gemma`), which is looked up next to the page as the default model is.
// A lane is `name:spec` (the name is optional); the spec is the CLI's lane language, read
// by lane-params.js with the engine's own names and ranges (`greedy`, or comma-separated
// key=value: the samplers, `temperature` for a lane's own temperature, and `seed`,
// `temperature_position`, `penalty_last_n` for a lane that sets them itself; empty: no
// truncation). Missing keys take the lab's defaults; the lab's Share button writes every
// key, so a link means the same thing even if a default changes. Every value goes through
// config.js's validators, so a bad link gets the same messages, naming the parameter, as
// the lab's own controls. A link with a bad part still opens in the lab: `partial` is the
// configuration with that part left at its default (a bad lane left out), and the errors
// say what was left out.
//
// A fork (the inspector's "continue from here", config.js's LaneFork) is `fork=L:P:S:IDS`:
// lane L of the link (counting from 1) starts with the token ids IDS (comma-separated: the
// parent's tokens up to the forked step, then the chosen candidate) after the prompt, and
// draws with Philox sample index S (its parent's); P is the lane it was forked from (a lane
// number, or `-` when that lane is gone), shown to the reader. Links without `fork` read as
// before; a page older than forks reports the key as unknown and opens the rest.

import { DEFAULT_RUN, LANE_OVERRIDES, RUN_CHECKS, SAMPLERS, SAMPLER_KEYS, cloneRun, validateFork, validateLane, validateRun } from './config.js';
import { parseLaneSpec } from './lane-params.js';
import { modelFileName } from './model-source.js';
import { DEFAULT_MODEL, MODELS, knownModel } from './protocol.js';

/** The model a configuration uses when it names none: next to the page, as in the lab. */
export { DEFAULT_MODEL };

export const FORMAT_VERSION = 1;

export const THEMES = ['auto', 'light', 'dark'];

/** The message an embed posts to its parent whenever its height changes. */
export const HEIGHT_MESSAGE = 'samplescope:height';

const RUN_KEYS = ['prompt', 'chat', 'max_tokens', 'seed', 'temperature', 'temperature_position', 'same_dice', 'record'];
const KEYS = ['v', ...RUN_KEYS, 'lane', 'fork', 'model', 'model_size', 'theme', 'editable'];

/**
 * @typedef {{run: any, model: {url: string|null, bytes: number|null}, view: {theme: string, editable: boolean}}} Config
 */

/**
 * What reading a configuration gives: `config` as written (valid when `errors` is empty);
 * `partial`, the same with every bad part at its default and bad lanes left out (always
 * valid; null when the text cannot be read as a configuration at all); `errors`, every
 * problem found.
 * @typedef {{config: Config, partial: Config | null, errors: string[]}} Decoded
 */

/** The default configuration: the lab's defaults, the default model, an automatic theme. */
export const defaultConfig = () => ({
  run: cloneRun(DEFAULT_RUN),
  model: { url: null, bytes: null },
  view: { theme: 'auto', editable: false },
});

// ---- writing ---------------------------------------------------------------------------------

/** A lane as `name:spec`, e.g. "Min-p 0.1:min_p=0.1" or "Greedy:greedy". */
export function laneItem(lane) {
  const parts = [];
  const has = (obj, k) => obj && Object.hasOwn(obj, k) && obj[k] !== undefined && obj[k] !== null;
  const samplers = SAMPLER_KEYS.filter((k) => has(lane.samplers, k));
  if (lane.temperature === 0 && samplers.length === 0) parts.push('greedy');
  else if (lane.temperature !== null && lane.temperature !== undefined) parts.push(`temperature=${lane.temperature}`);
  for (const k of samplers) parts.push(`${k}=${lane.samplers[k]}`);
  for (const k of LANE_OVERRIDES) if (has(lane.overrides, k)) parts.push(`${k}=${lane.overrides[k]}`);
  return `${lane.name}:${parts.join(',')}`;
}

/**
 * Lane `i`'s fork as `L:P:S:IDS` (see the top of this file).
 * @param {import('./config.js').LaneFork} fork
 * @param {number} i
 */
export function forkItem(fork, i) {
  const parent = fork.parent === null || fork.parent === undefined ? '-' : String(fork.parent + 1);
  return `${i + 1}:${parent}:${fork.sample}:${fork.ids.join(',')}`;
}

/**
 * `L:P:S:IDS` → [lane index, fork], or null with the problem in `errors`.
 * @param {string} item
 * @param {string[]} errors
 * @returns {[number, import('./config.js').LaneFork] | null}
 */
export function parseFork(item, errors) {
  const m = /^\s*(\d+)\s*:\s*(\d+|-)\s*:\s*(\d+)\s*:\s*([\d\s,]+)$/.exec(item);
  if (!m) {
    errors.push(`fork must be LANE:PARENT:SAMPLE:ID,ID,… (e.g. 4:2:0:791,253), not "${item.slice(0, 60)}"`);
    return null;
  }
  const lane = Number(m[1]) - 1;
  const parent = m[2] === '-' ? null : Number(m[2]) - 1;
  const ids = m[4].split(',').map((x) => x.trim());
  if (ids.some((x) => x === '')) {
    errors.push(`fork ${m[1]}: an empty token id in "${m[4].slice(0, 60)}"`);
    return null;
  }
  if (lane < 0 || (parent !== null && parent < 0)) {
    errors.push(`fork ${m[1]}: lanes count from 1`);
    return null;
  }
  return [lane, { parent, sample: Number(m[3]), ids: ids.map(Number) }];
}

/** The configuration as `key=value&…` (no leading `#`), every run setting written out. */
export function encodeConfig(config, { view = false } = {}) {
  const r = config.run;
  const pairs = [
    ['v', FORMAT_VERSION],
    ['prompt', r.prompt],
    ['chat', r.chat ? 1 : 0],
    ['max_tokens', r.maxTokens],
    ['seed', r.seed],
    ['temperature', r.temperature],
    ['temperature_position', r.temperaturePosition],
    ['same_dice', r.sameDice ? 1 : 0],
    ['record', r.inspect ? 1 : 0],
    ...r.lanes.map((l) => ['lane', laneItem(l)]),
    ...r.lanes.flatMap((l, i) => (l.fork ? [['fork', forkItem(l.fork, i)]] : [])),
  ];
  if (config.model?.url) pairs.push(['model', config.model.url]);
  if (config.model?.bytes) pairs.push(['model_size', config.model.bytes]);
  if (view && config.view?.theme && config.view.theme !== 'auto') pairs.push(['theme', config.view.theme]);
  if (view && config.view?.editable) pairs.push(['editable', 1]);
  return pairs.map(([k, v]) => `${k}=${encodeValue(String(v))}`).join('&');
}

/**
 * Form encoding (space as +), leaving the characters that are safe in a query or fragment
 * value and that lane specs and URLs use (: , / = @ ?) readable.
 */
export function encodeValue(s) {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/%(3A|2C|2F|3D|40|3F)/g, (m) => decodeURIComponent(m));
}

/** An `<iframe>` for the embed page and the two lines that let it fit its content. */
export function embedSnippet(embedUrl, config) {
  const src = `${embedUrl}#${encodeConfig(config, { view: true })}`;
  const title = `samplescope: ${config.run.lanes.map((l) => l.name).join(' vs ')}`;
  return [
    `<iframe src="${attr(src)}" title="${attr(title)}" sandbox="allow-scripts allow-same-origin"`,
    `  style="width: 100%; height: 420px; border: 0;" loading="lazy"></iframe>`,
    `<script>addEventListener('message', (e) => { if (e.data && e.data.type === '${HEIGHT_MESSAGE}')`,
    `  for (const f of document.querySelectorAll('iframe')) if (f.contentWindow === e.source) f.style.height = e.data.height + 'px'; });</script>`,
  ].join('\n');
}

const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// ---- reading ---------------------------------------------------------------------------------

/**
 * Splits `key=value&…` (a fragment or query, with or without its `#`/`?`) into decoded
 * [key, value] pairs. Strict where URLSearchParams is lenient: a broken %-escape is an error
 * that names its parameter, not a silent U+FFFD.
 * @returns {{entries: [string, string][], errors: string[]}}
 */
export function splitParams(text) {
  const entries = [];
  const errors = [];
  for (const part of text.replace(/^[#?]/, '').split('&')) {
    if (part === '') continue;
    const i = part.indexOf('=');
    const [rawKey, rawValue] = i < 0 ? [part, ''] : [part.slice(0, i), part.slice(i + 1)];
    const key = decode(rawKey);
    const value = decode(rawValue);
    if (key === null) errors.push(`malformed encoding in a parameter name: "${rawKey.slice(0, 40)}"`);
    else if (value === null) errors.push(`malformed encoding in ${key}: "${rawValue.slice(0, 40)}" has a broken %-escape`);
    else entries.push([key, value]);
  }
  return { entries, errors };
}

function decode(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** Whether a fragment or query holds a configuration (has a `v=`), as opposed to an anchor. */
export const hasConfig = (text) => /(^|[#?&])v=/.test(text);

/**
 * A configuration from a fragment or query string. Requires `v`.
 * @param {string} text
 * @returns {Decoded}
 */
export function decodeConfig(text) {
  const { entries, errors } = splitParams(String(text));
  if (errors.length) return { config: defaultConfig(), partial: null, errors };
  const v = entries.find(([k]) => k === 'v');
  if (!v) return { config: defaultConfig(), partial: null, errors: ['no configuration: the address has no v=1 (use the lab’s Share or “Copy embed code” button)'] };
  return configFromEntries(entries);
}

/**
 * A configuration from decoded [key, value] pairs (keys may use - for _). `v`, when
 * present, must be a format this code reads. Unknown keys are errors.
 * @param {[string, string][]} entries
 * @returns {Decoded}
 */
export function configFromEntries(entries) {
  const config = defaultConfig();
  const errors = [];
  const seen = new Set();
  const lanes = [];
  /** @type {[number, import('./config.js').LaneFork][]} */
  const forks = [];
  let unreadable = false; // a format this page does not read: nothing of it can be trusted
  for (const [rawKey, value] of entries) {
    const key = rawKey.trim().replace(/-/g, '_');
    if (!KEYS.includes(key)) {
      errors.push(`unknown parameter "${rawKey.slice(0, 40)}" (known: ${KEYS.join(', ')})`);
      continue;
    }
    if (key !== 'lane' && key !== 'fork') {
      if (seen.has(key)) errors.push(`${key} is given twice`);
      seen.add(key);
    }
    const r = config.run;
    switch (key) {
      case 'v':
        if (value !== String(FORMAT_VERSION)) {
          unreadable = true;
          errors.push(/^\d+$/.test(value) && Number(value) > FORMAT_VERSION
            ? `this configuration is format ${value}, made by a newer samplescope; this page reads format ${FORMAT_VERSION}`
            : `v must be ${FORMAT_VERSION} (got "${value.slice(0, 40)}")`);
        }
        break;
      case 'prompt': r.prompt = value; break;
      case 'chat': r.chat = flag(key, value, errors); break;
      case 'same_dice': r.sameDice = flag(key, value, errors); break;
      case 'record': r.inspect = flag(key, value, errors); break;
      case 'editable': config.view.editable = flag(key, value, errors); break;
      // A value that is not a number is reported here and leaves the default in place, so
      // that validateRun below reports only range problems.
      case 'max_tokens': r.maxTokens = number(key, value, errors) ?? r.maxTokens; break;
      case 'seed': r.seed = number(key, value, errors) ?? r.seed; break;
      case 'temperature': r.temperature = number(key, value, errors) ?? r.temperature; break;
      case 'temperature_position': r.temperaturePosition = value.trim(); break;
      case 'lane': lanes.push(value); break;
      case 'fork': {
        const f = parseFork(value, errors);
        if (f) forks.push(f);
        break;
      }
      case 'model': {
        const u = value.trim();
        if (isModelUrl(u)) config.model.url = u;
        else errors.push(`model must be an http(s) URL or a path next to the page (got "${value.slice(0, 80)}")`);
        break;
      }
      case 'model_size': {
        const n = number(key, value, errors);
        if (n !== null && !(Number.isSafeInteger(n) && n > 0)) errors.push(`model_size must be a whole number of bytes (got ${value})`);
        else if (n !== null) config.model.bytes = n;
        break;
      }
      case 'theme':
        if (THEMES.includes(value.trim())) config.view.theme = value.trim();
        else errors.push(`theme must be one of ${THEMES.join(', ')} (got "${value.slice(0, 40)}")`);
        break;
      default:
        break;
    }
  }
  /** @type {boolean[]} */
  const laneOk = [];
  if (lanes.length) {
    config.run.lanes = lanes.map((item, i) => {
      const laneErrors = [];
      const lane = parseLane(item, i, laneErrors);
      laneOk.push(laneErrors.length === 0);
      errors.push(...laneErrors);
      return lane;
    });
  }
  for (const [i, fork] of forks) {
    const lane = lanes.length ? config.run.lanes[i] : undefined;
    const where = `fork ${i + 1}`;
    if (!lane) errors.push(`${where}: the link has no lane ${i + 1}`);
    else if (lane.fork) errors.push(`${where}: lane ${i + 1} is given two forks`);
    else if (fork.parent !== null && (fork.parent >= lanes.length || fork.parent === i)) {
      errors.push(`${where}: its parent lane ${fork.parent + 1} is not another lane of the link`);
    } else {
      lane.fork = fork;
      const bad = validateFork(fork, `lane ${i + 1}`);
      if (bad.length) laneOk[i] = false;
      errors.push(...bad);
    }
  }
  // validateRun repeats the lanes' messages that parseLane already collected: keep one each.
  const all = [...new Set([...errors, ...validateRun(config.run)])];
  return { config, partial: unreadable ? null : keepValid(config, laneOk), errors: all };
}

/**
 * `config` with every run setting that fails its check back at the default, the lanes that
 * failed left out (the defaults' lanes if none is left) and at most the lane limit.
 * @param {Config} config
 * @param {boolean[]} laneOk  per lane of config.run.lanes: it parsed without errors
 * @returns {Config}
 */
function keepValid(config, laneOk) {
  const out = { run: cloneRun(config.run), model: { ...config.model }, view: { ...config.view } };
  const defaults = cloneRun(DEFAULT_RUN);
  for (const [field, check] of Object.entries(RUN_CHECKS)) {
    const errs = [];
    check(out.run, errs);
    if (errs.length) out.run[field] = defaults[field];
  }
  const kept = out.run.lanes.map((l, i) => laneOk[i] !== false && validateLane(l, i).length === 0);
  // A fork names its parent by index: renumber it among the lanes kept (null when its
  // parent is left out).
  const index = kept.map((k, i) => (k ? kept.slice(0, i).filter(Boolean).length : null));
  const lanes = out.run.lanes.filter((_, i) => kept[i]).slice(0, 8).map((l) => {
    if (!l.fork) return l;
    const p = l.fork.parent === null ? null : index[l.fork.parent] ?? null;
    return { ...l, fork: { ...l.fork, parent: p !== null && p < 8 ? p : null } };
  });
  out.run.lanes = lanes.length ? lanes : defaults.lanes;
  return out;
}

/** The attributes <sampler-compare> reads (share.js keys with - for _, `lanes` and `forks`). */
export const ELEMENT_ATTRIBUTES = ['prompt', 'lanes', 'forks', 'temperature', 'temperature-position', 'seed', 'max-tokens', 'chat',
  'same-dice', 'record', 'model', 'model-size', 'theme', 'editable'];

/**
 * A configuration from an element's attributes: `get(name)` returns an attribute's value
 * or null when absent; `text` (the element's text) is the prompt when there is no prompt
 * attribute. `lanes` holds `;`- or newline-separated lane items, `forks` fork items.
 * @returns {{config: Config, errors: string[]}}
 */
export function configFromAttributes(get, text = '') {
  const entries = [];
  for (const name of ELEMENT_ATTRIBUTES) {
    const value = get(name);
    if (value === null || value === undefined) continue;
    if (name === 'lanes' || name === 'forks') {
      const key = name === 'lanes' ? 'lane' : 'fork';
      for (const item of value.split(/[;\n]/).map((x) => x.trim()).filter(Boolean)) entries.push([key, item]);
    } else {
      entries.push([name, value]);
    }
  }
  if (get('prompt') === null && text.trim()) entries.push(['prompt', text.trim()]);
  return configFromEntries(entries);
}

/**
 * `name:spec` → a lab lane {name, temperature, samplers, overrides?}; problems go to
 * `errors`. The spec is read by the engine's rules (lane-params.js): what the CLI accepts
 * in a lane spec, this accepts (e.g. top_k=0 is off, top_n_sigma=off).
 * @param {string} item
 * @param {number} i
 * @param {string[]} errors
 */
export function parseLane(item, i, errors) {
  const where = `lane ${i + 1}`;
  const colon = item.lastIndexOf(':');
  const name = colon < 0 ? '' : item.slice(0, colon).trim();
  const spec = colon < 0 ? item : item.slice(colon + 1);
  /** @type {import('./config.js').LaneConfig} */
  const lane = { name, temperature: null, samplers: {} };
  // An empty spec is a lane with no truncation at the shared temperature, as an empty
  // lane spec is the CLI's default sampler.
  const { values, errors: specErrors } = parseLaneSpec(spec, where);
  errors.push(...specErrors);
  for (const [key, v] of values) {
    if (key === 'temperature') lane.temperature = /** @type {number} */ (v);
    else if (LANE_OVERRIDES.includes(key)) (lane.overrides ??= {})[key] = v;
    else if (v !== null) lane.samplers[key] = /** @type {number} */ (v);
  }
  if (!lane.name) lane.name = laneName(lane);
  if (!specErrors.length) errors.push(...validateLane(lane, i));
  return lane;
}

/** A name for a lane given without one: "Greedy", "Min-p 0.1", "Top-k 40 · T 0.7". */
export function laneName(lane) {
  if (lane.temperature === 0) return 'Greedy';
  const parts = Object.entries(lane.samplers).map(([k, v]) => {
    const s = SAMPLERS.find((x) => x.key === k);
    return `${s ? s.label.replace(/ \(.*\)$/, '') : k} ${v}`;
  });
  for (const [k, v] of Object.entries(lane.overrides ?? {})) parts.push(`${k.replace(/_/g, ' ')} ${v}`);
  if (lane.temperature !== null) parts.push(`T ${lane.temperature}`);
  const name = parts.join(' · ') || 'Full distribution';
  return name.length > 40 ? `${name.slice(0, 39)}…` : name;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function number(key, value, errors) {
  const s = value.trim();
  if (!NUMBER.test(s)) {
    errors.push(`${key} must be a number (got "${value.slice(0, 40)}")`);
    return null;
  }
  return Number(s);
}

function flag(key, value, errors) {
  const s = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  errors.push(`${key} must be 1 or 0 (got "${value.slice(0, 40)}")`);
  return false;
}

/** Whether a model address is http(s), absolute or relative (not javascript:, data:, …). */
function isModelUrl(u) {
  if (u === '') return false;
  try {
    return ['http:', 'https:'].includes(new URL(u, 'https://page.invalid/').protocol);
  } catch {
    return false;
  }
}

/** The known model the model key names by its id (`model=gemma`), or undefined. */
const namedModel = (config) => MODELS.find((m) => m.id === config.model.url);

/** A known model's id in the model key (`model=gemma`), or null for a URL. */
export const modelId = (config) => namedModel(config)?.id ?? null;

/**
 * The model's URL, resolved against `base` (the page, or the script's site for the element
 * when the model is a known one or none).
 */
export function modelUrl(config, base) {
  return new URL(namedModel(config)?.path ?? config.model.url ?? DEFAULT_MODEL.path, base).href;
}

/** What the Run button says about the model: its name and size. */
export function modelLabel(config, base) {
  const url = modelUrl(config, base);
  const known = knownModel(url, base);
  return { name: known ? known.name : modelFileName(url), bytes: config.model.bytes ?? known?.bytes ?? null };
}
