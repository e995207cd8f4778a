// Figures out (issue 18): every chart downloads as a standalone SVG and as a PNG at 2× its
// CSS pixels, with a caption that carries the configuration and the share link; the lanes
// download as a PNG. The files are the page's real downloads, opened again: the SVG parsed
// (DOMParser) and loaded as an image, its series checked against the report's numbers, its
// caption's link opened; the PNG decoded (its header in Node, its pixels in the page).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env, launch, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

const LOAD_TIMEOUT = 240_000;
const RUN_TIMEOUT = 300_000;
/** Markup in names that reach a caption: it must stay text. */
const EVIL = '<b>x</b>&"y';

/** Clicks an export button and returns the downloaded file (name and bytes), kept as an artifact. */
async function exported(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click(selector)]);
  const file = { name: dl.suggestedFilename(), bytes: await readFile(await dl.path()) };
  await mkdir(env.artifacts, { recursive: true });
  await writeFile(join(env.artifacts, `export-${file.name}`), file.bytes);
  return file;
}

/** Without whitespace: the caption's lines, wrapped, against the description's text. */
const squeeze = (s) => s.replace(/\s+/g, '');

/** The PNG's size from its IHDR chunk (bytes 16–23), read without the browser. */
function pngSize(bytes) {
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG signature');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** The SVG parsed in the page: its structure, series, caption and link; and loaded as an image. */
function readSvg(page, text) {
  return page.evaluate(async (svgText) => {
    const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    const svg = doc.documentElement;
    const vertices = (d) => [...d.matchAll(/[ML]([-\d.]+) ([-\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const clip = doc.querySelector('clipPath rect');
    const img = new Image();
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText)}`;
    await img.decode();
    return {
      parseError: doc.querySelector('parsererror')?.textContent ?? null,
      root: svg.localName,
      ns: svg.namespaceURI,
      width: Number(svg.getAttribute('width')),
      imageWidth: img.naturalWidth,
      plot: clip && { x: Number(clip.getAttribute('x')), y: Number(clip.getAttribute('y')), width: Number(clip.getAttribute('width')), height: Number(clip.getAttribute('height')) },
      series: [...doc.querySelectorAll('g.series')].map((g) => ({
        label: g.getAttribute('data-label'),
        line: vertices(g.querySelector('path')?.getAttribute('d') ?? ''),
        bars: g.querySelectorAll('rect').length,
      })),
      marks: doc.querySelectorAll('g.marks line').length,
      ticks: [...doc.querySelectorAll('text.tick')].map((t) => t.textContent),
      title: doc.querySelector('text.title')?.textContent ?? '',
      desc: doc.querySelector('desc')?.textContent ?? '',
      caption: [...doc.querySelectorAll('g.caption > text')].map((t) => t.textContent).join('\n'),
      linkText: [...doc.querySelectorAll('a.share-link text')].map((t) => t.textContent).join(''),
      href: doc.querySelector('a.share-link')?.getAttribute('href') ?? null,
      foreign: doc.querySelectorAll('b, script, foreignObject').length,
      treeEdges: [...doc.querySelectorAll('path[data-count]')].map((p) => p.getAttribute('stroke')),
    };
  }, text);
}

/** The PNG decoded in the page: its size and how many colours and non-background pixels it has. */
function readPng(page, bytes) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const colors = new Set();
    let ink = 0;
    for (let i = 0; i < data.length; i += 4) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      colors.add(key);
      if (key !== ((data[0] << 16) | (data[1] << 8) | data[2])) ink += 1;
    }
    return { width: img.naturalWidth, height: img.naturalHeight, colors: colors.size, inkShare: ink / (data.length / 4) };
  }, bytes.toString('base64'));
}

/** Checks a chart's PNG: 2× the chart's CSS width, decodable, and not blank. */
async function checkPng(page, file, cssWidth, what) {
  assert.match(file.name, /\.png$/);
  const head = pngSize(file.bytes);
  const png = await readPng(page, file.bytes);
  assert.equal(head.width, 2 * cssWidth, `${what}: PNG width is 2× the CSS width ${cssWidth}`);
  assert.deepEqual([png.width, png.height], [head.width, head.height], `${what}: the page decodes it`);
  assert.ok(png.colors > 20 && png.inkShare > 0.01, `${what}: not blank (${png.colors} colours, ${(png.inkShare * 100).toFixed(1)}% ink)`);
  return png;
}

test('the eval page’s charts export as SVG and PNG with the configuration and a link that reopens it', { skip: skipReason ?? false, timeout: 180_000 }, async (t) => {
  // Imported samples draw the charts without a model or WebGPU.
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'export-eval-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  await waitForBody(page, 'gpu', ['ready', 'missing'], 30_000);
  await page.fill('#count', '4');
  await page.fill('#lanes', 'top_p=0.9');
  await page.fill('#seed', '7');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#setup'));
  const answers = (await page.locator('#task-list .answer').allTextContents()).map(Number);
  const lines = answers.map((a, task) => JSON.stringify({ task, samples: [String(a), 'no', String(a + 1), task % 2 ? String(a) : 'x', String(a)] }));
  const fileName = `${EVIL}.jsonl`;
  await page.setInputFiles('#import-file', { name: fileName, mimeType: 'application/json', buffer: Buffer.from(lines.join('\n')) });
  assert.equal(await waitForBody(page, 'import', ['done', 'error'], 60_000), 'done', await page.textContent('#import-status'));
  const report = JSON.parse((await exported(page, '#export-json')).bytes.toString('utf8'));
  const cssWidth = await page.$eval('#passk-chart .uplot', (e) => Math.round(e.getBoundingClientRect().width));

  const svgFile = await exported(page, 'figure:has(#passk-chart) [data-export="svg"]');
  assert.equal(svgFile.name, 'samplescope-eval-passk.svg');
  const svgText = svgFile.bytes.toString('utf8');
  assert.match(svgText, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'a standalone SVG document');
  const svg = await readSvg(page, svgText);
  assert.equal(svg.parseError, null);
  assert.deepEqual([svg.root, svg.ns], ['svg', 'http://www.w3.org/2000/svg']);
  assert.equal(svg.width, cssWidth);
  assert.equal(svg.imageWidth, cssWidth, 'it opens as an image');
  assert.match(svg.title, /^pass@k against k/);

  // The series are the report's numbers: pass@k at k = 1…N on the log₂ k axis, y 0…100 %.
  const curve = svg.series.find((s) => s.label === 'top_p=0.9');
  assert.ok(curve, `the configuration's series (have ${svg.series.map((s) => s.label).join(', ')})`);
  const n = report.samples;
  const passk = report.configs[0].pass_at_k;
  assert.equal(n, 5);
  assert.equal(curve.line.length, n, 'one vertex per k');
  const { plot } = svg;
  curve.line.forEach(([x, y], i) => {
    const k = i + 1;
    assert.ok(Math.abs(x - (plot.x + (Math.log2(k) / Math.log2(n)) * plot.width)) < 0.6, `k=${k}: x`);
    assert.ok(Math.abs(y - (plot.y + (1 - passk[i]) * plot.height)) < 0.6, `k=${k}: y is pass@${k} = ${passk[i]}`);
  });
  assert.ok(svg.ticks.includes('100%') && svg.ticks.includes('4'), `the axes' tick labels (${svg.ticks.join(' ')})`);

  // The caption: the configuration as text (the file name's markup stays text) and the link.
  assert.equal(svg.foreign, 0, 'no element was made from a name');
  assert.equal(squeeze(svg.caption + svg.linkText), squeeze(svg.desc), 'the visible caption is the whole description');
  assert.ok(svg.desc.includes(`samples imported from ${fileName}`), svg.desc);
  assert.match(svg.desc, /4 tasks \(built-in arithmetic:1:4\) × 5 samples per configuration · verifier numeric/);
  assert.match(svg.desc, /configurations: top_p=0\.9 · temperature 1 · seed 7/);
  assert.ok(svg.href && svg.href.startsWith(new URL('eval.html#v=1&', env.url).href), svg.href);
  assert.equal(svg.linkText, `Share link: ${svg.href}`, 'the link reads whole across its lines');
  assert.ok(svg.desc.includes(svg.href), 'the description carries the link too');

  // The link reopens the page with the same form.
  const other = await browser.context.newPage();
  await other.goto(svg.href);
  assert.equal(await waitForBody(other, 'tasks', ['ok', 'invalid'], 30_000), 'ok');
  assert.deepEqual(await other.evaluate(() => ['count', 'lanes', 'seed', 'temperature', 'verifier'].map((id) => /** @type {any} */ (document.getElementById(id)).value)),
    ['4', 'top_p=0.9', '7', '1', 'numeric']);
  await other.close();

  const png = await checkPng(page, await exported(page, 'figure:has(#passk-chart) [data-export="png"]'), cssWidth, 'pass@k');
  console.log(`eval pass@k: SVG ${svgText.length} bytes, PNG ${png.width}×${png.height}`);
  const vote = await exported(page, 'figure:has(#vote-chart) [data-export="svg"]');
  assert.equal(vote.name, 'samplescope-eval-vote.svg');
  assert.ok((await readSvg(page, vote.bytes.toString('utf8'))).series.some((s) => s.label === 'top_p=0.9' && s.line.length === n));
});

test('the lab’s inspector charts and sample tree export as SVG and PNG, the lanes as PNG, with the share link', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'export-lab-console.log'));
  const page = await browser.page();
  const prompt = env.prompt || 'The three primary colors are';
  const lanes = ['Greedy:greedy', `${EVIL}:top_p=0.9`].map((l) => `lane=${encodeURIComponent(l)}`).join('&');
  await page.goto(`${env.url}#v=1&prompt=${encodeURIComponent(prompt)}&max_tokens=3&seed=11&temperature=1&record=1&${lanes}`);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#toast'));
  await page.click('#run');
  await waitForBody(page, 'run', ['running'], 10_000);
  await waitForBody(page, 'run', ['done'], RUN_TIMEOUT);
  await page.selectOption('#heat', 'probability');
  await page.click('.lane[data-lane="1"] .tok[data-step="1"]');
  await page.waitForFunction(() => document.getElementById('inspector').dataset.state === 'ready', null, { timeout: 120_000 });
  await page.click('#share');
  const shareLink = await page.inputValue('#share-text');
  const rows = await page.locator('#candidates-table tbody tr').count();

  const cssWidth = await page.$eval('#candidates-chart .uplot', (e) => Math.round(e.getBoundingClientRect().width));
  const svgFile = await exported(page, 'figure:has(#candidates-chart) [data-export="svg"]');
  assert.equal(svgFile.name, 'samplescope-candidates.svg');
  const svg = await readSvg(page, svgFile.bytes.toString('utf8'));
  assert.equal(svg.parseError, null);
  assert.equal(svg.imageWidth, cssWidth, 'it opens as an image');
  assert.deepEqual(svg.series.map((s) => s.label), ['survivor', 'cut', 'chosen']);
  assert.equal(svg.series.reduce((sum, s) => sum + s.bars, 0), rows, 'one bar per candidate row');
  assert.equal(svg.series[2].bars, 1, 'one chosen token');
  assert.equal(svg.marks, 1, 'top-p’s cut-off line');
  assert.ok(svg.title.endsWith(`${EVIL}, step 1`), svg.title);
  assert.equal(svg.foreign, 0, 'the lane name stays text');
  assert.equal(squeeze(svg.caption + svg.linkText), squeeze(svg.desc), 'the visible caption is the whole description');
  assert.ok(svg.desc.includes(`prompt “${prompt}”`) && svg.desc.includes('seed 11'), svg.desc);
  assert.ok(svg.desc.includes(`lanes: Greedy (greedy (argmax)); ${EVIL} (T 1 · p 0.9)`), svg.desc);
  assert.equal(svg.href, shareLink, 'the caption’s link is the Share button’s');
  assert.equal(svg.linkText, `Share link: ${shareLink}`);

  await checkPng(page, await exported(page, 'figure:has(#candidates-chart) [data-export="png"]'), cssWidth, 'candidates');
  const histWidth = await page.$eval('#histogram-chart .uplot', (e) => Math.round(e.getBoundingClientRect().width));
  const hist = await readSvg(page, (await exported(page, 'figure:has(#histogram-chart) [data-export="svg"]')).bytes.toString('utf8'));
  assert.ok(hist.series[0].bars > 3, 'the histogram’s bars');
  await checkPng(page, await exported(page, 'figure:has(#histogram-chart) [data-export="png"]'), histWidth, 'histogram');

  // The sample tree, an SVG drawing of the page's own: the copy carries the page's styles.
  await page.selectOption('#tree-lane', '1');
  await page.fill('#tree-n', '4');
  await page.click('#tree-draw');
  await page.waitForSelector('#tree-view[data-state="done"]', { timeout: RUN_TIMEOUT });
  const edges = await page.locator('#tree-view path[data-count]').count();
  const treeWidth = Number(await page.getAttribute('#tree-view svg.tree-svg', 'width'));
  const treeFile = await exported(page, '#sample-tree [data-export="svg"]');
  assert.equal(treeFile.name, 'samplescope-sample-tree.svg');
  const tree = await readSvg(page, treeFile.bytes.toString('utf8'));
  assert.equal(tree.parseError, null);
  assert.equal(tree.imageWidth, treeWidth, 'it opens as an image');
  assert.ok(edges >= 4, `edges: ${edges}`);
  assert.equal(tree.treeEdges.length, edges, 'every branch of the tree');
  assert.ok(tree.treeEdges.every((c) => c && c !== 'none'), `the branches keep their colour (${tree.treeEdges[0]})`);
  assert.match(tree.desc, /^Sample tree: 4 samples \(sample indices 0…N−1\) of lane 2\. <b>x<\/b>&"y/);
  assert.equal(tree.href, shareLink);
  assert.equal(tree.foreign, 0);
  await checkPng(page, await exported(page, '#sample-tree [data-export="png"]'), treeWidth, 'sample tree');

  const lanesWidth = await page.$eval('#lanes', (e) => e.clientWidth);
  const lanesFile = await exported(page, '.export-lanes [data-export="png"]');
  assert.equal(lanesFile.name, 'samplescope-lanes.png');
  const lanesPng = await checkPng(page, lanesFile, lanesWidth, 'lanes');
  console.log(`lanes PNG ${lanesPng.width}×${lanesPng.height}, ${lanesPng.colors} colours; screenshot: ${await screenshot(page, 'export-lab.png')}`);
});

test('the eval page after a run: the caption names the command that reruns it, the link carries the pasted tasks, the tree exports', { skip: skipReason ?? false, timeout: 900_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'export-eval-run-console.log'));
  const page = await browser.page();
  await page.goto(new URL('eval.html', env.url).href);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'ready');
  const tasks = [
    { prompt: 'What is 2 + 3? Reply with only the number.', answer: 5 },
    { prompt: 'What is 9 - 4? Reply with only the number.', answer: 5 },
  ].map((x) => JSON.stringify(x)).join('\n');
  await page.check('input[name="source"][value="jsonl"]');
  await page.fill('#jsonl', tasks);
  await page.fill('#samples', '3');
  await page.fill('#lanes', 'min_p=0.05');
  await page.fill('#temperature', '1.5');
  await page.fill('#seed', '5');
  await page.fill('#max-tokens', '4');
  assert.equal(await waitForBody(page, 'tasks', ['ok', 'invalid'], 30_000), 'ok', await page.textContent('#task-errors'));
  await page.click('#load-default');
  assert.equal(await waitForBody(page, 'model', ['loaded', 'error'], LOAD_TIMEOUT), 'loaded', await page.textContent('#model-status'));
  await page.click('#run');
  assert.equal(await waitForBody(page, 'eval', ['done', 'error', 'cancelled'], RUN_TIMEOUT), 'done', await page.textContent('#run-status'));
  const command = await page.textContent('#cli-command');

  const svg = await readSvg(page, (await exported(page, 'figure:has(#passk-chart) [data-export="svg"]')).bytes.toString('utf8'));
  assert.equal(svg.parseError, null);
  assert.match(command, /^samplescope eval --tasks tasks\.jsonl --samples 3 --lane min_p=0\.05 --temperature 1\.5 --seed 5 --max-tokens 4 /);
  assert.ok(svg.desc.includes(`\nthe same run natively: ${command}\n`), svg.desc);
  assert.match(svg.desc, /^samplescope eval · Smollm2.* · 2 tasks \(tasks from a pasted JSONL set\) × 3 samples per configuration/);
  assert.equal(squeeze(svg.caption + svg.linkText), squeeze(svg.desc));
  const other = await browser.context.newPage();
  await other.goto(svg.href);
  assert.equal(await waitForBody(other, 'tasks', ['ok', 'invalid'], 30_000), 'ok');
  assert.deepEqual(await other.evaluate(() => ['jsonl', 'samples', 'lanes', 'temperature', 'seed', 'max-tokens'].map((id) => /** @type {any} */ (document.getElementById(id)).value)),
    [tasks, '3', 'min_p=0.05', '1.5', '5', '4'], 'the link reopens the form, pasted tasks included');
  await other.close();

  await page.selectOption('#tree-task', '1');
  await page.click('#tree-draw');
  assert.equal(await waitForBody(page, 'tree', ['done', 'error'], RUN_TIMEOUT), 'done', await page.textContent('#tree-status'));
  const edges = await page.locator('#tree-view path[data-count]').count();
  const treeWidth = Number(await page.getAttribute('#tree-view svg.tree-svg', 'width'));
  const tree = await readSvg(page, (await exported(page, '#eval-tree [data-export="svg"]')).bytes.toString('utf8'));
  assert.equal(tree.parseError, null);
  assert.equal(tree.treeEdges.length, edges);
  assert.match(tree.desc, /^Sample tree of task 1\. What is 9 - 4\? .*, configuration temperature=1\.5,min_p=0\.05\nsamplescope eval/);
  await checkPng(page, await exported(page, '#eval-tree [data-export="png"]'), treeWidth, 'eval sample tree');
});
