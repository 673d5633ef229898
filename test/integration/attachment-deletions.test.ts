// The bucket's removal queue (attachment_deletions) when the bucket refuses
// some objects: an object it will not delete (object lock, a legal hold, a
// policy) is retried on its own, later and later, while the objects removed
// alongside it leave the queue and the ones queued after it are removed
// at once — one stuck key never holds up the erasures behind it.
import { PutObjectCommand, type DeleteObjectsCommandInput, type DeleteObjectsCommandOutput } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { removeDeletedFiles, startFileSweeper } from '../../src/files/deletions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { s3Bucket, startS3rver } from '../helpers/s3-bucket.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const at = (ms: number) => new Date(T0 + ms);

describeEachStore('attachments: objects the bucket refuses to delete', (store) => {
  let s3rver: Awaited<ReturnType<typeof startS3rver>>;
  let bucketed: Awaited<ReturnType<typeof s3Bucket>>;
  let t: TestApp;
  const bucket = 'switchboard-deletions';
  const locked = new Set<string>();
  const asked: string[][] = [];

  before(async () => {
    s3rver = await startS3rver();
    t = await testApp(store(), { env: s3rver.env(bucket) });
    bucketed = await s3Bucket(t, bucket);
    // The bucket's object lock, as S3 answers it: DeleteObjects succeeds and names each refused key in Errors.
    bucketed.store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        const input = args.input as DeleteObjectsCommandInput;
        const keys = input.Delete!.Objects!.map((o) => o.Key!);
        asked.push(keys);
        const refused = keys.filter((k) => locked.has(k));
        input.Delete!.Objects = input.Delete!.Objects!.filter((o) => !locked.has(o.Key!));
        const answer = input.Delete!.Objects.length > 0 ? await next(args) : { output: { $metadata: {} } as DeleteObjectsCommandOutput, response: {} };
        const output = answer.output as DeleteObjectsCommandOutput;
        output.Errors = [...(output.Errors ?? []), ...refused.map((Key) => ({ Key, Code: 'AccessDenied', Message: 'Access Denied because object protected by object lock.' }))];
        return answer;
      },
      { step: 'initialize', name: 'objectLock' },
    );
  });
  after(async () => {
    await t?.close();
    await s3rver?.close();
  });
  beforeEach(async () => {
    await store().reset();
    locked.clear();
    asked.length = 0;
  });

  const put = (key: string) => bucketed.store.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(key) }));
  /** objects queued as the attachments trigger queues them, oldest first */
  async function queue(...keys: string[]) {
    for (const key of keys) {
      await put(key);
      await store().db.query(`insert into attachment_deletions (key, created_at) values ($1, clock_timestamp())`, [key]);
    }
  }
  const queued = async () => (await store().db.query<{ key: string }>('select key from attachment_deletions order by created_at')).map((r) => r.key);
  const sweep = (now: Date, batch = 3) => removeDeletedFiles(store().db, bucketed.store, batch, now);

  it('a refused key stays queued, retried later and later; the keys removed with it leave the queue, and newer ones are not held up', async () => {
    await queue('k0', 'k1', 'k2', 'k3', 'k4', 'k5');
    locked.add('k0');

    // the oldest batch: k1 and k2 go, k0 is refused and named
    await assert.rejects(sweep(at(0)), (error: Error) => {
      assert.match(error.message, /k0/);
      assert.match(error.message, /AccessDenied/);
      return true;
    });
    assert.deepEqual(await queued(), ['k0', 'k3', 'k4', 'k5'], 'the removed keys left the queue');
    assert.equal(await bucketed.exists('k1'), false);
    assert.equal(await bucketed.exists('k0'), true);
    const [row] = await store().db.query<{ attempts: number; last_error: string }>(`select attempts, last_error from attachment_deletions where key = 'k0'`);
    assert.equal(row!.attempts, 1);
    assert.match(row!.last_error, /AccessDenied/);

    // the next pass, at once: the keys behind k0, not k0
    assert.equal(await sweep(at(0)), 3);
    assert.deepEqual(await queued(), ['k0']);
    asked.length = 0;
    assert.equal(await sweep(at(1_000)), 0, 'k0 waits');
    assert.deepEqual(asked, [], 'nothing asked of the bucket');

    // a newer erasure's objects go at once
    await queue('k6');
    assert.equal(await sweep(at(1_000)), 1);
    assert.equal(await bucketed.exists('k6'), false);

    // k0 again, once due: refused again, the wait doubles
    await assert.rejects(sweep(at(5_000)), /k0/);
    const [again] = await store().db.query<{ attempts: number; next_attempt_at: Date }>(`select attempts, next_attempt_at from attachment_deletions where key = 'k0'`);
    assert.equal(again!.attempts, 2);
    assert.equal(new Date(again!.next_attempt_at).getTime(), T0 + 5_000 + 10_000);
    assert.equal(await sweep(at(14_000)), 0);

    // the lock lifted: removed at its next try
    locked.delete('k0');
    assert.equal(await sweep(at(15_000)), 1);
    assert.deepEqual(await queued(), []);
    assert.equal(await bucketed.exists('k0'), false);
  });

  it('retries of a key the bucket keeps refusing are at most an hour apart', async () => {
    await queue('k0');
    locked.add('k0');
    let now = 0;
    for (let i = 0; i < 30; i++) {
      await assert.rejects(sweep(at(now)));
      const [row] = await store().db.query<{ next_attempt_at: Date }>(`select next_attempt_at from attachment_deletions where key = 'k0'`);
      const wait = new Date(row!.next_attempt_at).getTime() - (T0 + now);
      assert.ok(wait > 0 && wait <= 3_600_000, `attempt ${i + 1}: ${wait} ms`);
      now += wait;
    }
    const [row] = await store().db.query<{ attempts: number }>(`select attempts from attachment_deletions where key = 'k0'`);
    assert.equal(row!.attempts, 30);
  });

  it('a bucket that cannot be asked at all leaves every key as it was, to be tried at the next pass', async () => {
    await queue('k0', 'k1');
    const failing = { ...bucketed.store, remove: async () => Promise.reject(new Error('connect ECONNREFUSED')) };
    await assert.rejects(removeDeletedFiles(store().db, failing, 3, at(0)), /ECONNREFUSED/);
    const rows = await store().db.query<{ key: string; attempts: number; next_attempt_at: Date | null }>('select key, attempts, next_attempt_at from attachment_deletions order by key');
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { key: 'k0', attempts: 0, next_attempt_at: null },
      { key: 'k1', attempts: 0, next_attempt_at: null },
    ]);
    assert.equal(await sweep(at(0)), 2);
  });

  it('the sweeper logs a refusal and goes on removing the rest', async () => {
    await queue('k0', 'k1', 'k2', 'k3');
    locked.add('k0');
    const errors: Error[] = [];
    const sweeper = startFileSweeper(store().db, bucketed.store, 5, (e) => errors.push(e as Error), { now: () => at(0), batch: 2, unsentEveryMs: 3_600_000 });
    const deadline = Date.now() + 5_000;
    while ((await queued()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sweeper.stop();
    assert.deepEqual(await queued(), ['k0']);
    assert.ok(errors.length >= 1 && errors.every((e) => /k0/.test(e.message)), String(errors));
    assert.equal(await bucketed.exists('k0'), true);
  });
});
