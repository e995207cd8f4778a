// A stand-in for web/worker.js that speaks its protocol without an engine or a GPU, for
// the tests of the page itself (rendering, safety, lane editing). `text` goes into every
// name, token and note the page shows.

/**
 * Serves the stub in place of web/worker.js for every page of `context`. A run writes
 * `tokens` at once and ignores `stop`, unless `paced` = {startMs, stepMs} asks for the
 * engine's timing: the run starts startMs after its request (as one queued behind another
 * request does), clears the cancel flag as it starts (as the engine does, src/web.rs), then
 * writes a token per lane every stepMs up to the run's maxTokens, and after `stop` ends
 * every lane at the next step, as "cancelled".
 */
export async function routeStubWorker(context, { text = 'x', tokens = ['a', 'b'], paced = null } = {}) {
  const body = `
const TEXT = ${JSON.stringify(text)};
const TOKENS = ${JSON.stringify(tokens)};
const PACED = ${JSON.stringify(paced)};
let cancel = false;
function pacedRun({ runId, run }) {
  setTimeout(() => {
    run.lanes.forEach((_, lane) => postMessage({ type: 'lane-start', runId, lane }));
    cancel = false;
    let step = 0;
    const timer = setInterval(() => {
      const stop = cancel ? 'cancelled' : step + 1 >= run.maxTokens ? 'max_tokens' : null;
      run.lanes.forEach((_, lane) => {
        postMessage({ type: 'token', runId, lane, step, tokenId: step, textDelta: TOKENS[step % TOKENS.length], record: null });
        if (stop) postMessage({ type: 'lane-end', runId, lane, tokens: step + 1, ms: 1, tokPerS: 1, stop });
      });
      step += 1;
      if (!stop) return;
      clearInterval(timer);
      postMessage({ type: 'run-end', runId, stopped: stop === 'cancelled' });
    }, PACED.stepMs);
  }, PACED.startMs);
}
self.onmessage = ({ data: m }) => {
  if (m.type === 'stop') {
    cancel = true;
  } else if (m.type === 'run' && PACED) {
    pacedRun(m);
  } else if (m.type === 'init') {
    postMessage({ type: 'ready', adapter: { name: TEXT, variant: 'row', features: [TEXT], maxStorageBinding: 1e9, software: true } });
  } else if (m.type === 'load') {
    postMessage({ type: 'progress', phase: 'download', loaded: 1, total: 2, rate: 1 });
    postMessage({ type: 'loaded', name: TEXT, kind: 'url', fromCache: false, facts: {
      name: TEXT, architecture: TEXT, parameters: 1, quantTypes: { [TEXT]: 1 }, contextLength: 8, contextAllocated: 8,
      vocab: 3, layers: 1, embedding: 1, fileBytes: 2, weightBytes: 1, kvBytes: 1, loadMs: 1, hasChatTemplate: true } });
  } else if (m.type === 'run') {
    const { runId } = m;
    m.run.lanes.forEach((_, lane) => {
      postMessage({ type: 'lane-start', runId, lane });
      TOKENS.forEach((textDelta, step) => postMessage({ type: 'token', runId, lane, step, tokenId: step, textDelta, record: null }));
      postMessage({ type: 'lane-end', runId, lane, tokens: TOKENS.length, ms: 1, tokPerS: 1, stop: 'max_tokens', message: lane === 1 ? TEXT : undefined });
    });
    postMessage({ type: 'run-end', runId, stopped: false });
  } else if (m.type === 'inspect') {
    const c = (id, text, survivor) => ({ id, rank: id, text, logit: 3 - id, z: 3 - id, pre: 0.5 / (id + 1), post: survivor ? 0.6 : 0, survivor });
    postMessage({ type: 'inspection', runId: m.runId, lane: m.lane, step: m.step, chosen: 0, analysis: {
      candidates: [c(0, TEXT, true), c(1, TOKENS.join(''), true), c(2, 'x', false)],
      thresholds: [{ key: 'min_p', label: TEXT, logit: 1.5, prob: 0.2, kept: 2 }],
      survivors: 2, vocab: 3, greedy: false, histogram: { edges: [0, 1, 2, 3], counts: [1, 1, 1] } } });
  }
};`;
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
