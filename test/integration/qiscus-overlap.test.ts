// Allocation passes overlap (issue #22: webhook → assign_agent p99): a room
// that arrives while a pass waits for Qiscus' agent lists gets its own pass
// at once instead of waiting for that one to end. What must still hold: each
// room assigned once, and queue order — a room read by a later pass never
// takes a slot an older room, still being fetched, could have had.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { it } from 'node:test';
import { passTimeline, type PassTimeline } from '../../src/channels/qiscus/allocate.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const AGENTS = '/api/v2/admin/service/available_agents';
// No poll to rescue a stuck queue, and a deadline far beyond the test's waits: only a pass can move a room.
const ENV = { QISCUS_POLL_INTERVAL: '3600000', QISCUS_TIMEOUT: '60000', QISCUS_PASSES_AT_ONCE: '3' };

describeEachStore('Qiscus allocation passes overlapping', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  /** Holds the next agent list call open until the returned function is called. */
  const holdNextList = () => {
    let release!: () => void;
    fake.inject(AGENTS, { until: new Promise<void>((resolve) => (release = resolve)) });
    return release;
  };
  const listed = (room: string) => fake.requests.some((r) => r.path === AGENTS && r.query.get('room_id') === room);
  const states = async () =>
    new Map(
      (await store().db.query<{ room: string; state: string }>(`select external_ref as room, state from conversations where channel = 'qiscus'`)).map((r) => [r.room, r.state]),
    );

  it('assigns a room that arrives while a pass waits for an agent list, without waiting for that pass; each room once', async () => {
    h = await harness({ env: ENV });
    fake.addAgents(2);
    const release = holdNextList();
    h.run();
    await h.webhook('slow-1');
    assert.ok(await h.until(() => listed('slow-1')), "the first pass did not ask for slow-1's agents");
    await h.webhook('quick-2');
    // slow-1's list is still held open: its pass has not ended
    assert.ok(await h.until(() => fake.assigned.some((a) => a.room_id === 'quick-2'), 20_000), 'quick-2 waited for the pass that is still fetching slow-1');
    assert.equal((await states()).get('slow-1'), 'queued');
    release();
    assert.ok(await h.until(() => fake.assigned.some((a) => a.room_id === 'slow-1'), 20_000), 'slow-1 was not assigned once its list came');
    assert.ok(await h.until(async () => [...(await states()).values()].every((s) => s === 'assigned')));
    // each room went once, and each agent holds what Switchboard counted
    assert.deepEqual(fake.assigned.map((a) => a.room_id).sort(), ['quick-2', 'slow-1']);
    for (const [, { load, open }] of await h.loads()) assert.equal(load, open);
  });

  it('keeps queue order: a later pass leaves the last slots to an older room still being fetched, and its room is tried again after', async () => {
    h = await harness({ env: ENV });
    const [a1, a2] = fake.addAgents(2);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    const timelines: PassTimeline[] = [];
    const onPass = (message: unknown) => void timelines.push(message as PassTimeline);
    subscribe(passTimeline.name, onPass);
    try {
      const release = holdNextList();
      h.run();
      await h.webhook('old-1');
      assert.ok(await h.until(() => listed('old-1')));
      await h.webhook('new-2');
      // new-2's pass decides while old-1's list is held open: two agents, one slot each, and old-1 may want either
      assert.ok(await h.until(() => timelines.length >= 1, 20_000), "new-2's pass did not decide");
      assert.deepEqual(timelines[0]!.assigned, [], 'new-2 took a slot old-1, older and still being fetched, could have had');
      assert.equal(fake.assigned.length, 0);
      // a while with old-1 still held open: a pass that held new-2 back must not start another at once, and another...
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(timelines.flatMap((t) => t.assigned), []);
      release();
      // old-1 first; then new-2, in a pass of its own once old-1 is decided (the poll is an hour away)
      assert.ok(await h.until(() => fake.assigned.length === 2, 20_000), `not both assigned: ${JSON.stringify(fake.assigned)}`);
      assert.deepEqual(fake.assigned.map((a) => a.room_id), ['old-1', 'new-2']);
      assert.deepEqual(new Set(fake.assigned.map((a) => a.agent_id)), new Set([a1!.id, a2!.id]), 'an agent took two rooms at capacity 1');
      // held back, then once more after old-1's pass: not a pass after pass while old-1 was held open
      const newLists = fake.requests.filter((r) => r.path === AGENTS && r.query.get('room_id') === 'new-2').length;
      assert.ok(newLists <= 3, `new-2's agents were listed ${newLists} times`);
      assert.ok(await h.until(async () => [...(await states()).values()].every((s) => s === 'assigned')));
    } finally {
      unsubscribe(passTimeline.name, onPass);
    }
  });
});
