import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { killAll, run as runCli, start, until } from '../helpers/cli.js';
import { copyFiles } from '../helpers/checkout.js';
import { dockerContext, envPairs, execForm, parseDockerfile, type Stage } from '../helpers/dockerfile.js';
import { idOf, sha256, sha256File } from '../helpers/files.js';
import { createUpload, patch } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

/**
 * The Dockerfile, replayed without a Docker engine (none runs on this machine): each stage gets
 * its own directory standing for its filesystem root, the COPY lines copy from the build context
 * (.dockerignore applied) or from the earlier stage, the RUN lines run for real with image paths
 * mapped into that directory, and the final stage's CMD runs as an unprivileged user (nobody,
 * standing for the image's `node`) with the image's ENV and WORKDIR. What this does NOT check: the
 * base image itself (its Node is this test's Node, its libc the host's), BuildKit cache mounts,
 * and Docker's own handling of VOLUME, EXPOSE and HEALTHCHECK timing.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);
const UNPRIVILEGED = { user: 'nobody', uid: 65534, gid: 65534 };
const AS_USER = ['setpriv', `--reuid=${UNPRIVILEGED.uid}`, `--regid=${UNPRIVILEGED.gid}`, '--clear-groups'];
const MiB = 1024 * 1024;

/**
 * Every RUN line the test knows how to replay. A new RUN line in the Dockerfile fails the test
 * until it is added here (RUN lines run as root on this machine: nothing runs unread).
 */
const REPLAYABLE_RUNS = new Set([
  'npm ci --no-audit --no-fund',
  'npm pack --pack-destination /tmp && tar -xzf /tmp/tusport-*.tgz -C /build',
  'npm ci --omit=dev --no-audit --no-fund',
  'mkdir -p /data && chown node:node /data',
]);

