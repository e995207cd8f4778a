// Property tests of the lane language and the link format (web/lane-params.js,
// web/share.js, web/config.js), no browser: random and hostile text never throws; what
// the readers accept is exactly the engine's ranges (the CLI's: top_k=0 is off); a link
// with a bad lane keeps the rest; valid configurations round-trip. Seeded, so a failure
// reproduces: SAMPLESCOPE_PROPERTY_SEED=N (printed on failure), SAMPLESCOPE_PROPERTY_RUNS=N.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { DEFAULT_RUN, SAMPLERS, laneSpec, validateLane, validateRun } from '../../web/config.js';
import { LANE_PARAMS, checkParam, laneParam, parseLaneSpec } from '../../web/lane-params.js';
import { configFromAttributes, decodeConfig, defaultConfig, encodeConfig, splitParams } from '../../web/share.js';
import { contentLength, describeProbe, modelFileName, probeModel } from '../../web/model-source.js';
import { readStream } from '../../web/loader.js';
import { MAX_MODEL_BYTES } from '../../web/protocol.js';

const SEED = Number(process.env.SAMPLESCOPE_PROPERTY_SEED ?? Date.now() % 1e9);
const RUNS = Number(process.env.SAMPLESCOPE_PROPERTY_RUNS ?? 2000);

