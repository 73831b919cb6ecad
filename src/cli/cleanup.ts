import type { Command } from 'commander';
import type { SweepResult } from '../stores/backend.js';

/**
 * `tusport cleanup`: one sweep of every endpoint's store (expired unfinished uploads, crash
 * debris) and exit, for cron jobs or for a store no server is running on. A running server
 * sweeps by itself every `server.cleanupInterval`.
 */
export function registerCleanupCommand(program: Command): Command {
  return program
    .command('cleanup')
    .description('Remove expired unfinished uploads and crash debris from every endpoint\'s store, once, then exit.')
    .option('-c, --config <file>', 'YAML or JSON config file (env: TUSPORT_CONFIG)')
    .action(async (options: { config?: string }) => {
      // Loaded here, not at the top: registering the command must not load the server.
      const [{ default: pino }, { buildApp }, { loadConfig }, { SweepFailed }] = await Promise.all([
        import('pino'),
        import('../app.js'),
        import('../config/load.js'),
        import('../uploads/sweep-failed.js'),
      ]);
      const config = loadConfig({ file: options.config });
      const app = buildApp(config, { logger: pino({ level: config.server.logLevel }, pino.destination(2)) });
      await app.ready();
      const report = (result: SweepResult) =>
        process.stdout.write(`${JSON.stringify({ expired: result.expired, leftovers: result.leftovers, completed: result.completed, skipped: result.skipped })}\n`);
      try {
        report(await app.tusport.sweep());
      } catch (error) {
        // Some store could not be listed at all: the others were swept; say what was done, exit 1.
        if (!(error instanceof SweepFailed)) throw error;
        report(error.result);
        process.stderr.write(`tusport: ${error.message}\n`);
        process.exitCode = 1;
      } finally {
        await app.close();
      }
    });
}
