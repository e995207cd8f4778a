// @ts-check
// The embed page (www/embed.html): one comparison, configured by the URL's fragment
// (share.js's format), for an <iframe> in a blog post. It loads only its own small modules
// until the reader presses Run, and tells its parent its height whenever that changes:
//   parent.postMessage({type: 'samplescope:height', height: <CSS pixels>, v: 1}, '*')
// (the host page sets the iframe's height from it; see embed-guide.html).

import { CompareView, applyTheme } from './ui/compare-view.js';
import { HEIGHT_MESSAGE, decodeConfig } from './share.js';
import { sharedEngine } from './engine-client.js';

const root = document.getElementById('view');
const FIX_HINT = 'Make the comparison in the samplescope lab and use its “Copy embed code” button; embed-guide.html describes the format.';
let stopTheme = () => {};

function show() {
  const parsed = decodeConfig(location.hash);
  stopTheme();
  stopTheme = applyTheme(document.documentElement, parsed.errors.length ? 'auto' : parsed.config.view.theme);
  if (view && view.running) return; // a new fragment waits for the run to end
  if (view) view.render(parsed);
  else view = new CompareView(root, { scope: document, parsed, modelBase: location.href, engine: sharedEngine, fixHint: FIX_HINT });
}

let view = null;
show();
addEventListener('hashchange', show);

// The height the parent should give the iframe: the view's own box (body has no margin),
// so that a taller iframe never makes the content report itself taller.
let lastHeight = 0;
function postHeight() {
  const height = Math.ceil(root.getBoundingClientRect().height);
  if (height === lastHeight || window.parent === window) return;
  lastHeight = height;
  window.parent.postMessage({ type: HEIGHT_MESSAGE, height, v: 1 }, '*');
}
new ResizeObserver(postHeight).observe(root);
postHeight();
