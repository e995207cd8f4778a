// The worker protocol (web/protocol.js) and its one client (web/engine-client.js), end to
// end in node: the client talks to `serve` through a stand-in Worker, with handlers over a
// fake engine that, like the real one, clears its stop flag when a run begins. No browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError, serve, stopOnCancel } from '../../web/protocol.js';
import { EngineClient } from '../../web/engine-client.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

/** A stand-in engine: `generate` writes a step per tick and ends after a step once stopped. */
class FakeEngine {
  stopFlag = false;
  starts = 0;
  async generate(steps, onEvent) {
    this.starts += 1;
    this.stopFlag = false; // as src/web.rs does when a run begins
    for (let step = 0; step < steps; step++) {
      await tick();
      onEvent(step);
      if (this.stopFlag) return 'cancelled';
    }
    return 'max_tokens';
  }
  stop() {
    this.stopFlag = true;
  }
}

/** Handlers as web/worker.js writes them, over `engine`. */
const handlers = (engine) => ({
  async run({ steps }, ctx) {
    const check = stopOnCancel(() => engine.stop(), ctx);
    const tokens = [];
    const stop = await engine.generate(steps, (step) => {
      check();
      tokens.push(step);
      ctx.event({ kind: 'token', step });
    });
    return { stopped: stop === 'cancelled', tokens: tokens.length };
  },
  async fail() {
    throw new EngineError('invalid', 'lane 2: top_p must be between 0.01 and 1');
  },
  async crash() {
    throw new Error('boom');
  },
});

/** A client whose worker is `serve(handlers)` in this process; records what it posts. */
function connect(h) {
  const posted = [];
  globalThis.Worker = class {
    constructor() {
      this.listeners = { message: [], error: [] };
      this.scope = { onmessage: null, postMessage: (m) => setTimeout(() => this.emit('message', { data: structuredClone(m) })) };
      serve(this.scope, h);
    }
    addEventListener(type, f) { this.listeners[type].push(f); }
    emit(type, ev) { for (const f of this.listeners[type]) f(ev); }
    postMessage(m) {
      posted.push(structuredClone(m));
      setTimeout(() => this.scope.onmessage({ data: structuredClone(m) }));
    }
    terminate() {}
  };
  return { client: new EngineClient(), posted };
}

test('each request gets its own id, its events and one result', async () => {
  const { client, posted } = connect(handlers(new FakeEngine()));
  const seen = { a: [], b: [] };
  const a = client.request('run', { steps: 3 }, (e) => seen.a.push(e.step));
  const b = client.request('run', { steps: 2 }, (e) => seen.b.push(e.step));
  assert.notEqual(a.id, b.id);
  assert.deepEqual(await a.done, { stopped: false, tokens: 3 });
  assert.deepEqual(await b.done, { stopped: false, tokens: 2 });
  assert.deepEqual(seen, { a: [0, 1, 2], b: [0, 1] });
  assert.deepEqual(posted.map((m) => [m.type, m.id]), [['run', a.id], ['run', b.id]]);
});

test('errors reject with the protocol’s code and message', async () => {
  const { client } = connect(handlers(new FakeEngine()));
  await assert.rejects(client.request('fail', {}).done, (e) => e instanceof EngineError && e.code === 'invalid' && /top_p/.test(e.message));
  await assert.rejects(client.request('crash', {}).done, (e) => e.code === 'failed' && e.message === 'boom');
  await assert.rejects(client.request('nonsense', {}).done, (e) => e.code === 'unknown-request');
  // The queue goes on after failures.
  assert.deepEqual(await client.request('run', { steps: 1 }).done, { stopped: false, tokens: 1 });
});

