import type { SidecarTusport } from './sidecar.js';

/** What decides who may see an upload; fixed for the upload's life. */
export type Visibility = Pick<SidecarTusport, 'params' | 'owner'>;

/**
 * Who may see which upload, remembered from the sidecars this process created or read, so an
 * owner's request takes its upload's lock with no read before it. That matters: a client whose
 * PATCH dropped sends HEAD at once, and the HEAD must find the PATCH already holding the lock
 * (and ask it to let go) rather than overtake it while it reads a sidecar and report an offset
 * that is about to grow. Only ever used to say yes: a miss or a no is decided by the sidecar
 * (an id a hook chose may be reused by someone else after a delete), and the handler re-reads the
 * sidecar under the lock either way. Bounded; the least recently used entries go first.
 */
export class VisibilityCache {
  private readonly entries = new Map<string, Visibility>();

  constructor(private readonly capacity = 10_000) {}

  recall(id: string): Visibility | undefined {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.entries.set(id, entry);
    }
    return entry;
  }

  remember(id: string, tusport: SidecarTusport): void {
    this.entries.delete(id);
    this.entries.set(id, { params: tusport.params, owner: tusport.owner });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}
