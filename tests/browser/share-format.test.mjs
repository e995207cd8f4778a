// The configuration format of share links, embeds and <sampler-compare> (web/share.js):
// round trips on fresh random configurations and the messages for bad input. No browser
// needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, SAMPLERS, validateRun } from '../../web/config.js';
import {
  configFromAttributes, decodeConfig, defaultConfig, embedSnippet, encodeConfig, hasConfig, laneItem, modelLabel, modelUrl, splitParams,
} from '../../web/share.js';
import { MODELS } from '../../web/protocol.js';

const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const int = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
/** Text with the characters an encoding can trip over: & # + % = : , ; newlines, quotes, HTML, emoji. */
const ALPHABET = [...'ab Z09&#+%=:,;?/\\\n\t"\'<>é漢😀~*()[]{}-_.!'];
const text = (n) => Array.from({ length: n }, () => pick(ALPHABET)).join('');
const value = (s) => {
  const steps = Math.round((s.max - s.min) / s.step);
  return Math.round((s.min + int(0, steps) * s.step) * 1e6) / 1e6;
};

function randomConfig() {
  const c = defaultConfig();
  const lanes = Array.from({ length: int(LIMITS.lanes.min, LIMITS.lanes.max) }, (_, i) => {
    const samplers = {};
    for (const s of SAMPLERS) if (Math.random() < 0.35) samplers[s.key] = value(s);
    const temperature = pick([null, null, 0, value({ min: 0.05, max: 3, step: 0.05 })]);
    const name = `${text(int(0, 12))}${i}`.trim() || `lane ${i}`;
    return { name, temperature, samplers };
  });
  Object.assign(c.run, {
    prompt: text(int(1, 200)).trim() || 'x',
    chat: Math.random() < 0.5,
    maxTokens: int(1, 1024),
    seed: int(0, 2 ** 32 - 1),
    sameDice: Math.random() < 0.5,
    inspect: Math.random() < 0.5,
    temperature: value({ min: 0, max: 3, step: 0.05 }),
    temperaturePosition: pick(['first', 'last']),
    lanes,
  });
  if (Math.random() < 0.5) c.model = { url: `https://example.org/${text(5).replace(/\s/g, '')}/m.gguf`, bytes: int(1, 2e9) };
  return c;
}

test('random configurations survive encode → decode unchanged', () => {
  for (let i = 0; i < 300; i++) {
    const c = randomConfig();
    assert.deepEqual(validateRun(c.run), [], 'the generator makes valid runs');
    const encoded = encodeConfig(c);
    const { config, errors } = decodeConfig(`#${encoded}`);
    assert.deepEqual(errors, [], encoded);
    assert.deepEqual(config.run, c.run, encoded);
    assert.deepEqual(config.model, c.model.url ? c.model : { url: null, bytes: null });
    // URLSearchParams (what other tools would use) reads the same values.
    const usp = new URLSearchParams(encoded);
    assert.equal(usp.get('prompt'), c.run.prompt);
    assert.deepEqual(usp.getAll('lane'), c.run.lanes.map(laneItem));
  }
});

test('the encoding stays readable: lane specs in the CLI syntax, spaces as +', () => {
  const s = encodeConfig(defaultConfig());
  assert.equal(s, 'v=1&prompt=The+three+primary+colors+are&chat=0&max_tokens=32&seed=42&temperature=1'
    + '&temperature_position=first&same_dice=1&record=1&lane=Greedy:greedy&lane=Top-p+0.9:top_p=0.9&lane=Min-p+0.1:min_p=0.1');
  const c = defaultConfig();
  c.run.lanes = [{ name: 'Cool', temperature: 0.7, samplers: { top_k: 40, top_p: 0.95 } }, { name: 'Argmax, with top-k', temperature: 0, samplers: { top_k: 5 } }];
  assert.match(encodeConfig(c), /&lane=Cool:temperature=0\.7,top_k=40,top_p=0\.95&lane=Argmax,\+with\+top-k:temperature=0,top_k=5$/);
});

