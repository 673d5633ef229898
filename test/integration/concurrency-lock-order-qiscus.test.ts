// The Qiscus allocation pass follows the lock order (top of
// src/store/migrations/routing/functions.sql): it locks the mirrors of the offered agents
// before the rooms (src/channels/qiscus/allocate.ts, LOCK_MIRRORS_THEN_ROOMS), as a close locks its
// agent before its conversation. Under the old order (bf227d6: the rooms, then the mirrors)
// no deadlock was found: whatever locks a mirror and then waits for a conversation waits
// for a room the pass does not lock (a close locks the mirror of an assigned room; a rating,
// a resolved one), and the pass locks only queued rooms. But a pass stalled at a mirror then
// held its rooms, and whatever came for one of them waited for it. So this test pins the
// order by that: a pass waits at a mirror's row (a close of the mirror's other room, held
// open), and a Qiscus resolve of the room the pass is deciding closes it meanwhile instead of
// waiting; the pass then finds it closed and assigns nothing.
//
// PostgreSQL: that interleaving. PGlite has one connection: the same changes one after
// another, in the order they commit on PostgreSQL (the resolve, the close, the pass).
//
// And the pass locks its rooms FOR NO KEY UPDATE: it changes no key of theirs. Under
// FOR UPDATE, another pass (another process) writing a room's back-off (a failed agent
// list) held its qiscus_rooms row and waited, by the foreign key, for the room the
// decision had locked, while the decision's note of the assignment waited for that
// qiscus_rooms row: "deadlock detected" (seen in CI, 2026-11-26).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { BACK_OFF } from '../../src/channels/qiscus/allocate.js';
import { QISCUS_DEPARTMENT } from '../../src/channels/qiscus/constants.js';
import { LOCKS } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { invariantViolations, overCapacity } from '../helpers/invariants.js';
import { settledOrWaiting } from '../helpers/lock-waits.js';
import { eachTestWithFakeQiscus, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { afterEachStatement } from '../helpers/statement-hook.js';
import { describeEachStore } from '../helpers/stores.js';

const CLOSE = `select (o.closed).state from sb_close_conversation($1::uuid, 'resolved', now(), 'qiscus_resolved', null, null, 'test') o`;

describeEachStore('the Qiscus pass locks the mirrors before the rooms', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const roomRow = async (roomId: string) =>
    (
      await store().db.query<{ id: string; state: string; agent_id: string | null }>(
        `select id, state, agent_id from conversations where channel = 'qiscus' and external_ref = $1`,
        [roomId],
      )
    )[0]!;

  it('a room resolved while a pass waits for its mirror closes at once, and the pass then leaves it', async () => {
    const h = await harness();
    const [agent] = fake.addAgents(1);
    assert.equal((await h.webhook('r-1')).statusCode, 200);
    await h.settle();
    const first = await roomRow('r-1');
    assert.equal(first.state, 'assigned');
    assert.equal((await h.webhook('r-2')).statusCode, 200);
    const waiting = await roomRow('r-2');
    assert.equal(waiting.state, 'queued', 'no pass has run since');

    if (store().kind === 'pglite') {
      assert.equal((await h.resolve('r-2')).statusCode, 200);
      assert.deepEqual(await store().db.query(CLOSE, [first.id]), [{ state: 'resolved' }]);
      assert.equal((await h.channel.allocator.pass()).assigned, 0);
    } else {
      const holder = new pg.Client({ connectionString: store().url });
      await holder.connect();
      try {
        // r-1's close, held open: the mirror's row locked (no key update), then r-1's
        await holder.query('begin');
        assert.deepEqual((await holder.query(CLOSE, [first.id])).rows, [{ state: 'resolved' }]);
        const passing = h.channel.allocator.pass();
        // its statement that locks the mirrors waits for the close (both texts name them so)
        assert.equal(await settledOrWaiting(store().db, 'external_ref = any', passing), 'waiting', 'the pass waits for the mirror');
        const resolving = h.resolve('r-2');
        const resolve = await settledOrWaiting(store().db, 'sb_close_conversation', resolving);
        await holder.query('commit');
        const [passed, resolved] = await Promise.all([passing, resolving]);
        assert.equal(resolve, 'settled', 'the resolve waited for nothing the stalled pass held: it had locked no room yet');
        assert.equal(resolved.statusCode, 200);
        assert.equal(passed.assigned, 0, 'the pass found r-2 closed');
      } finally {
        await holder.end();
      }
    }
    assert.deepEqual(await roomRow('r-2'), { id: waiting.id, state: 'resolved', agent_id: null });
    assert.equal((await roomRow('r-1')).state, 'resolved');
    assert.deepEqual(await h.loads(), new Map([[String(agent!.id), { load: 0, open: 0 }]]));
    assert.deepEqual(await invariantViolations(store().db), []);
    assert.deepEqual(await overCapacity(store().db), []);
  });

  it("a room's back-off written by another pass while this one decides the room waits for nothing the decision holds", async () => {
    const h = await harness();
    fake.addAgents(1);
    assert.equal((await h.webhook('r-1')).statusCode, 200);
    const room = await roomRow('r-1');
    // written a minute ago: its back-off has ended when the pass reads the room
    const backOff = [room.id, 'r-1', 'Qiscus timed out', new Date(h.clock.now().getTime() - 60_000), 30_000, QISCUS_DEPARTMENT];
    if (store().kind === 'pglite') {
      await store().db.query(BACK_OFF, backOff);
      assert.equal((await h.channel.allocator.pass()).assigned, 1);
    } else {
      // the decision pauses once it has locked the mirror and the room
      const db = h.t.ctx.db;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const roomsLocked = new Promise<void>((resolve) => (locked = resolve));
      h.t.ctx.db = afterEachStatement(db, async (text, _tx, options) => {
        if (text.includes('held.mirrors') && options?.locks?.some((l) => typeof l === 'object' && l.shared === LOCKS.routing)) {
          locked();
          await gate;
        }
      });
      const passing = h.channel.allocator.pass();
      try {
        await roomsLocked;
        const holder = new pg.Client({ connectionString: store().url });
        await holder.connect();
        try {
          await holder.query('begin');
          const backingOff = holder.query(BACK_OFF, backOff);
          assert.equal(await settledOrWaiting(store().db, 'insert into qiscus_rooms', backingOff), 'settled', 'the back-off waited for the room the decision locked');
          await holder.query('commit');
        } finally {
          await holder.end();
        }
      } finally {
        release();
      }
      assert.equal((await passing).assigned, 1);
    }
    assert.equal((await roomRow('r-1')).state, 'assigned');
    assert.deepEqual(await invariantViolations(store().db), []);
  });
});
