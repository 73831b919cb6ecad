import { LockerSchema } from '../coordination/schema.js';
import { z } from 'zod';
import { checkDemo, DemoSchema } from '../demo/schema.js';
import { parseUrlTemplate, placeholdersOf, shapesOverlap, TemplateError } from '../endpoints/template.js';
import type { UploadDoneHandler } from '../hooks/types.js';
import { defaultOutbox, HooksSchema, OutboxChoiceSchema, PostReceiveIntervalSchema } from '../hooks/schema.js';
import { AuthSchema } from '../auth/schema.js';
import { PolicySchema } from '../policy/schema.js';
import { FormSchema } from '../protocols/form/schema.js';
import { checkFinalizeTemplate, FinalizeSchema } from '../stores/finalize.js';
import { byteSize, duration } from './units-schema.js';
import { publicUrl } from './public-url-schema.js';
import { S3StoreSchema } from '../stores/s3/schema.js';
import { MetricsSchema } from '../observability/schema.js';
import { ConnectionLimitsSchema } from '../limits/schema.js';
import { sharedAcrossParamsKey } from '../stores/shared-location.js';
import { SyncSchema } from '../stores/durability.js';
import { directProblem, DirectSchema } from '../protocols/s3-direct/schema.js';
import { ConcatenationSchema } from '../uploads/concat-schema.js';
import { ClaimSchema, DownloadsSchema } from '../files/schema.js';

/**
 * The one description of tusport's configuration: TypeScript types (`TusportConfig`,
 * `ResolvedConfig`), validation with messages that name the key, defaults, and the README's
 * config reference (generated from the `description`s below by `npm run docs:config`).
 */

const DiskStoreSchema = z.strictObject({
  type: z.literal('disk').meta({ description: 'Store uploads as files on local disk.' }),
  directory: z
    .string({ error: 'expected a directory path (may use the endpoint\'s {params})' })
    .min(1)
    .meta({
      description:
        'Directory for data files and their `<id>.json` sidecars; may use the URL template\'s params (`./data/{username}`). Relative paths are resolved against the working directory.',
    }),
  sharedAcrossParams: sharedAcrossParamsKey(),
  // Disk only: S3 has no fsync (a part is durable once S3 answers its upload).
  sync: SyncSchema(),
});

const StoreSchema = z.discriminatedUnion('type', [DiskStoreSchema, S3StoreSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' || issue.code === 'invalid_type'
      ? 'expected a store: { type: "disk", directory: "..." } or { type: "s3", bucket: "..." }'
      : undefined,
});

const EndpointSchema = z.strictObject({
  path: z.string({ error: 'expected a URL template such as "/files" or "/users/{username}/uploads"' }).meta({
    description: 'URL template the endpoint is mounted at; `{param}` segments match one path segment each.',
  }),
  store: StoreSchema.meta({ description: 'Where uploads are stored.' }),
  maxSize: byteSize().optional().meta({ description: 'Largest upload accepted (sent as `Tus-Max-Size`; 413 at creation). Unlimited when unset.' }),
  maxChunkSize: byteSize().optional().meta({
    description:
      'Largest request body of one PATCH/POST. 413 before reading when Content-Length says so; a chunked body is cut at the limit (bytes before it are kept).',
  }),
  maxMetadataSize: byteSize().default(8 * 1024).meta({ description: 'Largest `Upload-Metadata` header accepted (400 above it).' }),
  expire: duration().optional().meta({
    description: 'Unfinished uploads older than this are refused (410) and removed by the cleanup sweep. Finished uploads never expire.',
  }),
  auth: AuthSchema,
  finalize: FinalizeSchema.optional(),
  form: FormSchema,
  concatenation: ConcatenationSchema,
  downloads: DownloadsSchema.prefault({}),
  claim: ClaimSchema.optional(),
  policy: PolicySchema.prefault({}).meta({ description: 'What uploads this endpoint accepts: types, metadata, quotas.' }),
  hooks: HooksSchema,
  direct: DirectSchema,
  postReceiveInterval: PostReceiveIntervalSchema,
  onUploadDone: z
    .custom<UploadDoneHandler>((value) => typeof value === 'function', { error: 'expected a function (library use only)' })
    .optional()
    .meta({
      description:
        'Deprecated (use a `function` hook\'s `post-finish`, which is retried and survives restarts). Library only: `async (upload) => {}` called once per finished upload, before the answer. Errors are logged; the upload stays stored.',
    }),
});

