// Drives the benchmark page (www/bench.html) in headless Chromium, the same browser set-up as
// the browser tests (harness.mjs), and returns the page's `window.benchResult`. Not a test:
// `cargo xtask bench` runs it as a script, and bench.test.mjs imports `runBenchPage` for its
// quick check of the page.
//
//   node tests/browser/bench-run.mjs --url http://127.0.0.1:PORT/ --out results/browser.json \
//        [--query "runs=3&tokens=128&lanes=1,3,16"] [--timeout-min 240]

import { writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, saveLogs } from './harness.mjs';

/**
 * Opens bench.html?auto=1&<query> under `url`, relays the page's progress lines to `onLine`,
 * and resolves to its result once <body data-bench> is "done" or "error" (a result with
 * `errors` filled in; the caller decides what an error means).
 */
export async function runBenchPage({ url, query = '', timeoutMs = 4 * 3600e3, onLine = () => {} }) {
  const browser = await launch();
  try {
    const page = await browser.page();
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('bench: ')) onLine(text.slice('bench: '.length));
    });
    const target = new URL(`bench.html?auto=1${query ? `&${query}` : ''}`, url.endsWith('/') ? url : `${url}/`);
    await page.goto(target.href);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.bench), null, { timeout: timeoutMs, polling: 1000 });
    const result = await page.evaluate(() => window.benchResult);
    if (result.errors?.length) await saveLogs(browser, 'bench-console.log');
    return result;
  } catch (e) {
    await saveLogs(browser, 'bench-console.log');
    throw e;
  } finally {
    await browser.close();
  }
}

function parseArgs(argv) {
  const args = { query: '', timeoutMin: 240 };
  for (let i = 0; i < argv.length; i++) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (key === '--url') args.url = value;
    else if (key === '--out') args.out = value;
    else if (key === '--query') args.query = value;
    else if (key === '--timeout-min') args.timeoutMin = Number(value);
    else throw new Error(`unknown argument ${key}`);
    i++;
  }
  if (!args.url || !args.out) throw new Error('usage: bench-run.mjs --url URL --out FILE [--query Q] [--timeout-min N]');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const result = await runBenchPage({
    url: args.url,
    query: args.query,
    timeoutMs: args.timeoutMin * 60e3,
    onLine: (line) => console.log(`  ${line}`),
  });
  await mkdir(dirname(args.out), { recursive: true });
  await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);
  for (const e of result.errors ?? []) console.error(`browser bench: ${e.engine}: ${e.message}`);
  console.log(`browser results written to ${args.out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`bench-run: ${e.message}`);
    process.exit(1);
  });
}
