// Memory scenarios (issue 18): how tusport's RSS and throughput behave as one upload grows
// (`upload-size`: 64 MiB, 1 GiB, 10 GiB on disk, one PATCH and 8 MiB PATCHes) and as uploads run
// side by side (`concurrency-sweep`: 1, 10, 100, 500 at once), each against bare @tus/server in
// the same run, interleaved. The server's RSS is sampled from /proc ~4x a second while the client
// runs (the runner is idle then), and its peak taken from VmHWM, reset before each run.
//
// Environment (besides bench/run.mjs's):
//   BENCH_UPLOAD_SIZES_MB   upload sizes in MiB (default 64,1024,10240; the 10 GiB one needs ~10 GiB
//                           free under the bench's work directory; each upload is deleted after its run)
//   BENCH_UPLOAD_MODES      single,chunked (default both; chunked = BENCH_CHUNK_MB PATCHes)
//   BENCH_MEMORY_ROUNDS     measured rounds per size or level (default 3)
//   BENCH_SWEEP_LEVELS      concurrent uploads per step (default 1,10,100,500)
//   BENCH_SWEEP_TOTAL_MB    bytes sent per step, split evenly over its uploads (default 512)
//   BENCH_SWEEP_CHUNK_MB    PATCH size in the sweep (default 1)
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuTimes, memory, resetPeakRss, run, runNodeClient } from './proc.mjs';
import { dataFiles, emptyDirectory, ROOT, SERVERS, startVariant } from './servers.mjs';
import { median, round } from './stats.mjs';

export const MEMORY_SCENARIOS = ['upload-size', 'concurrency-sweep'];
const CLIENTS = path.join(ROOT, 'bench', 'clients');
const VARIANTS = ['tusport', 'bare'];
const SAMPLE_MS = 250;
const list = (value, fallback) => (value ?? fallback).split(',').map((s) => Number(s.trim()));
const sizeLabel = (bytes) => (bytes >= 2 ** 30 ? `${round(bytes / 2 ** 30, 2)} GiB` : `${round(bytes / 2 ** 20, 2)} MiB`);

/** Run `client()` while sampling the server's RSS; resolves the client's output plus peak, samples and CPU. */
async function observe(server, client) {
  resetPeakRss(server.pid);
  const cpu0 = cpuTimes(server.pid);
  const t0 = performance.now();
  const samples = [[0, memory(server.pid).rss / 2 ** 20]];
  const timer = setInterval(() => {
    try {
      samples.push([(performance.now() - t0) / 1000, memory(server.pid).rss / 2 ** 20]);
    } catch {
      // the server exited: the run fails below
    }
  }, SAMPLE_MS);
  let out;
  try {
    out = await client();
  } finally {
    clearInterval(timer);
  }
  const cpu1 = cpuTimes(server.pid);
  samples.push([(performance.now() - t0) / 1000, memory(server.pid).rss / 2 ** 20]);
  const seconds = out.ms / 1000;
  return {
    out,
    seconds,
    peakRssMiB: memory(server.pid).peakRss / 2 ** 20,
    rssSamples: samples.map(([t, v]) => [round(t, 2), round(v, 1)]),
    serverCpuPct: ((cpu1.user - cpu0.user + cpu1.sys - cpu0.sys) / seconds) * 100,
  };
}

/** Drop what the server stored and flush dirty pages, so no run pays for the previous one's writeback. */
async function settle(server) {
  emptyDirectory(server.dir);
  await run('sync', []);
  await sleep(200);
}