const PORT_EXPECTED = 'expected a TCP port number from 0 to 65535';

const ServerSchema = z.strictObject({
  host: z.string().default('127.0.0.1').meta({ description: 'Address to listen on (`TUSPORT_HOST`).' }),
  // Numeric strings (TUSPORT_PORT, --port) become numbers; nothing else is coerced. `z.coerce`
  // turned '' / null / [] into 0 (a random port: an empty TUSPORT_PORT bound somewhere unknown)
  // and `true` into 1.
  port: z
    .preprocess(
      (value) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
      z
        .number({ error: PORT_EXPECTED })
        .int({ error: PORT_EXPECTED })
        .min(0, { error: PORT_EXPECTED })
        .max(65535, { error: PORT_EXPECTED }),
    )
    .default(1080)
    .meta({ description: 'Port to listen on; 0 picks a free one (`TUSPORT_PORT`).' }),
  trustProxy: z
    .array(z.string())
    .default([])
    .meta({
      description:
        'Addresses/CIDRs of reverse proxies whose `X-Forwarded-*` and `Forwarded` headers are honoured (e.g. `["127.0.0.1", "10.0.0.0/8"]`); of several values the first (client-most) counts. Empty: forwarded headers are ignored.',
    }),
  publicUrl: publicUrl()
    .optional()
    .meta({
      description:
        'The base URL clients reach tusport at (`https://uploads.example.com`, may end in a path prefix a proxy strips). When set, every URL tusport hands out (Location) starts with it and no request header (Host, X-Forwarded-*, Forwarded) shapes one. Unset: Host, or from a `trustProxy` peer X-Forwarded-Host/-Proto, else RFC 7239 `Forwarded`.',
    }),
  idleTimeout: duration().default(60_000).meta({ description: 'A connection that sends nothing for this long is closed (slow or dead clients).' }),
  ...ConnectionLimitsSchema,
  shutdownTimeout: duration().default(10_000).meta({
    description: 'On SIGTERM/SIGINT, how long in-flight requests may run before their connections are closed. Bytes already written stay resumable.',
  }),
  cleanupInterval: duration().default(600_000).meta({
    description:
      'How often expired unfinished uploads (see `endpoints[].expire`) and crash debris are swept from the stores. Each wait is drawn within ±20% of it and counted from the end of the previous sweep, so sweeps never overlap and the instances of a fleet take turns.',
  }),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'Log level.' }),
  logFormat: z
    .enum(['json', 'pretty'])
    .default('json')
    .meta({ description: 'Log lines on stdout: `json` (one JSON object per line, for log collectors) or `pretty` (human-readable, for a terminal; `tusport serve --log-format pretty`).' }),
});

const CorsSchema = z.strictObject({
  origins: z
    .union([z.literal('*'), z.array(z.string().min(1))], { error: 'expected "*" or a list of origins like ["https://app.example.com"]' })
    .default('*')
    .meta({ description: 'Origins allowed to upload from a browser: `"*"` or a list.' }),
  credentials: z.boolean().default(false).meta({ description: 'Send `Access-Control-Allow-Credentials: true` (needs an explicit `origins` list).' }),
  maxAge: duration().default(86_400_000).meta({ description: 'How long browsers may cache a preflight answer.' }),
});

