import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/hooks/events.js';
import type { FinishedUpload } from '../../src/index.js';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { errorOf, raw, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

/**
 * tus concatenation over raw HTTP: partial uploads, final uploads made of them, and every way a
 * final creation can be wrong (each answered with its status and code, and nothing changed).
 */

const SECRET = 'jwt-secret-for-the-concatenation-tests-012345';
const key = new TextEncoder().encode(SECRET);
const jwt = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(key);
const OCTETS = { 'Content-Type': 'application/offset+octet-stream' };

let server: RunningTusport;
let alice: Record<string, string>;
let bob: Record<string, string>;
const hookEvents: HookRequest[] = [];
const finished: FinishedUpload[] = [];

beforeAll(async () => {
  alice = { Authorization: `Bearer ${await jwt('alice')}` };
  bob = { Authorization: `Bearer ${await jwt('bob')}` };
  const disk = (dir: string, name: string) => ({ type: 'disk' as const, directory: path.join(dir, name) });
  const record = async (request: HookRequest) => void hookEvents.push(request);
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      {
        path: '/files',
        store: disk(dir, 'files'),
        maxSize: 100_000,
        policy: { requiredMetadata: ['filename'] },
        hooks: [{ type: 'function', handlers: { 'pre-create': record, 'post-create': record, 'pre-finish': record, 'post-finish': record, 'post-terminate': record } }],
      },
      { path: '/other', store: disk(dir, 'other') },
      { path: '/keep', store: disk(dir, 'keep'), concatenation: { keepPartials: true }, expire: '1h' },
      { path: '/users/{username}/uploads', store: disk(dir, 'users/{username}'), auth: { type: 'jwt', secret: SECRET } },
      { path: '/quota', store: disk(dir, 'quota'), auth: { type: 'jwt', secret: SECRET }, policy: { quota: { maxUnfinishedUploads: 2 } } },
      { path: '/shared', store: disk(dir, 'shared'), auth: { type: 'jwt', secret: SECRET } },
      { path: '/pictures', store: disk(dir, 'pictures'), policy: { accept: ['image/png'] } },
      { path: '/finalized', store: disk(dir, 'finalized'), finalize: { path: 'final/{filename}' }, onUploadDone: (upload: FinishedUpload) => void finished.push(upload) },
    ],
  }));
});
afterAll(async () => {
  await server?.close();
});

/** A partial upload at `base` holding `data` (sent with its creation); returns its path. */
async function partial(base: string, data: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const response = await raw(server.url, {
    method: 'POST',
    path: base,
    headers: { ...TUS, ...OCTETS, ...headers, 'Upload-Concat': 'partial', 'Upload-Length': String(data.length) },
    body: data,
  });
  expect(response.status).toBe(201);
  expect(response.headers['upload-offset']).toBe(String(data.length));
  return new URL(String(response.headers.location)).pathname;
}

function final(base: string, urls: readonly string[], headers: Record<string, string> = {}): Promise<RawResponse> {
  return raw(server.url, { method: 'POST', path: base, headers: { ...TUS, 'Upload-Concat': `final;${urls.join(' ')}`, ...headers } });
}

const FILENAME = { 'Upload-Metadata': `filename ${Buffer.from('joined.bin').toString('base64')}` };

/** Everything under the server's temp dir but the outbox. */
async function storeState(): Promise<string[]> {
  const files = (await listTree(server.dir)).filter((file) => !file.startsWith('outbox'));
  return Promise.all(files.map(async (file) => `${file} ${(await stat(path.join(server.dir, file))).size}`));
}

async function refusedWithoutSideEffect(action: () => Promise<RawResponse>, status: number, code: string, message: RegExp): Promise<void> {
  const before = await storeState();
  const response = await action();
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(errorOf(response)).toMatchObject({ statusCode: status, code });
  expect(errorOf(response).message).toMatch(message);
  expect(response.headers.location).toBeUndefined();
  expect(await storeState()).toEqual(before);
}

