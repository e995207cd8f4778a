// @ts-check
// The lane language as the engine reads it: a lane spec is `greedy` or comma-separated
// `key=value` items (src/sampling/config.rs, SamplerConfig::parse). The parameters, their
// kinds, ranges and defaults come from the Rust parser's table (web/lane-params.json,
// generated from PARAMS by `cargo xtask lane-params`); this module reads that table and
// checks values exactly as the CLI does (floats are rounded to f32 before the range check,
// integers are plain digits), so a lane the page accepts is one the CLI accepts, and the
// other way round. One exception: the page keeps numbers as JS numbers, so a seed above
// 2^53 − 1 (the CLI takes any u64) is refused here rather than rounded.
// No DOM: the worker, the pages and node's tests share it.

import TABLE from './lane-params.json' with { type: 'json' };

/**
 * One parameter of the lane language, as web/lane-params.json lists it.
 * @typedef {object} LaneParam
 * @property {string} name
 * @property {'float' | 'optional_float' | 'int' | 'word'} kind  optional_float: `off` turns it off
 * @property {number | string | null} [min]   a u64 bound may be a string (seed's max)
 * @property {boolean} [min_inclusive]
 * @property {number | string | null} [max]
 * @property {boolean} [max_inclusive]
 * @property {string[]} [values]        a word's choices
 * @property {number | string | null} default
 * @property {number | null} off         the value that turns it off, if any
 * @property {string} range              the range in words, as the engine's messages say it
 * @property {string} doc
 */

/** Every parameter, in the table's order. */
/** @type {LaneParam[]} */
export const LANE_PARAMS = /** @type {any} */ (TABLE).params;
/** Parameter names, as the lane language spells them. */
export const PARAM_NAMES = LANE_PARAMS.map((p) => p.name);
/** @type {Map<string, LaneParam>} */
const BY_NAME = new Map(LANE_PARAMS.map((p) => [p.name, p]));

/**
 * The parameter called `name` (own names only: `constructor`, `__proto__` … are unknown).
 * @param {string} name
 */
export const laneParam = (name) => BY_NAME.get(name);

/** A key as the parser normalizes it: trimmed, `-` read as `_`. */
export const normalizeKey = (/** @type {string} */ key) => key.trim().replace(/-/g, '_');

/** What Rust's f32 / u64 `from_str` accept (after trimming). */
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const FLOAT_WORDS = /^[+-]?(inf|infinity|nan)$/i;
const UINT = /^\d+$/;

/** A bound as a JS number (a u64 string bound past 2^53 becomes MAX_SAFE_INTEGER). */
const bound = (/** @type {number | string | null | undefined} */ b) =>
  b === null || b === undefined ? null : Math.min(Number(b), Number.MAX_SAFE_INTEGER);

/** The range of a parameter in words: the engine's own ("in (0, 1] (1 = off)"). */
export function describeRange(/** @type {LaneParam} */ p) {
  return p.range;
}

/**
 * Checks a value already read as a number (or enum word) against the parameter's range,
 * exactly as the engine would: floats as f32. Returns an error (naming `where`) or null.
 * @param {LaneParam} p
 * @param {unknown} v
 * @param {string} [where]  the prefix of the message (default: the parameter's name)
 */
export function checkParam(p, v, where = p.name) {
  if (p.kind === 'word') {
    return typeof v === 'string' && p.values.includes(v) ? null : `${where} = ${JSON.stringify(String(v).slice(0, 40))}: must be ${describeRange(p)}`;
  }
  if (typeof v !== 'number' || Number.isNaN(v)) return `${where} must be a number`;
  const x = p.kind === 'int' ? v : Math.fround(v);
  const lo = bound(p.min);
  const hi = bound(p.max);
  const bad = !Number.isFinite(x)
    || (p.kind === 'int' && !Number.isInteger(x))
    || (lo !== null && (p.min_inclusive === false ? !(x > lo) : !(x >= lo)))
    || (hi !== null && (p.max_inclusive === false ? !(x < hi) : !(x <= hi)));
  return bad ? `${where} = ${v}: must be ${describeRange(p)}` : null;
}

/**
 * Reads one `key=value` value as the engine does. `value` is the number (or word), or
 * null for a parameter turned off by its off word; `error` names `where`.
 * @param {LaneParam} p
 * @param {string} raw
 * @param {string} [where]
 * @returns {{value: number | string | null, error: string | null}}
 */
export function parseParam(p, raw, where = p.name) {
  const s = raw.trim();
  if (p.kind === 'optional_float' && s === 'off') return { value: null, error: null };
  if (p.kind === 'word') {
    return p.values.includes(s) ? { value: s, error: null } : { value: null, error: `${where} = ${JSON.stringify(s.slice(0, 40))}: must be ${describeRange(p)}` };
  }
  if (p.kind === 'int') {
    if (!UINT.test(s)) return { value: null, error: `${where} = ${JSON.stringify(s.slice(0, 40))}: must be ${describeRange(p)}` };
    const v = Number(s);
    return { value: v, error: checkParam(p, v, where) };
  }
  if (FLOAT_WORDS.test(s)) return { value: null, error: `${where} = ${s}: must be ${describeRange(p)}` };
  if (!FLOAT.test(s)) return { value: null, error: `${where} = ${JSON.stringify(s.slice(0, 40))}: not a number` };
  const v = Number(s);
  return { value: v, error: checkParam(p, v, where) };
}

/**
 * A whole lane spec, read like SamplerConfig::parse: `greedy` (temperature 0) and
 * `key=value` items; unknown, repeated and unreadable items are errors, every one reported
 * (the engine stops at the first). `values` holds the parameters the spec sets.
 * @param {string} spec
 * @param {string} [where]  message prefix, e.g. "lane 2"
 * @returns {{values: Map<string, number | string | null>, errors: string[]}}
 */
export function parseLaneSpec(spec, where = 'lane spec') {
  /** @type {Map<string, number | string | null>} */
  const values = new Map();
  const errors = [];
  for (const item of spec.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    let key;
    let raw;
    if (eq < 0) {
      if (item !== 'greedy') {
        errors.push(`${where}: "${item.slice(0, 40)}" is not key=value or greedy`);
        continue;
      }
      [key, raw] = ['temperature', '0'];
    } else {
      key = normalizeKey(item.slice(0, eq));
      raw = item.slice(eq + 1);
    }
    const p = laneParam(key);
    if (!p) {
      errors.push(`${where}: unknown sampler "${key.slice(0, 40)}" (known: ${PARAM_NAMES.join(', ')})`);
      continue;
    }
    if (values.has(key)) {
      errors.push(`${where}: ${key} is given twice`);
      continue;
    }
    const { value, error } = parseParam(p, raw, `${where}: ${key}`);
    if (error) errors.push(error);
    else values.set(key, value);
  }
  return { values, errors };
}