export const DEFAULT_ENDPOINTS = [{ path: '/files', store: { type: 'disk' as const, directory: './data/files' } }];
/** What `tusport serve` starts from when no config file is given (the schema defaults do the rest). */
export const DEFAULT_WITHOUT_FILE = { demo: true } as const;

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema.prefault({}).meta({ description: 'Listening and process settings.' }),
    cors: CorsSchema.prefault({}).meta({ description: 'Cross-origin settings for browser clients.' }),
    endpoints: z
      .array(EndpointSchema, { error: 'expected a list of endpoints' })
      .min(1, { error: 'expected at least one endpoint' })
      .prefault(DEFAULT_ENDPOINTS)
      .meta({ description: 'The tus endpoints this server mounts.' }),
    locker: LockerSchema,
    outbox: OutboxChoiceSchema.optional().meta({
      description:
        'Where notifications wait until their hooks have them (see [hooks.md](hooks.md#notifications-the-durable-outbox)). Left out: `disk`, or with `locker.type: redis` the Redis outbox on `locker.url` (keys `<locker.keyPrefix>outbox:*`), shared by the fleet (see [scaling.md](scaling.md)).',
    }),
    metrics: MetricsSchema,
    demo: DemoSchema,
  })
  .superRefine((config, ctx) => {
    if (config.cors.credentials && config.cors.origins === '*') {
      ctx.addIssue({
        code: 'custom',
        path: ['cors', 'credentials'],
        message: 'credentials need an explicit cors.origins list: "*" with credentials would let any site upload as your users',
      });
    }
    checkEndpoints(config.endpoints, ctx);
    checkDemo(config.demo, config.endpoints, ctx);
  })
  .transform((config) => ({ ...config, outbox: config.outbox ?? defaultOutbox(config.locker) }));

type EndpointInput = z.output<typeof EndpointSchema>;

function checkEndpoints(endpoints: EndpointInput[], ctx: z.RefinementCtx): void {
  const parsed: { index: number; shape: string[] }[] = [];
  endpoints.forEach((endpoint, index) => {
    let template;
    try {
      template = parseUrlTemplate(endpoint.path);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'path'], message: `${JSON.stringify(endpoint.path)} ${error.message}` });
      return;
    }
    const location = endpoint.store.type === 'disk' ? { key: 'directory', value: endpoint.store.directory } : { key: 'prefix', value: endpoint.store.prefix };
    for (const name of placeholdersOf(location.value)) {
      if (!template.params.includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'store', location.key],
          message: `uses {${name}}, which the endpoint path ${JSON.stringify(endpoint.path)} does not have (it has: ${
            template.params.map((p) => `{${p}}`).join(', ') || 'no params'
          })`,
        });
      }
    }
    if (endpoint.auth.type !== 'none') {
      for (const name of Object.keys(endpoint.auth.bind)) {
        if (!template.params.includes(name)) {
          ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'auth', 'bind', name], message: `binds {${name}}, which ${JSON.stringify(endpoint.path)} does not have` });
        }
      }
    }
    const direct = directProblem(endpoint.direct, endpoint.store.type);
    if (direct) ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'direct'], message: direct });
    const finalizeProblem = endpoint.finalize && checkFinalizeTemplate(endpoint.finalize.path, template.params);
    if (finalizeProblem) ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'finalize', 'path'], message: finalizeProblem });
    if (endpoint.downloads.presignedRedirect && endpoint.store.type !== 's3') {
      ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'downloads', 'presignedRedirect'], message: 'needs an S3 store (disk stores serve link downloads themselves)' });
    }
    if (endpoint.maxChunkSize !== undefined && endpoint.maxChunkSize < 1) {
      ctx.addIssue({ code: 'custom', path: ['endpoints', index, 'maxChunkSize'], message: 'must be at least 1 byte' });
    }
    const shape = template.shape.split('/').slice(1);
    for (const other of parsed) {
      const clash = shapesOverlap(shape, other.shape) ? 'the same URLs' : shapesOverlap(shape, [...other.shape, '*']) || shapesOverlap([...shape, '*'], other.shape) ? "each other's upload URLs" : undefined;
      if (clash) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'path'],
          message: `${JSON.stringify(endpoint.path)} collides with endpoints[${other.index}].path ${JSON.stringify(
            endpoints[other.index]?.path,
          )}: they match ${clash}`,
        });
      }
    }
    parsed.push({ index, shape });
  });
}


/** What users write (sizes and durations may be strings; everything but `endpoints` optional). */
export type TusportConfig = z.input<typeof ConfigSchema>;
/** The validated config with defaults filled in and units converted to bytes and milliseconds. */
export type ResolvedConfig = z.output<typeof ConfigSchema>;
export type EndpointConfig = ResolvedConfig['endpoints'][number];
export type EndpointConfigInput = z.input<typeof EndpointSchema>;
