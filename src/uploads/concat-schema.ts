import { z } from 'zod';

/** The endpoint's `concatenation` key (tus `Upload-Concat`: parallel uploads; src/uploads/concat.ts). */
export const ConcatenationSchema = z
  .strictObject({
    keepPartials: z.boolean().default(false).meta({
      description:
        'Keep the partial uploads once a final upload made of them is complete (they can then be reused in another final upload, and expire like unfinished uploads). By default they are removed.',
    }),
  })
  .prefault({})
  .meta({ description: 'Concatenation (`Upload-Concat`, what parallel uploads in tus-js-client and Uppy use).' });
