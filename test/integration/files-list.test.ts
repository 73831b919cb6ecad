import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import type { ListedUpload as Listed } from '../../src/files/list.js';
import { multipart, MULTIPART } from '../helpers/form.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Issue 15: GET <collection URL> lists the caller's uploads (an admin's: everyone's), newest
 * first, a page at a time with an opaque cursor, filtered by ?complete=.
 */

const servers: RunningTusport[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const auth = (who: string) => ({ Authorization: `Bearer ${who}` });

function config(dir: string, extra: Record<string, unknown> = {}): TusportConfig {
  return {
    endpoints: [
      {
        path: '/files',
        store: { type: 'disk', directory: path.join(dir, 'files') },
        auth: {
          type: 'function',
          authorize: async (_request, _params, token) => (token === 'root' ? { id: 'root', admin: true } : token ? { id: token } : null),
        },
        form: true,
        finalize: { path: 'done/{id}-{filename}' },
        ...extra,
      },
      { path: '/open', store: { type: 'disk', directory: path.join(dir, 'open') }, form: true },
    ],
  };
}

interface Page {
  uploads: Listed[];
  next: string | null;
}

async function formUpload(server: RunningTusport, who: string, name: string, basePath = '/files'): Promise<string> {
  const response = await raw(server.url, {
    method: 'POST',
    path: basePath,
    headers: { ...auth(who), ...MULTIPART },
    body: multipart([{ name: 'file', filename: name, type: 'text/plain', body: `${who}:${name}` }]),
  });
  expect(response.status, response.body).toBe(201);
  return (JSON.parse(response.body) as { id: string }).id;
}

async function tusUpload(server: RunningTusport, who: string, length: number): Promise<string> {
  const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, ...auth(who), 'Upload-Length': String(length), 'Upload-Metadata': 'filename dW5maW5pc2hlZA==' } });
  expect(response.status).toBe(201);
  return String(response.headers.location).split('/').pop()!;
}

async function list(server: RunningTusport, who: string, query = ''): Promise<Page> {
  const response = await raw(server.url, { method: 'GET', path: `/files${query}`, headers: auth(who) });
  expect(response.status, response.body).toBe(200);
  expect(response.headers['cache-control']).toBe('private, no-store');
  return JSON.parse(response.body) as Page;
}

/** Every page, following `next`. */
async function listAll(server: RunningTusport, who: string, query: string): Promise<{ pages: Page[]; uploads: Listed[] }> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(server, who, `${query}${cursor ? `&cursor=${cursor}` : ''}`);
    pages.push(page);
    cursor = page.next;
  } while (cursor);
  return { pages, uploads: pages.flatMap((page) => page.uploads) };
}

