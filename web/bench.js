// @ts-check
// The benchmark page (www/bench.html): in one browser session, our engine (the lab's worker
// and wasm, on WebGPU) and wllama (llama.cpp compiled to wasm, on CPU threads) on the same
// GGUF, the same prompt tokens and the same number of greedy tokens. `cargo xtask bench`
// opens it headless with ?auto=1 and reads `window.benchResult` once <body data-bench> is
// "done" (or "error"). Both engines are measured by the same definitions:
//   load     a fresh engine (new worker / new Wllama) until the model is ready, the model
//            bytes coming from the browser's cache (filled before the first run);
//   prefill  prompt tokens / the engine's own prompt time (forward pass + first token);
//   decode   (tokens − 1) × lanes / the time from the first token to the last;
//   TTFT     (ours) from posting the request to hearing of the first token;
//   first token after load  the first request after a load (the prompt, 2 tokens), from
//            the call to the engine's first-token callback (wllama: its stream's onData):
//            what a reader waits for once the model is in;
//   load phases  where the load went: ours from the worker and the engine (web/load-times.js),
//            wllama's from its own steps (the model from its cache, then its logger's marks:
//            "Calling wllamaStart..." after the worker and wasm, "Loading model..." before
//            llama.cpp reads the model).

import { $, h, replace, fillFacts } from './ui/dom.js';
import { loadModelBytes } from './loader.js';
import { EngineClient } from './engine-client.js';
import { DEFAULT_MODEL, DEFAULT_N_CTX, MODELS } from './protocol.js';
import { loadPhases, loadSummary } from './load-times.js';

/** The bench's model: `?model=ID` (protocol.js's MODELS), the default model otherwise. */
let MODEL_URL = DEFAULT_MODEL.path;
/** wllama's ES module, wasm and package.json, copied from node_modules by build-web. */
const WLLAMA_DIR = 'bench-assets/wllama/';
/** wllama-webgpu: wllama asked to put every layer on WebGPU, to check which of its settings is best. */
const ENGINES = ['samplescope', 'wllama', 'wllama-webgpu'];

/**
 * The prompt: ordinary prose, 149 tokens for SmolLM2, cut to `promptTokens` tokens. Greedy
 * decoding continues it for well over 128 tokens without an end-of-text token.
 */
export const PROMPT =
  'The old lighthouse stood on a rocky point at the northern end of the island, where the cold current met the ' +
  'warmer water of the bay. For more than a century its keepers had climbed the narrow spiral stairs each evening ' +
  'to light the lamp, trim the wick and polish the great glass lens that threw the beam far out over the sea. ' +
  'Ships coming home from the fishing grounds watched for that light through rain and fog, and the families in ' +
  'the village below learned to read the weather from the way it flickered. When the last keeper retired, the ' +
  'town council met in the school hall to decide what should become of the tower, and after a long and sometimes ' +
  'heated debate they agreed to turn it into a small museum about the history of the';

/** The run's settings from the page's query string; throws with a readable message. */
export function parseOptions(search) {
  const q = new URLSearchParams(search);
  const int = (key, fallback, min, max) => {
    const raw = q.get(key);
    if (raw === null || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${key}=${raw}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  const list = (key, fallback) => (q.get(key) ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
  const lanes = list('lanes', '1,3,16').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 128) throw new Error(`lanes: "${s}" is not a lane count from 1 to 128`);
    return n;
  });
  const engines = list('engines', 'samplescope,wllama');
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`engines: unknown engine "${e}" (known: ${ENGINES.join(', ')})`);
  const modelId = q.get('model') ?? DEFAULT_MODEL.id;
  const model = MODELS.find((m) => m.id === modelId);
  if (!model) throw new Error(`model: unknown model "${modelId}" (known: ${MODELS.map((m) => m.id).join(', ')})`);
  if (!lanes.length) throw new Error('lanes: give at least one lane count');
  if (!engines.length) throw new Error('engines: give at least one engine');
  return {
    runs: int('runs', 3, 1, 20),
    promptTokens: int('promptTokens', 128, 1, 140),
    tokens: int('tokens', 128, 2, 512),
    lanes,
    engines,
    threads: int('threads', 2, 1, 16),
    auto: q.get('auto') === '1',
    model,
  };
}

