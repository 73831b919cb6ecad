import type { S3 } from '@aws-sdk/client-s3';
import { acquireUploadLock } from '../../uploads/lock.js';
import type { SweepOptions, SweepResult } from '../backend.js';
import type { S3Backend } from './backend.js';
import { isNoSuchUpload } from './errors.js';
import { partKey, readInfo } from './info.js';
import { PARTIAL_ID_SUFFIX } from '../../uploads/create.js';
import { mapInBatches } from '../batches.js';

/** A multipart upload without a sidecar this old (or past the endpoint's expiry) is debris from a crash, not work in progress. */
const ORPHAN_AGE_MS = 60 * 60 * 1000;

export interface OpenUpload {
  key: string;
  multipartId: string;
  initiated: Date | undefined;
}

/** Every multipart upload still open under `prefix`: exactly the unfinished uploads (and orphans). */
export async function* listOpenUploads(client: S3, bucket: string, prefix: string): AsyncGenerator<OpenUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await client.listMultipartUploads({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker });
    for (const upload of page.Uploads ?? []) {
      if (upload.Key && upload.UploadId) yield { key: upload.Key, multipartId: upload.UploadId, initiated: upload.Initiated };
    }
    const more = page.IsTruncated === true;
    keyMarker = more ? page.NextKeyMarker : undefined;
    uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
}

/**
 * The S3 sweep: unfinished uploads are open multipart uploads, so only those are looked at (a
 * bucket full of finished files costs nothing, but for one key listing when the endpoint has
 * `expire`: see `finishedPartials`). Expired ones (by their sidecar's creation date) are aborted
 * and all their objects removed under the upload's lock; multipart uploads that never got a
 * sidecar (a crash right after creating them) are aborted after an hour. Finished uploads are
 * never touched, but for partial uploads of a concatenation no final upload took in.
 */
/** Open uploads read (and swept) at once: S3 round trips in parallel, one batch held in memory. */
export const SIDECARS_AT_ONCE = 16;

export async function sweepBucket(backend: S3Backend, root: string, options: SweepOptions): Promise<SweepResult> {
  const { endpoint, log } = options;
  const result: SweepResult = { expired: 0, leftovers: 0, completed: 0, skipped: 0 };
  // Listing the bucket failing is the store failing (the caller reports it); one upload that
  // cannot be read or removed is logged and skipped, and the sweep goes on with the rest.
  // SIDECARS_AT_ONCE uploads at a time (each under its own lock): one after the other, a bucket
  // with 2,000 open uploads took two minutes to sweep on a slow RGW.
  const open = listOpenUploads(backend.client, backend.bucket, root);
  const sweepOrSkip = async (upload: OpenUpload): Promise<'expired' | 'leftovers' | 'completed' | 'skipped' | undefined> => {
    try {
      return await sweepOne(backend, upload, options);
    } catch (error) {
      log.warn({ endpoint, key: upload.key, err: error }, 'sweep skipped an upload it could not handle');
      return 'skipped';
    }
  };
  for await (const outcome of mapInBatches(open, SIDECARS_AT_ONCE, sweepOrSkip)) {
    if (outcome) result[outcome] += 1;
  }
  if (options.expireMs) {
    for await (const key of finishedPartials(backend.client, backend.bucket, root)) {
      try {
        if ((await sweepFinishedPartial(backend, key, options)) === 'expired') result.expired += 1;
      } catch (error) {
        result.skipped += 1;
        log.warn({ endpoint, key, err: error }, 'sweep skipped an upload it could not handle');
      }
    }
  }
  return result;
}

/**
 * Finished partial uploads of a concatenation that no final upload took in still expire, but are
 * no longer open multipart uploads: they are found by listing the store's keys (one LIST per
 * 1,000 keys, only when the endpoint sets `expire`) for sidecars of partial ids.
 */
