// Scenario store-size (issue 18, "how cost grows"): one disk store holding 100, 10,000 and
// 100,000 uploads (BENCH_STORE_SIZES), and at each size: HEAD, 64 KiB PATCH, POST and list
// latency on one upload, `tusport serve`'s startup until /readyz answers 200, the quota rebuild
// (the first POST under maxUnfinishedUploads/maxBytesInFlight counts the store's unfinished
// uploads), one sweep (`tusport cleanup`, the same code the server runs every cleanupInterval)
// over a store where 1% of the uploads are expired, and the memory of each.
//
// The store is filled in tusport's own on-disk format without going through HTTP (100,000 POSTs
// would take longer than the rest): a real server first makes one finished and one unfinished
// upload, and their sidecars are the templates every generated upload is cloned from (new id in
// tusport's id format, its own creation date, owner and data file of the right size). The disk
// store keeps no index besides these files.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds, freePort, memory, resetPeakRss, run, runNodeClient, startServer } from './proc.mjs';
import { ROOT } from './servers.mjs';
import { round } from './stats.mjs';
import { renderStoreSize } from './store-size-report.mjs';

export const STORE_SIZE_SCENARIO = 'store-size';
const CLIENT = path.join(ROOT, 'bench', 'clients', 'sequential.mjs');
export const TOKEN = 'bench-store-size-token-0123456789';
const DAY_MS = 24 * 60 * 60 * 1000;
const MiB = 2 ** 20;

