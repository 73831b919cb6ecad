import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';

export const READY_PATH = '/readyz';
/** A dependency that has not answered in this long counts as down. */
const CHECK_TIMEOUT_MS = 5_000;

/** One thing the server needs to take uploads: a store, the outbox (disk or Redis). */
export interface ReadinessCheck {
  /** What it is, for the operator: `store /files`, `outbox`. */
  name: string;
  /** `disk`, `s3`, `redis`. */
  kind: string;
  /** Throws with a message saying what is wrong (logged for the operator, never sent to the prober). */
  check(): Promise<void>;
}

export interface CheckResult {
  name: string;
  kind: string;
  ok: boolean;
  error?: string;
}

/**
 * What a prober reads about a failed check. /readyz answers anyone who can reach the upload port,
 * so it names the check but keeps the cause (store paths, bucket names, Redis hosts) for the log,
 * as Kubernetes-style health endpoints commonly do.
 */
const PUBLIC_FAILURE = 'unavailable; the cause is in the server log';

/**
 * `GET /readyz`: every store and the outbox are usable right now (S3: the bucket answers HeadBucket
 * with these credentials; disk: the directory is, or can become, a writable directory; Redis:
 * PING). 200 when all are, else 503; the body lists each check, and says why a failed one failed.
 * `/healthz` stays liveness (the process answers), so an orchestrator restarts the process only
 * when it is stuck, and merely stops sending traffic while S3 or Redis is down.
 */
export function registerReadiness(app: FastifyInstance, checks: ReadinessCheck[]): void {
  // Probes that arrive while a round of checks runs share its answer (no pile-up on a slow S3).
  let running: Promise<CheckResult[]> | undefined;
  const runAll = () => (running ??= Promise.all(checks.map(runOne)).finally(() => (running = undefined)));
  // Each change of a check's state is logged once (a probe every few seconds would flood the log).
  const lastError = new Map<string, string | undefined>();
  app.get(READY_PATH, { logLevel: 'warn' }, async (_request, reply) => {
    const results = await runAll();
    for (const { name, kind, error } of results) {
      if (lastError.get(name) === error) continue;
      if (error !== undefined) app.log.warn({ check: name, kind, reason: error }, `readiness: ${name} is unavailable: ${error}`);
      else if (lastError.has(name)) app.log.info({ check: name, kind }, `readiness: ${name} is available again`);
      lastError.set(name, error);
    }
    const ready = results.every((result) => result.ok);
    const answer = results.map(({ name, kind, ok }) => (ok ? { name, kind, ok } : { name, kind, ok, error: PUBLIC_FAILURE }));
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unready', checks: answer });
  });
}

async function runOne({ name, kind, check }: ReadinessCheck): Promise<CheckResult> {
  const timeout = new AbortController();
  try {
    await Promise.race([
      check(),
      sleep(CHECK_TIMEOUT_MS, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`);
      }),
    ]);
    return { name, kind, ok: true };
  } catch (error) {
    return { name, kind, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    timeout.abort();
  }
}
