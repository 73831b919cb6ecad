import createError from '@fastify/error';

export const QuotaErrors = {
  TOO_MANY_UPLOADS: createError('TUSPORT_ERR_QUOTA_UPLOADS', 'Quota reached: at most %s unfinished uploads at a time; finish or delete one first', 429),
  TOO_MANY_BYTES: createError('TUSPORT_ERR_QUOTA_BYTES', 'Quota reached: unfinished uploads may add up to %s bytes; this one would make %s', 413),
};

export interface QuotaLimits {
  maxUnfinishedUploads?: number | undefined;
  maxBytesInFlight?: number | undefined;
}

/** What one upload counts against its owner's `maxBytesInFlight`: its declared length, else the bytes it has. */
export function countedBytes(size: number | undefined, offset: number): number {
  return size ?? offset;
}

/** Where the counting happens (in this process, or shared in Redis): src/coordination/quota.ts. */
export type { QuotaTracker } from '../coordination/quota.js';
