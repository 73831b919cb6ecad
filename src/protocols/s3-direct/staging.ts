import type { UploadContext } from '../../endpoints/context.js';
import { POST_SUFFIX, postKey } from '../../stores/s3/info.js';
import type { Sidecar } from '../../stores/sidecar.js';
import { DirectErrors } from './errors.js';
import { guard, type OwnUpload } from './finish.js';
import type { DirectS3 } from './s3.js';

/**
 * Presigned POSTs write a staging key, never the upload's own. S3 cannot revoke a form: it takes
 * the same form again, as often as the client likes, until the form expires. Signed for `<key>`,
 * a second POST after tusport checked and finished the upload would replace the checked file. So
 * the form names `<key>.post`; completion copies what is there to `<key>` (one server-side
 * CopyObject: a POST brings at most 5 GiB, CopyObject's limit), deletes the staging key, and
 * checks and finishes `<key>`. A POST after that lands in the staging key, which nobody reads.
 *
 * The upload's marker multipart upload (what keeps an unfinished POST upload in listings, quotas
 * and the sweep's walk) stays open until the form has expired; the sweep then deletes the staging
 * key a late POST may have left and aborts the marker (`retirePost`). No bucket listing is needed.
 */
export const stagingKey = postKey;
export { POST_SUFFIX };

/**
 * Leeway past `urlLifetime` after the upload's creation before its form counts as expired: the form
 * is signed right after the creation (milliseconds), and S3 judges its expiry by S3's own clock.
 */
export const CLOCK_MARGIN_MS = 5 * 60_000;

/** When the sweep takes the upload's form to be expired (by S3 too). */
export function formExpired(sidecar: Sidecar, lifetimeMs: number, now: number): boolean {
  return Date.parse(sidecar.creation_date) + lifetimeMs + CLOCK_MARGIN_MS < now;
}

/**
 * The presigned-POST flavour of `settle` (finish.ts): the staging object, if there, is copied over
 * the upload's key and deleted; then the upload's key is checked like any direct upload's. With no
 * staging object, an object already at the key is taken (an earlier attempt copied it and stopped
 * before completion was recorded); with neither, the file has not arrived (409).
 */
export function completePost(context: UploadContext, s3: DirectS3, own: Pick<OwnUpload, 'id' | 'key'>) {
  return async (): Promise<void> => {
    const staged = stagingKey(own.key);
    const size = await guard(context, own.id, () => s3.size(staged));
    if (size !== undefined) {
      // Copy, then delete: a crash in between leaves the staging object, copied again next time.
      await guard(context, own.id, () => s3.copy(staged, own.key, size));
      await guard(context, own.id, () => s3.delete(staged));
      return;
    }
    if ((await guard(context, own.id, () => s3.size(own.key))) === undefined) throw new DirectErrors.NOT_UPLOADED();
  };
}

/** After a finished POST upload's form expired: the staging key a late POST may have left, then the marker. */
export async function retirePost(s3: DirectS3, key: string, multipartId: string): Promise<void> {
  await s3.delete(stagingKey(key));
  await s3.abort(key, multipartId);
}
