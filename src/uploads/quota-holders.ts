import type { StorageBackend, UnfinishedUpload } from '../stores/backend.js';
import { completionStep } from './completion.js';

/**
 * The uploads that hold a place in their owner's quota, listed from the store (quota counts are
 * rebuilt and reconciled from these): every unfinished upload and, on an endpoint with `claim`,
 * every finished upload still waiting for its claim. Those occupy storage the owner has not yet
 * accepted, so they count until a claim takes them (or the sweep removes them past `claim.ttl`);
 * otherwise a client could fill the store with finished, never-claimed uploads under any quota.
 * On a claim endpoint this lists the finished uploads too (S3: one GET per sidecar).
 */
export async function* quotaHolders(backend: StorageBackend, claims: boolean): AsyncIterable<UnfinishedUpload> {
  yield* backend.unfinished();
  if (!claims) return;
  for await (const { sidecar } of backend.finishedBefore(Number.POSITIVE_INFINITY)) {
    if (completionStep(sidecar) === 'unclaimed') yield { sidecar, offset: sidecar.size ?? 0 };
  }
}
