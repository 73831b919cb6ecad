import type { S3 } from '@aws-sdk/client-s3';

/** UploadPartCopy copies at most 5 GiB into one part. */
const MAX_COPY_PART_BYTES = 5 * 1024 ** 3;
/** Parts copied or uploaded at once for one final upload. */
const CONCURRENT_PARTS = 4;

/** A byte range [start, end) of a source object. */
interface Piece {
  key: string;
  start: number;
  end: number;
}

/** One part of the final multipart upload: copied inside S3, or (small pieces) read and uploaded. */
type PartPlan = { copy: Piece } | { upload: Piece[] };

export interface ConcatSource {
  key: string;
  size: number;
}

/**
 * Plan the final upload's parts from its sources, honouring S3's rule that every part but the
 * last is at least `minPartSize` (5 MiB on AWS):
 *
 * - a source (or what is left of one) of at least minPartSize is copied inside S3 with
 *   UploadPartCopy, split into parts of at most 5 GiB; the bytes never reach tusport;
 * - smaller sources are gathered with their neighbours into one part that tusport reads (ranged
 *   GetObject) and uploads: a run of small sources, topped up from the head of the next source to
 *   exactly minPartSize, after which the rest of that source is copied again. The last part may
 *   be of any size. So at most about minPartSize per gathered part passes through tusport, and
 *   only when partial uploads are smaller than minPartSize (tus-js-client splits a file evenly:
 *   a file under 4 × 5 MiB with `parallelUploads: 4`).
 */
export function planParts(sources: readonly ConcatSource[], minPartSize: number): PartPlan[] {
  const nonEmpty = sources.filter((source) => source.size > 0);
  const plans: PartPlan[] = [];
  let gathered: Piece[] = [];
  let gatheredBytes = 0;
  const gather = (piece: Piece) => {
    gathered.push(piece);
    gatheredBytes += piece.end - piece.start;
    if (gatheredBytes < minPartSize) return;
    plans.push({ upload: gathered });
    gathered = [];
    gatheredBytes = 0;
  };
  nonEmpty.forEach(({ key, size }, index) => {
    const last = index === nonEmpty.length - 1;
    let start = 0;
    if (gatheredBytes > 0) {
      start = Math.min(size, minPartSize - gatheredBytes);
      gather({ key, start: 0, end: start });
    }
    while (start < size) {
      const end = Math.min(size, start + MAX_COPY_PART_BYTES);
      // A piece too small to be a part of its own (and not the very end) joins the next part.
      if (end - start < minPartSize && !last) {
        gather({ key, start, end });
      } else {
        plans.push({ copy: { key, start, end } });
      }
      start = end;
    }
  });
  if (gathered.length > 0) plans.push({ upload: gathered });
  return plans;
}

/**
 * Fill the open multipart upload `multipartId` at `key` with `sources` in order and complete it.
 * On failure the multipart upload is left open: the caller removes the refused final upload
 * (which aborts it).
 */
export async function concatenateObjects(client: S3, bucket: string, key: string, multipartId: string, sources: readonly ConcatSource[], minPartSize: number): Promise<void> {
  const plans = planParts(sources, minPartSize);
  const etags: string[] = new Array<string>(plans.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < plans.length; index = next++) {
      const plan = plans[index]!;
      const part = { Bucket: bucket, Key: key, UploadId: multipartId, PartNumber: index + 1 };
      if ('copy' in plan) {
        const { copy } = plan;
        const result = await client.uploadPartCopy({ ...part, CopySource: copySource(bucket, copy.key), CopySourceRange: `bytes=${copy.start}-${copy.end - 1}` });
        etags[index] = result.CopyPartResult?.ETag ?? '';
      } else {
        const body = Buffer.concat(await Promise.all(plan.upload.map((piece) => readPiece(client, bucket, piece))));
        const result = await client.uploadPart({ ...part, Body: body, ContentLength: body.length });
        etags[index] = result.ETag ?? '';
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_PARTS, plans.length) }, worker));
  if (plans.length === 0) return;
  await client.completeMultipartUpload({
    Bucket: bucket,
    Key: key,
    UploadId: multipartId,
    MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
  });
}

async function readPiece(client: S3, bucket: string, piece: Piece): Promise<Buffer> {
  const response = await client.getObject({ Bucket: bucket, Key: piece.key, Range: `bytes=${piece.start}-${piece.end - 1}` });
  const bytes = await response.Body?.transformToByteArray();
  if (!bytes || bytes.length !== piece.end - piece.start) throw new Error(`S3 returned ${bytes?.length ?? 0} bytes of ${piece.key} for ${piece.end - piece.start} asked`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** CopySource as S3 wants it: `bucket/key`, the key URL-encoded but for its slashes. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}
