import net from 'node:net';

export interface RawExchange {
  /** The status code of the first response line; undefined when the server sent nothing. */
  status: number | undefined;
  /** The response's first bytes (status line and headers), for messages. */
  head: string;
  /** How the connection ended when no response came: 'end', 'close' or an error code. */
  ended: string;
}

/**
 * Send `request` exactly as given on a fresh TCP connection and read until the server closes it
 * (requests carry `Connection: close`). A server that neither answers nor closes within
 * `timeoutMs` rejects the promise: a hang is a failure.
 */
export function rawExchange(port: number, request: Buffer, timeoutMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (ended: string) => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      // Interim answers (100 Continue) come first; the status is the final one's.
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      const final = statuses.find((status) => status >= 200) ?? statuses[0];
      const start = Math.max(0, text.search(new RegExp(`(^|\r\n)HTTP/1\\.[01] ${final ?? ''}`)));
      resolve({ status: final, head: text.slice(start, start + 400), ended });
    };
    socket.on('data', (chunk: Buffer) => {
      // Only the head matters; keep memory bounded for big downloads.
      if (received < 64 * 1024) chunks.push(chunk);
      received += chunk.length;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    socket.on('end', () => done('end'));
    socket.on('close', () => done('close'));
    socket.write(request, () => {
      // The server may close before reading everything; that is its right.
    });
  });
}
