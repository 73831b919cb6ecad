import { type S3, UploadPartCommand } from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createS3Client } from '../../stores/s3/client.js';
import { isNoSuchUpload, isS3NotFound } from '../../stores/s3/errors.js';
import { copyToFinalKey } from '../../stores/s3/finalize.js';
import type { S3StoreConfig } from '../../stores/s3/schema.js';

export interface ListedPart {
  PartNumber: number;
  ETag: string;
  Size: number;
}

/**
 * The S3 calls of direct uploads, with the store's own client settings (endpoint, credentials,
 * checksums: presigned part URLs must not demand CRC headers a browser never sends). Loaded on
 * first use, like the S3 backend, so the SDK stays out of servers without direct endpoints.
 */
export class DirectS3 {
  readonly client: S3;

  constructor(readonly store: S3StoreConfig) {
    this.client = createS3Client(store);
  }

  get bucket(): string {
    return this.store.bucket;
  }

  /**
   * A presigned POST for exactly `key`: its policy holds the size range and, when the endpoint
   * checks types, the declared Content-Type; S3 refuses any form that strays from it.
   */
  async presignPost(key: string, options: { maxBytes: number; contentType: string | undefined; lifetimeMs: number }) {
    const conditions: NonNullable<PresignedPostOptions['Conditions']> = [['content-length-range', 0, options.maxBytes]];
    const fields: Record<string, string> = {};
    if (options.contentType !== undefined) {
      conditions.push(['eq', '$Content-Type', options.contentType]);
      fields['Content-Type'] = options.contentType;
    }
    const expires = Math.max(1, Math.round(options.lifetimeMs / 1000));
    const post = await createPresignedPost(this.client, { Bucket: this.bucket, Key: key, Conditions: conditions, Fields: fields, Expires: expires });
    // Uppy builds the object's location as url + key: the bucket URL must end in a slash.
    return { method: 'POST' as const, url: post.url.endsWith('/') ? post.url : `${post.url}/`, fields: post.fields, expires };
  }

  async signPart(key: string, multipartId: string, partNumber: number, lifetimeMs: number): Promise<{ url: string; expires: number }> {
    const expires = Math.max(1, Math.round(lifetimeMs / 1000));
    const command = new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: multipartId, PartNumber: partNumber });
    return { url: await getSignedUrl(this.client, command, { expiresIn: expires }), expires };
  }

  /** Every part S3 holds for the upload (paged). */
  async listParts(key: string, multipartId: string): Promise<ListedPart[]> {
    const parts: ListedPart[] = [];
    let marker: string | undefined;
    do {
      const page = await this.client.listParts({ Bucket: this.bucket, Key: key, UploadId: multipartId, PartNumberMarker: marker });
      for (const part of page.Parts ?? []) parts.push({ PartNumber: part.PartNumber ?? 0, ETag: part.ETag ?? '', Size: part.Size ?? 0 });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  async complete(key: string, multipartId: string, parts: { PartNumber: number; ETag: string }[]): Promise<void> {
    await this.client.completeMultipartUpload({ Bucket: this.bucket, Key: key, UploadId: multipartId, MultipartUpload: { Parts: parts } });
  }

  /** The object's size, or undefined when there is none at `key`. */
  async size(key: string): Promise<number | undefined> {
    try {
      return (await this.client.headObject({ Bucket: this.bucket, Key: key })).ContentLength ?? 0;
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw error;
    }
  }

  /** Copy `source` over `target` inside S3 (CopyObject: the bytes never come through tusport; type and metadata kept). */
  async copy(source: string, target: string, size: number): Promise<void> {
    await copyToFinalKey(this.client, this.bucket, source, target, size, true);
  }

  async delete(key: string): Promise<void> {
    await this.client.deleteObject({ Bucket: this.bucket, Key: key });
  }

  async abort(key: string, multipartId: string): Promise<void> {
    await this.client.abortMultipartUpload({ Bucket: this.bucket, Key: key, UploadId: multipartId }).catch((error: unknown) => {
      if (!isNoSuchUpload(error)) throw error;
    });
  }
}
