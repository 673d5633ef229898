import { DeleteObjectsCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from './config.js';
import type { FileStore } from './store.js';

/** Bytes in an S3-compatible bucket, one object per attachment id. */
export function s3Store(config: S3Config): FileStore & { client: S3Client } {
  const client = new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
  });
  const Bucket = config.bucket;
  return {
    kind: 's3',
    client,
    async stage(key, bytes, contentType) {
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: bytes, ContentType: contentType, ContentLength: bytes.length }));
      return {
        commit: async () => {},
        // The row never committed: nothing refers to the object.
        abort: async () => void (await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: key }], Quiet: true } }))),
      };
    },
    async read(_db, key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        return answer.Body ? Buffer.from(await answer.Body.transformToByteArray()) : undefined;
      } catch (error) {
        if (error instanceof NoSuchKey) return undefined;
        throw error;
      }
    },
    async remove(keys) {
      if (keys.length === 0) return [];
      const answer = await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
      // A missing object counts as removed; anything else is retried by the sweeper, key by key.
      const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      // An error naming no key (no S3 answers so) cannot be pinned on one: the whole batch is retried.
      const unnamed = failed.find((e) => !e.Key || !keys.includes(e.Key));
      if (unnamed) throw new Error(`S3 refused to delete an object it did not name (${String(unnamed.Key)}): ${unnamed.Code} ${unnamed.Message}`);
      return failed.map((e) => ({ key: e.Key!, reason: `${e.Code ?? 'Error'} ${e.Message ?? ''}`.trim() }));
    },
  };
}