function writeResult(ctx, log, result) {
  const file = path.join(ctx.resultsDir, `${result.scenario}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`  wrote ${path.relative(ROOT, file)}`);
}

async function withServers(work, options, body) {
  const servers = {};
  try {
    for (const name of VARIANTS) servers[name] = await startVariant(name, work, options);
    return await body(servers);
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
}

/** Sizes x modes x servers, interleaved per round; every stored upload checked for its size. */
async function uploadSize({ ctx, machine, work, log }) {
  const sizes = list(process.env.BENCH_UPLOAD_SIZES_MB, '64,1024,10240').map((mb) => mb * 2 ** 20);
  const modes = (process.env.BENCH_UPLOAD_MODES ?? 'single,chunked').split(',').map((s) => s.trim());
  const rounds = Number(process.env.BENCH_MEMORY_ROUNDS ?? 3);
  const chunk = ctx.chunkBytes;
  log(`\n== upload-size: ${sizes.map(sizeLabel).join(', ')}; ${modes.join(' and ')}; tusport vs bare, ${rounds} rounds`);
  const runs = [];
  await withServers(work, {}, async (servers) => {
    const upload = (server, size, mode) => async () => {
      const args = ['--url', server.url, '--file', ctx.inputFile, '--size', String(size), ...(mode === 'chunked' ? ['--chunk', String(chunk)] : [])];
      return runNodeClient(path.join(CLIENTS, 'stream-upload.mjs'), args, { timeoutMs: 60 * 60 * 1000 });
    };
    // One unmeasured upload per server first (at the smallest size), as in the other scenarios.
    for (const name of VARIANTS) {
      await observe(servers[name], upload(servers[name], sizes[0], modes[0]));
      await settle(servers[name]);
    }
    for (const size of sizes) {
      for (const mode of modes) {
        for (let r = 1; r <= rounds; r++) {
          for (const name of VARIANTS) {
            const server = servers[name];
            if (!server.alive()) throw new Error(`${name} died:\n${server.output()}`);
            const s = await observe(server, upload(server, size, mode));
            const stored = dataFiles(server.dir).map((f) => fs.statSync(f).size);
            if (stored.length !== 1 || stored[0] !== size) throw new Error(`${name}: expected one ${size}-byte file, found ${JSON.stringify(stored)}`);
            await settle(server);
            const mibps = size / 2 ** 20 / s.seconds;
            runs.push({ size, mode, name, round: r, ...s, mibps });
            log(`  ${sizeLabel(size).padEnd(9)} ${mode.padEnd(8)} #${r} ${name.padEnd(8)} ${s.seconds.toFixed(2)} s  ${mibps.toFixed(0)} MiB/s  peak RSS ${s.peakRssMiB.toFixed(0)} MiB  server CPU ${s.serverCpuPct.toFixed(0)}%`);
          }
        }
      }
    }
  });
  const cells = [];
  for (const size of sizes) {
    for (const mode of modes) {
      for (const name of VARIANTS) {
        const mine = runs.filter((x) => x.size === size && x.mode === mode && x.name === name);
        const peaks = mine.map((x) => x.peakRssMiB);
        const median_ = median(mine.map((x) => x.seconds));
        // The RSS curve shown is the run whose time is the median one (the last such run).
        const typical = mine.reduce((a, b) => (Math.abs(b.seconds - median_) <= Math.abs(a.seconds - median_) ? b : a));
        cells.push({
          sizeMiB: size / 2 ** 20,
          mode,
          server: name,
          seconds: { median: round(median_, 3), min: round(Math.min(...mine.map((x) => x.seconds)), 3), max: round(Math.max(...mine.map((x) => x.seconds)), 3) },
          medianMiBps: round(size / 2 ** 20 / median_, 1),
          peakRssMiB: { median: round(median(peaks), 1), min: round(Math.min(...peaks), 1), max: round(Math.max(...peaks), 1) },
          // Flatness: RSS in the last third of the typical run minus RSS in its first third.
          rssDriftMiB: round(drift(typical.rssSamples), 1),
          serverCpuPct: round(median(mine.map((x) => x.serverCpuPct)), 0),
          rssSamples: typical.rssSamples,
        });
      }
    }
  }
  const cell = (size, mode, name) => cells.find((c) => c.sizeMiB === size / 2 ** 20 && c.mode === mode && c.server === name);
  const charts = [];
  for (const mode of modes) {
    charts.push({
      id: `rss-over-time-${mode}`,
      title: `Server RSS during one upload (${mode === 'single' ? 'one PATCH' : `${chunk / 2 ** 20} MiB PATCHes`}), sampled every ${SAMPLE_MS} ms`,
      kind: 'line',
      x: { label: 'seconds since the upload started' },
      y: { label: 'RSS (MiB)' },
      series: sizes.flatMap((size) => VARIANTS.map((name) => ({ name: `${SERVERS[name].label}, ${sizeLabel(size)}`, points: cell(size, mode, name).rssSamples }))),
    });
  }
  const categories = sizes.flatMap((size) => modes.map((mode) => `${sizeLabel(size)}, ${mode === 'single' ? 'one PATCH' : `${chunk / 2 ** 20} MiB PATCHes`}`));
  charts.push({
    id: 'peak-rss',
    title: 'Server peak RSS by upload size (median of rounds)',
    kind: 'bar',
    y: { label: 'peak RSS (MiB)' },
    categories,
    series: VARIANTS.map((name) => ({ name: SERVERS[name].label, values: sizes.flatMap((size) => modes.map((mode) => cell(size, mode, name).peakRssMiB.median)) })),
  });
  charts.push({
    id: 'throughput',
    title: 'Throughput by upload size (median of rounds)',
    kind: 'bar',
    y: { label: 'MiB/s' },
    categories,
    series: VARIANTS.map((name) => ({ name: SERVERS[name].label, values: sizes.flatMap((size) => modes.map((mode) => cell(size, mode, name).medianMiBps)) })),
  });
  return {
    scenario: 'upload-size',
    kind: 'upload-size',
    title: `Server RSS and throughput by upload size (${sizes.map(sizeLabel).join(', ')}), disk`,
    method: `bench/clients/stream-upload.mjs: POST, then ${modes.includes('single') ? 'one PATCH of the whole upload' : ''}${modes.length > 1 ? ' or ' : ''}${modes.includes('chunked') ? `sequential ${chunk / 2 ** 20} MiB PATCHes` : ''}, the body read from the ${sizeLabel(ctx.sizeBytes)} input file into reused 1 MiB buffers and wrapped around it (so 10 GiB need no 10 GiB input). tusport (fsyncs every PATCH) and bare @tus/server (no fsync) alternate within each round; each upload is checked for its size and deleted, then \`sync\`. Server RSS from /proc/<pid>/status every ${SAMPLE_MS} ms; peak = VmHWM reset before each run (a server that already served a warm-up upload). Drift = mean RSS over the last third of the run minus the first third (the median-time run).`,
    metric: { name: 'peak RSS (MiB)', better: 'lower' },
    generated: new Date().toISOString(),
    config: { sizesMiB: sizes.map((s) => s / 2 ** 20), modes, chunkMiB: chunk / 2 ** 20, rounds, sampleMs: SAMPLE_MS, tusportLogLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'warn' },
    machine,
    cells,
    charts,
  };
}

