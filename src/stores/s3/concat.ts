import type { S3 } from '@aws-sdk/client-s3';

/** UploadPartCopy copies at most 5 GiB into one part. */
const MAX_COPY_PART_BYTES = 5 * 1024 ** 3;
/** S3 allows 10,000 parts; keep some room below it. */
const MAX_PARTS = 9000;

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
 *   UploadPartCopy, in ranges of `copyPartBytes` (a shorter tail joins the range before it; at
 *   most 5 GiB each); the bytes never reach tusport;
 * - smaller sources are gathered with their neighbours into one part that tusport reads (ranged
 *   GetObject) and uploads: a run of small sources, topped up from the head of the next source to
 *   exactly minPartSize, after which the rest of that source is copied again. The last part may
 *   be of any size. So at most about minPartSize per gathered part passes through tusport, and
 *   only when partial uploads are smaller than minPartSize (tus-js-client splits a file evenly:
 *   a file under 4 × 5 MiB with `parallelUploads: 4`).
 */
export function planParts(sources: readonly ConcatSource[], minPartSize: number, copyPartBytes = MAX_COPY_PART_BYTES): PartPlan[] {
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
  const step = Math.min(MAX_COPY_PART_BYTES, Math.max(copyPartBytes, minPartSize));
  nonEmpty.forEach(({ key, size }, index) => {
    const last = index === nonEmpty.length - 1;
    let start = 0;
    if (gatheredBytes > 0) {
      start = Math.min(size, minPartSize - gatheredBytes);
      gather({ key, start: 0, end: start });
    }
    const rest = size - start;
    if (rest === 0) return;
    // A rest too small to be a part of its own (and not the very end) joins the next part.
    if (rest < minPartSize && !last) {
      gather({ key, start, end: size });
      return;
    }
    // Copied in `step`-sized ranges (copies run in parallel); a short tail joins the range before it.
    const count = Math.max(1, Math.floor(rest / step));
    for (let n = 0; n < count; n++) {
      const end = n === count - 1 ? size : start + step;
      if (end - start <= MAX_COPY_PART_BYTES) {
        plans.push({ copy: { key, start, end } });
      } else {
        // Only when step + tail passes 5 GiB: two ranges, both at least minPartSize.
        const middle = start + Math.ceil((end - start) / 2);
        plans.push({ copy: { key, start, end: middle } }, { copy: { key, start: middle, end } });
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
export async function concatenateObjects(
  client: S3,
  bucket: string,
  key: string,
  multipartId: string,
  sources: readonly ConcatSource[],
  options: { minPartSize: number; partSize: number; concurrency: number },
): Promise<void> {
  // Copies of partSize ranges, many at once: RGW copies a range about as fast as it stores an
  // upload's part, so parallel ranges are what make the copy quick. Never more than MAX_PARTS.
  const total = sources.reduce((sum, source) => sum + source.size, 0);
  const plans = planParts(sources, options.minPartSize, Math.max(options.partSize, Math.ceil(total / MAX_PARTS)));
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
  await Promise.all(Array.from({ length: Math.min(options.concurrency, plans.length) }, worker));
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
