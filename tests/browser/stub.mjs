// A stand-in for web/worker.js that speaks its protocol without an engine or a GPU, for
// the tests of the page itself (rendering, safety, lane editing). `text` goes into every
// name, token and note the page shows.

/**
 * Serves the stub in place of web/worker.js for every page of `context`. It answers the
 * real protocol with the real dispatcher (it imports web/protocol.js's `serve`, and maps its
 * inspection with web/inspect-view.js), over a fake engine. A run writes `tokens` at once,
 * unless `paced` = {startMs, stepMs} asks for the engine's timing: the engine starts startMs
 * after the request, clears its stop flag as it starts (as src/web.rs does), then writes a
 * token per lane every stepMs up to the run's maxTokens; stopped, it ends every lane after
 * the step in flight, as "cancelled".
 */
export async function routeStubWorker(context, { text = 'x', tokens = ['a', 'b'], paced = null } = {}) {
  const body = `
import { serve, stopOnCancel } from './protocol.js';
import { inspectorView } from './inspect-view.js';
const TEXT = ${JSON.stringify(text)};
const TOKENS = ${JSON.stringify(tokens)};
const PACED = ${JSON.stringify(paced)};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const engine = { stopped: false, stop() { this.stopped = true; } };
const runs = new Map();
serve(self, {
  async init() {
    return { name: TEXT, variant: 'row', features: [TEXT], maxStorageBinding: 1e9, software: true };
  },
  async load({ source }, ctx) {
    ctx.event({ kind: 'progress', phase: 'download', loaded: 1, total: 2, rate: 1 });
    const load = { copy: 1, parse: 1, plan: 1, pipelines: 1, weights: 1, bind: 1, tokenizer: 1, gpu: 1, total: 8 };
    return { name: TEXT, kind: source.kind, fromCache: false, times: { read: 1, total: 9 }, facts: {
      name: TEXT, architecture: TEXT, parameters: 1, quantTypes: { [TEXT]: 1 }, contextLength: 8, contextAllocated: 8,
      vocab: 3, layers: 1, embedding: 1, fileBytes: 2, weightBytes: 1, kvBytes: 1, load, hasChatTemplate: true } };
  },
  async run({ id, run }, ctx) {
    runs.set(id, run);
    if (!PACED) {
      run.lanes.forEach((_, lane) => {
        ctx.event({ kind: 'lane-start', lane, promptTokens: 1 });
        TOKENS.forEach((textDelta, step) => ctx.event({ kind: 'token', lane, step, tokenId: step, textDelta, eog: false, record: null }));
        ctx.event({ kind: 'lane-end', lane, tokens: TOKENS.length, tokPerS: 1, stop: 'max_tokens', message: lane === 1 ? TEXT : undefined });
      });
      return { stopped: false };
    }
    const check = stopOnCancel(() => engine.stop(), ctx);
    await sleep(PACED.startMs);
    run.lanes.forEach((_, lane) => ctx.event({ kind: 'lane-start', lane, promptTokens: 1 }));
    engine.stopped = false;
    for (let step = 0; ; step++) {
      await sleep(PACED.stepMs);
      const stop = engine.stopped ? 'cancelled' : step + 1 >= run.maxTokens ? 'max_tokens' : null;
      run.lanes.forEach((_, lane) => {
        check();
        ctx.event({ kind: 'token', lane, step, tokenId: step, textDelta: TOKENS[step % TOKENS.length], eog: false, record: null });
        if (stop) ctx.event({ kind: 'lane-end', lane, tokens: step + 1, tokPerS: 1, stop });
      });
      if (stop) return { stopped: stop === 'cancelled' };
    }
  },
  async inspect({ runId, lane, step }) {
    const c = (id, text, kept) => ({ id, text, logit: 3 - id, prob_before: 0.5 / (id + 1), prob_after: kept ? 0.6 : 0, kept });
    const record = { token: 0, survivors: 2, in_play: 3, max_logit: 3, token_logit: 3, token_prob: 0.5, step, greedy: false, sigma: null, top_k: null, top_p: null, min_p: 1.5 };
    const ins = {
      lane, record, candidates: [c(0, TEXT, true), c(1, TOKENS.join(''), true), c(2, 'x', false)],
      histogram: [1, 1, 1], hist_lo: 0, hist_hi: 3, survivors: 2, kept_mass: 0.6, thresholds: [{ key: 'min_p', logit: 1.5, prob: 0.2 }],
    };
    const laneCfg = runs.get(runId)?.lanes[lane] ?? { name: TEXT, samplers: {} };
    return { view: inspectorView(ins, laneCfg, 'engine'), chosen: 0 };
  },
});`;
  await context.route('**/web/worker.js', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/javascript',
      // The page is cross-origin isolated (COEP), so its worker script must be too.
      headers: { 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' },
      body,
    }));
}

/** Records every message the page posts to its worker in window.__posted. */
export async function recordWorkerMessages(page) {
  await page.addInitScript(() => {
    window.__posted = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (msg, ...rest) {
      try {
        window.__posted.push(JSON.parse(JSON.stringify(msg)));
      } catch {
        window.__posted.push({ type: msg?.type, unclonable: true });
      }
      return post.call(this, msg, ...rest);
    };
  });
}
