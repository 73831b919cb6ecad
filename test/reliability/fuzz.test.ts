import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../helpers/files.js';
import { createUpload, raw, TUS } from '../helpers/http.js';
import { killAll, type Running } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { isAlive, KiB, logLines, writeServeConfig } from './lib/fixtures.js';
import { rng, seededBytes, suiteSeed } from './lib/random.js';
import { rawExchange } from './lib/raw-socket.js';
import { auditStore } from './lib/store-audit.js';

/**
 * Random requests against the real `tusport serve` process: odd methods, traversal and garbage
 * paths, broken tus headers, random bodies, mixed with nearly valid tus requests that move real
 * uploads along. Never a 5xx, never a crash (the process would exit), never a file written
 * outside the stores, and genuine uploads running alongside finish byte-identical.
 */

const RUNS = 2500;
const REQUEST_TIMEOUT_MS = 20_000;

let scratch: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
let port: number;
let storesDir: string;
/** Upload URLs the fuzz may aim at (created before and during the run; never the genuine ones). */
const targets: string[] = [];

beforeAll(async () => {
  scratch = await tempDir('tusport-fuzz-');
  storesDir = path.join(scratch.dir, 'stores');
  const setup = await writeServeConfig(
    scratch.dir,
    {},
    { store: { type: 'disk', directory: path.join(storesDir, 'files') }, maxSize: '64MiB', maxChunkSize: '1MiB' },
    [{ path: '/users/{username}/uploads', store: { type: 'disk', directory: path.join(storesDir, 'users', '{username}') } }],
  );
  port = setup.port;
  // Bait beside the stores, shaped like an upload a traversal would reach.
  await writeFile(path.join(scratch.dir, 'secret'), 'must never be served, changed or deleted');
  await writeFile(
    path.join(scratch.dir, 'secret.json'),
    JSON.stringify({ id: 'secret', size: 40, offset: 0, creation_date: new Date().toISOString(), tusport: { version: 1, endpoint: '/files', params: {}, owner: null, completed_at: new Date().toISOString() } }),
  );
  await mkdir(path.join(scratch.dir, 'etc'));
  await writeFile(path.join(scratch.dir, 'etc', 'passwd'), 'root:x:0:0');
  server = await setup.start();
  for (let i = 0; i < 8; i += 1) targets.push(await createUpload(server.url, '/files', { 'Upload-Length': 1 + i * 1000 }));
  for (const user of ['alice', 'bob']) targets.push(await createUpload(server.url, `/users/${user}/uploads`, { 'Upload-Length': 100 }));
  targets.push(await createUpload(server.url, '/files', { 'Upload-Defer-Length': 1 }));
});
afterAll(async () => {
  await killAll();
  await scratch?.remove();
});

/** Everything below the temp dir except the stores: content hash, inode and mtime of each entry. */
async function outsideStores(): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const entry of await readdir(scratch.dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    if (full === storesDir || full.startsWith(`${storesDir}${path.sep}`)) continue;
    const info = await stat(full);
    const hash = entry.isFile() ? createHash('sha256').update(await readFile(full)).digest('hex') : 'dir';
    state[path.relative(scratch.dir, full)] = `${hash} ino=${info.ino} mtime=${info.mtimeMs} size=${info.size}`;
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// What a request is made of

interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Uint8Array;
  chunked: boolean;
}

