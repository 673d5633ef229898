// A settled assign_agent speaks for its room only while it is the room's
// current call (qiscus_rooms.outbound_id): the worker records the attempt,
// then settles it, and in between — or while the settle runs — the room may
// be taken back and given to another agent by a newer call. Here that
// re-assignment is made to commit at a fixed point: once the settle has
// looked at the room, just before its first transaction. A settle that checks
// the room in one statement and changes it in a later one then requeues or
// fails the newer assignment; one whose check is inside the change's
// transaction finds the newer call and leaves the room alone.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import type { Ctx } from '../../src/context.js';
import type { SettledAttempt } from '../../src/events/outbound/worker.js';
import type { Db } from '../../src/store/db.js';
import type { FakeAgent, FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const ASSIGN = '/api/v1/admin/service/assign_agent';

/** `db`, but the first transaction it is asked to open waits for `interleave` to finish first. */
function beforeFirstTransaction(db: Db, interleave: () => Promise<void>): Db {
  let done = false;
  return new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (done || !['transaction', 'transactOne', 'transactOneThen'].includes(String(prop))) return bound;
      return async (...args: unknown[]) => {
        done = true;
        await interleave();
        return bound(...args);
      };
    },
  });
}

describeEachStore('Qiscus: a settled assign_agent against a newer assignment of its room', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  let supervisor: Promise<string> | undefined;
  beforeEach(() => {
    supervisor = undefined;
  });
  const token = () => (supervisor ??= h.t.user('supervisor').then((u) => u.token));

  const roomOf = async (roomId: string) => {
    const [row] = await store().db.query<{ id: string; state: string; agent: string | null; qiscus_agent_id: string | null; refusals: number; reason: string | null }>(
      `select c.id, c.state, a.external_ref as agent, q.qiscus_agent_id, q.refusals, q.reason
         from conversations c join qiscus_rooms q on q.conversation_id = c.id left join agents a on a.id = c.agent_id
        where c.channel = 'qiscus' and c.external_ref = $1`,
      [roomId],
    );
    assert.ok(row, `room ${roomId} has no conversation`);
    return row;
  };

  /**
   * r1 assigned to a1, whose assign_agent meets `answer` and is recorded by the
   * worker; its settle is held back and returned, for the test to run.
   */
  async function heldSettle(answer: { status: number; body?: unknown }, beforeSending?: () => Promise<void>): Promise<{ a1: FakeAgent; a2: FakeAgent; settle: (ctx: Ctx) => Promise<void> }> {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the first pick
    fake.inject(ASSIGN, answer);
    await h.webhook('r1');
    await h.channel.allocator.pass();
    await beforeSending?.();
    const producer = h.channel.producer;
    const settle = producer.settle!.bind(producer);
    let held: readonly SettledAttempt[] | undefined;
    producer.settle = async (ctx, results) => {
      if (held === undefined && results.some((r) => r.row.name === 'assign_agent')) held = results;
      else await settle(ctx, results);
    };
    await h.worker.tick();
    assert.ok(held, 'the worker settled no assign_agent');
    assert.deepEqual(fake.assigned, [], 'Qiscus took no assignment yet');
    const results = held;
    return { a1: a1!, a2: a2!, settle: (ctx) => settle(ctx, results) };
  }

  /** What may commit within a few ms, from another process: the room taken back from a1 and given to a2 by a new call. */
  async function reassign(a1: FakeAgent, a2: FakeAgent): Promise<void> {
    a1.is_available = false;
    const { id } = await roomOf('r1');
    const res = await h.t.call('POST', `/api/v1/conversations/${id}/requeue`, { token: await token() });
    assert.equal(res.statusCode, 200, res.body);
    await h.settle(); // remove_agent of a1 (not in the room: done), then a2's assign_agent, confirmed
    assert.deepEqual(fake.rooms.get('r1'), [a2.id]);
    const room = await roomOf('r1');
    assert.deepEqual([room.state, room.agent], ['assigned', String(a2.id)]);
  }

  const withReassignment = (a1: FakeAgent, a2: FakeAgent): Ctx =>
    Object.create(h.t.ctx, { db: { value: beforeFirstTransaction(h.t.ctx.db, () => reassign(a1, a2)) } }) as Ctx;

  async function assertNewerAssignmentStands(a2: FakeAgent): Promise<void> {
    const room = await roomOf('r1');
    assert.deepEqual(
      { state: room.state, agent: room.agent, qiscus_agent_id: room.qiscus_agent_id, refusals: room.refusals, reason: room.reason },
      { state: 'assigned', agent: String(a2.id), qiscus_agent_id: String(a2.id), refusals: 0, reason: null },
      'a2 keeps the room',
    );
    assert.deepEqual((await h.loads()).get(String(a2.id)), { load: 1, open: 1 }, "a2's slot stays taken");
    assert.deepEqual(fake.rooms.get('r1'), [a2.id]);
  }

  it("a refusal of the old agent, settled as the room is given to another, does not requeue the new agent's assignment", async () => {
    const { a1, a2, settle } = await heldSettle({ status: 404, body: { status: 404, errors: { message: 'Agent not found' } } });
    await settle(withReassignment(a1, a2));
    await assertNewerAssignmentStands(a2);
  });

  it("an old assignment given up, settled as the room is given to another, does not fail the new agent's assignment", async () => {
    // its only attempt: given up, not retried
    const { a1, a2, settle } = await heldSettle({ status: 503 }, async () => {
      await store().db.query(`update outbound_requests set max_attempts = 1 where name = 'assign_agent'`);
    });
    assert.deepEqual(await store().db.query(`select state from outbound_requests where name = 'assign_agent'`), [{ state: 'failed' }]);
    await settle(withReassignment(a1, a2));
    await assertNewerAssignmentStands(a2);
  });
});
