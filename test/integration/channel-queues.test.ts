// '@qiscus' is the Qiscus allocator's queue, and its mirrors are Qiscus'
// agents: the engine must never hand them to each other. Before this test an
// admin could put a person in '@qiscus' (who was then given Qiscus rooms
// without Qiscus hearing of it), set a mirror online (the same, to the
// mirror), move a mirror to another department (given conversations nobody
// can answer), or open or transfer a conversation into '@qiscus' (where it
// waited for an allocator that never looks at it).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore("channels' own queues and agents", (store) => {
  let fake: FakeQiscus;
  let h: QiscusHarness;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const assignCalls = () => fake.requests.filter((r) => r.path === '/api/v1/admin/service/assign_agent');
  const conversations = () =>
    store().db.query<{ channel: string; external_ref: string | null; state: string; agent_id: string | null; department: string | null }>(
      `select channel, external_ref, state, agent_id, department from conversations order by seq`,
    );
  const PASSWORD = 'correct horse battery staple 9';

  it('refuses a person in the @qiscus queue, on create and on update, and gives them no Qiscus room', async () => {
    h = await harness();
    const admin = await h.t.user('admin');
    await h.webhook('r1');

    const created = await h.t.call('POST', '/api/v1/agents', {
      token: admin.token,
      body: { name: 'Eve', email: 'eve@example.test', password: PASSWORD, role: 'agent', departments: ['sales', '@qiscus'] },
    });
    assert.equal(created.statusCode, 400, created.body);
    assert.equal(created.json().error.field, 'departments');
    assert.match(created.json().error.message, /"@qiscus" is a channel's own queue/);
    assert.equal((await store().db.query(`select 1 from agents where email = 'eve@example.test'`)).length, 0, 'nobody was created');

    const eve = (await h.t.call('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Eve', email: 'eve@example.test', password: PASSWORD, role: 'agent', departments: ['sales'] } })).json();
    const moved = await h.t.call('PATCH', `/api/v1/agents/${eve.id}`, { token: admin.token, body: { departments: ['@qiscus'], status: 'online' } });
    assert.equal(moved.statusCode, 400, moved.body);
    assert.equal(moved.json().error.field, 'departments');
    const [stored] = await store().db.query<{ departments: string[]; status: string }>(`select departments, status from agents where id = $1`, [eve.id]);
    assert.deepEqual(stored, { departments: ['sales'], status: 'offline' }, 'nothing of the patch was applied');

    const online = await h.t.call('PATCH', `/api/v1/agents/${eve.id}`, { token: admin.token, body: { status: 'online' } });
    assert.equal(online.statusCode, 200, online.body);
    assert.deepEqual(
      (await conversations()).map((c) => [c.external_ref, c.state, c.agent_id]),
      [['r1', 'queued', null]],
      'the Qiscus room still waits for the Qiscus allocator',
    );
  });

  it("keeps a Qiscus agent's status, departments and password Qiscus'; its capacity and name are the admin's", async () => {
    h = await harness();
    const [qiscusAgent] = fake.addAgents(1);
    const admin = await h.t.user('admin');
    await h.webhook('r1');
    await h.settle();
    assert.equal(assignCalls().length, 1);
    const [mirror] = await store().db.query<{ id: string }>(`select id from agents where source = 'qiscus'`);
    await h.webhook('r2');
    const shown = await h.t.call('GET', `/api/v1/agents/${mirror!.id}`, { token: admin.token });
    assert.equal(shown.json().source, 'qiscus', 'the API tells a mirror from a person');
    assert.equal((await h.t.call('GET', `/api/v1/agents/${admin.agent.id}`, { token: admin.token })).json().source, null);

    for (const body of [{ status: 'online' }, { departments: ['sales'] }, { password: PASSWORD }, { status: 'online', capacity: 5 }]) {
      const res = await h.t.call('PATCH', `/api/v1/agents/${mirror!.id}`, { token: admin.token, body });
      assert.equal(res.statusCode, 409, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, 'SB_CHANNEL_AGENT');
      assert.match(res.json().error.message, new RegExp(`${Object.keys(body)[0]}.* decided by qiscus`));
    }
    const [unchanged] = await store().db.query<{ status: string; departments: string[]; capacity: number | null; password_hash: string }>(
      `select status, departments, capacity, password_hash from agents where id = $1`,
      [mirror!.id],
    );
    assert.deepEqual(unchanged, { status: 'offline', departments: ['@qiscus'], capacity: null, password_hash: '!' });
    assert.deepEqual(
      (await conversations()).map((c) => [c.external_ref, c.state]),
      [['r1', 'assigned'], ['r2', 'queued']],
      'r2 was not given to the mirror by the engine',
    );

    const renamed = await h.t.call('PATCH', `/api/v1/agents/${mirror!.id}`, { token: admin.token, body: { name: 'Ana (Qiscus)', capacity: 5 } });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().effective_capacity, 5);
    await h.settle();
    const calls = assignCalls();
    assert.equal(calls.length, 2, 'r2 went to the agent through Qiscus');
    assert.deepEqual([calls[1]!.form.get('room_id'), calls[1]!.form.get('agent_id')], ['r2', String(qiscusAgent!.id)]);
  });

  it('refuses a conversation opened in or transferred to @qiscus unless it is a Qiscus room', async () => {
    h = await harness();
    fake.addAgents(1);
    const admin = await h.t.user('admin');
    const opened = await h.t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'c1' }, department: '@qiscus' } });
    assert.equal(opened.statusCode, 400, opened.body);
    assert.equal(opened.json().error.field, 'department');
    assert.equal((await conversations()).length, 0, 'nothing was opened');

    const conversation = (await h.t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'c1' }, department: 'sales' } })).json();
    const moved = await h.t.call('POST', `/api/v1/conversations/${conversation.id}/transfer`, { token: admin.token, body: { department: '@qiscus' } });
    assert.equal(moved.statusCode, 400, moved.body);
    assert.equal(moved.json().error.field, 'department');
    assert.deepEqual((await conversations()).map((c) => [c.channel, c.department, c.state]), [['api', 'sales', 'queued']]);

    // a Qiscus room goes back to its own queue, as before
    await h.webhook('r1');
    await h.settle();
    const [room] = await store().db.query<{ id: string }>(`select id from conversations where external_ref = 'r1'`);
    const back = await h.t.call('POST', `/api/v1/conversations/${room!.id}/transfer`, { token: admin.token, body: { department: '@qiscus' } });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(back.json().department, '@qiscus');
  });

  it("refuses routing settings for @qiscus, which the engine does not route, and still shows them", async () => {
    h = await harness();
    const admin = await h.t.user('admin');
    const res = await h.t.call('PUT', '/api/v1/departments/@qiscus/routing', { token: admin.token, body: { mode: 'offer' } });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error.field, 'name');
    assert.equal((await store().db.query(`select 1 from department_routing where department = '@qiscus'`)).length, 0);
    const overflow = await h.t.call('PUT', '/api/v1/departments/sales/routing', { token: admin.token, body: { overflow: [{ after_s: 60, to: '@qiscus' }] } });
    assert.equal(overflow.statusCode, 400, overflow.body);
    assert.equal(overflow.json().error.field, 'overflow[0].to');
    assert.equal((await store().db.query(`select 1 from department_routing`)).length, 0);
    const shown = await h.t.call('GET', '/api/v1/departments/@qiscus/routing', { token: admin.token });
    assert.equal(shown.statusCode, 200, shown.body);
    assert.equal(shown.json().mode, 'auto');
  });
});
