// A/B(/C...) of request rates between builds and baselines, interleaved round by round, with the
// server CPU each request cost (which moves less with the machine's load than the rate does).
//
//   npm run build && RATE_VARIANTS='[{"label":"before","name":"tusport","bin":"/old/bin/tusport.js"},
//     {"label":"after","name":"tusport"},{"label":"bare","name":"bare"}]' node bench/rate-ab.mjs head-rate [rounds]
//
// The scenario is one of bench/lib/scenarios.mjs's rate scenarios (head-rate, patch-rate-64kib);
// each variant: a server of bench/lib/servers.mjs (`name`), optionally another build's launcher
// (`bin`) and tusport log level (`level`). One warm-up run each, then `rounds` (default 5) rounds of
// every variant in turn. Prints per-round figures, then medians, ranges and per-round ratios of each
// variant to the last one; RATE_AB_OUT=<file> also writes them as JSON.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchContext, prepareInputs } from './lib/context.mjs';
import { cpuTimes, run } from './lib/proc.mjs';
import { scenarios } from './lib/scenarios.mjs';
import { emptyDirectory, startVariant } from './lib/servers.mjs';
import { round, summary } from './lib/stats.mjs';

const [id, roundsArg] = process.argv.slice(2);
// The rate clients never read the big input file: keep it small unless asked otherwise.
process.env.BENCH_SIZE_MB ??= '1';
const ctx = benchContext();
const scenario = scenarios(ctx).find((s) => s.id === id && s.kind === 'rate');
if (!scenario) throw new Error('usage: node bench/rate-ab.mjs <head-rate|patch-rate-64kib> [rounds]');
const rounds = Number(roundsArg ?? 5);
const variants = JSON.parse(process.env.RATE_VARIANTS ?? '[{"label":"tusport","name":"tusport"},{"label":"bare","name":"bare"}]');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tusport-rate-ab-'));
const servers = [];

async function measure(server, client = scenario.client) {
  const cpu0 = cpuTimes(server.pid);
  const out = await client(server);
  const cpu1 = cpuTimes(server.pid);
  emptyDirectory(server.dir);
  await run('sync', []);
  const requests = out.value * (out.ms / 1000);
  const problems = (out.non2xx ?? 0) + (out.errors ?? 0) + (out.timeouts ?? 0) + (out.offsetErrors ?? 0);
  // cpuTimes are in seconds: µs of server CPU (user + sys) per answered request.
  return { rps: out.value, cpuUsPerRequest: ((cpu1.user - cpu0.user + cpu1.sys - cpu0.sys) * 1e6) / requests, problems };
}

try {
  await prepareInputs(ctx, work);
  for (const v of variants) {
    if (v.bin) process.env.BENCH_TUSPORT_BIN = v.bin;
    else delete process.env.BENCH_TUSPORT_BIN;
    servers.push(await startVariant(v.name, fs.mkdtempSync(path.join(work, 'v-')), { logLevel: v.level }));
  }
  delete process.env.BENCH_TUSPORT_BIN;
  for (const server of servers) await measure(server, scenario.warmup);
  const samples = variants.map(() => []);
  for (let r = 1; r <= rounds; r++) {
    for (const [i, server] of servers.entries()) {
      const s = await measure(server);
      samples[i].push(s);
      console.log(`#${r} ${variants[i].label.padEnd(20)} ${Math.round(s.rps).toString().padStart(6)} req/s  ${Math.round(s.cpuUsPerRequest)} µs CPU/request${s.problems ? `  PROBLEMS ${s.problems}` : ''}`);
    }
  }
  const last = samples.length - 1;
  const result = { scenario: id, rounds, generated: new Date().toISOString(), connections: ctx.connections, durationS: ctx.duration, variants: {} };
  for (const [i, v] of variants.entries()) {
    const rps = summary(samples[i].map((s) => s.rps));
    const cpu = summary(samples[i].map((s) => s.cpuUsPerRequest));
    const ratios = summary(samples[i].map((s, k) => s.rps / samples[last][k].rps));
    result.variants[v.label] = {
      ...v,
      rps: { median: round(rps.median, 0), min: round(rps.min, 0), max: round(rps.max, 0), samples: samples[i].map((s) => round(s.rps, 0)) },
      cpuUsPerRequest: { median: round(cpu.median, 0), min: round(cpu.min, 0), max: round(cpu.max, 0) },
      [`ratioTo_${variants[last].label}`]: { ofMedians: round(rps.median / summary(samples[last].map((s) => s.rps)).median), perRoundMedian: round(ratios.median), perRoundMin: round(ratios.min), perRoundMax: round(ratios.max) },
      problems: samples[i].reduce((a, s) => a + s.problems, 0),
    };
    const r = result.variants[v.label];
    console.log(`${v.label.padEnd(20)} median ${r.rps.median} req/s (${r.rps.min}–${r.rps.max}), ${r.cpuUsPerRequest.median} µs CPU/request (${r.cpuUsPerRequest.min}–${r.cpuUsPerRequest.max}); ÷ ${variants[last].label}: ${r[`ratioTo_${variants[last].label}`].ofMedians} (per round ${ratios.min.toFixed(2)}–${ratios.max.toFixed(2)})`);
  }
  if (process.env.RATE_AB_OUT) fs.writeFileSync(process.env.RATE_AB_OUT, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const server of servers) await server.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
