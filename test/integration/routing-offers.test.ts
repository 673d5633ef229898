// Offer and accept, and manual pick (issue #20 items 5 and 6), through the
// API on both stores: offers count against capacity, a declined or expired
// offer goes to the next agent keeping its place, K expiries in a row set
// the agent away; in manual mode nothing is given automatically and a pick
// is taken once.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { heartbeat } from '../../src/agents/agents.js';
import type { ConversationRow } from '../../src/conversations/model.js';
import { listQueue } from '../../src/routing/queue.js';
import { sweep } from '../../src/routing/sweep.js';
import { assertAllUnauthorized, expectError, expectInvalid, kitFor, MALFORMED_ID, UNKNOWN_ID, type User } from '../helpers/api-kit.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('routing: offer and accept, manual pick', (store) => {
  const k = kitFor(store, { before, after });
  let admin: User;
  let supervisor: User;
  beforeEach(async () => {
    await store().reset();
    admin = await k.user('admin');
    supervisor = await k.user('supervisor');
  });

  const route = async (department: string, settings: Record<string, unknown>) => {
    const res = await k.call('PUT', `/api/v1/departments/${department}/routing`, { token: admin.token, body: settings });
    assert.equal(res.statusCode, 200, res.body);
  };
  const agent = (department: string, capacity = 1) => k.user('agent', { status: 'online', capacity, departments: [department] });
  const open = async (department: string) => {
    k.clock.advance(1000);
    return k.open(supervisor.token, { department });
  };
  const row = async (id: string) => (await store().db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const load = async (user: User) => (await k.agentRow(user.agent.id)).load;
  const post = (user: User, id: string, action: 'accept' | 'decline' | 'pick') => k.call('POST', `/api/v1/conversations/${id}/${action}`, { token: user.token, body: {} });
  const eventsOf = async (id: string) =>
    (await store().db.query<{ type: string; agent_id: string | null; data: Record<string, unknown> }>('select type, agent_id, data from events where conversation_id = $1 order by id', [id]))
      .map((e) => e.type);
  const holds = async () => assert.deepEqual(await invariantViolations(store().db), []);

  it('answers 401 without a valid token', async () => {
    await assertAllUnauthorized(k, [
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/accept`, body: {} },
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/decline`, body: {} },
      { method: 'POST', url: `/api/v1/conversations/${UNKNOWN_ID}/pick`, body: {} },
    ]);
  });

  it('offers a conversation in an offer-mode department; the slot counts until the agent accepts it', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 20 });
    const a = await agent('sales', 1);
    const c1 = await open('sales');
    assert.equal(c1.state, 'offered');
    assert.equal(c1.agent_id, a.agent.id);
    const offeredAt = k.clock.now().getTime();
    assert.equal((c1 as unknown as { offer_expires_at: string }).offer_expires_at, new Date(offeredAt + 20_000).toISOString());
    assert.equal((c1 as unknown as { assigned_at: string | null }).assigned_at, null);
    assert.equal(await load(a), 1, 'the offered slot counts against capacity');
    const c2 = await open('sales');
    assert.equal(c2.state, 'queued', 'an agent holding an offer at capacity gets nothing more');
    await holds();

    k.clock.advance(5000);
    const accepted = await post(a, c1.id, 'accept');
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.equal(accepted.json().state, 'assigned');
    assert.equal(accepted.json().agent_id, a.agent.id);
    assert.equal(accepted.json().assigned_at, k.clock.now().toISOString(), 'assigned at the accept');
    assert.equal(accepted.json().offer_expires_at, null);
    assert.equal(await load(a), 1);
    assert.deepEqual(await eventsOf(c1.id), ['conversation.created', 'conversation.offered', 'conversation.assigned']);
    // the agent may now reply; before accepting they could not
    const reply = await k.call('POST', `/api/v1/conversations/${c1.id}/messages`, { token: a.token, body: { text: 'hello' } });
    assert.equal(reply.statusCode, 201, reply.body);
    await holds();
  });

  it('an offered agent cannot reply before accepting, and a resolved offer releases its slot to the queue', async () => {
    await route('sales', { mode: 'offer' });
    const a = await agent('sales', 1);
    const c1 = await open('sales');
    const c2 = await open('sales');
    assert.equal(c1.state, 'offered');
    const early = await k.call('POST', `/api/v1/conversations/${c1.id}/messages`, { token: a.token, body: { text: 'hi' } });
    expectError(early, 409, 'SB_NOT_ACCEPTED');
    const resolved = await k.call('POST', `/api/v1/conversations/${c1.id}/resolve`, { token: supervisor.token, body: {} });
    assert.equal(resolved.statusCode, 200, resolved.body);
    assert.equal((await row(c2.id)).state, 'offered', 'the freed slot is offered the next conversation');
    assert.equal((await row(c2.id)).agent_id, a.agent.id);
    assert.equal(await load(a), 1);
    await holds();
  });

  it('a declined offer goes to the next agent at once, and keeps its place in the queue', async () => {
    await route('sales', { mode: 'offer' });
    const a = await agent('sales', 1);
    const b = await agent('sales', 1);
    const c1 = await open('sales');
    const c2 = await open('sales');
    const c3 = await open('sales');
    const c4 = await open('sales');
    const first = c1.agent_id === a.agent.id ? a : b;
    const second = first === a ? b : a;
    assert.equal(c2.agent_id, second.agent.id);
    assert.deepEqual([c3.state, c4.state], ['queued', 'queued']);

    k.clock.advance(2000);
    const declined = await post(first, c1.id, 'decline');
    assert.equal(declined.statusCode, 200, declined.body);
    // nobody else has room: c1 waits; the decliner's slot goes to the next one they may serve
    assert.equal(declined.json().state, 'queued');
    const before1 = await row(c1.id);
    assert.equal(before1.seq, (await row(c1.id)).seq);
    assert.equal(new Date(before1.queued_at!).toISOString(), c1.queued_at, 'it never stopped waiting');
    assert.deepEqual(before1.declined_by, [first.agent.id]);
    assert.equal((await row(c3.id)).state, 'offered');
    assert.equal((await row(c3.id)).agent_id, first.agent.id);
    const queue = await listQueue(k.t.ctx, { department: 'sales' });
    assert.deepEqual(queue.map((q) => [q.row.id, q.queue.position]), [[c1.id, 1], [c4.id, 2]], 'c1 is back at the head, ahead of c4');
    assert.deepEqual(await eventsOf(c1.id), ['conversation.created', 'conversation.offered', 'conversation.offer_declined']);

    // the other agent's slot frees: c1, at the head, is offered to them
    assert.equal((await post(second, c2.id, 'accept')).statusCode, 200);
    const done = await k.call('POST', `/api/v1/conversations/${c2.id}/resolve`, { token: second.token, body: {} });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal((await row(c1.id)).state, 'offered');
    assert.equal((await row(c1.id)).agent_id, second.agent.id);
    assert.equal((await row(c4.id)).state, 'queued');
    await holds();
  });

  it('a declined offer with another agent free goes straight to them', async () => {
    await route('sales', { mode: 'offer' });
    const a = await agent('sales', 1);
    const b = await agent('sales', 1);
    const c1 = await open('sales');
    const holder = c1.agent_id === a.agent.id ? a : b;
    const other = holder === a ? b : a;
    const declined = await post(holder, c1.id, 'decline');
    assert.equal(declined.statusCode, 200, declined.body);
    assert.equal(declined.json().state, 'offered');
    assert.equal(declined.json().agent_id, other.agent.id);
    assert.deepEqual([await load(holder), await load(other)], [0, 1]);
    assert.deepEqual(await eventsOf(c1.id), ['conversation.created', 'conversation.offered', 'conversation.offer_declined', 'conversation.offered']);
    await holds();
  });

  it('only the offered agent answers an offer: others get 403, a stale answer 409, and nothing changes', async () => {
    await route('sales', { mode: 'offer' });
    const a = await agent('sales', 1);
    const b = await agent('sales', 0);
    const c1 = await open('sales');
    assert.equal(c1.agent_id, a.agent.id);
    await k.unchanged(async () => {
      expectError(await post(b, c1.id, 'accept'), 403, 'SB_FORBIDDEN');
      expectError(await post(b, c1.id, 'decline'), 403, 'SB_FORBIDDEN');
      expectError(await post(supervisor, c1.id, 'accept'), 403, 'SB_FORBIDDEN');
      expectError(await post(a, UNKNOWN_ID, 'accept'), 404, 'SB_NOT_FOUND');
      expectInvalid(await post(a, MALFORMED_ID, 'accept'), 'id');
      expectInvalid(await k.call('POST', `/api/v1/conversations/${c1.id}/accept`, { token: a.token, body: { now: true } }), 'now');
    });
    assert.equal((await post(a, c1.id, 'accept')).statusCode, 200);
    await k.unchanged(async () => {
      expectError(await post(a, c1.id, 'accept'), 409, 'SB_NOT_OFFERED');
      expectError(await post(a, c1.id, 'decline'), 409, 'SB_NOT_OFFERED');
    });
    await holds();
  });

  it('an offer nobody answers expires in the sweep and goes to the next agent', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 10 });
    const a = await agent('sales', 1);
    const b = await agent('sales', 0);
    const c1 = await open('sales');
    assert.equal(c1.agent_id, a.agent.id);
    await k.call('PATCH', `/api/v1/agents/${b.agent.id}`, { token: admin.token, body: { capacity: 1 } });
    k.clock.advance(9_000);
    await sweep(k.t.ctx);
    assert.equal((await row(c1.id)).agent_id, a.agent.id, 'not yet expired');
    k.clock.advance(1_000);
    const result = await sweep(k.t.ctx);
    assert.equal(result.offersExpired, 1);
    const now = await row(c1.id);
    assert.equal(now.state, 'offered');
    assert.equal(now.agent_id, b.agent.id);
    assert.equal((await k.agentRow(a.agent.id)).offer_expiries, 1);
    assert.equal(await load(a), 0);
    assert.deepEqual(await eventsOf(c1.id), ['conversation.created', 'conversation.offered', 'conversation.offer_expired', 'conversation.offered']);
    await holds();
  });

  it('an agent who lets K offers in a row expire is set away and their offers go back; an accept resets the count', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 10, offer_expiries_before_away: 2 });
    const a = await agent('sales', 2);
    // the test runs longer than the keep-alive: the agent's console keeps beating
    const sweepAlive = async () => {
      await heartbeat(k.t.ctx, a.agent.id);
      return sweep(k.t.ctx);
    };
    const c1 = await open('sales');
    k.clock.advance(11_000);
    await sweepAlive(); // c1 expires: 1 in a row; c1 is not offered to them again (for offer_timeout_s)
    assert.equal((await k.agentRow(a.agent.id)).offer_expiries, 1);
    const c2 = await open('sales');
    assert.equal(c2.state, 'offered');
    assert.equal((await post(a, c2.id, 'accept')).statusCode, 200);
    assert.equal((await k.agentRow(a.agent.id)).offer_expiries, 0, 'an accept resets the run');
    const c3 = await open('sales');
    k.clock.advance(5_000);
    const c4 = await open('sales'); // load 2 with c2, c3: c4 waits
    assert.equal(c4.state, 'queued');
    k.clock.advance(6_000);
    // c3 expires: 1. c1's expiry is 11 s old, over offer_timeout_s: declines run
    // out (docs/routing.md#offer-and-accept), so c1, ahead of c4, is offered to them again
    await sweepAlive();
    assert.equal((await row(c1.id)).agent_id, a.agent.id);
    assert.equal((await row(c4.id)).state, 'queued');
    assert.equal((await k.agentRow(a.agent.id)).status, 'online');
    k.clock.advance(11_000);
    await sweepAlive(); // c1 expires again: 2 in a row, away
    const after = await k.agentRow(a.agent.id);
    assert.equal(after.status, 'away');
    assert.equal(after.offer_expiries, 0);
    assert.equal(after.load, 1, 'the accepted conversation stays theirs');
    for (const id of [c1.id, c3.id, c4.id]) assert.equal((await row(id)).state, 'queued');
    const [changed] = await store().db.query<{ data: Record<string, unknown> }>(
      `select data from events where type = 'agent.status_changed' and agent_id = $1 order by id desc limit 1`,
      [a.agent.id],
    );
    assert.deepEqual(changed!.data, { agent_id: a.agent.id, from: 'online', to: 'away', reason: 'offers_expired', by: null });
    await holds();
  });

  it('offers of an agent who goes away are withdrawn by the next sweep, without counting against them', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 30 });
    const a = await agent('sales', 1);
    const c1 = await open('sales');
    assert.equal(c1.agent_id, a.agent.id);
    const away = await k.call('PATCH', '/api/v1/agents/me', { token: a.token, body: { status: 'away' } });
    assert.equal(away.statusCode, 200, away.body);
    await sweep(k.t.ctx);
    const back = await row(c1.id);
    assert.equal(back.state, 'queued');
    assert.deepEqual(back.declined_by, []);
    assert.equal((await k.agentRow(a.agent.id)).offer_expiries, 0);
    assert.equal(await load(a), 0);
    await holds();
  });

  it('an offer the agent may no longer serve (moved out of its department) is withdrawn at once and goes to the next agent', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 600 });
    const first = await agent('sales', 1);
    const second = await agent('sales', 1);
    const c1 = await open('sales');
    const [offered, other] = c1.agent_id === first.agent.id ? [first, second] : [second, first];
    assert.equal(c1.agent_id, offered.agent.id);
    const patch = (body: Record<string, unknown>) => k.call('PATCH', `/api/v1/agents/${offered.agent.id}`, { token: admin.token, body });

    // still in sales (another department added): the offer stays theirs
    assert.equal((await patch({ departments: ['sales', 'billing'] })).statusCode, 200);
    assert.deepEqual([(await row(c1.id)).state, (await row(c1.id)).agent_id], ['offered', offered.agent.id]);

    k.clock.advance(1000);
    const moved = await patch({ departments: ['billing'] });
    assert.equal(moved.statusCode, 200, moved.body);
    const now = await row(c1.id);
    assert.deepEqual([now.state, now.agent_id], ['offered', other.agent.id], 'offered to the agent who serves sales, without waiting for the timeout');
    assert.equal(await load(offered), 0);
    assert.equal((await k.agentRow(offered.agent.id)).offer_expiries, 0, 'a withdrawal does not count against the agent');
    assert.deepEqual(now.declined_by, []);
    const [queued] = await store().db.query<{ data: { reason: string; previous_agent_id: string } }>(
      `select data from events where conversation_id = $1 and type = 'conversation.queued' order by id desc limit 1`,
      [c1.id],
    );
    assert.deepEqual([queued?.data.reason, queued?.data.previous_agent_id], ['offer_withdrawn', offered.agent.id]);
    assert.deepEqual((await eventsOf(c1.id)).slice(-2), ['conversation.queued', 'conversation.offered']);
    expectError(await post(offered, c1.id, 'accept'), 403, 'SB_FORBIDDEN');
    await holds();
  });

  it('transfers of an offer: the offered agent must accept first; a supervisor may assign it to them, or to another, with conversation.assigned', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 600 });
    const a = await agent('sales', 1);
    const c1 = await open('sales');
    assert.deepEqual([c1.state, c1.agent_id], ['offered', a.agent.id]);
    const transfer = (who: User, body: Record<string, unknown>) => k.call('POST', `/api/v1/conversations/${c1.id}/transfer`, { token: who.token, body });
    const b = await agent('billing', 1);
    await k.unchanged(async () => {
      expectError(await transfer(a, { agent_id: b.agent.id }), 409, 'SB_NOT_ACCEPTED');
      expectError(await transfer(a, { department: 'billing' }), 409, 'SB_NOT_ACCEPTED');
      expectError(await k.call('POST', `/api/v1/conversations/${c1.id}/requeue`, { token: supervisor.token, body: {} }), 409, 'SB_NOT_ASSIGNED');
    });
    // to the agent it is offered to (at capacity: the offer is the slot); their run of expiries ends, as at an accept
    await store().db.query('update agents set offer_expiries = 2 where id = $1', [a.agent.id]);
    const given = await transfer(supervisor, { agent_id: a.agent.id });
    assert.equal((await k.agentRow(a.agent.id)).offer_expiries, 0);
    assert.equal(given.statusCode, 200, given.body);
    assert.deepEqual([given.json().state, given.json().agent_id, given.json().offer_expires_at], ['assigned', a.agent.id, null]);
    assert.equal(await load(a), 1);
    assert.deepEqual((await eventsOf(c1.id)).slice(-2), ['conversation.transferred', 'conversation.assigned']);
    expectError(await transfer(supervisor, { agent_id: a.agent.id }), 409, 'SB_ALREADY_ASSIGNED');
    await holds();

    // an offer transferred to another agent: assigned there, and the offered agent's slot freed
    const c2 = await open('sales');
    assert.equal(c2.state, 'queued', 'a is full');
    assert.equal((await post(a, c1.id, 'accept')).statusCode, 409, 'already assigned, nothing to accept');
    const c3agent = await agent('sales', 1);
    assert.deepEqual([(await row(c2.id)).state, (await row(c2.id)).agent_id], ['offered', c3agent.agent.id]);
    const moved = await k.call('POST', `/api/v1/conversations/${c2.id}/transfer`, { token: supervisor.token, body: { agent_id: b.agent.id } });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.deepEqual([moved.json().state, moved.json().agent_id], ['assigned', b.agent.id]);
    assert.equal(await load(c3agent), 0);
    assert.deepEqual((await eventsOf(c2.id)).slice(-2), ['conversation.transferred', 'conversation.assigned']);
    await holds();
  });

  it('a waiting conversation moved to another department loses its decline list; one moved to an agent is assigned with conversation.assigned', async () => {
    await route('sales', { mode: 'offer', offer_timeout_s: 600 });
    const a = await k.user('agent', { status: 'online', capacity: 2, departments: ['sales', 'support'] });
    const c1 = await open('sales');
    assert.equal(c1.agent_id, a.agent.id);
    assert.equal((await post(a, c1.id, 'decline')).statusCode, 200);
    assert.deepEqual([(await row(c1.id)).state, (await row(c1.id)).declined_by], ['queued', [a.agent.id]]);
    // support routes automatically, and the decliner serves it: the decline was of the sales offer
    const moved = await k.call('POST', `/api/v1/conversations/${c1.id}/transfer`, { token: supervisor.token, body: { department: 'support' } });
    assert.equal(moved.statusCode, 200, moved.body);
    const now = await row(c1.id);
    assert.deepEqual([now.state, now.agent_id, now.department, now.declined_by], ['assigned', a.agent.id, 'support', []]);
    await holds();

    const c2 = await open('billing'); // nobody serves billing
    assert.equal(c2.state, 'queued');
    const given = await k.call('POST', `/api/v1/conversations/${c2.id}/transfer`, { token: supervisor.token, body: { agent_id: a.agent.id } });
    assert.equal(given.statusCode, 200, given.body);
    assert.deepEqual([given.json().state, given.json().agent_id], ['assigned', a.agent.id]);
    assert.deepEqual(await eventsOf(c2.id), ['conversation.created', 'conversation.queued', 'conversation.transferred', 'conversation.assigned']);
    await holds();
  });

  it('manual mode: nothing is given automatically; an agent picks, a second pick is refused', async () => {
    await route('desk', { mode: 'manual', manual_order: 'in_order' });
    const a = await agent('desk', 1);
    const b = await agent('desk', 1);
    const outsider = await agent('sales', 1);
    const c1 = await open('desk');
    const c2 = await open('desk');
    assert.deepEqual([c1.state, c2.state], ['queued', 'queued']);
    await sweep(k.t.ctx);
    assert.deepEqual([(await row(c1.id)).state, (await row(c2.id)).state], ['queued', 'queued'], 'the sweep gives nothing either');
    await holds();

    await k.unchanged(async () => {
      expectError(await post(b, c2.id, 'pick'), 409, 'SB_NOT_NEXT');
      expectError(await post(outsider, c1.id, 'pick'), 409, 'SB_NOT_ELIGIBLE');
      expectError(await post(a, UNKNOWN_ID, 'pick'), 404, 'SB_NOT_FOUND');
    });
    const picked = await post(a, c1.id, 'pick');
    assert.equal(picked.statusCode, 200, picked.body);
    assert.equal(picked.json().state, 'assigned');
    assert.equal(picked.json().agent_id, a.agent.id);
    await k.unchanged(async () => {
      expectError(await post(b, c1.id, 'pick'), 409, 'SB_ALREADY_TAKEN');
      expectError(await post(a, c2.id, 'pick'), 409, 'SB_NO_ROOM');
    });
    assert.equal((await post(b, c2.id, 'pick')).statusCode, 200);
    assert.deepEqual([await load(a), await load(b)], [1, 1]);
    // a resolve frees a slot but gives nothing: the agent picks again
    const c3 = await open('desk');
    assert.equal((await k.call('POST', `/api/v1/conversations/${c1.id}/resolve`, { token: a.token, body: {} })).statusCode, 200);
    assert.equal((await row(c3.id)).state, 'queued');
    await holds();
  });

  it("manual mode 'any' lets an agent pick any waiting conversation; pick refuses auto departments and away agents", async () => {
    await route('desk', { mode: 'manual', manual_order: 'any' });
    const a = await agent('desk', 2);
    const c1 = await open('desk');
    const c2 = await open('desk');
    const picked = await post(a, c2.id, 'pick');
    assert.equal(picked.statusCode, 200, picked.body);
    assert.equal((await row(c1.id)).state, 'queued');
    const full = await agent('sales', 0);
    const auto = await open('sales');
    assert.equal(auto.state, 'queued');
    const b = await agent('desk', 1);
    await k.call('PATCH', '/api/v1/agents/me', { token: b.token, body: { status: 'away' } });
    await k.unchanged(async () => {
      expectError(await post(full, auto.id, 'pick'), 409, 'SB_NOT_MANUAL');
      expectError(await post(b, c1.id, 'pick'), 409, 'SB_AGENT_UNAVAILABLE');
    });
    await holds();
  });
});