describe('concatenation (Upload-Concat) on disk', () => {
  it('OPTIONS announces concatenation', async () => {
    const response = await raw(server.url, { method: 'OPTIONS', path: '/files' });
    expect(String(response.headers['tus-extension']).split(',')).toContain('concatenation');
  });

  it('a final upload is its partial uploads in order; HEAD shows Upload-Concat; the partials are removed', async () => {
    const pieces = [randomBytes(1000), randomBytes(1), randomBytes(70_000)];
    const partials: string[] = [];
    for (const piece of pieces) partials.push(await partial('/files', piece));
    const head = await raw(server.url, { method: 'HEAD', path: partials[0]!, headers: TUS });
    expect(head.headers['upload-concat']).toBe('partial');
    // Relative and absolute URLs both name partial uploads.
    const response = await final('/files', [partials[0]!, `${server.url}${partials[1]}`, partials[2]!], FILENAME);
    expect(response.status).toBe(201);
    const finalPath = new URL(String(response.headers.location)).pathname;
    const whole = Buffer.concat(pieces);
    expect(sha256(await readFile(path.join(server.dir, 'files', idOf(finalPath))))).toBe(sha256(whole));
    const finalHead = await raw(server.url, { method: 'HEAD', path: finalPath, headers: TUS });
    expect(finalHead.headers['upload-offset']).toBe(String(whole.length));
    expect(finalHead.headers['upload-length']).toBe(String(whole.length));
    expect(finalHead.headers['upload-concat']).toBe(`final;${partials.map((p) => `${server.url}${p}`).join(' ')}`);
    const download = await raw(server.url, { method: 'GET', path: finalPath, headers: TUS });
    expect(sha256(download.bytes)).toBe(sha256(whole));
    for (const p of partials) expect((await raw(server.url, { method: 'HEAD', path: p, headers: TUS })).status).toBe(404);
    // Hooks hear of the final upload once, and never of its partials.
    await until(() => hookEvents.some((e) => e.Type === 'post-finish' && e.Event.Upload.ID === idOf(finalPath)), 'post-finish of the final upload');
    const partialIds = new Set(partials.map(idOf));
    expect(hookEvents.filter((e) => partialIds.has(e.Event.Upload.ID))).toEqual([]);
    const named = partials.map(idOf).join();
    const ofFinal = hookEvents.filter((e) => e.Event.Upload.ID === idOf(finalPath) || (e.Type === 'pre-create' && e.Event.Upload.PartialUploads?.join() === named));
    expect(ofFinal.map((e) => e.Type).sort()).toEqual(['post-create', 'post-finish', 'pre-create', 'pre-finish']);
    expect(ofFinal.every((e) => e.Event.Upload.IsFinal && e.Event.Upload.PartialUploads?.join() === named)).toBe(true);
  });

  it('keepPartials: the partials stay, and can make a second final upload', async () => {
    const pieces = [randomBytes(10), randomBytes(20)];
    const partials = [await partial('/keep', pieces[0]!), await partial('/keep', pieces[1]!)];
    for (const order of [partials, [...partials].reverse()]) {
      const response = await final('/keep', order);
      expect(response.status).toBe(201);
    }
    for (const p of partials) expect((await raw(server.url, { method: 'HEAD', path: p, headers: TUS })).status).toBe(200);
    // Finished as they are, the partials expire like unfinished uploads; the finals stay.
    const ids = partials.map(idOf);
    const later = Date.now() + 2 * 3600_000;
    const swept = await server.app.tusport.sweep(later);
    expect(swept.expired).toBeGreaterThanOrEqual(2);
    const left = await listTree(path.join(server.dir, 'keep'));
    expect(left.filter((file) => ids.some((id) => file.startsWith(id)))).toEqual([]);
    expect(left.length).toBeGreaterThanOrEqual(4);
  });

  it('the policy applies to the final upload, not to the partials (which carry no metadata)', async () => {
    const partials = [await partial('/files', randomBytes(10))];
    await refusedWithoutSideEffect(() => final('/files', partials), 400, 'TUSPORT_ERR_METADATA_REQUIRED', /filename/);
    expect((await final('/files', partials, FILENAME)).status).toBe(201);
  });

  it('quotas: an unfinished partial upload counts as an unfinished upload; a finished one no longer does', async () => {
    const create = () => raw(server.url, { method: 'POST', path: '/quota', headers: { ...TUS, ...alice, 'Upload-Concat': 'partial', 'Upload-Length': '3' } });
    const first = await create();
    const second = await create();
    expect([first.status, second.status]).toEqual([201, 201]);
    await refusedWithoutSideEffect(create, 429, 'TUSPORT_ERR_QUOTA_UPLOADS', /at most 2 unfinished uploads/);
    const firstPath = new URL(String(first.headers.location)).pathname;
    const patched = await raw(server.url, { method: 'PATCH', path: firstPath, headers: { ...TUS, ...alice, ...OCTETS, 'Upload-Offset': '0' }, body: 'abc' });
    expect(patched.status).toBe(204);
    // The finished partial gave its slot back: room for the final upload made of it.
    const made = await final('/quota', [firstPath], alice);
    expect(made.status).toBe(201);
    expect((await create()).status).toBe(201);
  });

  it('finalize moves the final upload once, to its path; the partial uploads are neither moved nor announced', async () => {
    const pieces = [randomBytes(3000), randomBytes(2000)];
    const partials = [await partial('/finalized', pieces[0]!), await partial('/finalized', pieces[1]!)];
    const response = await final('/finalized', partials, FILENAME);
    expect(response.status).toBe(201);
    const id = idOf(new URL(String(response.headers.location)).pathname);
    const store = path.join(server.dir, 'finalized');
    expect(sha256(await readFile(path.join(store, 'final', 'joined.bin')))).toBe(sha256(Buffer.concat(pieces)));
    expect((await listTree(store)).sort()).toEqual([`${id}.json`, 'final/joined.bin', 'final/joined.bin.json'].sort());
    await until(() => finished.length > 0, 'onUploadDone of the final upload');
    expect(finished.map((upload) => upload.id)).toEqual([id]);
    expect(finished[0]!.path).toBe(path.join(store, 'final', 'joined.bin'));
  });

  it('a partial upload of another endpoint, of other URL params, or of nobody is not found (404)', async () => {
    const elsewhere = await partial('/other', randomBytes(10));
    const alices = await partial('/users/alice/uploads', randomBytes(10), alice);
    for (const [base, url, headers] of [
      ['/files', elsewhere, FILENAME],
      ['/files', `/files/${idOf(elsewhere)}`, FILENAME],
      ['/users/bob/uploads', `/users/bob/uploads/${idOf(alices)}`, bob],
      ['/users/bob/uploads', alices, bob],
      ['/files', '/files/0123456789abcdef0123456789abcdef', FILENAME],
      ['/files', 'http://[bad', FILENAME],
    ] as const) {
      await refusedWithoutSideEffect(() => final(base, [url], headers), 404, 'TUSPORT_ERR_PARTIAL_NOT_FOUND', /not found/);
    }
    // Still Alice's and untouched.
    expect((await raw(server.url, { method: 'HEAD', path: alices, headers: { ...TUS, ...alice } })).headers['upload-offset']).toBe('10');
  });

  it('a partial upload of another owner at the same endpoint and URL params is not found (404), and stays theirs', async () => {
    const alices = await partial('/shared', Buffer.from('alice'), alice);
    await refusedWithoutSideEffect(() => final('/shared', [alices], bob), 404, 'TUSPORT_ERR_PARTIAL_NOT_FOUND', /not found/);
    // One of Bob's own beside it does not let Alice's in either.
    const bobs = await partial('/shared', Buffer.from('bob'), bob);
    await refusedWithoutSideEffect(() => final('/shared', [bobs, alices], bob), 404, 'TUSPORT_ERR_PARTIAL_NOT_FOUND', /not found/);
    expect((await raw(server.url, { method: 'HEAD', path: alices, headers: { ...TUS, ...alice } })).headers['upload-offset']).toBe('5');
    expect((await final('/shared', [alices], alice)).status).toBe(201);
  });

  it('a final upload refused at completion (its bytes are not an accepted type) leaves its partial uploads as they were', async () => {
    // The first partial starts as an ELF binary does: the sniffed type of the final upload.
    const elf = Buffer.concat([Buffer.from('7f454c46020101000000000000000000', 'hex'), Buffer.alloc(284, 2)]);
    const partials = [await partial('/pictures', elf), await partial('/pictures', randomBytes(300))];
    const metadata = { 'Upload-Metadata': `filename ${Buffer.from('cat.png').toString('base64')},filetype ${Buffer.from('image/png').toString('base64')}` };
    await refusedWithoutSideEffect(() => final('/pictures', partials, metadata), 415, 'TUSPORT_ERR_CONTENT_NOT_ACCEPTED', /application\/x-elf/);
    for (const p of partials) expect((await raw(server.url, { method: 'HEAD', path: p, headers: TUS })).headers['upload-offset']).toBe('300');
  });

  it('two final uploads racing for the same partials: one is made of them, the other is 404 and leaves nothing', async () => {
    const pieces = [randomBytes(40_000), randomBytes(30_000)];
    const partials = [await partial('/files', pieces[0]!), await partial('/files', pieces[1]!)];
    const before = new Set(await listTree(path.join(server.dir, 'files')));
    const answers = await Promise.all([final('/files', partials, FILENAME), final('/files', [...partials].reverse(), FILENAME)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 404]);
    const lost = answers.find((a) => a.status === 404)!;
    expect(errorOf(lost).code).toBe('TUSPORT_ERR_PARTIAL_NOT_FOUND');
    const won = answers.findIndex((a) => a.status === 201);
    const id = idOf(new URL(String(answers[won]!.headers.location)).pathname);
    const expected = won === 0 ? Buffer.concat(pieces) : Buffer.concat([...pieces].reverse());
    expect(sha256(await readFile(path.join(server.dir, 'files', id)))).toBe(sha256(expected));
    // The partials went into the winner and were removed; the loser left no upload behind.
    const after = (await listTree(path.join(server.dir, 'files'))).filter((file) => !before.has(file));
    expect(after.sort()).toEqual([id, `${id}.json`].sort());
    for (const p of partials) expect((await raw(server.url, { method: 'HEAD', path: p, headers: TUS })).status).toBe(404);
  });

  it('an unfinished partial, an ordinary upload, a partial named twice, too many bytes: 400/413', async () => {
    const unfinished = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Concat': 'partial', 'Upload-Length': '10' } });
    const unfinishedPath = new URL(String(unfinished.headers.location)).pathname;
    await refusedWithoutSideEffect(() => final('/files', [unfinishedPath], FILENAME), 400, 'TUSPORT_ERR_PARTIAL_UNFINISHED', /0 of 10 bytes/);
    const ordinary = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, ...FILENAME, 'Upload-Length': '0' } });
    const ordinaryPath = new URL(String(ordinary.headers.location)).pathname;
    await refusedWithoutSideEffect(() => final('/files', [ordinaryPath], FILENAME), 400, 'TUSPORT_ERR_NOT_PARTIAL', /not a partial upload/);
    const one = await partial('/files', randomBytes(5));
    await refusedWithoutSideEffect(() => final('/files', [one, one], FILENAME), 400, 'TUSPORT_ERR_INVALID_CONCAT', /named twice/);
    const big = [await partial('/files', randomBytes(60_000)), await partial('/files', randomBytes(60_000))];
    await refusedWithoutSideEffect(() => final('/files', big, FILENAME), 413, 'TUSPORT_ERR_UPLOAD_TOO_LARGE', /120000 bytes.*maxSize of 100000/);
  });

  it('a final creation with a length or a body is 400', async () => {
    const one = await partial('/files', randomBytes(5));
    await refusedWithoutSideEffect(() => final('/files', [one], { ...FILENAME, 'Upload-Length': '5' }), 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Length.*final upload/);
    await refusedWithoutSideEffect(() => final('/files', [one], { ...FILENAME, 'Upload-Defer-Length': '1' }), 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Defer-Length/);
    await refusedWithoutSideEffect(
      () => raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, ...FILENAME, ...OCTETS, 'Upload-Concat': `final;${one}` }, body: 'hello' }),
      400,
      'TUSPORT_ERR_INVALID_HEADER',
      /takes no body/,
    );
  });

  it('PATCH to a final upload is 403 and changes nothing', async () => {
    const response = await final('/files', [await partial('/files', randomBytes(5))], FILENAME);
    const finalPath = new URL(String(response.headers.location)).pathname;
    for (const offset of ['5', '0']) {
      await refusedWithoutSideEffect(
        () => raw(server.url, { method: 'PATCH', path: finalPath, headers: { ...TUS, ...OCTETS, 'Upload-Offset': offset }, body: 'x' }),
        403,
        'TUSPORT_ERR_FINAL_UPLOAD',
        /final upload/,
      );
    }
  });
});