/** Mean of the last third minus mean of the first third of a [t, MiB] series. */
function drift(samples) {
  const end = samples.at(-1)[0];
  const mean = (xs) => xs.reduce((a, [, v]) => a + v, 0) / Math.max(1, xs.length);
  return mean(samples.filter(([t]) => t >= (2 * end) / 3)) - mean(samples.filter(([t]) => t <= end / 3));
}

/** 1, 10, 100, 500 uploads at once (the same bytes in total per step), tusport vs bare, interleaved. */
async function concurrencySweep({ ctx, machine, work, log }) {
  const levels = list(process.env.BENCH_SWEEP_LEVELS, '1,10,100,500');
  const rounds = Number(process.env.BENCH_MEMORY_ROUNDS ?? 3);
  const total = Math.min(Number(process.env.BENCH_SWEEP_TOTAL_MB ?? 512) * 2 ** 20, ctx.sizeBytes);
  const chunk = Number(process.env.BENCH_SWEEP_CHUNK_MB ?? 1) * 2 ** 20;
  const most = Math.max(...levels);
  log(`\n== concurrency-sweep: ${levels.join(', ')} uploads at once, ${sizeLabel(total)} per step in ${sizeLabel(chunk)} PATCHes; tusport vs bare, ${rounds} rounds`);
  const runs = [];
  await withServers(work, {}, async (servers) => {
    const sweep = (server, uploads) => async () => {
      const size = Math.floor(total / uploads);
      const out = await runNodeClient(path.join(CLIENTS, 'concurrent.mjs'), ['--url', server.url, '--file', ctx.inputFile, '--uploads', String(uploads), '--size', String(size), '--chunk', String(chunk)], { timeoutMs: 30 * 60 * 1000 });
      return { ...out, size };
    };
    for (const name of VARIANTS) {
      await observe(servers[name], sweep(servers[name], levels[0]));
      await settle(servers[name]);
    }
    for (const uploads of levels) {
      for (let r = 1; r <= rounds; r++) {
        for (const name of VARIANTS) {
          const server = servers[name];
          if (!server.alive()) throw new Error(`${name} died:\n${server.output()}`);
          const s = await observe(server, sweep(server, uploads));
          const full = dataFiles(server.dir).filter((f) => fs.statSync(f).size === s.out.size).length;
          const incomplete = s.out.errors === 0 && full !== uploads ? uploads - full : 0;
          await settle(server);
          const errors = s.out.errors + incomplete;
          const mibps = s.out.bytes / 2 ** 20 / s.seconds;
          runs.push({ uploads, name, round: r, seconds: s.seconds, mibps, p50: s.out.latency.p50, p99: s.out.latency.p99, peakRssMiB: s.peakRssMiB, serverCpuPct: s.serverCpuPct, errors, errorSamples: s.out.errorSamples, rssSamples: s.rssSamples });
          log(`  ${String(uploads).padStart(4)} at once #${r} ${name.padEnd(8)} ${s.seconds.toFixed(2)} s  ${mibps.toFixed(0)} MiB/s  PATCH p50/p99 ${s.out.latency.p50.toFixed(0)}/${s.out.latency.p99.toFixed(0)} ms  peak RSS ${s.peakRssMiB.toFixed(0)} MiB  errors ${errors}${errors ? ` ${JSON.stringify(s.out.errorSamples.slice(0, 2))}` : ''}`);
        }
      }
    }
  });
  const cells = [];
  for (const uploads of levels) {
    for (const name of VARIANTS) {
      const mine = runs.filter((x) => x.uploads === uploads && x.name === name);
      const m = (key) => round(median(mine.map((x) => x[key])), 1);
      const range = (key) => [round(Math.min(...mine.map((x) => x[key])), 1), round(Math.max(...mine.map((x) => x[key])), 1)];
      cells.push({
        uploads,
        server: name,
        uploadMiB: round(Math.floor(total / uploads) / 2 ** 20, 3),
        medianMiBps: m('mibps'),
        mibpsRange: range('mibps'),
        p50Ms: m('p50'),
        p99Ms: m('p99'),
        p99MsRange: range('p99'),
        peakRssMiB: m('peakRssMiB'),
        peakRssMiBRange: range('peakRssMiB'),
        serverCpuPct: round(median(mine.map((x) => x.serverCpuPct)), 0),
        errors: mine.reduce((a, x) => a + x.errors, 0),
        errorSamples: mine.flatMap((x) => x.errorSamples).slice(0, 5),
      });
    }
  }
  const curve = (key) => VARIANTS.map((name) => ({ name: SERVERS[name].label, points: levels.map((u) => [u, cells.find((c) => c.uploads === u && c.server === name)[key]]) }));
  const x = { label: 'uploads at once', log: true };
  const last = runs.filter((r) => r.uploads === most && r.round === rounds);
  return {
    scenario: 'concurrency-sweep',
    kind: 'concurrency-sweep',
    title: `Concurrency sweep: ${levels.join(', ')} uploads at once, ${sizeLabel(total)} per step in ${sizeLabel(chunk)} PATCHes`,
    method: `bench/clients/concurrent.mjs per step: N uploads started at once, each on a keep-alive connection of its own, ${sizeLabel(total)} ÷ N bytes each (a slice of the input file) in sequential ${sizeLabel(chunk)} PATCHes; the same bytes in total at every step. tusport (fsyncs every PATCH; server.maxConnectionsPerClient raised to 10,000 by the bench, since one client address opens every connection here) and bare @tus/server (no fsync) alternate within each round, ${rounds} rounds per step. MiB/s = bytes acknowledged ÷ first POST to last 204; PATCH latency = first byte sent to the end of its 204; errors = failed requests (no retries) plus uploads not stored whole. Server RSS sampled every ${SAMPLE_MS} ms, peak = VmHWM reset before each run. The open-file limit here is ${openFiles()} (each connection holds a socket and, while it writes, a data file).`,
    metric: { name: 'MiB/s', better: 'higher' },
    generated: new Date().toISOString(),
    config: { levels, rounds, totalMiB: total / 2 ** 20, chunkMiB: chunk / 2 ** 20, openFileLimit: openFiles(), tusportLogLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'warn' },
    machine,
    cells,
    charts: [
      { id: 'throughput-vs-concurrency', title: 'Aggregate throughput vs uploads at once', kind: 'line', x, y: { label: 'MiB/s (all uploads)' }, series: curve('medianMiBps') },
      { id: 'p99-vs-concurrency', title: `p99 PATCH latency (${sizeLabel(chunk)}) vs uploads at once`, kind: 'line', x, y: { label: 'p99 PATCH latency (ms)', log: true }, series: curve('p99Ms') },
      { id: 'rss-vs-concurrency', title: 'Server peak RSS vs uploads at once', kind: 'line', x, y: { label: 'peak RSS (MiB)' }, series: curve('peakRssMiB') },
      {
        id: 'rss-over-time',
        title: `Server RSS during the last ${most}-upload round`,
        kind: 'line',
        x: { label: 'seconds since the first POST' },
        y: { label: 'RSS (MiB)' },
        series: last.map((r) => ({ name: SERVERS[r.name].label, points: r.rssSamples })),
      },
    ],
  };
}

function openFiles() {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return line?.split(/\s{2,}/)[1];
}

/** Run the memory scenarios selected by BENCH_ONLY (all when unset); each writes bench/results/<id>.json. */
export async function runMemoryScenarios({ ctx, machine, work, log, only }) {
  if (!only || only.has('upload-size')) writeResult(ctx, log, await uploadSize({ ctx, machine, work, log }));
  if (!only || only.has('concurrency-sweep')) writeResult(ctx, log, await concurrencySweep({ ctx, machine, work, log }));
}
