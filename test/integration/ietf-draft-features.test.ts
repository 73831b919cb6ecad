import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { raw, TUS } from '../helpers/http.js';
import { appendHeaders, appendStatus, completeHeaders, ietfRequest, type IetfResponse } from '../helpers/ietf-client.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * What the drafts require beyond the first slice, each written to the draft's text: creation by
 * PUT ("all request methods that allow content are possible"), a complete upload of unknown length
 * in one chunked request ("the request content is the remaining representation data"),
 * Upload-Limit with the upload's lifetime (`expires` in interop 6, `max-age` from 7) on OPTIONS, the
 * 104, creation answers and HEAD, Accept-Patch on OPTIONS (-10), and HEAD/DELETE refusing state
 * headers up to -05.
 */
let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => ({
    endpoints: [
      { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: '1h' },
      { path: '/small', store: { type: 'disk', directory: path.join(dir, 'small') }, maxSize: 1000 },
    ],
  }));
});
afterAll(() => server?.close());

const v = (version: number) => ({ 'Upload-Draft-Interop-Version': String(version) });
const stored = (url: string) => readFile(path.join(server.dir, 'files', idOf(url)));
const tree = (name: string) => listTree(path.join(server.dir, name));

/** A problem-details answer; a HEAD's has no body to read the code from (RFC 9110 9.3.2). */
function expectProblem(response: IetfResponse, status: number, code: string, method = 'POST'): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (method === 'HEAD') expect(response.body).toBe('');
  else expect(JSON.parse(response.body)).toMatchObject({ status, code });
}

describe('creation by PUT to the collection URL', () => {
  it.each([3, 5, 8])('interop %i: a 104 with the Location, then 201, the body stored whole', async (version) => {
    const data = randomBytes(50_000);
    const created = await ietfRequest(server.url, { method: 'PUT', url: '/files', headers: { ...v(version), ...completeHeaders(version, true) }, body: data });
    expect(created.status).toBe(201);
    expect(created.informational.map((info) => info.status)).toEqual([104]);
    expect(created.informational[0]!.headers.location).toBe(created.headers.location);
    expect(sha256(await stored(created.headers.location!))).toBe(sha256(data));
  });

  it('a PUT that is not of the draft finds no endpoint (404), and nothing is stored', async () => {
    const before = await tree('files');
    const response = await raw(server.url, { method: 'PUT', path: '/files', headers: { ...TUS, 'Upload-Length': '3', 'Content-Type': 'application/offset+octet-stream' }, body: Buffer.from('abc') });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).code).toBe('TUSPORT_ERR_ROUTE_NOT_FOUND');
    expect(await tree('files')).toEqual(before);
  });
});

describe('a complete creation of unknown length (chunked, no Upload-Length)', () => {
  it.each([3, 6, 8])('interop %i: stores the body, completes at its length', async (version) => {
    const data = randomBytes(200_000);
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v(version), ...completeHeaders(version, true) }, body: data, chunked: true });
    expect(created.status).toBe(201);
    expect(created.headers['upload-offset']).toBe(String(data.length));
    if (version === 3) expect(created.headers['upload-incomplete']).toBe('?0');
    else expect(created.headers['upload-complete']).toBe('?1');
    expect(created.headers['upload-length']).toBe(version >= 6 ? String(data.length) : undefined);
    const url = created.headers.location!;
    expect(sha256(await stored(url))).toBe(sha256(data));
    const sidecar = JSON.parse(await readFile(`${path.join(server.dir, 'files', idOf(url))}.json`, 'utf8'));
    expect(sidecar.size).toBe(data.length);
    const head = await ietfRequest(server.url, { method: 'HEAD', url, headers: v(version) });
    expect(head.headers['upload-offset']).toBe(String(data.length));
    if (version !== 3) expect(head.headers['upload-complete']).toBe('?1');
  });

  it('past maxSize: 413 with Upload-Limit, and nothing is kept', async () => {
    const before = await tree('small');
    const response = await ietfRequest(server.url, { method: 'POST', url: '/small', headers: { ...v(8), 'Upload-Complete': '?1' }, body: randomBytes(1500), chunked: true });
    expectProblem(response, 413, 'TUSPORT_ERR_PAST_MAX_SIZE');
    expect(response.headers['upload-limit']).toBe('max-size=1000');
    expect(await tree('small')).toEqual(before);
  });

  it('within maxSize on the same endpoint: stored whole', async () => {
    const data = randomBytes(1000);
    const created = await ietfRequest(server.url, { method: 'POST', url: '/small', headers: { ...v(8), 'Upload-Complete': '?1' }, body: data, chunked: true });
    expect(created.status).toBe(201);
    expect(created.headers['upload-limit']).toBe('max-size=1000');
    expect(sha256(await readFile(path.join(server.dir, 'small', idOf(created.headers.location!))))).toBe(sha256(data));
  });
});

