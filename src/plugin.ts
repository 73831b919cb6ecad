import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { createTusportCore } from './plugin/core.js';
import { mountTusport } from './plugin/mount.js';
import { splitRegisterOptions, type TusportPluginOptions, warnHostOwnedSettings } from './plugin/options.js';

export type { TusportPluginOptions } from './plugin/options.js';
export { type AppClaimOptions, type ClaimFunction, type ClaimResult, type SweepResult, StoreCheckError, type TusportControls } from './plugin/controls.js';

/**
 * tusport as a Fastify plugin:
 *
 *     await app.register(tusport, { prefix: '/uploads', endpoints: [...] });
 *
 * Encapsulated: its CORS, content-type parsers, error handler and (under a prefix) not-found
 * handler apply to its own routes; the host's routes keep the host's. Only `app.tusport` (sweep,
 * store check) is exposed to the host, which is why the outer function is wrapped with
 * fastify-plugin and the routes live in a child context it registers. Its hooks' outbox and the
 * store sweep start on the host's `onReady` and stop on its `onClose`. Register it several
 * times (different prefixes) for several configs; nothing is shared between them.
 */
async function tusport(host: FastifyInstance, options: TusportPluginOptions): Promise<void> {
  const { config, prefix, logLevel } = splitRegisterOptions(options);
  warnHostOwnedSettings(config, host.log);
  mountTusport(host, createTusportCore(config, host.log), { prefix, logLevel, ownsServer: false });
}

export const tusportPlugin: FastifyPluginAsync<TusportPluginOptions> = fp(tusport, { fastify: '5.x', name: 'tusport' });
