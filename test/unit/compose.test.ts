import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { envPairs, parseDockerfile } from '../helpers/dockerfile.js';

/**
 * examples/compose without a Docker engine (none runs here): the file parses, everything it
 * mounts or builds from exists, and tusport's config loads with the environment compose would
 * give it (.env.example as .env) through tusport's own validation. The containers are not run.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = path.join(ROOT, 'examples/compose');

interface Service {
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
}
const compose = YAML.parse(readFileSync(path.join(DIR, 'compose.yaml'), 'utf8'), { uniqueKeys: true }) as { services: Record<string, Service> };
const dotenv = Object.fromEntries(
  readFileSync(path.join(DIR, '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^\w+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

/** Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` (an unset or empty VAR is an error). */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string) => {
    const set = env[name] !== undefined && env[name] !== '';
    if (set) return env[name]!;
    if (op === '-') return arg;
    throw new Error(`compose would stop: ${name} ${op === '?' ? arg : 'is not set'}`);
  });
}

/** A filled-in .env: the example's values, with the credentials it leaves empty made up. */
const filledEnv = { ...dotenv, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example-secret' };
const tusport = compose.services.tusport!;
const environment = Object.fromEntries(Object.entries(tusport.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), filledEnv)]));

describe('examples/compose', () => {
  it('has tusport, nginx and redis; nginx shares tusport network namespace and waits for its HEALTHCHECK', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['nginx', 'redis', 'tusport']);
    expect(compose.services.nginx!.network_mode).toBe('service:tusport');
    expect(compose.services.nginx!.depends_on?.tusport?.condition).toBe('service_healthy');
  });

  it('builds from the repository Dockerfile and mounts only files that exist', () => {
    const build = tusport.build!;
    expect(existsSync(path.join(DIR, build.context, build.dockerfile))).toBe(true);
    expect(existsSync(path.join(DIR, build.context, '.dockerignore'))).toBe(true);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) expect(existsSync(path.join(DIR, source)), `${name}: ${volume}`).toBe(true);
      }
    }
  });

  it('every variable compose requires is in .env.example, which is all compose needs besides the credentials', () => {
    const required = [...JSON.stringify(compose).matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!);
    for (const name of required) expect(Object.keys(dotenv), name).toContain(name);
    expect(() => Object.values(tusport.environment ?? {}).map((value) => interpolate(String(value), dotenv))).toThrow(/AWS_ACCESS_KEY_ID/);
  });

  it("tusport's config loads with compose's environment: S3 from the environment, Redis outbox, nginx trusted", () => {
    const dockerfile = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).at(-1)!;
    const imageEnv = Object.assign({}, ...dockerfile.instructions.filter((i) => i.keyword === 'ENV').map((i) => envPairs(i.args))) as Record<string, string>;
    const mount = (tusport.volumes ?? []).find((volume) => volume.startsWith('./tusport.yaml:'))!;
    expect(mount.split(':')[1]).toBe(imageEnv.TUSPORT_CONFIG);

    const config = loadConfig({ file: path.join(DIR, 'tusport.yaml'), env: { ...imageEnv, ...environment } });
    const store = config.endpoints[0]!.store;
    expect(store).toMatchObject({ type: 's3', bucket: dotenv.S3_BUCKET, region: dotenv.S3_REGION, endpoint: dotenv.S3_ENDPOINT, forcePathStyle: true });
    expect(config.outbox).toMatchObject({ type: 'redis', url: 'redis://redis:6379/0' });
    expect(config.endpoints[0]!.hooks[0]).toMatchObject({ type: 'http', url: dotenv.HOOK_URL });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 1080, trustProxy: ['127.0.0.1'] });
  });

  it('nginx/tusport.conf, mounted unchanged, proxies to where tusport listens and lets its largest chunk through', () => {
    const mount = compose.services.nginx!.volumes!.find((volume) => volume.includes('tusport.conf'))!;
    expect(mount.split(':')[1]).toBe('/etc/nginx/conf.d/default.conf');
    const conf = readFileSync(path.join(DIR, mount.split(':')[0]!), 'utf8');
    expect(conf).toContain(`server ${environment.TUSPORT_HOST}:${environment.TUSPORT_PORT};`);
    const listen = /^\s*listen (\d+);/m.exec(conf)?.[1];
    expect(tusport.ports).toContain(`8080:${listen}`);
    const bodyLimit = /client_max_body_size (\d+)m;/.exec(conf)?.[1];
    const config = loadConfig({ file: path.join(DIR, 'tusport.yaml'), env: environment });
    expect(Number(bodyLimit) * 1024 * 1024).toBeGreaterThanOrEqual(config.endpoints[0]!.maxChunkSize!);
  });
});
