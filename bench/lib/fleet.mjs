// The scale-out scenario (issue 12): aggregate upload throughput of three tusport instances behind
// nginx (round-robin, locker.type redis: every PATCH takes its upload's lock in Redis, and
// consecutive PATCHes of one upload land on different instances) against one instance behind the
// same nginx config (locker.type memory). One machine, so parity is expected, not scaling: the
// ratio is what coordination costs. Both on one disk store, by default in tmpfs (/dev/shm): on this
// shared VM the disk's fsync throughput swings 5x between runs and drowns what is measured here
// (BENCH_FLEET_DIR=<dir> to use a real disk). No S3: the fixed Ceph mon port keeps the bench's own
// RGW from running beside the test suite's. nginx and Redis are the test harness's (the shipped
// nginx/tusport.conf; Redis with appendonly yes + appendfsync always, as the README asks).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuTimes, freePort, run, runNodeClient, startServer } from './proc.mjs';
import { ROOT, dataFiles, emptyDirectory } from './servers.mjs';
import { median, round, summary } from './stats.mjs';

export const FLEET_SCENARIO = 'fleet-3-vs-1';
const CLIENTS = path.join(ROOT, 'bench', 'clients');

async function loadTs(file) {
  const { runnerImport } = await import('vite');
  const { module } = await runnerImport(path.join(ROOT, 'test', 'harness', file), { configFile: false, logLevel: 'silent' });
  return module;
}

async function startTusports(count, { dir, work, locker, logLevel }) {
  const servers = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const configFile = path.join(work, `fleet-${count}-${i}.json`);
    const config = {
      server: { host: '127.0.0.1', port, logLevel, trustProxy: ['127.0.0.1'] },
      locker,
      endpoints: [{ path: '/files', store: { type: 'disk', directory: dir } }],
    };
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const origin = `http://127.0.0.1:${port}`;
    servers.push(
      await startServer({ name: `tusport-${count}-${i}`, command: process.execPath, args: [path.join(ROOT, 'bin', 'tusport.js'), 'serve', '--config', configFile], readyUrl: `${origin}/healthz`, baseUrl: `${origin}/files`, cwd: ROOT }),
    );
    servers.at(-1).port = port;
  }
  return servers;
}

