import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killAll, run, start } from '../helpers/cli.js';
import { createUpload, patch, raw, TUS } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';

// `tusport serve` as a user runs it; its stdout read as a log collector (JSON) or a person (pretty) would.

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-logs-');
});
afterEach(async () => {
  await killAll();
  await scratch.remove();
});
afterAll(killAll);

interface LogLine {
  msg: string;
  reqId?: string;
  req?: { method: string; url: string };
  res?: { statusCode: number };
  responseTime?: number;
}

const ARGS = ['serve', '--port', '0', '--no-demo'];

describe('JSON logs (the default)', () => {
  it('one line per request, when it is over: method, url with query values redacted, status, time and the request id; a "stopped" line last after SIGTERM', async () => {
    const server = await start(ARGS, scratch.dir);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 5 });
    const patched = await patch(server.url, `${upload}?token=secret-in-query`, 0, 'hello', { 'X-Request-Id': 'my-request-7' });
    expect(patched.status).toBe(204);
    const head = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(head.status).toBe(200);
    // Probes are not logged at info (as before).
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect((await raw(server.url, { method: 'GET', path: '/readyz' })).status).toBe(200);

    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n').map((line) => JSON.parse(line) as LogLine);
    const requests = lines.filter((line) => line.req !== undefined);
    expect(requests.map((line) => line.msg)).toEqual(['request completed', 'request completed', 'request completed']);
    expect(requests.map((line) => [line.req?.method, line.req?.url, line.res?.statusCode])).toEqual([
      ['POST', '/files', 201],
      ['PATCH', `${upload}?token=[redacted]`, 204],
      ['HEAD', upload, 200],
    ]);
    for (const line of requests) expect(line.responseTime).toBeGreaterThan(0);
    expect(requests[1]?.reqId).toBe('my-request-7');
    expect(requests[2]?.reqId).toBe(head.headers['x-request-id']);
    expect(exit.stdout).not.toContain('incoming request');
    expect(exit.stdout).not.toContain('secret-in-query');
    expect(lines.at(-1)?.msg, exit.stdout).toBe('tusport stopped');
  });
});

describe('pretty logs', () => {
  it('--log-format pretty prints human-readable lines (no JSON), one per request, and the "stopped" line last', async () => {
    const server = await start([...ARGS, '--log-format', 'pretty'], scratch.dir);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 5 });
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines.filter((line) => line.trimStart().startsWith('{')), exit.stdout).toEqual([]);
    expect(lines.filter((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: /.test(line)).length, exit.stdout).toBeGreaterThanOrEqual(4);
    expect(lines.filter((line) => line.includes('request completed')), exit.stdout).toEqual([expect.stringMatching(/ INFO: POST \/files 201 request completed$/)]);
    expect(exit.stdout).toContain('tusport listening on http://');
    expect(lines.at(-1), exit.stdout).toMatch(/ INFO: tusport stopped$/);
    expect(upload).toMatch(/^\/files\/[0-9a-f]+$/);
  });

  it('server.logFormat from the environment does the same; a bad value is a usage error naming the key', async () => {
    const server = await start(ARGS, scratch.dir, { TUSPORT__SERVER__LOGFORMAT: 'pretty' });
    expect(server.output.stdout).toMatch(/INFO: tusport listening on http:\/\//);
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit.code, `${exit.signal ?? ''}\n${exit.stdout}\n${exit.stderr}`).toBe(0);

    // A generous limit: on a loaded machine starting node alone took over 10 s.
    const bad = await run([...ARGS, '--log-format', 'xml'], scratch.dir, {}, 60_000);
    expect(bad.code, `${bad.signal ?? ''}\n${bad.stdout}\n${bad.stderr}`).toBe(2);
    expect(bad.stderr).toMatch(/server\.logFormat/);
    expect(bad.stderr).toMatch(/json/);
  });
});
