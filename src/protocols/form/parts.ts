import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { FormErrors } from './errors.js';
import type { FormConfig } from './schema.js';

/** One file part, as its bytes begin to arrive. */
export interface FilePart {
  field: string;
  /** The part's filename (UTF-8); undefined when the part named none. */
  filename: string | undefined;
  mimeType: string;
  /** The part's bytes, streamed straight from the request (busboy waits while it is not read). */
  stream: Readable;
  /** The non-file fields that came before this part in the form. */
  fields: Record<string, string>;
}

/**
 * Read a multipart/form-data request part by part, straight from the socket: fields are
 * collected (small, bounded by `maxFields` and `maxFieldSize`), each file part is handed to
 * `onFile` in order, one at a time, and nothing of a file is held in memory beyond the stream's
 * buffer. Resolves once the whole body was read and every `onFile` has finished.
 *
 * The first problem wins and stops reading: a limit passed, a malformed body, the client gone, or
 * `onFile` failing. The request is then left unread (the caller answers and closes the
 * connection) and the file being read is destroyed, so its copy ends as interrupted.
 */
export function readForm(request: IncomingMessage, options: FormConfig, onFile: (part: FilePart) => Promise<void>): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        // Browsers send filenames as raw UTF-8 in `filename=`; busboy's default reads them as Latin-1.
        defParamCharset: 'utf8',
        limits: { files: options.maxFiles, fields: options.maxFields, fieldSize: options.maxFieldSize },
      });
    } catch (error) {
      reject(new FormErrors.MALFORMED((error as Error).message));
      return;
    }
    const fields: Record<string, string> = {};
    let failure: Error | undefined;
    let current: Readable | undefined;
    // Files are handled one after another, in the order of the form.
    let work: Promise<void> = Promise.resolve();

    const fail = (error: Error) => {
      if (failure) return;
      failure = error;
      request.unpipe(parser);
      current?.destroy(error);
      parser.destroy();
      // Let the file under way see its stream end before the caller undoes what it stored.
      work.then(() => reject(error), () => reject(error));
    };

    parser.on('field', (name, value, info) => {
      if (failure) return;
      if (info.valueTruncated) return fail(new FormErrors.FIELD_TOO_LARGE(name.slice(0, 64), options.maxFieldSize));
      if (options.fileFields?.includes(name)) return fail(new FormErrors.MISSING_FILENAME(name.slice(0, 64)));
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      // A file stream is destroyed with an error when the form fails (busboy's "Unexpected end of
      // file"), also once its reader has stopped listening: that must never be an unhandled error.
      stream.on('error', () => undefined);
      if (failure) {
        stream.resume();
        return;
      }
      if (options.fileFields && !options.fileFields.includes(name)) {
        stream.resume();
        return fail(new FormErrors.FILE_FIELD(name.slice(0, 64), options.fileFields.join(', ')));
      }
      const part: FilePart = { field: name, filename: info.filename || undefined, mimeType: info.mimeType, stream, fields: { ...fields } };
      work = work.then(async () => {
        if (failure) return;
        current = stream;
        try {
          await onFile(part);
        } finally {
          current = undefined;
        }
      });
      work.catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
    });
    parser.on('filesLimit', () => fail(new FormErrors.TOO_MANY_FILES(options.maxFiles)));
    parser.on('fieldsLimit', () => fail(new FormErrors.TOO_MANY_FIELDS(options.maxFields)));
    parser.on('error', (error: Error) => fail(new FormErrors.MALFORMED(error.message)));
    parser.on('close', () => {
      if (failure) return;
      work.then(
        () => (failure ? undefined : resolve(fields)),
        () => undefined,
      );
    });
    // A client that goes away mid-body: its request ends without 'end' and the parser would wait forever.
    request.on('close', () => {
      if (!request.complete) fail(new FormErrors.CLIENT_GONE());
    });
    request.pipe(parser);
  });
}
