// Scenario s3-store-size (issue 18, "how cost grows", S3 half): one S3 bucket (Ceph RGW) holding
// 100 and 10,000 uploads (BENCH_S3_STORE_SIZES), and at each size the measurements of the disk
// scenario store-size (its helpers are reused: bench/lib/store-size.mjs): HEAD of a finished and
// of an unfinished upload, 64 KiB PATCH, POST and files-list latency, startup until /readyz, the
// first POST's quota rebuild, one sweep (`tusport cleanup`) and the server's memory.
//
// The bucket is filled in tusport's exact S3 layout without going through HTTP: a real server
// first makes one finished and one unfinished upload, and every object under their keys (the
// data object `<id>`, the sidecar `<id>.info` with its `upload-id` metadata, the unfinished
// one's tail `<id>.part`) is cloned under new ids, 32 uploads at a time; an unfinished clone
// gets its own open multipart upload, as tusport's S3 store keeps one per unfinished upload.
// The bucket is removed at the end, whatever happens.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cephInstalled, sharedCluster, waitForMonPort, withCeph } from './ceph.mjs';
import { cpuSeconds, freePort, memory, resetPeakRss } from './proc.mjs';
import { round } from './stats.mjs';
import { renderStoreSize } from './store-size-report.mjs';
import { request, sequential, serve, startAndRebuild, sweep, uploadId, writeConfig } from './store-size.mjs';

export const S3_STORE_SIZE_SCENARIO = 's3-store-size';
const DAY_MS = 24 * 60 * 60 * 1000;
const MiB = 2 ** 20;
const PARALLEL = 32;
/**
 * The measured server's settings: the defaults. (Until the quota rebuild moved to start-up, the
 * first POST at 10,000 uploads waited longer than the 60 s idle timeout and this raised it.)
 */
const SERVER = {};
const env = process.env;
const settings = () => ({
  sizes: (env.BENCH_S3_STORE_SIZES ?? '100,10000').split(',').map(Number),
  heads: Number(env.BENCH_S3_STORE_HEADS ?? 100),
  patches: Number(env.BENCH_S3_STORE_PATCHES ?? 50),
  posts: Number(env.BENCH_S3_STORE_POSTS ?? 50),
  lists: Number(env.BENCH_S3_STORE_LISTS ?? 10),
});

