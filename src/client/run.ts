import type { UploadPlan } from './options.js';
import { createReporter, type Output } from './reporter.js';
import { ResumeState, stateFile } from './state.js';
import { type Outcome, type RunningUpload, uploadFile } from './upload-file.js';

/** 128 + the signal's number, as shells report a process a signal stopped. */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Upload every file of the plan, `plan.parallel` at a time, and return the exit code: 0 all
 * uploaded, 1 any failed, 130 (143 for SIGTERM) when interrupted. On the first SIGINT/SIGTERM
 * the running uploads are aborted (their resume state stays) and no new one starts; a second
 * signal exits at once.
 */
export async function runUploads(plan: UploadPlan, out: Output = { stdout: process.stdout, stderr: process.stderr }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const reporter = createReporter(plan.json, out);
  const state = new ResumeState(stateFile(env), (message) => reporter.emit({ event: 'warning', message }));
  const running = new Set<RunningUpload>();
  const outcomes: Outcome[] = [];
  let stoppedBy: NodeJS.Signals | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy) process.exit(SIGNAL_EXIT[signal] ?? 1);
    stoppedBy = signal;
    for (const upload of running) void upload.abort();
  };
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, onSignal);

  let next = 0;
  const worker = async () => {
    while (!stoppedBy && next < plan.files.length) {
      const file = plan.files[next++]!;
      const upload = uploadFile(file, plan, state, (event) => reporter.emit(event));
      running.add(upload);
      outcomes.push(await upload.finished);
      running.delete(upload);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(plan.parallel, plan.files.length) }, worker));
  } finally {
    for (const signal of Object.keys(SIGNAL_EXIT)) process.off(signal, onSignal);
    reporter.close();
  }

  const total = plan.files.length;
  const done = outcomes.filter((outcome) => outcome === 'done').length;
  const failed = outcomes.filter((outcome) => outcome === 'failed').length;
  if (failed > 0) out.stderr.write(`tusport upload: ${failed} of ${total} upload${total === 1 ? '' : 's'} failed\n`);
  if (stoppedBy) {
    const again = plan.resume ? 'run the same command again' : 'run the same command without --no-resume';
    out.stderr.write(`tusport upload: ${stoppedBy}: stopped with ${done} of ${total} uploaded; to resume, ${again} (resume state: ${state.file})\n`);
    return SIGNAL_EXIT[stoppedBy] ?? 1;
  }
  return failed > 0 ? 1 : 0;
}
