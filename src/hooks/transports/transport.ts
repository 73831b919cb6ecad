import type { HookEventName, HookRequest } from '../events.js';
import type { HookResponse } from '../response.js';

/** One invocation of one hook. */
export interface HookCall {
  request: HookRequest;
  /** The JSON body exactly as sent (and signed); `request` is its parsed form. */
  body: string;
  /** `<uploadId>:<event>` (progress events also carry their offset). */
  idempotencyKey: string;
  /** Aborted when tusport shuts down. */
  signal?: AbortSignal | undefined;
}

/** How a hook is reached: a URL, a command, or a library function. */
export interface HookTransport {
  /** What logs call the hook: never a secret (URL credentials and query values are redacted). */
  readonly label: string;
  /** Resolves with the hook's answer; rejects with a HookCallError. */
  invoke(call: HookCall): Promise<HookResponse>;
}

/** The tusd environment of a command hook, plus the event name. */
export function hookEnvironment(request: HookRequest): Record<'TUS_ID' | 'TUS_SIZE' | 'TUS_OFFSET' | 'TUS_EVENT', string> {
  const upload = request.Event.Upload;
  return { TUS_ID: upload.ID, TUS_SIZE: String(upload.Size), TUS_OFFSET: String(upload.Offset), TUS_EVENT: request.Type satisfies HookEventName };
}

/** Reject with `onTimeout()` if `work` has not settled within `ms`. */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
