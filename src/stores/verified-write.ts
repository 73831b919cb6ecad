import type { CopyOutcome } from './stream-copy.js';
import type { WriteResult } from './backend.js';

/**
 * The answer to a verified write that does not count (see WriteLimits.verify): the offset stays
 * at `start`. A body that arrived whole was refused by its verifier; one cut short (by the limit,
 * the client, a hand-over) could not be verified at all.
 */
export function unverified(outcome: CopyOutcome, start: number): WriteResult {
  if (outcome.kind === 'complete') return { kind: 'rejected', offset: start };
  if (outcome.kind === 'interrupted') return { kind: 'interrupted', offset: start, reason: outcome.reason };
  return { kind: 'limit', offset: start };
}
