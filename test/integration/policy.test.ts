import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinishedUpload } from '../../src/index.js';
import { idOf, listTree } from '../helpers/files.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const b64 = (value: string) => Buffer.from(value).toString('base64');
const meta = (entries: Record<string, string>) =>
  Object.entries(entries)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');

// The first bytes of real formats, as file-type recognises them.
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(200, 1)]);
const ELF = Buffer.concat([Buffer.from('7f454c46020101000000000000000000', 'hex'), Buffer.alloc(200, 2)]);
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(200, 3)]);
const CSV = Buffer.from('name,size\ncat.png,123\n');

describe('upload policy: accept, required metadata, metadata sizes', () => {
  let server: RunningTusport;
  const done: FinishedUpload[] = [];
  const store = () => path.join(server.dir, 'files');

  beforeAll(async () => {
    server = await startTusport((dir) => ({
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          policy: { accept: ['image/*', 'application/pdf', '.csv'], requiredMetadata: ['filename'], maxMetadataValueSize: 100 },
          onUploadDone: (upload) => {
            done.push(upload);
          },
        },
        { path: '/tables', store: { type: 'disk', directory: path.join(dir, 'tables') }, policy: { accept: ['.csv', 'text/csv'] } },
      ],
    }));
  });
  afterAll(() => server.close());

  it('accepts by declared type and by extension, and content that sniffs as accepted', async () => {
    for (const [data, metadata] of [
      [PNG, { filename: 'cat.png', filetype: 'image/png' }],
      [PDF, { filename: 'paper.pdf', filetype: 'application/pdf' }],
      [CSV, { filename: 'sizes.csv' }],
      [CSV, { filename: 'sizes.CSV', filetype: 'text/csv' }],
    ] as const) {
      const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, metadata: { ...metadata } });
      expect(await readFile(path.join(store(), idOf(url)))).toEqual(data);
      expect(done.some((u) => url.endsWith(u.id))).toBe(true);
    }
  });

  it('refuses a declared type that is not accepted at creation: 415 listing the accepted types, nothing created', async () => {
    const before = await listTree(server.dir);
    const declared: Record<string, string>[] = [{ filename: 'notes.txt', filetype: 'text/plain' }, { filename: 'tool.exe' }, { filename: 'noext' }];
    for (const metadata of declared) {
      const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': meta(metadata) } });
      expect(response.status).toBe(415);
      expect(errorOf(response).code).toBe('TUSPORT_ERR_TYPE_NOT_ACCEPTED');
      expect(errorOf(response).message).toContain('Accepted: image/*, application/pdf, .csv');
    }
    expect(await listTree(server.dir)).toEqual(before);
  });

  it('a ".png" that is an ELF binary: the final PATCH gets 415, the data is deleted, no done-hook', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': ELF.length, 'Upload-Metadata': meta({ filename: 'cat.png', filetype: 'image/png' }) });
    const id = idOf(uploadPath);
    expect((await patch(server.url, uploadPath, 0, ELF.subarray(0, 100))).status).toBe(204);
    expect(await headOffset(server.url, uploadPath)).toBe(100);
    const last = await patch(server.url, uploadPath, 100, ELF.subarray(100));
    expect(last.status).toBe(415);
    expect(errorOf(last)).toMatchObject({ code: 'TUSPORT_ERR_CONTENT_NOT_ACCEPTED' });
    expect(errorOf(last).message).toContain('application/x-elf');
    expect(errorOf(last).message).toContain('deleted');
    expect(await listTree(store())).not.toContain(id);
    expect(await listTree(store())).not.toContain(`${id}.json`);
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(404);
    expect(done.some((u) => u.id === id)).toBe(false);
  });

  it('a PNG named .csv on a CSV-only endpoint is caught by its bytes (tus-js-client sees the 415)', async () => {
    const error = await tusUpload(PNG, { endpoint: `${server.url}/tables`, metadata: { filename: 'sizes.csv' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/response code: 415/);
    expect(error?.message).toContain('image/png');
    expect(await listTree(path.join(server.dir, 'tables'))).toEqual([]);
    // The same name with CSV bytes is fine: text cannot be sniffed, and its declared type is accepted.
    const { url } = await tusUpload(CSV, { endpoint: `${server.url}/tables`, metadata: { filename: 'sizes.csv' } });
    expect(url).toContain('/tables/');
  });

  it('requires the required metadata (400) and bounds each value (400)', async () => {
    const before = await listTree(server.dir);
    const missing = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': meta({ filetype: 'image/png' }) } });
    expect(missing.status).toBe(400);
    expect(errorOf(missing)).toMatchObject({ code: 'TUSPORT_ERR_METADATA_REQUIRED', message: 'Upload-Metadata must include "filename"' });
    const none = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
    expect(none.status).toBe(400);
    const big = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': meta({ filename: 'cat.png', note: 'x'.repeat(101) }) },
    });
    expect(big.status).toBe(400);
    expect(errorOf(big)).toMatchObject({ code: 'TUSPORT_ERR_METADATA_VALUE_TOO_LARGE' });
    expect(errorOf(big).message).toContain('"note" is 101 bytes; the limit is 100 bytes');
    expect(await listTree(server.dir)).toEqual(before);
  });
});
