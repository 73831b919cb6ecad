// A direct-to-S3 upload through tusport's signing routes, as @uppy/aws-s3 (Companion mode) makes
// it, from Node: POST s3/multipart, then per part GET s3/multipart/:id/:n (a presigned URL) and a
// PUT of the part straight to S3, `--queue-size` parts in flight, then POST .../complete (tusport
// checks the object and finishes the upload). The bytes never pass through tusport.
//
//   node bench/clients/s3-direct-routes.mjs --url http://127.0.0.1:1080/direct --file big.bin \
//     --part-size 8388608 --queue-size 16
//
// Parts are read from the file with positional reads (lib-storage reads fs.createReadStream into
// part buffers: the same bytes in memory per part). Prints one JSON line:
// { ms, bytes, cpuMs, key, url } (ms from the first request to the completed upload).
//
// With `--s3-endpoint URL --bucket B --key K` (and AWS_* credentials in the environment) the same
// client signs locally with the AWS SDK instead of asking tusport: the same requests to S3 without
// tusport's round trips, the baseline that isolates what tusport adds.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    file: { type: 'string' },
    'part-size': { type: 'string' },
    'queue-size': { type: 'string' },
    's3-endpoint': { type: 'string' },
    bucket: { type: 'string' },
    key: { type: 'string' },
  },
});
const endpoint = values.url;
const partSize = Number(values['part-size']);
const queueSize = Number(values['queue-size']);

/** The same routes' answers, made here with the AWS SDK (`--s3-endpoint`): no tusport involved. */
async function localSigner() {
  const { S3, UploadPartCommand } = await import('@aws-sdk/client-s3');
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  const client = new S3({ endpoint: values['s3-endpoint'], region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const Bucket = values.bucket;
  return async (method, route, body) => {
    const Key = values.key;
    if (route === '/multipart') return { key: Key, uploadId: (await client.createMultipartUpload({ Bucket, Key })).UploadId };
    const [, uploadId, last] = /^\/multipart\/([^/]+)\/([^?]+)/.exec(route);
    const UploadId = decodeURIComponent(uploadId);
    if (last === 'complete') {
      await client.completeMultipartUpload({ Bucket, Key, UploadId, MultipartUpload: { Parts: body.parts } });
      return { key: Key, location: `${values['s3-endpoint']}/${Bucket}/${Key}` };
    }
    return { url: await getSignedUrl(client, new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: Number(last) }), { expiresIn: 900 }) };
  };
}

const call = values['s3-endpoint'] ? await localSigner() : tusportCall;

async function tusportCall(method, route, body) {
  const response = await fetch(`${endpoint}/s3${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const handle = await fs.open(values.file);
const size = (await handle.stat()).size;
const count = Math.ceil(size / partSize);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const { key, uploadId } = await call('POST', '/multipart', { filename: path.basename(values.file), type: 'application/octet-stream', metadata: {} });
const query = new URLSearchParams({ key });
const parts = [];
let next = 0;
async function worker() {
  while (next < count) {
    const index = next++;
    const start = index * partSize;
    const length = Math.min(partSize, size - start);
    const buffer = Buffer.allocUnsafe(length);
    await handle.read(buffer, 0, length, start);
    const { url } = await call('GET', `/multipart/${encodeURIComponent(uploadId)}/${index + 1}?${query}`);
    const response = await fetch(url, { method: 'PUT', body: buffer });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`PUT part ${index + 1}: ${response.status}`);
    parts[index] = { PartNumber: index + 1, ETag: response.headers.get('etag') };
  }
}
await Promise.all(Array.from({ length: Math.min(queueSize, count) }, worker));
const done = await call('POST', `/multipart/${encodeURIComponent(uploadId)}/complete?${query}`, { parts });
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await handle.close();
console.log(JSON.stringify({ ms, bytes: size, cpuMs: (cpu.user + cpu.system) / 1000, key: done.key, url: done.location }));
