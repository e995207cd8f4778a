// Without the WebGPU flags, headless Chromium has no usable adapter: the page must say
// what is missing and how to get it, not stay blank or fail in the console.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, saveLogs, screenshot, skipReason, waitForBody } from './harness.mjs';

test('without WebGPU the page explains what is missing', { skip: skipReason ?? false, timeout: 120_000 }, async (t) => {
  const browser = await launch({ webgpu: false });
  t.after(() => browser.close());
  t.after(() => saveLogs(browser, 'no-webgpu-console.log'));
  const page = await browser.page();
  await page.goto(env.url);
  assert.equal(await waitForBody(page, 'gpu', ['ready', 'missing'], 60_000), 'missing');
  const panel = page.locator('#gpu-missing');
  assert.ok(await panel.isVisible(), 'the explanation panel is visible');
  const text = await panel.textContent();
  assert.match(text, /WebGPU is not available/);
  assert.match(text, /Chrome or Edge 113/);
  assert.match(text, /enable-unsafe-webgpu/);
  assert.match(await page.textContent('#gpu-missing-reason'), /no GPU adapter|navigator\.gpu is missing|could not open the GPU/);
  assert.equal(await page.textContent('#gpu-chip'), 'no WebGPU');
  assert.ok(await page.isDisabled('#load-default'), 'loading is disabled');
  await screenshot(page, 'no-webgpu.png');
});
