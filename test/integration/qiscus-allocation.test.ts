// Qiscus custom agent allocation end to end against a fake Qiscus: webhooks
// in, rooms recorded, agents picked inside the routing transaction, and
// assign_agent carried by the durable outbox through the failures the real
// service produces. Retries are driven by a fake clock and worker.tick().
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus allocation', (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const assignCalls = () => fake.requests.filter((r) => r.path === '/api/v1/admin/service/assign_agent');
  const admins = new WeakMap<QiscusHarness, Promise<string>>();
  const rooms = async (status?: string) => {
    if (!admins.has(h)) admins.set(h, h.t.user('admin').then((a) => a.token));
    const res = await h.t.call('GET', `/api/v1/qiscus/rooms${status ? `?status=${status}` : ''}`, { token: await admins.get(h)! });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().rooms as { room_id: string; conversation_id: string; status: string; reason: string | null; qiscus_agent_id: string | null; position: number | null }[];
  };
  /** what the allocator recorded about Qiscus refusing agents for the room */
  const refusalsOf = async (roomId: string) => {
    const [row] = await store().db.query<{ refused_agent_id: string | null; refusals: number }>(
      `select refused_agent_id, refusals from qiscus_rooms where room_id = $1`,
      [roomId],
    );
    return row;
  };
  /** a supervisor puts the room back in the queue through the REST API, as the console does */
  const requeueBySupervisor = async (roomId: string) => {
    const room = (await rooms()).find((r) => r.room_id === roomId);
    assert.ok(room, `room ${roomId} is not open`);
    const supervisor = await h.t.user('supervisor');
    const res = await h.t.call('POST', `/api/v1/conversations/${room.conversation_id}/requeue`, { token: supervisor.token });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().state, 'queued');
  };

  it('answers the webhook at once, then assigns the least-loaded agent with max_agent=1, form-encoded, app secret auth', async () => {
    h = await harness();
    const [a1, a2, a3] = fake.addAgents(3);
    a1!.reported = 1;
    a3!.reported = 1;
    const res = await h.webhook('273683234');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 200, message: 'Successfully received.', data: null });
    assert.deepEqual((await rooms()).map((r) => [r.room_id, r.status, r.position]), [['273683234', 'waiting', 1]]);
    assert.equal(assignCalls().length, 0, 'nothing is called before the answer');

    await h.settle();
    const [call] = assignCalls();
    assert.equal(call!.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(call!.headers['qiscus-secret-key'], fake.secret);
    assert.equal(call!.headers['qiscus-app-id'], fake.appId);
    assert.deepEqual(Object.fromEntries(call!.form), { room_id: '273683234', agent_id: String(a2!.id), max_agent: '1', replace_latest_agent: 'false' });
    const [room] = await rooms();
    assert.equal(room!.status, 'assigned');
    assert.equal(room!.qiscus_agent_id, String(a2!.id));
    const [conversation] = await store().db.query<{ customer: { name: string; email: string; fields: Record<string, string> }; department: string }>(
      `select customer, department from conversations where external_ref = '273683234'`,
    );
    assert.equal(conversation!.customer.email, 'c273683234@example.test');
    assert.equal(conversation!.customer.fields.additional_extras, '{"timezone_offset":7}');
    assert.equal(conversation!.department, '@qiscus');
  });

  it("takes a customer name with line breaks as one line: answered as any webhook, stored mended (Qiscus's name is not refused)", async () => {
    h = await harness();
    const res = await h.webhook('r-name', { name: 'Bob\n[09:02 UTC] Ann Agent (agent):\u2028refund\u0007 approved\r\n' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { status: 200, message: 'Successfully received.', data: null });
    const [conversation] = await store().db.query<{ customer: { name: string } }>(`select customer from conversations where external_ref = 'r-name'`);
    assert.equal(conversation!.customer.name, 'Bob [09:02 UTC] Ann Agent (agent): refund  approved');
  });

  it('reads every page of available agents and skips unavailable and force-offline ones', async () => {
    h = await harness();
    const agents = fake.addAgents(10, { reported: 1 });
    agents[1]!.is_available = false;
    agents[1]!.reported = 0;
    agents[4]!.force_offline = true;
    agents[4]!.reported = 0;
    agents[9]!.reported = 0; // on the 4th page of 3
    await h.webhook('r1');
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.agent_id), [agents[9]!.id]);
    const pages = fake.requests.filter((r) => r.path === '/api/v2/admin/service/available_agents').map((r) => r.query.get('cursor_after'));
    assert.deepEqual(pages, [null, '3', '6', '9']);
  });

  it('counts its own open assignments when Qiscus lags: 3 agents x 2 take 6 rooms, the 7th waits', async () => {
    h = await harness();
    fake.addAgents(3); // reported stays 0 throughout: Qiscus has not caught up
    for (let i = 1; i <= 7; i += 1) await h.webhook(`room-${i}`);
    await h.settle();
    await h.settle();
    assert.equal(fake.assigned.length, 6);
    const perAgent = new Map<number, number>();
    for (const a of fake.assigned) perAgent.set(a.agent_id, (perAgent.get(a.agent_id) ?? 0) + 1);
    assert.deepEqual([...perAgent.values()], [2, 2, 2]);
    assert.deepEqual((await rooms('waiting')).map((r) => r.room_id), ['room-7']);
    for (const { load, open } of (await h.loads()).values()) assert.deepEqual([load, open], [2, 2]);
  });

  // Found by review (2026-11-29): max(count, load) with load raised per pick and the count read before the
  // pass let one pass give an agent with rooms given by hand in Qiscus as many more as its capacity.
  it("counts a pass's own picks on top of Qiscus' count: an agent with a room given by hand in Qiscus takes one more of three, not two", async () => {
    h = await harness();
    const [a1] = fake.addAgents(1);
    a1!.reported = 1; // a room an admin gave them in Qiscus; Switchboard holds none of theirs
    for (let i = 1; i <= 3; i += 1) await h.webhook(`by-hand-${i}`);
    await h.channel.allocator.pass();
    assert.deepEqual((await rooms()).map((r) => [r.room_id, r.status]), [
      ['by-hand-1', 'assigning'],
      ['by-hand-2', 'waiting'],
      ['by-hand-3', 'waiting'],
    ]);
  });

  it('never assigns a room twice when its webhook is delivered twice, at once or a moment later', async () => {
    h = await harness();
    fake.addAgents(2);
    const answers = await Promise.all([h.webhook('dup'), h.webhook('dup'), h.webhook('dup')]);
    assert.deepEqual(answers.map((r) => r.statusCode), [200, 200, 200]);
    await Promise.all([h.channel.allocator.pass(), h.channel.allocator.pass()]);
    await h.worker.tick();
    assert.equal((await h.webhook('dup')).statusCode, 200);
    await h.settle();
    assert.equal(assignCalls().length, 1);
    const [{ n }] = (await store().db.query<{ n: number }>(`select count(*)::int as n from conversations where external_ref = 'dup'`)) as [{ n: number }];
    assert.equal(n, 1);
  });

  it('drains the queue on a resolve webhook, oldest room first, and ignores resolves of unknown or closed rooms', async () => {
    h = await harness({ env: {} });
    const [agent] = fake.addAgents(1);
    for (const room of ['q1', 'q2', 'q3']) await h.webhook(room);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['q1']);
    const res = await h.resolve('q1');
    assert.deepEqual(res.json(), { status: 200, message: 'Room marked as resolved.', data: null });
    fake.resolved.add('q1');
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['q1', 'q2']);
    assert.equal(fake.assigned[1]!.agent_id, agent!.id);
    for (const room of ['q1', 'nobody-knows']) {
      const again = await h.resolve(room);
      assert.equal(again.statusCode, 200);
    }
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['q1', 'q2']);
    assert.deepEqual((await rooms()).map((r) => [r.room_id, r.status]), [['q2', 'assigned'], ['q3', 'waiting']]);
  });

  it('drains the queue at once on a resolve webhook while the channel runs, with the poll an hour away', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    const [agent] = fake.addAgents(1);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    for (const room of ['q1', 'q2', 'q3']) await h.webhook(room);
    h.run();
    assert.ok(await h.until(() => fake.assigned.length === 1), 'the start assigns the queue head');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['q1'], 'the agent is full: nothing more');
    fake.resolved.add('q1');
    assert.equal((await h.resolve('q1')).statusCode, 200);
    // no pass by hand, no poll for an hour: the resolve itself must move the queue
    assert.ok(await h.until(() => fake.assigned.length === 2), 'q2 was not assigned after the resolve');
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['q1', agent!.id], ['q2', agent!.id]]);
    assert.ok(await h.until(async () => (await rooms('assigned')).some((r) => r.room_id === 'q2')));
    assert.deepEqual((await rooms('waiting')).map((r) => r.room_id), ['q3']);
  });

  it('assigns waiting rooms at once when max_customers is raised, through PATCH /api/v1/settings or the Qiscus endpoint', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '3600000' } });
    fake.addAgents(1);
    const admin = (await h.t.user('admin')).token;
    assert.equal((await h.t.call('PATCH', '/api/v1/settings', { token: admin, body: { max_customers: 1 } })).statusCode, 200);
    for (const room of ['s1', 's2', 's3']) await h.webhook(room);
    h.run();
    assert.ok(await h.until(() => fake.assigned.length === 1));
    // a new room now finds the agent full: the allocator stops fetching for new rooms until a slot frees
    await h.webhook('s4');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fake.assigned.length, 1);
    assert.equal((await h.t.call('PATCH', '/api/v1/settings', { token: admin, body: { max_customers: 2 } })).statusCode, 200);
    assert.ok(await h.until(() => fake.assigned.length === 2), 'PATCH /api/v1/settings did not move the queue');
    const res = await h.t.call('POST', '/api/v1/settings/max_customers', { token: admin, body: { max_customers: 3 } });
    assert.equal(res.statusCode, 200);
    assert.ok(await h.until(() => fake.assigned.length === 3), 'the Qiscus settings endpoint did not move the queue');
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['s1', 's2', 's3']);
    assert.ok(await h.until(async () => (await rooms('waiting')).length === 1));
    assert.deepEqual((await rooms('waiting')).map((r) => r.room_id), ['s4']);
  });

  // Found by review (2026-11-29): a full batch of rooms whose agents were all full was read again at every
  // pass, and a room behind it with a free agent of its own (another channel's) never got one.
  it('reads past a full batch nobody can take: a room behind it, offered a free agent of another channel, is assigned at once', async () => {
    h = await harness({ batch: 2, env: { QISCUS_POLL_INTERVAL: '3600000' } });
    const [whatsapp, line] = fake.addAgents(2);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    for (const room of ['wa-1', 'wa-2', 'wa-3']) fake.offeredFor.set(room, [whatsapp!.id]);
    fake.offeredFor.set('line-1', [line!.id]);
    for (const room of ['wa-1', 'wa-2', 'wa-3', 'line-1']) await h.webhook(room);
    h.run();
    // no poll for an hour: the passes alone page past wa-2 and wa-3, whose one agent is full
    assert.ok(await h.until(() => fake.assigned.length === 2), `assigned ${JSON.stringify(fake.assigned.map((a) => a.room_id))}`);
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['wa-1', whatsapp!.id], ['line-1', line!.id]]);
    assert.ok(await h.until(async () => (await rooms('waiting')).length === 2));
    assert.deepEqual((await rooms('waiting')).map((r) => [r.room_id, r.position]), [['wa-2', 1], ['wa-3', 2]]);
  });

  it('picks up an agent who comes online in Qiscus at the next poll of the queue head', async () => {
    h = await harness({ env: { QISCUS_POLL_INTERVAL: '100' } });
    const [agent] = fake.addAgents(1, { is_available: false });
    await h.webhook('wait-1');
    h.worker.start();
    h.channel.start();
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(fake.assigned.length, 0);
    agent!.is_available = true;
    const deadline = Date.now() + 3_000;
    while (fake.assigned.length === 0 && Date.now() < deadline) {
      h.worker.wake(); // the server wakes it at every commit; this test app does not
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['wait-1']);
  });

  it('retries 5xx, 429 and timeouts with backoff, then succeeds', async () => {
    h = await harness();
    fake.addAgents(1);
    fake.inject('/api/v1/admin/service/assign_agent', { status: 503 }, { status: 429, headers: { 'retry-after': '2' } }, 'hang');
    await h.webhook('flaky');
    await h.settle();
    assert.equal(fake.assigned.length, 0);
    assert.match((await rooms())[0]!.reason ?? '', /attempt 1 of 6 failed \(HTTP 503/);
    for (let i = 0; i < 4 && fake.assigned.length === 0; i += 1) {
      h.clock.advance(30_000);
      await h.worker.tick();
    }
    assert.equal(assignCalls().length, 4);
    assert.equal(fake.assigned.length, 1);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.reason], ['assigned', null]);
  });

  it('isolates a room that keeps failing: marked failed with the reason, its slot freed, the rooms behind it served', async () => {
    h = await harness();
    fake.addAgents(1);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    const bad = { status: 500, body: { errors: { message: 'internal trouble' } } };
    fake.inject('/api/v1/admin/service/assign_agent', bad, bad, bad, bad, bad, bad);
    await h.webhook('doomed');
    await h.webhook('next');
    await h.settle();
    for (let i = 0; i < 8; i += 1) {
      h.clock.advance(60_000);
      await h.worker.tick();
    }
    const [doomed] = await rooms('failed');
    assert.equal(doomed!.room_id, 'doomed');
    assert.match(doomed!.reason ?? '', /assign_agent failed after 6 attempt\(s\): HTTP 500 internal trouble/);
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['next']);
    for (const { load, open } of (await h.loads()).values()) assert.deepEqual([load, open], [1, 1]);
  });

  it('drops a room whose agent list Qiscus refuses as resolved, and keeps a room Qiscus says already has an agent', async () => {
    h = await harness();
    fake.addAgents(2);
    await h.webhook('gone');
    await h.webhook('taken');
    fake.rooms.set('taken', [99]);
    fake.resolved.add('gone');
    await h.channel.allocator.pass();
    await h.worker.tick();
    const listed = await rooms();
    assert.deepEqual(listed.map((r) => r.room_id), ['taken']);
    assert.match(listed[0]!.reason ?? '', /already has an agent.*Cant join room, exceed max agents/);
    assert.equal(listed[0]!.status, 'assigned');
    const [gone] = await store().db.query<{ state: string; resolve_reason: string }>(`select state, resolve_reason from conversations where external_ref = 'gone'`);
    assert.equal(gone!.state, 'resolved');
    const loads = [...(await h.loads()).values()];
    assert.equal(loads.reduce((s, l) => s + l.load, 0), 1);
    for (const { load, open } of loads) assert.equal(load, open);
  });

  it('drops a room Qiscus resolved before assign_agent reached it: closed as resolved, not failed, its slot given to the next room', async () => {
    h = await harness();
    const [agent] = fake.addAgents(1);
    await h.t.call('POST', '/api/v1/settings/max_customers', { body: { max_customers: 1 }, token: (await h.t.user('admin')).token });
    await h.webhook('gone');
    await h.webhook('next');
    await h.channel.allocator.pass();
    // the customer closes the chat between the agent list and assign_agent
    fake.resolved.add('gone');
    await h.worker.tick();
    const [refused] = assignCalls();
    assert.equal(refused!.form.get('room_id'), 'gone');
    assert.equal(fake.assigned.length, 0);
    const [gone] = await store().db.query<{ state: string; resolve_reason: string }>(`select state, resolve_reason from conversations where external_ref = 'gone'`);
    assert.deepEqual(gone, { state: 'resolved', resolve_reason: 'qiscus_resolved' });
    assert.deepEqual(await rooms('failed'), []);
    assert.deepEqual((await h.loads()).get(String(agent!.id)), { load: 0, open: 0 });
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['next']);
    assert.equal(assignCalls().length, 2, 'the resolved room is not retried');
  });

  it('re-queues a room whose agent Qiscus refuses (404), frees that agent, and gives the room to another agent', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the first choice
    fake.inject('/api/v1/admin/service/assign_agent', { status: 404, body: { status: 404, errors: { message: 'Agent not found' } } });
    await h.webhook('r1');
    await h.channel.allocator.pass();
    await h.worker.tick();
    assert.equal(assignCalls()[0]!.form.get('agent_id'), String(a1!.id));
    const [waiting] = await rooms();
    assert.equal(waiting!.status, 'waiting');
    assert.match(waiting!.reason ?? '', new RegExp(`refused agent ${a1!.id} for the room \\(HTTP 404 Agent not found\\).*refusal 1 of 3`));
    assert.deepEqual((await h.loads()).get(String(a1!.id)), { load: 0, open: 0 });
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', a2!.id]]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a2!.id), null]);
    for (const { load, open } of (await h.loads()).values()) assert.equal(load, open);
  });

  it('offers a room a supervisor put back in the queue to the agent who held it, when the policy picks them: a requeue is not a refusal', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the policy's choice, before and after the requeue
    await h.webhook('r1');
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', a1!.id]]);
    await requeueBySupervisor('r1');
    assert.deepEqual((await h.loads()).get(String(a1!.id)), { load: 0, open: 0 });
    await h.settle();
    // Switchboard took the agent out of the room in Qiscus before assigning it again
    assert.deepEqual(fake.removed.map((r) => [r.room_id, r.agent_id]), [['r1', a1!.id]]);
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', a1!.id], ['r1', a1!.id]]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a1!.id), null]);
  });

  it('gives a room whose agent Qiscus refused to another available agent, and that assignment clears the refusal but keeps its count', async () => {
    h = await harness();
    const [a1, a2] = fake.addAgents(2);
    a2!.reported = 1; // a1 is the policy's choice throughout
    fake.inject('/api/v1/admin/service/assign_agent', { status: 404, body: { status: 404, errors: { message: 'Agent not found' } } });
    await h.webhook('r1');
    await h.settle();
    assert.equal(assignCalls()[0]!.form.get('agent_id'), String(a1!.id));
    assert.deepEqual(await refusalsOf('r1'), { refused_agent_id: String(a1!.id), refusals: 1 });
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', a2!.id]], 'the refused agent is passed over for one with more load');
    assert.deepEqual(await refusalsOf('r1'), { refused_agent_id: null, refusals: 1 });
    // a1 is no longer avoided: once the room is back in the queue, the policy's choice gets it
    await requeueBySupervisor('r1');
    await h.settle();
    assert.deepEqual(fake.removed.map((r) => [r.room_id, r.agent_id]), [['r1', a2!.id]]);
    assert.deepEqual(fake.assigned.map((a) => [a.room_id, a.agent_id]), [['r1', a2!.id], ['r1', a1!.id]]);
    const [room] = await rooms();
    assert.deepEqual([room!.status, room!.qiscus_agent_id, room!.reason], ['assigned', String(a1!.id), null]);
    for (const { load, open } of (await h.loads()).values()) assert.equal(load, open);
  });

  it('fails a room at its third refusal, counted on the room: a failed call that was no refusal does not count', async () => {
    h = await harness();
    const [agent] = fake.addAgents(1);
    // Qiscus answers 400 "Cant join room, exceed max agents": the job fails, but the room is served
    fake.rooms.set('r1', [99]);
    await h.webhook('r1');
    await h.settle();
    assert.match((await rooms())[0]!.reason ?? '', /already has an agent/);
    assert.equal((await refusalsOf('r1'))!.refusals, 0);
    await requeueBySupervisor('r1');
    fake.rooms.delete('r1'); // the stranger leaves too (Switchboard removes only its own agent, who was never in)
    fake.refuse = () => ({ status: 403, body: { status: 403, errors: 'Agent can not join this room' } });
    await h.settle();
    assert.match((await rooms('waiting'))[0]!.reason ?? '', /refusal 1 of 3/);
    assert.deepEqual(await refusalsOf('r1'), { refused_agent_id: String(agent!.id), refusals: 1 });
    await h.settle(); // the first refusal goes back at once; the only agent is tried again
    assert.match((await rooms('waiting'))[0]!.reason ?? '', /refusal 2 of 3/);
    assert.equal((await refusalsOf('r1'))!.refusals, 2);
    const backedOff = await h.channel.allocator.pass();
    assert.equal(backedOff.tried, 0, 'the second refusal keeps the room out of the pass');
    h.clock.advance(5_000);
    await h.settle();
    const [failed] = await rooms('failed');
    assert.equal(failed!.room_id, 'r1');
    assert.match(failed!.reason ?? '', new RegExp(`Qiscus refused assign_agent 3 times, last for agent ${agent!.id}: HTTP 403 Agent can not join this room`));
    assert.deepEqual(await refusalsOf('r1'), { refused_agent_id: String(agent!.id), refusals: 3 });
    assert.deepEqual((await h.loads()).get(String(agent!.id)), { load: 0, open: 0 });
    assert.equal(assignCalls().length, 4);
  });

  it('fails a room after 3 refusals, with the reason, backing off between them, while the rooms beside it are served', async () => {
    h = await harness();
    const [agent] = fake.addAgents(1);
    fake.refuse = (room) => (room === 'doomed' ? { status: 403, body: { status: 403, errors: 'Agent can not join this room' } } : undefined);
    await h.webhook('doomed');
    await h.webhook('fine');
    await h.settle();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['fine']);
    assert.match((await rooms('waiting'))[0]!.reason ?? '', /refusal 1 of 3/);
    await h.settle(); // the first refusal goes back at once: the only agent is tried again
    assert.match((await rooms('waiting'))[0]!.reason ?? '', /HTTP 403 Agent can not join this room.*refusal 2 of 3/);
    const calls = assignCalls().length;
    await h.settle();
    assert.equal(assignCalls().length, calls, 'the second refusal backs off');
    h.clock.advance(5_000);
    await h.settle();
    const [failed] = await rooms('failed');
    assert.equal(failed!.room_id, 'doomed');
    assert.match(failed!.reason ?? '', new RegExp(`Qiscus refused assign_agent 3 times, last for agent ${agent!.id}: HTTP 403 Agent can not join this room`));
    assert.deepEqual((await h.loads()).get(String(agent!.id)), { load: 1, open: 1 });
    assert.deepEqual((await rooms('waiting')).length, 0);
    assert.equal(assignCalls().length, 4);
  });

  it('logs in (auth mode B), caches the token, and logs in again once when Qiscus answers 401', async () => {
    h = await harness({ login: true });
    fake.addAgents(2);
    await h.webhook('b1');
    await h.settle();
    assert.equal(fake.requests.filter((r) => r.path === '/api/v1/auth').length, 1);
    fake.expireTokens();
    await h.webhook('b2');
    await h.settle();
    assert.equal(fake.requests.filter((r) => r.path === '/api/v1/auth').length, 2);
    // a token that expires between the agent list and assign_agent: the job retries with a fresh login
    await h.webhook('b3');
    await h.channel.allocator.pass();
    fake.expireTokens();
    await h.worker.tick();
    h.clock.advance(1_000);
    await h.worker.tick();
    assert.deepEqual(fake.assigned.map((a) => a.room_id), ['b1', 'b2', 'b3']);
    const assign = assignCalls().at(-1)!;
    assert.match(String(assign.headers.authorization), /^tok-\d+$/);
    assert.equal(assign.headers['qiscus-secret-key'], undefined);
  });

  it('never exceeds capacity with 50 concurrent webhooks for 10 agents x 2 slots and passes racing', async () => {
    h = await harness();
    fake.addAgents(10);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => h.webhook(`c${i}`)));
    assert.ok(answers.every((r) => r.statusCode === 200));
    // two passes at once stand for two processes
    await Promise.all([h.channel.allocator.pass(), h.channel.allocator.pass(), h.channel.allocator.pass()]);
    await h.worker.tick();
    await h.settle();
    assert.equal(fake.assigned.length, 20);
    assert.equal(new Set(fake.assigned.map((a) => a.room_id)).size, 20);
    for (const agent of fake.agents.values()) {
      assert.ok([...fake.rooms.values()].filter((ids) => ids.includes(agent.id)).length <= 2, `agent ${agent.id} over capacity`);
    }
    for (const { load, open } of (await h.loads()).values()) {
      assert.equal(load, open);
      assert.ok(load <= 2);
    }
    assert.equal((await rooms('waiting')).length, 30);
  });
});
