import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { downloadEndpoint, downloadSuite } from '../helpers/download-suite.js';
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
