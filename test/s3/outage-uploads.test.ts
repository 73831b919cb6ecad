import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestBucket, listMultipartUploads, startRadosgw, stopRadosgw } from '../harness/ceph.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { ceph, idOf, MiB, objectBytes, s3FilesConfig, sha256 } from './lib.js';

/** Issue 7's S3 outage: radosgw stopped and restarted while 10 uploads run; every one completes intact. */
const info = ceph();
let bucket: string;
let server: RunningTusport;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'outage10');
  server = await startTusport(s3FilesConfig(info, bucket, { expire: '1h' }));
});
afterAll(async () => {
  await startRadosgw(info);
  await server?.close();
});

it('10 uploads across a radosgw stop and restart all finish byte-identical', async () => {
  const sources = Array.from({ length: 10 }, (_, i) => randomBytes(6 * MiB + i * 333_333));
  let chunksDone = 0;
  let errorsSeen = 0;
  const uploads = sources.map((data) =>
    tusUpload(data, {
      endpoint: `${server.url}/files`,
      chunkSize: MiB,
      // Clients retry through the outage the way Uppy's defaults do, a little longer.
      retryDelays: [500, 1000, 2000, 3000, 5000, 5000, 5000, 5000],
      onChunkComplete: () => {
        chunksDone += 1;
      },
      onShouldRetry: () => {
        errorsSeen += 1;
        return true;
      },
    }),
  );
  // Let every upload get going, then take S3 away for a few seconds.
  while (chunksDone < 15) await sleep(20);
  await stopRadosgw(info);
  const stoppedAt = chunksDone;
  await sleep(3000);
  await startRadosgw(info);

  const results = await Promise.all(uploads);
  // The outage was real: uploads were mid-way and requests failed while it lasted.
  expect(stoppedAt).toBeLessThan(sources.length * 6);
  expect(errorsSeen).toBeGreaterThan(0);
  for (const [i, { url }] of results.entries()) {
    expect(sha256(await objectBytes(info, bucket, idOf(url))), `upload ${i}`).toBe(sha256(sources[i]!));
  }
  // tus-js-client (and so Uppy) treats any non-2xx, non-423 HEAD as "upload gone" and creates a
  // new one: an upload whose HEAD met the outage's 503 restarts from zero under a new id (bytes
  // still end up identical, above). What it abandoned stays unfinished until `expire` sweeps it.
  const finished = new Set(results.map(({ url }) => idOf(url)));
  const abandoned = await listMultipartUploads(info, bucket);
  expect(abandoned.every((upload) => !finished.has(upload.Key!))).toBe(true);
  const swept = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
  expect(swept.expired).toBe(abandoned.length);
  expect(await listMultipartUploads(info, bucket)).toEqual([]);
  console.log(
    `[reliability] S3 outage: 10 uploads, ${stoppedAt} chunks stored before the stop, ${errorsSeen} failed requests retried, ` +
      `${abandoned.length} uploads restarted by tus-js-client and swept, ${sources.reduce((n, d) => n + d.length, 0)} bytes verified`,
  );
});
