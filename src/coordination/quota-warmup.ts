import createError from '@fastify/error';

export const QuotaWarmupErrors = {
  REBUILDING: createError('TUSPORT_ERR_QUOTA_REBUILDING', 'Quota counts are being rebuilt from the store (after a start, or Redis had none); retry in a few seconds', 503),
};

/**
 * How long a quota-checked request waits for counts still being rebuilt before it is answered
 * 503 `TUSPORT_ERR_QUOTA_REBUILDING`. Well under `server.idleTimeout` (60 s by default): a request
 * that waited for a whole rebuild of 10,000 S3 uploads (105 s) had its connection cut with no answer.
 */
export const REQUEST_WAIT_MS = 10_000;
/** What the 503 tells a client to wait before it tries again. */
const RETRY_AFTER_SECONDS = 5;

/** The 503 of counts not known yet, with Retry-After (the error answer sends an error's `headers`). */
export function stillRebuilding(): Error {
  return Object.assign(new QuotaWarmupErrors.REBUILDING(), { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}

/** Wait for `counts` (a rebuild in progress) at most `waitMs`; then the 503 (the rebuild goes on). */
export async function waitForCounts(counts: Promise<void>, waitMs = REQUEST_WAIT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(stillRebuilding()), waitMs);
  });
  try {
    await Promise.race([counts, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What /readyz logs while an endpoint's counts are not known yet. */
export function notCountedYet(endpoint: string, counted: number, failure?: unknown): Error {
  if (failure !== undefined) return new Error(`the quota counts of ${endpoint} could not be rebuilt from the store (${(failure as Error).message}); retrying`);
  return new Error(`the quota counts of ${endpoint} are being rebuilt from the store (${counted} unfinished uploads counted so far)`);
}
