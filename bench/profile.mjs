// CPU-profile tusport under one benchmark scenario and summarise where its CPU time goes.
//
//   npm run build && node bench/profile.mjs <scenario-id> [runs]
//   (scenario ids: single-patch, chunked-patch, tus-js-client, head-rate, patch-rate-64kib)
//
// Starts `node --cpu-prof bin/tusport.js serve`, runs the scenario's client `runs` times
// (default 3, BENCH_PROFILE_GAP_MS apart, default 5000; BENCH_SIZE_MB etc. apply as for
// bench/run.mjs), stops the server with SIGTERM so
// it writes its .cpuprofile, and prints the top self-time functions and a breakdown by where the
// code lives. Writes bench/results/profile-<scenario>.json (the summary, not the raw profile)
// and keeps the raw profile in the printed temp directory if BENCH_KEEP_PROFILE=1.
// BENCH_PROFILE_VARIANT=bare (any server of bench/lib/servers.mjs) profiles that server instead,
// into profile-<scenario>-<variant>.json: the same breakdown for a baseline.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchContext, prepareInputs } from './lib/context.mjs';
import { run } from './lib/proc.mjs';
import { scenarios } from './lib/scenarios.mjs';
import { emptyDirectory, ROOT, startVariant } from './lib/servers.mjs';

const [id, runsArg] = process.argv.slice(2);
const ctx = benchContext();
const scenario = scenarios(ctx).find((s) => s.id === id);
if (!scenario) {
  console.error(`usage: node bench/profile.mjs <${scenarios(ctx).map((s) => s.id).join('|')}> [runs]`);
  process.exit(2);
}
const runs = Number(runsArg ?? 3);
// Idle time between runs, as tusport has in `npm run bench` while the baselines take their turns
// (back-to-back runs can behave differently: see docs/BENCHMARKS.md).
const GAP_MS = Number(process.env.BENCH_PROFILE_GAP_MS ?? 5000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tusport-profile-'));
const profileDir = path.join(work, 'profile');
const variant = process.env.BENCH_PROFILE_VARIANT ?? 'tusport';
const suffix = variant === 'tusport' ? '' : `-${variant}`;

/** Where a frame's code lives, for the breakdown. */
function category(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/V8 builtins)';
  // Packages first: their own dist/ folders are not tusport's.
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('dist/') || url.includes('/dist/')) return 'tusport (dist/)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/').slice(0, 2).join('/') : url.slice(5)}`;
  return url;
}

function summarise(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const byFunction = new Map();
  const byCategory = new Map();
  for (const [nodeId, us] of selfUs) {
    const { callFrame } = nodes.get(nodeId);
    total += us;
    if (callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const url = callFrame.url.replace(`file://${ROOT}/`, '');
    const name = callFrame.functionName || '(anonymous)';
    const key = `${name} ${url ? `${url}:${callFrame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const cat = category(url, name);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
  }
  const busy = total - idle;
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, us]) => ({ key, ms: Math.round(us / 1000), pctOfBusy: Math.round((us / busy) * 1000) / 10 }));
  return {
    sampledMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busy / 1000),
    topSelf: top(byFunction, 25),
    byCategory: top(byCategory, 15),
  };
}

try {
  await prepareInputs(ctx, work);
  const server = await startVariant(variant, work, { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
  const values = [];
  try {
    for (let i = 0; i < runs; i++) {
      const out = await scenario.client(server);
      values.push(out.value);
      emptyDirectory(server.dir);
      await run('sync', []);
      if (i + 1 < runs) await sleep(GAP_MS);
      console.log(`run ${i + 1}: ${scenario.kind === 'upload' ? `${out.value.toFixed(3)} s` : `${Math.round(out.value)} req/s`}`);
    }
  } finally {
    await server.stop();
  }
  const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no .cpuprofile was written');
  const summary = summarise(JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')));
  const result = { scenario: id, variant, title: scenario.title, runs, values, generated: new Date().toISOString(), ...summary };
  fs.mkdirSync(ctx.resultsDir, { recursive: true });
  const out = path.join(ctx.resultsDir, `profile-${id}${suffix}.json`);
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${scenario.title}: ${runs} runs; server sampled ${summary.sampledMs} ms, idle ${summary.idleMs} ms, busy ${summary.busyMs} ms`);
  console.log('\ntop self time (% of busy):');
  for (const f of summary.topSelf) console.log(`  ${String(f.pctOfBusy).padStart(5)}%  ${String(f.ms).padStart(6)} ms  ${f.key}`);
  console.log('\nby where the code lives (% of busy):');
  for (const c of summary.byCategory) console.log(`  ${String(c.pctOfBusy).padStart(5)}%  ${String(c.ms).padStart(6)} ms  ${c.key}`);
  console.log(`\nwrote ${path.relative(ROOT, out)}`);
  if (process.env.BENCH_KEEP_PROFILE === '1') {
    const keep = path.join(os.tmpdir(), `${variant}-${id}.cpuprofile`);
    fs.copyFileSync(path.join(profileDir, file), keep);
    console.log(`raw profile: ${keep}`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
