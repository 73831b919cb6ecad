import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookEventName, TusportConfig } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { idOf, listTree } from '../helpers/files.js';
import { HOOK_SECRET, type Receiver, startReceiver, tusMetadata } from '../helpers/hooks.js';
import { createUpload, errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * Hooks with no test before: several on one endpoint (config order, the first rejection wins, a
 * later hook sees what an earlier one changed), a rejection that leaves the answer to tusport's
 * defaults, pre-terminate failing closed, a blocking hook that is unreachable or answers 5xx, and
 * hook output past its limit, a command that cannot start or is killed.
 */

const SCRIPTS: Record<string, string> = {
  'flood.sh': `#!/bin/sh
cat > /dev/null
head -c 1100000 /dev/zero | tr '\\0' ' '
`,
  // Its interpreter does not exist: executable, yet exec fails (ENOENT) every time it is run.
  'bad-interpreter.sh': `#!/nonexistent/interpreter
exit 0
`,
  'killed.sh': `#!/bin/sh
cat > /dev/null
kill -9 $$
`,
};

let first: Receiver;
let second: Receiver;
let server: RunningTusport;
let scripts: Awaited<ReturnType<typeof tempDir>>;
/** Nothing listens here: a port reserved for this process and never bound. */
let deadPort: number;

const base = { type: 'http' as const, secret: HOOK_SECRET, retryDelay: 20, maxRetryDelay: 50, timeout: 10_000 };
const http = (receiver: Receiver, events: HookEventName[], extra: Record<string, unknown> = {}) => ({ ...base, url: receiver.url, events, ...extra });
const command = (name: string) => ({ type: 'command' as const, command: [path.join(scripts.dir, name)], events: ['pre-create' as const], timeout: 10_000 });

beforeAll(async () => {
  [first, second] = await Promise.all([startReceiver(), startReceiver()]);
  scripts = await tempDir('tusport-hook-chain-');
  for (const [name, text] of Object.entries(SCRIPTS)) {
    await writeFile(path.join(scripts.dir, name), text);
    await chmod(path.join(scripts.dir, name), 0o755);
  }
  deadPort = await freePort();
  server = await startTusport((dir) => {
    const endpoint = (name: string, hooks: object[]) => ({ path: `/${name}`, store: { type: 'disk' as const, directory: path.join(dir, name) }, hooks });
    return {
      outbox: { directory: path.join(dir, 'outbox') },
      endpoints: [
        endpoint('chain', [http(first, ['pre-create', 'pre-terminate']), http(second, ['pre-create', 'pre-terminate'])]),
        endpoint('terminate', [http(first, ['pre-terminate'], { retries: 1 })]),
        endpoint('terminate-down', [{ ...base, url: `http://127.0.0.1:${deadPort}/hooks`, events: ['pre-terminate'], retries: 1 }]),
        endpoint('create-down', [{ ...base, url: `http://127.0.0.1:${deadPort}/hooks`, events: ['pre-create'], retries: 1 }]),
        endpoint('create-5xx', [http(first, ['pre-create'], { retries: 1 })]),
        endpoint('flood-http', [http(first, ['pre-create'])]),
        endpoint('flood-command', [command('flood.sh')]),
        endpoint('killed', [command('killed.sh')]),
        endpoint('missing', [command('bad-interpreter.sh')]),
      ],
    } as TusportConfig;
  });
  const answer = (who: 'first' | 'second') => (entry: { json: { Type: string; Tusport: { Endpoint: string }; Event: { Upload: { MetaData: Record<string, string>; ID: string } } } }) => {
    const { Type: type } = entry.json;
    const endpoint = entry.json.Tusport.Endpoint;
    const meta = entry.json.Event.Upload.MetaData;
    if (endpoint === '/create-5xx' || (endpoint === '/terminate' && meta.terminate === '5xx')) return { status: 500, body: 'receiver broke' };
    if (endpoint === '/flood-http') return { body: { HTTPResponse: { Body: 'x'.repeat(1_100_000) } } };
    if (endpoint !== '/chain') return undefined;
    if (type === 'pre-create' && meta.reject === who) return { body: { RejectUpload: true, HTTPResponse: { StatusCode: 403, Body: `no, says ${who}` } } };
    if (type === 'pre-create' && meta.reject === `${who}-bare`) return { body: { RejectUpload: true } };
    if (type === 'pre-create' && meta.reject === `${who}-zero`) return { body: { RejectUpload: true, HTTPResponse: { StatusCode: 0, Body: '' } } };
    if (type === 'pre-terminate' && meta.keep === who) return { body: { RejectTermination: true } };
    if (type === 'pre-create' && who === 'first' && meta.chain === 'yes') {
      return { body: { ChangeFileInfo: { ID: `chained-${meta.n}`, MetaData: { ...meta, stage: 'first' } } } };
    }
    if (type === 'pre-create' && who === 'second' && meta.chain === 'yes') {
      return { body: { ChangeFileInfo: { MetaData: { ...meta, stage: `${meta.stage}+second` } } } };
    }
    return undefined;
  };
  first.answer = answer('first');
  second.answer = answer('second');
});
afterAll(async () => {
  await server?.close();
  await Promise.all([first?.close(), second?.close()]);
  await scripts?.remove();
});

const post = (endpoint: string, metadata: Record<string, string> = {}) =>
  raw(server.url, { method: 'POST', path: `/${endpoint}`, headers: { ...TUS, 'Upload-Length': 4, ...(Object.keys(metadata).length ? { 'Upload-Metadata': tusMetadata(metadata) } : {}) } });
const callsFor = (receiver: Receiver, key: string, value: string) => receiver.received.filter((r) => r.json.Event.Upload.MetaData[key] === value);

describe('several hooks on one endpoint', () => {
  it('run in config order, each seeing what the one before changed (id and metadata)', async () => {
    const created = await post('chain', { chain: 'yes', n: '1', filename: 'a.txt' });
    expect(created.status, created.body).toBe(201);
    expect(new URL(String(created.headers.location)).pathname).toBe('/chain/chained-1');
    // The second hook was asked about the first one's outcome, so it ran after it. (As in tusd,
    // pre-create carries no upload id; the first hook's chosen id still named the upload.)
    const [asked] = callsFor(second, 'n', '1');
    expect(asked?.json.Event.Upload.ID).toBe('');
    expect(asked?.json.Event.Upload.MetaData.stage).toBe('first');
    const head = await raw(server.url, { method: 'HEAD', path: '/chain/chained-1', headers: TUS });
    expect(head.headers['upload-metadata']).toBe(tusMetadata({ chain: 'yes', n: '1', filename: 'a.txt', stage: 'first+second' }));
  });

  it('the first rejection wins: a later hook is not asked', async () => {
    const before = await listTree(path.join(server.dir, 'chain'));
    const response = await post('chain', { reject: 'first' });
    expect(response.status).toBe(403);
    expect(response.body).toBe('no, says first');
    expect(callsFor(first, 'reject', 'first')).toHaveLength(1);
    expect(callsFor(second, 'reject', 'first')).toEqual([]);
    expect(await listTree(path.join(server.dir, 'chain'))).toEqual(before);
  });

  it('a later hook can still say no after an earlier one said yes', async () => {
    const response = await post('chain', { reject: 'second' });
    expect(response.status).toBe(403);
    expect(response.body).toBe('no, says second');
    expect(callsFor(first, 'reject', 'second')).toHaveLength(1);
  });

  it('a rejection with no HTTPResponse, or StatusCode 0 and an empty Body, is tusport\'s 400 TUSPORT_ERR_HOOK_REJECTED', async () => {
    for (const reject of ['first-bare', 'second-zero']) {
      const before = await listTree(path.join(server.dir, 'chain'));
      const response = await post('chain', { reject });
      expect(response.status, reject).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(response.body)).toEqual({ statusCode: 400, code: 'TUSPORT_ERR_HOOK_REJECTED', error: 'Bad Request', message: 'The upload was rejected by the server' });
      expect(await listTree(path.join(server.dir, 'chain'))).toEqual(before);
    }
  });

  it('pre-terminate: either hook refusing keeps the upload', async () => {
    for (const keep of ['first', 'second']) {
      const uploadPath = await createUpload(server.url, '/chain', { 'Upload-Length': 4, 'Upload-Metadata': tusMetadata({ keep }) });
      const response = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
      expect(response.status, keep).toBe(400);
      expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_REJECTED', message: 'Termination of this upload was refused by the server' });
      expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(200);
    }
  });
});

