// @ts-check
// Figures out of the pages. A uPlot chart becomes a standalone SVG built from the plot's own
// state (its data, scales, the axis ticks and labels uPlot computed, series colours, widths
// and dash), with a title above and a legend and a caption (the configuration and the share
// link) below; its PNG is that SVG rasterised at 2× the chart's CSS pixels, so both files
// show the same figure. The lab's lanes become a PNG drawn on a canvas at 2× (header, stats,
// token text with the heat colours that are on). Every piece of text is text: SVG elements
// are made with createElementNS and filled with textContent, never parsed from markup.
//
// API (for any page's charts):
//   attachExport(where, plot, {name, title?, caption, legend?, marks?}) → the button group
//     appended to `where`: "SVG" and "PNG" download `${name}.svg` / `${name}.png`;
//     `plot` is a uPlot or a function giving the current one (charts that are redrawn);
//     `caption()` gives a string or {text, link} when a button is pressed.
//   chartSvg(plot, figure) → string    chartPng(plot, figure) → Promise<Blob>
//   lanesPng(root, figure) → Promise<Blob>    exportButtons(where, name, {svg?, png})
//   attachSvgExport(where, () => svgElement, {name, title?, caption}): the same buttons for
//     an SVG drawing of the page (the sample tree), its CSS styles written onto the copy.
//   bars(opts): uPlot.paths.bars(opts) that the SVG draws as bars too.
//   drawMarks(u, marks, color): the same marks on the chart's canvas (a uPlot draw hook).

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { download, h, toast } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
/** PNG pixels per CSS pixel. */
export const PNG_SCALE = 2;
const PAD = 10;
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
const TITLE_SIZE = 13;
const TEXT_SIZE = 11.5;
const LINE = 1.35;

/**
 * @typedef {{label: string, color: string, dash?: boolean}} LegendItem
 * @typedef {{axis: 'x' | 'y', value: number, text: string}} Mark  a dashed line across the plot
 * @typedef {{text: string, link?: string}} Caption  the configuration; the share link apart
 * @typedef {object} Figure
 * @property {string} [title]  above the chart
 * @property {string | Caption} caption  below: the configuration (newlines kept) and the link
 * @property {LegendItem[]} [legend]  default: the plot's labelled, shown series
 * @property {Mark[]} [marks]  e.g. the samplers' cut-offs over the inspector's charts
 */

/**
 * uPlot's bar path builder, tagged with its options so that the SVG draws the series as
 * bars too (a path builder cannot be read back).
 * @param {{size?: [number, number], gap?: number, align?: -1 | 0 | 1}} opts
 */
export function bars(opts) {
  const paths = uPlot.paths.bars(opts);
  return Object.assign(paths, { exportBars: { size: opts.size ?? [0.6, Infinity], gap: opts.gap ?? 0 } });
}

/**
 * Marks on a plot's canvas (a uPlot draw hook calls it): dashed lines with labels,
 * horizontal at y values or vertical at x values, as the exported SVG draws them.
 * @param {any} u
 * @param {Mark[]} lines
 * @param {string} color
 */
export function drawMarks(u, lines, color) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.lineWidth = devicePixelRatio;
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  lines.forEach((l, i) => {
    if (l.axis === 'y') {
      const y = u.valToPos(l.value, 'y', true);
      if (y < bbox.top || y > bbox.top + bbox.height) return;
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(l.text, bbox.left + bbox.width - 4, y - 4);
    } else {
      const x = u.valToPos(l.value, 'x', true);
      if (x < bbox.left || x > bbox.left + bbox.width) return;
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      ctx.textAlign = 'left';
      ctx.fillText(l.text, x + 4, bbox.top + 14 * devicePixelRatio * (i + 1));
    }
  });
  ctx.restore();
}

/** @param {any} v  a uPlot option (a value or a function of (u, i)) */
const resolve = (v, u, i) => (typeof v === 'function' ? v(u, i) : v);

/** @type {CanvasRenderingContext2D | null} */
let measurer = null;
/** Text width in CSS px for `font` (a CSS font shorthand). */
function textWidth(text, font) {
  measurer ??= document.createElement('canvas').getContext('2d');
  measurer.font = font;
  return measurer.measureText(text).width;
}

