// @ts-check
// The sample tree, drawn: N samples of one sampler as a prefix tree (web/sample-tree.js),
// left to right one column per step, each branch as wide as the samples through it, and
// at every branch point each branch's probability (the one it was drawn with; the tooltip
// adds the probability before truncation). Clicking a node asks for the inspector at that
// step of the first sample through it. Below the tree, the samples' texts. Token text goes
// in as SVG text nodes, never as markup. `SampleTreePanel` runs samples requests into a
// view and opens the inspector at a node: the lab and the eval page subclass it.

import { h, replace, visible } from './dom.js';
import { addToken, buildSampleTree, emptySample, treeNodes } from '../sample-tree.js';

/** @typedef {import('../sample-tree.js').Sample} Sample */
/** @typedef {import('../sample-tree.js').TreeNode} TreeNode */

const SVG = 'http://www.w3.org/2000/svg';
const COLUMN = 104;
const ROW = 30;
const PAD = { left: 14, top: 18, right: 120, bottom: 12 };
const LABEL_CHARS = 11;
const MAX_WIDTH = 14;

/**
 * An SVG element; text goes in as a text node.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Node | string)} children
 */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const pct = (/** @type {number | null} */ p) => (p === null ? '—' : p >= 0.001 ? `${(p * 100).toFixed(1)}%` : `${(p * 100).toPrecision(2)}%`);
const short = (/** @type {string} */ s) => (s.length > LABEL_CHARS ? `${s.slice(0, LABEL_CHARS - 1)}…` : s);
const tokenLabel = (/** @type {TreeNode} */ n) => (n.eog ? '⟨end⟩' : visible(n.piece) || '∅');

export class SampleTreeView {
  /**
   * @param {HTMLElement} root  where the tree and the samples' texts go
   * @param {(sample: number, step: number) => void} onInspect
   */
  constructor(root, onInspect) {
    this.root = root;
    this.onInspect = onInspect;
    /** @type {Sample[]} */
    this.samples = [];
    /** @type {Element | null} */
    this.selected = null;
  }

  clear() {
    this.samples = [];
    this.selected = null;
    replace(this.root);
    delete this.root.dataset.state;
  }

  /**
   * Draws the tree of `samples`.
   * @param {Sample[]} samples
   * @param {string} prompt  the root's label
   */
  render(samples, prompt) {
    this.samples = samples;
    this.selected = null;
    const tree = buildSampleTree(samples);
    const n = Math.max(1, tree.count);
    /** @type {Map<TreeNode, {x: number, y: number}>} */
    const at = new Map();
    let row = 0;
    const place = (/** @type {TreeNode} */ node) => {
      const x = PAD.left + (node.step + 1) * COLUMN;
      if (node.children.length === 0) {
        at.set(node, { x, y: PAD.top + row++ * ROW });
        return;
      }
      for (const c of node.children) place(c);
      const first = /** @type {{y: number}} */ (at.get(node.children[0])).y;
      const last = /** @type {{y: number}} */ (at.get(node.children[node.children.length - 1])).y;
      at.set(node, { x, y: (first + last) / 2 });
    };
    place(tree);
    const depth = Math.max(0, ...treeNodes(tree).map((c) => c.step + 1));
    const width = PAD.left + depth * COLUMN + PAD.right;
    const height = PAD.top + Math.max(1, row) * ROW + PAD.bottom;
    const edges = svg('g', { class: 'tree-edges' });
    const nodes = svg('g', { class: 'tree-nodes' });
    const rootAt = /** @type {{x: number, y: number}} */ (at.get(tree));
    nodes.append(svg('g', { class: 'tree-root' },
      svg('circle', { cx: rootAt.x, cy: rootAt.y, r: 5 }),
      svg('text', { x: rootAt.x + 8, y: rootAt.y - 7 }, `…${visible(prompt.slice(-(LABEL_CHARS - 1)))}`),
      svg('title', {}, `The prompt (${n} samples start here)`)));
    const walk = (/** @type {TreeNode} */ parent) => {
      const from = /** @type {{x: number, y: number}} */ (at.get(parent));
      const branches = parent.children.length > 1;
      for (const c of parent.children) {
        const to = /** @type {{x: number, y: number}} */ (at.get(c));
        const mid = (from.x + to.x) / 2;
        edges.append(svg('path', {
          d: `M${from.x},${from.y} C${mid},${from.y} ${mid},${to.y} ${to.x},${to.y}`,
          'stroke-width': (1.5 + (MAX_WIDTH * c.count) / n).toFixed(2),
          'data-count': c.count,
        }));
        nodes.append(this.node(c, to, branches, n));
        walk(c);
      }
    };
    walk(tree);
    const chart = svg('svg', { class: 'tree-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': `Prefix tree of ${n} samples` }, edges, nodes);
    const list = h('ol', { className: 'tree-samples', start: 0 }, ...samples.map((s) => h('li', { dataset: { sample: s.index, ids: s.ids.join(',') } },
      h('span', { className: 'tree-sample-index' }, `#${s.index}`), ' ',
      h('span', { className: 'tree-sample-text' }, s.pieces.map((p, i) => (s.eog[i] ? '' : p)).join('')))));
    replace(this.root, h('div', { className: 'tree-scroll' }, chart), h('details', { className: 'tree-texts' }, h('summary', {}, `The ${samples.length} samples’ texts`), list));
    this.root.dataset.state = 'done';
  }

