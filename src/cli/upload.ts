import type { Command } from 'commander';
import type { RawUploadOptions } from '../client/options.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const EXAMPLES = `
Examples:
  tusport upload video.mp4 --endpoint http://127.0.0.1:1080/files
  tusport upload *.jpg --endpoint https://up.example.com/files --token-env UPLOAD_TOKEN --parallel 3
  tusport upload big.iso --endpoint https://up.example.com/files --chunk-size 8MiB --metadata project=demo
  tusport upload a.csv --endpoint http://127.0.0.1:1080/files --json --sha256 --retry-delays 0,1s,5s

Interrupted (Ctrl-C, a crash, a dropped network)? Run the same command again: it resumes each
file where the server left it. Resume state: TUSPORT_CLIENT_STATE, else uploads.json in the
user's config directory; an entry is keyed by endpoint and the file's path, size and mtime, so
an edited file starts over. Exit codes: 0 all uploaded, 1 an upload failed, 2 usage error,
130 interrupted by SIGINT (143 by SIGTERM).`;

/** `tusport upload`: a tus client for files on disk (the logic lives in src/client/). */
export function registerUploadCommand(program: Command): Command {
  const command = program
    .command('upload')
    .description('Upload files to a tus endpoint (any tus 1.0.0 server), resumably.')
    .argument('<file...>', 'files to upload')
    .requiredOption('-e, --endpoint <url>', 'the tus endpoint uploads are created at, e.g. http://127.0.0.1:1080/files')
    .option('-H, --header <name:value>', 'extra request header (repeatable)', collect, [])
    .option('-t, --token <token>', 'send Authorization: Bearer <token> (visible to other local users in the process list; prefer --token-env)')
    .option('--token-env <name>', 'read the bearer token from this environment variable')
    .option('--chunk-size <size>', 'largest request body, e.g. 8MiB; needed behind proxies that limit body size (default: a file in one request)')
    .option('-m, --metadata <key=value>', 'upload metadata (repeatable); filename defaults to the file\'s name, filetype to its sniffed type', collect, [])
    .option('--parallel <n>', 'how many files to upload at a time', '1')
    .option('--retries <n>', 'retries after a network error, 5xx, 409, 423 or 429 (default 4: after 0s, 1s, 3s, 5s)')
    .option('--retry-delays <list>', 'the delays between retries instead, e.g. 0,1000,3s (empty: no retries)')
    .option('--json', 'print one JSON object per event and line: start, created, resume, progress, retry, done, error, interrupted')
    .option('--sha256', 'add the SHA-256 of each uploaded file to its done line (reads the file once more)')
    .option('--no-resume', 'start every file afresh, forgetting uploads stored for it')
    .showHelpAfterError('(tusport upload --help shows every option, with examples)')
    .addHelpText('after', EXAMPLES);

  command.action(async (files: string[], options: RawUploadOptions) => {
    // Loaded here, not at the top: `tusport serve` need not load an HTTP client and a progress bar.
    const { planUpload, UsageError } = await import('../client/options.js');
    const { runUploads } = await import('../client/run.js');
    let plan;
    try {
      plan = await planUpload(files, options);
    } catch (error) {
      if (error instanceof UsageError) command.error(`tusport upload: ${error.message}`, { exitCode: 2, code: 'tusport.upload' });
      throw error;
    }
    process.exitCode = await runUploads(plan);
  });
  return command;
}