test('cancel stops its own request after the step in flight, and no other', async () => {
  const engine = new FakeEngine();
  const { client, posted } = connect(handlers(engine));
  const a = client.request('run', { steps: 50 }, (e) => { if (e.step === 2) a.cancel(); });
  const b = client.request('run', { steps: 5 });
  const r = await a.done;
  assert.equal(r.stopped, true);
  assert.ok(r.tokens >= 3 && r.tokens < 50, `stopped after ${r.tokens} tokens`);
  assert.deepEqual(await b.done, { stopped: false, tokens: 5 }, 'the next request is not cancelled');
  assert.deepEqual(posted.filter((m) => m.type === 'cancel'), [{ type: 'cancel', id: a.id }], 'one cancel, naming its request');
});

test('a cancel that arrives before its run started still wins, sent once', async () => {
  const engine = new FakeEngine();
  const { client, posted } = connect(handlers(engine));
  const first = client.request('run', { steps: 20 });
  const queued = client.request('run', { steps: 500 });
  queued.cancel(); // reaches the worker while `first` runs; the engine clears its flag when `queued` begins
  assert.deepEqual(await first.done, { stopped: false, tokens: 20 });
  const r = await queued.done;
  assert.equal(r.stopped, true);
  assert.ok(r.tokens >= 1 && r.tokens <= 2, `stopped after ${r.tokens} tokens`);
  assert.equal(posted.filter((m) => m.type === 'cancel').length, 1);
  // Cancelling a finished request sends nothing.
  first.cancel();
  assert.equal(posted.filter((m) => m.type === 'cancel').length, 1);
});

test('a worker that fails before it answers fails every request', async () => {
  const { client } = connect(handlers(new FakeEngine()));
  const r = client.request('run', { steps: 100 });
  client.worker.emit('error', { message: 'SyntaxError in worker.js' });
  await assert.rejects(r.done, (e) => e.code === 'init-failed' && /could not start: SyntaxError/.test(e.message));
  await assert.rejects(client.request('run', { steps: 1 }).done, (e) => e.code === 'init-failed');
});

test('runWithModel: runs take turns and a queued run that is cancelled never starts', async () => {
  const engine = new FakeEngine();
  const h = handlers(engine);
  let loads = 0;
  h.init = async () => ({ name: 'fake' });
  h.load = async ({ source }, ctx) => {
    loads += 1;
    ctx.event({ kind: 'progress', phase: 'download', loaded: 1, total: 1, rate: 1 });
    return { facts: { name: source.url }, fromCache: false, name: 'm', kind: 'url' };
  };
  h.run = async ({ run }, ctx) => {
    const check = stopOnCancel(() => engine.stop(), ctx);
    const stop = await engine.generate(run.maxTokens, (step) => {
      check();
      ctx.event({ kind: 'token', lane: 0, step, tokenId: step, textDelta: 'x', eog: false, record: null });
    });
    return { stopped: stop === 'cancelled' };
  };
  const { client } = connect(h);
  globalThis.navigator ??= {};
  const hadGpu = 'gpu' in globalThis.navigator;
  if (!hadGpu) Object.defineProperty(globalThis.navigator, 'gpu', { value: {}, configurable: true });
  try {
    const events = [];
    const a = client.runWithModel({ maxTokens: 3 }, 'm.gguf', { onToken: (e) => events.push(['a', e.step]) });
    const waiting = [];
    const b = client.runWithModel({ maxTokens: 3 }, 'm.gguf', { onWaiting: () => waiting.push('b'), onStart: () => events.push(['b', 'start']) });
    const c = client.runWithModel({ maxTokens: 3 }, 'm.gguf', { onToken: (e) => events.push(['c', e.step]) });
    b.cancel();
    assert.deepEqual(await a.done, { stopped: false });
    assert.deepEqual(await b.done, { stopped: true });
    assert.deepEqual(await c.done, { stopped: false });
    assert.deepEqual(waiting, ['b']);
    assert.equal(b.id, null, 'the cancelled run never went to the worker');
    assert.deepEqual(events, [['a', 0], ['a', 1], ['a', 2], ['c', 0], ['c', 1], ['c', 2]]);
    assert.equal(loads, 1, 'the model loads once');
    assert.equal(engine.starts, 2);
  } finally {
    if (!hadGpu) delete globalThis.navigator.gpu;
  }
});
