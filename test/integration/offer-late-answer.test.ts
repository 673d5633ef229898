// A late Accept/Decline click on an offer that was closed meanwhile
// (the customer left, or a supervisor resolved it) was 409 SB_NOT_OFFERED —
// the console's "late click" note (web/console/src/offers.tsx). Since the
// offered close writes agent_id null, answerOffer's refusal sees another's
// conversation and said 403 SB_FORBIDDEN; it is the 409 of an offer gone.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { endSession, startSession } from '../../src/realtime/sessions.js';
import { kitFor, type User } from '../helpers/api-kit.js';
import { describeEachStore } from '../helpers/stores.js';

const T0 = Date.parse('2026-03-02T09:00:00Z');

describeEachStore('a late answer to an offer closed meanwhile', (store) => {
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

  for (const action of ['accept', 'decline'] as const) {
    it(`${action} after the customer left: 409 SB_NOT_OFFERED`, async () => {
      const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
      const { conversation } = await startSession(k.t.ctx, { customer: { id: `c-${action}`, name: 'C' }, department: 'sales', customer_verified: true }, 86_400);
      assert.equal(conversation.state, 'offered');
      assert.equal(conversation.agent_id, a.agent.id);
      await endSession(k.t.ctx, conversation.id);
      const res = await k.call('POST', `/api/v1/conversations/${conversation.id}/${action}`, { token: a.token, body: {} });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().error?.code, 'SB_NOT_OFFERED', res.body);
    });
  }

  it('accept after a supervisor resolved it: 409 SB_NOT_OFFERED', async () => {
    const a = await k.user('agent', { name: 'Ann', status: 'online', capacity: 1, departments: ['sales'] });
    const { conversation } = await startSession(k.t.ctx, { customer: { id: 'c-sup', name: 'C' }, department: 'sales', customer_verified: true }, 86_400);
    assert.equal(conversation.state, 'offered');
    const r = await k.call('POST', `/api/v1/conversations/${conversation.id}/resolve`, { token: supervisor.token, body: {} });
    assert.equal(r.statusCode, 200, r.body);
    const res = await k.call('POST', `/api/v1/conversations/${conversation.id}/accept`, { token: a.token, body: {} });
    assert.equal(res.statusCode, 409, res.body);
    // anyone else clicking it still learns nothing but that it is not theirs
    const b = await k.user('agent', { name: 'Bob', status: 'online', capacity: 1, departments: ['sales'] });
    const other = await k.call('POST', `/api/v1/conversations/${conversation.id}/accept`, { token: b.token, body: {} });
    assert.equal(other.statusCode, 403, other.body);
  });
});
