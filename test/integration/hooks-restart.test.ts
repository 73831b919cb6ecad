import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyHookSignature } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { HOOK_SECRET, type Receiver, startReceiver } from '../helpers/hooks.js';
import { killAll, start, until } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { idOf } from '../helpers/files.js';

// The built CLI (`npm run build` first), killed with SIGKILL right after an upload finished.
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const step of cleanup.splice(0).reverse()) await step();
});

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
    const first = await start(['serve', '--config', config], scratch.dir, { HOOK_SECRET });
    const { url } = await tusUpload(Buffer.from('bytes that must be announced'), { endpoint: `${first.url}/files`, chunkSize: 10 });
    first.child.kill('SIGKILL');
    await first.exited;
    const id = idOf(url);
    expect((await readdir(path.join(scratch.dir, 'outbox'))).filter((name) => name.endsWith('.json'))).toHaveLength(1);

    const receiver: Receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    await start(['serve', '--config', config], scratch.dir, { HOOK_SECRET });
    await until(() => receiver.of('post-finish').length > 0, 'the post-finish after the restart');
    const [delivered] = receiver.of('post-finish');
    expect(delivered?.json.Event.Upload).toMatchObject({ ID: id, Offset: 28, Size: 28 });
    expect(delivered?.headers['idempotency-key']).toBe(`${id}:post-finish`);
    expect(verifyHookSignature(HOOK_SECRET, delivered?.headers['tusport-signature'], delivered?.raw ?? '')).toBe(true);
    await until(async () => (await readdir(path.join(scratch.dir, 'outbox'))).filter((name) => name.endsWith('.json')).length === 0, 'the outbox to drain');
  });
});
