import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestBucket } from '../harness/ceph.js';
import { raw } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { ceph, PART, s3FilesConfig, s3Store } from './lib.js';

// Metrics and /readyz with a real S3 store (the harness's Ceph RGW).
const info = ceph();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function start(config: Parameters<typeof startTusport>[0]): Promise<RunningTusport> {
  const server = await startTusport(config);
  cleanup.push(() => server.close());
  return server;
}

describe('S3 metrics', () => {
  it('times each S3 call by operation, and counts the bytes of a multi-part upload', async () => {
    const bucket = await createTestBucket(info, 'metrics');
    const server = await start({ ...s3FilesConfig(info, bucket), metrics: { enabled: true, port: 0 } });
    const data = randomBytes(PART + 1234);
    await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: PART });
    const scraped = await scrape(server.app.tusport.metrics!.url!);
    const calls = (operation: string) => scraped.value('tusport_s3_request_duration_ms_count', { operation, outcome: 'ok' });
    expect(calls('CreateMultipartUpload')).toBe(1);
    expect(calls('UploadPart')).toBe(2);
    expect(calls('CompleteMultipartUpload')).toBe(1);
    expect(calls('ListParts')).toBeGreaterThanOrEqual(1);
    // Absent `.part` tails are looked up and not found: that is not an error.
    const errors = scraped.samples.filter((s) => s.name === 'tusport_s3_request_duration_ms_count' && s.labels.outcome === 'error' && s.value > 0);
    expect(errors.map((s) => `${s.labels.operation}: ${s.value}`)).toEqual([]);
    expect(scraped.value('tusport_bytes_received')).toBe(data.length);
    expect(scraped.value('tusport_uploads_finished')).toBe(1);
    expect(scraped.value('tusport_store_operation_duration_seconds_count', { store: 's3', operation: 'seal', outcome: 'ok' })).toBe(1);
  });
});

describe('/readyz with S3 stores', () => {
  it('is 200 with a reachable bucket, 503 naming the store whose bucket is missing or whose credentials are wrong (no secret in the body)', async () => {
    const bucket = await createTestBucket(info, 'readyz');
    const wrongSecret = 'not-the-secret-key-3e9a1f';
    const log = capturingLogger('info');
    const server = await startTusport({
      endpoints: [
        { path: '/good', store: s3Store(info, bucket) },
        { path: '/missing', store: s3Store(info, `${bucket}-missing`) },
        { path: '/denied', store: s3Store(info, bucket, { credentials: { accessKeyId: info.accessKeyId, secretAccessKey: wrongSecret } }) },
      ],
    }, { logger: log.logger });
    cleanup.push(() => server.close());
    const response = await raw(server.url, { method: 'GET', path: '/readyz' });
    expect(response.status).toBe(503);
    const body = JSON.parse(response.body) as { status: string; checks: { name: string; kind: string; ok: boolean; error?: string }[] };
    expect(body.status).toBe('unready');
    expect(body.checks.map(({ name, kind, ok }) => ({ name, kind, ok }))).toEqual([
      { name: 'store /good', kind: 's3', ok: true },
      { name: 'store /missing', kind: 's3', ok: false },
      { name: 'store /denied', kind: 's3', ok: false },
    ]);
    // Bucket names and causes are for the operator's log; the prober learns which store failed.
    expect(response.body).not.toContain(bucket);
    const reason = (check: string) => String(log.lines.find((line) => line.check === check && line.level === 40)?.reason);
    expect(reason('store /missing')).toContain(`"${bucket}-missing"`);
    expect(reason('store /missing')).toContain('the bucket does not exist');
    expect(reason('store /denied')).toContain('wrong credentials');
    for (const text of [response.body, log.text()]) {
      expect(text).not.toContain(wrongSecret);
      expect(text).not.toContain(info.secretAccessKey);
    }

    const healthy = await start(s3FilesConfig(info, bucket));
    const ready = await raw(healthy.url, { method: 'GET', path: '/readyz' });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: [{ name: 'store /files', kind: 's3', ok: true }] });
  });
});
