// The files-list scenario's S3 half (issue 15: "10,000 uploads must list in well under a second
// per page" on disk AND S3): the same layouts as the disk half (all the caller's, one in ten the
// caller's), each in its own bucket on Ceph RGW, paged through with GET /files?limit=50.
//
// The bucket is filled in tusport's exact S3 layout without HTTP: a real server makes one finished
// upload, and its objects (data object `<id>`, sidecar `<id>.info` with its S3 metadata) are
// cloned under new ids (newest first by id, as tusport makes them), PARALLEL at a time. Each
// bucket is removed at the end, whatever happens.
import { cephInstalled, sharedCluster, withCeph } from './ceph.mjs';
import { startVariant } from './servers.mjs';

const PARALLEL = 32;

async function parallel(count, fn) {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

/** One finished upload made by a real tusport on `store`: its objects as stored. */
async function template(work, store, s3, bucket, auth, token) {
  const server = await startVariant('tusport', work, { endpoints: [{ path: '/files', store, auth }] });
  try {
    const meta = `filename ${Buffer.from('f.txt').toString('base64')},filetype ${Buffer.from('text/plain').toString('base64')}`;
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': '3', 'Upload-Metadata': meta, 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    if (response.status !== 201) throw new Error(`template upload: ${response.status} ${await response.text()}`);
    const id = new URL(response.headers.get('location')).pathname.split('/').pop();
    const objects = [];
    for (const { Key } of (await s3.listObjectsV2({ Bucket: bucket, Prefix: id })).Contents ?? []) {
      const o = await s3.getObject({ Bucket: bucket, Key });
      objects.push({ suffix: Key.slice(id.length), body: Buffer.from(await o.Body.transformToByteArray()), contentType: o.ContentType, metadata: o.Metadata ?? {} });
      await s3.deleteObject({ Bucket: bucket, Key });
    }
    const info = objects.find((o) => o.suffix === '.info');
    if (!info || objects.length !== 2) throw new Error(`template upload: unexpected objects ${objects.map((o) => o.suffix).join(', ')}`);
    return { info, data: objects.find((o) => o !== info), sidecar: JSON.parse(info.body.toString('utf8')) };
  } finally {
    await server.stop();
  }
}

async function seed(s3, bucket, count, ownerOf, newUploadId, tpl) {
  const now = Date.now();
  await parallel(count, async (i) => {
    const created = now - (count - i) * 1000;
    const id = newUploadId(created);
    const sidecar = structuredClone(tpl.sidecar);
    Object.assign(sidecar, { id, creation_date: new Date(created).toISOString(), metadata: { filename: `f${i}.txt`, filetype: 'text/plain' } });
    Object.assign(sidecar.tusport, { owner: ownerOf(i), completed_at: new Date(created + 10).toISOString() });
    await s3.putObject({ Bucket: bucket, Key: `${id}.info`, Body: JSON.stringify(sidecar), ContentType: tpl.info.contentType, Metadata: tpl.info.metadata });
    await s3.putObject({ Bucket: bucket, Key: id, Body: tpl.data.body, ContentType: tpl.data.contentType, Metadata: tpl.data.metadata });
  });
}

/**
 * For each layout: a bucket of `count` finished uploads, a fresh tusport on it, `measure(server)`
 * (the disk half's cold and warm passes). Resolves { [layout name]: result }, or undefined
 * (logged) when no Ceph is available.
 */
export async function measureS3Layouts({ ctx, work, log, count, layouts, auth, token, newUploadId, measure }) {
  if (!ctx.s3) return log('  files-list on S3 skipped (BENCH_S3=0)'), undefined;
  if (!sharedCluster() && !(await cephInstalled())) return log('  files-list on S3 skipped: no shared Ceph (BENCH_CEPH_INFO) and the Ceph packages are not installed'), undefined;
  return withCeph(async (cluster, harness) => {
    const { info } = cluster;
    const s3 = harness.s3Client(info);
    const results = {};
    try {
      for (const layout of layouts) {
        const bucket = await harness.createTestBucket(info, 'tusport-bench-list');
        const store = { type: 's3', bucket, region: info.region, endpoint: info.endpoint, credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey } };
        try {
          const t0 = performance.now();
          await seed(s3, bucket, count, layout.ownerOf, newUploadId, await template(work, store, s3, bucket, auth, token));
          log(`  S3 bucket filled with ${count} uploads (${layout.name}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          const server = await startVariant('tusport', work, { endpoints: [{ path: '/files', store, auth }] });
          try {
            results[`S3 ${layout.name}`] = await measure(server, layout);
          } finally {
            await server.stop();
          }
        } finally {
          await harness.removeTestBucket(info, bucket);
        }
      }
    } finally {
      s3.destroy();
    }
    return results;
  });
}
