import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDebianPackages } from './debian.js';
import { freePort, waitForPort } from './ports.js';

const NGINX = '/usr/sbin/nginx';
/** The site config tusport ships; the harness runs this file, not a copy of its directives. */
export const SHIPPED_CONF = new URL('../../nginx/tusport.conf', import.meta.url);

export interface NginxOptions {
  /**
   * tusport's port on 127.0.0.1 (replaces the shipped upstream address), or the ports of several
   * instances: one `server` line each, in the shipped upstream block (nginx's default round-robin).
   */
  upstreamPort: number | readonly number[];
  /** Replaces the shipped `client_max_body_size` (nginx syntax: `1m`, `512k`). */
  clientMaxBodySize?: string;
  /**
   * Also terminate TLS: the shipped commented TLS block is uncommented, with a self-signed
   * certificate for 127.0.0.1 made by openssl in the temp dir.
   */
  tls?: boolean;
}

export interface RunningNginx {
  /** `http://127.0.0.1:<port>`: the shipped `listen 80`. */
  url: string;
  /** `https://127.0.0.1:<port>`: the shipped `listen 443 ssl`, when `tls` was asked for. */
  httpsUrl?: string;
  /** PEM of the self-signed certificate, for a client's `ca` (when `tls`). */
  ca?: string;
  /** The nginx process; `stop()` waits until it has exited. */
  pid: number;
  /** What nginx wrote to its error log so far. */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Replace `search` in `text`, which must occur exactly once: a changed shipped file fails loudly. */
function replaceOnce(text: string, search: string | RegExp, replacement: string): string {
  const pattern = typeof search === 'string' ? new RegExp(search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : new RegExp(search.source, 'g');
  const count = text.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`nginx harness: expected exactly one ${String(search)} in nginx/tusport.conf, found ${count}`);
  return text.replace(pattern, () => replacement);
}

/**
 * The shipped site config made runnable on loopback. The only changes, each of a line that must
 * exist exactly once:
 * - `server 127.0.0.1:1080;` (upstream) -> tusport's port (or one such line per port of a fleet);
 * - `listen 80;` -> `listen 127.0.0.1:<httpPort>;`
 * - `client_max_body_size 64m;` -> the given size, if any;
 * - with TLS, the commented `# listen 443 ssl;` / `# ssl_*` lines are uncommented, the listen on
 *   `127.0.0.1:<httpsPort>` and the certificate paths pointing into the temp dir.
 * Everything else (buffering, timeouts, forwarded headers, header buffers) runs as shipped.
 */
export function renderSiteConfig(
  shipped: string,
  options: NginxOptions & { httpPort: number; httpsPort?: number; certFile?: string; keyFile?: string },
): string {
  const upstreams = (typeof options.upstreamPort === 'number' ? [options.upstreamPort] : options.upstreamPort).map((port) => `server 127.0.0.1:${port};`);
  let conf = replaceOnce(shipped, 'server 127.0.0.1:1080;', upstreams.join('\n    '));
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${options.httpPort};`);
  if (options.clientMaxBodySize !== undefined) {
    conf = replaceOnce(conf, 'client_max_body_size 64m;', `client_max_body_size ${options.clientMaxBodySize};`);
  }
  if (options.tls) {
    if (!options.httpsPort || !options.certFile || !options.keyFile) throw new Error('nginx harness: TLS needs a port and a certificate');
    conf = replaceOnce(conf, '# listen 443 ssl;', `listen 127.0.0.1:${options.httpsPort} ssl;`);
    conf = replaceOnce(conf, /# ssl_certificate +\S+;/, `ssl_certificate     ${options.certFile};`);
    conf = replaceOnce(conf, /# ssl_certificate_key +\S+;/, `ssl_certificate_key ${options.keyFile};`);
    conf = conf.replace(/^(\s*)# (ssl_\w+ )/gm, '$1$2');
    if (/^\s*# ssl_/m.test(conf)) throw new Error('nginx harness: a commented ssl_ line was left in the TLS block');
  }
  return conf;
}

/**
 * The main context around the site config, for an unprivileged-looking instance in `dir`: in
 * the foreground (`daemon off`) and as a single process (`master_process off`), so the process
 * the harness spawned is the only one to stop; every path nginx writes (pid, logs, temp dirs)
 * inside `dir`.
 */
function mainConfig(dir: string): string {
  const at = (name: string) => path.join(dir, name);
  return [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${at('nginx.pid')};`,
    `error_log ${at('error.log')} info;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${at('access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${at(`${kind}_temp`)};`),
    `    include ${at('tusport.conf')};`,
    '}',
    '',
  ].join('\n');
}

/** A self-signed certificate for 127.0.0.1 (IP SAN, so Node's hostname check passes). */
function selfSignedCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile };
}

export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start Debian's nginx with the shipped site config in front of tusport; resolves once it listens. */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  ensureDebianPackages({ [NGINX]: 'nginx-light' });
  const dir = await mkdtemp(path.join(tmpdir(), 'tusport-nginx-'));
  const httpPort = await freePort();
  const httpsPort = options.tls ? await freePort() : undefined;
  const cert = options.tls ? selfSignedCert(dir) : undefined;
  const shipped = await readFile(SHIPPED_CONF, 'utf8');
  await writeFile(path.join(dir, 'tusport.conf'), renderSiteConfig(shipped, { ...options, httpPort, httpsPort, ...cert }));
  await writeFile(path.join(dir, 'nginx.conf'), mainConfig(dir));

  const child: ChildProcess = spawn(NGINX, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Should the test process die without afterAll, do not leave nginx behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const errorLog = () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // fast shutdown: open connections are closed
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const ready = Promise.all([waitForPort(httpPort, 30_000, 'nginx'), httpsPort ? waitForPort(httpsPort, 30_000, 'nginx (TLS)') : undefined]);
  const failed = exited.then(async () => {
    throw new Error(`nginx exited at startup: ${stderr}${await errorLog()}`);
  });
  // Whichever loses the race must not surface later as an unhandled rejection.
  ready.catch(() => {});
  failed.catch(() => {});
  try {
    await Promise.race([ready, failed]);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined || !processRunning(child.pid)) throw new Error('nginx is not running');

  return {
    url: `http://127.0.0.1:${httpPort}`,
    ...(httpsPort ? { httpsUrl: `https://127.0.0.1:${httpsPort}` } : {}),
    ...(cert ? { ca: await readFile(cert.certFile, 'utf8') } : {}),
    pid: child.pid,
    errorLog,
    stop,
  };
}

