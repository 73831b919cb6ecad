import { z } from 'zod';
import { duration } from '../config/units-schema.js';
import { DEFAULT_HOOK_EVENTS, DEFAULT_PRINCIPAL_CLAIMS, HOOK_EVENTS } from './events.js';
import type { HookFunction } from './types.js';

/**
 * An endpoint's `hooks` list and the server's `outbox`. Keys shared by the hook types have one
 * description, so the config reference merges them into one row.
 */

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const common = {
  timeout: duration().default(5_000).meta({
    description: 'How long one invocation may take; then it counts as failed (a command is killed).',
  }),
  failOpen: z.boolean().default(false).meta({
    description:
      'Blocking events only: when the hook times out or fails, go ahead as if it had said yes (`true`) instead of answering 502/503 and changing nothing (`false`).',
  }),
  forwardHeaders: z
    .array(z.string().regex(HEADER_NAME, { error: 'expected a header name' }))
    .default([])
    .meta({
      description:
        '`Authorization`, `Cookie` and `Proxy-Authorization` are left out of the payload\'s `HTTPRequest.Header` unless listed here; listed headers are also sent on the hook\'s own HTTP request (as tusd does).',
    }),
  principalClaims: z
    .array(z.string().min(1))
    .default(DEFAULT_PRINCIPAL_CLAIMS)
    .meta({ description: 'Claims of the principal included under `Tusport.Principal.Claims`.' }),
  retryDelay: duration().default(500).meta({
    description: 'First delay before a retry; it doubles per attempt, with random jitter.',
  }),
  maxRetryDelay: duration().default(300_000).meta({
    description: 'Longest delay between two delivery attempts of a notification (the outbox retries until `outbox.giveUpAfter`).',
  }),
};

const events = () =>
  z
    .array(z.enum(HOOK_EVENTS))
    .min(1)
    .default(DEFAULT_HOOK_EVENTS)
    .meta({ description: 'Events this hook receives. The default is tusd\'s: pre-finish and pre-terminate must be asked for.' });

const HttpHookSchema = z
  .strictObject({
    type: z.literal('http').meta({ description: '`http`: POST the event as JSON to `url`.' }),
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).meta({ format: 'URL', description: 'Where events are POSTed.' }),
    events: events(),
    secret: z.string().min(32, { error: 'must be at least 32 characters' }).optional().meta({
      description: 'HMAC-SHA256 key that signs every request (`Tusport-Signature`); at least 32 characters. Or `secretEnv`.',
    }),
    secretEnv: z.string().min(1).optional().meta({ description: 'Environment variable holding the signing secret (read at startup).' }),
    retries: z.number().int().min(0).max(10).default(2).meta({
      description: 'Blocking events: extra attempts after a timeout, a connection error or a 5xx/429, within the request.',
    }),
    ...common,
  })
  .superRefine((hook, ctx) => {
    if ((hook.secret === undefined) === (hook.secretEnv === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'an http hook needs exactly one of secret, secretEnv (every request is signed)' });
    }
  });

const CommandHookSchema = z.strictObject({
  type: z.literal('command').meta({ description: '`command`: run an executable with the event on stdin.' }),
  command: z
    .array(z.string().min(1), { error: 'expected the program and its arguments as a list, e.g. ["/usr/local/bin/on-upload", "--quiet"]' })
    .min(1)
    .meta({ description: 'Program and arguments, run without a shell; gets the JSON on stdin and `TUS_ID`, `TUS_SIZE`, `TUS_OFFSET`, `TUS_EVENT`.' }),
  events: events(),
  ...common,
});

const FunctionHookSchema = z.strictObject({
  type: z.literal('function').meta({ description: '`function`: library only, async functions per event.' }),
  handlers: z
    .partialRecord(
      z.enum(HOOK_EVENTS),
      z.custom<HookFunction>((value) => typeof value === 'function', { error: 'expected a function (library use only)' }),
    )
    .refine((handlers) => Object.keys(handlers).length > 0, { error: 'expected at least one event handler' })
    .meta({ description: 'Library only: `{ "post-finish": async (request) => response, ... }`; the events are its keys.' }),
  ...common,
});

export const HookSchema = z.discriminatedUnion('type', [HttpHookSchema, CommandHookSchema, FunctionHookSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' || issue.code === 'invalid_type' ? 'expected a hook with type "http", "command" or "function"' : undefined,
});

export const HooksSchema = z.array(HookSchema, { error: 'expected a list of hooks' }).default([]).meta({
  description: 'Hooks for this endpoint\'s upload events (tusd v2 JSON); see [hooks.md](hooks.md).',
});

export const PostReceiveIntervalSchema = duration().default(1_000).meta({
  description: 'Least time between two `post-receive` (progress) events of one upload.',
});

const giveUpAfter = () =>
  duration().default(86_400_000).meta({
    description: 'A notification still undelivered this long after its event is given up (set aside for an operator: `<directory>/failed/` on disk, the `<keyPrefix>failed` hash in Redis) and logged.',
  });

const DiskOutboxSchema = z.strictObject({
  type: z.literal('disk').default('disk').meta({
    description:
      '`disk`: one file per notification in `directory`, delivered by the process that wrote it (one directory per process). `redis`: one queue in Redis that every tusport instance pointing at it shares and delivers from.',
  }),
  directory: z.string().min(1).default('./data/.outbox').meta({
    description:
      'Directory of the durable outbox: one file per undelivered notification (post-create, post-finish, post-terminate). One per tusport process. Created only when a hook needs it.',
  }),
  giveUpAfter: giveUpAfter(),
});

const RedisOutboxSchema = z.strictObject({
  type: z.literal('redis'),
  url: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0' }).meta({
    format: 'URL',
    description:
      '`redis://[user:password@]host:port/db` (`rediss://` for TLS). Credentials in it are never logged. For the outbox to survive a Redis crash, Redis needs `appendonly yes` and `appendfsync always`.',
  }),
  keyPrefix: z.string().default('tusport:outbox:').meta({
    description: 'Prefix of the outbox\'s keys (`<keyPrefix>queue`, `<keyPrefix>messages`, `<keyPrefix>failed`); instances sharing a prefix share the queue.',
  }),
  giveUpAfter: giveUpAfter(),
});

/** The outbox as written; the config's root fills it in when it is left out (see `defaultOutbox`). */
export const OutboxChoiceSchema = z.discriminatedUnion('type', [DiskOutboxSchema, RedisOutboxSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' || issue.code === 'invalid_type' ? 'expected an outbox: { type: "disk", directory: "..." } or { type: "redis", url: "redis://..." }' : undefined,
});

/**
 * The outbox of a config that names none: with a Redis locker, the Redis outbox on the same URL
 * (`<locker.keyPrefix>outbox:`), so that a fleet shares one queue and any instance delivers what a
 * dead one queued; otherwise the disk outbox. An explicit `outbox` always wins.
 */
export function defaultOutbox(locker: { type: 'memory' } | { type: 'redis'; url: string; keyPrefix: string }): z.output<typeof OutboxChoiceSchema> {
  return OutboxChoiceSchema.parse(locker.type === 'redis' ? { type: 'redis', url: locker.url, keyPrefix: `${locker.keyPrefix}outbox:` } : {});
}

export type HookConfig = z.output<typeof HookSchema>;
export type HookConfigInput = z.input<typeof HookSchema>;
export type OutboxConfig = z.output<typeof OutboxChoiceSchema>;
export type RedisOutboxConfig = Extract<OutboxConfig, { type: 'redis' }>;
