import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningNginx, startNginx } from '../harness/nginx.js';

/**
 * Why tusport sends no 104 through a proxy: what nginx 1.22 (the shipped config) does with an
 * upstream's 104. The upstream here is a raw server answering as the draft says (a 104 with the
 * Location as soon as it has the request, then the 201), so the bytes nginx passes on can be read
 * exactly. nginx takes the 104 for the final response: it adds its own Server, Date and Connection
 * headers to it (which it only does to a final response) and passes the upstream's 201 on as that
 * response's body. An HTTP/1.1 client that reads 1xx happens to parse that as 104 then 201, but for
 * nginx the exchange only ends when the upstream closes the connection, so a keep-alive upstream
 * (tusport) leaves the client's connection stuck after it. nginx 1.29's `early_hints` passes 103
 * only; nothing in 1.22 passes other 1xx responses on.
 */
let upstream: net.Server;
let nginx: RunningNginx;
const upstreamSockets: net.Socket[] = [];
beforeAll(async () => {
  upstream = net.createServer((socket) => {
    upstreamSockets.push(socket);
    let seen = '';
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1');
      if (!seen.endsWith('hello')) return;
      seen = '';
      socket.write('HTTP/1.1 104 Upload Resumption Supported\r\nLocation: http://example.test/files/abc\r\nUpload-Draft-Interop-Version: 8\r\n\r\n');
      // The final answer once the body is in, and the connection closed so nginx ends its "body".
      socket.end('HTTP/1.1 201 Created\r\nLocation: http://example.test/files/abc\r\nUpload-Complete: ?1\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  nginx = await startNginx({ upstreamPort: (upstream.address() as net.AddressInfo).port });
});
afterAll(async () => {
  await nginx?.stop();
  for (const socket of upstreamSockets) socket.destroy();
  upstream?.close();
});

it("nginx 1.22 passes an upstream's 104 on as the final response, with the real answer as its body", async () => {
  const url = new URL(nginx.url);
  const bytes = await new Promise<string>((resolve, reject) => {
    let received = '';
    const socket = net.connect(Number(url.port), '127.0.0.1', () => {
      socket.write('POST /files HTTP/1.1\r\nHost: example.test\r\nUpload-Draft-Interop-Version: 8\r\nUpload-Complete: ?1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    });
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
  const [interim, final] = bytes.split('\r\n\r\n');
  expect(interim).toMatch(/^HTTP\/1\.1 104 Upload Resumption Supported\r\n/);
  // nginx's own headers on it: it treated the 104 as the response, and will close the connection after it.
  expect(interim).toMatch(/\r\nServer: nginx\/1\.22/);
  expect(interim).toMatch(/\r\nConnection: close/);
  expect(interim).toMatch(/\r\nLocation: http:\/\/example\.test\/files\/abc/);
  // The upstream's real answer arrives as the bytes after that "response", not as a response of nginx's.
  expect(final).toMatch(/^HTTP\/1\.1 201 Created\r\nLocation: /);
  expect(bytes.match(/Server: nginx/g)).toHaveLength(1);
});
