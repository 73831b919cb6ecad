import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyUploadToken } from '../../src/auth/signed-token.js';
import { registerTokenCommand } from '../../src/cli/token.js';

const SECRET = 'a-very-long-shared-secret-for-tests-0123456789';

/** Run `tusport token ...args` in-process; returns what it printed and the commander exit code. */
async function tusportToken(...args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  let out = '';
  let err = '';
  const program = new Command('tusport')
    .exitOverride()
    .configureOutput({ writeOut: (text) => void (out += text), writeErr: (text) => void (err += text) });
  registerTokenCommand(program);
  try {
    await program.parseAsync(['node', 'tusport', 'token', ...args]);
    return { out, err, exitCode: 0 };
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { out, err, exitCode: error.exitCode };
  }
}

afterEach(() => {
  delete process.env.TUSPORT_TEST_SECRET;
});

describe('tusport token', () => {
  it('prints one token that verifies with the secret and carries every option', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { out, exitCode } = await tusportToken(
      '--secret', SECRET, '--sub', 'user-7', '--endpoint', '/users/{username}/uploads', '--param', 'username=alice',
      '--max-size', '100MB', '--accept', 'image/*', '--accept', 'application/pdf,.csv', '--expires-in', '2h',
    );
    expect(exitCode).toBe(0);
    expect(out).toMatch(/^v1\.[\w-]+\.[\w-]+\n$/);
    const payload = verifyUploadToken(out.trim(), SECRET);
    expect(payload).toMatchObject({
      sub: 'user-7', endpoint: '/users/{username}/uploads', params: { username: 'alice' }, maxSize: 100e6, accept: ['image/*', 'application/pdf', '.csv'],
    });
    expect(payload.exp - payload.iat).toBe(7200);
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(() => verifyUploadToken(out.trim(), `${SECRET}x`)).toThrow(/signature/);
  });

  it('reads the secret from --secret-env and defaults to a 15-minute lifetime without limits', async () => {
    process.env.TUSPORT_TEST_SECRET = SECRET;
    const { out, exitCode } = await tusportToken('--secret-env', 'TUSPORT_TEST_SECRET', '--sub', 'u', '--endpoint', '/files');
    expect(exitCode).toBe(0);
    const payload = verifyUploadToken(out.trim(), SECRET);
    expect(payload.exp - payload.iat).toBe(900);
    expect(payload.params).toEqual({});
    expect(payload.maxSize).toBeUndefined();
    expect(payload.accept).toBeUndefined();
  });

  it.each([
    [['--sub', 'u', '--endpoint', '/files'], /exactly one of --secret and --secret-env/],
    [['--secret', SECRET, '--secret-env', 'X', '--sub', 'u', '--endpoint', '/files'], /exactly one/],
    [['--secret-env', 'TUSPORT_TEST_UNSET_VARIABLE', '--sub', 'u', '--endpoint', '/files'], /TUSPORT_TEST_UNSET_VARIABLE is not set/],
    [['--secret', SECRET, '--sub', 'u', '--endpoint', '/users/{username}/uploads'], /needs a value for \{username\}/],
    [['--secret', SECRET, '--sub', 'u', '--endpoint', '/files', '--param', 'oops'], /expected name=value/],
    [['--secret', SECRET, '--sub', 'u', '--endpoint', '/files', '--max-size', '10XB'], /--max-size "10XB"/],
    [['--secret', SECRET, '--sub', 'u', '--endpoint', '/files', '--expires-in', 'soon'], /--expires-in "soon"/],
  ])('%j is a usage error (exit 2) that prints no token', async (args, message) => {
    const { out, err, exitCode } = await tusportToken(...args);
    expect(exitCode).toBe(2);
    expect(err).toMatch(message);
    expect(out).toBe('');
  });

  it('a missing required option is reported by commander and prints no token', async () => {
    const { out, err, exitCode } = await tusportToken('--secret', SECRET, '--endpoint', '/files');
    expect(exitCode).not.toBe(0);
    expect(err).toMatch(/required option '--sub <id>' not specified/);
    expect(out).toBe('');
  });
});
