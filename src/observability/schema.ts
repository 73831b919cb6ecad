import { z } from 'zod';

/**
 * The `metrics` key. Off by default. When on, Prometheus metrics are served on a listener of their
 * own (127.0.0.1:9464 unless told otherwise), never on the upload port: an upload server is
 * usually public, its metrics usually are not. Off the loopback, set a `token`.
 */
export const MetricsSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({ description: 'Serve Prometheus metrics (see [metrics.md](metrics.md) for the list and how the names map to tusd\'s).' }),
    host: z.string().min(1).default('127.0.0.1').meta({ description: 'Address of the metrics listener (separate from `server.host`). Loopback by default: only the machine itself can scrape.' }),
    port: z
      .number({ error: 'expected a TCP port number' })
      .int()
      .min(0)
      .max(65535)
      .default(9464)
      .meta({ description: 'Port of the metrics listener (not the upload port); 0 picks a free one (logged at startup).' }),
    path: z
      .string()
      .regex(/^\/[^?#\s]*$/, { error: 'expected a URL path starting with "/"' })
      .default('/metrics')
      .meta({ description: 'URL path the metrics are served at.' }),
    token: z
      .string()
      .min(16, { error: 'expected at least 16 characters' })
      .optional()
      .meta({ description: 'Bearer token scrapers must send (`Authorization: Bearer <token>`); set it whenever `host` is not loopback. `TUSPORT__METRICS__TOKEN` keeps it out of the file.' }),
  })
  .prefault({})
  .meta({ description: 'Prometheus metrics on a listener of their own.' });

export type MetricsConfig = z.output<typeof MetricsSchema>;
