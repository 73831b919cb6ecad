import { randomBytes } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinishedUpload } from '../../src/index.js';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const named = (filename: string) => ({ 'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')}` });
const year = String(new Date().getUTCFullYear());

describe('finalize: finished uploads move to a templated path inside the store', () => {
  let server: RunningTusport;
  const done: FinishedUpload[] = [];
  const dir = (name: string) => path.join(server.dir, name);

  beforeAll(async () => {
    server = await startTusport((root) => {
      const endpoint = (name: string, finalizePath: string, overwrite: boolean | 'rename') => ({
        path: `/${name}/{username}`,
        store: { type: 'disk' as const, directory: path.join(root, name) },
        finalize: { path: finalizePath, overwrite },
        onUploadDone: (upload: FinishedUpload) => {
          done.push(upload);
        },
      });
      return {
        endpoints: [
          endpoint('dated', '{username}/{yyyy}/{mm}/{id}-{filename}', false),
          endpoint('keep', 'final/{filename}', false),
          endpoint('rename', 'final/{filename}', 'rename'),
          endpoint('replace', 'final/{filename}', true),
        ],
      };
    });
  });
  afterAll(() => server.close());

  it('renders placeholders, keeps a sidecar beside the file, and the upload URL keeps working', async () => {
    const data = randomBytes(3000);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/dated/alice`, metadata: { filename: '../../etc/pass wd.txt', filetype: 'text/plain' }, chunkSize: 1000 });
    const id = idOf(url);
    const mm = String(new Date().getUTCMonth() + 1).padStart(2, '0');
    const relative = `alice/${year}/${mm}/${id}-pass wd.txt`;
    expect(await listTree(dir('dated'))).toEqual([`${id}.json`, relative, `${relative}.json`].sort());
    expect(sha256(await readFile(path.join(dir('dated'), relative)))).toBe(sha256(data));
    const beside = JSON.parse(await readFile(path.join(dir('dated'), `${relative}.json`), 'utf8'));
    expect(beside).toMatchObject({ id, tusport: { final_path: relative, params: { username: 'alice' } } });
    const own = JSON.parse(await readFile(path.join(dir('dated'), `${id}.json`), 'utf8'));
    expect(own.tusport.final_path).toBe(relative);
    const head = await raw(server.url, { method: 'HEAD', path: new URL(url).pathname, headers: TUS });
    expect([head.status, head.headers['upload-offset']]).toEqual([200, '3000']);
    const get = await raw(server.url, { method: 'GET', path: new URL(url).pathname });
    expect(get.status).toBe(200);
    expect(sha256(get.bytes)).toBe(sha256(data));
    expect(done.find((u) => u.id === id)?.path).toBe(path.join(dir('dated'), relative));
    // Re-sending the final PATCH changes nothing.
    const again = await patch(server.url, new URL(url).pathname, 3000, Buffer.alloc(0));
    expect([again.status, again.headers['upload-offset']]).toEqual([204, '3000']);
  });

  it('overwrite: false refuses a known clash at creation (409) and at finish never clobbers: the late upload stays at its URL', async () => {
    const first = Buffer.from('first file');
    await tusUpload(first, { endpoint: `${server.url}/keep/alice`, metadata: { filename: 'report.pdf' } });
    const early = await raw(server.url, { method: 'POST', path: '/keep/alice', headers: { ...TUS, 'Upload-Length': '3', ...named('report.pdf') } });
    expect(early.status).toBe(409);
    expect(errorOf(early).code).toBe('TUSPORT_ERR_FINAL_PATH_TAKEN');
    // Two uploads of the same name, both created before either finishes.
    const a = await createUpload(server.url, '/keep/alice', { 'Upload-Length': 5, ...named('same.bin') });
    const b = await createUpload(server.url, '/keep/alice', { 'Upload-Length': 5, ...named('same.bin') });
    const results = await Promise.all([patch(server.url, a, 0, Buffer.from('AAAAA')), patch(server.url, b, 0, Buffer.from('BBBBB'))]);
    expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
    const final = await readFile(path.join(dir('keep'), 'final', 'same.bin'), 'utf8');
    const loser = results[0]?.status === 409 ? a : b;
    const loserData = loser === a ? 'AAAAA' : 'BBBBB';
    expect(final).toBe(loserData === 'AAAAA' ? 'BBBBB' : 'AAAAA');
    // The loser's bytes are complete and served from its upload URL.
    const head = await raw(server.url, { method: 'HEAD', path: loser, headers: TUS });
    expect([head.status, head.headers['upload-offset']]).toEqual([200, '5']);
    expect((await raw(server.url, { method: 'GET', path: loser })).body).toBe(loserData);
    expect(await readFile(path.join(dir('keep'), 'final', 'report.pdf'), 'utf8')).toBe('first file');
  });

  it('HEAD completes an upload a crash left complete but unrecorded; a final path taken meanwhile leaves it at its URL (200, full offset)', async () => {
    // Both created before either finishes, so the early creation check cannot refuse the second.
    const winner = await createUpload(server.url, '/keep/dora', { 'Upload-Length': 5, ...named('clash.txt') });
    const late = await createUpload(server.url, '/keep/dora', { 'Upload-Length': 5, ...named('clash.txt') });
    expect((await patch(server.url, winner, 0, Buffer.from('first'))).status).toBe(204);
    // The late upload's last byte reached the disk, then the process died before completion was
    // recorded: the state a crash between the write and the sidecar update leaves.
    expect((await patch(server.url, late, 0, Buffer.from('LATE'))).status).toBe(204);
    const lateId = idOf(late);
    await appendFile(path.join(dir('keep'), lateId), 'R');
    expect(JSON.parse(await readFile(path.join(dir('keep'), `${lateId}.json`), 'utf8')).tusport.completed_at).toBeUndefined();
    // The client comes back and asks for the offset: HEAD completes it, finalize finds the name taken.
    const head = await raw(server.url, { method: 'HEAD', path: late, headers: TUS });
    expect([head.status, head.headers['upload-offset'], head.headers['upload-length']]).toEqual([200, '5', '5']);
    const sidecar = JSON.parse(await readFile(path.join(dir('keep'), `${lateId}.json`), 'utf8'));
    expect(sidecar.tusport.completed_at).toEqual(expect.any(String));
    expect(sidecar.tusport.final_path).toBeUndefined();
    expect(await readFile(path.join(dir('keep'), 'final', 'clash.txt'), 'utf8')).toBe('first');
    expect((await raw(server.url, { method: 'GET', path: late })).body).toBe('LATER');
    expect(done.filter((u) => u.id === lateId).map((u) => u.path)).toEqual([path.join(dir('keep'), lateId)]);
    // A second HEAD changes nothing.
    expect((await raw(server.url, { method: 'HEAD', path: late, headers: TUS })).headers['upload-offset']).toBe('5');
    expect(done.filter((u) => u.id === lateId)).toHaveLength(1);
  });

  it("overwrite: 'rename' lands five same-named uploads finishing together under distinct names, none lost", async () => {
    const bodies = Array.from({ length: 5 }, (_, i) => Buffer.from(`file number ${i}`));
    const paths = await Promise.all(bodies.map((body) => createUpload(server.url, '/rename/bob', { 'Upload-Length': body.length, ...named('photo.jpg') })));
    const results = await Promise.all(paths.map((p, i) => patch(server.url, p, 0, bodies[i])));
    expect(results.map((r) => r.status)).toEqual([204, 204, 204, 204, 204]);
    const finals = (await listTree(path.join(dir('rename'), 'final'))).filter((f) => !f.endsWith('.json'));
    expect(finals.sort()).toEqual(['photo (1).jpg', 'photo (2).jpg', 'photo (3).jpg', 'photo (4).jpg', 'photo.jpg']);
    const contents = await Promise.all(finals.map((f) => readFile(path.join(dir('rename'), 'final', f), 'utf8')));
    expect(contents.sort()).toEqual(bodies.map(String).sort());
  });

  it('overwrite: true replaces the earlier finalized file; DELETE of a finalized upload removes its file and sidecars', async () => {
    const { url: firstUrl } = await tusUpload(Buffer.from('old'), { endpoint: `${server.url}/replace/carol`, metadata: { filename: 'notes.txt' } });
    const { url } = await tusUpload(Buffer.from('new!'), { endpoint: `${server.url}/replace/carol`, metadata: { filename: 'notes.txt' } });
    expect(await readFile(path.join(dir('replace'), 'final', 'notes.txt'), 'utf8')).toBe('new!');
    // The replaced upload no longer owns the file: its URL does not serve the newer bytes.
    expect((await raw(server.url, { method: 'GET', path: new URL(firstUrl).pathname })).status).toBe(404);
    const deleted = await raw(server.url, { method: 'DELETE', path: new URL(url).pathname, headers: TUS });
    expect(deleted.status).toBe(204);
    const left = await listTree(dir('replace'));
    expect(left.filter((f) => f.includes('notes.txt'))).toEqual([]);
    expect(left).not.toContain(`${idOf(url)}.json`);
  });
});
