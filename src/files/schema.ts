import { z } from 'zod';
import { duration } from '../config/units-schema.js';

/** Longest lifetime a presigned S3 URL may have (AWS SigV4's limit). */
export const PRESIGN_MAX_SECONDS = 7 * 24 * 3600;

export const DownloadsSchema = z
  .strictObject({
    linkSecret: z
      .string({ error: 'expected a secret string' })
      .min(32, { error: 'must be at least 32 characters' })
      .optional()
      .meta({
        description:
          'HMAC-SHA256 key of signed download links (`tusport link`, `signDownloadLink`): a GET with a valid `?expires=&sig=` downloads the upload without the endpoint\'s auth until it expires. At least 32 characters; never logged. Unset: no links.',
      }),
    linkMaxAge: duration()
      .default(7 * 24 * 3600 * 1000)
      .meta({ description: 'Longest lifetime a signed link may have; a link that expires later than this from now is refused (403 `TUSPORT_ERR_LINK_INVALID`).' }),
    presignedRedirect: z
      .boolean()
      .default(false)
      .meta({
        description:
          'S3 stores only: a valid signed link answers 302 to a presigned GetObject URL (valid for the rest of the link\'s life, at most 7 days), so the bytes go straight from the bucket to the client. Needs the bucket to be reachable by clients.',
      }),
  })
  .meta({ description: 'Downloads of finished uploads (GET with Range, ETag, conditional requests) and signed download links.' });

export const ClaimSchema = z
  .strictObject({
    ttl: duration().meta({
      description: 'How long a finished upload waits to be claimed; the cleanup sweep removes unclaimed ones older than this (counted as `expired`). Until claimed, deleted or removed, an unclaimed upload counts toward its owner\'s `policy.quota` like an unfinished one.',
    }),
    allowPath: z.boolean().default(false).meta({
      description:
        'Let a claim name the final path (`{ path }`, a relative path that may use the same placeholders as `finalize.path`) instead of the endpoint\'s `finalize.path`. Off: the endpoint\'s finalize decides.',
    }),
  })
  .meta({
    description:
      'Upload now, claim later: finished uploads stay temporary (not finalized, no post-finish) until `POST <upload URL>/claim` by the owner or an admin, or `app.tusport.claim()`, claims them.',
  });

export type DownloadsConfig = z.output<typeof DownloadsSchema>;
export type ClaimConfig = z.output<typeof ClaimSchema>;
