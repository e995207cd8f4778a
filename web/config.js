// The lab's configuration: lanes, sampler parameters, defaults and validation.
// Shared by the page and the worker (and, later, share links and embeds), so one place
// says what a valid run looks like. Parameter names are the ones DESIGN.md and the
// engine's SamplerConfig use (llama.cpp / vLLM / OpenAI names).

/** The samplers of the chain, in the order they apply (DESIGN.md, "Sampler semantics"). */
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
    min: 1, max: 1000, step: 1, initial: 40,
    help: 'Keeps the k most likely tokens.',
  },
  {
    key: 'top_p', label: 'Top-p (nucleus)', short: 'p',
    min: 0.01, max: 1, step: 0.01, initial: 0.9,
    help: 'Keeps the most likely tokens until their probability adds up to p.',
  },
  {
    key: 'min_p', label: 'Min-p', short: 'min-p',
    min: 0, max: 1, step: 0.01, initial: 0.1,
    help: 'Keeps tokens at least min-p times as likely as the most likely one.',
  },
];

export const SAMPLER_KEYS = SAMPLERS.map((s) => s.key);
const BY_KEY = Object.fromEntries(SAMPLERS.map((s) => [s.key, s]));
export const samplerInfo = (key) => BY_KEY[key];

/** Tokens of history the repetition penalty looks at (DESIGN.md default). */
export const PENALTY_LAST_N = 64;

export const DEFAULT_LANES = [
  { name: 'Greedy', temperature: 0, samplers: {} },
  { name: 'Top-p 0.9', temperature: null, samplers: { top_p: 0.9 } },
  { name: 'Min-p 0.1', temperature: null, samplers: { min_p: 0.1 } },
];

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
  temperature: { min: 0, max: 3 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  lanes: { min: 1, max: 8 },
  nameLength: 40,
  promptLength: 8000,
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
    const v = lane.samplers?.[s.key];
    if (v !== undefined && v !== null && v !== s.off) parts.push(`${s.short} ${fmt(v)}`);
  }
  if (parts.length === 1) parts.push('full distribution');
  return parts.join(' · ');
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000));

function checkNumber(errors, where, v, { min, max, integer }) {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    errors.push(`${where} must be a number`);
  } else if (v < min || v > max) {
    errors.push(`${where} must be between ${min} and ${max} (got ${v})`);
  } else if (integer && !Number.isInteger(v)) {
    errors.push(`${where} must be a whole number (got ${v})`);
  }
}

/** Errors in one lane (an empty list when it is valid). */
export function validateLane(lane, i = 0) {
  const errors = [];
  const where = `lane ${i + 1}`;
  if (typeof lane !== 'object' || lane === null) return [`${where} is not an object`];
  if (typeof lane.name !== 'string' || lane.name.trim() === '') errors.push(`${where} needs a name`);
  else if (lane.name.length > LIMITS.nameLength) errors.push(`${where}: the name is longer than ${LIMITS.nameLength} characters`);
  if (lane.temperature !== null && lane.temperature !== undefined) {
    checkNumber(errors, `${where}: temperature`, lane.temperature, LIMITS.temperature);
  }
  const samplers = lane.samplers ?? {};
  if (typeof samplers !== 'object') return [...errors, `${where}: samplers must be an object`];
  for (const [k, v] of Object.entries(samplers)) {
    const info = BY_KEY[k];
    if (!info) {
      errors.push(`${where}: unknown sampler "${k}" (known: ${SAMPLER_KEYS.join(', ')})`);
      continue;
    }
    if (v === null || v === undefined) continue;
    checkNumber(errors, `${where}: ${k}`, v, info);
  }
  return errors;
}

/** Errors in a whole run configuration (an empty list when it is valid). */
export function validateRun(run) {
  const errors = [];
  if (typeof run.prompt !== 'string' || run.prompt.length === 0) errors.push('the prompt is empty');
  else if (run.prompt.length > LIMITS.promptLength) errors.push(`the prompt is longer than ${LIMITS.promptLength} characters`);
  checkNumber(errors, 'max tokens', run.maxTokens, { ...LIMITS.maxTokens, integer: true });
  checkNumber(errors, 'seed', run.seed, { ...LIMITS.seed, integer: true });
  checkNumber(errors, 'temperature', run.temperature, LIMITS.temperature);
  if (typeof run.inspect !== 'boolean') errors.push('"record distributions" must be true or false');
  if (!(run.temperaturePosition in TEMPERATURE_POSITIONS)) {
    errors.push(`temperature position must be "first" or "last" (got "${run.temperaturePosition}")`);
  }
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
 */
export function laneSpec(lane, run) {
  const t = laneTemperature(lane, run);
  if (t === 0) return 'greedy';
  const parts = [`temperature=${t}`, `temperature_position=${run.temperaturePosition}`];
  for (const s of SAMPLERS) {
    const v = lane.samplers?.[s.key];
    if (v !== undefined && v !== null) parts.push(`${s.key}=${v}`);
  }
  if (lane.samplers?.repetition_penalty !== undefined) parts.push(`penalty_last_n=${PENALTY_LAST_N}`);
  parts.push(`seed=${run.seed}`);
  return parts.join(',');
}
