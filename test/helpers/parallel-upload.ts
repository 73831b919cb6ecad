import path from 'node:path';
import * as tus from 'tus-js-client';
import { raw, TUS } from './http.js';
import { tempDir } from './server.js';

// tus-js-client's Node build exports FileUrlStorage, but its type declarations leave it out.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (file: string) => tus.UrlStorage };

export interface InterruptedParallelUpload {
  /** The final upload's URL. */
  url: string;
  /** The partial uploads' URLs the first attempt stored before it was aborted. */
  storedPartials: string[];
  /** The final upload's Upload-Concat, as HEAD reports it. */
  concat: string;
}

/**
 * A tus-js-client upload with `parallelUploads: 4` that is aborted by its client mid-way (once
 * more than half the bytes are sent), then resumed by a new client from the URLs it stored
 * (FileUrlStorage, as an app restarting would), to completion.
 */
export async function interruptedParallelUpload(endpoint: string, data: Buffer, options: Partial<tus.UploadOptions> = {}): Promise<InterruptedParallelUpload> {
  const scratch = await tempDir('tusport-parallel-');
  try {
    const storage = new FileUrlStorage(path.join(scratch.dir, 'urls.json'));
    const shared: Partial<tus.UploadOptions> = {
      endpoint,
      parallelUploads: 4,
      retryDelays: [0, 200, 500, 1000],
      urlStorage: storage,
      fingerprint: async () => `parallel-${endpoint}-${data.length}`,
      storeFingerprintForResuming: true,
      metadata: { filename: 'parallel.bin', filetype: 'application/octet-stream' },
      ...options,
    };
    await new Promise<void>((resolve, reject) => {
      let aborted = false;
      const upload = new tus.Upload(data, {
        ...shared,
        onProgress: (sent, total) => {
          if (aborted || sent <= total / 2) return;
          aborted = true;
          upload.abort().then(resolve, reject);
        },
        onError: reject,
        onSuccess: () => reject(new Error('the upload finished before it could be interrupted')),
      });
      upload.start();
    });
    const url = await new Promise<{ url: string; storedPartials: string[] }>((resolve, reject) => {
      const upload = new tus.Upload(data, {
        ...shared,
        onError: reject,
        onSuccess: () => resolve({ url: upload.url ?? '', storedPartials }),
      });
      let storedPartials: string[] = [];
      upload
        .findPreviousUploads()
        .then((previous) => {
          if (previous.length !== 1 || !previous[0]!.parallelUploadUrls) throw new Error(`expected one stored parallel upload, found ${JSON.stringify(previous)}`);
          storedPartials = previous[0]!.parallelUploadUrls;
          upload.resumeFromPreviousUpload(previous[0]!);
          upload.start();
        })
        .catch(reject);
    });
    const head = await raw(new URL(url.url).origin, { method: 'HEAD', path: new URL(url.url).pathname, headers: { ...TUS, ...(options.headers ?? {}) } });
    return { ...url, concat: String(head.headers['upload-concat']) };
  } finally {
    await scratch.remove();
  }
}
