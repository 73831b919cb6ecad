import { raw } from './http.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the Prometheus text format (what prom-client writes: no escapes inside label values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** One scrape: `value(name, labels)` sums the series of `name` whose labels include `labels`. */
export interface Scrape {
  text: string;
  samples: Sample[];
  value(name: string, labels?: Record<string, string>): number;
}

/** GET the metrics URL (`http://host:port/metrics`), expecting 200. */
export async function scrape(metricsUrl: string, token?: string): Promise<Scrape> {
  const url = new URL(metricsUrl);
  const response = await raw(url.origin, { method: 'GET', path: url.pathname, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status !== 200) throw new Error(`scrape failed: ${response.status} ${response.body}`);
  const samples = parseMetrics(response.body);
  return {
    text: response.body,
    samples,
    value: (name, labels = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value)).reduce((sum, s) => sum + s.value, 0),
  };
}
