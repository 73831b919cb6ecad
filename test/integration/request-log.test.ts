import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/cli.js';
import { createUpload, raw, TUS } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { capturingLogger, startTusport } from '../helpers/server.js';

// The one-line-per-request log, read from a real server's logger.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface Line {
  msg: string;
  reqId?: string;
  req?: { method: string; url: string };
  res?: { statusCode: number };
}

async function server() {
  const capture = capturingLogger('info');
  const running = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, maxChunkSize: 50 }], metrics: { enabled: true, port: 0 } }), {
    logger: capture.logger,
  });
  cleanup.push(() => running.close());
  const linesOf = (url: string) => (capture.lines as unknown as Line[]).filter((line) => line.req?.url === url);
  return { ...running, linesOf };
}

describe('one log line per request', () => {
  it('a PATCH answered 413 before its body was read gets one line, not a second "aborted" one when its connection closes', async () => {
    const { url, linesOf } = await server();
    const upload = await createUpload(url, '/files', { 'Upload-Length': 8 * 1024 * 1024 });
    // A body far bigger than what the server reads before answering: it closes the connection.
    const refused = await raw(url, { method: 'PATCH', path: upload, headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: Buffer.alloc(8 * 1024 * 1024) }).catch((error: unknown) => ({ status: -1, error }));
    expect(refused.status).toBe(413);
    // The next request on the server is logged after the 413's connection is gone.
    await raw(url, { method: 'HEAD', path: upload, headers: TUS });
    await until(() => linesOf(upload).length >= 2, 'the HEAD line');
    expect(linesOf(upload).map((line) => [line.req?.method, line.msg, line.res?.statusCode])).toEqual([
      ['PATCH', 'request completed', 413],
      ['HEAD', 'request completed', 200],
    ]);
  });

  it('a PATCH whose client leaves mid-body gets one "aborted" line', async () => {
    const { url, app, linesOf } = await server();
    const upload = await createUpload(url, '/files', { 'Upload-Length': 40 });
    const request = http.request(`${url}${upload}`, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '40' },
    });
    request.on('error', () => undefined);
    request.write(Buffer.alloc(10));
    const metricsUrl = app.tusport.metrics?.url ?? '';
    await until(async () => (await scrape(metricsUrl)).value('tusport_writes_in_flight') === 1, 'the PATCH writing');
    request.destroy();
    await until(() => linesOf(upload).some((line) => line.req?.method === 'PATCH'), 'the PATCH line');
    const patches = linesOf(upload).filter((line) => line.req?.method === 'PATCH');
    expect(patches.map((line) => line.msg)).toEqual(['request aborted by the client']);
  });
});
