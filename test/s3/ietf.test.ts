import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket } from '../harness/ceph.js';
import { ietfRequest, stoppedTusUpload } from '../helpers/ietf-client.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { ceph, idOf, MiB, objectBytes, s3FilesConfig, sha256 } from './lib.js';

/** The IETF door on an S3 store (Ceph RGW): tus-js-client's drafts and the draft -11 client. */
const info = ceph();
let bucket: string;
let server: RunningTusport;
beforeAll(async () => {
  bucket = await createTestBucket(info, 'ietf');
  server = await startTusport(s3FilesConfig(info, bucket));
});
afterAll(() => server?.close());

describe.each(['ietf-draft-03', 'ietf-draft-05'] as const)('tus-js-client with protocol %s on S3', (protocol) => {
  it('uploads 12 MiB in 6 MiB chunks with a stop after the first chunk and a resume, sha256-identical', async () => {
    const data = randomBytes(12 * MiB);
    // tus-js-client 4.3's type declarations lack `protocol`; its code has it (lib.esm/upload.js).
    const ietf = { protocol } as { endpoint?: string };
    const chunkSize = 6 * MiB;
    const stoppedUrl = (await stoppedTusUpload(data, { endpoint: `${server.url}/files`, ...ietf, chunkSize }, 1)).url;
    const { url } = await tusUpload(data, { uploadUrl: stoppedUrl, ...ietf, chunkSize });
    expect(sha256(await objectBytes(info, bucket, idOf(url)))).toBe(sha256(data));
  });
});

it('draft -11 client on S3: creation with 104, append, offset retrieval, completion, problem for a wrong offset', async () => {
  const data = randomBytes(7 * MiB);
  const v = { 'Upload-Draft-Interop-Version': '8' };
  const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v, 'Upload-Complete': '?0' }, body: data.subarray(0, 6 * MiB) });
  expect(created.status).toBe(201);
  expect(created.informational[0]?.headers.location).toBe(created.headers.location);
  const url = created.headers.location!;
  const wrong = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...v, 'Upload-Complete': '?1', 'Upload-Offset': '5', 'Content-Type': 'application/partial-upload' }, body: data.subarray(5) });
  expect(wrong.status).toBe(409);
  expect(JSON.parse(wrong.body)).toMatchObject({ type: 'https://iana.org/assignments/http-problem-types#mismatching-upload-offset', 'expected-offset': 6 * MiB });
  const head = await ietfRequest(server.url, { method: 'HEAD', url, headers: v });
  expect(head.headers['upload-offset']).toBe(String(6 * MiB));
  const done = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...v, 'Upload-Complete': '?1', 'Upload-Offset': String(6 * MiB), 'Content-Type': 'application/partial-upload' }, body: data.subarray(6 * MiB) });
  expect(done.status).toBe(204);
  expect(done.headers['upload-complete']).toBe('?1');
  expect(sha256(await objectBytes(info, bucket, idOf(url)))).toBe(sha256(data));
});

it('draft -11 client on S3: a complete upload of unknown length, PUT with a chunked body, stored whole and completed', async () => {
  const data = randomBytes(7 * MiB);
  const created = await ietfRequest(server.url, { method: 'PUT', url: '/files', headers: { 'Upload-Draft-Interop-Version': '8', 'Upload-Complete': '?1' }, body: data, chunked: true });
  expect(created.status).toBe(201);
  expect(created.informational.map((entry) => entry.status)).toEqual([104]);
  expect(created.headers['upload-complete']).toBe('?1');
  expect(created.headers['upload-length']).toBe(String(data.length));
  expect(sha256(await objectBytes(info, bucket, idOf(created.headers.location!)))).toBe(sha256(data));
});
