import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/index.js';
import { BIN, until } from '../helpers/cli.js';
import { filesEndpoint, tempDir } from '../helpers/server.js';

/**
 * `tusport upload` on a real terminal: tmux gives it a pseudo-terminal 60 columns wide and keeps
 * the screen, which `capture-pane -J` reads back with wrapped rows joined (a row cut off by the
 * terminal stays cut off). The server is a real tusport whose PATCHes past the first chunks are
 * held, so Ctrl-C lands mid-upload.
 */

const COLUMNS = 60;
const CHUNK = 64 * 1024;

let scratch: Awaited<ReturnType<typeof tempDir>>;
let cleanups: (() => Promise<void> | void)[] = [];
beforeEach(async () => {
  scratch = await tempDir('tusport-tty-');
});
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  await scratch.remove();
});

/** A tusport that answers PATCHes at or past `from` only when the client goes away. */
async function startHolding(from: number) {
  const app = buildApp(filesEndpoint(scratch.dir), { logger: pino({ level: 'silent' }) });
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => (markHeld = resolve));
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'PATCH' || Number(request.headers['upload-offset']) < from) return;
    markHeld();
    await new Promise((resolve) => request.raw.socket.once('close', resolve));
    return reply.code(503).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  // The held request's socket is half-open once the client has exited (its body unread, the FIN
  // unseen): close it rather than wait for the idle timeout.
  cleanups.push(() => {
    app.server.closeAllConnections();
    return app.close();
  });
  const address = app.server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, held };
}

/** A tmux server of this test's own (its own socket), running `command` in a pane. */
function startTmux(command: string) {
  const socket = `tusport-tty-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  tmux('new-session', '-d', '-s', 'up', '-x', String(COLUMNS), '-y', '20', command);
  cleanups.push(() => {
    tmux('kill-server');
  });
  return {
    screen: () => tmux('capture-pane', '-p', '-J', '-t', 'up', '-S', '-200'),
    interrupt: () => tmux('send-keys', '-t', 'up', 'C-c'),
  };
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

describe('tusport upload on a terminal', () => {
  // The "interrupted" line used to be written while cli-progress had the terminal's line wrap
  // off, so the upload URL in it was cut at the terminal's width.
  it('Ctrl-C mid-upload prints the whole upload URL, however narrow the terminal', async () => {
    const server = await startHolding(2 * CHUNK);
    const file = 'a-file-with-a-rather-long-name.bin';
    await writeFile(path.join(scratch.dir, file), randomBytes(6 * CHUNK));
    const state = path.join(scratch.dir, 'state.json');
    const command = [
      `cd ${quote(scratch.dir)} &&`,
      `env -u NODE_OPTIONS TUSPORT_CLIENT_STATE=${quote(state)}`,
      quote(process.execPath),
      quote(BIN),
      `upload ${file} --endpoint ${server.url}/files --chunk-size ${CHUNK};`,
      'echo tusport-exit=$?; sleep 600',
    ].join(' ');
    const pane = startTmux(`bash -c ${quote(command)}`);

    await server.held;
    pane.interrupt();
    await until(() => pane.screen().includes('tusport-exit='), 'tusport upload to exit', 20_000);

    const screen = pane.screen();
    expect(screen).toContain('tusport-exit=130');
    const url = Object.values(JSON.parse(await readFile(state, 'utf8')) as Record<string, { uploadUrl: string }>)[0]?.uploadUrl ?? '';
    expect(url).toMatch(new RegExp(`^${server.url}/files/[0-9a-f]{44}$`));
    const line = `interrupted ${file}: ${2 * CHUNK} of ${6 * CHUNK} bytes acknowledged, ${url}`;
    expect(line.length).toBeGreaterThan(COLUMNS);
    expect(screen).toContain(line);
  });
});
