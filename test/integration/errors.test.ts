import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUploadToken } from '../../src/index.js';
import { idOf, listTree, sizeOf } from '../helpers/files.js';
import { type Gate, gate } from '../helpers/gate.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

/**
 * Answers with no test before: the catch-all 500 and its request id, an `authorize` function that
 * returns nonsense, credentials past the header limit, a lock held past the wait limit (423), two
 * creations racing for one id, and a signed token's size limit on a deferred-length upload.
 */

const SIGNING = 'signing-secret-for-the-error-tests-0123456789';
const BEARER = 'bearer-token-for-the-error-tests-01';
const INTERNAL = {
  statusCode: 500,
  code: 'TUSPORT_ERR_INTERNAL',
  error: 'Internal Server Error',
  message: 'Something went wrong on our side; the request id is in X-Request-Id',
};

/** What the test's `authorize` function returns, chosen per request by its X-Authorize header. */
const AUTHORIZE_RESULTS: Record<string, unknown> = {
  string: 'alice',
  'numeric id': { id: 5 },
  'empty id': { id: '' },
  'claims not an object': { id: 'alice', claims: 'all' },
  'admin not a boolean': { id: 'alice', admin: 'yes' },
  array: [{ id: 'alice' }],
};

let server: RunningTusport;
const log = capturingLogger('info');
/** pre-finish answers on /held wait for this; a pre-create on /race waits until both racers are in. */
let held: Gate = gate();
let racers: { count: number; both: Gate } = { count: 0, both: gate() };

beforeAll(async () => {
  server = await startTusport(
    (dir) => ({
      endpoints: [
        {
          path: '/fn',
          store: { type: 'disk', directory: path.join(dir, 'fn') },
          auth: {
            type: 'function',
            authorize: (request: FastifyRequest) => {
              const kind = String(request.headers['x-authorize']);
              if (kind === 'throw') throw new Error('boom: a detail only the log may see');
              if (kind === 'ok') return { id: 'alice' };
              return AUTHORIZE_RESULTS[kind] as never;
            },
          },
        },
        { path: '/bearer', store: { type: 'disk', directory: path.join(dir, 'bearer') }, auth: { type: 'bearer', tokens: [{ id: 'a', token: BEARER }] } },
        { path: '/signed/{user}', store: { type: 'disk', directory: path.join(dir, 'signed', '{user}') }, auth: { type: 'signed', secret: SIGNING } },
        {
          path: '/held',
          store: { type: 'disk', directory: path.join(dir, 'held') },
          hooks: [{ type: 'function', timeout: 120_000, handlers: { 'pre-finish': async () => (await held.promise, {}) } }],
        },
        {
          path: '/race',
          store: { type: 'disk', directory: path.join(dir, 'race') },
          hooks: [
            {
              type: 'function',
              handlers: {
                'pre-create': async () => {
                  racers.count += 1;
                  if (racers.count === 2) racers.both.open();
                  await racers.both.promise;
                  return { ChangeFileInfo: { ID: 'raced-for-id' } };
                },
              },
            },
          ],
        },
      ],
    }),
    { logger: log.logger },
  );
});
afterAll(async () => {
  held.open();
  racers.both.open();
  await server?.close();
});

const errorLines = (requestId: string) => log.lines.filter((line) => line.reqId === requestId && Number(line.level) >= 50);

