// @ts-check
// The page's code verifier: a dedicated module worker that runs the Python programs of code
// tasks (the harness text the Rust core builds, src/eval/code.rs, the same the CLI runs with
// python3) in Pyodide, served from the site (www/pyodide, copied from npm's `pyodide`).
// web/code-runner.js starts it only when code samples need running, and ends it with
// worker.terminate() past the time limit: that is what stops a sample that loops; a fresh
// worker takes the next program.
//
// Messages in: {type: 'load'} → {type: 'ready'}; {type: 'run', id, program} →
// {type: 'result', id, outcome: {exit: {code: N}, stdout, stderr}} (the core's RunOutcome);
// failures → {type: 'error', id, message}.
//
// What a run gets here, against the CLI's sandbox (src/native/pyrun.rs):
// - the wasm heap is capped (HEAP_CAP, as the CLI's 512 MiB address space): growing past it
//   fails, so an endless allocation ends in MemoryError;
// - `os._exit(n)` ends the run as a process exit would (what it wrote after is dropped);
//   Pyodide's own would end the interpreter for good;
// - stdin is at end of file; the working directory is a fresh one in Pyodide's in-memory
//   file system, removed afterwards; Pyodide has no sockets or processes to reach;
// - programs run one after another in one interpreter: what one changes in the builtins,
//   the imported modules or the working directory is put back before the next.

import { loadPyodide } from '../pyodide/pyodide.mjs';

/** The wasm heap's cap, as the CLI's memory limit (Limits::default's memory_bytes). */
const HEAP_CAP = 512 * 2 ** 20;
/**
 * Bytes of stdout's and stderr's start kept, and of stdout's end (the CLI's TAIL_BYTES,
 * where the status line is). Less than the CLI's 64 KiB start: the verdict reads only the
 * status, and an import holds every distinct sample's outcome at once.
 */
const OUTPUT_BYTES = 4096;
const TAIL_BYTES = 4096;

// Before Pyodide makes its memory: a grow past the cap fails, which Python's allocator
// reports as MemoryError (emscripten treats a failed grow as out of memory).
const grow = WebAssembly.Memory.prototype.grow;
WebAssembly.Memory.prototype.grow = function (pages) {
  if (this.buffer.byteLength + pages * 65536 > HEAP_CAP) throw new RangeError('samplescope: the code sandbox’s memory cap');
  return grow.call(this, pages);
};

/** Python run once after loading: the exit hook and what each run restores. */
const SETUP = `
import builtins as _b, os as _o, shutil as _sh, sys as _s, tempfile as _t

class _SsExit(BaseException):
    pass

def _ss_exit(code):
    _ss_exited(int(code))
    raise _SsExit(code)

def _ss_before():
    global _ss_state
    d = _t.mkdtemp(prefix="samplescope-py-")
    _ss_state = (dict(_b.__dict__), set(_s.modules), _o.getcwd(), d, _s.stdout, _s.stderr, _s.stdin)
    _o._exit = _ss_exit
    _o.chdir(d)

def _ss_after():
    builtins, modules, cwd, d, out, err, inp = _ss_state
    _s.stdout, _s.stderr, _s.stdin = out, err, inp
    _b.__dict__.clear()
    _b.__dict__.update(builtins)
    for m in set(_s.modules) - modules:
        del _s.modules[m]
    _o._exit = _ss_exit
    _o.chdir(cwd)
    _sh.rmtree(d, ignore_errors=True)
`;

/** One stream's capture: its first OUTPUT_BYTES, then its last `tail` bytes (as the CLI's). */
class Capture {
  /** @param {number} tail */
  constructor(tail) {
    this.tail = tail;
    /** @type {Uint8Array[]} */
    this.head = [];
    this.headLen = 0;
    /** @type {Uint8Array[]} */
    this.end = [];
    this.endLen = 0;
    this.cut = 0;
  }

  /** @param {Uint8Array} bytes */
  write(bytes) {
    let chunk = bytes;
    if (this.headLen < OUTPUT_BYTES) {
      const take = Math.min(chunk.length, OUTPUT_BYTES - this.headLen);
      this.head.push(chunk.slice(0, take));
      this.headLen += take;
      chunk = chunk.subarray(take);
    }
    if (chunk.length) {
      this.end.push(chunk.slice());
      this.endLen += chunk.length;
      while (this.end.length && this.endLen - this.end[0].length >= this.tail) {
        const first = /** @type {Uint8Array} */ (this.end.shift());
        this.endLen -= first.length;
        this.cut += first.length;
      }
    }
    return bytes.length;
  }

  text() {
    const end = concat(this.end).subarray(-this.tail || this.endLen);
    const cut = this.cut + this.endLen - end.length;
    const dec = new TextDecoder();
    return dec.decode(concat(this.head)) + (cut > 0 ? `\n[… ${cut} bytes not kept …]\n` : '') + dec.decode(end);
  }
}

/** @param {Uint8Array[]} parts */
function concat(parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** @type {any} */
let py = null;
/** The run in progress: its streams, and where os._exit was first called. */
/** @type {{out: Capture, err: Capture, exit: {code: number, stdout: string} | null} | null} */
let current = null;

async function load() {
  const indexURL = new URL('../pyodide/', import.meta.url).href;
  const p = await loadPyodide({ indexURL, fullStdLib: false });
  p.setStdout({ write: (/** @type {Uint8Array} */ b) => current?.out.write(b) ?? b.length });
  p.setStderr({ write: (/** @type {Uint8Array} */ b) => current?.err.write(b) ?? b.length });
  // End of file, as the CLI's stdin.
  p.setStdin({ stdin: () => null });
  p.globals.set('_ss_exited', (/** @type {number} */ code) => {
    if (current && !current.exit) current.exit = { code, stdout: current.out.text() };
  });
  p.runPython(SETUP);
  return p;
}

/**
 * Runs one harness program: how it ended and its output, as the CLI's runner reports them.
 * @param {string} program
 */
function run(program) {
  current = { out: new Capture(TAIL_BYTES), err: new Capture(0), exit: null };
  const run = current;
  py.runPython('_ss_before()');
  let code = 0;
  try {
    const globals = py.runPython('dict()');
    try {
      py.runPython(program, { globals, filename: 'harness.py' });
    } finally {
      globals.destroy();
    }
  } catch (e) {
    // An exception that left the program: as python3 does, its traceback and exit status 1.
    if (!run.exit) {
      run.err.write(new TextEncoder().encode(String(/** @type {any} */ (e)?.message ?? e)));
      code = 1;
    }
  } finally {
    current = null;
    py.runPython('_ss_after()');
  }
  // After os._exit nothing more reaches the output, as after a process's exit.
  const stdout = run.exit ? run.exit.stdout : run.out.text();
  return { exit: { code: run.exit ? run.exit.code : code }, stdout, stderr: run.err.text() };
}

self.addEventListener('message', async (/** @type {MessageEvent} */ e) => {
  const { type, id, program } = e.data;
  try {
    if (type === 'load') {
      py ??= await load();
      self.postMessage({ type: 'ready' });
    } else if (type === 'run') {
      py ??= await load();
      self.postMessage({ type: 'result', id, outcome: run(program) });
    }
  } catch (err) {
    self.postMessage({ type: 'error', id, message: err instanceof Error ? err.message : String(err) });
  }
});
