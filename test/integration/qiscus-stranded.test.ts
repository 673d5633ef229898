// The worker records an assign_agent's answer, then settles it (the room
// confirmed, requeued after a refusal, given up), in a second transaction.
// Found in review (2026-11-26): a settle that failed (a lost connection, a
// deadlock) or never ran (the process died between the two) left the answer
// recorded and the room as it was. A room whose agent Qiscus refused stayed
// assigned to them in Switchboard — their slot taken, nobody in the room in
// Qiscus — for good. The poll now settles such rooms again from what was
// recorded (src/channels/qiscus/stranded.ts). Here the settle fails once,
// as a lost connection would make it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { STRANDED_AFTER_MS } from '../../src/channels/qiscus/stranded.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { invariantViolations } from '../helpers/invariants.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus assignments whose answer was recorded but never settled', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  /** The next settle of the channel's producer fails, as a lost connection would make it. */
  const failNextSettle = (h: QiscusHarness) => {
    const producer = h.channel.producer;
    const settle = producer.settle!;
    let failed = 0;
    producer.settle = async (...args) => {
      producer.settle = settle;
      failed += 1;
      throw new Error('Connection terminated unexpectedly');
    };
    return () => failed;
  };
  const room = async (roomId: string) =>
    (
      await store().db.query<{ state: string; agent: string | null; confirmed: boolean; refused_agent_id: string | null; reason: string | null }>(
        `select c.state, a.external_ref as agent, q.confirmed_at is not null as confirmed, q.refused_agent_id, q.reason
           from conversations c join qiscus_rooms q on q.conversation_id = c.id left join agents a on a.id = c.agent_id
          where c.external_ref = $1`,
        [roomId],
      )
    )[0]!;

  it('requeues a room whose refusal was recorded but not settled, and it goes to another agent', async () => {
    const h = await harness();
    const [first] = fake.addAgents(1);
    fake.refuse = (_room, agentId) => (agentId === first!.id ? { status: 400, body: { status: 400, errors: 'Agent is offline' } } : undefined);
    await h.webhook('r1');
    await h.channel.allocator.pass();
    const failures = failNextSettle(h);
    await h.worker.tick();
    assert.equal(failures(), 1);
    // stranded: assigned in Switchboard to the agent Qiscus refused, the call failed, nobody in the room
    const stranded = await room('r1');
    assert.deepEqual([stranded.state, stranded.agent, stranded.confirmed], ['assigned', String(first!.id), false]);
    assert.deepEqual(await h.loads(), new Map([[String(first!.id), { load: 1, open: 1 }]]));
    assert.deepEqual(fake.rooms.get('r1') ?? [], []);

    // its own settle may still be on the way: left alone for a while
    assert.equal(await h.channel.settleStranded(), 0);
    h.clock.advance(STRANDED_AFTER_MS + 1_000);
    assert.equal(await h.channel.settleStranded(), 1);
    const requeued = await room('r1');
    assert.deepEqual([requeued.state, requeued.refused_agent_id], ['queued', String(first!.id)]);
    assert.match(requeued.reason ?? '', /^Qiscus refused agent .* \(HTTP 400 Agent is offline\); waiting for another agent \(refusal 1 of 3\)/);
    assert.deepEqual(await h.loads(), new Map([[String(first!.id), { load: 0, open: 0 }]]));
    assert.equal(await h.channel.settleStranded(), 0, 'settled twice');

    const [second] = fake.addAgents(1);
    await h.settle();
    assert.deepEqual(fake.rooms.get('r1'), [second!.id]);
    assert.deepEqual([(await room('r1')).state, (await room('r1')).confirmed], ['assigned', true]);
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('confirms a room whose assignment went through but was not settled', async () => {
    const h = await harness();
    const [agent] = fake.addAgents(1);
    await h.webhook('r1');
    await h.channel.allocator.pass();
    failNextSettle(h);
    await h.worker.tick();
    assert.deepEqual(fake.rooms.get('r1'), [agent!.id]);
    assert.equal((await room('r1')).confirmed, false);
    h.clock.advance(STRANDED_AFTER_MS + 1_000);
    assert.equal(await h.channel.settleStranded(), 1);
    const confirmed = await room('r1');
    assert.deepEqual([confirmed.state, confirmed.agent, confirmed.confirmed], ['assigned', String(agent!.id), true]);
    assert.equal(await h.channel.settleStranded(), 0);
    assert.deepEqual(await invariantViolations(store().db), []);
  });

  it('leaves alone a room whose call is still being tried', async () => {
    const h = await harness();
    fake.addAgents(1);
    fake.inject('/api/v1/admin/service/assign_agent', { status: 503, body: { status: 503, errors: 'Service Unavailable' } });
    await h.webhook('r1');
    await h.channel.allocator.pass();
    await h.worker.tick();
    h.clock.advance(STRANDED_AFTER_MS + 1_000);
    assert.equal(await h.channel.settleStranded(), 0);
    assert.equal((await room('r1')).state, 'assigned');
  });
});
