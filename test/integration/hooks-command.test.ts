import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { TusdHookRequest, tusMetadata } from '../helpers/hooks.js';
import { until } from '../helpers/cli.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import type { HookEventName } from '../../src/index.js';

/** Small hook programs, as an operator would write them (sh, no shell interpolation of upload data by tusport). */
const SCRIPTS: Record<string, string> = {
  // Records stdin and the tusd environment; rewrites the metadata at pre-create.
  'accept.sh': `#!/bin/sh
cat > "$1/stdin-$TUS_EVENT-$$.json"
printf '%s|%s|%s|%s\\n' "$TUS_EVENT" "$TUS_ID" "$TUS_SIZE" "$TUS_OFFSET" >> "$1/env.log"
if [ "$TUS_EVENT" = pre-create ]; then echo '{"ChangeFileInfo":{"MetaData":{"seen":"by command"}}}'; fi
`,
  'reject.sh': `#!/bin/sh
cat > /dev/null
echo '{"RejectUpload":true,"HTTPResponse":{"StatusCode":418,"Body":"no tea today"}}'
`,
  'fail.sh': `#!/bin/sh
echo 'something broke' >&2
exit 3
`,
  // Never answers; records its own pid and its child's, so the test can check both were killed.
  'hang.sh': `#!/bin/sh
echo $$ > "$1/hang.pid"
sleep 30 &
echo $! > "$1/sleep.pid"
wait
`,
  'garbage.sh': `#!/bin/sh
echo 'Hello! This is not JSON.'
`,
};

let scratch: Awaited<ReturnType<typeof tempDir>>;
let server: RunningTusport;
let logs: string;

/** Running (a killed process nobody has reaped yet is a zombie: dead, just not buried). */
const alive = async (pid: number) => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) Z /.test(stat);
};

beforeAll(async () => {
  scratch = await tempDir('tusport-hook-scripts-');
  logs = scratch.dir;
  for (const [name, text] of Object.entries(SCRIPTS)) {
    await writeFile(path.join(scratch.dir, name), text);
    await chmod(path.join(scratch.dir, name), 0o755);
  }
  // Endpoint /<name> runs <name>.sh with the log directory as its argument.
  const endpoint = (dir: string, name: string, events: HookEventName[] = ['pre-create'], timeout = 2000) => ({
    path: `/${name}`,
    store: { type: 'disk' as const, directory: path.join(dir, name) },
    hooks: [{ type: 'command' as const, command: [path.join(scratch.dir, `${name}.sh`), logs], events, timeout, retryDelay: 50 }],
  });
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      endpoint(dir, 'accept', ['pre-create', 'post-create', 'pre-finish', 'post-finish']),
      endpoint(dir, 'reject'),
      endpoint(dir, 'fail'),
      endpoint(dir, 'hang', ['pre-create'], 500),
      endpoint(dir, 'garbage'),
    ],
  }));
});
afterAll(async () => {
  await server?.close();
  await scratch?.remove();
});

describe('command hooks', () => {
  it('get the tusd JSON on stdin and TUS_ID/SIZE/OFFSET/EVENT; exit 0 with JSON is the answer', async () => {
    const location = await createUpload(server.url, '/accept', { 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ filename: 'a.txt' }) });
    const id = idOf(location);
    expect((await patch(server.url, location, 0, 'hello')).status).toBe(204);
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'accept', `${id}.json`), 'utf8'));
    expect(sidecar.metadata).toEqual({ seen: 'by command' });
    await until(async () => (await readFile(path.join(logs, 'env.log'), 'utf8').catch(() => '')).includes('post-finish'), 'post-finish');
    const env = (await readFile(path.join(logs, 'env.log'), 'utf8')).trim().split('\n');
    expect(env).toEqual(expect.arrayContaining(['pre-create||5|0', `post-create|${id}|5|0`, `pre-finish|${id}|5|5`, `post-finish|${id}|5|5`]));
    const stdinFiles = (await readdir(logs)).filter((name) => name.startsWith('stdin-post-finish-'));
    const payload = TusdHookRequest.parse(JSON.parse(await readFile(path.join(logs, stdinFiles[0] ?? ''), 'utf8')));
    expect(payload.Event.Upload).toMatchObject({ ID: id, Offset: 5, Size: 5 });
  });

  it('upload data with shell metacharacters is never interpreted', async () => {
    const nasty = `$(touch ${logs}/pwned1); touch ${logs}/pwned2 \`touch ${logs}/pwned3\` | touch ${logs}/pwned4`;
    await createUpload(server.url, '/accept', { 'Upload-Length': 1, 'Upload-Metadata': tusMetadata({ filename: nasty, [`x$(touch ${logs}/pwned5)`.replace(/[ ,]/g, '')]: 'v' }) });
    const stdin = await Promise.all(
      (await readdir(logs)).filter((name) => name.startsWith('stdin-pre-create-')).map((name) => readFile(path.join(logs, name), 'utf8')),
    );
    expect(stdin.some((text) => TusdHookRequest.parse(JSON.parse(text)).Event.Upload.MetaData.filename === nasty)).toBe(true);
    for (const n of [1, 2, 3, 4, 5]) await expect(stat(path.join(logs, `pwned${n}`))).rejects.toThrow();
  });

  it('RejectUpload on stdout rejects with the hook\'s status and body', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/reject', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(response.status).toBe(418);
    expect(response.body).toBe('no tea today');
    expect(await listTree(path.join(server.dir, 'reject'))).toEqual([]);
  });

  it('a non-zero exit is a hook error (502) that names the exit code but not stderr', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/fail', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(response.status).toBe(502);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED' });
    expect(errorOf(response).message).toContain('exited with code 3');
    expect(response.body).not.toContain('something broke');
    expect(await listTree(path.join(server.dir, 'fail'))).toEqual([]);
  });

  it('printing garbage is a hook error (502)', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/garbage', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(response.status).toBe(502);
    expect(errorOf(response).message).toContain('not JSON');
  });

  it('a command that runs past its timeout is killed, with its children, and the request fails closed (503)', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/hang', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(response.status).toBe(503);
    expect(errorOf(response).message).toContain('timed out after 500 ms');
    const pids = await Promise.all(['hang.pid', 'sleep.pid'].map(async (name) => Number(await readFile(path.join(logs, name), 'utf8'))));
    for (const pid of pids) {
      expect(pid).toBeGreaterThan(1);
      await until(async () => !(await alive(pid)), `process ${pid} to be gone`, 5000);
    }
    expect(await listTree(path.join(server.dir, 'hang'))).toEqual([]);
  });
});
