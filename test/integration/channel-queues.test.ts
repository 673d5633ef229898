// '@qiscus' is the Qiscus allocator's queue, and its mirrors are Qiscus'
// agents: the engine must never hand them to each other. Before this test an
// admin could put a person in '@qiscus' (who was then given Qiscus rooms
// without Qiscus hearing of it), set a mirror online (the same, to the
// mirror), move a mirror to another department (given conversations nobody
// can answer), or open or transfer a conversation into '@qiscus' (where it
// waited for an allocator that never looks at it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issueToken } from '../../src/agents/tokens.js';
import { sweep } from '../../src/routing/sweep.js';
import { migrate } from '../../src/store/migrate.js';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { CONTRACT, createTicketer, mailroomFor } from '../helpers/rapidpro.js';
import { eachTestWithFakeQiscus, type QiscusHarness, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { storeMigratedBefore } from '../helpers/scratch-database.js';
import { describeEachStore, storeKinds } from '../helpers/stores.js';

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
    assert.match(created.json().error.message, /^departments must not include "@qiscus": departments starting with @ are channels' own queues/);
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

    for (const body of [{ status: 'online' }, { status: 'away' }, { departments: ['sales'] }, { departments: ['@qiscus', 'sales'] }, { password: PASSWORD }, { role: 'admin' }, { status: 'online', capacity: 5 }]) {
      const res = await h.t.call('PATCH', `/api/v1/agents/${mirror!.id}`, { token: admin.token, body });
      assert.equal(res.statusCode, 409, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, 'SB_CHANNEL_AGENT');
      assert.match(res.json().error.message, /status, departments, password and role are decided by qiscus.*status offline, departments \["@qiscus"\], role agent/);
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

  it("keeps a mirror an earlier version let online from taking Qiscus' rooms back into the engine, and lets the admin put it back", async () => {
    h = await harness();
    fake.addAgents(1);
    const admin = await h.t.user('admin');
    await h.webhook('r1');
    await h.settle();
    const [mirror] = await store().db.query<{ id: string }>(`select id from agents where source = 'qiscus'`);
    // as an admin could before: online, with a session (the keep-alive is 30 s, the offline grace 60 s)
    await store().db.query(`update agents set status = 'online', last_seen_at = $2, departments = '{@qiscus,sales}' where id = $1`, [mirror!.id, h.clock.now()]);
    const { token } = await issueToken(store().db, mirror!.id, h.clock.now(), 3600);

    // its keep-alive runs out, as nobody beats for a mirror
    h.clock.advance(40_000);
    await sweep(h.t.ctx);
    const beat = await h.t.call('POST', '/api/v1/agents/me/heartbeat', { token });
    assert.equal(beat.statusCode, 200, beat.body);
    assert.equal(beat.json().status, 'offline', 'a heartbeat is no way back online for a mirror');
    h.clock.advance(10 * 60_000);
    await sweep(h.t.ctx);
    await h.settle();
    assert.deepEqual(
      (await conversations()).map((c) => [c.external_ref, c.state, c.agent_id]),
      [['r1', 'assigned', mirror!.id]],
      "the offline grace does not take Qiscus' rooms from its agent",
    );
    assert.equal(fake.requests.filter((r) => r.path === '/api/v1/admin/service/remove_agent').length, 0);

    // the admin puts it back as the allocator made it: the only patch of these it takes
    const repaired = await h.t.call('PATCH', `/api/v1/agents/${mirror!.id}`, { token: admin.token, body: { status: 'offline', departments: ['@qiscus'], role: 'agent' } });
    assert.equal(repaired.statusCode, 200, repaired.body);
    assert.deepEqual([repaired.json().status, repaired.json().departments], ['offline', ['@qiscus']]);
    // one still online is set offline as the allocator makes it: no grace to run out
    await store().db.query(`update agents set status = 'online', last_seen_at = $2 where id = $1`, [mirror!.id, h.clock.now()]);
    const offline = await h.t.call('PATCH', `/api/v1/agents/${mirror!.id}`, { token: admin.token, body: { status: 'offline' } });
    assert.equal(offline.statusCode, 200, offline.body);
    const [row] = await store().db.query<{ status: string; offline_since: Date | null }>(`select status, offline_since from agents where id = $1`, [mirror!.id]);
    assert.deepEqual(row, { status: 'offline', offline_since: null });
  });

  it('refuses a conversation opened in or transferred to @qiscus unless it is a Qiscus room', async () => {
    h = await harness();
    fake.addAgents(1);
    const admin = await h.t.user('admin');
    const opened = await h.t.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'c1' }, department: '@qiscus' } });
    assert.equal(opened.statusCode, 400, opened.body);
    assert.equal(opened.json().error.field, 'department');
    assert.match(opened.json().error.message, /^department must not be "@qiscus": departments starting with @/);
    assert.equal((await conversations()).length, 0, 'nothing was opened');
    // nor does the widget's availability say a chat is open there, which POST /session would then refuse
    const available = await h.t.call('GET', '/api/v1/availability?department=%40qiscus');
    assert.equal(available.statusCode, 400, available.body);
    assert.equal(available.json().error.field, 'department');

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

  it('refuses a RapidPro ticket for @qiscus, naming the visitor field mailroom sent', async () => {
    h = await harness();
    const admin = await h.t.user('admin');
    const ticketer = await createTicketer(h.t, admin.token);
    const mailroom = mailroomFor(h.t, ticketer);
    for (const field of ['department', 'deparment']) {
      const res = await mailroom('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, [field]: '@qiscus' } });
      assert.equal(res.statusCode, 400, res.body);
      // mailroom's own error shape: the message alone, which RapidPro's HTTP log shows
      assert.match(res.json().error, new RegExp(`^visitor\\.${field} must not be "@qiscus"`));
    }
    assert.equal((await conversations()).length, 0, 'no ticket was opened');
    const sales = await mailroom('GET', 'room', { ...CONTRACT.room, visitor: { ...CONTRACT.room.visitor, department: 'sales' } });
    assert.equal(sales.statusCode, 201, sales.body);
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

describe('migration 0080 on agents an earlier version let into the wrong pool', () => {
  for (const kind of storeKinds()) {
    it(`puts mirrors back as the allocator made them and takes people out of @qiscus [${kind}]`, async () => {
      const { db, drop, all } = await storeMigratedBefore(kind, '0080');
      try {
        const agent = (name: string, values: string) =>
          db.query<{ id: string }>(
            `insert into agents (name, email, password_hash, role, status, departments, source, external_ref, offline_since, resume_status, created_at, updated_at)
             values ('${name}', '${name}@example.test', ${values}, now(), now()) returning id`,
          );
        const [online] = await agent('online-mirror', `'x', 'admin', 'online', '{@qiscus,sales}', 'qiscus', '1', null, null`);
        const [timedOut] = await agent('timed-out-mirror', `'!', 'agent', 'offline', '{@qiscus}', 'qiscus', '2', now(), 'online'`);
        const [fine] = await agent('mirror', `'!', 'agent', 'offline', '{@qiscus}', 'qiscus', '3', null, null`);
        const [person] = await agent('eve', `'x', 'agent', 'online', '{sales,@qiscus,billing}', null, null, null, null`);
        const [other] = await agent('bob', `'x', 'agent', 'online', '{sales}', null, null, null, null`);
        for (const [id, n] of [[online!.id, 1], [person!.id, 2]] as const) {
          await db.query(`insert into auth_tokens (token_hash, agent_id, created_at, expires_at) values ($1, $2, now(), now() + interval '1 day')`, [`hash-${n}`, id]);
        }

        assert.deepEqual(await migrate(db), all.filter((m) => m.version >= '0080').map((m) => m.version));
        const rows = await db.query<{ id: string; status: string; departments: string[]; password_hash: string; role: string; offline_since: Date | null; resume_status: string | null }>(
          `select id, status, departments, password_hash, role, offline_since, resume_status from agents`,
        );
        const of = (id: string) => {
          const { id: _, ...rest } = rows.find((r) => r.id === id)!;
          return rest;
        };
        const mirror = { status: 'offline', departments: ['@qiscus'], password_hash: '!', role: 'agent', offline_since: null, resume_status: null };
        assert.deepEqual(of(online!.id), mirror);
        assert.deepEqual(of(timedOut!.id), mirror);
        assert.deepEqual(of(fine!.id), mirror);
        assert.deepEqual(of(person!.id), { status: 'online', departments: ['sales', 'billing'], password_hash: 'x', role: 'agent', offline_since: null, resume_status: null });
        assert.deepEqual(of(other!.id).departments, ['sales']);
        const tokens = await db.query<{ agent_id: string; revoked: boolean }>(`select agent_id, revoked_at is not null as revoked from auth_tokens order by token_hash`);
        assert.deepEqual(tokens, [{ agent_id: online!.id, revoked: true }, { agent_id: person!.id, revoked: false }]);
      } finally {
        await drop();
      }
    });
  }
});

describe('an upgrade past channels’ own queues mends what earlier versions left', () => {
  for (const kind of storeKinds()) {
    it(`requeues another channel's conversations a mirror held and hands them to a person, keeping its Qiscus room [${kind}]`, async () => {
      const { db, drop } = await storeMigratedBefore(kind, '0080');
      try {
        const agent = (name: string, values: string) =>
          db.query<{ id: string }>(
            `insert into agents (name, email, password_hash, role, status, departments, source, external_ref, capacity, load, created_at, updated_at)
             values ('${name}', '${name}@example.test', ${values}, now(), now()) returning id`,
          );
        // as an earlier version left them: the mirror set online, in sales too, and given two conversations that are no Qiscus rooms
        const [mirror] = await agent('mirror', `'x', 'agent', 'online', '{@qiscus,sales}', 'qiscus', '1', null, 3`);
        const [bob] = await agent('bob', `'x', 'agent', 'online', '{sales}', null, null, 5, 0`);
        const conversation = (channel: string, ref: string | null, department: string | null) =>
          db.query<{ id: string }>(
            `insert into conversations (channel, external_ref, customer_id, customer, department, required_skills, state, agent_id, created_at, queued_at, assigned_at, updated_at)
             values ($1, $2, $3, '{}', $4, '{}', 'assigned', $5, now(), now(), now(), now()) returning id`,
            [channel, ref, `customer-${channel}`, department, mirror!.id],
          );
        const [widget] = await conversation('widget', null, 'sales');
        const [room] = await conversation('qiscus', 'room-1', '@qiscus');
        const [api] = await conversation('api', null, null);

        await migrate(db);
        const rows = await db.query<{ id: string; state: string; agent_id: string }>(`select id, state, agent_id from conversations order by seq`);
        assert.deepEqual(rows, [
          { id: widget!.id, state: 'assigned', agent_id: bob!.id },
          { id: room!.id, state: 'assigned', agent_id: mirror!.id },
          { id: api!.id, state: 'assigned', agent_id: bob!.id },
        ]);
        const loads = await db.query<{ id: string; load: number }>(`select id, load from agents order by name`);
        assert.deepEqual(loads, [
          { id: bob!.id, load: 2 },
          { id: mirror!.id, load: 1 },
        ]);
        const events = await db.query<{ type: string; conversation_id: string; reason: string | null; agent: string | null }>(
          `select type, conversation_id, data ->> 'reason' as reason, data #>> '{conversation,agent_id}' as agent from events order by id`,
        );
        assert.deepEqual(events, [
          { type: 'conversation.queued', conversation_id: widget!.id, reason: 'channel_agent', agent: null },
          { type: 'conversation.queued', conversation_id: api!.id, reason: 'channel_agent', agent: null },
          { type: 'conversation.assigned', conversation_id: widget!.id, reason: null, agent: bob!.id },
          { type: 'conversation.assigned', conversation_id: api!.id, reason: null, agent: bob!.id },
        ]);

        // run again (the functions' file changed): nothing left to mend
        await db.query(`delete from schema_functions`);
        await migrate(db);
        assert.equal((await db.query(`select 1 from events`)).length, 4);
      } finally {
        await drop();
      }
    });

    it(`takes channels' queues out of a saved pre-chat form's department choices [${kind}]`, async () => {
      const { db, drop, all } = await storeMigratedBefore(kind, '0081');
      try {
        const field = (key: string, type: string, options: string[]) => ({ key, label: key, type, required: true, max_length: null, pattern: null, options });
        const save = (fields: object[]) =>
          db.query(`insert into prechat_form (id, fields, updated_at) values (true, $1::jsonb, now()) on conflict (id) do update set fields = excluded.fields`, [
            JSON.stringify(fields),
          ]);
        const stored = async () => (await db.query<{ fields: unknown }>(`select fields from prechat_form`))[0]!.fields;
        const topic = field('topic', 'select', ['@billing', 'returns']);
        await save([field('name', 'text', []), field('department', 'select', ['sales', '@qiscus', 'billing', '@rapidpro']), topic]);
        await migrate(db);
        assert.deepEqual(await stored(), [field('name', 'text', []), field('department', 'select', ['sales', 'billing']), topic]);

        // a department field with channels' queues alone has no choice left: it goes
        const only = [field('department', 'select', ['@qiscus']), field('email', 'email', [])];
        await save(only);
        await db.exec(all.find((m) => m.version.startsWith('0081'))!.sql);
        assert.deepEqual(await stored(), [field('email', 'email', [])]);
      } finally {
        await drop();
      }
    });
  }
});