const ODD_CHARS = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ''));
const numberish = fc.oneof(
  fc.nat({ max: 300_000 }).map(String),
  fc.constantFrom('-1', '1.5', '1e3', '0x10', ' 5', '5 ', '+5', '05', '', 'NaN', 'Infinity', '-0', '１２', '9007199254740991', '9007199254740992', '99999999999999999999999', '1,2', '0;1'),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.double().map(String),
  ODD_CHARS,
);
const base64 = (text: string) => Buffer.from(text).toString('base64');
const metadata = fc.oneof(
  fc.constantFrom('', 'filename', 'filename dGVzdA==', 'filename dGVzdA==,filename dGVzdA==', 'a b c', ',,,', 'filename !!!notbase64', ' filename dGVzdA==', 'filetype dGV4dC9odG1s,filename Li4vLi4vZXRjL3Bhc3N3ZA=='),
  fc.array(fc.tuple(ODD_CHARS, ODD_CHARS), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${k} ${base64(v)}`).join(',')),
  fc.nat({ max: 20_000 }).map((n) => `filename ${'A'.repeat(n)}`),
  ODD_CHARS,
);
const contentType = fc.constantFrom(
  'application/offset+octet-stream',
  'application/offset+octet-stream; charset=utf-8',
  'APPLICATION/OFFSET+OCTET-STREAM',
  'application/offset+octet-stream, text/plain',
  'text/plain',
  'application/json',
  'multipart/form-data; boundary=x',
  '',
  ';;;',
);
const header = (name: string, value: fc.Arbitrary<string>) => value.map((v): [string, string] => [name, v]);
/** A header present in about `percent`% of the requests. */
const maybe = (arbitrary: fc.Arbitrary<[string, string]>, percent = 30) =>
  fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(null) }, { weight: percent, arbitrary });
const tusHeaders = fc
  .tuple(
    maybe(header('Tus-Resumable', fc.oneof({ weight: 8, arbitrary: fc.constant('1.0.0') }, fc.constantFrom('0.2.2', '1.0', '1.0.0, 1.0.0', ''), ODD_CHARS)), 90),
    maybe(header('Upload-Length', numberish)),
    maybe(header('Upload-Offset', numberish)),
    maybe(header('Upload-Defer-Length', fc.constantFrom('1', '0', 'true', '', '1, 1'))),
    maybe(header('Upload-Metadata', metadata)),
    maybe(header('Upload-Concat', fc.constantFrom('partial', 'final;/files/a /files/b', 'final;', ''))),
    maybe(header('Content-Type', contentType)),
    maybe(header('X-HTTP-Method-Override', fc.constantFrom('PATCH', 'HEAD', 'DELETE', 'GET', 'POST', 'patch', '', 'TRACE'))),
    maybe(header('Authorization', fc.oneof(fc.constant('Bearer x'), ODD_CHARS))),
    maybe(header('Host', fc.constantFrom('evil.example', '[::1]:1', 'a b', '', 'ünïcødé', '127.0.0.1:99999', 'x'.repeat(300))), 10),
    maybe(header('X-Forwarded-Host', fc.constantFrom('evil.example', '../../', ''))),
    maybe(header('X-Forwarded-Proto', fc.constantFrom('https', 'javascript', ''))),
    maybe(header('Expect', fc.constantFrom('100-continue', 'nonsense')), 5),
    maybe(header('X-Request-Id', ODD_CHARS), 10),
    maybe(header('Upload-Checksum', fc.constantFrom('sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=', 'crc32 DUoRhQ==', 'sha3 AAAA', 'sha1', '', 'md5 !!!', 'SHA256 ' + 'A'.repeat(43) + '=')), 15),
    maybe(header('Trailer', fc.constantFrom('Upload-Checksum', 'upload-checksum, x-other', '')), 10),
    fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,30}$/), ODD_CHARS), { maxLength: 3 }),
  )
  .map((parts) => {
    const extra = parts[parts.length - 1] as [string, string][];
    const named = parts.slice(0, -1) as ([string, string] | null)[];
    return [...named.filter((h): h is [string, string] => h !== null), ...extra];
  })
  .chain((headers) =>
    // Sometimes a header twice, with another value.
    fc.oneof({ weight: 85, arbitrary: fc.constant(null) }, { weight: 15, arbitrary: fc.tuple(fc.nat(), numberish) }).map((dup) => {
      const copy = headers[dup ? dup[0] % Math.max(1, headers.length) : 0];
      return dup && copy ? [...headers, [copy[0], dup[1]] as [string, string]] : headers;
    }),
  );

const target = fc.nat().map((n) => targets[n % targets.length] ?? '/files');
const id32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const segment = fc.oneof(
  fc.constantFrom('alice', '.', '..', '%2e%2e', '..%2F..%2F', '%2F', '%5C', '%00', 'a%20b', 'ünï', '%C3%BC', 'CON', 'x'.repeat(200), '', '*'),
  ODD_CHARS.map((s) => encodeURIComponent(s)),
);
const pathArb = fc.oneof(
  { weight: 6, arbitrary: target },
  { weight: 2, arbitrary: fc.constantFrom('/files', '/users/alice/uploads', '/healthz', '/', '*', 'http://127.0.0.1/files', '//files', '/files/', '/FILES') },
  { weight: 2, arbitrary: fc.tuple(segment, fc.option(fc.oneof(target.map((t) => path.basename(t)), id32, segment))).map(([user, id]) => `/users/${user}/uploads${id === null ? '' : `/${id}`}`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/files/../secret',
      '/files/..%2fsecret',
      '/files/..%2F..%2Fsecret',
      '/files/%2e%2e/%2e%2e/secret',
      '/files/..\\secret',
      '/files/....//....//etc/passwd',
      `/files/${'../'.repeat(12)}etc/passwd`,
      '/users/..%2F..%2F/uploads',
      '/users/%2e%2e/uploads/secret',
      '/users/../../uploads',
      '/files/secret.json',
      '/files/%73ecret',
      '/%66iles',
      '/files%2fsecret',
      '/files/secret%00',
      '/files/secret%00.json',
    ),
  },
  { weight: 1, arbitrary: target.map((t) => `${t}.json`) },
  { weight: 1, arbitrary: fc.tuple(target, fc.constantFrom('?', '#', '/', '/..', '%00', '%2F..', ';x', '?x=../../secret')).map(([t, s]) => `${t}${s}`) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => `/files/${'a'.repeat(n)}`) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => `/files/${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `/${s}`) },
);
const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS') },
  { weight: 2, arbitrary: fc.constantFrom('PUT', 'TRACE', 'PROPFIND', 'MKCOL', 'M-SEARCH', 'PURGE', 'LINK', 'QUERY', 'patch', 'Get', 'CONNECT') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,16}$/) },
);
const bodyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 * KiB }).map((n) => new Uint8Array(n).fill(0x61)) },
);
const chaos: fc.Arbitrary<FuzzRequest> = fc.record({ method: methodArb, path: pathArb, headers: tusHeaders, body: bodyArb, chunked: fc.boolean() });
/** A tus request that is right but for one or two details: it moves real uploads along. */
const nearlyValid = fc
  .record({
    method: fc.constantFrom('PATCH', 'PATCH', 'HEAD', 'DELETE', 'GET', 'POST', 'OPTIONS'),
    path: target,
    offset: fc.oneof(fc.constant('0'), fc.nat({ max: 10_000 }).map(String), numberish),
    length: fc.option(fc.nat({ max: 100_000 }).map(String)),
    body: bodyArb,
    chunked: fc.boolean(),
    withUpload: fc.boolean(),
  })
  .map(({ method, path: p, offset, length, body, chunked, withUpload }): FuzzRequest => {
    const headers: [string, string][] = [['Tus-Resumable', '1.0.0']];
    if (method === 'PATCH') headers.push(['Content-Type', 'application/offset+octet-stream'], ['Upload-Offset', offset]);
    // creation-with-upload: the body goes through @tus/server's own write path.
    if (method === 'POST' && withUpload) headers.push(['Content-Type', 'application/offset+octet-stream']);
    if (length !== null) headers.push(['Upload-Length', length]);
    if (method === 'POST' && length === null) headers.push(['Upload-Defer-Length', '1']);
    return { method, path: method === 'POST' ? (p.startsWith('/users/') ? p.replace(/\/[^/]+$/, '') : '/files') : p, headers, body, chunked };
  });