describe('blocking hooks that cannot answer fail closed', () => {
  it('pre-terminate answering 5xx: 502, retried once, the upload is kept', async () => {
    const uploadPath = await createUpload(server.url, '/terminate', { 'Upload-Length': 4, 'Upload-Metadata': tusMetadata({ terminate: '5xx' }) });
    const response = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
    expect(response.status).toBe(502);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED', message: 'The pre-terminate hook failed (answered HTTP 500); the upload was not deleted, retry later' });
    expect(first.received.filter((r) => r.type === 'pre-terminate' && r.json.Event.Upload.ID === idOf(uploadPath))).toHaveLength(2);
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(200);
    expect(await listTree(path.join(server.dir, 'terminate'))).toContain(idOf(uploadPath));
  });

  it('pre-terminate unreachable: 503, the upload is kept', async () => {
    const uploadPath = await createUpload(server.url, '/terminate-down', { 'Upload-Length': 4 });
    const response = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
    expect(response.status).toBe(503);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_HOOK_UNAVAILABLE');
    expect(errorOf(response).message).toMatch(/^The pre-terminate hook is unavailable \(.+\); the upload was not deleted, retry later$/);
    expect(response.body).not.toContain(String(deadPort));
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(200);
  });

  it('pre-create unreachable: 503, nothing created', async () => {
    const response = await post('create-down');
    expect(response.status).toBe(503);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_HOOK_UNAVAILABLE');
    expect(errorOf(response).message).toMatch(/^The pre-create hook is unavailable \(.+\); no upload was created, retry later$/);
    expect(await listTree(path.join(server.dir, 'create-down'))).toEqual([]);
  });

  it('pre-create answering 5xx: retried, then 502, nothing created', async () => {
    const before = first.received.filter((r) => r.json.Tusport.Endpoint === '/create-5xx').length;
    const response = await post('create-5xx');
    expect(response.status).toBe(502);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED', message: 'The pre-create hook failed (answered HTTP 500); no upload was created, retry later' });
    expect(first.received.filter((r) => r.json.Tusport.Endpoint === '/create-5xx').length).toBe(before + 2);
    expect(await listTree(path.join(server.dir, 'create-5xx'))).toEqual([]);
  });
});

