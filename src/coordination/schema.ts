import { z } from 'zod';
import { duration } from '../config/units-schema.js';

const MemoryLockerSchema = z.strictObject({
  type: z.literal('memory').default('memory').meta({
    description:
      '`memory`: locks, quotas and the sweep are coordinated inside this process (one instance; needs nothing else). `redis`: shared by every tusport instance pointing at the same Redis, so any request for any upload may reach any instance.',
  }),
});

const RedisLockerSchema = z.strictObject({
  type: z.literal('redis'),
  url: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0' }).meta({
    format: 'URL',
    description: '`redis://[user:password@]host:port/db` (`rediss://` for TLS). Credentials in it are never logged.',
  }),
  keyPrefix: z.string().default('tusport:').meta({
    description: 'Prefix of every coordination key in Redis; instances that share uploads must share it.',
  }),
  lease: duration()
    .refine((ms) => ms >= 1_000 && ms <= 120_000, { error: 'expected a lease between 1s and 120s' })
    .default(10_000)
    .meta({
      description:
        "How long an upload lock lives in Redis without renewal. A holder renews it every third of this; an instance that dies (SIGKILL, power loss) leaves its locks to expire within this time, after which any instance serves those uploads. A holder that could not renew for `lease` minus a fifth stops writing (fencing; see [scaling.md](scaling.md#fencing-a-holder-that-lost-its-lease)).",
    }),
});

export const LockerSchema = z
  .discriminatedUnion('type', [MemoryLockerSchema, RedisLockerSchema], {
    error: (issue) =>
      issue.code === 'invalid_union' || issue.code === 'invalid_type' ? 'expected a locker: { type: "memory" } or { type: "redis", url: "redis://..." }' : undefined,
  })
  .prefault({})
  .meta({ description: 'Where upload locks, per-principal quotas and the sweep are coordinated (see [scaling.md](scaling.md)).' });

export type LockerConfig = z.output<typeof LockerSchema>;
export type RedisLockerConfig = Extract<LockerConfig, { type: 'redis' }>;
