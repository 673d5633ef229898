// POST /api/v1/auth/login, POST /api/v1/auth/logout, and how every route
// treats bearer tokens.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { PASSWORD } from '../helpers/fixtures.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, rawJson, TTL_SECONDS, UNKNOWN_ID } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: auth', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const login = (email: unknown, password: unknown = PASSWORD) => k.call('POST', '/api/v1/auth/login', { body: { email, password } });

  it('POST /auth/login answers a token, its expiry and the agent, without the password hash', async () => {
    const { agent } = await k.user('supervisor', { status: 'away', capacity: 4, departments: ['sales'] });
    const res = await login(agent.email);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.match(body.token, /^sbt_[A-Za-z0-9_-]{40,}$/);
    assert.equal(body.expires_at, new Date(k.clock.now().getTime() + TTL_SECONDS * 1000).toISOString());
    assert.equal(body.agent.id, agent.id);
    assert.equal(body.agent.email, agent.email);
    assert.equal(body.agent.role, 'supervisor');
    assert.equal(body.agent.status, 'away', 'logging in does not change presence');
    assert.equal(body.agent.capacity, 4);
    assert.equal(body.agent.effective_capacity, 4);
    assert.deepEqual(body.agent.departments, ['sales']);
    assert.equal(body.agent.password_hash, undefined);
    assert.doesNotMatch(res.body, /scrypt|password/);
    const me = await k.call('GET', '/api/v1/agents/me', { token: body.token });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().id, agent.id);
  });

  it('POST /auth/login matches the email case-insensitively and every login gets its own token', async () => {
    const { agent } = await k.user('agent');
    const first = await login(agent.email.toUpperCase());
    const second = await login(agent.email);
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    assert.notEqual(first.json().token, second.json().token);
    assert.equal(await k.count('auth_tokens', `agent_id = '${agent.id}'`), 3);
  });

  it('POST /auth/login answers 401 with one message for a wrong password, an unknown email and a deleted agent, and issues no token', async () => {
    const { token: admin } = await k.user('admin');
    const { agent } = await k.user('agent');
    const { agent: gone } = await k.user('agent');
    assert.equal((await k.call('DELETE', `/api/v1/agents/${gone.id}`, { token: admin })).statusCode, 204);
    await k.unchanged(async () => {
      const messages = new Set<string>();
      for (const res of [await login(agent.email, 'wrong password'), await login('nobody@example.test'), await login(gone.email)]) {
        expectError(res, 401, 'SB_UNAUTHORIZED');
        messages.add(res.json().error.message);
      }
      assert.equal(messages.size, 1, 'the answer does not reveal which accounts exist');
    });
  });

  it('POST /auth/login answers 400 naming the field for missing, mistyped, empty and unknown fields, and for invalid JSON', async () => {
    const { agent } = await k.user('agent');
    await k.unchanged(async () => {
      expectInvalid(await k.call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } }), 'email');
      expectInvalid(await k.call('POST', '/api/v1/auth/login', { body: { email: agent.email } }), 'password');
      expectInvalid(await login(42), 'email');
      expectInvalid(await login(agent.email, 12345678), 'password');
      expectInvalid(await login(''), 'email');
      expectInvalid(await login(agent.email, ''), 'password');
      expectInvalid(await k.call('POST', '/api/v1/auth/login', { body: { email: agent.email, password: PASSWORD, remember: true } }), 'remember');
      expectInvalid(await k.call('POST', '/api/v1/auth/login', { body: [agent.email, PASSWORD] }), 'body');
      expectError(await k.call('POST', '/api/v1/auth/login', rawJson('{"email": "a@b.test", "password": ')), 400, 'SB_INVALID_JSON');
      expectError(await k.call('POST', '/api/v1/auth/login', rawJson('')), 400, 'SB_INVALID_JSON');
    });
  });

  it('POST /auth/login answers 400, not 500, for an email with a NUL character', async () => {
    await k.unchanged(async () => {
      const res = await login('ada\u0000@example.test');
      assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${res.body}`);
      expectInvalid(res, 'email');
    });
  });

  it('POST /auth/logout revokes that token only, sets the agent offline and records it', async () => {
    const { agent, token } = await k.user('agent', { status: 'online' });
    const second = await login(agent.email);
    const res = await k.call('POST', '/api/v1/auth/logout', { token });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    expectError(await k.call('GET', '/api/v1/agents/me', { token }), 401, 'SB_UNAUTHORIZED');
    expectError(await k.call('POST', '/api/v1/auth/logout', { token }), 401, 'SB_UNAUTHORIZED');
    const me = await k.call('GET', '/api/v1/agents/me', { token: second.json().token });
    assert.equal(me.statusCode, 200, 'another session of the same agent still works');
    assert.equal(me.json().status, 'offline');
    assert.equal((await k.agentRow(agent.id)).status, 'offline');
    const [event] = await store().db.query<{ data: { from: string; to: string; reason: string } }>(
      `select data from events where type = 'agent.status_changed' and agent_id = $1 order by id desc limit 1`,
      [agent.id],
    );
    assert.deepEqual([event?.data.from, event?.data.to, event?.data.reason], ['online', 'offline', 'set_offline']);
  });

  it('POST /auth/logout of an agent already offline answers 204 and records no status change', async () => {
    const { agent, token } = await k.user('agent');
    const before = await k.count('events', `type = 'agent.status_changed' and agent_id = '${agent.id}'`);
    assert.equal((await k.call('POST', '/api/v1/auth/logout', { token })).statusCode, 204);
    assert.equal(await k.count('events', `type = 'agent.status_changed' and agent_id = '${agent.id}'`), before);
    assert.equal(await k.count('auth_tokens', `agent_id = '${agent.id}' and revoked_at is not null`), 1);
  });

  it('POST /auth/logout of an agent a keep-alive timeout set offline is a choice: a heartbeat from another session no longer resumes them', async () => {
    const { agent, token } = await k.user('agent');
    const other = (await login(agent.email)).json().token as string;
    await store().db.query(`update agents set status = 'offline', resume_status = 'online' where id = $1`, [agent.id]);
    assert.equal((await k.call('POST', '/api/v1/auth/logout', { token })).statusCode, 204);
    const row = await k.agentRow(agent.id);
    assert.deepEqual([row.status, row.resume_status], ['offline', null]);
    const beat = await k.call('POST', '/api/v1/agents/me/heartbeat', { token: other });
    assert.equal(beat.statusCode, 200);
    assert.equal(beat.json().status, 'offline');
    assert.equal(await k.count('events', `type = 'agent.status_changed' and agent_id = '${agent.id}' and data->>'reason' = 'heartbeat_resumed'`), 0);
  });

  it('POST /auth/logout answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [{ method: 'POST', url: '/api/v1/auth/logout' }]);
  });

  it('a token from /auth/login works until expires_at and answers 401 after it', async () => {
    const { agent } = await k.user('agent');
    const res = await login(agent.email);
    const { token, expires_at } = res.json();
    k.clock.advance(TTL_SECONDS * 1000 - 1000);
    assert.equal((await k.call('GET', '/api/v1/agents/me', { token })).statusCode, 200);
    k.clock.set(Date.parse(expires_at));
    expectError(await k.call('GET', '/api/v1/agents/me', { token }), 401, 'SB_UNAUTHORIZED', undefined, 'at expires_at');
    k.clock.advance(1000);
    expectError(await k.call('GET', '/api/v1/agents/me', { token }), 401, 'SB_UNAUTHORIZED', undefined, 'after expires_at');
  });

  it('accepts "bearer" in any case and refuses other schemes, a bare token and a deleted agent\'s token', async () => {
    const { token: admin } = await k.user('admin');
    const { token } = await k.user('agent');
    const { agent: goner, token: gonerToken } = await k.user('agent');
    assert.equal((await k.call('GET', '/api/v1/agents/me', { headers: { authorization: `bearer ${token}` } })).statusCode, 200);
    assert.equal((await k.call('GET', '/api/v1/agents/me', { headers: { authorization: `BEARER ${token}` } })).statusCode, 200);
    for (const authorization of [`Basic ${token}`, token, `Bearer`, `Bearer ${token} extra`, `Bearer ${token.slice(0, -1)}`]) {
      expectError(await k.call('GET', '/api/v1/agents/me', { headers: { authorization } }), 401, 'SB_UNAUTHORIZED', undefined, authorization);
    }
    assert.equal((await k.call('DELETE', `/api/v1/agents/${goner.id}`, { token: admin })).statusCode, 204);
    expectError(await k.call('GET', '/api/v1/agents/me', { token: gonerToken }), 401, 'SB_UNAUTHORIZED', undefined, 'deleted agent');
  });

  it('checks the token before the request: no token with an invalid body, invalid JSON or a malformed id is 401, not 400', async () => {
    await k.user('admin');
    await k.unchanged(async () => {
      expectError(await k.call('POST', '/api/v1/conversations', { body: { customer: {} } }), 401, 'SB_UNAUTHORIZED', undefined, 'invalid body');
      expectError(await k.call('POST', '/api/v1/agents', rawJson('{oops')), 401, 'SB_UNAUTHORIZED', undefined, 'invalid JSON');
      expectError(await k.call('GET', `/api/v1/conversations/${MALFORMED_ID}`), 401, 'SB_UNAUTHORIZED', undefined, 'malformed id');
      expectError(await k.call('PATCH', '/api/v1/settings', { body: { max_customers: 'many' } }), 401, 'SB_UNAUTHORIZED', undefined, 'invalid settings');
      expectError(await k.call('GET', `/api/v1/conversations/${UNKNOWN_ID}/messages?after=-1`), 401, 'SB_UNAUTHORIZED', undefined, 'invalid query');
    });
  });

  it('answers an unknown route with 404 SB_ROUTE_NOT_FOUND in the error envelope', async () => {
    expectError(await k.call('GET', '/api/v1/nothing-here'), 404, 'SB_ROUTE_NOT_FOUND');
    expectError(await k.call('PUT', '/api/v1/settings'), 404, 'SB_ROUTE_NOT_FOUND');
  });
});
