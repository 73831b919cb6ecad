// The store-size result as Markdown lines for docs/BENCHMARKS.md (kept in the result as
// `markdown`, so the generic report can print it without knowing this result's shape).

const n = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
const int = (v) => v.toLocaleString('en');

export function renderStoreSize(result) {
  const { points } = result;
  const lines = [`### ${result.title} (\`${result.scenario}\`)`, '', result.method, ''];
  lines.push(`| uploads in store | ${points.map((p) => int(p.uploads)).join(' | ')} |`);
  lines.push(`| --- | ${points.map(() => '---').join(' | ')} |`);
  const row = (label, pick) => lines.push(`| ${label} | ${points.map(pick).join(' | ')} |`);
  row('HEAD p50 / p99', (p) => `${n(p.head.p50, 2)} / ${n(p.head.p99, 2)} ms`);
  row('PATCH 64 KiB p50 / p99', (p) => `${n(p.patch.p50, 2)} / ${n(p.patch.p99, 2)} ms`);
  row('POST (creation) p50 / p99', (p) => `${n(p.post.p50, 2)} / ${n(p.post.p99, 2)} ms`);
  row('GET list (limit 50) p50 / p99', (p) => `${n(p.list.p50, 1)} / ${n(p.list.p99, 1)} ms`);
  // Since the quota rebuild runs at start (results with config.rebuildAtStart), /readyz waits for it.
  const atStart = result.config?.rebuildAtStart === true;
  row(atStart ? 'startup to /readyz 200, quota rebuild included (server CPU)' : 'startup to /readyz 200 (server CPU)', (p) => `${n(p.startupS, 2)} s (${n(p.startupCpuS, 2)} s)`);
  row(atStart ? 'first quota-checked POST after ready (server CPU)' : 'first POST: quota rebuild (server CPU)', (p) => `${n(p.firstPostS, 2)} s (${n(p.firstPostCpuS, 2)} s)`);
  row('sweep: `tusport cleanup` (its CPU)', (p) => `${n(p.sweep.seconds, 2)} s (${n(p.sweep.cpuS, 2)} s), ${p.sweep.result.expired} expired`);
  row('server RSS after startup', (p) => `${n(p.rssAfterStartupMiB, 0)} MiB`);
  row(atStart ? 'server peak RSS, first POST' : 'server peak RSS, quota rebuild', (p) => `${n(p.peakRssRebuildMiB, 0)} MiB`);
  row('server peak RSS, the requests above', (p) => `${n(p.peakRssRequestsMiB, 0)} MiB`);
  row('cleanup peak RSS', (p) => `${n(p.sweep.peakRssMiB, 0)} MiB`);
  lines.push('');
  const e = result.emptySweep;
  lines.push(
    `\`tusport cleanup\` on a store of 2 uploads takes ${n(e.seconds, 2)} s (${n(e.cpuS, 2)} s CPU) and peaks at ${n(e.peakRssMiB, 0)} MiB (its own startup). Requests: ${result.config.heads} HEADs, ${result.config.patches} PATCHes, ${result.config.posts} POSTs, ${result.config.lists} lists per size; tusport logLevel ${result.config.tusportLogLevel}; generated ${result.generated.slice(0, 16).replace('T', ' ')} UTC.`,
  );
  return lines;
}
