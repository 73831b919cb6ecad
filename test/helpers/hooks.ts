import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';

/** A real hook receiver for tests: a Fastify server on loopback that records every request. */

export const HOOK_SECRET = 'hook-secret-for-tests-0123456789-abcdef';

/** tusd v2's HookRequest, field for field; `Tusport` is ours. Strict: a misspelt field fails. */
export const TusdHookRequest = z.strictObject({
  Type: z.enum(['pre-create', 'post-create', 'post-receive', 'pre-finish', 'post-finish', 'pre-terminate', 'post-terminate']),
  Event: z.strictObject({
    Upload: z.strictObject({
      ID: z.string(),
      Size: z.number().int(),
      SizeIsDeferred: z.boolean(),
      Offset: z.number().int(),
      MetaData: z.record(z.string(), z.string()),
      IsPartial: z.boolean(),
      IsFinal: z.boolean(),
      PartialUploads: z.array(z.string()).nullable(),
      Storage: z.record(z.string(), z.string()).nullable(),
    }),
    HTTPRequest: z.strictObject({
      Method: z.string(),
      URI: z.string(),
      RemoteAddr: z.string(),
      Header: z.record(z.string(), z.array(z.string())),
    }),
  }),
  Tusport: z.strictObject({
    Version: z.literal(1),
    Endpoint: z.string(),
    Params: z.record(z.string(), z.string()),
    Principal: z.strictObject({ ID: z.string(), Admin: z.boolean(), Claims: z.record(z.string(), z.unknown()) }).nullable(),
    RequestID: z.string().nullable(),
    URL: z.string().nullable(),
    FinalPath: z.string().nullable(),
  }),
});
export type TusdHookRequest = z.infer<typeof TusdHookRequest>;

export interface Received {
  type: string;
  /** The raw body as sent (what the signature covers). */
  raw: string;
  json: TusdHookRequest;
  headers: Record<string, string | string[] | undefined>;
}

export interface Answer {
  status?: number;
  body?: unknown;
  /** Answer only once this settles (to provoke timeouts: a gate the test opens when done). */
  after?: Promise<unknown>;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  of(type: string): Received[];
  /** Decide the answer per request (default: 200 `{}`). */
  answer: (request: Received) => Answer | undefined;
  close(): Promise<void>;
}

/** Start a receiver on loopback (on `port` if given: "the receiver comes back up"). */
export async function startReceiver(port = 0): Promise<Receiver> {
  const app: FastifyInstance = Fastify();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    of: (type) => receiver.received.filter((r) => r.type === type),
    answer: () => undefined,
    close: () => app.close(),
  };
  app.post('/hooks', async (request, reply) => {
    const raw = String(request.body);
    const json = TusdHookRequest.parse(JSON.parse(raw));
    const entry: Received = { type: json.Type, raw, json, headers: request.headers };
    receiver.received.push(entry);
    const answer = receiver.answer(entry) ?? {};
    if (answer.after) await answer.after;
    reply.code(answer.status ?? 200);
    if (typeof answer.body === 'string') return reply.type('text/plain').send(answer.body);
    return reply.send(answer.body ?? {});
  });
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  receiver.port = typeof address === 'object' && address ? address.port : 0;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  return receiver;
}


/** Encode tus metadata. */
export function tusMetadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',');
}

/**
 * Whether tusport ever queued a notification matching `match` for this receiver: it is still
 * waiting in the disk outbox at `outboxDir`, or the receiver has it. tusport queues a post-*
 * notification before it answers the request that caused it, so right after that answer this is
 * a complete check, with no sleep: "no post-finish fired" is `false` here. The outbox is read
 * first because a message leaves it only after the receiver has it.
 */
export async function everNotified(receiver: Receiver, outboxDir: string, match: (request: TusdHookRequest) => boolean): Promise<boolean> {
  let names: string[] = [];
  try {
    names = await readdir(outboxDir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    let text: string;
    try {
      text = await readFile(path.join(outboxDir, name), 'utf8');
    } catch (error) {
      // Delivered (and removed) since the listing: the receiver has it, checked below.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (match(TusdHookRequest.parse(JSON.parse((JSON.parse(text) as { body: string }).body)))) return true;
  }
  return receiver.received.some((entry) => match(entry.json));
}
