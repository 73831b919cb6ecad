import { describe, isDiagnostic, type Reporter, type UploadEvent } from './events.js';
import { ttyReporter } from './reporter-tty.js';

export interface Output {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Plain lines for logs and pipes: events on stdout, failures and warnings on stderr. */
function plainReporter(out: Output): Reporter {
  return {
    emit: (event) => (isDiagnostic(event) ? out.stderr : out.stdout).write(`${describe(event)}\n`),
    close: () => undefined,
  };
}

/** `--json`: every event as one JSON object per line on stdout; failures also in words on stderr. */
function jsonReporter(out: Output): Reporter {
  return {
    emit(event) {
      out.stdout.write(`${JSON.stringify(event)}\n`);
      if (isDiagnostic(event)) out.stderr.write(`${describe(event)}\n`);
    },
    close: () => undefined,
  };
}

/**
 * At most one progress event per file per `intervalMs`: a log should not grow by a line per
 * 64 KiB written. Every other event passes at once.
 */
function throttleProgress(inner: Reporter, intervalMs: number): Reporter {
  const last = new Map<string, number>();
  return {
    emit(event: UploadEvent) {
      if (event.event === 'progress') {
        const now = Date.now();
        if (now - (last.get(event.file) ?? Number.NEGATIVE_INFINITY) < intervalMs) return;
        last.set(event.file, now);
      }
      inner.emit(event);
    },
    close: () => inner.close(),
  };
}

/** Bars on a terminal, plain lines when stdout is a file or a pipe, JSON lines when asked. */
export function createReporter(json: boolean, out: Output = { stdout: process.stdout, stderr: process.stderr }): Reporter {
  if (json) return throttleProgress(jsonReporter(out), 1000);
  if (out.stdout.isTTY) return ttyReporter(out);
  return throttleProgress(plainReporter(out), 1000);
}
