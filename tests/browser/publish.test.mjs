// The published site as its author would make and use it: `cargo xtask build-web --out DIR`
// into a second folder, served by a plain static server (content types only) on one
// origin; its models manifest pointed at a small model on a third origin that allows CORS
// (as a CDN or Hugging Face would); the lab's embed code, pasted into a post on another
// origin, runs there on the wasm-opt'd engine and decodes what the native CLI decodes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defaultConfig, encodeConfig } from '../../web/share.js';
import { env, launch, saveLogs, skipReason } from './harness.mjs';
import { serveStatic } from './static-server.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKENS = 8;
const MODEL = { id: 'tiny', name: 'Tiny Llama 3 fixture', file: 'tiny-llama3.gguf' };
/** Files that keep their names on the site: the pages, the manifest, the element's entry. */
// Pyodide's files keep their names (its loader builds them), under pyodide/.
const UNHASHED = /^(?:[\w-]+\.html|models\/manifest\.json|web\/sampler-compare\.js|vendor\/uplot\/LICENSE|pyodide\/[\w.-]+)$/;

async function files(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath ?? e.path, e.name)));
  }
  return out.sort();
}

test('the published site on a plain static server, embedded from another origin', { skip: skipReason ?? false, timeout: 600_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'samplescope-publish-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [siteDir, cdnDir, blogDir] = ['site', 'cdn', 'blog'].map((d) => join(dir, d));
  await mkdir(cdnDir);
  await mkdir(blogDir);
  const site = await serveStatic(siteDir);
  const cdn = await serveStatic(cdnDir, { headers: { 'Access-Control-Allow-Origin': '*' } });
  const blog = await serveStatic(blogDir, { host: 'localhost' }); // another origin
  t.after(() => Promise.all([site.close(), cdn.close(), blog.close()]));

  // The model and what the native CLI decodes with it: the page's three default lanes.
  const cli = process.env.SAMPLESCOPE_CLI;
  const modelPath = join(cdnDir, MODEL.file);
  await run(cli, ['synth', 'llama3', modelPath]);
  const specs = process.env.SAMPLESCOPE_LANE_SPECS.split('\n');
  const xdg = await mkdtemp(join(tmpdir(), 'samplescope-xdg-'));
  t.after(() => rm(xdg, { recursive: true, force: true }));
  const { stdout } = await run(cli, ['compare', '--json', '--prompt', env.prompt, '--max-tokens', String(TOKENS), '--model', modelPath, ...specs.flatMap((s) => ['--lane', s])], { env: { ...process.env, XDG_RUNTIME_DIR: xdg } });
  const native = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.equal(native.length, specs.length);

  await t.test('build-web --out writes a site with hashed names and an optimized wasm', async () => {
    const cargo = process.env.CARGO || 'cargo';
    await run(cargo, ['xtask', 'build-web', '--out', siteDir], { cwd: ROOT, maxBuffer: 64 << 20 });
    const all = await files(siteDir);
    for (const f of all) {
      if (!UNHASHED.test(f)) assert.match(f, /\.[0-9a-f]{12}\.(?:js|css|wasm|json)$/, `${f} has a content hash in its name`);
    }
    for (const page of ['index.html', 'eval.html', 'embed.html', 'embed-guide.html']) assert.ok(all.includes(page), page);
    assert.ok(!all.some((f) => f.startsWith('bench') || f.includes('/bench')), 'no bench page');
    for (const f of ['pyodide.mjs', 'pyodide.asm.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip', 'pyodide-lock.json']) {
      assert.ok(all.includes(`pyodide/${f}`), `the eval page's Python: pyodide/${f}`);
    }
    const wasm = all.find((f) => f.startsWith('pkg/') && f.endsWith('.wasm'));
    const [before, after] = [await stat(join(ROOT, 'www/pkg/samplescope_bg.wasm')), await stat(join(siteDir, wasm))];
    t.diagnostic(`wasm: ${before.size} bytes from wasm-bindgen, ${after.size} after wasm-opt`);
    assert.ok(after.size < before.size * 0.95, `wasm-opt shrank the module (${before.size} → ${after.size})`);
  });

  // The manifest points at the model's CORS-enabled host, as it would at a public copy.
  const manifestPath = join(siteDir, 'models/manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  assert.equal(manifest.version, 1);
  assert.equal(manifest.models[0].id, 'smollm2');
  const bytes = await readFile(modelPath);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  manifest.models.push({ ...MODEL, bytes: bytes.length, sha256, url: new URL(MODEL.file, cdn.url).href });
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));

  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'publish-console.log'));
  const failed = [];
  browser.context.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  const requests = [];
  browser.context.on('request', (r) => requests.push(r.url()));

  const config = defaultConfig();
  Object.assign(config.run, { prompt: env.prompt, maxTokens: TOKENS, seed: Number(process.env.SAMPLESCOPE_SEED) });
  config.model = { url: MODEL.id, bytes: null };
  let snippet;
  await t.test('the lab’s embed code names the site and the model by its manifest id', async () => {
    const lab = await browser.context.newPage();
    await lab.goto(`${site.url}#${encodeConfig(config)}`);
    await lab.click('#embed-code');
    await lab.waitForFunction(() => /** @type {HTMLTextAreaElement} */ (document.getElementById('share-text')).value.startsWith('<iframe'), null, { timeout: 10_000 });
    snippet = await lab.inputValue('#share-text');
    assert.ok(snippet.startsWith(`<iframe src="${site.url}embed.html#v=1&amp;`), snippet);
    assert.match(snippet, /&amp;model=tiny(?:&amp;|")/);
    await lab.close();
  });

  await t.test('the eval page runs code tasks’ tests in Pyodide from the site', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${site.url}eval.html`);
    await page.check('input[name="source"][value="jsonl"]');
    await page.fill('#jsonl', await readFile(join(ROOT, 'tests/data/code_tasks.jsonl'), 'utf8'));
    await page.selectOption('#verifier', 'code');
    await page.fill('#lanes', 'top_p=0.9');
    await page.waitForFunction(() => document.body.dataset.tasks === 'ok', null, { timeout: 30_000 });
    const samples = join(dir, 'code-samples.jsonl');
    await writeFile(samples, JSON.stringify({ task: 0, samples: ['    return a + b\n', '    return a * b\n'] }));
    await page.setInputFiles('#import-file', samples);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.import ?? ''), null, { timeout: 120_000 });
    assert.equal(await page.getAttribute('body', 'data-import'), 'done', await page.textContent('#import-status'));
    assert.equal(await page.locator('#task-table td[data-config="0"] .count').first().textContent(), '1/2');
    const fromSite = requests.filter((u) => u.startsWith(site.url)).map((u) => new URL(u).pathname);
    for (const f of ['pyodide.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip']) assert.ok(fromSite.includes(`/pyodide/${f}`), `${f} from the site`);
    assert.ok(fromSite.some((p) => /^\/web\/code-worker\.[0-9a-f]{12}\.js$/.test(p)), 'the hashed code worker');
    await page.close();
  });

  await t.test('the guide’s examples name the site', async () => {
    const guide = await browser.context.newPage();
    await guide.goto(`${site.url}embed-guide.html`);
    await guide.waitForFunction(() => [...document.querySelectorAll('[data-site-url]')].every((e) => e.textContent), null, { timeout: 10_000 });
    const code = (await guide.locator('pre code').allTextContents()).join('\n');
    const frames = [...code.matchAll(/<iframe src="([^"]*)"/g)].map((m) => m[1]);
    assert.ok(frames.length >= 4, `${frames.length} iframe examples`);
    for (const src of frames) assert.ok(src.startsWith(`${site.url}embed.html#v=1&`), src);
    assert.ok(!(await guide.content()).includes('YOUR-SAMPLESCOPE-HOST'));
    await guide.close();
  });

  await t.test('a post on another origin runs the embed: the model from the manifest’s host, decoded as natively', async () => {
    await writeFile(join(blogDir, 'post.html'), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>A post</title>
<h1>A post about samplers</h1>
${snippet}
<p>The end.</p>`);
    const page = await browser.page();
    await page.goto(`${blog.url}post.html`);
    const frame = page.frameLocator('iframe');
    await frame.locator('#view[data-state="idle"]').waitFor({ timeout: 30_000 });
    const cdnHost = new URL(cdn.url).host;
    assert.ok((await frame.locator('.sc-run').textContent()).startsWith(`Run · downloads ${MODEL.name} from ${cdnHost} (`), 'the manifest’s name and host');
    await frame.locator('.sc-run').click(); // another host: it asks that host for the size first
    await frame.locator('.sc-run', { hasText: 'Download and run' }).waitFor({ timeout: 20_000 });
    await frame.locator('.sc-run').click();
    await frame.locator('#view[data-state="done"], #view[data-state="error"]').waitFor({ timeout: 180_000 });
    assert.equal(await frame.locator('#view').getAttribute('data-state'), 'done', await frame.locator('.sc-status').textContent());
    for (const [i, want] of native.entries()) {
      const ids = await frame.locator(`.lane[data-lane="${i}"] .tok`).evaluateAll((els) => els.map((e) => Number(/** @type {HTMLElement} */ (e).dataset.tokenId)));
      assert.deepEqual(ids, want.ids, `lane ${i} (${specs[i]}) token ids`);
    }
    const fromSite = requests.filter((u) => u.startsWith(site.url)).map((u) => new URL(u).pathname);
    assert.ok(fromSite.some((p) => /^\/web\/worker\.[0-9a-f]{12}\.js$/.test(p)), 'the hashed worker');
    assert.ok(fromSite.some((p) => /^\/pkg\/samplescope_bg\.[0-9a-f]{12}\.wasm$/.test(p)), 'the optimized, hashed wasm');
    assert.ok(requests.includes(new URL(MODEL.file, cdn.url).href), 'the model from the manifest’s URL');
    assert.deepEqual(failed, [], 'no answer was an error');
  });
});