describe('the catch-all answer and the request id', () => {
  it('an unexpected error is 500 TUSPORT_ERR_INTERNAL: no detail in the answer, the cause logged under the request id it carries', async () => {
    const before = await listTree(path.join(server.dir, 'fn'));
    const response = await raw(server.url, { method: 'POST', path: '/fn', headers: { ...TUS, 'Upload-Length': '1', 'X-Authorize': 'throw', 'X-Request-Id': 'trace-me.1' } });
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toEqual(INTERNAL);
    expect(response.headers['x-request-id']).toBe('trace-me.1');
    const [line] = errorLines('trace-me.1');
    expect((line?.err as { message?: string } | undefined)?.message).toBe('boom: a detail only the log may see');
    expect(await listTree(path.join(server.dir, 'fn'))).toEqual(before);
  });

  it('every answer carries X-Request-Id: a well-formed one is kept, anything else replaced by a fresh UUID', async () => {
    const kept = await raw(server.url, { method: 'POST', path: '/fn', headers: { ...TUS, 'Upload-Length': '1', 'X-Authorize': 'ok', 'X-Request-Id': 'client-chosen_id-42' } });
    expect(kept.status).toBe(201);
    expect(kept.headers['x-request-id']).toBe('client-chosen_id-42');
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const bad of ['has space', 'x'.repeat(65), 'new\\nline', '']) {
      const response = await raw(server.url, { method: 'OPTIONS', path: '/fn', headers: { 'X-Request-Id': bad } });
      expect(String(response.headers['x-request-id']), JSON.stringify(bad)).toMatch(UUID);
    }
    // Also on answers no route produced.
    expect((await raw(server.url, { method: 'GET', path: '/nowhere' })).headers['x-request-id']).toMatch(UUID);
    expect((await raw(server.url, { method: 'POST', path: '/signed/a%FFb', headers: TUS })).headers['x-request-id']).toMatch(UUID);
  });
});

describe('an authorize function that returns something other than a principal or null', () => {
  it.each(Object.keys(AUTHORIZE_RESULTS))('%s: 500 TUSPORT_ERR_INTERNAL, and the log says what authorize returned', async (kind) => {
    const requestId = `authorize-${kind.replace(/\W/g, '-')}`;
    const before = await listTree(path.join(server.dir, 'fn'));
    const response = await raw(server.url, { method: 'POST', path: '/fn', headers: { ...TUS, 'Upload-Length': '1', 'X-Authorize': kind, 'X-Request-Id': requestId } });
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toEqual(INTERNAL);
    const [line] = errorLines(requestId);
    const err = line?.err as { type?: string; message?: string } | undefined;
    expect(err?.type).toBe('AuthorizeResultError');
    expect(err?.message).toMatch(/^auth\.authorize returned .+; it must return \{ id: non-empty string, claims\?: object, admin\?: boolean \} or null$/);
    expect(await listTree(path.join(server.dir, 'fn'))).toEqual(before);
  });
});

describe('credentials past the header limit', () => {
  it('a 15,000-character token is read and refused like any bad one (401, never echoed)', async () => {
    const token = 'z'.repeat(15_000);
    const response = await raw(server.url, { method: 'POST', path: '/bearer', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(401);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_UNAUTHORIZED');
    expect(response.body + String(response.headers['www-authenticate'])).not.toContain('zzzzzzzz');
  });

  it.each([16 * 1024, 64 * 1024])('a %i-byte token (headers over 16 KiB) is 431 in tusport\'s format; nothing created, token not echoed', async (length) => {
    const token = 'z'.repeat(length);
    const response = await raw(server.url, { method: 'POST', path: '/bearer', headers: { ...TUS, 'Upload-Length': '1', Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body)).toEqual({
      statusCode: 431,
      code: 'TUSPORT_ERR_HEADERS_TOO_LARGE',
      error: 'Request Header Fields Too Large',
      message: "The request's headers exceed the server's limit",
    });
    expect(await listTree(path.join(server.dir, 'bearer'))).toEqual([]);
    // The server is fine: the next request is served.
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
  });
});

describe('a signed token\'s maxSize on a deferred-length upload', () => {
  const token = () => signUploadToken({ secret: SIGNING, principal: 'pat', endpoint: '/signed/{user}', params: { user: 'pat' }, maxSize: 10, expiresIn: 60_000 });
  const auth = () => ({ Authorization: `Bearer ${token()}` });

  it('bytes past it are refused (413) and nothing past the limit is kept; declaring a longer length is 403', async () => {
    const uploadPath = await createUpload(server.url, '/signed/pat', { 'Upload-Defer-Length': '1', ...auth() });
    const stored = path.join(server.dir, 'signed', 'pat', idOf(uploadPath));
    const tooMuch = await patch(server.url, uploadPath, 0, Buffer.alloc(11, 'a'), auth());
    expect(tooMuch.status).toBe(413);
    expect(errorOf(tooMuch)).toMatchObject({ code: 'TUSPORT_ERR_PAST_MAX_SIZE', message: expect.stringContaining('10 bytes') });
    expect((await patch(server.url, uploadPath, 0, Buffer.alloc(5, 'b'), auth())).status).toBe(204);
    const past = await patch(server.url, uploadPath, 5, Buffer.alloc(6, 'c'), auth());
    expect(past.status).toBe(413);
    expect(errorOf(past).code).toBe('TUSPORT_ERR_PAST_MAX_SIZE');
    const declared = await patch(server.url, uploadPath, 5, Buffer.alloc(1, 'd'), { ...auth(), 'Upload-Length': '11' });
    expect(declared.status).toBe(403);
    expect(errorOf(declared)).toMatchObject({ code: 'TUSPORT_ERR_FORBIDDEN', message: expect.stringContaining('at most 10 bytes') });
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...auth() } });
    expect(head.headers['upload-offset']).toBe('5');
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(await readFile(stored, 'utf8')).toBe('bbbbb');
    // Exactly the limit is fine.
    const last = await patch(server.url, uploadPath, 5, Buffer.alloc(5, 'e'), { ...auth(), 'Upload-Length': '10' });
    expect(last.status).toBe(204);
    expect(last.headers['upload-offset']).toBe('10');
  });
});

