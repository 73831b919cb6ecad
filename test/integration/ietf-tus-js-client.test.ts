import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, sha256 } from '../helpers/files.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { stoppedTusUpload } from '../helpers/ietf-client.js';
import { tusUpload } from '../helpers/tus-client.js';

/**
 * tus-js-client's own IETF implementation (`protocol: 'ietf-draft-03'` sends interop 5,
 * `'ietf-draft-05'` interop 6 with application/partial-upload): an upload the client stops after
 * two chunks and resumes from its URL (HEAD, then PATCH from the offset) is byte-identical.
 */
let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }] }));
});
afterAll(() => server?.close());

describe.each(['ietf-draft-03', 'ietf-draft-05'] as const)('tus-js-client with protocol %s', (protocol) => {
  it.each([false, true])('uploads with an interruption and a resume, sha256-identical (data during creation: %s)', async (uploadDataDuringCreation) => {
    const data = randomBytes(640 * 1024);
    const chunkSize = 64 * 1024;
    // tus-js-client 4.3's type declarations lack `protocol`; its code has it (lib.esm/upload.js).
    const ietf = { protocol } as { endpoint?: string };
    const stopped = await stoppedTusUpload(data, { endpoint: `${server.url}/files`, ...ietf, chunkSize, uploadDataDuringCreation, metadata: { filename: 'photo.heic' } }, 2);
    expect(stopped.offset).toBe(2 * chunkSize);
    const { url } = await tusUpload(data, { uploadUrl: stopped.url, ...ietf, chunkSize });
    expect(url).toBe(stopped.url);
    const stored = await readFile(path.join(server.dir, 'files', idOf(url)));
    expect(sha256(stored)).toBe(sha256(data));
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'files', `${idOf(url)}.json`), 'utf8'));
    expect(sidecar.metadata).toEqual({ filename: 'photo.heic', 'upload-protocol': `ietf-draft-interop-${protocol === 'ietf-draft-03' ? 5 : 6}` });
  });
});