/** Median, min and max (as the native bench's Stat), over the finite values. */
export function stat(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = v.length;
  const median = n === 0 ? NaN : n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return { median, min: n ? v[0] : NaN, max: n ? v[n - 1] : NaN, runs: n };
}

const abs = (path) => new URL(path, document.baseURI).href;

/** The adapter's name as the lab shows it (SwiftShader reports only vendor and architecture). */
const adapterLabel = (a) => a.name || a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unnamed adapter';

function log(line) {
  const el = $('log');
  el.textContent += `${line}\n`;
  el.scrollTop = el.scrollHeight;
  console.log(`bench: ${line}`);
}

// ---- our engine ----------------------------------------------------------------------------

/**
 * One `bench` request; adds ttftMs, the time until the first token, on this page's clock.
 * @param {EngineClient} engine
 * @param {import('./protocol.js').BenchParams} params
 */
async function measure(engine, params) {
  let ttftMs = NaN;
  const t = performance.now();
  const r = await engine.bench(params, () => { ttftMs = performance.now() - t; }).done;
  return { ...r, ttftMs };
}

/**
 * One measurement's figures.
 * @param {Awaited<ReturnType<typeof measure>>} r
 * @param {number} lanes
 */
function figures(r, lanes) {
  const produced = r.tokens.reduce((a, n) => a + Math.max(0, n - 1), 0);
  const decodeS = (r.lastMs - r.firstMs) / 1000;
  return {
    lanes,
    prefill_tok_s: r.promptIds.length / (r.prefillMs / 1000),
    ttft_ms: r.ttftMs,
    decode_tok_s: decodeS > 0 ? produced / decodeS : NaN,
    tokens: Math.min(...r.tokens),
    stops: [...new Set(r.stops)],
  };
}

/** Fills the browser cache with the model, so every measured load reads it from there. */
async function oursSetup() {
  log('samplescope: putting the model in the browser cache');
  await loadModelBytes({ kind: 'url', url: abs(MODEL_URL) }, () => {});
  return { runs: [], adapter: null, prompt: null };
}

/** One run of our engine: a fresh worker, load, a warm-up, then each lane count. */
async function oursRun(ctx, opts, r) {
  const url = abs(MODEL_URL);
  const t0 = performance.now();
  const w = new EngineClient();
  try {
    const adapter = await w.start().catch((e) => { throw new Error(`WebGPU: ${e.message}`); });
    ctx.adapter = { ...adapter, label: adapterLabel(adapter) };
    const loaded = await w.load({ kind: 'url', url }, undefined, DEFAULT_N_CTX).catch((e) => { throw new Error(`loading the model: ${e.message}`); });
    const loadMs = performance.now() - t0;
    const phases = loadPhases(loaded.times, loaded.facts.load);
    log(`samplescope run ${r + 1}: ${loadSummary(loadMs, phases)} (${loaded.fromCache ? 'from the browser cache' : 'downloaded'})`);
    // The first request after the load is also the warm-up (the native bench warms up
    // before it measures): a reader's first wait.
    const cold = await measure(w, { prompt: PROMPT, promptTokens: opts.promptTokens, maxTokens: 2, lanes: 1 });
    log(`samplescope run ${r + 1}: first token after load ${cold.ttftMs.toFixed(0)} ms`);
    const byLanes = [];
    for (const b of opts.lanes) {
      const m = await measure(w, { prompt: PROMPT, promptTokens: opts.promptTokens, maxTokens: opts.tokens, lanes: b });
      ctx.prompt = { text: m.prompt, ids: m.promptIds };
      const f = figures(m, b);
      byLanes.push(f);
      const short = f.tokens < opts.tokens ? ` — only ${f.tokens} tokens (${f.stops.join(', ')})` : '';
      log(`samplescope run ${r + 1}, B = ${b}: prefill ${f.prefill_tok_s.toFixed(2)} tok/s, first token ${f.ttft_ms.toFixed(0)} ms, decode ${f.decode_tok_s.toFixed(2)} tok/s${short}`);
    }
    ctx.runs.push({ load_ms: loadMs, load_phases: Object.fromEntries(phases), first_token_ms: cold.ttftMs, from_cache: loaded.fromCache, lanes: byLanes });
  } finally {
    w.terminate();
  }
}

