/**
 * A counting semaphore: at most `size` part uploads in flight across all uploads of an endpoint
 * (each holds a part's worth of bytes on its way out).
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Resolves with the function that gives the slot back. */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter, or give it back.
      if (next) next();
      else this.free += 1;
    };
  }
}
