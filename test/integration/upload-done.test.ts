import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { idOf } from '../helpers/files.js';

describe('onUploadDone that throws', () => {
  const capture = capturingLogger('info');
  let server: RunningTusport;
  let calls = 0;

  beforeAll(async () => {
    server = await startTusport(
      (dir) => ({
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(dir, 'files') },
            onUploadDone: async () => {
              calls += 1;
              throw new Error('downstream is down');
            },
          },
        ],
      }),
      { logger: capture.logger },
    );
  });
  afterAll(() => server.close());

  it('keeps the upload, answers the client with success, logs the error with the upload id', async () => {
    const data = Buffer.from('precious bytes');
    const { url: uploadUrl } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: 5 });
    const id = idOf(uploadUrl);
    expect(await readFile(path.join(server.dir, 'files', id))).toEqual(data);
    expect(calls).toBe(1);
    const failure = capture.lines.find((line) => line.msg === 'onUploadDone failed; the upload stays stored');
    expect(failure).toMatchObject({ level: 50, uploadId: id });
    expect(JSON.stringify(failure)).toContain('downstream is down');
  });
});