/** Each load phase's stat over the runs, `[{phase, median, min, max, runs}]` in the order they ran. */
function phaseStats(runs) {
  return Object.keys(runs[0]?.load_phases ?? {}).map((phase) => ({ phase, ...stat(runs.map((run) => run.load_phases[phase])) }));
}

function oursSummary(ctx, opts) {
  const { runs } = ctx;
  const lanes = opts.lanes.map((b, i) => {
    const per = runs.map((run) => run.lanes[i]);
    return {
      lanes: b,
      prefill_tok_s: stat(per.map((p) => p.prefill_tok_s)),
      ttft_ms: stat(per.map((p) => p.ttft_ms)),
      decode_tok_s: stat(per.map((p) => p.decode_tok_s)),
      min_tokens: Math.min(...per.map((p) => p.tokens)),
    };
  });
  return {
    engine: 'samplescope',
    adapter: ctx.adapter,
    prompt_tokens: ctx.prompt?.ids.length ?? 0,
    decode_tokens: opts.tokens,
    load_ms: stat(runs.map((run) => run.load_ms)),
    load_phases: phaseStats(runs),
    first_token_ms: stat(runs.map((run) => run.first_token_ms)),
    prefill_tok_s: lanes[0].prefill_tok_s,
    ttft_ms: lanes[0].ttft_ms,
    prefill_lanes: lanes[0].lanes,
    decode: lanes,
    runs,
    prompt: ctx.prompt,
  };
}

/** The prompt (text and ids) from our tokenizer when our engine does not run (wllama alone). */
async function promptFromOurs(opts) {
  const w = new EngineClient();
  try {
    await w.start().catch((e) => { throw new Error(`WebGPU (needed for the tokenizer): ${e.message}`); });
    await w.load({ kind: 'url', url: abs(MODEL_URL) }).catch((e) => { throw new Error(`loading the model: ${e.message}`); });
    const m = await measure(w, { prompt: PROMPT, promptTokens: opts.promptTokens, maxTokens: 2, lanes: 1 });
    return { text: m.prompt, ids: m.promptIds };
  } finally {
    w.terminate();
  }
}

// ---- wllama --------------------------------------------------------------------------------

/** Imports wllama from bench-assets and fills its model cache. */
async function wllamaSetup(webgpu) {
  const pkg = await fetch(abs(`${WLLAMA_DIR}package.json`));
  if (!pkg.ok) {
    throw new Error(`${WLLAMA_DIR}package.json: HTTP ${pkg.status}; wllama is copied there from node_modules by \`cargo xtask build-web\` after \`npm ci\``);
  }
  const version = (await pkg.json()).version;
  const { Wllama } = await import(new URL(`../${WLLAMA_DIR}index.js`, import.meta.url).href);
  // llama.cpp's own lines about threads and backends, kept as evidence of what ran.
  const evidence = [];
  const keep = (...a) => {
    const line = a.join(' ');
    if (/multithread|n_threads|system_info|webgpu|offload/i.test(line) && evidence.length < 12) evidence.push(line.trim());
  };
  const logger = {
    debug: keep,
    log: keep,
    warn: (...a) => log(`wllama warning: ${a.join(' ')}`),
    error: (...a) => log(`wllama error: ${a.join(' ')}`),
  };
  const paths = { default: abs(`${WLLAMA_DIR}wllama.wasm`) };
  log(`wllama ${version}: putting the model in its cache`);
  await new Wllama(paths, { logger }).modelManager.getModelOrDownload({ url: abs(MODEL_URL) });
  const devices = webgpu ? await wllamaDevices(Wllama, paths) : ['CPU'];
  if (webgpu) log(`wllama-webgpu: llama.cpp puts the layers on ${devices.join(', ')}`);
  return { Wllama, version, logger, paths, evidence, webgpu, devices, threads: 0, runs: [] };
}

