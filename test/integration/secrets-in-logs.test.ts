import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';

const TOKEN = 'bearer-token-that-must-never-be-logged-0001';

describe('secrets never reach the logs', () => {
  const capture = capturingLogger('trace');
  let server: RunningTusport;

  beforeAll(async () => {
    server = await startTusport(
      (dir) => ({
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(dir, 'files') },
            auth: { type: 'bearer', tokens: [{ id: 'uploader', token: TOKEN }], tokenFrom: { header: true, query: 'token', cookie: 'tok' } },
          },
        ],
      }),
      { logger: capture.logger },
    );
  });
  afterAll(() => server.close());

  it('a token in the header, the query string or a cookie, valid or not, is not logged', async () => {
    const { url } = server;
    const statuses = [
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } })).status,
      (await raw(url, { method: 'POST', path: `/files?token=${TOKEN}`, headers: { ...TUS, 'Upload-Length': '1' } })).status,
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Cookie: `tok=${TOKEN}` } })).status,
      (await raw(url, { method: 'POST', path: `/files?token=${TOKEN}x`, headers: { ...TUS, 'Upload-Length': '1' } })).status,
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}x` } })).status,
    ];
    expect(statuses).toEqual([201, 201, 201, 401, 401]);
    const log = capture.text();
    expect(log).toContain('token=[redacted]');
    // Every request was logged (one line each, its URL among them), so the absence below means something.
    expect(capture.lines.filter((line) => line.msg === 'request completed')).toHaveLength(statuses.length);
    expect(log).not.toContain(TOKEN);
  });
});
