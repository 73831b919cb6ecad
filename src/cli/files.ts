import type { Command } from 'commander';

const collect = (value: string, previous: string[]) => [...previous, value];

interface AuthOptions {
  header: string[];
  token?: string;
  tokenEnv?: string;
}

const EXAMPLES = `
Examples:
  tusport files ls http://127.0.0.1:1080/files --token-env UPLOAD_TOKEN
  tusport files ls https://up.example.com/files --complete false --json
  tusport files get https://up.example.com/files 01ab... -o photo.jpg --token-env UPLOAD_TOKEN
  tusport files rm https://up.example.com/files 01ab... 02cd... --token-env UPLOAD_TOKEN

Exit codes: 0 done, 1 the server refused or failed (its error code is printed), 2 usage error.`;

/** `tusport files ls|get|rm <endpoint URL>`: the files API from a terminal (src/client/files.ts). */
export function registerFilesCommand(program: Command): Command {
  const files = program.command('files').description('List, download and delete the uploads of an endpoint (its files API).').addHelpText('after', EXAMPLES);
  const withAuth = (command: Command) =>
    command
      .option('-H, --header <name:value>', 'extra request header (repeatable)', collect, [])
      .option('-t, --token <token>', 'send Authorization: Bearer <token> (visible in the process list; prefer --token-env)')
      .option('--token-env <name>', 'read the bearer token from this environment variable');

  withAuth(files.command('ls').argument('<endpoint>', 'the endpoint URL, e.g. http://127.0.0.1:1080/files'))
    .description('List your uploads on the endpoint, newest first (an admin token: everyone\'s).')
    .option('--complete <bool>', 'only finished (true) or unfinished (false) uploads')
    .option('--page-size <n>', 'uploads asked for per request (1-1000)')
    .option('--json', 'one JSON object per upload and line')
    .action(async (endpoint: string, options: AuthOptions & { complete?: string; pageSize?: string; json?: boolean }, command: Command) => {
      const client = await clientFor(command, endpoint, options);
      if (options.complete !== undefined && options.complete !== 'true' && options.complete !== 'false') usage(command, `--complete ${JSON.stringify(options.complete)}: expected true or false`);
      const pageSize = options.pageSize === undefined ? undefined : Number(options.pageSize);
      if (pageSize !== undefined && !(Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= 1000)) usage(command, `--page-size ${JSON.stringify(options.pageSize)}: expected 1 to 1000`);
      await serverCall(async () => {
        for await (const upload of client.list({ complete: options.complete === undefined ? undefined : options.complete === 'true', pageSize })) {
          const line = options.json
            ? JSON.stringify(upload)
            : [upload.id, upload.complete ? 'complete' : `${upload.offset}/${upload.size ?? '?'}`, String(upload.size ?? upload.offset), upload.createdAt, upload.filename ?? ''].join('\t');
          process.stdout.write(`${line}\n`);
        }
      });
    });

  withAuth(files.command('get').argument('<endpoint>', 'the endpoint URL').argument('<id>', 'the upload id (or its whole URL)'))
    .description('Download a finished upload.')
    .requiredOption('-o, --output <file>', 'where to write it (- for standard output); an existing file is not overwritten')
    .action(async (endpoint: string, id: string, options: AuthOptions & { output: string }, command: Command) => {
      const client = await clientFor(command, endpoint, options);
      await serverCall(async () => {
        const bytes = await client.get(id, options.output);
        if (options.output !== '-') process.stderr.write(`${options.output}: ${bytes} bytes\n`);
      });
    });

  withAuth(files.command('rm').argument('<endpoint>', 'the endpoint URL').argument('<id...>', 'upload ids (or their whole URLs)'))
    .description('Delete uploads (tus termination).')
    .action(async (endpoint: string, ids: string[], options: AuthOptions, command: Command) => {
      const client = await clientFor(command, endpoint, options);
      await serverCall(async () => {
        for (const id of ids) {
          await client.remove(id);
          process.stdout.write(`deleted ${id}\n`);
        }
      });
    });
  return files;
}

function usage(command: Command, message: string): never {
  return command.error(`tusport files ${command.name()}: ${message}`, { exitCode: 2, code: 'tusport.files' });
}

async function clientFor(command: Command, endpoint: string, options: AuthOptions) {
  // Loaded here: `tusport serve` need not load the client.
  const { parseHeaders, tokenOf, UsageError } = await import('../client/options.js');
  const { FilesClient } = await import('../client/files.js');
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('');
  } catch {
    usage(command, `${JSON.stringify(endpoint)}: expected an http:// or https:// endpoint URL such as http://127.0.0.1:1080/files`);
  }
  try {
    const headers = parseHeaders(options.header);
    const token = tokenOf(options, process.env);
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    return new FilesClient(endpoint, headers);
  } catch (error) {
    if (error instanceof UsageError) usage(command, error.message);
    throw error;
  }
}

/** A refusal or failure of the server (or the network): its message on stderr, exit 1. */
async function serverCall(run: () => Promise<void>): Promise<void> {
  const { FilesRequestError } = await import('../client/files.js');
  try {
    await run();
  } catch (error) {
    if (!(error instanceof FilesRequestError) && !(error instanceof TypeError) && (error as NodeJS.ErrnoException).code === undefined) throw error;
    process.stderr.write(`tusport files: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
