import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { ListedUpload } from '../files/list.js';

export type { ListedUpload };

/** The server said no: its status and, for tusport's JSON errors, the code and message. */
export class FilesRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** The files API of one endpoint, as `tusport files` uses it: list, download, delete. */
export class FilesClient {
  constructor(
    private readonly endpoint: string,
    private readonly headers: Record<string, string>,
  ) {}

  /** Every upload the token may see, page by page, newest first. */
  async *list(options: { complete?: boolean | undefined; pageSize?: number | undefined } = {}): AsyncGenerator<ListedUpload> {
    let cursor: string | null = null;
    do {
      const url = new URL(this.endpoint);
      if (options.pageSize !== undefined) url.searchParams.set('limit', String(options.pageSize));
      if (options.complete !== undefined) url.searchParams.set('complete', String(options.complete));
      if (cursor) url.searchParams.set('cursor', cursor);
      const response = await this.request('GET', url.href);
      const page = (await response.json()) as { uploads: ListedUpload[]; next: string | null };
      yield* page.uploads;
      cursor = page.next;
    } while (cursor);
  }

  /** Download a finished upload into `file` ('-': standard output). */
  async get(id: string, file: string): Promise<number> {
    const response = await this.request('GET', this.uploadUrl(id));
    if (!response.body) throw new FilesRequestError(response.status, undefined, 'the server sent no body');
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await pipeline(body, file === '-' ? process.stdout : createWriteStream(file, { flags: 'wx' }), { end: file !== '-' });
    return bytes;
  }

  /** Terminate an upload (tus DELETE). */
  async remove(id: string): Promise<void> {
    await this.request('DELETE', this.uploadUrl(id), { 'Tus-Resumable': '1.0.0' });
  }

  /** An id, or a whole upload URL as `ls` prints it. */
  private uploadUrl(idOrUrl: string): string {
    if (/^https?:\/\//.test(idOrUrl)) return idOrUrl;
    return `${this.endpoint.replace(/\/+$/, '')}/${encodeURIComponent(idOrUrl)}`;
  }

  private async request(method: string, url: string, extra: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(url, { method, headers: { ...this.headers, ...extra } });
    if (response.ok) return response;
    const text = await response.text();
    let code: string | undefined;
    let message = text.trim() || response.statusText;
    try {
      const parsed = JSON.parse(text) as { code?: string; message?: string };
      code = parsed.code;
      message = parsed.message ?? message;
    } catch {
      // Not tusport's JSON (a proxy's page): the text as it came.
    }
    throw new FilesRequestError(response.status, code, `${method} ${url}: ${response.status}${code ? ` ${code}` : ''}: ${message}`);
  }
}
