// @ts-check
// The lanes: one column per sampler configuration, tokens streaming in as hoverable,
// clickable spans, per-lane token count and tok/s, and an inline editor for the chain.

import { h, replace, visible } from './dom.js';
import { SAMPLERS, LIMITS, describeLane, validateLane } from '../config.js';

const ECHO_CHARS = 240;

/**
 * The heat modes: each token coloured by a value of its step's Inspection.heat (computed in
 * Rust), scaled to 0…1 for the colour (1: hottest, the least likely / most uncertain).
 * @type {Record<string, {label: string, value: (d: DOMStringMap) => number | null, scale: (v: number) => number, low: string, high: string}>}
 */
export const HEAT_MODES = {
  probability: {
    label: 'probability under the lane', value: (d) => num(d.p), scale: (p) => 1 - p, low: '100 %', high: '0 %',
  },
  surprise: {
    label: 'surprise −log₂ p', value: (d) => num(d.surprise), scale: (b) => Math.min(b, 10) / 10, low: '0 bits', high: '≥ 10 bits',
  },
  entropy: {
    label: 'entropy of the step', value: (d) => num(d.entropy), scale: (b) => Math.min(b, 8) / 8, low: '0 bits', high: '≥ 8 bits',
  },
};

const num = (/** @type {string | undefined} */ s) => (s === undefined || s === '' ? null : Number(s));

export class Lanes {
  /**
   * @param {HTMLElement} root
   * @param {{onChange: (lanes) => void, onInspect: (lane, step) => void}} hooks
   * @param {{editable?: boolean}} [options] editable: false shows the lanes without the
   *   edit / remove / add controls (the embed's fixed comparison)
   */
  constructor(root, hooks, { editable = true } = {}) {
    this.root = root;
    this.hooks = hooks;
    this.editable = editable;
    this.lanes = [];
    this.run = null;
    this.cards = [];
    this.editing = -1;
    this.running = false;
    this.selected = null;
    /** The heat mode (HEAT_MODES' keys) or 'off'. */
    this.heat = 'off';
  }

  /** Colours every token by `mode` (a HEAT_MODES key), or none ('off'). */
  setHeat(mode) {
    this.heat = Object.hasOwn(HEAT_MODES, mode) ? mode : 'off';
    this.root.dataset.heat = this.heat;
    for (const t of this.root.querySelectorAll('.tok')) this.paint(/** @type {HTMLElement} */ (t));
  }

  /** @param {HTMLElement} span */
  paint(span) {
    const mode = HEAT_MODES[this.heat];
    const v = mode ? mode.value(span.dataset) : null;
    span.style.background = v === null || Number.isNaN(v) ? '' : heatColor(mode.scale(v));
  }

  /** Draws the lane cards for a configuration (clears any streamed text). */
  render(lanes, run) {
    this.lanes = lanes;
    this.run = run;
    this.cards = lanes.map((lane, i) => this.card(lane, i));
    const add = this.editable && h('button', {
      type: 'button', className: 'add-lane', disabled: this.running || lanes.length >= LIMITS.lanes.max,
      on: { click: () => this.addLane() },
    }, '+ Add lane');
    replace(this.root, ...this.cards.map((c) => c.el), add);
  }

