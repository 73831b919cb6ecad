import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { raw, TUS } from '../helpers/http.js';
import { type IetfResponse, ietfRequest } from '../helpers/ietf-client.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Bad input per the draft: its status codes and problem types (application/problem+json, with
 * tusport's named code beside them), nothing stored past what was acknowledged, never a 5xx.
 */
let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => ({
    endpoints: [
      { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } },
      { path: '/limited', store: { type: 'disk', directory: path.join(dir, 'limited') }, maxSize: 1000, maxChunkSize: 500 },
    ],
  }));
});
afterAll(() => server?.close());

const V8 = { 'Upload-Draft-Interop-Version': '8' };
const PARTIAL = { 'Content-Type': 'application/partial-upload' };
const TYPE = 'https://iana.org/assignments/http-problem-types#';
const store = () => listTree(path.join(server.dir, 'files'));

function expectProblem(response: IetfResponse, status: number, type: string, code: string): Record<string, unknown> {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(response.body) as Record<string, unknown>;
  expect(problem).toMatchObject({ type, status, code });
  expect(String(problem.detail)).not.toBe('');
  return problem;
}

/** A fresh incomplete upload with `first` stored, declared `length` bytes long if given. */
async function started(first: string, length?: number): Promise<string> {
  const headers: Record<string, string> = { ...V8, 'Upload-Complete': '?0' };
  if (length !== undefined) headers['Upload-Length'] = String(length);
  const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers, body: Buffer.from(first) });
  expect(created.status).toBe(201);
  return created.headers.location!;
}
const storedText = (url: string) => readFile(path.join(server.dir, 'files', idOf(url)), 'utf8');

describe('creation', () => {
  it.each([
    ['an interop version not served', { 'Upload-Draft-Interop-Version': '99', 'Upload-Complete': '?1' }, 'TUSPORT_ERR_IETF_INTEROP_VERSION'],
    ['a missing Upload-Complete', V8, 'TUSPORT_ERR_IETF_UPLOAD_COMPLETE'],
    ['an Upload-Complete that is no sf-boolean', { ...V8, 'Upload-Complete': 'yes' }, 'TUSPORT_ERR_IETF_UPLOAD_COMPLETE'],
  ])('refuses %s with 400 and creates nothing', async (_name, headers, code) => {
    const before = await store();
    const response = await ietfRequest(server.url, { method: 'POST', url: '/files', headers, body: Buffer.from('hello') });
    expectProblem(response, 400, 'about:blank', code);
    expect(response.informational).toEqual([]);
    expect(await store()).toEqual(before);
  });

  it.each([
    ['complete, but Upload-Length says more than the body', { 'Upload-Complete': '?1', 'Upload-Length': '10' }],
    ['incomplete, but the body is longer than Upload-Length', { 'Upload-Complete': '?0', 'Upload-Length': '3' }],
  ])('refuses a creation %s: 400 inconsistent-upload-length, nothing created', async (_name, headers) => {
    const before = await store();
    const response = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...V8, ...headers }, body: Buffer.from('hello') });
    expectProblem(response, 400, `${TYPE}inconsistent-upload-length`, 'TUSPORT_ERR_IETF_INCONSISTENT_LENGTH');
    expect(await store()).toEqual(before);
  });

  it('announces the endpoint limits in Upload-Limit and refuses past them with 413 before creating anything', async () => {
    const options = await ietfRequest(server.url, { method: 'OPTIONS', url: '/limited', headers: V8 });
    expect(options.status).toBeLessThan(300);
    expect(options.headers['upload-limit']).toBe('max-size=1000, max-append-size=500');
    const before = await listTree(path.join(server.dir, 'limited'));
    const tooBig = await ietfRequest(server.url, { method: 'POST', url: '/limited', headers: { ...V8, 'Upload-Complete': '?0', 'Upload-Length': '1001' } });
    expectProblem(tooBig, 413, 'about:blank', 'TUSPORT_ERR_UPLOAD_TOO_LARGE');
    const tooLong = await ietfRequest(server.url, { method: 'POST', url: '/limited', headers: { ...V8, 'Upload-Complete': '?0' }, body: Buffer.alloc(501) });
    expectProblem(tooLong, 413, 'about:blank', 'TUSPORT_ERR_CHUNK_TOO_LARGE');
    expect(await listTree(path.join(server.dir, 'limited'))).toEqual(before);
  });
});

