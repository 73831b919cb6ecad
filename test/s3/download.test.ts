import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDownloadLink } from '../../src/index.js';
import { createTestBucket } from '../harness/ceph.js';
import { type CountingProxy, startCountingProxy } from '../helpers/counting-proxy.js';
import { ALICE, downloadEndpoint, downloadSuite, LINK_SECRET, uploadBytes } from '../helpers/download-suite.js';
import { raw } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, MiB, s3Store, sha256 } from './lib.js';

/** Downloads on an S3 store (Ceph RGW): the shared suite, ranged GetObject measured, presigned redirects. */
const info = ceph();
let bucket: string;
let server: RunningTusport;
const log = capturingLogger('info');
const config = (store: Record<string, unknown> = {}, downloads: Record<string, unknown> = {}) => ({
  endpoints: [{ path: '/files', store: s3Store(info, bucket, store), ...downloadEndpoint, downloads: { ...downloadEndpoint.downloads, ...downloads } }],
});

beforeAll(async () => {
  bucket = await createTestBucket(info, 'download');
  server = await startTusport(config(), { logger: log.logger });
});
afterAll(() => server?.close());

downloadSuite({ server: () => server, another: () => startTusport(config()), logs: () => log.lines });

describe('S3: what reaches the bucket', () => {
  let proxy: CountingProxy;
  let proxied: RunningTusport;
  beforeAll(async () => {
    proxy = await startCountingProxy(info.endpoint);
    proxied = await startTusport(config({ endpoint: proxy.url }));
  });
  afterAll(async () => {
    await proxied?.close();
    await proxy?.close();
  });

  it('a ranged download asks GetObject for that range only: 100 bytes of a 12 MiB object fetch about 100 bytes', async () => {
    const data = randomBytes(12 * MiB);
    const url = await uploadBytes(proxied, data, { filename: 'big.bin' });
    const id = url.split('/').pop()!;
    const before = proxy.requests.length;
    const response = await raw(proxied.url, { method: 'GET', path: url, headers: { Authorization: `Bearer ${ALICE}`, Range: 'bytes=5000000-5000099' } });
    expect(response.status).toBe(206);
    expect(response.bytes.equals(data.subarray(5_000_000, 5_000_100))).toBe(true);
    const objectGets = proxy.requests.slice(before).filter((r) => r.method === 'GET' && r.url.split('?')[0]!.endsWith(`/${id}`));
    expect(objectGets).toHaveLength(1);
    expect(objectGets[0]).toMatchObject({ range: 'bytes=5000000-5000099', status: 206, bytes: 100 });
    // Everything the download fetched from the bucket, the sidecar included, is a few KiB, not 12 MiB.
    const fetched = proxy.requests.slice(before).reduce((sum, r) => sum + r.bytes, 0);
    expect(fetched).toBeLessThan(64 * 1024);
  });
});

describe('S3: presignedRedirect', () => {
  let redirecting: RunningTusport;
  beforeAll(async () => {
    redirecting = await startTusport(config({}, { presignedRedirect: true }));
  });
  afterAll(() => redirecting?.close());

  it('a valid link answers 302 to a presigned GetObject that serves the bytes with our type and disposition', async () => {
    const data = randomBytes(200_000);
    const url = await uploadBytes(redirecting, data, { filename: 'r\u00e9port.txt', filetype: 'text/plain' });
    const link = new URL(signDownloadLink({ url: `${redirecting.url}${url}?download=1`, secret: LINK_SECRET, expiresIn: 600_000 }));
    const answer = await raw(redirecting.url, { method: 'GET', path: link.pathname + link.search });
    expect(answer.status).toBe(302);
    expect(answer.headers['cache-control']).toBe('no-store');
    const location = String(answer.headers.location);
    expect(location.startsWith(`${info.endpoint}/${bucket}/`)).toBe(true);
    expect(Number(new URL(location).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(600);
    const fromBucket = await fetch(location);
    expect(fromBucket.status).toBe(200);
    expect(sha256(Buffer.from(await fromBucket.arrayBuffer()))).toBe(sha256(data));
    expect(fromBucket.headers.get('content-type')).toBe('text/plain');
    expect(fromBucket.headers.get('content-disposition')).toBe(`attachment; filename="r_port.txt"; filename*=UTF-8''r%C3%A9port.txt`);
    // fetch follows the redirect itself.
    expect(sha256(Buffer.from(await (await fetch(link)).arrayBuffer()))).toBe(sha256(data));
  });

  it('the bearer token still downloads through tusport (no redirect without a link); tampered links are 403', async () => {
    const url = await uploadBytes(redirecting, Buffer.from('direct'));
    const response = await raw(redirecting.url, { method: 'GET', path: url, headers: { Authorization: `Bearer ${ALICE}` } });
    expect(response.status).toBe(200);
    expect(response.body).toBe('direct');
    const link = new URL(signDownloadLink({ url: `${redirecting.url}${url}`, secret: LINK_SECRET, expiresIn: 600_000 }));
    link.searchParams.set('expires', String(Number(link.searchParams.get('expires')) - 1));
    expect((await raw(redirecting.url, { method: 'GET', path: link.pathname + link.search })).status).toBe(403);
  });
});
