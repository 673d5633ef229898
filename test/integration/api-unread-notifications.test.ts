// Issue #17 item 7 over REST: unread counts per agent per conversation
// (lists, GET one, POST /read) and notification preferences (GET/PUT).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, rawJson, UNKNOWN_ID, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: unread counts and notification preferences', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const PREFS = '/api/v1/agents/me/notification-preferences';

  async function scene() {
    const cast = await k.cast({ agentCapacity: 1 });
    const c = await k.open(cast.admin.token);
    const owner: User = c.agent_id === cast.agent.agent.id ? cast.agent : cast.other;
    const outsider: User = owner === cast.agent ? cast.other : cast.agent;
    return { ...cast, c, owner, outsider };
  }
  /** the customer writes (posted by an admin as the customer, as an integration would) */
  const customerSays = async (admin: User, id: string, text: string) => {
    const res = await k.call('POST', `/api/v1/conversations/${id}/messages`, { token: admin.token, body: { text, sender: 'customer' } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as number;
  };
  const unreadInList = async (user: User, id: string) => {
    const res = await k.call('GET', '/api/v1/conversations', { token: user.token });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { id: string; unread: number }[]).find((c) => c.id === id)?.unread;
  };
  const read = (user: User, id: string, body: unknown = {}) => k.call('POST', `/api/v1/conversations/${id}/read`, { token: user.token, body });

  it('counts the customer’s messages after the agent last read, exactly, in lists and in GET of one; agents’ own messages never count', async () => {
    const { admin, c, owner } = await scene();
    assert.equal(await unreadInList(owner, c.id), 0);
    const first = await customerSays(admin, c.id, 'hello');
    await customerSays(admin, c.id, 'anyone there?');
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/messages`, { token: owner.token, body: { text: 'hi!' } })).statusCode, 201);
    await customerSays(admin, c.id, 'great');
    assert.equal(await unreadInList(owner, c.id), 3);
    assert.equal((await k.call('GET', `/api/v1/conversations/${c.id}`, { token: owner.token })).json().unread, 3);

    // up to the first message only
    const partial = await read(owner, c.id, { up_to: first });
    assert.equal(partial.statusCode, 200, partial.body);
    assert.deepEqual(partial.json(), { conversation_id: c.id, last_read_message_id: first, unread: 2 });
    assert.equal(await unreadInList(owner, c.id), 2);

    // all of it, then a marker never goes back
    const all = await read(owner, c.id);
    assert.equal(all.json().unread, 0);
    assert.equal((await read(owner, c.id, { up_to: first })).json().unread, 0, 'an older up_to does not bring back unread messages');
    await customerSays(admin, c.id, 'one more');
    assert.equal(await unreadInList(owner, c.id), 1);
  });

  it('keeps each agent’s count their own: a supervisor reading does not clear the holder’s', async () => {
    const { admin, supervisor, c, owner } = await scene();
    await customerSays(admin, c.id, 'hello');
    await customerSays(admin, c.id, 'hello?');
    assert.equal((await read(supervisor, c.id)).json().unread, 0);
    assert.equal(await unreadInList(supervisor, c.id), 0);
    assert.equal(await unreadInList(owner, c.id), 2, "the holder's count is untouched");
    assert.equal(await k.count('conversation_reads'), 1);
  });

  it('refuses to mark read a conversation the caller may not see, an unknown one, or with a bad body, and changes nothing', async () => {
    const { admin, c, outsider, owner } = await scene();
    await customerSays(admin, c.id, 'hello');
    await k.unchanged(async () => {
      expectError(await read(outsider, c.id), 403, 'SB_FORBIDDEN');
      expectError(await read(owner, UNKNOWN_ID), 404, 'SB_NOT_FOUND');
      expectInvalid(await read(owner, MALFORMED_ID), 'id');
      expectInvalid(await read(owner, c.id, { up_to: 0 }), 'up_to');
      expectInvalid(await read(owner, c.id, { up_to: 'all' }), 'up_to');
      expectInvalid(await read(owner, c.id, { up_to: 1e20 }), 'up_to');
      expectInvalid(await read(owner, c.id, { up_to: 1, zz: 1 }), 'zz');
      const raw = await k.call('POST', `/api/v1/conversations/${c.id}/read`, { token: owner.token, ...rawJson('{"up_to":') });
      assert.equal(raw.statusCode, 400);
    });
    assert.equal(await unreadInList(owner, c.id), 1);
  });

  it('answers 401 without a valid token on every new route', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/read`, body: {} },
      { method: 'GET', url: PREFS },
      { method: 'PUT', url: PREFS, body: { assignment: { sound: true, desktop: true }, customer_message: { sound: true, desktop: true } } },
    ]);
  });

  it('keeps notification preferences per agent: all on by default, replaced whole by PUT, read back by GET', async () => {
    const { agent, other } = await k.cast();
    const all = { assignment: { sound: true, desktop: true }, customer_message: { sound: true, desktop: true } };
    const get = async (user: User) => (await k.call('GET', PREFS, { token: user.token })).json();
    assert.deepEqual(await get(agent), all);
    const mine = { assignment: { sound: false, desktop: true }, customer_message: { sound: true, desktop: false } };
    const put = await k.call('PUT', PREFS, { token: agent.token, body: mine });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json(), mine);
    assert.deepEqual(await get(agent), mine);
    assert.deepEqual(await get(other), all, "another agent's preferences are their own");
    const off = { assignment: { sound: false, desktop: false }, customer_message: { sound: false, desktop: false } };
    assert.deepEqual((await k.call('PUT', PREFS, { token: agent.token, body: off })).json(), off);
    assert.deepEqual(await get(agent), off);
  });

  it('refuses bad preferences with a 400 naming the field, and changes nothing', async () => {
    const { agent } = await k.cast();
    const good = { assignment: { sound: false, desktop: true }, customer_message: { sound: true, desktop: false } };
    assert.equal((await k.call('PUT', PREFS, { token: agent.token, body: good })).statusCode, 200);
    await k.unchanged(async () => {
      expectInvalid(await k.call('PUT', PREFS, { token: agent.token, body: { ...good, assignment: { sound: 'yes', desktop: true } } }), 'assignment.sound');
      expectInvalid(await k.call('PUT', PREFS, { token: agent.token, body: { assignment: good.assignment } }), 'customer_message');
      expectInvalid(await k.call('PUT', PREFS, { token: agent.token, body: { ...good, customer_message: { sound: true } } }), 'customer_message.desktop');
      expectInvalid(await k.call('PUT', PREFS, { token: agent.token, body: { ...good, zz: 1 } }), 'zz');
    });
    assert.deepEqual((await k.call('GET', PREFS, { token: agent.token })).json(), good);
  });
});
