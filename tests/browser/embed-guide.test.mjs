// Every example in the embedding guide (www/embed-guide.html), iframe addresses and
// <sampler-compare> tags alike, is a configuration that web/share.js accepts, and the two
// demos the guide promises are what they say. No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { configFromAttributes, decodeConfig } from '../../web/share.js';

test('every example in the embedding guide is a valid configuration', async () => {
  const html = await readFile(new URL('../../www/embed-guide.html', import.meta.url), 'utf8');
  const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  const links = [...html.matchAll(/embed\.html#(v=1[^"\s]*?)"/g)].map((m) => unescape(m[1]));
  assert.ok(links.length >= 3, `found ${links.length} iframe examples`);
  for (const l of links.filter((x) => !x.includes('…'))) assert.deepEqual(decodeConfig(`#${l}`).errors, [], l);
  // Elements, both live (<sampler-compare …>) and in code samples (&lt;sampler-compare …&gt;).
  const tags = [...unescape(html).matchAll(/<sampler-compare\b([^>]*)>([^<]*)</g)];
  assert.ok(tags.length >= 6, `found ${tags.length} element examples`);
  for (const [, attrText, body] of tags) {
    const attrs = Object.fromEntries([...attrText.matchAll(/([\w-]+)(?:="([^"]*)")?/g)].map(([, k, v]) => [k, v ?? '']));
    const { errors } = configFromAttributes((n) => attrs[n] ?? null, body);
    assert.deepEqual(errors, [], attrText);
  }
  // The min-p demo the issue asks for: three lanes at temperature 1.5.
  const minp = decodeConfig(`#${links.find((l) => l.includes('temperature=1.5'))}`).config.run;
  assert.deepEqual(minp.lanes.map((l) => l.name), ['Greedy', 'Top-p 0.9', 'Min-p 0.1']);
  assert.equal(minp.temperature, 1.5);
  // The temperature-position pair: the same samplers, first and last.
  const pair = links.filter((l) => l.includes('ocean')).map((l) => decodeConfig(`#${l}`).config.run);
  assert.deepEqual(pair.map((r) => r.temperaturePosition), ['first', 'last']);
  assert.deepEqual(pair[0].lanes, pair[1].lanes);
});
