import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../harness/ports.js';
import { type Exit, type Running, start } from '../../helpers/cli.js';

/**
 * A `tusport serve` config on a fixed port, written into `dir`: a `/files` endpoint stored in
 * `<dir>/store`, plus any `more` endpoints.
 */
export async function writeServeConfig(dir: string, server: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}, more: Record<string, unknown>[] = []) {
  const port = await freePort();
  const store = path.join(dir, 'store');
  const configFile = path.join(dir, 'tusport.json');
  const config = {
    server: { host: '127.0.0.1', port, logLevel: 'info', ...server },
    endpoints: [{ path: '/files', store: { type: 'disk', directory: store }, ...endpoint }, ...more],
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));
  return { port, store, configFile, url: `http://127.0.0.1:${port}`, start: (command?: readonly string[]): Promise<Running> => start(['serve', '--config', configFile], dir, {}, command) };
}

export const isAlive = (server: Running): boolean => server.child.exitCode === null && server.child.signalCode === null;

/** Send `signal` (unless it is gone already) and wait for the exit. */
export async function stop(server: Running, signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
  if (isAlive(server)) server.child.kill(signal);
  return server.exited;
}

/** The JSON (pino) lines a server process wrote to stdout so far. */
export function logLines(server: Running): Record<string, unknown>[] {
  return server.output.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Ids of the uploads a server process logged as finished, one entry per log line. */
export function finishedIds(server: Running): string[] {
  return logLines(server)
    .filter((line) => line.msg === 'upload finished')
    .map((line) => String(line.uploadId));
}

export const MiB = 1024 * 1024;
export const KiB = 1024;