const requestArb: fc.Arbitrary<FuzzRequest> = fc.oneof({ weight: 3, arbitrary: chaos }, { weight: 2, arbitrary: nearlyValid });

/** The request's bytes: framing (Content-Length or chunked) always consistent with the body. */
function encode(request: FuzzRequest): Buffer {
  const lines = [`${request.method} ${request.path} HTTP/1.1`];
  if (!request.headers.some(([name]) => name.toLowerCase() === 'host')) lines.push(`Host: 127.0.0.1:${port}`);
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  const body = Buffer.from(request.body);
  if (request.chunked && body.length > 0) lines.push('Transfer-Encoding: chunked');
  else lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'utf8');
  if (!(request.chunked && body.length > 0)) return Buffer.concat([head, body]);
  const half = body.length >> 1;
  const chunk = (part: Buffer) => (part.length ? [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')] : []);
  return Buffer.concat([head, ...chunk(body.subarray(0, half)), ...chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')]);
}

const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${JSON.stringify(r.path.slice(0, 120))} ${JSON.stringify(r.headers.map(([n, v]) => `${n}: ${v.slice(0, 60)}`))} body=${r.body.length}${r.chunked ? ' chunked' : ''}`;

describe('fuzzed requests', () => {
  it(`${RUNS} random requests: no 5xx, no crash, nothing written outside the stores, genuine uploads intact`, { timeout: 300_000 }, async () => {
    const seed = suiteSeed('fuzz');
    const before = await outsideStores();
    const statuses: Record<string, number> = {};
    let sent = 0;

    // Genuine uploads, alongside the fuzz and for as long as it runs.
    const random = rng(seed, 'genuine');
    let fuzzing = true;
    const genuine: { data: Buffer; url: string }[] = [];
    const genuineLoop = (async () => {
      for (let n = 0; fuzzing || n < 4; n += 1) {
        const data = seededBytes(seed, `genuine-${n}`, random.int(1, 2 * 1024 * KiB));
        const endpoint = n % 3 === 2 ? `${server.url}/users/carol/uploads` : `${server.url}/files`;
        const { url } = await tusUpload(data, { endpoint, chunkSize: random.int(16 * KiB, 512 * KiB), metadata: { filename: `genuine-${n}.bin` } });
        genuine.push({ data, url });
      }
    })();

    try {
      await fc.assert(
        fc.asyncProperty(requestArb, async (request) => {
          const answer = await rawExchange(port, encode(request), REQUEST_TIMEOUT_MS).catch((error: Error) => {
            throw new Error(`${describeRequest(request)}: ${error.message}`);
          });
          sent += 1;
          const key = answer.status === undefined ? `none(${answer.ended})` : String(answer.status);
          statuses[key] = (statuses[key] ?? 0) + 1;
          expect(isAlive(server), `tusport died after ${describeRequest(request)}\n${server.output.stderr}`).toBe(true);
          // CONNECT is not HTTP request semantics: Node hands the socket to a 'connect' listener
          // and, without one, closes it. Everything else gets an answer.
          if (request.method !== 'CONNECT') expect(answer.status, `no answer (${answer.ended}) to ${describeRequest(request)}`).toBeDefined();
          expect(answer.status ?? 0, `${describeRequest(request)}\n${answer.head}`).toBeLessThan(500);
          // Uploads the fuzz creates become targets too.
          const location = /\r\nlocation: http:\/\/[^/\r\n]+(\/[^\r\n]*)/i.exec(answer.head)?.[1];
          if (answer.status === 201 && location) targets.push(location);
        }),
        { numRuns: RUNS, seed, endOnFailure: true },
      );
    } finally {
      fuzzing = false;
    }
    await genuineLoop;

    expect(isAlive(server)).toBe(true);
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(await outsideStores(), 'files outside the stores').toEqual(before);
    // Inside the stores: only uploads, in their own directories.
    const filesAudit = await auditStore(path.join(storesDir, 'files'));
    let bytesVerified = 0;
    for (const { data, url } of genuine) {
      const download = await raw(server.url, { method: 'GET', path: new URL(url).pathname, headers: TUS });
      expect(download.status).toBe(200);
      expect(sha256(download.bytes), url).toBe(sha256(data));
      bytesVerified += data.length;
    }
    const userDirs = await readdir(path.join(storesDir, 'users'));
    const audits = [filesAudit, ...(await Promise.all(userDirs.map((user) => auditStore(path.join(storesDir, 'users', user)))))];
    for (const user of userDirs) expect(user, 'a user directory name').not.toMatch(/^\.\.?$|[/\\\u0000-\u001f]/);
    for (const audit of audits) {
      expect([...audit.dataWithoutSidecar, ...audit.strangers, ...audit.tempSidecars.map((t) => t.name)]).toEqual([]);
    }
    const errors = logLines(server).filter((line) => Number(line.level) >= 50);
    expect(errors, 'error log lines').toEqual([]);
    expect(server.output.stderr).toBe('');
    const uploads = audits.reduce((sum, audit) => sum + audit.uploads.size, 0);
    console.log(
      `[fuzz] requests=${sent} statuses=${JSON.stringify(statuses)} genuineUploads=${genuine.length} bytesVerified=${bytesVerified} ` +
        `uploadsInStores=${uploads} userDirs=${userDirs.length}`,
    );
  });
});
