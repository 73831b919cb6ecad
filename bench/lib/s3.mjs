// The S3 scenarios (issue 7, scenario 5), on the test suite's single-node Ceph RGW:
//   s3-upload           512 MiB through tusport's S3 store vs @aws-sdk/lib-storage straight to RGW
//   s3-direct-upload    512 MiB by tusport's direct-to-S3 routes (parts PUT straight to RGW) vs lib-storage
//   s3-parallel-upload  512 MiB by tus-js-client with parallelUploads 4 (concatenation: UploadPartCopy
//                       inside S3) vs the same client in one stream and vs lib-storage
//   s3-head-1000-parts  HEAD latency on an upload whose multipart upload has 1,000 parts
// One cluster for both (see bench/lib/ceph.mjs for the port-6789 rule); one tusport process with
// two S3 endpoints on one bucket.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeRandomFile } from './context.mjs';
import { collectGarbage, rgwNoDelay, storagePids, withCeph } from './ceph.mjs';
import { cpuTimes, memory, resetPeakRss, run, runNodeClient } from './proc.mjs';
import { ROOT, startVariant } from './servers.mjs';
import { median, round, summary } from './stats.mjs';
import { createUpload } from './tus.mjs';
import { redisTrips, withTrips } from './s3-redis-trips.mjs';

export const S3_SCENARIOS = ['s3-upload', 's3-direct-upload', 's3-parallel-upload', 's3-head-1000-parts'];

/** The upload scenarios' variants (see uploadScenario); lib-storage, the baseline `direct`, is last in each. */
const UPLOAD_VARIANTS = {
  's3-upload': ['tusport-curl', 'tusport-tusjs', 'direct'],
  's3-direct-upload': ['tusport-direct', 'presigned-local', 'direct'],
  's3-parallel-upload': ['tusport-parallel', 'tusport-tusjs', 'direct'],
};
const UPLOAD_TITLES = {
  's3-upload': (MiBs) => `${MiBs} MiB to S3 (Ceph RGW): tusport vs lib-storage`,
  's3-direct-upload': (MiBs) => `${MiBs} MiB direct to S3 (Ceph RGW) with tusport signing vs lib-storage`,
  's3-parallel-upload': (MiBs) => `${MiBs} MiB to S3 (Ceph RGW) by tus-js-client with parallelUploads 4 (concatenation in S3) vs one stream and lib-storage`,
};

const CLIENTS = path.join(ROOT, 'bench', 'clients');
const KiB = 1024;
const MiB = 1024 * KiB;
/** Parts of the HEAD scenario's upload: RGW accepts parts this small until the upload is completed. */
const SMALL_PART = 64 * KiB;
const PARTS = 1000;
/** tusport's default maxConcurrentPartUploads (src/stores/s3/schema.ts): lib-storage gets the same queue. */
const TUSPORT_PART_CONCURRENCY = 16;


function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sumCpu = (pids) =>
  pids.reduce(
    (acc, pid) => {
      try {
        const t = cpuTimes(pid);
        return acc + t.user + t.sys;
      } catch {
        return acc;
      }
    },
    0,
  );

async function emptyBucket(s3, bucket) {
  // Open multipart uploads first (their parts are not objects), then every object.
  for (;;) {
    const page = await s3.listMultipartUploads({ Bucket: bucket });
    for (const u of page.Uploads ?? []) await s3.abortMultipartUpload({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }).catch(() => {});
    if (!page.IsTruncated) break;
  }
  for (;;) {
    const page = await s3.listObjectsV2({ Bucket: bucket });
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length) await s3.deleteObjects({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } });
    if (!page.IsTruncated) break;
  }
}

