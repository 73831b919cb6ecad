/**
 * A Node client for tusport's direct-to-S3 routes that makes the same requests, in the same
 * shapes, as `@uppy/aws-s3` in Companion mode (node_modules/@uppy/aws-s3/src/s3-client/CompanionS3.ts):
 * tusport signs, the bytes go to S3 with plain fetch.
 */

export interface Answer<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export class DirectClient {
  constructor(
    /** The endpoint's URL, e.g. `http://127.0.0.1:1080/files` (Uppy's `companionEndpoint`). */
    readonly endpoint: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
    const response = await fetch(`${this.endpoint}/s3${path}`, {
      method,
      headers: { ...this.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, body: parsed as T, text };
  }

  params(filename: string, type: string, metadata: Record<string, string> = {}) {
    const query = new URLSearchParams({ filename, type, ...Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata[${k}]`, v])) });
    return this.call<{ method: string; url: string; fields: Record<string, string>; expires: number; key: string; id: string }>('GET', `/params?${query}`);
  }

  completePost(id: string) {
    return this.call<{ location: string; key: string; bucket: string; id: string }>('POST', `/params/${encodeURIComponent(id)}/complete`);
  }

  create(filename: string, type: string, metadata: Record<string, string> = {}) {
    return this.call<{ key: string; uploadId: string; bucket: string; id: string; partSize: number }>('POST', '/multipart', { filename, metadata, type });
  }

  signPart(uploadId: string, key: string, partNumber: number | string) {
    return this.call<{ url: string; expires: number }>('GET', `/multipart/${encodeURIComponent(uploadId)}/${encodeURIComponent(partNumber)}?${new URLSearchParams({ key })}`);
  }

  listParts(uploadId: string, key: string) {
    return this.call<{ PartNumber: number; ETag: string; Size: number }[]>('GET', `/multipart/${encodeURIComponent(uploadId)}?${new URLSearchParams({ key })}`);
  }

  complete(uploadId: string, key: string, parts: { PartNumber: number; ETag: string }[]) {
    return this.call<{ location: string; key: string; bucket: string; id: string }>('POST', `/multipart/${encodeURIComponent(uploadId)}/complete?${new URLSearchParams({ key })}`, { parts });
  }

  abort(uploadId: string, key: string) {
    return this.call('DELETE', `/multipart/${encodeURIComponent(uploadId)}?${new URLSearchParams({ key })}`);
  }

  /** PUT one part to its presigned URL (as Uppy's XHR does); resolves with S3's status and ETag. */
  async putPart(url: string, data: Uint8Array): Promise<{ status: number; etag: string | null; text: string }> {
    const response = await fetch(url, { method: 'PUT', body: data as Uint8Array<ArrayBuffer> });
    return { status: response.status, etag: response.headers.get('etag'), text: await response.text() };
  }

  /** Upload a whole buffer: sign and PUT each part (`concurrency` at once), then complete. */
  async uploadMultipart(uploadId: string, key: string, data: Uint8Array, partSize: number, concurrency = 1) {
    const count = Math.ceil(data.length / partSize);
    const parts: { PartNumber: number; ETag: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const signed = await this.signPart(uploadId, key, index + 1);
        if (signed.status !== 200) throw new Error(`sign part ${index + 1}: ${signed.status} ${signed.text}`);
        const put = await this.putPart(signed.body.url, data.subarray(index * partSize, Math.min((index + 1) * partSize, data.length)));
        if (put.status !== 200 || !put.etag) throw new Error(`PUT part ${index + 1}: ${put.status} ${put.text}`);
        parts[index] = { PartNumber: index + 1, ETag: put.etag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return this.complete(uploadId, key, parts);
  }

  /** POST a file with a presigned form, as Uppy does: the fields, then `file`. */
  async postForm(url: string, fields: Record<string, string>, data: Uint8Array, filename = 'file'): Promise<{ status: number; text: string }> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.set(name, value);
    form.set('file', new Blob([data as Uint8Array<ArrayBuffer>]), filename);
    const response = await fetch(url, { method: 'POST', body: form });
    return { status: response.status, text: await response.text() };
  }
}
