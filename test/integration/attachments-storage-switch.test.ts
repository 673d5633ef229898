// attachments.storage records where each file's bytes are, and a file is read
// and removed where it is, whatever store this process writes new files to:
// turning S3_BUCKET on keeps the files kept in the database; a process without
// S3 settings neither serves an S3 file as missing nor forgets an S3 object
// queued for removal. Two apps on one store: one without S3 (database), one
// with an s3rver bucket.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { databaseStore } from '../../src/files/database-store.js';
import { removeDeletedFiles, startFileSweeper } from '../../src/files/deletions.js';
import { startSession } from '../../src/realtime/sessions.js';
import { expectError } from '../helpers/api-kit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { multipartFile, PDF, PNG } from '../helpers/multipart.js';
import { s3Bucket, startS3rver } from '../helpers/s3-bucket.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('attachments: a file is read and removed where attachments.storage says', (store) => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let bucketed: Awaited<ReturnType<typeof s3Bucket>>;
  let dbApp: TestApp;
  let s3App: TestApp;
  const bucket = 'storage-switch';
  before(async () => {
    s3rver = await startS3rver();
    dbApp = await testApp(store());
    s3App = await testApp(store(), { env: s3rver.env(bucket) });
    bucketed = await s3Bucket(s3App, bucket);
  });
  after(async () => {
    await dbApp?.close();
    await s3App?.close();
    await s3rver?.close();
  });
  beforeEach(async () => {
    await store().reset();
  });

  let n = 0;
  const upload = async (t: TestApp, bytes: Buffer = PNG) => {
    const { conversation, token } = await startSession(t.ctx, { customer: { id: `switch-${++n}` } }, 3600);
    const { body, headers } = multipartFile('file', 'a.png', 'image/png', bytes);
    const res = await t.call('POST', `/api/v1/conversations/${conversation.id}/attachments`, { token, body, headers });
    assert.equal(res.statusCode, 201, res.body);
    return { id: res.json().id as string, url: res.json().url as string, conversationId: conversation.id, token };
  };
  const storage = async (id: string) => (await store().db.query<{ storage: string }>('select storage from attachments where id = $1', [id]))[0]?.storage;
  const queued = async () => (await store().db.query<{ key: string }>('select key from attachment_deletions order by key')).map((r) => r.key);
  const deleteConversation = (id: string) =>
    store().db.transaction(async (tx) => {
      await tx.query('delete from customer_sessions where conversation_id = $1', [id]);
      await tx.query('delete from conversations where id = $1', [id]);
    });

  it('a file kept in the database is still served, and its signed link works, once S3_BUCKET is set', async () => {
    const file = await upload(dbApp);
    assert.equal(await storage(file.id), 'database');
    const admin = await s3App.user('admin');
    const got = await s3App.call('GET', `/api/v1/attachments/${file.id}`, { token: admin.token });
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.rawPayload, PNG);
    const byCustomer = await s3App.call('GET', `/api/v1/attachments/${file.id}`, { token: file.token });
    assert.deepEqual(byCustomer.rawPayload, PNG);
    const byLink = await s3App.call('GET', file.url);
    assert.equal(byLink.statusCode, 200, byLink.body);
    assert.deepEqual(byLink.rawPayload, PNG);
    assert.equal(await bucketed.exists(file.id), false, 'nothing was looked for, or put, in the bucket');
  });

  it('both kinds side by side: each process writes to its own store, the S3 one reads both', async () => {
    const inDb = await upload(dbApp, PDF);
    const inS3 = await upload(s3App);
    assert.deepEqual([await storage(inDb.id), await storage(inS3.id)], ['database', 's3']);
    assert.equal(await bucketed.exists(inS3.id), true);
    const admin = await s3App.user('admin');
    assert.deepEqual((await s3App.call('GET', `/api/v1/attachments/${inDb.id}`, { token: admin.token })).rawPayload, PDF);
    assert.deepEqual((await s3App.call('GET', `/api/v1/attachments/${inS3.id}`, { token: admin.token })).rawPayload, PNG);
  });

  it('a process without S3 settings answers an S3 file with 503 SB_FILES_UNAVAILABLE naming S3_BUCKET, not 404', async () => {
    const file = await upload(s3App);
    const admin = await dbApp.user('admin');
    const res = await dbApp.call('GET', `/api/v1/attachments/${file.id}`, { token: admin.token });
    expectError(res, 503, 'SB_FILES_UNAVAILABLE');
    assert.match(res.json().error.message, /S3_BUCKET/);
    // an id nobody uploaded is still 404
    expectError(await dbApp.call('GET', '/api/v1/attachments/00000000-0000-4000-8000-000000000000', { token: admin.token }), 404, 'SB_NOT_FOUND');
  });

  it('the sweeper of a process without S3 settings leaves queued S3 objects for one that can remove them', async () => {
    const file = await upload(s3App);
    assert.ok(await bucketed.exists(file.id));
    await deleteConversation(file.conversationId);
    assert.deepEqual(await queued(), [file.id]);

    assert.equal(await removeDeletedFiles(store().db, databaseStore()), 0);
    // every process runs a sweeper, whatever its store (src/server.ts)
    const errors: unknown[] = [];
    const sweeper = startFileSweeper(store().db, dbApp.ctx.files!.store, 5, (e) => errors.push(e));
    await new Promise((r) => setTimeout(r, 100));
    await sweeper.stop();
    assert.deepEqual(errors, []);
    assert.deepEqual(await queued(), [file.id], 'still queued');
    assert.equal(await bucketed.exists(file.id), true);

    assert.equal(await removeDeletedFiles(store().db, s3App.ctx.files!.store), 1);
    assert.deepEqual(await queued(), []);
    assert.equal(await bucketed.exists(file.id), false);
  });

  it('a database-kept file deleted on the S3 process goes with its row and queues nothing', async () => {
    const file = await upload(dbApp);
    await deleteConversation(file.conversationId);
    assert.equal((await store().db.query('select 1 from attachment_bytes')).length, 0);
    assert.deepEqual(await queued(), []);
    assert.equal(await removeDeletedFiles(store().db, s3App.ctx.files!.store), 0);
  });
});
