// @ts-check
// <sampler-compare>: a sampler comparison as one HTML element, for authors who host
// samplescope's www/ folder themselves. One script tag:
//
//   <script type="module" src="/samplescope/web/sampler-compare.js"></script>
//   <sampler-compare prompt="Write a haiku about the sea." temperature="1.5" seed="7"
//     max-tokens="48" lanes="Greedy:greedy; top_p=0.9; min_p=0.1"></sampler-compare>
//
// Attributes (all optional; the lab's defaults otherwise): prompt (or the element's text),
// lanes (`;`- or newline-separated `name:spec` items, the spec in the CLI's lane syntax),
// temperature, temperature-position (first | last), seed, max-tokens, chat, same-dice,
// record, model (a GGUF URL; default: models/ next to this script's folder), model-size
// (bytes, for the Run button), theme (auto | light | dark), editable (the reader may edit
// the prompt). They are read by share.js with the same rules and messages as share links.
//
// Every element on a page shares one engine (one worker, one model download); runs take
// turns. Nothing heavy loads until a reader presses Run. The view lives in a shadow root,
// so the page's CSS and ids and the element's do not meet.

import { CompareView, applyTheme } from './ui/compare-view.js';
import { ELEMENT_ATTRIBUTES, configFromAttributes, modelId } from './share.js';
import { sharedEngine } from './engine-client.js';

const STYLES = ['../vendor/uplot/uPlot.min.css', '../css/lab.css', '../css/embed.css'];
/** The folder that holds web/, css/ and models/ (the default model is models/ there). */
const SITE = new URL('../', import.meta.url).href;

export class SamplerCompare extends HTMLElement {
  static observedAttributes = ELEMENT_ATTRIBUTES;

  connectedCallback() {
    if (this.view) return;
    const shadow = this.attachShadow({ mode: 'open' });
    const root = document.createElement('div');
    root.className = 'sc';
    root.style.visibility = 'hidden'; // until the styles arrive: no flash of unstyled text
    let waiting = STYLES.length;
    const loaded = () => { if (--waiting === 0) root.style.visibility = ''; };
    for (const href of STYLES) {
      const link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = new URL(href, import.meta.url).href;
      link.addEventListener('load', loaded);
      link.addEventListener('error', loaded);
      shadow.append(link);
    }
    shadow.append(root);
    const parsed = this.parse();
    this.view = new CompareView(root, {
      scope: shadow, parsed, modelBase: this.modelBase(parsed), engine: sharedEngine,
      fixHint: 'Check this <sampler-compare> element’s attributes; embed-guide.html lists them.',
    });
    this.stopTheme = applyTheme(this, parsed.errors.length ? 'auto' : parsed.config.view.theme);
  }

  disconnectedCallback() {
    if (this.view?.running) this.view.stop();
  }

  attributeChangedCallback() {
    if (!this.view || this.view.running || this.pendingRender) return;
    // Several attributes set in a row render once.
    this.pendingRender = true;
    queueMicrotask(() => {
      this.pendingRender = false;
      const parsed = this.parse();
      this.view.modelBase = this.modelBase(parsed);
      this.view.render(parsed);
      this.stopTheme?.();
      this.stopTheme = applyTheme(this, parsed.errors.length ? 'auto' : parsed.config.view.theme);
    });
  }

  parse() {
    return configFromAttributes((name) => this.getAttribute(name), this.textContent);
  }

  /**
   * A model attribute is relative to the page, as any URL attribute; the default model and
   * a known one named by its id (`model="gemma"`) are under SITE.
   */
  modelBase(parsed) {
    return parsed.config.model.url && !modelId(parsed.config) ? document.baseURI : SITE;
  }
}

if (!customElements.get('sampler-compare')) customElements.define('sampler-compare', SamplerCompare);
