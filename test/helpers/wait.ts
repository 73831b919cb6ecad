import { setTimeout as sleep } from 'node:timers/promises';

/** Poll until `check` holds (servers and browsers work asynchronously). */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * `promise`, or a clear failure if it has not settled after `ms` (instead of a hang until the test
 * timeout). A guard against waiting forever, never a claim about speed: give it plenty of room.
 */
export async function within<T>(ms: number, promise: Promise<T>, what = 'an answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
