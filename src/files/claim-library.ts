import type { FastifyBaseLogger } from 'fastify';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { checkParamValue, normalizeParamValue } from '../endpoints/template.js';
import { Errors } from '../errors.js';
import { checkClaimOptions, claimUpload, lockForClaim } from './claim.js';
import { backgroundContext } from '../uploads/background-context.js';
import type { AppClaimOptions, ClaimResult } from './claim-types.js';
import { FileErrors } from './errors.js';

const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * `app.tusport.claim(endpoint, id, options)` of one tusport: the app's own form handler claims an
 * upload its user sent, with the app's authority (any owner). Throws 404
 * TUSPORT_ERR_CLAIM_ENDPOINT when this tusport has no such endpoint with `claim`.
 */
export function claimerFor(runtimes: readonly EndpointRuntime[], log: FastifyBaseLogger) {
  return async (endpoint: string, id: string, options: AppClaimOptions = {}): Promise<ClaimResult> => {
    const wanted = trimSlash(endpoint);
    const runtime = runtimes.find((candidate) => candidate.config.claim && trimSlash(candidate.template.source) === wanted);
    if (!runtime) throw new FileErrors.CLAIM_UNKNOWN_ENDPOINT(JSON.stringify(endpoint));
    if (!UPLOAD_ID.test(id)) throw new Errors.UPLOAD_NOT_FOUND();
    const params = checkedParams(runtime, options.params ?? {});
    checkClaimOptions(runtime, options);
    let place: string;
    try {
      place = runtime.store.backend.place(params);
    } catch {
      throw new FileErrors.CLAIM_INVALID('the params lead outside the store');
    }
    const context = backgroundContext(runtime, { id, tusport: { version: 1, endpoint: runtime.template.source, params, owner: null } }, place, log);
    // The app speaks for every user of the endpoint.
    context.principal = { id: options.by ?? 'app', claims: {}, admin: true };
    await runtime.store.authorize(id, context);
    const lock = await lockForClaim(runtime, id, new AbortController().signal);
    return claimUpload(runtime, context, id, options, options.by ?? null, lock);
  };
}

function checkedParams(runtime: EndpointRuntime, given: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of runtime.template.params) {
    const value = normalizeParamValue(given[name] ?? '');
    const problem = checkParamValue(value);
    if (problem) throw new FileErrors.CLAIM_INVALID(`params.${name}: ${problem}`);
    params[name] = value;
  }
  const extra = Object.keys(given).filter((name) => !runtime.template.params.includes(name));
  if (extra.length > 0) throw new FileErrors.CLAIM_INVALID(`the endpoint has no param ${extra.map((n) => `{${n}}`).join(', ')}`);
  return params;
}

const trimSlash = (template: string) => (template.length > 1 && template.endsWith('/') ? template.slice(0, -1) : template);
