// @ts-check
// The eval page's form as the core's EvalSpec (src/eval/spec.rs), checked here first so a
// mistake is named next to its field; the core checks everything again (web/worker.js).
// Lane specs use the engine's syntax ("top_p=0.9", "min_p=0.1,temperature=1.5", "greedy"),
// the same text `samplescope eval --lane` takes, read by web/lane-params.js as the CLI reads it.

import { LIMITS } from './config.js';
import { parseLaneSpec } from './lane-params.js';
import { encodeValue } from './share.js';

export const EVAL_LIMITS = {
  level: { min: 1, max: 4 },
  count: { min: 1, max: 10_000 },
  samples: { min: 0, max: 512 },
  lanes: { max: 8 },
  sweep: { max: 12 },
};

export const DEFAULT_EVAL = {
  source: 'builtin',
  level: 1,
  count: 10,
  jsonl: '',
  jsonlName: null,
  verifier: 'numeric',
  regex: '',
  samples: 8,
  maxTokens: 48,
  temperature: 1,
  seed: 0,
  greedy: true,
  lanes: 'top_p=0.9\nmin_p=0.1',
  sweep: '',
};

/** Pure sampling, top-p, min-p and top-nσ over five temperatures (the papers' tables). */
export const SWEEP_PRESET = {
  lanes: 'temperature=1\ntop_p=0.9\nmin_p=0.1\ntop_n_sigma=1',
  sweep: '0.5, 1, 1.5, 2, 3',
};

/**
 * One lane spec line → errors (empty when valid), read by the page's one lane-spec reader
 * (web/lane-params.js, the engine's names and ranges).
 * @param {string} line
 * @param {number} [i]
 */
export function checkLaneSpec(line, i = 0) {
  return parseLaneSpec(line, `configuration ${i + 1}`).errors;
}

/** The lane spec lines of a textarea (blank lines and # comments skipped) and their errors. */
export function parseLanes(text) {
  const specs = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  const errors = specs.flatMap((s, i) => checkLaneSpec(s, i));
  if (specs.length > EVAL_LIMITS.lanes.max) errors.push(`at most ${EVAL_LIMITS.lanes.max} configurations`);
  return { specs, errors };
}

/** "0.5, 1 1.5" → [0.5, 1, 1.5], with errors for anything outside (0, 3]. */
export function parseSweep(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const values = parts.map(Number);
  const errors = [];
  const { max } = LIMITS.temperature;
  parts.forEach((p, i) => {
    if (!Number.isFinite(values[i]) || values[i] <= 0 || values[i] > max) errors.push(`sweep temperature "${p}" must be a number above 0 and at most ${max}`);
  });
  if (new Set(values).size < values.length) errors.push('the sweep lists a temperature twice');
  if (values.length > EVAL_LIMITS.sweep.max) errors.push(`at most ${EVAL_LIMITS.sweep.max} sweep temperatures`);
  return { values, errors };
}

function checkInt(errors, what, v, { min, max }) {
  if (!Number.isInteger(v) || v < min || v > max) errors.push(`${what} must be a whole number from ${min} to ${max}`);
}

/**
 * The form's values → {spec, errors, taskErrors, formErrors}: `spec` is the JSON the
 * core's EvalSpec reads (camelCase fields; see src/eval/spec.rs), present only when there
 * are no errors; `errors` lists the task set's errors, then the other fields'.
 */
export function buildSpec(form) {
  const taskErrors = [];
  let tasks;
  if (form.source === 'builtin') {
    checkInt(taskErrors, 'the level', form.level, EVAL_LIMITS.level);
    checkInt(taskErrors, 'the number of problems', form.count, EVAL_LIMITS.count);
    tasks = { generated: `arithmetic:${form.level}:${form.count}` };
  } else if (form.source === 'jsonl') {
    if (!form.jsonl.trim()) taskErrors.push('paste a JSONL task set or choose a file');
    tasks = { jsonl: { text: form.jsonl, source: form.jsonlName || null } };
  } else {
    taskErrors.push(`unknown task source "${form.source}"`);
  }
  const errors = [];
  let verifier = form.verifier;
  if (verifier === 'regex') {
    if (!form.regex) errors.push('the regex verifier needs a pattern');
    verifier = `regex:${form.regex}`;
  } else if (!['numeric', 'exact', 'contains', 'code'].includes(verifier)) {
    errors.push(`unknown verifier "${verifier}"`);
  }
  checkInt(errors, 'N (samples per task)', form.samples, EVAL_LIMITS.samples);
  checkInt(errors, 'max tokens', form.maxTokens, LIMITS.maxTokens);
  checkInt(errors, 'the seed', form.seed, LIMITS.seed);
  const { min, max } = LIMITS.temperature;
  if (!Number.isFinite(form.temperature) || form.temperature < min || form.temperature > max) {
    errors.push(`the temperature must be from ${min} to ${max}`);
  }
  const lanes = parseLanes(form.lanes);
  const sweep = parseSweep(form.sweep);
  errors.push(...lanes.errors, ...sweep.errors);
  if (form.samples > 0 && lanes.specs.length === 0) errors.push('add a sampler configuration, or set N to 0 to run greedy only');
  if (form.samples === 0 && !form.greedy) errors.push('nothing to run: N is 0 and greedy is off');
  const all = { errors: [...taskErrors, ...errors], taskErrors, formErrors: errors };
  if (all.errors.length) return all;
  const spec = {
    tasks,
    lanes: lanes.specs,
    temperature: form.temperature,
    sweep: sweep.values,
    seed: form.seed,
    samples: form.samples,
    maxTokens: form.maxTokens,
    verifier,
    greedy: form.greedy,
  };
  return { spec, ...all };
}

