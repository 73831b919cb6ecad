/**
 * When the periodic store sweep runs: every `intervalMs`, each wait drawn from ±`jitter` of it,
 * the next one counted from the end of the previous sweep.
 *
 * Why not `setInterval`: a sweep that outlasts the interval (a large S3 store) would overlap the
 * next one in the same process. And in a fleet, instances keep the phase they started with: with
 * the Redis sweep lease, an instance whose rounds always fall inside another's sweep skips every
 * round, forever (seen in CI: one of three instances never swept in 30 s). The jitter lets every
 * instance take its turn and spreads the store load of instances started together.
 */
export interface SweepTimer {
  stop(): void;
}

/** `intervalMs` moved by up to ±`jitter` of it; `unit` in [0, 1) picks where. */
export function jitteredWait(intervalMs: number, jitter: number, unit: number): number {
  return intervalMs * (1 - jitter + 2 * jitter * unit);
}

export function startSweepTimer(sweep: () => Promise<unknown>, intervalMs: number, options: { jitter?: number; random?: () => number } = {}): SweepTimer {
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    const wait = jitteredWait(intervalMs, jitter, random());
    timer = setTimeout(() => {
      // `sweep` reports its own failures; whatever happens, the next round is scheduled.
      sweep().finally(schedule).catch(() => undefined);
    }, wait);
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
