// The bucket's removal queue (attachment_deletions) when the bucket refuses
// some objects: an object it will not delete (object lock, a legal hold, a
// policy) is retried on its own, later and later, while the objects removed
// alongside it leave the queue and the ones queued after it are removed
// at once — one stuck key never holds up the erasures behind it.
import { PutObjectCommand, type DeleteObjectsCommandInput, type DeleteObjectsCommandOutput } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, it } from 'node:test';
import { removeDeletedFiles, startFileSweeper } from '../../src/files/deletions.js';
import { s3Store } from '../../src/files/s3-store.js';
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

describeEachStore('attachments: a bucket that never answers', (store) => {
  let stall: Server;
  let t: TestApp;
  before(async () => {
    // accepts every request, reads it, never answers: a bucket behind a dead proxy, a black-holed route
    stall = createServer((req) => req.resume());
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
    const { port } = stall.address() as AddressInfo;
    t = await testApp(store(), { env: { S3_BUCKET: 'b', S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY_ID: 'x', S3_SECRET_ACCESS_KEY: 'y' } });
  });
  after(async () => {
    // the bucket first: a pass still waiting on it must not keep the app from closing
    stall?.closeAllConnections();
    await new Promise((r) => stall?.close(r));
    await t?.close();
  });

  const settles = <T>(p: Promise<T>, ms: number) =>
    Promise.race([p.then(() => true, () => true), new Promise<false>((r) => setTimeout(() => r(false), ms).unref())]);

  it('a removal pass holds no transaction while the bucket is asked: the database stays usable, another process skips the keys, and the pass times out leaving them due', async () => {
    await store().reset();
    const key = '00000000-0000-4000-8000-000000000001';
    await store().db.query('insert into attachment_deletions (key) values ($1)', [key]);
    // the app's store, with its timeouts shortened so the test need not wait the production ones out
    const bucket = s3Store(t.ctx.files!.config.s3!, { connectionTimeoutMs: 1_000, requestTimeoutMs: 400 });
    const pass = removeDeletedFiles(store().db, bucket, 500, new Date());
    const outcome = pass.then(() => undefined, (error: Error) => error);
    await new Promise((r) => setTimeout(r, 150));

    // on PGlite every transaction takes one lock: a transaction open across the call froze everything, /healthz too
    assert.ok(await settles(t.call('GET', '/healthz'), 3_000), '/healthz answers while the bucket is asked');
    assert.equal(await settles(store().db.transaction((tx) => tx.query('select 1')), 3_000), true, 'a transaction runs meanwhile');
    if (store().kind === 'postgres') {
      const [open] = await store().db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`,
      );
      assert.equal(open!.n, 0, 'no connection sits in an open transaction');
    }
    // another process's pass meanwhile: the key is taken, nothing asked of its bucket
    const asked: string[][] = [];
    const other = { ...bucket, remove: async (keys: readonly string[]) => (asked.push([...keys]), []) };
    assert.equal(await removeDeletedFiles(store().db, other, 500, new Date()), 0);
    assert.deepEqual(asked, []);

    // the client gives up (its own retries included) instead of waiting for ever
    assert.ok(await settles(pass, 15_000), 'the pass ends');
    assert.match(String(await outcome), /timed out|timeout|requestTimeout/i);
    const rows = await store().db.query<{ key: string; attempts: number; next_attempt_at: Date | null }>('select key, attempts, next_attempt_at from attachment_deletions');
    assert.deepEqual(rows.map((r) => ({ ...r })), [{ key, attempts: 0, next_attempt_at: null }], 'an unanswered pass counts for nothing: the key is due again at once');
    assert.equal(await removeDeletedFiles(store().db, other, 500, new Date()), 1);
    assert.deepEqual(asked, [[key]]);
  });
});
