import type { S3 } from '@aws-sdk/client-s3';
import { isS3NotFound } from './errors.js';
import { partKey } from './info.js';

/** One committed part of a multipart upload, as CompleteMultipartUpload needs it. */
export interface PartRecord {
  PartNumber: number;
  ETag: string;
  Size: number;
}

/** The `<key>.part` object: bytes smaller than minPartSize and the upload offset they start at. */
export interface TailRecord {
  size: number;
  start: number;
}

/**
 * What S3 holds of an unfinished upload. The offset is `partBytes + tail.size`: the committed
 * parts (numbered 1..partCount without gaps) and, after them, the tail.
 */
export interface UploadState {
  partCount: number;
  partBytes: number;
  /** The tail, when its bytes follow the parts. */
  tail: TailRecord | undefined;
  /** A `<key>.part` object exists whose bytes the parts already hold (a writer died before deleting it). */
  staleTail: boolean;
  /** The parts themselves when at hand (the S3 read lists them all; the Redis cache loads them on demand). */
  parts?: PartRecord[];
}

/** Metadata of `<key>.part` that says at which upload offset its bytes start. */
export const TAIL_START_METADATA = 'tail-start';

export function offsetOf(state: UploadState): number {
  return state.partBytes + (state.tail?.size ?? 0);
}

/**
 * Whether the `.part` object found next to the parts is the tail or debris. A writer deletes the
 * old tail only once the part holding its bytes is committed, so after a crash both may exist:
 * when the parts already reach past the tail's start, its bytes are in them and it is stale. A tail
 * written before tusport recorded its start (no metadata) was always deleted before its part was
 * uploaded, so one that exists still counts.
 */
export function judgeTail(found: { size: number; start: number | undefined } | undefined, partBytes: number): Pick<UploadState, 'tail' | 'staleTail'> {
  if (!found) return { tail: undefined, staleTail: false };
  const start = found.start ?? partBytes;
  if (start === partBytes) return { tail: { size: found.size, start }, staleTail: false };
  // start < partBytes: its bytes are committed. start > partBytes cannot come from a writer that
  // commits parts in order before it writes a tail; its bytes could not be placed, so it is not counted.
  return { tail: undefined, staleTail: true };
}

/**
 * The committed parts, paged. Only the run 1, 2, 3, ... without a gap counts: a part after a gap
 * (left by an older writer that uploaded parts concurrently and failed on an earlier one) holds
 * bytes that do not follow the others; the next write overwrites it.
 */
export async function listCommittedParts(client: S3, bucket: string, key: string, multipartId: string | undefined): Promise<PartRecord[]> {
  const listed: PartRecord[] = [];
  let marker: string | undefined;
  do {
    const page = await client.listParts({ Bucket: bucket, Key: key, UploadId: multipartId, PartNumberMarker: marker });
    for (const part of page.Parts ?? []) {
      if (part.PartNumber !== undefined && part.ETag !== undefined) listed.push({ PartNumber: part.PartNumber, ETag: part.ETag, Size: part.Size ?? 0 });
    }
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  listed.sort((a, b) => a.PartNumber - b.PartNumber);
  const run: PartRecord[] = [];
  for (const part of listed) {
    if (part.PartNumber !== run.length + 1) break;
    run.push(part);
  }
  return run;
}

/** HEAD `<key>.part`: its size and recorded start, or undefined when there is none. */
export async function headTail(client: S3, bucket: string, key: string): Promise<{ size: number; start: number | undefined } | undefined> {
  try {
    const head = await client.headObject({ Bucket: bucket, Key: partKey(key) });
    const recorded = Number(head.Metadata?.[TAIL_START_METADATA]);
    return { size: head.ContentLength ?? 0, start: Number.isSafeInteger(recorded) && recorded >= 0 ? recorded : undefined };
  } catch (error) {
    if (isS3NotFound(error)) return undefined;
    throw error;
  }
}

/** The state as S3 has it (throws NoSuchUpload when the multipart upload is gone). */
export async function readUploadState(client: S3, bucket: string, key: string, multipartId: string | undefined): Promise<UploadState> {
  const parts = await listCommittedParts(client, bucket, key, multipartId);
  const partBytes = parts.reduce((sum, part) => sum + part.Size, 0);
  const found = await headTail(client, bucket, key);
  return { partCount: parts.length, partBytes, parts, ...judgeTail(found, partBytes) };
}