/**
 * Where llama.cpp puts the layers when asked to offload them all: one load with debug logs
 * (which the measured runs do not pay for). On a software adapter it may keep them on the CPU.
 */
async function wllamaDevices(Wllama, paths) {
  const devices = new Set();
  const keep = (...a) => {
    const m = a.join(' ').match(/assigned to device (\S+)/);
    if (m) devices.add(m[1].replace(/,$/, ''));
  };
  const wl = new Wllama(paths, { logger: { debug: keep, log: keep, warn: keep, error: keep } });
  try {
    await wl.loadModelFromUrl(abs(MODEL_URL), { n_gpu_layers: 999, n_ctx: 256, log_level: 1, useCache: true });
  } finally {
    await wl.exit();
  }
  return devices.size ? [...devices] : ['unknown'];
}

/**
 * One run of wllama: a fresh instance, load, a warm-up, then one greedy completion of our
 * prompt's text. Its completion API takes text, not ids; llama.cpp's tokenizer gives the ids
 * ours does (README: ours matches llama.cpp on every reference prompt), and the prompt
 * token count it reports is checked. Its best settings here: llama.cpp's CPU backend on
 * `threads` threads, the prompt in one batch; with `webgpu`, every layer on WebGPU instead
 * (its default where the browser has WebGPU).
 */
async function wllamaRun(ctx, opts, prompt, r) {
  const { Wllama, logger, paths, webgpu } = ctx;
  const name = webgpu ? 'wllama-webgpu' : 'wllama';
  const params = { n_threads: opts.threads, n_gpu_layers: webgpu ? 999 : 0, n_ctx: 1024, useCache: true };
  // wllama's loadModelFromUrl, step by step: its cache, then loadModel, timed by its logger.
  const marks = { wasm: NaN, start: NaN };
  const marking = { ...logger, debug: (...a) => {
    const line = a.join(' ');
    if (line.includes('Calling wllamaStart')) marks.wasm = performance.now();
    if (line.includes('Loading model...')) marks.start = performance.now();
    logger.debug(...a);
  } };
  const t0 = performance.now();
  const wl = new Wllama(paths, { logger: marking });
  try {
    const model = await wl.modelManager.getModelOrDownload({ url: abs(MODEL_URL) }, params);
    const blobs = await model.open();
    const read = performance.now();
    await wl.loadModel(blobs, params);
    const loadMs = performance.now() - t0;
    const phases = [['read', read - t0], ['wasm', marks.wasm - read], ['start', marks.start - marks.wasm], ['model', t0 + loadMs - marks.start]];
    log(`${name} run ${r + 1}: ${loadSummary(loadMs, /** @type {[string, number][]} */ (phases))}`);
    ctx.threads = wl.isMultithread() ? wl.getNumThreads() : 1;
    if (ctx.threads !== opts.threads) {
      throw new Error(`wllama runs on ${ctx.threads} thread(s), not ${opts.threads} (crossOriginIsolated = ${self.crossOriginIsolated}: multi-threading needs COOP same-origin and COEP require-corp)`);
    }
    const complete = (text, n) =>
      wl.createCompletion({ prompt: text, max_tokens: n, n_predict: n, temperature: 0, ignore_eos: true, cache_prompt: false });
    let firstMs = NaN;
    const tc = performance.now();
    await wl.createCompletion({ prompt: prompt.text, max_tokens: 2, n_predict: 2, temperature: 0, ignore_eos: true, cache_prompt: false, stream: true,
      onData: () => { if (Number.isNaN(firstMs)) firstMs = performance.now() - tc; } });
    log(`${name} run ${r + 1}: first token after load ${firstMs.toFixed(0)} ms`);
    const res = await complete(prompt.text, opts.tokens);
    const t = res.timings;
    if (!t) throw new Error('wllama returned no timings');
    if (t.prompt_n !== prompt.ids.length || t.predicted_n !== opts.tokens) {
      throw new Error(`wllama evaluated ${t.prompt_n} prompt tokens and generated ${t.predicted_n} (expected ${prompt.ids.length} and ${opts.tokens})`);
    }
    const run = {
      load_ms: loadMs,
      load_phases: Object.fromEntries(phases),
      first_token_ms: firstMs,
      prefill_tok_s: t.prompt_n / (t.prompt_ms / 1000),
      decode_tok_s: (t.predicted_n - 1) / (t.predicted_ms / 1000),
      text: res.choices?.[0]?.text ?? '',
    };
    ctx.runs.push(run);
    log(`${name} run ${r + 1}: load ${loadMs.toFixed(0)} ms, prefill ${run.prefill_tok_s.toFixed(2)} tok/s, decode ${run.decode_tok_s.toFixed(2)} tok/s (${ctx.threads} threads)`);
  } finally {
    await wl.exit();
  }
}

