// The back office's customers list (GET /api/v1/customers: who has an open
// conversation and whether their widget page is there now) and the agent
// directory any agent may read to pick a colleague for a transfer
// (GET /api/v1/agents/directory).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { startSession, touchSession } from '../../src/realtime/sessions.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/clock.js';
import { describeEachStore } from '../helpers/stores.js';

const KEEP_ALIVE_MS = 8_000;

describeEachStore('api: customers list and agent directory', (store) => {
  const clock = fakeClock();
  let t: TestApp;

  before(async () => {
    t = await testApp(store(), { now: clock.now, env: { SESSION_KEEP_ALIVE_TIME: String(KEEP_ALIVE_MS) } });
  });
  after(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await store().reset();
  });

  const widget = (id: string, name: string) => startSession(t.ctx, { customer: { id, name, email: `${id}@example.test` } }, 3600);

  it('lists open conversations’ customers, online while their widget keeps the session alive, offline after three quarters of the keep-alive', async () => {
    const alice = await t.user('agent', { status: 'online', capacity: 5, name: 'Alice' });
    const ada = await widget('ada', 'Ada');
    const bob = await widget('bob', 'Bob');
    const api = await t.call('POST', '/api/v1/conversations', { token: alice.token, body: { customer: { id: 'carol', name: 'Carol' }, channel: 'api' } });
    assert.equal(api.statusCode, 201);
    const gone = await widget('dan', 'Dan');
    assert.equal((await t.call('POST', `/api/v1/conversations/${gone.conversation.id}/resolve`, { token: alice.token })).statusCode, 200);

    // Ada's page keeps sending keep-alives, Bob's went quiet
    clock.advance(5_000);
    await touchSession(store().db, ada.conversation.id, clock.now());
    clock.advance(2_000);

    const admin = await t.user('admin');
    const res = await t.call('GET', '/api/v1/customers', { token: admin.token });
    assert.equal(res.statusCode, 200);
    const list = res.json() as { customer: { id: string; name: string }; conversation_id: string; channel: string; state: string; agent_id: string; online: boolean; last_seen_at: string | null }[];
    assert.deepEqual(
      list.map((c) => [c.customer.id, c.channel, c.state, c.online]),
      [
        ['carol', 'api', 'assigned', false],
        ['bob', 'widget', 'assigned', false],
        ['ada', 'widget', 'assigned', true],
      ],
    );
    const byId = Object.fromEntries(list.map((c) => [c.customer.id, c]));
    assert.equal(byId.ada!.conversation_id, ada.conversation.id);
    assert.equal(byId.ada!.agent_id, alice.agent.id);
    assert.equal(byId.ada!.last_seen_at, new Date(clock.now().getTime() - 2_000).toISOString());
    assert.equal(byId.carol!.last_seen_at, null);
    assert.equal(bob.conversation.state, 'assigned');

    const online = (await t.call('GET', '/api/v1/customers?online=true', { token: admin.token })).json() as { customer: { id: string } }[];
    assert.deepEqual(online.map((c) => c.customer.id), ['ada']);
    const offline = (await t.call('GET', '/api/v1/customers?online=false&limit=1', { token: admin.token })).json() as { customer: { id: string } }[];
    assert.deepEqual(offline.map((c) => c.customer.id), ['carol']);

    // 6 s without a word (3/4 of 8 s): Ada's page is gone too
    clock.advance(4_001);
    assert.deepEqual(((await t.call('GET', '/api/v1/customers?online=true', { token: admin.token })).json() as unknown[]).length, 0);
  });

  it('shows an agent only the customers of conversations assigned to them; refuses a bad query naming the field', async () => {
    const alice = await t.user('agent', { status: 'online', capacity: 1, name: 'Alice' });
    await widget('ada', 'Ada');
    const bea = await t.user('agent', { status: 'online', capacity: 1, name: 'Bea' });
    await widget('bob', 'Bob');
    await widget('queued', 'Waiting'); // nobody has room: queued, nobody's own

    const own = (token: string) => t.call('GET', '/api/v1/customers', { token }).then((r) => (r.json() as { customer: { id: string } }[]).map((c) => c.customer.id));
    assert.deepEqual(await own(alice.token), ['ada']);
    assert.deepEqual(await own(bea.token), ['bob']);
    const supervisor = await t.user('supervisor');
    assert.deepEqual(await own(supervisor.token), ['queued', 'bob', 'ada']);

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['online=maybe', 'online'],
      ['agent=x', 'agent'],
    ] as const) {
      const res = await t.call('GET', `/api/v1/customers?${query}`, { token: supervisor.token });
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().error.code, 'SB_VALIDATION', query);
      assert.match(res.json().error.field ?? res.json().error.message, new RegExp(field), query);
    }
    assert.equal((await t.call('GET', '/api/v1/customers')).statusCode, 401);
  });

  it('gives any agent the directory: names, presence, departments and who has room, nothing private; a transfer to one with room is taken', async () => {
    const alice = await t.user('agent', { status: 'online', capacity: 1, name: 'Alice', departments: ['sales'] });
    const chat = await widget('ada', 'Ada');
    assert.equal(chat.conversation.agent_id, alice.agent.id);
    const full = await t.user('agent', { status: 'online', capacity: 0, name: 'Full' });
    const away = await t.user('agent', { status: 'away', capacity: 3, name: 'Away' });
    const free = await t.user('agent', { status: 'online', capacity: 2, name: 'Free', departments: ['billing', 'sales'] });

    const res = await t.call('GET', '/api/v1/agents/directory', { token: alice.token });
    assert.equal(res.statusCode, 200);
    const entries = res.json() as Record<string, unknown>[];
    const named = Object.fromEntries(entries.map((e) => [e.name, e]));
    assert.deepEqual(named.Free, { id: free.agent.id, name: 'Free', status: 'online', departments: ['billing', 'sales'], has_room: true });
    assert.deepEqual(named.Alice, { id: alice.agent.id, name: 'Alice', status: 'online', departments: ['sales'], has_room: false });
    assert.equal(named.Full!.has_room, false);
    assert.equal(named.Away!.has_room, false);
    assert.equal(named.Away!.id, away.agent.id);
    assert.equal(named.Full!.id, full.agent.id);
    for (const entry of entries) assert.deepEqual(Object.keys(entry).sort(), ['departments', 'has_room', 'id', 'name', 'status']);

    const moved = await t.call('POST', `/api/v1/conversations/${chat.conversation.id}/transfer`, { token: alice.token, body: { agent_id: free.agent.id } });
    assert.equal(moved.statusCode, 200);
    assert.equal(moved.json().agent_id, free.agent.id);
    const after = (await t.call('GET', '/api/v1/agents/directory', { token: alice.token })).json() as { name: string; has_room: boolean }[];
    assert.equal(after.find((e) => e.name === 'Alice')!.has_room, true);
    assert.equal((await t.call('GET', '/api/v1/agents/directory')).statusCode, 401);
  });
});
