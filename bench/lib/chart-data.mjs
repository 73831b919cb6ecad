// Which charts a result gets: the ones the scenario put in its JSON (`charts`), plus charts
// derived here from the fields of the result kinds that existed before charts did (so committed
// results get pictures without a re-run). A chart of the result's own with the same id wins.
import fs from 'node:fs';
import path from 'node:path';

const MEDIAN_NOTE = (rounds) => `bars: median; whiskers: min–max over ${rounds} measured rounds`;

/** MiB/s from seconds: the median's, and the slowest and fastest round's (so low ≤ value ≤ high). */
function throughput(mib, v) {
  return { value: mib / v.median, low: mib / v.max, high: mib / v.min };
}

/** A bar chart of several series over the same categories. */
const grouped = ({ id, title, label, note, categories, series }) => ({ id, title, kind: 'bar', y: { label }, note, categories, series });

function bars({ id, title, label, note, rows }) {
  const series = [{ name: label, values: rows.map((r) => r.value), low: rows.map((r) => r.low), high: rows.map((r) => r.high) }];
  return grouped({ id, title, label, note, categories: rows.map((r) => r.category), series });
}

function peakRss(result, pick = (v) => v.peakRssMiB, skip = () => false) {
  const rows = Object.entries(result.variants)
    .filter(([name, v]) => !skip(name) && pick(v))
    .map(([, v]) => ({ category: v.label, value: pick(v).median, low: pick(v).min, high: pick(v).max }));
  if (!rows.length) return [];
  return [bars({ id: 'peak-rss', title: `Peak RSS: ${result.title}`, label: 'server peak RSS (MiB)', note: MEDIAN_NOTE(result.config.pairs), rows })];
}

function uploadCharts(result) {
  // Concurrent and fleet runs upload totalMiB in all; the others one file of sizeMiB.
  const mib = result.config.totalMiB ?? result.config.sizeMiB;
  const rows = Object.values(result.variants).map((v) => ({ category: v.label, ...throughput(mib, v) }));
  const label = result.config.totalMiB ? 'MiB/s (all uploads together)' : 'MiB/s';
  return [bars({ id: 'throughput', title: result.title, label, note: MEDIAN_NOTE(result.config.pairs), rows }), ...peakRss(result)];
}

function rateCharts(result) {
  const rows = Object.values(result.variants).map((v) => ({ category: v.label, value: v.median, low: v.min, high: v.max }));
  return [bars({ id: 'rate', title: result.title, label: result.metric.name, note: MEDIAN_NOTE(result.config.pairs), rows })];
}

function s3UploadCharts(result) {
  const rows = Object.values(result.variants).map((v) => ({ category: v.label, ...throughput(result.config.sizeMiB, v) }));
  const rss = peakRss(result, (v) => v.tusportPeakRssMiB, (name) => name === 'direct');
  for (const chart of rss) chart.y.label = chart.series[0].name = 'tusport peak RSS (MiB)';
  return [bars({ id: 'throughput', title: result.title, label: 'MiB/s', note: MEDIAN_NOTE(result.config.pairs), rows }), ...rss];
}

function s3HeadCharts(result) {
  const variants = Object.values(result.variants);
  const note = `over all ${result.config.requestsPerVariant} requests of each variant; whiskers on p50: the range of the ${result.config.pairs} round medians`;
  const series = [
    { name: 'p50', values: variants.map((v) => v.p50Ms), low: variants.map((v) => v.roundMedianMinMs), high: variants.map((v) => v.roundMedianMaxMs) },
    { name: 'p99', values: variants.map((v) => v.p99Ms) },
  ];
  return [grouped({ id: 'latency', title: result.title, label: 'HEAD latency (ms)', note, categories: variants.map((v) => v.label), series })];
}

function formCharts(result) {
  const label = { form: 'curl -F (multipart/form-data)', tus: 'curl -T (one tus PATCH)' };
  const entries = Object.entries(result.variants);
  const rows = entries.map(([name, v]) => ({ category: label[name] ?? name, ...throughput(result.config.sizeMiB, v.seconds) }));
  return [
    bars({ id: 'throughput', title: result.title, label: 'MiB/s', note: MEDIAN_NOTE(result.config.pairs), rows }),
    grouped({
      id: 'rss',
      title: `Server RSS: ${result.title}`,
      label: 'RSS (MiB)',
      note: `medians over ${result.config.pairs} runs, each in a fresh server`,
      categories: entries.map(([name]) => label[name] ?? name),
      series: [
        { name: 'idle, before the upload', values: entries.map(([, v]) => v.idleRssMiB.median) },
        { name: 'peak during the upload', values: entries.map(([, v]) => v.peakRssMiB.median) },
      ],
    }),
  ];
}

function filesListCharts(result) {
  const layouts = Object.entries(result.results);
  return [
    grouped({
      id: 'page-time',
      title: result.title,
      label: 'time per page (ms)',
      note: 'median page; cold = first pass after start, warm = second pass',
      categories: layouts.map(([name, l]) => `${name} (${l.listed} of ${l.uploadsInStore} listed)`),
      series: [
        { name: 'cold', values: layouts.map(([, l]) => l.cold.medianPageMs) },
        { name: 'warm', values: layouts.map(([, l]) => l.warm.medianPageMs) },
      ],
    }),
  ];
}

const DERIVED = {
  upload: uploadCharts,
  concurrent: uploadCharts,
  rate: rateCharts,
  fleet: uploadCharts,
  's3-upload': s3UploadCharts,
  's3-head': s3HeadCharts,
  'form-upload': formCharts,
  'files-list': filesListCharts,
};

/** A chart with nothing to draw (fields missing from an older result) is left out, not drawn empty. */
const warned = new Set();
function hasData(chart) {
  if (chart.kind !== 'bar' && chart.kind !== 'line') {
    if (!warned.has(chart.id)) console.warn(`chart ${chart.id}: kind ${chart.kind} is neither bar nor line: left out`);
    warned.add(chart.id);
    return false;
  }
  const numbers = chart.kind === 'bar' ? chart.series?.flatMap((s) => s.values ?? []) : chart.series?.flatMap((s) => (s.points ?? []).map((p) => p[1]));
  return Boolean(numbers?.some(Number.isFinite));
}

/** The charts of one result: derived ones first, then the result's own (an own chart replaces a derived one of the same id). */
export function chartsOf(result) {
  const own = Array.isArray(result.charts) ? result.charts : [];
  const derive = DERIVED[result.kind] ?? DERIVED[result.scenario];
  let derived = [];
  try {
    derived = derive ? derive(result) : [];
  } catch (error) {
    // A result of an older or newer shape than this code knows: its own charts still show.
    console.warn(`charts: nothing derived from ${result.scenario}: ${error.message}`);
  }
  const ownIds = new Set(own.map((c) => c.id));
  return [...derived.filter((c) => !ownIds.has(c.id)), ...own].filter(hasData);
}

/** Where a chart's SVG goes, relative to the docs directory. */
export const chartFile = (result, chart) => `bench/${result.scenario}-${chart.id}.svg`;

/** Every scenario result in `resultsDir` (the profiles' JSON are not scenario results). */
export function readResults(resultsDir) {
  return fs
    .readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('profile'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(resultsDir, f), 'utf8')))
    .filter((r) => r.scenario);
}