/** mulberry32: a small seeded generator. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const PROTO_KEYS = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'prototype', '__defineGetter__'];
const PIECES = [
  ...'ab=,:;&#%+-_. 0123456789eE\n\t\\"\'<>',
  'greedy', 'top_k', 'top_p', 'min_p', 'top_n_sigma', 'temperature', 'seed', 'penalty_last_n', 'temperature_position',
  'repetition_penalty', 'off', 'first', 'last', 'inf', 'NaN', '-0', '1e308', '0x10', '%25zz', '%zz', '%E0%A4%A', '%00', 'v=1', 'lane=',
  '😀', '\u0000', '\ud800', ...PROTO_KEYS,
];
const junk = (n) => Array.from({ length: n }, () => pick(PIECES)).join('');
const where = () => `(seed ${SEED}; rerun with SAMPLESCOPE_PROPERTY_SEED=${SEED})`;

test('random and hostile text never throws from the readers', () => {
  for (let i = 0; i < RUNS; i++) {
    const s = junk(int(0, 30));
    for (const [name, f] of [
      ['parseLaneSpec', () => parseLaneSpec(s)],
      ['decodeConfig', () => decodeConfig(`#v=1&${s}`)],
      ['decodeConfig lane', () => decodeConfig(`#v=1&lane=${s}`)],
      ['decodeConfig raw', () => decodeConfig(s)],
      ['splitParams', () => splitParams(s)],
      ['configFromAttributes', () => configFromAttributes((n) => (n === 'lanes' ? s : n === 'model' ? `https://x/${s}` : null), s)],
      ['modelFileName', () => modelFileName(`https://h/${s}`)],
    ]) {
      try {
        f();
      } catch (e) {
        assert.fail(`${name}(${JSON.stringify(s)}) threw ${e} ${where()}`);
      }
    }
  }
});

test('whatever a link holds, the part the lab keeps is a valid run', () => {
  for (let i = 0; i < RUNS; i++) {
    const enc = (x) => { try { return encodeURIComponent(x); } catch { return x; } }; // a lone surrogate goes in raw
    const lanes = Array.from({ length: int(0, 10) }, () => `lane=${enc(junk(int(0, 6)))}`);
    const text = `#v=1&${lanes.join('&')}&${junk(int(0, 8))}`;
    const { partial, errors } = decodeConfig(text);
    if (!partial) {
      assert.ok(errors.length > 0, `${text}: unreadable without a reason ${where()}`);
      continue;
    }
    assert.deepEqual(validateRun(partial.run), [], `${text} ${where()}`);
    for (const lane of partial.run.lanes) assert.doesNotThrow(() => laneSpec(lane, partial.run));
  }
});

test('an invalid lane is reported and the rest of the link kept', () => {
  const { partial, errors } = decodeConfig('#v=1&prompt=kept&seed=9&lane=A:top_p=0.5&lane=B:top_q=1&lane=C:top_k=0&lane=D:constructor=1&lane=E:min_p=2');
  assert.equal(errors.length, 3, errors.join('; '));
  assert.match(errors.join('; '), /lane 2: unknown sampler "top_q"/);
  assert.match(errors.join('; '), /lane 4: unknown sampler "constructor"/);
  assert.match(errors.join('; '), /lane 5: min_p = 2: must be in \[0, 1\] \(0 = off\)/);
  assert.equal(partial.run.prompt, 'kept');
  assert.equal(partial.run.seed, 9);
  assert.deepEqual(partial.run.lanes.map((l) => l.name), ['A', 'C']);
  // Every lane bad: the defaults' lanes, the rest still kept.
  const none = decodeConfig('#v=1&prompt=kept&lane=x:top_q=1').partial;
  assert.equal(none.run.prompt, 'kept');
  assert.deepEqual(none.run.lanes, DEFAULT_RUN.lanes);
  // A bad run setting goes back to its default alone.
  const bad = decodeConfig('#v=1&prompt=kept&max_tokens=99999&temperature_position=constructor').partial;
  assert.equal(bad.run.prompt, 'kept');
  assert.equal(bad.run.maxTokens, DEFAULT_RUN.maxTokens);
  assert.equal(bad.run.temperaturePosition, DEFAULT_RUN.temperaturePosition);
  // A link in a format this page does not read keeps nothing.
  assert.equal(decodeConfig('#v=2&prompt=x').partial, null);
  assert.equal(decodeConfig('#v=1&prompt=%E0%A4%A').partial, null);
});

test('the page accepts what the CLI accepts: the engine’s ranges, f32 rounding, plain integers', () => {
  const ok = ['', 'greedy', 'top_k=0', 'top_k=4294967295', 'top_p=1', 'top_p=1.00000001', 'min_p=0', 'min_p=1', 'top_n_sigma=off',
    'top_n_sigma=0.001', 'repetition_penalty=0.01', 'repetition_penalty=100', 'temperature=50', 'temperature=0', 'penalty_last_n=0',
    'penalty_last_n=1024', 'top-k=3', 'temperature_position=last', ' top_p = 0.9 , min_p=0.1 ', 'top_p=.5', 'top_p=5e-1', 'top_p=1.'];
  const bad = ['top_k=-1', 'top_k=4294967296', 'top_k=1.5', 'top_k=1e3', 'top_p=0', 'top_p=1e-50', 'top_p=1.001', 'min_p=-0.1', 'min_p=1.01',
    'top_n_sigma=0', 'top_n_sigma=-1', 'repetition_penalty=0', 'temperature=-1', 'temperature=inf', 'temperature=NaN', 'penalty_last_n=1025',
    'seed=-1', 'seed=1.5', 'temperature_position=middle', 'Greedy', 'greedy,temperature=1', 'top_p=0.9,top_p=0.8', 'seed=+7', 'top_q=1', 'constructor=1',
    '__proto__=1', 'top_p', 'top_p=0x1', 'top_p=1,5'];
  for (const s of ok) assert.deepEqual(parseLaneSpec(s).errors, [], s);
  for (const s of bad) assert.ok(parseLaneSpec(s).errors.length > 0, `${s} should be refused`);
  // top_k = 0 means off, as in llama.cpp and vLLM: a lane with it runs.
  const { config, errors } = decodeConfig('#v=1&lane=Off:top_k=0');
  assert.deepEqual(errors, []);
  assert.match(laneSpec(config.run.lanes[0], config.run), /top_k=0/);
  // Own keys only, anywhere a key is looked up.
  for (const k of PROTO_KEYS) {
    assert.equal(laneParam(k), undefined, k);
    assert.ok(validateLane({ name: 'x', samplers: { [k]: 1 } }).length > 0 || k === '__proto__', k);
    assert.ok(validateLane({ name: 'x', samplers: {}, overrides: { [k]: 1 } }).length > 0 || k === '__proto__', k);
    assert.ok(validateRun({ ...DEFAULT_RUN, temperaturePosition: k }).length > 0, k);
  }
  assert.ok(validateLane(JSON.parse('{"name": "x", "samplers": {"__proto__": 5}}')).length > 0, 'a parsed __proto__ key');
});

test('random valid configurations, with lane overrides and off values, round-trip through the link format', () => {
  const value = (p) => {
    if (p.kind === 'word') return pick(p.values);
    if (p.kind === 'int') return int(p.min ?? 0, Math.min(p.max ?? 1e6, 1e6));
    const lo = p.min ?? 0;
    const hi = p.max ?? 10;
    const v = Math.round((lo + rand() * (hi - lo)) * 1000) / 1000;
    return checkParam(p, v) ? hi : v;
  };
  for (let i = 0; i < RUNS / 4; i++) {
    const c = defaultConfig();
    c.run.seed = int(0, 2 ** 32 - 1);
    c.run.temperature = value(laneParam('temperature'));
    c.run.lanes = Array.from({ length: int(1, 8) }, (_, j) => {
      const samplers = {};
      for (const s of SAMPLERS) if (rand() < 0.4) samplers[s.key] = value(laneParam(s.key));
      const lane = { name: `lane ${j}`, temperature: rand() < 0.5 ? null : value(laneParam('temperature')), samplers };
      const overrides = {};
      for (const k of ['seed', 'temperature_position', 'penalty_last_n']) if (rand() < 0.2) overrides[k] = value(laneParam(k));
      if (Object.keys(overrides).length) lane.overrides = overrides;
      if (lane.temperature === 0 && Object.keys(samplers).length === 0 && rand() < 0.5) lane.temperature = 0;
      return lane;
    });
    assert.deepEqual(validateRun(c.run), [], `generated ${where()}`);
    const text = encodeConfig(c);
    const back = decodeConfig(`#${text}`);
    assert.deepEqual(back.errors, [], `${text} ${where()}`);
    assert.deepEqual(back.config.run, c.run, `${text} ${where()}`);
    assert.deepEqual(back.partial.run, c.run);
    // Every lane's engine spec reads back under the lane language's rules.
    for (const lane of c.run.lanes) assert.deepEqual(parseLaneSpec(laneSpec(lane, c.run)).errors, [], laneSpec(lane, c.run));
  }
});

test('the reader uses the Rust parser’s table (web/lane-params.json) and knows every kind in it', async () => {
  const json = JSON.parse(await readFile(new URL('../../web/lane-params.json', import.meta.url), 'utf8'));
  assert.deepEqual(LANE_PARAMS.map((p) => p.name), json.params.map((p) => p.name));
  for (const p of json.params) {
    assert.ok(['float', 'optional_float', 'int', 'word'].includes(p.kind), `${p.name}: kind ${p.kind}`);
    if (p.default !== null && p.kind !== 'word') assert.equal(checkParam(p, Number(p.default)), null, `${p.name}: its default is in range`);
    if (p.kind === 'word') assert.equal(checkParam(p, p.default), null, `${p.name}: its default is one of its words`);
  }
});

test('model names and sizes: broken escapes, Content-Length, the probe and the download cap', async () => {
  assert.equal(modelFileName('https://h/a%25zz.gguf'), 'a%zz.gguf');
  assert.equal(modelFileName('https://h/a%zz.gguf'), 'a%zz.gguf', 'a broken escape is shown as written');
  assert.equal(modelFileName('https://h/dir/m%20x.gguf'), 'm x.gguf');
  const { config, errors } = decodeConfig('#v=1&model=https://h/a%25zz.gguf');
  assert.deepEqual(errors, []);
  const { modelLabel } = await import('../../web/share.js');
  assert.equal(modelLabel(config, 'https://page/').name, 'a%zz.gguf');
  assert.equal(contentLength('123'), 123);
  for (const v of [null, '', '-1', '1e9', '12abc', '99999999999999999']) assert.equal(contentLength(v), null, String(v));

  const head = (status, headers) => async () => new Response(null, { status, headers });
  const big = await probeModel('https://other.example/m.gguf', 'https://page.example/', head(200, { 'Content-Length': String(MAX_MODEL_BYTES + 1) }));
  assert.equal(big.host, 'other.example');
  assert.ok(big.crossOrigin && big.tooBig);
  assert.equal(describeProbe(big).allowed, false);
  assert.match(describeProbe(big).text, /m\.gguf from other\.example is 2\.1 GB \(as other\.example reports it\), over the 2\.1 GB limit/);
  const fine = await probeModel('https://other.example/m.gguf', 'https://page.example/', head(200, { 'Content-Length': '1000' }));
  assert.deepEqual(describeProbe(fine, 5), {
    text: 'm.gguf from other.example is 1.0 KB, as other.example reports it (the link says 5 B); the download stops there.', allowed: true, maxBytes: 1000,
  });
  const failed = await probeModel('https://other.example/m.gguf', 'https://page.example/', async () => { throw new TypeError('Failed to fetch'); });
  assert.equal(failed.bytes, null);
  assert.match(describeProbe(failed).text, /did not report its size \(Failed to fetch\); the download stops at 2\.1 GB/);
  const same = await probeModel('models/m.gguf', 'https://page.example/lab/', head(404, {}));
  assert.equal(same.crossOrigin, false);
  assert.equal(same.url, 'https://page.example/lab/models/m.gguf');

  // A body that runs past its cap stops there, cancelling the stream.
  let cancelled = false;
  let sent = 0;
  const endless = new ReadableStream({
    pull(c) { sent += 1000; c.enqueue(new Uint8Array(1000)); },
    cancel() { cancelled = true; },
  });
  await assert.rejects(readStream(endless, 0, 'download', () => {}, { bytes: 5000, what: 'the size it was announced with' }),
    /passed the size it was announced with of 5\.0 KB and was stopped there/);
  assert.ok(cancelled && sent <= 7000, `stopped after ${sent} bytes`);
  const exact = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(5000)); c.close(); } });
  assert.equal((await readStream(exact, 5000, 'download', () => {}, { bytes: 5000, what: 'x' })).length, 5000);
});
