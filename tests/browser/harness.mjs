// Shared set-up for the browser tests: Debian's chromium driven by playwright-core (never a
// browser download), headless, WebGPU on SwiftShader, a fresh profile per launch.
// `cargo xtask test` serves www/ and sets the environment; see xtask/src/browser.rs.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const env = {
  url: process.env.SAMPLESCOPE_URL,
  chromium: process.env.SAMPLESCOPE_CHROMIUM || '/usr/bin/chromium',
  artifacts: process.env.SAMPLESCOPE_ARTIFACTS || 'target/browser-artifacts',
  prompt: process.env.SAMPLESCOPE_PROMPT,
  maxTokens: Number(process.env.SAMPLESCOPE_MAX_TOKENS || 32),
};

/** The native CLI the page is checked against: $SAMPLESCOPE_CLI, or the debug build. */
export const CLI = resolve(process.env.SAMPLESCOPE_CLI || join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'samplescope'));

/**
 * Runs the native CLI with `args` (in `cwd`, if given) and resolves with its stdout. It
 * rejects with the command line, the exit code and both outputs when the CLI fails.
 */
export function runCli(args, { cwd } = {}) {
  return new Promise((ok, fail) => {
    const child = spawn(CLI, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => fail(new Error(`cannot run ${CLI}: ${e.message} (build it with cargo build --bin samplescope)`)));
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`${CLI} ${args.join(' ')} exited with ${code}:\n${out}${err}`))));
  });
}

/** Why a test cannot run outside `cargo xtask test`, or null. */
export const skipReason = env.url ? null : 'SAMPLESCOPE_URL is not set: run the browser tests with `cargo xtask test`';

/** docs/DESIGN.md: WebGPU on SwiftShader in headless Chromium. */
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A headless Chromium with a fresh profile (Playwright passes it as --user-data-dir); the
 * profile lives until `close()`, so reloads keep Cache Storage.
 */
export async function launch({ webgpu = true } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'samplescope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : [])],
    viewport: { width: 1360, height: 940 },
  });
  const logs = [];
  const watch = (page) => {
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    page.on('worker', (w) => w.on('console', (m) => logs.push(`[worker ${m.type()}] ${m.text()}`)));
  };
  context.on('page', watch);
  for (const p of context.pages()) watch(p);
  return {
    context,
    logs,
    profile,
    async page() {
      const p = context.pages()[0] ?? (await context.newPage());
      return p;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until <body data-KEY> is one of `values`; returns it. */
export async function waitForBody(page, key, values, timeout) {
  await page.waitForFunction(
    ([k, vs]) => vs.includes(document.body.dataset[k]),
    [key, values],
    { timeout, polling: 250 },
  );
  return page.evaluate((k) => document.body.dataset[k], key);
}

export async function screenshot(page, name) {
  await mkdir(env.artifacts, { recursive: true });
  const path = join(env.artifacts, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Writes the page's and worker's console to an artifact (read it when a test fails). */
export async function saveLogs(browser, name) {
  await mkdir(env.artifacts, { recursive: true });
  await writeFile(join(env.artifacts, name), browser.logs.join('\n') + '\n');
}

/**
 * Measurement hygiene for the 'longtask' check on a small, shared machine (Linux only):
 * this browser's GPU process (every thread) goes to nice 10 and the page renderers' main
 * threads to nice −10 (when we may raise priorities, i.e. as root; CI runs as root).
 *
 * Chromium runs its GPU process at nice −8 because on a real machine it only feeds the
 * GPU. Under SwiftShader that process *is* the GPU: its compute threads then starve the
 * page's main thread on two cores, and 'longtask' entries measure the scheduler, not the
 * page. With these priorities a main-thread task takes about its own time again, as it
 * would with the shaders running on a GPU. Returns how many threads it changed.
 */
export async function deprioritizeGpuProcess(browser) {
  if (process.platform !== 'linux') return 0;
  const procs = new Map(); // pid → {ppid, cmd}
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(pid), { ppid, cmd });
    } catch {
      // the process ended meanwhile
    }
  }
  const ours = (pid) => {
    for (let p = pid, depth = 0; p > 1 && depth < 8; p = procs.get(p)?.ppid ?? 0, depth++) {
      if (procs.get(p)?.cmd.includes(`--user-data-dir=${browser.profile}`)) return true;
    }
    return false;
  };
  const renice = (tid, nice) => {
    try {
      setPriority(tid, nice);
      return 1;
    } catch {
      return 0; // ended meanwhile, or not allowed to raise a priority
    }
  };
  let n = 0;
  for (const [pid, { cmd }] of procs) {
    if (!ours(pid)) continue;
    if (cmd.includes('--type=gpu-process')) {
      for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) n += renice(Number(tid), 10);
    } else if (cmd.includes('--type=renderer') && !cmd.includes('--top-chrome-webui')) {
      n += renice(pid, -10); // the main thread only: the engine's worker thread stays at 0
    }
  }
  return n;
}
