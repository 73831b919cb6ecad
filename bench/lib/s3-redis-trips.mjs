// Redis commands and latency per HEAD and per PATCH of an S3 upload with the Redis state cache
// (part of s3-head-1000-parts). Round trips are counted by MONITOR (the commands clients send; what
// a Lua script runs inside Redis is not a round trip and is left out), so the figure is exact
// where the latencies are noisy. With BENCH_S3_BASELINE_BIN (another build's
// bin/tusport.js, e.g. main's), that build runs beside this one, interleaved, for a before/after.
import http from 'node:http';
import { Redis } from 'ioredis';
import { benchRedisUrl } from './redis.mjs';
import { startVariant } from './servers.mjs';
import { median, round } from './stats.mjs';
import { createUpload } from './tus.mjs';

const KiB = 1024;
const PATCH_BYTES = 256 * KiB;

function request(url, method, agent, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { 'Tus-Resumable': '1.0.0', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `count` sequential requests of `once`; Redis round trips per request (commands from clients, not from scripts). */
async function measure(redis, count, once) {
  const latencies = [];
  let sent = 0;
  const monitor = await redis.monitor();
  monitor.on('monitor', (_time, _args, source) => {
    if (source !== 'lua') sent += 1;
  });
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await once(i);
      latencies.push(performance.now() - t0);
    }
  } finally {
    monitor.disconnect();
  }
  return { latencies, commandsPerRequest: sent / count };
}

async function measureBuild(server, redis, { headUrl, count }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const head = async () => {
      const res = await request(headUrl(server), 'HEAD', agent);
      if (res.statusCode !== 200) throw new Error(`HEAD: ${res.statusCode}`);
    };
    await head();
    const heads = await measure(redis, count, head);
    // PATCHes of 256 KiB to a fresh upload on /files (partSize 8 MiB): each replaces the `<id>.part` tail.
    const upload = await createUpload(`${server.url.replace(/\/files$/, '')}/files`, (count + 2) * PATCH_BYTES, agent);
    const body = Buffer.alloc(PATCH_BYTES, 7);
    let offset = 0;
    const patch = async () => {
      const res = await request(upload, 'PATCH', agent, { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(PATCH_BYTES) }, body);
      if (res.statusCode !== 204) throw new Error(`PATCH: ${res.statusCode}`);
      offset += PATCH_BYTES;
    };
    await patch();
    const patches = await measure(redis, count, patch);
    return { heads, patches };
  } finally {
    agent.destroy();
  }
}

/**
 * For each build (this one, and BENCH_S3_BASELINE_BIN's when set): a tusport with the Redis
 * locker on the scenario's endpoints, `rounds` rounds of `count` HEADs (of `headUrl(server)`)
 * and `count` PATCHes, builds interleaved.
 */
export async function redisTrips({ work, endpoints, headUrl, rounds, count, log }) {
  const builds = { current: undefined };
  if (process.env.BENCH_S3_BASELINE_BIN) builds.baseline = process.env.BENCH_S3_BASELINE_BIN;
  const servers = {};
  const saved = process.env.BENCH_TUSPORT_BIN;
  try {
    for (const [name, bin] of Object.entries(builds)) {
      if (bin) process.env.BENCH_TUSPORT_BIN = bin;
      else delete process.env.BENCH_TUSPORT_BIN;
      servers[name] = await startVariant('tusport-redis', work, { endpoints });
    }
  } finally {
    if (saved === undefined) delete process.env.BENCH_TUSPORT_BIN;
    else process.env.BENCH_TUSPORT_BIN = saved;
  }
  const redis = new Redis(await benchRedisUrl());
  const samples = Object.fromEntries(Object.keys(builds).map((name) => [name, []]));
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const name of Object.keys(builds)) {
        const s = await measureBuild(servers[name], redis, { headUrl, count });
        samples[name].push(s);
        log(`  #${r} redis trips ${name.padEnd(8)} HEAD ${s.heads.commandsPerRequest.toFixed(2)} round trips, p50 ${median(s.heads.latencies).toFixed(1)} ms; PATCH 256 KiB ${s.patches.commandsPerRequest.toFixed(2)} round trips, p50 ${median(s.patches.latencies).toFixed(1)} ms`);
      }
    }
  } finally {
    redis.disconnect();
    for (const server of Object.values(servers)) await server.stop();
  }
  const out = {};
  for (const [name, list] of Object.entries(samples)) {
    const all = (kind) => list.flatMap((s) => s[kind].latencies);
    out[name] = {
      label: name === 'current' ? 'this build' : (process.env.BENCH_S3_BASELINE_LABEL ?? 'baseline build (BENCH_S3_BASELINE_BIN)'),
      headRedisRoundTrips: round(median(list.map((s) => s.heads.commandsPerRequest)), 2),
      headP50Ms: round(median(all('heads')), 1),
      patchRedisRoundTrips: round(median(list.map((s) => s.patches.commandsPerRequest)), 2),
      patchP50Ms: round(median(all('patches')), 1),
      requestsEach: list.length * count,
    };
  }
  return out;
}

/** The scenario's result with the trips' figures, a note on how they were taken, and a chart. */
export function withTrips(result, trips) {
  const names = Object.keys(trips);
  const series = names.map((name) => ({ name: trips[name].label, values: [trips[name].headRedisRoundTrips, trips[name].patchRedisRoundTrips] }));
  return {
    ...result,
    method:
      `${result.method} Then, with the Redis state cache: per build, rounds of sequential HEADs of the ${'1,000'}-part upload and PATCHes of 256 KiB (each replaces the upload's <id>.part tail) on a fresh upload, ` +
      'counting Redis round trips with MONITOR (commands sent by clients; what a Lua script runs inside Redis is not counted)' +
      (trips.baseline ? `; the baseline build (BENCH_S3_BASELINE_BIN) interleaved with this one.` : '.'),
    redisTrips: trips,
    charts: [
      ...(result.charts ?? []),
      { id: 'redis-commands', title: 'Redis round trips per request, S3 upload with the Redis state cache', kind: 'bar', y: { label: 'Redis round trips per request' }, categories: ['HEAD', 'PATCH 256 KiB'], series },
      {
        id: 'latency-p50',
        title: 'p50 latency with the Redis state cache (1,000-part upload for HEAD)',
        kind: 'bar',
        y: { label: 'p50 (ms)' },
        categories: ['HEAD', 'PATCH 256 KiB'],
        series: names.map((name) => ({ name: trips[name].label, values: [trips[name].headP50Ms, trips[name].patchP50Ms] })),
      },
    ],
  };
}
