// Render the `charts` of bench results to SVG with Vega-Lite (compiled to Vega, rendered headless:
// no browser, no canvas, no native module). Two shapes (see docs/BENCHMARKS.md, "Charts"):
//   { id, title, kind: 'line', x: { label, log? }, y: { label, log? }, series: [{ name, points: [[x, y], ...] }] }
//   { id, title, kind: 'bar', y: { label }, categories: [...], series: [{ name, values: [...], low?: [...], high?: [...] }] }
// `low`/`high` (optional, per category) draw a min–max whisker over a bar. A bar chart with one
// series colours each category (the axis names them); with several, each series has a colour and
// a legend. Lines get a marker shape per series as well as a colour, for readers who cannot tell
// the colours apart.
import * as vega from 'vega';
import { compile } from 'vega-lite';

/** Okabe & Ito's palette, safe for the common colour-vision deficiencies; ordered so neighbours differ most (the two blues apart, yellow last: faint on white). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#000000', '#F0E442'];
const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left'];
const FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';
const NUMBER = ',.3~r';

// Without a canvas Vega guesses every character at 0.8 em, so long axis labels got cut off with
// "…" while half the space stayed empty. A guess per character class (DejaVu Sans / Verdana
// widths, rounded up) fits the text it lays out; Vega calls textMetrics.width for all of it.
const NARROW = /[ilj.,:;'|!()[\]{}ftI\s]/;
const WIDE = /[mwMW@%—–]/;
vega.textMetrics.width = (item, text) => {
  const value = String(text ?? item.text ?? '');
  const size = vega.fontSize(item);
  let em = 0;
  for (const ch of value) em += NARROW.test(ch) ? 0.36 : WIDE.test(ch) ? 0.95 : /[A-Z]/.test(ch) ? 0.72 : 0.62;
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  return Math.ceil(em * size * (bold ? 1.1 : 1));
};

const CONFIG = {
  background: '#ffffff',
  font: FONT,
  padding: 12,
  title: { fontSize: 15, anchor: 'start', offset: 12, limit: 1200, subtitlePadding: 4 },
  axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', gridColor: '#e4e4e4', labelLimit: 460 },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 400, orient: 'bottom', direction: 'vertical', symbolStrokeWidth: 3 },
  view: { stroke: null },
};

/**
 * At most about 2 × `buckets` points per series: the lowest and the highest of each bucket, in
 * order, so a long RSS timeline keeps its peaks and dips but not thousands of SVG points.
 */
export function thin(points, buckets = 300) {
  if (points.length <= 2 * buckets) return points;
  const out = [];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const slice = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (!slice.length) continue;
    const lo = slice.reduce((a, p) => (p[1] < a[1] ? p : a));
    const hi = slice.reduce((a, p) => (p[1] > a[1] ? p : a));
    out.push(...(lo === hi ? [lo] : lo[0] <= hi[0] ? [lo, hi] : [hi, lo]));
  }
  return out;
}

function lineSpec(chart) {
  const logX = Boolean(chart.x?.log);
  const logY = Boolean(chart.y?.log);
  const names = chart.series.map((s) => s.name);
  const values = chart.series.flatMap((s) =>
    thin((s.points ?? []).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0))).map(([x, y]) => ({ series: s.name, x, y })),
  );
  const sparse = chart.series.every((s) => s.points.length <= 30);
  const scale = (log) => (log ? { type: 'log' } : { zero: true });
  const legend = names.length > 1 ? { title: null } : null;
  const color = { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: PALETTE }, legend };
  const shape = { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: SHAPES }, legend };
  return {
    width: 640,
    height: 320,
    data: { values },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: chart.x?.label ?? '', scale: scale(logX), axis: logX ? { tickCount: 6, format: '~s' } : {} },
      y: { field: 'y', type: 'quantitative', title: chart.y?.label ?? '', scale: scale(logY), axis: logY ? { format: '~s' } : {} },
      color,
    },
    // Markers where they mark measurements; a dense time line (RSS sampled every 100 ms) would drown in them.
    layer: [{ mark: { type: 'line', strokeWidth: 2 } }, ...(sparse ? [{ mark: { type: 'point', filled: true, size: 60, opacity: 1 }, encoding: { shape } }] : [])],
  };
}

function barSpec(chart) {
  const names = chart.series.map((s) => s.name);
  const single = names.length === 1;
  const values = chart.series.flatMap((s) =>
    chart.categories.map((category, i) => {
      const value = s.values[i];
      const low = s.low?.[i];
      const high = s.high?.[i];
      return { category, series: s.name, value, low, high, end: Math.max(value, high ?? value) };
    }),
  ).filter((row) => Number.isFinite(row.value));
  const categories = chart.categories;
  const color = single
    ? { field: 'category', type: 'nominal', sort: categories, scale: { domain: categories, range: PALETTE }, legend: null }
    : { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: PALETTE }, legend: { title: null } };
  const y = { field: 'category', type: 'nominal', sort: categories, title: null, axis: { labelLimit: 460, labelPadding: 6 } };
  const offset = single ? {} : { yOffset: { field: 'series', type: 'nominal', sort: names } };
  const x = { field: 'value', type: 'quantitative', title: chart.y?.label ?? '', axis: { tickCount: 8 } };
  const whiskers = values.some((r) => Number.isFinite(r.low) && Number.isFinite(r.high));
  return {
    width: 520,
    height: { step: single ? 26 : 18 },
    data: { values },
    encoding: { y, ...offset },
    layer: [
      { mark: { type: 'bar', height: { band: 0.8 } }, encoding: { x, color } },
      ...(whiskers
        ? [
            { transform: [{ filter: 'isValid(datum.low) && isValid(datum.high)' }], mark: { type: 'rule', color: '#333333', strokeWidth: 1.5 }, encoding: { x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
            { transform: [{ filter: 'isValid(datum.low) && isValid(datum.high)' }], mark: { type: 'tick', color: '#333333', thickness: 1.5, size: 10, orient: 'vertical' }, encoding: { x: { field: 'low', type: 'quantitative' } } },
            { transform: [{ filter: 'isValid(datum.low) && isValid(datum.high)' }], mark: { type: 'tick', color: '#333333', thickness: 1.5, size: 10, orient: 'vertical' }, encoding: { x: { field: 'high', type: 'quantitative' } } },
          ]
        : []),
      { mark: { type: 'text', align: 'left', dx: 5, fontSize: 11, color: '#222222' }, encoding: { x: { field: 'end', type: 'quantitative' }, text: { field: 'value', type: 'quantitative', format: NUMBER } } },
    ],
  };
}

/** The Vega-Lite spec of one chart (exported for tests and for anyone who wants to restyle it). */
export function chartSpec(chart) {
  const body = chart.kind === 'bar' ? barSpec(chart) : chart.kind === 'line' ? lineSpec(chart) : undefined;
  if (!body) throw new Error(`chart ${chart.id}: unknown kind ${chart.kind}`);
  const subtitle = chart.note ? { subtitle: chart.note, subtitleFontSize: 12, subtitleColor: '#555555' } : {};
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, title: { text: chart.title, ...subtitle }, ...body };
}

/** One chart as an SVG document (a string). */
export async function renderChart(chart) {
  const view = new vega.View(vega.parse(compile(chartSpec(chart)).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return `${svg}\n`;
  } finally {
    view.finalize();
  }
}
