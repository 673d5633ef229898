// Allocation passes pipelined (issue #22, Qiscus paced 500/s, webhook →
// assign_agent p99): while a pass decides, the next one reads and fetches the
// rooms that arrived meanwhile, and, waiting for its turn to decide, takes
// those that arrive after; it decides them all right after that decision.
// Before, a room arriving during a decision waited for that pass to end, then
// for a whole pass of its own. What must still hold: each room once, in
// queue order, each agent's load what it holds.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { it } from 'node:test';
import { passTimeline, type PassTimeline } from '../../src/channels/qiscus/allocate.js';
import { LOCKS, type Db } from '../../src/store/db.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const AGENTS = '/api/v2/admin/service/available_agents';
// No poll to move a room, and the default passes at once (1): only the pipeline overlaps passes.
const ENV = { QISCUS_POLL_INTERVAL: '3600000', QISCUS_TIMEOUT: '60000' };

describeEachStore('Qiscus allocation passes pipelined', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const listed = (room: string) => fake.requests.some((r) => r.path === AGENTS && r.query.get('room_id') === room);

  /**
   * Holds the next decision (a transaction under the routing lock, shared)
   * before it begins — a slow decision, without holding PGlite's one
   * connection — until the returned release is called.
   */
  const holdNextDecision = () => {
    const db = h.t.ctx.db;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = { reached: false };
    h.t.ctx.db = {
      ...db,
      transaction: async (fn, options) => {
        if (!held.reached && options?.locks?.some((l) => typeof l === 'object' && l.shared === LOCKS.routing)) {
          held.reached = true;
          await gate;
        }
        return db.transaction(fn, options);
      },
    } as Db;
    return { release, held };
  };

  it('fetches the rooms that arrive while a pass decides, and decides them together right after it; each room once, in order', async () => {
    h = await harness({ env: ENV });
    fake.addAgents(2);
    const timelines: PassTimeline[] = [];
    const onPass = (message: unknown) => void timelines.push(message as PassTimeline);
    subscribe(passTimeline.name, onPass);
    const { release, held } = holdNextDecision();
    try {
      h.run();
      await h.webhook('first-1');
      assert.ok(await h.until(() => held.reached, 20_000), "first-1's pass did not reach its decision");
      await h.webhook('second-2');
      // first-1's decision is still held: its pass has not ended
      assert.ok(await h.until(() => listed('second-2'), 5_000), "second-2's agents waited for the pass still deciding first-1");
      await h.webhook('third-3');
      assert.ok(await h.until(() => listed('third-3'), 5_000), "third-3's agents waited for the pass still deciding first-1");
      assert.equal(fake.assigned.length, 0);
      release();
      assert.ok(await h.until(() => fake.assigned.length === 3, 20_000), `not all assigned: ${JSON.stringify(fake.assigned)}`);
      assert.deepEqual(fake.assigned.map((a) => a.room_id), ['first-1', 'second-2', 'third-3']);
      // the pass waiting for its turn took third-3 too: one decision after first-1's, not two
      assert.deepEqual(timelines.map((t) => t.assigned), [['first-1'], ['second-2', 'third-3']]);
      // each agent list once: nobody fetched a room another pass held
      for (const room of ['first-1', 'second-2', 'third-3']) {
        assert.equal(fake.requests.filter((r) => r.path === AGENTS && r.query.get('room_id') === room).length, 1, `${room}'s agents listed more than once`);
      }
      for (const [, { load, open }] of await h.loads()) assert.equal(load, open);
    } finally {
      // a failed assertion must not leave the pass held: the harness waits for it to close
      release();
      unsubscribe(passTimeline.name, onPass);
    }
  });

  it('keeps capacity across the pipeline: the pass deciding after a held one sees the slots it took', async () => {
    h = await harness({ env: ENV });
    fake.addAgents(1);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    const { release, held } = holdNextDecision();
    try {
      h.run();
      await h.webhook('cap-1');
      assert.ok(await h.until(() => held.reached, 20_000));
      await h.webhook('cap-2');
      assert.ok(await h.until(() => listed('cap-2'), 5_000), "cap-2's agents waited for the pass still deciding cap-1");
    } finally {
      release();
    }
    assert.ok(await h.until(() => fake.assigned.length === 1, 20_000));
    // the one slot went to the older room; cap-2 waits, queued, with the agent full
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['cap-1']);
    const [row] = await h.t.ctx.db.query<{ state: string }>(`select state from conversations where external_ref = 'cap-2'`);
    assert.equal(row?.state, 'queued');
    for (const [, { load, open }] of await h.loads()) assert.equal(load, open);
  });

  // Found by review (2026-11-26): the next pass read only new-2 (old-1 was
  // held by the deciding pass), old-1's decision found the agent full, and
  // a slot freed while the next pass fetched went to new-2. Now that
  // decision keeps the slot old-1 would take, and old-1's next pass takes it.
  const leftWaitingThenFreed = async (meanwhile: () => Promise<void>) => {
    h = await harness({ env: ENV });
    fake.addAgents(1);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    const timelines: PassTimeline[] = [];
    const onPass = (message: unknown) => void timelines.push(message as PassTimeline);
    subscribe(passTimeline.name, onPass);
    let fetched!: () => void;
    const newFetched = new Promise<void>((resolve) => (fetched = resolve));
    try {
      h.run();
      await h.webhook('r0');
      assert.ok(await h.until(() => fake.assigned.length === 1, 20_000), 'r0 was not assigned');
      const { release, held } = holdNextDecision();
      try {
        await h.webhook('old-1');
        assert.ok(await h.until(() => held.reached, 20_000), "old-1's pass did not reach its decision");
        // new-2's agent list answers only when the test says
        fake.inject(AGENTS, { until: newFetched });
        await h.webhook('new-2');
        assert.ok(await h.until(() => listed('new-2'), 5_000), "new-2's agents waited for the pass still deciding old-1");
      } finally {
        release();
      }
      // old-1's decision: the one agent is full
      assert.ok(await h.until(() => timelines.length === 2, 20_000), "old-1's decision did not end");
      assert.deepEqual(timelines[1]!.assigned, []);
      await meanwhile();
      fetched();
      // new-2's decision, then old-1's next pass
      assert.ok(await h.until(() => timelines.length >= 4, 20_000), `passes: ${JSON.stringify(timelines.map((t) => t.assigned))}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      fetched();
      unsubscribe(passTimeline.name, onPass);
    }
    const [row] = await h.t.ctx.db.query<{ state: string }>(`select state from conversations where external_ref = 'new-2'`);
    assert.equal(row?.state, 'queued');
    for (const [, { load, open }] of await h.loads()) assert.equal(load, open);
  };

  it('gives a slot freed while the next pass fetches to the older room the last decision left waiting, not to the newer one', async () => {
    // r0 is resolved while new-2's pass still waits for its list
    await leftWaitingThenFreed(async () => assert.equal((await h.resolve('r0')).statusCode, 200));
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['r0', 'old-1']);
  });

  it('keeps that order however long the next pass fetched: the older room is assigned on a fresh list, not an old one', async () => {
    await leftWaitingThenFreed(async () => {
      assert.equal((await h.resolve('r0')).statusCode, 200);
      h.clock.advance(60_000);
    });
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['r0', 'old-1']);
  });

  it("gives the older room no agent the newer room's fresh list says went offline", async () => {
    await leftWaitingThenFreed(async () => {
      const agent = [...fake.agents.values()][0]!;
      agent.is_available = false;
      agent.force_offline = true;
      assert.equal((await h.resolve('r0')).statusCode, 200);
    });
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['r0']);
  });
});