function wllamaSummary(ctx, prompt, opts) {
  return {
    engine: ctx.webgpu ? 'wllama-webgpu' : 'wllama',
    version: ctx.version,
    llama_cpp: ctx.Wllama.getLibllamaVersion?.() ?? '',
    threads: ctx.threads,
    thread_log: ctx.evidence,
    backend: ctx.webgpu ? `WebGPU asked for all layers, llama.cpp put them on ${ctx.devices.join(', ')}` : 'wasm CPU',
    layer_devices: ctx.devices,
    prompt_tokens: prompt.ids.length,
    decode_tokens: opts.tokens,
    load_ms: stat(ctx.runs.map((r) => r.load_ms)),
    load_phases: phaseStats(ctx.runs),
    first_token_ms: stat(ctx.runs.map((r) => r.first_token_ms)),
    prefill_tok_s: stat(ctx.runs.map((r) => r.prefill_tok_s)),
    decode_tok_s: stat(ctx.runs.map((r) => r.decode_tok_s)),
    runs: ctx.runs,
  };
}

// ---- the page ------------------------------------------------------------------------------

const fmt = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

function renderResults(result) {
  const rows = [];
  const row = (engine, measure, s, unit, digits = 2) =>
    rows.push(h('tr', {}, h('td', {}, engine), h('td', {}, measure), h('td', {}, `${fmt(s.median, digits)} ${unit}`),
      h('td', {}, `${fmt(s.min, digits)} – ${fmt(s.max, digits)}`), h('td', {}, String(s.runs))));
  const phaseRow = (engine, phases) => rows.push(h('tr', {}, h('td', {}, engine), h('td', {}, 'load phases (medians, ms)'),
    h('td', { colspan: '3' }, phases.map((p) => `${p.phase} ${fmt(p.median, 0)}`).join(' · '))));
  const ours = result.samplescope;
  if (ours) {
    const name = `samplescope (${ours.adapter?.label ?? 'WebGPU'})`;
    row(name, 'load', ours.load_ms, 'ms', 0);
    phaseRow(name, ours.load_phases);
    row(name, 'first token after load', ours.first_token_ms, 'ms', 0);
    row(name, `prefill ${ours.prompt_tokens} tokens`, ours.prefill_tok_s, 'tok/s');
    row(name, 'time to first token', ours.ttft_ms, 'ms', 0);
    for (const d of ours.decode) row(name, `decode B = ${d.lanes}${d.lanes > 1 ? ' (aggregate)' : ''}`, d.decode_tok_s, 'tok/s');
  }
  for (const wl of [result.wllama, result.wllama_webgpu].filter(Boolean)) {
    const name = `wllama ${wl.version} (${wl.backend}, ${wl.threads} threads)`;
    row(name, 'load', wl.load_ms, 'ms', 0);
    phaseRow(name, wl.load_phases);
    row(name, 'first token after load', wl.first_token_ms, 'ms', 0);
    row(name, `prefill ${wl.prompt_tokens} tokens`, wl.prefill_tok_s, 'tok/s');
    row(name, 'decode B = 1', wl.decode_tok_s, 'tok/s');
  }
  for (const e of result.errors) {
    rows.push(h('tr', {}, h('td', {}, e.engine), h('td', { className: 'err', colspan: '4' }, e.message)));
  }
  replace($('results').tBodies[0], ...rows);
  const r = result.ratios;
  replace($('ratios'), r
    ? `ours / wllama: decode B = 1 ${fmt(r.decode, 2)}×, prefill ${fmt(r.prefill, 2)}×, load time ${fmt(r.load_time, 2)}×` +
      (Number.isFinite(r.decode_b16) ? `; decode B = 16 aggregate ${fmt(r.decode_b16, 2)}× wllama's single stream` : '')
    : '');
}

