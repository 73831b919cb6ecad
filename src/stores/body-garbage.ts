import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Request bodies arrive as 64 KiB socket chunks, each its own ArrayBuffer outside the JS heap.
 * Once written they are garbage, but V8 frees them only at its next scavenge, which it starts
 * when ~32 MB of such young ArrayBuffers have piled up: every upload held ~30 MB of spent chunks
 * (glibc keeps the freed memory too), a third of tusport's peak RSS for a 1 GiB PATCH
 * (docs/BENCHMARKS.md, "Memory"). A scavenge after every SCAVENGE_EVERY bytes copied, from all
 * requests together, bounds them to that: a scavenge of tusport's young generation takes well
 * under a millisecond, and V8 would run one per 32 MB anyway.
 *
 * Node exposes the collector only with `--expose-gc`. Set at run time, that flag gives new
 * contexts a `gc` function (the main one keeps none, so nothing global appears); one throwaway
 * context hands it over. Where that fails (a runtime without it), nothing is collected early.
 *
 * Changing V8's flags is the process owner's call, not a library's: `tusport serve` opts in
 * (enableEarlyCollection); an app embedding tusport opts in the same way, or leaves V8 alone.
 */
const SCAVENGE_EVERY = 4 * 1024 * 1024;

type Collect = (options?: { type?: 'major' | 'minor' }) => void;
let collect: Collect | undefined | null = null;
let sinceScavenge = 0;
let enabled = false;

/**
 * Collect spent request-body chunks every 4 MiB copied (and let collectStartupGarbage run). Sets
 * V8's `--expose-gc` for the process: called by `tusport serve`; exported for embedding apps.
 */
export function enableEarlyCollection(): void {
  enabled = true;
}

function collector(): Collect | undefined {
  if (!enabled) return undefined;
  if (collect === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const found: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
      collect = typeof found === 'function' ? (found as Collect) : undefined;
    } catch {
      collect = undefined;
    }
  }
  return collect;
}

/** Count `bytes` of request body handed to a store; scavenge once SCAVENGE_EVERY have passed. */
export function bodyBytesCopied(bytes: number): void {
  sinceScavenge += bytes;
  if (sinceScavenge < SCAVENGE_EVERY) return;
  sinceScavenge = 0;
  collector()?.({ type: 'minor' });
}

/**
 * One full collection once the server is up: loading tusport's modules leaves ~5 MB of garbage in
 * the old generation and grows the young one to its maximum (16 MB of touched memory), and with
 * no traffic V8 has no reason to collect either (its idle-time memory reducer works by
 * incremental marking, which the launcher turns off).
 */
export function collectStartupGarbage(): void {
  const gc = collector();
  if (!gc) return;
  gc();
  // V8 shrinks the young generation after a scavenge that finds the allocation rate low, which it
  // averages over the last seconds: 6 s after start-up (1 s was too soon here) the young
  // generation went from 16 MB to 1 MB of touched memory, idle RSS from ~96 to ~88 MB.
  setTimeout(() => gc({ type: 'minor' }), 6000).unref();
}
