import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestBucket, listAllKeys } from '../harness/ceph.js';
import { until } from '../helpers/wait.js';
import { everNotified, HOOK_SECRET, type Receiver, startReceiver } from '../helpers/hooks.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { idOf } from '../helpers/files.js';
import { ceph, s3Store } from './lib.js';

/** Hooks on an S3 store: tusd's `s3store` Storage object, and a pre-finish rejection leaving no objects. */
const info = ceph();
let bucket: string;
let receiver: Receiver;
let server: RunningTusport;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'hooks');
  receiver = await startReceiver();
  receiver.answer = ({ json }) =>
    json.Type === 'pre-finish' && json.Event.Upload.MetaData.filename === 'no.bin'
      ? { body: { RejectUpload: true, HTTPResponse: { StatusCode: 422, Body: '{"message":"not this one"}' } } }
      : undefined;
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      {
        path: '/files',
        store: s3Store(info, bucket, { prefix: 'hooked/' }),
        hooks: [{ type: 'http', url: receiver.url, secret: HOOK_SECRET, events: ['pre-finish', 'post-finish'], retries: 0, retryDelay: 50, maxRetryDelay: 200 }],
      },
    ],
  }));
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

it("post-finish carries tusd's s3store Storage (bucket and key of the object)", async () => {
  const data = randomBytes(4321);
  const id = idOf((await tusUpload(data, { endpoint: `${server.url}/files`, metadata: { filename: 'yes.bin' } })).url);
  await until(() => receiver.of('post-finish').some((r) => r.json.Event.Upload.ID === id), 'the post-finish hook');
  const finished = receiver.of('post-finish').find((r) => r.json.Event.Upload.ID === id)!;
  expect(finished.json.Event.Upload).toMatchObject({ Size: 4321, Offset: 4321, Storage: { Type: 's3store', Bucket: bucket, Key: `hooked/${id}` } });
});

it('a pre-finish rejection deletes every object of the upload', async () => {
  const error = await tusUpload(randomBytes(2000), { endpoint: `${server.url}/files`, metadata: { filename: 'no.bin' } }).catch((e: Error) => e);
  expect(String(error)).toMatch(/response code: 422/);
  const id = receiver.of('pre-finish').find((r) => r.json.Event.Upload.MetaData.filename === 'no.bin')!.json.Event.Upload.ID;
  expect(await listAllKeys(info, bucket, `hooked/${id}`)).toEqual([]);
  expect(await everNotified(receiver, path.join(server.dir, 'outbox'), (r) => r.Type === 'post-finish' && r.Event.Upload.ID === id)).toBe(false);
});