/** Run the scenario; resolves with its result object (written by the caller like the others). */
export async function runFleetScenario({ ctx, machine, work, log }) {
  const uploads = Number(process.env.BENCH_FLEET_UPLOADS ?? 24);
  const sizeBytes = Number(process.env.BENCH_FLEET_SIZE_MB ?? 16) * 2 ** 20;
  const chunkBytes = Number(process.env.BENCH_FLEET_CHUNK_MB ?? 4) * 2 ** 20;
  const logLevel = process.env.BENCH_TUSPORT_LOGLEVEL ?? 'warn';
  const totalMiB = (uploads * sizeBytes) / 2 ** 20;
  log(`\n== ${FLEET_SCENARIO}: ${uploads} concurrent ${sizeBytes / 2 ** 20} MiB uploads through nginx, 3 instances (Redis) vs 1 (memory)`);
  const { startNginx } = await loadTs('nginx.ts');
  const { startRedis } = await loadTs('redis.ts');
  const redis = await startRedis();
  const scratch = process.env.BENCH_FLEET_DIR ?? (fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/tusport-fleet-') : path.join(work, 'data'));
  const variants = {};
  const started = [];
  try {
    for (const [name, count, locker] of [
      ['one', 1, { type: 'memory' }],
      ['three', 3, { type: 'redis', url: redis.url }],
    ]) {
      const dir = path.join(scratch, `fleet-${name}`);
      fs.mkdirSync(dir, { recursive: true });
      const servers = await startTusports(count, { dir, work, locker, logLevel });
      started.push(...servers);
      const nginx = await startNginx({ upstreamPort: servers.map((s) => s.port), clientMaxBodySize: '64m' });
      started.push(nginx);
      variants[name] = { name, count, dir, servers, nginx, samples: [], cpu: [] };
    }
    const measure = async (variant) => {
      const cpuOf = (s) => cpuTimes(s.pid).user + cpuTimes(s.pid).sys;
      const cpu0 = variant.servers.reduce((sum, s) => sum + cpuOf(s), 0);
      const out = await runNodeClient(path.join(CLIENTS, 'concurrent.mjs'), [
        '--url', `${variant.nginx.url}/files`, '--file', ctx.inputFile,
        '--uploads', String(uploads), '--size', String(sizeBytes), '--chunk', String(chunkBytes),
      ]);
      const cpu1 = variant.servers.reduce((sum, s) => sum + cpuOf(s), 0);
      const files = dataFiles(variant.dir);
      const full = files.filter((file) => fs.statSync(file).size === sizeBytes).length;
      if (out.errors > 0 || full !== uploads) throw new Error(`${variant.name}: ${out.errors} errors, ${full}/${uploads} complete files: ${JSON.stringify(out.errorSamples)}`);
      emptyDirectory(variant.dir);
      await run('sync', []);
      await sleep(200);
      return { seconds: out.ms / 1000, cpuPct: ((cpu1 - cpu0) / (out.ms / 1000)) * 100, p50: out.latency.p50, p99: out.latency.p99 };
    };
    for (const variant of Object.values(variants)) {
      const s = await measure(variant);
      log(`  warm-up ${variant.name.padEnd(6)} ${s.seconds.toFixed(3)} s`);
    }
    for (let pair = 1; pair <= ctx.pairs; pair++) {
      for (const variant of Object.values(variants)) {
        const s = await measure(variant);
        variant.samples.push(s);
        log(`  #${pair} ${variant.name.padEnd(6)} ${s.seconds.toFixed(3)} s  ${(totalMiB / s.seconds).toFixed(0)} MiB/s  PATCH p50/p99 ${s.p50.toFixed(0)}/${s.p99.toFixed(0)} ms  tusport CPU ${s.cpuPct.toFixed(0)}% (all instances)`);
      }
    }
  } finally {
    for (const thing of started.reverse()) await thing.stop().catch(() => undefined);
    await redis.remove();
    if (!process.env.BENCH_FLEET_DIR) fs.rmSync(scratch, { recursive: true, force: true });
  }
  const r = (v, d = 3) => round(v, d);
  const describe = (v, label, detail) => {
    const s = summary(v.samples.map((x) => x.seconds));
    return {
      label,
      detail,
      samples: v.samples.map((x) => r(x.seconds)),
      median: r(s.median),
      min: r(s.min),
      max: r(s.max),
      medianMiBps: r(totalMiB / s.median, 1),
      serverCpuPct: r(median(v.samples.map((x) => x.cpuPct)), 0),
      latencyP50Ms: r(median(v.samples.map((x) => x.p50)), 1),
      latencyP99Ms: r(median(v.samples.map((x) => x.p99)), 1),
    };
  };
  const three = variants.three.samples.map((x) => x.seconds);
  const one = variants.one.samples.map((x) => x.seconds);
  const perPair = summary(one.map((t, i) => t / three[i]));
  const result = {
    scenario: FLEET_SCENARIO,
    kind: 'fleet',
    title: `${uploads} concurrent ${sizeBytes / 2 ** 20} MiB uploads through nginx: 3 instances (Redis locker) vs 1`,
    method: `bench/clients/concurrent.mjs through the shipped nginx/tusport.conf (round-robin upstream): ${uploads} uploads at once, each POST then sequential ${chunkBytes / 2 ** 20} MiB PATCHes, to one disk store ${process.env.BENCH_FLEET_DIR ? `in ${process.env.BENCH_FLEET_DIR}` : 'in tmpfs (/dev/shm: the VM disk\'s fsync throughput swings too much between runs to see coordination)'}. "three": three tusport serve on that store with locker.type redis (every PATCH takes the upload's lock in Redis; consecutive PATCHes land on different instances). "one": one tusport serve, locker.type memory. Same machine (2 cores): parity expected; the ratio is the cost of coordination. Throughput ratio = time(one) ÷ time(three) per pair.`,
    metric: { name: 'seconds', better: 'lower' },
    generated: new Date().toISOString(),
    config: { pairs: ctx.pairs, uploads, uploadMiB: sizeBytes / 2 ** 20, chunkMiB: chunkBytes / 2 ** 20, totalMiB, tusportLogLevel: logLevel },
    machine,
    variants: {
      three: describe(variants.three, '3 instances, locker redis', 'three tusport serve behind nginx round-robin, Redis (appendfsync always) for locks'),
      one: describe(variants.one, '1 instance, locker memory', 'one tusport serve behind the same nginx config'),
    },
    ratios: {
      'three/one': { ofMedians: r(median(three) / median(one)), perPairMedian: r(1 / perPair.median), perPairMin: r(1 / perPair.max), perPairMax: r(1 / perPair.min) },
    },
    throughputRatio: { ofMedians: r(median(one) / median(three)), perPairMedian: r(perPair.median), perPairMin: r(perPair.min), perPairMax: r(perPair.max), target: 0.9 },
  };
  log(`  aggregate throughput 3 instances ÷ 1 instance: ${result.throughputRatio.ofMedians} (per pair ${result.throughputRatio.perPairMin}..${result.throughputRatio.perPairMax}; target >= 0.9)`);
  return result;
}
