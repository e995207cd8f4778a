// @ts-check
// The lab's configuration: lanes, sampler parameters, defaults and validation.
// Shared by the page and the worker (and share links and embeds), so one place says what a
// valid run looks like. Parameter names are the ones docs/DESIGN.md and the engine's
// SamplerConfig use (llama.cpp / vLLM / OpenAI names); their ranges are the engine's own
// (lane-params.js reads the Rust parser's table), so the page accepts what the CLI accepts.

import { checkParam, laneParam } from './lane-params.js';

/**
 * The samplers of the chain, in the order they apply (docs/DESIGN.md, "Sampler semantics").
 * min / max / step / initial are the lane editor's hints; what is valid is the engine's
 * range (lane-params.js), e.g. top_k = 0 is "off" as in the CLI.
 */
export const SAMPLERS = [
  {
    key: 'repetition_penalty', label: 'Repetition penalty', short: 'rep',
    min: 0.5, max: 3, step: 0.05, initial: 1.1, off: 1,
    help: 'Divides positive logits (multiplies negative ones) of tokens seen in the last N tokens.',
  },
  {
    key: 'top_n_sigma', label: 'Top-nσ', short: 'nσ',
    min: 0.05, max: 10, step: 0.05, initial: 1,
    help: 'Keeps logits within n standard deviations of the max logit. Ignores temperature.',
  },
  {
    key: 'top_k', label: 'Top-k', short: 'k', integer: true,
    min: 1, max: 1000, step: 1, initial: 40, off: 0,
    help: 'Keeps the k most likely tokens.',
  },
  {
    key: 'top_p', label: 'Top-p (nucleus)', short: 'p',
    min: 0.01, max: 1, step: 0.01, initial: 0.9, off: 1,
    help: 'Keeps the most likely tokens until their probability adds up to p.',
  },
  {
    key: 'min_p', label: 'Min-p', short: 'min-p',
    min: 0, max: 1, step: 0.01, initial: 0.1, off: 0,
    help: 'Keeps tokens at least min-p times as likely as the most likely one.',
  },
];

export const SAMPLER_KEYS = SAMPLERS.map((s) => s.key);
const BY_KEY = new Map(SAMPLERS.map((s) => [s.key, s]));
/** A sampler's description by key (own keys only: `constructor` is not a sampler). */
export const samplerInfo = (key) => BY_KEY.get(key);

/**
 * Settings the lab sets once for the whole run that a lane may set for itself, as a CLI
 * lane spec can (`seed=7`, `temperature_position=last`, `penalty_last_n=32`).
 */
export const LANE_OVERRIDES = ['seed', 'temperature_position', 'penalty_last_n'];

/**
 * One lane: its name, its own temperature (null: the run's), its samplers by key
 * (SAMPLER_KEYS; a missing or null value is off), and run-wide settings it overrides
 * (LANE_OVERRIDES, by their lane-spec names).
 * @typedef {object} LaneConfig
 * @property {string} name
 * @property {number | null} [temperature]
 * @property {Record<string, number | null | undefined>} samplers
 * @property {Record<string, number | string>} [overrides]
 * @property {LaneFork} [fork]
 */

/**
 * A fork ("continue from here" in the inspector): the lane starts with `ids` after the
 * prompt (the parent lane's tokens up to the forked step, then the chosen candidate) and
 * decodes on from there with its own sampler and Philox sample index `sample` (its parent's,
 * so the dice continue: docs/DESIGN.md, "Forks"). `parent` is the lane it came from (an
 * index into the run's lanes; null once that lane is gone): where it came from, for the
 * reader; the engine needs only `ids` and `sample`.
 * @typedef {object} LaneFork
 * @property {number | null} parent
 * @property {number} sample
 * @property {number[]} ids
 */

/**
 * A whole run: what the lab's controls, share links and embeds configure.
 * @typedef {object} RunConfig
 * @property {string} prompt
 * @property {boolean} chat
 * @property {number} maxTokens
 * @property {number} seed
 * @property {boolean} sameDice  every lane draws with the same random numbers
 * @property {boolean} inspect   record the distribution behind every token
 * @property {number} temperature
 * @property {'first' | 'last'} temperaturePosition
 * @property {LaneConfig[]} lanes
 */

/** @type {LaneConfig[]} */
export const DEFAULT_LANES = [
  { name: 'Greedy', temperature: 0, samplers: {} },
  { name: 'Top-p 0.9', temperature: null, samplers: { top_p: 0.9 } },
  { name: 'Min-p 0.1', temperature: null, samplers: { min_p: 0.1 } },
];

/** @type {RunConfig} */
export const DEFAULT_RUN = {
  prompt: 'The three primary colors are',
  chat: false,
  maxTokens: 32,
  seed: 42,
  sameDice: true,
  /** Record the distribution behind every token (the inspector opens instantly). */
  inspect: true,
  temperature: 1.0,
  temperaturePosition: 'first',
  lanes: DEFAULT_LANES,
};

