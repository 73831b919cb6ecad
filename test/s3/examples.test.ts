import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestBucket, listAllKeys } from '../harness/ceph.js';
import { killAll, start } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { ceph, objectBytes, sha256 } from './lib.js';

/** examples/config/s3.yaml, served for real against the harness's RGW, uploaded to by the node client example. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const info = ceph();
let dir: { dir: string; remove: () => Promise<void> };
let bucket: string;

beforeAll(async () => {
  dir = await tempDir('tusport-s3-example-');
  bucket = await createTestBucket(info, 'example');
});
afterAll(async () => {
  await killAll();
  await dir?.remove();
});

it('examples/config/s3.yaml serves per-user prefixes with bearer tokens from the environment', async () => {
  const token = 'alice-token-0123456789abcdef';
  const server = await start(['serve', '--config', path.join(ROOT, 'examples/config/s3.yaml'), '--port', '0'], dir.dir, {
    TUSPORT__ENDPOINTS__0__STORE__ENDPOINT: info.endpoint,
    TUSPORT__ENDPOINTS__0__STORE__BUCKET: bucket,
    AWS_ACCESS_KEY_ID: info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
    TUSPORT_UPLOAD_TOKENS: `alice:${token}`,
  });
  const file = path.join(dir.dir, 'notes.txt');
  const data = randomBytes(3 * 1024 * 1024 + 5);
  await writeFile(file, data);
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples/node-client/upload.mjs'), file, `${server.url}/users/alice/uploads`, token], {
      env: { ...process.env, UPLOAD_STATE: path.join(dir.dir, 'state.json') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const id = /done http:\/\/[^/]+\/users\/alice\/uploads\/([0-9a-f]{44})/.exec(run.stdout)?.[1];
  expect(await listAllKeys(info, bucket)).toEqual([`users/alice/${id}`, `users/alice/${id}.info`]);
  expect(sha256(await objectBytes(info, bucket, `users/alice/${id}`))).toBe(sha256(data));
});