/** The `samplescope eval` command that runs the same spec natively (same numbers). */
export function cliCommand(spec, jsonPath = 'report.json') {
  const q = (s) => (/^[\w.,:=@%+/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const tasks = spec.tasks.generated ?? (spec.tasks.jsonl.source || 'tasks.jsonl');
  const args = ['samplescope', 'eval', '--tasks', q(tasks), '--samples', spec.samples];
  for (const l of spec.lanes) args.push('--lane', q(l));
  args.push('--temperature', spec.temperature);
  if (spec.sweep.length) args.push('--sweep', spec.sweep.join(','));
  args.push('--seed', spec.seed, '--max-tokens', spec.maxTokens, '--verifier', q(spec.verifier));
  if (!spec.greedy) args.push('--no-greedy');
  args.push('--json', q(jsonPath));
  return args.join(' ');
}

// ---- share links ---------------------------------------------------------------------------
//
// The eval page's link carries its form in the fragment, in the CLI's terms:
//   eval.html#v=1&tasks=arithmetic:1:10&samples=8&lane=top_p=0.9&lane=min_p=0.1
//     &temperature=1[&sweep=0.5,1,1.5]&seed=0&max_tokens=48&verifier=numeric&greedy=1
// A pasted JSONL task set goes in as `jsonl=TEXT` up to EVAL_LINK_JSONL characters (a
// larger one, or one from a file, stays out: the link then says `tasks=jsonl` and the page
// asks for the set). Opening a link fills the form; the form's own checks judge the values.

/** The longest pasted task set a link carries. */
export const EVAL_LINK_JSONL = 4000;

/**
 * The form as a link's fragment (no leading '#'); `complete` is false when the task set
 * could not go in.
 * @param {typeof DEFAULT_EVAL} form
 * @returns {{params: string, complete: boolean}}
 */
export function evalLinkParams(form) {
  const p = new URLSearchParams();
  p.set('v', '1');
  let complete = true;
  if (form.source === 'builtin') p.set('tasks', `arithmetic:${form.level}:${form.count}`);
  else if (form.jsonl.length <= EVAL_LINK_JSONL && !form.jsonlName) p.set('jsonl', form.jsonl);
  else {
    p.set('tasks', 'jsonl');
    complete = false;
  }
  p.set('samples', String(form.samples));
  for (const l of parseLanes(form.lanes).specs) p.append('lane', l);
  p.set('temperature', String(form.temperature));
  if (form.sweep.trim()) p.set('sweep', parseSweep(form.sweep).values.join(','));
  p.set('seed', String(form.seed));
  p.set('max_tokens', String(form.maxTokens));
  p.set('verifier', form.verifier === 'regex' ? `regex:${form.regex}` : form.verifier);
  p.set('greedy', form.greedy ? '1' : '0');
  // The lab's link encoding (share.js): lane specs and task names stay readable.
  return { params: [...p].map(([k, v]) => `${k}=${encodeValue(v)}`).join('&'), complete };
}

/** Whether a fragment is an eval link. */
export const isEvalLink = (/** @type {string} */ hash) => /^#?v=1(&|$)/.test(hash);

/**
 * An eval link's fragment → the form it describes (missing keys at the defaults) and what
 * could not be read. Values stay as given: the form's checks name what is wrong with them.
 * @param {string} hash
 * @returns {{form: typeof DEFAULT_EVAL, errors: string[]}}
 */
export function evalFormFromLink(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const form = { ...DEFAULT_EVAL };
  const errors = [];
  const num = (/** @type {string} */ v) => (v.trim() === '' ? NaN : Number(v));
  for (const [k, v] of p) {
    if (k === 'v' || k === 'lane') continue;
    if (k === 'tasks') {
      const m = /^arithmetic:(\d+):(\d+)$/.exec(v);
      if (m) Object.assign(form, { source: 'builtin', level: Number(m[1]), count: Number(m[2]) });
      else if (v === 'jsonl') Object.assign(form, { source: 'jsonl', jsonl: '' });
      else errors.push(`tasks must be arithmetic:LEVEL:COUNT or jsonl, not "${v.slice(0, 60)}"`);
    } else if (k === 'jsonl') Object.assign(form, { source: 'jsonl', jsonl: v });
    else if (k === 'samples') form.samples = num(v);
    else if (k === 'temperature') form.temperature = num(v);
    else if (k === 'sweep') form.sweep = v.split(',').join(', ');
    else if (k === 'seed') form.seed = num(v);
    else if (k === 'max_tokens') form.maxTokens = num(v);
    else if (k === 'verifier') {
      const regex = v.startsWith('regex:');
      form.verifier = regex ? 'regex' : v;
      form.regex = regex ? v.slice('regex:'.length) : '';
    } else if (k === 'greedy') form.greedy = v !== '0';
    else errors.push(`unknown key "${k.slice(0, 40)}"`);
  }
  if (p.has('lane')) form.lanes = p.getAll('lane').join('\n');
  return { form, errors };
}
