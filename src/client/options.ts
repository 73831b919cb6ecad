import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseByteSize, parseDuration } from '../config/units.js';

/** What the user typed, as commander hands it over (strings; validated by `planUpload`). */
export interface RawUploadOptions {
  endpoint: string;
  header: string[];
  token?: string;
  tokenEnv?: string;
  chunkSize?: string;
  metadata: string[];
  parallel: string;
  retries?: string;
  retryDelays?: string;
  json?: boolean;
  sha256?: boolean;
  resume: boolean;
}

/** A file to upload, stat'ed once up front so the fingerprint and the upload agree on it. */
export interface LocalFile {
  /** As given on the command line: what the output calls it. */
  arg: string;
  /** Absolute: what the fingerprint uses, so `cd` elsewhere and `./x` vs `x` resume alike. */
  path: string;
  size: number;
  mtimeMs: number;
}

export interface UploadPlan {
  endpoint: string;
  headers: Record<string, string>;
  /** Largest PATCH body; Infinity sends each file in one request (tus-js-client's default). */
  chunkSize: number;
  /** The user's --metadata; per-file defaults (filename, filetype) are added later. */
  metadata: Record<string, string>;
  parallel: number;
  retryDelays: number[];
  json: boolean;
  sha256: boolean;
  resume: boolean;
  files: LocalFile[];
}

/** Bad arguments: exit 2, and the message names the flag or file that was wrong. */
export class UsageError extends Error {}

/** tus-js-client's own schedule; `--retries N` takes its first N delays, then repeats the last. */
export const DEFAULT_RETRY_DELAYS = [0, 1000, 3000, 5000];

// RFC 9110 token characters: what a header name may consist of.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// tus metadata keys are sent as `key base64value` pairs separated by commas.
const METADATA_KEY = /^[\x21-\x2b\x2d-\x7e]+$/;

export async function planUpload(files: string[], raw: RawUploadOptions, env: NodeJS.ProcessEnv = process.env): Promise<UploadPlan> {
  const headers = parseHeaders(raw.header);
  const token = tokenOf(raw, env);
  if (token !== undefined) {
    if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
      throw new UsageError('give either --token/--token-env or an Authorization --header, not both');
    }
    headers.Authorization = `Bearer ${token}`;
  }
  return {
    endpoint: parseEndpoint(raw.endpoint),
    headers,
    chunkSize: parseChunkSize(raw.chunkSize),
    metadata: parseMetadata(raw.metadata),
    parallel: parseCount('--parallel', raw.parallel, 1),
    retryDelays: parseRetries(raw.retries, raw.retryDelays),
    json: raw.json === true,
    sha256: raw.sha256 === true,
    resume: raw.resume,
    files: await statFiles(files),
  };
}

function parseEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--endpoint ${JSON.stringify(value)}: expected an http:// or https:// URL such as http://127.0.0.1:1080/files`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--endpoint ${JSON.stringify(value)}: expected an http:// or https:// URL such as http://127.0.0.1:1080/files`);
  }
  return url.href;
}

export function parseHeaders(list: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of list) {
    const colon = entry.indexOf(':');
    const name = entry.slice(0, colon).trim();
    if (colon <= 0 || !HEADER_NAME.test(name)) throw new UsageError(`--header ${JSON.stringify(entry)}: expected "Name: value"`);
    headers[name] = entry.slice(colon + 1).trim();
  }
  return headers;
}

export function tokenOf(raw: Pick<RawUploadOptions, 'token' | 'tokenEnv'>, env: NodeJS.ProcessEnv): string | undefined {
  if (raw.token !== undefined && raw.tokenEnv !== undefined) throw new UsageError('give only one of --token and --token-env');
  if (raw.tokenEnv === undefined) return raw.token;
  const token = env[raw.tokenEnv];
  if (!token) throw new UsageError(`--token-env: environment variable ${raw.tokenEnv} is not set`);
  return token;
}

function parseChunkSize(value: string | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const bytes = parseByteSize(value);
  if (bytes === undefined || bytes < 1) throw new UsageError(`--chunk-size ${JSON.stringify(value)}: expected a byte size of at least 1, such as 8MiB or 5000000`);
  return bytes;
}

function parseMetadata(list: string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const entry of list) {
    const eq = entry.indexOf('=');
    const key = entry.slice(0, eq);
    if (eq <= 0 || !METADATA_KEY.test(key)) throw new UsageError(`--metadata ${JSON.stringify(entry)}: expected key=value with a key of printable ASCII without spaces or commas`);
    metadata[key] = entry.slice(eq + 1);
  }
  return metadata;
}

function parseCount(flag: string, value: string, min: number): number {
  const count = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(count) || count < min) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a whole number of at least ${min}`);
  return count;
}

function parseRetries(retries: string | undefined, delays: string | undefined): number[] {
  if (retries !== undefined && delays !== undefined) throw new UsageError('give only one of --retries and --retry-delays');
  if (retries !== undefined) {
    const count = parseCount('--retries', retries, 0);
    return Array.from({ length: count }, (_, i) => DEFAULT_RETRY_DELAYS[Math.min(i, DEFAULT_RETRY_DELAYS.length - 1)] ?? 0);
  }
  if (delays === undefined) return [...DEFAULT_RETRY_DELAYS];
  if (delays.trim() === '') return [];
  return delays.split(',').map((entry) => {
    const ms = parseDuration(entry.trim());
    if (ms === undefined) throw new UsageError(`--retry-delays ${JSON.stringify(delays)}: ${JSON.stringify(entry)} is not a delay; expected milliseconds or durations such as 0,1000,3s`);
    return ms;
  });
}

/** Every file must exist and be a regular file now, before anything is sent. */
async function statFiles(args: string[]): Promise<LocalFile[]> {
  const files: LocalFile[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const absolute = path.resolve(arg);
    // The same file twice would race itself for one stored upload: upload it once.
    if (seen.has(absolute)) continue;
    seen.add(absolute);
    const info = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'permission denied' : error.message;
      throw new UsageError(`cannot read ${arg}: ${why}`);
    });
    if (!info.isFile()) throw new UsageError(`${arg} is not a regular file (directories are not uploaded; list the files)`);
    files.push({ arg, path: absolute, size: info.size, mtimeMs: info.mtimeMs });
  }
  return files;
}
