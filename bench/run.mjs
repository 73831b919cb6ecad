// tusport benchmark runner (`npm run bench`; needs `npm run build` first).
//
// Each scenario starts tusport and its baselines as separate server processes, warms each up
// once, then runs them alternately (A B A B ..., BENCH_PAIRS rounds) with the client in a
// process of its own, and reports medians, min-max and tusport/baseline ratios. Results go to
// bench/results/<scenario>.json and the tables and charts (docs/bench/*.svg) of docs/BENCHMARKS.md
// are regenerated (`npm run bench:report` does only that, from the committed results).
//
// Environment:
//   BENCH_SIZE_MB     upload size in MiB (default 1024)
//   BENCH_CHUNK_MB    chunk size for chunked uploads in MiB (default 8)
//   BENCH_PAIRS       measured rounds per scenario (default 5)
//   BENCH_DURATION    seconds per autocannon run (default 10)
//   BENCH_CONNECTIONS autocannon connections (default 50)
//   BENCH_LOCKER_CONNECTIONS connections of locker-patch-latency (default 1)
//   BENCH_CONC_UPLOADS / BENCH_CONC_SIZE_MB / BENCH_CONC_CHUNK_MB  concurrent-uploads scenario:
//                     uploads at once, MiB per upload, MiB per PATCH (default 200 / 20 / 5)
//   BENCH_ONLY        comma-separated scenario ids to run (default: all)
//   BENCH_VERIFY      0 to skip the sha256 check of each warm-up upload (default 1)
//   BENCH_RESULTS_DIR where to write <scenario>.json (default bench/results)
//   BENCH_DOCS        file to regenerate (default docs/BENCHMARKS.md; "0" for none)
//   BENCH_TUSPORT_LOGLEVEL tusport's server.logLevel (default: tusport's own, info)
//   BENCH_S3          0 to skip the S3 scenarios (S3_SCENARIOS in lib/s3.mjs; they need the
//                     Ceph packages and port 6789, and wait up to BENCH_S3_WAIT_S (1200) for it)
//   BENCH_S3_SIZE_MB / BENCH_S3_HEADS  S3 upload size (512) and HEADs per variant (200)
//   BENCH_S3_VARIANTS comma-separated s3-upload variants to run (default: all; `direct` always runs)
//   BENCH_S3_BASELINE_BIN / BENCH_S3_BASELINE_LABEL  s3-head-1000-parts: another build's bin/tusport.js
//                     whose Redis round trips and latencies are measured beside this one's, interleaved
//   TUSPORT_TEST_CEPH_INFO (or BENCH_CEPH_INFO)  use the already running shared Ceph RGW it
//                     describes (never restarted, so no tcp_nodelay: slower small answers)
//   BENCH_LIST_UPLOADS finished uploads in the files-list scenario's store (default 10000)
//   BENCH_SMALL_FILES*, BENCH_STORE_*, BENCH_S3_STORE_*  the small-files, store-size and s3-store-size scenarios (docs/BENCHMARKS.md)
//   BENCH_FLEET_UPLOADS / BENCH_FLEET_SIZE_MB / BENCH_FLEET_CHUNK_MB  fleet-3-vs-1 scenario (3
//                     instances behind nginx with Redis vs 1): uploads at once, MiB each, MiB per
//                     PATCH (default 24 / 16 / 4; needs nginx and redis-server, as the tests do)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchContext, prepareInputs } from './lib/context.mjs';
import { describeMachine } from './lib/machine.mjs';
import { cpuTimes, memory, resetPeakRss, run } from './lib/proc.mjs';
import { writeDocs } from './lib/report.mjs';
import { cephInstalled, sharedCluster, waitForMonPort } from './lib/ceph.mjs';
import { FLEET_SCENARIO, runFleetScenario } from './lib/fleet.mjs';
import { FORM_SCENARIOS, runFormScenarios } from './lib/forms.mjs';
import { runMemoryScenarios } from './lib/memory.mjs';
import { runS3Scenarios, S3_SCENARIOS } from './lib/s3.mjs';
import { runS3StoreSizeScenario, S3_STORE_SIZE_SCENARIO } from './lib/s3-store-size.mjs';
import { scenarios } from './lib/scenarios.mjs';
import { smallFilesScenario } from './lib/small-files.mjs';
import { runStoreSizeScenario, STORE_SIZE_SCENARIO } from './lib/store-size.mjs';
import { dataFiles, emptyDirectory, ROOT, SERVERS, startVariant } from './lib/servers.mjs';
import { median, round, summary } from './lib/stats.mjs';

const env = process.env;
const ctx = benchContext();
const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined;

if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

const log = (...args) => console.log(...args);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tusport-bench-'));

