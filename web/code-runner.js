// @ts-check
// The page's side of the code verifier: runs the Python programs of code tasks (the core's
// harness texts, src/eval/code.rs) one at a time in a dedicated Pyodide worker
// (web/code-worker.js), never in the page's own context. Each program has a time limit
// (the CLI's default wall clock); past it the worker is terminated — the only way to stop
// a program that loops — and the verdict is a timeout; the next program gets a fresh
// worker. The worker, and with it Pyodide's ~13 MB, is fetched on the first program.

/** The time one program may take, as the CLI's default (`Limits::default().wall`). */
export const CODE_TIME_LIMIT_MS = 10_000;
/** Loading Pyodide (a ~10 MB wasm, the standard library) may take this long. */
const LOAD_LIMIT_MS = 120_000;

/**
 * A run's outcome in the core's RunOutcome shape (src/eval/code.rs).
 * @typedef {{exit: {code: number} | 'timeout', stdout: string, stderr: string}} RunOutcome
 */

export class CodeRunner {
  /** @param {{timeLimitMs?: number}} [opts] */
  constructor({ timeLimitMs = CODE_TIME_LIMIT_MS } = {}) {
    this.timeLimitMs = timeLimitMs;
    /** @type {Worker | null} */
    this.worker = null;
    /** @type {Promise<Worker> | null} */
    this.ready = null;
    /** Workers started (each start loads Pyodide), and ended at the time limit. */
    this.started = 0;
    this.timeouts = 0;
  }

  /**
   * Runs `programs` in order: one outcome each.
   * @param {string[]} programs
   * @param {(done: number, total: number) => void} [onProgress]
   * @returns {Promise<RunOutcome[]>}
   */
  async run(programs, onProgress) {
    /** @type {RunOutcome[]} */
    const outcomes = [];
    for (const program of programs) {
      outcomes.push(await this.runOne(program));
      onProgress?.(outcomes.length, programs.length);
    }
    return outcomes;
  }

  /**
   * @param {string} program
   * @returns {Promise<RunOutcome>}
   */
  async runOne(program) {
    const worker = await this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.stop();
        this.timeouts += 1;
        resolve({ exit: 'timeout', stdout: '', stderr: '' });
      }, this.timeLimitMs);
      const onMessage = (/** @type {MessageEvent} */ e) => {
        const m = e.data;
        if (m.type === 'result') {
          cleanup();
          resolve(m.outcome);
        } else if (m.type === 'error') {
          cleanup();
          this.stop();
          reject(new Error(`the code sandbox failed: ${m.message}`));
        }
      };
      const onError = (/** @type {ErrorEvent} */ e) => {
        cleanup();
        this.stop();
        reject(new Error(`the code sandbox failed: ${e.message || 'worker error'}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
      };
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
      worker.postMessage({ type: 'run', id: 0, program });
    });
  }

  /** A worker with Pyodide loaded (started when there is none). */
  start() {
    if (this.ready) return this.ready;
    const worker = new Worker(new URL('./code-worker.js', import.meta.url), { type: 'module', name: 'samplescope-code' });
    this.worker = worker;
    this.started += 1;
    this.ready = new Promise((resolve, reject) => {
      const fail = (/** @type {string} */ why) => {
        if (this.worker === worker) this.stop();
        reject(new Error(`Pyodide (the page's Python) could not load: ${why}`));
      };
      const timer = setTimeout(() => fail(`no answer in ${LOAD_LIMIT_MS / 1000} s`), LOAD_LIMIT_MS);
      worker.addEventListener('message', (e) => {
        if (e.data.type === 'ready') {
          clearTimeout(timer);
          resolve(worker);
        } else if (e.data.type === 'error' && this.worker === worker && e.data.id === undefined) {
          clearTimeout(timer);
          fail(e.data.message);
        }
      });
      worker.addEventListener('error', (e) => {
        clearTimeout(timer);
        fail(e.message || 'the worker did not start');
      }, { once: true });
    });
    // A failed start is not kept: the next run tries again.
    this.ready.catch(() => {});
    worker.postMessage({ type: 'load' });
    return this.ready;
  }

  /** Ends the worker (a run in it ends with it); the next run starts a fresh one. */
  stop() {
    this.worker?.terminate();
    this.worker = null;
    this.ready = null;
  }
}
