import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { idOf } from '../helpers/files.js';
import { raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * With nothing to move (no finalize, no claim) and nobody to tell (no onUploadDone, no post-finish
 * hook), completion is recorded by one sidecar write straight to `notified` (src/uploads/completion.ts):
 * each write costs a temp file, two fsyncs and a rename, which is what many small uploads pay for.
 * The upload must end exactly where the step-by-step path ends: complete, `notified`, logged once,
 * nothing left for the sweep to carry on; and with someone to tell, they are still told.
 */

let server: RunningTusport | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function createWithBody(s: RunningTusport, body: Buffer) {
  const created = await raw(s.url, {
    method: 'POST',
    path: '/files',
    headers: { ...TUS, 'Upload-Length': String(body.length), 'Content-Type': 'application/offset+octet-stream' },
    body,
  });
  expect(created.status).toBe(201);
  expect(created.headers['upload-offset']).toBe(String(body.length));
  return idOf(String(created.headers.location));
}

const sidecarOf = async (s: RunningTusport, id: string) => JSON.parse(await readFile(path.join(s.dir, 'files', `${id}.json`), 'utf8'));

describe('completion of an upload with nothing to move and nobody to tell', () => {
  it('is recorded as notified in one go: complete, logged once, nothing left for the sweep', async () => {
    const capture = capturingLogger('info');
    server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }] }), { logger: capture.logger });
    const body = Buffer.from('four kilobytes, give or take');
    const id = await createWithBody(server, body);

    const sidecar = await sidecarOf(server, id);
    expect(sidecar.tusport).toMatchObject({ completion: 'notified', completed_at: expect.any(String) });
    const finished = () => capture.lines.filter((line) => line.msg === 'upload finished' && line.uploadId === id);
    expect(finished()).toHaveLength(1);
    expect(finished()[0]).toMatchObject({ size: body.length });

    // Nothing pending: a sweep carries nothing on and logs no second "upload finished".
    expect(await server.app.tusport.sweep()).toMatchObject({ completed: 0, expired: 0 });
    expect(finished()).toHaveLength(1);
    const download = await raw(server.url, { method: 'GET', path: `/files/${id}` });
    expect(download.status).toBe(200);
    expect(download.body).toBe(body.toString());
  });

  it('still tells onUploadDone when there is someone to tell, and ends at the same step', async () => {
    const done: string[] = [];
    const config = (dir: string): TusportConfig => ({
      endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, onUploadDone: async (upload) => void done.push(upload.id) }],
    });
    server = await startTusport(config);
    const id = await createWithBody(server, Buffer.from('tell me'));
    expect(done).toEqual([id]);
    expect((await sidecarOf(server, id)).tusport).toMatchObject({ completion: 'notified', completed_at: expect.any(String) });
  });
});
