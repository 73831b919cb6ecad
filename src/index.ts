/**
 * tusport as a library. In an existing Fastify app, register the plugin (the default export):
 * `await app.register(tusport, { prefix: '/uploads', endpoints: [...] })`. Standalone,
 * `buildApp(config)` returns a Fastify instance of its own: call `.listen()` on it. (A built app is
 * not a plugin: do not `.register()` it.)
 */
import { tusportPlugin } from './plugin.js';

export default tusportPlugin;
export { tusportPlugin };
export type { AppClaimOptions, ClaimFunction, ClaimResult, SweepResult, TusportControls, TusportPluginOptions } from './plugin.js';
export { buildApp, type BuildOptions, StoreCheckError } from './app.js';
export { ConfigError, loadConfig, resolveConfig } from './config/load.js';
export type { EndpointConfig, EndpointConfigInput, ResolvedConfig, TusportConfig } from './config/schema.js';
export { Errors, type TusportErrorCode } from './errors.js';
export type { FinishedUpload, HookFunction, UploadDoneHandler } from './hooks/types.js';
export type { HookEventName, HookHttpRequest, HookRequest, HookTusportInfo, HookUpload } from './hooks/events.js';
export type { HookResponse, HookResult } from './hooks/response.js';
export type { HookConfigInput as HookConfig } from './hooks/schema.js';
export { HookErrors } from './hooks/errors.js';
export { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signHookBody, verifyHookSignature } from './hooks/sign.js';
export type { Sidecar, SidecarTusport } from './stores/sidecar.js';
export type { MetricsHandle } from './observability/metrics/handle.js';
export { AuthErrors } from './auth/errors.js';
export type { AuthConfig } from './auth/schema.js';
export { signUploadToken, verifyUploadToken, type SignUploadTokenOptions, type UploadTokenPayload } from './auth/signed-token.js';
export type { AuthorizeFunction, AuthorizeResult, Principal, SignedScope } from './auth/types.js';
export { signDownloadLink, type SignDownloadLinkOptions } from './files/links.js';
export { FileErrors } from './files/errors.js';
export { enableEarlyCollection } from './stores/body-garbage.js';
