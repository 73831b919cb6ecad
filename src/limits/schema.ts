import { z } from 'zod';
import { byteSize, duration } from '../config/units-schema.js';

/**
 * `server` keys that bound what slow or hostile clients can hold: sockets, file descriptors,
 * upload locks. Defaults are chosen to never cut a real client, however slow its link (see
 * docs/security.md).
 */
export const ConnectionLimitsSchema = {
  headersTimeout: duration()
    .default(20_000)
    .meta({
      description:
        'A request whose headers have not all arrived this long after it began is answered 408 and its connection closed (slow-header clients). Real clients send headers in one packet.',
    }),
  minBodyRate: z
    .strictObject({
      bytes: byteSize().default(8 * 1024).meta({ description: 'Bytes a request body must bring per `window`; 0 turns the check off.' }),
      window: duration().refine((ms) => ms >= 1000, { error: 'must be at least 1s' }).default(60_000).meta({ description: 'The window the rate is measured over (at least 1s).' }),
    })
    .prefault({})
    .meta({
      description:
        'Slowest request body accepted (PATCH/POST). A body bringing fewer than `bytes` in a `window` while the server waits for it has its connection closed; the bytes received are kept, the upload stays resumable. Time the server itself spends behind (disk, locks) never counts against the client. Default 8 KiB per 60s (about 1 kbit/s).',
    }),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({
      description:
        'Open connections at most. Past it a new connection is answered 503 with Retry-After and closed, except for `/healthz` and `/readyz` (a small reserve). Unset: half of the open-file limit left after 128 for the process (1000 if unknown), so sockets plus their data files cannot exhaust descriptors.',
    }),
  maxConnectionsPerClient: z
    .number()
    .int()
    .min(1)
    .default(100)
    .meta({
      description:
        'Open connections one client address may hold; more get 503 with Retry-After at once. Counted per socket address: connections from `trustProxy` addresses are exempt (a proxy carries many clients; limit per client there).',
    }),
};
