import { execFile } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { RunningTusport } from './server.js';

const SCRIPT = fileURLToPath(new URL('./tuspy-upload.py', import.meta.url));
/** Debian's python, where python3-tuspy installs `tusclient` (not a pyenv python on PATH). */
const PYTHON = '/usr/bin/python3';

export interface TuspyOptions {
  chunkSize: number;
  algorithm?: 'sha1' | 'md5' | 'sha256' | 'sha512';
  /** Resume this upload URL. */
  url?: string;
  stopAt?: number;
  /** Send this many wrong checksums first (tuspy then retries after a HEAD when `retries` allows). */
  corruptFirst?: number;
  retries?: number;
}

export interface TuspyResult {
  code: number;
  url?: string;
  offset?: number;
  stderr: string;
}

/** Upload `file` with tuspy (`upload_checksum=True`) to a tus endpoint; never rejects on tuspy's failure. */
export function tuspyUpload(endpoint: string, file: string, options: TuspyOptions): Promise<TuspyResult> {
  const args = [SCRIPT, endpoint, file, '--chunk-size', String(options.chunkSize)];
  if (options.algorithm) args.push('--algorithm', options.algorithm);
  if (options.url) args.push('--url', options.url);
  if (options.stopAt !== undefined) args.push('--stop-at', String(options.stopAt));
  if (options.corruptFirst) args.push('--corrupt-first', String(options.corruptFirst));
  if (options.retries) args.push('--retries', String(options.retries));
  // requests honours proxy variables: loopback goes direct.
  const env = { ...process.env, NO_PROXY: '*', no_proxy: '*' };
  return new Promise((resolve) => {
    execFile(PYTHON, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      if (code !== 0) return resolve({ code, stderr });
      const { url, offset } = JSON.parse(stdout.trim().split('\n').pop()!) as { url: string; offset: number };
      resolve({ code, url, offset, stderr });
    });
  });
}

/** The headers of every PATCH the server receives from now on (proof of what a client sent). */
export function recordPatches(server: RunningTusport): IncomingMessage['headers'][] {
  const seen: IncomingMessage['headers'][] = [];
  server.app.server.on('request', (request: IncomingMessage) => {
    if (request.method === 'PATCH') seen.push(request.headers);
  });
  return seen;
}
