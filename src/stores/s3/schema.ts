import { z } from 'zod';
import { byteSize, duration } from '../../config/units-schema.js';
import { sharedAcrossParamsKey } from '../shared-location.js';

const MiB = 1024 * 1024;

const CredentialsSchema = z
  .strictObject({
    accessKeyId: z.string().min(1).meta({ description: 'Access key id.' }),
    secretAccessKey: z.string().min(1).meta({ description: 'Secret access key (never logged).' }),
    sessionToken: z.string().optional().meta({ description: 'Session token for temporary credentials.' }),
  })
  .meta({
    description:
      'Static credentials. When unset, the standard AWS chain is used (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles, ...).',
  });

export const S3StoreSchema = z.strictObject({
  type: z.literal('s3').meta({ description: 'Store uploads as S3 objects (AWS S3 or an S3-compatible server such as Ceph RGW or MinIO).' }),
  bucket: z.string({ error: 'expected a bucket name' }).min(1).meta({ description: 'Bucket the uploads go to (must exist).' }),
  region: z.string().default('us-east-1').meta({ description: 'Region of the bucket.' }),
  endpoint: z
    .url({ error: 'expected an http(s) URL such as "http://127.0.0.1:7480"' })
    .optional()
    .meta({ description: 'Custom S3 endpoint (S3-compatible servers). Implies path-style addressing unless `forcePathStyle` says otherwise.' }),
  forcePathStyle: z.boolean().optional().meta({ description: 'Path-style URLs (`endpoint/bucket/key`). Defaults to true with a custom `endpoint`, false otherwise.' }),
  credentials: CredentialsSchema.optional(),
  prefix: z
    .string()
    .default('')
    .meta({ description: "Key prefix for this endpoint's objects; may use the URL template's params (`'{username}/'`). Upload ids stay one opaque URL segment." }),
  sharedAcrossParams: sharedAcrossParamsKey(),
  partSize: byteSize()
    .default(8 * MiB)
    .meta({ description: 'Preferred multipart part size. Each upload in progress buffers up to one part in the OS temp dir.' }),
  minPartSize: byteSize()
    .default(5 * MiB)
    .meta({ description: 'Smallest part the server accepts (5 MiB on AWS); a smaller tail waits in a `<key>.part` object until more bytes arrive.' }),
  maxConcurrentPartUploads: z.int().min(1).default(16).meta({ description: 'Part uploads in flight at once, across all uploads of this endpoint.' }),
  checksums: z
    .enum(['when_required', 'when_supported'])
    .default('when_required')
    .meta({
      description:
        'AWS SDK request checksum calculation and response validation. `when_required` works with S3-compatible servers (with the SDK default, every part upload to Ceph RGW fails); `when_supported` adds CRC checksums on AWS.',
    }),
  connectTimeout: duration().default(5000).meta({ description: 'Give up connecting to S3 after this long (the client then gets 503).' }),
  requestTimeout: duration().default(30_000).meta({ description: 'Give up on an S3 request whose socket is idle this long.' }),
  maxAttempts: z.int().min(1).max(10).default(3).meta({ description: 'Attempts per S3 request (the SDK retries throttling and network errors with backoff).' }),
});

export type S3StoreConfig = z.output<typeof S3StoreSchema>;
