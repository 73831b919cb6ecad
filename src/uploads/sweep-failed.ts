/**
 * A sweep that could not list some store at all (S3 down, say) after sweeping every other one.
 * Kept free of store and @tus/server types: it is part of the public API (`app.tusport.sweep()`).
 */
export class SweepFailed extends Error {
  override name = 'SweepFailed';
  constructor(
    /** The endpoints (URL templates) whose stores could not be swept. */
    readonly failed: string[],
    /** What the sweep did everywhere else. */
    readonly result: { expired: number; leftovers: number; completed: number; skipped: number },
  ) {
    super(`the sweep could not list the store of ${failed.join(', ')} (see the log); the other endpoints were swept`);
  }
}
