// A supervisor moving a Qiscus room inside Switchboard, against a fake Qiscus:
// a room taken back from its agent has that agent removed in Qiscus
// (remove_agent, durably, before the room's next assign_agent), a room Qiscus
// itself refused is not, the room is allocated again at once, and moves that
// would take a room out of the Qiscus allocator are refused.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

const ASSIGN = '/api/v1/admin/service/assign_agent';
const REMOVE = '/api/v1/admin/service/remove_agent';

describeEachStore('Qiscus rooms moved by a supervisor', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const calls = (path: string) => fake.requests.filter((r) => r.path === path);
  /** the Qiscus calls about rooms, in the order the fake received them */
  const roomCalls = () =>
    fake.requests.filter((r) => r.path === ASSIGN || r.path === REMOVE).map((r) => [r.path === ASSIGN ? 'assign' : 'remove', r.form.get('room_id'), Number(r.form.get('agent_id'))]);
  /** one account per role and test: a new one would be a row the "changes nothing" checks see */
  let tokens: Map<string, Promise<string>>;
  beforeEach(() => {
    tokens = new Map();
  });
  const token = (role: 'admin' | 'supervisor') => {
    if (!tokens.has(role)) tokens.set(role, h.t.user(role).then((u) => u.token));
    return tokens.get(role)!;
  };
  const rooms = async (status?: string) => {
    const res = await h.t.call('GET', `/api/v1/qiscus/rooms${status ? `?status=${status}` : ''}`, { token: await token('admin') });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().rooms as { room_id: string; conversation_id: string; status: string; reason: string | null; qiscus_agent_id: string | null }[];
  };
  const conversationOf = async (roomId: string) => {
    const room = (await rooms()).find((r) => r.room_id === roomId);
    assert.ok(room, `room ${roomId} is not open`);
    return room.conversation_id;
  };
  const requeueBySupervisor = async (roomId: string) => {
    const res = await h.t.call('POST', `/api/v1/conversations/${await conversationOf(roomId)}/requeue`, { token: await token('supervisor') });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().state, 'queued');
  };
  const removals = () =>
    store().db.query<{ state: string; attempts: number; last_status: number | null; ordering_key: string | null }>(
      `select state, attempts, last_status, ordering_key from outbound_requests where name = 'remove_agent' order by id`,
    );
  /** how far the Qiscus feed has read the event log */
  const cursor = async () => Number((await store().db.query<{ id: string }>(`select last_event_id as id from outbox_cursors where name = 'qiscus'`))[0]?.id ?? -1);

  it('removes the agent in Qiscus when a supervisor requeues their room, then assigns the new pick after it, at once with the poll an hour away', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the first pick
    await h.webhook('r1');
    h.run();
    assert.ok(await h.until(async () => (await rooms('assigned')).length === 1), 'the room was never assigned');
    assert.deepEqual(fake.rooms.get('r1'), [a1!.id]);
    a1!.is_available = false; // going off shift: the supervisor moves their room
    await requeueBySupervisor('r1');
    // no pass by hand and no poll: the requeue itself must get the room to a2, in Qiscus too
    const moved = await h.until(async () => fake.assigned.length === 2 && (await rooms('assigned'))[0]?.qiscus_agent_id === String(a2!.id));
    assert.ok(moved, `the room did not move to a2: Qiscus saw ${JSON.stringify(roomCalls())}`);
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['assign', 'r1', a2!.id]]);
    const remove = calls(REMOVE)[0]!;
    assert.equal(remove.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(remove.headers['qiscus-secret-key'], fake.secret);
    assert.deepEqual(Object.fromEntries(remove.form), { room_id: 'r1', agent_id: String(a1!.id) });
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id], 'Qiscus has the new agent alone in the room');
    assert.deepEqual(fake.removed.map((r) => [r.room_id, r.agent_id]), [['r1', a1!.id]]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a2!.id), null]);
    const loads = await h.loads();
    assert.deepEqual(loads.get(String(a1!.id)), { load: 0, open: 0 });
    assert.deepEqual(loads.get(String(a2!.id)), { load: 1, open: 1 });
    const removal = (await removals())[0]!;
    assert.deepEqual([removal.state, removal.ordering_key], ['delivered', 'qiscus:room:r1']);
  });

  it('sends no remove_agent when Qiscus itself refused the agent: they never joined the room', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1;
    fake.inject(ASSIGN, { status: 404, body: { status: 404, errors: { message: 'Agent not found' } } });
    await h.webhook('r1');
    await h.settle();
    assert.equal((await rooms('waiting')).length, 1, 'the refusal put the room back in the queue');
    await h.settle();
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['assign', 'r1', a2!.id]]);
    // evidence the feed read the refusal's events, rather than not having run yet
    const [{ last }] = (await store().db.query<{ last: string }>(`select max(id) as last from events`)) as [{ last: string }];
    assert.ok((await cursor()) >= Number(last), 'the Qiscus feed has not read the event log to its end');
    assert.deepEqual(calls(REMOVE), []);
    assert.deepEqual(await removals(), []);
    const [queued] = await store().db.query<{ reason: string }>(`select data->>'reason' as reason from events where type = 'conversation.queued' and agent_id is not null`);
    assert.equal(queued!.reason, 'qiscus_refused');
  });

  it('retries a remove_agent that meets a transient error, holding the next assign_agent of the room behind it', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1;
    await h.webhook('r1');
    await h.settle();
    a1!.is_available = false;
    fake.inject(REMOVE, { status: 503 }, 'hang');
    await requeueBySupervisor('r1');
    await h.settle();
    // the room went to a2 in Switchboard, but Qiscus hears of it only once a1 is out
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['remove', 'r1', a1!.id]]);
    const [assigning] = await rooms();
    assert.deepEqual([assigning!.status, assigning!.qiscus_agent_id], ['assigning', String(a2!.id)]);
    assert.deepEqual((await removals()).map((r) => [r.state, r.attempts]), [['pending', 1]]);
    // the second attempt times out (QISCUS_TIMEOUT 2 s): retried again, assign_agent still waits
    h.clock.advance(1_500); // the first retry comes after 1 s ± 10 %
    await h.worker.tick();
    assert.deepEqual(roomCalls().map((c) => c[0]), ['assign', 'remove', 'remove']);
    h.clock.advance(4_000); // the second after 3 s ± 10 %
    await h.worker.tick();
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['assign', 'r1', a2!.id]]);
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a2!.id), null]);
    assert.deepEqual((await removals()).map((r) => [r.state, r.attempts]), [['delivered', 3]]);
  });

  it('lets an assign_agent answer that outlived a requeue speak no more for the room: the refusal of the old agent leaves the new assignment alone', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1;
    fake.inject(ASSIGN, { status: 503 }, { status: 403, body: { status: 403, errors: 'Agent can not join this room' } });
    await h.webhook('r1');
    await h.settle(); // assign_agent(a1) met a 503 and waits for its retry
    a1!.is_available = false;
    await requeueBySupervisor('r1');
    await h.settle(); // the room goes to a2; its calls wait behind the retry
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id]]);
    h.clock.advance(1_500);
    await h.worker.tick();
    // a1 refused at last, then removed (they are not in the room: done), then a2 assigned
    assert.deepEqual(roomCalls(), [['assign', 'r1', a1!.id], ['assign', 'r1', a1!.id], ['remove', 'r1', a1!.id], ['assign', 'r1', a2!.id]]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a2!.id), null]);
    assert.deepEqual(
      (await store().db.query(`select refused_agent_id, refusals from qiscus_rooms where room_id = 'r1'`))[0],
      { refused_agent_id: null, refusals: 0 },
      'the stale refusal was not counted against the room',
    );
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id]);
  });

  it('counts a remove_agent Qiscus answers "not in this room" as done; another refusal is given up and logged, and neither blocks the room', async () => {
    h = await harness();
    const [a1] = fake.addAgents(1);
    await h.webhook('left');
    await h.webhook('locked');
    await h.settle();
    assert.deepEqual(fake.rooms.get('left'), [a1!.id]);
    fake.rooms.set('left', []); // the agent left the room in Qiscus on their own
    await requeueBySupervisor('left');
    await h.settle();
    assert.deepEqual(roomCalls().slice(2), [['remove', 'left', a1!.id], ['assign', 'left', a1!.id]]);
    assert.deepEqual(fake.rooms.get('left'), [a1!.id]);
    fake.inject(REMOVE, { status: 403, body: { status: 403, errors: { message: 'You are not allowed to do this' } } });
    await requeueBySupervisor('locked');
    await h.settle();
    assert.deepEqual(roomCalls().slice(4).map((c) => c.slice(0, 2)), [['remove', 'locked'], ['assign', 'locked']]);
    assert.deepEqual((await removals()).map((r) => [r.state, r.attempts, r.last_status]), [['delivered', 1, 400], ['failed', 1, 403]]);
    // final answers: nothing is sent again
    h.clock.advance(60_000);
    await h.worker.tick();
    assert.equal(calls(REMOVE).length, 2);
  });

  it('removes a deleted agent from their rooms in Qiscus too', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 2; // a1 takes both rooms
    await h.webhook('r1');
    await h.webhook('r2');
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.agent_id), [a1!.id, a1!.id]);
    const [mirror] = await store().db.query<{ id: string }>(`select id from agents where source = 'qiscus' and external_ref = $1`, [String(a1!.id)]);
    a1!.is_available = false; // gone from Qiscus' offers as well
    a2!.reported = 0;
    const res = await h.t.call('DELETE', `/api/v1/agents/${mirror!.id}`, { token: await token('admin') });
    assert.equal(res.statusCode, 204, res.body);
    await h.settle();
    assert.deepEqual(fake.removed.map((r) => [r.room_id, r.agent_id]).sort(), [['r1', a1!.id], ['r2', a1!.id]]);
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id]);
    assert.deepEqual(fake.rooms.get('r2'), [a2!.id]);
  });

  it('refuses to transfer a Qiscus room to an agent or to another department, changing nothing and telling Qiscus nothing; its own department is a requeue', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1;
    await h.webhook('r1');
    await h.webhook('r2');
    await h.settle();
    await requeueBySupervisor('r2');
    a1!.is_available = false;
    a2!.is_available = false;
    await h.settle(); // r2 is taken back and waits: nobody is available
    assert.deepEqual((await rooms()).map((r) => [r.room_id, r.status]), [['r1', 'assigned'], ['r2', 'waiting']]);
    const supervisor = await token('supervisor');
    const online = await h.t.user('agent', { status: 'online' });
    const snapshot = async () => ({
      conversations: await store().db.query(`select id, state, agent_id, department, updated_at from conversations order by id`),
      agents: await store().db.query(`select id, load from agents order by id`),
      events: (await store().db.query<{ n: number }>(`select count(*)::int as n from events`))[0]!.n,
      outbound: (await store().db.query<{ n: number }>(`select count(*)::int as n from outbound_requests`))[0]!.n,
      requests: fake.requests.length,
    });
    const before = await snapshot();
    for (const roomId of ['r1', 'r2']) {
      const id = await conversationOf(roomId);
      for (const body of [{ agent_id: online.agent.id }, { department: 'sales' }, { department: null }]) {
        const res = await h.t.call('POST', `/api/v1/conversations/${id}/transfer`, { token: supervisor, body });
        assert.equal(res.statusCode, 409, `${roomId} ${JSON.stringify(body)}: ${res.body}`);
        assert.equal(res.json().error.code, 'SB_QISCUS_TRANSFER');
        assert.match(res.json().error.message, 'agent_id' in body ? /Qiscus room.*cannot be transferred to an agent/ : /Qiscus room.*cannot leave the department @qiscus/);
      }
    }
    await h.worker.tick(); // the feed runs: still nothing to send
    assert.deepEqual(await snapshot(), before);
    // to its own department: back in the queue, the agent removed in Qiscus
    const res = await h.t.call('POST', `/api/v1/conversations/${await conversationOf('r1')}/transfer`, { token: supervisor, body: { department: '@qiscus' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().state, 'queued');
    a2!.is_available = true;
    await h.settle();
    assert.deepEqual(fake.removed.map((r) => [r.room_id, r.agent_id]), [['r2', a2!.id], ['r1', a1!.id]]);
    assert.deepEqual(fake.rooms.get('r1'), [a2!.id]);
  });
});
