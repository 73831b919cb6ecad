import type { IncomingMessage } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { createUpload } from '../helpers/http.js';
import { type FaultProxy, s3Request, startFaultProxy } from '../helpers/s3-fault-proxy.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, s3Store } from './lib.js';

/**
 * An S3 removal (the sweep's, or a DELETE's) that stops half-way, as when its instance is SIGKILLed
 * (found by the fleet sweep test: a sweeper killed between its steps left a `.info` behind): a
 * later sweep must still find and finish it, whatever step it stopped at. The fault proxy cuts one
 * step's S3 request during the first sweep; the second sweep, with the clock past both the
 * upload's expiry and the age after which a multipart upload without sidecar counts as debris,
 * must leave nothing of the upload.
 */
const info = ceph();
let proxy: FaultProxy | undefined;
let server: RunningTusport | undefined;
afterEach(async () => {
  await server?.close();
  await proxy?.close();
  server = undefined;
  proxy = undefined;
});

const abortOf = (bucket: string, key: string) => (request: IncomingMessage) => s3Request.deleteObject(bucket, key)(request) && /[?&]uploadId=/.test(request.url ?? '');

it.each([
  ['the sidecar (.info) delete', (bucket: string, key: string) => s3Request.deleteObject(bucket, `${key}.info`)],
  ['the multipart abort', abortOf],
])('a sweep cut at %s leaves nothing the next sweep cannot remove', async (_step, step) => {
  const bucket = await createTestBucket(info, 'sweep-cut');
  proxy = await startFaultProxy(info.endpoint);
  server = await startTusport({ endpoints: [{ path: '/files', store: s3Store({ ...info, endpoint: proxy.url }, bucket, { prefix: 'cut/' }), expire: '1h' }] });
  const id = (await createUpload(server.url, '/files', { 'Upload-Length': 100 })).split('/').pop()!;
  expect(await listAllKeys(info, bucket, 'cut/')).toContain(`cut/${id}.info`);

  proxy.rules.push({ match: step(bucket, `cut/${id}`), action: { kind: 'cut' } });
  const first = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
  expect(first).toMatchObject({ expired: 0, skipped: 1 });
  proxy.rules.length = 0;

  await server.app.tusport.sweep(Date.now() + 3 * 3600_000);
  expect(await listAllKeys(info, bucket, 'cut/')).toEqual([]);
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith('cut/'))).toEqual([]);
});

it('a removal cut at the multipart abort is finished by the next sweep once the upload is past its expiry, not an hour later (a sweeper SIGKILLed mid-removal)', async () => {
  const bucket = await createTestBucket(info, 'sweep-cut');
  proxy = await startFaultProxy(info.endpoint);
  server = await startTusport({ endpoints: [{ path: '/files', store: s3Store({ ...info, endpoint: proxy.url }, bucket, { prefix: 'cut/' }), expire: '10m' }] });
  const id = (await createUpload(server.url, '/files', { 'Upload-Length': 100 })).split('/').pop()!;
  await createUpload(server.url, '/files', { 'Upload-Length': 100 });

  proxy.rules.push({ match: abortOf(bucket, `cut/${id}`), action: { kind: 'cut' } });
  // 20 minutes on: both expired; the other one is removed, this one's removal stops after its sidecar is gone.
  expect(await server.app.tusport.sweep(Date.now() + 20 * 60_000)).toMatchObject({ expired: 1, skipped: 1 });
  proxy.rules.length = 0;
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith('cut/')).map((upload) => upload.Key)).toEqual([`cut/${id}`]);

  // 30 minutes on (well inside the hour after which any sidecar-less multipart upload is debris).
  expect(await server.app.tusport.sweep(Date.now() + 30 * 60_000)).toMatchObject({ leftovers: 1 });
  expect(await listAllKeys(info, bucket, 'cut/')).toEqual([]);
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith('cut/'))).toEqual([]);
});
