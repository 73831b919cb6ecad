import { formatRate, formatSeconds } from './format.js';

/**
 * Everything an upload run reports, one shape for all three outputs: `--json` prints these
 * objects as they are (one per line), plain output prints `describe(event)`, and the TTY bars
 * are driven by them. `file` is the path as given on the command line.
 */
export type UploadEvent =
  | { event: 'start'; file: string; size: number; endpoint: string }
  | { event: 'created'; file: string; url: string }
  | { event: 'resume'; file: string; url: string; offset: number; size: number }
  | { event: 'restart'; file: string; url: string; status: number }
  | { event: 'progress'; file: string; bytes: number; size: number; bytesPerSecond?: number; etaSeconds?: number }
  | { event: 'retry'; file: string; attempt: number; of: number; delayMs: number; message: string }
  | { event: 'done'; file: string; url: string; bytes: number; sha256?: string }
  | { event: 'error'; file: string; message: string; url?: string; status?: number; code?: string }
  | { event: 'interrupted'; file: string; url?: string; offset: number; size: number }
  | { event: 'warning'; message: string };

export interface Reporter {
  emit(event: UploadEvent): void;
  /** Flush and stop drawing; called once, before the run's summary goes to stderr. */
  close(): void;
}

/** Events a person must see even when stdout goes to a file: they go to stderr. */
export const isDiagnostic = (event: UploadEvent) => event.event === 'error' || event.event === 'warning';

/** The plain-text line of an event (also what the TTY output logs above its bars). */
export function describe(event: UploadEvent): string {
  switch (event.event) {
    case 'start':
      return `start ${event.file}: ${event.size} bytes to ${event.endpoint}`;
    case 'created':
      return `created ${event.file}: ${event.url}`;
    case 'resume':
      return `resume ${event.file}: from offset ${event.offset} of ${event.size} bytes, ${event.url}`;
    case 'restart':
      return `restart ${event.file}: the stored upload ${event.url} is gone (${event.status}), starting a new one`;
    case 'progress': {
      const percent = event.size > 0 ? Math.floor((event.bytes / event.size) * 100) : 100;
      const rate = event.bytesPerSecond === undefined ? '' : `, ${formatRate(event.bytesPerSecond)}, ETA ${formatSeconds(event.etaSeconds)}`;
      return `progress ${event.file}: ${event.bytes}/${event.size} bytes (${percent}%)${rate}`;
    }
    case 'retry':
      return `retry ${event.file}: attempt ${event.attempt} of ${event.of} in ${event.delayMs} ms after: ${event.message}`;
    case 'done':
      return `done ${event.file}: ${event.url} (${event.bytes} bytes${event.sha256 ? `, sha256 ${event.sha256}` : ''})`;
    case 'error':
      return `failed ${event.file}: ${event.message}`;
    case 'interrupted':
      return event.url
        ? `interrupted ${event.file}: ${event.offset} of ${event.size} bytes acknowledged, ${event.url}`
        : `interrupted ${event.file}: before the upload was created`;
    case 'warning':
      return `warning: ${event.message}`;
  }
}