async function sha256Object(s3, bucket, key) {
  const response = await s3.getObject({ Bucket: bucket, Key: key });
  const hash = createHash('sha256');
  for await (const chunk of response.Body) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Run the S3 scenarios in `ids`; calls `onResult(result)` for each finished one. Starts and stops
 * one Ceph cluster. `log` prints progress.
 */
export async function runS3Scenarios({ ctx, machine, work, ids, log, onResult }) {
  const sizeBytes = ctx.s3SizeBytes;
  const inputFile = path.join(work, 's3-input.bin');
  log(`\n== S3: writing a ${sizeBytes / MiB} MiB input, starting Ceph (mon on port 6789)`);
  const inputHash = writeRandomFile(inputFile, sizeBytes);
  await run('sync', []);

  await withCeph(async (cluster, harness) => {
    const { info } = cluster;
    await rgwNoDelay(cluster, harness);
    const bucket = await harness.createTestBucket(info, 'tusport-bench');
    const s3 = harness.s3Client(info);
    const awsEnv = { AWS_ACCESS_KEY_ID: info.accessKeyId, AWS_SECRET_ACCESS_KEY: info.secretAccessKey, AWS_REGION: info.region };
    const store = {
      type: 's3',
      bucket,
      region: info.region,
      endpoint: info.endpoint,
      credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    };
    const endpoints = [
      { path: '/files', store: { ...store, prefix: '' } },
      { path: '/parts', store: { ...store, prefix: 'parts/', partSize: SMALL_PART, minPartSize: SMALL_PART } },
      { path: '/direct', store: { ...store, prefix: 'direct/' }, direct: true },
    ];
    const tusport = await startVariant('tusport', work, { endpoints });
    const storage = storagePids(cluster);
    log(`  Ceph up (RGW ${info.endpoint}, bucket ${bucket}); tusport pid ${tusport.pid}; radosgw/osd pids ${storage.join(', ')}`);
    try {
      if (ids.includes('s3-upload')) {
        onResult(await uploadScenario({ ctx, machine, log, cluster, s3, bucket, awsEnv, tusport, storage, inputFile, inputHash, sizeBytes }));
      }
      for (const scenario of ['s3-direct-upload', 's3-parallel-upload'].filter((id) => ids.includes(id))) {
        onResult(await uploadScenario({ scenario, ctx, machine, log, cluster, s3, bucket, awsEnv, tusport, storage, inputFile, inputHash, sizeBytes }));
      }
      if (ids.includes('s3-head-1000-parts')) {
        onResult(await headScenario({ ctx, machine, log, cluster, s3, bucket, awsEnv, info, tusport, work, endpoints }));
      }
    } finally {
      await tusport.stop();
      s3.destroy();
    }
  });
}

async function uploadScenario({ scenario = 's3-upload', ctx, machine, log, cluster, s3, bucket, awsEnv, tusport, storage, inputFile, inputHash, sizeBytes }) {
  const MiBs = sizeBytes / MiB;
  const chunk = ctx.chunkBytes;
  const variants = {
    'tusport-curl': {
      label: 'tusport, one PATCH (curl -T)',
      detail: `POST, then the whole file in one PATCH by curl -T; tusport's S3 store splits it into ${8} MiB parts, up to ${TUSPORT_PART_CONCURRENCY} in flight`,
      client: () => runNodeClient(path.join(CLIENTS, 'curl-single.mjs'), ['--url', tusport.url, '--file', inputFile]),
    },
    'tusport-tusjs': {
      label: `tusport, tus-js-client ${chunk / MiB} MiB chunks`,
      detail: `tus-js-client from fs.createReadStream in ${chunk / MiB} MiB PATCHes: one part per PATCH, each acknowledged after S3 has it`,
      client: () => runNodeClient(path.join(CLIENTS, 'tusjs.mjs'), ['--url', tusport.url, '--file', inputFile, '--chunk', String(chunk)]),
    },
    'tusport-parallel': {
      label: `tusport, tus-js-client ${chunk / MiB} MiB chunks, parallelUploads 4`,
      detail: `tus-js-client from fs.createReadStream in ${chunk / MiB} MiB PATCHes over 4 partial uploads at once, then the final upload (concatenation: UploadPartCopy inside S3)`,
      client: () => runNodeClient(path.join(CLIENTS, 'tusjs.mjs'), ['--url', tusport.url, '--file', inputFile, '--chunk', String(chunk), '--parallel', '4']),
    },
    'tusport-direct': {
      label: 'tusport direct routes (as @uppy/aws-s3), parts straight to RGW',
      detail: `tusport signs (POST s3/multipart, one GET per part for its presigned URL, POST complete, which checks the object), the client PUTs 8 MiB parts from positional file reads straight to RGW, ${TUSPORT_PART_CONCURRENCY} in flight (bench/clients/s3-direct-routes.mjs)`,
      client: () =>
        runNodeClient(path.join(CLIENTS, 's3-direct-routes.mjs'), ['--url', tusport.url.replace(/\/files$/, '/direct'), '--file', inputFile, '--part-size', String(8 * MiB), '--queue-size', String(TUSPORT_PART_CONCURRENCY)]),
    },
    'presigned-local': {
      label: 'the same client signing locally (no tusport)',
      detail: 'bench/clients/s3-direct-routes.mjs with --s3-endpoint: the same requests to RGW, signed in the client by the AWS SDK (CreateMultipartUpload, presigned UploadPart URLs, CompleteMultipartUpload): what is left without tusport\'s round trips',
      client: (key) =>
        runNodeClient(
          path.join(CLIENTS, 's3-direct-routes.mjs'),
          ['--s3-endpoint', cluster.info.endpoint, '--bucket', bucket, '--key', key, '--file', inputFile, '--part-size', String(8 * MiB), '--queue-size', String(TUSPORT_PART_CONCURRENCY)],
          { env: awsEnv },
        ),
    },
    direct: {
      label: '@aws-sdk/lib-storage straight to RGW',
      detail: `Upload from fs.createReadStream, partSize 8 MiB, queueSize ${TUSPORT_PART_CONCURRENCY} (tusport's part concurrency), same RGW and bucket, no tusport`,
      client: (key) =>
        runNodeClient(
          path.join(CLIENTS, 's3-direct.mjs'),
          ['--endpoint', cluster.info.endpoint, '--bucket', bucket, '--key', key, '--file', inputFile, '--part-size', String(8 * MiB), '--queue-size', String(TUSPORT_PART_CONCURRENCY)],
          { env: awsEnv },
        ),
    },
  };
  // Each scenario runs its UPLOAD_VARIANTS; BENCH_S3_VARIANTS narrows them (lib-storage, the
  // baseline `direct`, always runs).
  const wanted = process.env.BENCH_S3_VARIANTS?.split(',').map((name) => name.trim());
  const names = UPLOAD_VARIANTS[scenario].filter((n) => n === 'direct' || !wanted || wanted.includes(n));
  log(`\n== ${scenario}: ${MiBs} MiB to S3 (Ceph RGW) through tusport vs lib-storage straight to RGW`);

  let runNo = 0;
  const measure = async (name, warmup) => {
    const v = variants[name];
    const directKey = `direct-${++runNo}`;
    resetPeakRss(tusport.pid);
    const t0 = cpuTimes(tusport.pid);
    const s0 = sumCpu(storage);
    const out = await v.client(directKey);
    const t1 = cpuTimes(tusport.pid);
    const s1 = sumCpu(storage);
    const seconds = out.ms / 1000;
    const key = name === 'direct' || name === 'presigned-local' ? directKey : (out.key ?? new URL(out.url).pathname.split('/').pop());
    const head = await s3.headObject({ Bucket: bucket, Key: key });
    if (head.ContentLength !== sizeBytes) throw new Error(`${name}: object ${key} has ${head.ContentLength} bytes, expected ${sizeBytes}`);
    if (warmup && ctx.verify && (await sha256Object(s3, bucket, key)) !== inputHash) throw new Error(`${name}: stored object differs from the input`);
    const sample = {
      value: seconds,
      tusportCpuPct: ((t1.user - t0.user + t1.sys - t0.sys) / seconds) * 100,
      tusportUserPct: ((t1.user - t0.user) / seconds) * 100,
      tusportSysPct: ((t1.sys - t0.sys) / seconds) * 100,
      storageCpuPct: ((s1 - s0) / seconds) * 100,
      clientCpuPct: (out.cpuMs / out.ms) * 100,
      tusportPeakRssMiB: memory(tusport.pid).peakRss / MiB,
    };
    await emptyBucket(s3, bucket);
    await collectGarbage(cluster);
    return sample;
  };

  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (const name of names) {
    const s = await measure(name, true);
    log(`  warm-up ${name.padEnd(14)} ${s.value.toFixed(3)} s`);
  }
  for (let pair = 1; pair <= ctx.pairs; pair++) {
    for (const name of names) {
      const s = await measure(name, false);
      samples[name].push(s);
      log(
        `  #${pair} ${name.padEnd(14)} ${s.value.toFixed(3).padStart(8)} s  tusport CPU ${s.tusportCpuPct.toFixed(0)}% (user ${s.tusportUserPct.toFixed(0)})  RGW+OSD CPU ${s.storageCpuPct.toFixed(0)}%  client CPU ${s.clientCpuPct.toFixed(0)}%  tusport peak RSS ${s.tusportPeakRssMiB.toFixed(0)} MiB`,
      );
    }
  }

  const r = (v, d = 3) => round(v, d);
  const med = (list, k, d = 0) => r(median(list.map((x) => x[k])), d);
  const out = {};
  for (const name of names) {
    const list = samples[name];
    const s = summary(list.map((x) => x.value));
    out[name] = {
      label: variants[name].label,
      detail: variants[name].detail,
      samples: list.map((x) => r(x.value)),
      median: r(s.median),
      min: r(s.min),
      max: r(s.max),
      medianMiBps: r(MiBs / s.median, 1),
      tusportCpuPct: med(list, 'tusportCpuPct'),
      tusportUserPct: med(list, 'tusportUserPct'),
      tusportSysPct: med(list, 'tusportSysPct'),
      storageCpuPct: med(list, 'storageCpuPct'),
      clientCpuPct: med(list, 'clientCpuPct'),
      tusportPeakRssMiB: { median: med(list, 'tusportPeakRssMiB', 1), min: r(Math.min(...list.map((x) => x.tusportPeakRssMiB)), 1), max: r(Math.max(...list.map((x) => x.tusportPeakRssMiB)), 1) },
    };
  }
  const ratios = {};
  for (const name of names.filter((n) => n !== 'direct')) {
    const perPair = samples[name].map((x, i) => x.value / samples.direct[i].value);
    const p = summary(perPair);
    ratios[`${name}/direct`] = { label: variants[name].label, ofMedians: r(out[name].median / out.direct.median), perPairMedian: r(p.median), perPairMin: r(p.min), perPairMax: r(p.max) };
  }
  // s3-direct-upload: what tusport's signing round trips cost (the same client, signing locally
  // instead); s3-parallel-upload: what four partial uploads and their concatenation gain over one stream.
  const inner = { 's3-direct-upload': ['tusport-direct', 'presigned-local'], 's3-parallel-upload': ['tusport-parallel', 'tusport-tusjs'] }[scenario];
  if (inner && names.includes(inner[0]) && names.includes(inner[1])) {
    const [a, b] = inner;
    const p = summary(samples[a].map((x, i) => x.value / samples[b][i].value));
    ratios[`${a}/${b}`] = { label: variants[a].label, ofMedians: r(out[a].median / out[b].median), perPairMedian: r(p.median), perPairMin: r(p.min), perPairMax: r(p.max) };
  }
  return {
    scenario,
    kind: 's3-upload',
    title: UPLOAD_TITLES[scenario](MiBs),
    method:
      (cluster.shared
        ? 'The Ceph RGW the test suite already runs (TUSPORT_TEST_CEPH_INFO: 1 mon, 1 memstore OSD, radosgw/beast with its default Nagle setting; shared with whatever else runs on the machine). '
        : `A single-node Ceph RGW on loopback (test/harness/ceph.ts: 1 mon, 1 memstore OSD, radosgw/beast; restarted with beast's tcp_nodelay=1, see the notes below), started once for the S3 scenarios. `) +
      `tusport serves an S3 endpoint (default S3 settings: partSize 8 MiB, maxConcurrentPartUploads ${TUSPORT_PART_CONCURRENCY}, checksums when_required). ` +
      `Variants, interleaved: ${names.map((n) => `**${variants[n].label}**: ${variants[n].detail}`).join('; ')}. ` +
      `Time = the client's own (POST + PATCH for curl, start() to onSuccess for tus-js-client, upload.done() for lib-storage). ` +
      `After each run the object is checked (HeadObject size; sha256 of the warm-up uploads), the bucket emptied and RGW's garbage collected (radosgw-admin gc process --include-all), since memstore holds only 2 GiB.`,
    metric: { name: 'seconds', better: 'lower' },
    generated: new Date().toISOString(),
    config: { sizeMiB: MiBs, chunkMiB: chunk / MiB, pairs: ctx.pairs, partMiB: 8, partConcurrency: TUSPORT_PART_CONCURRENCY, tusportLogLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'info' },
    machine,
    variants: out,
    ratios,
  };
}

async function headScenario({ ctx, machine, log, cluster, s3, bucket, awsEnv, info, tusport, work, endpoints }) {
  const partsUrl = tusport.url.replace(/\/files$/, '/parts');
  const heads = ctx.s3Heads;
  const perRound = Math.max(1, Math.ceil(heads / ctx.pairs));
  log(`\n== s3-head-1000-parts: HEAD latency on an S3 upload of ${PARTS} parts (${perRound} requests per variant and round, ${ctx.pairs} rounds)`);

  // The upload with 1,000 parts, made by tusport itself: an endpoint whose part size is 64 KiB
  // takes one PATCH of 1,000 × 64 KiB and uploads it as 1,000 parts. Its Upload-Length is one part
  // more, so the multipart upload stays open (RGW refuses to *complete* parts under 5 MiB, but
  // stores them). A 1-part upload on the same endpoint is the reference.
  const bodyFile = path.join(work, 'parts-body.bin');
  writeRandomFile(bodyFile, PARTS * SMALL_PART);
  const onePartFile = path.join(work, 'one-part.bin');
  writeRandomFile(onePartFile, SMALL_PART);
  const make = async (file, parts) => {
    const length = (parts + 1) * SMALL_PART;
    const url = await createUpload(partsUrl, length);
    const patch = await run('curl', ['-sS', '-X', 'PATCH', '-T', file, '-H', 'Tus-Resumable: 1.0.0', '-H', 'Upload-Offset: 0', '-H', 'Content-Type: application/offset+octet-stream', '-H', 'Expect:', '-o', '/dev/null', '-w', '%{http_code}', url]);
    if (patch.stdout.trim() !== '204') throw new Error(`PATCH of ${parts} parts: ${patch.stdout}`);
    const id = new URL(url).pathname.split('/').pop();
    const key = `parts/${id}`;
    const infoObject = await s3.headObject({ Bucket: bucket, Key: `${key}.info` });
    const uploadId = infoObject.Metadata?.['upload-id'];
    let listed = 0;
    let marker;
    do {
      const page = await s3.listParts({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker });
      listed += page.Parts?.length ?? 0;
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    if (listed !== parts) throw new Error(`expected ${parts} parts in S3, ListParts lists ${listed}`);
    return { url, key, uploadId };
  };
  const big = await make(bodyFile, PARTS);
  const small = await make(onePartFile, 1);
  log(`  made ${big.url} (${PARTS} parts) and ${small.url} (1 part)`);
  // A second tusport on the same bucket with the Redis locker, so with the S3 state cache: its
  // first HEAD (unmeasured) fills the cache from S3, the measured ones read Redis.
  const cached = await startVariant('tusport-redis', work, { endpoints });
  const bigCached = big.url.replace(new URL(big.url).origin, new URL(cached.url).origin);
  let result;
  try {
    result = await measureHeads({ ctx, machine, log, cluster, info, awsEnv, tusport, cached, big, small, bigCached, bucket, perRound });
  } finally {
    await cached.stop();
  }
  const headUrl = (server) => big.url.replace(new URL(big.url).origin, new URL(server.url).origin);
  const trips = await redisTrips({ work, endpoints, headUrl, rounds: ctx.pairs, count: perRound, log });
  return withTrips(result, trips);
}

async function measureHeads({ ctx, machine, log, cluster, info, awsEnv, tusport, cached, big, small, bigCached, bucket, perRound }) {

  const variants = {
    'tus-head-1000': {
      label: `tusport HEAD, ${PARTS} parts`,
      detail: 'HEAD through tusport: reads the .info sidecar (GetObject), lists the parts (ListParts, paged), looks for a .part tail (HeadObject)',
      client: () => runNodeClient(path.join(CLIENTS, 'head-latency.mjs'), ['--mode', 'tus', '--url', big.url, '--count', String(perRound)]),
      check: (out) => out.offset === PARTS * SMALL_PART,
    },
    'tus-head-1000-redis': {
      label: `tusport HEAD, ${PARTS} parts, Redis state cache`,
      detail: 'HEAD through a second tusport with `locker: { type: redis }` (the bench\'s redis-server): the lock and the upload state in Redis, no S3 request',
      client: () => runNodeClient(path.join(CLIENTS, 'head-latency.mjs'), ['--mode', 'tus', '--url', bigCached, '--count', String(perRound)]),
      check: (out) => out.offset === PARTS * SMALL_PART,
      pid: () => cached.pid,
    },
    'tus-head-1': {
      label: 'tusport HEAD, 1 part',
      detail: 'the same on an upload with one part',
      client: () => runNodeClient(path.join(CLIENTS, 'head-latency.mjs'), ['--mode', 'tus', '--url', small.url, '--count', String(perRound)]),
      check: (out) => out.offset === SMALL_PART,
    },
    'listparts-1000': {
      label: `S3 ListParts alone, ${PARTS} parts`,
      detail: 'the AWS SDK calling ListParts on the same multipart upload straight at RGW (paged like tusport): the floor of such a HEAD',
      client: () =>
        runNodeClient(
          path.join(CLIENTS, 'head-latency.mjs'),
          ['--mode', 'listparts', '--endpoint', info.endpoint, '--bucket', bucket, '--key', big.key, '--upload-id', big.uploadId, '--count', String(perRound)],
          { env: awsEnv },
        ),
      check: (out) => out.parts === PARTS,
    },
  };
  const names = Object.keys(variants);
  const latencies = Object.fromEntries(names.map((n) => [n, []]));
  const roundMedians = Object.fromEntries(names.map((n) => [n, []]));
  const cpuPerRequest = Object.fromEntries(names.map((n) => [n, []]));
  const clientCpu = Object.fromEntries(names.map((n) => [n, []]));
  for (let round_ = 1; round_ <= ctx.pairs; round_++) {
    for (const name of names) {
      const pid = variants[name].pid?.() ?? tusport.pid;
      const t0 = cpuTimes(pid);
      const out = await variants[name].client();
      const t1 = cpuTimes(pid);
      if (!variants[name].check(out)) throw new Error(`${name}: unexpected answer ${JSON.stringify({ ...out, latenciesMs: undefined })}`);
      latencies[name].push(...out.latenciesMs);
      roundMedians[name].push(median(out.latenciesMs));
      cpuPerRequest[name].push(((t1.user - t0.user + t1.sys - t0.sys) * 1000) / out.latenciesMs.length);
      clientCpu[name].push((out.cpuMs / out.ms) * 100);
      log(`  #${round_} ${name.padEnd(15)} p50 ${median(out.latenciesMs).toFixed(1)} ms  p99 ${percentile(out.latenciesMs, 99).toFixed(1)} ms  tusport CPU ${cpuPerRequest[name].at(-1).toFixed(1)} ms/request`);
    }
  }
  const r = (v, d = 1) => round(v, d);
  const out = {};
  for (const name of names) {
    out[name] = {
      label: variants[name].label,
      detail: variants[name].detail,
      requests: latencies[name].length,
      p50Ms: r(percentile(latencies[name], 50)),
      p99Ms: r(percentile(latencies[name], 99)),
      maxMs: r(Math.max(...latencies[name])),
      roundMedianMinMs: r(Math.min(...roundMedians[name])),
      roundMedianMaxMs: r(Math.max(...roundMedians[name])),
      tusportCpuMsPerRequest: r(median(cpuPerRequest[name]), 2),
      clientCpuPct: r(median(clientCpu[name]), 0),
    };
  }
  return {
    scenario: 's3-head-1000-parts',
    kind: 's3-head',
    title: `HEAD latency on an S3 upload of ${PARTS} parts`,
    method:
      `${cluster.shared ? 'A running Ceph RGW (BENCH_CEPH_INFO, its settings as they are: no tcp_nodelay restart, shared with other work)' : 'The same Ceph RGW and tusport process'}. tusport makes the upload itself: an endpoint with partSize = minPartSize = 64 KiB gets one PATCH of ${PARTS} × 64 KiB (curl -T) and stores it as ${PARTS} parts; ` +
      `Upload-Length is one part more, so the multipart upload stays open (RGW stores parts under 5 MiB and only refuses to complete them). ` +
      `Then ${ctx.pairs} rounds of ${perRound} sequential requests per variant on one keep-alive connection (after 3 unmeasured ones), variants interleaved: ` +
      `${names.map((n) => `**${variants[n].label}**: ${variants[n].detail}`).join('; ')}. p50/p99 over all requests of a variant.`,
    metric: { name: 'ms', better: 'lower' },
    generated: new Date().toISOString(),
    config: { parts: PARTS, partKiB: SMALL_PART / KiB, requestsPerVariant: perRound * ctx.pairs, pairs: ctx.pairs, tusportLogLevel: process.env.BENCH_TUSPORT_LOGLEVEL ?? 'info' },
    machine,
    variants: out,
    ratios: {
      'tus-head-1000/listparts-1000': { label: 'p50: tusport HEAD ÷ ListParts alone', ofMedians: round(out['tus-head-1000'].p50Ms / out['listparts-1000'].p50Ms, 2) },
      'tus-head-1000-redis/tus-head-1000': { label: `p50: tusport HEAD, ${PARTS} parts, with ÷ without the Redis state cache`, ofMedians: round(out['tus-head-1000-redis'].p50Ms / out['tus-head-1000'].p50Ms, 3) },
      'tus-head-1000/tus-head-1': { label: `p50: tusport HEAD, ${PARTS} parts ÷ 1 part`, ofMedians: round(out['tus-head-1000'].p50Ms / out['tus-head-1'].p50Ms, 2) },
    },
  };
}