async function* finishedPartials(client: S3, bucket: string, root: string): AsyncGenerator<string> {
  let token: string | undefined;
  do {
    const page = await client.listObjectsV2({ Bucket: bucket, Prefix: root, ContinuationToken: token });
    for (const object of page.Contents ?? []) {
      if (object.Key?.endsWith(`${PARTIAL_ID_SUFFIX}.info`)) yield object.Key.slice(0, -'.info'.length);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

async function sweepFinishedPartial(backend: S3Backend, key: string, options: SweepOptions): Promise<'expired' | undefined> {
  const { endpoint, expireMs, locker, log, now, onRemoved } = options;
  const info = await readInfo(backend.client, backend.bucket, key);
  const sidecar = info?.sidecar;
  if (!sidecar || !expireMs || sidecar.tusport.endpoint !== endpoint || !key.endsWith(sidecar.id)) return undefined;
  if (sidecar.tusport.concat !== 'partial' || sidecar.tusport.completed_at === undefined) return undefined;
  if (Date.parse(sidecar.creation_date) + expireMs >= now) return undefined;
  const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
  if (!lock) return undefined;
  try {
    const prefix = key.slice(0, key.length - sidecar.id.length);
    await backend.remove(prefix, { sidecar, offset: sidecar.size ?? 0, location: key });
    onRemoved?.(sidecar);
    log.info({ uploadId: sidecar.id, endpoint, key }, 'expired partial upload removed');
    return 'expired';
  } finally {
    await lock.release();
  }
}

async function sweepOne(backend: S3Backend, upload: OpenUpload, options: SweepOptions): Promise<'expired' | 'leftovers' | 'completed' | undefined> {
  const { endpoint, expireMs, locker, log, now, onRemoved } = options;
  const { client, bucket } = backend;
  const info = await readInfo(client, bucket, upload.key);
  if (!info) {
    // Past the endpoint's expiry, an upload would be removed with its sidecar anyway: without one
    // it is a removal stopped half-way (a sweeper killed between the sidecar and the abort), not
    // a creation in progress. Left for the hour, it kept a takeover sweep from ever finishing.
    const debrisAfter = expireMs ? Math.min(ORPHAN_AGE_MS, expireMs) : ORPHAN_AGE_MS;
    if (!upload.initiated || upload.initiated.getTime() + debrisAfter >= now) return undefined;
    await abort(client, bucket, upload);
    await client.deleteObject({ Bucket: bucket, Key: partKey(upload.key) });
    log.info({ key: upload.key }, 'multipart upload without a sidecar aborted');
    return 'leftovers';
  }
  const { sidecar } = info;
  // Only this endpoint's uploads, found at their own key (a sidecar names its upload).
  if (sidecar.tusport.endpoint !== endpoint || !upload.key.endsWith(sidecar.id) || info.multipartId !== upload.multipartId) return undefined;
  const prefix = upload.key.slice(0, upload.key.length - sidecar.id.length);
  // A presigned POST's multipart upload is only a marker, kept until its form expired: the direct
  // protocol finishes a file that arrived (not expire it) and clears up after a finished one.
  if (sidecar.tusport.direct === 'post' && options.noticeDirect) {
    const outcome = await options.noticeDirect(prefix, sidecar, upload.multipartId);
    if (outcome) return outcome;
  }
  if (sidecar.tusport.completed_at !== undefined) return undefined;
  if (!expireMs) return undefined;
  if (Date.parse(sidecar.creation_date) + expireMs >= now) return undefined;
  const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
  if (!lock) return undefined;
  try {
    await backend.remove(prefix, { sidecar, offset: 0, location: upload.key });
    await onRemoved?.(sidecar);
    log.info({ uploadId: sidecar.id, endpoint, key: upload.key }, 'expired unfinished upload removed');
    return 'expired';
  } finally {
    await lock.release();
  }
}

async function abort(client: S3, bucket: string, upload: OpenUpload): Promise<void> {
  await client.abortMultipartUpload({ Bucket: bucket, Key: upload.key, UploadId: upload.multipartId }).catch((error: unknown) => {
    if (!isNoSuchUpload(error)) throw error;
  });
}