function writeResult(result) {
  const file = path.join(ctx.resultsDir, `${result.scenario}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`  wrote ${path.relative(ROOT, file)}`);
}

async function sha256File(file, range = {}) {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 2 ** 20, ...range })) hash.update(chunk);
  return hash.digest('hex');
}

/** After every run: drop what the server stored and flush the page cache's dirty pages, so no run pays for the previous one's writeback. */
async function settle(server) {
  emptyDirectory(server.dir);
  await run('sync', []);
  await sleep(200);
}

async function measure(scenario, server, { warmup = false } = {}) {
  if (!server.alive()) throw new Error(`${server.name} died:\n${server.output()}`);
  resetPeakRss(server.pid);
  const cpu0 = cpuTimes(server.pid);
  const out = await (warmup && scenario.warmup ? scenario.warmup(server) : scenario.client(server));
  const cpu1 = cpuTimes(server.pid);
  const { peakRss } = memory(server.pid);
  const seconds = out.ms / 1000;
  const sample = {
    value: out.value,
    serverCpuPct: ((cpu1.user - cpu0.user + cpu1.sys - cpu0.sys) / seconds) * 100,
    serverUserPct: ((cpu1.user - cpu0.user) / seconds) * 100,
    serverSysPct: ((cpu1.sys - cpu0.sys) / seconds) * 100,
    clientCpuPct: (out.cpuMs / out.ms) * 100,
    peakRssMiB: peakRss / 2 ** 20,
  };
  if (scenario.kind === 'concurrent') {
    sample.latencyMs = out.latency;
    sample.errors = out.errors;
    sample.patches = out.patches;
    if (out.errors > 0) sample.problems = { errors: out.errors, completed: out.completed, samples: out.errorSamples };
    await checkConcurrent(server, out, warmup);
  } else if (scenario.kind === 'upload') {
    const files = dataFiles(server.dir);
    const sizes = files.map((f) => fs.statSync(f).size);
    if (files.length !== 1 || sizes[0] !== ctx.sizeBytes) throw new Error(`${server.name}: expected one ${ctx.sizeBytes}-byte file, found ${JSON.stringify(sizes)}`);
    if (warmup && ctx.verify && (await sha256File(files[0])) !== ctx.inputHash) throw new Error(`${server.name}: stored bytes differ from the input`);
  } else {
    const problems = (out.non2xx ?? 0) + (out.errors ?? 0) + (out.timeouts ?? 0) + (out.offsetErrors ?? 0);
    if (problems > 0) sample.problems = { non2xx: out.non2xx, errors: out.errors, timeouts: out.timeouts, offsetErrors: out.offsetErrors };
    sample.latencyMs = out.latency;
  }
  await settle(server);
  return sample;
}

/**
 * After a concurrent-uploads run: every upload that completed has its whole slice stored (one
 * file of the right size per completed upload); after a warm-up run, three uploads' bytes (the
 * first, one in the middle, the last) are compared with their slices of the input.
 */
async function checkConcurrent(server, out, warmup) {
  const sizes = new Map(dataFiles(server.dir).map((f) => [path.basename(f), fs.statSync(f).size]));
  const ids = out.urls.map((u) => (u ? new URL(u).pathname.split('/').pop() : undefined));
  const full = ids.filter((id) => sizes.get(id) === out.sliceBytes).length;
  if (out.errors === 0 && (full !== out.uploads || sizes.size !== out.uploads)) {
    throw new Error(`${server.name}: expected ${out.uploads} files of ${out.sliceBytes} bytes, found ${full} such among ${sizes.size}`);
  }
  if (!warmup || !ctx.verify || out.errors > 0) return;
  for (const i of [0, Math.floor(out.uploads / 2), out.uploads - 1]) {
    const stored = await sha256File(path.join(server.dir, ids[i]));
    const expected = await sha256File(ctx.inputFile, { start: out.sliceStarts[i], end: out.sliceStarts[i] + out.sliceBytes - 1 });
    if (stored !== expected) throw new Error(`${server.name}: upload #${i}'s stored bytes differ from its slice of the input`);
  }
}

function fmt(scenario, value) {
  return scenario.kind === 'rate' ? `${Math.round(value)} req/s` : `${value.toFixed(3)} s`;
}