describe('a completing append of unknown length (chunked, no Upload-Length)', () => {
  it.each([3, 6, 8])('interop %i: appends the body and completes the upload at its end', async (version) => {
    const data = randomBytes(150_000);
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v(version), ...completeHeaders(version, false) }, body: data.subarray(0, 50_000) });
    const url = created.headers.location!;
    const done = await ietfRequest(server.url, {
      method: 'PATCH',
      url,
      headers: { ...v(version), ...completeHeaders(version, true), ...appendHeaders(version), 'Upload-Offset': '50000' },
      body: data.subarray(50_000),
      chunked: true,
    });
    expect(done.status).toBe(appendStatus(version));
    expect(done.headers['upload-offset']).toBe(String(data.length));
    if (version === 3) expect(done.headers['upload-incomplete']).toBe('?0');
    else expect(done.headers['upload-complete']).toBe('?1');
    expect(sha256(await stored(url))).toBe(sha256(data));
    const sidecar = JSON.parse(await readFile(`${path.join(server.dir, 'files', idOf(url))}.json`, 'utf8'));
    expect(sidecar.size).toBe(data.length);
  });

  it('past maxSize: 413 with Upload-Limit, and the offset stays where it was', async () => {
    const created = await ietfRequest(server.url, { method: 'POST', url: '/small', headers: { ...v(8), 'Upload-Complete': '?0' }, body: Buffer.from('abc') });
    const url = created.headers.location!;
    const response = await ietfRequest(server.url, {
      method: 'PATCH',
      url,
      headers: { ...v(8), 'Upload-Complete': '?1', 'Upload-Offset': '3', 'Content-Type': 'application/partial-upload' },
      body: randomBytes(1500),
      chunked: true,
    });
    expectProblem(response, 413, 'TUSPORT_ERR_PAST_MAX_SIZE');
    expect(response.headers['upload-limit']).toBe('max-size=1000');
    const head = await ietfRequest(server.url, { method: 'HEAD', url, headers: v(8) });
    expect(head.headers['upload-offset']).toBe('3');
    expect(head.headers['upload-complete']).toBe('?0');
    expect((await readFile(path.join(server.dir, 'small', idOf(url)))).toString()).toBe('abc');
  });
});

describe('Upload-Limit and Accept-Patch', () => {
  it.each([
    [3, undefined, undefined],
    [5, undefined, undefined],
    [6, 'expires=3600', 'application/partial-upload'],
    [8, 'max-age=3600', 'application/partial-upload'],
  ])('OPTIONS in interop %i: Upload-Limit %s, Accept-Patch %s', async (version, limit, acceptPatch) => {
    const response = await ietfRequest(server.url, { method: 'OPTIONS', url: '/files', headers: v(version) });
    expect(response.status).toBeLessThan(300);
    expect(response.headers['upload-limit']).toBe(limit);
    expect(response.headers['accept-patch']).toBe(acceptPatch);
  });

  it('the 104, the creation answer and HEAD carry the lifetime left; a complete upload has none', async () => {
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v(8), 'Upload-Complete': '?0' }, body: Buffer.from('abc') });
    expect(created.informational[0]!.headers['upload-limit']).toBe('max-age=3600');
    const maxAge = (value: unknown) => Number(/^max-age=(\d+)$/.exec(String(value))?.[1]);
    expect(maxAge(created.headers['upload-limit'])).toBeGreaterThan(3500);
    const url = created.headers.location!;
    const head = await ietfRequest(server.url, { method: 'HEAD', url, headers: v(8) });
    expect(maxAge(head.headers['upload-limit'])).toBeGreaterThan(3500);
    expect(maxAge(head.headers['upload-limit'])).toBeLessThanOrEqual(3600);
    expect(head.headers['upload-expires']).toBeUndefined();
    const old = await ietfRequest(server.url, { method: 'HEAD', url, headers: v(6) });
    expect(old.headers['upload-limit']).toMatch(/^expires=\d+$/);
    const done = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...v(8), 'Upload-Complete': '?1', 'Upload-Offset': '3', 'Content-Type': 'application/partial-upload' }, body: Buffer.from('d') });
    expect(done.status).toBe(204);
    const after = await ietfRequest(server.url, { method: 'HEAD', url, headers: v(8) });
    expect(after.headers['upload-complete']).toBe('?1');
    expect(after.headers['upload-limit']).toBe('min-size=0');
    expect((await ietfRequest(server.url, { method: 'HEAD', url, headers: v(3) })).headers['upload-limit']).toBeUndefined();
  });
});

describe('HEAD and DELETE with state headers', () => {
  it.each([
    [3, 'HEAD', { 'Upload-Offset': '3' }],
    [3, 'DELETE', { 'Upload-Incomplete': '?1' }],
    [6, 'HEAD', { 'Upload-Complete': '?0' }],
    [6, 'DELETE', { 'Upload-Offset': '3' }],
    [6, 'HEAD', { 'Upload-Length': '3' }],
  ])('interop %i: a %s with %o is 400, and the upload is untouched', async (version, method, headers) => {
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v(version), ...completeHeaders(version, false) }, body: Buffer.from('abc') });
    const url = created.headers.location!;
    const response = await ietfRequest(server.url, { method, url, headers: { ...v(version), ...headers } });
    expectProblem(response, 400, 'TUSPORT_ERR_IETF_STATE_HEADER', method);
    expect((await stored(url)).toString()).toBe('abc');
  });

  it('interop 8 no longer refuses them: the HEAD answers, the DELETE cancels', async () => {
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v(8), 'Upload-Complete': '?0' }, body: Buffer.from('abc') });
    const url = created.headers.location!;
    expect((await ietfRequest(server.url, { method: 'HEAD', url, headers: { ...v(8), 'Upload-Offset': '3' } })).status).toBe(204);
    expect((await ietfRequest(server.url, { method: 'DELETE', url, headers: { ...v(8), 'Upload-Complete': '?0' } })).status).toBe(204);
    expect(await tree('files')).not.toContain(idOf(url));
  });
});