  /**
   * One node: its token, its count, and at a branch point the probability it was drawn with.
   * @param {TreeNode} c
   * @param {{x: number, y: number}} to
   * @param {boolean} branches  its parent has more than one child
   * @param {number} n
   */
  node(c, to, branches, n) {
    const label = tokenLabel(c);
    const g = svg('g', {
      class: `tree-node${branches ? ' branch' : ''}${c.eog ? ' eog' : ''}`, tabindex: 0, role: 'button',
      'aria-label': `step ${c.step}, token ${label}, ${c.count} of ${n} samples: inspect`,
      'data-step': c.step, 'data-id': c.id, 'data-count': c.count, 'data-ends': c.ends,
      'data-prefix': c.prefix.join(','), 'data-samples': c.samples.join(','), 'data-sample': c.samples[0],
      ...(c.p === null ? {} : { 'data-p': c.p }), ...(c.q === null ? {} : { 'data-q': c.q }),
    },
    svg('circle', { cx: to.x, cy: to.y, r: 3.5 }),
    svg('text', { class: 'tree-tok', x: to.x + 7, y: to.y - 6 }, short(label)),
    svg('text', { class: 'meta', x: to.x + 7, y: to.y + 12 }, `${c.count}${branches ? ` · ${pct(c.q)}` : ''}${c.ends && c.children.length ? ` · ${c.ends} end` : ''}`),
    svg('title', {}, [
      `step ${c.step} · “${label}” (id ${c.id})`,
      `${c.count} of ${n} samples (${c.samples.map((s) => `#${s}`).join(' ')})`,
      `drawn with p ${pct(c.q)} · ${pct(c.p)} before truncation`,
      'click: inspect this step',
    ].join('\n')));
    const open = () => {
      this.selected?.classList.remove('selected');
      g.classList.add('selected');
      this.selected = g;
      this.onInspect(c.samples[0], c.step);
    };
    g.addEventListener('click', open);
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    });
    return g;
  }
}

/**
 * What a panel draws: a samples request, and the name the inspector gives its lane.
 * @typedef {{params: import('../protocol.js').SamplesParams, name: string}} TreeRequest
 */

/**
 * A sample tree panel: its button draws the samples `request()` names into the view (and
 * stops them meanwhile), `<body data-tree>` says running | done | error, and a node opens
 * the inspector `takeInspector()` gives at that step of that sample. The lab and the eval
 * page subclass it with what they draw and where their inspector is.
 */
export class SampleTreePanel {
  /**
   * @param {import('../engine-client.js').EngineClient} engine
   * @param {{view: HTMLElement, button: HTMLElement, status: HTMLElement}} els
   */
  constructor(engine, els) {
    this.engine = engine;
    this.els = els;
    this.view = new SampleTreeView(els.view, (sample, step) => this.inspect(sample, step));
    this.idleLabel = els.button.textContent ?? '';
    /** Stops the samples being drawn (null: none). @type {(() => void) | null} */
    this.cancel = null;
    /** The drawn samples' request and lane name. @type {{id: number, name: string} | null} */
    this.shown = null;
    /** The latest inspect (an older answer is dropped). @type {object | null} */
    this.want = null;
    els.button.addEventListener('click', () => (this.cancel ? this.cancel() : this.draw()));
  }

  /** @param {string} text */
  status(text) {
    replace(this.els.status, text);
  }

  /**
   * What to draw now, or null after saying why not.
   * @returns {Promise<TreeRequest | null>}
   */
  async request() {
    return null;
  }

  /** The inspector a node opens, taken for the tree. @returns {import('./inspector.js').Inspector} */
  takeInspector() {
    throw new Error('a sample tree panel needs an inspector');
  }

  /** Whether the inspector is still the tree's (nothing else took it since). */
  ownsInspector() {
    return true;
  }

  /**
   * Says what was drawn.
   * @param {Sample[]} samples
   * @param {boolean} stopped
   */
  drawn(samples, stopped) {
    this.status(`${samples.length} samples${stopped ? ' (stopped: the tokens so far)' : ''} — click a node to inspect that step`);
  }

  async draw() {
    const what = await this.request();
    if (!what) return;
    const { params, name } = what;
    const body = document.body.dataset;
    const samples = Array.from({ length: params.n }, (_, i) => emptySample(i));
    let ended = 0;
    this.view.clear();
    this.shown = null;
    body.tree = 'running';
    this.status(`drawing ${params.n} samples…`);
    const req = this.engine.samples(params, {
      onToken: (ev) => addToken(samples[ev.lane], ev),
      onLaneEnd: () => this.status(`drawing ${params.n} samples… ${++ended} done`),
    });
    this.cancel = req.cancel;
    replace(this.els.button, 'Stop');
    try {
      const { stopped } = await req.done;
      this.view.render(samples, params.prompt);
      this.shown = { id: req.id, name };
      this.drawn(samples, stopped);
      body.tree = 'done';
    } catch (e) {
      this.status(`could not draw the samples: ${e instanceof Error ? e.message : e}`);
      body.tree = 'error';
    } finally {
      this.cancel = null;
      replace(this.els.button, this.idleLabel);
    }
  }

  /**
   * The inspector at `step` of sample `sample` of the drawn tree.
   * @param {number} sample
   * @param {number} step
   */
  inspect(sample, step) {
    const shown = this.shown;
    if (!shown) return;
    const inspector = this.takeInspector();
    const want = {};
    this.want = want;
    const name = `${shown.name} · sample #${sample}`;
    inspector.loading(name, step);
    const current = () => this.want === want && this.ownsInspector();
    this.engine.inspect(shown.id, sample, step).then(
      (m) => { if (current()) inspector.show(sample, name, step, m); },
      (e) => { if (current()) inspector.error(e.message); });
  }
}
