import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyUploadToken } from '../../src/index.js';

const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));
const SECRET = 'a-secret-long-enough-for-upload-tokens-000';

describe('tusport token (the real CLI)', () => {
  it('prints a token that verifies with the same secret, scoped as asked; the secret comes from the environment', () => {
    const run = spawnSync(
      process.execPath,
      [BIN, 'token', '--secret-env', 'UPLOAD_SECRET', '--sub', 'alice', '--endpoint', '/users/{username}/uploads', '--param', 'username=alice', '--max-size', '10MB', '--accept', 'image/*', '--expires-in', '10m'],
      { env: { ...process.env, UPLOAD_SECRET: SECRET }, encoding: 'utf8' },
    );
    expect(run.status).toBe(0);
    const payload = verifyUploadToken(run.stdout.trim(), SECRET);
    expect(payload).toMatchObject({ sub: 'alice', endpoint: '/users/{username}/uploads', params: { username: 'alice' }, maxSize: 10_000_000, accept: ['image/*'] });
    expect(payload.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(590);
  });

  it('exits 2 with a message when the template param is missing', () => {
    const run = spawnSync(process.execPath, [BIN, 'token', '--secret', SECRET, '--sub', 'alice', '--endpoint', '/users/{username}/uploads'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/username/);
  });
});