/** `fn(i)` for i in [from, to), `PARALLEL` at a time. */
async function parallel(from, to, fn) {
  let next = from;
  const worker = async () => {
    while (next < to) await fn(next++);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

/** Every object under one upload's key, as stored (body, content type, metadata). */
async function objectsOf(s3, bucket, id) {
  const page = await s3.listObjectsV2({ Bucket: bucket, Prefix: id });
  const objects = [];
  for (const { Key } of page.Contents ?? []) {
    const o = await s3.getObject({ Bucket: bucket, Key });
    objects.push({ suffix: Key.slice(id.length), body: Buffer.from(await o.Body.transformToByteArray()), contentType: o.ContentType, metadata: o.Metadata ?? {} });
  }
  return objects;
}

/** One finished (64 bytes) and one unfinished (64 of 1 MiB: a `.part` tail) upload made by a real server. */
async function templates(work, store, s3, bucket) {
  const { server } = await serve(work, store);
  try {
    const meta = `filename ${Buffer.from('file.bin').toString('base64')},filetype ${Buffer.from('application/octet-stream').toString('base64')}`;
    const headers = (length) => ({ 'Upload-Length': String(length), 'Upload-Metadata': meta, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '64' });
    const finished = await request('POST', server.url, headers(64), randomBytes(64));
    const unfinished = await request('POST', server.url, headers(MiB), randomBytes(64));
    if (finished.status !== 201 || unfinished.status !== 201) throw new Error(`template uploads: ${finished.status} ${unfinished.status}`);
    const read = async (location) => {
      const objects = await objectsOf(s3, bucket, new URL(location, server.url).pathname.split('/').pop());
      const info = objects.find((o) => o.suffix === '.info');
      return { objects: objects.filter((o) => o !== info), info, sidecar: JSON.parse(info.body.toString('utf8')) };
    };
    const tpl = { finished: await read(finished.headers.location), unfinished: await read(unfinished.headers.location) };
    if (!tpl.unfinished.info.metadata['upload-id']) throw new Error('the unfinished template has no multipart upload');
    return tpl;
  } finally {
    await server.stop();
  }
}

/**
 * Add uploads `from`..`to`-1 with the disk scenario's mix: 79% finished, 20% unfinished, 1%
 * unfinished and two days old (expired under `expire: 1d`); half the bench principal's.
 */
async function populate(s3, bucket, from, to, tpl, now, candidates) {
  await parallel(from, to, async (i) => {
    const kind = i % 100 === 50 ? 'expired' : i % 5 === 1 ? 'unfinished' : 'finished';
    const created = kind === 'expired' ? now - 2 * DAY_MS - i : now - DAY_MS / 2 + i;
    const id = uploadId(created);
    const base = kind === 'finished' ? tpl.finished : tpl.unfinished;
    const sidecar = structuredClone(base.sidecar);
    sidecar.id = id;
    sidecar.creation_date = new Date(created).toISOString();
    sidecar.tusport.owner = i % 2 === 0 ? 'bench' : `user-${i % 1000}`;
    if (kind === 'finished') sidecar.tusport.completed_at = new Date(created + 10).toISOString();
    const metadata = { ...base.info.metadata };
    if (kind !== 'finished') metadata['upload-id'] = (await s3.createMultipartUpload({ Bucket: bucket, Key: id, ContentType: 'application/octet-stream' })).UploadId;
    await s3.putObject({ Bucket: bucket, Key: `${id}.info`, Body: JSON.stringify(sidecar), ContentType: base.info.contentType, Metadata: metadata });
    for (const o of base.objects) await s3.putObject({ Bucket: bucket, Key: id + o.suffix, Body: o.body, ContentType: o.contentType, Metadata: o.metadata });
    if (sidecar.tusport.owner === 'bench' && kind !== 'expired') candidates[kind].push(id);
  });
}

async function countUploads(harness, info, bucket) {
  return (await harness.listAllKeys(info, bucket)).filter((k) => k.endsWith('.info')).length;
}

async function measureSize({ work, store, harness, info, bucket, body, target, candidates, config, log }) {
  const point = { target, uploads: await countUploads(harness, info, bucket) };
  const { server, configFile, firstUrl } = await startAndRebuild(work, store, point, SERVER);
  try {
    resetPeakRss(server.pid);
    const middle = (list) => `${server.url}/${list[Math.floor(list.length / 2)]}`;
    point.head = await sequential('head', middle(candidates.unfinished), config.heads);
    point.headFinished = await sequential('head', middle(candidates.finished), config.heads);
    point.patch = await sequential('patch', firstUrl, config.patches, ['--body-file', body]);
    point.post = await sequential('post', server.url, config.posts);
    point.list = await sequential('list', `${server.url}?limit=50`, config.lists);
    point.peakRssRequestsMiB = round(memory(server.pid).peakRss / MiB, 1);
  } finally {
    await server.stop();
  }
  point.sweep = await sweep(configFile);
  log(
    `  ${String(point.uploads).padStart(6)} uploads: startup ${point.startupS} s, first POST ${point.firstPostS} s, HEAD unfinished ${point.head.p50}/${point.head.p99} ms, finished ${point.headFinished.p50}/${point.headFinished.p99} ms, PATCH ${point.patch.p50}/${point.patch.p99} ms, POST ${point.post.p50}/${point.post.p99} ms, list ${point.list.p50}/${point.list.p99} ms, sweep ${point.sweep.seconds} s (${JSON.stringify(point.sweep.result)}), peak RSS requests ${point.peakRssRequestsMiB} MiB`,
  );
  return point;
}

export function charts(points) {
  const line = (name, pick) => ({ name, points: points.map((p) => [p.uploads, pick(p)]) });
  const chart = (id, what, unit, series) => ({ id, title: `${what} vs uploads in one S3 bucket (Ceph RGW)`, kind: 'line', x: { label: 'uploads in bucket', log: true }, y: { label: unit }, series });
  return [
    chart('latency-vs-store-size', 'Request latency, one request at a time,', 'ms', [
      line('HEAD unfinished p50', (p) => p.head.p50),
      line('HEAD unfinished p99', (p) => p.head.p99),
      line('HEAD finished p50', (p) => p.headFinished.p50),
      line('PATCH 64 KiB p50', (p) => p.patch.p50),
      line('POST p50', (p) => p.post.p50),
      line('list (50) p50', (p) => p.list.p50),
    ]),
    chart('startup-sweep-vs-store-size', 'Startup, quota rebuild and sweep', 'seconds', [
      line('startup to /readyz 200 (quota rebuild included)', (p) => p.startupS),
      line('first POST (after ready)', (p) => p.firstPostS),
      line('sweep (tusport cleanup)', (p) => p.sweep.seconds),
    ]),
    chart('memory-vs-store-size', 'Memory', 'MiB', [line('server peak RSS, requests', (p) => p.peakRssRequestsMiB), line('cleanup peak RSS (sweep)', (p) => p.sweep.peakRssMiB)]),
  ];
}

/** The disk scenario's table, with the finished upload's HEAD under the unfinished one's. */
export function markdown(result) {
  const lines = renderStoreSize(result);
  const at = lines.findIndex((l) => l.startsWith('| HEAD p50'));
  lines[at] = lines[at].replace('| HEAD p50 / p99', '| HEAD unfinished p50 / p99');
  lines.splice(at + 1, 0, `| HEAD finished p50 / p99 | ${result.points.map((p) => `${p.headFinished.p50.toFixed(2)} / ${p.headFinished.p99.toFixed(2)} ms`).join(' | ')} |`);
  return lines.map((l) => l.replace('on a store of 2 uploads', 'on a bucket of 2 uploads'));
}

/** Whether the scenario can run: Ceph shared (TUSPORT_TEST_CEPH_INFO) or installed with port 6789 free. */
async function cephAvailable(ctx, log) {
  if (!ctx.s3) return log(`\n${S3_STORE_SIZE_SCENARIO} skipped (BENCH_S3=0)`), false;
  if (sharedCluster()) return true;
  if (!(await cephInstalled())) return log(`\n${S3_STORE_SIZE_SCENARIO} skipped: the Ceph packages are not installed`), false;
  if (!(await waitForMonPort(ctx.s3WaitMs, log))) throw new Error(`${S3_STORE_SIZE_SCENARIO}: port 6789 stayed taken by another Ceph cluster`);
  return true;
}

export async function runS3StoreSizeScenario({ ctx, machine, work, log, onResult }) {
  if (!(await cephAvailable(ctx, log))) return;
  const config = settings();
  log(`\n== ${S3_STORE_SIZE_SCENARIO}: one S3 bucket with ${config.sizes.join(', ')} uploads`);
  await withCeph(async (cluster, harness) => {
    const { info } = cluster;
    const bucket = await harness.createTestBucket(info, 'tusport-bench-size');
    const s3 = harness.s3Client(info);
    const store = { type: 's3', bucket, region: info.region, endpoint: info.endpoint, credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey } };
    const body = path.join(work, 's3-store-size-64k.bin');
    fs.writeFileSync(body, randomBytes(64 * 1024));
    try {
      const tpl = await templates(work, store, s3, bucket);
      const candidates = { finished: [], unfinished: [] };
      const emptySweep = await sweep(writeConfig(work, store, await freePort()));
      let made = 0;
      const now = Date.now();
      const points = [];
      for (const target of config.sizes) {
        const t0 = performance.now();
        // The sweep removed the expired uploads: top the bucket up to the target size again.
        const add = Math.max(0, target - (await countUploads(harness, info, bucket)));
        await populate(s3, bucket, made, made + add, tpl, now, candidates);
        made += add;
        log(`  filled to ${target} uploads (+${add}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        points.push(await measureSize({ work, store, harness, info, bucket, body, target, candidates, config, log }));
      }
      const result = {
        scenario: S3_STORE_SIZE_SCENARIO,
        kind: 'store-size',
        title: `Cost as one S3 bucket grows: ${config.sizes.map((s) => s.toLocaleString('en')).join(', ')} uploads`,
        method: `One S3 endpoint on Ceph RGW (${sharedCluster() ? "the test suite's shared cluster, beast's default Nagle setting: every small S3 answer can wait ~40 ms for a delayed ACK, so absolute latencies are high and the trend is what counts" : 'a private single-node cluster'}; bearer auth, quota maxUnfinishedUploads + maxBytesInFlight, expire 1d, memory locker; default server settings). The bucket is filled in tusport's S3 layout by cloning every object of two uploads a real server made (data object, \`.info\` sidecar with its upload-id metadata, \`.part\` tail; each unfinished clone gets its own open multipart upload), ${PARALLEL} uploads at a time: 79% finished 64-byte uploads, 20% unfinished (64 of 1 MiB), 1% unfinished and two days old (expired); half the measuring principal's, the rest spread over 1,000 principals. At each size, as store-size: \`tusport serve\` started (startup = spawn to the first 200 from /readyz, which waits for the quota counts: the server rebuilds them when it starts, listing the open multipart uploads and reading their sidecars 16 at a time); the first quota-checked POST after that; then one request at a time on one keep-alive connection: HEADs of one unfinished and of one finished generated upload, 64 KiB PATCHes appending to the upload the first POST made, POSTs, GET /files?limit=50; server stopped; \`tusport cleanup\` timed with GNU time. One pass per size on a noisy shared 2-core VM (other helpers' tests on the same RGW).`,
        generated: new Date().toISOString(),
        config: { ...config, parallelFill: PARALLEL, rebuildAtStart: true, sharedCeph: Boolean(sharedCluster()), tusportLogLevel: env.BENCH_TUSPORT_LOGLEVEL ?? 'warn' },
        machine,
        emptySweep,
        points,
        charts: charts(points),
      };
      result.markdown = markdown(result);
      onResult(result);
    } finally {
      await emptyAndRemove(s3, harness, info, bucket, log);
      s3.destroy();
    }
  });
}

/** Abort the open multipart uploads in parallel (thousands), then the harness removes the rest and the bucket. */
async function emptyAndRemove(s3, harness, info, bucket, log) {
  const open = await harness.listMultipartUploads(info, bucket);
  await parallel(0, open.length, (i) => s3.abortMultipartUpload({ Bucket: bucket, Key: open[i].Key, UploadId: open[i].UploadId }).catch(() => {}));
  await harness.removeTestBucket(info, bucket);
  log(`  bucket ${bucket} removed`);
}
