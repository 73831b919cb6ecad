// The baseline for tusport's S3 store: the same file uploaded straight to the same S3 server by the
// AWS SDK's own multipart uploader, @aws-sdk/lib-storage `Upload`, from fs.createReadStream.
//
//   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... node bench/clients/s3-direct.mjs \
//     --endpoint http://127.0.0.1:7480 --bucket b --key k --file big.bin --part-size 8388608 --queue-size 16
//
// Client settings as tusport's S3 client: path-style, checksums only when required (Ceph RGW).
// Prints one JSON line: { ms, bytes, cpuMs, key } (ms from the first request to the completed upload).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { S3 } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
    key: { type: 'string' },
    file: { type: 'string' },
    'part-size': { type: 'string' },
    'queue-size': { type: 'string' },
    region: { type: 'string', default: 'us-east-1' },
  },
});
const size = fs.statSync(values.file).size;
const client = new S3({
  endpoint: values.endpoint,
  region: values.region,
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { httpAgent: { keepAlive: true, maxSockets: 64 } },
});

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const upload = new Upload({
  client,
  params: { Bucket: values.bucket, Key: values.key, Body: fs.createReadStream(values.file) },
  partSize: Number(values['part-size']),
  queueSize: Number(values['queue-size']),
  leavePartsOnError: false,
});
await upload.done();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
client.destroy();
console.log(JSON.stringify({ ms, bytes: size, cpuMs: (cpu.user + cpu.system) / 1000, key: values.key }));
