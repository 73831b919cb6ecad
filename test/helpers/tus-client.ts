import type { Readable } from 'node:stream';
import * as tus from 'tus-js-client';

export interface ClientUploadOptions extends Partial<tus.UploadOptions> {
  endpoint?: string;
}

/** Run a tus-js-client upload to completion; resolves with the upload URL. */
export function tusUpload(input: Buffer | Readable, options: ClientUploadOptions): Promise<{ url: string; upload: tus.Upload }> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(input as never, {
      retryDelays: [],
      ...options,
      onError: (error) => reject(error),
      onSuccess: () => resolve({ url: upload.url ?? '', upload }),
    });
    upload.start();
  });
}

export { tus };
