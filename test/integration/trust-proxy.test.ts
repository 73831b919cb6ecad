import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, raw, type RawResponse, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * server.trustProxy decides whose X-Forwarded-* headers shape the Location of a new upload and
 * the address tusport logs. The test client is on 127.0.0.1, so it is "the proxy" when
 * 127.0.0.1 is trusted, and an ordinary client otherwise.
 */
interface Booted {
  server: RunningTusport;
  /** POST /files with extra headers; the request id lets `remoteAddressOf` find its log line. */
  create(headers?: Record<string, string>): Promise<RawResponse & { requestId: string }>;
  /** The `remoteAddress` tusport logged for a request. */
  remoteAddressOf(requestId: string): unknown;
}

async function boot(trustProxy: string[] | undefined, publicUrl?: string): Promise<Booted> {
  const capture = capturingLogger('info');
  const server = await startTusport(
    (dir) => ({
      ...(trustProxy || publicUrl ? { server: { ...(trustProxy ? { trustProxy } : {}), ...(publicUrl ? { publicUrl } : {}) } } : {}),
      endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }],
    }),
    { logger: capture.logger },
  );
  return {
    server,
    async create(headers = {}) {
      const requestId = randomUUID();
      const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 3, 'X-Request-Id': requestId, ...headers } });
      return { ...response, requestId };
    },
    remoteAddressOf(requestId) {
      const line = capture.lines.find((l) => l.reqId === requestId && typeof l.req === 'object');
      return (line?.req as { remoteAddress?: unknown } | undefined)?.remoteAddress;
    },
  };
}

const ID = '[0-9a-f]{44}';
const FORGED = { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.7' };

/** A 201 whose Location is `${origin}/files/<id>`; returns the Location. */
function expectCreatedAt(response: RawResponse, origin: string): string {
  expect(response.status).toBe(201);
  const location = String(response.headers.location);
  expect(location).toMatch(new RegExp(`^${origin.replace(/[.[\]]/g, '\\$&')}/files/${ID}$`));
  return location;
}

/** A 400 in tusport's own error format, and no Location. */
function expectBadHeader(response: RawResponse, header: string): void {
  expect(response.status).toBe(400);
  expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_INVALID_HEADER' });
  expect(errorOf(response).message).toContain(`Invalid ${header} header`);
  expect(response.headers.location).toBeUndefined();
}

describe('trustProxy empty (the default): forwarded headers are ignored', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(undefined);
  });
  afterAll(() => t.server.close());

  it('a direct client forging X-Forwarded-Host/Proto gets a Location on the real origin, and it works there', async () => {
    const created = await t.create(FORGED);
    const location = expectCreatedAt(created, t.server.url);
    const head = await raw(t.server.url, { method: 'HEAD', path: new URL(location).pathname, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-length']).toBe('3');
  });

  it('logs the socket address, not a forged X-Forwarded-For', async () => {
    const created = await t.create(FORGED);
    expect(created.status).toBe(201);
    expect(t.remoteAddressOf(created.requestId)).toBe('127.0.0.1');
  });

  it.each(['javascript', 'https, http', 'HTTPS'])('a forged X-Forwarded-Proto %j is ignored like any other, not a 400', async (proto) => {
    expectCreatedAt(await t.create({ 'X-Forwarded-Proto': proto }), t.server.url);
  });
});