describe('locks', () => {
  it('a request that waits longer than the lock wait limit for a busy upload gets 423 TUSPORT_ERR_LOCKED; the holder is unaffected', { timeout: 120_000 }, async () => {
    held = gate();
    const uploadPath = await createUpload(server.url, '/held', { 'Upload-Length': 3 });
    // The final PATCH holds the upload's lock while its pre-finish hook has not answered.
    const finishing = patch(server.url, uploadPath, 0, Buffer.from('abc'));
    await until(async () => (await sizeOfStored(uploadPath)) === 3, 'the final bytes stored');
    // Both wait at once (the lock wait limit is 30 s; the held PATCH's connection is idle meanwhile).
    const [head, del] = await Promise.all([raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS }), raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS })]);
    expect(head.status).toBe(423);
    expect(head.body).toBe('');
    expect(del.status).toBe(423);
    expect(errorOf(del)).toMatchObject({ code: 'TUSPORT_ERR_LOCKED', message: 'Another request holds this upload; retry shortly' });
    held.open();
    expect((await finishing).status).toBe(204);
    expect(await headOffset(server.url, uploadPath)).toBe(3);
    expect((await raw(server.url, { method: 'GET', path: uploadPath })).body).toBe('abc');
  });
});

const sizeOfStored = (uploadPath: string) => sizeOf(path.join(server.dir, 'held', idOf(uploadPath)));

describe('creations racing for one id', () => {
  it('two creations a hook gives the same id: one is created, the other gets 409 TUSPORT_ERR_UPLOAD_ID_TAKEN and changes nothing', async () => {
    racers = { count: 0, both: gate() };
    const post = (length: number) => raw(server.url, { method: 'POST', path: '/race', headers: { ...TUS, 'Upload-Length': String(length) } });
    const answers = await Promise.all([post(5), post(7)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const lost = answers.find((a) => a.status === 409)!;
    expect(errorOf(lost)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_ID_TAKEN', message: 'The upload id is already taken' });
    const won = answers.find((a) => a.status === 201)!;
    expect(new URL(String(won.headers.location)).pathname).toBe('/race/raced-for-id');
    const length = String(won === answers[0] ? 5 : 7);
    const head = await raw(server.url, { method: 'HEAD', path: '/race/raced-for-id', headers: TUS });
    expect([head.status, head.headers['upload-length'], head.headers['upload-offset']]).toEqual([200, length, '0']);
    expect((await listTree(path.join(server.dir, 'race'))).sort()).toEqual(['raced-for-id', 'raced-for-id.json']);
  });
});