/** A request from the runner itself (setup and the one timed first POST). */
export function request(method, url, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `store`: a disk directory, or a store object; `server`: settings over the defaults (both for s3-store-size.mjs). */
export function writeConfig(work, store, port, server = {}) {
  const file = path.join(work, `store-size-${port}.json`);
  const config = {
    server: { host: '127.0.0.1', port, logLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'warn', ...server },
    endpoints: [
      {
        path: '/files',
        expire: '1d',
        store: typeof store === 'string' ? { type: 'disk', directory: store } : store,
        auth: { type: 'bearer', tokens: [{ id: 'bench', token: TOKEN }] },
        // High enough never to refuse: the counts must be rebuilt, not hit.
        policy: { quota: { maxUnfinishedUploads: 1_000_000_000, maxBytesInFlight: '1000TB' } },
      },
    ],
  };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Start `tusport serve`; startup = spawn to the first 200 from /readyz (polled every 10 ms). */
export async function serve(work, dir, settings = {}) {
  const port = await freePort();
  const configFile = writeConfig(work, dir, port, settings);
  const origin = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const server = await startServer({
    name: 'tusport',
    command: process.execPath,
    args: [process.env.BENCH_TUSPORT_BIN ?? path.join(ROOT, 'bin', 'tusport.js'), 'serve', '--config', configFile],
    readyUrl: `${origin}/readyz`,
    baseUrl: `${origin}/files`,
    cwd: ROOT,
  });
  while ((await fetch(`${origin}/readyz`).then((r) => r.status, () => 0)) !== 200) await sleep(10);
  return { server, configFile, startupMs: performance.now() - t0 };
}

/** One finished and one unfinished upload made by a real server: the sidecars to clone. */
async function templates(work, dir) {
  const { server } = await serve(work, dir);
  try {
    const body = randomBytes(64);
    const meta = `filename ${Buffer.from('file.bin').toString('base64')},filetype ${Buffer.from('application/octet-stream').toString('base64')}`;
    const finished = await request('POST', server.url, { 'Upload-Length': '64', 'Upload-Metadata': meta, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '64' }, body);
    const unfinished = await request('POST', server.url, { 'Upload-Length': String(MiB), 'Upload-Metadata': meta, 'Content-Length': '0' });
    if (finished.status !== 201 || unfinished.status !== 201) throw new Error(`template uploads: ${finished.status} ${unfinished.status}`);
    const read = (location) => JSON.parse(fs.readFileSync(path.join(dir, `${new URL(location).pathname.split('/').pop()}.json`), 'utf8'));
    return { finished: read(finished.headers.location), unfinished: read(unfinished.headers.location) };
  } finally {
    await server.stop();
  }
}

/** tusport's id format (src/uploads/ids.ts): 12 hex digits of inverted time, 128 random bits. */
export function uploadId(time) {
  return `${(0xffff_ffff_ffff - time).toString(16).padStart(12, '0')}${randomBytes(16).toString('hex')}`;
}

/**
 * Add uploads `from`..`to`-1: 79% finished (64 bytes), 20% unfinished (64 of 1 MiB), 1% unfinished
 * and created two days ago (past the endpoint's `expire: 1d`: the sweep removes them). Half of
 * them are the bench principal's, the others spread over 1,000 principals.
 */
function populate(dir, from, to, { finished, unfinished }, now, headCandidates) {
  const data = randomBytes(64);
  for (let i = from; i < to; i++) {
    const kind = i % 100 === 50 ? 'expired' : i % 5 === 1 ? 'unfinished' : 'finished';
    const created = kind === 'expired' ? now - 2 * DAY_MS - i : now - DAY_MS / 2 + i;
    const id = uploadId(created);
    const base = kind === 'finished' ? finished : unfinished;
    const sidecar = structuredClone(base);
    sidecar.id = id;
    sidecar.creation_date = new Date(created).toISOString();
    sidecar.tusport.owner = i % 2 === 0 ? 'bench' : `user-${i % 1000}`;
    if (kind === 'finished') sidecar.tusport.completed_at = new Date(created + 10).toISOString();
    // Sidecar first, as the store writes them.
    fs.writeFileSync(path.join(dir, `${id}.json`), `${JSON.stringify(sidecar, null, 2)}\n`, { mode: 0o640 });
    fs.writeFileSync(path.join(dir, id), data, { mode: 0o640 });
    if (kind === 'unfinished' && sidecar.tusport.owner === 'bench') headCandidates.push(id);
  }
}

function countUploads(dir) {
  let n = 0;
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.json')) n += 1;
  return n;
}

export async function sequential(mode, url, count, extra = []) {
  const out = await runNodeClient(CLIENT, ['--mode', mode, '--url', url, '--count', String(count), '--token', TOKEN, ...extra]);
  return { p50: round(out.p50, 2), p99: round(out.p99, 2), max: round(out.max, 2), count };
}

/** `tusport cleanup` on the store: wall time, peak RSS (GNU time), what it removed. */
export async function sweep(configFile) {
  const out = await run('/usr/bin/time', ['-f', 'TIME %e %M %U %S', process.execPath, process.env.BENCH_TUSPORT_BIN ?? path.join(ROOT, 'bin', 'tusport.js'), 'cleanup', '--config', configFile]);
  const [, seconds, kib, user, sys] = /TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(out.stderr);
  return { seconds: Number(seconds), cpuS: round(Number(user) + Number(sys), 2), peakRssMiB: round(Number(kib) / 1024, 1), result: JSON.parse(out.stdout.trim().split('\n').pop()) };
}

/**
 * Start `tusport serve` on `store` and time its first POST: the first reservation walks the
 * store's unfinished uploads to count them (quota rebuild). The server's figures go in `point`;
 * returns the server (the caller stops it), its config file and the first POST's upload URL.
 */
export async function startAndRebuild(work, store, point, settings = {}) {
  const { server, configFile, startupMs } = await serve(work, store, settings);
  Object.assign(point, { startupS: round(startupMs / 1000, 3), startupCpuS: round(cpuSeconds(server.pid), 2) });
  try {
    point.rssAfterStartupMiB = round(memory(server.pid).rss / MiB, 1);
    point.peakRssStartupMiB = round(memory(server.pid).peakRss / MiB, 1);
    resetPeakRss(server.pid);
    const cpu0 = cpuSeconds(server.pid);
    const t0 = performance.now();
    const first = await request('POST', server.url, { 'Upload-Length': String(2 ** 30), 'Content-Length': '0' });
    point.firstPostS = round((performance.now() - t0) / 1000, 3);
    point.firstPostCpuS = round(cpuSeconds(server.pid) - cpu0, 2);
    if (first.status !== 201) throw new Error(`first POST: ${first.status}\n${server.output()}`);
    const mem = memory(server.pid);
    point.peakRssRebuildMiB = round(mem.peakRss / MiB, 1);
    point.rssAfterRebuildMiB = round(mem.rss / MiB, 1);
    return { server, configFile, firstUrl: new URL(first.headers.location, server.url).href };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function measureSize(work, dir, body, target, headCandidates, log) {
  const point = { target, uploads: countUploads(dir) };
  const { server, configFile, firstUrl } = await startAndRebuild(work, dir, point);
  try {
    // An unfinished upload from the generator, in the middle of the store.
    const headTarget = `${server.url}/${headCandidates[Math.floor(headCandidates.length / 2)]}`;
    resetPeakRss(server.pid);
    point.head = await sequential('head', headTarget, Number(process.env.BENCH_STORE_HEADS ?? 1000));
    point.patch = await sequential('patch', firstUrl, Number(process.env.BENCH_STORE_PATCHES ?? 500), ['--body-file', body]);
    point.post = await sequential('post', server.url, Number(process.env.BENCH_STORE_POSTS ?? 200));
    point.list = await sequential('list', `${server.url}?limit=50`, Number(process.env.BENCH_STORE_LISTS ?? 20));
    point.peakRssRequestsMiB = round(memory(server.pid).peakRss / MiB, 1);
  } finally {
    await server.stop();
  }
  point.sweep = await sweep(configFile);
  log(
    `  ${String(point.uploads).padStart(7)} uploads: startup ${point.startupS} s, first POST (quota rebuild) ${point.firstPostS} s, HEAD p50/p99 ${point.head.p50}/${point.head.p99} ms, PATCH ${point.patch.p50}/${point.patch.p99} ms, POST ${point.post.p50}/${point.post.p99} ms, list ${point.list.p50}/${point.list.p99} ms, sweep ${point.sweep.seconds} s (${JSON.stringify(point.sweep.result)}), RSS startup ${point.rssAfterStartupMiB} / rebuild peak ${point.peakRssRebuildMiB} / sweep peak ${point.sweep.peakRssMiB} MiB`,
  );
  return point;
}

function charts(points) {
  const chart = (id, title, yLabel, series) => ({
    id,
    title,
    kind: 'line',
    x: { label: 'uploads in store', log: true },
    y: { label: yLabel },
    series: series.map(([name, pick]) => ({ name, points: points.map((p) => [p.uploads, pick(p)]) })),
  });
  return [
    chart('latency-vs-store-size', 'Request latency vs uploads in one disk store (one request at a time)', 'ms', [
      ['HEAD p50', (p) => p.head.p50],
      ['HEAD p99', (p) => p.head.p99],
      ['PATCH 64 KiB p50', (p) => p.patch.p50],
      ['PATCH 64 KiB p99', (p) => p.patch.p99],
      ['POST p50', (p) => p.post.p50],
      ['list (50) p50', (p) => p.list.p50],
    ]),
    chart('startup-sweep-vs-store-size', 'Startup, quota rebuild and sweep vs uploads in one disk store', 'seconds', [
      ['startup to /readyz 200', (p) => p.startupS],
      ['first POST (quota rebuild)', (p) => p.firstPostS],
      ['sweep (tusport cleanup)', (p) => p.sweep.seconds],
      ['sweep CPU (user + sys)', (p) => p.sweep.cpuS],
    ]),
    chart('memory-vs-store-size', 'Memory vs uploads in one disk store', 'MiB', [
      ['server RSS after startup', (p) => p.rssAfterStartupMiB],
      ['server peak RSS, quota rebuild', (p) => p.peakRssRebuildMiB],
      ['server peak RSS, requests', (p) => p.peakRssRequestsMiB],
      ['cleanup peak RSS (sweep)', (p) => p.sweep.peakRssMiB],
    ]),
  ];
}

export async function runStoreSizeScenario({ ctx, machine, work, log }) {
  const sizes = (process.env.BENCH_STORE_SIZES ?? '100,10000,100000').split(',').map(Number);
  log(`\n== ${STORE_SIZE_SCENARIO}: one disk store with ${sizes.join(', ')} uploads`);
  const dir = path.join(work, 'store-size');
  fs.mkdirSync(dir, { recursive: true });
  const body = path.join(work, 'store-size-64k.bin');
  fs.writeFileSync(body, randomBytes(64 * 1024));
  const points = [];
  const headCandidates = [];
  try {
    const tpl = await templates(work, dir);
    // The templates' own files stay: two real uploads among the generated ones.
    let made = countUploads(dir);
    const now = Date.now();
    // Cleanup on the (nearly) empty store: what a sweep costs before it has anything to walk.
    const emptySweep = await sweep(writeConfig(work, dir, await freePort()));
    for (const target of sizes) {
      const t0 = performance.now();
      // The sweep removed the expired uploads: top the store up to the target size again.
      const have = countUploads(dir);
      populate(dir, made, made + Math.max(0, target - have), tpl, now, headCandidates);
      made += Math.max(0, target - have);
      await run('sync', []);
      log(`  filled to ${countUploads(dir)} uploads in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      points.push(await measureSize(work, dir, body, target, headCandidates, log));
    }
    const result = {
      scenario: STORE_SIZE_SCENARIO,
      kind: 'store-size',
      title: `Cost as one disk store grows: ${sizes.map((s) => s.toLocaleString('en')).join(', ')} uploads`,
      method:
        'One disk endpoint (bearer auth, quota maxUnfinishedUploads + maxBytesInFlight, expire 1d, memory locker). The store is filled in tusport\'s on-disk format by cloning the sidecars of two uploads a real server made: 79% finished 64-byte uploads, 20% unfinished (64 of 1 MiB), 1% unfinished and two days old (expired); half of them the measuring principal\'s, the rest spread over 1,000 principals. At each size: `tusport serve` started (startup = spawn to the first 200 from /readyz); the first POST (it rebuilds the in-process quota counts by walking the store); then one request at a time on one keep-alive connection (bench/clients/sequential.mjs): HEADs of one unfinished generated upload, 64 KiB PATCHes appending to the upload the first POST made, POSTs, and GET /files?limit=50 (the principal\'s uploads, newest first); server stopped; `tusport cleanup` (one sweep, the code the server runs every cleanupInterval) timed with GNU time, which also gives its peak RSS (its own startup included: see the empty-store sweep). Server RSS from /proc/<pid>/status (VmRSS, VmHWM reset before each phase). One pass per size; single requests on a noisy 2-core VM.',
      generated: new Date().toISOString(),
      config: {
        sizes,
        heads: Number(process.env.BENCH_STORE_HEADS ?? 1000),
        patches: Number(process.env.BENCH_STORE_PATCHES ?? 500),
        posts: Number(process.env.BENCH_STORE_POSTS ?? 200),
        lists: Number(process.env.BENCH_STORE_LISTS ?? 20),
        tusportLogLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'warn',
      },
      machine,
      emptySweep,
      points,
      charts: charts(points),
    };
    result.markdown = renderStoreSize(result);
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
