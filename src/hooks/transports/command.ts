import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { HookCallError } from '../errors.js';
import { parseHookResponse } from '../response.js';
import { hookEnvironment, type HookTransport } from './transport.js';

export interface CommandTransportOptions {
  /** Program and arguments; never passed through a shell. */
  command: readonly string[];
  timeoutMs: number;
}

const MAX_STDOUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 4096;

/**
 * Run an executable per event, as tusd's file hooks do: the JSON on stdin, `TUS_ID`,
 * `TUS_SIZE`, `TUS_OFFSET` and `TUS_EVENT` in the environment; exit 0 with JSON (or nothing) on
 * stdout is the answer, anything else a hook error. Upload data only ever reaches the program as
 * stdin and environment values, never as a command line a shell would interpret. The program
 * runs in its own process group, and the whole group is killed when the time is up.
 */
export function commandTransport(options: CommandTransportOptions): HookTransport {
  const [program, ...args] = options.command;
  if (!program) throw new Error('command hook without a program');
  return {
    label: `command:${path.basename(program)}`,
    invoke(call) {
      return new Promise((resolve, reject) => {
        const child = spawn(program, args, {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { ...process.env, ...hookEnvironment(call.request) },
          shell: false,
          detached: true,
        });
        let stdout = '';
        let stdoutBytes = 0;
        let stderr = '';
        let failure: HookCallError | undefined;
        const stop = (error: HookCallError) => {
          failure ??= error;
          killGroup(child);
          // A descendant that left the group may still hold stdout open; stop waiting for it.
          setTimeout(() => {
            child.stdout.destroy();
            child.stderr.destroy();
          }, 1000).unref();
        };
        const timer = setTimeout(() => stop(new HookCallError('timeout', `timed out after ${options.timeoutMs} ms (killed)`)), options.timeoutMs);
        const onAbort = () => stop(new HookCallError('unreachable', 'cancelled: tusport is shutting down'));
        call.signal?.addEventListener('abort', onAbort, { once: true });

        child.stdout.setEncoding('utf8').on('data', (text: string) => {
          stdoutBytes += Buffer.byteLength(text);
          if (stdoutBytes > MAX_STDOUT_BYTES) stop(new HookCallError('invalid', `printed more than ${MAX_STDOUT_BYTES} bytes`));
          else stdout += text;
        });
        child.stderr.setEncoding('utf8').on('data', (text: string) => {
          if (stderr.length < MAX_STDERR_BYTES) stderr += text.slice(0, MAX_STDERR_BYTES - stderr.length);
        });
        // A program that does not read its stdin closes it early: that is its business.
        child.stdin.on('error', () => {});
        child.stdin.end(call.body);

        child.once('error', (error: NodeJS.ErrnoException) => {
          failure ??= new HookCallError('unreachable', `could not be started (${error.code ?? error.message})`);
        });
        child.once('close', (code, signal) => {
          clearTimeout(timer);
          call.signal?.removeEventListener('abort', onAbort);
          const detail = stderr.trim() || undefined;
          if (failure) return reject(new HookCallError(failure.kind, failure.message, failure.retryable, detail));
          if (code !== 0) {
            return reject(new HookCallError('exit', signal ? `was killed by ${signal}` : `exited with code ${code}`, false, detail));
          }
          try {
            resolve(parseHookResponse(stdout));
          } catch (error) {
            reject(error instanceof HookCallError ? new HookCallError(error.kind, error.message, false, detail) : error);
          }
        });
      });
    },
  };
}

/** SIGKILL the program and everything it started (a shell script's children too). */
function killGroup(child: ChildProcess): void {
  // The group outlives its leader while a descendant is still running: kill it even then.
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