describe('append', () => {
  it('answers an offset past the end with 409 mismatching-upload-offset, both offsets, and keeps the bytes as they were', async () => {
    const url = await started('0123456789');
    const response = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...V8, ...PARTIAL, 'Upload-Complete': '?0', 'Upload-Offset': '999' }, body: Buffer.from('abc') });
    const problem = expectProblem(response, 409, `${TYPE}mismatching-upload-offset`, 'TUSPORT_ERR_OFFSET_MISMATCH');
    expect(problem).toMatchObject({ 'expected-offset': 10, 'provided-offset': 999 });
    expect(await storedText(url)).toBe('0123456789');
  });

  it.each([
    ['completes the upload short of its length', { 'Upload-Complete': '?1' }],
    ['changes the upload length', { 'Upload-Complete': '?0', 'Upload-Length': '200' }],
    ['goes past the upload length', { 'Upload-Complete': '?0' }, 95],
  ])('refuses an append that %s: 400 inconsistent-upload-length, nothing appended', async (_name, headers, bodySize = 5) => {
    const url = await started('0123456789', 100);
    const response = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...V8, ...PARTIAL, ...headers, 'Upload-Offset': '10' }, body: Buffer.alloc(bodySize, 'x') });
    expectProblem(response, 400, `${TYPE}inconsistent-upload-length`, 'TUSPORT_ERR_IETF_INCONSISTENT_LENGTH');
    expect(await storedText(url)).toBe('0123456789');
  });

  it.each([
    // -09 on: a non-empty append to a completed upload "MUST" be treated as an inconsistent length.
    ['8', 'more', 'inconsistent-upload-length', 'TUSPORT_ERR_IETF_INCONSISTENT_LENGTH'],
    ['8', '', 'completed-upload', 'TUSPORT_ERR_IETF_COMPLETED_UPLOAD'],
    // -04 to -08: "MUST respond with a 400 (Bad Request)" and may use completed-upload.
    ['6', 'more', 'completed-upload', 'TUSPORT_ERR_IETF_COMPLETED_UPLOAD'],
    ['7', 'more', 'completed-upload', 'TUSPORT_ERR_IETF_COMPLETED_UPLOAD'],
  ])('refuses an append to a completed upload in interop %s (body %j) with 400 %s', async (version, body, type, code) => {
    const v = { 'Upload-Draft-Interop-Version': version };
    const created = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...v, 'Upload-Complete': '?1' }, body: Buffer.from('done') });
    const url = created.headers.location!;
    const response = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...v, ...PARTIAL, 'Upload-Complete': '?1', 'Upload-Offset': '4', 'Content-Length': String(body.length) }, body: Buffer.from(body) });
    expectProblem(response, 400, `${TYPE}${type}`, code);
    expect(await storedText(url)).toBe('done');
  });

  it('refuses an append without application/partial-upload (interop 6 on) with 415, and one without Upload-Complete with 400', async () => {
    const url = await started('abc');
    const plain = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...V8, 'Upload-Complete': '?1', 'Upload-Offset': '3', 'Content-Type': 'application/octet-stream' }, body: Buffer.from('d') });
    expectProblem(plain, 415, 'about:blank', 'TUSPORT_ERR_IETF_MEDIA_TYPE');
    const unsaid = await ietfRequest(server.url, { method: 'PATCH', url, headers: { ...V8, ...PARTIAL, 'Upload-Offset': '3' }, body: Buffer.from('d') });
    expectProblem(unsaid, 400, 'about:blank', 'TUSPORT_ERR_IETF_UPLOAD_COMPLETE');
    expect(await storedText(url)).toBe('abc');
  });

  it('uses about:blank with the same status before interop 6 (the problem types came with -04/-05)', async () => {
    const url = await started('abc');
    const response = await ietfRequest(server.url, { method: 'PATCH', url, headers: { 'Upload-Draft-Interop-Version': '5', 'Upload-Complete': '?0', 'Upload-Offset': '7' }, body: Buffer.from('d') });
    expectProblem(response, 409, 'about:blank', 'TUSPORT_ERR_OFFSET_MISMATCH');
  });
});

it('leaves tus requests untouched on the same URLs', async () => {
  const tus = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '3' } });
  expect(tus.status).toBe(201);
  expect(tus.headers['tus-resumable']).toBe('1.0.0');
  expect(tus.headers['upload-complete']).toBeUndefined();
  const neither = await raw(server.url, { method: 'POST', path: '/files', headers: { 'Upload-Length': '3' } });
  expect(neither.status).toBe(412);
  expect(JSON.parse(neither.body).code).toBe('TUSPORT_ERR_TUS_RESUMABLE');
});
