import { z } from 'zod';
import { byteSize, duration } from '../../config/units-schema.js';

/**
 * An endpoint's `direct` key: browsers upload straight to the S3 bucket with URLs tusport signs
 * (the routes `@uppy/aws-s3` calls in its Companion mode). `true` takes the defaults.
 */
const DirectOptionsSchema = z.strictObject({
  urlLifetime: duration()
    .default(15 * 60_000)
    .meta({ description: 'How long a signed URL (a presigned POST, a part upload URL) stays valid (default 15 minutes). A finished POST upload\'s staging key and marker are cleared by the first sweep after its form expired (see direct-to-s3.md).' }),
  partSize: byteSize()
    .optional()
    .meta({
      description:
        'Part size tusport advises clients to use for multipart uploads (`partSize` in the answer to `POST s3/multipart`); defaults to the store\'s `partSize`. Uppy picks its own (`getChunkSize`).',
    }),
});

// `true` is the defaults and `false` none; an object is checked key by key, so a bad option is
// reported at its own path (`endpoints[0].direct.urlLifetime`), which a union would hide.
export const DirectSchema = z
  .preprocess(
    (value) => (value === true ? {} : value === false ? undefined : value),
    DirectOptionsSchema.optional(),
  )
  .meta({
    description:
      'Direct-to-S3 uploads (S3 stores only): serve the signing routes of `@uppy/aws-s3` (Companion mode) under the endpoint\'s URL, so bytes go from the browser to the bucket while tusport authenticates, names the key, checks and records the upload. `true` or `{ urlLifetime, partSize }`. See [direct-to-s3.md](direct-to-s3.md).',
  });

export type DirectConfig = NonNullable<z.output<typeof DirectSchema>>;

/** Direct uploads need an S3 store: the issue for `ctx`, or undefined. */
export function directProblem(direct: DirectConfig | undefined, storeType: string): string | undefined {
  if (direct && storeType !== 's3') return `needs an S3 store (store.type: s3); this endpoint stores on ${storeType}`;
  return undefined;
}
