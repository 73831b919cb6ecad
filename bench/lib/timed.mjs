/** `once` run `warmup` times unmeasured, then `count` times one after the other: each latency, the total and the client's CPU. */
export async function timeSequential(once, count, warmup) {
  for (let i = 0; i < warmup; i++) await once();
  const latenciesMs = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await once();
    latenciesMs.push(performance.now() - t);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { latenciesMs, ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}
