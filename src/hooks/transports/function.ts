import { HookCallError } from '../errors.js';
import type { HookEventName, HookRequest } from '../events.js';
import { validateHookResponse } from '../response.js';
import type { HookFunction } from '../types.js';
import { type HookTransport, withTimeout } from './transport.js';

/**
 * Library hooks: one async function per event. Each call gets its own parsed copy of the JSON a
 * tusd receiver would get; its return value is checked like any hook's answer.
 */
export function functionTransport(handlers: Partial<Record<HookEventName, HookFunction>>, timeoutMs: number, label: string): HookTransport {
  return {
    label,
    async invoke(call) {
      const handler = handlers[call.request.Type];
      if (!handler) return {};
      const request = JSON.parse(call.body) as HookRequest;
      let result: unknown;
      try {
        result = await withTimeout(
          Promise.resolve().then(() => handler(request)),
          timeoutMs,
          () => new HookCallError('timeout', `timed out after ${timeoutMs} ms`),
        );
      } catch (error) {
        if (error instanceof HookCallError) throw error;
        throw new HookCallError('threw', 'threw an error', false, error instanceof Error ? error.message : String(error));
      }
      return validateHookResponse(result);
    },
  };
}
