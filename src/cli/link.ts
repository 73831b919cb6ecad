import type { Command } from 'commander';
import type { ResolvedConfig } from '../config/schema.js';
import { parseDuration } from '../config/units.js';
import { signDownloadLink } from '../files/links.js';

interface LinkOptions {
  expires: string;
  config?: string;
  secret?: string;
  secretEnv?: string;
  stripPrefix?: string;
  download?: boolean;
}

/**
 * `tusport link <upload-url>`: print a signed download link (src/files/links.ts). The key is the
 * endpoint's `downloads.linkSecret`, read from the config (the endpoint whose URL template matches
 * the upload URL) or given with --secret-env; it is never printed.
 */
export function registerLinkCommand(program: Command): Command {
  const command = program
    .command('link')
    .description('Print a signed link that downloads an upload without a token until it expires (endpoint needs downloads.linkSecret).')
    .argument('<upload-url>', 'the upload URL, as its client got it in Location')
    .option('--expires <duration>', 'lifetime, e.g. 15m, 1h, 7d (at most the endpoint\'s downloads.linkMaxAge)', '1h')
    .option('-c, --config <file>', 'read the secret (and server.publicUrl\'s path prefix) from this config (env: TUSPORT_CONFIG)')
    .option('--secret-env <name>', 'read the secret from this environment variable instead')
    .option('--secret <secret>', 'the secret itself (visible to other local users in the process list; prefer --secret-env)')
    .option('--strip-prefix <path>', 'a path prefix a reverse proxy strips before tusport sees the request')
    .option('--download', 'make the link download as an attachment (adds download=1)');

  command.action(async (uploadUrl: string, options: LinkOptions) => {
    const fail = (message: string): never => command.error(`tusport link: ${message}`, { exitCode: 2, code: 'tusport.link' });
    const expiresIn = parseDuration(options.expires);
    if (expiresIn === undefined || expiresIn < 1000) fail(`--expires ${JSON.stringify(options.expires)}: expected a duration of at least 1s, such as 1h`);
    let url: URL;
    try {
      url = new URL(uploadUrl);
    } catch {
      return fail(`${JSON.stringify(uploadUrl)} is not an absolute URL`);
    }
    let secret: string | undefined;
    let stripPrefix = options.stripPrefix;
    const given = [options.secret, options.secretEnv].filter((value) => value !== undefined).length;
    if (given > 1) fail('give at most one of --secret and --secret-env');
    if (options.secretEnv !== undefined) {
      secret = process.env[options.secretEnv];
      if (!secret) fail(`environment variable ${options.secretEnv} is not set`);
    } else if (options.secret !== undefined) {
      secret = options.secret;
    } else {
      const { loadConfig } = await import('../config/load.js'); // the schemas: only when a config is read
      const config = loadConfig({ file: options.config });
      stripPrefix ??= config.server.publicUrl ? new URL(config.server.publicUrl).pathname : undefined;
      secret = secretFor(config, stripped(url.pathname, stripPrefix)) ?? fail(`no endpoint with downloads.linkSecret serves ${url.pathname}`);
    }
    if (options.download) url.searchParams.set('download', '1');
    let link = '';
    try {
      link = signDownloadLink({ url: url.toString(), secret: secret ?? '', expiresIn: expiresIn ?? 0, ...(stripPrefix ? { stripPrefix } : {}) });
    } catch (error) {
      fail((error as Error).message);
    }
    const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
    write(`${link}\n`);
  });
  return command;
}

function stripped(pathname: string, prefix: string | undefined): string {
  const trimmed = prefix?.replace(/\/+$/, '');
  return trimmed && pathname.startsWith(`${trimmed}/`) ? pathname.slice(trimmed.length) : pathname;
}

/** The linkSecret of the endpoint whose upload URLs (`<template>/<id>`) match `pathname`. */
function secretFor(config: ResolvedConfig, pathname: string): string | undefined {
  for (const endpoint of config.endpoints) {
    const pattern = endpoint.path.replace(/\/+$/, '').replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
    if (new RegExp(`^${pattern}/[A-Za-z0-9_-]+$`).test(pathname) && endpoint.downloads.linkSecret) return endpoint.downloads.linkSecret;
  }
  return undefined;
}
