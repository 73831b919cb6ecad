// Minimal tus client calls shared by the runner and the bench clients.
import http from 'node:http';

/** POST a new upload of `length` bytes; resolves its absolute URL. */
export function createUpload(collectionUrl, length, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      collectionUrl,
      { method: 'POST', agent, headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(length), 'Content-Length': '0' } },
      (res) => {
        res.resume();
        res.on('end', () => {
          const location = res.headers.location;
          if (res.statusCode !== 201 || !location) reject(new Error(`POST ${collectionUrl}: ${res.statusCode}`));
          else resolve(new URL(location, collectionUrl).href);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
