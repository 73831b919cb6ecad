import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { createUpload, patch } from '../helpers/http.js';
import { startTusport, tempDir } from '../helpers/server.js';

const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));

describe('tusport cleanup (the real CLI)', () => {
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  const ids = { unfinished: '', finished: '' };

  beforeAll(async () => {
    scratch = await tempDir();
    const server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: '1h' }] }), {
      dir: scratch.dir,
    });
    const unfinished = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    await patch(server.url, unfinished, 0, Buffer.from('abc'));
    const finished = await createUpload(server.url, '/files', { 'Upload-Length': 3 });
    await patch(server.url, finished, 0, Buffer.from('xyz'));
    await server.app.close();
    ids.unfinished = idOf(unfinished);
    ids.finished = idOf(finished);
    // Both were created two hours ago, as far as their sidecars say.
    for (const id of [ids.unfinished, ids.finished]) {
      const file = path.join(scratch.dir, 'files', `${id}.json`);
      const sidecar = JSON.parse(await readFile(file, 'utf8'));
      sidecar.creation_date = new Date(Date.now() - 2 * 60 * 60 * 1000).toISOString();
      await writeFile(file, JSON.stringify(sidecar));
    }
  });
  afterAll(() => scratch.remove());

  it('removes the expired unfinished upload, keeps the finished one, prints what it did, exits 0', async () => {
    const config = path.join(scratch.dir, 'tusport.yaml');
    await writeFile(config, `endpoints:\n  - path: /files\n    store: { type: disk, directory: ${JSON.stringify(path.join(scratch.dir, 'files'))} }\n    expire: 1h\n`);
    const run = spawnSync(process.execPath, [BIN, 'cleanup', '--config', config], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ expired: 1, leftovers: 0, completed: 0, skipped: 0 });
    expect(await listTree(path.join(scratch.dir, 'files'))).toEqual([ids.finished, `${ids.finished}.json`].sort());
  });

  it('exits 2 on a bad config', () => {
    const run = spawnSync(process.execPath, [BIN, 'cleanup', '--config', path.join(scratch.dir, 'missing.yaml')], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('missing.yaml');
  });
});