  card(lane, i) {
    const c = {};
    c.text = h('span', { className: 'gen', 'data-lane-text': '' });
    c.stream = h('div', { className: 'stream', tabindex: '0' }, c.text);
    c.stream.addEventListener('click', (ev) => {
      const t = ev.target.closest('.tok');
      if (t) this.hooks.onInspect(i, Number(t.dataset.step));
    });
    c.stream.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && ev.target.classList.contains('tok')) this.hooks.onInspect(i, Number(ev.target.dataset.step));
    });
    c.tokens = h('span', { 'data-stat': 'tokens' }, '0 tokens');
    c.rate = h('span', { 'data-stat': 'rate' }, '– tok/s');
    c.status = h('span', { 'data-stat': 'status' });
    c.note = h('p', { className: 'lane-note', hidden: true });
    c.fork = lane.fork ? h('p', { className: 'lane-fork', 'data-fork': '' }, this.forkText(lane.fork)) : null;
    const actions = this.editable && h('div', { className: 'lane-actions' },
      h('button', { type: 'button', className: 'ghost', title: 'Edit this lane’s samplers', disabled: this.running, on: { click: () => this.toggleEditor(i) } }, 'edit'),
      h('button', { type: 'button', className: 'ghost', title: 'Remove this lane', 'aria-label': `Remove lane ${lane.name}`, disabled: this.running || this.lanes.length <= 1, on: { click: () => this.removeLane(i) } }, '✕'),
    );
    c.el = h('article', { className: 'lane', dataset: { lane: i }, style: { '--lane-color': `var(--lane-${i % 8})` } },
      h('div', { className: 'lane-head' },
        h('span', { className: 'lane-name' }, lane.name),
        h('span', { className: 'lane-desc' }, describeLane(lane, this.run)),
        actions),
      h('div', { className: 'lane-stats' }, c.tokens, c.rate, c.status),
      c.fork,
      c.note,
      c.stream,
      this.editing === i ? this.editor(lane, i) : null,
    );
    return c;
  }

  /**
   * Where a fork came from: "↪ from Top-p 0.9 at step 5 (token 4563)".
   * @param {import('../config.js').LaneFork} fork
   */
  forkText(fork) {
    const step = fork.ids.length - 1;
    const parent = fork.parent === null || fork.parent === undefined ? null : this.lanes[fork.parent];
    const from = parent ? `lane ${fork.parent + 1} (${parent.name})` : 'a lane no longer here';
    return `↪ forked from ${from} at step ${step}: token ${fork.ids[step]} forced, then decoded on with dice #${fork.sample}`;
  }

  editor(lane, i) {
    const draft = JSON.parse(JSON.stringify(lane));
    const errors = h('div', { className: 'errors', role: 'alert' });
    const name = h('input', { type: 'text', value: draft.name, maxlength: LIMITS.nameLength, 'aria-label': 'Lane name' });
    const tOn = h('input', { type: 'checkbox', checked: draft.temperature !== null && draft.temperature !== undefined });
    const tVal = h('input', { type: 'number', min: 0, max: 3, step: 0.05, value: draft.temperature ?? this.run.temperature });
    const rows = SAMPLERS.map((s) => {
      const cur = draft.samplers?.[s.key];
      const on = h('input', { type: 'checkbox', checked: cur !== undefined && cur !== null, id: `lane${i}-${s.key}` });
      const val = h('input', { type: 'number', min: s.min, max: s.max, step: s.step, value: cur ?? s.initial, 'aria-label': s.label });
      return { s, on, val, el: h('div', { className: 'row' }, on, h('label', { for: `lane${i}-${s.key}` }, s.label), val, h('div', { className: 'help' }, s.help)) };
    });
    const save = () => {
      const next = {
        name: name.value.trim(),
        temperature: tOn.checked ? Number(tVal.value) : null,
        samplers: Object.fromEntries(rows.filter((r) => r.on.checked).map((r) => [r.s.key, Number(r.val.value)])),
      };
      if (lane.fork) next.fork = lane.fork;
      const errs = validateLane(next, i);
      if (errs.length) {
        replace(errors, errs.join('; '));
        return;
      }
      this.editing = -1;
      const lanes = this.lanes.slice();
      lanes[i] = next;
      this.hooks.onChange(lanes);
    };
    return h('form', { className: 'lane-editor', novalidate: true, on: { submit: (e) => { e.preventDefault(); save(); } } },
      h('div', { className: 'name-row' }, name),
      h('div', { className: 'row' }, tOn, h('span', {}, 'Own temperature (0 = greedy)'), tVal),
      ...rows.map((r) => r.el),
      errors,
      h('div', { className: 'name-row' },
        h('button', { type: 'submit', className: 'primary' }, 'Apply'),
        h('button', { type: 'button', on: { click: () => { this.editing = -1; this.render(this.lanes, this.run); } } }, 'Cancel')),
    );
  }

  toggleEditor(i) {
    this.editing = this.editing === i ? -1 : i;
    this.render(this.lanes, this.run);
  }

  addLane() {
    const n = this.lanes.length + 1;
    this.editing = this.lanes.length;
    this.hooks.onChange([...this.lanes, { name: `Lane ${n}`, temperature: null, samplers: { top_k: 40 } }]);
  }

  removeLane(i) {
    if (this.editing === i) this.editing = -1;
    // Forks name their parent by index: renumber them, and forget a parent that goes.
    const parent = (p) => (p === null || p === undefined || p === i ? null : p > i ? p - 1 : p);
    const next = this.lanes.filter((_, j) => j !== i)
      .map((l) => (l.fork ? { ...l, fork: { ...l.fork, parent: parent(l.fork.parent) } } : l));
    this.hooks.onChange(next);
  }

  /**
   * A lane added at the end (a fork) while the others keep their text: `lanes` is the
   * configuration with it as its last lane.
   */
  appendLane(lanes, run) {
    this.lanes = lanes;
    const i = lanes.length - 1;
    const c = this.card(lanes[i], i);
    this.cards.push(c);
    const add = /** @type {HTMLButtonElement | null} */ (this.root.querySelector('.add-lane'));
    this.root.insertBefore(c.el, add);
    if (add) add.disabled = lanes.length >= LIMITS.lanes.max;
    const echo = run.chat ? null : run.prompt.length > ECHO_CHARS ? `…${run.prompt.slice(-ECHO_CHARS)}` : run.prompt;
    if (echo) c.stream.prepend(h('span', { className: 'prompt-echo', 'aria-hidden': 'true' }, echo));
    c.count = 0;
    c.status.textContent = 'waiting';
    return i;
  }

  /** A run of some lanes starts (a fork) while every card keeps its text: no editing meanwhile. */
  freeze() {
    this.running = true;
    for (const b of this.root.querySelectorAll('.lane-actions button, .add-lane')) /** @type {HTMLButtonElement} */ (b).disabled = true;
  }

  /** The token ids lane `i` shows, in order (a fork's forced ones first). */
  tokenIds(i) {
    return [...(this.cards[i]?.text.querySelectorAll('.tok') ?? [])].map((t) => Number(/** @type {HTMLElement} */ (t).dataset.tokenId));
  }

  /** A run starts: empty every stream, echo the prompt, freeze editing. */
  startRun(run) {
    this.running = true;
    this.editing = -1;
    this.render(this.lanes, run);
    const echo = run.chat ? null : run.prompt.length > ECHO_CHARS ? `…${run.prompt.slice(-ECHO_CHARS)}` : run.prompt;
    for (const c of this.cards) {
      if (echo) c.stream.prepend(h('span', { className: 'prompt-echo', 'aria-hidden': 'true' }, echo));
      c.count = 0;
      c.status.textContent = 'waiting';
    }
  }

  laneStart(i) {
    const c = this.cards[i];
    if (!c) return;
    c.status.textContent = 'decoding…';
    c.stream.classList.add('running');
    c.t0 = performance.now();
  }

  /**
   * @param {import('../../pkg/samplescope.js').Heat | null} [heat]  the step's heat (recorded runs)
   */
  token(i, step, tokenId, textDelta, eog = false, forced = false, heat = null) {
    const c = this.cards[i];
    if (!c) return;
    const what = eog ? ' · end of text' : textDelta ? ` · “${visible(textDelta)}”` : ' (part of a character)';
    const fork = this.lanes[i]?.fork;
    const point = forced && fork && step === fork.ids.length - 1;
    const classes = [eog ? 'tok empty eog' : textDelta === '' ? 'tok empty' : 'tok', forced ? 'forced' : '', point ? 'fork-point' : ''];
    const span = h('span', {
      className: classes.filter(Boolean).join(' '), tabindex: '-1',
      dataset: { step, tokenId }, title: `step ${step} · token ${tokenId}${what}${point ? ' · the forked token' : forced ? ' · forced (the parent’s)' : ''}`,
    }, textDelta);
    if (heat) {
      Object.assign(span.dataset, { p: heat.prob, surprise: heat.surprise_bits, entropy: heat.entropy_bits, argmax: heat.argmax });
      if (heat.argmax !== tokenId) span.classList.add('off-argmax');
      span.title += ` · p ${(heat.prob * 100).toPrecision(3)} % · ${heat.surprise_bits.toFixed(2)} bits · entropy ${heat.entropy_bits.toFixed(2)} bits${heat.argmax !== tokenId ? ` · greedy would take ${heat.argmax}` : ''}`;
      this.paint(span);
    }
    if (step < c.count) {
      // A repeated step carries the tail of an unfinished character: append to that token.
      c.text.querySelector(`[data-step="${step}"]`)?.append(textDelta);
      return;
    }
    c.text.append(span);
    c.count = step + 1;
    c.tokens.textContent = `${c.count} token${c.count === 1 ? '' : 's'}`;
    const given = fork?.ids.length ?? 0; // forced tokens come at once: the rate counts the sampled ones
    if (c.count > given + 1) {
      const s = (performance.now() - c.firstAt) / 1000;
      c.rate.textContent = `${((c.count - given - 1) / s).toFixed(2)} tok/s`;
    } else if (c.count === given + 1) {
      c.firstAt = performance.now();
    }
    const nearBottom = c.stream.scrollHeight - c.stream.scrollTop - c.stream.clientHeight < 40;
    if (nearBottom) c.stream.scrollTop = c.stream.scrollHeight;
  }

  laneEnd(i, ev) {
    const c = this.cards[i];
    if (!c) return;
    c.stream.classList.remove('running');
    c.tokens.textContent = `${ev.tokens} token${ev.tokens === 1 ? '' : 's'}`;
    if (ev.tokPerS > 0) c.rate.textContent = `${ev.tokPerS.toFixed(2)} tok/s`;
    const status = { max_tokens: 'done', eog: 'end of text', cancelled: 'stopped', error: 'error' };
    c.status.textContent = status[ev.stop] ?? ev.stop;
    c.el.dataset.stop = ev.stop;
    if (ev.message) {
      c.note.hidden = false;
      c.note.classList.toggle('error', ev.stop === 'error');
      c.note.textContent = ev.message;
    }
  }

  endRun() {
    this.running = false;
    for (const c of this.cards) c.stream.classList.remove('running');
    for (const b of this.root.querySelectorAll('button')) {
      if (!b.matches('.lane-actions button, .add-lane')) continue;
      b.disabled = b.classList.contains('add-lane') ? this.lanes.length >= LIMITS.lanes.max : b.textContent === '✕' && this.lanes.length <= 1;
    }
  }

  /** Highlights the inspected token. */
  select(lane, step) {
    this.root.querySelector('.tok.selected')?.classList.remove('selected');
    this.cards[lane]?.text.querySelector(`[data-step="${step}"]`)?.classList.add('selected');
  }
}

/** The heat colour for t in 0…1 (0: cool and clear, 1: hot). */
export function heatColor(t) {
  const x = Math.max(0, Math.min(1, t));
  return `color-mix(in srgb, var(--heat, #e4572e) ${Math.round(8 + x * 70)}%, transparent)`;
}
