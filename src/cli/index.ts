import { Command, CommanderError } from 'commander';
// Only light modules are imported here: `serve` and `cleanup` load the server (schemas, stores,
// the AWS SDK) when they run, so `tusport upload`, `files`, `token` and `--help` start quickly.
import { ConfigError, ENV_PREFIX } from '../config/errors.js';
import { StoreCheckError } from '../plugin/store-check-error.js';
import { ListenError } from './listen-error.js';
import { registerTokenCommand } from './token.js';
import { registerLinkCommand } from './link.js';
import { registerCleanupCommand } from './cleanup.js';
import { registerUploadCommand } from './upload.js';
import { registerFilesCommand } from './files.js';
import { packageVersion } from './version.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('tusport')
    .description('A tus.io resumable-upload server.')
    .version(packageVersion(), '-V, --version', 'print the version of tusport and exit')
    .exitOverride()
    .showHelpAfterError()
    // `tusport --help` is what people read first: point at serve's options and the env scheme,
    // which otherwise only `tusport serve --help` mentions.
    .addHelpText(
      'after',
      `\nStart with: tusport serve [--config <file>] [--host <host>] [--port <port>] (see tusport serve --help).\n` +
        `Config keys can also be set from the environment: TUSPORT_CONFIG, TUSPORT_HOST, TUSPORT_PORT,\n` +
        `or any key as ${ENV_PREFIX}<KEY>__<KEY>=value, e.g. ${ENV_PREFIX}SERVER__LOGLEVEL=debug.`,
    );

  program
    .command('serve')
    .description('Serve the tus endpoints of a config file (default: /files on http://127.0.0.1:1080, stored in ./data/files).')
    .option('-c, --config <file>', 'YAML or JSON config file (env: TUSPORT_CONFIG)')
    .option('-H, --host <host>', 'address to listen on (env: TUSPORT_HOST; default 127.0.0.1)')
    .option('-p, --port <port>', 'port to listen on, 0 for any free one (env: TUSPORT_PORT; default 1080)')
    .option('--demo', 'serve the Uppy demo page at / (default: on without a config file, else off; config key demo)')
    .option('--no-demo', 'do not serve the demo page')
    .option('--no-check', 'skip the startup check that each store is usable (S3: the bucket is reachable with the configured credentials)')
    .option('--log-format <format>', 'log lines as json (default) or pretty (human-readable); config key server.logFormat')
    .addHelpText(
      'after',
      `\nAny other config key can be set from the environment: ${ENV_PREFIX}<KEY>__<KEY>=value,\n` +
        `e.g. ${ENV_PREFIX}SERVER__LOGLEVEL=debug or ${ENV_PREFIX}ENDPOINTS__0__MAXSIZE=1GB (values may be JSON).`,
    )
    .action(async (options: { config?: string; host?: string; port?: string; demo?: boolean; check?: boolean; logFormat?: string }) => {
      const { serve } = await import('./serve.js');
      await serve(options);
    });

  registerTokenCommand(program);
  registerLinkCommand(program);
  registerCleanupCommand(program);
  registerUploadCommand(program);
  registerFilesCommand(program);

  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    process.exitCode = 2;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof ConfigError || error instanceof StoreCheckError) {
      process.stderr.write(`tusport: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof ListenError) {
      process.stderr.write(`tusport: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
