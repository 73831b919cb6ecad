import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with a request a rule matches. */
export type FaultAction =
  /** Destroy the client's connection before forwarding anything (the request never reaches S3). */
  | { kind: 'cut' }
  /** Hold the request (unforwarded) until `release` resolves, then forward it. */
  | { kind: 'hold'; release: Promise<void> };

export interface FaultRule {
  match: (request: IncomingMessage) => boolean;
  action: FaultAction;
  /** Called when a request matched (before the action). */
  onMatch?: (request: IncomingMessage) => void;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give it to tusport as the S3 endpoint. */
  url: string;
  rules: FaultRule[];
  /** `METHOD path?query` of every request forwarded or faulted, in order. */
  seen: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy between tusport and S3 (RGW) that forwards every request unchanged (the
 * Host header too, so SigV4 signatures still verify) unless a rule picks it: then it cuts the
 * connection or holds the request. Real sockets, real S3: the fault is what a network drop or a
 * dying instance does to a request in flight.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: FaultRule[] = [];
  const seen: string[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    const rule = rules.find((candidate) => candidate.match(request));
    rule?.onMatch?.(request);
    const forward = () => {
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers, agent },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      out.on('error', () => request.socket.destroy());
      request.pipe(out);
    };
    if (!rule) return forward();
    if (rule.action.kind === 'cut') {
      request.socket.destroy();
      return;
    }
    rule.action.release.then(forward, () => request.socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rules,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}

/** S3 request shapes, for rules: `key` is the object key (without the bucket). */
export const s3Request = {
  uploadPart: (bucket: string, key: string) => (request: IncomingMessage) =>
    request.method === 'PUT' && pathOf(request) === `/${bucket}/${key}` && /[?&]partNumber=/.test(request.url ?? ''),
  putObject: (bucket: string, key: string) => (request: IncomingMessage) =>
    request.method === 'PUT' && pathOf(request) === `/${bucket}/${key}` && !/[?&](partNumber|uploadId)=/.test(request.url ?? ''),
  deleteObject: (bucket: string, key: string) => (request: IncomingMessage) => request.method === 'DELETE' && pathOf(request) === `/${bucket}/${key}`,
};

function pathOf(request: IncomingMessage): string {
  return decodeURIComponent((request.url ?? '').split('?')[0] ?? '');
}