describe('trustProxy ["127.0.0.1"]: the proxy on loopback is believed', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(['127.0.0.1']);
  });
  afterAll(() => t.server.close());

  it('X-Forwarded-Proto and X-Forwarded-Host (with port) make the Location', async () => {
    expectCreatedAt(await t.create({ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'uploads.example.com:8443' }), 'https://uploads.example.com:8443');
    expectCreatedAt(await t.create({ 'X-Forwarded-Proto': 'https' }), t.server.url.replace('http:', 'https:'));
    expectCreatedAt(await t.create({ 'X-Forwarded-Host': 'uploads.example.com' }), 'http://uploads.example.com');
  });

  it('of values appended along a chain, the first (client-most, what the outermost proxy saw) counts', async () => {
    const created = await t.create({ 'X-Forwarded-Proto': 'https, http', 'X-Forwarded-Host': 'uploads.example.com, tusport.internal:1080' });
    expectCreatedAt(created, 'https://uploads.example.com');
  });

  it('RFC 7239 Forwarded (proto, host, for) is honoured when no X-Forwarded-* says otherwise', async () => {
    const created = await t.create({ Forwarded: 'for=203.0.113.7;proto=https;host="uploads.example.com:8443"' });
    expectCreatedAt(created, 'https://uploads.example.com:8443');
    expect(t.remoteAddressOf(created.requestId)).toBe('203.0.113.7');
    // Several elements (one per hop): the client-most one's host and proto count; IPv6 in quotes.
    const chained = await t.create({ Forwarded: 'for="[2001:db8::1]:4711";proto=https;host=uploads.example.com, for=127.0.0.1;proto=http;host=tusport.internal' });
    expectCreatedAt(chained, 'https://uploads.example.com');
    expect(t.remoteAddressOf(chained.requestId)).toBe('2001:db8::1');
    // Case-insensitive names, obfuscated identifiers stop the address walk at the last known hop.
    const hidden = await t.create({ Forwarded: 'For=_hidden;Proto=HTTPS;Host=uploads.example.com' });
    expectCreatedAt(hidden, 'https://uploads.example.com');
    expect(t.remoteAddressOf(hidden.requestId)).toBe('127.0.0.1');
  });

  it("Forwarded `for` is the client address hooks are told (HTTPRequest.RemoteAddr)", async () => {
    const seen: string[] = [];
    const hooked = await startTusport((dir) => ({
      server: { trustProxy: ['127.0.0.1'] },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [{ type: 'function', handlers: { 'pre-create': async (request) => void seen.push(request.Event.HTTPRequest.RemoteAddr) } }],
        },
      ],
    }));
    try {
      const created = await raw(hooked.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 3, Forwarded: 'for="[2001:db8::7]:4711"' } });
      expect(created.status).toBe(201);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatch(/^\[2001:db8::7\]:\d+$/);
    } finally {
      await hooked.close();
    }
  });

  it('X-Forwarded-* wins over Forwarded (proxies that set X-Forwarded-* pass a client\'s Forwarded through)', async () => {
    const created = await t.create({ 'X-Forwarded-Host': 'uploads.example.com', 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.2', Forwarded: 'for=203.0.113.7;proto=http;host=evil.example' });
    expectCreatedAt(created, 'https://uploads.example.com');
    expect(t.remoteAddressOf(created.requestId)).toBe('198.51.100.2');
  });

  it('a garbage Forwarded from the trusted proxy is a 400, never a Location elsewhere', async () => {
    const broken = await t.create({ Forwarded: 'host="unterminated' });
    expect(broken.status).toBe(400);
    expect(errorOf(broken)).toMatchObject({ code: 'TUSPORT_ERR_INVALID_HEADER', message: expect.stringContaining('Invalid Forwarded header') });
    expectBadHeader(await t.create({ Forwarded: 'host="evil.example/path"' }), 'Host');
    expectBadHeader(await t.create({ Forwarded: 'host=evil.example/path' }), 'Forwarded');
    expectBadHeader(await t.create({ Forwarded: 'proto=javascript' }), 'Forwarded');
  });

  it('X-Forwarded-For is honoured up to the first untrusted hop', async () => {
    const direct = await t.create({ 'X-Forwarded-For': '203.0.113.7' });
    expect(direct.status).toBe(201);
    expect(t.remoteAddressOf(direct.requestId)).toBe('203.0.113.7');
    // 10.1.2.3 is not a listed proxy: it is the client, whatever it claims came before it.
    const chained = await t.create({ 'X-Forwarded-For': '203.0.113.7, 10.1.2.3' });
    expect(chained.status).toBe(201);
    expect(t.remoteAddressOf(chained.requestId)).toBe('10.1.2.3');
  });

  it('a garbage forwarded host or scheme is a 400, never a Location elsewhere', async () => {
    expectBadHeader(await t.create({ 'X-Forwarded-Host': 'evil/../x' }), 'Host');
    expectBadHeader(await t.create({ 'X-Forwarded-Host': 'evil.example/path' }), 'Host');
    expectBadHeader(await t.create({ 'X-Forwarded-Proto': 'javascript' }), 'X-Forwarded-Proto');
    expectBadHeader(await t.create({ 'X-Forwarded-Proto': 'https:' }), 'X-Forwarded-Proto');
    // Not only creation: every request resolves its origin the same way.
    const location = expectCreatedAt(await t.create(), t.server.url);
    const head = await raw(t.server.url, { method: 'HEAD', path: new URL(location).pathname, headers: { ...TUS, 'X-Forwarded-Proto': 'ftp' } });
    expect(head.status).toBe(400);
  });
});

