// Handing attempts back (src/http/login-attempts.ts) when successes finish at
// once. Every handed-back attempt must leave the count, or a person who logs
// in from two tabs at once is locked out sooner: two give-backs that met on
// the counter's row used to both read its count before either wrote, and the
// second, finding 1 left after waiting, changed nothing (the CI of
// 2026-11-26 06:21 failed on that: 429 where 401 was due). Here the row is
// held by another connection while two give-backs wait for it (waits seen in
// pg_stat_activity), then let go. PostgreSQL only: PGlite has one
// connection, so two statements never meet on a row there
// (shared-attempts.test.ts covers parallel give-backs on both stores).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sharedAttempts } from '../../src/http/login-attempts.js';
import { eachTestWithLockHolder, waitingOnLock } from '../helpers/lock-waits.js';
import { storeKinds } from '../helpers/stores.js';

describe('attempts handed back at once, in other connections [postgres]', { skip: !storeKinds().includes('postgres') && 'PostgreSQL not configured' }, () => {
  const { store, holder } = eachTestWithLockHolder(async () => undefined);
  const counter = () => sharedAttempts(store().db, { scope: 'login-account', max: 10, windowMs: 900_000, now: () => new Date() });
  const attempts = async () => (await store().db.query<{ attempts: number }>('select attempts from login_attempts')).map((r) => r.attempts);

  it('two give-backs that wait for the same row both count, down to none', async () => {
    const limit = counter();
    const [a, b] = [await limit.take('ann@example.test'), await limit.take('ann@example.test')];
    assert.ok(a.ok && b.ok);
    assert.deepEqual(await attempts(), [2]);

    await holder().query('begin');
    await holder().query('select 1 from login_attempts for update');
    const given = [a.giveBack(), b.giveBack()];
    await waitingOnLock(store().db, 'login_attempts', 5_000, 2);
    await holder().query('commit');
    await Promise.all(given);

    assert.deepEqual(await attempts(), [], 'both handed back: nothing counted, the row gone');
    const again = await Promise.all(Array.from({ length: 12 }, () => limit.take('ann@example.test')));
    assert.equal(again.filter((t) => t.ok).length, 10, 'the whole limit is there again');
  });

  it('a give-back that waits behind a new attempt still leaves that attempt counted', async () => {
    const limit = counter();
    const a = await limit.take('ann@example.test');
    assert.ok(a.ok);
    await holder().query('begin');
    await holder().query('select 1 from login_attempts for update');
    const given = a.giveBack();
    await waitingOnLock(store().db, 'login_attempts');
    const taken = limit.take('ann@example.test');
    await waitingOnLock(store().db, 'login_attempts', 5_000, 2);
    await holder().query('commit');
    await Promise.all([given, taken]);
    assert.deepEqual(await attempts(), [1], 'the new attempt, whichever went first');
  });
});