function ratios(ours, wl) {
  if (!ours || !wl) return null;
  const b1 = ours.decode.find((d) => d.lanes === 1);
  const b16 = ours.decode.find((d) => d.lanes === 16);
  return {
    decode: b1 ? b1.decode_tok_s.median / wl.decode_tok_s.median : NaN,
    prefill: ours.prefill_tok_s.median / wl.prefill_tok_s.median,
    load_time: ours.load_ms.median / wl.load_ms.median,
    decode_b16: b16 ? b16.decode_tok_s.median / wl.decode_tok_s.median : NaN,
  };
}

async function run(opts) {
  const body = document.body.dataset;
  body.bench = 'running';
  $('start').disabled = true;
  const result = {
    options: opts,
    browser: { userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency },
    samplescope: null,
    wllama: null,
    wllama_webgpu: null,
    ratios: null,
    errors: [],
  };
  const failed = (engine, e) => {
    log(`${engine} failed: ${e.message}`);
    result.errors.push({ engine, message: e.message });
  };
  const t0 = performance.now();
  // Set-up, then the engines take turns run by run (always in this order), so that a
  // machine whose load drifts over the minutes treats them alike.
  const order = ENGINES.filter((e) => opts.engines.includes(e));
  const ctx = {};
  for (const e of order) {
    try {
      ctx[e] = e === 'samplescope' ? await oursSetup() : await wllamaSetup(e === 'wllama-webgpu');
    } catch (err) {
      failed(e, err);
    }
  }
  let prompt = null;
  for (let r = 0; r < opts.runs; r++) {
    for (const e of order.filter((e) => ctx[e] && !ctx[e].failed)) {
      try {
        if (e === 'samplescope') {
          await oursRun(ctx[e], opts, r);
          prompt ??= ctx[e].prompt;
        } else {
          prompt ??= await promptFromOurs(opts);
          await wllamaRun(ctx[e], opts, prompt, r);
        }
      } catch (err) {
        failed(e, err);
        ctx[e].failed = true; // its remaining runs would fail the same way
      }
    }
  }
  for (const e of order.filter((e) => ctx[e]?.runs.length)) {
    result[e.replace('-', '_')] = e === 'samplescope' ? oursSummary(ctx[e], opts) : wllamaSummary(ctx[e], prompt, opts);
  }
  result.ratios = ratios(result.samplescope, result.wllama);
  result.seconds = (performance.now() - t0) / 1000;
  renderResults(result);
  /** @type {any} */ (window).benchResult = result;
  log(`done in ${result.seconds.toFixed(0)} s${result.errors.length ? ` with ${result.errors.length} error(s)` : ''}`);
  body.bench = result.errors.length ? 'error' : 'done';
  $('start').disabled = false;
}

function main() {
  const chip = $('isolation-chip');
  chip.textContent = self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  chip.dataset.state = self.crossOriginIsolated ? 'ok' : 'missing';
  let opts;
  try {
    opts = parseOptions(location.search);
    MODEL_URL = opts.model.path;
  } catch (e) {
    log(`bad setup: ${e.message}`);
    /** @type {any} */ (window).benchResult = { errors: [{ engine: 'page', message: e.message }] };
    document.body.dataset.bench = 'error';
    $('start').disabled = true;
    return;
  }
  fillFacts($('setup'), [
    ['engines', opts.engines.join(', ')],
    ['model', MODEL_URL],
    ['prompt', `${opts.promptTokens} tokens of prose, the same tokens for both engines`],
    ['decode', `${opts.tokens} greedy tokens; our engine at B = ${opts.lanes.join(', ')} lanes, wllama one stream`],
    ['wllama threads', String(opts.threads)],
    ['runs', String(opts.runs)],
    ['cores', String(navigator.hardwareConcurrency)],
  ]);
  $('start').addEventListener('click', () => run(opts));
  if (opts.auto) run(opts);
}

main();
