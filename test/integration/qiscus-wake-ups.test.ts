// A freed slot reaches the allocator however it was freed (docs/qiscus.md: "the
// queue drained the moment a room is resolved"): a room resolved in the console
// (Qiscus' resolve webhook then finds it closed already), and a slot freed by
// another process while this one, having found every agent full, no longer
// starts passes for new rooms. The poll is an hour away, so only a wake-up can
// move a room. Found by review (2026-11-26); each failed before. And a room
// whose agent list failed is tried again when its back-off ends.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const AGENTS = '/api/v2/admin/service/available_agents';
const ENV = { QISCUS_POLL_INTERVAL: '3600000', QISCUS_TIMEOUT: '60000' };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('Qiscus: a freed slot wakes the allocator', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const assignedRoom = (room: string) => fake.assigned.some((a) => a.room_id === room);
  const listed = (room: string) => fake.requests.some((r) => r.path === AGENTS && r.query.get('room_id') === room);
  const conversationOf = async (room: string) =>
    (await store().db.query<{ id: string }>(`select id from conversations where external_ref = $1 and state = 'assigned'`, [room]))[0]!.id;
  const oneSlot = async (h: QiscusHarness) => {
    const res = await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    assert.equal(res.statusCode, 200, res.body);
  };

  it('a room resolved in the console frees its slot for the waiting room at once ("the queue drained the moment a room is resolved")', async () => {
    const h = await harness({ env: ENV });
    fake.addAgents(1);
    await oneSlot(h);
    h.run();
    await h.webhook('r1');
    assert.ok(await h.until(() => assignedRoom('r1')));
    await h.webhook('r2');
    assert.ok(await h.until(() => listed('r2')));
    await pause(300);
    assert.equal(assignedRoom('r2'), false, 'the only agent is full');
    const res = await h.t.call('POST', `/api/v1/conversations/${await conversationOf('r1')}/resolve`, { token: (await h.t.user('admin')).token, body: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(await h.until(() => assignedRoom('r2'), 5_000), 'r2 waited for the poll although its agent had room: the resolve woke no pass');
    // Qiscus then calls the resolve webhook back (mark_as_resolved went out): it finds the room closed
    assert.ok(await h.until(() => fake.markedResolved.some((m) => m.room_id === 'r1')), 'mark_as_resolved was not sent');
    assert.equal((await h.resolve('r1')).statusCode, 200);
    await pause(300);
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['r1', 'r2']);
    const [{ load }] = (await store().db.query<{ load: number }>(`select load from agents where source = 'qiscus'`)) as [{ load: number }];
    assert.equal(load, 1, 'the mirror holds r2 alone');
  });

  it('a second process: a resolve served by one wakes the other, blocked since it found everyone full', async () => {
    const a = await harness({ env: ENV });
    const b = await harness({ env: ENV });
    fake.addAgents(1);
    await oneSlot(a);
    a.run();
    b.run();
    await a.webhook('r0');
    assert.ok(await a.until(() => assignedRoom('r0')));
    // process A's pass finds the one agent full: A stops fetching for new webhooks
    await a.webhook('r1');
    assert.ok(await a.until(() => listed('r1')));
    await pause(300);
    assert.equal(assignedRoom('r1'), false);
    // Qiscus' resolve webhooks reach process B: r1 takes r0's slot, then r1 is resolved too
    assert.equal((await b.resolve('r0')).statusCode, 200);
    assert.ok(await b.until(() => assignedRoom('r1')), "B's resolve did not drain the queue");
    assert.equal((await b.resolve('r1')).statusCode, 200);
    await pause(300);
    // the agent is free; a new room reaches process A
    await a.webhook('r2');
    assert.ok(await a.until(() => assignedRoom('r2'), 5_000), "r2 waits for A's poll although the agent has room: A is still 'blocked'");
  });

  it("a room whose agent list failed is tried again when its back-off ends, not at the poll (docs/qiscus.md: 1 s, 2 s, 4 s …)", async () => {
    const h = await harness({ env: ENV });
    fake.addAgents(1);
    h.run();
    // Qiscus down for one list: the room backs off 1 s (the server's clock moves on with it)
    fake.inject(AGENTS, { status: 503, body: { errors: 'down for a moment' } });
    await h.webhook('r1');
    // the back-off recorded (its end reckoned from the clock), then the clock moves on by it
    const backedOff = async () =>
      (await store().db.query(`select 1 from qiscus_rooms where room_id = 'r1' and retry_at is not null`)).length > 0;
    assert.ok(await h.until(backedOff));
    h.clock.advance(1_000);
    const lists = () => fake.requests.filter((r) => r.path === AGENTS && r.query.get('room_id') === 'r1').length;
    assert.ok(await h.until(() => assignedRoom('r1'), 5_000), 'the room waited for the poll after its back-off had ended');
    assert.equal(lists(), 2);
  });
});
