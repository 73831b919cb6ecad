import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/config.js';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/index.js';

const SECRET = 'a-hook-secret-of-at-least-32-characters';
const withHooks = (hooks: unknown[], extra: Record<string, unknown> = {}) => ({
  endpoints: [{ path: '/files', store: { type: 'disk', directory: './d' }, hooks, ...extra }],
});


function buildError(input: unknown, env: NodeJS.ProcessEnv = {}): string {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    buildApp(input as never, { logger: pino({ level: 'silent' }) });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  } finally {
    for (const key of Object.keys(env)) if (!(key in saved)) delete process.env[key];
  }
  throw new Error('expected a ConfigError');
}

describe('hook config', () => {
  it('fills in defaults: tusd\'s events, 5 s timeout, fail closed, 2 retries, 1 s progress interval, outbox', () => {
    const config = resolveConfig(withHooks([{ type: 'http', url: 'https://hooks.example.com/tus', secret: SECRET }]));
    const endpoint = config.endpoints[0];
    expect(endpoint?.hooks[0]).toMatchObject({
      events: ['pre-create', 'post-create', 'post-receive', 'post-finish', 'post-terminate'],
      timeout: 5000,
      failOpen: false,
      retries: 2,
      forwardHeaders: [],
    });
    expect(endpoint?.postReceiveInterval).toBe(1000);
    expect(config.outbox).toEqual({ type: 'disk', directory: './data/.outbox', giveUpAfter: 86_400_000 });
    expect(resolveConfig({ ...withHooks([]), outbox: { type: 'redis', url: 'redis://127.0.0.1:6379/0', giveUpAfter: '1h' } }).outbox).toEqual({
      type: 'redis',
      url: 'redis://127.0.0.1:6379/0',
      keyPrefix: 'tusport:outbox:',
      giveUpAfter: 3_600_000,
    });
  });

  it('names the key of every mistake', () => {
    expect(problemsOf(withHooks([{ type: 'http', url: 'https://h.example.com' }]))).toEqual([
      'endpoints[0].hooks[0].secret: an http hook needs exactly one of secret, secretEnv (every request is signed)',
    ]);
    expect(problemsOf(withHooks([{ type: 'http', url: 'ftp://h.example.com', secret: SECRET }]))[0]).toMatch(/^endpoints\[0\]\.hooks\[0\]\.url: expected an http\(s\) URL/);
    expect(problemsOf(withHooks([{ type: 'http', url: 'https://h.example.com', secret: 'short' }]))[0]).toBe('endpoints[0].hooks[0].secret: must be at least 32 characters');
    expect(problemsOf(withHooks([{ type: 'command', command: ['/bin/true'], events: ['post-upload'] }]))[0]).toMatch(/^endpoints\[0\]\.hooks\[0\]\.events\[0\]: /);
    expect(problemsOf(withHooks([{ type: 'command', command: '/bin/true $ID' }]))[0]).toMatch(/^endpoints\[0\]\.hooks\[0\]\.command: expected the program and its arguments as a list/);
    expect(problemsOf(withHooks([{ type: 'webhook', url: 'https://h.example.com' }]))[0]).toBe('endpoints[0].hooks[0].type: expected a hook with type "http", "command" or "function"');
    expect(problemsOf(withHooks([{ type: 'command', command: ['/bin/true'], shell: true }]))[0]).toMatch(/^endpoints\[0\]\.hooks\[0\]: unknown key "shell"/);
    expect(problemsOf(withHooks([{ type: 'function', handlers: { 'post-finish': 'not a function' } }]))[0]).toMatch(/^endpoints\[0\]\.hooks\[0\]\.handlers\.post-finish: expected a function/);
    expect(problemsOf({ ...withHooks([]), outbox: { giveUpAfter: 'soon' } })[0]).toMatch(/^outbox\.giveUpAfter: expected a duration/);
    expect(problemsOf({ ...withHooks([]), outbox: { type: 'redis' } })[0]).toMatch(/^outbox\.url: expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(problemsOf({ ...withHooks([]), outbox: { type: 'redis', url: 'http://127.0.0.1:6379' } })[0]).toMatch(/^outbox\.url: expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(problemsOf({ ...withHooks([]), outbox: { type: 's3' } })[0]).toMatch(/^outbox(\.type)?: expected an outbox: \{ type: "disk"/);
  });

  it('checks at startup what only the environment and the disk can tell', () => {
    delete process.env.TUSPORT_TEST_HOOK_SECRET;
    expect(buildError(withHooks([{ type: 'http', url: 'https://h.example.com', secretEnv: 'TUSPORT_TEST_HOOK_SECRET' }]), {})).toContain(
      'endpoints[0].hooks[0].secretEnv: environment variable TUSPORT_TEST_HOOK_SECRET is not set',
    );
    expect(buildError(withHooks([{ type: 'http', url: 'https://h.example.com', secretEnv: 'TUSPORT_TEST_HOOK_SECRET' }]), { TUSPORT_TEST_HOOK_SECRET: 'short' })).toContain(
      'must be at least 32 characters',
    );
    expect(buildError(withHooks([{ type: 'command', command: ['/nonexistent/hook'] }]))).toContain(
      'endpoints[0].hooks[0].command: "/nonexistent/hook" is not an executable file',
    );
  });
});