describe('files API: listing', () => {
  it('pages through the caller\'s uploads newest first; never another user\'s; an admin sees all; ?complete filters', async () => {
    const server = await startTusport((dir) => config(dir));
    servers.push(server);
    const alice: string[] = [];
    for (let i = 0; i < 5; i++) alice.push(await formUpload(server, 'alice', `a${i}.txt`));
    const unfinished = [await tusUpload(server, 'alice', 100), await tusUpload(server, 'alice', 200)];
    const bob: string[] = [];
    for (let i = 0; i < 3; i++) bob.push(await formUpload(server, 'bob', `b${i}.txt`));

    const { pages, uploads } = await listAll(server, 'alice', '?limit=3');
    expect(pages.map((page) => page.uploads.length)).toEqual([3, 3, 1]);
    expect(pages.at(-1)?.next).toBeNull();
    expect(new Set(uploads.map((u) => u.id))).toEqual(new Set([...alice, ...unfinished]));
    // Newest first.
    const created = uploads.map((u) => Date.parse(u.createdAt));
    expect(created).toEqual([...created].sort((x, y) => y - x));
    expect(uploads[0]?.id).toBe(unfinished[1]);

    const finished = uploads.find((u) => u.id === alice[2])!;
    expect(finished).toMatchObject({
      url: `${server.url}/files/${alice[2]}`,
      filename: 'a2.txt',
      type: 'text/plain',
      size: 'alice:a2.txt'.length,
      offset: 'alice:a2.txt'.length,
      complete: true,
      finalPath: `done/${alice[2]}-a2.txt`,
      metadata: { filename: 'a2.txt', filetype: 'text/plain' },
    });
    expect(Date.parse(finished.completedAt!)).toBeGreaterThanOrEqual(Date.parse(finished.createdAt));
    const open = uploads.find((u) => u.id === unfinished[0])!;
    expect(open).toMatchObject({ size: 100, offset: 0, complete: false, completedAt: null, finalPath: null, filename: 'unfinished' });

    expect((await listAll(server, 'alice', '?complete=true')).uploads.map((u) => u.id).sort()).toEqual([...alice].sort());
    expect((await listAll(server, 'alice', '?complete=false')).uploads.map((u) => u.id).sort()).toEqual([...unfinished].sort());
    expect((await listAll(server, 'bob', '?limit=2')).uploads.map((u) => u.id).sort()).toEqual([...bob].sort());
    expect((await listAll(server, 'carol', '?limit=2')).uploads).toEqual([]);
    expect((await listAll(server, 'root', '?limit=4')).uploads.map((u) => u.id).sort()).toEqual([...alice, ...unfinished, ...bob].sort());

    // DELETE (tus termination) removes it from the list.
    const deleted = await raw(server.url, { method: 'DELETE', path: `/files/${alice[0]}`, headers: { ...TUS, ...auth('alice') } });
    expect(deleted.status).toBe(204);
    expect((await listAll(server, 'alice', '?complete=true')).uploads.map((u) => u.id)).not.toContain(alice[0]);
  });

  it('bad query parameters are 400 with a named code; an anonymous endpoint does not list (403); unauthenticated is 401', async () => {
    const server = await startTusport((dir) => config(dir));
    servers.push(server);
    await formUpload(server, 'alice', 'a.txt');
    for (const [query, name] of [
      ['?limit=0', 'limit'],
      ['?limit=1001', 'limit'],
      ['?limit=x', 'limit'],
      ['?complete=yes', 'complete'],
      ['?cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['?cursor=%2F..', 'cursor'],
      ['?limit=1&limit=2', 'limit'],
    ] as const) {
      const response = await raw(server.url, { method: 'GET', path: `/files${query}`, headers: auth('alice') });
      expect(response.status, query).toBe(400);
      expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_INVALID_QUERY' });
      expect(errorOf(response).message).toContain(`parameter ${name}`);
    }
    await formUpload(server, 'anyone', 'x.txt', '/open');
    const anonymous = await raw(server.url, { method: 'GET', path: '/open', headers: {} });
    expect(anonymous.status).toBe(403);
    expect(errorOf(anonymous).code).toBe('TUSPORT_ERR_LIST_NEEDS_AUTH');
    const nobody = await raw(server.url, { method: 'GET', path: '/files', headers: {} });
    expect(nobody.status).toBe(401);
  });

  it('a page stops after 2,000 ids of other users with a cursor, so one call stays bounded', async () => {
    const server = await startTusport((dir) => config(dir, { finalize: undefined }));
    servers.push(server);
    const mine = await formUpload(server, 'alice', 'old.txt');
    // Another user's uploads, newer than alice's one: tus creations are the cheapest way to make many.
    const others: string[] = [];
    while (others.length < 2001) others.push(...(await Promise.all(Array.from({ length: Math.min(25, 2001 - others.length) }, () => tusUpload(server, 'bob', 1)))));
    expect(others).toHaveLength(2001);
    const first = await list(server, 'alice', '?limit=5');
    expect(first.uploads).toEqual([]);
    expect(first.next).not.toBeNull();
    const second = await list(server, 'alice', `?limit=5&cursor=${first.next}`);
    expect(second.uploads.map((u) => u.id)).toEqual([mine]);
    expect(second.next).toBeNull();
  }, 120_000);
});
