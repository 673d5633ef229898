// /api/v1/conversations, /api/v1/conversations/:id and its resolve, transfer and requeue actions.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { openConversation } from '../../src/conversations/lifecycle.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, rawJson, UNKNOWN_ID } from '../helpers/api-kit.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('api: conversations', (store) => {
  const k = kitFor(store, { before, after });
  beforeEach(() => store().reset());

  const holds = async () => assert.deepEqual(await invariantViolations(store().db), []);
  const eventTypes = async (conversationId: string) =>
    (await store().db.query<{ type: string }>('select type from events where conversation_id = $1 order by id', [conversationId])).map((e) => e.type);
  const act = (token: string, id: string, action: 'resolve' | 'transfer' | 'requeue', body?: unknown) =>
    k.call('POST', `/api/v1/conversations/${id}/${action}`, { token, ...(body !== undefined ? { body } : {}) });

  it('every conversations route answers 401 to a missing, garbage, revoked or expired token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: '/api/v1/conversations', body: { customer: { id: 'c1' } } },
      { method: 'GET', url: '/api/v1/conversations' },
      { method: 'GET', url: `/api/v1/conversations/${UNKNOWN_ID}` },
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/resolve`, body: {} },
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/transfer`, body: { department: 'sales' } },
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/requeue` },
    ]);
  });

  // ---- POST /conversations --------------------------------------------------

  it('POST /conversations answers 201 with the conversation assigned at once to an online agent', async () => {
    const { admin } = await k.cast();
    const only = await k.user('agent', { status: 'online', departments: ['billing'] });
    const res = await k.call('POST', '/api/v1/conversations', {
      token: admin.token,
      body: {
        customer: { id: 'cust-9', name: 'Ada', email: 'ada@example.test', phone: '+100', fields: { plan: 'gold' } },
        department: 'billing',
        priority: 3,
        channel: 'widget',
        external_ref: 'room-9',
      },
    });
    assert.equal(res.statusCode, 201, res.body);
    const c = res.json();
    assert.match(c.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(c.customer, { id: 'cust-9', name: 'Ada', email: 'ada@example.test', phone: '+100', fields: { plan: 'gold' } });
    assert.deepEqual([c.channel, c.external_ref, c.department, c.priority, c.state, c.agent_id], ['widget', 'room-9', 'billing', 3, 'assigned', only.agent.id]);
    const now = k.clock.now().toISOString();
    assert.deepEqual([c.created_at, c.assigned_at, c.resolved_at, c.queue_position, c.expected_wait_seconds], [now, now, null, null, null]);
    assert.deepEqual(await eventTypes(c.id), ['conversation.created', 'conversation.assigned']);
    assert.equal((await k.agentRow(only.agent.id)).load, 1);
    // the answer is written from the open's event, GET from the row: the same conversation, key for key
    const { unread: _, ...read } = (await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json();
    assert.deepEqual(c, read);
    assert.deepEqual(Object.keys(c), Object.keys(read));
    await holds();
  });

  it('POST /conversations with no agent free answers 201 queued, with its position and defaults', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 0 });
    const c = await k.open(agent.token);
    assert.deepEqual([c.state, c.agent_id, c.channel, c.department, c.priority, c.external_ref], ['queued', null, 'api', null, 0, null]);
    assert.equal(c.queue_position, 1);
    assert.equal(c.expected_wait_seconds, null, 'no online agent has a slot to give');
    const second = await k.open(admin.token);
    assert.equal(second.queue_position, 2);
    const { unread: _, ...read } = (await k.call('GET', `/api/v1/conversations/${second.id}`, { token: admin.token })).json();
    assert.deepEqual(second, read);
    assert.deepEqual(await eventTypes(c.id), ['conversation.created', 'conversation.queued']);
    await holds();
  });

  it('POST /conversations with the channel and external_ref of an open conversation answers 200 with the same one; a closed one does not count', async () => {
    const { admin, supervisor } = await k.cast();
    const first = await k.open(admin.token, { channel: 'mqtt', external_ref: 'room-1' });
    const eventsBefore = await k.count('events');
    const again = await k.open(supervisor.token, { channel: 'mqtt', external_ref: 'room-1', customer: { id: 'someone-else' } }, 200);
    assert.deepEqual(again, first, 'the same conversation, as the first open answered it');
    assert.equal(await k.count('conversations'), 1);
    assert.equal(await k.count('events'), eventsBefore, 'a repeated open records nothing');
    const otherChannel = await k.open(admin.token, { channel: 'api', external_ref: 'room-1' });
    assert.notEqual(otherChannel.id, first.id);
    assert.equal((await act(admin.token, first.id, 'resolve', {})).statusCode, 200);
    const reopened = await k.open(admin.token, { channel: 'mqtt', external_ref: 'room-1' });
    assert.notEqual(reopened.id, first.id);
    assert.equal(await k.count('conversations'), 3);
  });

  it('POST /conversations by an agent does not hand out another agent\'s open conversation through its external_ref', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const theirs = await k.open(admin.token, { channel: 'mqtt', external_ref: 'room-secret', customer: { id: 'vip', name: 'Private Person' } });
    const outsider = theirs.agent_id === agent.agent.id ? other : agent;
    await k.unchanged(async () => {
      const res = await k.call('POST', '/api/v1/conversations', { token: outsider.token, body: { customer: { id: 'x' }, channel: 'mqtt', external_ref: 'room-secret' } });
      assert.doesNotMatch(res.body, /Private Person/, 'the customer of a conversation assigned to someone else leaks');
      expectError(res, 403, 'SB_FORBIDDEN');
    });
  });

  it('POST /conversations answers 400 naming the field for missing, mistyped, out-of-range and unknown fields, and for invalid JSON', async () => {
    const { admin } = await k.cast();
    const post = (body: unknown) => k.call('POST', '/api/v1/conversations', { token: admin.token, body });
    await k.unchanged(async () => {
      expectInvalid(await post({}), 'customer');
      expectInvalid(await post({ customer: {} }), 'customer.id');
      expectInvalid(await post({ customer: { id: '' } }), 'customer.id');
      expectInvalid(await post({ customer: { id: 7 } }), 'customer.id');
      expectInvalid(await post({ customer: 'c1' }), 'customer');
      expectInvalid(await post({ customer: { id: 'c1', age: 40 } }), 'customer.age');
      expectInvalid(await post({ customer: { id: 'c1', fields: { plan: 3 } } }), 'customer.fields.plan');
      expectInvalid(await post({ customer: { id: 'c1' }, priority: '5' }), 'priority');
      expectInvalid(await post({ customer: { id: 'c1' }, priority: 1.5 }), 'priority');
      expectInvalid(await post({ customer: { id: 'c1' }, priority: 11 }), 'priority');
      expectInvalid(await post({ customer: { id: 'c1' }, channel: 'fax' }), 'channel');
      // opened only by their channel's webhook or mailroom, which alone know the room or ticket is real
      expectInvalid(await post({ customer: { id: 'c1' }, channel: 'qiscus', external_ref: '274083256' }), 'channel', 'qiscus');
      expectInvalid(await post({ customer: { id: 'c1' }, channel: 'rapidpro', external_ref: '59d74b86-3e2f-4a93-aece-b05d2fdcde0c' }), 'channel', 'rapidpro');
      expectInvalid(await post({ customer: { id: 'c1' }, department: '' }), 'department');
      expectInvalid(await post({ customer: { id: 'c1' }, external_ref: 12 }), 'external_ref');
      expectInvalid(await post({ customer: { id: 'c1' }, state: 'assigned' }), 'state');
      expectInvalid(await post({ customer: { id: 'c1' }, agent_id: UNKNOWN_ID }), 'agent_id');
      expectInvalid(await post([{ customer: { id: 'c1' } }]), 'body');
      expectError(await k.call('POST', '/api/v1/conversations', { token: admin.token, ...rawJson("{'customer': {}}") }), 400, 'SB_INVALID_JSON');
      expectError(await k.call('POST', '/api/v1/conversations', { token: admin.token, ...rawJson('') }), 400, 'SB_INVALID_JSON');
    });
  });

  it('POST /conversations enforces the documented 100-character limit on customer field names', async () => {
    const { admin } = await k.cast();
    await k.unchanged(async () => {
      const res = await k.call('POST', '/api/v1/conversations', { token: admin.token, body: { customer: { id: 'c1', fields: { ['k'.repeat(101)]: 'v' } } } });
      expectError(res, 400, 'SB_VALIDATION');
    });
  });

  it('POST /conversations answers 400, not 500, for text PostgreSQL cannot store (a NUL character, a lone surrogate)', async () => {
    const { admin } = await k.cast();
    await k.unchanged(async () => {
      for (const body of [
        { customer: { id: 'c\u00001' } },
        { customer: { id: 'c1', name: 'A\u0000da' } },
        { customer: { id: 'c1', fields: { 'k\u0000': 'v' } } },
        { customer: { id: 'c1', name: 'x\ud800y' } },
      ]) {
        const res = await k.call('POST', '/api/v1/conversations', { token: admin.token, body });
        assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${JSON.stringify(body)} → ${res.body}`);
        expectError(res, 400, 'SB_VALIDATION');
      }
    });
  });

  // ---- GET /conversations ---------------------------------------------------

  it('GET /conversations lists newest first: everything to admins and supervisors, only their own to agents', async () => {
    const { admin, supervisor, agent, other } = await k.cast({ agentCapacity: 2 });
    const opened = [];
    for (let i = 0; i < 5; i++) opened.push(await k.open(admin.token));
    const newestFirst = opened.map((c) => c.id).reverse();
    for (const who of [admin, supervisor]) {
      const res = await k.call('GET', '/api/v1/conversations', { token: who.token });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json().map((c: { id: string }) => c.id), newestFirst);
    }
    for (const who of [agent, other]) {
      const mine = opened.filter((c) => c.agent_id === who.agent.id).map((c) => c.id).reverse();
      assert.equal(mine.length, 2);
      const res = await k.call('GET', '/api/v1/conversations', { token: who.token });
      assert.deepEqual(res.json().map((c: { id: string }) => c.id), mine);
      const explicit = await k.call('GET', `/api/v1/conversations?agent=${who.agent.id}`, { token: who.token });
      assert.deepEqual(explicit.json().map((c: { id: string }) => c.id), mine);
      assert.deepEqual((await k.call('GET', '/api/v1/conversations?state=queued', { token: who.token })).json(), [], 'queued ones are nobody\'s');
    }
    const queued = await k.call('GET', '/api/v1/conversations?state=queued', { token: supervisor.token });
    assert.deepEqual(queued.json().map((c: { id: string; queue_position: number }) => [c.id, c.queue_position]), [[opened[4]!.id, 1]]);
  });

  it('GET /conversations filters by state, agent, department and customer and pages with before and limit', async () => {
    const { admin, agent } = await k.cast({ agentCapacity: 10 });
    const a = await k.open(admin.token, { customer: { id: 'alice' } });
    const b = await k.open(admin.token, { customer: { id: 'bob' }, department: 'sales' });
    const c = await k.open(admin.token, { customer: { id: 'alice' } });
    assert.equal((await act(admin.token, a.id, 'resolve', {})).statusCode, 200);
    const ids = async (query: string) => (await k.call('GET', `/api/v1/conversations?${query}`, { token: admin.token })).json().map((x: { id: string }) => x.id);
    assert.deepEqual(await ids('state=resolved'), [a.id]);
    assert.deepEqual(await ids('state=queued'), [b.id], 'no agent serves sales');
    assert.deepEqual(await ids('department=sales'), [b.id]);
    assert.deepEqual(await ids('customer=alice'), [c.id, a.id]);
    assert.notEqual(a.agent_id, c.agent_id, 'the second went to the less loaded agent');
    assert.deepEqual(await ids(`agent=${agent.agent.id}`), [c, a].filter((x) => x.agent_id === agent.agent.id).map((x) => x.id));
    assert.deepEqual(await ids('limit=2'), [c.id, b.id]);
    assert.deepEqual(await ids(`limit=2&before=${b.id}`), [a.id]);
    assert.deepEqual(await ids(`before=${a.id}`), []);
    // the page ended at b, which is erased before the next page is asked: not an empty page read as the end
    assert.equal((await act(admin.token, b.id, 'resolve', {})).statusCode, 200);
    assert.equal((await k.call('DELETE', `/api/v1/conversations/${b.id}`, { token: admin.token })).statusCode, 200);
    expectInvalid(await k.call('GET', `/api/v1/conversations?limit=2&before=${b.id}`, { token: admin.token }), 'before');
    expectInvalid(await k.call('GET', '/api/v1/conversations?before=00000000-0000-4000-8000-000000000000', { token: admin.token }), 'before');
  });

  it('GET /conversations answers 403 to an agent asking for someone else\'s, and 400 for bad filters', async () => {
    const { admin, agent, other } = await k.cast();
    expectError(await k.call('GET', `/api/v1/conversations?agent=${other.agent.id}`, { token: agent.token }), 403, 'SB_FORBIDDEN');
    const get = (query: string) => k.call('GET', `/api/v1/conversations?${query}`, { token: admin.token });
    expectInvalid(await get('state=open'), 'state');
    expectInvalid(await get('limit=0'), 'limit');
    expectInvalid(await get('limit=501'), 'limit');
    expectInvalid(await get('limit=ten'), 'limit');
    expectInvalid(await get(`agent=${MALFORMED_ID}`), 'agent');
    expectInvalid(await get(`before=${MALFORMED_ID}`), 'before');
    expectInvalid(await get('sort=oldest'), 'sort');
  });

  it('GET /conversations answers 400, not 500, for a filter with a NUL character', async () => {
    const { admin } = await k.cast();
    for (const query of ['customer=a%00b', 'department=a%00b']) {
      const res = await k.call('GET', `/api/v1/conversations?${query}`, { token: admin.token });
      assert.notEqual(res.statusCode, 500, `a client mistake must not be a 500: ${query} → ${res.body}`);
      expectError(res, 400, 'SB_VALIDATION', undefined, query);
    }
  });

  // ---- GET /conversations/:id -----------------------------------------------

  it('GET /conversations/:id answers admins and supervisors any conversation and agents only their own', async () => {
    const { admin, supervisor, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token, { customer: { id: 'c1', name: 'Ada' } });
    const c2 = await k.open(admin.token);
    const waiting = await k.open(admin.token);
    const owner = c1.agent_id === agent.agent.id ? agent : other;
    const outsider = owner === agent ? other : agent;
    for (const who of [admin, supervisor, owner]) {
      const res = await k.call('GET', `/api/v1/conversations/${c1.id}`, { token: who.token });
      assert.equal(res.statusCode, 200);
      // GET of one adds the caller's own unread count; nobody has had a customer message here
      assert.deepEqual(res.json(), { ...c1, unread: 0 });
    }
    const queued = await k.call('GET', `/api/v1/conversations/${waiting.id}`, { token: supervisor.token });
    assert.equal(queued.json().queue_position, 1);
    assert.equal(queued.json().expected_wait_seconds, 150, 'position 1 × 300 s default handle time ÷ 2 online slots');
    expectError(await k.call('GET', `/api/v1/conversations/${c1.id}`, { token: outsider.token }), 403, 'SB_FORBIDDEN');
    expectError(await k.call('GET', `/api/v1/conversations/${waiting.id}`, { token: owner.token }), 403, 'SB_FORBIDDEN');
    assert.ok(c2.agent_id === outsider.agent.id);
  });

  it('GET /conversations/:id answers 404 for an unknown id and 400 for a malformed one', async () => {
    const { admin } = await k.cast();
    expectError(await k.call('GET', `/api/v1/conversations/${UNKNOWN_ID}`, { token: admin.token }), 404, 'SB_NOT_FOUND');
    expectInvalid(await k.call('GET', `/api/v1/conversations/${MALFORMED_ID}`, { token: admin.token }), 'id');
  });

  // ---- POST /conversations/:id/resolve --------------------------------------

  it('POST /resolve closes the conversation with its note and gives the freed slot to the oldest waiting conversation at once', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const solo = await k.user('agent', { status: 'online', capacity: 1 });
    const held = await k.open(admin.token);
    const w1 = await k.open(admin.token);
    const w2 = await k.open(admin.token);
    assert.deepEqual([held.agent_id, w1.state, w2.state], [solo.agent.id, 'queued', 'queued']);
    k.clock.advance(60_000);
    const res = await act(solo.token, held.id, 'resolve', { note: 'refund issued' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual([body.state, body.resolve_reason, body.note, body.agent_id], ['resolved', 'agent', 'refund issued', solo.agent.id]);
    assert.equal(body.resolved_at, k.clock.now().toISOString());
    assert.equal((await k.conversation(w1.id)).agent_id, solo.agent.id, 'first in, first out');
    assert.equal((await k.conversation(w2.id)).state, 'queued');
    assert.equal((await k.agentRow(solo.agent.id)).load, 1);
    assert.deepEqual((await eventTypes(held.id)).slice(-1), ['conversation.resolved']);
    assert.deepEqual((await eventTypes(w1.id)).slice(-1), ['conversation.assigned']);
    await holds();
  });

  it('POST /resolve answers with one call to the store: the conversation as GET reads it, not yet rated', async () => {
    const { admin } = await k.cast();
    const c = await k.open(admin.token);
    assert.equal(c.state, 'assigned');
    // Everything the app sends the store while it resolves, but the bearer token's lookup.
    const db = k.t.ctx.db;
    const sent: string[] = [];
    const { query, transactOne, transaction } = db;
    db.query = ((text: string, params?: readonly unknown[]) => (text.includes('auth_tokens') || sent.push(text), query.call(db, text, params))) as typeof db.query;
    db.transactOne = ((text: string, params: readonly unknown[]) => (sent.push(text), transactOne.call(db, text, params))) as typeof db.transactOne;
    db.transaction = ((fn, options) => (sent.push('transaction'), transaction.call(db, fn, options))) as typeof db.transaction;
    let res;
    try {
      res = await act(admin.token, c.id, 'resolve', { note: 'done' });
    } finally {
      Object.assign(db, { query, transactOne, transaction });
    }
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(sent.length, 1, `one call, the close; sent:\n${sent.join('\n')}`);
    const { unread: _, ...read } = (await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token })).json();
    assert.deepEqual(res.json(), read);
    assert.equal(res.json().rating, null);
  });

  it('POST /resolve without a body resolves (the body is optional)', async () => {
    const { admin, agent } = await k.cast();
    const c = await k.open(admin.token);
    const owner = c.agent_id === agent.agent.id ? agent.token : admin.token;
    const res = await act(owner, c.id, 'resolve');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().state, 'resolved');
  });

  it('POST /resolve by a supervisor closes a queued conversation; resolving twice answers 409 SB_CONVERSATION_CLOSED and changes nothing', async () => {
    const { supervisor } = await k.cast({ agentCapacity: 0 });
    const c = await k.open(supervisor.token);
    assert.equal(c.state, 'queued');
    const res = await act(supervisor.token, c.id, 'resolve', {});
    assert.equal(res.statusCode, 200);
    assert.deepEqual([res.json().state, res.json().agent_id, res.json().queue_position], ['resolved', null, null]);
    await k.unchanged(async () => {
      expectError(await act(supervisor.token, c.id, 'resolve', {}), 409, 'SB_CONVERSATION_CLOSED');
      expectError(await act(supervisor.token, c.id, 'resolve', { note: 'again' }), 409, 'SB_CONVERSATION_CLOSED');
    });
  });

  it('POST /resolve answers 403 to an agent for someone else\'s or a queued conversation, 404, and 400 for bad input, changing nothing', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token);
    await k.open(admin.token);
    const waiting = await k.open(admin.token);
    const outsider = c1.agent_id === agent.agent.id ? other : agent;
    await k.unchanged(async () => {
      expectError(await act(outsider.token, c1.id, 'resolve', {}), 403, 'SB_FORBIDDEN');
      expectError(await act(outsider.token, waiting.id, 'resolve', {}), 403, 'SB_FORBIDDEN');
      expectError(await act(admin.token, UNKNOWN_ID, 'resolve', {}), 404, 'SB_NOT_FOUND');
      expectInvalid(await act(admin.token, MALFORMED_ID, 'resolve', {}), 'id');
      expectInvalid(await act(admin.token, c1.id, 'resolve', { note: 42 }), 'note');
      expectInvalid(await act(admin.token, c1.id, 'resolve', { note: 'x'.repeat(5001) }), 'note');
      expectInvalid(await act(admin.token, c1.id, 'resolve', { reason: 'spam' }), 'reason');
      expectError(await k.call('POST', `/api/v1/conversations/${c1.id}/resolve`, { token: admin.token, ...rawJson('{"note"}') }), 400, 'SB_INVALID_JSON');
    });
  });

  // ---- POST /conversations/:id/transfer -------------------------------------

  it('POST /transfer to an online agent with room moves the conversation and its load, and the freed slot serves the queue', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const from = await k.user('agent', { status: 'online', capacity: 1, departments: ['sales'] });
    const target = await k.user('agent', { status: 'online', capacity: 1, departments: ['vip'] });
    const c1 = await k.open(admin.token, { department: 'sales' });
    const waiting = await k.open(admin.token, { department: 'sales' });
    assert.deepEqual([c1.agent_id, waiting.state], [from.agent.id, 'queued']);
    const res = await act(from.token, c1.id, 'transfer', { agent_id: target.agent.id });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().id, res.json().state, res.json().agent_id, res.json().department], [c1.id, 'assigned', target.agent.id, 'sales']);
    assert.equal((await k.agentRow(target.agent.id)).load, 1);
    assert.equal((await k.conversation(waiting.id)).agent_id, from.agent.id, 'the freed slot took the waiting conversation');
    assert.equal((await k.agentRow(from.agent.id)).load, 1);
    assert.equal((await eventTypes(c1.id)).at(-1), 'conversation.transferred');
    expectError(await k.call('GET', `/api/v1/conversations/${c1.id}`, { token: from.token }), 403, 'SB_FORBIDDEN', undefined, 'no longer theirs');
    assert.equal((await k.call('GET', `/api/v1/conversations/${c1.id}`, { token: target.token })).statusCode, 200);
    await holds();
  });

  it('POST /transfer to a department re-queues the conversation there and assigns it to an agent of that department', async () => {
    const { admin } = await k.cast({ agentCapacity: 0 });
    const owner = await k.user('agent', { status: 'online', capacity: 1 });
    const c1 = await k.open(admin.token);
    assert.equal(c1.agent_id, owner.agent.id);
    const billing = await k.user('agent', { status: 'online', departments: ['billing'], capacity: 1 });
    const toNobody = await act(owner.token, c1.id, 'transfer', { department: 'legal' });
    assert.equal(toNobody.statusCode, 200, toNobody.body);
    assert.deepEqual([toNobody.json().state, toNobody.json().department, toNobody.json().agent_id, toNobody.json().queue_position], ['queued', 'legal', null, 1]);
    assert.equal((await k.agentRow(owner.agent.id)).load, 0);
    const toBilling = await act(admin.token, c1.id, 'transfer', { department: 'billing' });
    assert.equal(toBilling.statusCode, 200, toBilling.body);
    assert.deepEqual([toBilling.json().state, toBilling.json().department, toBilling.json().agent_id], ['assigned', 'billing', billing.agent.id]);
    await holds();
  });

  it('POST /transfer answers 409 for a resolved conversation, an agent at capacity, an offline or away agent and the same agent, changing nothing', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token);
    await k.open(admin.token);
    const done = await k.open(admin.token, {}, 201);
    const owner = c1.agent_id === agent.agent.id ? agent : other;
    const full = owner === agent ? other : agent;
    const offline = await k.user('agent');
    const away = await k.user('agent', { status: 'away' });
    assert.equal((await act(admin.token, done.id, 'resolve', {})).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await act(admin.token, done.id, 'transfer', { agent_id: full.agent.id }), 409, 'SB_CONVERSATION_CLOSED', undefined, 'resolved');
      expectError(await act(admin.token, done.id, 'transfer', { department: 'sales' }), 409, 'SB_CONVERSATION_CLOSED', undefined, 'resolved, to department');
      expectError(await act(admin.token, c1.id, 'transfer', { agent_id: full.agent.id }), 409, 'SB_AGENT_AT_CAPACITY', undefined, 'at capacity');
      expectError(await act(admin.token, c1.id, 'transfer', { agent_id: offline.agent.id }), 409, 'SB_AGENT_UNAVAILABLE', undefined, 'offline');
      expectError(await act(admin.token, c1.id, 'transfer', { agent_id: away.agent.id }), 409, 'SB_AGENT_UNAVAILABLE', undefined, 'away');
      expectError(await act(owner.token, c1.id, 'transfer', { agent_id: owner.agent.id }), 409, 'SB_ALREADY_ASSIGNED', undefined, 'same agent');
    });
  });

  it('POST /transfer answers 400 for an empty or double target, a malformed agent id and unknown fields, 404 for unknown ids, 403 for someone else\'s', async () => {
    const { admin, agent, other } = await k.cast();
    const c1 = await k.open(admin.token);
    const outsider = c1.agent_id === agent.agent.id ? other : agent;
    const insider = outsider === agent ? other : agent;
    await k.unchanged(async () => {
      expectInvalid(await act(admin.token, c1.id, 'transfer', {}), 'body', 'no target');
      expectInvalid(await act(admin.token, c1.id, 'transfer', { agent_id: outsider.agent.id, department: 'sales' }), 'body', 'two targets');
      expectInvalid(await act(admin.token, c1.id, 'transfer', { agent_id: MALFORMED_ID }), 'agent_id');
      expectInvalid(await act(admin.token, c1.id, 'transfer', { agent_id: 5 }), 'agent_id');
      expectInvalid(await act(admin.token, c1.id, 'transfer', { department: '' }), 'department');
      expectInvalid(await act(admin.token, c1.id, 'transfer', { queue: 'sales' }), 'queue');
      expectInvalid(await act(admin.token, MALFORMED_ID, 'transfer', { department: 'sales' }), 'id');
      expectError(await act(admin.token, c1.id, 'transfer', { agent_id: UNKNOWN_ID }), 404, 'SB_NOT_FOUND', undefined, 'unknown agent');
      expectError(await act(admin.token, UNKNOWN_ID, 'transfer', { department: 'sales' }), 404, 'SB_NOT_FOUND', undefined, 'unknown conversation');
      expectError(await act(outsider.token, c1.id, 'transfer', { agent_id: outsider.agent.id }), 403, 'SB_FORBIDDEN', undefined, 'someone else\'s');
      expectError(await k.call('POST', `/api/v1/conversations/${c1.id}/transfer`, { token: insider.token, ...rawJson('{"agent_id":') }), 400, 'SB_INVALID_JSON');
    });
  });

  it('POST /transfer of a qiscus conversation to an agent or another department answers 409 SB_QISCUS_TRANSFER, changing nothing; to its own department it is requeued', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    // opened as the Qiscus channel opens its rooms: the core API refuses channel qiscus
    const room = (await openConversation(k.t.ctx, { customer: { id: 'c7' }, channel: 'qiscus', external_ref: 'room-7' })).conversation;
    const waiting = (await openConversation(k.t.ctx, { customer: { id: 'c8' }, channel: 'qiscus', external_ref: 'room-8', department: 'nobody' })).conversation;
    assert.deepEqual([room.state, waiting.state], ['assigned', 'queued']);
    const free = room.agent_id === agent.agent.id ? other : agent;
    await k.unchanged(async () => {
      for (const [c, own] of [[room, '(none)'], [waiting, 'nobody']] as const) {
        const toAgent = await act(admin.token, c.id, 'transfer', { agent_id: free.agent.id });
        expectError(toAgent, 409, 'SB_QISCUS_TRANSFER', undefined, `${c.state} to an agent`);
        assert.match(toAgent.json().error.message, /Qiscus room: it cannot be transferred to an agent/);
        const away = await act(admin.token, c.id, 'transfer', { department: 'sales' });
        expectError(away, 409, 'SB_QISCUS_TRANSFER', undefined, `${c.state} to another department`);
        assert.ok(away.json().error.message.includes(`Qiscus room: it cannot leave the department ${own}`), away.body);
      }
    });
    const back = await act(admin.token, room.id, 'transfer', { department: null });
    assert.equal(back.statusCode, 200, back.body);
    // back in the queue, as a requeue, and matched at once
    assert.deepEqual((await eventTypes(room.id)).slice(-3), ['conversation.queued', 'conversation.transferred', 'conversation.assigned']);
    await holds();
  });

  // ---- POST /conversations/:id/requeue --------------------------------------

  it('POST /requeue returns an assigned conversation to the queue at its original place, ahead of later arrivals', async () => {
    const { admin, supervisor } = await k.cast({ agentCapacity: 0 });
    const solo = await k.user('agent', { status: 'online', capacity: 1 });
    const c1 = await k.open(admin.token);
    const c2 = await k.open(admin.token);
    const c3 = await k.open(admin.token);
    assert.equal(c1.agent_id, solo.agent.id);
    assert.equal((await k.call('PATCH', '/api/v1/agents/me', { token: solo.token, body: { status: 'away' } })).statusCode, 200);
    const res = await act(supervisor.token, c1.id, 'requeue');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().state, res.json().agent_id, res.json().queue_position], ['queued', null, 1]);
    assert.equal((await k.agentRow(solo.agent.id)).load, 0);
    const queue = (await k.call('GET', '/api/v1/queue', { token: solo.token })).json();
    assert.deepEqual(queue.map((e: { conversation: { id: string } }) => e.conversation.id), [c1.id, c2.id, c3.id]);
    assert.deepEqual((await eventTypes(c1.id)).slice(-1), ['conversation.queued']);
    await holds();
  });

  it('POST /requeue by the agent holding it: with another agent free, that agent takes it at once', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token);
    const owner = c1.agent_id === agent.agent.id ? agent : other;
    const free = owner === agent ? other : agent;
    const res = await act(owner.token, c1.id, 'requeue');
    assert.equal(res.statusCode, 200);
    assert.deepEqual([res.json().state, res.json().agent_id], ['assigned', free.agent.id]);
    assert.equal((await k.agentRow(owner.agent.id)).load, 0);
    await holds();
  });

  it('POST /requeue answers 409 for a queued or resolved conversation, 403 for someone else\'s, 404 and 400, changing nothing', async () => {
    const { admin, agent, other } = await k.cast({ agentCapacity: 1 });
    const c1 = await k.open(admin.token);
    const c2 = await k.open(admin.token);
    const waiting = await k.open(admin.token);
    const outsider = c1.agent_id === agent.agent.id ? other : agent;
    assert.equal((await act(admin.token, c2.id, 'resolve', {})).statusCode, 200);
    assert.equal((await k.conversation(waiting.id)).state, 'assigned');
    const queued = await k.open(admin.token);
    await k.unchanged(async () => {
      expectError(await act(admin.token, queued.id, 'requeue'), 409, 'SB_NOT_ASSIGNED');
      expectError(await act(admin.token, c2.id, 'requeue'), 409, 'SB_CONVERSATION_CLOSED');
      expectError(await act(outsider.token, c1.id, 'requeue'), 403, 'SB_FORBIDDEN');
      expectError(await act(admin.token, UNKNOWN_ID, 'requeue'), 404, 'SB_NOT_FOUND');
      expectInvalid(await act(admin.token, MALFORMED_ID, 'requeue'), 'id');
    });
  });
});