/**
 * `text` broken into lines no wider than `width` at spaces, and anywhere inside a word wider
 * than a line (a URL: it then fills each line, so its lines read back whole when joined);
 * newlines are kept.
 */
export function wrap(text, font, width) {
  const out = [];
  for (const para of String(text).split('\n')) {
    let line = '';
    for (const word of para.split(/(?<= )/)) {
      if (textWidth(line + word, font) <= width) {
        line += word;
        continue;
      }
      if (textWidth(word, font) <= width) {
        out.push(line.trimEnd());
        line = word;
        continue;
      }
      for (const ch of word) {
        if (line && textWidth(line + ch, font) > width) {
          out.push(line);
          line = '';
        }
        line += ch;
      }
    }
    out.push(line.trimEnd());
  }
  return out;
}

/** @param {string | Caption} c */
const asCaption = (c) => (typeof c === 'string' ? { text: c } : c);

/** The caption as one string (the SVG's <desc>, tests, alt text). */
export function captionText(c) {
  const { text, link } = asCaption(c);
  return link ? `${text}\nShare link: ${link}` : text;
}

/**
 * An SVG element with attributes (set as attributes: never markup) and text content.
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {string} [text]
 */
function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const r1 = (v) => Math.round(v * 10) / 10;

/** The page's paper and ink (the figure follows the page's theme, as the plot's colours do). */
function paper(node) {
  const bodyStyle = getComputedStyle(document.body);
  const ink = getComputedStyle(node).color || bodyStyle.color;
  let bg = 'white';
  for (let e = /** @type {Element | null} */ (node); e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && c !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(c)) { bg = c; break; }
  }
  return { bg, ink, muted: resolveVar(node, '--muted') || ink };
}

function resolveVar(node, name) {
  return getComputedStyle(node).getPropertyValue(name).trim();
}

/** @param {any} u  @returns {LegendItem[]} */
function seriesLegend(u) {
  return u.series.slice(1).flatMap((s, j) => {
    const i = j + 1;
    if (!s.label || s.show === false) return [];
    const color = resolve(s.stroke, u, i) || resolve(s.fill, u, i);
    return [{ label: String(s.label), color: typeof color === 'string' ? color : 'gray', dash: Array.isArray(s.dash) && s.dash.length > 0 }];
  });
}

/**
 * The plot as a standalone SVG document (a string that starts with <svg xmlns=…>).
 * @param {any} u  a uPlot instance that has been drawn
 * @param {Figure} figure
 */
export function chartSvg(u, figure) {
  return serialize(chartSvgElement(u, figure));
}

/**
 * @param {any} u
 * @param {Figure} figure
 * @returns {SVGSVGElement}
 */
export function chartSvgElement(u, figure) {
  const colors = paper(u.root);
  const chart = el('g', { class: 'chart' });
  drawPlot(chart, u, u.ctx.canvas.width / u.width || 1, figure.marks ?? [], colors);
  return framed(u.width, chart, u.height, figure, figure.legend ?? seriesLegend(u), colors);
}

/**
 * A figure: `figure.title` above, `content` (a <g>, `height` tall, `W` wide) in the middle,
 * then the legend and the caption, on the page's paper.
 * @param {number} W
 * @param {Element} content
 * @param {number} height
 * @param {Figure} figure
 * @param {LegendItem[]} legendItems
 * @param {{bg: string, ink: string, muted: string}} colors
 * @returns {SVGSVGElement}
 */
function framed(W, content, height, figure, legendItems, colors) {
  const inner = W - 2 * PAD;
  const titleFont = `600 ${TITLE_SIZE}px ${FONT}`;
  const titleLines = figure.title ? wrap(figure.title, titleFont, inner) : [];
  const svg = /** @type {SVGSVGElement} */ (el('svg', { xmlns: NS, version: '1.1', 'font-family': FONT }));
  const cap = asCaption(figure.caption);
  svg.append(el('title', {}, figure.title || 'samplescope figure'), el('desc', {}, captionText(cap)));
  const bgRect = el('rect', { x: 0, y: 0, width: W, fill: colors.bg });
  svg.append(bgRect);
  let y = PAD;
  for (const line of titleLines) {
    y += TITLE_SIZE * LINE;
    svg.append(el('text', { x: PAD, y: r1(y - 4), 'font-size': TITLE_SIZE, 'font-weight': 600, fill: colors.ink, class: 'title' }, line));
  }
  if (titleLines.length) y += 4;
  content.setAttribute('transform', `translate(0 ${r1(y)})`);
  svg.append(content);
  y += height + 6;
  const legend = el('g', { class: 'legend' });
  y = drawLegend(legend, legendItems, y, inner, colors);
  svg.append(legend);
  const caption = el('g', { class: 'caption', 'font-size': TEXT_SIZE, fill: colors.muted });
  y = drawCaption(caption, cap, y + 4, inner, `${TEXT_SIZE}px ${FONT}`);
  svg.append(caption);
  const H = Math.ceil(y + PAD);
  for (const [k, v] of Object.entries({ width: W, height: H, viewBox: `0 0 ${W} ${H}` })) svg.setAttribute(k, String(v));
  bgRect.setAttribute('height', String(H));
  return svg;
}

