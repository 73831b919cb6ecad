import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDownloadLink } from '../../src/index.js';
import { raw } from '../helpers/http.js';
import { downloadEndpoint, downloadSuite, LINK_SECRET, uploadBytes } from '../helpers/download-suite.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';

/** Downloads on a disk store (the same suite runs on S3 in test/s3/download.test.ts). */
let server: RunningTusport;
const log = capturingLogger('info');
const config = (dir: string) => ({ endpoints: [{ path: '/files', store: { type: 'disk' as const, directory: path.join(dir, 'files') }, ...downloadEndpoint }] });
beforeAll(async () => {
  server = await startTusport(config, { logger: log.logger });
});
afterAll(() => server?.close());

downloadSuite({ server: () => server, another: () => startTusport(config, { dir: server.dir }), logs: () => log.lines });

describe('signed links behind a proxy that strips a path prefix', () => {
  it('stripPrefix signs the path tusport sees: the public URL\'s link, minus the prefix, downloads', async () => {
    const url = await uploadBytes(server, Buffer.from('behind a proxy'));
    const publicUrl = `https://uploads.example.com/tus${url}`;
    const link = new URL(signDownloadLink({ url: publicUrl, secret: LINK_SECRET, expiresIn: 600_000, stripPrefix: '/tus' }));
    expect(link.pathname).toBe(`/tus${url}`);
    const response = await raw(server.url, { method: 'GET', path: `${url}${link.search}` });
    expect(response.status).toBe(200);
    expect(response.body).toBe('behind a proxy');
    // Without stripPrefix the signature covers /tus/..., which tusport never sees: refused.
    const unstripped = new URL(signDownloadLink({ url: publicUrl, secret: LINK_SECRET, expiresIn: 600_000 }));
    expect((await raw(server.url, { method: 'GET', path: `${url}${unstripped.search}` })).status).toBe(403);
  });
});
