import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import type { s3Store } from '../../src/files/s3-store.js';
import type { TestApp } from './app.js';

/** A local S3-compatible server (s3rver) in a scratch directory, for the files' S3 store. */
export async function startS3rver(): Promise<{ env(bucket: string): Record<string, string>; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const { port } = await server.run();
  return {
    env: (bucket) => ({ S3_BUCKET: bucket, S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' }),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The app's S3 store, its bucket created, and whether an object is in it. */
export async function s3Bucket(t: TestApp, bucket: string) {
  const store = t.ctx.files!.store as ReturnType<typeof s3Store>;
  await store.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    store,
    exists: (key: string) =>
      store.client
        .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        .then(() => true, (error: { name?: string }) => (error.name === 'NotFound' ? false : Promise.reject(error))),
  };
}
