import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/index.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

describe('onUploadDone that throws', () => {
  const logLines: Record<string, unknown>[] = [];
  let url = '';
  let calls = 0;
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    scratch = await tempDir();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        callback();
      },
    });
    const app = buildApp(
      {
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(scratch.dir, 'files') },
            onUploadDone: async () => {
              calls += 1;
              throw new Error('downstream is down');
            },
          },
        ],
      },
      { logger: pino({ level: 'info' }, sink) },
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

  it('keeps the upload, answers the client with success, logs the error with the upload id', async () => {
    const data = Buffer.from('precious bytes');
    const { url: uploadUrl } = await tusUpload(data, { endpoint: `${url}/files`, chunkSize: 5 });
    const id = uploadUrl.split('/').pop() ?? '';
    expect(await readFile(path.join(scratch.dir, 'files', id))).toEqual(data);
    expect(calls).toBe(1);
    const failure = logLines.find((line) => line.msg === 'onUploadDone failed; the upload stays stored');
    expect(failure).toMatchObject({ level: 50, uploadId: id });
    expect(JSON.stringify(failure)).toContain('downstream is down');
  });
});
