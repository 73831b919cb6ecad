// Latency of one request at a time, repeated: a tus HEAD through a server, or the S3 ListParts
// call that is the bulk of what an S3 store's HEAD asks S3 (the floor of such a HEAD).
//
//   node bench/clients/head-latency.mjs --mode tus --url http://127.0.0.1:1080/files/ID --count 40
//   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... node bench/clients/head-latency.mjs --mode listparts \
//     --endpoint http://127.0.0.1:7480 --bucket b --key ID --upload-id MPU --count 40
//
// One keep-alive connection, sequential requests, after 3 unmeasured ones. Prints one JSON line:
// { latenciesMs: [...], parts?, offset?, cpuMs, ms }. A HEAD must answer 200 with Upload-Offset.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { timeSequential } from '../lib/timed.mjs';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    url: { type: 'string' },
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
    key: { type: 'string' },
    'upload-id': { type: 'string' },
    region: { type: 'string', default: 'us-east-1' },
    count: { type: 'string', default: '40' },
  },
});
const count = Number(values.count);
const WARMUP = 3;

let once;
let close = () => {};
let last;
if (values.mode === 'tus') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  close = () => agent.destroy();
  once = () =>
    new Promise((resolve, reject) => {
      const req = http.request(values.url, { method: 'HEAD', agent, headers: { 'Tus-Resumable': '1.0.0' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200 || res.headers['upload-offset'] === undefined) reject(new Error(`HEAD ${values.url}: ${res.statusCode}`));
          else resolve((last = { offset: Number(res.headers['upload-offset']) }));
        });
      });
      req.on('error', reject);
      req.end();
    });
} else if (values.mode === 'listparts') {
  const { S3 } = await import('@aws-sdk/client-s3');
  const client = new S3({
    endpoint: values.endpoint,
    region: values.region,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: 1 } },
  });
  close = () => client.destroy();
  once = async () => {
    // Paged as tusport's S3 store pages it.
    let parts = 0;
    let marker;
    do {
      const page = await client.listParts({ Bucket: values.bucket, Key: values.key, UploadId: values['upload-id'], PartNumberMarker: marker });
      parts += page.Parts?.length ?? 0;
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return (last = { parts });
  };
} else {
  throw new Error('--mode tus|listparts');
}

const { latenciesMs, ms, cpuMs } = await timeSequential(once, count, WARMUP);
close();
console.log(JSON.stringify({ latenciesMs, ...last, cpuMs, ms }));