async function runScenario(scenario, machine) {
  log(`\n== ${scenario.id}: ${scenario.title}`);
  const servers = {};
  for (const name of scenario.variants) servers[name] = await startVariant(name, work);
  const samples = Object.fromEntries(scenario.variants.map((v) => [v, []]));
  let ceiling;
  try {
    for (const name of scenario.variants) {
      const s = await measure(scenario, servers[name], { warmup: true });
      log(`  warm-up ${name.padEnd(10)} ${fmt(scenario, s.value)}${s.problems ? ` PROBLEMS ${JSON.stringify(s.problems)}` : ''}`);
    }
    for (let pair = 1; pair <= ctx.pairs; pair++) {
      for (const name of scenario.variants) {
        const s = await measure(scenario, servers[name]);
        samples[name].push(s);
        log(
          `  #${pair} ${name.padEnd(10)} ${fmt(scenario, s.value).padStart(12)}${s.latencyMs && scenario.kind === 'concurrent' ? `  PATCH p50/p99 ${s.latencyMs.p50.toFixed(0)}/${s.latencyMs.p99.toFixed(0)} ms` : ''}  server CPU ${s.serverCpuPct.toFixed(0)}% (user ${s.serverUserPct.toFixed(0)}, sys ${s.serverSysPct.toFixed(0)})  client CPU ${s.clientCpuPct.toFixed(0)}%  peak RSS ${s.peakRssMiB.toFixed(0)} MiB${s.problems ? ` PROBLEMS ${JSON.stringify(s.problems)}` : ''}`,
        );
      }
    }
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
  // The same client against a server that discards everything: the client's own ceiling.
  const sink = await startVariant('sink', work);
  try {
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const out = await scenario.client(sink);
      runs.push({ value: out.value, clientCpuPct: (out.cpuMs / out.ms) * 100 });
    }
    ceiling = { ...summary(runs.map((r) => r.value)), clientCpuPct: median(runs.map((r) => r.clientCpuPct)) };
    log(`  client ceiling (vs discarding sink): ${fmt(scenario, ceiling.median)}, client CPU ${ceiling.clientCpuPct.toFixed(0)}%`);
  } finally {
    await sink.stop();
  }
  return assemble(scenario, samples, ceiling, machine);
}

function assemble(scenario, samples, ceiling, machine) {
  const r = (v, d = 3) => round(v, d);
  const variants = {};
  for (const [name, list] of Object.entries(samples)) {
    const values = list.map((s) => s.value);
    const s = summary(values);
    variants[name] = {
      label: SERVERS[name].label,
      detail: SERVERS[name].detail,
      samples: values.map((v) => r(v)),
      median: r(s.median),
      min: r(s.min),
      max: r(s.max),
      ...(scenario.kind === 'upload' ? { medianMiBps: r(ctx.sizeBytes / 2 ** 20 / s.median, 1) } : {}),
      ...(scenario.kind === 'concurrent' ? { medianMiBps: r(scenario.totalBytes / 2 ** 20 / s.median, 1) } : {}),
      serverCpuPct: r(median(list.map((x) => x.serverCpuPct)), 0),
      serverUserPct: r(median(list.map((x) => x.serverUserPct)), 0),
      serverSysPct: r(median(list.map((x) => x.serverSysPct)), 0),
      clientCpuPct: r(median(list.map((x) => x.clientCpuPct)), 0),
      peakRssMiB: { median: r(median(list.map((x) => x.peakRssMiB)), 1), min: r(Math.min(...list.map((x) => x.peakRssMiB)), 1), max: r(Math.max(...list.map((x) => x.peakRssMiB)), 1) },
      ...(scenario.kind === 'rate' || scenario.kind === 'concurrent'
        ? {
            latencyP50Ms: r(median(list.map((x) => x.latencyMs.p50)), 1),
            latencyP99Ms: r(median(list.map((x) => x.latencyMs.p99)), 1),
            problems: list.filter((x) => x.problems).map((x) => x.problems),
          }
        : {}),
      ...(scenario.kind === 'concurrent'
        ? {
            latencyP50MsRange: [r(Math.min(...list.map((x) => x.latencyMs.p50)), 1), r(Math.max(...list.map((x) => x.latencyMs.p50)), 1)],
            latencyP99MsRange: [r(Math.min(...list.map((x) => x.latencyMs.p99)), 1), r(Math.max(...list.map((x) => x.latencyMs.p99)), 1)],
            errors: list.reduce((a, x) => a + x.errors, 0),
            patchesPerRun: list[0]?.patches,
          }
        : {}),
    };
  }
  const ratios = {};
  const [first, ...baselines] = scenario.variants;
  // scenario.extraRatios: [[variant, baseline], ...] beyond the first variant's (e.g. tusport-nosync/bare).
  for (const [a, b] of [...baselines.map((name) => [first, name]), ...(scenario.extraRatios ?? [])]) {
    const perPair = samples[a].map((s, i) => s.value / samples[b][i].value);
    const p = summary(perPair);
    ratios[`${a}/${b}`] = { ofMedians: r(variants[a].median / variants[b].median), perPairMedian: r(p.median), perPairMin: r(p.min), perPairMax: r(p.max) };
  }
  return {
    scenario: scenario.id,
    kind: scenario.kind,
    title: scenario.title,
    method: scenario.method,
    metric: scenario.metric,
    generated: new Date().toISOString(),
    config: {
      sizeMiB: ctx.sizeBytes / 2 ** 20,
      chunkMiB: ctx.chunkBytes / 2 ** 20,
      pairs: ctx.pairs,
      ...(scenario.kind === 'rate' ? { connections: scenario.connections ?? ctx.connections, durationS: ctx.duration } : {}),
      ...(scenario.kind === 'concurrent'
        ? { uploads: ctx.concUploads, uploadMiB: ctx.concSizeBytes / 2 ** 20, chunkMiB: ctx.concChunkBytes / 2 ** 20, totalMiB: scenario.totalBytes / 2 ** 20 }
        : {}),
      tusportLogLevel: env.BENCH_TUSPORT_LOGLEVEL ?? 'info',
    },
    machine,
    variants,
    ratios,
    clientCheck: {
      ceiling: { median: r(ceiling.median), min: r(ceiling.min), max: r(ceiling.max), clientCpuPct: r(ceiling.clientCpuPct, 0) },
      note:
        scenario.kind !== 'rate'
          ? 'ceiling = the same client sending the same bytes to a server that discards them (seconds); clientCpuPct = client CPU time / wall time'
          : 'ceiling = the same autocannon run against a server that answers without doing anything (requests/s); clientCpuPct = autocannon process CPU time / wall time',
    },
  };
}