describe('trustProxy ["10.0.0.0/8"]: a client outside the list is not a proxy', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(['10.0.0.0/8']);
  });
  afterAll(() => t.server.close());

  it('its X-Forwarded-Host/Proto/For are ignored', async () => {
    const created = await t.create(FORGED);
    expectCreatedAt(created, t.server.url);
    expect(t.remoteAddressOf(created.requestId)).toBe('127.0.0.1');
  });
});

describe('trustProxy empty: Forwarded is ignored like X-Forwarded-*', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(undefined);
  });
  afterAll(() => t.server.close());

  it('a direct client\'s Forwarded shapes neither Location nor the logged address', async () => {
    const created = await t.create({ Forwarded: 'for=203.0.113.7;proto=https;host=evil.example' });
    expectCreatedAt(created, t.server.url);
    expect(t.remoteAddressOf(created.requestId)).toBe('127.0.0.1');
    // Not even a malformed one is looked at.
    expectCreatedAt(await t.create({ Forwarded: 'host="unterminated' }), t.server.url);
  });
});

describe('server.publicUrl: no request header shapes a URL', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(['127.0.0.1'], 'https://uploads.example.com/tus/');
  });
  afterAll(() => t.server.close());

  it('Location is publicUrl (path prefix kept, trailing slash not doubled) + the endpoint path, whatever Host and the proxy say', async () => {
    const variants: Record<string, string>[] = [{}, { Host: 'evil.example' }, FORGED, { Forwarded: 'proto=http;host=evil.example' }, { 'X-Forwarded-Host': 'garbage/../x' }];
    for (const headers of variants) {
      const location = expectCreatedAt(await t.create(headers), 'https://uploads.example.com/tus');
      // The proxy strips the prefix; tusport serves the upload at its own path.
      const head = await raw(t.server.url, { method: 'HEAD', path: new URL(location).pathname.replace(/^\/tus/, ''), headers: TUS });
      expect(head.status).toBe(200);
    }
  });
});

describe('a garbage Host header', () => {
  let t: Booted;
  beforeAll(async () => {
    t = await boot(undefined);
  });
  afterAll(() => t.server.close());

  it.each(['evil/../x', 'a@b', 'evil.example/path', 'x y', '[::1'])('Host %j is a 400 with no Location, not a 5xx', async (host) => {
    expectBadHeader(await t.create({ Host: host }), 'Host');
  });

  it('on upload URLs too (HEAD, PATCH)', async () => {
    const location = expectCreatedAt(await t.create(), t.server.url);
    const uploadPath = new URL(location).pathname;
    expect((await raw(t.server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, Host: 'evil/../x' } })).status).toBe(400);
    const patched = await raw(t.server.url, {
      method: 'PATCH',
      path: uploadPath,
      headers: { ...TUS, Host: 'evil/../x', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
      body: 'abc',
    });
    expectBadHeader(patched, 'Host');
    // Nothing was written by the refused PATCH.
    const head = await raw(t.server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-offset']).toBe('0');
  });

  it('an HTTP/1.0 request without Host is a 400', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(t.server.url).port), '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write('POST /files HTTP/1.0\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 3\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('TUSPORT_ERR_INVALID_HEADER');
    expect(answer.toLowerCase()).not.toContain('location:');
  });
});