test('view options, missing keys, hyphens and names', () => {
  const c = defaultConfig();
  c.view = { theme: 'dark', editable: true };
  assert.match(encodeConfig(c, { view: true }), /&theme=dark&editable=1$/);
  assert.doesNotMatch(encodeConfig(c), /theme|editable/, 'share links to the lab leave the embed options out');
  const { config, errors } = decodeConfig('#v=1&max-tokens=5&lane=greedy&lane=top_k=40,temperature=0.7&lane=Time: a name:min_p=0.05&theme=light&editable=0');
  assert.deepEqual(errors, []);
  assert.equal(config.run.maxTokens, 5);
  assert.equal(config.run.prompt, defaultConfig().run.prompt, 'a missing key keeps the default');
  assert.deepEqual(config.run.lanes, [
    { name: 'Greedy', temperature: 0, samplers: {} },
    { name: 'Top-k 40 · T 0.7', temperature: 0.7, samplers: { top_k: 40 } },
    { name: 'Time: a name', temperature: null, samplers: { min_p: 0.05 } },
  ]);
  assert.deepEqual(config.view, { theme: 'light', editable: false });
  assert.deepEqual(decodeConfig('#v=1&lane=Plain:').config.run.lanes, [{ name: 'Plain', temperature: null, samplers: {} }], 'an empty spec: no truncation');
  assert.ok(hasConfig('#v=1&prompt=x') && !hasConfig('#inspector') && !hasConfig(''));
});

test('bad configurations give messages that name the parameter', () => {
  const cases = [
    ['', /no configuration/],
    ['#prompt=hi', /no configuration/],
    ['#v=1&lane=x:top_q=0.5', /lane 1: unknown sampler "top_q" \(known: temperature, temperature_position, top_k, top_p, min_p, top_n_sigma, repetition_penalty, penalty_last_n, seed\)/],
    ['#v=1&lane=a:top_p=1.5', /lane 1: top_p = 1\.5: must be in \(0, 1\] \(1 = off\)/],
    ['#v=1&lane=a:top_p=0', /lane 1: top_p = 0: must be in \(0, 1\]/],
    ['#v=1&lane=a:top_k=2.5', /lane 1: top_k = "2\.5": must be an integer in 0\.\.=4294967295 \(0 = off\)/],
    ['#v=1&lane=a:top_k=-1', /lane 1: top_k = "-1": must be an integer/],
    ['#v=1&lane=a:min_p=lots', /lane 1: min_p = "lots": not a number/],
    ['#v=1&lane=a:penalty_last_n=2000', /lane 1: penalty_last_n = 2000: must be an integer in 0\.\.=1024/],
    ['#v=1&lane=a:temperature_position=middle', /lane 1: temperature_position = "middle": must be one of first, last/],
    ['#v=1&lane=a:temperature=inf', /lane 1: temperature = inf: must be finite and ≥ 0/],
    ['#v=1&lane=a:constructor=1', /lane 1: unknown sampler "constructor"/],
    ['#v=1&lane=a:__proto__=1', /lane 1: unknown sampler "__proto__"/],
    ['#v=1&lane=a:toString=1', /lane 1: unknown sampler "toString"/],
    ['#v=1&temperature_position=constructor', /temperature position must be "first" or "last" \(got "constructor"\)/],
    ['#v=1&temperature_position=__proto__', /temperature position must be "first" or "last"/],
    ['#v=1&constructor=1', /unknown parameter "constructor"/],
    ['#v=1&__proto__=1', /unknown parameter "__proto__"/],
    ['#v=1&theme=constructor', /theme must be one of/],
    ['#v=1&lane=a:top_p=0.9,top_p=0.8', /lane 1: top_p is given twice/],
    ['#v=1&lane=a:nucleus', /lane 1: "nucleus" is not key=value or greedy/],
    ['#v=1&temperature=-1', /temperature = -1: must be finite and ≥ 0 \(0 = greedy\)/],
    ['#v=1&temperature=0x10', /temperature must be a number \(got "0x10"\)/],
    ['#v=1&max_tokens=0', /max tokens must be between 1 and 1024/],
    ['#v=1&seed=-1', /seed = -1: must be a non-negative integer/],
    ['#v=1&temperature_position=middle', /temperature position must be "first" or "last"/],
    ['#v=1&chat=maybe', /chat must be 1 or 0/],
    ['#v=1&theme=purple', /theme must be one of auto, light, dark/],
    ['#v=1&prompt=', /the prompt is empty/],
    ['#v=1&prompt=%E0%A4%A', /malformed encoding in prompt/],
    ['#v=1&prompt=%ZZ', /malformed encoding in prompt/],
    ['#v=1&%E0=1', /malformed encoding in a parameter name/],
    ['#v=1&temprature=1', /unknown parameter "temprature"/],
    ['#v=1&seed=1&seed=2', /seed is given twice/],
    ['#v=2&prompt=x', /format 2, made by a newer samplescope; this page reads format 1/],
    ['#v=one', /v must be 1/],
    ['#v=1&model=javascript:alert(1)', /model must be an http\(s\) URL/],
    ['#v=1&model_size=-5', /model_size must be a whole number of bytes/],
    [`#v=1${'&lane=greedy'.repeat(9)}`, /at most 8 lanes/],
  ];
  for (const [input, want] of cases) {
    const { errors } = decodeConfig(input);
    assert.ok(errors.some((e) => want.test(e)), `${input}: ${JSON.stringify(errors)}`);
  }
  // Several problems are all reported, not just the first.
  assert.equal(decodeConfig('#v=1&temperature=-9&lane=a:top_q=1&theme=x').errors.length, 3);
});

