import http from 'node:http';
import { type Outcome, outcomeOf } from './resumable-client.js';

export interface OpenPatch {
  /** Write body bytes; resolves once they are with the kernel. */
  write(bytes: Buffer): Promise<void>;
  end(bytes?: Buffer): void;
  /** Drop the connection mid-body (a client that goes away). */
  destroy(): void;
  /** The answer (or the connection's failure), whenever it comes. */
  response: Promise<Outcome>;
}

/**
 * A PATCH whose body the test writes piece by piece (Content-Length announced up front), to hold
 * an upload's lock for as long as it likes, stall mid-body, or race another request.
 */
export function openPatch(baseUrl: string, uploadPath: string, offset: number, length: number): OpenPatch {
  const url = new URL(baseUrl);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    method: 'PATCH',
    path: uploadPath,
    agent: false,
    headers: { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': offset, 'Content-Length': length },
  });
  const response = outcomeOf(req);
  req.flushHeaders();
  return {
    write: (bytes) =>
      new Promise((resolve) => {
        if (req.destroyed) resolve();
        else req.write(bytes, () => resolve());
      }),
    end: (bytes) => {
      if (!req.destroyed) req.end(bytes);
    },
    destroy: () => req.destroy(),
    response,
  };
}