describe('hook output past its limit, and commands that fail', () => {
  it.each([
    ['an HTTP hook answering more than 1 MiB', 'flood-http', 502, 'TUSPORT_ERR_HOOK_FAILED', /^The pre-create hook failed \(answered more than 1048576 bytes\)/],
    ['a command printing more than 1 MiB', 'flood-command', 502, 'TUSPORT_ERR_HOOK_FAILED', /^The pre-create hook failed \(printed more than 1048576 bytes\)/],
    ['a command killed by a signal', 'killed', 502, 'TUSPORT_ERR_HOOK_FAILED', /^The pre-create hook failed \(was killed by SIGKILL\)/],
    ['a command that cannot be started', 'missing', 503, 'TUSPORT_ERR_HOOK_UNAVAILABLE', /^The pre-create hook is unavailable \(could not be started \(ENOENT\)\)/],
  ] as const)('%s: fails closed, nothing created', async (_label, endpoint, status, code, message) => {
    const response = await post(endpoint);
    expect(response.status, response.body).toBe(status);
    expect(errorOf(response).code).toBe(code);
    expect(errorOf(response).message).toMatch(message);
    expect(response.body).not.toContain(scripts.dir);
    expect(await listTree(path.join(server.dir, endpoint))).toEqual([]);
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
  });
});
