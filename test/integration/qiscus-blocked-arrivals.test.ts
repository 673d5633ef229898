// A queue found blocked (every agent its rooms were offered is full) is not
// the whole of Qiscus: it lists agents per room (channel, division), so a new
// room may be offered agents with room, and a resolve may free a slot that
// Switchboard's own loads never held (a room an admin gave by hand). The poll
// is an hour away here: only the allocator's own wake-ups can move a room.
// Found by review (2026-12); each of the first and last failed before.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const AGENTS = '/api/v2/admin/service/available_agents';
const ENV = { QISCUS_POLL_INTERVAL: '3600000', QISCUS_TIMEOUT: '60000' };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('Qiscus: a blocked queue, new rooms and resolves that close nothing', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const assignedRoom = (room: string) => fake.assigned.some((a) => a.room_id === room);
  const lists = (room: string) => fake.requests.filter((r) => r.path === AGENTS && r.query.get('room_id') === room).length;
  const oneSlot = async (h: QiscusHarness) => {
    const res = await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    assert.equal(res.statusCode, 200, res.body);
  };
  /** the queue blocked on agent `full`: r1 holds its one slot, r2 waits for it */
  const blockedOn = async (h: QiscusHarness, full: number) => {
    fake.offeredFor.set('r1', [full]);
    fake.offeredFor.set('r2', [full]);
    h.run();
    await h.webhook('r1');
    assert.ok(await h.until(() => assignedRoom('r1')));
    await h.webhook('r2');
    assert.ok(await h.until(() => lists('r2') > 0));
    await pause(300);
    assert.equal(assignedRoom('r2'), false, "r2's only agent is full");
  };

  it("assigns at once a new room offered a free agent while the rooms before it wait for another channel's full agent", async () => {
    const h = await harness({ env: ENV });
    const [a, b] = fake.addAgents(2);
    await oneSlot(h);
    await blockedOn(h, a!.id);
    fake.offeredFor.set('r3', [b!.id]);
    await h.webhook('r3');
    assert.ok(await h.until(() => assignedRoom('r3'), 5_000), 'r3 (agent B free) waited for the poll: the allocator was blocked on agent A');
    assert.deepEqual(fake.assigned.map((x) => [x.room_id, x.agent_id]), [['r1', a!.id], ['r3', b!.id]]);
    assert.equal(lists('r2'), 1, "r3's pass read r3 alone: r2's full agent was not listed again");
  });

  it('lists each new room once while everyone is full, and gives a freed slot to the oldest room, not to a newer one', async () => {
    const h = await harness({ env: ENV });
    const [a] = fake.addAgents(1);
    await oneSlot(h);
    await blockedOn(h, a!.id);
    const newer = ['r3', 'r4', 'r5', 'r6'];
    for (const room of newer) fake.offeredFor.set(room, [a!.id]);
    for (const room of newer) await h.webhook(room);
    assert.ok(await h.until(() => newer.every((room) => lists(room) > 0)), 'a new room was never listed');
    await pause(300);
    assert.deepEqual(fake.assigned.map((x) => x.room_id), ['r1']);
    assert.deepEqual([lists('r1'), lists('r2'), ...newer.map(lists)], [1, 1, 1, 1, 1, 1], 'no pass from the head for a new room while everyone is full');
    // A's slot frees (r1 resolved in the console): it goes to r2, the oldest waiting
    const [{ id }] = (await store().db.query<{ id: string }>(`select id from conversations where external_ref = 'r1'`)) as [{ id: string }];
    const res = await h.t.call('POST', `/api/v1/conversations/${id}/resolve`, { token: (await h.t.user('admin')).token, body: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(await h.until(() => fake.assigned.length === 2));
    await pause(300);
    assert.deepEqual(fake.assigned.map((x) => x.room_id), ['r1', 'r2']);
  });

  it("drains the queue on a resolve webhook for a room Switchboard never held (an admin gave it by hand in Qiscus): Qiscus' count for its agent dropped", async () => {
    const h = await harness({ env: ENV });
    const [a] = fake.addAgents(1);
    fake.rooms.set('manual', [a!.id]);
    fake.syncCounts();
    await oneSlot(h);
    h.run();
    await h.webhook('r1');
    assert.ok(await h.until(() => lists('r1') > 0));
    await pause(300);
    assert.equal(assignedRoom('r1'), false, 'Qiscus counts the room given by hand');
    // the agent resolves it in Qiscus, which sends its resolve webhook
    fake.resolved.add('manual');
    fake.syncCounts();
    const res = await h.resolve('manual');
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(await h.until(() => assignedRoom('r1'), 5_000), 'r1 waited for the poll although the resolve freed its agent');
  });
});
