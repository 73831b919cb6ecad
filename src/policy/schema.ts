import { z } from 'zod';
import { byteSize } from '../config/units-schema.js';

export const PolicySchema = z.strictObject({
  accept: z
    .array(z.string().regex(/^(\.[A-Za-z0-9]{1,16}|[a-z0-9*][a-z0-9!#$&^_.+-]*\/[a-z0-9*][a-z0-9!#$&^_.+*-]*)$/i, 'expected a MIME type pattern ("image/*", "application/pdf") or an extension (".csv")'))
    .optional()
    .meta({
      description:
        'Accepted file types: MIME patterns and extensions. Checked at creation against metadata `filetype`/`filename` (415) and again when the upload finishes by sniffing the bytes (a mismatch deletes the upload; 415).',
    }),
  requiredMetadata: z.array(z.string().min(1)).default([]).meta({ description: 'Metadata keys every upload must declare at creation (400 otherwise), e.g. `["filename"]`.' }),
  maxMetadataValueSize: byteSize().default(4096).meta({ description: 'Largest single decoded metadata value (400 above it).' }),
  quota: z
    .strictObject({
      maxUnfinishedUploads: z.number().int().min(1).optional().meta({ description: 'Unfinished uploads one principal may have at once (429 above it). On a `claim` endpoint a finished upload waiting for its claim counts too, until it is claimed, deleted or swept past `claim.ttl`.' }),
      maxBytesInFlight: byteSize().optional().meta({
        description:
          'Bytes one principal\'s unfinished uploads may add up to (413 above it): each counts its Upload-Length (declared at creation or later), a deferred length the bytes received. On a `claim` endpoint finished uploads waiting for their claim count too, until claimed, deleted or swept.',
      }),
    })
    .prefault({})
    .meta({ description: 'Per-principal limits (authenticated endpoints only).' }),
});

export type PolicyConfig = z.output<typeof PolicySchema>;
