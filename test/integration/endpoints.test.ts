import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

describe('several endpoints, anonymous and templated, side by side', () => {
  let server: RunningTusport;

  beforeAll(async () => {
    server = await startTusport((dir) => ({
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'anon') } },
        { path: '/users/{username}/uploads', store: { type: 'disk', directory: path.join(dir, 'users', '{username}') } },
        { path: '/teams/{team}/projects/{project}', store: { type: 'disk', directory: path.join(dir, 'teams', '{team}-{project}') } },
      ],
    }));
  });
  afterAll(() => server.close());

  it('each endpoint stores into its own rendered directory, with params in the sidecar', async () => {
    const before = await listTree(server.dir);
    const anon = await tusUpload(Buffer.from('anonymous'), { endpoint: `${server.url}/files` });
    const alice = await tusUpload(Buffer.from('alice data'), { endpoint: `${server.url}/users/alice/uploads` });
    const bob = await tusUpload(Buffer.from('bob data'), { endpoint: `${server.url}/users/bob/uploads` });
    expect(new URL(alice.url).pathname).toMatch(/^\/users\/alice\/uploads\/[0-9a-f]{32}$/);
    // Exactly these files appeared (whatever other tests left in the server's directory).
    expect((await listTree(server.dir)).filter((file) => !before.includes(file))).toEqual(
      [
        `anon/${idOf(anon.url)}`,
        `anon/${idOf(anon.url)}.json`,
        `users/alice/${idOf(alice.url)}`,
        `users/alice/${idOf(alice.url)}.json`,
        `users/bob/${idOf(bob.url)}`,
        `users/bob/${idOf(bob.url)}.json`,
      ].sort(),
    );
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'users', 'alice', `${idOf(alice.url)}.json`), 'utf8'));
    expect(sidecar.tusport).toMatchObject({ endpoint: '/users/{username}/uploads', params: { username: 'alice' }, owner: null });
    expect(await readFile(path.join(server.dir, 'users', 'bob', idOf(bob.url)), 'utf8')).toBe('bob data');
  });

  it("an upload URL under one user's path never reaches another user's upload (404 on every method)", async () => {
    const bobPath = await createUpload(server.url, '/users/bob/uploads', { 'Upload-Length': 10 });
    expect((await patch(server.url, bobPath, 0, Buffer.from('bob12'))).status).toBe(204);
    const id = idOf(bobPath);
    const asAlice = `/users/alice/uploads/${id}`;
    const before = await listTree(server.dir);
    expect((await raw(server.url, { method: 'HEAD', path: asAlice, headers: TUS })).status).toBe(404);
    expect((await patch(server.url, asAlice, 5, Buffer.from('alice'))).status).toBe(404);
    expect((await raw(server.url, { method: 'GET', path: asAlice })).status).toBe(404);
    expect((await raw(server.url, { method: 'DELETE', path: asAlice, headers: TUS })).status).toBe(404);
    expect((await raw(server.url, { method: 'HEAD', path: `/files/${id}`, headers: TUS })).status).toBe(404);
    expect(await listTree(server.dir)).toEqual(before);
    expect(await headOffset(server.url, bobPath)).toBe(5);
    expect(await readFile(path.join(server.dir, 'users', 'bob', id ?? ''), 'utf8')).toBe('bob12');
  });

  it('templates that render to the same directory still keep params apart (sidecar check)', async () => {
    // {team}-{project}: ("a-b", "c") and ("a", "b-c") both render to teams/a-b-c.
    const first = await createUpload(server.url, '/teams/a-b/projects/c', { 'Upload-Length': 3 });
    const id = idOf(first);
    expect(await headOffset(server.url, first)).toBe(0);
    const other = await raw(server.url, { method: 'HEAD', path: `/teams/a/projects/b-c/${id}`, headers: TUS });
    expect(other.status).toBe(404);
    expect((await patch(server.url, `/teams/a/projects/b-c/${id}`, 0, Buffer.from('xyz'))).status).toBe(404);
    expect(await headOffset(server.url, first)).toBe(0);
  });

  it('Location reflects the templated path; encoded param values are re-encoded', async () => {
    const created = await raw(server.url, { method: 'POST', path: '/users/J%C3%BCrgen%20K/uploads', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(created.status).toBe(201);
    expect(String(created.headers.location)).toMatch(new RegExp(`^${server.url}/users/J%C3%BCrgen%20K/uploads/[0-9a-f]{32}$`));
    expect(await listTree(path.join(server.dir, 'users', 'Jürgen K'))).toHaveLength(2);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    expect((await patch(server.url, uploadPath, 0, Buffer.from('!'))).status).toBe(204);
    expect(sha256(await readFile(path.join(server.dir, 'users', 'Jürgen K', idOf(uploadPath))))).toBe(sha256(Buffer.from('!')));
  });

  it('OPTIONS advertises the tus protocol on every endpoint', async () => {
    for (const base of ['/files', '/users/alice/uploads']) {
      const options = await raw(server.url, { method: 'OPTIONS', path: base });
      expect(options.status).toBe(204);
      expect(options.headers['tus-version']).toBe('1.0.0');
      expect(options.headers['tus-extension']).toBe('creation,creation-with-upload,creation-defer-length,termination,concatenation,checksum,checksum-trailer');
    }
  });

  it('GET /healthz answers 200 JSON listing the endpoints', async () => {
    const health = await raw(server.url, { method: 'GET', path: '/healthz' });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', endpoints: ['/files', '/users/{username}/uploads', '/teams/{team}/projects/{project}'] });
  });

  it('X-HTTP-Method-Override lets a POST act as PATCH, HEAD or DELETE', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 4 });
    const viaPost = await raw(server.url, {
      method: 'POST',
      path: uploadPath,
      headers: { ...TUS, 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
      body: Buffer.from('abcd'),
    });
    expect(viaPost.status).toBe(204);
    expect(viaPost.headers['upload-offset']).toBe('4');
    const head = await raw(server.url, { method: 'POST', path: uploadPath, headers: { ...TUS, 'X-HTTP-Method-Override': 'HEAD' } });
    expect(head.headers['upload-offset']).toBe('4');
    const unknown = await raw(server.url, { method: 'POST', path: uploadPath, headers: { ...TUS, 'X-HTTP-Method-Override': 'PUT' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('X-HTTP-Method-Override');
    const del = await raw(server.url, { method: 'POST', path: uploadPath, headers: { ...TUS, 'X-HTTP-Method-Override': 'DELETE' } });
    expect(del.status).toBe(204);
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(404);
  });
});