const started = Date.now();
try {
  log(`work directory ${work}`);
  const machine = describeMachine(work);
  log(`machine: ${JSON.stringify(machine)}`);
  log(`config: size ${ctx.sizeBytes / 2 ** 20} MiB, chunk ${ctx.chunkBytes / 2 ** 20} MiB, ${ctx.pairs} pairs, ${ctx.duration} s x ${ctx.connections} connections for rates`);
  await prepareInputs(ctx, work);
  fs.mkdirSync(ctx.resultsDir, { recursive: true });
  for (const scenario of [...scenarios(ctx), smallFilesScenario()]) {
    if (only && !only.has(scenario.id)) continue;
    const result = await runScenario(scenario, machine);
    const file = path.join(ctx.resultsDir, `${scenario.id}.json`);
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    for (const [pair, ratio] of Object.entries(result.ratios)) {
      log(`  ${pair}: ${ratio.ofMedians} (per pair ${ratio.perPairMin}..${ratio.perPairMax})`);
    }
    log(`  wrote ${path.relative(ROOT, file)}`);
  }
  const formIds = FORM_SCENARIOS.filter((id) => !only || only.has(id));
  if (formIds.length) await runFormScenarios({ ctx, machine, work, ids: formIds, log, onResult: writeResult });
  if (!only || only.has(STORE_SIZE_SCENARIO)) fs.writeFileSync(path.join(ctx.resultsDir, `${STORE_SIZE_SCENARIO}.json`), `${JSON.stringify(await runStoreSizeScenario({ ctx, machine, work, log }), null, 2)}\n`);
  if (!only || only.has(FLEET_SCENARIO)) {
    const result = await runFleetScenario({ ctx, machine, work, log });
    const file = path.join(ctx.resultsDir, `${result.scenario}.json`);
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`  wrote ${path.relative(ROOT, file)}`);
  }
  await runMemoryScenarios({ ctx, machine, work, log, only }); // upload-size, concurrency-sweep
  const s3Ids = S3_SCENARIOS.filter((id) => !only || only.has(id));
  if (s3Ids.length && !ctx.s3) log('\nS3 scenarios skipped (BENCH_S3=0)');
  else if (s3Ids.length && !(await cephInstalled())) log('\nS3 scenarios skipped: the Ceph packages are not installed (ceph-mon ceph-osd radosgw ceph-common)');
  else if (s3Ids.length && !sharedCluster() && !(await waitForMonPort(ctx.s3WaitMs, log))) throw new Error('S3 scenarios: port 6789 stayed taken by another Ceph cluster');
  else if (s3Ids.length) {
    await runS3Scenarios({
      ctx,
      machine,
      work,
      ids: s3Ids,
      log,
      onResult: (result) => {
        const file = path.join(ctx.resultsDir, `${result.scenario}.json`);
        fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
        for (const [pair, ratio] of Object.entries(result.ratios)) log(`  ${pair}: ${ratio.ofMedians}${ratio.perPairMin !== undefined ? ` (per pair ${ratio.perPairMin}..${ratio.perPairMax})` : ''}`);
        log(`  wrote ${path.relative(ROOT, file)}`);
      },
    });
  }
  if (!only || only.has(S3_STORE_SIZE_SCENARIO)) await runS3StoreSizeScenario({ ctx, machine, work, log, onResult: writeResult });
  if (ctx.docs) {
    await writeDocs(ctx.resultsDir, ctx.docs);
    log(`\nregenerated ${path.relative(ROOT, ctx.docs)}`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
  log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
