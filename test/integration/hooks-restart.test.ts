import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyHookSignature } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { eventually, HOOK_SECRET, type Receiver, startReceiver } from '../helpers/hooks.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

/** The built CLI (`npm run build` first), killed with SIGKILL right after an upload finished. */
const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** `tusport serve --config <file>`; resolves with its URL once it logs that it listens. */
async function serve(config: string, cwd: string): Promise<{ child: ChildProcess; url: string; exited: Promise<unknown> }> {
  const env: NodeJS.ProcessEnv = { HOOK_SECRET };
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TUSPORT') && key !== 'NODE_OPTIONS') env[key] = value;
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('close', resolve));
  cleanup.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      const match = /tusport listening on (http:\/\/[^\s"]+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('close', (code) => reject(new Error(`tusport exited (${code}) before listening:\n${output}`)));
  });
  return { child, url, exited };
}


describe('tusport killed right after an upload finished', () => {
  it('delivers the post-finish after a restart', async () => {
    const scratch = await tempDir('tusport-hooks-restart-');
    cleanup.push(() => scratch.remove());
    const port = await freePort();
    const config = path.join(scratch.dir, 'tusport.json');
    await writeFile(
      config,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0 },
        outbox: { directory: path.join(scratch.dir, 'outbox') },
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(scratch.dir, 'files') },
            hooks: [{ type: 'http', url: `http://127.0.0.1:${port}/hooks`, secretEnv: 'HOOK_SECRET', events: ['post-finish'], retryDelay: 100, maxRetryDelay: 300 }],
          },
        ],
      }),
    );

    // The receiver is down, so nothing can be delivered before the kill.
    const first = await serve(config, scratch.dir);
    const { url } = await tusUpload(Buffer.from('bytes that must be announced'), { endpoint: `${first.url}/files`, chunkSize: 10 });
    first.child.kill('SIGKILL');
    await first.exited;
    const id = url.split('/').pop() ?? '';
    expect((await readdir(path.join(scratch.dir, 'outbox'))).filter((name) => name.endsWith('.json'))).toHaveLength(1);

    const receiver: Receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    await serve(config, scratch.dir);
    await eventually(() => receiver.of('post-finish').length > 0, 'the post-finish after the restart');
    const [delivered] = receiver.of('post-finish');
    expect(delivered?.json.Event.Upload).toMatchObject({ ID: id, Offset: 28, Size: 28 });
    expect(delivered?.headers['idempotency-key']).toBe(`${id}:post-finish`);
    expect(verifyHookSignature(HOOK_SECRET, delivered?.headers['tusport-signature'], delivered?.raw ?? '')).toBe(true);
    await eventually(async () => (await readdir(path.join(scratch.dir, 'outbox'))).filter((name) => name.endsWith('.json')).length === 0, 'the outbox to drain');
  });
});