export const LIMITS = {
  maxTokens: { min: 1, max: 1024 },
  /** The temperature slider's range (any temperature the engine takes is valid). */
  temperature: { min: 0, max: 3 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  lanes: { min: 1, max: 8 },
  /** Samples of one sampler in the sample tree (lanes of one batched run). */
  treeSamples: { min: 1, max: 64 },
  nameLength: 40,
  promptLength: 8000,
  /** Forced tokens of a fork (the engine also checks them against the vocabulary and the context). */
  forkTokens: 4096,
};

export const TEMPERATURE_POSITIONS = {
  first: 'Scale, then truncate (vLLM, Hugging Face): a hot temperature flattens the distribution and the truncation samplers let more tokens through.',
  last: 'Truncate, then scale (llama.cpp): the truncation sees the model’s own distribution; temperature only reshapes the survivors.',
};

/** The lane's effective temperature: its own override, else the run's shared one. */
export const laneTemperature = (lane, run) =>
  lane.temperature === null || lane.temperature === undefined ? run.temperature : lane.temperature;

/** Whether the lane decodes greedily (temperature 0: nothing else applies). */
export const isGreedy = (lane, run) => laneTemperature(lane, run) === 0;

/** A short human description of a lane's sampler chain, e.g. "T 1.0 · p 0.9". */
export function describeLane(lane, run) {
  const t = laneTemperature(lane, run);
  if (t === 0) return 'greedy (argmax)';
  const parts = [`T ${fmt(t)}${lane.temperature == null ? '' : ' (own)'}`];
  for (const s of SAMPLERS) {
    const v = own(lane.samplers, s.key);
    if (v !== undefined && v !== null && v !== s.off) parts.push(`${s.short} ${fmt(v)}`);
  }
  if (parts.length === 1) parts.push('full distribution');
  for (const k of LANE_OVERRIDES) {
    const v = own(lane.overrides, k);
    if (v !== undefined) parts.push(`${k.replace(/_/g, ' ')} ${typeof v === 'number' ? fmt(v) : v}`);
  }
  return parts.join(' · ');
}

/** `obj[key]` when it is the object's own property (never Object.prototype's). */
const own = (obj, key) => (obj && typeof obj === 'object' && Object.hasOwn(obj, key) ? obj[key] : undefined);

const fmt = (v) => (Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000));

/**
 * @param {string[]} errors
 * @param {string} where
 * @param {unknown} v
 * @param {{min: number, max: number, integer?: boolean}} limits
 */
function checkNumber(errors, where, v, { min, max, integer }) {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    errors.push(`${where} must be a number`);
  } else if (v < min || v > max) {
    errors.push(`${where} must be between ${min} and ${max} (got ${v})`);
  } else if (integer && !Number.isInteger(v)) {
    errors.push(`${where} must be a whole number (got ${v})`);
  }
}

/**
 * @param {string[]} errors
 * @param {string} name  a lane-language parameter
 * @param {unknown} v
 * @param {string} where
 */
function checkLaneParam(errors, name, v, where) {
  const e = checkParam(laneParam(name), v, where);
  if (e) errors.push(e);
}

/** Errors in one lane (an empty list when it is valid). */
export function validateLane(lane, i = 0) {
  const errors = [];
  const where = `lane ${i + 1}`;
  if (typeof lane !== 'object' || lane === null) return [`${where} is not an object`];
  if (typeof lane.name !== 'string' || lane.name.trim() === '') errors.push(`${where} needs a name`);
  else if (lane.name.length > LIMITS.nameLength) errors.push(`${where}: the name is longer than ${LIMITS.nameLength} characters`);
  if (lane.temperature !== null && lane.temperature !== undefined) {
    checkLaneParam(errors, 'temperature', lane.temperature, `${where}: temperature`);
  }
  const samplers = lane.samplers ?? {};
  if (typeof samplers !== 'object' || Array.isArray(samplers)) return [...errors, `${where}: samplers must be an object`];
  for (const [k, v] of Object.entries(samplers)) {
    if (!BY_KEY.has(k)) {
      errors.push(`${where}: unknown sampler "${k.slice(0, 40)}" (known: ${SAMPLER_KEYS.join(', ')})`);
      continue;
    }
    if (v === null || v === undefined) continue;
    checkLaneParam(errors, k, v, `${where}: ${k}`);
  }
  const overrides = lane.overrides ?? {};
  if (typeof overrides !== 'object' || Array.isArray(overrides)) return [...errors, `${where}: overrides must be an object`];
  for (const [k, v] of Object.entries(overrides)) {
    if (!LANE_OVERRIDES.includes(k)) errors.push(`${where}: "${k.slice(0, 40)}" is not a setting a lane can override (known: ${LANE_OVERRIDES.join(', ')})`);
    else checkLaneParam(errors, k, v, `${where}: ${k}`);
  }
  if (lane.fork !== undefined && lane.fork !== null) errors.push(...validateFork(lane.fork, where));
  return errors;
}

