import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/index.js';
import { raw, TUS } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';

const TOKEN = 'bearer-token-that-must-never-be-logged-0001';

describe('secrets never reach the logs', () => {
  let log = '';
  let url = '';
  let close: () => Promise<void>;

  beforeAll(async () => {
    const scratch = await tempDir();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        log += chunk.toString();
        callback();
      },
    });
    const app = buildApp(
      {
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(scratch.dir, 'files') },
            auth: { type: 'bearer', tokens: [{ id: 'uploader', token: TOKEN }], tokenFrom: { header: true, query: 'token', cookie: 'tok' } },
          },
        ],
      },
      { logger: pino({ level: 'trace' }, sink) },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    close = async () => {
      await app.close();
      await scratch.remove();
    };
  });
  afterAll(() => close());

  it('a token in the header, the query string or a cookie, valid or not, is not logged', async () => {
    const statuses = [
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } })).status,
      (await raw(url, { method: 'POST', path: `/files?token=${TOKEN}`, headers: { ...TUS, 'Upload-Length': '1' } })).status,
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Cookie: `tok=${TOKEN}` } })).status,
      (await raw(url, { method: 'POST', path: `/files?token=${TOKEN}x`, headers: { ...TUS, 'Upload-Length': '1' } })).status,
      (await raw(url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}x` } })).status,
    ];
    expect(statuses).toEqual([201, 201, 201, 401, 401]);
    expect(log).toContain('token=[redacted]');
    expect(log.length).toBeGreaterThan(1000);
    expect(log).not.toContain(TOKEN);
  });
});