interface Image {
  /** Directory standing for the final stage's `/`. */
  root: string;
  env: Record<string, string>;
  workdir: string;
  user: string;
  volumes: string[];
  expose: string[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: { flags: Record<string, string>; cmd: string[] };
  stopSignal: string;
}

/** An absolute path inside the image, as a path on this machine. */
const inImage = (root: string, imagePath: string) => path.join(root, imagePath);
/** Absolute paths in a command line, mapped into the stage's root. */
const mapPaths = (root: string, text: string) => text.replace(/(^|\s)(\/[^\s]*)/g, (_, space: string, p: string) => `${space}${inImage(root, p)}`);

async function replayStage(stage: Stage, root: string, earlier: Map<string, string>, context: string[]): Promise<Image> {
  for (const dir of ['/tmp', '/etc']) await mkdir(inImage(root, dir), { recursive: true });
  await chmod(inImage(root, '/tmp'), 0o1777);
  const image: Image = { root, env: {}, workdir: '/', user: 'root', volumes: [], expose: [], entrypoint: [], cmd: [], healthcheck: { flags: {}, cmd: [] }, stopSignal: 'SIGTERM' };
  for (const { keyword, flags, args, line } of stage.instructions) {
    const cwd = inImage(root, image.workdir);
    switch (keyword) {
      case 'WORKDIR':
        image.workdir = path.posix.resolve(image.workdir, args);
        await mkdir(inImage(root, image.workdir), { recursive: true });
        break;
      case 'ENV':
        Object.assign(image.env, envPairs(args));
        break;
      case 'COPY': {
        const parts = args.split(/\s+/);
        const dest = path.posix.resolve(image.workdir, parts.pop()!);
        const toDir = args.trimEnd().endsWith('/') || parts.length > 1 || parts[0] === '.';
        for (const source of parts) {
          if (flags.from) {
            const from = earlier.get(flags.from);
            if (!from) throw new Error(`Dockerfile line ${line}: no earlier stage ${flags.from}`);
            await cp(inImage(from, source), inImage(root, dest), { recursive: true });
          } else if (source === '.') {
            await copyFiles(ROOT, context, inImage(root, dest));
          } else {
            const files = context.filter((file) => file === source || file.startsWith(`${source.replace(/\/$/, '')}/`));
            if (files.length === 0) throw new Error(`Dockerfile line ${line}: COPY ${source}: not in the build context (.dockerignore?)`);
            for (const file of files) {
              const target = toDir ? path.posix.join(dest, file === source ? path.posix.basename(file) : path.posix.relative(path.posix.dirname(source), file)) : dest;
              await cp(path.join(ROOT, file), inImage(root, target), { recursive: true });
            }
          }
        }
        break;
      }
      case 'RUN': {
        if (!REPLAYABLE_RUNS.has(args)) throw new Error(`Dockerfile line ${line}: RUN ${args}\nThe container test does not know this RUN line: teach it (REPLAYABLE_RUNS)`);
        if (/^npm ci\b/.test(args) && !args.includes('--omit=dev')) {
          // The build stage's full install (dev dependencies, for tsc): the checkout's own
          // node_modules stands in for it; installing them again would cost minutes.
          await symlink(path.join(ROOT, 'node_modules'), path.join(cwd, 'node_modules'));
          break;
        }
        const command = mapPaths(root, args)
          .replace(/\bchown node:node\b/g, `chown ${UNPRIVILEGED.uid}:${UNPRIVILEGED.gid}`)
          // From the local npm cache when it has the packages (the registry otherwise).
          .replace(/^npm ci\b/, 'npm ci --prefer-offline');
        await exec('sh', ['-c', command], { cwd, env: { ...process.env, ...image.env }, maxBuffer: 64 * MiB });
        break;
      }
      case 'USER':
        image.user = args;
        break;
      case 'VOLUME':
        image.volumes.push(...(args.startsWith('[') ? execForm(args, line) : args.split(/\s+/)));
        break;
      case 'EXPOSE':
        image.expose.push(...args.split(/\s+/));
        break;
      case 'HEALTHCHECK':
        image.healthcheck = { flags, cmd: execForm(args.replace(/^CMD\s+/, ''), line) };
        break;
      case 'STOPSIGNAL':
        image.stopSignal = args;
        break;
      case 'ENTRYPOINT':
        image.entrypoint = execForm(args, line);
        break;
      case 'CMD':
        image.cmd = execForm(args, line);
        break;
      default:
        throw new Error(`Dockerfile line ${line}: the container test does not replay ${keyword}`);
    }
  }
  return image;
}

/** An exec-form command of the image as an argv here: `node` is this test's node, paths mapped. */
function asHost(image: Image, argv: string[]): string[] {
  return argv.map((arg, i) => (i === 0 && arg === 'node' ? process.execPath : arg.startsWith('/') ? inImage(image.root, arg) : arg));
}

function imageEnv(image: Image, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { HOME: '/nonexistent' };
  for (const [key, value] of Object.entries(image.env)) env[key] = value.startsWith('/') ? inImage(image.root, value) : value;
  return { ...env, ...overrides };
}

let scratch: Awaited<ReturnType<typeof tempDir>>;
let image: Image;
let stages: Stage[];

beforeAll(async () => {
  stages = parseDockerfile(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  scratch = await tempDir('tusport-image-');
  // mkdtemp makes the directory 0700: the unprivileged user must reach the image's files.
  await chmod(scratch.dir, 0o755);
  const context = dockerContext(ROOT);
  const built = new Map<string, string>();
  for (const [index, stage] of stages.entries()) {
    const root = path.join(scratch.dir, `stage-${index}`);
    await mkdir(root, { mode: 0o755 });
    image = await replayStage(stage, root, built, context);
    built.set(stage.name ?? String(index), root);
  }
}, 900_000);
afterEach(killAll);
afterAll(async () => {
  await killAll();
  await scratch?.remove();
});

/** `docker run IMAGE [args]`: ENTRYPOINT + (args or CMD), as the unprivileged user. */
const entrypoint = () => [...AS_USER, ...asHost(image, image.entrypoint)];

/** Start the image's CMD as the unprivileged user on a free loopback port (`docker run -e`). */
async function run() {
  const port = await freePort();
  // `docker run -e TUSPORT_HOST=127.0.0.1 -e TUSPORT_PORT=...`: loopback and a free port on this
  // shared machine instead of the image's 0.0.0.0:1080.
  const env = imageEnv(image, { TUSPORT_HOST: '127.0.0.1', TUSPORT_PORT: String(port) });
  const server = await start(asHost(image, image.cmd), inImage(image.root, image.workdir), env, entrypoint());
  const healthcheck = async () => {
    const [program, ...args] = [...AS_USER, ...asHost(image, image.healthcheck.cmd)];
    return exec(program!, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }).then(
      () => 0,
      (error: { code?: number }) => error.code ?? -1,
    );
  };
  return { server, port, healthcheck };
}

describe('the Dockerfile, replayed without Docker', () => {
  it('builds a runtime stage from Node LTS slim holding the npm package and production dependencies only', async () => {
    const final = stages.at(-1)!;
    expect(final.image).toMatch(/^node:(22|24)-slim$/);
    const manifest = JSON.parse(await readFile(inImage(image.root, '/app/package.json'), 'utf8')) as { files: string[]; devDependencies: Record<string, string> };
    // `files` entries starting with ! are exclusions (source maps), not files the package holds.
    const included = manifest.files.filter((entry) => !entry.startsWith('!'));
    for (const entry of included) expect(await stat(inImage(image.root, path.posix.join('/app', entry))).catch(() => undefined), entry).toBeDefined();
    const distFiles = (await readdir(inImage(image.root, '/app/dist'), { recursive: true })).map(String);
    expect(distFiles.filter((file) => file.endsWith('.js')).length).toBeGreaterThan(10);
    expect(distFiles.filter((file) => file.endsWith('.map'))).toEqual([]);
    expect((await readdir(inImage(image.root, '/app'))).sort()).toEqual([...new Set([...included.map((entry) => entry.split('/')[0]!), 'node_modules', 'package-lock.json', 'package.json'])].sort());
    for (const dev of Object.keys(manifest.devDependencies)) {
      expect(await stat(inImage(image.root, `/app/node_modules/${dev}`)).catch(() => undefined), `dev dependency ${dev}`).toBeUndefined();
    }
    expect(await stat(inImage(image.root, '/app/dist/cli/index.js'))).toBeDefined();
  });

  it('declares a non-root USER, the /data VOLUME it writes to, and one EXPOSEd port that TUSPORT_PORT and the HEALTHCHECK use', async () => {
    expect(image.user).not.toMatch(/^(root|0)(:|$)/);
    expect(image.volumes).toEqual(['/data']);
    expect(image.workdir).toBe('/data');
    expect(image.expose).toEqual([image.env.TUSPORT_PORT]);
    expect(image.healthcheck.cmd.join(' ')).toContain('/healthz');
    expect(image.stopSignal).toBe('SIGTERM');
    // The default config's stores and outbox are relative, so they land in the volume.
    const config = YAML.parse(await readFile(inImage(image.root, image.env.TUSPORT_CONFIG!), 'utf8')) as { endpoints: { store: { directory: string } }[]; outbox: { directory: string } };
    for (const dir of [...config.endpoints.map((e) => e.store.directory), config.outbox.directory]) {
      expect(path.posix.resolve(image.workdir, dir).startsWith('/data/'), dir).toBe(true);
    }
  });

  it('`docker run IMAGE --version` runs the CLI through the ENTRYPOINT, as the unprivileged user', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version'], inImage(image.root, image.workdir), imageEnv(image, {}), 30_000, entrypoint());
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });

  it("runs ENTRYPOINT + CMD as an unprivileged user: a tus-js-client upload lands byte-identical in /data, /app stays read-only, HEALTHCHECK's command exits 0", async () => {
    const { server, healthcheck } = await run();
    const data = randomBytes(3 * MiB + 17);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: MiB, metadata: { filename: 'in-a-container.bin' } });
    const id = idOf(url);
    const stored = inImage(image.root, `/data/files/${id}`);
    expect(await sha256File(stored)).toBe(sha256(data));
    expect((await stat(stored)).uid).toBe(UNPRIVILEGED.uid);
    expect(await healthcheck()).toBe(0);

    const probe = await exec(AS_USER[0]!, [...AS_USER.slice(1), process.execPath, '-e', `require('node:fs').writeFileSync(${JSON.stringify(inImage(image.root, '/app/probe'))}, 'x')`]).then(
      () => 'written',
      (error: { stderr: string }) => error.stderr,
    );
    expect(probe).toContain('EACCES');
  });

  it('STOPSIGNAL lets an in-flight PATCH finish, then exits 0; HEALTHCHECK fails once it is down', async () => {
    const { server, healthcheck } = await run();
    const first = randomBytes(MiB);
    const second = randomBytes(MiB);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': first.length + second.length });
    const stored = inImage(image.root, `/data${uploadPath}`);
    const body = new PassThrough();
    const answer = patch(server.url, uploadPath, 0, body);
    body.write(first);
    await until(async () => ((await stat(stored).catch(() => undefined))?.size ?? 0) >= first.length, 'the first half on disk');

    server.child.kill(image.stopSignal as NodeJS.Signals);
    await server.waitForLog(`${image.stopSignal}: shutting down`);
    body.end(second);
    const response = await answer;
    expect(response.status).toBe(204);
    expect(response.headers['upload-offset']).toBe(String(first.length + second.length));
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(await sha256File(stored)).toBe(sha256(Buffer.concat([first, second])));
    expect(await healthcheck()).toBe(1);
  });
});

