import { randomBytes } from 'node:crypto';

/** The largest millisecond timestamp 12 hex digits hold (year 10889): ids stay one fixed width. */
const TIME_CEILING = 0xffff_ffff_ffff;
const TIME_DIGITS = 12;
/** A tusport id: 12 hex digits of inverted creation time, then 128 random bits. */
const SORTABLE_ID = /^[0-9a-f]{12}[0-9a-f]{32}$/;

/**
 * A new upload id: opaque and unguessable (128 random bits, as before), one URL segment, and
 * sorting newest first. Its first 12 hex digits are the creation time in milliseconds counted
 * down from a fixed ceiling, so the ascending order every store lists in (S3 ListObjectsV2 knows
 * no other; a directory's names sorted) is newest first: the files API pages through a store in
 * that order and reads only the sidecars of the page (src/files/list.ts).
 */
export function newUploadId(now = Date.now()): string {
  const inverted = (TIME_CEILING - now).toString(16).padStart(TIME_DIGITS, '0');
  return `${inverted}${randomBytes(16).toString('hex')}`;
}

/** When a tusport id was made; undefined for ids of another shape (older ids, ids a hook chose). */
export function idTime(id: string): number | undefined {
  if (!SORTABLE_ID.test(id)) return undefined;
  return TIME_CEILING - Number.parseInt(id.slice(0, TIME_DIGITS), 16);
}
