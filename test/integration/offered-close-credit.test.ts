// A conversation offered to an agent who has not accepted it was never theirs
// (docs/routing.md "Offer and accept"): the agent may not resolve it (409
// SB_NOT_ACCEPTED, as for replying), and when someone else closes it — a
// supervisor, an admin, the customer leaving — it ends with agent_id null, so
// the reports and CSAT credit no agent and the offered agent cannot read its
// rating or its customer's statistics as its "last holder". The close's event
// still names the offered agent in its agent_id column (their desk drops the
// offer). Each of sb_close_conversation's close UPDATEs is reached: the fast
// path freeing the slot, the fast path giving it straight to an auto-mode
// head, and the exclusive path (an offer-mode head). Once accepted, all is
// credited to the agent as before. A late click on an offer closed meanwhile
// is the 409 of an offer gone (the console's quiet note), not a 403.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import type { ConversationRow } from '../../src/conversations/model.js';
import { endSession, startSession } from '../../src/realtime/sessions.js';
import { expectError, kitFor, type User } from '../helpers/api-kit.js';
import { invariantViolations } from '../helpers/invariants.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');
const PERIOD = 'from=2026-03-02&to=2026-03-03';

describeEachStore('offered conversations closed before an accept are credited to no agent', (store) => {
  const k = kitFor(store, { before, after });
  let admin: User;
  let supervisor: User;
  beforeEach(async () => {
    await store().reset();
    k.clock.set(T0);
    admin = await k.user('admin');
    supervisor = await k.user('supervisor');
    const res = await k.call('PUT', '/api/v1/departments/sales/routing', { token: admin.token, body: { mode: 'offer', offer_timeout_s: 60 } });
    assert.equal(res.statusCode, 200, res.body);
  });

  let n = 0;
  /** a verified widget chat: its customer's statistics are open to the agent who holds or held it */
  const chat = async (department = 'sales') => {
    const customerId = `c-${++n}`;
    const { conversation, token } = await startSession(k.t.ctx, { customer: { id: customerId, name: 'C' }, department, customer_verified: true }, 86_400);
    return { id: conversation.id, token, customerId, state: conversation.state, agentId: conversation.agent_id };
  };
  const row = async (id: string) => (await store().db.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
  const closeEvent = async (id: string) =>
    (
      await store().db.query<{ type: string; agent_id: string | null; data: { conversation: { agent_id: string | null } } }>(
        `select type, agent_id, data from events where conversation_id = $1 and type in ('conversation.resolved', 'conversation.abandoned')`,
        [id],
      )
    )[0]!;
  const reports = async () => {
    const r = (await k.call('GET', `/api/v1/reports?group=agent&${PERIOD}`, { token: supervisor.token })).json();
    const s = (await k.call('GET', `/api/v1/reports/satisfaction?group=agent&${PERIOD}`, { token: supervisor.token })).json();
    return {
      report: r.rows.map((x: { agent_id: string | null; conversations: number }) => [x.agent_id, x.conversations]),
      csat: s.rows.map((x: { agent_id: string | null; ratings: number }) => [x.agent_id, x.ratings]),
    };
  };
  const resolve = (user: User, id: string) => k.call('POST', `/api/v1/conversations/${id}/resolve`, { token: user.token, body: {} });
  const rate = async (c: { id: string; token: string }) => {
    const res = await k.call('POST', `/api/v1/conversations/${c.id}/rating`, { token: c.token, body: { score: 2 } });
    assert.equal(res.statusCode, 201, res.body);
  };
  const ratedAgent = async (id: string) => (await store().db.query<{ agent_id: string | null }>('select agent_id from ratings where conversation_id = $1', [id]))[0]?.agent_id;
  const statistics = (user: User, customerId: string) => k.call('GET', `/api/v1/customers/${encodeURIComponent(customerId)}/statistics`, { token: user.token });
  const holds = async () => assert.deepEqual(await invariantViolations(store().db), []);

  it('the agent it is offered to cannot resolve it before accepting: 409 SB_NOT_ACCEPTED, nothing changes', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const b = await k.user('agent', { name: 'Bob', status: 'online', capacity: 1, departments: ['sales'] });
    const c = await chat();
    assert.equal(c.state, 'offered');
    const holder = c.agentId === a.agent.id ? a : b;
    const other = holder === a ? b : a;
    await k.unchanged(async () => {
      expectError(await resolve(holder, c.id), 409, 'SB_NOT_ACCEPTED', undefined, 'own offer');
      // another agent's offer: access first, as for any conversation not theirs
      expectError(await resolve(other, c.id), 403, 'SB_FORBIDDEN', undefined, "another's offer");
    }, 'a refused resolve of an offer');
    const now = await row(c.id);
    assert.equal(now.state, 'offered');
    assert.equal(now.agent_id, holder.agent.id);
    assert.equal((await k.agentRow(holder.agent.id)).load, 1, 'the offer still holds its slot');
    // accepted, it is theirs to resolve
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: holder.token, body: {} })).statusCode, 200);
    const res = await resolve(holder, c.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().agent_id, holder.agent.id);
    await holds();
  });

  it('a supervisor resolves an offer never accepted: agent_id null, the null report and CSAT rows, nothing for the offered agent', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const c = await chat();
    assert.equal(c.agentId, a.agent.id);
    // while offered, the agent may look at the customer (to decide)
    assert.equal((await statistics(a, c.customerId)).statusCode, 200);
    k.clock.advance(30_000);
    const res = await resolve(supervisor, c.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().agent_id, null);
    assert.equal((await k.agentRow(a.agent.id)).load, 0, 'the offered slot is freed');
    const got = await k.call('GET', `/api/v1/conversations/${c.id}`, { token: admin.token });
    assert.equal(got.json().state, 'resolved');
    assert.equal(got.json().agent_id, null);
    // the event still names the offered agent (their desk drops the offer); its conversation does not
    const event = await closeEvent(c.id);
    assert.equal(event.agent_id, a.agent.id);
    assert.equal(event.data.conversation.agent_id, null);
    k.clock.advance(5_000);
    await rate(c);
    assert.equal(await ratedAgent(c.id), null);
    assert.deepEqual(await reports(), { report: [[null, 1]], csat: [[null, 1]] });
    // never theirs: not the conversation, its rating, nor its customer's statistics
    expectError(await k.call('GET', `/api/v1/conversations/${c.id}`, { token: a.token }), 403, 'SB_FORBIDDEN');
    expectError(await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: a.token }), 403, 'SB_FORBIDDEN');
    expectError(await statistics(a, c.customerId), 403, 'SB_FORBIDDEN');
    await holds();
  });

  it('the customer leaves or an admin resolves while offered: agent_id null on the exclusive path too', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const left = await chat();
    assert.equal(left.agentId, a.agent.id);
    // what DELETE /session runs (the realtime routes are not in the test app)
    await endSession(k.t.ctx, left.id);
    const gone = await row(left.id);
    assert.equal(gone.state, 'abandoned');
    assert.equal(gone.agent_id, null);
    assert.equal((await closeEvent(left.id)).agent_id, a.agent.id);
    // an offer with a queued offer-mode conversation behind it: the freed slot
    // goes through the exclusive path (sb_take_head leaves offers to it)
    const first = await chat();
    const second = await chat();
    assert.equal(first.state, 'offered');
    assert.equal(second.state, 'queued');
    const res = await resolve(admin, first.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().agent_id, null);
    const next = await row(second.id);
    assert.equal(next.state, 'offered', 'the freed slot is offered on');
    assert.equal(next.agent_id, a.agent.id);
    await rate(first);
    assert.equal(await ratedAgent(first.id), null);
    assert.deepEqual(await reports(), { report: [[null, 1]], csat: [[null, 1]] });
    expectError(await k.call('GET', `/api/v1/conversations/${first.id}/rating`, { token: a.token }), 403, 'SB_FORBIDDEN');
    await holds();
  });

  it('an offer closed while an auto-mode head waits: the slot goes straight to the head, the offer to no agent', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales', 'support'] });
    const offered = await chat('sales');
    const waiting = await chat('support');
    assert.equal(offered.state, 'offered');
    assert.equal(waiting.state, 'queued');
    const res = await resolve(supervisor, offered.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().agent_id, null);
    const next = await row(waiting.id);
    assert.equal(next.state, 'assigned');
    assert.equal(next.agent_id, a.agent.id);
    assert.deepEqual((await reports()).report, [[null, 1]]);
    await holds();
  });

  it('accepted, then resolved: credited to the agent as before', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const c = await chat();
    assert.equal(c.agentId, a.agent.id);
    assert.equal((await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: a.token, body: {} })).statusCode, 200);
    const res = await resolve(a, c.id);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().agent_id, a.agent.id);
    const event = await closeEvent(c.id);
    assert.equal(event.agent_id, a.agent.id);
    assert.equal(event.data.conversation.agent_id, a.agent.id);
    await rate(c);
    assert.equal(await ratedAgent(c.id), a.agent.id);
    assert.deepEqual(await reports(), { report: [[a.agent.id, 1]], csat: [[a.agent.id, 1]] });
    assert.equal((await k.call('GET', `/api/v1/conversations/${c.id}/rating`, { token: a.token })).statusCode, 200);
    assert.equal((await statistics(a, c.customerId)).statusCode, 200);
    // and a supervisor's resolve of an accepted conversation keeps its agent too
    const d = await chat();
    assert.equal((await k.call('POST', `/api/v1/conversations/${d.id}/accept`, { token: a.token, body: {} })).statusCode, 200);
    const byHim = await resolve(supervisor, d.id);
    assert.equal(byHim.json().agent_id, a.agent.id);
    assert.deepEqual((await reports()).report, [[a.agent.id, 2]]);
    await holds();
  });

  for (const action of ['accept', 'decline'] as const) {
    it(`a late ${action} after the customer left is 409 SB_NOT_OFFERED (the offer is gone), not 403`, async () => {
      const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
      const c = await chat();
      assert.equal(c.state, 'offered');
      assert.equal(c.agentId, a.agent.id);
      await endSession(k.t.ctx, c.id);
      const res = await k.call('POST', `/api/v1/conversations/${c.id}/${action}`, { token: a.token, body: {} });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().error?.code, 'SB_NOT_OFFERED', res.body);
    });
  }

  it('a late accept after a supervisor resolved it is 409 SB_NOT_OFFERED; another agent still gets 403', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const c = await chat();
    assert.equal(c.state, 'offered');
    const r = await resolve(supervisor, c.id);
    assert.equal(r.statusCode, 200, r.body);
    const res = await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: a.token, body: {} });
    assert.equal(res.statusCode, 409, res.body);
    // anyone else clicking it still learns nothing but that it is not theirs
    const b = await k.user('agent', { name: 'Bob', status: 'online', capacity: 1, departments: ['sales'] });
    const other = await k.call('POST', `/api/v1/conversations/${c.id}/accept`, { token: b.token, body: {} });
    assert.equal(other.statusCode, 403, other.body);
  });
});
