import cliProgress from 'cli-progress';
import { describe, type Reporter } from './events.js';
import { formatBytes, formatRate } from './format.js';
import type { Output } from './reporter.js';

/**
 * A progress bar per file on a terminal (cli-progress redraws them in place). Other events are
 * logged above the bars; failures and warnings are kept until the bars are gone and then
 * written to stderr, so they neither tear the drawing nor get lost when stderr is a file.
 */
export function ttyReporter(out: Output): Reporter {
  const bars = new cliProgress.MultiBar(
    {
      stream: out.stdout,
      format: '{file} |{bar}| {percentage}% | {sent}/{total_text} | {rate} | ETA {eta_formatted} {status}',
      hideCursor: true,
      autopadding: true,
      emptyOnZero: true,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const byFile = new Map<string, cliProgress.SingleBar>();
  const diagnostics: string[] = [];
  // cli-progress merges each update's payload into the bar's: pass only what changed.
  const sizes = (bytes: number, total: number) => ({ sent: formatBytes(bytes), total_text: formatBytes(total) });
  // Bars are cut at the terminal's width: keep a long path's end, where its name is.
  const label = (file: string) => (file.length > 24 ? `...${file.slice(-21)}` : file);

  return {
    emit(event) {
      switch (event.event) {
        case 'start':
          byFile.set(event.file, bars.create(event.size, 0, { file: label(event.file), rate: '', status: '', ...sizes(0, event.size) }));
          return;
        case 'resume':
          byFile.get(event.file)?.update(event.offset, { status: `(resumed at ${formatBytes(event.offset)})`, ...sizes(event.offset, event.size) });
          return;
        case 'progress':
          byFile.get(event.file)?.update(event.bytes, { ...sizes(event.bytes, event.size), ...(event.bytesPerSecond === undefined ? {} : { rate: formatRate(event.bytesPerSecond) }) });
          return;
        case 'done':
          byFile.get(event.file)?.update(event.bytes, { status: 'done', ...sizes(event.bytes, event.bytes) });
          bars.log(`${describe(event)}\n`);
          return;
        case 'created':
          return;
        case 'error':
        case 'warning':
          if (event.event === 'error') byFile.get(event.file)?.update({ status: 'FAILED' });
          diagnostics.push(describe(event));
          return;
        default:
          bars.log(`${describe(event)}\n`);
      }
    },
    close() {
      bars.stop();
      for (const line of diagnostics) out.stderr.write(`${line}\n`);
    },
  };
}
