/**
 * tusport as a library: `buildApp(config)` returns a Fastify instance serving the configured
 * tus endpoints (call `.listen()` on it, or `.register()` it into your own app's lifecycle).
 */
export { buildApp, type BuildOptions } from './app.js';
export { ConfigError, loadConfig, resolveConfig } from './config/load.js';
export type { EndpointConfig, EndpointConfigInput, ResolvedConfig, TusportConfig } from './config/schema.js';
export { Errors, type TusportErrorCode } from './errors.js';
export type { FinishedUpload, UploadDoneHandler } from './hooks/types.js';
export type { Sidecar, SidecarTusport } from './stores/sidecar.js';
