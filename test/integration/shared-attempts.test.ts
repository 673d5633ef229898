// The attempt counter behind every anonymous limit (logins, offline messages,
// greeting reports): in the database, counted before the work, handed back
// after a success, in fixed windows, each limit a scope of its own.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import { sharedAttempts } from '../../src/http/login-attempts.js';
import type { Db } from '../../src/store/db.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore, openTestStore } from '../helpers/stores.js';

describeEachStore('shared attempts', (store) => {
  let clock: ReturnType<typeof fakeClock>;
  beforeEach(async () => {
    await store().reset();
    clock = fakeClock(Date.parse('2026-03-01T09:00:00Z'));
  });
  const counter = (max: number, windowMs: number, scope = 'test') => sharedAttempts(store().db, { scope, max, windowMs, now: clock.now });

  it('counts before the work: the attempt over the limit is refused until the window ends', async () => {
    const limit = counter(2, 60_000);
    assert.equal((await limit.take('a')).ok, true);
    assert.equal((await limit.take('a')).ok, true);
    assert.deepEqual(await limit.take('a'), { ok: false, retryAfterSeconds: 60 });
    clock.advance(45_500);
    assert.deepEqual(await limit.take('a'), { ok: false, retryAfterSeconds: 15 });
    assert.equal((await limit.take('b')).ok, true, 'another key has its own window');
    assert.equal((await counter(2, 60_000, 'other scope').take('a')).ok, true, 'another scope counts apart');
    clock.advance(14_500);
    assert.equal((await limit.take('a')).ok, true, 'a new window');
  });

  it('lets exactly the limit through when attempts arrive at once', async () => {
    const limit = counter(10, 60_000);
    const answers = await Promise.all(Array.from({ length: 25 }, () => limit.take('a')));
    assert.equal(answers.filter((a) => a.ok).length, 10);
  });

  it('takes an attempt handed back, once, and only into the window it came from', async () => {
    const limit = counter(1, 1_000);
    const first = await limit.take('a');
    assert.ok(first.ok);
    await first.giveBack();
    await first.giveBack();
    const second = await limit.take('a');
    assert.ok(second.ok);
    assert.equal((await limit.take('a')).ok, false, 'handing back twice freed one place, not two');
    clock.advance(1_000);
    const third = await limit.take('a');
    assert.ok(third.ok);
    await second.giveBack(); // from the window before: owes this one nothing
    assert.equal((await limit.take('a')).ok, false);
  });

  it('takes back every attempt handed back at once: the whole limit is there again', async () => {
    const limit = counter(10, 60_000);
    const taken = await Promise.all(Array.from({ length: 8 }, () => limit.take('a')));
    await Promise.all(taken.map((t) => (t.ok ? t.giveBack() : assert.fail('under the limit'))));
    assert.deepEqual(await store().db.query('select attempts from login_attempts'), [], 'nothing counted, the row gone');
    const again = await Promise.all(Array.from({ length: 12 }, () => limit.take('a')));
    assert.equal(again.filter((a) => a.ok).length, 10);
  });

  it('deletes ended windows once a minute for all its scopes, not once per counter', async () => {
    let deletions = 0;
    const db: Db = { ...store().db, query: (text, params) => ((deletions += /delete from login_attempts where/.test(text) ? 1 : 0), store().db.query(text, params)) };
    const scopes = ['login-address', 'login-account', 'offline-address', 'offline-email', 'greeting-report'].map((scope) =>
      sharedAttempts(db, { scope, max: 10, windowMs: 60_000, now: clock.now }),
    );
    for (const limit of scopes) await limit.take('a');
    assert.equal(deletions, 1);
    clock.advance(59_000);
    for (const limit of scopes) await limit.take('a');
    assert.equal(deletions, 1, 'not again within the minute');
    clock.advance(1_000);
    for (const limit of scopes) await limit.take('a');
    assert.equal(deletions, 2);
  });

  it('keeps no key in the clear, and removes windows that ended', async () => {
    await counter(1, 1_000).take('eve@example.test');
    const keys = async () => (await store().db.query<{ key_digest: string }>('select key_digest from login_attempts')).map((r) => r.key_digest);
    assert.equal((await keys()).length, 1);
    assert.ok((await keys()).every((k) => !k.includes('eve')));
    clock.advance(120_000);
    // a count a minute or more after the last deletion, by any counter on this store, deletes the ended windows
    await counter(1, 1_000, 'another scope').take('b');
    assert.equal((await keys()).length, 1);
  });
});

// A transcript counts its attempts in its own transaction (takeIn) and holds
// the address key's row until it commits; a login's take() prunes ended
// windows of every scope meanwhile. The prune used to wait for that row
// after deleting the recipient key's, which the transcript then waited for:
// a deadlock (found by review). The prune now passes locked rows by.
it('a prune passes by the rows a transaction counting in it holds: no wait, no deadlock [postgres]', { skip: !process.env.TEST_DATABASE_URL }, async () => {
  const store = await openTestStore('postgres', { poolSize: 4 });
  try {
    await store.reset();
    const HOUR = 3_600_000;
    const now = Date.parse('2026-05-06T12:00:00Z');
    let at = now - 3 * HOUR;
    const clock = () => new Date(at);
    const address = sharedAttempts(store.db, { scope: 'transcript-address', max: 10, windowMs: HOUR, now: clock });
    const recipient = sharedAttempts(store.db, { scope: 'transcript-email', max: 5, windowMs: HOUR, now: clock });
    const login = sharedAttempts(store.db, { scope: 'login-address', max: 10, windowMs: HOUR, now: clock });
    // both windows over by now
    await store.db.transaction((tx) => recipient.takeIn(tx, 'erin@example.org'));
    at = now - 2 * HOUR;
    await store.db.transaction((tx) => address.takeIn(tx, '203.0.113.0'));
    at = now;
    let login_: unknown;
    const outcome = await store.db
      .transaction(async (tx) => {
        assert.ok((await address.takeIn(tx, '203.0.113.0')).ok);
        // a login arrives meanwhile: its take() prunes first, and must not wait for this transaction
        login_ = await Promise.race([login.take('198.51.100.0').then((r) => r.ok), new Promise((r) => setTimeout(() => r('the login waited'), 3_000))]);
        assert.ok((await recipient.takeIn(tx, 'erin@example.org')).ok);
      })
      .then(
        () => 'committed',
        (error: Error) => error.message,
      );
    assert.equal(login_, true);
    assert.equal(outcome, 'committed');
  } finally {
    await store.close();
  }
});