test('a strict decoder: broken escapes are errors, not U+FFFD', () => {
  assert.deepEqual(splitParams('a=%E2%82%AC&b=x+y').entries, [['a', '€'], ['b', 'x y']]);
  assert.equal(splitParams('a=%E2%82').errors.length, 1);
});

test('element attributes read like URL keys', () => {
  const attrs = { prompt: null, lanes: 'Greedy:greedy; top_p=0.9\n min_p=0.1 ;', temperature: '1.5', 'max-tokens': '12', chat: '', 'same-dice': '0', theme: 'dark' };
  const { config, errors } = configFromAttributes((n) => attrs[n] ?? null, '  Once upon a time ');
  assert.deepEqual(errors, []);
  assert.equal(config.run.prompt, 'Once upon a time', 'the text is the prompt');
  assert.deepEqual(config.run.lanes.map((l) => l.name), ['Greedy', 'Top-p 0.9', 'Min-p 0.1']);
  assert.equal(config.run.temperature, 1.5);
  assert.equal(config.run.maxTokens, 12);
  assert.equal(config.run.chat, true, 'a bare boolean attribute is on');
  assert.equal(config.run.sameDice, false);
  assert.equal(config.view.theme, 'dark');
  const bad = configFromAttributes((n) => ({ lanes: 'top_q=1', 'max-tokens': 'many' })[n] ?? null);
  assert.ok(bad.errors.some((e) => /unknown sampler "top_q"/.test(e)) && bad.errors.some((e) => /max_tokens must be a number/.test(e)), bad.errors.join('; '));
});

test('the embed snippet escapes the configuration into its attributes', () => {
  const c = defaultConfig();
  c.run.prompt = '"><script>alert(1)</script> & friends';
  c.run.lanes = [{ name: '<b>"quoted"</b>', temperature: 0, samplers: {} }];
  const snippet = embedSnippet('https://example.org/embed.html', c);
  const iframe = snippet.split('\n')[0];
  assert.doesNotMatch(iframe, /<script|<b>/);
  const src = /src="([^"]*)"/.exec(iframe)[1].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  assert.ok(src.startsWith('https://example.org/embed.html#v=1&'));
  const back = decodeConfig(new URL(src).hash);
  assert.deepEqual(back.errors, []);
  assert.deepEqual(back.config.run, c.run);
  assert.match(snippet, /sandbox="allow-scripts allow-same-origin"/);
  assert.match(snippet, /e\.data\.type === 'samplescope:height'/);
});

test('a model the pages offer is named by its id, looked up next to the page', () => {
  const base = 'https://example.org/lab/index.html';
  for (const m of MODELS) {
    const { config, errors } = decodeConfig(`#v=1&model=${m.id}`);
    assert.deepEqual(errors, []);
    assert.equal(modelUrl(config, base), new URL(m.path, base).href);
    assert.deepEqual(modelLabel(config, base), { name: m.name, bytes: m.bytes });
    assert.match(encodeConfig(config), new RegExp(`&model=${m.id}$`));
  }
  // Its path, or any URL, reads as written; a known path still gets the known name.
  const byPath = decodeConfig(`#v=1&model=${MODELS[1].path}`).config;
  assert.deepEqual(modelLabel(byPath, base), { name: MODELS[1].name, bytes: MODELS[1].bytes });
  const other = decodeConfig('#v=1&model=https://host.example/x/my%20model.gguf').config;
  assert.deepEqual(modelLabel(other, base), { name: 'my model.gguf', bytes: null });
  // No model: the default.
  assert.equal(modelUrl(defaultConfig(), base), new URL(MODELS[0].path, base).href);
});
