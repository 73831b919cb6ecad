// RSS of a server process over time, for "RSS over time" charts: VmRSS read from /proc every
// `intervalMs` while a client runs in another process (the runner's event loop is idle then, so
// the timer keeps time). Points are [seconds since start, MiB].
import { memory } from './proc.mjs';

export function sampleRss(pid, intervalMs = 50) {
  const started = performance.now();
  const points = [];
  const take = () => {
    try {
      points.push([Math.round(performance.now() - started) / 1000, Math.round((memory(pid).rss / 2 ** 20) * 10) / 10]);
    } catch {
      // The process is gone: the timeline ends there.
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    /** Stop sampling; returns the points, the last one taken now. */
    stop() {
      clearInterval(timer);
      take();
      return points;
    },
  };
}

/** A line chart of one timeline per series name (the charts shape of docs/BENCHMARKS.md). */
export function rssChart({ id = 'rss-over-time', title, timelines }) {
  return {
    id,
    title,
    kind: 'line',
    x: { label: 'seconds since the upload started' },
    y: { label: 'server RSS (MiB)' },
    series: Object.entries(timelines).map(([name, points]) => ({ name, points })),
  };
}
