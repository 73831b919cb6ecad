import http from 'node:http';

export interface ProxiedRequest {
  method: string;
  url: string;
  range: string | undefined;
  status: number;
  /** Response body bytes that passed through. */
  bytes: number;
}

export interface CountingProxy {
  /** `http://127.0.0.1:<port>`: point an S3 client's endpoint here. */
  url: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A plain HTTP forward proxy in front of S3 (RGW) that counts the response bytes of each request:
 * what a test measures to prove a ranged download fetched only its slice from the bucket.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((incoming, outgoing) => {
    const record: ProxiedRequest = { method: incoming.method ?? '', url: incoming.url ?? '', range: incoming.headers.range, status: 0, bytes: 0 };
    requests.push(record);
    const forwarded = http.request(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers, agent: false },
      (response) => {
        record.status = response.statusCode ?? 0;
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.on('data', (chunk: Buffer) => {
          record.bytes += chunk.length;
        });
        response.pipe(outgoing);
        outgoing.on('close', () => response.destroy());
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.on('aborted', () => forwarded.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
