// An upload to an S3 bucket whose server process dies after the bucket
// stored the object and before the attachment's row committed (SIGKILL: no
// clean-up runs) leaves no object for good. The key was queued for removal
// before the upload, due an hour on (src/files/upload-intent.ts): the
// sweeper leaves it alone while an upload could still be under way, and
// removes the object once that hour has passed.
//
// The kill is timed by a proxy in front of the bucket (s3rver): it passes
// the object's PUT on, and once the bucket has answered, kills the server
// before handing the answer over. On both stores: PostgreSQL, and PGlite in
// a data directory, read after the kill.
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { loadFilesConfig } from '../../src/files/config.js';
import { removeDeletedFiles } from '../../src/files/deletions.js';
import { s3Store } from '../../src/files/s3-store.js';
import { UPLOAD_GRACE_MS } from '../../src/files/upload-intent.js';
import type { Db } from '../../src/store/db.js';
import { openPglite } from '../../src/store/pglite.js';
import { call, loginAdmin, SERVER_ENV, STARTUP_TIMEOUT_MS } from '../helpers/load.js';
import { multipartFile, PNG } from '../helpers/multipart.js';
import { migratedDataDir } from '../helpers/pglite-template.js';
import { startServerProcess, type ServerProcess } from '../helpers/process-server.js';
import { startS3rver } from '../helpers/s3-bucket.js';
import { openTestStore, storeKinds, type TestStore } from '../helpers/stores.js';

const BUCKET = 'switchboard-crash';

/** Passes every request on to `target`; `onStored` runs once an object's PUT has been answered there, before the answer goes back. */
async function bucketProxy(target: string, onStored: (key: string) => Promise<void>) {
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // the headers as signed (Host included): s3rver checks the signature against them
      const forward = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', async () => {
          const [bucket, key, ...more] = (req.url ?? '').split('?')[0]!.split('/').filter(Boolean);
          if (req.method === 'PUT' && bucket === BUCKET && key && more.length === 0 && (answer.statusCode ?? 0) < 300) await onStored(key);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(body));
        });
      });
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('an upload cut off by a crash', { concurrency: true }, () => {
  for (const kind of storeKinds()) {
    describe(`[${kind}]`, () => {
      let server: ServerProcess | undefined;
      let store: TestStore | undefined;
      let dataDir: string | undefined;
      let reader: Db | undefined;
      let s3rver: Awaited<ReturnType<typeof startS3rver>> | undefined;
      let proxy: Awaited<ReturnType<typeof bucketProxy>> | undefined;

      after(async () => {
        await server?.kill({ signal: 'SIGKILL' });
        await proxy?.close();
        await s3rver?.close();
        await reader?.close();
        await store?.close();
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      });

      it('leaves the object queued, not due while the upload could still be under way, and the sweeper removes it after', async () => {
        s3rver = await startS3rver();
        const direct = s3rver.env(BUCKET);
        const bucketClient = new S3Client({
          region: 'us-east-1',
          endpoint: direct.S3_ENDPOINT,
          forcePathStyle: true,
          credentials: { accessKeyId: direct.S3_ACCESS_KEY_ID!, secretAccessKey: direct.S3_SECRET_ACCESS_KEY! },
        });
        await bucketClient.send(new CreateBucketCommand({ Bucket: BUCKET }));
        const inBucket = (key: string) =>
          bucketClient.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(
            () => true,
            (error: { name?: string }) => (error.name === 'NotFound' ? false : Promise.reject(error)),
          );

        let stored: string | undefined;
        proxy = await bucketProxy(direct.S3_ENDPOINT!, async (key) => {
          stored = key;
          await server!.kill({ signal: 'SIGKILL' });
        });
        const env: Record<string, string | undefined> = { ...SERVER_ENV, ...direct, S3_ENDPOINT: proxy.url };
        if (kind === 'postgres') {
          store = await openTestStore('postgres', { poolSize: 2 });
          Object.assign(env, { DATABASE_URL: store.url!, DATA_DIR: undefined });
        } else {
          dataDir = await migratedDataDir('sb-upload-crash-');
          Object.assign(env, { DATABASE_URL: undefined, DATA_DIR: dataDir });
        }
        server = await startServerProcess({ env, timeoutMs: STARTUP_TIMEOUT_MS });
        const admin = await loginAdmin(server.url);
        const opened = await call(server.url, 'POST', '/api/v1/conversations', { token: admin, body: { customer: { id: 'crash-upload', name: 'Cut Off' } } });
        assert.equal(opened.status, 201, JSON.stringify(opened.body));

        const startedAt = Date.now();
        const { body, headers } = multipartFile('file', 'photo.png', 'image/png', PNG);
        const upload = await fetch(`${server.url}/api/v1/conversations/${opened.body.id as string}/attachments`, {
          method: 'POST',
          headers: { ...headers, authorization: `Bearer ${admin}` },
          body: new Uint8Array(body),
        }).then(
          (res) => `answered ${res.status}`,
          (error: Error & { cause?: { code?: string } }) => error.cause?.code ?? error.message,
        );
        assert.equal(await server.exited, 'SIGKILL');
        assert.ok(stored, `the object reached the bucket before the kill (the upload: ${upload})`);
        assert.doesNotMatch(upload, /^answered/, 'the upload was never answered');

        const db = kind === 'postgres' ? store!.db : (reader = await openPglite(dataDir!));
        assert.deepEqual(await db.query('select id from attachments'), [], 'no row committed');
        assert.ok(await inBucket(stored), 'the object is in the bucket, referred to by nothing');
        const queued = await db.query<{ key: string; next_attempt_at: Date }>('select key, next_attempt_at from attachment_deletions');
        assert.deepEqual(
          queued.map((r) => r.key),
          [stored],
          'its key waits in the removal queue',
        );
        const dueIn = queued[0]!.next_attempt_at.getTime() - startedAt;
        assert.ok(dueIn > UPLOAD_GRACE_MS - 60_000 && dueIn <= UPLOAD_GRACE_MS + 60_000, `due an hour after the upload began, not ${dueIn} ms`);

        const bucket = s3Store(loadFilesConfig(direct).s3!);
        assert.equal(await removeDeletedFiles(db, bucket, 500, new Date()), 0, 'not removed while the upload could be under way');
        assert.ok(await inBucket(stored));
        assert.equal(await removeDeletedFiles(db, bucket, 500, new Date(Date.now() + UPLOAD_GRACE_MS)), 1);
        assert.equal(await inBucket(stored), false, 'removed once the hour has passed');
        assert.deepEqual(await db.query('select key from attachment_deletions'), []);
      });
    });
  }
});
