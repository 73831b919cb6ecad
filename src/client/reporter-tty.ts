import cliProgress from 'cli-progress';
import { describe, type Reporter } from './events.js';
import { formatBytes, formatRate, formatSeconds } from './format.js';
import type { Output } from './reporter.js';

/**
 * A progress bar per file on a terminal (cli-progress redraws them in place). Other events are
 * logged above the bars; failures and warnings are kept until the bars are gone and then
 * written to stderr, so they neither tear the drawing nor get lost when stderr is a file.
 */
const WRAP_ON = '\x1b[?7h';
const WRAP_OFF = '\x1b[?7l';
const CLEAR_TO_END = '\x1b[K';

export function ttyReporter(out: Output): Reporter {
  const bars = new cliProgress.MultiBar(
    {
      stream: out.stdout,
      // Short enough for 80 columns: cli-progress cuts a bar line at the terminal's width.
      format: '{file} {bar} {percentage}% {sent}/{total_text} {rate} ETA {remaining} {status}',
      hideCursor: true,
      autopadding: true,
      emptyOnZero: true,
      barsize: 16,
      // Redraw even when unchanged: a line logged above the bars would otherwise replace the last frame.
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const byFile = new Map<string, cliProgress.SingleBar>();
  const diagnostics: string[] = [];
  // cli-progress merges each update's payload into the bar's: pass only what changed.
  const sizes = (bytes: number, total: number) => ({ sent: formatBytes(bytes), total_text: formatBytes(total) });
  // Bars are cut at the terminal's width: keep a long path's end, where its name is.
  const label = (file: string) => (file.length > 24 ? `...${file.slice(-21)}` : file);
  // cli-progress turns the terminal's line wrap off while bars are drawn (so a bar never takes
  // two rows), which cut a logged line, and the upload URL in it, at the terminal's width. A
  // logged line is written above the bars with wrap on, its last row cleared to the end (an old
  // bar frame may be there), then wrap goes off again for the bars.
  const log = (line: string) => bars.log(`${WRAP_ON}${line}${CLEAR_TO_END}\n${WRAP_OFF}`);

  return {
    emit(event) {
      switch (event.event) {
        case 'start':
          byFile.set(event.file, bars.create(event.size, 0, { file: label(event.file), rate: '', remaining: '?', status: '', ...sizes(0, event.size) }));
          return;
        case 'resume':
          byFile.get(event.file)?.update(event.offset, { status: 'resumed', ...sizes(event.offset, event.size) });
          return;
        case 'progress':
          byFile.get(event.file)?.update(event.bytes, { ...sizes(event.bytes, event.size), ...(event.bytesPerSecond === undefined ? {} : { rate: formatRate(event.bytesPerSecond), remaining: formatSeconds(event.etaSeconds) }) });
          return;
        case 'done':
          byFile.get(event.file)?.update(event.bytes, { status: 'done', remaining: '0s', ...sizes(event.bytes, event.bytes) });
          log(describe(event));
          return;
        case 'created':
          return;
        case 'error':
        case 'warning':
          if (event.event === 'error') byFile.get(event.file)?.update({ status: 'FAILED' });
          diagnostics.push(describe(event));
          return;
        default:
          log(describe(event));
      }
    },
    close() {
      // stop() draws the bars once more but does not flush lines logged since the last frame.
      bars.update();
      bars.stop();
      for (const line of diagnostics) out.stderr.write(`${line}\n`);
    },
  };
}