/** The computed styles an SVG drawing needs to look the same outside the page. */
const SVG_STYLES = ['fill', 'stroke', 'stroke-width', 'stroke-linecap', 'stroke-dasharray', 'opacity', 'paint-order', 'font-family', 'font-size', 'font-weight', 'text-anchor', 'dominant-baseline'];

/** A CSS colour as rgb()/rgba() (color-mix and other spaces drawn once on a canvas). */
function plainColor(c) {
  if (!c || /^(none|rgba?\(|#)/.test(c)) return c;
  measurer ??= document.createElement('canvas').getContext('2d');
  const ctx = measurer;
  ctx.clearRect(0, 0, 1, 1);
  ctx.fillStyle = c;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
  return `rgba(${r}, ${g}, ${b}, ${r1(a / 255)})`;
}

/**
 * An SVG drawing of the page (such as the sample tree) as a figure: a copy of it with the
 * styles the page's CSS gives it written onto each element, framed with the title and caption.
 * @param {SVGSVGElement} drawing  shown on the page (its styles are computed)
 * @param {Figure} figure
 */
export function svgFigureElement(drawing, figure) {
  const W = Number(drawing.getAttribute('width')) || drawing.getBoundingClientRect().width;
  const H = Number(drawing.getAttribute('height')) || drawing.getBoundingClientRect().height;
  const copy = /** @type {SVGSVGElement} */ (drawing.cloneNode(true));
  const from = [drawing, ...drawing.querySelectorAll('*')];
  const to = [copy, ...copy.querySelectorAll('*')];
  from.forEach((e, i) => {
    const st = getComputedStyle(e);
    // What the element inherits needs no attribute of its own (opacity is not inherited).
    const up = e === drawing ? null : getComputedStyle(/** @type {Element} */ (e.parentElement));
    for (const prop of SVG_STYLES) {
      const v = st.getPropertyValue(prop);
      if (!v || (prop === 'opacity' ? v === '1' : up?.getPropertyValue(prop) === v)) continue;
      to[i].setAttribute(prop, /fill|stroke$/.test(prop) ? plainColor(v) : v);
    }
    if (st.whiteSpace === 'pre') to[i].setAttribute('style', 'white-space: pre');
    else to[i].removeAttribute('style');
    to[i].removeAttribute('tabindex');
  });
  const content = el('g', { class: 'drawing' });
  content.append(...copy.childNodes);
  for (const a of ['font-family', 'font-size']) {
    const v = copy.getAttribute(a);
    if (v) content.setAttribute(a, v);
  }
  return framed(W, content, H, figure, figure.legend ?? [], paper(drawing));
}

/**
 * Export buttons for an SVG drawing of the page (chart-like, not uPlot).
 * @param {HTMLElement} where
 * @param {() => SVGSVGElement | null} drawing  the drawing shown now
 * @param {{name: string, title?: string | (() => string), caption: () => string | Caption}} opts
 */
export function attachSvgExport(where, drawing, opts) {
  const current = () => {
    const d = drawing();
    if (!d) throw new Error('there is nothing drawn to export yet');
    return d;
  };
  /** @returns {Figure} */
  const figure = () => ({ title: typeof opts.title === 'function' ? opts.title() : opts.title, caption: opts.caption() });
  return exportButtons(where, opts.name, {
    svg: () => serialize(svgFigureElement(current(), figure())),
    png: async () => rasterize(svgFigureElement(current(), figure())),
  });
}

const serialize = (/** @type {Element} */ svg) => new XMLSerializer().serializeToString(svg);

/** Grid, ticks, tick labels, axis labels, series and marks, in the plot's CSS pixels. */
function drawPlot(g, u, pr, marks, colors) {
  const box = { left: u.bbox.left / pr, top: u.bbox.top / pr, width: u.bbox.width / pr, height: u.bbox.height / pr };
  const clip = el('clipPath', { id: 'plot-area' });
  clip.append(el('rect', { x: r1(box.left), y: r1(box.top), width: r1(box.width), height: r1(box.height) }));
  g.append(el('defs'));
  g.firstChild.append(clip);
  const axes = el('g', { class: 'axes' });
  g.append(axes);
  u.axes.forEach((axis, i) => {
    if (!axis.show || !axis._splits) return;
    const ori = axis.side % 2; // 0: horizontal (x), 1: vertical
    const stroke = resolve(axis.stroke, u, i) || colors.muted;
    const font = fontAttrs(axis.font?.[0], pr);
    const pos = (v) => (ori === 0 ? box.left : box.top) + u.valToPos(v, axis.scale);
    const grid = axis.grid?.show ? resolve(axis.grid.stroke, u, i) : null;
    const gridWidth = axis.grid?.width ?? 1;
    const tickStroke = axis.ticks?.show ? resolve(axis.ticks.stroke, u, i) || stroke : null;
    axis._splits.forEach((v, j) => {
      const value = axis._values?.[j];
      const p = pos(v);
      if (!Number.isFinite(p)) return;
      if (grid && value !== null && value !== undefined) {
        axes.append(ori === 0
          ? el('line', { x1: r1(p), x2: r1(p), y1: r1(box.top), y2: r1(box.top + box.height), stroke: grid, 'stroke-width': gridWidth })
          : el('line', { x1: r1(box.left), x2: r1(box.left + box.width), y1: r1(p), y2: r1(p), stroke: grid, 'stroke-width': gridWidth }));
      }
      if (value === null || value === undefined) return;
      const tick = axis.ticks?.show ? axis.ticks.size ?? 10 : 0;
      const gap = (axis.gap ?? 5) + tick;
      const rot = axis._rotate ? -axis._rotate : 0;
      let attrs;
      if (ori === 0) {
        const ty = axis.side === 2 ? axis._pos + gap : axis._pos - gap;
        attrs = rot
          ? { transform: `translate(${r1(p)} ${r1(ty)}) rotate(${rot})`, 'text-anchor': rot < 0 ? 'end' : 'start', 'dominant-baseline': 'middle' }
          : { x: r1(p), y: r1(ty), 'text-anchor': 'middle', 'dominant-baseline': axis.side === 2 ? 'hanging' : 'auto' };
      } else {
        // A label wider than the axis would start left of the figure: nudge it in.
        const tx = axis.side === 3 ? Math.max(axis._pos - gap, textWidth(String(value), `${font['font-size']}px ${FONT}`) + 1) : axis._pos + gap;
        attrs = { x: r1(tx), y: r1(p), 'text-anchor': axis.side === 3 ? 'end' : 'start', 'dominant-baseline': 'middle' };
      }
      if (tick) {
        axes.append(ori === 0
          ? el('line', { x1: r1(p), x2: r1(p), y1: r1(axis._pos), y2: r1(axis._pos + (axis.side === 2 ? tick : -tick)), stroke: tickStroke, 'stroke-width': axis.ticks.width ?? 1 })
          : el('line', { y1: r1(p), y2: r1(p), x1: r1(axis._pos), x2: r1(axis._pos + (axis.side === 3 ? -tick : tick)), stroke: tickStroke, 'stroke-width': axis.ticks.width ?? 1 }));
      }
      axes.append(el('text', { ...attrs, ...font, fill: stroke, class: 'tick' }, String(value)));
    });
    if (axis.label) {
      const label = String(resolve(axis.label, u, i));
      const lfont = fontAttrs(axis.labelFont?.[0], pr);
      const lp = axis._lpos ?? axis._pos;
      const attrs = ori === 0
        ? { x: r1(box.left + box.width / 2), y: r1(axis.side === 2 ? lp + 0.8 * lfont['font-size'] : lp - 0.2 * lfont['font-size']), 'text-anchor': 'middle' }
        : { transform: `translate(${r1(axis.side === 3 ? lp - 0.2 * lfont['font-size'] : lp + 0.8 * lfont['font-size'])} ${r1(box.top + box.height / 2)}) rotate(-90)`, 'text-anchor': 'middle' };
      axes.append(el('text', { ...attrs, ...lfont, fill: stroke, class: 'axis-label' }, label));
    }
  });
  const series = el('g', { class: 'series-all', 'clip-path': 'url(#plot-area)' });
  g.append(series);
  const xs = u.data[0];
  const X = (v) => box.left + u.valToPos(v, 'x');
  u.series.forEach((s, i) => {
    if (i === 0 || s.show === false) return;
    const ys = u.data[i];
    const stroke = resolve(s.stroke, u, i);
    const fill = resolve(s.fill, u, i);
    const Y = (v) => box.top + u.valToPos(v, s.scale ?? 'y');
    const gs = el('g', { class: 'series', 'data-label': s.label ?? '' });
    series.append(gs);
    const barOpts = s.paths?.exportBars;
    if (barOpts) {
      const px = xs.map(X);
      const step = Math.min(...px.slice(1).map((p, j) => p - px[j]).filter((d) => d > 0), box.width);
      const w = Math.max(1, Math.min(barOpts.size[1], step * barOpts.size[0]) - barOpts.gap);
      const base = box.top + box.height;
      ys.forEach((v, j) => {
        if (v === null || v === undefined || !Number.isFinite(px[j])) return;
        const top = Math.max(box.top, Math.min(base, Y(v)));
        gs.append(el('rect', { x: r1(px[j] - w / 2), y: r1(top), width: r1(w), height: r1(base - top), fill: fill || stroke || 'gray' }));
      });
      return;
    }
    let d = '';
    let pen = false;
    ys.forEach((v, j) => {
      if (v === null || v === undefined || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${r1(X(xs[j]))} ${r1(Y(v))}`;
      pen = true;
    });
    if (d) {
      gs.append(el('path', {
        d, fill: 'none', stroke: stroke || 'gray', 'stroke-width': s.width ?? 1,
        'stroke-dasharray': Array.isArray(s.dash) && s.dash.length ? s.dash.join(' ') : null, 'stroke-linejoin': 'round',
      }));
    }
    if (showsPoints(u, s, i)) {
      const rad = (s.points.size ?? 5) / 2;
      ys.forEach((v, j) => {
        if (v === null || v === undefined || !Number.isFinite(v)) return;
        gs.append(el('circle', { cx: r1(X(xs[j])), cy: r1(Y(v)), r: rad, fill: stroke || 'gray' }));
      });
    }
  });
  const marksG = el('g', { class: 'marks', 'font-size': 11, fill: colors.muted });
  g.append(marksG);
  marks.forEach((m, j) => {
    const p = m.axis === 'x' ? box.left + u.valToPos(m.value, 'x') : box.top + u.valToPos(m.value, 'y');
    if (!Number.isFinite(p)) return;
    if (m.axis === 'x' ? p < box.left || p > box.left + box.width : p < box.top || p > box.top + box.height) return;
    const line = m.axis === 'x'
      ? { x1: r1(p), x2: r1(p), y1: r1(box.top), y2: r1(box.top + box.height) }
      : { x1: r1(box.left), x2: r1(box.left + box.width), y1: r1(p), y2: r1(p) };
    marksG.append(el('line', { ...line, stroke: colors.muted, 'stroke-dasharray': '5 4' }));
    marksG.append(m.axis === 'x'
      ? el('text', { x: r1(p + 4), y: r1(box.top + 14 * (j + 1)) }, m.text)
      : el('text', { x: r1(box.left + box.width - 4), y: r1(p - 4), 'text-anchor': 'end' }, m.text));
  });
}

/**
 * A uPlot font string (its size scaled by the pixel ratio) as SVG attributes in CSS pixels:
 * the size, bold, and monospace where the chart asked for it (the figure's family otherwise).
 */
function fontAttrs(font, pr) {
  const f = typeof font === 'string' ? font : '';
  const size = /([\d.]+)px/.exec(f);
  return {
    'font-size': size ? r1(Number(size[1]) / pr) : 11,
    'font-weight': /\bbold\b|\b[6-9]00\b/.test(f) ? 'bold' : null,
    'font-family': /mono/i.test(f) ? 'ui-monospace, Menlo, Consolas, "Liberation Mono", monospace' : null,
  };
}

function showsPoints(u, s, i) {
  try {
    return s.points?.show?.(u, i, 0, u.data[0].length - 1, []) === true;
  } catch {
    return false;
  }
}

/** Swatches and labels in rows; returns the y below them. */
function drawLegend(g, items, y, width, colors) {
  if (!items.length) return y;
  const font = `${TEXT_SIZE}px ${FONT}`;
  let x = PAD;
  let row = y + TEXT_SIZE * LINE;
  for (const it of items) {
    const w = 22 + textWidth(it.label, font) + 14;
    if (x > PAD && x + w > PAD + width) {
      x = PAD;
      row += TEXT_SIZE * LINE;
    }
    const mid = r1(row - TEXT_SIZE / 2 + 1);
    g.append(it.dash
      ? el('line', { x1: x, x2: x + 16, y1: mid, y2: mid, stroke: it.color, 'stroke-width': 2, 'stroke-dasharray': '4 3' })
      : el('rect', { x, y: r1(mid - 5), width: 16, height: 10, rx: 2, fill: it.color }));
    g.append(el('text', { x: x + 22, y: r1(row - 2), 'font-size': TEXT_SIZE, fill: colors.ink }, it.label));
    x += w;
  }
  return row + 4;
}

/**
 * The caption's lines, the link's lines inside an <a>; returns the y below them.
 * @param {Element} g @param {Caption} caption @param {number} y @param {number} width @param {string} font
 */
function drawCaption(g, { text, link }, y, width, font) {
  const line = (t) => {
    y += TEXT_SIZE * LINE;
    return el('text', { x: PAD, y: r1(y - 3) }, t);
  };
  for (const t of wrap(text, font, width)) g.append(line(t));
  if (link) {
    const a = el('a', { href: link, class: 'share-link' });
    // The link's characters in order across its lines (no added spaces: it reads back whole).
    for (const t of wrap(`Share link: ${link}`, font, width)) a.append(line(t));
    g.append(a);
  }
  return y;
}

/**
 * The chart as a PNG at PNG_SCALE× its CSS pixels: its SVG drawn onto a canvas.
 * @param {any} u
 * @param {Figure} figure
 * @returns {Promise<Blob>}
 */
export async function chartPng(u, figure) {
  return rasterize(chartSvgElement(u, figure));
}

/**
 * A framed SVG figure as a PNG at PNG_SCALE× its size (an <img> of it drawn on a canvas).
 * @param {SVGSVGElement} svg
 * @returns {Promise<Blob>}
 */
async function rasterize(svg) {
  const W = Number(svg.getAttribute('width'));
  const H = Number(svg.getAttribute('height'));
  const url = URL.createObjectURL(new Blob([serialize(svg)], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(W * PNG_SCALE);
    canvas.height = Math.round(H * PNG_SCALE);
    canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
    return await toPng(canvas);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** @param {HTMLCanvasElement} canvas @returns {Promise<Blob>} */
function toPng(canvas) {
  return new Promise((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('the browser could not encode the PNG'))), 'image/png'));
}

/**
 * "SVG" and "PNG" buttons appended to `where`: each makes its file when pressed and
 * downloads it as `${name}.svg` / `${name}.png`.
 * @param {HTMLElement} where
 * @param {string} name  the file name without extension
 * @param {{svg?: () => string, png: () => Promise<Blob>}} make
 */
export function exportButtons(where, name, make) {
  const fail = (e) => toast(`Could not export the figure: ${e?.message ?? e}`);
  const button = (kind, title, run) => h('button', { type: 'button', className: 'ghost export-btn', dataset: { export: kind }, title, on: { click: run } }, kind.toUpperCase());
  const group = h('span', { className: 'export-buttons' },
    make.svg ? button('svg', 'Download this figure as SVG, with its caption and share link', () => {
      try {
        download(`${name}.svg`, new Blob([make.svg()], { type: 'image/svg+xml' }));
      } catch (e) { fail(e); }
    }) : null,
    button('png', `Download this figure as PNG (${PNG_SCALE}× pixels), with its caption and share link`, () => {
      make.png().then((b) => download(`${name}.png`, b), fail);
    }));
  where.append(group);
  return group;
}

/**
 * Export buttons for a uPlot chart.
 * @param {HTMLElement} where  the buttons go at its end (a figure's caption, a heading)
 * @param {any} plot  a uPlot, or a function giving the chart shown now (null: none)
 * @param {{name: string, title?: string | (() => string), caption: () => string | Caption, legend?: () => LegendItem[], marks?: () => Mark[]}} opts
 */
export function attachExport(where, plot, opts) {
  const current = () => {
    const u = typeof plot === 'function' ? plot() : plot;
    if (!u) throw new Error('there is no chart to export yet');
    return u;
  };
  /** @returns {Figure} */
  const figure = () => ({
    title: typeof opts.title === 'function' ? opts.title() : opts.title,
    caption: opts.caption(),
    legend: opts.legend?.(),
    marks: opts.marks?.(),
  });
  return exportButtons(where, opts.name, {
    svg: () => chartSvg(current(), figure()),
    png: async () => chartPng(current(), figure()),
  });
}

// ---- the lanes -----------------------------------------------------------------------------

/**
 * The lanes panel as a PNG at PNG_SCALE× its CSS pixels: each lane card where the page puts
 * it, with its name, description, stats and notes, and its text (the prompt echo muted, the
 * tokens with their backgrounds: the heat colours when heat is on), then the caption.
 * @param {HTMLElement} root  the lanes' container (.lane cards inside)
 * @param {{title?: string, caption: string | Caption}} figure
 * @returns {Promise<Blob>}
 */
export async function lanesPng(root, figure) {
  const W = Math.round(root.clientWidth);
  const colors = paper(root);
  const cards = [...root.querySelectorAll('.lane')].map((c) => /** @type {HTMLElement} */ (c));
  const origin = root.getBoundingClientRect();
  const measure = document.createElement('canvas').getContext('2d');
  // Pass 1 measures (no canvas yet), pass 2 draws at the heights pass 1 found.
  const layout = (ctx, draw) => {
    let y = 4;
    const titleFont = `600 ${TITLE_SIZE}px ${FONT}`;
    if (figure.title) y = textBlock(ctx, figure.title, titleFont, colors.ink, PAD, y, W - 2 * PAD, draw);
    const rows = new Map();
    for (const card of cards) {
      const r = card.getBoundingClientRect();
      const top = Math.round(r.top - origin.top);
      if (!rows.has(top)) rows.set(top, []);
      rows.get(top).push({ card, x: r.left - origin.left, w: r.width });
    }
    for (const top of [...rows.keys()].sort((a, b) => a - b)) {
      let bottom = y;
      for (const c of rows.get(top)) bottom = Math.max(bottom, drawCard(ctx, c.card, c.x, y, c.w, colors, false, null));
      // every card of a row as tall as the tallest
      if (draw) for (const c of rows.get(top)) drawCard(ctx, c.card, c.x, y, c.w, colors, true, bottom);
      y = bottom + 12;
    }
    const cap = asCaption(figure.caption);
    y = textBlock(ctx, cap.text, `${TEXT_SIZE}px ${FONT}`, colors.muted, PAD, y, W - 2 * PAD, draw);
    if (cap.link) y = textBlock(ctx, `Share link: ${cap.link}`, `${TEXT_SIZE}px ${FONT}`, colors.muted, PAD, y, W - 2 * PAD, draw);
    return Math.ceil(y + PAD);
  };
  const H = layout(measure, false);
  const canvas = document.createElement('canvas');
  canvas.width = W * PNG_SCALE;
  canvas.height = H * PNG_SCALE;
  const ctx = canvas.getContext('2d');
  ctx.scale(PNG_SCALE, PNG_SCALE);
  ctx.fillStyle = colors.bg;
  ctx.fillRect(0, 0, W, H);
  layout(ctx, true);
  return toPng(canvas);
}

/** Wrapped text from y down; returns the y below it. */
function textBlock(ctx, text, font, color, x, y, width, draw) {
  const size = parseFloat(/([\d.]+)px/.exec(font)?.[1] ?? '12');
  for (const line of wrap(text, font, width)) {
    y += size * LINE;
    if (draw) {
      ctx.font = font;
      ctx.fillStyle = color;
      ctx.fillText(line, x, y - size * 0.3);
    }
  }
  return y;
}

/**
 * One lane card at (x, y), `w` wide; `height` (when given) is the row's: the card's frame is
 * drawn that tall. Returns the y of the card's bottom.
 */
function drawCard(ctx, card, x, y, w, colors, draw, height) {
  const laneColor = getComputedStyle(card).borderTopColor || colors.ink;
  const panel = getComputedStyle(card).backgroundColor || colors.bg;
  const pad = 14;
  const inner = w - 2 * pad;
  const muted = colors.muted;
  const frame = height !== null;
  if (draw && frame) {
    ctx.fillStyle = panel;
    ctx.strokeStyle = getComputedStyle(card).borderLeftColor || muted;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.roundRect(x + 0.5, y + 0.5, w - 1, height - y - 1, 8);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = laneColor;
    ctx.fillRect(x + 4, y, w - 8, 3);
  }
  const paint = draw && frame;
  const text = (sel) => card.querySelector(sel)?.textContent ?? '';
  let cy = y + 6;
  cy = textBlock(ctx, text('.lane-name'), `650 15px ${FONT}`, laneColor, x + pad, cy, inner, paint);
  cy = textBlock(ctx, text('.lane-desc'), `12.5px ${FONT}`, muted, x + pad, cy, inner, paint);
  const stats = [...card.querySelectorAll('.lane-stats [data-stat]')].map((s) => s.textContent).filter(Boolean).join('   ');
  cy = textBlock(ctx, stats, `12.5px ${FONT}`, muted, x + pad, cy, inner, paint);
  for (const sel of ['.lane-fork', '.lane-note']) {
    const n = /** @type {HTMLElement | null} */ (card.querySelector(sel));
    if (n && !n.hidden && n.textContent) cy = textBlock(ctx, n.textContent, `12.5px ${FONT}`, muted, x + pad, cy, inner, paint);
  }
  cy += 6;
  const stream = card.querySelector('.stream');
  if (stream) cy = drawStream(ctx, stream, x + pad, cy, inner, colors, laneColor, paint);
  return Math.max(cy + pad, frame ? height : 0);
}

/** The stream's text run by run (prompt echo, tokens), wrapped at `width`; returns the y below. */
function drawStream(ctx, stream, x0, y, width, colors, laneColor, draw) {
  const st = getComputedStyle(stream);
  const size = parseFloat(st.fontSize) || 13.5;
  const lh = parseFloat(st.lineHeight) || size * 1.65;
  const font = `${size}px ${st.fontFamily}`;
  const heatOn = (stream.closest('.lanes')?.getAttribute('data-heat') ?? 'off') !== 'off';
  ctx.font = font;
  let x = x0;
  let line = y;
  const newline = () => { x = x0; line += lh; };
  const put = (piece, bg, color, underline) => {
    const w = ctx.measureText(piece).width;
    if (x + w > x0 + width && x > x0) newline();
    if (draw) {
      if (bg) {
        ctx.fillStyle = bg;
        ctx.fillRect(x, line + 1, w, lh - 2);
      }
      if (underline) {
        ctx.fillStyle = underline;
        ctx.fillRect(x, line + lh - 3, w, 2);
      }
      ctx.fillStyle = color;
      ctx.fillText(piece, x, line + lh * 0.72);
    }
    x += w;
  };
  const run = (text, bg, color, underline) => {
    text.split('\n').forEach((para, k) => {
      if (k > 0) newline();
      // whole words where they fit, characters where a word is wider than the line
      for (const word of para.split(/(?<= )/)) {
        if (ctx.measureText(word).width <= width) put(word, bg, color, underline);
        else for (const ch of word) put(ch, bg, color, underline);
      }
    });
  };
  for (const node of stream.querySelectorAll('.prompt-echo, .tok')) {
    const e = /** @type {HTMLElement} */ (node);
    if (e.classList.contains('prompt-echo')) {
      run(e.textContent ?? '', null, colors.muted, null);
      continue;
    }
    const bg = getComputedStyle(e).backgroundColor;
    const fill = bg && bg !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(bg) ? bg : null;
    const mark = heatOn && e.classList.contains('off-argmax') ? resolveVar(e, '--chosen') || laneColor : null;
    if (e.classList.contains('eog')) run(' ⏎ end', null, colors.muted, null);
    else if (e.textContent) run(e.textContent, fill, colors.ink, mark);
  }
  return line + lh;
}
