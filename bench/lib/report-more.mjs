// Tables for the results whose shape is not the runner's (form-upload and files-list, made by
// bench/lib/forms.mjs), a table for any other scenario from its charts' data (so a new scenario
// shows up with a table and a chart before anyone writes a table for it), and the image links.
import { chartFile, chartsOf } from './chart-data.mjs';

const n = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : String(v ?? '—'));
/** A figure of unknown scale with about three significant digits. */
const g = (v) => (!Number.isFinite(v) ? '—' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const heading = (result) => [`### ${result.title} (\`${result.scenario}\`)`, '', ...(result.method ? [result.method, ''] : [])];

function formUploadLines(result) {
  const lines = heading(result);
  const label = { form: '`curl -F` (multipart/form-data)', tus: '`curl -T` (one tus PATCH)' };
  lines.push('| upload | median | min–max | MiB/s | server RSS idle → peak (medians) | growth (median, max) |', '| --- | --- | --- | --- | --- | --- |');
  for (const [name, v] of Object.entries(result.variants)) {
    const s = v.seconds;
    lines.push(`| ${label[name] ?? name} | ${n(s.median, 2)} s | ${n(s.min, 2)}–${n(s.max, 2)} s | ${n(result.config.sizeMiB / s.median, 0)} | ${n(v.idleRssMiB.median, 0)} → ${n(v.peakRssMiB.median, 0)} MiB | +${n(v.growthMiB.median, 0)} MiB (max +${n(v.growthMiB.max, 0)}) |`);
  }
  const ratio = result.ratios?.['form/tus'];
  lines.push('');
  if (ratio) lines.push(`Form ÷ tus time, per pair: median **${n(ratio.perPairMedian, 2)}** (${n(ratio.min, 2)}–${n(ratio.max, 2)}). ${result.config.pairs} pairs of ${result.config.sizeMiB} MiB.`);
  return lines;
}

function filesListLines(result) {
  const lines = heading(result);
  lines.push('| store | listed / in store | pass | pages | first page | median page | slowest page | all pages |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, layout] of Object.entries(result.results)) {
    for (const pass of ['cold', 'warm']) {
      const p = layout[pass];
      lines.push(`| ${name} | ${layout.listed} / ${layout.uploadsInStore} | ${pass} | ${p.pages} | ${n(p.firstPageMs, 1)} ms | ${n(p.medianPageMs, 1)} ms | ${n(p.maxPageMs, 1)} ms | ${n(p.totalMs, 0)} ms |`);
    }
  }
  return lines;
}

/** A chart's data as a table: x (or category) down, one column per series. */
function chartTable(chart) {
  const names = chart.series.map((s) => s.name);
  const lines = [`**${chart.title}**`, '', `| ${chart.kind === 'bar' ? '' : chart.x?.label ?? 'x'} | ${names.map((s) => `${s} (${chart.y?.label ?? ''})`).join(' | ')} |`, `| --- | ${names.map(() => '---').join(' | ')} |`];
  if (chart.kind === 'bar') {
    chart.categories.forEach((category, i) => {
      const cells = chart.series.map((s) => (s.low?.[i] !== undefined && s.high?.[i] !== undefined ? `${g(s.values[i])} (${g(s.low[i])}–${g(s.high[i])})` : g(s.values[i])));
      lines.push(`| ${category} | ${cells.join(' | ')} |`);
    });
  } else {
    const xs = [...new Set(chart.series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
    // A time line of hundreds of samples is for the picture, not for a table.
    if (xs.length > 30) return [`**${chart.title}**: ${xs.length} samples per series, see the chart.`];
    for (const x of xs) lines.push(`| ${x} | ${chart.series.map((s) => g(s.points.find((p) => p[0] === x)?.[1])).join(' | ')} |`);
  }
  return lines;
}

/** Heading, method and a table per chart, for a scenario whose kind has no table of its own. */
function genericLines(result) {
  const lines = heading(result);
  for (const chart of chartsOf(result)) lines.push(...chartTable(chart), '');
  return lines;
}

const TABLES = { 'form-upload': formUploadLines, 'files-list': filesListLines };

/** Lines for a result the runner's own tables do not know, or undefined. */
export function moreLines(result, known) {
  const table = TABLES[result.kind] ?? TABLES[result.scenario];
  if (table) return table(result);
  return known ? undefined : genericLines(result);
}

/** Markdown images for a result's charts (the SVGs writeDocs renders beside the docs file). */
export function chartImageLines(result) {
  return chartsOf(result).map((chart) => `![${chart.title.replace(/[[\]]/g, '')}](${chartFile(result, chart)})`);
}
