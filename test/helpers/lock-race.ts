import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256 } from './files.js';
import { createUpload, patch, raw, type RawResponse, TUS } from './http.js';

/** A request body whose first `split` bytes go at once and the rest only when `release` resolves. */
export async function* heldBody(data: Buffer, split: number, release: Promise<void>): AsyncGenerator<Buffer> {
  yield data.subarray(0, split);
  await release;
  yield data.subarray(split);
}

/** PATCH `data` at `offset` with its Content-Length (S3 stores require it), the body held as `heldBody` does. */
export function heldPatch(baseUrl: string, uploadPath: string, offset: number, data: Buffer, split: number, release: Promise<void>): Promise<RawResponse> {
  return patch(baseUrl, uploadPath, offset, heldBody(data, split, release), { 'Content-Length': String(data.length) });
}

/** The finished upload's bytes, downloaded from `baseUrl`. */
export async function download(baseUrl: string, uploadPath: string): Promise<Buffer> {
  const response = await raw(baseUrl, { method: 'GET', path: uploadPath, headers: TUS });
  if (response.status !== 200) throw new Error(`GET ${uploadPath} answered ${response.status}: ${response.body}`);
  return response.bytes;
}

export interface RaceOutcome {
  statuses: number[];
  /** sha256 of the upload's bytes afterwards. */
  result: string;
  /** sha256 of each writer's bytes. */
  writers: string[];
}

/**
 * Two writers PATCH different bytes to one new upload at offset 0 through two instances, their
 * bodies overlapping in time (half sent, a short pause, the rest), so each request finds the
 * other's lock held somewhere in the fleet.
 */
export async function raceTwoWriters(first: string, second: string, basePath: string, size: number): Promise<RaceOutcome> {
  const uploadPath = await createUpload(first, basePath, { 'Upload-Length': size });
  const bytes = [randomBytes(size), randomBytes(size)];
  const pause = sleep(50);
  const statuses = (await Promise.all([heldPatch(first, uploadPath, 0, bytes[0]!, size / 2, pause), heldPatch(second, uploadPath, 0, bytes[1]!, size / 2, pause)])).map(
    (response) => response.status,
  );
  return { statuses, result: sha256(await download(second, uploadPath)), writers: bytes.map(sha256) };
}
