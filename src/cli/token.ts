import type { Command } from 'commander';
import { signUploadToken } from '../auth/signed-token.js';
import { parseByteSize, parseDuration } from '../config/units.js';

interface TokenOptions {
  secret?: string;
  secretEnv?: string;
  sub: string;
  endpoint: string;
  param: string[];
  maxSize?: string;
  accept: string[];
  expiresIn: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `tusport token`: mint a signed upload token (for scripts and for trying out `auth.type: signed`). */
export function registerTokenCommand(program: Command): Command {
  const command = program
    .command('token')
    .description('Print a short-lived upload token for an endpoint whose auth.type is "signed".')
    .option('--secret <secret>', 'the endpoint\'s auth.secret (visible to other local users in the process list; prefer --secret-env)')
    .option('--secret-env <name>', 'read the secret from this environment variable')
    .requiredOption('--sub <id>', 'principal id the uploads will belong to')
    .requiredOption('--endpoint <template>', 'the endpoint\'s URL template, e.g. /users/{username}/uploads')
    .option('--param <name=value>', 'value of a template param (repeat for each)', collect, [])
    .option('--max-size <size>', 'largest upload the token allows, e.g. 100MB')
    .option('--accept <pattern>', 'allowed file type, e.g. image/* or .pdf (repeatable, or comma-separated)', collect, [])
    .option('--expires-in <duration>', 'lifetime, e.g. 90s, 15m, 2h', '15m');

  command.action((options: TokenOptions) => {
    const fail = (message: string): never => command.error(`tusport token: ${message}`, { exitCode: 2, code: 'tusport.token' });
    if ((options.secret === undefined) === (options.secretEnv === undefined)) fail('give exactly one of --secret and --secret-env');
    const secret = options.secretEnv !== undefined ? process.env[options.secretEnv] : options.secret;
    if (!secret) fail(`environment variable ${options.secretEnv} is not set`);
    const params: Record<string, string> = {};
    for (const pair of options.param) {
      const eq = pair.indexOf('=');
      if (eq <= 0) fail(`--param ${JSON.stringify(pair)}: expected name=value`);
      params[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const maxSize = options.maxSize === undefined ? undefined : parseByteSize(options.maxSize);
    if (options.maxSize !== undefined && maxSize === undefined) fail(`--max-size ${JSON.stringify(options.maxSize)}: expected a byte size such as 100MB`);
    const expiresIn = parseDuration(options.expiresIn);
    if (expiresIn === undefined || expiresIn < 1000) fail(`--expires-in ${JSON.stringify(options.expiresIn)}: expected a duration of at least 1s, such as 15m`);
    const accept = options.accept.flatMap((entry) => entry.split(',')).map((entry) => entry.trim()).filter(Boolean);
    let token = '';
    try {
      token = signUploadToken({ secret: secret ?? '', principal: options.sub, endpoint: options.endpoint, params, maxSize, accept, expiresIn });
    } catch (error) {
      fail((error as Error).message);
    }
    const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
    write(`${token}\n`);
  });
  return command;
}
