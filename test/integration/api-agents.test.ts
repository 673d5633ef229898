// /api/v1/agents, /api/v1/agents/me, /api/v1/agents/me/heartbeat, /api/v1/agents/:id
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { sweep } from '../../src/routing/sweep.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, rawJson, UNKNOWN_ID } from '../helpers/api-kit.js';
import { PASSWORD } from '../helpers/fixtures.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: agents', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const newAgent = (extra: Record<string, unknown> = {}) => ({ name: 'Grace', email: `grace.${Math.random().toString(36).slice(2)}@example.test`, password: 'a long password', role: 'agent', ...extra });
  const holds = async () => assert.deepEqual(await invariantViolations(store().db), []);

  it('every agents route answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: '/api/v1/agents', body: newAgent() },
      { method: 'GET', url: '/api/v1/agents' },
      { method: 'GET', url: '/api/v1/agents/me' },
      { method: 'PATCH', url: '/api/v1/agents/me', body: { status: 'online' } },
      { method: 'POST', url: '/api/v1/agents/me/heartbeat' },
      { method: 'GET', url: `/api/v1/agents/${UNKNOWN_ID}` },
      { method: 'PATCH', url: `/api/v1/agents/${UNKNOWN_ID}`, body: { name: 'x' } },
      { method: 'DELETE', url: `/api/v1/agents/${UNKNOWN_ID}` },
    ]);
  });

  it('only admins manage agents; only admins and supervisors list them; agents read only their own record (403, nothing changed)', async () => {
    const { admin, supervisor, agent, other } = await k.cast();
    await k.unchanged(async () => {
      for (const who of [supervisor, agent]) {
        const role = who.agent.role;
        expectError(await k.call('POST', '/api/v1/agents', { token: who.token, body: newAgent() }), 403, 'SB_FORBIDDEN', undefined, `${role} creates`);
        expectError(await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: who.token, body: { capacity: 9 } }), 403, 'SB_FORBIDDEN', undefined, `${role} patches`);
        expectError(await k.call('PATCH', `/api/v1/agents/${who.agent.id}`, { token: who.token, body: { capacity: 9 } }), 403, 'SB_FORBIDDEN', undefined, `${role} patches self`);
        expectError(await k.call('DELETE', `/api/v1/agents/${other.agent.id}`, { token: who.token }), 403, 'SB_FORBIDDEN', undefined, `${role} deletes`);
      }
      expectError(await k.call('GET', '/api/v1/agents', { token: agent.token }), 403, 'SB_FORBIDDEN', undefined, 'agent lists');
      expectError(await k.call('GET', `/api/v1/agents/${other.agent.id}`, { token: agent.token }), 403, 'SB_FORBIDDEN', undefined, 'agent reads another');
      expectError(await k.call('GET', `/api/v1/agents/${admin.agent.id}`, { token: agent.token }), 403, 'SB_FORBIDDEN', undefined, 'agent reads admin');
    });
  });

  it('POST /agents creates an agent who can log in, and records agent.created', async () => {
    const { admin } = await k.cast();
    const body = newAgent({ role: 'supervisor', capacity: 3, departments: ['sales', 'billing'], external_ref: 'qiscus-7' });
    const res = await k.call('POST', '/api/v1/agents', { token: admin.token, body });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json();
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.name, 'Grace');
    assert.equal(created.email, body.email);
    assert.equal(created.role, 'supervisor');
    assert.equal(created.status, 'offline');
    assert.equal(created.capacity, 3);
    assert.equal(created.effective_capacity, 3);
    assert.deepEqual(created.departments, ['sales', 'billing']);
    assert.equal(created.external_ref, 'qiscus-7');
    assert.equal(created.load, 0);
    assert.equal(created.created_at, k.clock.now().toISOString());
    assert.equal(created.password_hash, undefined);
    assert.doesNotMatch(res.body, /a long password|scrypt/);
    const login = await k.call('POST', '/api/v1/auth/login', { body: { email: body.email, password: body.password } });
    assert.equal(login.statusCode, 200);
    assert.equal(login.json().agent.id, created.id);
    assert.equal(await k.count('events', `type = 'agent.created' and agent_id = '${created.id}'`), 1);
    const events = await k.call('GET', '/api/v1/events?type=agent.created', { token: admin.token });
    assert.doesNotMatch(events.body, /a long password|scrypt/, 'events never carry the password');
  });

  it('POST /agents without a capacity uses the max_customers setting as effective capacity', async () => {
    const { admin } = await k.cast();
    const res = await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ capacity: null }) });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().capacity, null);
    assert.equal(res.json().effective_capacity, 2);
    assert.deepEqual(res.json().departments, []);
  });

  it('POST /agents with a taken email (any case) answers 409 SB_EMAIL_TAKEN; a deleted agent\'s email is free again', async () => {
    const { admin, other } = await k.cast();
    await k.unchanged(async () => {
      expectError(await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ email: other.agent.email }) }), 409, 'SB_EMAIL_TAKEN');
      expectError(await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ email: other.agent.email.toUpperCase() }) }), 409, 'SB_EMAIL_TAKEN');
    });
    assert.equal((await k.call('DELETE', `/api/v1/agents/${other.agent.id}`, { token: admin.token })).statusCode, 204);
    assert.equal((await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ email: other.agent.email }) })).statusCode, 201);
  });

  it('POST /agents answers 400 naming the field for missing, mistyped, out-of-range and unknown fields, and for invalid JSON', async () => {
    const { admin } = await k.cast();
    const post = (body: unknown) => k.call('POST', '/api/v1/agents', { token: admin.token, body });
    const without = (field: string) => {
      const body: Record<string, unknown> = newAgent();
      delete body[field];
      return body;
    };
    await k.unchanged(async () => {
      for (const field of ['name', 'email', 'password', 'role']) expectInvalid(await post(without(field)), field, `missing ${field}`);
      expectInvalid(await post(newAgent({ capacity: '5' })), 'capacity', 'capacity as a string');
      expectInvalid(await post(newAgent({ capacity: 2.5 })), 'capacity', 'fractional capacity');
      expectInvalid(await post(newAgent({ capacity: -1 })), 'capacity', 'negative capacity');
      expectInvalid(await post(newAgent({ role: 'boss' })), 'role', 'unknown role');
      expectInvalid(await post(newAgent({ email: 'not an email' })), 'email', 'malformed email');
      expectInvalid(await post(newAgent({ password: 'short' })), 'password', 'short password');
      expectInvalid(await post(newAgent({ name: '' })), 'name', 'empty name');
      expectInvalid(await post(newAgent({ departments: 'sales' })), 'departments', 'departments as a string');
      expectInvalid(await post(newAgent({ departments: ['sales', 'sales'] })), 'departments', 'duplicate departments');
      expectInvalid(await post(newAgent({ departments: [''] })), 'departments.0', 'empty department');
      expectInvalid(await post(newAgent({ salary: 100 })), 'salary', 'unknown field');
      expectInvalid(await post(newAgent({ status: 'online' })), 'status', 'status is not set on create');
      expectError(await k.call('POST', '/api/v1/agents', { token: admin.token, ...rawJson('{"name": "x",}') }), 400, 'SB_INVALID_JSON');
    });
  });

  it('POST /agents answers 400, not 500, for a name with a NUL character', async () => {
    const { admin } = await k.cast();
    await k.unchanged(async () => {
      const res = await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ name: 'Gr\u0000ace' }) });
      assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${res.body}`);
      expectInvalid(res, 'name');
    });
  });

  it('POST and PATCH /agents answer 400 naming the name when it is spaces alone, and change nothing', async () => {
    const { admin, agent } = await k.cast();
    await k.unchanged(async () => {
      const created = await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ name: '   ' }) });
      expectInvalid(created, 'name');
      assert.match(created.json().error.message, /blank/);
      expectInvalid(await k.call('PATCH', `/api/v1/agents/${agent.agent.id}`, { token: admin.token, body: { name: ' \t ' } }), 'name');
    });
  });

  it('POST and PATCH /agents answer 400 naming the name when it holds a line break or control character, and change nothing (found by review)', async () => {
    const { admin, agent } = await k.cast();
    await k.unchanged(async () => {
      for (const name of ['x\nevil', 'x\r\nAgent: evil', 'x\u2028evil', 'x\u0085evil', 'tab\tbed', 'bell\u0007']) {
        const created = await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ name }) });
        expectInvalid(created, 'name', `POST ${JSON.stringify(name)}`);
        assert.equal(created.json().error.message, 'name must be one line of text, without control characters');
        const changed = await k.call('PATCH', `/api/v1/agents/${agent.agent.id}`, { token: admin.token, body: { name } });
        expectInvalid(changed, 'name', `PATCH ${JSON.stringify(name)}`);
        assert.equal(changed.json().error.message, 'name must be one line of text, without control characters');
      }
    });
    // one line with any letters is a name
    assert.equal((await k.call('PATCH', `/api/v1/agents/${agent.agent.id}`, { token: admin.token, body: { name: 'Zoë O\'Brien-Łukasz 山田' } })).statusCode, 200);
  });

  it('POST and PATCH /agents answer 400 naming the department that is blank, and change nothing (found by review)', async () => {
    const { admin, agent } = await k.cast();
    await k.unchanged(async () => {
      for (const blank of [' ', '   ', '\u200b', '\u3164']) {
        expectInvalid(await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent({ departments: ['sales', blank] }) }), 'departments.1', `POST ${JSON.stringify(blank)}`);
        const changed = await k.call('PATCH', `/api/v1/agents/${agent.agent.id}`, { token: admin.token, body: { departments: [blank] } });
        expectInvalid(changed, 'departments.0', `PATCH ${JSON.stringify(blank)}`);
        assert.equal(changed.json().error.message, 'departments.0 must not be blank');
      }
    });
  });

  it('GET /agents lists live agents in creation order for admins and supervisors, filtered by status and department', async () => {
    const { admin, supervisor, agent, other } = await k.cast();
    const sales = await k.user('agent', { status: 'away', departments: ['sales'] });
    const gone = await k.user('agent');
    assert.equal((await k.call('DELETE', `/api/v1/agents/${gone.agent.id}`, { token: admin.token })).statusCode, 204);
    for (const who of [admin, supervisor]) {
      const res = await k.call('GET', '/api/v1/agents', { token: who.token });
      assert.equal(res.statusCode, 200);
      const ids = res.json().map((a: { id: string }) => a.id);
      assert.deepEqual(new Set(ids), new Set([admin.agent.id, supervisor.agent.id, agent.agent.id, other.agent.id, sales.agent.id]));
      assert.doesNotMatch(res.body, /password|scrypt/);
    }
    const online = await k.call('GET', '/api/v1/agents?status=online', { token: supervisor.token });
    assert.deepEqual(new Set(online.json().map((a: { id: string }) => a.id)), new Set([agent.agent.id, other.agent.id]));
    const inSales = await k.call('GET', '/api/v1/agents?department=sales', { token: supervisor.token });
    assert.deepEqual(inSales.json().map((a: { id: string }) => a.id), [sales.agent.id]);
    assert.equal(inSales.json()[0].status, 'away');
    assert.deepEqual((await k.call('GET', '/api/v1/agents?status=online&department=sales', { token: admin.token })).json(), []);
  });

  it('GET /agents answers 400 for an unknown status or query parameter', async () => {
    const { admin } = await k.cast();
    expectInvalid(await k.call('GET', '/api/v1/agents?status=busy', { token: admin.token }), 'status');
    expectInvalid(await k.call('GET', '/api/v1/agents?role=admin', { token: admin.token }), 'role');
    expectInvalid(await k.call('GET', '/api/v1/agents?department=', { token: admin.token }), 'department');
  });

  it('GET /agents/me answers the caller\'s own record, for every role', async () => {
    const { admin, supervisor, agent } = await k.cast({ agentCapacity: 5 });
    for (const who of [admin, supervisor, agent]) {
      const res = await k.call('GET', '/api/v1/agents/me', { token: who.token });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().id, who.agent.id);
      assert.equal(res.json().role, who.agent.role);
    }
    const me = (await k.call('GET', '/api/v1/agents/me', { token: agent.token })).json();
    assert.equal(me.status, 'online');
    assert.equal(me.capacity, 5);
    assert.equal(me.effective_capacity, 5);
    assert.equal(me.load, 0);
  });

  it('PATCH /agents/me sets the caller\'s presence; coming online takes waiting conversations at once', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const waiting = await k.open(admin.token);
    assert.equal(waiting.state, 'queued');
    const me = await k.user('agent');
    const away = await k.call('PATCH', '/api/v1/agents/me', { token: me.token, body: { status: 'away' } });
    assert.equal(away.statusCode, 200);
    assert.equal(away.json().status, 'away');
    assert.equal((await k.conversation(waiting.id)).state, 'queued', 'away agents take nothing');
    const online = await k.call('PATCH', '/api/v1/agents/me', { token: me.token, body: { status: 'online' } });
    assert.equal(online.statusCode, 200);
    assert.equal(online.json().status, 'online');
    assert.equal(online.json().load, 1);
    assert.deepEqual(await k.conversation(waiting.id), { state: 'assigned', agent_id: me.agent.id, department: null, note: null });
    const [event] = await store().db.query<{ data: { from: string; to: string; by: string } }>(
      `select data from events where type = 'agent.status_changed' and agent_id = $1 order by id desc limit 1`,
      [me.agent.id],
    );
    assert.deepEqual([event?.data.from, event?.data.to, event?.data.by], ['away', 'online', me.agent.id]);
    await holds();
  });

  it('PATCH /agents/me answers 400 for a missing or unknown status and for any other field (agents cannot set their own capacity)', async () => {
    const { agent } = await k.cast();
    const patch = (body: unknown) => k.call('PATCH', '/api/v1/agents/me', { token: agent.token, body });
    await k.unchanged(async () => {
      expectInvalid(await patch({}), 'status');
      expectInvalid(await patch({ status: 'busy' }), 'status');
      expectInvalid(await patch({ status: 1 }), 'status');
      expectInvalid(await patch({ status: 'online', capacity: 50 }), 'capacity');
      expectInvalid(await patch({ status: 'online', role: 'admin' }), 'role');
      expectError(await k.call('PATCH', '/api/v1/agents/me', { token: agent.token, ...rawJson('status=online') }), 400, 'SB_INVALID_JSON');
    });
  });

  it('POST /agents/me/heartbeat records the time of the sign of life', async () => {
    const { agent } = await k.cast();
    k.clock.advance(5000);
    const res = await k.call('POST', '/api/v1/agents/me/heartbeat', { token: agent.token });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().id, agent.agent.id);
    assert.equal(res.json().last_seen_at, k.clock.now().toISOString());
    assert.equal(res.json().status, 'online');
    assert.equal(new Date((await k.agentRow(agent.agent.id)).last_seen_at!).toISOString(), k.clock.now().toISOString());
  });

  it('POST /agents/me/heartbeat brings back an agent the keep-alive timeout set offline, but not one who went offline by choice', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 1 });
    const byChoice = await k.user('agent', { status: 'online' });
    assert.equal((await k.call('PATCH', '/api/v1/agents/me', { token: byChoice.token, body: { status: 'offline' } })).statusCode, 200);
    k.clock.advance(31_000); // past attendant_keep_alive_ms = 30 s
    await sweep(k.t.ctx);
    assert.equal((await k.agentRow(agent.agent.id)).status, 'offline');
    const back = await k.call('POST', '/api/v1/agents/me/heartbeat', { token: agent.token });
    assert.equal(back.statusCode, 200);
    assert.equal(back.json().status, 'online');
    assert.equal(back.json().last_seen_at, k.clock.now().toISOString());
    const conversation = await k.open(admin.token);
    assert.equal(conversation.agent_id, agent.agent.id, 'the agent back online takes work; the others are offline');
    const stays = await k.call('POST', '/api/v1/agents/me/heartbeat', { token: byChoice.token });
    assert.equal(stays.statusCode, 200);
    assert.equal(stays.json().status, 'offline', 'a heartbeat is not a login');
    await holds();
  });

  it('GET /agents/:id answers any agent to admins and supervisors, and agents their own', async () => {
    const { admin, supervisor, agent, other } = await k.cast();
    for (const who of [admin, supervisor]) {
      const res = await k.call('GET', `/api/v1/agents/${other.agent.id}`, { token: who.token });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().id, other.agent.id);
      assert.equal(res.json().email, other.agent.email);
    }
    const own = await k.call('GET', `/api/v1/agents/${agent.agent.id}`, { token: agent.token });
    assert.equal(own.statusCode, 200);
    assert.equal(own.json().id, agent.agent.id);
  });

  it('GET /agents/:id answers 404 for an unknown or deleted agent and 400 for a malformed id', async () => {
    const { admin, other } = await k.cast();
    expectError(await k.call('GET', `/api/v1/agents/${UNKNOWN_ID}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    expectInvalid(await k.call('GET', `/api/v1/agents/${MALFORMED_ID}`, { token: admin.token }), 'id');
    assert.equal((await k.call('DELETE', `/api/v1/agents/${other.agent.id}`, { token: admin.token })).statusCode, 204);
    expectError(await k.call('GET', `/api/v1/agents/${other.agent.id}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
  });

  it('PATCH /agents/:id changes name, email, role, capacity, departments, external_ref and status, and persists them', async () => {
    const { admin, other } = await k.cast();
    const email = `renamed.${Date.now()}@example.test`;
    const res = await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, {
      token: admin.token,
      body: { name: 'Renamed', email, role: 'supervisor', capacity: 7, departments: ['vip'], external_ref: 'ext-1', status: 'away' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(
      [body.name, body.email, body.role, body.capacity, body.effective_capacity, body.departments, body.external_ref, body.status],
      ['Renamed', email, 'supervisor', 7, 7, ['vip'], 'ext-1', 'away'],
    );
    const fresh = (await k.call('GET', `/api/v1/agents/${other.agent.id}`, { token: admin.token })).json();
    assert.deepEqual(fresh, body);
    const cleared = await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: admin.token, body: { capacity: null, external_ref: null } });
    assert.equal(cleared.json().capacity, null);
    assert.equal(cleared.json().effective_capacity, 2);
    assert.equal(cleared.json().external_ref, null);
    assert.equal(cleared.json().name, 'Renamed', 'fields not sent are kept');
  });

  it('PATCH /agents/:id with a password: the new one logs in, the old one and its sessions do not, and no event carries it', async () => {
    const { admin, other } = await k.cast();
    const res = await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: admin.token, body: { password: 'a brand new secret' } });
    assert.equal(res.statusCode, 200);
    const login = (password: string) => k.call('POST', '/api/v1/auth/login', { body: { email: other.agent.email, password } });
    assert.equal((await login('a brand new secret')).statusCode, 200);
    expectError(await login(PASSWORD), 401, 'SB_UNAUTHORIZED');
    expectError(await k.call('GET', '/api/v1/agents/me', { token: other.token }), 401, 'SB_UNAUTHORIZED', undefined, 'a session opened with the old password');
    const [event] = await store().db.query<{ data: { changed: string[] } }>(`select data from events where type = 'agent.updated' and agent_id = $1`, [other.agent.id]);
    assert.deepEqual(event?.data.changed, ['password']);
    assert.equal(await k.count('events', `data::text like '%brand new secret%'`), 0);
  });

  it('PATCH /agents/:id raising the capacity of an online agent assigns waiting conversations at once', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    await k.open(admin.token);
    await k.open(admin.token);
    const w1 = await k.open(admin.token);
    const w2 = await k.open(admin.token);
    assert.deepEqual([w1.state, w2.state], ['queued', 'queued']);
    const res = await k.call('PATCH', `/api/v1/agents/${agent.agent.id}`, { token: admin.token, body: { capacity: 2 } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().load, 2);
    assert.equal((await k.conversation(w1.id)).agent_id, agent.agent.id, 'the oldest waiting conversation fills the new slot');
    assert.equal((await k.conversation(w2.id)).state, 'queued');
    assert.equal((await k.agentRow(other.agent.id)).load, 1);
    await holds();
  });

  it('PATCH /agents/:id answers 400 for an empty patch, mistyped or unknown fields, invalid JSON and a malformed id; 404 for an unknown agent', async () => {
    const { admin, other } = await k.cast();
    const patch = (body: unknown, id = other.agent.id) => k.call('PATCH', `/api/v1/agents/${id}`, { token: admin.token, body });
    await k.unchanged(async () => {
      expectInvalid(await patch({}), 'body', 'empty patch');
      expectInvalid(await patch({ capacity: '5' }), 'capacity', 'capacity as a string');
      expectInvalid(await patch({ capacity: 10_001 }), 'capacity', 'capacity too large');
      expectInvalid(await patch({ status: 'sleeping' }), 'status');
      expectInvalid(await patch({ role: 'owner' }), 'role');
      expectInvalid(await patch({ email: 'nope' }), 'email');
      expectInvalid(await patch({ departments: [1] }), 'departments.0');
      expectInvalid(await patch({ nickname: 'x' }), 'nickname');
      expectInvalid(await patch({ load: 0 }), 'load', 'load is not writable');
      expectError(await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: admin.token, ...rawJson('{"name": "x"') }), 400, 'SB_INVALID_JSON');
      expectInvalid(await patch({ name: 'x' }, MALFORMED_ID), 'id', 'malformed id');
      expectError(await patch({ name: 'x' }, UNKNOWN_ID), 404, 'SB_NOT_FOUND');
    });
  });

  it('PATCH /agents/:id to an email another agent has answers 409 SB_EMAIL_TAKEN; an agent may keep their own in another case', async () => {
    const { admin, agent, other } = await k.cast();
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: admin.token, body: { email: agent.agent.email.toUpperCase() } }), 409, 'SB_EMAIL_TAKEN');
    });
    const same = await k.call('PATCH', `/api/v1/agents/${other.agent.id}`, { token: admin.token, body: { email: other.agent.email.toUpperCase() } });
    assert.equal(same.statusCode, 200);
  });

  it('the last admin cannot be demoted (409 SB_LAST_ADMIN) nor delete themselves (409 SB_DELETE_SELF); with a second admin demotion works at once', async () => {
    const { admin } = await k.cast();
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/agents/${admin.agent.id}`, { token: admin.token, body: { role: 'supervisor' } }), 409, 'SB_LAST_ADMIN');
      expectError(await k.call('DELETE', `/api/v1/agents/${admin.agent.id}`, { token: admin.token }), 409, 'SB_DELETE_SELF');
    });
    const second = await k.user('admin');
    const demoted = await k.call('PATCH', `/api/v1/agents/${admin.agent.id}`, { token: second.token, body: { role: 'agent' } });
    assert.equal(demoted.statusCode, 200);
    assert.equal(demoted.json().role, 'agent');
    expectError(await k.call('POST', '/api/v1/agents', { token: admin.token, body: newAgent() }), 403, 'SB_FORBIDDEN', undefined, 'the old token has the new role');
    await k.unchanged(async () => {
      expectError(await k.call('PATCH', `/api/v1/agents/${second.agent.id}`, { token: second.token, body: { role: 'agent' } }), 409, 'SB_LAST_ADMIN');
    });
  });

  it('DELETE /agents/:id removes the agent, revokes their tokens and gives their conversations to the queue and to others at once', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token);
    const c2 = await k.open(admin.token);
    const waiting = await k.open(admin.token);
    const victim = c1.agent_id === agent.agent.id ? agent : other;
    const survivor = victim === agent ? other : agent;
    const victimConversation = c1.agent_id === victim.agent.id ? c1 : c2;
    assert.equal(waiting.state, 'queued');
    const res = await k.call('DELETE', `/api/v1/agents/${victim.agent.id}`, { token: admin.token });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    expectError(await k.call('GET', '/api/v1/agents/me', { token: victim.token }), 401, 'SB_UNAUTHORIZED');
    expectError(await k.call('GET', `/api/v1/agents/${victim.agent.id}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    assert.equal((await k.conversation(victimConversation.id)).state, 'queued', 'back to the queue (nobody has room)');
    assert.equal((await k.agentRow(victim.agent.id)).load, 0);
    assert.equal((await k.conversation(waiting.id)).state, 'queued');
    // the survivor frees a slot: the re-queued conversation (older) goes first
    const survivorConversation = victimConversation === c1 ? c2 : c1;
    assert.equal((await k.call('POST', `/api/v1/conversations/${survivorConversation.id}/resolve`, { token: survivor.token, body: {} })).statusCode, 200);
    assert.equal((await k.conversation(victimConversation.id)).agent_id, survivor.agent.id);
    assert.equal(await k.count('events', `type = 'agent.deleted' and agent_id = '${victim.agent.id}'`), 1);
    await holds();
  });

  it('DELETE /agents/:id answers 404 for an unknown or already deleted agent and 400 for a malformed id', async () => {
    const { admin, other } = await k.cast();
    assert.equal((await k.call('DELETE', `/api/v1/agents/${other.agent.id}`, { token: admin.token })).statusCode, 204);
    await k.unchanged(async () => {
      expectError(await k.call('DELETE', `/api/v1/agents/${other.agent.id}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
      expectError(await k.call('DELETE', `/api/v1/agents/${UNKNOWN_ID}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
      expectInvalid(await k.call('DELETE', `/api/v1/agents/${MALFORMED_ID}`, { token: admin.token }), 'id');
    });
  });
});