const isId = (/** @type {unknown} */ v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 32 - 1;

/**
 * Errors in a lane's fork (the engine checks the ids against the model's vocabulary).
 * @param {any} fork
 * @param {string} where
 */
export function validateFork(fork, where) {
  if (typeof fork !== 'object' || Array.isArray(fork)) return [`${where}: fork must be an object`];
  const errors = [];
  if (!Array.isArray(fork.ids) || fork.ids.length === 0) errors.push(`${where}: a fork needs at least one forced token id`);
  else if (fork.ids.length > LIMITS.forkTokens) errors.push(`${where}: a fork forces at most ${LIMITS.forkTokens} tokens (got ${fork.ids.length})`);
  else {
    const bad = fork.ids.findIndex((id) => !isId(id));
    if (bad >= 0) errors.push(`${where}: forced token ${bad + 1} must be a token id, a whole number ≥ 0 (got ${String(fork.ids[bad]).slice(0, 20)})`);
  }
  if (!isId(fork.sample)) errors.push(`${where}: the fork's sample index must be a whole number ≥ 0 (got ${String(fork.sample).slice(0, 20)})`);
  if (fork.parent !== null && fork.parent !== undefined && !(Number.isInteger(fork.parent) && fork.parent >= 0)) {
    errors.push(`${where}: the fork's parent must be a lane number`);
  }
  return errors;
}

/**
 * Lane `i`'s Philox sample index in `run`: a fork keeps its parent's; other lanes use 0
 * with same dice, else their own index (what the engine's lane_specs does).
 * @param {LaneConfig} lane
 * @param {number} i
 * @param {RunConfig} run
 */
export const laneSampleIndex = (lane, i, run) => (lane.fork ? lane.fork.sample : run.sameDice ? 0 : i);

/**
 * Each run-wide setting's check (errors pushed to the list); validateRun runs them all, and
 * a share link keeps the settings that pass (share.js).
 * @type {Record<string, (run: any, errors: string[]) => void>}
 */
export const RUN_CHECKS = {
  prompt(run, errors) {
    if (typeof run.prompt !== 'string' || run.prompt.length === 0) errors.push('the prompt is empty');
    else if (run.prompt.length > LIMITS.promptLength) errors.push(`the prompt is longer than ${LIMITS.promptLength} characters`);
  },
  chat(run, errors) {
    if (typeof run.chat !== 'boolean') errors.push('"chat template" must be true or false');
  },
  maxTokens(run, errors) {
    checkNumber(errors, 'max tokens', run.maxTokens, { ...LIMITS.maxTokens, integer: true });
  },
  seed(run, errors) {
    checkLaneParam(errors, 'seed', run.seed, 'seed');
  },
  temperature(run, errors) {
    checkLaneParam(errors, 'temperature', run.temperature, 'temperature');
  },
  sameDice(run, errors) {
    if (typeof run.sameDice !== 'boolean') errors.push('"same dice" must be true or false');
  },
  inspect(run, errors) {
    if (typeof run.inspect !== 'boolean') errors.push('"record distributions" must be true or false');
  },
  temperaturePosition(run, errors) {
    if (typeof run.temperaturePosition !== 'string' || !Object.hasOwn(TEMPERATURE_POSITIONS, run.temperaturePosition)) {
      errors.push(`temperature position must be "first" or "last" (got "${String(run.temperaturePosition).slice(0, 40)}")`);
    }
  },
};

/** Errors in a whole run configuration (an empty list when it is valid). */
export function validateRun(run) {
  const errors = [];
  if (typeof run !== 'object' || run === null) return ['the run is not an object'];
  for (const check of Object.values(RUN_CHECKS)) check(run, errors);
  if (!Array.isArray(run.lanes) || run.lanes.length < LIMITS.lanes.min) errors.push('add at least one lane');
  else if (run.lanes.length > LIMITS.lanes.max) errors.push(`at most ${LIMITS.lanes.max} lanes`);
  else run.lanes.forEach((l, i) => errors.push(...validateLane(l, i)));
  return errors;
}

/** A deep copy that is safe to post to the worker and to edit. */
export const cloneRun = (run) => JSON.parse(JSON.stringify(run));

/**
 * The engine's lane spec for a lane of a run (SamplerConfig's text form, e.g.
 * "temperature=1,temperature_position=first,top_p=0.9,seed=42"); "greedy" for T = 0.
 * The repetition penalty's window is the engine's default (penalty_last_n, DESIGN.md).
 * @param {LaneConfig} lane
 * @param {RunConfig} run
 */
export function laneSpec(lane, run) {
  const t = laneTemperature(lane, run);
  if (t === 0) return 'greedy';
  const position = own(lane.overrides, 'temperature_position') ?? run.temperaturePosition;
  const parts = [`temperature=${t}`, `temperature_position=${position}`];
  for (const s of SAMPLERS) {
    const v = own(lane.samplers, s.key);
    if (v !== undefined && v !== null) parts.push(`${s.key}=${v}`);
  }
  const window = own(lane.overrides, 'penalty_last_n');
  if (window !== undefined) parts.push(`penalty_last_n=${window}`);
  parts.push(`seed=${own(lane.overrides, 'seed') ?? run.seed}`);
  return parts.join(',');
}
